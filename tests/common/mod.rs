//! Test harness: the real server on port 0, and clients that talk TCP the way `nc` does.
#![allow(dead_code)]

pub mod fake;
pub mod http;
pub mod ledger;

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use pos_lottery::config::Config;
use pos_lottery::round::Ticks;
use pos_lottery::server::ServerError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_util::codec::{Framed, LinesCodec};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_pos-lottery");

/// The real binary on `dir` (also its working directory) with a clean environment: any free
/// port, no HTTP, no chain broadcast, info logs, a short reveal chain (a new chain is made in
/// no time even in a debug build). Add or override settings with `.env(...)`.
pub fn binary(dir: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(BIN);
    c.env_clear()
        .env("DATA_DIR", dir)
        .env("ADDR", "127.0.0.1:0")
        .env("HTTP_ADDR", "off")
        .env("BROADCAST_SECS", "0")
        .env("RUST_LOG", "info")
        .env("SEED_CHAIN_LEN", "1024")
        .current_dir(dir)
        .stdin(std::process::Stdio::null());
    c
}

/// `pos-lottery verify <dir>` run to the end with a clean environment: the whole output.
pub fn verify_output(dir: &std::path::Path) -> std::process::Output {
    std::process::Command::new(BIN)
        .arg("verify")
        .arg(dir)
        .env_clear()
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// `pos-lottery verify <dir>`: its exit code (-1 when killed) and stdout.
pub fn verify(dir: &std::path::Path) -> (i32, String) {
    let out = verify_output(dir);
    (out.status.code().unwrap_or(-1), text(&out.stdout))
}

/// `pos-lottery verify <dir>`: its exit code (-1 when killed), and stdout then stderr.
pub fn verify_stdout_stderr(dir: &std::path::Path) -> (i32, String) {
    let out = verify_output(dir);
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout) + &text(&out.stderr),
    )
}

/// Bytes as text, any invalid UTF-8 replaced.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The binary with `args` in `dir` (also its working directory), clean environment, no stdin,
/// stdout and stderr piped, killed when dropped. Change any of that on the result.
pub fn cli(dir: &std::path::Path, args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(BIN);
    c.args(args)
        .env_clear()
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    c
}

/// [`cli`] run to the end (bounded by [`WAIT`]).
pub async fn run_cli(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    timeout(WAIT, cli(dir, args).output())
        .await
        .unwrap_or_else(|_| panic!("pos-lottery {args:?} did not end"))
        .unwrap()
}

/// How long any single expected event may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub addr: SocketAddr,
    pub http: Option<SocketAddr>,
    ticks: Option<mpsc::Sender<()>>,
    stop: Option<oneshot::Sender<()>>,
    pub handle: JoinHandle<Result<(), ServerError>>,
    pub dir: tempfile::TempDir,
}

/// Starts the server with manual ticks (the test closes rounds) and `tweak` applied.
pub async fn start(tweak: impl FnOnce(&mut Config)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    start_in(dir, tweak).await
}

/// Starts the server on a pos-lottery-v1 chain (a v1 genesis block written first, as the
/// first releases did): a v1 directory keeps running v1.
pub async fn start_v1(tweak: impl FnOnce(&mut Config)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    drop(
        pos_lottery::store::Store::open(dir.path(), 0, || "2026-01-01T00:00:00.000Z".into())
            .unwrap(),
    );
    start_in(dir, tweak).await
}

