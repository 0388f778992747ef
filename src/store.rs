//! The data directory: `chain.jsonl` and `draws.jsonl`, appended and flushed to stable storage
//! before any block is announced.
//!
//! Opening audits both files with [`crate::ledger::audit`]. A crash's leftovers are cut off
//! (with a warning naming file and offset); anything else refuses to start and leaves the
//! files exactly as they were, since "repairing" tampering would destroy the evidence.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::chain::Block;
use crate::ledger::{
    audit_full, audit_slashes, Audit, AuditError, DrawRecord, Signatures, SlashRecord, CHAIN_FILE,
    DRAWS_FILE, SLASHES_FILE,
};
use crate::pool::{
    choose_mode, cut_snapshots, pending_after, read_pool, read_snapshots, write_genesis_copy,
    GenesisSetting, LedgerFiles, PoolError, POOL_FILE,
};
use crate::replay::TRANSACTIONS_FILE;
use crate::seed::SecretChain;
use crate::tx::{Accounts, Tx, TxRecord, GENESIS_FILE};

mod index;
mod secrets;
pub use index::{read_chain_array, read_line_at, stream_chain_array, ChainIndex};
use secrets::{append_secret_line, load_secrets, make_secrets};
pub use secrets::{new_seed_chain, Secrets, SEED_SECRET_FILE, SERVER_KEY_FILE};

/// Block signatures checked at start-up: the newest ones. Every hash, link, draw and the
/// whole reveal chain are checked regardless; `verify` checks every signature.
pub const START_SIGNATURES: usize = 1000;

/// Ledger mode's settings, as a start needs them.
#[derive(Debug, Clone, Copy)]
pub struct LedgerSetup<'a> {
    pub genesis: &'a GenesisSetting,
    /// `BLOCK_REWARD`: committed by a new chain's genesis block, and must match it later.
    pub block_reward: u64,
}

/// What kind of chain a start makes in an empty directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewChain {
    /// pos-lottery-v1, unsigned (what the first releases made; kept for tests of v1 files).
    V1,
    /// pos-lottery-v2: a committed reveal chain of this many reveals, and signed blocks.
    V2 { seed_chain_len: u64 },
}

/// The lock file: held with `flock` for the server's lifetime, it holds the server's pid.
pub const LOCK_FILE: &str = "lock";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    // The cause is the source, not part of this text: `{:#}` printing adds it once.
    #[error("{path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{dir}/{0}", dir = .1.display())]
    Damaged(AuditError, PathBuf),
    #[error("{dir}: {CHAIN_FILE} is missing but {DRAWS_FILE} has draws", dir = .0.display())]
    ChainMissing(PathBuf),
    #[error(
        "{dir} is in use by another pos-lottery server{holder}: one server per data directory \
         (`pos-lottery verify {dir}` reads it safely meanwhile)",
        dir = .dir.display(),
        holder = .pid.as_ref().map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Locked { dir: PathBuf, pid: Option<String> },
    /// Ledger mode's files (see [`crate::pool`]).
    #[error(transparent)]
    Ledger(#[from] PoolError),
    /// A v2 chain whose key or reveal chain is missing or does not match it.
    #[error("{path}: {1}", path = .0.display())]
    Secrets(PathBuf, String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The open data directory, positioned to append.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    chain: File,
    draws: File,
    /// Created with the first slash.
    slashes: Option<File>,
    /// Ledger mode: `transactions.jsonl` and the pool log.
    ledger: Option<LedgerFiles>,
    chain_len: u64,
    draws_len: u64,
    /// Held, never read: the `flock` on it lives as long as this `Store`.
    _lock: File,
}

/// What opening found: the audited chain and any crash leftovers it cut off.
#[derive(Debug)]
pub struct Opened {
    pub store: Store,
    pub audit: Audit,
    /// True when this start wrote the genesis block.
    pub created: bool,
    /// The signing key and reveal chain of a v2 chain; `None` for v1.
    pub secrets: Option<Secrets>,
    /// Ledger mode: the accounts at the tip and what is still pending in the pool.
    pub ledger: Option<LedgerOpened>,
}

/// A ledger-mode directory as opened.
#[derive(Debug, Clone)]
pub struct LedgerOpened {
    pub accounts: Accounts,
    /// Accepted before the last stop, not in a block yet, in acceptance order.
    pub pending: Vec<Tx>,
    /// The genesis block's `Hash`.
    pub chain_id: String,
    /// Every epoch's stake snapshot so far, oldest first.
    pub snapshots: Vec<crate::epoch::Snapshot>,
    /// The tip block's `Round`.
    pub tip_round: u64,
    /// Attestations counted in the chain, by block.
    pub tracker: crate::attest::Tracker,
}

/// Where a block's line and its draw line landed, for serving them later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spans {
    pub block: (u64, u32),
    pub draw: (u64, u32),
}

