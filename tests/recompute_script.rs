//! `scripts/recompute_draws.py`, the independent Python audit, against data directories the
//! real server wrote: it passes an intact one, names the first violation of a tampered one
//! (each tampering re-sealed so that only the rule under test can catch it), and treats what a
//! crash leaves exactly as the server does. Skipped, with a line saying so, without python3.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use pos_lottery::chain::{compute_entries_hash, Block};
use pos_lottery::ledger::{DrawRecord, CHAIN_FILE, DRAWS_FILE};
use pos_lottery::lottery::{compute_seed, pick_winner};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/recompute_draws.py");
const SLASHES_FILE: &str = "slashes.jsonl";

/// True when `python3` runs; otherwise says the test is skipped.
fn have_python() -> bool {
    match Command::new("python3").arg("--version").output() {
        Ok(out) if out.status.success() => true,
        _ => {
            println!("SKIPPED: python3 not found");
            false
        }
    }
}

/// What the script printed, and how it exited.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn script(args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new("python3")
        .arg(SCRIPT)
        .args(args)
        .output()
        .unwrap();
    Run {
        code: status.code(),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

fn audit(dir: &Path) -> Run {
    script(&[dir.to_str().unwrap()])
}

impl Run {
    /// Asserts exit 0, no error output, and returns the `ok:` line; `warnings` lists what
    /// each expected warning line starts with after `warning: <dir>/`.
    fn assert_ok(&self, dir: &Path, warnings: &[String]) -> String {
        assert_eq!(self.code, Some(0), "{}{}", self.stdout, self.stderr);
        assert_eq!(self.stderr, "");
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert_eq!(lines.len(), warnings.len() + 1, "{}", self.stdout);
        for (line, expected) in lines.iter().zip(warnings) {
            let prefix = format!("warning: {}/{expected}", dir.display());
            assert!(
                line.starts_with(&prefix),
                "{line:?} should start with {prefix:?}"
            );
        }
        let last = lines.last().unwrap().to_string();
        assert!(last.starts_with("ok: "), "{last}");
        last
    }

    /// Asserts exit 1 and exactly one `FAILED: <dir>/<file>, block <k>: ...` line containing
    /// `reason`.
    fn assert_failed(&self, dir: &Path, file: &str, block: u64, reason: &str) {
        assert_eq!(self.code, Some(1), "{}{}", self.stdout, self.stderr);
        assert_eq!(self.stderr, "");
        let prefix = format!("FAILED: {}/{file}, block {block}: ", dir.display());
        assert_eq!(self.stdout.lines().count(), 1, "{}", self.stdout);
        assert!(
            self.stdout.starts_with(&prefix),
            "{:?} should start with {prefix:?}",
            self.stdout
        );
        assert!(
            self.stdout.contains(reason),
            "{:?} should say {reason:?}",
            self.stdout
        );
    }
}

/// The two files of a data directory, parsed with the server's own types.
#[derive(Clone)]
struct Data {
    blocks: Vec<Block>,
    draws: Vec<DrawRecord>,
}

impl Data {
    fn read(dir: &Path) -> Data {
        let lines = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        Data {
            blocks: lines(CHAIN_FILE)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
            draws: lines(DRAWS_FILE)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
        }
    }

    /// Writes both files into a new directory, exactly as the server formats them.
    fn write(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mut chain = String::new();
        for b in &self.blocks {
            chain += &serde_json::to_string(b).unwrap();
            chain.push('\n');
        }
        let mut draws = String::new();
        for d in &self.draws {
            draws += &serde_json::to_string(d).unwrap();
            draws.push('\n');
        }
        std::fs::write(dir.path().join(CHAIN_FILE), chain).unwrap();
        std::fs::write(dir.path().join(DRAWS_FILE), draws).unwrap();
        dir
    }

    /// Re-derives everything from block `from` on as an honest server would have: each
    /// block's PrevHash, its draw (which depends on the previous Hash), EntriesHash,
    /// Validator and Hash. What was edited by hand before this call is then the only lie.
    fn reseal(&mut self, from: usize) {
        assert!(from >= 1, "the genesis block has no draw");
        for i in from..self.blocks.len() {
            let prev = self.blocks[i - 1].clone();
            let draw = &mut self.draws[i - 1];
            let seed = compute_seed(&prev.hash_bytes().unwrap(), prev.index + 1);
            let d = pick_winner(&seed, &draw.entries).unwrap();
            draw.total = d.total;
            draw.counter = d.counter;
            draw.target = d.target;
            draw.winner = draw.entries[d.winner].0.clone();
            let block = &mut self.blocks[i];
            block.prev_hash = prev.hash.clone();
            block.entries_hash = compute_entries_hash(&draw.entries);
            block.validator = draw.winner.clone();
            block.hash = block.compute_hash();
        }
    }
}

/// A data directory the real server wrote: two validators (stakes 50 and 100) both propose
/// in each of `blocks` rounds, so every draw has two entries.
async fn server_data(blocks: u32) -> tempfile::TempDir {
    // v1: the tampering below re-derives v1 hashes; v2 chains have their own test.
    let server = common::start_v1(|_| {}).await;
    let (mut a, _) = server.validator(50).await;
    let (mut b, _) = server.validator(100).await;
    for round in 0..blocks {
        a.send(&(70 + round).to_string()).await;
        a.line_containing("entered").await;
        b.send(&(90 + round).to_string()).await;
        b.line_containing("entered").await;
        server.tick().await;
        a.line_containing("winning validator").await;
        b.line_containing("winning validator").await;
    }
    // Every block is fsynced before it is announced, so the files are complete now; copy
    // them out, since the server's directory goes away with it.
    let copy = tempfile::tempdir().unwrap();
    for name in [CHAIN_FILE, DRAWS_FILE] {
        std::fs::copy(server.dir.path().join(name), copy.path().join(name)).unwrap();
    }
    server.shutdown().await.unwrap();
    copy
}

/// Byte offset where the last line of `file` starts.
fn last_line_offset(file: &Path) -> u64 {
    let bytes = std::fs::read(file).unwrap();
    let body = &bytes[..bytes.len() - 1];
    body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1) as u64
}

