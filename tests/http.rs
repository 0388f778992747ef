//! The HTTP view against the real server: every endpoint, errors, and the event stream.

mod common;

use common::{start, WAIT};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

async fn server_with_blocks(n: u64) -> (common::TestServer, common::Client, String) {
    let server = start(|c| c.http_addr = Some("127.0.0.1:0".parse().unwrap())).await;
    let (mut v, address) = server.validator(u64::MAX).await;
    for _ in 0..n {
        server.make_block(&mut v, 75).await;
    }
    (server, v, address)
}

#[tokio::test]
async fn chain_pages_blocks_and_draws() {
    let (server, _v, address) = server_with_blocks(3).await;
    let (status, body) = server.get("/api/chain").await;
    assert_eq!(status, 200);
    let page = json(&body);
    assert_eq!(page["blocks"].as_array().unwrap().len(), 4);
    assert_eq!(page["next"], Value::Null);
    let page = json(&server.get("/api/chain?from=1&limit=2").await.1);
    assert_eq!(page["blocks"][0]["Index"], 1);
    assert_eq!(page["blocks"].as_array().unwrap().len(), 2);
    assert_eq!(page["next"], 3);

    let (status, body) = server.get("/api/blocks/2").await;
    assert_eq!(status, 200);
    assert_eq!(json(&body)["Validator"], address.as_str());
    let (status, body) = server.get("/api/draws/2").await;
    assert_eq!(status, 200);
    let draw = json(&body);
    assert_eq!(draw["Index"], 2);
    assert_eq!(draw["Winner"], address.as_str());
    // The stake is u64::MAX: served exactly, not rounded through a float.
    assert!(
        body.contains(&format!("[\"{address}\",18446744073709551615]")),
        "{body}"
    );

    let (status, body) = server.get("/blockchain").await;
    assert_eq!(status, 200);
    assert_eq!(json(&body).as_array().unwrap().len(), 4);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn errors_are_json_with_the_right_status() {
    let (server, _v, _) = server_with_blocks(1).await;
    for (path, status) in [
        ("/api/blocks/99", 404),
        ("/api/blocks/abc", 400),
        ("/api/draws/0", 404),
        ("/api/draws/5", 404),
        ("/api/chain?limit=0", 400),
        ("/api/chain?limit=1001", 400),
        ("/api/chain?from=-1", 400),
        ("/nope", 404),
    ] {
        let (got, body) = server.get(path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(
            json(&body)["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}: {body}"
        );
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn validators_pool_stats_info_and_health() {
    let (server, mut v, address) = server_with_blocks(2).await;
    let (mut small, small_address) = server.validator(1).await;
    v.send("99").await;
    v.line_containing("entered").await;

    let list = json(&server.get("/api/validators").await.1);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let big = &list[0];
    assert_eq!(big["address"], address.as_str());
    assert_eq!(big["wins"], 2);
    assert!((big["expected_wins"].as_f64().unwrap() - 2.0).abs() < 1e-9);
    assert_eq!(big["proposed"], 3);
    for key in ["stake", "share", "connected_since"] {
        assert!(big.get(key).is_some(), "{key}");
    }
    let (_, raw) = server.get("/api/validators").await;
    assert!(raw.contains("\"stake\":18446744073709551615"), "{raw}");

    let pool = json(&server.get("/transactionPool").await.1);
    let pool = pool.as_array().unwrap();
    assert_eq!(pool.len(), 1);
    assert_eq!(pool[0]["type"], "candidate");
    assert_eq!(pool[0]["address"], address.as_str());
    assert_eq!(pool[0]["bpm"], 99);
    assert_eq!(pool[0]["stake"], u64::MAX);
    assert_eq!(pool[0]["total"], u64::MAX);
    assert_eq!(pool[0]["chance"], 1.0);
    assert!(pool[0]["proposed_at"].is_string());

    // The odds of every entrant are public while the round is open, the total exactly even
    // past 2^64 (u64::MAX + 1 here).
    small.send("70").await;
    small.line_containing("entered").await;
    let (_, raw) = server.get("/transactionPool").await;
    let pool = json(&raw);
    let pool = pool.as_array().unwrap();
    assert_eq!(pool.len(), 2);
    let mut in_order = vec![address.as_str(), small_address.as_str()];
    in_order.sort();
    let addresses: Vec<&str> = pool
        .iter()
        .map(|e| e["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, in_order, "the pool is in draw (address) order");
    assert_eq!(
        raw.matches("\"total\":18446744073709551616").count(),
        2,
        "{raw}"
    );
    for entry in pool {
        assert_eq!(entry["type"], "candidate");
        let (stake, chance) = if entry["address"] == address.as_str() {
            (u64::MAX, 1.0 - 1.0 / 2f64.powi(64))
        } else {
            (1, 1.0 / 2f64.powi(64))
        };
        assert_eq!(entry["stake"], stake);
        let got = entry["chance"].as_f64().unwrap();
        assert!((got - chance).abs() <= chance * 1e-12, "{entry}");
    }

    let stats = json(&server.get("/api/stats").await.1);
    assert_eq!(stats["height"], 2);
    assert_eq!(stats["rounds_run"], 2);
    assert_eq!(stats["validators"], 2);
    assert_eq!(stats["connections"], 2);
    assert_eq!(stats["burned_stake"], 0);
    for key in [
        "empty_rounds",
        "total_stake",
        "next_round_at",
        "seconds_left",
        "chi_square",
    ] {
        assert!(stats.get(key).is_some(), "{key}");
    }
    let info = json(&server.get("/info").await.1);
    assert_eq!(info["draw"], "pos-lottery-v2", "new chains are v2");
    assert_eq!(server.get("/healthz").await, (200, "ok\n".to_string()));
    let (status, page) = server.get("/").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<html") || page.contains("<!doctype html"),
        "dashboard served"
    );
    server.shutdown().await.unwrap();
}

/// Reads server-sent events as (name, data) pairs.
struct Events {
    lines: tokio::io::Lines<BufReader<TcpStream>>,
}

impl Events {
    async fn open(server: &common::TestServer) -> Events {
        let addr = server.http.unwrap();
        let mut s = TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut lines = BufReader::new(s).lines();
        // Skip the response head.
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.is_empty() {
                break;
            }
        }
        Events { lines }
    }

    /// The next event, skipping chunk sizes and keep-alive comments.
    async fn next(&mut self) -> (String, Value) {
        let (name, raw) = self.next_raw().await;
        (name, json(&raw))
    }

    /// The next event with its data as the exact text sent.
    async fn next_raw(&mut self) -> (String, String) {
        let (mut name, mut data) = (None, None);
        loop {
            let line = timeout(WAIT, self.lines.next_line())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            if let Some(n) = line
                .strip_prefix("event: ")
                .or_else(|| line.strip_prefix("event:"))
            {
                name = Some(n.to_string());
            } else if let Some(d) = line
                .strip_prefix("data: ")
                .or_else(|| line.strip_prefix("data:"))
            {
                data = Some(d.to_string());
            }
            if let (Some(n), Some(d)) = (&name, &data) {
                return (n.clone(), d.clone());
            }
        }
    }

    async fn expect(&mut self, name: &str) -> Value {
        let (got, data) = self.next().await;
        assert_eq!(got, name, "{data}");
        data
    }
}

#[tokio::test]
async fn the_event_stream_reports_everything_that_happens() {
    let server = start(|c| c.http_addr = Some("127.0.0.1:0".parse().unwrap())).await;
    let mut events = Events::open(&server).await;
    events.expect("hello").await;
    let (mut a, a_addr) = server.validator(40).await;
    assert_eq!(
        events.expect("validator_joined").await["address"],
        a_addr.as_str()
    );
    let (mut b, b_addr) = server.validator(60).await;
    events.expect("validator_joined").await;
    a.send("70").await;
    a.line_containing("entered").await;
    server.tick().await;
    let block = events.expect("block").await;
    assert_eq!(block["block"]["Index"], 1);
    assert_eq!(block["draw"]["total"], 40);
    server.tick().await;
    assert_eq!(events.expect("round").await["empty"], true);
    b.send("x").await;
    b.line_containing("slashed").await;
    let slashed = events.expect("slashed").await;
    assert_eq!(
        (slashed["address"].as_str(), slashed["burned"].as_u64()),
        (Some(b_addr.as_str()), Some(60))
    );
    drop(a);
    assert_eq!(
        events.expect("validator_left").await["address"],
        a_addr.as_str()
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn totals_beyond_u64_reach_the_event_stream_exactly() {
    let server = start(|c| c.http_addr = Some("127.0.0.1:0".parse().unwrap())).await;
    let mut events = Events::open(&server).await;
    events.expect("hello").await;
    let mut whales = Vec::new();
    for _ in 0..2 {
        let (mut w, _) = server.validator(u64::MAX).await;
        events.expect("validator_joined").await;
        w.send("80").await;
        w.line_containing("entered").await;
        whales.push(w);
    }
    server.tick().await;
    let line = whales[0].line_containing("winning validator").await;
    assert!(line.contains("of 36893488147419103230, hash "), "{line}");
    let (name, raw) = events.next_raw().await;
    assert_eq!(name, "block");
    assert!(raw.contains("\"total\":36893488147419103230"), "{raw}");
    server.shutdown().await.unwrap();
}
