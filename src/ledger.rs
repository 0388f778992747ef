//! Auditing the files a server leaves behind: every block, link and draw, recomputed.
//!
//! Shared by the server's start-up and by `pos-lottery verify` / `stats`, so both apply
//! exactly the same checks. Reads through `BufRead` and touches no file system itself: the
//! caller decides whether to repair (the server) or only report (`verify`).

use std::collections::{HashMap, VecDeque};
use std::io::BufRead;

use serde::{Deserialize, Serialize};

use crate::chain::{decode_hash, Block, ChainError};
use crate::lottery::{compute_seed, pick_winner, LotteryError};
use crate::replay::Replay;
use crate::tx::Genesis;

mod draw_check;
mod signatures;
mod slashes;
use draw_check::check_draw;
use signatures::SignatureCheck;
pub use signatures::Signatures;
pub use slashes::{audit_slashes, Burns, SlashRecord, SLASHES_FILE};

pub const CHAIN_FILE: &str = "chain.jsonl";
pub const DRAWS_FILE: &str = "draws.jsonl";

/// One line of `draws.jsonl`: a draw's full inputs and outputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrawRecord {
    #[serde(rename = "Index")]
    pub index: u64,
    /// (address, stake) in draw order: ascending address.
    #[serde(rename = "Entries")]
    pub entries: Vec<(String, u64)>,
    #[serde(rename = "Total")]
    pub total: u128,
    #[serde(rename = "Counter")]
    pub counter: u64,
    #[serde(rename = "Target")]
    pub target: u128,
    #[serde(rename = "Winner")]
    pub winner: String,
}

/// A crash leftover that is safe to cut off: everything before `offset` checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    pub file: &'static str,
    /// Byte offset to truncate the file at.
    pub offset: u64,
    pub reason: &'static str,
}

/// Wins and expected wins of one address over every draw it entered.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    pub wins: u64,
    /// Σ stake / T over the draws it entered.
    pub expected: f64,
    pub draws: u64,
}

/// What a successful audit found.
#[derive(Debug, Default)]
pub struct Audit {
    /// The newest blocks, oldest first, as many as asked for (a verifier needs none).
    pub recent: VecDeque<Block>,
    /// Byte offset and length of each block line, by index.
    pub block_spans: Vec<(u64, u32)>,
    pub block_count: u64,
    /// The last block, when there is one.
    pub tip: Option<Block>,
    /// Byte offset and length of each draw line, by block index - 1.
    pub draw_spans: Vec<(u64, u32)>,
    pub tallies: HashMap<String, Tally>,
    pub repairs: Vec<Repair>,
    /// What `slashes.jsonl` adds up to (filled in by the caller that reads it).
    pub burns: Burns,
    /// Block signatures checked (v2 chains).
    pub signatures_checked: u64,
    /// For a v2 chain: the commitment of the reveal chain the next block draws from, and how
    /// many of its reveals are used (0 when the tip started a rotation).
    pub seed_position: Option<([u8; 32], u64)>,
    /// For a v2 chain: the genesis block's `ServerKey`.
    pub server_key: Option<[u8; 32]>,
    /// For a ledger-mode chain: the ledger replayed to the tip.
    pub ledger: Option<LedgerState>,
}

/// What replaying a ledger-mode chain found.
#[derive(Debug, Clone, Default)]
pub struct LedgerState {
    pub accounts: crate::tx::Accounts,
    /// Byte offset and length of each `transactions.jsonl` line, by block index - 1.
    pub tx_spans: Vec<(u64, u32)>,
    pub transfer_signatures: u64,
    /// The tip block's transactions (empty at genesis).
    pub last_txs: Vec<crate::tx::Tx>,
    /// Attestations counted, by block, with the blocks still in their window.
    pub tracker: crate::attest::Tracker,
}

impl Audit {
    /// 2 for a pos-lottery-v2 chain, 1 otherwise.
    pub fn version(&self) -> u8 {
        if self.seed_position.is_some() {
            2
        } else {
            1
        }
    }
}

/// The first thing wrong, with where it is.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {reason}", block.map(|i| format!(", block {i}")).unwrap_or_default())]
pub struct AuditError {
    pub file: &'static str,
    pub block: Option<u64>,
    pub reason: String,
}

impl AuditError {
    pub(crate) fn new(
        file: &'static str,
        block: Option<u64>,
        reason: impl Into<String>,
    ) -> AuditError {
        AuditError {
            file,
            block,
            reason: reason.into(),
        }
    }
}

