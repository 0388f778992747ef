//! `pos-lottery verify` and `pos-lottery stats`: answers from a data directory alone.
//!
//! Both run the same [`crate::ledger::audit`] the server runs at start-up, and change nothing.
//! `verify --against` also compares a v2 directory with another copy of its blocks (an older
//! data directory, saved broadcasts): two blocks of one index both signed by the server prove
//! the operator equivocated, and a signed block past the tip proves the directory was cut.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::chain::{decode_hash, Block};
use crate::ledger::{
    audit_full, audit_slashes, Audit, AuditError, LedgerFiles, Signatures, CHAIN_FILE, DRAWS_FILE,
    SLASHES_FILE,
};
use crate::pool::{read_genesis, read_snapshots, GenesisSetting};
use crate::replay::TRANSACTIONS_FILE;
use crate::stats::{chi_square, ChiSquare};
use crate::tx::GENESIS_FILE;

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{dir}/{0}", dir = .1)]
    Bad(AuditError, String),
    #[error("{0}")]
    Ledger(String),
}

/// Audits `dir` read-only.
pub fn check(dir: &Path) -> Result<Audit, CheckError> {
    check_with(dir, None)
}

/// [`check`]; for a ledger-mode directory, `genesis` (the `GENESIS` setting, when given)
/// must be the directory's own `genesis.json`.
pub fn check_with(dir: &Path, genesis: Option<&GenesisSetting>) -> Result<Audit, CheckError> {
    let open = |name: &str| {
        let path = dir.join(name);
        File::open(&path)
            .map(|f| BufReader::with_capacity(1 << 20, f))
            .map_err(|source| CheckError::Io {
                path: path.display().to_string(),
                source,
            })
    };
    let bad = |e| CheckError::Bad(e, dir.display().to_string());
    let copy_path = dir.join(GENESIS_FILE);
    let copy = read_genesis(&copy_path).map_err(|e| CheckError::Ledger(e.to_string()))?;
    if let (Some((copy, _)), Some(given)) = (&copy, genesis) {
        if *copy != given.genesis {
            return Err(CheckError::Ledger(format!(
                "{}: not the same allocation as this directory's {}",
                given.path.display(),
                copy_path.display()
            )));
        }
    }
    if let (None, Some(given)) = (&copy, genesis) {
        return Err(CheckError::Ledger(format!(
            "{}: given as GENESIS, but {} holds no {GENESIS_FILE}: a tutorial-mode directory",
            given.path.display(),
            dir.display()
        )));
    }
    let mut txs = match &copy {
        Some(_) => Some(open(TRANSACTIONS_FILE)?),
        None => None,
    };
    let (snapshots, torn_snapshot) = match &copy {
        Some(_) => read_snapshots(dir).map_err(|e| CheckError::Ledger(e.to_string()))?,
        None => (Vec::new(), None),
    };
    let ledger = match (&copy, &mut txs) {
        (Some((g, _)), Some(r)) => Some(LedgerFiles {
            genesis: g,
            transactions: r,
            snapshots: &snapshots,
        }),
        _ => None,
    };
    let mut a = audit_full(
        open(CHAIN_FILE)?,
        open(DRAWS_FILE)?,
        ledger,
        0,
        Signatures::All,
    )
    .map_err(bad)?;
    if let Some(offset) = torn_snapshot {
        a.repairs.push(crate::ledger::Repair {
            file: crate::epoch::SNAPSHOTS_FILE,
            offset,
            reason: "torn last snapshot line (a crash before its epoch had a block)",
        });
    }
    if let Some(l) = &a.ledger {
        // The supply is tracked apart from the balances: the two must agree.
        let s = &l.accounts;
        let held: u128 = s.map.values().map(|a| u128::from(a.balance)).sum();
        let expected = u128::from(s.genesis_total) + s.minted - s.burned;
        if held != u128::from(s.supply) || expected != held {
            return Err(CheckError::Ledger(format!(
                "{}: the balances add up to {held}, but genesis {} + rewards {} - burned {} is {expected}",
                dir.display(),
                s.genesis_total,
                s.minted,
                s.burned
            )));
        }
    }
    // No slashes yet means no file: that is an empty record, not an error.
    let burns = match File::open(dir.join(SLASHES_FILE)) {
        Ok(f) => audit_slashes(BufReader::new(f)).map_err(bad)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
        Err(source) => {
            return Err(CheckError::Io {
                path: dir.join(SLASHES_FILE).display().to_string(),
                source,
            })
        }
    };
    a.repairs.extend(burns.repairs.iter().cloned());
    a.burns = burns;
    Ok(a)
}

