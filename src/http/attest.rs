//! Ledger mode's attestations over HTTP: `POST /api/attestations`, the twin of the session's
//! `attest <k> <hash> <signature>`, and the finality fields the block endpoints add.
//!
//! As with transfers ([`super::ledger`]), the signature is checked in the handler, on the
//! async worker that received it, and the round task only counts: it sets the attestation's
//! `Round`, refuses it if the block's window closed, the hash is wrong, the address is not in
//! the block's stake snapshot or has attested that block already, and acknowledges it once
//! the pool log holding it is on stable storage.
//!
//! Attestations take their token from the same `TRANSFERS_PER_SEC` bucket as
//! `POST /api/transactions` ([`super::rate`]): one server-wide limit on signed writes, so a
//! flood of either cannot crowd the other past it.

use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::ledger::TUTORIAL_404;
use super::{ApiError, ApiResult, App};
use crate::attest::{percent, BlockFinality};
use crate::round::Command;
use crate::tx::Attestation;

/// Largest `POST /api/attestations` body; an attestation is about 330 bytes.
pub const MAX_ATTESTATION_BODY: usize = 64 * 1024;

/// What every refusal's `error` starts with, as the session's `attest refused: <reason>`.
const REFUSED: &str = "attest refused: ";

/// Adds `POST /api/attestations`: the real route in ledger mode, a JSON `404` for any method
/// in tutorial mode (as `/api/transactions` answers there).
pub(super) fn routes(router: Router<App>, ledger_mode: bool) -> Router<App> {
    if ledger_mode {
        router.route(
            "/api/attestations",
            post(submit).layer(DefaultBodyLimit::max(MAX_ATTESTATION_BODY)),
        )
    } else {
        router.route(
            "/api/attestations",
            any(|| async { ApiError(StatusCode::NOT_FOUND, TUTORIAL_404.into()) }),
        )
    }
}

/// The request body: what `attest <k> <hash> <signature>` says, plus who signed it (an HTTP
/// request has no logged-in account).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    index: u64,
    hash: String,
    address: String,
    signature: String,
}

/// The `200` answer: the block's count with this attestation in it.
#[derive(Serialize)]
struct Accepted {
    accepted: bool,
    index: u64,
    attesters: u64,
    attested_stake: u128,
    snapshot_stake: u128,
    #[serde(rename = "final")]
    is_final: bool,
    /// `⌊1000 × attested / total⌋ / 10`, one decimal, as the `final` announcement says it.
    percent: String,
}

/// `400 {"error": "attest refused: <why>"}`.
fn refused(status: StatusCode, why: impl std::fmt::Display) -> ApiError {
    ApiError(status, format!("{REFUSED}{why}"))
}

/// `POST /api/attestations`: `{"index", "hash", "address", "signature"}`. `200` with the
/// block's count once the attestation is in the pool log on stable storage; `400` with the
/// reason when refused (malformed, a signature that does not verify, or what the round task
/// refuses); `413` over [`MAX_ATTESTATION_BODY`]; `429` over `TRANSFERS_PER_SEC` (the bucket
/// transfers take from too); `503` when the round task has stopped. Every error's text starts
/// `attest refused: `.
async fn submit(
    State(app): State<App>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    if !app.transfer_rate.try_take() {
        let limit = app.handles.config.transfers_per_sec;
        let mut res = refused(
            StatusCode::TOO_MANY_REQUESTS,
            format_args!("too many requests: this server takes {limit} transfers and attestations a second, together (TRANSFERS_PER_SEC); try again in a second"),
        )
        .into_response();
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return Ok(res);
    }
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            format_args!("the body is over {MAX_ATTESTATION_BODY} bytes; an attestation is a JSON object of about 330"),
        ),
        status => refused(status, e.body_text()),
    })?;
    let Body {
        index,
        hash,
        address,
        signature,
    } = serde_json::from_slice(&body).map_err(|e| {
        refused(
            StatusCode::BAD_REQUEST,
            format_args!(
                r#"not an attestation ({e}); expected {{"index", "hash", "address", "signature"}}"#
            ),
        )
    })?;
    let ledger = app.ledger()?;
    // The round task sets the round in progress when it counts it.
    let attestation = Attestation {
        address,
        index,
        hash,
        round: 0,
        signature,
    };
    attestation
        .check_alone(&ledger.chain_id)
        .map_err(|e| refused(StatusCode::BAD_REQUEST, e))?;
    let stopped = || {
        refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is stopping: the attestation was not recorded",
        )
    };
    let (reply, answer) = oneshot::channel();
    app.handles
        .cmd_tx
        .send(Command::Attest { attestation, reply })
        .await
        .map_err(|_| stopped())?;
    match answer.await {
        Ok(Ok(f)) => Ok(Json(Accepted {
            accepted: true,
            index,
            attesters: f.attesters,
            attested_stake: f.attested_stake,
            snapshot_stake: f.snapshot_stake,
            is_final: f.is_final,
            percent: percent(f.attested_stake, f.snapshot_stake),
        })
        .into_response()),
        Ok(Err(e)) => Err(refused(StatusCode::BAD_REQUEST, e)),
        Err(_) => Err(stopped()),
    }
}

