//! `pos-lottery connect`: an interactive client like `nc` that logs in by itself. Lines typed
//! on stdin go to the server as they are; the server's bytes go to stdout as they arrive. When
//! the server sends its `challenge <chain id> <nonce>` line, the client answers with the
//! `auth` line signed by the key file, and shows it on stderr as `> auth ...`.
//!
//! A typed `send <to> <amount>` is never sent as typed (a validator's line that is not a
//! number is read as a BPM and slashed): with `--http`, it becomes a signed
//! `transfer <to> <amount> <nonce> <signature>` line, its nonce the account's `next_nonce`
//! from `GET /api/accounts/{address}`; without `--http` it is refused with a hint to use
//! `pos-lottery transfer`.
//!
//! With `--http` (and without `--no-attest`), a logged-in session also attests: on each
//! `winning validator: ... hash <H>)` line it fetches block k, block k-1 and the draw of block k
//! over HTTP, recomputes the draw (see [`super::recompute`]), and only when everything checks
//! out sends `attest <k> <H> <signature>`, shown on stderr as `> attest ...`; otherwise it says
//! `not attesting block k: <why>` on stderr. One check per block, a few at a time, off the
//! reading loop. A server whose block documents carry no `final` field takes no attestations
//! (it would read the line as a BPM and slash): then the client says so once and stops.
//!
//! Stdin is read on its own thread (a blocking read cannot be cancelled, so it must not hold
//! up the runtime's exit); the socket, both halves, is owned by the one `select!` loop.
//! The client exits 0 when the server closes the connection; the end of stdin does not close
//! it (type `quit`, as with `nc`).

use std::io::{BufRead as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};

use super::attestor::{attest_line, Recent, Skip, Source, MAX_CHECKS};
use super::protocol::{parse_announcement, Announcement};
use super::sign::Challenge;
use super::tool::{is_address, read_key_file, ToolError};
use super::transfer::fetch_next_nonce;
use crate::tx::{self, Transfer};

/// Server lines longer than this are passed through but not looked at (a chain broadcast);
/// a challenge line is 170 bytes.
const MAX_INSPECTED_LINE: usize = 1024;
/// Typed lines waiting for the socket.
const STDIN_QUEUE: usize = 16;
/// Checked blocks waiting for the socket.
const VERDICT_QUEUE: usize = 16;

/// `pos-lottery connect`: an `nc` that logs in with a key file.
#[derive(clap::Args, Debug)]
pub struct ConnectArgs {
    /// The account's key file
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The server's TCP address; a bare port means 127.0.0.1:PORT
    #[arg(long, env = "ADDR", default_value = "127.0.0.1:9000", value_parser = crate::config::parse_addr)]
    pub addr: SocketAddr,
    /// The server's HTTP address: turns a typed `send <to> <amount>` into a signed transfer
    /// (the nonce looked up there; without it, use `pos-lottery transfer`), and attests each
    /// announced block once its draw recomputes from that server's documents
    #[arg(long, value_name = "HOST:PORT", value_parser = crate::config::parse_addr)]
    pub http: Option<SocketAddr>,
    /// With --http: never attest blocks
    #[arg(long)]
    pub no_attest: bool,
}

