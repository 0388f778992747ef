//! The HTTP side: a JSON API, a server-sent event stream and the dashboard page.
//!
//! Reads never queue behind the consensus commands: validators, accounts, pool and stats come
//! from the view the round task publishes on a `watch` channel, blocks and draws from the
//! data directory's files through the shared span index (in ledger mode with each block's
//! attestation count from the view, [`attest`]). The writes are ledger mode's
//! `POST /api/transactions` ([`ledger`]) and `POST /api/attestations` ([`attest`]), which
//! hand a signed transfer (delegation, undelegation, commission) or attestation to the round
//! task.
//!
//! [`serve`] runs its own accept loop over hyper rather than `axum::serve`, which has no
//! connection cap and no timeouts: it holds at most `HTTP_MAX_CONNECTIONS` connections open
//! (event streams included), and closes one that is slow to send its request headers or sits
//! idle between requests for `HTTP_TIMEOUT_SECS`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::round::ledger::PendingTxView;
use crate::round::{PendingView, StatsView, View};
use crate::server::Handles;

mod attest;
mod body;
mod ledger;
mod rate;

pub use attest::MAX_ATTESTATION_BODY;
pub use ledger::{DEFAULT_ACCOUNTS_PAGE, MAX_ACCOUNTS_PAGE, MAX_TRANSFER_BODY};

/// Most blocks one `/api/chain` page returns (also the default).
pub const MAX_PAGE: usize = 1000;
const DASHBOARD: &str = include_str!("../assets/dashboard.html");
/// How long a connection over the cap may take to read its `503` before it is closed.
const REFUSAL_LINGER: Duration = Duration::from_millis(500);
/// Largest error body the JSON-error layer rewrites; axum's own are a line or two.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Serves the HTTP view on `listener` until `shutdown`, then waits for open connections to
/// finish (event streams end at shutdown; idle keep-alive connections close at once).
pub async fn serve(listener: TcpListener, handles: Handles, shutdown: CancellationToken) {
    let http_addr = listener.local_addr().ok();
    if let Some(addr) = http_addr {
        tracing::info!("dashboard on http://{addr}/");
    }
    let config = handles.config.clone();
    let mut http = HttpListener {
        listener,
        limit: Arc::new(Semaphore::new(config.http_max_connections)),
        refusals: Arc::new(Semaphore::new(config.http_max_connections)),
        too_many: too_many_connections(config.http_max_connections),
        app: router(handles, shutdown.clone(), http_addr),
        builder: {
            let mut b = http1::Builder::new();
            // hyper restarts this timer whenever it waits for a request head, so it bounds
            // both a slow request (slowloris) and an idle keep-alive connection. It does not
            // run while a response streams, so event streams stay open.
            b.timer(TokioTimer::new())
                .header_read_timeout(config.http_timeout);
            b
        },
        grace: config.http_timeout,
        shutdown: shutdown.clone(),
        tracker: TaskTracker::new(),
    };
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = http.accept_loop() => {}
    }
    http.tracker.close();
    http.tracker.wait().await;
}