/// The lines `verify` prints for a directory that checked out.
pub fn verify_report(dir: &Path, a: &Audit) -> Vec<String> {
    let mut lines: Vec<String> = a
        .repairs
        .iter()
        .map(|r| {
            format!(
                "warning: {}/{}: {} at byte {}; the server cuts it off at its next start",
                dir.display(),
                r.file,
                r.reason,
                r.offset
            )
        })
        .collect();
    let draws = a.draw_spans.len();
    // A v2 chain says what else was checked, and under which key.
    let v2 = match a.server_key {
        Some(key) => format!(
            ", every reveal checked, {} signature{} by ServerKey {} checked",
            a.signatures_checked,
            if a.signatures_checked == 1 { "" } else { "s" },
            hex::encode(key)
        ),
        None => String::new(),
    };
    // Ledger mode burns through the ledger (its own line below), not slashes.jsonl.
    let burns = match &a.ledger {
        Some(_) => String::new(),
        None => format!(
            "; {} burned in {} slash{}",
            a.burns.burned,
            a.burns.slashes,
            if a.burns.slashes == 1 { "" } else { "es" }
        ),
    };
    lines.push(format!(
        "ok: {} blocks (height {}), {} validators seen, {} {}draws recomputed, every hash and link checked{v2}{burns}",
        a.block_count,
        a.block_count.saturating_sub(1),
        a.tallies.len(),
        draws,
        if a.server_key.is_some() { "pos-lottery-v2 " } else { "" },
    ));
    if let Some(l) = &a.ledger {
        let s = &l.accounts;
        lines.push(format!(
            "ledger: {} accounts hold a balance; supply {} = genesis {} + rewards {} - burned {}{}; {} transfers replayed, {} signatures checked (transfers, delegations, commissions, attestations and evidence)",
            s.holders(),
            s.supply,
            s.genesis_total,
            s.minted,
            s.burned,
            if s.cut > 0 { format!(" ({} of the rewards cut at 2^64 - 1)", s.cut) } else { String::new() },
            s.transfers,
            l.transfer_signatures
        ));
        let t = &l.tracker;
        lines.push(format!(
            "finality: {} attestations counted, {} blocks final, finalized height {}",
            t.counted, t.final_blocks, t.finalized_height
        ));
    }
    lines
}

/// Why `verify --against` could not compare.
#[derive(Debug, thiserror::Error)]
pub enum AgainstError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {why} (expected blocks as JSON: one a line as in chain.jsonl, or arrays of them as /blockchain and the chain broadcast send)")]
    Parse { path: String, why: String },
    #[error("{dir} holds a pos-lottery-v1 chain: its blocks are not signed, so no other copy can prove anything about its server")]
    Unsigned { dir: String },
}

/// Two different blocks of the same index, both signed by the chain's server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equivocation {
    pub index: u64,
    /// This directory's `Hash` at that index.
    pub here: String,
    /// The other copy's.
    pub other: String,
}

/// What comparing a data directory with another copy of its blocks found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgainstReport {
    /// The other copy, as named on the command line.
    pub source: String,
    /// This directory's `ServerKey`.
    pub server_key: [u8; 32],
    /// This directory's height.
    pub height: u64,
    pub blocks_read: u64,
    /// Blocks signed by the server that this directory holds too, identical.
    pub matched: u64,
    /// The lowest and highest index among them.
    pub matched_range: Option<(u64, u64)>,
    /// Blocks with no Signature, or one that does not verify under this `ServerKey`.
    pub not_signed: u64,
    /// Blocks whose fields do not hash to their `Hash`: a signature over that Hash says
    /// nothing about which index it belongs to, so they prove nothing.
    pub unbound: u64,
    /// Sorted by index, each (index, other Hash) once.
    pub equivocations: Vec<Equivocation>,
    /// Signed blocks past this directory's tip: how many, and the highest index.
    pub beyond: Option<(u64, u64)>,
}

impl AgainstReport {
    /// True when the other copy proves nothing against this directory.
    pub fn is_ok(&self) -> bool {
        self.equivocations.is_empty() && self.beyond.is_none()
    }

    /// What `verify --against` prints: a line per equivocation, one for a truncation, and a
    /// summary.
    pub fn lines(&self) -> Vec<String> {
        let key = hex::encode(self.server_key);
        let mut out: Vec<String> = self
            .equivocations
            .iter()
            .map(|e| {
                format!(
                    "EQUIVOCATION: block {}: this directory has Hash {}, the other copy has Hash {}, both signed by ServerKey {key}",
                    e.index, e.here, e.other
                )
            })
            .collect();
        if let Some((count, highest)) = self.beyond {
            out.push(format!(
                "TRUNCATED: this directory ends at block {}, but the other copy holds {count} block{} up to block {highest} signed by ServerKey {key}: this directory is missing blocks its server signed",
                self.height,
                if count == 1 { "" } else { "s" }
            ));
        }
        let range = match self.matched_range {
            Some((a, b)) if a == b => format!(" (block {a})"),
            Some((a, b)) => format!(" (blocks {a}-{b})"),
            None => String::new(),
        };
        let mut summary = format!(
            "against {}: {} block{} read; {} signed by ServerKey {key} and identical here{range}; {} not signed by it, skipped",
            self.source,
            self.blocks_read,
            if self.blocks_read == 1 { "" } else { "s" },
            self.matched,
            self.not_signed,
        );
        if self.unbound > 0 {
            summary.push_str(&format!(
                "; {} whose fields do not hash to their Hash, skipped",
                self.unbound
            ));
        }
        if self.is_ok() && self.matched == 0 {
            summary.push_str("; nothing to compare: no block of it was signed by this server");
        }
        out.push(summary);
        out
    }
}

