//! pos-lottery-v2 end to end: what a new chain looks like on disk, rotation of the reveal
//! chain across restarts, what `verify` and start-up refuse, the secrets a v2 chain needs,
//! v1 directories staying v1, and `verify --against` catching an equivocating operator.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use ed25519_dalek::SigningKey;
use pos_lottery::chain::{compute_entries_hash, decode_hash, Block};
use pos_lottery::ledger::{DrawRecord, CHAIN_FILE, DRAWS_FILE};
use pos_lottery::lottery::{compute_seed_v2, pick_winner};
use pos_lottery::seed::SecretChain;
use pos_lottery::store::{LOCK_FILE, SEED_SECRET_FILE, SERVER_KEY_FILE, START_SIGNATURES};
use sha2::{Digest, Sha256};

const T0: &str = "2026-01-01T00:00:00.000Z";

fn sha(x: &[u8]) -> [u8; 32] {
    Sha256::digest(x).into()
}

fn command(dir: &Path) -> Command {
    common::binary(dir)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `pos-lottery verify DIR ARGS...`.
fn verify(dir: &Path, args: &[&str]) -> Output {
    let mut c = command(dir);
    c.arg("verify").arg(dir).args(args);
    c.output().unwrap()
}

/// Starts the server binary on `dir` and expects it to refuse: exit 1 within a bounded wait.
/// Returns its stderr lines.
fn start_refused(dir: &Path) -> Vec<String> {
    let child = command(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(common::WAIT) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // It started instead of refusing: stop it, then fail.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!(
                "the server started on {} instead of refusing",
                dir.display()
            );
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    stderr.lines().map(str::to_string).collect()
}

/// Every file of `dir` but the lock file, by name.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != LOCK_FILE)
        .map(|e| {
            (
                e.file_name().to_string_lossy().to_string(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// A copy of `dir`'s files in a new directory.
fn copy_dir(dir: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for (name, bytes) in snapshot(dir) {
        std::fs::write(copy.path().join(name), bytes).unwrap();
    }
    copy
}

fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn write_lines<T: serde::Serialize>(path: &Path, items: &[T]) {
    let mut out = String::new();
    for item in items {
        out.push_str(&serde_json::to_string(item).unwrap());
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

fn blocks(dir: &Path) -> Vec<Block> {
    read_lines(&dir.join(CHAIN_FILE))
}

fn draws(dir: &Path) -> Vec<DrawRecord> {
    read_lines(&dir.join(DRAWS_FILE))
}

fn server_key(dir: &Path) -> SigningKey {
    let text = std::fs::read_to_string(dir.join(SERVER_KEY_FILE)).unwrap();
    SigningKey::from_bytes(&decode_hash(text.trim()).unwrap())
}

/// Changes block `k` with `edit` and rewrites it and every later block consistently, as a
/// forger would: each draw recomputed on its new predecessor (its winner becomes the
/// block's Validator), each PrevHash and Hash recomputed. Signatures are redone only with
/// `key`; without it they stay as they were, which is all a forger without `server.key` can do.
fn rewrite_from(dir: &Path, k: usize, edit: impl FnOnce(&mut Block), key: Option<&SigningKey>) {
    let mut chain = blocks(dir);
    let mut records = draws(dir);
    edit(&mut chain[k]);
    for j in k..chain.len() {
        if j > 0 {
            let prev = chain[j - 1].clone();
            let block = &mut chain[j];
            block.prev_hash = prev.hash.clone();
            let draw = &mut records[j - 1];
            let seed = compute_seed_v2(
                &prev.hash_bytes().unwrap(),
                block.index,
                &decode_hash(&block.entries_hash).unwrap(),
                &block.reveal_bytes().unwrap(),
            );
            let d = pick_winner(&seed, &draw.entries).unwrap();
            draw.winner = draw.entries[d.winner].0.clone();
            (draw.total, draw.counter, draw.target) = (d.total, d.counter, d.target);
            block.validator = draw.winner.clone();
        }
        chain[j].hash = chain[j].compute_hash();
        if let Some(key) = key {
            chain[j] = chain[j].clone().sign_with(key);
        }
    }
    write_lines(&dir.join(CHAIN_FILE), &chain);
    write_lines(&dir.join(DRAWS_FILE), &records);
}

/// Runs the real server on a new directory with `seed_chain_len` reveals a chain, makes
/// `n` blocks with one validator, and returns the directory once the server has stopped.
async fn server_chain(n: u32, seed_chain_len: u64) -> tempfile::TempDir {
    let mut server = common::start(|c| c.seed_chain_len = seed_chain_len).await;
    let (mut v, _) = server.validator(10).await;
    for bpm in 0..n {
        server.make_block(&mut v, 60 + bpm).await;
    }
    let dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
    server.shutdown().await.unwrap();
    dir
}

/// Writes a v2 data directory of `n` blocks after genesis without a server (as
/// `examples/make_chain.rs` does): key, reveal chain, real draws, signed blocks.
fn write_v2_dir(dir: &Path, n: u64) {
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let seed = SecretChain::new(n + 16, 64, [3u8; 32]).unwrap();
    std::fs::write(
        dir.join(SERVER_KEY_FILE),
        format!("{}\n", hex::encode(key.to_bytes())),
    )
    .unwrap();
    std::fs::write(
        dir.join(SEED_SECRET_FILE),
        format!("{}\n", serde_json::to_string(&seed.to_record()).unwrap()),
    )
    .unwrap();
    let addrs: Vec<String> = ["a", "b", "c"].iter().map(|c| c.repeat(64)).collect();
    let mut chain =
        vec![
            Block::genesis_v2(T0.into(), seed.commit(), key.verifying_key().to_bytes())
                .sign_with(&key),
        ];
    let mut records = Vec::new();
    for i in 1..=n {
        let tip = chain.last().unwrap();
        let entries: Vec<(String, u64)> = addrs
            .iter()
            .enumerate()
            .map(|(j, a)| (a.clone(), 1 + (i + j as u64) % 5))
            .collect();
        let entries_hash = compute_entries_hash(&entries);
        let reveal = seed.reveal(i).unwrap();
        let s = compute_seed_v2(
            &tip.hash_bytes().unwrap(),
            i,
            &decode_hash(&entries_hash).unwrap(),
            &reveal,
        );
        let d = pick_winner(&s, &entries).unwrap();
        let winner = entries[d.winner].0.clone();
        let block = Block::next(tip, T0.into(), 70, winner.clone(), i, entries_hash)
            .with_reveal(reveal, None)
            .sign_with(&key);
        records.push(DrawRecord {
            index: i,
            entries,
            total: d.total,
            counter: d.counter,
            target: d.target,
            winner,
        });
        chain.push(block);
    }
    write_lines(&dir.join(CHAIN_FILE), &chain);
    write_lines(&dir.join(DRAWS_FILE), &records);
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn a_new_chain_is_v2_signed_with_secrets_of_mode_0600_and_verifies() {
    let dir = server_chain(3, 1024).await;
    let chain = blocks(dir.path());
    assert_eq!(chain.len(), 4);
    let genesis = &chain[0];
    let (commit, key_hex) = (
        genesis.seed_commit.clone().expect("genesis has SeedCommit"),
        genesis.server_key.clone().expect("genesis has ServerKey"),
    );
    assert!(genesis.signature.is_some() && genesis.reveal.is_none());
    #[cfg(unix)]
    for file in [SERVER_KEY_FILE, SEED_SECRET_FILE] {
        assert_eq!(mode(&dir.path().join(file)), 0o600, "{file}");
    }
    let key = server_key(dir.path());
    assert_eq!(hex::encode(key.verifying_key().to_bytes()), key_hex);
    let mut expected = decode_hash(&commit).unwrap();
    for b in &chain {
        use ed25519_dalek::Verifier;
        let sig: [u8; 64] = hex::decode(b.signature.as_ref().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        key.verifying_key()
            .verify(
                format!("pos-lottery block v2 {}", b.hash).as_bytes(),
                &ed25519_dalek::Signature::from_bytes(&sig),
            )
            .unwrap();
        if b.index > 0 {
            let reveal = b.reveal_bytes().expect("every later block has a Reveal");
            assert_eq!(sha(&reveal), expected, "block {}", b.index);
            assert!(b.next_seed_commit.is_none());
            expected = reveal;
        }
    }
    let out = verify(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("3 pos-lottery-v2 draws recomputed"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains(&format!(
            "every reveal checked, 4 signatures by ServerKey {key_hex} checked"
        )),
        "{}",
        text(&out)
    );
}

#[tokio::test]
async fn rotation_commits_the_next_chain_and_restarts_find_their_place() {
    // 3 reveals a chain: blocks 3, 6 and 9 carry the last reveal of a chain and rotate.
    // Restarts: after block 1 (mid-chain), after block 3 (right after a rotation), after
    // block 5 (mid-chain again).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let mut dir = Some(dir);
    let mut made = 0u32;
    for stop_at in [1u32, 3, 5, 10] {
        let mut server = common::start_in(dir.take().unwrap(), |c| c.seed_chain_len = 3).await;
        let (mut v, _) = server.validator(10).await;
        while made < stop_at {
            made += 1;
            let line = server.make_block(&mut v, 60 + made).await;
            assert!(line.contains(&format!("(block {made},")), "{line}");
        }
        dir = Some(std::mem::replace(
            &mut server.dir,
            tempfile::tempdir().unwrap(),
        ));
        server.shutdown().await.unwrap();
    }
    let chain = blocks(&path);
    assert_eq!(chain.len(), 11);
    for b in &chain[1..] {
        let rotates = b.next_seed_commit.is_some();
        assert_eq!(rotates, b.index % 3 == 0, "block {}", b.index);
        let next = chain.get(b.index as usize + 1);
        if let (Some(commit), Some(next)) = (&b.next_seed_commit, next) {
            assert_eq!(
                sha(&next.reveal_bytes().unwrap()),
                decode_hash(commit).unwrap(),
                "block {}'s reveal hashes to block {}'s NextSeedCommit",
                next.index,
                b.index
            );
        } else if let Some(next) = next {
            assert_eq!(
                sha(&next.reveal_bytes().unwrap()),
                b.reveal_bytes().unwrap()
            );
        }
    }
    // One reveal chain from genesis, one per rotation; each one's commitment is in the chain.
    let secrets: Vec<serde_json::Value> = read_lines(&path.join(SEED_SECRET_FILE));
    assert_eq!(secrets.len(), 4);
    let commits: Vec<&str> = std::iter::once(chain[0].seed_commit.as_deref().unwrap())
        .chain(chain.iter().filter_map(|b| b.next_seed_commit.as_deref()))
        .collect();
    for (record, commit) in secrets.iter().zip(&commits) {
        assert_eq!(record["Checkpoints"][0].as_str().unwrap(), *commit);
    }
    let out = verify(&path, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[tokio::test]
async fn tampering_is_refused_by_verify_and_at_start_naming_the_block() {
    let made = server_chain(5, 1024).await;
    let another = hex::encode([0x42u8; 32]);
    type Tamper = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Tamper, &str, &str)> = vec![
        (
            "a Reveal replaced, block and later hashes recomputed",
            Box::new(move |d: &Path| {
                let another = another.clone();
                rewrite_from(d, 2, move |b| b.reveal = Some(another), None)
            }),
            "block 2",
            "Reveal",
        ),
        (
            "the SeedCommit replaced, every hash recomputed",
            Box::new(|d: &Path| {
                rewrite_from(
                    d,
                    0,
                    |b| b.seed_commit = Some(hex::encode([9u8; 32])),
                    None,
                )
            }),
            "block 1",
            "SeedCommit",
        ),
        (
            "a Signature altered",
            Box::new(|d: &Path| {
                let mut chain = blocks(d);
                let sig = chain[3].signature.as_mut().unwrap();
                let flipped = if sig.starts_with('0') { "1" } else { "0" };
                sig.replace_range(0..1, flipped);
                write_lines(&d.join(CHAIN_FILE), &chain);
            }),
            "block 3",
            "Signature does not verify",
        ),
        (
            "a consistent rewrite without the key (BPM of block 2, every later draw and hash redone)",
            Box::new(|d: &Path| rewrite_from(d, 2, |b| b.bpm = 99, None)),
            "block 2",
            "Signature does not verify",
        ),
    ];
    for (what, tamper, block, why) in cases {
        let dir = copy_dir(made.path());
        tamper(dir.path());
        let before = snapshot(dir.path());
        let out = verify(dir.path(), &[]);
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(1), "{what}: {shown}");
        assert!(
            shown.starts_with("FAILED: ") && shown.contains(&format!("chain.jsonl, {block}: ")),
            "{what}: {shown}"
        );
        assert!(shown.contains(why), "{what}: {shown}");
        let stderr = start_refused(dir.path());
        assert_eq!(stderr.len(), 1, "{what}: one line: {stderr:?}");
        assert!(
            stderr[0].starts_with("error: ")
                && stderr[0].contains(&format!("chain.jsonl, {block}: "))
                && stderr[0].contains(why),
            "{what}: {stderr:?}"
        );
        assert_eq!(snapshot(dir.path()), before, "{what}: files untouched");
    }
}

#[tokio::test]
async fn start_checks_the_newest_signatures_and_verify_checks_them_all() {
    // What start-up checks: every hash, link, draw and reveal, and the newest
    // START_SIGNATURES signatures. A rewrite without the key changes the tip's Hash, so the
    // tip's signature (always among the newest) fails: start refuses every such rewrite,
    // however old the changed block. Only damage to an old Signature alone (the Hash it signs
    // unchanged) gets past start-up; `verify` checks every signature and names that block.
    let tip = START_SIGNATURES as u64 + 50;
    let made = tempfile::tempdir().unwrap();
    write_v2_dir(made.path(), tip);
    let out = verify(made.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // An old block rewritten consistently without the key.
    let dir = copy_dir(made.path());
    rewrite_from(dir.path(), 5, |b| b.bpm = 99, None);
    let out = verify(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("chain.jsonl, block 5: Signature does not verify"),
        "{}",
        text(&out)
    );
    let oldest_checked = tip + 1 - START_SIGNATURES as u64;
    let stderr = start_refused(dir.path());
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    assert!(
        stderr[0].contains(&format!(
            "chain.jsonl, block {oldest_checked}: Signature does not verify"
        )),
        "the oldest signature start-up checks is the first it finds bad: {stderr:?}"
    );

    // An old Signature damaged, nothing else: start-up does not look that far back.
    let dir = copy_dir(made.path());
    let mut chain = blocks(dir.path());
    let sig = chain[5].signature.as_mut().unwrap();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    sig.replace_range(0..1, flipped);
    write_lines(&dir.path().join(CHAIN_FILE), &chain);
    let out = verify(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("chain.jsonl, block 5: Signature does not verify"),
        "{}",
        text(&out)
    );
    let server = common::start_in(dir, |c| c.seed_chain_len = 64).await;
    server.watcher().await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn missing_or_mismatched_secrets_refuse_to_start_with_one_line() {
    let made = server_chain(2, 1024).await;
    let other = server_chain(1, 1024).await;
    type Break<'a> = Box<dyn Fn(&Path) + 'a>;
    let cases: Vec<(&str, Break, &str)> = vec![
        (
            "server.key missing",
            Box::new(|d: &Path| std::fs::remove_file(d.join(SERVER_KEY_FILE)).unwrap()),
            "a v2 chain needs the key that signs its blocks",
        ),
        (
            "server.key of another chain",
            Box::new(|d: &Path| {
                std::fs::copy(other.path().join(SERVER_KEY_FILE), d.join(SERVER_KEY_FILE)).unwrap();
            }),
            "this key did not make this chain",
        ),
        (
            "seed-secret missing",
            Box::new(|d: &Path| std::fs::remove_file(d.join(SEED_SECRET_FILE)).unwrap()),
            "no reveal chain with commitment",
        ),
        (
            "seed-secret of another chain",
            Box::new(|d: &Path| {
                std::fs::copy(
                    other.path().join(SEED_SECRET_FILE),
                    d.join(SEED_SECRET_FILE),
                )
                .unwrap();
            }),
            "no reveal chain with commitment",
        ),
    ];
    for (what, damage, why) in cases {
        let dir = copy_dir(made.path());
        damage(dir.path());
        let before = snapshot(dir.path());
        let stderr = start_refused(dir.path());
        assert_eq!(stderr.len(), 1, "{what}: one line: {stderr:?}");
        assert!(
            stderr[0].starts_with("error: ") && stderr[0].contains(why),
            "{what}: {stderr:?}"
        );
        assert_eq!(snapshot(dir.path()), before, "{what}: files untouched");
        // The chain itself is intact: verify needs no secrets.
        assert_eq!(verify(dir.path(), &[]).status.code(), Some(0), "{what}");
    }
}

#[tokio::test]
async fn a_v1_directory_keeps_running_v1_and_verifies() {
    let mut server = common::start_v1(|_| {}).await;
    let (mut v, _) = server.validator(5).await;
    for bpm in [61, 62, 63] {
        server.make_block(&mut v, bpm).await;
    }
    let dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
    server.shutdown().await.unwrap();
    let chain = blocks(dir.path());
    assert_eq!(chain.len(), 4);
    assert!(chain.iter().all(|b| !b.is_v2() && b.signature.is_none()));
    assert!(!dir.path().join(SERVER_KEY_FILE).exists());
    assert!(!dir.path().join(SEED_SECRET_FILE).exists());
    let out = verify(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok: 4 blocks (height 3), 1 validators seen, 3 draws recomputed, every hash and link checked; 0 burned in 0 slashes"
    );
    // Nothing signs a v1 chain, so another copy proves nothing about its server.
    let out = verify(dir.path(), &["--against", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("pos-lottery-v1 chain"),
        "{}",
        text(&out)
    );
}

#[tokio::test]
async fn verify_against_an_older_copy_proves_equivocation_and_truncation() {
    let mut server =
        common::start(|c| c.http_addr = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))))
            .await;
    let (mut v, _) = server.validator(10).await;
    for bpm in 60..64 {
        server.make_block(&mut v, bpm).await;
    }
    // What a watcher keeps: the chain as /blockchain serves it (a JSON array).
    let (status, array) = server.get("/blockchain").await;
    assert_eq!(status, 200);
    let made = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
    server.shutdown().await.unwrap();
    let key = blocks(made.path())[0].server_key.clone().unwrap();
    let saved = tempfile::tempdir().unwrap();
    let as_array = saved.path().join("blockchain.json");
    std::fs::write(&as_array, &array).unwrap();
    let as_lines = saved.path().join("blocks.jsonl");
    std::fs::copy(made.path().join(CHAIN_FILE), &as_lines).unwrap();
    let as_dir = copy_dir(made.path());

    // The same chain in every form agrees.
    for source in [&as_array, &as_lines, &as_dir.path().to_path_buf()] {
        let out = verify(made.path(), &["--against", source.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let last = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap()
            .to_string();
        assert_eq!(
            last,
            format!(
                "against {}: 5 blocks read; 5 signed by ServerKey {key} and identical here (blocks 0-4); 0 not signed by it, skipped",
                source.display()
            )
        );
    }

    // Another server's blocks prove nothing about this one: skipped and counted.
    let stranger = server_chain(1, 1024).await;
    let out = verify(
        made.path(),
        &["--against", stranger.path().to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("2 blocks read; 0 signed by ServerKey")
            && text(&out).contains("2 not signed by it, skipped; nothing to compare"),
        "{}",
        text(&out)
    );

    // The operator, holding server.key, replaces block 4 by another one and signs it: the
    // directory verifies on its own, but the copy saved earlier holds the first block 4.
    let forked = copy_dir(made.path());
    let operator_key = server_key(forked.path());
    rewrite_from(forked.path(), 4, |b| b.bpm = 99, Some(&operator_key));
    let out = verify(forked.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (old, new) = (&blocks(made.path())[4].hash, &blocks(forked.path())[4].hash);
    assert_ne!(old, new);
    for source in [&as_array, &as_lines] {
        let out = verify(forked.path(), &["--against", source.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            stdout.contains(&format!(
                "EQUIVOCATION: block 4: this directory has Hash {new}, the other copy has Hash {old}, both signed by ServerKey {key}\n"
            )),
            "{stdout}"
        );
        assert!(
            stdout.contains("4 signed by ServerKey") && stdout.contains("(blocks 0-3)"),
            "{stdout}"
        );
    }

    // The newest block cut off both files: still a valid chain, but the server signed more.
    let cut = copy_dir(made.path());
    write_lines(&cut.path().join(CHAIN_FILE), &blocks(made.path())[..4]);
    write_lines(&cut.path().join(DRAWS_FILE), &draws(made.path())[..3]);
    assert_eq!(verify(cut.path(), &[]).status.code(), Some(0));
    let out = verify(cut.path(), &["--against", as_array.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "TRUNCATED: this directory ends at block 3, but the other copy holds 1 block up to block 4 signed by ServerKey {key}: this directory is missing blocks its server signed"
        )),
        "{}",
        text(&out)
    );

    // Not blocks at all: refused with the file named.
    let junk = saved.path().join("junk.txt");
    std::fs::write(&junk, "winning validator: abc\n").unwrap();
    let out = verify(made.path(), &["--against", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains(&format!("FAILED: --against {}", junk.display())),
        "{}",
        text(&out)
    );
}