#[tokio::test]
async fn intact_directory_passes_and_each_tampering_is_named() {
    if !have_python() {
        return;
    }
    let dir = server_data(4).await;
    let ok = audit(dir.path()).assert_ok(dir.path(), &[]);
    assert_eq!(
        ok,
        "ok: 5 blocks (height 4), 4 draws recomputed, every hash and link checked, 0 burned"
    );
    let data = Data::read(dir.path());
    assert_eq!(data.blocks.len(), 5);
    assert!(data.draws.iter().all(|d| d.entries.len() == 2));
    // Writing the parsed files back reproduces the server's bytes, so edits below change
    // only what they mean to.
    let same = data.write();
    for name in [CHAIN_FILE, DRAWS_FILE] {
        assert_eq!(
            std::fs::read(same.path().join(name)).unwrap(),
            std::fs::read(dir.path().join(name)).unwrap()
        );
    }

    // (a) BPM 1158 in block 2, every later hash, link and draw re-derived: only the range
    // check can see it. The same edit with an in-range BPM passes, so the resealing is sound.
    for (bpm, bad) in [(1158, true), (299, false)] {
        let mut d = data.clone();
        d.blocks[2].bpm = bpm;
        d.blocks[2].hash = d.blocks[2].compute_hash();
        d.reseal(3);
        let t = d.write();
        let run = audit(t.path());
        if bad {
            run.assert_failed(t.path(), CHAIN_FILE, 2, "BPM 1158 is outside 1-300");
        } else {
            run.assert_ok(t.path(), &[]);
        }
    }

    // (b) A broken link: block 3 names another PrevHash, its own Hash recomputed.
    let mut d = data.clone();
    d.blocks[3].prev_hash = "ab".repeat(32);
    d.blocks[3].hash = d.blocks[3].compute_hash();
    let t = d.write();
    audit(t.path()).assert_failed(
        t.path(),
        CHAIN_FILE,
        3,
        &format!(
            "PrevHash is \"{}\", but block 2's Hash is {}",
            "ab".repeat(32),
            data.blocks[2].hash
        ),
    );

    // (c) A bad Hash: block 2's Hash replaced, nothing else touched.
    let mut d = data.clone();
    d.blocks[2].hash = "cd".repeat(32);
    let t = d.write();
    audit(t.path()).assert_failed(
        t.path(),
        CHAIN_FILE,
        2,
        &format!(
            "Hash is {}, but its fields hash to {}",
            "cd".repeat(32),
            data.blocks[2].hash
        ),
    );

    // (d) A stake of 0 in block 1's draw, with EntriesHash, the draw and every later block
    // re-derived. A stake of 7 the same way passes.
    for (stake, bad) in [(0, true), (7, false)] {
        let mut d = data.clone();
        d.draws[0].entries[0].1 = stake;
        d.reseal(1);
        let t = d.write();
        let run = audit(t.path());
        if bad {
            run.assert_failed(
                t.path(),
                DRAWS_FILE,
                1,
                "has stake 0; every stake is at least 1",
            );
        } else {
            run.assert_ok(t.path(), &[]);
        }
    }

    // (e) A torn last draw line whose block exists: damage, since the server fsyncs a draw
    // line before it writes the block.
    let t = data.write();
    let draws = t.path().join(DRAWS_FILE);
    let len = std::fs::metadata(&draws).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&draws)
        .unwrap()
        .set_len(len - 20)
        .unwrap();
    audit(t.path()).assert_failed(t.path(), DRAWS_FILE, 4, "no draw line for this block");

    // A field the format does not have, in the middle of the chain.
    let t = data.write();
    let chain = t.path().join(CHAIN_FILE);
    let text = std::fs::read_to_string(&chain).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[1] = lines[1].replacen('{', "{\"Stake\":1,", 1);
    std::fs::write(&chain, lines.join("\n") + "\n").unwrap();
    audit(t.path()).assert_failed(t.path(), CHAIN_FILE, 1, "unknown field \"Stake\"");

    // A draw whose outcome was edited.
    let mut d = data.clone();
    d.draws[2].target += 1;
    let t = d.write();
    audit(t.path()).assert_failed(t.path(), DRAWS_FILE, 3, "the draw recomputes to Total 150");

    // The winner swapped: block 4's Validator is the loser, its hash recomputed.
    let mut d = data.clone();
    let loser = d.draws[3]
        .entries
        .iter()
        .find(|e| e.0 != d.draws[3].winner)
        .unwrap()
        .0
        .clone();
    d.blocks[4].validator = loser;
    d.blocks[4].hash = d.blocks[4].compute_hash();
    let t = d.write();
    audit(t.path()).assert_failed(t.path(), DRAWS_FILE, 4, "but the draw's winner is");
}

