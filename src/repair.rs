//! `pos-lottery repair`: cuts a damaged tail off a data directory the server refuses, and
//! nothing else.
//!
//! Start-up already cuts ordinary crash leftovers. What it refuses is left for a person to
//! decide, and this command is the only other thing that ever shortens the files. It cuts
//! only a *tail*: the last block of `chain.jsonl` (with its draw line and whatever follows in
//! `draws.jsonl`), draw lines past the last block's, the last line of `slashes.jsonl`, and
//! the crash leftovers the server's start would cut anyway. Before anything is touched, the
//! would-be truncated files are audited in memory and must check out with nothing left over;
//! damage followed by more blocks (a tampered middle) is refused, since cutting it would
//! destroy the evidence. It shows every byte it cuts, and cuts only when asked (`--yes`).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::ledger::{
    audit, audit_slashes, Audit, AuditError, Burns, CHAIN_FILE, DRAWS_FILE, SLASHES_FILE,
};
use crate::store::{lock_dir, StoreError};

/// The files a repair may shorten, in the order it cuts them: a block before its draw line,
/// the reverse of the order the server writes them, so an interrupted repair leaves only
/// what the server's start cuts by itself.
const FILES: [&str; 3] = [CHAIN_FILE, DRAWS_FILE, SLASHES_FILE];
/// Cut lines shown per file; the rest are counted.
const MAX_SHOWN_LINES: usize = 10;
/// Characters shown of each cut line.
const MAX_SHOWN_CHARS: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    /// The directory is locked by a server, or the lock could not be taken.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The damage is not a tail: nothing was changed. `why` says so on one line; `found` is
    /// the audit's finding, when an audit failed.
    #[error("{why}")]
    Refused { found: Option<String>, why: String },
}

fn refused(why: String) -> RepairError {
    RepairError::Refused { found: None, why }
}

/// Adds the audit's finding `e` to a refusal.
fn found(e: &AuditError) -> impl FnOnce(RepairError) -> RepairError + '_ {
    move |err| match err {
        RepairError::Refused { found: None, why } => RepairError::Refused {
            found: Some(e.to_string()),
            why,
        },
        other => other,
    }
}

/// The data files, as a repair reads them: a missing file reads as empty, like the server's.
pub trait Files {
    /// The file's length in bytes (0 when missing).
    fn len(&self, file: &'static str) -> Result<u64, RepairError>;
    /// The file from byte `offset` on.
    fn open_at(&self, file: &'static str, offset: u64) -> Result<Box<dyn Read + '_>, RepairError>;
}

/// A data directory on disk.
pub struct DirFiles<'a>(pub &'a Path);

impl DirFiles<'_> {
    fn io(&self, file: &str) -> impl FnOnce(std::io::Error) -> RepairError {
        let path = self.0.join(file);
        move |source| RepairError::Io { path, source }
    }
}

impl Files for DirFiles<'_> {
    fn len(&self, file: &'static str) -> Result<u64, RepairError> {
        match std::fs::metadata(self.0.join(file)) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(self.io(file)(e)),
        }
    }

    fn open_at(&self, file: &'static str, offset: u64) -> Result<Box<dyn Read + '_>, RepairError> {
        match File::open(self.0.join(file)) {
            Ok(mut f) => {
                f.seek(SeekFrom::Start(offset)).map_err(self.io(file))?;
                Ok(Box::new(f))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Box::new(std::io::empty())),
            Err(e) => Err(self.io(file)(e)),
        }
    }
}

/// One file to shorten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub file: &'static str,
    /// Truncate at this byte.
    pub offset: u64,
    /// The file's length now.
    pub len: u64,
}

/// What a repair would do.
#[derive(Debug)]
pub enum Plan {
    /// The directory checks out with no leftovers: its audit.
    Nothing(Box<Audit>),
    /// Cut these (never empty), explained by `findings`: the audit's error for damage, or a
    /// crash leftover's reason and offset.
    Cut {
        findings: Vec<String>,
        cuts: Vec<Cut>,
    },
}