/// Runs the session until the server closes it.
///
/// # Errors
/// [`ToolError::Failed`]: the key file cannot be read, the server cannot be reached, or the
/// connection or stdout fails.
pub async fn run(args: ConnectArgs) -> Result<(), ToolError> {
    let key = read_key_file(&args.key)?;
    let stream = TcpStream::connect(args.addr)
        .await
        .map_err(|e| ToolError::Failed(format!("connecting to {}: {e}", args.addr)))?;
    let (mut reader, mut writer) = stream.into_split();
    let (line_tx, mut line_rx) = mpsc::channel::<Vec<u8>>(STDIN_QUEUE);
    std::thread::spawn(move || read_stdin(&line_tx));

    let mut login = Login::new(key);
    // Kept here so the verdict channel never closes (a closed one would wake the loop).
    let (verdict_tx, mut verdict_rx) = mpsc::channel(VERDICT_QUEUE);
    let mut attesting = args
        .http
        .filter(|_| !args.no_attest)
        .map(|http| Attesting::new(http, verdict_tx.clone()));
    let mut tap = LineTap::default();
    let mut buf = vec![0u8; 16 * 1024];
    let mut stdin_open = true;
    // Set once a write fails: the server is going away; its last lines are still read.
    let mut writable = true;
    loop {
        tokio::select! {
            read = reader.read(&mut buf) => {
                let n = read.map_err(|e| ToolError::Failed(format!("reading from {}: {e}", args.addr)))?;
                let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
                    return Ok(());
                };
                let mut out = std::io::stdout().lock();
                out.write_all(chunk)
                    .and_then(|()| out.flush())
                    .map_err(|e| ToolError::Failed(format!("writing stdout: {e}")))?;
                drop(out);
                for line in tap.feed(chunk) {
                    match login.on_server_line(&line) {
                        ServerLine::Other => {}
                        ServerLine::Answer(auth) => {
                            send_line(&mut writer, &mut writable, &auth).await;
                        }
                        ServerLine::Repeated => eprintln!(
                            "(the server repeated its challenge: the login failed; type watch, \
                             or quit and connect with another key)"
                        ),
                    }
                    if let (Some(a), Some(attesting)) = (parse_announcement(&line), &mut attesting) {
                        attesting.on_announcement(a, &login);
                    }
                }
            }
            Some((announced, outcome)) = verdict_rx.recv() => {
                let index = announced.index;
                match outcome {
                    Ok(()) => {
                        if let Some(line) = login.attest_line(&announced) {
                            send_line(&mut writer, &mut writable, &line).await;
                        }
                    }
                    Err(Skip::Unsupported(why)) => {
                        if let Some(a) = attesting.as_mut().filter(|a| !a.off) {
                            a.off = true;
                            eprintln!("not attesting: {why}");
                        }
                    }
                    Err(why) => eprintln!("not attesting block {index}: {why}"),
                }
            }
            typed = line_rx.recv(), if stdin_open => {
                let Some(mut line) = typed else {
                    stdin_open = false;
                    continue;
                };
                match parse_typed_line(&line) {
                    Typed::Forward => {
                        if !line.ends_with(b"\n") {
                            line.push(b'\n');
                        }
                        if writable && writer.write_all(&line).await.is_err() {
                            writable = false;
                        }
                    }
                    Typed::Send { to, amount } => {
                        match login.transfer_line(args.http, &to, amount).await {
                            Ok(transfer) => send_line(&mut writer, &mut writable, &transfer).await,
                            Err(why) => eprintln!("send: {why}"),
                        }
                    }
                    Typed::BadSend(why) => eprintln!("send: {why}"),
                }
            }
        }
    }
}

/// Writes one line the client made itself, and shows it on stderr.
async fn send_line(writer: &mut tokio::net::tcp::OwnedWriteHalf, writable: &mut bool, line: &str) {
    if !*writable {
        return;
    }
    eprintln!("> {line}");
    if writer
        .write_all(format!("{line}\n").as_bytes())
        .await
        .is_err()
    {
        *writable = false;
    }
}

fn read_stdin(line_tx: &mpsc::Sender<Vec<u8>>) {
    let mut stdin = std::io::stdin().lock();
    loop {
        let mut line = Vec::new();
        match stdin.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if line_tx.blocking_send(line).is_err() {
                    return;
                }
            }
        }
    }
}

/// The attestations of a session with `--http`: one check per announced block.
struct Attesting {
    http: SocketAddr,
    /// For the chain of the last login.
    source: Option<Arc<Source>>,
    permits: Arc<Semaphore>,
    /// Blocks already checked (or being checked).
    checked: Recent,
    /// The server takes no attestations.
    off: bool,
    verdict_tx: mpsc::Sender<(Announcement, Result<(), Skip>)>,
}

impl Attesting {
    fn new(
        http: SocketAddr,
        verdict_tx: mpsc::Sender<(Announcement, Result<(), Skip>)>,
    ) -> Attesting {
        Attesting {
            http,
            source: None,
            permits: Arc::new(Semaphore::new(MAX_CHECKS)),
            checked: Recent::default(),
            off: false,
            verdict_tx,
        }
    }

    /// Starts checking `announced`, once, when the session is logged in.
    fn on_announcement(&mut self, announced: Announcement, login: &Login) {
        let Some(chain_id) = login.chain_id() else {
            return;
        };
        if self.off || !self.checked.insert(announced.index) {
            return;
        }
        let source = match &self.source {
            Some(s) if s.chain_id() == chain_id => s.clone(),
            _ => {
                let s = Arc::new(Source::new(self.http, chain_id.to_owned()));
                self.source = Some(s.clone());
                s
            }
        };
        let permits = self.permits.clone();
        let verdict_tx = self.verdict_tx.clone();
        tokio::spawn(async move {
            let outcome = source.check_async(announced.clone(), permits).await;
            let _ = verdict_tx.send((announced, outcome)).await;
        });
    }
}