/// A block of the other copy whose signature is still to be checked.
struct Candidate {
    index: u64,
    hash: [u8; 32],
    message: Vec<u8>,
    signature: ed25519_dalek::Signature,
}

/// Compares the other copy's signed blocks with this directory's, as they are read.
struct Comparer<'a> {
    key: ed25519_dalek::VerifyingKey,
    here: &'a [[u8; 32]],
    pending: Vec<Candidate>,
    seen: std::collections::BTreeSet<(u64, [u8; 32])>,
    report: AgainstReport,
}

/// Signatures of the other copy verified in one batch.
const AGAINST_BATCH: usize = 1024;

impl Comparer<'_> {
    fn push(&mut self, block: Block) {
        self.report.blocks_read += 1;
        let mut raw = [0u8; 64];
        let signed = block
            .signature
            .as_deref()
            .is_some_and(|s| hex::decode_to_slice(s, &mut raw).is_ok());
        if !signed {
            self.report.not_signed += 1;
            return;
        }
        // The signature covers the Hash alone; only a Hash that the fields hash to ties it
        // to an index.
        let hash = block.compute_hash_bytes();
        if block.hash_bytes() != Some(hash) {
            self.report.unbound += 1;
            return;
        }
        self.pending.push(Candidate {
            index: block.index,
            hash,
            message: block.signing_message(),
            signature: ed25519_dalek::Signature::from_bytes(&raw),
        });
        if self.pending.len() >= AGAINST_BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        use ed25519_dalek::Verifier;
        let pending = std::mem::take(&mut self.pending);
        let msgs: Vec<&[u8]> = pending.iter().map(|c| c.message.as_slice()).collect();
        let sigs: Vec<_> = pending.iter().map(|c| c.signature).collect();
        let keys = vec![self.key; pending.len()];
        // Another server's blocks fail the batch; then each is checked on its own.
        let all_good = ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok();
        for c in pending {
            if all_good || self.key.verify(&c.message, &c.signature).is_ok() {
                self.compare(c.index, c.hash);
            } else {
                self.report.not_signed += 1;
            }
        }
    }

    /// A block the server signed: the same here, a different one here, or none here.
    fn compare(&mut self, index: u64, hash: [u8; 32]) {
        let r = &mut self.report;
        match usize::try_from(index).ok().and_then(|i| self.here.get(i)) {
            Some(here) if *here == hash => {
                r.matched += 1;
                r.matched_range = Some(match r.matched_range {
                    Some((a, b)) => (a.min(index), b.max(index)),
                    None => (index, index),
                });
            }
            Some(here) => {
                if self.seen.insert((index, hash)) {
                    r.equivocations.push(Equivocation {
                        index,
                        here: hex::encode(here),
                        other: hex::encode(hash),
                    });
                }
            }
            None => {
                let (count, highest) = r.beyond.unwrap_or((0, index));
                r.beyond = Some((count + 1, highest.max(index)));
            }
        }
    }
}

/// One JSON value of the other copy: a block, or an array of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum BlockOrBlocks {
    One(Box<Block>),
    Many(Vec<Block>),
}

