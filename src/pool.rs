//! Ledger mode's files beside the chain: the genesis copy, `transactions.jsonl` and the pool
//! log `pool.jsonl`.
//!
//! - `genesis.json` is copied into the data directory (fsynced) before the genesis block
//!   that commits to it, so the directory alone is enough to verify.
//! - `transactions.jsonl` holds one line per block after genesis, written and fsynced after
//!   the block's draw line and before the block, like `draws.jsonl`.
//! - `pool.jsonl` holds what was accepted but is not in a block yet: a header line
//!   `{"Height":h}` (the tip it is pending on), then one transaction per line. A transfer is
//!   answered 202, and a slashed validator told, only once its line is fsynced; many lines
//!   share one fsync (group commit: the round task writes everything that arrived while the
//!   last fsync ran). After each block, which takes the whole pool, it is truncated to a new
//!   header. A crash between the block and the truncation leaves the pool of height h − 1
//!   that the tip block applied: it is recognised by matching the tip's transactions and
//!   dropped.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::epoch::{Snapshot, SNAPSHOTS_FILE};
use crate::replay::TRANSACTIONS_FILE;
use crate::tx::{Genesis, Tx, TxRecord, GENESIS_FILE};

pub const POOL_FILE: &str = "pool.jsonl";
/// Where a start-up writes the new pool log before renaming it over `pool.jsonl`.
pub const POOL_TMP_FILE: &str = "pool.jsonl.tmp";

/// Why ledger-mode files refuse to open.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {1}", path = .0.display())]
    Bad(PathBuf, String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PoolError + '_ {
    move |source| PoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    #[serde(rename = "Height")]
    height: u64,
}

/// The `GENESIS` setting: a genesis file, read and checked when the settings are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesisSetting {
    pub path: PathBuf,
    pub genesis: Genesis,
    /// The file's bytes, copied into the data directory as they are.
    pub bytes: Vec<u8>,
}