/// The login: answers each new challenge once, and remembers the chain id for transfers.
struct Login {
    key: SigningKey,
    address: String,
    /// The last challenge answered: the server repeats it after a failed login, and the same
    /// key would only fail again.
    answered: Option<Challenge>,
    /// The server welcomed the answer to the last challenge.
    welcomed: bool,
}

/// What a server line means to the login.
#[derive(Debug, PartialEq, Eq)]
enum ServerLine {
    Other,
    /// A new challenge: send this `auth` line.
    Answer(String),
    /// The challenge already answered, again.
    Repeated,
}

impl Login {
    fn new(key: SigningKey) -> Login {
        Login {
            address: tx::address_of(&key),
            key,
            answered: None,
            welcomed: false,
        }
    }

    fn on_server_line(&mut self, line: &str) -> ServerLine {
        let Some(challenge) = Challenge::from_server_line(line) else {
            if self.answered.is_some() && line.starts_with("welcome ") {
                self.welcomed = true;
            }
            return ServerLine::Other;
        };
        self.welcomed = false;
        if self.answered.as_ref() == Some(&challenge) {
            return ServerLine::Repeated;
        }
        let auth = challenge.auth_line(&self.key);
        self.answered = Some(challenge);
        ServerLine::Answer(auth)
    }

    /// The chain id of a logged-in session.
    fn chain_id(&self) -> Option<&str> {
        self.answered
            .as_ref()
            .filter(|_| self.welcomed)
            .map(|c| c.chain_id.as_str())
    }

    /// The `attest` line for a block whose check passed, while logged in.
    fn attest_line(&self, announced: &Announcement) -> Option<String> {
        let hash = announced.hash.as_deref()?;
        Some(attest_line(
            &self.key,
            self.chain_id()?,
            announced.index,
            hash,
        ))
    }

    /// The `transfer` line for a typed `send`, with the next nonce fetched over HTTP.
    async fn transfer_line(
        &self,
        http: Option<SocketAddr>,
        to: &str,
        amount: u64,
    ) -> Result<String, String> {
        let Some(http) = http else {
            return Err(
                "needs --http HOST:PORT (the server's HTTP_ADDR) to look up the nonce; \
                        or use pos-lottery transfer"
                    .into(),
            );
        };
        let Some(challenge) = &self.answered else {
            return Err("not logged in yet (no challenge from the server so far)".into());
        };
        if to == self.address {
            return Err("a transfer to itself moves nothing".into());
        }
        let address = self.address.clone();
        let nonce = tokio::task::spawn_blocking(move || fetch_next_nonce(http, &address))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let t = Transfer::sign(&self.key, &challenge.chain_id, to, amount, nonce);
        Ok(transfer_line(&t))
    }
}

/// `transfer <to> <amount> <nonce> <signature>`: a signed transfer as a session sends it.
pub fn transfer_line(t: &Transfer) -> String {
    format!("transfer {} {} {} {}", t.to, t.amount, t.nonce, t.signature)
}

/// A typed line, as the client treats it.
#[derive(Debug, PartialEq, Eq)]
enum Typed {
    /// Anything but `send`: goes to the server as typed.
    Forward,
    Send {
        to: String,
        amount: u64,
    },
    /// A `send` that does not parse; not sent.
    BadSend(String),
}

fn parse_typed_line(line: &[u8]) -> Typed {
    let text = String::from_utf8_lossy(line);
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some((&"send", rest)) = words.split_first() else {
        return Typed::Forward;
    };
    let usage = "type send <to address> <amount>";
    let [to, amount] = rest else {
        return Typed::BadSend(format!("{usage} (got {:?})", text.trim()));
    };
    if !is_address(to) {
        return Typed::BadSend(format!(
            "{to:?} is not an address (64 lowercase hex characters, an Ed25519 public key)"
        ));
    }
    match amount.parse::<u64>() {
        Ok(amount) if amount >= 1 => Typed::Send {
            to: (*to).to_owned(),
            amount,
        },
        _ => Typed::BadSend(format!(
            "the amount must be a whole number >= 1 (got {amount:?})"
        )),
    }
}

/// Splits the server's bytes into lines to look at, keeping at most [`MAX_INSPECTED_LINE`]
/// bytes of any line (a longer one is skipped: no challenge is that long).
#[derive(Debug, Default)]
struct LineTap {
    partial: Vec<u8>,
    overlong: bool,
}