/// The HTTP accept loop's state.
struct HttpListener {
    listener: TcpListener,
    /// One permit per open connection, `HTTP_MAX_CONNECTIONS` in all.
    limit: Arc<Semaphore>,
    /// Connections over the cap that are being told so; beyond this many they are just
    /// closed, so a flood cannot grow the refusals without bound either.
    refusals: Arc<Semaphore>,
    /// The whole `503` response a connection over the cap gets.
    too_many: Bytes,
    app: Router,
    builder: http1::Builder,
    /// How long a connection may take to finish once shutdown starts: `HTTP_TIMEOUT_SECS`.
    grace: Duration,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl HttpListener {
    async fn accept_loop(&mut self) {
        loop {
            let socket = self.accept().await;
            let Ok(permit) = self.limit.clone().try_acquire_owned() else {
                tracing::warn!("HTTP connection refused: too many HTTP connections");
                self.refuse(socket);
                continue;
            };
            let conn = self.builder.serve_connection(
                TokioIo::new(socket),
                TowerToHyperService::new(self.app.clone()),
            );
            let shutdown = self.shutdown.clone();
            let grace = self.grace;
            self.tracker.spawn(async move {
                let mut conn = std::pin::pin!(conn);
                let outcome = tokio::select! {
                    res = conn.as_mut() => res,
                    _ = shutdown.cancelled() => {
                        // Idle connections close now and a response in progress may finish,
                        // but a client that stopped reading it does not hold shutdown up.
                        conn.as_mut().graceful_shutdown();
                        tokio::time::timeout(grace, conn).await.unwrap_or(Ok(()))
                    }
                };
                if let Err(e) = outcome {
                    tracing::debug!(error = %e, "HTTP connection ended");
                }
                drop(permit);
            });
        }
    }

    /// Answers a connection over the cap with [`Self::too_many`] and closes it.
    fn refuse(&self, mut socket: TcpStream) {
        let Ok(permit) = self.refusals.clone().try_acquire_owned() else {
            // A new socket's send buffer is empty, so this write completes at once.
            let _ = socket.try_write(&self.too_many);
            return;
        };
        let response = self.too_many.clone();
        let shutdown = self.shutdown.clone();
        self.tracker.spawn(async move {
            let answer = async {
                socket.write_all(&response).await?;
                socket.shutdown().await?;
                // Read what the client sent until it closes: closing a socket with unread
                // input resets the connection, and a reset can beat the answer to the client.
                let mut sink = [0u8; 1024];
                while socket.read(&mut sink).await? != 0 {}
                Ok::<_, std::io::Error>(())
            };
            tokio::select! {
                _ = tokio::time::timeout(REFUSAL_LINGER, answer) => {}
                _ = shutdown.cancelled() => {}
            }
            drop(permit);
        });
    }

    async fn accept(&mut self) -> TcpStream {
        crate::server::accept_with_backoff(&self.listener, "HTTP connection").await
    }
}

/// The raw `503` response for a connection over `HTTP_MAX_CONNECTIONS`.
fn too_many_connections(limit: usize) -> Bytes {
    let body = serde_json::json!({
        "error": format!("too many HTTP connections (HTTP_MAX_CONNECTIONS={limit})")
    })
    .to_string();
    Bytes::from(format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ))
}

#[derive(Clone)]
struct App {
    handles: Handles,
    shutdown: CancellationToken,
    /// The address the HTTP listener is bound to (port 0 resolved), for `/info`.
    http_addr: Option<SocketAddr>,
    /// `TRANSFERS_PER_SEC`, shared by every connection, taken by transfers and attestations.
    transfer_rate: Arc<rate::TransferRate>,
}

fn router(handles: Handles, shutdown: CancellationToken, http_addr: Option<SocketAddr>) -> Router {
    // The data directory's mode follows GENESIS: start-up refuses a directory of the other.
    let ledger_mode = handles.config.genesis.is_some();
    let transfer_rate = Arc::new(rate::TransferRate::new(handles.config.transfers_per_sec));
    let api = Router::new()
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
        .route("/info", get(info));
    let api = ledger::routes(api, ledger_mode);
    let api = attest::routes(api, ledger_mode)
        .fallback(|| async {
            ApiError(
                StatusCode::NOT_FOUND,
                "no such endpoint; see / and /api/...".into(),
            )
        })
        .with_state(App {
            handles,
            shutdown,
            http_addr,
            transfer_rate,
        });
    // Around the whole API router rather than on its routes, so the layer sees a `405` after
    // axum has added its `Allow` header.
    Router::new()
        .fallback_service(api)
        .layer(axum::middleware::map_response(json_errors))
}