#[tokio::test]
async fn crash_leftovers_are_warnings_at_their_byte_offsets() {
    if !have_python() {
        return;
    }
    let data = Data::read(server_data(3).await.path());

    // A torn last block (cut mid-write): its draw line, complete, is then the spare one.
    let t = data.write();
    let chain = t.path().join(CHAIN_FILE);
    let (chain_at, draw_at) = (
        last_line_offset(&chain),
        last_line_offset(&t.path().join(DRAWS_FILE)),
    );
    let len = std::fs::metadata(&chain).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&chain)
        .unwrap()
        .set_len(len - 30)
        .unwrap();
    let ok = audit(t.path()).assert_ok(
        t.path(),
        &[
            format!("{CHAIN_FILE}: last line has no newline (torn write) at byte {chain_at};"),
            format!(
                "{DRAWS_FILE}: last draw line has no block (crash before the block was written) at byte {draw_at};"
            ),
        ],
    );
    assert!(
        ok.starts_with("ok: 3 blocks (height 2), 2 draws recomputed"),
        "{ok}"
    );

    // A crash after the draw line was fsynced but before its block was written.
    let mut d = data.clone();
    d.blocks.pop();
    let t = d.write();
    let ok = audit(t.path()).assert_ok(
        t.path(),
        &[format!(
            "{DRAWS_FILE}: last draw line has no block (crash before the block was written) at byte {draw_at};"
        )],
    );
    assert!(
        ok.starts_with("ok: 3 blocks (height 2), 2 draws recomputed"),
        "{ok}"
    );

    // A torn draw line for a block that was never written: also a leftover.
    let draws = t.path().join(DRAWS_FILE);
    let len = std::fs::metadata(&draws).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&draws)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    audit(t.path()).assert_ok(
        t.path(),
        &[format!(
            "{DRAWS_FILE}: last line has no newline (torn write) at byte {draw_at};"
        )],
    );

    // Two draw lines past the last block are not what a crash leaves.
    let mut d = data.clone();
    d.blocks.truncate(2);
    let t = d.write();
    audit(t.path()).assert_failed(
        t.path(),
        DRAWS_FILE,
        2,
        "draw lines continue past the last block",
    );

    // Garbage in a middle line is damage, not a torn tail.
    let t = data.write();
    let chain = t.path().join(CHAIN_FILE);
    let text = std::fs::read_to_string(&chain).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[2] = "{\"Index\":2,";
    std::fs::write(&chain, lines.join("\n") + "\n").unwrap();
    audit(t.path()).assert_failed(t.path(), CHAIN_FILE, 2, "line is not a valid record");
}

