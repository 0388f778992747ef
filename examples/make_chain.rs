//! Writes a valid data directory with many blocks and real draws, for measuring
//! `pos-lottery verify` and trying `pos-lottery stats` without running a million rounds.
//!
//! `cargo run --release --example make_chain -- DIR BLOCKS [VALIDATORS]`
//!
//! Validators have fixed stakes 1, 2, ..., VALIDATORS (default 10), and each round a random
//! half of them (at least one) enter, like validators that do not propose every round.

use std::io::{BufWriter, Write};

use pos_lottery::chain::{compute_entries_hash, Block};
use pos_lottery::ledger::{DrawRecord, CHAIN_FILE, DRAWS_FILE};
use pos_lottery::lottery::{compute_seed, pick_winner};
use sha2::{Digest, Sha256};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (dir, blocks) = match (args.get(1), args.get(2)) {
        (Some(d), Some(n)) => (std::path::PathBuf::from(d), n.parse::<u64>()?),
        _ => anyhow::bail!("usage: make_chain DIR BLOCKS [VALIDATORS]"),
    };
    let validators: u64 = args.get(3).map(|v| v.parse()).transpose()?.unwrap_or(10);
    std::fs::create_dir_all(&dir)?;
    let mut addresses: Vec<(String, u64)> = (1..=validators)
        .map(|i| (hex::encode(Sha256::digest(i.to_be_bytes())), i))
        .collect();
    addresses.sort();
    let mut chain = BufWriter::new(std::fs::File::create(dir.join(CHAIN_FILE))?);
    let mut draws = BufWriter::new(std::fs::File::create(dir.join(DRAWS_FILE))?);
    let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")?.to_utc();
    let stamp =
        |secs: u64| pos_lottery::round::rfc3339(start + chrono::Duration::seconds(secs as i64));
    let mut tip = Block::genesis(stamp(0));
    serde_json::to_writer(&mut chain, &tip)?;
    chain.write_all(b"\n")?;
    let mut rng_state: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 1..=blocks {
        // A small xorshift picks who enters; the draw itself uses only the published algorithm.
        let entries: Vec<(String, u64)> = addresses
            .iter()
            .filter(|_| {
                rng_state ^= rng_state << 13;
                rng_state ^= rng_state >> 7;
                rng_state ^= rng_state << 17;
                rng_state & 1 == 0
            })
            .cloned()
            .collect();
        let entries = if entries.is_empty() {
            addresses[..1].to_vec()
        } else {
            entries
        };
        let index = tip.index + 1;
        let seed = compute_seed(&tip.hash_bytes().unwrap(), index);
        let d = pick_winner(&seed, &entries)?;
        let winner = entries[d.winner].0.clone();
        let block = Block::next(
            &tip,
            stamp(round * 30),
            60 + (round % 100) as u32,
            winner.clone(),
            round,
            compute_entries_hash(&entries),
        );
        let record = DrawRecord {
            index,
            entries,
            total: d.total,
            counter: d.counter,
            target: d.target,
            winner,
        };
        serde_json::to_writer(&mut draws, &record)?;
        draws.write_all(b"\n")?;
        serde_json::to_writer(&mut chain, &block)?;
        chain.write_all(b"\n")?;
        tip = block;
    }
    chain.flush()?;
    draws.flush()?;
    println!("wrote {} blocks to {}", blocks + 1, dir.display());
    Ok(())
}