/// A line as read: where it starts, its bytes without `\n`, and whether `\n` ended it.
struct Line {
    offset: u64,
    bytes: Vec<u8>,
    terminated: bool,
}

/// Reads one line, or `None` at the end.
fn read_line(r: &mut impl BufRead, offset: &mut u64) -> std::io::Result<Option<Line>> {
    let mut bytes = Vec::new();
    let n = r.read_until(b'\n', &mut bytes)?;
    if n == 0 {
        return Ok(None);
    }
    let start = *offset;
    *offset += n as u64;
    let terminated = bytes.last() == Some(&b'\n');
    if terminated {
        bytes.pop();
    }
    Ok(Some(Line {
        offset: start,
        bytes,
        terminated,
    }))
}

/// Parses the next record of a file. A line that is unterminated or unparseable is a torn
/// tail when it is the last line of the file (a repair), and damage otherwise (an error).
pub(crate) fn next_record<T: for<'de> Deserialize<'de>>(
    r: &mut impl BufRead,
    offset: &mut u64,
    file: &'static str,
    block: u64,
    repairs: &mut Vec<Repair>,
) -> Result<Option<(T, u64, u32)>, AuditError> {
    let io_err = |e: std::io::Error| AuditError::new(file, None, format!("cannot read: {e}"));
    let Some(line) = read_line(r, offset).map_err(io_err)? else {
        return Ok(None);
    };
    let parsed = serde_json::from_slice::<T>(&line.bytes);
    match parsed {
        Ok(record) if line.terminated => Ok(Some((record, line.offset, line.bytes.len() as u32))),
        outcome => {
            let is_last = read_line(r, offset).map_err(io_err)?.is_none();
            if is_last {
                repairs.push(Repair {
                    file,
                    offset: line.offset,
                    reason: if line.terminated {
                        "unparseable last line (torn write)"
                    } else {
                        "last line has no newline (torn write)"
                    },
                });
                Ok(None)
            } else {
                let why = match outcome {
                    Err(e) => format!("line is not a valid record: {e}"),
                    Ok(_) => "line has no newline".to_string(),
                };
                Err(AuditError::new(file, Some(block), why))
            }
        }
    }
}

/// Checks a chain file and its draws file from the first byte to the last.
///
/// Everything is checked: Index contiguous from 0, every PrevHash link, every Hash, every
/// EntriesHash against its draw line, every draw recomputed, Round strictly increasing, BPM
/// in range. What an ordinary crash leaves (a torn last line in either file, a last draw line
/// whose block was never written) comes back as [`Repair`]s, and only when everything before
/// it checked out. Anything else is an [`AuditError`] naming the file and block.
pub fn audit(
    chain: impl BufRead,
    draws: impl BufRead,
    keep_recent: usize,
) -> Result<Audit, AuditError> {
    audit_with(chain, draws, keep_recent, Signatures::All)
}

/// [`audit`], choosing which block signatures of a v2 chain to check.
pub fn audit_with(
    chain: impl BufRead,
    draws: impl BufRead,
    keep_recent: usize,
    signatures: Signatures,
) -> Result<Audit, AuditError> {
    audit_full(chain, draws, None, keep_recent, signatures)
}

/// A ledger-mode chain's genesis allocation and its `transactions.jsonl`.
pub struct LedgerFiles<'a> {
    pub genesis: &'a Genesis,
    pub transactions: &'a mut dyn BufRead,
    /// `snapshots.jsonl`, read and checked record by record (see [`crate::pool::read_snapshots`]).
    pub snapshots: &'a [crate::epoch::Snapshot],
}