impl Store {
    /// Opens (creating if missing) `dir`, locks it against a second server, audits it,
    /// repairs a crash's torn tail, and writes the genesis block (stamped `genesis_time`)
    /// when the directory holds no chain yet. `keep_recent` newest blocks come back in
    /// the audit.
    ///
    /// # Errors
    /// Another server holds the directory ([`StoreError::Locked`]), the files are damaged
    /// (nothing is changed, nothing is created but the lock file), or I/O failed.
    ///
    /// An empty directory gets a v1 chain; the server uses [`Store::open_with`] to make v2.
    pub fn open(
        dir: &Path,
        keep_recent: usize,
        genesis_time: impl FnOnce() -> String,
    ) -> Result<Opened, StoreError> {
        Store::open_with(dir, keep_recent, NewChain::V1, None, genesis_time)
    }

    /// [`Store::open`], making a `new_chain` when the directory holds none. A v2 chain also
    /// loads `server.key` and `seed-secret`, which must match its genesis block. With
    /// `ledger` (ledger mode, always v2) the directory must be, or become, a ledger-mode
    /// directory made from that genesis file and block reward; without it, a tutorial-mode
    /// one.
    pub fn open_with(
        dir: &Path,
        keep_recent: usize,
        new_chain: NewChain,
        ledger: Option<LedgerSetup<'_>>,
        genesis_time: impl FnOnce() -> String,
    ) -> Result<Opened, StoreError> {
        let genesis = ledger.map(|l| l.genesis);
        let block_reward = ledger.map_or(0, |l| l.block_reward);
        let lock = lock_dir(dir)?;
        let has_chain = dir.join(CHAIN_FILE).metadata().is_ok_and(|m| m.len() > 0);
        let mode = choose_mode(dir, has_chain, genesis)?;
        let txs_path = dir.join(TRANSACTIONS_FILE);
        let chain_path = dir.join(CHAIN_FILE);
        let draws_path = dir.join(DRAWS_FILE);
        let slashes_path = dir.join(SLASHES_FILE);
        // Read what exists; create nothing until the audit has passed, so a refused
        // directory is left exactly as it was.
        let read = |p: &Path| -> Result<Option<File>, StoreError> {
            match File::open(p) {
                Ok(f) => Ok(Some(f)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io_err(p)(e)),
            }
        };
        let chain_r = read(&chain_path)?;
        let draws_r = read(&draws_path)?;
        let slashes_r = read(&slashes_path)?;
        let draws_have_lines = draws_r
            .as_ref()
            .is_some_and(|f| f.metadata().map_or(0, |m| m.len()) > 0);
        if chain_r.is_none() && draws_have_lines {
            return Err(StoreError::ChainMissing(dir.to_path_buf()));
        }
        let txs_r = read(&txs_path)?;
        let mut txs_reader = reader(txs_r.as_ref());
        let (snapshots, torn_snapshot) = match &mode {
            Some(_) => read_snapshots(dir)?,
            None => (Vec::new(), None),
        };
        let ledger_files = match &mode {
            Some((g, _)) if has_chain => Some(crate::ledger::LedgerFiles {
                genesis: g,
                transactions: &mut txs_reader,
                snapshots: &snapshots,
            }),
            _ => None,
        };
        let mut audit = audit_full(
            reader(chain_r.as_ref()),
            reader(draws_r.as_ref()),
            ledger_files,
            keep_recent,
            Signatures::Newest(START_SIGNATURES),
        )
        .map_err(|e| StoreError::Damaged(e, dir.to_path_buf()))?;
        // Both modes' files: a tutorial chain with a genesis copy, say, is refused above.
        if mode.is_some() && has_chain && audit.ledger.is_none() && audit.tip.is_some() {
            return Err(StoreError::Ledger(PoolError::Bad(
                dir.to_path_buf(),
                format!(
                    "{GENESIS_FILE} is here, but the chain's genesis block has no AccountsHash"
                ),
            )));
        }
        // A v2 chain's secrets must be there and match before anything is written.
        let mut secrets = match (&audit.server_key, audit.seed_position) {
            (Some(server_key), Some((commit, used))) => {
                Some(load_secrets(dir, server_key, &commit, used)?)
            }
            _ => None,
        };
        let burns = audit_slashes(reader(slashes_r.as_ref()))
            .map_err(|e| StoreError::Damaged(e, dir.to_path_buf()))?;
        audit.repairs.extend(burns.repairs.iter().cloned());
        audit.burns = burns;

        let mut created_file = false;
        let mut open = |p: &Path| -> Result<File, StoreError> {
            created_file |= !p.exists();
            OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(p)
                .map_err(io_err(p))
        };
        let chain = open(&chain_path)?;
        let draws = open(&draws_path)?;
        let slashes = match slashes_r {
            Some(_) => Some(open(&slashes_path)?),
            None => None,
        };
        if created_file {
            sync_dir(dir)?;
        }
        let mut cut_txs = None;
        for repair in &audit.repairs {
            let (file, path) = match repair.file {
                CHAIN_FILE => (Some(&chain), &chain_path),
                DRAWS_FILE => (Some(&draws), &draws_path),
                TRANSACTIONS_FILE => {
                    tracing::warn!(file = %txs_path.display(), offset = repair.offset, "{}: truncating at byte {}", repair.reason, repair.offset);
                    cut_txs = Some(repair.offset);
                    continue;
                }
                _ => (slashes.as_ref(), &slashes_path),
            };
            let Some(file) = file else { continue };
            tracing::warn!(
                file = %path.display(),
                offset = repair.offset,
                "{}: truncating at byte {}",
                repair.reason,
                repair.offset
            );
            file.set_len(repair.offset).map_err(io_err(path))?;
            file.sync_all().map_err(io_err(path))?;
        }
        let mut chain = chain;
        let mut draws = draws;
        let chain_len = chain.seek(SeekFrom::End(0)).map_err(io_err(&chain_path))?;
        let draws_len = draws.seek(SeekFrom::End(0)).map_err(io_err(&draws_path))?;
        let mut store = Store {
            dir: dir.to_path_buf(),
            chain,
            draws,
            slashes,
            ledger: None,
            chain_len,
            draws_len,
            _lock: lock,
        };
        let created = audit.tip.is_none();
        if created && mode.is_some() && new_chain == NewChain::V1 {
            return Err(StoreError::Ledger(PoolError::Bad(
                dir.to_path_buf(),
                "a ledger-mode chain is a pos-lottery-v2 chain".into(),
            )));
        }
        if let (true, Some((_, Some(bytes)))) = (created, &mode) {
            write_genesis_copy(dir, bytes)?;
        }
        if created {
            let genesis = match new_chain {
                NewChain::V1 => Block::genesis(genesis_time()),
                NewChain::V2 { seed_chain_len } => {
                    let made = make_secrets(dir, seed_chain_len)?;
                    let genesis = Block::genesis_v2(
                        genesis_time(),
                        made.seed.commit(),
                        made.key.verifying_key().to_bytes(),
                    );
                    let genesis = match &mode {
                        Some((g, _)) => genesis.with_accounts_hash(g.accounts_hash(), block_reward),
                        None => genesis,
                    }
                    .sign_with(&made.key);
                    audit.seed_position = Some((made.seed.commit(), 0));
                    audit.server_key = Some(made.key.verifying_key().to_bytes());
                    secrets = Some(made);
                    genesis
                }
            };
            let span = store.write_line(Target::Chain, &genesis)?;
            audit.block_count = 1;
            audit.block_spans.push(span);
            if keep_recent > 0 {
                audit.recent.push_back(genesis.clone());
            }
            audit.tip = Some(genesis);
        }
        let ledger = match mode {
            None => None,
            Some((g, _)) => {
                let tip = audit.tip.as_ref().map_or(0, |t| t.index);
                let state = audit.ledger.take().unwrap_or_default();
                let log = read_pool(dir)?;
                let pending = pending_after(log, tip, &state.last_txs)
                    .map_err(|why| StoreError::Ledger(PoolError::Bad(dir.join(POOL_FILE), why)))?;
                store.ledger = Some(LedgerFiles::open(dir, cut_txs, tip, &pending)?);
                if let Some(at) = torn_snapshot {
                    cut_snapshots(dir, at)?;
                }
                let accounts = if created {
                    Accounts::from_genesis(&g)
                } else {
                    state.accounts
                };
                audit.ledger = Some(crate::ledger::LedgerState {
                    tx_spans: state.tx_spans,
                    transfer_signatures: state.transfer_signatures,
                    ..Default::default()
                });
                let genesis_block = genesis_block(dir, &audit)?;
                if genesis_block.block_reward != Some(block_reward) {
                    return Err(StoreError::Ledger(PoolError::Bad(
                        dir.to_path_buf(),
                        format!(
                            "BLOCK_REWARD is {block_reward}, but this ledger-mode chain's genesis block fixes its reward at {}: a chain keeps the block reward it was made with (start it with BLOCK_REWARD={0})",
                            genesis_block.block_reward.map_or("nothing".into(), |r| r.to_string())
                        ),
                    )));
                }
                let mut accounts = accounts;
                accounts.block_reward = genesis_block.block_reward;
                Some(LedgerOpened {
                    accounts,
                    pending,
                    chain_id: genesis_block.hash,
                    snapshots,
                    tip_round: audit.tip.as_ref().map_or(0, |t| t.round),
                    tracker: state.tracker,
                })
            }
        };
        Ok(Opened {
            store,
            audit,
            created,
            secrets,
            ledger,
        })
    }

