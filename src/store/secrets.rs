//! A v2 chain's secrets in the data directory: `server.key`, the key that signs every block,
//! and `seed-secret`, the reveal chains the draws' seeds come from. Made durable before the
//! blocks that commit to them, loaded and matched against the chain at start-up.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use ed25519_dalek::SigningKey;

use super::{io_err, sync_dir, StoreError};
use crate::chain::decode_hash;
use crate::seed::{SecretChain, SecretRecord, CHECKPOINT_EVERY};

/// The server's Ed25519 secret key (v2 chains): one line, 64 hex, mode 0600.
pub const SERVER_KEY_FILE: &str = "server.key";
/// The server's reveal chains (v2 chains): one JSON line each, mode 0600; see [`crate::seed`].
pub const SEED_SECRET_FILE: &str = "seed-secret";

/// A v2 chain's secrets, loaded and matched against the chain.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub key: SigningKey,
    /// The reveal chain the next block draws from.
    pub seed: SecretChain,
    /// How many of its reveals are used already.
    pub used: u64,
}

/// Opens a file for appending with mode 0600 (it holds secrets), creating it if missing.
fn open_secret_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Appends one reveal chain record to `seed-secret`, fsynced, making the file if needed.
pub(super) fn append_secret_line(dir: &Path, chain: &SecretChain) -> Result<(), StoreError> {
    let path = dir.join(SEED_SECRET_FILE);
    let existed = path.exists();
    let mut f = open_secret_file(&path).map_err(io_err(&path))?;
    let mut line = serde_json::to_vec(&chain.to_record()).map_err(|e| io_err(&path)(e.into()))?;
    line.push(b'\n');
    f.write_all(&line).map_err(io_err(&path))?;
    f.sync_all().map_err(io_err(&path))?;
    if !existed {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Every reveal chain in `seed-secret`, oldest first.
pub(super) fn read_secret_lines(dir: &Path) -> Result<Vec<SecretChain>, StoreError> {
    let path = dir.join(SEED_SECRET_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let bad = |n: usize, why: String| StoreError::Secrets(path.clone(), format!("line {n}: {why}"));
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        // A torn last line is a rotation that crashed before its block: never committed.
        let Ok(record) = serde_json::from_str::<SecretRecord>(line) else {
            if i + 1 == text.lines().count() && !text.ends_with('\n') {
                break;
            }
            return Err(bad(i + 1, "not a reveal chain record".into()));
        };
        out.push(SecretChain::from_record(&record).map_err(|e| bad(i + 1, e.to_string()))?);
    }
    Ok(out)
}

/// Reads `server.key` and finds the reveal chain `commit` in `seed-secret`.
pub(super) fn load_secrets(
    dir: &Path,
    server_key: &[u8; 32],
    commit: &[u8; 32],
    used: u64,
) -> Result<Secrets, StoreError> {
    let key_path = dir.join(SERVER_KEY_FILE);
    let text = std::fs::read_to_string(&key_path).map_err(|e| {
        StoreError::Secrets(
            key_path.clone(),
            format!("{e}: a v2 chain needs the key that signs its blocks"),
        )
    })?;
    let raw = decode_hash(text.trim()).ok_or_else(|| {
        StoreError::Secrets(key_path.clone(), "not one line of 64 lowercase hex".into())
    })?;
    let key = SigningKey::from_bytes(&raw);
    if key.verifying_key().to_bytes() != *server_key {
        return Err(StoreError::Secrets(
            key_path,
            format!(
                "its public key is {}, but the chain's ServerKey is {}: this key did not make this chain",
                hex::encode(key.verifying_key().to_bytes()),
                hex::encode(server_key)
            ),
        ));
    }
    let seed = read_secret_lines(dir)?
        .into_iter()
        .find(|c| c.commit() == *commit)
        .ok_or_else(|| {
            StoreError::Secrets(
                dir.join(SEED_SECRET_FILE),
                format!(
                    "no reveal chain with commitment {}, which the chain draws from",
                    hex::encode(commit)
                ),
            )
        })?;
    if used >= seed.len() {
        return Err(StoreError::Secrets(
            dir.join(SEED_SECRET_FILE),
            format!(
                "the reveal chain {} is used up ({used} of {} reveals) and the chain carries no NextSeedCommit",
                hex::encode(commit),
                seed.len()
            ),
        ));
    }
    Ok(Secrets { key, seed, used })
}

/// Makes the first reveal chain of a new v2 chain and the key (reusing a key found there, as
/// after a crash before the genesis block), durable before the genesis block that commits to
/// them.
pub(super) fn make_secrets(dir: &Path, seed_chain_len: u64) -> Result<Secrets, StoreError> {
    let key_path = dir.join(SERVER_KEY_FILE);
    let key = match std::fs::read_to_string(&key_path) {
        Ok(text) => SigningKey::from_bytes(&decode_hash(text.trim()).ok_or_else(|| {
            StoreError::Secrets(key_path.clone(), "not one line of 64 lowercase hex".into())
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
            let mut f = open_secret_file(&key_path).map_err(io_err(&key_path))?;
            writeln!(f, "{}", hex::encode(key.to_bytes())).map_err(io_err(&key_path))?;
            f.sync_all().map_err(io_err(&key_path))?;
            sync_dir(dir)?;
            key
        }
        Err(e) => return Err(io_err(&key_path)(e)),
    };
    // Always a fresh reveal chain: one left in seed-secret may belong to a chain whose files
    // were removed, and its reveals are public; reusing them would make every draw
    // predictable. An unused record left by a crash before the genesis block costs nothing.
    let seed = new_seed_chain(seed_chain_len)
        .map_err(|e| StoreError::Secrets(dir.join(SEED_SECRET_FILE), e.to_string()))?;
    append_secret_line(dir, &seed)?;
    Ok(Secrets { key, seed, used: 0 })
}

/// A fresh reveal chain of `n` reveals from 32 random bytes (N hashes).
pub fn new_seed_chain(n: u64) -> Result<SecretChain, crate::seed::SeedError> {
    SecretChain::new(n, CHECKPOINT_EVERY.min(n.max(1)), rand::random())
}