/// [`audit_with`], and for a ledger-mode chain the ledger replayed from `ledger` (see
/// [`crate::replay`]). A ledger-mode chain without `ledger`, or a tutorial chain with it, is
/// refused.
pub fn audit_full(
    mut chain: impl BufRead,
    mut draws: impl BufRead,
    ledger: Option<LedgerFiles<'_>>,
    keep_recent: usize,
    signatures: Signatures,
) -> Result<Audit, AuditError> {
    let mut out = Audit::default();
    let mut ledger = ledger;
    let mut replay: Option<Replay<'_>> = None;
    let mut sigs: Option<SignatureCheck> = None;
    let (mut chain_off, mut draws_off) = (0u64, 0u64);
    let mut prev: Option<Block> = None;
    loop {
        let index = prev.as_ref().map_or(0, |p| p.index + 1);
        let Some((block, block_off, block_len)) = next_record::<Block>(
            &mut chain,
            &mut chain_off,
            CHAIN_FILE,
            index,
            &mut out.repairs,
        )?
        else {
            break;
        };
        let chain_err = |e: ChainError| AuditError::new(CHAIN_FILE, Some(index), strip_block(e));
        match &prev {
            None => {
                if block.index != 0 {
                    return Err(chain_err(ChainError::IndexMismatch {
                        index: block.index,
                        expected: 0,
                    }));
                }
                block.validate_alone().map_err(chain_err)?;
                match (block.is_ledger(), ledger.take()) {
                    (false, None) => {}
                    (true, None) => {
                        return Err(AuditError::new(
                            CHAIN_FILE,
                            Some(0),
                            format!("a ledger-mode chain (its genesis block has an AccountsHash), but there is no {}", crate::tx::GENESIS_FILE),
                        ))
                    }
                    (_, Some(files)) => {
                        replay = Some(Replay::new(&block, files.genesis, files.transactions, files.snapshots)?)
                    }
                }
                if block.is_v2() {
                    let mut check = SignatureCheck::new(&block, signatures)?;
                    check.push(&block)?;
                    sigs = Some(check);
                    out.seed_position = block
                        .seed_commit
                        .as_deref()
                        .and_then(decode_hash)
                        .map(|c| (c, 0));
                    out.server_key = block.server_key.as_deref().and_then(decode_hash);
                }
            }
            Some(p) => {
                block.validate_after(p).map_err(chain_err)?;
                if let Some(check) = &mut sigs {
                    check.push(&block)?;
                    // Which reveal chain this block drew from, and how far into it.
                    out.seed_position = match (&p.next_seed_commit, out.seed_position) {
                        (Some(next), _) => decode_hash(next).map(|c| (c, 1)),
                        (None, Some((c, used))) => Some((c, used + 1)),
                        (None, None) => None,
                    };
                }
                let mut torn = Vec::new();
                let Some((draw, off, len)) = next_record::<DrawRecord>(
                    &mut draws,
                    &mut draws_off,
                    DRAWS_FILE,
                    index,
                    &mut torn,
                )?
                else {
                    // A draw line is fsynced before its block is written, so a block whose
                    // draw line is torn or missing is damage, never a crash leftover.
                    let why = match torn.first() {
                        Some(t) => format!(
                            "its draw line at byte {} is torn ({}), but the block is in \
                             {CHAIN_FILE}; a draw line is made durable before its block is \
                             written, so this is damage, not a crash leftover",
                            t.offset,
                            if t.reason.contains("newline") {
                                "no newline at the end"
                            } else {
                                "it does not parse"
                            }
                        ),
                        None => format!(
                            "no draw line for this block: {DRAWS_FILE} ends after {} draw lines",
                            index - 1
                        ),
                    };
                    return Err(AuditError::new(DRAWS_FILE, Some(index), why));
                };
                check_draw(p, &block, &draw)
                    .map_err(|e| AuditError::new(DRAWS_FILE, Some(index), e.to_string()))?;
                if let Some(r) = &mut replay {
                    r.block(&block, &draw)?;
                }
                out.draw_spans.push((off, len));
                tally(&mut out.tallies, &draw);
            }
        }
        out.block_count += 1;
        out.block_spans.push((block_off, block_len));
        // Each block is moved, not cloned, into the kept list once its successor arrives.
        if let Some(done) = prev.replace(block) {
            if keep_recent > 1 {
                if out.recent.len() + 1 >= keep_recent {
                    out.recent.pop_front();
                }
                out.recent.push_back(done);
            }
        }
    }
    // A crash between the draw line and its block leaves one draw line too many.
    let next_index = prev.as_ref().map_or(0, |p| p.index + 1);
    let mut spare = Vec::new();
    if let Some((draw, off, _)) = next_record::<DrawRecord>(
        &mut draws,
        &mut draws_off,
        DRAWS_FILE,
        next_index,
        &mut spare,
    )? {
        let more = next_record::<DrawRecord>(
            &mut draws,
            &mut draws_off,
            DRAWS_FILE,
            next_index,
            &mut spare,
        )?;
        if draw.index != next_index || more.is_some() || !spare.is_empty() {
            return Err(AuditError::new(
                DRAWS_FILE,
                Some(draw.index),
                format!(
                    "draw lines continue past the last block: {CHAIN_FILE} ends at block {}, \
                     {DRAWS_FILE} goes on with a draw line with Index {}{} (a crash leaves \
                     at most one spare line, for the next block)",
                    next_index.saturating_sub(1),
                    draw.index,
                    if more.is_some() { " and more" } else { "" }
                ),
            ));
        }
        out.repairs.push(Repair {
            file: DRAWS_FILE,
            offset: off,
            reason: "last draw line has no block (crash before the block was written)",
        });
    } else {
        out.repairs.extend(spare);
    }
    if let Some(r) = &mut replay {
        r.finish(next_index, &mut out.repairs)?;
    }
    if let Some(mut check) = sigs {
        check.flush()?;
        out.signatures_checked = check.checked;
    }
    // A tip that started a rotation hands the next block to the new reveal chain.
    if let Some(next) = prev.as_ref().and_then(|t| t.next_seed_commit.as_deref()) {
        out.seed_position = decode_hash(next).map(|c| (c, 0));
    }
    if let (true, Some(tip)) = (keep_recent > 0, &prev) {
        out.recent.push_back(tip.clone());
    }
    out.tip = prev;
    out.ledger = replay.map(|r| LedgerState {
        accounts: r.accounts,
        tx_spans: r.spans,
        transfer_signatures: r.signatures_checked,
        last_txs: r.last_txs,
        tracker: r.tracker,
    });
    Ok(out)
}