#[tokio::test]
async fn slashes_are_totalled_and_checked_when_present() {
    if !have_python() {
        return;
    }
    let data = Data::read(server_data(1).await.path());
    let t = data.write();
    let slashes = t.path().join(SLASHES_FILE);
    let line = |round: u64, burned: u64| {
        format!(
            "{{\"Round\":{round},\"Address\":\"{}\",\"Burned\":{burned}}}\n",
            "ef".repeat(32)
        )
    };
    std::fs::write(&slashes, line(1, 50) + &line(3, 18446744073709551615)).unwrap();
    let ok = audit(t.path()).assert_ok(t.path(), &[]);
    assert_eq!(
        ok,
        "ok: 2 blocks (height 1), 1 draws recomputed, every hash and link checked, \
         18446744073709551665 burned in 2 slashings"
    );

    // A torn last slashing is a crash leftover; the same line in the middle is damage.
    let torn = "{\"Round\":4,\"Addr";
    std::fs::write(&slashes, line(1, 50) + torn).unwrap();
    let ok = audit(t.path()).assert_ok(
        t.path(),
        &[format!(
            "{SLASHES_FILE}: last line has no newline (torn write) at byte {};",
            line(1, 50).len()
        )],
    );
    assert!(ok.ends_with(", 50 burned in 1 slashings"), "{ok}");
    std::fs::write(&slashes, line(1, 50) + torn + "\n" + &line(5, 1)).unwrap();
    let run = audit(t.path());
    assert_eq!(run.code, Some(1));
    assert!(
        run.stdout.starts_with(&format!(
            "FAILED: {}/{SLASHES_FILE}, line 2: ",
            t.path().display()
        )),
        "{}",
        run.stdout
    );

    // Exactly the published fields.
    std::fs::write(
        &slashes,
        line(1, 50).replace("\"Burned\"", "\"Stake\":1,\"Burned\"") + &line(2, 1),
    )
    .unwrap();
    let run = audit(t.path());
    assert!(
        run.stdout
            .contains("line 1: line is not a valid record: unknown field \"Stake\""),
        "{}",
        run.stdout
    );
}

#[test]
fn a_missing_directory_or_bad_arguments_get_one_clean_line() {
    if !have_python() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let run = audit(&missing);
    assert_eq!(run.code, Some(1));
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!("error: {}: no such data directory\n", missing.display())
    );

    // A directory without chain.jsonl is not a data directory.
    let run = audit(dir.path());
    assert_eq!(run.code, Some(1));
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);

    let run = script(&["a", "b"]);
    assert_eq!(run.code, Some(2));
    assert!(!run.stderr.contains("Traceback"), "{}", run.stderr);
}

/// A v2 chain the real server wrote, with a rotation (a reveal chain of 2), passes the
/// independent audit, signatures included where the `cryptography` package is installed
/// (CI installs it); and the published v2 vectors re-derive and audit as published.
#[tokio::test]
async fn a_v2_chain_with_rotations_passes_the_independent_audit() {
    if !have_python() {
        return;
    }
    let server = common::start(|c| c.seed_chain_len = 2).await;
    let (mut a, _) = server.validator(50).await;
    let (mut b, _) = server.validator(100).await;
    for round in 0..5 {
        a.send(&(70 + round).to_string()).await;
        a.line_containing("entered").await;
        b.send(&(90 + round).to_string()).await;
        b.line_containing("entered").await;
        server.tick().await;
        a.line_containing("winning validator").await;
    }
    let ok = audit(server.dir.path()).assert_ok(server.dir.path(), &[]);
    assert!(
        ok.starts_with("ok: 6 blocks (height 5), 5 pos-lottery-v2 draws recomputed")
            && ok.contains("reveal chain checked (2 rotations)"),
        "{ok}"
    );
    let crypto = Command::new("python3")
        .args(["-c", "import cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    if crypto {
        assert!(ok.contains("6 signatures checked"), "{ok}");
    } else {
        println!("signatures not checked: the cryptography package is not installed");
    }
    server.shutdown().await.unwrap();
    let vectors = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/make_v2_vectors.py"
        ))
        .arg("--check")
        .output()
        .unwrap();
    assert!(
        vectors.status.success(),
        "{}{}",
        String::from_utf8_lossy(&vectors.stdout),
        String::from_utf8_lossy(&vectors.stderr)
    );
}
