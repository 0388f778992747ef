//! `pos-lottery attest`: attests one block by hand, in either of two forms.
//!
//! - Over HTTP (`--http`, by default `127.0.0.1:8080`): fetches the chain id (`GET /info`),
//!   the genesis block, block k, block k-1 and the draw of block k, recomputes the draw exactly
//!   as `connect` does before it attests ([`super::recompute`]), and only when every check
//!   holds signs `pos-lottery attest v1 <chain id> <k> <hash>` and submits it
//!   (`POST /api/attestations`). It prints the server's count on one line:
//!   `attest accepted: block <k>, <a> of <t> snapshot stake attested (<p>%, final)`; a
//!   recomputation that fails, or the server's refusal, is the error (exit 1).
//! - Offline (`--chain-id` and `--hash`): prints `attest <k> <hash> <signature>`, the line to
//!   paste into an `nc` session logged in as the key's account. Nothing is fetched and nothing
//!   recomputed: the user vouches for the block.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::attestor::{attest_line, fetch_genesis, fetch_inputs, Skip};
use super::http_client;
use super::protocol::Announcement;
use super::recompute::{recompute, DrawInputs, RecomputeError, ATTESTING_FIELD};
use super::tool::{read_key_file, ToolError};
use super::transfer::fetch_chain_id;
use crate::chain::is_hex64;
use crate::tx;

/// The server's HTTP address when `--http` is not given (as `transfer`'s default).
const DEFAULT_HTTP: ([u8; 4], u16) = ([127, 0, 0, 1], 8080);

/// `pos-lottery attest`: sign that block INDEX is right.
#[derive(clap::Args, Debug)]
#[command(after_long_help = "\
Over HTTP (the default form), the draw of block INDEX is recomputed from the server's own \
documents (the genesis block, blocks INDEX-1 and INDEX, the draw of INDEX) exactly as \
`connect --http` does, and nothing is signed unless every check holds. One line is printed: \
`attest accepted: block <k>, <a> of <t> snapshot stake attested (<p>%, final)`, or `not \
final yet`. A failed check or the server's refusal is an error (exit 1).

Offline (--chain-id with --hash), for `nc` users: prints just the line \
`attest <INDEX> <HASH> <signature>` to paste into a session logged in as the key's account. \
Nothing is fetched and nothing is recomputed: check the block yourself first.

Exit codes: 0 attested (or the line printed), 1 failed or refused, 2 bad arguments.")]
pub struct AttestArgs {
    /// The attester's key file
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The server's HTTP address (its HTTP_ADDR); a bare port means 127.0.0.1:PORT
    /// [default: 127.0.0.1:8080]
    #[arg(long, value_name = "HOST:PORT", value_parser = crate::config::parse_addr)]
    pub http: Option<SocketAddr>,
    /// Offline, with --hash: the chain id (the genesis block's Hash, as in the session's
    /// `challenge` line); prints the `attest` line for nc, no HTTP and no recomputation
    #[arg(long, value_name = "ID", value_parser = parse_hex64)]
    pub chain_id: Option<String>,
    /// Offline, with --chain-id: block INDEX's Hash (from its `winning validator:` line)
    #[arg(long, value_name = "HASH", value_parser = parse_hex64)]
    pub hash: Option<String>,
    /// The block to attest (1 or more: the genesis block is never attested)
    #[arg(value_name = "INDEX", value_parser = parse_index)]
    pub index: u64,
}

/// `--chain-id`, `--hash`: 64 lowercase hex characters.
fn parse_hex64(s: &str) -> Result<String, String> {
    if is_hex64(s) {
        Ok(s.to_owned())
    } else {
        Err(format!("expected 64 lowercase hex characters, got {s:?}"))
    }
}

/// `INDEX`: a block after the genesis block.
fn parse_index(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err("block 0 is the genesis block, which is never attested".into()),
        Ok(k) => Ok(k),
        Err(_) => Err(format!(
            "expected a block index from 1 to {}, got {s:?}",
            u64::MAX
        )),
    }
}

/// The `200` answer of `POST /api/attestations`.
#[derive(Debug, Deserialize)]
struct Accepted {
    index: u64,
    attested_stake: u128,
    snapshot_stake: u128,
    #[serde(rename = "final")]
    is_final: bool,
    percent: String,
}

