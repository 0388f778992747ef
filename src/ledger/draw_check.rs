//! Recomputing the draw behind a block and checking its draw line against it: entries, their
//! order and stakes, the `EntriesHash`, the seed, the outcome and the winner.

use super::DrawRecord;
use crate::chain::{compute_entries_hash_bytes, hex_matches, is_hex64, Block};
use crate::lottery::{compute_seed, compute_seed_v2, pick_winner, LotteryError};

/// Why a draw line does not match what the draw recomputes to. Each says what it found.
#[derive(Debug, thiserror::Error)]
pub(super) enum DrawMismatch {
    #[error("the draw line has Index {found}, expected {expected}")]
    Index { found: u64, expected: u64 },
    #[error("entries are not in strictly ascending address order: entry {at} is {address:?} after {before:?}")]
    Order {
        at: usize,
        address: String,
        before: String,
    },
    #[error("entry {0} has address {1:?}, not 64 lowercase hex characters")]
    Address(usize, String),
    #[error("entry {0} ({1}) has stake 0; every stake is at least 1")]
    ZeroStake(usize, String),
    #[error("the block's EntriesHash is {found}, but the draw line's entries hash to {computed}")]
    EntriesHash { found: String, computed: String },
    #[error("draw cannot be computed: {0}")]
    Lottery(#[from] LotteryError),
    /// What the draw recomputes to, against what the file says.
    #[error("{0}")]
    Outcome(String),
    #[error("the block's Validator is {found}, but the draw's winner is {winner}")]
    Validator { found: String, winner: String },
}

/// Recomputes the draw behind `block` (on top of `prev`) and checks `draw` against it.
pub(super) fn check_draw(
    prev: &Block,
    block: &Block,
    draw: &DrawRecord,
) -> Result<(), DrawMismatch> {
    if draw.index != block.index {
        return Err(DrawMismatch::Index {
            found: draw.index,
            expected: block.index,
        });
    }
    for (i, pair) in draw.entries.windows(2).enumerate() {
        if let [a, b] = pair {
            if a.0 >= b.0 {
                return Err(DrawMismatch::Order {
                    at: i + 1,
                    address: b.0.clone(),
                    before: a.0.clone(),
                });
            }
        }
    }
    for (i, (address, stake)) in draw.entries.iter().enumerate() {
        if !is_hex64(address) {
            return Err(DrawMismatch::Address(i, address.clone()));
        }
        // The server never accepts a stake below 1 (MIN_STAKE >= 1), and an entry of 0
        // could never win: one in a file was put there by hand.
        if *stake == 0 {
            return Err(DrawMismatch::ZeroStake(i, address.clone()));
        }
    }
    let computed = compute_entries_hash_bytes(&draw.entries);
    if !hex_matches(&block.entries_hash, &computed) {
        return Err(DrawMismatch::EntriesHash {
            found: block.entries_hash.clone(),
            computed: hex::encode(computed),
        });
    }
    let tip_hash = prev.hash_bytes().unwrap_or_default();
    // The block's version decides the seed: v2 blocks carry their reveal.
    let seed = match block.reveal_bytes() {
        Some(reveal) => compute_seed_v2(&tip_hash, block.index, &computed, &reveal),
        None => compute_seed(&tip_hash, block.index),
    };
    let d = pick_winner(&seed, &draw.entries)?;
    let winner = draw
        .entries
        .get(d.winner)
        .map(|e| e.0.clone())
        .unwrap_or_default();
    if (d.total, d.counter, d.target, &winner)
        != (draw.total, draw.counter, draw.target, &draw.winner)
    {
        return Err(DrawMismatch::Outcome(format!(
            "the draw recomputes to Total {}, Counter {}, Target {}, winner {winner}; \
             the file says Total {}, Counter {}, Target {}, Winner {}",
            d.total, d.counter, d.target, draw.total, draw.counter, draw.target, draw.winner
        )));
    }
    if block.validator != winner {
        return Err(DrawMismatch::Validator {
            found: block.validator.clone(),
            winner,
        });
    }
    Ok(())
}