/// The v1 block that `entries` (in address order) draw on top of `tip`, with its draw line:
/// what a v1 server writes for a round, from its inputs alone. Used to build real chains
/// for tests and examples without repeating the draw.
///
/// # Errors
/// [`LotteryError`] for no entries or a zero total stake.
pub fn draw_v1_block(
    tip: &Block,
    timestamp: String,
    bpm: u32,
    round: u64,
    entries: Vec<(String, u64)>,
) -> Result<(Block, DrawRecord), LotteryError> {
    let tip_hash = tip.hash_bytes().unwrap_or_default();
    let index = tip.index.saturating_add(1);
    let d = pick_winner(&compute_seed(&tip_hash, index), &entries)?;
    let winner = entries
        .get(d.winner)
        .map(|e| e.0.clone())
        .ok_or(LotteryError::NoCandidates)?;
    let block = Block::next(
        tip,
        timestamp,
        bpm,
        winner.clone(),
        round,
        crate::chain::compute_entries_hash(&entries),
    );
    let draw = DrawRecord {
        index,
        entries,
        total: d.total,
        counter: d.counter,
        target: d.target,
        winner,
    };
    Ok((block, draw))
}

pub fn tally(tallies: &mut HashMap<String, Tally>, draw: &DrawRecord) {
    let total = draw.total as f64;
    for (address, stake) in &draw.entries {
        // Look up before inserting: most addresses are known, and a key clone per entry
        // was a visible share of a million-block audit.
        let t = match tallies.get_mut(address) {
            Some(t) => t,
            None => tallies.entry(address.clone()).or_default(),
        };
        t.expected += *stake as f64 / total;
        t.draws += 1;
    }
    match tallies.get_mut(&draw.winner) {
        Some(t) => t.wins += 1,
        None => tallies.entry(draw.winner.clone()).or_default().wins += 1,
    }
}