impl GenesisSetting {
    /// Reads `path` (the `GENESIS` setting's parser).
    ///
    /// # Errors
    /// A one-line reason naming the file and the entry.
    pub fn load(path: &Path) -> Result<GenesisSetting, String> {
        match read_genesis(path) {
            Ok(Some((genesis, bytes))) => Ok(GenesisSetting {
                path: path.to_path_buf(),
                genesis,
                bytes,
            }),
            Ok(None) => Err(format!("{}: no such file", path.display())),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Reads and parses a genesis file; `Ok(None)` when it does not exist.
///
/// # Errors
/// Unreadable, or not a valid genesis file.
pub fn read_genesis(path: &Path) -> Result<Option<(Genesis, Vec<u8>)>, PoolError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    let text = String::from_utf8_lossy(&bytes);
    let g = Genesis::parse(&text).map_err(|e| PoolError::Bad(path.to_path_buf(), e.to_string()))?;
    Ok(Some((g, bytes)))
}

/// Ledger mode's allocation, and the bytes to copy into a new directory (`None` when the
/// directory has its copy already); `None` for tutorial mode.
pub type Chosen = Option<(Genesis, Option<Vec<u8>>)>;

/// Decides the directory's mode before anything is written: the genesis copy in `dir`
/// against the configured genesis file (`GENESIS`). Returns the allocation to use, or `None`
/// for tutorial mode.
///
/// # Errors
/// One mode's directory started in the other, or a genesis file that is not the chain's.
pub fn choose_mode(
    dir: &Path,
    has_chain: bool,
    configured: Option<&GenesisSetting>,
) -> Result<Chosen, PoolError> {
    let copy_path = dir.join(GENESIS_FILE);
    let copy = read_genesis(&copy_path)?;
    match (copy, configured, has_chain) {
        (None, None, _) => Ok(None),
        (None, Some(GenesisSetting { path, .. }), true) => Err(PoolError::Bad(
            dir.to_path_buf(),
            format!(
                "this data directory holds a tutorial-mode chain (no {GENESIS_FILE}); it cannot start in ledger mode with GENESIS={}. Use a new DATA_DIR for a ledger-mode chain",
                path.display()
            ),
        )),
        (
            None,
            Some(GenesisSetting {
                genesis: g, bytes, ..
            }),
            false,
        ) => Ok(Some((g.clone(), Some(bytes.clone())))),
        (Some(_), None, true) => Err(PoolError::Bad(
            dir.to_path_buf(),
            format!("this data directory holds a ledger-mode chain ({GENESIS_FILE}); start it with GENESIS set to its genesis file, or use another DATA_DIR for tutorial mode"),
        )),
        // A copy without a chain: a crash before the genesis block; the copy is redone.
        (Some(_), None, false) => Err(PoolError::Bad(
            dir.to_path_buf(),
            format!("{GENESIS_FILE} is here but no chain: start with GENESIS set to make the ledger-mode chain"),
        )),
        (
            Some((copy, _)),
            Some(GenesisSetting {
                path,
                genesis: g,
                bytes,
            }),
            has_chain,
        ) => {
            if copy != *g {
                if has_chain {
                    return Err(PoolError::Bad(
                        path.clone(),
                        format!(
                            "does not match this chain's genesis file {}: a chain keeps the genesis it was made with",
                            copy_path.display()
                        ),
                    ));
                }
                return Ok(Some((g.clone(), Some(bytes.clone()))));
            }
            Ok(Some((copy, None)))
        }
    }
}

/// Writes the genesis copy (fsynced, with its directory entry) before the genesis block.
///
/// # Errors
/// I/O.
pub fn write_genesis_copy(dir: &Path, bytes: &[u8]) -> Result<(), PoolError> {
    let path = dir.join(GENESIS_FILE);
    let mut f = File::create(&path).map_err(io_err(&path))?;
    f.write_all(bytes).map_err(io_err(&path))?;
    f.sync_all().map_err(io_err(&path))?;
    sync_dir(dir)
}

/// Reads `snapshots.jsonl` (missing reads as none), each record checked after the one before.
/// A torn last line is a crash leftover: a snapshot is fsynced before any block of its epoch,
/// so none has a block; its offset comes back for the server to cut (`verify` only warns).
/// Anything else unreadable is damage.
///
/// # Errors
/// A bad record, or I/O.
pub fn read_snapshots(dir: &Path) -> Result<(Vec<Snapshot>, Option<u64>), PoolError> {
    let path = dir.join(SNAPSHOTS_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), None)),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let mut out: Vec<Snapshot> = Vec::new();
    let mut torn = None;
    let mut offset = 0usize;
    let mut rest = bytes.as_slice();
    let mut line_no = 0usize;
    while !rest.is_empty() {
        line_no += 1;
        let (line, terminated) = match rest.iter().position(|b| *b == b'\n') {
            Some(i) => (rest.get(..i).unwrap_or_default(), true),
            None => (rest, false),
        };
        let used = line.len() + usize::from(terminated);
        let last = used >= rest.len();
        let parsed = serde_json::from_slice::<Snapshot>(line);
        match (parsed, terminated) {
            (Ok(snapshot), true) => {
                snapshot
                    .check(out.last())
                    .map_err(|e| PoolError::Bad(path.clone(), format!("line {line_no}: {e}")))?;
                out.push(snapshot);
            }
            (_, _) if last => {
                torn = Some(offset as u64);
                break;
            }
            (Err(e), _) => {
                return Err(PoolError::Bad(
                    path,
                    format!("line {line_no} is not a snapshot record: {e}"),
                ))
            }
            // Only the last line can lack its newline.
            (Ok(_), false) => break,
        }
        offset += used;
        rest = rest.get(used..).unwrap_or_default();
    }
    Ok((out, torn))
}

/// Cuts a torn last snapshot line (see [`read_snapshots`]).
///
/// # Errors
/// I/O.
pub fn cut_snapshots(dir: &Path, at: u64) -> Result<(), PoolError> {
    let path = dir.join(SNAPSHOTS_FILE);
    tracing::warn!(file = %path.display(), offset = at, "torn last snapshot line: truncating at byte {at}");
    let f = OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    f.set_len(at).map_err(io_err(&path))?;
    f.sync_all().map_err(io_err(&path))
}

/// What the pool log held at start-up.
#[derive(Debug, Default)]
pub struct PoolLog {
    pub height: Option<u64>,
    pub entries: Vec<Tx>,
    /// A torn last line to cut off (it was never acknowledged).
    pub torn_at: Option<u64>,
}

/// Reads `pool.jsonl` (missing or empty reads as empty).
///
/// # Errors
/// A damaged line that is not the last.
pub fn read_pool(dir: &Path) -> Result<PoolLog, PoolError> {
    let path = dir.join(POOL_FILE);
    let f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(PoolLog::default()),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let mut r = BufReader::new(f);
    let mut out = PoolLog::default();
    let mut offset = 0u64;
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    let mut bad: Option<(u64, u64, String)> = None;
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf).map_err(io_err(&path))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if let Some((_, at, why)) = bad.take() {
            // Something follows a bad line: damage, not a torn tail.
            return Err(PoolError::Bad(path, format!("line {at}: {why}")));
        }
        let start = offset;
        offset += n as u64;
        let terminated = buf.last() == Some(&b'\n');
        let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let parsed = if out.height.is_none() {
            serde_json::from_slice::<Header>(text)
                .map(|h| out.height = Some(h.height))
                .map_err(|e| format!("not a pool header: {e}"))
        } else {
            serde_json::from_slice::<Tx>(text)
                .map(|t| out.entries.push(t))
                .map_err(|e| format!("not a transaction: {e}"))
        };
        match (parsed, terminated) {
            (Ok(()), true) => {}
            (Ok(()), false) => {
                // Parsed but unterminated: roll it back, it is a torn tail unless more follows.
                if line_no > 1 {
                    out.entries.pop();
                } else {
                    out.height = None;
                }
                bad = Some((start, line_no, "no newline".into()));
            }
            (Err(why), _) => bad = Some((start, line_no, why)),
        }
    }
    if let Some((at, _, _)) = bad {
        out.torn_at = Some(at);
    }
    Ok(out)
}