    /// Appends a new reveal chain to `seed-secret` and flushes it, before any block commits
    /// to it (a rotation).
    pub fn add_seed_chain(&mut self, chain: &SecretChain) -> Result<(), StoreError> {
        append_secret_line(&self.dir, chain)
    }

    /// Appends `draw` and then `block`, each flushed to stable storage before the next step:
    /// once this returns, the block survives a crash, and may be announced.
    pub fn append(&mut self, draw: &DrawRecord, block: &Block) -> Result<Spans, StoreError> {
        self.append_with(draw, None, block)
    }

    /// [`Store::append`] for ledger mode: the block's transactions line goes between its
    /// draw line and the block, and the pool, which the block took, starts over.
    pub fn append_with(
        &mut self,
        draw: &DrawRecord,
        txs: Option<&TxRecord>,
        block: &Block,
    ) -> Result<Spans, StoreError> {
        let draw = self.write_line(Target::Draws, draw)?;
        if let (Some(txs), Some(files)) = (txs, &mut self.ledger) {
            files.append_txs(txs)?;
        }
        let written = self.write_line(Target::Chain, block)?;
        if let (Some(_), Some(files)) = (txs, &mut self.ledger) {
            files.reset_pool(block.index, &[])?;
        }
        Ok(Spans {
            block: written,
            draw,
        })
    }

