//! A write that fails, the way it does on a full disk: the server must stop with exit code 1
//! and never announce a block it could not make durable.
//!
//! Tests run as root, and root writes to a read-only file anyway, so the real binary runs
//! under `RLIMIT_FSIZE` instead, with `SIGXFSZ` ignored (an ignored signal stays ignored
//! across `exec`): a write past the limit then fails with `EFBIG` ("File too large") part-way
//! through a line, exactly where a full disk would stop it, instead of killing the process.
//! The limit applies to each file on its own, so whichever of `chain.jsonl` and
//! `draws.jsonl` grows faster fills first; the two tests pick stakes that make each one
//! fill first. The log goes to a pipe, which the limit does not cover.
#![cfg(target_os = "linux")]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::time::timeout;
use tokio_util::codec::{Framed, LinesCodec};

/// How long any one expected event may take.
const WAIT: Duration = Duration::from_secs(20);
/// Bytes each data file may grow to: the genesis block and several blocks fit.
const LIMIT: u64 = 4000;
const CHAIN: &str = "chain.jsonl";
const DRAWS: &str = "draws.jsonl";

/// Kills the child even when the test fails.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the server's stderr says: the port it logged, then, once it closes (the process
/// has ended), every line.
enum Log {
    Port(u16),
    Ended(Vec<String>),
}

fn command(dir: &Path) -> Command {
    common::binary(dir)
}

