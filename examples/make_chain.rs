//! Writes a valid data directory with many blocks and real draws, for measuring
//! `pos-lottery verify` and server start-up, and trying `pos-lottery stats`, without running a
//! million rounds.
//!
//! `cargo run --release --example make_chain -- [--v1] [--seed-chain-len N] DIR BLOCKS [VALIDATORS]`
//!
//! By default the chain is pos-lottery-v2, exactly as the server makes one: a fresh
//! `server.key` signs every block, `seed-secret` holds the reveal chains (N reveals each,
//! default 4194304 like the server), every block carries its real reveal, and the block with
//! a chain's last reveal starts a rotation. `--v1` writes the old unsigned shape.
//!
//! Validators have fixed stakes 1, 2, ..., VALIDATORS (default 10), and each round a random
//! half of them (at least one) enter, like validators that do not propose every round.

use std::io::{BufWriter, Write};
use std::path::Path;

use ed25519_dalek::SigningKey;
use pos_lottery::chain::{compute_entries_hash, decode_hash, Block};
use pos_lottery::ledger::{DrawRecord, CHAIN_FILE, DRAWS_FILE};
use pos_lottery::lottery::{compute_seed, compute_seed_v2, pick_winner};
use pos_lottery::seed::{SecretChain, CHECKPOINT_EVERY, DEFAULT_CHAIN_LEN};
use pos_lottery::store::{SEED_SECRET_FILE, SERVER_KEY_FILE};
use sha2::{Digest, Sha256};

const USAGE: &str = "usage: make_chain [--v1] [--seed-chain-len N] DIR BLOCKS [VALIDATORS]";

/// Hands out a reveal chain's reveals s_1, s_2, ..., s_N in order at one hash each: each
/// stretch between two checkpoints is hashed down once and kept, instead of hashing down
/// from a checkpoint for every reveal (up to 4096 hashes each).
struct Reveals {
    chain: SecretChain,
    /// Reveals handed out so far.
    used: u64,
    /// The rest of the current stretch, next reveal last.
    stretch: Vec<[u8; 32]>,
}

impl Reveals {
    fn new(chain: SecretChain) -> Reveals {
        Reveals {
            chain,
            used: 0,
            stretch: Vec::new(),
        }
    }

    /// The next reveal, and whether it is the chain's last.
    fn next(&mut self) -> Option<([u8; 32], bool)> {
        let i = self.used + 1;
        if i > self.chain.len() {
            return None;
        }
        if self.stretch.is_empty() {
            let end = (i + CHECKPOINT_EVERY - 1).min(self.chain.len());
            // s_end from the stored chain, then hash down to s_i; kept in that order, so
            // popping gives s_i first.
            let mut s = self.chain.reveal(end)?;
            self.stretch.push(s);
            for _ in i..end {
                s = Sha256::digest(s).into();
                self.stretch.push(s);
            }
        }
        self.used = i;
        let reveal = self.stretch.pop()?;
        Some((reveal, i == self.chain.len()))
    }
}

/// Writes `line` to a new file with mode 0600 (it holds a secret), or appends to it.
fn write_secret(path: &Path, line: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path)?;
    writeln!(f, "{line}")?;
    f.sync_all()?;
    Ok(())
}

/// A fresh reveal chain of `n` reveals, appended to `seed-secret`.
fn new_reveal_chain(dir: &Path, n: u64) -> anyhow::Result<Reveals> {
    let chain = SecretChain::new(n, CHECKPOINT_EVERY.min(n), rand::random())?;
    write_secret(
        &dir.join(SEED_SECRET_FILE),
        &serde_json::to_string(&chain.to_record())?,
    )?;
    Ok(Reveals::new(chain))
}

