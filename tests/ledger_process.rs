//! Ledger mode on the real binary: SIGKILL with transfers in flight, restarts, tampered
//! transactions, and the GENESIS setting against the data directory's mode.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{address, genesis_json, key, write_genesis, Challenge};
use futures::{SinkExt, StreamExt};
use pos_lottery::tx::{Tx, TxRecord};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::time::timeout;
use tokio_util::codec::{Framed, LinesCodec};

const WAIT: Duration = Duration::from_secs(20);
const REWARD: u64 = 7;
/// Accounts 1 to 4, a million tokens each.
const FOUR: &[(u8, u64)] = &[
    (1, 1_000_000),
    (2, 1_000_000),
    (3, 1_000_000),
    (4, 1_000_000),
];

/// Kills the child even when the test fails.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Server {
    /// SIGKILL, and wait for the process to be gone.
    fn kill(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

/// The binary on `dir` with `BLOCK_REWARD=7`, in ledger mode when `genesis` is given.
fn command(dir: &Path, genesis: Option<&Path>) -> Command {
    let mut c = common::binary(dir);
    c.env("BLOCK_REWARD", REWARD.to_string());
    if let Some(g) = genesis {
        c.env("GENESIS", g);
    }
    c
}

/// Starts the server and returns it with the port it logged.
fn spawn(dir: &Path, genesis: Option<&Path>, round_secs: &str) -> (Server, u16) {
    let mut child = command(dir, genesis)
        .env("ROUND_SECS", round_secs)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        let mut seen = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("connect with nc 127.0.0.1 ").nth(1) {
                if let (Some(tx), Some(Ok(port))) =
                    (tx.take(), rest.split_whitespace().next().map(str::parse))
                {
                    let _ = tx.send(Ok(port));
                }
            }
            seen.push(line);
        }
        if let Some(tx) = tx {
            let _ = tx.send(Err(seen));
        }
    });
    match rx.recv_timeout(WAIT) {
        Ok(Ok(port)) => (Server(child), port),
        Ok(Err(log)) => panic!("the server ended at start-up: {log:#?}"),
        Err(_) => panic!("the server did not log its port"),
    }
}

fn run_to_end(mut c: Command) -> Output {
    c.stdin(Stdio::null()).output().unwrap()
}