/// Decides what to cut, reading only. Succeeds only when the truncated files would audit
/// clean with nothing left over.
///
/// # Errors
/// [`RepairError::Refused`] when the damage is not a tail (a bad block followed by more
/// blocks, a bad genesis block, a bad slash record before the last one), or
/// [`RepairError::Io`].
pub fn plan(files: &impl Files) -> Result<Plan, RepairError> {
    let lens = [
        files.len(CHAIN_FILE)?,
        files.len(DRAWS_FILE)?,
        files.len(SLASHES_FILE)?,
    ];
    let mut keep = lens;
    let mut findings = Vec::new();
    let ledger = audit_ledger(files, lens[0], lens[1])?;
    let slashes = audit_slashes(prefix(files, SLASHES_FILE, lens[2])?);
    if let (Ok(a), Ok(b)) = (&ledger, &slashes) {
        if a.repairs.is_empty() && b.repairs.is_empty() {
            let mut a = ledger.unwrap_or_default();
            a.burns = slashes.unwrap_or_default();
            return Ok(Plan::Nothing(Box::new(a)));
        }
    }
    match ledger {
        Ok(a) => {
            for r in &a.repairs {
                findings.push(format!("{}: {} at byte {}", r.file, r.reason, r.offset));
                cut_at(&mut keep, r.file, r.offset);
            }
        }
        Err(e) => {
            let (chain, draws) = ledger_tail(files, lens, &e).map_err(found(&e))?;
            findings.push(e.to_string());
            keep[0] = chain;
            keep[1] = draws;
        }
    }
    match slashes {
        Ok(b) => {
            for r in &b.repairs {
                findings.push(format!("{}: {} at byte {}", r.file, r.reason, r.offset));
                cut_at(&mut keep, r.file, r.offset);
            }
        }
        Err(e) => {
            keep[2] = slashes_tail(files, lens[2], &e).map_err(found(&e))?;
            findings.push(e.to_string());
        }
    }
    // Whatever the reasons, the result must be a directory that needs nothing more.
    let after = audit_all(files, keep)?;
    if let Some(r) = after.repairs.first() {
        return Err(refused(format!(
            "cutting the tail would still leave {}: {} at byte {}; restore the directory from a copy",
            r.file, r.reason, r.offset
        )));
    }
    let cuts: Vec<Cut> = FILES
        .into_iter()
        .zip(keep.into_iter().zip(lens))
        .filter(|(_, (keep, len))| keep < len)
        .map(|(file, (offset, len))| Cut { file, offset, len })
        .collect();
    if cuts.is_empty() {
        // Leftovers in a file that is not there: nothing to cut.
        Ok(Plan::Nothing(Box::new(after)))
    } else {
        Ok(Plan::Cut { findings, cuts })
    }
}

/// Audits the first `keep` bytes of each file, as the server's start would see them.
///
/// # Errors
/// [`RepairError::Refused`] naming the damage, or [`RepairError::Io`].
pub fn audit_all(files: &impl Files, keep: [u64; 3]) -> Result<Audit, RepairError> {
    let refused =
        |e: AuditError| refused(format!("the files would not check out after the cut: {e}"));
    let mut a = audit_ledger(files, keep[0], keep[1])?.map_err(refused)?;
    let burns: Burns = audit_slashes(prefix(files, SLASHES_FILE, keep[2])?).map_err(refused)?;
    a.repairs.extend(burns.repairs.iter().cloned());
    a.burns = burns;
    Ok(a)
}

fn cut_at(keep: &mut [u64; 3], file: &str, offset: u64) {
    if let Some(i) = FILES.iter().position(|f| *f == file) {
        keep[i] = keep[i].min(offset);
    }
}

/// The first `len` bytes of a file, buffered.
fn prefix<'a>(
    files: &'a impl Files,
    file: &'static str,
    len: u64,
) -> Result<BufReader<std::io::Take<Box<dyn Read + 'a>>>, RepairError> {
    Ok(BufReader::with_capacity(
        1 << 20,
        files.open_at(file, 0)?.take(len),
    ))
}

fn audit_ledger(
    files: &impl Files,
    chain: u64,
    draws: u64,
) -> Result<Result<Audit, AuditError>, RepairError> {
    Ok(audit(
        prefix(files, CHAIN_FILE, chain)?,
        prefix(files, DRAWS_FILE, draws)?,
        0,
    ))
}

