//! Ledger mode's routes: the accounts, read from the published view (with their delegations),
//! and signed transfers, delegations, undelegations and commissions, handed to the round
//! task's pool.
//!
//! In tutorial mode the same paths answer a JSON `404`, like any unknown route, saying why.
//!
//! A transaction's signature is checked in the handler, on the async worker that received it:
//! one Ed25519 verification is about 50 µs, short enough not to stall the other tasks on
//! that worker, and every worker runs handlers, so the checks already spread over the
//! cores. `spawn_blocking` would add two thread hand-offs per transfer without adding a
//! core. The global rate limit ([`super::rate`]) is taken before the body is parsed, so a
//! flood of junk costs no more than a flood of valid transfers.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Serialize;
use tokio::sync::oneshot;

use super::{parse_param, ApiError, ApiResult, App};
use crate::chain::is_hex64;
use crate::round::delegations::check_signed_alone;
use crate::round::ledger::{AccountView, DelegationIn, DelegationOut, DelegationsView, LedgerView};
use crate::round::Command;
use crate::tx::{Tx, TxError};

/// Accounts one `/api/accounts` page returns unless `limit` says otherwise.
pub const DEFAULT_ACCOUNTS_PAGE: usize = 1000;
/// Most accounts one `/api/accounts` page returns.
pub const MAX_ACCOUNTS_PAGE: usize = 10_000;
/// Largest `POST /api/transactions` body; a transfer is about 350 bytes.
pub const MAX_TRANSFER_BODY: usize = 64 * 1024;

pub(super) const TUTORIAL_404: &str = "ledger routes exist only in ledger mode (GENESIS); this server runs in tutorial mode, where stakes are typed balances";

/// Adds the ledger routes: the real ones in ledger mode, a JSON `404` for any method in
/// tutorial mode.
pub(super) fn routes(router: Router<App>, ledger_mode: bool) -> Router<App> {
    if ledger_mode {
        router
            .route("/api/accounts", get(accounts))
            .route("/api/accounts/{address}", get(account))
            .route(
                "/api/transactions",
                post(submit).layer(DefaultBodyLimit::max(MAX_TRANSFER_BODY)),
            )
    } else {
        let absent = || async { ApiError(StatusCode::NOT_FOUND, TUTORIAL_404.into()) };
        router
            .route("/api/accounts", any(absent))
            .route("/api/accounts/{address}", any(absent))
            .route("/api/transactions", any(absent))
    }
}

impl App {
    /// The ledger part of the latest view.
    pub(super) fn ledger(&self) -> ApiResult<Arc<LedgerView>> {
        self.view()
            .ledger
            .clone()
            .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, TUTORIAL_404.into()))
    }
}

/// `GET /api/accounts?offset=M&limit=N`: a JSON array, largest balance first; the header
/// `x-total-count` says how many accounts there are in all.
async fn accounts(
    State(app): State<App>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let offset = parse_param(&params, "offset", 0)?;
    let limit = parse_param(&params, "limit", DEFAULT_ACCOUNTS_PAGE as u64)?;
    if limit == 0 || limit > MAX_ACCOUNTS_PAGE as u64 {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("limit must be from 1 to {MAX_ACCOUNTS_PAGE}, got {limit}"),
        ));
    }
    let ledger = app.ledger()?;
    let all = &ledger.accounts;
    let page = usize::try_from(offset)
        .ok()
        .and_then(|o| all.get(o..))
        .unwrap_or_default();
    let page = &page[..page.len().min(limit as usize)];
    let page: Vec<AccountJson<'_>> = page
        .iter()
        .map(|a| AccountJson::of(a, &ledger.delegations))
        .collect();
    let mut res = Json(page).into_response();
    res.headers_mut()
        .insert("x-total-count", HeaderValue::from(all.len()));
    Ok(res)
}

/// One account as `/api/accounts` shows it: its [`AccountView`] fields, then its
/// delegations out (`[{"to", "amount"}]`, validator order), those to it (`[{"from",
/// "amount"}]`, delegator order) and its undelegated tokens waiting for the next epoch.
#[derive(Serialize)]
struct AccountJson<'a> {
    #[serde(flatten)]
    account: &'a AccountView,
    delegations_out: &'a [DelegationOut],
    delegations_in: &'a [DelegationIn],
    pending_undelegations: u64,
}

impl<'a> AccountJson<'a> {
    fn of(account: &'a AccountView, d: &'a DelegationsView) -> AccountJson<'a> {
        AccountJson {
            account,
            delegations_out: d.out_of(&account.address),
            delegations_in: d.to(&account.address),
            pending_undelegations: d.returning_to(&account.address),
        }
    }
}

