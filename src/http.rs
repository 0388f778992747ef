//! The read-only HTTP view: a JSON API, a server-sent event stream and the dashboard page.
//!
//! Handlers ask the round task through the same bounded command channel the sessions use,
//! so the HTTP side never holds a reference to consensus state and changes nothing.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::{Stream, StreamExt};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tokio_util::sync::CancellationToken;

use crate::round::{Command, Query as RoundQuery};
use crate::server::Handles;

/// Most blocks one `/api/chain` page returns (also the default).
pub const MAX_PAGE: usize = 1000;
const DASHBOARD: &str = include_str!("../assets/dashboard.html");

/// Serves the HTTP view on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, handles: Handles, shutdown: CancellationToken) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("dashboard on http://{addr}/");
    }
    let app = router(handles, shutdown.clone());
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::error!(error = %e, "HTTP server failed");
    }
}

#[derive(Clone)]
struct App {
    handles: Handles,
    shutdown: CancellationToken,
}

fn router(handles: Handles, shutdown: CancellationToken) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/chain", get(chain_page))
        .route("/api/blocks/{index}", get(block))
        .route("/api/draws/{index}", get(draw))
        .route("/api/validators", get(validators))
        .route("/api/stats", get(stats))
        .route("/api/events", get(events))
        .route("/blockchain", get(blockchain))
        .route("/transactionPool", get(pool))
        .route("/info", get(info))
        .fallback(|| async {
            ApiError(
                StatusCode::NOT_FOUND,
                "no such endpoint; see / and /api/...".into(),
            )
        })
        .with_state(App { handles, shutdown })
}

/// `{"error": "..."}` with a status.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

impl App {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> RoundQuery) -> ApiResult<T> {
        let unavailable = || {
            ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is shutting down".into(),
            )
        };
        let (reply, answer) = oneshot::channel();
        self.handles
            .cmd_tx
            .send(Command::Query(make(reply)))
            .await
            .map_err(|_| unavailable())?;
        answer.await.map_err(|_| unavailable())
    }
}

async fn dashboard() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        DASHBOARD,
    )
}

fn parse_param(params: &HashMap<String, String>, name: &str, default: u64) -> ApiResult<u64> {
    match params.get(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("{name} must be a whole number, got {v:?}"),
            )
        }),
    }
}

fn parse_index(index: &str) -> ApiResult<u64> {
    index.parse().map_err(|_| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("block index must be a whole number, got {index:?}"),
        )
    })
}

async fn chain_page(
    State(app): State<App>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let from = parse_param(&params, "from", 0)?;
    let limit = parse_param(&params, "limit", MAX_PAGE as u64)?;
    if limit == 0 || limit > MAX_PAGE as u64 {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("limit must be from 1 to {MAX_PAGE}, got {limit}"),
        ));
    }
    let index = app.handles.index.clone();
    let (lines, next) = blocking(move || index.read_blocks(from, limit as usize)).await?;
    // The lines are the blocks' JSON as stored: splice them in rather than re-serialize.
    let mut body = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum::<usize>() + 32);
    body.extend_from_slice(b"{\"blocks\":[");
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(line);
    }
    body.extend_from_slice(b"],\"next\":");
    if next < app.handles.index.len() && !lines.is_empty() {
        body.extend_from_slice(next.to_string().as_bytes());
    } else {
        body.extend_from_slice(b"null");
    }
    body.push(b'}');
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Runs blocking file I/O off the async threads, mapping failures to a 500.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| {
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("reading the data directory: {e}"),
            )
        })
}

async fn block(State(app): State<App>, Path(index): Path<String>) -> ApiResult<Response> {
    let index = parse_index(&index)?;
    let chain = app.handles.index.clone();
    match blocking(move || chain.read_block(index)).await? {
        Some(line) => Ok(([(header::CONTENT_TYPE, "application/json")], line).into_response()),
        None => Err(ApiError(StatusCode::NOT_FOUND, format!("no block {index}"))),
    }
}

async fn draw(State(app): State<App>, Path(index): Path<String>) -> ApiResult<Response> {
    let index = parse_index(&index)?;
    let chain = app.handles.index.clone();
    let Some(line) = blocking(move || chain.read_draw(index)).await? else {
        let why = if index == 0 {
            "block 0 is the genesis block: it has no draw".to_string()
        } else {
            format!("no draw for block {index}")
        };
        return Err(ApiError(StatusCode::NOT_FOUND, why));
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], line).into_response())
}

async fn validators(State(app): State<App>) -> ApiResult<Response> {
    let list = app.ask(|reply| RoundQuery::Validators { reply }).await?;
    Ok(Json(list).into_response())
}

async fn stats(State(app): State<App>) -> ApiResult<Response> {
    let s = app.ask(|reply| RoundQuery::Stats { reply }).await?;
    Ok(Json(s).into_response())
}

/// The whole chain as one JSON array, streamed from `chain.jsonl` in bounded chunks.
async fn blockchain(State(app): State<App>) -> Response {
    let index = app.handles.index.clone();
    let (dir, len) = (index.dir().to_path_buf(), index.chain_bytes());
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let result = crate::store::stream_chain_array(&dir, len, |chunk| {
            tx.blocking_send(Ok(chunk)).is_ok()
        });
        if let Err(e) = result {
            let _ = tx.blocking_send(Err(e));
        }
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
        .into_response()
}

async fn pool(State(app): State<App>) -> ApiResult<Response> {
    let p = app.ask(|reply| RoundQuery::Pool { reply }).await?;
    Ok(Json(p).into_response())
}

async fn info(State(app): State<App>) -> ApiResult<Response> {
    let s = app.ask(|reply| RoundQuery::Stats { reply }).await?;
    let c = &app.handles.config;
    Ok(Json(Info {
        name: "pos-lottery",
        version: env!("CARGO_PKG_VERSION"),
        draw: "pos-lottery-v1",
        tcp_addr: c.addr.to_string(),
        round_secs: c.round.as_secs_f64(),
        min_stake: c.min_stake,
        block_reward: c.block_reward,
        max_connections: c.max_connections,
        stats: s,
    })
    .into_response())
}

/// `/info`, as the tutorials' nodes answer it, plus this server's settings.
#[derive(Serialize)]
struct Info {
    name: &'static str,
    version: &'static str,
    draw: &'static str,
    tcp_addr: String,
    round_secs: f64,
    min_stake: u64,
    block_reward: u64,
    max_connections: usize,
    stats: crate::round::StatsView,
}

/// Server-sent events: one per thing that happens, `lagged` when this stream fell behind.
async fn events(State(app): State<App>) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = app.handles.event_tx.subscribe();
    let hello = SseEvent::default().event("hello").data(
        serde_json::json!({"round": app.handles.shared.round.load(std::sync::atomic::Ordering::Relaxed)}).to_string(),
    );
    let stream = futures::stream::once(async move { hello })
        .chain(BroadcastStream::new(rx).map(|item| {
            match item {
                Ok(e) => SseEvent::default().event(e.name).data(&*e.data),
                Err(BroadcastStreamRecvError::Lagged(n)) => SseEvent::default()
                    .event("lagged")
                    .data(serde_json::json!({ "missed": n }).to_string()),
            }
        }))
        .map(Ok)
        .take_until(app.shutdown.cancelled_owned());
    Sse::new(stream).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .text("keep-alive"),
    )
}
