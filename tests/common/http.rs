//! The HTTP side over raw TCP: whole answers (status, head, body) read until the server
//! closes, the `/api/events` stream, and a ledger-mode server with HTTP on.

use std::net::SocketAddr;

use pos_lottery::config::Config;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::{start, write_genesis, TestServer, WAIT};

/// `body` parsed as JSON; the test fails (naming the body) where it is not.
pub fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// An HTTP answer: status, head and body.
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    /// Parses what the server sent; `what` names the request in a failure.
    fn parse(raw: Vec<u8>, what: &str) -> Answer {
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("{what}no response head in {text:?}"));
        Answer {
            status: head.split_whitespace().nth(1).unwrap().parse().unwrap(),
            head: head.to_string(),
            body: body.to_string(),
        }
    }

    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    pub fn json(&self) -> Value {
        json(&self.body)
    }

    /// The `error` of a JSON error answer.
    pub fn error(&self) -> String {
        let v = self.json();
        v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {v}"))
            .to_string()
    }
}

/// Everything the peer sends until it closes (EOF or reset); fails after [`WAIT`].
pub async fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    read_to_close(s, "").await
}

/// [`read_until_closed`], `what` (empty, or ending `": "`) naming the request in a failure.
async fn read_to_close(s: &mut TcpStream, what: &str) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match timeout(WAIT, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return raw,
            Ok(Ok(n)) => raw.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "{what}connection still open after {WAIT:?}; got {:?}",
                String::from_utf8_lossy(&raw)
            ),
        }
    }
}

/// Sends `request` (the whole text) and reads the answer until the server closes (a reset
/// after the answer counts as the close).
pub async fn send(addr: SocketAddr, request: &str) -> Answer {
    let mut s = timeout(WAIT, TcpStream::connect(addr))
        .await
        .unwrap()
        .unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    Answer::parse(read_until_closed(&mut s).await, "")
}

/// One `method path` request with a JSON `body` and `Connection: close`, read until the
/// server closes (a reset after the answer counts as the close).
pub async fn request(http: SocketAddr, method: &str, path: &str, body: &[u8]) -> Answer {
    let mut s = timeout(WAIT, TcpStream::connect(http))
        .await
        .unwrap()
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {http}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // A body the server refuses to read whole may be cut short by its close.
    let _ = s.write_all(body).await;
    let what = format!("{method} {path}: ");
    Answer::parse(read_to_close(&mut s, &what).await, &what)
}

/// Reads server-sent events from `/api/events` as (name, data).
pub struct Events {
    lines: tokio::io::Lines<BufReader<TcpStream>>,
}

impl Events {
    /// Opens the stream; its `hello` event is read.
    pub async fn open(http: SocketAddr) -> Events {
        let mut s = TcpStream::connect(http).await.unwrap();
        let req = format!("GET /api/events HTTP/1.1\r\nHost: {http}\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut events = Events {
            lines: BufReader::new(s).lines(),
        };
        assert_eq!(events.next().await.0, "hello");
        events
    }

    pub async fn next(&mut self) -> (String, Value) {
        let mut name = None;
        loop {
            let line = timeout(WAIT, self.lines.next_line())
                .await
                .expect("no event in time")
                .unwrap()
                .expect("the event stream closed");
            if let Some(n) = line.strip_prefix("event:") {
                name = Some(n.trim().to_string());
            } else if let (Some(d), Some(n)) = (line.strip_prefix("data:"), &name) {
                return (n.clone(), json(d.trim()));
            }
        }
    }

    /// The next event called `wanted` for which `check` holds; every event skipped on the
    /// way is returned too.
    pub async fn until(
        &mut self,
        wanted: &str,
        check: impl Fn(&Value) -> bool,
    ) -> (Value, Vec<(String, Value)>) {
        let mut skipped = Vec::new();
        loop {
            let (name, data) = self.next().await;
            if name == wanted && check(&data) {
                return (data, skipped);
            }
            skipped.push((name, data));
        }
    }

    /// The next event called `wanted`, skipping others.
    pub async fn find(&mut self, wanted: &str) -> Value {
        self.until(wanted, |_| true).await.0
    }
}

/// A ledger-mode server with HTTP on, its genesis (a `genesis.json`) funding test account
/// `n` with `balance` for each pair; and its chain id.
pub struct HttpLedger {
    pub server: TestServer,
    pub chain_id: String,
    _genesis_dir: tempfile::TempDir,
}

/// Starts an [`HttpLedger`] funding `funds`, with manual ticks and `tweak` applied.
pub async fn http_ledger(funds: &[(u8, u64)], tweak: impl FnOnce(&mut Config)) -> HttpLedger {
    let genesis_dir = tempfile::tempdir().unwrap();
    let path = write_genesis(&genesis_dir.path().join("genesis.json"), funds);
    let genesis = pos_lottery::pool::GenesisSetting::load(&path).unwrap();
    let server = start(|c| {
        c.http_addr = Some("127.0.0.1:0".parse().unwrap());
        c.genesis = Some(genesis);
        tweak(c);
    })
    .await;
    let (status, body) = server.get("/info").await;
    assert_eq!(status, 200, "{body}");
    let chain_id = json(&body)["chain_id"].as_str().unwrap().to_string();
    HttpLedger {
        server,
        chain_id,
        _genesis_dir: genesis_dir,
    }
}

impl HttpLedger {
    pub fn http(&self) -> SocketAddr {
        self.server.http.unwrap()
    }

    pub async fn get(&self, path: &str) -> Answer {
        request(self.http(), "GET", path, b"").await
    }

    /// GET `path`, which must answer `200`, as JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let a = self.get(path).await;
        assert_eq!(a.status, 200, "GET {path}: {}", a.body);
        a.json()
    }

    /// POST `body` to `path`.
    pub async fn post(&self, path: &str, body: &str) -> Answer {
        request(self.http(), "POST", path, body.as_bytes()).await
    }
}
