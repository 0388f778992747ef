//! `pos-lottery repair` as a child process: a damaged tail is shown, then cut only with
//! `--yes`; a tampered middle, a clean directory and a locked one are left alone.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use pos_lottery::ledger::draw_v1_block;
use pos_lottery::store::Store;

const BIN: &str = env!("CARGO_BIN_EXE_pos-lottery");
const T0: &str = "2026-01-01T00:00:00.000Z";

/// A real data directory: genesis and `n` blocks, each block `k` with BPM 60 + k.
fn data_dir(n: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let opened = Store::open(dir.path(), usize::MAX, || T0.into()).unwrap();
    let mut store = opened.store;
    let mut tip = opened.audit.tip.unwrap();
    for round in 1..=n {
        let entries: Vec<(String, u64)> = (1..=3u64)
            .map(|i| (format!("{:064x}", i * 7), i * 10 + round))
            .collect();
        let (block, draw) =
            draw_v1_block(&tip, T0.into(), 60 + round as u32, round, entries).unwrap();
        store.append(&draw, &block).unwrap();
        tip = block;
    }
    dir
}

/// Runs the binary with `args` against `dir` (given as `DATA_DIR`), to its end.
fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .env_clear()
        .env("DATA_DIR", dir)
        .env("ADDR", "127.0.0.1:0")
        .env("HTTP_ADDR", "off")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every file's bytes, lock file aside (it holds whoever locked last).
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != "lock")
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_torn_draw_line_under_an_existing_block_is_shown_then_cut_with_yes() {
    let dir = data_dir(4);
    let draws = dir.path().join("draws.jsonl");
    let chain = dir.path().join("chain.jsonl");
    let whole_chain = std::fs::read(&chain).unwrap();
    let whole_draws = std::fs::read(&draws).unwrap();
    std::fs::write(&draws, &whole_draws[..whole_draws.len() - 10]).unwrap();

    let out = run(dir.path(), &["verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("FAILED: ") && text(&out).contains("draws.jsonl, block 4"),
        "{}",
        text(&out)
    );
    // The server refuses it too, and changes nothing.
    let before = snapshot(dir.path());
    let out = run(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("is torn"), "{}", text(&out));
    assert_eq!(snapshot(dir.path()), before);

    let last_block_at = whole_chain[..whole_chain.len() - 1]
        .iter()
        .rposition(|b| *b == b'\n')
        .unwrap()
        + 1;
    let last_draw_at = whole_draws[..whole_draws.len() - 1]
        .iter()
        .rposition(|b| *b == b'\n')
        .unwrap()
        + 1;
    let out = run(dir.path(), &["repair"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains(&format!(
            "would cut {}/chain.jsonl at byte {last_block_at}: {} bytes, 1 line",
            dir.path().display(),
            whole_chain.len() - last_block_at
        )),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "would cut {}/draws.jsonl at byte {last_draw_at}: {} bytes, 1 line",
            dir.path().display(),
            whole_draws.len() - 10 - last_draw_at
        )),
        "{shown}"
    );
    assert!(
        shown.contains("  {\"Index\":4,"),
        "the cut lines are shown: {shown}"
    );
    assert!(shown.contains("[no newline]"), "{shown}");
    assert!(
        shown.contains("dry run: run again with --yes to cut these bytes"),
        "{shown}"
    );
    assert_eq!(snapshot(dir.path()), before, "a dry run changes nothing");

    let out = run(dir.path(), &["repair", "--yes"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(shown.contains("repaired: cut "), "{shown}");
    assert!(shown.contains("ok: 4 blocks (height 3)"), "{shown}");
    assert_eq!(
        std::fs::read(&chain).unwrap(),
        &whole_chain[..last_block_at],
        "only the last block is cut"
    );
    assert_eq!(std::fs::read(&draws).unwrap(), &whole_draws[..last_draw_at]);

    let out = run(dir.path(), &["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).starts_with("ok: 4 blocks (height 3), "),
        "{}",
        text(&out)
    );
    let out = run(dir.path(), &["repair", dir.path().to_str().unwrap()]);
    assert!(
        text(&out).starts_with("nothing to repair: "),
        "{}",
        text(&out)
    );
}

#[test]
fn a_tampered_middle_block_is_refused_and_left_byte_for_byte() {
    let dir = data_dir(4);
    let chain = dir.path().join("chain.jsonl");
    let original = std::fs::read_to_string(&chain).unwrap();
    let mut lines: Vec<String> = original.lines().map(str::to_string).collect();
    assert!(lines[2].contains("\"BPM\":62"), "{}", lines[2]);
    lines[2] = lines[2].replace("\"BPM\":62", "\"BPM\":99");
    serde_json::from_str::<serde_json::Value>(&lines[2]).unwrap();
    std::fs::write(&chain, lines.join("\n") + "\n").unwrap();
    let before = snapshot(dir.path());

    for args in [&["repair"][..], &["repair", "--yes"][..]] {
        let out = run(dir.path(), args);
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {shown}");
        assert!(
            shown.contains(
                "refusing: the damage at chain.jsonl, block 2 is followed by 2 more blocks"
            ),
            "{shown}"
        );
        assert!(shown.contains("FAILED: "), "the damage is named: {shown}");
        assert!(!shown.contains("cut "), "nothing is offered: {shown}");
        assert_eq!(snapshot(dir.path()), before, "{args:?}");
    }
}

#[test]
fn a_clean_directory_has_nothing_to_repair() {
    let dir = data_dir(3);
    let before = snapshot(dir.path());
    let out = run(dir.path(), &["repair", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().collect::<Vec<_>>(),
        ["nothing to repair: 4 blocks (height 3), 3 validators seen, 3 draws recomputed, every hash and link checked; 0 burned in 0 slashes"]
    );
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn a_directory_in_use_is_refused() {
    let dir = data_dir(2);
    let draws = dir.path().join("draws.jsonl");
    let whole = std::fs::read(&draws).unwrap();
    std::fs::write(&draws, &whole[..whole.len() - 10]).unwrap();
    let before = snapshot(dir.path());
    let lock = pos_lottery::store::lock_dir(dir.path()).unwrap();
    let out = run(dir.path(), &["repair", "--yes"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains(&format!(
            "is in use by another pos-lottery server (pid {})",
            std::process::id()
        )),
        "{shown}"
    );
    assert_eq!(shown.trim_end().lines().count(), 1, "{shown}");
    assert_eq!(snapshot(dir.path()), before);
    drop(lock);
    // Once the lock is gone, the same directory is repaired.
    let out = run(dir.path(), &["repair", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn bad_arguments_and_a_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["repair", "--force"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let missing = dir.path().join("nowhere");
    let out = run(dir.path(), &["repair", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!missing.exists(), "a repair creates no directory");
}
