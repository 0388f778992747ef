//! The rough edges a new user hit (issue 8), each pinned over real TCP: reserved commands,
//! the bounded chain broadcast, the block hash in announcements, the durable burned total,
//! one server per data directory, and a round task that keeps serving when ticks end.

mod common;

use std::time::Duration;

use common::{start, start_in, WAIT};
use pos_lottery::session::{HELP_STAKING, HELP_VALIDATOR, HELP_WATCHER};
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn reserved_words_are_commands_at_the_stake_prompt() {
    let server = start(|_| {}).await;
    let mut c = server.connect().await;
    c.expect_prompt().await;
    c.send("  help ").await;
    c.expect(HELP_STAKING).await;
    c.expect("Enter token balance:").await;
    c.send("status").await;
    let status = c.line().await;
    assert!(
        status.starts_with("status: not staked yet, round 1"),
        "{status}"
    );
    c.expect("Enter token balance:").await;
    // Commands are not bad answers: three of them do not close the connection.
    c.send("help").await;
    c.expect(HELP_STAKING).await;
    c.expect("Enter token balance:").await;
    c.send("quit").await;
    assert_eq!(c.expect_closed().await, vec!["goodbye"]);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn reserved_words_after_staking_are_never_slashed() {
    let server = start(|_| {}).await;
    let (mut v, address) = server.validator(40).await;
    v.send("help").await;
    v.expect(HELP_VALIDATOR).await;
    v.expect("Enter a new BPM:").await;
    server.make_block(&mut v, 70).await;
    v.send("status").await;
    let status = v.line_containing("status:").await;
    assert!(
        status.starts_with(&format!(
            "status: validator {address} with stake 40, round 2 (closed by hand), 1 wins, chain height 1"
        )),
        "{status}"
    );
    v.expect("Enter a new BPM:").await;
    // `HELP` is not a reserved word (exact lowercase only): it is the malicious validator.
    let (mut other, _) = server.validator(5).await;
    other.send("HELP").await;
    let last = other.expect_closed().await;
    assert!(last.iter().any(|l| l.starts_with("slashed: ")), "{last:?}");
    // `watch` withdraws the stake and keeps the connection as a watcher.
    v.send("watch").await;
    v.expect(
        "watching: your stake of 40 is withdrawn; you will see every winner and chain broadcast",
    )
    .await;
    v.send("help").await;
    v.expect(HELP_WATCHER).await;
    v.send("72").await;
    v.expect("you are watching; reconnect to stake and propose")
        .await;
    v.send("status").await;
    assert!(v.line().await.starts_with("status: watching, round 2"));
    // Its stake is gone: a new validator alone takes the next block with the whole total.
    let (mut third, third_address) = server.validator(9).await;
    let line = server.make_block(&mut third, 80).await;
    assert!(
        line.starts_with(&format!(
            "winning validator: {third_address} (block 2, BPM 80, stake 9 of 9, hash "
        )),
        "{line}"
    );
    assert!(v.line().await.starts_with("winning validator: "));
    v.send("quit").await;
    assert_eq!(v.expect_closed().await, vec!["goodbye"]);
    third.send("quit").await;
    assert_eq!(
        third.expect_closed().await,
        vec!["goodbye: your stake of 9 is withdrawn"]
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_announcement_carries_the_stored_block_hash() {
    let server = start(|_| {}).await;
    let (mut v, _) = server.validator(3).await;
    let line = server.make_block(&mut v, 61).await;
    let chain = std::fs::read_to_string(server.dir.path().join("chain.jsonl")).unwrap();
    let block: serde_json::Value = serde_json::from_str(chain.lines().nth(1).unwrap()).unwrap();
    let hash = block["Hash"].as_str().unwrap();
    assert!(line.ends_with(&format!(", hash {hash})")), "{line}");
    server.shutdown().await.unwrap();
}

/// Takes the data directory out of `server`, so it outlives the server's shutdown.
fn keep_dir(server: &mut common::TestServer) -> tempfile::TempDir {
    std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap())
}

/// Reads lines until a JSON array (a chain broadcast) whose newest block is `height`.
async fn broadcast_up_to(c: &mut common::Client, height: u64) -> Vec<u64> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no broadcast ending at block {height}"
        );
        let line = c.line().await;
        if !line.starts_with('[') {
            continue;
        }
        let blocks: Vec<serde_json::Value> = serde_json::from_str(&line).unwrap();
        let indices: Vec<u64> = blocks
            .iter()
            .map(|b| b["Index"].as_u64().unwrap())
            .collect();
        if indices.last() == Some(&height) {
            return indices;
        }
    }
}

