//! `pos-lottery delegate`, `undelegate` and `commission`: sign a delegation, an undelegation
//! or a commission from a key file and submit it over HTTP (`POST /api/transactions` with its
//! `type`), exactly as `transfer` does ([`sign_and_submit`]): the chain id from `GET /info`,
//! the nonce from the sender's `next_nonce` unless `--nonce` gives it, the id printed.

use super::tool::ToolError;
use super::transfer::{sign_and_submit, Recipient, SignerArgs};
use crate::tx::{Commission, Delegation, Direction, Tx};

/// `pos-lottery delegate` / `undelegate`: delegate tokens to a validator, or ask them back.
#[derive(clap::Args, Debug)]
pub struct DelegateArgs {
    #[command(flatten)]
    pub signer: SignerArgs,
    /// The validator's address (64 lowercase hex)
    #[arg(long, value_name = "ADDRESS")]
    pub to: String,
    /// Tokens to delegate (or undelegate)
    #[arg(long, value_parser = crate::config::parse_at_least_one)]
    pub amount: u64,
}

/// `pos-lottery commission`: the percent of each block reward a validator keeps before the
/// rest is shared with its delegators.
#[derive(clap::Args, Debug)]
pub struct CommissionArgs {
    #[command(flatten)]
    pub signer: SignerArgs,
    /// The commission, a whole percent from 0 to 100
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=100))]
    pub percent: u64,
}

/// Signs and submits the delegation (`way`: delegate or undelegate); prints its id on stdout
/// when the server accepts it.
///
/// # Errors
/// [`ToolError::Usage`] for a bad `--to`; [`ToolError::Failed`] when the key cannot be read,
/// the server cannot be reached, or it refuses (its reason is the message).
pub fn delegate(args: &DelegateArgs, way: Direction) -> Result<(), ToolError> {
    let itself = format!("an account cannot {} to itself", way.word());
    let to = Recipient {
        address: &args.to,
        itself: &itself,
    };
    sign_and_submit(
        &args.signer,
        way.word(),
        Some(to),
        |key, chain_id, nonce| {
            let d = Delegation::sign(key, way, chain_id, &args.to, args.amount, nonce);
            let body = serde_json::json!({
                "type": way.word(),
                "from": d.from,
                "to": d.to,
                "amount": d.amount,
                "nonce": d.nonce,
                "signature": d.signature,
            });
            let tx = match way {
                Direction::Delegate => Tx::Delegate(d),
                Direction::Undelegate => Tx::Undelegate(d),
            };
            (Ok(body), tx.id())
        },
        |from, nonce| {
            let after = match way {
                Direction::Delegate => format!(
                    "it applies with the next block and counts toward {}'s stake from the next epoch",
                    args.to
                ),
                Direction::Undelegate => "it stops counting with the next block; the tokens come back when the next epoch starts".to_string(),
            };
            format!(
                "{} {} from {from} to {} with nonce {nonce}; {after}",
                way.word(),
                args.amount,
                args.to
            )
        },
    )
}

/// Signs and submits the commission; prints its id on stdout when the server accepts it.
///
/// # Errors
/// [`ToolError::Failed`] when the key cannot be read, the server cannot be reached, or it
/// refuses (its reason is the message).
pub fn commission(args: &CommissionArgs) -> Result<(), ToolError> {
    sign_and_submit(
        &args.signer,
        "commission",
        None,
        |key, chain_id, nonce| {
            let c = Commission::sign(key, chain_id, args.percent, nonce);
            let body = serde_json::json!({
                "type": "commission",
                "from": c.from,
                "percent": c.percent,
                "nonce": c.nonce,
                "signature": c.signature,
            });
            (Ok(body), Tx::Commission(c).id())
        },
        |from, nonce| {
            format!(
                "commission {}% for {from} with nonce {nonce}; it applies with the next block",
                args.percent
            )
        },
    )
}