    /// Ledger mode: appends accepted transactions to the pool log, one fsync for all.
    pub fn append_snapshot(&mut self, snapshot: &crate::epoch::Snapshot) -> Result<(), StoreError> {
        match &mut self.ledger {
            Some(files) => Ok(files.append_snapshot(snapshot)?),
            None => Ok(()),
        }
    }

    /// Ledger mode: appends accepted transactions to the pool log, one fsync for all.
    pub fn append_pool(&mut self, txs: &[Tx]) -> Result<(), StoreError> {
        match &mut self.ledger {
            Some(files) => Ok(files.append_pool(txs)?),
            None => Ok(()),
        }
    }

    /// Appends a slash record and flushes it to stable storage, creating the file (and
    /// making its directory entry durable) on the first slash.
    pub fn record_slash(&mut self, slash: &SlashRecord) -> Result<(), StoreError> {
        if self.slashes.is_none() {
            let path = self.dir.join(SLASHES_FILE);
            let file = OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(&path)
                .map_err(io_err(&path))?;
            sync_dir(&self.dir)?;
            self.slashes = Some(file);
        }
        self.write_line(Target::Slashes, slash).map(|_| ())
    }

    /// Writes one JSON line and syncs it; returns its offset and length (without `\n`).
    fn write_line(
        &mut self,
        target: Target,
        value: &impl serde::Serialize,
    ) -> Result<(u64, u32), StoreError> {
        let name = match target {
            Target::Chain => CHAIN_FILE,
            Target::Draws => DRAWS_FILE,
            Target::Slashes => SLASHES_FILE,
        };
        let path = self.dir.join(name);
        let mut line = serde_json::to_vec(value).map_err(|e| StoreError::Io {
            path: path.clone(),
            source: e.into(),
        })?;
        let len = line.len() as u32;
        line.push(b'\n');
        let (file, end) = match target {
            Target::Chain => (Some(&mut self.chain), Some(&mut self.chain_len)),
            Target::Draws => (Some(&mut self.draws), Some(&mut self.draws_len)),
            Target::Slashes => (self.slashes.as_mut(), None),
        };
        let Some(file) = file else {
            return Err(io_err(&path)(std::io::ErrorKind::NotFound.into()));
        };
        file.write_all(&line).map_err(io_err(&path))?;
        file.sync_data().map_err(io_err(&path))?;
        let offset = match end {
            Some(end) => {
                let at = *end;
                *end += line.len() as u64;
                at
            }
            None => 0,
        };
        Ok((offset, len))
    }
}

#[derive(Clone, Copy)]
enum Target {
    Chain,
    Draws,
    Slashes,
}