/// `GET /api/accounts/{address}`.
async fn account(State(app): State<App>, Path(address): Path<String>) -> ApiResult<Response> {
    if !is_hex64(&address) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("an address is 64 lowercase hex characters (an Ed25519 public key), got {address:?}"),
        ));
    }
    let ledger = app.ledger()?;
    match ledger.account(&address) {
        Some(a) => Ok(Json(AccountJson::of(a, &ledger.delegations)).into_response()),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no account {address}: the genesis file did not fund it and no transfer or reward has reached it"),
        )),
    }
}

/// What a transaction's submitter is told once the pool log holds it.
#[derive(Serialize)]
struct Accepted {
    id: String,
    status: &'static str,
}

/// `POST /api/transactions`: a signed transfer, delegation, undelegation or commission as
/// JSON ([`super::body`]). `202` once it is in the pool log on stable storage, `400` with the
/// reason when refused, `413` over [`MAX_TRANSFER_BODY`], `429` over `TRANSFERS_PER_SEC` (one
/// budget for every kind), `503` when the round task has stopped.
async fn submit(
    State(app): State<App>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    if !app.transfer_rate.try_take() {
        let limit = app.handles.config.transfers_per_sec;
        let mut res = ApiError(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many transfers: this server takes {limit} a second (TRANSFERS_PER_SEC); try again in a second"),
        )
        .into_response();
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return Ok(res);
    }
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {MAX_TRANSFER_BODY} bytes; a transfer is a JSON object of about 350"),
        ),
        status => ApiError(status, e.body_text()),
    })?;
    let tx = super::body::parse(&body).map_err(|why| ApiError(StatusCode::BAD_REQUEST, why))?;
    let ledger = app.ledger()?;
    let kind = tx.kind();
    let refused = |e: TxError| ApiError(StatusCode::BAD_REQUEST, e.to_string());
    let (reply, answer) = oneshot::channel();
    let command = match tx {
        Tx::Transfer(transfer) => {
            transfer.check_alone(&ledger.chain_id).map_err(refused)?;
            Command::Transfer { transfer, reply }
        }
        tx => {
            check_signed_alone(&tx, &ledger.chain_id).map_err(refused)?;
            Command::Signed { tx, reply }
        }
    };
    let stopped = || {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the server is stopping: the {kind} was not recorded"),
        )
    };
    app.handles
        .cmd_tx
        .send(command)
        .await
        .map_err(|_| stopped())?;
    match answer.await {
        Ok(Ok(id)) => Ok((
            StatusCode::ACCEPTED,
            Json(Accepted {
                id,
                status: "pending",
            }),
        )
            .into_response()),
        Ok(Err(e)) => Err(refused(e)),
        Err(_) => Err(stopped()),
    }
}

/// `/info`'s ledger-mode fields.
#[derive(Serialize)]
pub(super) struct LedgerInfo {
    chain_id: Arc<str>,
    genesis_total: u64,
    supply: u64,
    accounts: usize,
}

impl LedgerInfo {
    pub(super) fn of(l: &LedgerView) -> LedgerInfo {
        LedgerInfo {
            chain_id: l.chain_id.clone(),
            genesis_total: l.genesis_total,
            supply: l.supply,
            accounts: l.accounts.len(),
        }
    }
}

/// `/api/stats`'s ledger-mode fields. `supply` = `genesis_total` + `minted` − `burned` as of
/// the last block; `burned_stake` also counts the slashes still pending.
#[derive(Serialize)]
pub(super) struct LedgerStats {
    supply: u64,
    genesis_total: u64,
    minted: u128,
    burned: u128,
    accounts: usize,
    pending_transfers: usize,
    pending_slashes: usize,
    pending_attestations: usize,
    /// Pending delegations, undelegations and commissions.
    pending_delegations: usize,
    /// The epoch in force (`null` in the bootstrap epoch 0).
    epoch: Option<crate::round::ledger::EpochView>,
    /// The highest final block (0 while none is: the genesis block is never final).
    finalized_height: u64,
    /// How many blocks are final.
    final_blocks: u64,
    /// Attestations counted since the chain began (pending ones included).
    attestations: u64,
}

impl LedgerStats {
    pub(super) fn of(l: &LedgerView) -> LedgerStats {
        // The view counts each kind as entries join the pool: no walk over it.
        let transfers = l.pool.transfers();
        let attestations = l.pool.attestations();
        let delegations = l.pool.delegations();
        LedgerStats {
            supply: l.supply,
            genesis_total: l.genesis_total,
            minted: l.minted,
            burned: l.burned,
            accounts: l.accounts.len(),
            pending_transfers: transfers,
            pending_slashes: l
                .pool
                .len()
                .saturating_sub(transfers + attestations + delegations),
            pending_attestations: attestations,
            pending_delegations: delegations,
            epoch: l.epoch.clone(),
            finalized_height: l.finality.finalized_height,
            final_blocks: l.finality.final_blocks,
            attestations: l.finality.counted,
        }
    }
}