/// A stored block's JSON (`{...}` as `chain.jsonl` holds it) with ledger mode's finality
/// fields appended: `epoch`, `final`, `attesters`, `attested_stake`, `snapshot_stake`. They
/// are not part of the block's `Hash`; lowercase, so they never clash with its fields. A
/// block with no count shows epoch 0, not final, and zeros: one of the bootstrap epoch 0, or
/// one read in the moment between its write and the round task publishing the view that
/// counts it.
pub(super) fn with_finality(mut line: Vec<u8>, f: Option<BlockFinality>) -> Vec<u8> {
    let end = line.trim_ascii_end().len();
    if end < 2 || line.get(end - 1) != Some(&b'}') {
        return line;
    }
    let f = f.unwrap_or(BlockFinality {
        epoch: 0,
        is_final: false,
        attesters: 0,
        attested_stake: 0,
        snapshot_stake: 0,
        window_end: 0,
    });
    let fields = format!(
        r#","epoch":{},"final":{},"attesters":{},"attested_stake":{},"snapshot_stake":{}}}"#,
        f.epoch, f.is_final, f.attesters, f.attested_stake, f.snapshot_stake
    );
    line.truncate(end - 1);
    // `{}` has no field to follow: drop the comma.
    let fields = if line.trim_ascii_end().ends_with(b"{") {
        &fields[1..]
    } else {
        &fields[..]
    };
    line.extend_from_slice(fields.as_bytes());
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finality_fields_are_appended_to_the_stored_object() {
        let f = BlockFinality {
            epoch: 2,
            is_final: true,
            attesters: 3,
            attested_stake: u128::from(u64::MAX) + 1,
            snapshot_stake: 20,
            window_end: 9,
        };
        let out = with_finality(br#"{"Index":4,"Hash":"ab"}"#.to_vec(), Some(f));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["Index"], 4);
        assert_eq!(v["Hash"], "ab");
        assert_eq!(v["epoch"], 2);
        assert_eq!(v["final"], true);
        assert_eq!(v["attesters"], 3);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"Index":4,"Hash":"ab","epoch":2,"final":true,"attesters":3,"attested_stake":18446744073709551616,"snapshot_stake":20}"#
        );
        let none = with_finality(b"{\"Index\":0}\n".to_vec(), None);
        assert_eq!(
            String::from_utf8(none).unwrap(),
            r#"{"Index":0,"epoch":0,"final":false,"attesters":0,"attested_stake":0,"snapshot_stake":0}"#
        );
        assert_eq!(
            with_finality(b"{}".to_vec(), None),
            br#"{"epoch":0,"final":false,"attesters":0,"attested_stake":0,"snapshot_stake":0}"#
        );
        assert_eq!(with_finality(b"[1]".to_vec(), None), b"[1]");
    }
}
