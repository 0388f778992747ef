//! Hostile and careless clients: too many connections, silence, paused readers, floods, churn.

mod common;

use std::time::Duration;

use common::{start, Client, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

fn with_http(c: &mut pos_lottery::config::Config) {
    c.http_addr = Some("127.0.0.1:0".parse().unwrap());
}

#[tokio::test]
async fn a_connection_over_the_limit_is_told_server_full() {
    let server = start(|c| {
        with_http(c);
        c.max_connections = 3;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = server.connect().await;
        c.expect_prompt().await;
        held.push(c);
    }
    let mut extra = server.connect().await;
    assert_eq!(extra.expect_closed().await, vec!["server full"]);
    // The three are unaffected, and a freed slot is reusable.
    held[0].send("10").await;
    assert!(held[0].line().await.starts_with("you are validator"));
    drop(held.pop());
    server.wait_for_stats(|s| s["connections"] == 2).await;
    let mut again = server.connect().await;
    again.expect_prompt().await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_silent_connection_is_closed_but_a_watcher_stays() {
    let server = start(|c| c.stake_timeout = Duration::from_millis(300)).await;
    let mut silent = server.connect().await;
    silent.expect_prompt().await;
    let mut watcher = server.watcher().await;
    assert_eq!(
        silent.expect_closed().await,
        vec!["no token balance within 0.3 s; closing the connection"]
    );
    // Long past the timeout, the watcher still gets announcements.
    let (mut v, _) = server.validator(4).await;
    v.send("66").await;
    v.line_containing("entered").await;
    server.tick().await;
    assert!(watcher.line().await.starts_with("winning validator: "));
    server.shutdown().await.unwrap();
}

/// Makes a chain of `blocks` blocks so each chain broadcast is sizeable.
async fn grow_chain(server: &common::TestServer, blocks: u64) -> Client {
    let (mut v, _) = server.validator(1).await;
    for _ in 0..blocks {
        server.make_block(&mut v, 70).await;
    }
    v
}

#[tokio::test]
async fn a_paused_reader_is_told_what_it_missed_and_carries_on() {
    let server = start(|c| {
        c.broadcast = Some(Duration::from_millis(1));
        c.write_timeout = Duration::from_secs(60);
    })
    .await;
    let mut paused = server.watcher().await;
    // Sixty blocks make each chain broadcast ~25 KB; one every millisecond fills the paused
    // client's socket buffers well within the pause, after which the server must drop
    // announcements for it rather than queue them.
    let mut v = grow_chain(&server, 60).await;
    // A paused `nc`: the user stops reading for a while.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let missed = paused.line_containing("missed ").await;
    assert!(
        missed.ends_with("announcements: you were not reading fast enough"),
        "{missed}"
    );
    paused.send("hello").await;
    paused.line_containing("you are watching").await;
    // Others were served all along.
    v.send("71").await;
    v.line_containing("entered").await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_that_never_reads_is_closed_and_rounds_go_on() {
    let server = start(|c| {
        with_http(c);
        c.broadcast = Some(Duration::from_millis(1));
        c.write_timeout = Duration::from_millis(300);
    })
    .await;
    let stuck = server.watcher().await;
    let mut v = grow_chain(&server, 60).await;
    // The stuck client's writes stop making progress; after WRITE_TIMEOUT_SECS it is closed.
    server.wait_for_stats(|s| s["connections"] == 1).await;
    v.send("72").await;
    v.line_containing("entered").await;
    server.tick().await;
    v.line_containing("winning validator").await;
    // What the stuck client finally reads ends with the close.
    let mut raw = stuck.framed.into_inner();
    let mut sink = vec![0u8; 1 << 16];
    let drained = timeout(WAIT, async {
        loop {
            match raw.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "stuck connection was never closed");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_flooding_validator_does_not_starve_the_others() {
    let server = start(|_| {}).await;
    let (flooder, _) = server.validator(10).await;
    let (mut read, mut write) = flooder.framed.into_inner().into_split();
    let lines = 200_000;
    let writer = tokio::spawn(async move {
        let batch = "72\n".repeat(1000);
        for _ in 0..lines / 1000 {
            if write.write_all(batch.as_bytes()).await.is_err() {
                break;
            }
        }
        write
    });
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 1 << 16];
        // Each BPM line is answered with two lines: the reply and the prompt.
        let mut reply_lines = 0usize;
        while reply_lines < 2 * lines {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => reply_lines += buf[..n].iter().filter(|b| **b == b'\n').count(),
            }
        }
        reply_lines / 2
    });
    // While the flood runs, another validator joins and proposes, and is answered.
    let (mut other, other_addr) = server.validator(1).await;
    other.send("65").await;
    other.line_containing("entered").await;
    let replies = timeout(Duration::from_secs(60), reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replies, lines, "every flooded line was answered");
    let _ = writer.await;
    server.tick().await;
    let line = other.line_containing("winning validator").await;
    assert!(
        line.contains("of 11, hash "),
        "both entered the draw: {line} ({other_addr})"
    );
    server.shutdown().await.unwrap();
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::test]
async fn connection_churn_leaks_no_sockets_or_sessions() {
    let server = start(with_http).await;
    // Warm up (the runtime and HTTP client sockets settle), then take the baseline.
    server.wait_for_stats(|s| s["connections"] == 0).await;
    let before = open_fds();
    for i in 0..2_000u32 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        match i % 4 {
            0 => {}
            1 => s.write_all(b"12\n").await.unwrap(),
            2 => s.write_all(b"12\n70\n").await.unwrap(),
            _ => {
                let mut first = [0u8; 8];
                let _ = s.read(&mut first).await;
            }
        }
    }
    let stats = server
        .wait_for_stats(|s| s["connections"] == 0 && s["validators"] == 0)
        .await;
    assert_eq!(
        stats["candidates"], 0,
        "candidates of departed validators are dropped"
    );
    let after = open_fds();
    assert!(
        after <= before + 2,
        "file descriptors leaked: {before} before, {after} after"
    );
    server.shutdown().await.unwrap();
}