pub async fn start_in(dir: tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> TestServer {
    let mut config = Config::for_tests(dir.path().to_path_buf());
    config.broadcast = None;
    tweak(&mut config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let http = match config.http_addr {
        Some(a) => Some(TcpListener::bind(a).await.unwrap()),
        None => None,
    };
    let http_addr = http.as_ref().map(|l| l.local_addr().unwrap());
    let (ticks, tick_rx) = mpsc::channel(16);
    let (stop, stop_rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(pos_lottery::server::run(
        config,
        listener,
        http,
        Ticks::Manual(tick_rx),
        async move {
            let _ = stop_rx.await;
        },
    ));
    TestServer {
        addr,
        http: http_addr,
        ticks: Some(ticks),
        stop: Some(stop),
        handle,
        dir,
    }
}

impl TestServer {
    /// Closes the current round.
    pub async fn tick(&self) {
        self.ticks
            .as_ref()
            .expect("ticks ended")
            .send(())
            .await
            .unwrap();
    }

    /// Drops the tick sender: no round closes again.
    pub fn end_ticks(&mut self) {
        self.ticks = None;
    }

    /// Triggers shutdown and waits for `run` to return.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        self.halt().await.0
    }

    /// Triggers shutdown and waits for `run` to return: what it returned, and the data
    /// directory.
    async fn halt(mut self) -> (Result<(), ServerError>, tempfile::TempDir) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = timeout(WAIT, self.handle)
            .await
            .expect("server did not stop")
            .unwrap();
        (result, self.dir)
    }

    pub async fn connect(&self) -> Client {
        Client::connect(self.addr).await
    }

    /// A client that has staked; returns it with its address, prompt consumed.
    pub async fn validator(&self, stake: u64) -> (Client, String) {
        let mut c = self.connect().await;
        c.expect_prompt().await;
        c.send(&stake.to_string()).await;
        let line = c.line_containing("you are validator").await;
        let address = line.split_whitespace().nth(3).unwrap().to_string();
        assert_eq!(
            line,
            format!("you are validator {address} with stake {stake}")
        );
        c.expect("Enter a new BPM:").await;
        (c, address)
    }

    /// A connection that typed `watch`, confirmation consumed.
    pub async fn watcher(&self) -> Client {
        let mut w = self.connect().await;
        w.expect_prompt().await;
        w.send("watch").await;
        w.line_containing("watching").await;
        w
    }

    /// Has `v` (the only proposer) propose `bpm`, closes the round, and returns the
    /// announcement `v` received.
    pub async fn make_block(&self, v: &mut Client, bpm: u32) -> String {
        v.send(&bpm.to_string()).await;
        v.line_containing("entered").await;
        self.tick().await;
        v.line_containing("winning validator").await
    }

    /// GET on the HTTP side: (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.http.expect("HTTP is off in this test"), path).await
    }

    /// Polls `/api/stats` until `check` holds (bounded by [`WAIT`]).
    pub async fn wait_for_stats(
        &self,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (_, body) = self.get("/api/stats").await;
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            if check(&v) {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "stats never matched: {v}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A minimal HTTP/1.1 GET with `Connection: close`.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = timeout(WAIT, TcpStream::connect(addr))
        .await
        .unwrap()
        .unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    timeout(WAIT, s.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

/// One TCP connection, framed into lines like a terminal shows them.
pub struct Client {
    pub framed: Framed<TcpStream, LinesCodec>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = timeout(WAIT, TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        Client {
            framed: Framed::new(stream, LinesCodec::new_with_max_length(64 << 20)),
        }
    }

    /// Sends `line` plus `\n`.
    pub async fn send(&mut self, line: &str) {
        self.framed.send(line).await.unwrap();
    }

    /// Writes raw bytes in one write.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.framed.get_mut().write_all(bytes).await.unwrap();
    }

    /// The next line; panics on timeout or end of stream.
    pub async fn line(&mut self) -> String {
        match timeout(WAIT, self.framed.next()).await {
            Ok(Some(Ok(line))) => line,
            Ok(other) => panic!("expected a line, got {other:?}"),
            Err(_) => panic!("no line within {WAIT:?}"),
        }
    }

    /// The next line, which must be `expected`.
    pub async fn expect(&mut self, expected: &str) {
        assert_eq!(self.line().await, expected);
    }

    /// Skips the help line and expects the balance prompt.
    pub async fn expect_prompt(&mut self) {
        let help = self.line().await;
        assert!(help.contains("watch"), "help line: {help}");
        self.expect("Enter token balance:").await;
    }

    /// Reads until a line contains `needle`; returns it.
    pub async fn line_containing(&mut self, needle: &str) -> String {
        loop {
            let line = self.line().await;
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// Asserts the server closes the connection (after any lines, which are returned).
    pub async fn expect_closed(&mut self) -> Vec<String> {
        let mut rest = Vec::new();
        loop {
            match timeout(WAIT, self.framed.next()).await {
                Ok(Some(Ok(line))) => rest.push(line),
                Ok(None) | Ok(Some(Err(_))) => return rest,
                Err(_) => panic!("connection still open after {WAIT:?}; got {rest:?}"),
            }
        }
    }

    /// Asserts nothing arrives for a short while.
    pub async fn expect_silence(&mut self) {
        if let Ok(next) = timeout(Duration::from_millis(150), self.framed.next()).await {
            panic!("expected nothing, got {next:?}");
        }
    }
}

// Ledger mode: accounts from `SigningKey::from_bytes(&[n; 32])`, a genesis file that funds
// them, and the login handshake.

/// The key of test account `n`.
pub fn key(n: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[n; 32])
}

/// The address of test account `n`.
pub fn address(n: u8) -> String {
    pos_lottery::tx::address_of(&key(n))
}

/// Writes test account `n`'s key as a key file (the way the tools write it) at `dir/name`;
/// returns the key.
pub fn key_file(dir: &std::path::Path, name: &str, n: u8) -> ed25519_dalek::SigningKey {
    let key = key(n);
    std::fs::write(dir.join(name), pos_lottery::tx::key_file_text(&key)).unwrap();
    key
}

/// A genesis file's text funding test accounts `(n, balance)`.
pub fn genesis_json(accounts: &[(u8, u64)]) -> String {
    let entries: Vec<String> = accounts
        .iter()
        .map(|(n, balance)| format!("  \"{}\": {balance}", address(*n)))
        .collect();
    format!("{{\"accounts\": {{\n{}\n}}}}\n", entries.join(",\n"))
}

/// Writes a genesis file for `accounts` at `path` and returns the path.
pub fn write_genesis(path: &std::path::Path, accounts: &[(u8, u64)]) -> std::path::PathBuf {
    std::fs::write(path, genesis_json(accounts)).unwrap();
    path.to_path_buf()
}

/// The `GENESIS` setting for `accounts`, as the binary would load it.
pub fn genesis_setting(accounts: &[(u8, u64)]) -> pos_lottery::pool::GenesisSetting {
    let dir = tempfile::tempdir().unwrap();
    let path = write_genesis(&dir.path().join("genesis-in.json"), accounts);
    pos_lottery::pool::GenesisSetting::load(&path).unwrap()
}

/// Starts a ledger-mode server funding `accounts`, with manual ticks and `tweak` applied.
pub async fn start_ledger(accounts: &[(u8, u64)], tweak: impl FnOnce(&mut Config)) -> TestServer {
    let genesis = genesis_setting(accounts);
    start(move |c| {
        c.genesis = Some(genesis);
        tweak(c);
    })
    .await
}

/// The challenge a ledger-mode connection is sent.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub line: String,
    pub chain_id: String,
    pub nonce: String,
}

impl Challenge {
    /// `auth <address> <signature>` answering it with `key`.
    pub fn auth_line(&self, key: &ed25519_dalek::SigningKey) -> String {
        format!(
            "auth {} {}",
            pos_lottery::tx::address_of(key),
            pos_lottery::tx::sign_auth(key, &self.chain_id, &self.nonce)
        )
    }
}

/// `transfer <to> <amount> <nonce> <signature>` for a transfer signed by `key`.
pub fn transfer_line(
    key: &ed25519_dalek::SigningKey,
    chain_id: &str,
    to: &str,
    amount: u64,
    nonce: u64,
) -> (String, pos_lottery::tx::Transfer) {
    let t = pos_lottery::tx::Transfer::sign(key, chain_id, to, amount, nonce);
    (
        format!("transfer {} {} {} {}", t.to, t.amount, t.nonce, t.signature),
        t,
    )
}

/// The number right after `label` in `line` (`balance 100, ...` with label `"balance "`).
pub fn number_after(line: &str, label: &str) -> u64 {
    let rest = &line[line
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {line:?}"))
        + label.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {label:?} in {line:?}"))
}

/// The number right before `label` in `line` (`3 wins` with label `" wins"`).
pub fn number_before(line: &str, label: &str) -> u64 {
    let head = &line[..line
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {line:?}"))];
    let digits: String = head
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number before {label:?} in {line:?}"))
}

impl TestServer {
    /// Triggers shutdown, waits for `run` to return Ok, and keeps the data directory.
    pub async fn stop_keeping_dir(self) -> tempfile::TempDir {
        let (result, dir) = self.halt().await;
        result.unwrap();
        dir
    }

    /// A ledger-mode connection logged in as account `n`: the welcome line, with the stake
    /// prompt after it consumed. Retries (bounded) while an earlier session of the account
    /// is still being logged out.
    pub async fn login(&self, n: u8) -> (Client, String) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let mut c = self.connect().await;
            let ch = c.challenge().await;
            c.send(&ch.auth_line(&key(n))).await;
            let line = c.line().await;
            if line.starts_with("welcome ") {
                c.expect("Enter stake:").await;
                return (c, line);
            }
            assert!(
                line.ends_with("is already connected; one session per account")
                    && tokio::time::Instant::now() < deadline,
                "login as account {n}: {line}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Account `n` logged in and bonded `stake`, the BPM prompt consumed.
    pub async fn bonded(&self, n: u8, stake: u64) -> Client {
        let (mut c, _) = self.login(n).await;
        c.send(&stake.to_string()).await;
        assert_eq!(
            c.line().await,
            format!("you are validator {} with stake {stake}", address(n))
        );
        c.expect("Enter a new BPM:").await;
        c
    }
}

impl Client {
    /// Reads the ledger-mode help line and the challenge.
    pub async fn challenge(&mut self) -> Challenge {
        let help = self.line().await;
        assert!(help.starts_with("pos-lottery (ledger mode)"), "{help}");
        let line = self.line().await;
        let words: Vec<&str> = line.split(' ').collect();
        assert_eq!(words.len(), 3, "{line}");
        assert_eq!(words[0], "challenge", "{line}");
        Challenge {
            chain_id: words[1].to_string(),
            nonce: words[2].to_string(),
            line,
        }
    }

    /// Sends `status` and returns its line; the prompt after it (if any) is left unread.
    pub async fn status(&mut self) -> String {
        self.send("status").await;
        self.line_containing("status: ").await
    }
}
