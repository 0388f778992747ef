//! `pos-lottery transfer`: signs a transfer from a key file and submits it over HTTP
//! (`POST /api/transactions`); [`sign_and_submit`] does it for every signed-transaction tool
//! ([`super::delegate`] too). The chain id comes from `GET /info` (or the genesis block's
//! `Hash`), and the nonce from the sender's `GET /api/accounts/{address}` unless `--nonce`
//! gives it.

use std::net::SocketAddr;
use std::path::PathBuf;

use ed25519_dalek::SigningKey;

use super::http_client::{self, Response};
use super::tool::{is_address, read_key_file, ToolError};
use crate::chain::is_hex64;
use crate::tx::{self, Transfer};

/// The flags every signed-transaction tool shares (`transfer`, `delegate`, `undelegate`,
/// `commission`): who signs, which server, and the nonce.
#[derive(clap::Args, Debug)]
pub struct SignerArgs {
    /// The sender's key file
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The server's HTTP address (its HTTP_ADDR); a bare port means 127.0.0.1:PORT
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080", value_parser = crate::config::parse_addr)]
    pub http: SocketAddr,
    /// The transaction's nonce; by default the account's next_nonce, asked of the server
    #[arg(long, value_parser = crate::config::parse_at_least_one)]
    pub nonce: Option<u64>,
}

/// `pos-lottery transfer`: move tokens to another account.
#[derive(clap::Args, Debug)]
pub struct TransferArgs {
    #[command(flatten)]
    pub signer: SignerArgs,
    /// The recipient's address (64 lowercase hex)
    #[arg(long, value_name = "ADDRESS")]
    pub to: String,
    /// Tokens to move
    #[arg(long, value_parser = crate::config::parse_at_least_one)]
    pub amount: u64,
}

/// Signs and submits the transfer; prints its id on stdout when the server accepts it.
///
/// # Errors
/// [`ToolError::Usage`] for a bad `--to`; [`ToolError::Failed`] when the key cannot be read,
/// the server cannot be reached, or it refuses the transfer (its reason is the message).
pub fn transfer(args: &TransferArgs) -> Result<(), ToolError> {
    let to = Recipient {
        address: &args.to,
        itself: "a transfer to itself moves nothing",
    };
    sign_and_submit(
        &args.signer,
        "transfer",
        Some(to),
        |key, chain_id, nonce| {
            let t = Transfer::sign(key, chain_id, &args.to, args.amount, nonce);
            let id = t.id();
            (serde_json::to_value(t), id)
        },
        |from, nonce| {
            format!(
                "{} from {from} to {} with nonce {nonce}; it applies with the next block",
                args.amount, args.to
            )
        },
    )
}

/// A transaction's `--to`: checked to be an address other than the signer's own.
pub(super) struct Recipient<'a> {
    pub address: &'a str,
    /// Why it may not be the signer's own address.
    pub itself: &'a str,
}

/// What every signed-transaction tool does: checks `to`, reads the key, asks the server for
/// the chain id and (unless `--nonce`) the next nonce, signs with `sign` (the body to post and
/// the transaction's id), posts it to `POST /api/transactions` and prints the id the server
/// answers on stdout, with `accepted` (given the sender and nonce) on stderr.
///
/// # Errors
/// [`ToolError::Usage`] for a bad `to`; [`ToolError::Failed`] when the key cannot be read,
/// the server cannot be reached, or it refuses the `kind` (its reason is the message).
pub(super) fn sign_and_submit(
    args: &SignerArgs,
    kind: &str,
    to: Option<Recipient<'_>>,
    sign: impl FnOnce(&SigningKey, &str, u64) -> (serde_json::Result<serde_json::Value>, String),
    accepted: impl FnOnce(&str, u64) -> String,
) -> Result<(), ToolError> {
    if let Some(to) = &to {
        if !is_address(to.address) {
            return Err(ToolError::Usage(format!(
                "--to {:?} is not an address (64 lowercase hex characters, an Ed25519 public key)",
                to.address
            )));
        }
    }
    let key = read_key_file(&args.key)?;
    let from = tx::address_of(&key);
    if let Some(to) = to.filter(|to| to.address == from) {
        return Err(ToolError::Usage(format!(
            "--to is {} itself; {}",
            args.key.display(),
            to.itself
        )));
    }
    let chain_id = fetch_chain_id(args.http)?;
    let nonce = match args.nonce {
        Some(n) => n,
        None => fetch_next_nonce(args.http, &from)?,
    };
    let (body, signed_id) = sign(&key, &chain_id, nonce);
    let body = body
        .map(|b| b.to_string())
        .map_err(|e| ToolError::Failed(format!("encoding the {kind}: {e}")))?;
    let r = http_client::post_json(args.http, "/api/transactions", &body).map_err(failed)?;
    match r.status {
        202 => {
            let id = r
                .json()
                .ok()
                .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_owned))
                .unwrap_or(signed_id);
            println!("{id}");
            eprintln!("accepted: {}", accepted(&from, nonce));
            Ok(())
        }
        status => Err(ToolError::Failed(format!(
            "the server refused the {kind} ({status}): {}",
            r.error_text()
        ))),
    }
}