impl Accepted {
    /// `attest accepted: block <k>, <a> of <t> snapshot stake attested (<p>%, final)`: the
    /// session's wording, with the share and whether the block is final.
    fn line(&self) -> String {
        format!(
            "attest accepted: block {}, {} of {} snapshot stake attested ({}%, {})",
            self.index,
            self.attested_stake,
            self.snapshot_stake,
            self.percent,
            if self.is_final {
                "final"
            } else {
                "not final yet"
            }
        )
    }
}

/// Runs either form; prints its one line on stdout.
///
/// # Errors
/// [`ToolError::Usage`] for half the offline form, or it with `--http`;
/// [`ToolError::Failed`] when the key cannot be read, the server cannot be reached or does not
/// take attestations, the recomputation fails (nothing is signed), or the server refuses.
pub fn attest(args: &AttestArgs) -> Result<(), ToolError> {
    let half = |given: &str, missing: &str| {
        Err(ToolError::Usage(format!(
            "{given} without {missing}: the offline form signs both (or give neither, to \
             recompute the block over HTTP)"
        )))
    };
    let offline = match (&args.chain_id, &args.hash) {
        (Some(chain_id), Some(hash)) => Some((chain_id, hash)),
        (None, None) => None,
        (Some(_), None) => return half("--chain-id", "--hash"),
        (None, Some(_)) => return half("--hash", "--chain-id"),
    };
    if let (Some(_), Some(http)) = (offline, args.http) {
        return Err(ToolError::Usage(format!(
            "--http {http} with --chain-id and --hash: the offline form makes no request; give \
             either --http or the two others"
        )));
    }
    let key = read_key_file(&args.key)?;
    if let Some((chain_id, hash)) = offline {
        println!("{}", attest_line(&key, chain_id, args.index, hash));
        return Ok(());
    }
    let http = args.http.unwrap_or_else(|| SocketAddr::from(DEFAULT_HTTP));
    let index = args.index;
    let (chain_id, hash) = checked_hash(http, index)?;
    let accepted = submit(http, &key, &chain_id, index, &hash)?;
    println!("{}", accepted.line());
    Ok(())
}

/// Fetches what the recomputation of block `index` reads and recomputes it; the chain id and
/// the block's hash when every check holds.
fn checked_hash(http: SocketAddr, index: u64) -> Result<(String, String), ToolError> {
    let chain_id = fetch_chain_id(http)?;
    // One plain look first: a block not made yet is said at once, not after the retries
    // that wait for a document the server is about to publish.
    let path = format!("/api/blocks/{index}");
    let r = http_client::get(http, &path).map_err(|e| ToolError::Failed(e.to_string()))?;
    if r.status == 404 {
        return Err(ToolError::Failed(format!(
            "http://{http}{path} answered 404 ({}): no block {index} to attest yet",
            r.error_text()
        )));
    }
    let not_attesting =
        |why: Skip| ToolError::Failed(format!("not attesting block {index}: {why}"));
    let genesis = fetch_genesis(http, &chain_id).map_err(|e| match e {
        // Here the chain id is /info's, not a TCP session's challenge.
        Skip::Recompute(RecomputeError::OtherChain { found, .. }) => ToolError::Failed(format!(
            "not attesting block {index}: http://{http}/info says chain id {chain_id}, but its \
             genesis block /api/blocks/0 hashes to {found}"
        )),
        e => not_attesting(e),
    })?;
    let (inputs, attesting) = fetch_inputs(http, &genesis, index).map_err(not_attesting)?;
    if !attesting {
        return Err(ToolError::Failed(format!(
            "the server at {http} does not take attestations (its /api/blocks/{index} has no \
             {ATTESTING_FIELD:?} field: it is in tutorial mode, or from before attestations)"
        )));
    }
    let announced = announcement_of(&inputs);
    recompute(&chain_id, &announced, &inputs).map_err(|e| not_attesting(Skip::Recompute(e)))?;
    Ok((chain_id, inputs.block.hash))
}