impl LineTap {
    /// The lines `chunk` completes, without `\n` or `\r\n`.
    fn feed(&mut self, chunk: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for piece in chunk.split_inclusive(|b| *b == b'\n') {
            let body = piece.strip_suffix(b"\n");
            let complete = body.is_some();
            let body = body.unwrap_or(piece);
            if !self.overlong {
                if self.partial.len() + body.len() > MAX_INSPECTED_LINE {
                    self.overlong = true;
                    self.partial.clear();
                } else {
                    self.partial.extend_from_slice(body);
                }
            }
            if complete {
                if !self.overlong {
                    let line = self.partial.strip_suffix(b"\r").unwrap_or(&self.partial);
                    lines.push(String::from_utf8_lossy(line).into_owned());
                }
                self.partial.clear();
                self.overlong = false;
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b8e0c3ab4a5b1d8e4c0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6";
    const NONCE: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn the_tap_finds_lines_across_chunks_and_skips_long_ones() {
        let mut tap = LineTap::default();
        assert_eq!(tap.feed(b"hel"), Vec::<String>::new());
        assert_eq!(tap.feed(b"lo\r\nchall"), ["hello"]);
        let long = vec![b'['; MAX_INSPECTED_LINE + 1];
        assert_eq!(tap.feed(b"enge x\n"), ["challenge x"]);
        assert_eq!(tap.feed(&long), Vec::<String>::new());
        assert_eq!(tap.feed(b"]\nnext\n"), ["next"]);
    }

    #[test]
    fn each_challenge_is_answered_once() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let mut login = Login::new(key.clone());
        let line = format!("challenge {ID} {NONCE}");
        assert_eq!(login.on_server_line("Enter stake:"), ServerLine::Other);
        let ServerLine::Answer(auth) = login.on_server_line(&line) else {
            panic!("no answer");
        };
        let want = Challenge::parse(&line).unwrap().auth_line(&key);
        assert_eq!(auth, want);
        assert_eq!(login.on_server_line(&line), ServerLine::Repeated);
        let other = format!("challenge {ID} {}", "1".repeat(64));
        assert!(matches!(
            login.on_server_line(&other),
            ServerLine::Answer(_)
        ));
    }

    #[test]
    fn only_a_welcomed_login_attests() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let mut login = Login::new(key.clone());
        let hash = "ab".repeat(32);
        let announced = crate::client::protocol::Announcement {
            index: 4,
            winner: "x".into(),
            bpm: 70,
            stake: 1,
            total: 2,
            hash: Some(hash.clone()),
        };
        // Before any challenge, a welcome means nothing.
        login.on_server_line("welcome x: balance 1");
        assert_eq!(login.attest_line(&announced), None);
        login.on_server_line(&format!("challenge {ID} {NONCE}"));
        assert_eq!(login.attest_line(&announced), None);
        login.on_server_line(&format!(
            "welcome {}: balance 5, available 5, 0 wins, next nonce 1",
            login.address
        ));
        assert_eq!(
            login.attest_line(&announced),
            Some(attest_line(&key, ID, 4, &hash))
        );
        // A new challenge (a failed login, another session): not logged in until welcomed.
        login.on_server_line(&format!("challenge {ID} {}", "1".repeat(64)));
        assert_eq!(login.chain_id(), None);
        let mut no_hash = announced;
        no_hash.hash = None;
        login.on_server_line("welcome again");
        assert_eq!(login.chain_id(), Some(ID));
        assert_eq!(login.attest_line(&no_hash), None);
    }

    #[test]
    fn send_is_parsed_and_never_forwarded_when_bad() {
        let to = tx::address_of(&SigningKey::from_bytes(&[4; 32]));
        assert_eq!(parse_typed_line(b"100\n"), Typed::Forward);
        assert_eq!(parse_typed_line(b"sender\n"), Typed::Forward);
        assert_eq!(
            parse_typed_line(format!("send {to} 25\n").as_bytes()),
            Typed::Send {
                to: to.clone(),
                amount: 25
            }
        );
        for bad in [
            "send".to_owned(),
            format!("send {to}"),
            format!("send {to} 0"),
            format!("send {to} -3"),
            format!("send {to} 1 2"),
            "send nobody 5".to_owned(),
        ] {
            assert!(
                matches!(parse_typed_line(bad.as_bytes()), Typed::BadSend(_)),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_transfer_line_carries_the_signed_fields() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let to = tx::address_of(&SigningKey::from_bytes(&[6; 32]));
        let t = Transfer::sign(&key, ID, &to, 9, 4);
        assert_eq!(
            transfer_line(&t),
            format!("transfer {to} 9 4 {}", t.signature)
        );
        assert_eq!(t.check_alone(ID), Ok(()));
    }
}
