//! Signed transfers against a real server: how many `POST /api/transactions` it accepts a
//! second.
//!
//! ```text
//! cargo build --release && cargo run --release --example transfers_load -- \
//!     [--transfers 60000] [--accounts 600] [--connections 48] [--server target/release/pos-lottery]
//! ```
//!
//! It makes `--accounts` keys and a genesis file that funds them, starts the server binary in
//! ledger mode on a fresh data directory in a temporary folder (loopback, free ports), and
//! signs `--transfers` transfers before the clock starts: each account sends to the next one,
//! with nonces 1, 2, 3... Each account belongs to one of `--connections` keep-alive
//! connections, which sends its transfers one request at a time, so every nonce arrives in
//! order. Every transfer is acknowledged only after the server's shared fsync of
//! `pool.jsonl` (group commit), so the connections are what keeps the disk busy.
//!
//! It prints the accepted transfers a second (first request to last answer), the answers by
//! status, and the latency percentiles, then checks `/api/stats` counts every accepted one
//! as pending. No validator joins, so no block takes the pool: it grows for the whole run.
//!
//! `--http HOST:PORT` aims at a server already running instead, started with the genesis
//! file that `--write-genesis FILE` writes (same `--accounts`) and a fresh data directory.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use pos_lottery::tx::{address_of, Transfer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Every account's genesis balance: enough for any run.
const BALANCE: u64 = 1_000_000_000_000;
const START_TIMEOUT: Duration = Duration::from_secs(60);

struct Args {
    transfers: usize,
    accounts: usize,
    connections: usize,
    server: Option<PathBuf>,
    http: Option<SocketAddr>,
    write_genesis: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("pos-lottery")));
    let mut args = Args {
        transfers: 60_000,
        accounts: 600,
        connections: 48,
        server: exe_dir,
        http: None,
        write_genesis: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| {
            v.parse::<usize>().ok().filter(|&n| n > 0).ok_or(format!(
                "{flag}: expected a whole number above 0, got {v:?}"
            ))
        };
        match flag.as_str() {
            "--transfers" => args.transfers = number(value()?)?,
            "--accounts" => args.accounts = number(value()?)?,
            "--connections" => args.connections = number(value()?)?,
            "--server" => args.server = Some(value()?.into()),
            "--http" => {
                let v = value()?;
                args.http = Some(
                    v.parse()
                        .map_err(|_| format!("--http: not HOST:PORT: {v:?}"))?,
                );
            }
            "--write-genesis" => args.write_genesis = Some(value()?.into()),
            other => {
                return Err(format!(
                    "unknown flag {other:?}; see the top of examples/transfers_load.rs"
                ))
            }
        }
    }
    if args.accounts < 2 {
        return Err("--accounts: at least 2 (each sends to the next)".into());
    }
    Ok(args)
}

/// The `i`th account's key: fixed, so a genesis file written earlier matches.
fn key(i: usize) -> SigningKey {
    let mut seed = [0x5au8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    SigningKey::from_bytes(&seed)
}

fn genesis_json(keys: &[SigningKey]) -> String {
    let accounts: serde_json::Map<String, serde_json::Value> = keys
        .iter()
        .map(|k| (address_of(k), BALANCE.into()))
        .collect();
    serde_json::json!({ "accounts": accounts }).to_string()
}

/// The server binary on a fresh directory, killed when dropped.
struct Server {
    child: Child,
    http: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(exe: &PathBuf, keys: &[SigningKey]) -> Result<Server, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let genesis = dir.path().join("genesis.json");
    std::fs::write(&genesis, genesis_json(keys)).map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .env_clear()
        .env("DATA_DIR", dir.path().join("data"))
        .env("GENESIS", &genesis)
        .env("ADDR", "127.0.0.1:0")
        .env("HTTP_ADDR", "127.0.0.1:0")
        .env("BROADCAST_SECS", "0")
        .env("SEED_CHAIN_LEN", "1024")
        .env("RUST_LOG", "info")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!(
                "starting {}: {e} (cargo build --release first)",
                exe.display()
            )
        })?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let (tx, rx) = mpsc::channel();
    // Reads the log to its end, so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("dashboard on http://").nth(1) {
                let _ = tx.send(rest.trim_end_matches('/').to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(START_TIMEOUT)
        .map_err(|_| "the server logged no dashboard address".to_string())?;
    let http = addr
        .parse()
        .map_err(|_| format!("unexpected dashboard address {addr:?}"))?;
    Ok(Server {
        child,
        http,
        _dir: dir,
    })
}

/// One answer on a keep-alive connection: its status and body.
async fn read_answer(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<(u16, Vec<u8>)> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let status = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                let body = buf[end + 4..end + 4 + length].to_vec();
                buf.drain(..end + 4 + length);
                return Ok((status, body));
            }
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn get_json(http: SocketAddr, path: &str) -> Result<serde_json::Value, String> {
    let mut s = TcpStream::connect(http).await.map_err(|e| e.to_string())?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {http}\r\n\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let (status, body) = read_answer(&mut s, &mut Vec::new())
        .await
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!(
            "GET {path}: {status} {}",
            String::from_utf8_lossy(&body)
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("GET {path}: {e}"))
}

/// One connection's run: its answers' statuses, the first refusal, and each latency.
struct Outcome {
    statuses: Vec<u16>,
    first_refusal: Option<String>,
    latencies: Vec<Duration>,
}