/// The error's text without its leading "block N: ", which [`AuditError`] already says.
fn strip_block(e: ChainError) -> String {
    let text = e.to_string();
    match text.split_once(": ") {
        Some((head, rest)) if head.starts_with("block ") => rest.to_string(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{compute_entries_hash, Chain};

    const T0: &str = "2026-01-01T00:00:00.000Z";

    fn addr(c: char) -> String {
        std::iter::repeat_n(c, 64).collect()
    }

    /// Builds `n` real blocks with real draws, returning both files' bytes.
    fn files(n: u64) -> (Vec<u8>, Vec<u8>) {
        let mut chain = Chain::new(Block::genesis(T0.into())).unwrap();
        let mut draws = Vec::new();
        for round in 1..=n {
            let tip = chain.tip().clone();
            let entries = vec![(addr('a'), 10 + round), (addr('b'), 20), (addr('c'), 5)];
            let (block, draw) =
                draw_v1_block(&tip, T0.into(), 60 + round as u32, round * 2, entries).unwrap();
            draws.push(draw);
            chain.append(block).unwrap();
        }
        let mut c = Vec::new();
        for b in chain.blocks() {
            c.extend(serde_json::to_vec(b).unwrap());
            c.push(b'\n');
        }
        let mut d = Vec::new();
        for r in &draws {
            d.extend(serde_json::to_vec(r).unwrap());
            d.push(b'\n');
        }
        (c, d)
    }

    fn run(c: &[u8], d: &[u8]) -> Result<Audit, AuditError> {
        audit(c, d, usize::MAX)
    }

    /// Replaces the `n`th line (0-based) of a file with `f(line)`.
    fn edit_line(file: &[u8], n: usize, f: impl Fn(&str) -> String) -> Vec<u8> {
        let text = std::str::from_utf8(file).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines[n] = f(&lines[n]);
        (lines.join("\n") + "\n").into_bytes()
    }

    #[test]
    fn intact_files_pass_with_tallies() {
        let (c, d) = files(6);
        let a = run(&c, &d).unwrap();
        assert_eq!(a.block_count, 7);
        assert!(a.repairs.is_empty());
        let wins: u64 = a.tallies.values().map(|t| t.wins).sum();
        let expected: f64 = a.tallies.values().map(|t| t.expected).sum();
        assert_eq!(wins, 6);
        assert!((expected - 6.0).abs() < 1e-9);
        assert_eq!(a.draw_spans.len(), 6);
    }

    #[test]
    fn torn_tails_are_repairs_at_the_right_offsets() {
        let (c, d) = files(4);
        let last_block_at = c[..c.len() - 1].iter().rposition(|b| *b == b'\n').unwrap() + 1;
        // A torn block line: the block is cut mid-write, its draw line is whole.
        let torn = &c[..c.len() - 10];
        let a = run(torn, &d).unwrap();
        assert_eq!(a.block_count, 4);
        assert_eq!(
            a.repairs,
            vec![
                Repair {
                    file: CHAIN_FILE,
                    offset: last_block_at as u64,
                    reason: "last line has no newline (torn write)"
                },
                Repair {
                    file: DRAWS_FILE,
                    offset: d[..d.len() - 1].iter().rposition(|b| *b == b'\n').unwrap() as u64 + 1,
                    reason: "last draw line has no block (crash before the block was written)"
                },
            ]
        );
        // A torn draw line for a block that was never written.
        let (c3, _) = files(3);
        let torn_draw = &d[..d.len() - 5];
        let a = run(&c3, torn_draw).unwrap();
        assert_eq!(a.block_count, 4);
        assert_eq!(a.repairs.len(), 1);
        assert_eq!(a.repairs[0].file, DRAWS_FILE);
    }

    #[test]
    fn damage_is_an_error_naming_file_and_block() {
        let (c, d) = files(5);
        // A bad hash.
        let bad_hash = edit_line(&c, 3, |l| l.replace("\"BPM\":63", "\"BPM\":99"));
        let e = run(&bad_hash, &d).unwrap_err();
        assert_eq!((e.file, e.block), (CHAIN_FILE, Some(3)));
        assert!(e.reason.contains("Hash"), "{e}");
        // A broken link: block 2 removed.
        let mut lines: Vec<&str> = std::str::from_utf8(&c).unwrap().lines().collect();
        lines.remove(2);
        let broken = (lines.join("\n") + "\n").into_bytes();
        let e = run(&broken, &d).unwrap_err();
        assert_eq!((e.file, e.block), (CHAIN_FILE, Some(2)));
        // An altered draw outcome.
        let altered = edit_line(&d, 1, |l| l.replace("\"Counter\":0", "\"Counter\":1"));
        let e = run(&c, &altered).unwrap_err();
        assert_eq!((e.file, e.block), (DRAWS_FILE, Some(2)));
        // Altered entries: the EntriesHash no longer matches.
        let entries = edit_line(&d, 2, |l| l.replace(",20]", ",21]"));
        let e = run(&c, &entries).unwrap_err();
        assert_eq!((e.file, e.block), (DRAWS_FILE, Some(3)));
        assert!(e.reason.contains("EntriesHash"), "{e}");
        // Bad JSON in the middle of the chain.
        let mid = edit_line(&c, 2, |_| "{not json".into());
        let e = run(&mid, &d).unwrap_err();
        assert_eq!((e.file, e.block), (CHAIN_FILE, Some(2)));
        // Bad JSON in the middle of the draws.
        let mid = edit_line(&d, 0, |_| "{".into());
        assert_eq!(run(&c, &mid).unwrap_err().file, DRAWS_FILE);
        // Two spare draw lines are not a crash leftover.
        let (c3, _) = files(3);
        assert!(run(&c3, &d).is_err());
        // A draw line missing for a block.
        let (_, d4) = files(4);
        let e = run(&c, &d4).unwrap_err();
        assert_eq!((e.file, e.block), (DRAWS_FILE, Some(5)));
    }

    #[test]
    fn a_torn_draw_line_whose_block_exists_is_damage_not_a_crash() {
        let (c, d) = files(4);
        // Complete draw lines = blocks - 1 ... here the torn line's block (4) is in the chain.
        let torn = &d[..d.len() - 10];
        let e = run(&c, torn).unwrap_err();
        assert_eq!((e.file, e.block), (DRAWS_FILE, Some(4)));
        assert!(
            e.reason.contains("is torn") && e.reason.contains("damage, not a crash leftover"),
            "{e}"
        );
        // The same torn line with its block never written is a crash leftover.
        let (c3, _) = files(3);
        let a = run(&c3, torn).unwrap();
        assert_eq!(a.block_count, 4);
        assert_eq!(a.repairs.len(), 1);
        assert_eq!(a.repairs[0].file, DRAWS_FILE);
    }

    #[test]
    fn messages_say_what_was_found() {
        let (c, d) = files(4);
        // Block 2 removed: where block 2 belongs, Index 3 is found.
        let mut lines: Vec<&str> = std::str::from_utf8(&c).unwrap().lines().collect();
        lines.remove(2);
        let e = run(&(lines.join("\n") + "\n").into_bytes(), &d).unwrap_err();
        assert_eq!(
            e.to_string(),
            "chain.jsonl, block 2: Index is 3, expected 2"
        );
        // A wrong PrevHash names both hashes.
        let tip: Block = serde_json::from_str(lines[1]).unwrap();
        let bad = edit_line(&c, 2, |l| l.replace(&tip.hash, &"0".repeat(64)));
        let e = run(&bad, &d).unwrap_err();
        assert!(
            e.reason.contains(&"0".repeat(64)) && e.reason.contains(&tip.hash),
            "{e}"
        );
        // A Validator that is not the winner names both.
        let block3: Block =
            serde_json::from_str(std::str::from_utf8(&c).unwrap().lines().nth(3).unwrap()).unwrap();
        let draw3: DrawRecord =
            serde_json::from_str(std::str::from_utf8(&d).unwrap().lines().nth(2).unwrap()).unwrap();
        assert_eq!(block3.validator, draw3.winner);
        let loser = draw3
            .entries
            .iter()
            .find(|(a, _)| *a != draw3.winner)
            .unwrap()
            .0
            .clone();
        let mut swapped = block3.clone();
        swapped.validator = loser.clone();
        swapped.hash = swapped.compute_hash();
        let prev: Block =
            serde_json::from_str(std::str::from_utf8(&c).unwrap().lines().nth(2).unwrap()).unwrap();
        let err = check_draw(&prev, &swapped, &draw3).unwrap_err().to_string();
        assert!(err.contains(&loser) && err.contains(&draw3.winner), "{err}");
    }

    #[test]
    fn an_entry_with_stake_zero_is_refused_even_when_consistent() {
        // A draw rewritten consistently around a stake-0 entry: every hash and the draw
        // itself recompute, and only the stake rule catches it.
        let genesis = Block::genesis(T0.into());
        let entries = vec![(addr('a'), 0), (addr('b'), 20)];
        let seed = compute_seed(&genesis.hash_bytes().unwrap(), 1);
        let d = pick_winner(&seed, &entries).unwrap();
        let winner = entries[d.winner].0.clone();
        let block = Block::next(
            &genesis,
            T0.into(),
            70,
            winner.clone(),
            1,
            compute_entries_hash(&entries),
        );
        let draw = DrawRecord {
            index: 1,
            entries,
            total: d.total,
            counter: d.counter,
            target: d.target,
            winner,
        };
        let err = check_draw(&genesis, &block, &draw).unwrap_err().to_string();
        assert!(err.contains("has stake 0"), "{err}");
    }

    #[test]
    fn empty_files_are_an_empty_chain() {
        let a = run(b"", b"").unwrap();
        assert_eq!(a.block_count, 0);
        assert!(a.tip.is_none());
    }
}