fn verify(dir: &Path) -> Output {
    let mut c = command(dir, None);
    c.arg("verify");
    run_to_end(c)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn read_lines(path: &Path) -> Vec<String> {
    match std::fs::read_to_string(path) {
        Ok(t) => t.lines().map(str::to_string).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// The ids of the transfers in `transactions.jsonl` lines whose block is in `chain.jsonl`,
/// each with how many times it appears.
fn applied_transfers(dir: &Path) -> BTreeMap<String, usize> {
    let blocks = read_lines(&dir.join("chain.jsonl")).len() as u64;
    let mut ids = BTreeMap::new();
    for line in read_lines(&dir.join("transactions.jsonl")) {
        // A torn last line is a crash leftover the next start cuts off.
        let Ok(record) = serde_json::from_str::<TxRecord>(&line) else {
            continue;
        };
        if record.index >= blocks {
            continue;
        }
        for tx in &record.transactions {
            if let Tx::Transfer(_) = tx {
                *ids.entry(tx.id()).or_insert(0) += 1;
            }
        }
    }
    ids
}

/// The ids of the transfers in `pool.jsonl` (a torn last line skipped).
fn pooled_transfers(dir: &Path) -> HashSet<String> {
    read_lines(&dir.join("pool.jsonl"))
        .iter()
        .skip(1)
        .filter_map(|l| serde_json::from_str::<Tx>(l).ok())
        .filter(|tx| matches!(tx, Tx::Transfer(_)))
        .map(|tx| tx.id())
        .collect()
}

/// What the bots saw.
#[derive(Debug)]
enum Seen {
    Accepted(String),
    Refused(String),
    Block(u64, String),
}

/// Account `n`: logs in, stakes, proposes every round, and keeps four transfers of 1 token
/// to the next account in flight, reporting each answer and announcement.
async fn bot(port: u16, n: u8, seen: UnboundedSender<Seen>) {
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    let mut lines = Framed::new(stream, LinesCodec::new_with_max_length(1 << 20));
    let to = address(n % 4 + 1);
    let mut chain_id = String::new();
    let mut next_nonce = 0u64;
    let mut in_flight = 0;
    while let Some(Ok(line)) = lines.next().await {
        let mut send = Vec::new();
        if let Some(rest) = line.strip_prefix("challenge ") {
            let (chain, nonce) = rest.split_once(' ').unwrap();
            chain_id = chain.to_string();
            let ch = Challenge {
                line: line.clone(),
                chain_id: chain.into(),
                nonce: nonce.into(),
            };
            send.push(ch.auth_line(&key(n)));
        } else if line.starts_with("welcome ") {
            send.push("status".into());
        } else if line.starts_with("status: ") {
            next_nonce = common::number_after(&line, "next nonce ");
            send.push("10".into());
            send.push("70".into());
        } else if let Some(rest) = line.strip_prefix("transfer accepted: ") {
            let id = rest.split_whitespace().next().unwrap();
            let _ = seen.send(Seen::Accepted(id.to_string()));
            in_flight -= 1;
        } else if line.starts_with("transfer refused: ") {
            let _ = seen.send(Seen::Refused(line.clone()));
            return;
        } else if let Some(rest) = line.strip_prefix("winning validator: ") {
            let (winner, rest) = rest.split_once(" (block ").unwrap();
            let index = rest.split(',').next().unwrap().parse().unwrap();
            let _ = seen.send(Seen::Block(index, winner.to_string()));
            send.push("71".into());
        } else if line.starts_with("auth failed") || line.starts_with("stake ") {
            panic!("account {n}: {line}");
        }
        if next_nonce > 0 && in_flight == 0 {
            for _ in 0..4 {
                send.push(common::transfer_line(&key(n), &chain_id, &to, 1, next_nonce).0);
                next_nonce += 1;
                in_flight += 1;
            }
        }
        for l in send {
            if lines.send(l).await.is_err() {
                return;
            }
        }
    }
}

/// Collects what the bots see until `done` holds for (accepted, blocks) of this run.
async fn watch_until(
    rx: &mut UnboundedReceiver<Seen>,
    accepted: &mut Vec<String>,
    blocks: &mut Vec<(u64, String)>,
    done: impl Fn(&[String], &[(u64, String)]) -> bool,
) {
    while !done(accepted, blocks) {
        match timeout(WAIT, rx.recv()).await {
            Ok(Some(seen)) => record(seen, accepted, blocks),
            Ok(None) => panic!("every bot stopped"),
            Err(_) => panic!(
                "nothing more seen: {} accepted, {} blocks",
                accepted.len(),
                blocks.len()
            ),
        }
    }
}

fn record(seen: Seen, accepted: &mut Vec<String>, blocks: &mut Vec<(u64, String)>) {
    match seen {
        Seen::Accepted(id) => accepted.push(id),
        Seen::Block(index, winner) => blocks.push((index, winner)),
        Seen::Refused(line) => panic!("a bot's transfer was refused: {line}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_transfers_in_flight_loses_no_block_and_no_accepted_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let gdir = tempfile::tempdir().unwrap();
    let genesis = write_genesis(&gdir.path().join("genesis.json"), FOUR);
    let mut accepted: Vec<String> = Vec::new();
    let mut announced: Vec<(u64, String)> = Vec::new();
    for attempt in 0..4usize {
        let (mut server, port) = spawn(dir.path(), Some(&genesis), "0.05");
        let (tx, mut rx) = unbounded_channel();
        let bots: Vec<_> = (1..=4)
            .map(|n| tokio::spawn(bot(port, n, tx.clone())))
            .collect();
        drop(tx);
        let (mut this_accepted, mut this_blocks) = (Vec::new(), Vec::new());
        // The first block after a restart takes the whole pool the restart reloaded.
        watch_until(&mut rx, &mut this_accepted, &mut this_blocks, |_, b| {
            !b.is_empty()
        })
        .await;
        let applied = applied_transfers(dir.path());
        for id in &accepted {
            assert!(
                applied.contains_key(id),
                "run {attempt}: transfer {id}, accepted before the kill, is not in the first block after the restart"
            );
        }
        if attempt == 3 {
            drop(server);
            for b in bots {
                let _ = timeout(WAIT, b).await;
            }
            break;
        }
        // Kill at a different point each time, with transfers still being sent.
        let target = 12 + attempt * 17;
        watch_until(&mut rx, &mut this_accepted, &mut this_blocks, |a, b| {
            a.len() >= target && b.iter().map(|(i, _)| i).collect::<HashSet<_>>().len() >= 3
        })
        .await;
        server.kill();
        for b in bots {
            let _ = timeout(WAIT, b).await;
        }
        while let Ok(seen) = rx.try_recv() {
            record(seen, &mut this_accepted, &mut this_blocks);
        }
        let previous_height = announced.iter().map(|(i, _)| *i).max().unwrap_or(0);
        assert!(
            this_blocks.iter().all(|(i, _)| *i > previous_height),
            "the chain continues after a restart"
        );
        accepted.extend(this_accepted);
        announced.extend(this_blocks);

        // Before any restart: every accepted transfer is in a block or in the pool log.
        let applied = applied_transfers(dir.path());
        let pooled = pooled_transfers(dir.path());
        println!(
            "run {attempt}: killed after {} accepted transfers and {} blocks; {} applied, {} in the pool log",
            accepted.len(),
            announced.len(),
            applied.len(),
            pooled.len()
        );
        for id in &accepted {
            assert!(
                applied.contains_key(id) || pooled.contains(id),
                "run {attempt}: accepted transfer {id} is neither in transactions.jsonl nor in pool.jsonl"
            );
        }
        let out = verify(dir.path());
        assert!(
            out.status.success(),
            "verify failed after SIGKILL: {}",
            text(&out.stdout)
        );
        let chain: Vec<serde_json::Value> = read_lines(&dir.path().join("chain.jsonl"))
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        for (index, winner) in &announced {
            let block = chain
                .get(*index as usize)
                .unwrap_or_else(|| panic!("announced block {index} lost"));
            assert_eq!(block["Validator"], winner.as_str(), "block {index}");
        }
    }

    // No transfer applied twice, and the supply is the genesis plus a reward a block.
    let applied = applied_transfers(dir.path());
    assert!(applied.len() >= accepted.len());
    assert!(
        applied.values().all(|&n| n == 1),
        "a transfer applied twice"
    );
    let out = verify(dir.path());
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let blocks = read_lines(&dir.path().join("chain.jsonl")).len() as u64 - 1;
    assert!(
        stdout.contains(&format!(
            "ledger: 4 accounts hold a balance; supply {} = genesis 4000000 + rewards {} - burned 0; {} transfers replayed",
            4_000_000 + REWARD * blocks,
            REWARD * blocks,
            applied.len()
        )),
        "{stdout}"
    );
    // An independent replay (the README's Python) agrees.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/recompute_balances.py");
    match Command::new("python3").arg(script).arg(dir.path()).output() {
        Ok(out) => {
            assert!(out.status.success(), "{}", text(&out.stdout));
            println!("{}", text(&out.stdout).lines().last().unwrap_or_default());
        }
        Err(e) => println!("skipped the Python cross-check: python3 not runnable ({e})"),
    }
}

/// A ledger-mode directory made in-process: block 1 applies a transfer of 10 from account 1
/// to account 2, and a transfer of 5 is pending. Returns it with its genesis file.
async fn ledger_dir() -> (tempfile::TempDir, tempfile::TempDir, PathBuf) {
    let accounts = &[(1, 100), (2, 50)];
    let server = common::start_ledger(accounts, |c| c.block_reward = REWARD).await;
    let chain = server.connect().await.challenge().await.chain_id;
    let mut one = server.bonded(1, 40).await;
    for (amount, nonce) in [(10, 1), (5, 2)] {
        one.send(&common::transfer_line(&key(1), &chain, &address(2), amount, nonce).0)
            .await;
        assert!(one.line().await.starts_with("transfer accepted: "));
        one.expect("Enter a new BPM:").await;
        if nonce == 1 {
            server.make_block(&mut one, 70).await;
        }
    }
    drop(one);
    let dir = server.stop_keeping_dir().await;
    let gdir = tempfile::tempdir().unwrap();
    let genesis = write_genesis(&gdir.path().join("genesis.json"), accounts);
    (dir, gdir, genesis)
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Refused by `verify` and at start, both exit 1 naming `names`, with the files untouched.
fn assert_refused(dir: &Path, genesis: &Path, names: &[&str]) {
    let before: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.ends_with("lock"))
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    let out = verify(dir);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "verify: {stdout}");
    let start = run_to_end(command(dir, Some(genesis)));
    let stderr = text(&start.stderr);
    assert_eq!(start.status.code(), Some(1), "start: {stderr}");
    for name in names {
        assert!(
            stdout.contains(name),
            "verify does not name {name}: {stdout}"
        );
        assert!(
            stderr.contains(name),
            "start does not name {name}: {stderr}"
        );
    }
    for (path, bytes) in before {
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "{} changed",
            path.display()
        );
    }
}

#[tokio::test]
async fn a_tampered_transfer_is_refused_by_verify_and_at_start() {
    let (dir, _gdir, genesis) = ledger_dir().await;
    let out = verify(dir.path());
    assert!(out.status.success(), "{}", text(&out.stdout));
    // It starts, too.
    drop(spawn(dir.path(), Some(&genesis), "30"));

    let original = std::fs::read_to_string(dir.path().join("transactions.jsonl")).unwrap();
    let record: TxRecord = serde_json::from_str(original.lines().next().unwrap()).unwrap();
    let Tx::Transfer(t) = &record.transactions[0] else {
        panic!("{record:?}")
    };
    let signature = t.signature.clone();
    let flipped = {
        let mut s = signature.clone().into_bytes();
        s[10] = if s[10] == b'0' { b'1' } else { b'0' };
        String::from_utf8(s).unwrap()
    };
    for (what, from, to) in [
        ("amount", "\"Amount\":10,", "\"Amount\":11,".to_string()),
        ("amount", "\"Amount\":10,", "\"Amount\":1,".to_string()),
        ("signature", signature.as_str(), flipped),
    ] {
        assert!(original.contains(from), "{what}: {original}");
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        std::fs::write(
            copy.path().join("transactions.jsonl"),
            original.replacen(from, &to, 1),
        )
        .unwrap();
        assert_refused(copy.path(), &genesis, &["transactions.jsonl, block 1"]);
    }

    // A pending transfer edited in the pool log is refused at start too.
    let pool = std::fs::read_to_string(dir.path().join("pool.jsonl")).unwrap();
    assert!(pool.contains("\"Amount\":5,"), "{pool}");
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    std::fs::write(
        copy.path().join("pool.jsonl"),
        pool.replacen("\"Amount\":5,", "\"Amount\":50,", 1),
    )
    .unwrap();
    let start = run_to_end(command(copy.path(), Some(&genesis)));
    let stderr = text(&start.stderr);
    assert_eq!(start.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("pending entry 1"), "{stderr}");

    // And so is an edited genesis copy.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    std::fs::write(
        copy.path().join("genesis.json"),
        genesis_json(&[(1, 1000), (2, 50)]),
    )
    .unwrap();
    let out = verify(copy.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("genesis.json"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn genesis_must_match_the_directory_mode_and_chain() {
    let gdir = tempfile::tempdir().unwrap();
    let genesis = write_genesis(&gdir.path().join("genesis.json"), &[(1, 100), (2, 50)]);
    let other = write_genesis(&gdir.path().join("other.json"), &[(1, 100), (3, 50)]);

    // A tutorial-mode directory refuses GENESIS.
    let tutorial = tempfile::tempdir().unwrap();
    drop(spawn(tutorial.path(), None, "30"));
    let before = std::fs::read(tutorial.path().join("chain.jsonl")).unwrap();
    let out = run_to_end(command(tutorial.path(), Some(&genesis)));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("tutorial-mode chain"), "{stderr}");
    assert!(!tutorial.path().join("genesis.json").exists());
    assert_eq!(
        std::fs::read(tutorial.path().join("chain.jsonl")).unwrap(),
        before
    );

    // A ledger-mode directory refuses to start without GENESIS, or with another genesis.
    let ledger = tempfile::tempdir().unwrap();
    drop(spawn(ledger.path(), Some(&genesis), "30"));
    let before = std::fs::read(ledger.path().join("chain.jsonl")).unwrap();
    for (what, g) in [("none", None), ("another", Some(other.as_path()))] {
        let out = run_to_end(command(ledger.path(), g));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{what}: {stderr}");
        assert!(
            stderr.contains("GENESIS") || stderr.contains("genesis"),
            "{stderr}"
        );
    }
    assert_eq!(
        std::fs::read(ledger.path().join("chain.jsonl")).unwrap(),
        before
    );
    // The same allocation in another file, written differently, is the same genesis.
    let same = gdir.path().join("same.json");
    std::fs::write(
        &same,
        format!(
            "{{ \"accounts\" : {{ \"{}\" : 50, \"{}\" : 100 }} }}",
            address(2),
            address(1)
        ),
    )
    .unwrap();
    drop(spawn(ledger.path(), Some(&same), "30"));
    let out = verify(ledger.path());
    assert!(out.status.success(), "{}", text(&out.stdout));
}

#[test]
fn genesis_file_errors_exit_2_naming_the_entry() {
    let gdir = tempfile::tempdir().unwrap();
    let a = address(1);
    let b = address(2);
    let weak = format!("01{}", "00".repeat(31));
    let cases: Vec<(&str, String, String)> = vec![
        (
            "duplicate",
            format!("{{\"accounts\": {{\"{a}\": 5, \"{b}\": 6, \"{a}\": 7}}}}"),
            format!("account \"{a}\" appears twice"),
        ),
        (
            "upper case",
            format!("{{\"accounts\": {{\"{}\": 5}}}}", a.to_uppercase()),
            format!("account \"{}\" is not an address", a.to_uppercase()),
        ),
        (
            "short",
            "{\"accounts\": {\"abc\": 5}}".to_string(),
            "account \"abc\" is not an address".to_string(),
        ),
        (
            "weak key",
            format!("{{\"accounts\": {{\"{weak}\": 5}}}}"),
            format!("account \"{weak}\" is not an address"),
        ),
        (
            "zero",
            format!("{{\"accounts\": {{\"{a}\": 5, \"{b}\": 0}}}}"),
            format!("account {b} has balance 0"),
        ),
        (
            "unknown field",
            format!("{{\"accounts\": {{\"{a}\": 5}}, \"extra\": 1}}"),
            "unknown field `extra`".to_string(),
        ),
        (
            "negative",
            format!("{{\"accounts\": {{\"{a}\": -5}}}}"),
            "not a genesis file".to_string(),
        ),
        (
            "empty",
            "{\"accounts\": {}}".to_string(),
            "no accounts".to_string(),
        ),
        (
            "over 2^64 - 1",
            format!("{{\"accounts\": {{\"{a}\": 18446744073709551615, \"{b}\": 1}}}}"),
            "add up to more than 18446744073709551615".to_string(),
        ),
    ];
    for (what, body, expected) in cases {
        let path = gdir.path().join(format!("{}.json", what.replace(' ', "-")));
        std::fs::write(&path, body).unwrap();
        let data = tempfile::tempdir().unwrap();
        let out = run_to_end(command(data.path(), Some(&path)));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{what}: {stderr}");
        assert!(stderr.contains("GENESIS"), "{what}: {stderr}");
        assert!(
            stderr.contains(&path.display().to_string()),
            "{what}: {stderr}"
        );
        assert!(stderr.contains(&expected), "{what}: {stderr}");
        assert_eq!(
            std::fs::read_dir(data.path()).unwrap().count(),
            0,
            "{what}: nothing is created"
        );
    }
    let missing = gdir.path().join("missing.json");
    let data = tempfile::tempdir().unwrap();
    let out = run_to_end(command(data.path(), Some(&missing)));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no such file"), "{stderr}");
}

/// A write that fails at start-up, as on a full disk (`RLIMIT_FSIZE`, as in
/// tests/disk_full.rs), while the pool log is rewritten: the start fails, and the pending
/// transfer it had acknowledged is still there for the next start.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_failed_write_at_start_up_keeps_the_pending_pool() {
    use std::os::unix::process::CommandExt;

    let (dir, _gdir, genesis) = ledger_dir().await;
    let pending = pooled_transfers(dir.path());
    assert_eq!(pending.len(), 1);
    let pool_bytes = std::fs::read(dir.path().join("pool.jsonl")).unwrap();
    // The header fits under the limit, the pending entry does not.
    let limit: u64 = 64;
    assert!(pool_bytes.len() as u64 > limit);
    let mut c = command(dir.path(), Some(&genesis));
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
    let out = run_to_end(c);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("pool.jsonl"), "{stderr}");
    assert_eq!(
        pooled_transfers(dir.path()),
        pending,
        "the acknowledged transfer is gone from the pool log"
    );
    // The next start finds it pending: 100 - 10 + 7, with 5 still pending out.
    let (server, port) = spawn(dir.path(), Some(&genesis), "30");
    let mut c = common::Client::connect(([127, 0, 0, 1], port).into()).await;
    let ch = c.challenge().await;
    c.send(&ch.auth_line(&key(1))).await;
    let welcome = c.line().await;
    assert!(
        welcome.starts_with(&format!(
            "welcome {}: balance 97, available 92,",
            address(1)
        )),
        "{welcome}"
    );
    drop(server);
}