#[tokio::test]
async fn the_chain_broadcast_carries_the_newest_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_in(dir, |c| {
        c.broadcast = Some(Duration::from_millis(20));
        c.broadcast_blocks = 2;
    })
    .await;
    let (mut v, _) = server.validator(3).await;
    let mut w = server.watcher().await;
    // While the chain is shorter than 2 blocks... it is the whole chain.
    assert_eq!(broadcast_up_to(&mut w, 0).await, vec![0]);
    for bpm in [60, 61, 62] {
        server.make_block(&mut v, bpm).await;
    }
    assert_eq!(broadcast_up_to(&mut w, 3).await, vec![2, 3]);
    let dir = keep_dir(&mut server);
    server.shutdown().await.unwrap();
    // After a restart the newest blocks come back from the files.
    let again = start_in(tempfile::TempDir::new().unwrap(), |c| {
        c.data_dir = dir.path().to_path_buf();
        c.broadcast = Some(Duration::from_millis(20));
        c.broadcast_blocks = 2;
    })
    .await;
    let mut w = again.watcher().await;
    assert_eq!(broadcast_up_to(&mut w, 3).await, vec![2, 3]);
    again.shutdown().await.unwrap();
}

#[tokio::test]
async fn broadcast_blocks_zero_sends_the_whole_chain() {
    let server = start(|c| {
        c.broadcast = Some(Duration::from_millis(20));
        c.broadcast_blocks = 0;
    })
    .await;
    let (mut v, _) = server.validator(3).await;
    let mut w = server.watcher().await;
    for bpm in [60, 61, 62] {
        server.make_block(&mut v, bpm).await;
    }
    assert_eq!(broadcast_up_to(&mut w, 3).await, vec![0, 1, 2, 3]);
    // The same bytes /blockchain serves.
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_burned_total_survives_a_restart() {
    let mut server = start(|_| {}).await;
    let (mut v, address) = server.validator(250).await;
    v.send("x").await;
    let last = v.expect_closed().await;
    assert!(
        last.iter()
            .any(|l| l.contains("your stake of 250 is forfeited")),
        "{last:?}"
    );
    let kept = keep_dir(&mut server);
    let dir = kept.path().to_path_buf();
    let slashes = std::fs::read_to_string(dir.join("slashes.jsonl")).unwrap();
    assert_eq!(
        slashes,
        format!("{{\"Round\":1,\"Address\":\"{address}\",\"Burned\":250}}\n")
    );
    server.shutdown().await.unwrap();
    let again = start_in(tempfile::TempDir::new().unwrap(), |c| {
        c.data_dir = dir.clone();
        c.http_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let stats = again.wait_for_stats(|_| true).await;
    assert_eq!(stats["burned_stake"], 250);
    let (mut v2, _) = again.validator(7).await;
    v2.send("-1").await;
    v2.expect_closed().await;
    again.wait_for_stats(|s| s["burned_stake"] == 257).await;
    again.shutdown().await.unwrap();
    let report = pos_lottery::audit::check(&dir).unwrap();
    assert_eq!(report.burns.burned, 257);
    assert_eq!(report.burns.slashes, 2);
}

#[tokio::test]
async fn a_second_server_on_the_same_directory_is_refused() {
    let mut first = start(|_| {}).await;
    // The first server holds the directory once it answers.
    first.connect().await.expect_prompt().await;
    let kept = keep_dir(&mut first);
    let dir = kept.path().to_path_buf();
    let chain_before = std::fs::read(dir.join("chain.jsonl")).unwrap();
    let second = start_in(tempfile::TempDir::new().unwrap(), |c| {
        c.data_dir = dir.clone()
    })
    .await;
    let err = tokio::time::timeout(WAIT, second.handle)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("in use by another pos-lottery server")
            && err.contains(&format!("(pid {})", std::process::id())),
        "{err}"
    );
    // The first server is untouched and still serving; reading stays allowed.
    assert_eq!(
        std::fs::read(dir.join("chain.jsonl")).unwrap(),
        chain_before
    );
    assert!(pos_lottery::audit::check(&dir).is_ok());
    let (mut v, _) = first.validator(1).await;
    first.make_block(&mut v, 70).await;
    first.shutdown().await.unwrap();
    // Once it has stopped, the directory can be opened again.
    let third = start_in(tempfile::TempDir::new().unwrap(), |c| {
        c.data_dir = dir.clone()
    })
    .await;
    let (mut v, _) = third.validator(1).await;
    let line = third.make_block(&mut v, 71).await;
    assert!(line.contains("(block 2, "), "{line}");
    third.shutdown().await.unwrap();
}

#[tokio::test]
async fn commands_are_served_after_manual_ticks_end() {
    let mut server = start(|_| {}).await;
    let (mut v, _) = server.validator(1).await;
    server.make_block(&mut v, 70).await;
    server.end_ticks();
    // Before the fix the round task spun on the ended tick source and never answered.
    let (_v2, _) = server.validator(2).await;
    v.send("71").await;
    v.line_containing("entered round 2").await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_over_long_last_line_without_newline_is_refused() {
    let server = start(|_| {}).await;
    let mut c = server.connect().await;
    c.expect_prompt().await;
    let mut long = vec![b'1'; 1025];
    long[0] = b'5';
    c.send_raw(&long).await;
    c.framed.get_mut().shutdown().await.unwrap();
    let rest = c.expect_closed().await;
    assert!(
        rest.iter().any(|l| l.starts_with("line too long")),
        "{rest:?}"
    );
    assert!(
        !rest.iter().any(|l| l.starts_with("you are validator")),
        "{rest:?}"
    );
    server.shutdown().await.unwrap();
}

/// A new chain made where an old one's files were removed (its `seed-secret` left behind)
/// commits to a fresh reveal chain: the old reveals are public, and reusing them would make
/// every draw of the new chain predictable.
#[tokio::test]
async fn a_new_chain_never_reuses_a_published_reveal_chain() {
    let mut server = start(|_| {}).await;
    let (mut v, _) = server.validator(3).await;
    server.make_block(&mut v, 70).await;
    let kept = keep_dir(&mut server);
    server.shutdown().await.unwrap();
    let dir = kept.path().to_path_buf();
    let genesis = |dir: &std::path::Path| -> serde_json::Value {
        let chain = std::fs::read_to_string(dir.join("chain.jsonl")).unwrap();
        serde_json::from_str(chain.lines().next().unwrap()).unwrap()
    };
    let old = genesis(&dir);
    std::fs::remove_file(dir.join("chain.jsonl")).unwrap();
    std::fs::remove_file(dir.join("draws.jsonl")).unwrap();
    let again = start_in(tempfile::TempDir::new().unwrap(), |c| {
        c.data_dir = dir.clone()
    })
    .await;
    again.connect().await.expect_prompt().await;
    let new = genesis(&dir);
    assert_ne!(new["SeedCommit"], old["SeedCommit"], "{new}");
    again.shutdown().await.unwrap();
}