async fn drive(http: SocketAddr, requests: Vec<Vec<u8>>) -> std::io::Result<Outcome> {
    let mut s = TcpStream::connect(http).await?;
    s.set_nodelay(true)?;
    let mut buf = Vec::new();
    let mut out = Outcome {
        statuses: Vec::with_capacity(requests.len()),
        first_refusal: None,
        latencies: Vec::with_capacity(requests.len()),
    };
    for req in requests {
        let sent = Instant::now();
        s.write_all(&req).await?;
        let (status, body) = read_answer(&mut s, &mut buf).await?;
        out.latencies.push(sent.elapsed());
        if status != 202 && out.first_refusal.is_none() {
            out.first_refusal = Some(format!("{status} {}", String::from_utf8_lossy(&body)));
        }
        out.statuses.push(status);
    }
    Ok(out)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let keys: Vec<SigningKey> = (0..args.accounts).map(key).collect();
    if let Some(path) = &args.write_genesis {
        std::fs::write(path, genesis_json(&keys)).map_err(|e| e.to_string())?;
        println!("wrote {} ({} accounts)", path.display(), keys.len());
        return Ok(());
    }
    let server = match args.http {
        Some(_) => None,
        None => {
            let exe = args.server.clone().ok_or("--server PATH is needed")?;
            Some(start_server(&exe, &keys)?)
        }
    };
    let http = args
        .http
        .or(server.as_ref().map(|s| s.http))
        .ok_or("no server")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let chain_id = rt.block_on(get_json(http, "/info"))?["chain_id"]
        .as_str()
        .ok_or("/info has no chain_id: is the server in ledger mode?")?
        .to_string();

    // Sign everything first, on every core: the clock measures the server only.
    let per_account = args.transfers.div_ceil(args.accounts);
    let signing = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let addresses: Vec<String> = keys.iter().map(address_of).collect();
    let signed: Vec<Vec<Vec<u8>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (keys, addresses, chain_id) = (&keys, &addresses, &chain_id);
                scope.spawn(move || {
                    (t..keys.len())
                        .step_by(threads)
                        .map(|i| {
                            let to = &addresses[(i + 1) % keys.len()];
                            (1..=per_account as u64)
                                .map(|nonce| {
                                    let t = Transfer::sign(&keys[i], chain_id, to, 1, nonce);
                                    let body = serde_json::to_string(&t).unwrap_or_default();
                                    format!(
                                        "POST /api/transactions HTTP/1.1\r\nHost: {http}\r\n\
                                         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                                        body.len()
                                    )
                                    .into_bytes()
                                })
                                .collect::<Vec<_>>()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut by_thread: Vec<std::vec::IntoIter<Vec<Vec<u8>>>> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default().into_iter())
            .collect();
        // Back in account order: account i came from thread i % threads.
        (0..keys.len())
            .filter_map(|i| by_thread[i % threads].next())
            .collect()
    });
    let total = signed.iter().map(Vec::len).sum::<usize>();
    eprintln!(
        "signed {total} transfers from {} accounts in {:.1?}",
        keys.len(),
        signing.elapsed()
    );

    // Each account belongs to one connection, which sends its transfers in nonce order,
    // taking its accounts in turn.
    let connections = args.connections.min(keys.len());
    let mut plans: Vec<Vec<Vec<u8>>> = vec![Vec::new(); connections];
    let mut per_conn: Vec<Vec<std::vec::IntoIter<Vec<u8>>>> = vec![Vec::new(); connections];
    for (i, reqs) in signed.into_iter().enumerate() {
        per_conn[i % connections].push(reqs.into_iter());
    }
    for (plan, mut accounts) in plans.iter_mut().zip(per_conn) {
        loop {
            let before = plan.len();
            for a in accounts.iter_mut() {
                plan.extend(a.next());
            }
            if plan.len() == before {
                break;
            }
        }
    }

    let (elapsed, outcomes) = rt.block_on(async {
        let started = Instant::now();
        let tasks: Vec<_> = plans
            .into_iter()
            .map(|plan| tokio::spawn(drive(http, plan)))
            .collect();
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await);
        }
        (started.elapsed(), outcomes)
    });
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let mut latencies = Vec::new();
    let mut refusal = None;
    for o in outcomes {
        let o = o
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("a connection failed: {e}"))?;
        for s in o.statuses {
            *statuses.entry(s).or_default() += 1;
        }
        latencies.extend(o.latencies);
        refusal = refusal.or(o.first_refusal);
    }
    latencies.sort();
    let accepted = statuses.get(&202).copied().unwrap_or(0);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{accepted} of {total} transfers accepted in {:.2} s over {connections} connections: {:.0} accepted/s",
        elapsed.as_secs_f64(),
        accepted as f64 / elapsed.as_secs_f64()
    );
    println!(
        "answers by status: {statuses:?}; latency p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    if let Some(r) = refusal {
        println!("first refusal: {r}");
    }
    let stats = rt.block_on(get_json(http, "/api/stats"))?;
    println!(
        "/api/stats: pending_transfers {}, supply {}",
        stats["pending_transfers"], stats["supply"]
    );
    if stats["pending_transfers"].as_u64() != Some(accepted as u64) {
        return Err("the server does not count every accepted transfer as pending".into());
    }
    drop(server);
    Ok(())
}