fn main() -> anyhow::Result<()> {
    let mut v1 = false;
    let mut seed_chain_len = DEFAULT_CHAIN_LEN;
    let mut positional = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--v1" => v1 = true,
            "--seed-chain-len" => {
                seed_chain_len = args.next().ok_or_else(|| anyhow::anyhow!(USAGE))?.parse()?;
                anyhow::ensure!(seed_chain_len >= 1, "--seed-chain-len must be at least 1");
            }
            _ => positional.push(arg),
        }
    }
    let (dir, blocks) = match (positional.first(), positional.get(1)) {
        (Some(d), Some(n)) => (std::path::PathBuf::from(d), n.parse::<u64>()?),
        _ => anyhow::bail!(USAGE),
    };
    let validators: u64 = positional
        .get(2)
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(10);
    std::fs::create_dir_all(&dir)?;
    for stale in [CHAIN_FILE, DRAWS_FILE, SERVER_KEY_FILE, SEED_SECRET_FILE] {
        match std::fs::remove_file(dir.join(stale)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    let mut addresses: Vec<(String, u64)> = (1..=validators)
        .map(|i| (hex::encode(Sha256::digest(i.to_be_bytes())), i))
        .collect();
    addresses.sort();
    let mut chain = BufWriter::new(std::fs::File::create(dir.join(CHAIN_FILE))?);
    let mut draws = BufWriter::new(std::fs::File::create(dir.join(DRAWS_FILE))?);
    let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")?.to_utc();
    let stamp =
        |secs: u64| pos_lottery::round::rfc3339(start + chrono::Duration::seconds(secs as i64));
    // v2: the key and the first reveal chain exist (durably) before the genesis block
    // commits to them, as in the server.
    let mut v2 = if v1 {
        None
    } else {
        let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        write_secret(&dir.join(SERVER_KEY_FILE), &hex::encode(key.to_bytes()))?;
        Some((key, new_reveal_chain(&dir, seed_chain_len)?))
    };
    let mut tip = match &v2 {
        None => Block::genesis(stamp(0)),
        Some((key, reveals)) => Block::genesis_v2(
            stamp(0),
            reveals.chain.commit(),
            key.verifying_key().to_bytes(),
        )
        .sign_with(key),
    };
    serde_json::to_writer(&mut chain, &tip)?;
    chain.write_all(b"\n")?;
    let mut rng_state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rotations = 0u64;
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
        let tip_hash = tip.hash_bytes().unwrap();
        let entries_hash = compute_entries_hash(&entries);
        let reveal = v2
            .as_mut()
            .map(|(_, reveals)| reveals.next().expect("rotated before running out"));
        let seed = match reveal {
            Some((r, _)) => {
                compute_seed_v2(&tip_hash, index, &decode_hash(&entries_hash).unwrap(), &r)
            }
            None => compute_seed(&tip_hash, index),
        };
        let d = pick_winner(&seed, &entries)?;
        let winner = entries[d.winner].0.clone();
        let mut block = Block::next(
            &tip,
            stamp(round * 30),
            60 + (round % 100) as u32,
            winner.clone(),
            round,
            entries_hash,
        );
        if let (Some((key, reveals)), Some((r, last))) = (&mut v2, reveal) {
            // The block with a chain's last reveal commits to the next chain, which is in
            // seed-secret before the block is written.
            let next_commit = if last {
                rotations += 1;
                *reveals = new_reveal_chain(&dir, seed_chain_len)?;
                Some(reveals.chain.commit())
            } else {
                None
            };
            block = block.with_reveal(r, next_commit).sign_with(key);
        }
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
    match &v2 {
        None => println!("wrote {} v1 blocks to {}", blocks + 1, dir.display()),
        Some((key, _)) => println!(
            "wrote {} pos-lottery-v2 blocks to {} (ServerKey {}, {} reveals a chain, {} rotation{}); server.key and seed-secret beside them",
            blocks + 1,
            dir.display(),
            hex::encode(key.verifying_key().to_bytes()),
            seed_chain_len,
            rotations,
            if rotations == 1 { "" } else { "s" }
        ),
    }
    Ok(())
}
