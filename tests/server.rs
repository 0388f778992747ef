//! The real server on port 0, driven over TCP the way `nc` drives it.

mod common;

use std::collections::HashSet;

use common::{start, Client};
use pos_lottery::chain::Block;
use tokio::io::AsyncWriteExt;

fn is_address(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Parses `winning validator: <addr> (block <i>, BPM <b>, stake <s> of <t>, hash <h>)`.
fn parse_winner(line: &str) -> (String, u64, u32, u64, u128) {
    let rest = line
        .strip_prefix("winning validator: ")
        .unwrap_or_else(|| panic!("{line}"));
    let (addr, rest) = rest.split_once(" (block ").unwrap();
    let rest = rest.strip_suffix(')').unwrap();
    let (rest, hash) = rest.split_once(", hash ").unwrap();
    assert!(is_address(hash), "the block hash is 64 hex: {line}");
    let (index, rest) = rest.split_once(", BPM ").unwrap();
    let (bpm, rest) = rest.split_once(", stake ").unwrap();
    let (stake, total) = rest.split_once(" of ").unwrap();
    (
        addr.into(),
        index.parse().unwrap(),
        bpm.parse().unwrap(),
        stake.parse().unwrap(),
        total.parse().unwrap(),
    )
}

#[tokio::test]
async fn prompts_then_stakes_with_an_address() {
    let server = start(|_| {}).await;
    // 10^12 tokens: the Go original built a 10^12-entry pool for this and ran out of memory.
    let (mut c, address) = server.validator(1_000_000_000_000).await;
    assert!(is_address(&address), "{address}");
    c.send("72").await;
    c.line_containing("entered").await;
    server.tick().await;
    let (winner, _, _, stake, total) = parse_winner(&c.line_containing("winning").await);
    assert_eq!(
        (winner, stake, total),
        (address, 1_000_000_000_000, 1_000_000_000_000)
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_stakes_are_reprompted_and_the_third_closes() {
    let server = start(|c| c.min_stake = 10).await;
    let mut c = server.connect().await;
    c.expect_prompt().await;
    c.send("").await; // an empty line only re-prompts
    c.expect("Enter token balance:").await;
    c.send("abc").await;
    assert!(c.line().await.contains("(got \"abc\")"));
    c.expect("Enter token balance:").await;
    c.send("5").await;
    assert_eq!(
        c.line().await,
        "token balance must be at least 10 (got \"5\")"
    );
    c.expect("Enter token balance:").await;
    c.send("18446744073709551616").await;
    assert!(c.line().await.contains("at most 18446744073709551615"));
    let rest = c.expect_closed().await;
    assert_eq!(rest, vec!["3 bad token balances; closing the connection"]);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn invalid_utf8_and_signs_are_bad_stakes_not_crashes() {
    let server = start(|_| {}).await;
    let mut c = server.connect().await;
    c.expect_prompt().await;
    c.send_raw(b"\xff\xfe\n").await;
    assert!(c
        .line()
        .await
        .starts_with("token balance must be a whole number"));
    c.expect("Enter token balance:").await;
    c.send("+5").await;
    assert!(c.line().await.contains("(got \"+5\")"));
    c.expect("Enter token balance:").await;
    c.send("7").await;
    assert!(c.line().await.starts_with("you are validator "));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn crlf_lines_work_like_lf() {
    let server = start(|_| {}).await;
    let mut c = server.connect().await;
    c.expect_prompt().await;
    c.send_raw(b"  42 \r\n").await;
    assert!(c.line().await.ends_with("with stake 42"));
    c.expect("Enter a new BPM:").await;
    c.send_raw(b"72\r\n").await;
    assert_eq!(c.line().await, "BPM 72 entered round 1");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_over_long_line_gets_one_error_and_closes() {
    let server = start(|_| {}).await;
    let mut c = server.connect().await;
    c.expect_prompt().await;
    // Like a paste into nc: the server may stop reading before the write ends.
    let _ = c
        .framed
        .get_mut()
        .write_all(&vec![b'7'; 10 * 1024 * 1024])
        .await;
    let rest = c.expect_closed().await;
    assert_eq!(
        rest,
        vec!["line too long: at most 1024 bytes per line; closing the connection"]
    );
    // The server is unaffected.
    let (_v, _) = server.validator(5).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_stake_and_a_bpm_in_one_write_are_both_handled() {
    let server = start(|_| {}).await;
    let mut c = server.connect().await;
    c.expect_prompt().await;
    c.send_raw(b"100\n72\n").await;
    assert!(c.line().await.starts_with("you are validator "));
    c.expect("Enter a new BPM:").await;
    c.expect("BPM 72 entered round 1").await;
    c.expect("Enter a new BPM:").await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn twenty_validators_joining_at_once_get_distinct_addresses() {
    let server = std::sync::Arc::new(start(|_| {}).await);
    let joins = (0..20).map(|i| {
        let server = server.clone();
        tokio::spawn(async move { server.validator(i + 1).await })
    });
    let mut clients = Vec::new();
    let mut addresses = HashSet::new();
    for j in joins {
        let (c, a) = j.await.unwrap();
        assert!(addresses.insert(a));
        clients.push(c);
    }
    assert_eq!(addresses.len(), 20);
    drop(clients);
    let server = std::sync::Arc::into_inner(server).unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn bpm_cases_first_counts_repeats_are_noted_out_of_range_is_harmless() {
    let server = start(|_| {}).await;
    let (mut c, address) = server.validator(10).await;
    c.send("").await;
    c.expect("Enter a new BPM:").await;
    c.send("400").await;
    c.expect("BPM must be from 1 to 300 (got \"400\")").await;
    c.expect("Enter a new BPM:").await;
    c.send("0").await;
    c.expect("BPM must be from 1 to 300 (got \"0\")").await;
    c.expect("Enter a new BPM:").await;
    c.send("007").await;
    c.expect("BPM 7 entered round 1").await;
    c.expect("Enter a new BPM:").await;
    c.send("80").await;
    c.expect("already proposed in round 1: only the first BPM of a round counts")
        .await;
    c.expect("Enter a new BPM:").await;
    server.tick().await;
    let (winner, index, bpm, stake, total) = parse_winner(&c.line().await);
    assert_eq!(
        (winner.as_str(), index, bpm, stake, total),
        (address.as_str(), 1, 7, 10, 10)
    );
    c.send("81").await;
    c.expect("BPM 81 entered round 2").await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_connection_gets_every_announcement_exactly_once() {
    let server = start(|_| {}).await;
    let mut validators = Vec::new();
    for i in 0..10 {
        validators.push(server.validator(100 + i).await.0);
    }
    // Forty connections that never stake: the Go original's shared channel starved these.
    let mut watchers = Vec::new();
    for i in 0..40 {
        let mut w = server.connect().await;
        w.expect_prompt().await;
        if i % 2 == 0 {
            w.send("watch").await;
            w.line_containing("watching").await;
        }
        watchers.push(w);
    }
    for round in 1..=3u64 {
        for v in validators.iter_mut() {
            v.send("72").await;
            assert_eq!(
                v.line_containing("entered").await,
                format!("BPM 72 entered round {}", 2 * round - 1)
            );
        }
        server.tick().await;
        server.tick().await; // an empty round announces nothing
        let mut seen = HashSet::new();
        for c in validators.iter_mut().chain(watchers.iter_mut()) {
            let line = c.line_containing("winning validator").await;
            let (_, index, ..) = parse_winner(&line);
            assert_eq!(index, round);
            seen.insert(line);
        }
        assert_eq!(seen.len(), 1, "all fifty saw the same announcement");
    }
    for w in watchers.iter_mut() {
        w.expect_silence().await;
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_whole_chain_is_broadcast_as_one_json_line() {
    let server = start(|c| c.broadcast = Some(std::time::Duration::from_millis(100))).await;
    let (mut v, address) = server.validator(3).await;
    v.send("90").await;
    v.line_containing("entered").await;
    server.tick().await;
    v.line_containing("winning validator").await;
    let mut w = server.connect().await;
    w.expect_prompt().await;
    let json = w.line_containing("[{").await;
    let blocks: Vec<Block> = serde_json::from_str(&json).unwrap();
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[1].validator, address);
    assert_eq!(blocks[1].bpm, 90);
    pos_lottery::chain::Chain::from_blocks(blocks)
        .unwrap()
        .verify()
        .unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn garbage_bpm_slashes_drops_the_candidate_and_closes() {
    let server = start(|c| c.http_addr = Some("127.0.0.1:0".parse().unwrap())).await;
    let (mut cheat, _) = server.validator(1_000_000).await;
    let (mut honest, honest_addr) = server.validator(1).await;
    cheat.send("72").await;
    cheat.line_containing("entered").await;
    cheat.expect("Enter a new BPM:").await;
    honest.send("60").await;
    honest.line_containing("entered").await;
    cheat.send("72.0").await;
    let rest = cheat.expect_closed().await;
    assert_eq!(
        rest,
        vec!["slashed: \"72.0\" is not a heart rate (digits 0-9 only); your stake of 1000000 is forfeited and you are removed from the validators"]
    );
    let stats = server.wait_for_stats(|s| s["validators"] == 1).await;
    assert_eq!(stats["burned_stake"], 1_000_000);
    server.tick().await;
    let (winner, ..) = parse_winner(&honest.line_containing("winning").await);
    assert_eq!(
        winner, honest_addr,
        "a slashed validator's candidate cannot win"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_disconnected_validator_leaves_at_once_and_can_never_win() {
    let server = start(|c| c.http_addr = Some("127.0.0.1:0".parse().unwrap())).await;
    let (mut whale, _) = server.validator(u64::MAX).await;
    let (mut minnow, minnow_addr) = server.validator(1).await;
    whale.send("72").await;
    whale.line_containing("entered").await;
    minnow.send("60").await;
    minnow.line_containing("entered").await;
    drop(whale);
    let stats = server.wait_for_stats(|s| s["validators"] == 1).await;
    assert_eq!(
        stats["burned_stake"], 0,
        "leaving withdraws, it does not burn"
    );
    assert_eq!(stats["candidates"], 1);
    server.tick().await;
    let (winner, _, _, stake, total) = parse_winner(&minnow.line_containing("winning").await);
    assert_eq!((winner, stake, total), (minnow_addr, 1, 1));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn block_reward_grows_the_winners_stake() {
    let server = start(|c| c.block_reward = 5).await;
    let (mut v, _) = server.validator(10).await;
    for (round, stake) in [(1, 10), (2, 15), (3, 20)] {
        v.send("70").await;
        assert_eq!(
            v.line_containing("entered").await,
            format!("BPM 70 entered round {round}")
        );
        server.tick().await;
        let (_, _, _, s, t) = parse_winner(&v.line_containing("winning").await);
        assert_eq!((s, t), (stake, u128::from(stake)));
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_says_goodbye_to_every_connection_and_returns() {
    let server = start(|_| {}).await;
    let (mut v, _) = server.validator(5).await;
    let mut w = server.watcher().await;
    let mut fresh: Client = server.connect().await;
    fresh.expect_prompt().await;
    server.shutdown().await.unwrap();
    for c in [&mut v, &mut w, &mut fresh] {
        assert_eq!(c.expect_closed().await, vec!["server is shutting down"]);
    }
}