/// Which of the pool log's entries are still pending on the tip (`tip_index`, whose block
/// applied `tip_txs`).
///
/// # Errors
/// A pool that belongs to neither the tip nor the block before it.
pub fn pending_after(log: PoolLog, tip_index: u64, tip_txs: &[Tx]) -> Result<Vec<Tx>, String> {
    match log.height {
        None => Ok(Vec::new()),
        Some(h) if h == tip_index => Ok(log.entries),
        Some(h) if h.saturating_add(1) == tip_index => {
            // The block applied the pool, then its rewards.
            let pool_len = tip_txs
                .iter()
                .rposition(|t| !matches!(t, Tx::Reward { .. }))
                .map_or(0, |i| i + 1);
            let applied = &tip_txs[..pool_len];
            if log.entries == applied {
                Ok(Vec::new())
            } else {
                Err(format!(
                    "the pool is pending on block {h}, but block {tip_index} applied other transactions than it holds"
                ))
            }
        }
        Some(h) => Err(format!(
            "the pool is pending on block {h}, but the chain's tip is block {tip_index}"
        )),
    }
}

/// The open ledger-mode files, positioned to append.
#[derive(Debug)]
pub struct LedgerFiles {
    dir: PathBuf,
    txs: File,
    txs_len: u64,
    pool: File,
    /// `snapshots.jsonl`, opened on the first snapshot.
    snapshots: Option<File>,
}

impl LedgerFiles {
    /// Opens (creating if missing) `transactions.jsonl` and `pool.jsonl`, cutting a torn
    /// transactions line at `cut_txs` and replacing the pool log with `pending` on `height`.
    ///
    /// # Errors
    /// I/O.
    pub fn open(
        dir: &Path,
        cut_txs: Option<u64>,
        height: u64,
        pending: &[Tx],
    ) -> Result<LedgerFiles, PoolError> {
        let txs_path = dir.join(TRANSACTIONS_FILE);
        let txs = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&txs_path)
            .map_err(io_err(&txs_path))?;
        if let Some(at) = cut_txs {
            txs.set_len(at).map_err(io_err(&txs_path))?;
            txs.sync_all().map_err(io_err(&txs_path))?;
        }
        let txs_len = txs.metadata().map_err(io_err(&txs_path))?.len();
        // `pending` was acknowledged and lives only in the old pool log: the new one is
        // written beside it and renamed over it, so a crash or a failed write (a full disk)
        // part-way leaves the old one whole. Truncating in place would lose it.
        let pool_path = dir.join(POOL_FILE);
        let tmp_path = dir.join(POOL_TMP_FILE);
        let mut tmp = File::create(&tmp_path).map_err(io_err(&tmp_path))?;
        tmp.write_all(&pool_bytes(&pool_path, height, pending)?)
            .map_err(io_err(&tmp_path))?;
        tmp.sync_all().map_err(io_err(&tmp_path))?;
        drop(tmp);
        std::fs::rename(&tmp_path, &pool_path).map_err(io_err(&pool_path))?;
        sync_dir(dir)?;
        let pool = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&pool_path)
            .map_err(io_err(&pool_path))?;
        Ok(LedgerFiles {
            dir: dir.to_path_buf(),
            txs,
            txs_len,
            pool,
            snapshots: None,
        })
    }

    /// Appends an epoch's stake snapshot, fsynced (with its directory entry the first time),
    /// before any block of the epoch is written.
    ///
    /// # Errors
    /// I/O.
    pub fn append_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), PoolError> {
        let path = self.dir.join(SNAPSHOTS_FILE);
        if self.snapshots.is_none() {
            let existed = path.exists();
            let f = OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
                .map_err(io_err(&path))?;
            if !existed {
                sync_dir(&self.dir)?;
            }
            self.snapshots = Some(f);
        }
        let mut line = serde_json::to_vec(snapshot).map_err(|e| io_err(&path)(e.into()))?;
        line.push(b'\n');
        let Some(f) = self.snapshots.as_mut() else {
            return Ok(());
        };
        f.write_all(&line).map_err(io_err(&path))?;
        f.sync_data().map_err(io_err(&path))
    }

    /// Appends a block's transactions line, fsynced; returns its offset and length.
    ///
    /// # Errors
    /// I/O.
    pub fn append_txs(&mut self, record: &TxRecord) -> Result<(u64, u32), PoolError> {
        let path = self.dir.join(TRANSACTIONS_FILE);
        let mut line = serde_json::to_vec(record).map_err(|e| io_err(&path)(e.into()))?;
        let len = line.len() as u32;
        line.push(b'\n');
        self.txs.write_all(&line).map_err(io_err(&path))?;
        self.txs.sync_data().map_err(io_err(&path))?;
        let at = self.txs_len;
        self.txs_len += line.len() as u64;
        Ok((at, len))
    }

    /// Appends accepted transactions to the pool log with one fsync for all of them.
    ///
    /// # Errors
    /// I/O: nothing may then be acknowledged.
    pub fn append_pool(&mut self, txs: &[Tx]) -> Result<(), PoolError> {
        let path = self.dir.join(POOL_FILE);
        let mut buf = Vec::with_capacity(txs.len() * 300);
        for tx in txs {
            serde_json::to_writer(&mut buf, tx).map_err(|e| io_err(&path)(e.into()))?;
            buf.push(b'\n');
        }
        self.pool.write_all(&buf).map_err(io_err(&path))?;
        self.pool.sync_data().map_err(io_err(&path))
    }

    /// Starts the pool over on `height`, holding `pending`: after a block took the pool.
    ///
    /// # Errors
    /// I/O.
    pub fn reset_pool(&mut self, height: u64, pending: &[Tx]) -> Result<(), PoolError> {
        let path = self.dir.join(POOL_FILE);
        self.pool.set_len(0).map_err(io_err(&path))?;
        let mut buf =
            serde_json::to_vec(&Header { height }).map_err(|e| io_err(&path)(e.into()))?;
        buf.push(b'\n');
        self.pool.write_all(&buf).map_err(io_err(&path))?;
        self.append_pool(pending)
    }
}