/// Starts the server with short rounds; with `fsize`, no file it writes may grow past that
/// many bytes.
fn spawn(dir: &Path, fsize: Option<u64>) -> (Server, UnboundedReceiver<Log>) {
    let mut c = command(dir);
    c.env("ROUND_SECS", "0.05")
        // A short reveal chain keeps seed-secret far below the file size limit.
        .env("SEED_CHAIN_LEN", "64")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(limit) = fsize {
        // SAFETY: runs in the forked child before exec, and calls only setrlimit and signal,
        // which are async-signal-safe; it allocates nothing and touches no lock.
        unsafe {
            c.pre_exec(move || {
                let rlimit = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::signal(libc::SIGXFSZ, libc::SIG_IGN) == libc::SIG_ERR {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = c.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = unbounded_channel();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("connect with nc 127.0.0.1 ").nth(1) {
                if let Some(Ok(port)) = rest.split_whitespace().next().map(str::parse) {
                    let _ = tx.send(Log::Port(port));
                }
            }
            lines.push(line);
        }
        let _ = tx.send(Log::Ended(lines));
    });
    (Server(child), rx)
}

async fn port(logs: &mut UnboundedReceiver<Log>) -> u16 {
    match timeout(WAIT, logs.recv()).await {
        Ok(Some(Log::Port(port))) => port,
        Ok(Some(Log::Ended(lines))) => panic!("the server ended at start-up: {lines:#?}"),
        _ => panic!("the server did not log its port"),
    }
}

/// The whole log, once the process has closed its stderr (it has ended); `None` if it is
/// still running after `WAIT`.
async fn ended(logs: &mut UnboundedReceiver<Log>) -> Option<Vec<String>> {
    let wait = async {
        while let Some(log) = logs.recv().await {
            if let Log::Ended(lines) = log {
                return lines;
            }
        }
        panic!("the stderr reader stopped without the log");
    };
    timeout(WAIT, wait).await.ok()
}

/// One `winning validator: ...` line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Announcement {
    index: u64,
    winner: String,
    hash: String,
}

fn parse_announcement(line: &str) -> Option<Announcement> {
    let rest = line.strip_prefix("winning validator: ")?;
    let (winner, rest) = rest.split_once(" (block ")?;
    let (index, rest) = rest.split_once(", ")?;
    let hash = rest.split_once(", hash ")?.1.strip_suffix(')')?;
    Some(Announcement {
        index: index.parse().ok()?,
        winner: winner.to_string(),
        hash: hash.to_string(),
    })
}

/// A validator that stakes and proposes every round until the connection ends, recording
/// every announcement it sees.
async fn bot(port: u16, stake: u64, seen: UnboundedSender<Announcement>) {
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    let mut lines = Framed::new(stream, LinesCodec::new_with_max_length(1 << 20));
    if lines.send(stake.to_string()).await.is_err() || lines.send("70").await.is_err() {
        return;
    }
    while let Some(Ok(line)) = lines.next().await {
        if line.starts_with("winning validator: ") {
            let a = parse_announcement(&line)
                .unwrap_or_else(|| panic!("unexpected announcement {line:?}"));
            let _ = seen.send(a);
            // The server may be gone already; the read below then ends the loop.
            let _ = lines.send("71").await;
        }
    }
}

/// A data file: its complete (newline-terminated) lines as JSON, and whatever follows the
/// last newline (a torn write).
fn read_lines(path: &Path) -> (Vec<Value>, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap_or_default();
    let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let lines = bytes[..end]
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    (lines, bytes[end..].to_vec())
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Runs bots with `stakes` against a server whose files may not grow past [`LIMIT`] bytes
/// until a write fails, checks everything the failure may and may not leave behind, then
/// restarts without the limit. Returns the file whose write failed.
async fn fill_the_disk(stakes: &[u64]) -> &'static str {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (mut server, mut logs) = spawn(dir, Some(LIMIT));
    let port = port(&mut logs).await;
    let (tx, mut rx) = unbounded_channel();
    let bots: Vec<_> = stakes
        .iter()
        .map(|&stake| tokio::spawn(bot(port, stake, tx.clone())))
        .collect();
    drop(tx);

    // It must stop on its own: a server that carried on after a failed write would go on
    // announcing blocks that are not on disk.
    let log = ended(&mut logs).await;
    if log.is_none() {
        let _ = server.0.kill();
    }
    let status = server.0.wait().unwrap();
    for b in bots {
        timeout(WAIT, b)
            .await
            .expect("a bot outlived the server")
            .unwrap();
    }
    let mut announced: BTreeMap<u64, Announcement> = BTreeMap::new();
    while let Some(a) = rx.recv().await {
        if let Some(seen) = announced.get(&a.index) {
            assert_eq!(seen, &a, "two bots were told different blocks {}", a.index);
        }
        announced.insert(a.index, a);
    }

    let (blocks, chain_tail) = read_lines(&dir.join(CHAIN));
    let (draws, draws_tail) = read_lines(&dir.join(DRAWS));
    for (i, block) in blocks.iter().enumerate() {
        assert_eq!(block["Index"], i as u64, "{CHAIN} line {}", i + 1);
    }
    let tip = blocks.len() as u64 - 1;
    // Announced means durable: every announcement names a complete line of chain.jsonl,
    // with the same winner and hash.
    for a in announced.values() {
        let block = blocks.get(a.index as usize).unwrap_or_else(|| {
            panic!(
                "block {} was announced but is not in {CHAIN} (which ends at block {tip})",
                a.index
            )
        });
        assert_eq!(block["Validator"], a.winner.as_str(), "block {}", a.index);
        assert_eq!(block["Hash"], a.hash.as_str(), "block {}", a.index);
    }
    let log = log.expect("the server kept running after a write failed");
    let log_text = log.join("\n");
    assert_eq!(status.code(), Some(1), "{log_text}");

    // Every block up to the last announced one was announced (bots join before any block
    // they could win); only the newest durable block may have gone unannounced, when the
    // shutdown overtook its announcement on its way to the bots.
    let last = *announced
        .keys()
        .next_back()
        .expect("no block was announced");
    assert_eq!(
        announced.keys().copied().collect::<Vec<_>>(),
        (1..=last).collect::<Vec<_>>(),
        "announced blocks"
    );
    assert!(
        last >= 3,
        "only {last} blocks fit: the limit should leave room for several"
    );
    assert!(
        tip <= last + 1,
        "{CHAIN} holds blocks up to {tip}, but only up to {last} were announced"
    );

    // The write that failed stopped exactly at the limit, as on a full disk, and only that
    // file can end in a torn line.
    let failed = if log_text.contains(&format!("{}: File too large", dir.join(CHAIN).display())) {
        CHAIN
    } else if log_text.contains(&format!("{}: File too large", dir.join(DRAWS).display())) {
        DRAWS
    } else {
        panic!("the log does not name the file that could not be written: {log_text}");
    };
    let last_line = log.last().unwrap();
    assert!(
        last_line.starts_with("error: cannot write the data directory: ")
            && last_line.contains(failed),
        "the last line says why it stopped: {last_line:?}"
    );
    assert_eq!(
        last_line.matches("File too large").count(),
        1,
        "the cause is said once: {last_line:?}"
    );
    assert_eq!(
        file_len(&dir.join(failed)),
        LIMIT,
        "{failed} stops at the limit"
    );
    let mut expected_warnings = Vec::new();
    if failed == CHAIN {
        // The draw line went in; the block was cut short.
        assert_eq!(
            draws.len() as u64,
            tip + 1,
            "{DRAWS}: a draw line for each block and one spare"
        );
        assert_eq!(draws.last().unwrap()["Index"], tip + 1);
        assert!(draws_tail.is_empty(), "{DRAWS} is not torn");
        if !chain_tail.is_empty() {
            expected_warnings.push(CHAIN);
        }
        expected_warnings.push(DRAWS);
    } else {
        assert_eq!(
            draws.len() as u64,
            tip,
            "{DRAWS}: a draw line for each block"
        );
        assert!(chain_tail.is_empty(), "{CHAIN} is not torn");
        if !draws_tail.is_empty() {
            expected_warnings.push(DRAWS);
        }
    }

    // The directory verifies, with a warning for each leftover that the next start cuts off.
    let out = command(dir).arg("verify").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "verify: {stdout}");
    assert!(
        stdout.contains(&format!("ok: {} blocks (height {tip})", tip + 1)),
        "verify: {stdout}"
    );
    let warnings: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), expected_warnings.len(), "verify: {stdout}");
    for (line, file) in warnings.iter().zip(&expected_warnings) {
        assert!(line.contains(file), "verify: {stdout}");
    }

    // Without the limit, the server repairs the leftovers and continues the chain.
    let (server, mut logs) = spawn(dir, None);
    let port = self::port(&mut logs).await;
    let (tx, mut rx) = unbounded_channel();
    let b = tokio::spawn(bot(port, 5, tx));
    let next = timeout(WAIT, rx.recv())
        .await
        .expect("no block after the restart")
        .unwrap();
    drop(server);
    b.abort();
    let log = ended(&mut logs).await.expect("the restarted server ended");
    assert_eq!(
        next.index,
        tip + 1,
        "the chain continues from its durable tip"
    );
    let (after, _) = read_lines(&dir.join(CHAIN));
    assert_eq!(
        after[..blocks.len()],
        blocks[..],
        "durable blocks stay as they were"
    );
    assert_eq!(
        after[next.index as usize]["PrevHash"],
        blocks[tip as usize]["Hash"]
    );
    assert_eq!(after[next.index as usize]["Hash"], next.hash.as_str());
    let truncations = log
        .iter()
        .filter(|l| l.contains("truncating at byte"))
        .count();
    assert_eq!(truncations, expected_warnings.len(), "{log:#?}");
    failed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_chain_file_stops_the_server_before_the_block_is_announced() {
    // Small stakes: a draw line is shorter than a block line, and the chain starts with the
    // genesis block, so chain.jsonl is always the bigger file and fills first.
    assert_eq!(fill_the_disk(&[10, 20, 30]).await, CHAIN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_draws_file_stops_the_server_before_the_block_is_written() {
    // Eight entrants with 20-digit stakes make each draw line about twice a block line, so
    // draws.jsonl overtakes chain.jsonl within a few blocks and fills first.
    let stakes: Vec<u64> = (0..8).map(|i| u64::MAX - i).collect();
    assert_eq!(fill_the_disk(&stakes).await, DRAWS);
}