/// The chain id: `chain_id` from `GET /info`, or else the `Hash` of `GET /api/blocks/0`
/// (the genesis block's hash is the chain id).
///
/// # Errors
/// [`ToolError::Failed`] when neither gives 64 lowercase hex.
pub fn fetch_chain_id(http: SocketAddr) -> Result<String, ToolError> {
    let info = get_ok(http, "/info")?;
    if let Some(id) = string_field(&info, "chain_id") {
        return checked_hash(http, "/info chain_id", id);
    }
    let genesis = get_ok(http, "/api/blocks/0")?;
    match string_field(&genesis, "Hash") {
        Some(id) => checked_hash(http, "/api/blocks/0 Hash", id),
        None => Err(ToolError::Failed(format!(
            "http://{http}/info has no chain_id and /api/blocks/0 no Hash: is it a pos-lottery \
             server in ledger mode?"
        ))),
    }
}

/// The nonce `address`'s next transfer must carry: `next_nonce` of
/// `GET /api/accounts/{address}` (it counts the transfers still pending).
///
/// # Errors
/// [`ToolError::Failed`] when the account is unknown or the answer has no `next_nonce`.
pub fn fetch_next_nonce(http: SocketAddr, address: &str) -> Result<u64, ToolError> {
    let path = format!("/api/accounts/{address}");
    let r = http_client::get(http, &path).map_err(failed)?;
    if r.status == 404 {
        return Err(ToolError::Failed(format!(
            "{address} has no account on the chain at http://{http} (404: {})",
            r.error_text()
        )));
    }
    let v = ok_json(http, &path, &r)?;
    v.get("next_nonce")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| {
            ToolError::Failed(format!(
                "http://{http}{path} has no next_nonce: is it a pos-lottery server in ledger mode?"
            ))
        })
}

fn get_ok(http: SocketAddr, path: &str) -> Result<serde_json::Value, ToolError> {
    let r = http_client::get(http, path).map_err(failed)?;
    ok_json(http, path, &r)
}

fn ok_json(http: SocketAddr, path: &str, r: &Response) -> Result<serde_json::Value, ToolError> {
    if r.status != 200 {
        return Err(ToolError::Failed(format!(
            "http://{http}{path} answered {}: {}",
            r.status,
            r.error_text()
        )));
    }
    r.json()
        .map_err(|why| ToolError::Failed(format!("http://{http}{path}: {why}")))
}

fn string_field<'a>(v: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    v.get(name).and_then(serde_json::Value::as_str)
}

fn checked_hash(http: SocketAddr, what: &str, id: &str) -> Result<String, ToolError> {
    if is_hex64(id) {
        Ok(id.to_owned())
    } else {
        Err(ToolError::Failed(format!(
            "http://{http} {what} is {id:?}, not 64 lowercase hex characters"
        )))
    }
}

fn failed(e: http_client::HttpError) -> ToolError {
    ToolError::Failed(e.to_string())
}