/// A pool log's whole text: the header on `height`, then `pending`, one a line.
fn pool_bytes(path: &Path, height: u64, pending: &[Tx]) -> Result<Vec<u8>, PoolError> {
    let mut buf = serde_json::to_vec(&Header { height }).map_err(|e| io_err(path)(e.into()))?;
    buf.push(b'\n');
    for tx in pending {
        serde_json::to_writer(&mut buf, tx).map_err(|e| io_err(path)(e.into()))?;
        buf.push(b'\n');
    }
    Ok(buf)
}

fn sync_dir(dir: &Path) -> Result<(), PoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reward(n: u64) -> Tx {
        Tx::Reward {
            kind: crate::tx::RewardKind::Block,
            to: format!("{n:064x}"),
            amount: n,
            cut: 0,
        }
    }

    fn slash(n: u64) -> Tx {
        Tx::Slash {
            address: format!("{n:064x}"),
            amount: n,
            round: n,
            line: "x".into(),
        }
    }

    #[test]
    fn the_pool_log_reads_back_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = LedgerFiles::open(dir.path(), None, 3, &[slash(1)]).unwrap();
        f.append_pool(&[slash(2)]).unwrap();
        let log = read_pool(dir.path()).unwrap();
        assert_eq!(log.height, Some(3));
        assert_eq!(log.entries, vec![slash(1), slash(2)]);
        assert_eq!(log.torn_at, None);
        let path = dir.path().join(POOL_FILE);
        let whole = std::fs::read(&path).unwrap();
        std::fs::write(&path, &whole[..whole.len() - 5]).unwrap();
        let log = read_pool(dir.path()).unwrap();
        assert_eq!(log.entries, vec![slash(1)]);
        assert!(log.torn_at.is_some());
        // A bad line followed by more is damage.
        let mut damaged = whole.clone();
        damaged.extend_from_slice(b"garbage\n{\"Type\":\"slash\"}\n");
        std::fs::write(&path, &damaged).unwrap();
        assert!(read_pool(dir.path()).is_err());
    }

    #[test]
    fn a_pool_the_tip_applied_is_dropped_and_any_other_refused() {
        let log = |h, e: Vec<Tx>| PoolLog {
            height: Some(h),
            entries: e,
            torn_at: None,
        };
        let tip_txs = vec![slash(1), slash(2), reward(9)];
        assert_eq!(
            pending_after(log(5, vec![slash(1)]), 5, &tip_txs),
            Ok(vec![slash(1)])
        );
        assert_eq!(
            pending_after(log(4, vec![slash(1), slash(2)]), 5, &tip_txs),
            Ok(vec![])
        );
        assert!(pending_after(log(4, vec![slash(1)]), 5, &tip_txs).is_err());
        assert!(pending_after(log(2, vec![]), 5, &tip_txs).is_err());
    }
}