/// A buffered reader over an optional file; a missing file reads as empty.
fn reader(f: Option<&File>) -> BufReader<Box<dyn Read + '_>> {
    let inner: Box<dyn Read + '_> = match f {
        Some(f) => Box::new(f),
        None => Box::new(std::io::empty()),
    };
    BufReader::with_capacity(1 << 20, inner)
}

/// Creates `dir` if missing (making each new directory's entry durable in its parent), then
/// takes an exclusive `flock` on its lock file and writes our pid into it. The kernel drops
/// the lock when the process ends, `kill -9` included, so a stale lock file never blocks.
pub fn lock_dir(dir: &Path) -> Result<File, StoreError> {
    create_dir_durably(dir)?;
    let path = dir.join(LOCK_FILE);
    let existed = path.exists();
    // Not truncated on open: the pid inside belongs to whoever holds the lock.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err(&path))?;
    if !existed {
        sync_dir(dir)?;
    }
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let pid = text.trim().parse::<u32>().ok().map(|p| p.to_string());
            return Err(StoreError::Locked {
                dir: dir.to_path_buf(),
                pid,
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io_err(&path)(e)),
    }
    file.set_len(0).map_err(io_err(&path))?;
    file.seek(SeekFrom::Start(0)).map_err(io_err(&path))?;
    writeln!(file, "{}", std::process::id()).map_err(io_err(&path))?;
    Ok(file)
}

/// `create_dir_all`, then fsync the parent of every directory it made, so a new data
/// directory survives a power cut along with the files in it.
fn create_dir_durably(dir: &Path) -> Result<(), StoreError> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at {
        if d.as_os_str().is_empty() || d.exists() {
            break;
        }
        missing.push(d);
        at = d.parent();
    }
    if missing.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    for d in missing.iter().rev() {
        let parent = match d.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        sync_dir(parent)?;
    }
    Ok(())
}

/// The genesis block, read back: its `Hash` is what every login and transfer of a ledger
/// chain signs, and its `BlockReward` what every block mints.
fn genesis_block(dir: &Path, audit: &Audit) -> Result<Block, StoreError> {
    let span = audit.block_spans.first().copied().unwrap_or_default();
    let line = read_line_at(dir, CHAIN_FILE, span.0, span.1).map_err(io_err(dir))?;
    let genesis: Block =
        serde_json::from_slice(&line).map_err(|e| io_err(dir)(std::io::Error::other(e)))?;
    Ok(genesis)
}

/// Makes a newly created file's directory entry durable too.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: &str = "2026-01-01T00:00:00.000Z";

    #[test]
    fn first_open_writes_genesis_and_later_opens_read_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let first = Store::open(dir.path(), usize::MAX, || T0.into()).unwrap();
        assert!(first.created);
        let genesis = first.audit.tip.clone().unwrap();
        drop(first);
        let again = Store::open(dir.path(), usize::MAX, || panic!("genesis made twice")).unwrap();
        assert!(!again.created);
        assert_eq!(again.audit.tip.unwrap(), genesis);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        #[test]
        fn random_blocks_written_then_reloaded_are_identical(
            rounds in proptest::collection::vec((1u32..=300, 1u64..4, proptest::collection::vec(1u64..u64::MAX, 1..5)), 0..8),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let Opened { mut store, audit, .. } = Store::open(dir.path(), usize::MAX, || T0.into()).unwrap();
            let mut blocks = Vec::from(audit.recent);
            let mut round = 0;
            for (bpm, gap, stakes) in rounds {
                round += gap;
                let tip = blocks.last().unwrap().clone();
                let entries: Vec<(String, u64)> = stakes
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (format!("{:064x}", i * 7 + 1), *s))
                    .collect();
                let (block, draw) = crate::ledger::draw_v1_block(&tip, T0.into(), bpm, round, entries).unwrap();
                store.append(&draw, &block).unwrap();
                blocks.push(block);
            }
            drop(store);
            let reloaded = Store::open(dir.path(), usize::MAX, || panic!("genesis made twice")).unwrap();
            proptest::prop_assert!(reloaded.audit.repairs.is_empty());
            proptest::prop_assert_eq!(Vec::from(reloaded.audit.recent), blocks);
        }
    }

    #[test]
    fn damaged_files_refuse_to_open_and_stay_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path(), usize::MAX, || T0.into()).unwrap());
        let path = dir.path().join(CHAIN_FILE);
        let tampered = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"BPM\":0", "\"BPM\":1");
        std::fs::write(&path, &tampered).unwrap();
        let err = Store::open(dir.path(), usize::MAX, || T0.into()).unwrap_err();
        assert!(err.to_string().contains("chain.jsonl, block 0"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), tampered);
    }
}