/// Turns every error response that is not JSON yet (axum's `405`, extractor rejections) into
/// `{"error": "..."}`, keeping its status and headers (`Allow` included).
async fn json_errors(method: Method, res: Response) -> Response {
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let reason = status.canonical_reason().unwrap_or("error");
    let message = if status == StatusCode::METHOD_NOT_ALLOWED {
        let allow = parts
            .headers
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("GET, HEAD")
            .replace(',', ", ");
        format!("{method} is not allowed here; this endpoint answers {allow}")
    } else {
        match axum::body::to_bytes(body, MAX_ERROR_BODY).await {
            Ok(text) if !text.trim_ascii().is_empty() => {
                String::from_utf8_lossy(text.trim_ascii()).into_owned()
            }
            _ => reason.to_lowercase(),
        }
    };
    let json = serde_json::json!({ "error": message }).to_string();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(json))
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
    /// The round task's latest published view: read without queuing behind proposals.
    fn view(&self) -> Arc<View> {
        self.handles.view.borrow().clone()
    }

    fn stats(&self) -> Stats {
        let view = self.view();
        Stats {
            base: view.stats(self.handles.shared.connections.load(Ordering::Relaxed)),
            ledger: view.ledger.as_deref().map(ledger::LedgerStats::of),
        }
    }
}