/// Where each line of the first `len` bytes starts (a last line without `\n` counts).
fn line_starts(files: &impl Files, file: &'static str, len: u64) -> Result<Vec<u64>, RepairError> {
    let mut r = prefix(files, file, len)?;
    let mut starts = Vec::new();
    let mut at = 0u64;
    let mut in_line = false;
    loop {
        let buf = r.fill_buf().map_err(|source| RepairError::Io {
            path: PathBuf::from(file),
            source,
        })?;
        if buf.is_empty() {
            return Ok(starts);
        }
        for (i, b) in buf.iter().enumerate() {
            if !in_line {
                starts.push(at + i as u64);
                in_line = true;
            }
            if *b == b'\n' {
                in_line = false;
            }
        }
        let n = buf.len();
        at += n as u64;
        r.consume(n);
    }
}

/// Where to cut `chain.jsonl` and `draws.jsonl` when their audit failed with `e`, if the
/// damage is a tail. Two tails qualify, tried in this order (the smaller cut first):
/// - the chain is whole and only the draw lines after the last block's are wrong: those go,
///   plus any crash leftover the server's start would cut;
/// - the last block is wrong (its line, or its draw line): that block, its draw line and
///   everything after it in `draws.jsonl` go, and what remains must need no repair at all.
fn ledger_tail(
    files: &impl Files,
    lens: [u64; 3],
    e: &AuditError,
) -> Result<(u64, u64), RepairError> {
    let blocks = line_starts(files, CHAIN_FILE, lens[0])?;
    let draws = line_starts(files, DRAWS_FILE, lens[1])?;
    let restore = "Restore the directory from a copy, or move it aside and start a new chain.";
    let Some(last) = blocks.len().checked_sub(1) else {
        return Err(refused(format!(
            "{e}: {CHAIN_FILE} has no blocks to cut back to. {restore}"
        )));
    };
    if let Some(&from) = draws.get(last) {
        if let Ok(a) = audit_ledger(files, lens[0], from)? {
            let mut keep = [lens[0], from, lens[2]];
            for r in &a.repairs {
                cut_at(&mut keep, r.file, r.offset);
            }
            if matches!(audit_ledger(files, keep[0], keep[1])?, Ok(a) if a.repairs.is_empty()) {
                return Ok((keep[0], keep[1]));
            }
        }
    }
    if let (Some(prev), Some(&block_at)) = (last.checked_sub(1), blocks.get(last)) {
        let draws_at = draws.get(prev).copied().unwrap_or(lens[1]);
        if matches!(audit_ledger(files, block_at, draws_at)?, Ok(a) if a.repairs.is_empty()) {
            return Ok((block_at, draws_at));
        }
    }
    let why = match e.block {
        Some(0) if last == 0 => format!(
            "the damage at {}, block 0 is in the genesis block; cutting it would leave no chain. {restore}",
            e.file
        ),
        Some(k) if k < last as u64 => format!(
            "the damage at {}, block {k} is followed by {} more blocks; that is not a crash tail, and cutting it would destroy evidence. {restore}",
            e.file,
            last as u64 - k
        ),
        _ => format!(
            "the damage at {e} is not confined to the last block and the lines after it, so it is not a crash tail. {restore}"
        ),
    };
    Err(refused(why))
}

/// Where to cut `slashes.jsonl` when its audit failed with `e`: before its last line, when
/// that line alone is wrong. A bad line followed by more slashes is refused.
fn slashes_tail(files: &impl Files, len: u64, e: &AuditError) -> Result<u64, RepairError> {
    let lines = line_starts(files, SLASHES_FILE, len)?;
    if let Some(&last) = lines.last() {
        if matches!(audit_slashes(prefix(files, SLASHES_FILE, last)?), Ok(b) if b.repairs.is_empty())
        {
            return Ok(last);
        }
    }
    Err(refused(format!(
        "the damage at {e} is not in its last line: cutting it would also cut the slash records after it, which are evidence. Restore {SLASHES_FILE} from a copy."
    )))
}