/// What the server would have announced for the block it serves: the block's winner, BPM and
/// hash, and the winner's stake of the draw's total. `recompute` then checks the block and
/// the draw against each other and against the pick it redoes.
fn announcement_of(inputs: &DrawInputs) -> Announcement {
    let block = &inputs.block;
    let stake = inputs
        .draw
        .entries
        .iter()
        .find(|(address, _)| *address == block.validator)
        .map_or(0, |(_, stake)| *stake);
    Announcement {
        index: block.index,
        winner: block.validator.clone(),
        bpm: block.bpm,
        stake,
        total: inputs.draw.total,
        hash: Some(block.hash.clone()),
    }
}

/// Signs the attestation for `chain_id` (checked against the genesis block) and posts it;
/// the server's count when it accepts it.
fn submit(
    http: SocketAddr,
    key: &ed25519_dalek::SigningKey,
    chain_id: &str,
    index: u64,
    hash: &str,
) -> Result<Accepted, ToolError> {
    let body = serde_json::json!({
        "index": index,
        "hash": hash,
        "address": tx::address_of(key),
        "signature": tx::sign_attest(key, chain_id, index, hash),
    })
    .to_string();
    let r = http_client::post_json(http, "/api/attestations", &body)
        .map_err(|e| ToolError::Failed(e.to_string()))?;
    if r.status != 200 {
        let why = r.error_text();
        // The server's own words (`attest refused: <why>`), or else the status with the body.
        return Err(ToolError::Failed(if why.starts_with("attest refused: ") {
            why
        } else {
            format!(
                "attest refused: http://{http}/api/attestations answered {}: {why}",
                r.status
            )
        }));
    }
    serde_json::from_str::<Accepted>(&r.body).map_err(|e| {
        ToolError::Failed(format!(
            "http://{http}/api/attestations answered 200 with {:?}: not an attestation count ({e})",
            r.body.trim()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accepted_line_says_the_share_and_whether_final() {
        let a: Accepted = serde_json::from_str(
            r#"{"accepted":true,"index":7,"attesters":2,"attested_stake":300,"snapshot_stake":400,"final":false,"percent":"75.0"}"#,
        )
        .unwrap();
        assert_eq!(
            a.line(),
            "attest accepted: block 7, 300 of 400 snapshot stake attested (75.0%, not final yet)"
        );
        let big: Accepted = serde_json::from_str(
            r#"{"accepted":true,"index":8,"attesters":3,"attested_stake":18446744073709551616,"snapshot_stake":18446744073709551616,"final":true,"percent":"100.0"}"#,
        )
        .unwrap();
        assert_eq!(
            big.line(),
            "attest accepted: block 8, 18446744073709551616 of 18446744073709551616 snapshot stake attested (100.0%, final)"
        );
    }

    #[test]
    fn indices_and_hashes_are_checked_before_anything_is_signed() {
        assert_eq!(parse_index("12"), Ok(12));
        assert!(parse_index("0").unwrap_err().contains("genesis"));
        for bad in ["", "-1", "x", "1.5", "18446744073709551616"] {
            assert!(parse_index(bad).is_err(), "{bad}");
        }
        let h = "ab".repeat(32);
        assert_eq!(parse_hex64(&h), Ok(h.clone()));
        for bad in [
            h.to_uppercase(),
            h[1..].to_owned(),
            format!("{h}0"),
            "zz".into(),
        ] {
            assert!(parse_hex64(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_announcement_is_the_blocks_own() {
        let (_, chain, draws, announcements) = super::super::recompute::tests::chain(2);
        let genesis = chain[0].clone();
        for k in 1..=2 {
            let inputs = DrawInputs {
                genesis: genesis.clone(),
                prev: chain[k - 1].clone(),
                block: chain[k].clone(),
                draw: draws[k].clone(),
            };
            assert_eq!(announcement_of(&inputs), announcements[k - 1], "block {k}");
            assert_eq!(
                recompute(&genesis.hash, &announcement_of(&inputs), &inputs),
                Ok(())
            );
            // A tampered draw still fails: the announcement is built from it, not trusted.
            let mut bad = inputs.clone();
            bad.draw.counter += 1;
            assert!(recompute(&genesis.hash, &announcement_of(&bad), &bad).is_err());
        }
    }
}