/// `/api/stats`: the round's counters, and in ledger mode the supply and the pool.
#[derive(Serialize)]
struct Stats {
    #[serde(flatten)]
    base: StatsView,
    #[serde(flatten)]
    ledger: Option<ledger::LedgerStats>,
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
    // Read after the blocks: a view never counts a block that is not written yet.
    let view = app.view();
    let finality = view.ledger.as_ref().map(|l| &l.finality);
    let had_lines = !lines.is_empty();
    // The lines are the blocks' JSON as stored: splice them in rather than re-serialize.
    let mut body = Vec::with_capacity(lines.iter().map(|l| l.len() + 100).sum::<usize>() + 32);
    body.extend_from_slice(b"{\"blocks\":[");
    for (i, line) in lines.into_iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        match finality {
            Some(f) => {
                let k = from.saturating_add(i as u64);
                body.extend_from_slice(&attest::with_finality(line, f.get(k)));
            }
            None => body.extend_from_slice(&line),
        }
    }
    body.extend_from_slice(b"],\"next\":");
    if next < app.handles.index.len() && had_lines {
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

/// `/api/blocks/{k}`: the block as stored; in ledger mode with its finality fields
/// ([`attest::with_finality`]) appended.
async fn block(State(app): State<App>, Path(index): Path<String>) -> ApiResult<Response> {
    let index = parse_index(&index)?;
    let chain = app.handles.index.clone();
    match blocking(move || chain.read_block(index)).await? {
        Some(line) => {
            // Read after the block: a view never counts a block that is not written yet.
            let line = match app.view().ledger.as_ref() {
                Some(l) => attest::with_finality(line, l.finality.get(index)),
                None => line,
            };
            Ok(([(header::CONTENT_TYPE, "application/json")], line).into_response())
        }
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
    Ok(Json(&app.view().validators).into_response())
}

async fn stats(State(app): State<App>) -> ApiResult<Response> {
    Ok(Json(app.stats()).into_response())
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

/// A pool longer than this is serialized off the async threads.
const BIG_POOL: usize = 10_000;

/// `/transactionPool`: this round's candidates, then (ledger mode) the pending transfers,
/// slashes, attestations, evidence slashes, delegations, undelegations and commissions, in
/// one list; `?type=<kind>` keeps one kind.
async fn pool(
    State(app): State<App>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let kind = match params.get("type").map(String::as_str) {
        None => None,
        Some(
            k @ ("candidate" | "transfer" | "slash" | "attest" | "evidence" | "delegate"
            | "undelegate" | "commission"),
        ) => Some(k.to_string()),
        Some(other) => {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!(
                    "type must be candidate, transfer, slash, attest, evidence, delegate, undelegate or commission, got {other:?}"
                ),
            ))
        }
    };
    let view = app.view();
    let big = view.pool.len() + view.ledger.as_ref().map_or(0, |l| l.pool.len()) > BIG_POOL;
    let to_json = move || serde_json::to_vec(&PoolList(&view, kind.as_deref()));
    let body = if big {
        tokio::task::spawn_blocking(to_json)
            .await
            .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    } else {
        to_json()
    }
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The pool as one JSON list, of one kind when the second field says so.
struct PoolList<'a>(&'a View, Option<&'a str>);

#[derive(Serialize)]
#[serde(untagged)]
enum PoolEntry<'a> {
    Candidate(&'a PendingView),
    Tx(&'a PendingTxView),
}

impl Serialize for PoolList<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let PoolList(view, kind) = *self;
        let wanted = |k: &str| kind.is_none_or(|w| w == k);
        let candidates = view
            .pool
            .iter()
            .filter(|c| wanted(c.kind))
            .map(PoolEntry::Candidate);
        let txs = view
            .ledger
            .iter()
            .flat_map(|l| l.pool.iter())
            .filter(|t| wanted(t.kind))
            .map(PoolEntry::Tx);
        s.collect_seq(candidates.chain(txs))
    }
}

async fn info(State(app): State<App>) -> ApiResult<Response> {
    let s = app.stats();
    let c = &app.handles.config;
    let view = app.view();
    Ok(Json(Info {
        name: "pos-lottery",
        version: env!("CARGO_PKG_VERSION"),
        draw: view.draw,
        mode: if c.genesis.is_some() {
            "ledger"
        } else {
            "tutorial"
        },
        ledger: view.ledger.as_deref().map(ledger::LedgerInfo::of),
        tcp_addr: c.addr.to_string(),
        http_addr: app.http_addr.or(c.http_addr).map(|a| a.to_string()),
        round_secs: c.round.as_secs_f64(),
        broadcast_secs: c.broadcast.map(|d| d.as_secs_f64()),
        broadcast_blocks: c.broadcast_blocks,
        min_stake: c.min_stake,
        block_reward: c.block_reward,
        data_dir: c.data_dir.display().to_string(),
        max_connections: c.max_connections,
        stake_timeout_secs: c.stake_timeout.as_secs_f64(),
        write_timeout_secs: c.write_timeout.as_secs_f64(),
        http_max_connections: c.http_max_connections,
        http_timeout_secs: c.http_timeout.as_secs_f64(),
        seed_chain_len: c.seed_chain_len,
        genesis: c.genesis.as_ref().map(|g| g.path.display().to_string()),
        transfers_per_sec: c.transfers_per_sec,
        epoch_rounds: c.epoch_rounds,
        finality: c.finality.to_string(),
        attest_reward: c.attest_reward,
        stats: s,
    })
    .into_response())
}

/// `/info`, as the tutorials' nodes answer it, plus every setting of this server (flat, one
/// key per setting, durations in seconds) and the stats.
#[derive(Serialize)]
struct Info {
    name: &'static str,
    version: &'static str,
    draw: &'static str,
    /// `tutorial` (typed balances) or `ledger` (`GENESIS` is set).
    mode: &'static str,
    /// Ledger mode: `chain_id`, `genesis_total`, `supply` and the number of `accounts`.
    #[serde(flatten)]
    ledger: Option<ledger::LedgerInfo>,
    tcp_addr: String,
    http_addr: Option<String>,
    round_secs: f64,
    /// `null` when the chain broadcast is off.
    broadcast_secs: Option<f64>,
    broadcast_blocks: u64,
    min_stake: u64,
    block_reward: u64,
    data_dir: String,
    max_connections: usize,
    stake_timeout_secs: f64,
    write_timeout_secs: f64,
    http_max_connections: usize,
    http_timeout_secs: f64,
    seed_chain_len: u64,
    /// The `GENESIS` file's path; `null` in tutorial mode.
    genesis: Option<String>,
    transfers_per_sec: u64,
    epoch_rounds: u64,
    /// `FINALITY` as `p/q` in lowest terms: the share of a block's snapshot stake its
    /// attesters must pass for it to be final (ledger mode).
    finality: String,
    /// `ATTEST_REWARD`: minted to each attester of a final block (ledger mode).
    attest_reward: u64,
    stats: Stats,
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