/// The lines that show what `cut` removes: where, how much, and the lines themselves.
pub fn describe_cut(
    files: &impl Files,
    dir: &Path,
    cut: &Cut,
    verb: &str,
) -> Result<Vec<String>, RepairError> {
    let path = dir.join(cut.file);
    let io = |source| RepairError::Io {
        path: path.clone(),
        source,
    };
    let mut r = BufReader::new(
        files
            .open_at(cut.file, cut.offset)?
            .take(cut.len - cut.offset),
    );
    let mut shown = Vec::new();
    let mut count = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).map_err(io)? == 0 {
            break;
        }
        count += 1;
        if shown.len() < MAX_SHOWN_LINES {
            shown.push(format!("  {}", show_line(&line)));
        }
    }
    let mut out = vec![format!(
        "{verb} {} at byte {}: {} bytes, {count} line{}",
        path.display(),
        cut.offset,
        cut.len - cut.offset,
        if count == 1 { "" } else { "s" }
    )];
    out.extend(shown);
    if count > MAX_SHOWN_LINES as u64 {
        out.push(format!(
            "  ... and {} more lines",
            count - MAX_SHOWN_LINES as u64
        ));
    }
    Ok(out)
}

/// One cut line for the terminal: control characters escaped, long lines shortened.
fn show_line(bytes: &[u8]) -> String {
    let (body, newline) = match bytes.strip_suffix(b"\n") {
        Some(b) => (b, true),
        None => (bytes, false),
    };
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX_SHOWN_CHARS {
            out.push_str(&format!("... ({} bytes in all)", body.len()));
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if !newline {
        out.push_str(" [no newline]");
    }
    out
}

/// Truncates each file as planned and flushes it to stable storage.
///
/// # Errors
/// [`RepairError::Io`], or [`RepairError::Refused`] when a file's length changed since the
/// plan (nothing after it is cut).
pub fn apply(dir: &Path, cuts: &[Cut]) -> Result<(), RepairError> {
    for cut in cuts {
        let path = dir.join(cut.file);
        let io = |source| RepairError::Io {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new().write(true).open(&path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len != cut.len {
            return Err(refused(format!(
                "{} changed while it was checked ({} bytes, then {len}); nothing more was cut",
                path.display(),
                cut.len
            )));
        }
        file.set_len(cut.offset).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    Ok(())
}

/// The whole command: lock `dir`, plan, show the plan, and cut when `yes`. Writes its report
/// to `out`.
///
/// # Errors
/// The directory is missing or locked by a running server, the damage is not a tail
/// ([`RepairError::Refused`], after the findings are written to `out`), or I/O failed.
pub fn run(dir: &Path, yes: bool, out: &mut impl Write) -> Result<(), RepairError> {
    let out_err = |source| RepairError::Io {
        path: PathBuf::from("<stdout>"),
        source,
    };
    // Locking would create a missing directory; a repair has nothing to do with one.
    if !dir.is_dir() {
        return Err(RepairError::Io {
            path: dir.to_path_buf(),
            source: std::io::ErrorKind::NotFound.into(),
        });
    }
    // Ledger mode adds transactions.jsonl and the pool, whose tails this tool does not know:
    // the server cuts their crash leftovers itself at start-up.
    if dir.join(crate::tx::GENESIS_FILE).exists() {
        return Err(refused(format!(
            "{} is a ledger-mode directory ({} is there): repair handles tutorial-mode directories only. The server cuts a crash's leftovers itself when it starts; `pos-lottery verify` names any other damage, which needs the files restored from a copy",
            dir.display(),
            crate::tx::GENESIS_FILE
        )));
    }
    let _lock = lock_dir(dir)?;
    let files = DirFiles(dir);
    let (findings, cuts) = match plan(&files) {
        Ok(Plan::Nothing(a)) => {
            let summary = crate::audit::verify_report(dir, &a).join("; ");
            let summary = summary.strip_prefix("ok: ").unwrap_or(&summary);
            writeln!(out, "nothing to repair: {summary}").map_err(out_err)?;
            return Ok(());
        }
        Ok(Plan::Cut { findings, cuts }) => (findings, cuts),
        Err(RepairError::Refused {
            found: Some(found),
            why,
        }) => {
            // Say what is wrong before saying no, as `verify` would.
            writeln!(out, "FAILED: {}/{found}", dir.display()).map_err(out_err)?;
            return Err(RepairError::Refused { found: None, why });
        }
        Err(e) => return Err(e),
    };
    for f in &findings {
        writeln!(out, "found: {}/{f}", dir.display()).map_err(out_err)?;
    }
    let verb = if yes { "cutting" } else { "would cut" };
    for cut in &cuts {
        for line in describe_cut(&files, dir, cut, verb)? {
            writeln!(out, "{line}").map_err(out_err)?;
        }
    }
    if !yes {
        writeln!(out, "dry run: run again with --yes to cut these bytes").map_err(out_err)?;
        return Ok(());
    }
    apply(dir, &cuts)?;
    let bytes: u64 = cuts.iter().map(|c| c.len - c.offset).sum();
    writeln!(
        out,
        "repaired: cut {bytes} bytes from {}",
        cuts.iter()
            .map(|c| c.file)
            .collect::<Vec<_>>()
            .join(" and ")
    )
    .map_err(out_err)?;
    let lens = [
        files.len(CHAIN_FILE)?,
        files.len(DRAWS_FILE)?,
        files.len(SLASHES_FILE)?,
    ];
    let a = audit_all(&files, lens)?;
    for line in crate::audit::verify_report(dir, &a) {
        writeln!(out, "{line}").map_err(out_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{Block, Chain};
    use crate::ledger::draw_v1_block;

    const T0: &str = "2026-01-01T00:00:00.000Z";

    /// chain.jsonl, draws.jsonl and slashes.jsonl in memory.
    struct Mem([Vec<u8>; 3]);

    impl Files for Mem {
        fn len(&self, file: &'static str) -> Result<u64, RepairError> {
            Ok(self.file(file).len() as u64)
        }
        fn open_at(
            &self,
            file: &'static str,
            offset: u64,
        ) -> Result<Box<dyn Read + '_>, RepairError> {
            Ok(Box::new(&self.file(file)[offset as usize..]))
        }
    }

    impl Mem {
        fn file(&self, file: &str) -> &[u8] {
            &self.0[FILES.iter().position(|f| *f == file).unwrap()]
        }
    }

    /// A real chain of `n` blocks after genesis, with its draws and no slashes.
    fn mem(n: u64) -> Mem {
        let addr = |c: char| -> String { std::iter::repeat_n(c, 64).collect() };
        let mut chain = Chain::new(Block::genesis(T0.into())).unwrap();
        let mut draws = Vec::new();
        for round in 1..=n {
            let tip = chain.tip().clone();
            let entries = vec![(addr('a'), 10 + round), (addr('b'), 20)];
            let (block, draw) =
                draw_v1_block(&tip, T0.into(), 60 + round as u32, round, entries).unwrap();
            draws.extend(serde_json::to_vec(&draw).unwrap());
            draws.push(b'\n');
            chain.append(block).unwrap();
        }
        let mut c = Vec::new();
        for b in chain.blocks() {
            c.extend(serde_json::to_vec(b).unwrap());
            c.push(b'\n');
        }
        Mem([c, draws, Vec::new()])
    }

    /// Where line `n` (0-based) of `bytes` starts.
    fn line_at(bytes: &[u8], n: usize) -> u64 {
        if n == 0 {
            return 0;
        }
        bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(n - 1)
            .unwrap()
            .0 as u64
            + 1
    }

    fn edit_line(bytes: &mut Vec<u8>, n: usize, f: impl Fn(&str) -> String) {
        let text = String::from_utf8(bytes.clone()).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines[n] = f(&lines[n]);
        *bytes = (lines.join("\n") + "\n").into_bytes();
    }

    fn cuts(files: &Mem) -> Vec<Cut> {
        match plan(files).unwrap() {
            Plan::Cut { cuts, .. } => cuts,
            Plan::Nothing(a) => panic!("nothing to cut in {} blocks", a.block_count),
        }
    }

    fn refusal(files: &Mem) -> String {
        match plan(files) {
            Err(RepairError::Refused { why, .. }) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_clean_directory_needs_nothing() {
        let files = mem(4);
        match plan(&files).unwrap() {
            Plan::Nothing(a) => assert_eq!(a.block_count, 5),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn crash_leftovers_are_cut_where_the_server_would_cut_them() {
        let mut files = mem(3);
        let chain_len = files.0[0].len() as u64;
        files.0[0].truncate(chain_len as usize - 7);
        let draws_len = files.0[1].len() as u64;
        assert_eq!(
            cuts(&files),
            vec![
                Cut {
                    file: CHAIN_FILE,
                    offset: line_at(&files.0[0], 3),
                    len: chain_len - 7
                },
                Cut {
                    file: DRAWS_FILE,
                    offset: line_at(&files.0[1], 2),
                    len: draws_len
                },
            ]
        );
    }

    #[test]
    fn a_torn_draw_line_of_the_last_block_cuts_that_block() {
        let mut files = mem(4);
        let n = files.0[1].len();
        files.0[1].truncate(n - 10);
        assert_eq!(
            cuts(&files),
            vec![
                Cut {
                    file: CHAIN_FILE,
                    offset: line_at(&files.0[0], 4),
                    len: files.0[0].len() as u64
                },
                Cut {
                    file: DRAWS_FILE,
                    offset: line_at(&files.0[1], 3),
                    len: n as u64 - 10
                },
            ]
        );
    }

    #[test]
    fn a_tampered_last_block_is_a_tail_and_a_spare_draw_after_it_goes_too() {
        let mut files = mem(4);
        edit_line(&mut files.0[0], 4, |l| {
            l.replace("\"BPM\":64", "\"BPM\":65")
        });
        let spare = mem(5).0[1].clone();
        files.0[1] = spare;
        let got = cuts(&files);
        assert_eq!(got[0].offset, line_at(&files.0[0], 4));
        assert_eq!(got[1].offset, line_at(&files.0[1], 3));
        assert_eq!(got[1].len, files.0[1].len() as u64);
    }

    #[test]
    fn draw_lines_past_the_last_block_are_cut_and_the_chain_kept() {
        let mut files = mem(3);
        files.0[1] = mem(6).0[1].clone();
        assert_eq!(
            cuts(&files),
            vec![Cut {
                file: DRAWS_FILE,
                offset: line_at(&files.0[1], 3),
                len: files.0[1].len() as u64
            }]
        );
    }

    #[test]
    fn a_tampered_middle_is_refused_with_the_blocks_after_it() {
        let mut files = mem(4);
        edit_line(&mut files.0[0], 2, |l| {
            l.replace("\"BPM\":62", "\"BPM\":63")
        });
        let why = refusal(&files);
        assert!(
            why.contains("chain.jsonl, block 2 is followed by 2 more blocks"),
            "{why}"
        );
        // A draw line torn in the middle, too.
        let mut files = mem(4);
        edit_line(&mut files.0[1], 1, |_| "{\"Index\":2".into());
        let why = refusal(&files);
        assert!(
            why.contains("draws.jsonl, block 2 is followed by 2 more blocks"),
            "{why}"
        );
    }

    #[test]
    fn a_bad_genesis_block_is_refused() {
        let mut files = mem(0);
        edit_line(&mut files.0[0], 0, |l| l.replace("\"BPM\":0", "\"BPM\":1"));
        assert!(refusal(&files).contains("genesis"));
    }

    #[test]
    fn only_a_bad_last_slash_record_is_cut() {
        let good = format!(
            "{{\"Round\":1,\"Address\":\"{}\",\"Burned\":5}}\n",
            "a".repeat(64)
        );
        let bad = good.replace("\"Burned\":5", "\"Burned\":0");
        let mut files = mem(2);
        files.0[2] = format!("{good}{bad}").into_bytes();
        assert_eq!(
            cuts(&files),
            vec![Cut {
                file: SLASHES_FILE,
                offset: good.len() as u64,
                len: (good.len() + bad.len()) as u64
            }]
        );
        files.0[2] = format!("{bad}{good}").into_bytes();
        assert!(refusal(&files).contains("slash records after it"));
    }

    #[test]
    fn cut_lines_are_shown_escaped_and_shortened() {
        assert_eq!(show_line(b"ab\x01\n"), "ab\\u{1}");
        assert_eq!(show_line(b"ab"), "ab [no newline]");
        let long = show_line(&[b'x'; 500]);
        assert!(long.starts_with(&"x".repeat(200)), "{long}");
        assert!(
            long.ends_with("... (500 bytes in all) [no newline]"),
            "{long}"
        );
    }
}
