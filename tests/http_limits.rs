//! The HTTP side's limits over real TCP: JSON errors for every rejection, `/info` settings,
//! the `HTTP_MAX_CONNECTIONS` cap and the `HTTP_TIMEOUT_SECS` timeouts.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::http::{json, read_until_closed, send};
use common::{start, TestServer, WAIT};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

fn with_http(c: &mut pos_lottery::config::Config) {
    c.http_addr = Some("127.0.0.1:0".parse().unwrap());
}

fn get(addr: SocketAddr, path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
}

/// An open `/api/events` stream, its response head and `hello` event already read.
struct EventStream {
    lines: tokio::io::Lines<BufReader<TcpStream>>,
}

impl EventStream {
    async fn open(addr: SocketAddr) -> EventStream {
        let mut s = timeout(WAIT, TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        let req = format!("GET /api/events HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut stream = EventStream {
            lines: BufReader::new(s).lines(),
        };
        let status = stream.line().await;
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        stream.event().await;
        stream
    }

    async fn line(&mut self) -> String {
        timeout(WAIT, self.lines.next_line())
            .await
            .expect("no line in time")
            .unwrap()
            .expect("the event stream closed")
    }

    /// The name of the next event.
    async fn event(&mut self) -> String {
        loop {
            if let Some(name) = self.line().await.strip_prefix("event:") {
                return name.trim().to_string();
            }
        }
    }
}

/// A connection that sent half a request line and nothing more.
async fn slowloris(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /api/st").await.unwrap();
    s
}

#[tokio::test]
async fn other_methods_get_405_json_naming_the_allowed_ones() {
    let server = start(with_http).await;
    let addr = server.http.unwrap();
    for (method, path) in [
        ("POST", "/api/stats"),
        ("PUT", "/api/blocks/1"),
        ("DELETE", "/info"),
    ] {
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n"
        );
        let answer = send(addr, &req).await;
        assert_eq!(answer.status, 405, "{method} {path}: {}", answer.body);
        let allow = answer.header("allow").expect("an Allow header");
        assert!(allow.contains("GET"), "{allow}");
        assert_eq!(answer.header("content-type"), Some("application/json"));
        let error = json(&answer.body)["error"].as_str().unwrap().to_string();
        assert!(
            error.contains(method) && error.contains("GET") && error.contains("HEAD"),
            "{error}"
        );
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn extractor_rejections_are_json_too() {
    let server = start(with_http).await;
    let addr = server.http.unwrap();
    // Not UTF-8 once percent-decoded: axum rejects it before the handler runs.
    let answer = send(addr, &get(addr, "/api/blocks/%FF")).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let error = json(&answer.body)["error"].as_str().unwrap().to_string();
    assert!(!error.is_empty());
    // Success responses are untouched.
    let answer = send(addr, &get(addr, "/healthz")).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "ok\n"));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn info_lists_every_setting() {
    let server = start(|c| {
        with_http(c);
        c.round = Duration::from_millis(2500);
        c.broadcast = Some(Duration::from_secs(7));
        c.broadcast_blocks = 12;
        c.min_stake = 3;
        c.block_reward = 5;
        c.max_connections = 77;
        c.stake_timeout = Duration::from_secs(41);
        c.write_timeout = Duration::from_millis(1500);
        c.http_max_connections = 9;
        c.http_timeout = Duration::from_secs(11);
        c.transfers_per_sec = 123;
        c.epoch_rounds = 4;
    })
    .await;
    let (status, body) = server.get("/info").await;
    assert_eq!(status, 200, "{body}");
    let info = json(&body);
    let dir = server.dir.path().display().to_string();
    let http = server.http.unwrap().to_string();
    for (key, want) in [
        ("name", Value::from("pos-lottery")),
        ("draw", Value::from("pos-lottery-v2")),
        ("http_addr", Value::from(http)),
        ("round_secs", Value::from(2.5)),
        ("broadcast_secs", Value::from(7.0)),
        ("broadcast_blocks", Value::from(12)),
        ("min_stake", Value::from(3)),
        ("block_reward", Value::from(5)),
        ("data_dir", Value::from(dir)),
        ("max_connections", Value::from(77)),
        ("stake_timeout_secs", Value::from(41.0)),
        ("write_timeout_secs", Value::from(1.5)),
        ("http_max_connections", Value::from(9)),
        ("http_timeout_secs", Value::from(11.0)),
        ("seed_chain_len", Value::from(1024)),
        ("tcp_addr", Value::from(server.addr.to_string())),
        ("transfers_per_sec", Value::from(123)),
        ("epoch_rounds", Value::from(4)),
        ("mode", Value::from("tutorial")),
        ("genesis", Value::Null),
    ] {
        assert_eq!(info[key], want, "{key} in {info}");
    }
    assert!(info["version"].is_string(), "{info}");
    assert_eq!(info["stats"]["height"], 0, "{info}");
    server.shutdown().await.unwrap();

    let server = start(with_http).await;
    let info = json(&server.get("/info").await.1);
    assert!(info["broadcast_secs"].is_null(), "broadcast off: {info}");
    server.shutdown().await.unwrap();
}

/// GETs `path` until it answers 200, bounded by [`WAIT`]; returns the answers seen before.
async fn poll_until_ok(server: &TestServer, path: &str) -> Vec<u16> {
    let addr = server.http.unwrap();
    let deadline = Instant::now() + WAIT;
    let mut refused = Vec::new();
    loop {
        let answer = send(addr, &get(addr, path)).await;
        if answer.status == 200 {
            return refused;
        }
        refused.push(answer.status);
        assert!(Instant::now() < deadline, "never answered: {refused:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn connections_over_the_cap_get_503_json_until_one_closes() {
    let server = start(|c| {
        with_http(c);
        c.http_max_connections = 2;
    })
    .await;
    let addr = server.http.unwrap();
    let first = EventStream::open(addr).await;
    let mut second = EventStream::open(addr).await;

    for _ in 0..3 {
        let answer = send(addr, &get(addr, "/api/stats")).await;
        assert_eq!(answer.status, 503, "{}", answer.body);
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert_eq!(
            json(&answer.body)["error"],
            "too many HTTP connections (HTTP_MAX_CONNECTIONS=2)"
        );
    }
    // A client that connects and sends nothing is answered too, not left hanging.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let raw = String::from_utf8(read_until_closed(&mut silent).await).unwrap();
    assert!(raw.starts_with("HTTP/1.1 503"), "{raw}");

    drop(first);
    let refused = poll_until_ok(&server, "/api/stats").await;
    assert!(refused.iter().all(|&s| s == 503), "{refused:?}");
    // The stream that stayed open still streams.
    server.tick().await;
    assert_eq!(second.event().await, "round");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_request_slower_than_the_timeout_is_closed() {
    let server = start(|c| {
        with_http(c);
        c.http_timeout = Duration::from_millis(300);
    })
    .await;
    let mut s = slowloris(server.http.unwrap()).await;
    let raw = read_until_closed(&mut s).await;
    assert!(!String::from_utf8_lossy(&raw).contains("200 OK"), "{raw:?}");
    // A connection that sends nothing at all is closed the same way.
    let mut silent = TcpStream::connect(server.http.unwrap()).await.unwrap();
    assert!(read_until_closed(&mut silent).await.is_empty());
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let server = start(|c| {
        with_http(c);
        c.http_timeout = Duration::from_millis(300);
    })
    .await;
    let addr = server.http.unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    // Two requests on one connection: it is kept alive between them.
    for _ in 0..2 {
        s.write_all(req.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        while !answer.ends_with(b"\r\n\r\nok\n") {
            let mut buf = [0u8; 1024];
            let n = timeout(WAIT, s.read(&mut buf)).await.unwrap().unwrap();
            assert_ne!(n, 0, "closed early: {:?}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&buf[..n]);
        }
        assert!(answer.starts_with(b"HTTP/1.1 200"));
    }
    // Then it idles, and the server closes it without another word.
    assert!(read_until_closed(&mut s).await.is_empty());
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn event_streams_outlive_the_timeout_and_end_at_shutdown() {
    let server = start(|c| {
        with_http(c);
        c.http_timeout = Duration::from_millis(300);
    })
    .await;
    let addr = server.http.unwrap();
    let mut events = EventStream::open(addr).await;
    // Once a slow request opened after the stream has been closed, the timeout has passed
    // for the stream too.
    let mut s = slowloris(addr).await;
    read_until_closed(&mut s).await;
    server.tick().await;
    assert_eq!(events.event().await, "round");

    // An idle keep-alive connection must not hold shutdown up either.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = timeout(WAIT, idle.read(&mut buf)).await.unwrap().unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    server.shutdown().await.unwrap();
    loop {
        match timeout(WAIT, events.lines.next_line()).await {
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) | Ok(Err(_)) => break,
            Err(_) => panic!("the event stream outlived shutdown"),
        }
    }
}