/// `verify --against`: every block of `other` (a data directory, or a file of blocks) that
/// this directory's server signed is compared with this directory's block of that index.
/// `a` is this directory's audit, which must have passed.
///
/// # Errors
/// This directory holds a v1 chain, or `other` cannot be read or is not blocks as JSON.
pub fn check_against(dir: &Path, a: &Audit, other: &Path) -> Result<AgainstReport, AgainstError> {
    let Some(server_key) = a.server_key else {
        return Err(AgainstError::Unsigned {
            dir: dir.display().to_string(),
        });
    };
    let key = ed25519_dalek::VerifyingKey::from_bytes(&server_key).map_err(|_| {
        AgainstError::Unsigned {
            dir: dir.display().to_string(),
        }
    })?;
    let here = block_hashes(dir, a.block_count)?;
    let path = if other.is_dir() {
        other.join(CHAIN_FILE)
    } else {
        other.to_path_buf()
    };
    let io = |source| AgainstError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = File::open(&path).map_err(io)?;
    let mut comparer = Comparer {
        key,
        here: &here,
        pending: Vec::new(),
        seen: Default::default(),
        report: AgainstReport {
            source: other.display().to_string(),
            server_key,
            height: a.block_count.saturating_sub(1),
            ..Default::default()
        },
    };
    // Any JSON layout: one block a line, arrays (one a line, or pretty-printed), or a mix.
    let values = serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 20, file))
        .into_iter::<BlockOrBlocks>();
    for (n, value) in values.enumerate() {
        let value = value.map_err(|e| {
            if e.is_io() {
                io(std::io::Error::other(e.to_string()))
            } else {
                AgainstError::Parse {
                    path: path.display().to_string(),
                    why: format!(
                        "JSON value {} is not a block or an array of blocks ({e})",
                        n + 1
                    ),
                }
            }
        })?;
        match value {
            BlockOrBlocks::One(block) => comparer.push(*block),
            BlockOrBlocks::Many(blocks) => blocks.into_iter().for_each(|b| comparer.push(b)),
        }
    }
    comparer.flush();
    let mut report = comparer.report;
    report.equivocations.sort_by_key(|e| e.index);
    Ok(report)
}

/// The `Hash` of each of the first `count` blocks of `dir`'s chain, by index.
fn block_hashes(dir: &Path, count: u64) -> Result<Vec<[u8; 32]>, AgainstError> {
    #[derive(Deserialize)]
    struct HashOnly {
        #[serde(rename = "Hash")]
        hash: String,
    }
    let path = dir.join(CHAIN_FILE);
    let bad = |why: String| AgainstError::Parse {
        path: path.display().to_string(),
        why,
    };
    let file = File::open(&path).map_err(|source| AgainstError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    for line in BufReader::with_capacity(1 << 20, file).lines() {
        if out.len() as u64 >= count {
            break;
        }
        let line = line.map_err(|e| bad(e.to_string()))?;
        let h: HashOnly = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        out.push(decode_hash(&h.hash).ok_or_else(|| bad(format!("Hash {:?}", h.hash)))?);
    }
    Ok(out)
}

#[derive(Debug, Serialize)]
pub struct ValidatorStats {
    pub address: String,
    pub draws: u64,
    pub wins: u64,
    pub expected_wins: f64,
    /// wins / expected_wins.
    pub ratio: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct StatsReport {
    pub blocks: u64,
    pub draws: usize,
    pub validators: Vec<ValidatorStats>,
    pub chi_square: Option<ChiSquare>,
}

pub fn stats_report(a: &Audit) -> StatsReport {
    let mut validators: Vec<ValidatorStats> = a
        .tallies
        .iter()
        .map(|(address, t)| ValidatorStats {
            address: address.clone(),
            draws: t.draws,
            wins: t.wins,
            expected_wins: t.expected,
            ratio: (t.expected > 0.0).then(|| t.wins as f64 / t.expected),
        })
        .collect();
    validators.sort_by(|a, b| {
        b.expected_wins
            .total_cmp(&a.expected_wins)
            .then_with(|| a.address.cmp(&b.address))
    });
    StatsReport {
        blocks: a.block_count,
        draws: a.draw_spans.len(),
        validators,
        chi_square: chi_square(a.tallies.values()),
    }
}

/// The plain-text table.
pub fn stats_table(r: &StatsReport) -> String {
    let mut out = format!("{} draws over {} blocks\n\n", r.draws, r.blocks);
    out.push_str(&format!(
        "{:<64}  {:>7}  {:>7}  {:>10}  {:>6}\n",
        "validator", "draws", "wins", "expected", "ratio"
    ));
    for v in &r.validators {
        let ratio = v.ratio.map_or("-".to_string(), |x| format!("{x:.3}"));
        out.push_str(&format!(
            "{:<64}  {:>7}  {:>7}  {:>10.2}  {:>6}\n",
            v.address, v.draws, v.wins, v.expected_wins, ratio
        ));
    }
    out.push('\n');
    match &r.chi_square {
        Some(c) => out.push_str(&format!(
            "chi-square = {:.3} with {} degrees of freedom ({} buckets), p = {:.4}\n{}\n",
            c.statistic,
            c.degrees_of_freedom,
            c.buckets,
            c.p_value,
            if c.p_value < 0.001 {
                "p < 0.001: wins do NOT track stake; look closer"
            } else {
                "wins are consistent with stake-weighted draws (approximate test: entrant sets vary between draws)"
            }
        )),
        None => out.push_str(
            "chi-square: not enough draws yet (needs two buckets expecting at least 5 wins each)\n",
        ),
    }
    out
}
