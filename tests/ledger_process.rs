//! Ledger mode on the real binary: SIGKILL with transfers or attestations in flight,
//! restarts, tampered transactions, and the GENESIS setting against the data directory's mode.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{address, genesis_json, key, write_genesis, Challenge};
use futures::{SinkExt, StreamExt};
use pos_lottery::epoch::Snapshot;
use pos_lottery::tx::{sign_attest, Attestation, Tx, TxRecord};
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
    let (server, port, _) = spawn_with(dir, genesis, round_secs, &[]);
    (server, port)
}

/// [`spawn`] with `env` set too; when `env` turns HTTP on (`HTTP_ADDR`), also returns the
/// HTTP address the server logged.
fn spawn_with(
    dir: &Path,
    genesis: Option<&Path>,
    round_secs: &str,
    env: &[(&str, &str)],
) -> (Server, u16, Option<SocketAddr>) {
    let http_on = env
        .iter()
        .any(|(k, v)| *k == "HTTP_ADDR" && !v.eq_ignore_ascii_case("off"));
    let mut child = command(dir, genesis)
        .env("ROUND_SECS", round_secs)
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        let mut seen = Vec::new();
        let (mut port, mut http) = (None, None);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("connect with nc 127.0.0.1 ").nth(1) {
                port = rest.split_whitespace().next().and_then(|p| p.parse().ok());
            }
            if let Some(rest) = line.split("dashboard on http://").nth(1) {
                http = rest.split('/').next().and_then(|a| a.parse().ok());
            }
            if let (Some(p), true) = (port, http.is_some() || !http_on) {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(Ok((p, http)));
                }
            }
            seen.push(line);
        }
        if let Some(tx) = tx {
            let _ = tx.send(Err(seen));
        }
    });
    match rx.recv_timeout(WAIT) {
        Ok(Ok((port, http))) => (Server(child), port, http),
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

// SIGKILL with attestations in flight.

/// The attestation test's bonds of accounts 1 to 4: a snapshot of all four holds 1000, and a
/// block is final once its attesters hold more than 750 of it.
const BONDS: [u64; 4] = [400, 300, 200, 100];
/// Run `r` is killed right after the `KILL_AFTER[r]`-th attestation accepted in it, once it
/// has seen a block announced final; the run after the last kill ends (killed too) after 3
/// blocks, the first of them carrying the pool the restart reloaded.
const KILL_AFTER: [usize; 3] = [6, 11, 17];
/// Two-round epochs: snapshots are taken, and attestation windows close, while it runs.
const EPOCHS: (&str, &str) = ("EPOCH_ROUNDS", "2");
/// The refusals an attester may meet in a run: a block of the bootstrap epoch, an epoch whose
/// snapshot it missed (it bonded after the epoch opened), a window that closed first.
const EXPECTED_REFUSALS: &[&str] = &[
    "whose blocks cannot be attested",
    "stake snapshot, which block",
    "attestation window closed",
];

/// What an attesting account heard.
#[derive(Debug)]
enum Heard {
    /// `winning validator: ... (block k, ..., hash h)`.
    Block(u64, String),
    /// Account n's attestation of block k was answered `attest accepted`.
    Accepted(u8, u64),
    Refused(u8, String),
    /// Account n's connection was told `block k final`.
    Final(u8, u64),
    Unexpected(u8, String),
}

/// The hash in a `winning validator:` line.
fn hash_in(line: &str) -> String {
    line.split("hash ")
        .nth(1)
        .and_then(|h| h.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no hash in {line:?}"))
        .to_string()
}

/// Account `n`: logs in, bonds its part of [`BONDS`], proposes every round, and attests each
/// block the moment it is told of it, reporting what it hears.
async fn attester(port: u16, n: u8, heard: UnboundedSender<Heard>) {
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    let mut lines = Framed::new(stream, LinesCodec::new_with_max_length(1 << 20));
    let mut chain_id = String::new();
    while let Some(Ok(line)) = lines.next().await {
        let mut send = Vec::new();
        let report = if let Some(rest) = line.strip_prefix("challenge ") {
            let (chain, nonce) = rest.split_once(' ').unwrap();
            chain_id = chain.to_string();
            let ch = Challenge {
                line: line.clone(),
                chain_id: chain.into(),
                nonce: nonce.into(),
            };
            send.push(ch.auth_line(&key(n)));
            None
        } else if line.starts_with("welcome ") {
            send.push(BONDS[usize::from(n) - 1].to_string());
            send.push("70".into());
            None
        } else if line.starts_with("winning validator: ") {
            let k = common::number_after(&line, "(block ");
            let hash = hash_in(&line);
            send.push("71".into());
            let signature = sign_attest(&key(n), &chain_id, k, &hash);
            send.push(format!("attest {k} {hash} {signature}"));
            Some(Heard::Block(k, hash))
        } else if line.starts_with("attest accepted: ") {
            Some(Heard::Accepted(n, common::number_after(&line, "block ")))
        } else if line.starts_with("attest refused: ") {
            Some(Heard::Refused(n, line))
        } else if line.starts_with("block ") && line.contains(" final: ") {
            Some(Heard::Final(n, common::number_after(&line, "block ")))
        } else if line.starts_with("auth failed") || line.starts_with("stake ") {
            Some(Heard::Unexpected(n, line))
        } else {
            None
        };
        if let Some(r) = report {
            let _ = heard.send(r);
        }
        for l in send {
            if lines.send(l).await.is_err() {
                return;
            }
        }
    }
}

/// What the attesters of one run heard.
#[derive(Debug)]
struct Attested {
    /// A run hears all it waits for by then, however busy the machine.
    deadline: tokio::time::Instant,
    /// Blocks announced, with their hashes.
    blocks: BTreeMap<u64, String>,
    /// (block, account) of each `attest accepted`, in the order they were heard.
    accepted: Vec<(u64, u8)>,
    /// Blocks announced final.
    finals: BTreeSet<u64>,
    /// (account, block) of each `block k final` line: a connection is told once.
    told: HashSet<(u8, u64)>,
    refused: usize,
}

impl Attested {
    fn new() -> Attested {
        Attested {
            deadline: tokio::time::Instant::now() + 4 * WAIT,
            blocks: BTreeMap::new(),
            accepted: Vec::new(),
            finals: BTreeSet::new(),
            told: HashSet::new(),
            refused: 0,
        }
    }

    fn record(&mut self, heard: Heard) {
        match heard {
            Heard::Block(k, hash) => {
                if let Some(other) = self.blocks.insert(k, hash.clone()) {
                    assert_eq!(other, hash, "block {k} announced with two hashes");
                }
            }
            Heard::Accepted(n, k) => self.accepted.push((k, n)),
            Heard::Final(n, k) => {
                assert!(
                    self.told.insert((n, k)),
                    "account {n}'s connection was told block {k} final twice"
                );
                self.finals.insert(k);
            }
            Heard::Refused(n, line) => {
                assert!(
                    EXPECTED_REFUSALS.iter().any(|r| line.contains(r)),
                    "account {n}: {line}"
                );
                self.refused += 1;
            }
            Heard::Unexpected(n, line) => panic!("account {n}: {line}"),
        }
    }

    /// The next thing heard, recorded; whether it was an `attest accepted`. Panics when
    /// nothing comes within [`WAIT`], or past the run's deadline.
    async fn hear(&mut self, rx: &mut UnboundedReceiver<Heard>) -> bool {
        assert!(
            tokio::time::Instant::now() < self.deadline,
            "the run did not get there in {:?}: blocks {:?}, {} accepted, final {:?}",
            4 * WAIT,
            self.blocks.keys().collect::<Vec<_>>(),
            self.accepted.len(),
            self.finals
        );
        match timeout(WAIT, rx.recv()).await {
            Ok(Some(heard)) => {
                let accepted = matches!(heard, Heard::Accepted(..));
                self.record(heard);
                accepted
            }
            Ok(None) => panic!("every attester stopped"),
            Err(_) => panic!(
                "nothing heard for {WAIT:?}: blocks {:?}, {} accepted, final {:?}",
                self.blocks.keys().collect::<Vec<_>>(),
                self.accepted.len(),
                self.finals
            ),
        }
    }
}

/// The blocks of `chain.jsonl`, a torn last line left out.
fn chain_blocks(dir: &Path) -> Vec<serde_json::Value> {
    read_lines(&dir.join("chain.jsonl"))
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The attestations carried by the blocks of `chain.jsonl`, in the order they were carried.
fn carried_attestations(dir: &Path) -> Vec<Attestation> {
    let blocks = chain_blocks(dir).len() as u64;
    read_lines(&dir.join("transactions.jsonl"))
        .iter()
        .filter_map(|l| serde_json::from_str::<TxRecord>(l).ok())
        .filter(|r| r.index < blocks)
        .flat_map(|r| r.transactions)
        .filter_map(|tx| match tx {
            Tx::Attest(a) => Some(a),
            _ => None,
        })
        .collect()
}

/// (block, address) of the attestations in `pool.jsonl` (a torn last line skipped).
fn pooled_attestations(dir: &Path) -> HashSet<(u64, String)> {
    read_lines(&dir.join("pool.jsonl"))
        .iter()
        .skip(1)
        .filter_map(|l| match serde_json::from_str::<Tx>(l) {
            Ok(Tx::Attest(a)) => Some((a.index, a.address)),
            _ => None,
        })
        .collect()
}

/// `snapshots.jsonl`, checked to hold epochs 1, 2, 3, ... once each, one after the other.
fn snapshots(dir: &Path) -> Vec<Snapshot> {
    let snapshots: Vec<Snapshot> = read_lines(&dir.join("snapshots.jsonl"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (i, s) in snapshots.iter().enumerate() {
        assert_eq!(s.epoch, i as u64 + 1, "snapshots.jsonl: {snapshots:?}");
        if i > 0 {
            assert_eq!(
                s.first_round,
                snapshots[i - 1].next_first_round(),
                "snapshots.jsonl: {snapshots:?}"
            );
        }
    }
    snapshots
}

/// The next answer on `c`: prompts and announcements skipped.
async fn answer(c: &mut common::Client) -> String {
    loop {
        let line = c.line().await;
        let announcement = line.starts_with("winning validator: ")
            || line.starts_with("block ") && line.contains(" final: ");
        if !announcement && !line.starts_with("Enter ") {
            return line;
        }
    }
}

/// After a kill: starts the server on `dir` again, with rounds too long for one to close
/// while it checks, and HTTP on. The epoch in force when it was killed goes on with its
/// snapshot (`snapshots.jsonl` as it was, or one copy added at an epoch boundary);
/// every attestation in `accepted` is still counted (sent again, it is `already attested`,
/// or, its window closed, it is in a block); every block in `finals` is final. Returns how
/// many were `already attested`, and what became of the epoch.
async fn check_restart(
    dir: &Path,
    genesis: &Path,
    accepted: &[(u64, u8)],
    finals: &BTreeSet<u64>,
) -> (usize, String) {
    let snapshot_bytes = std::fs::read(dir.join("snapshots.jsonl")).unwrap();
    let before = snapshots(dir);
    let last = before.last().expect("no snapshot before the kill").clone();
    let chain = chain_blocks(dir);
    let tip_round = chain.last().unwrap()["Round"].as_u64().unwrap();
    let carried: HashSet<(u64, String)> = carried_attestations(dir)
        .into_iter()
        .map(|a| (a.index, a.address))
        .collect();

    let (server, port, http) = spawn_with(
        dir,
        Some(genesis),
        "60",
        &[EPOCHS, ("HTTP_ADDR", "127.0.0.1:0")],
    );
    let http = http.unwrap();
    let mut sessions = Vec::new();
    let mut chain_id = String::new();
    for n in 1..=4 {
        let mut c = common::Client::connect(([127, 0, 0, 1], port).into()).await;
        let ch = c.challenge().await;
        chain_id = ch.chain_id.clone();
        c.send(&ch.auth_line(&key(n))).await;
        let welcome = c.line().await;
        assert!(welcome.starts_with("welcome "), "{welcome}");
        c.expect("Enter stake:").await;
        sessions.push(c);
    }

    // The epoch goes on: the round after the last block's, inside the last snapshot's epoch,
    // or opening the next one with a copy of it (nobody is staked yet).
    let status = sessions[0].status().await;
    let round = common::number_after(&status, "round ");
    assert!(
        round > tip_round,
        "round {round} after a tip of round {tip_round}"
    );
    let after_bytes = std::fs::read(dir.join("snapshots.jsonl")).unwrap();
    assert!(
        after_bytes.starts_with(&snapshot_bytes),
        "the restart changed snapshots.jsonl up to the kill"
    );
    let after = snapshots(dir);
    let epoch = match &after[before.len()..] {
        [] => {
            assert!(
                last.first_round <= round && round < last.next_first_round(),
                "round {round} is outside epoch {} ({last:?}), the last on disk",
                last.epoch
            );
            format!("round {round} resumed epoch {}", last.epoch)
        }
        [copy] => {
            assert_eq!(copy.first_round, round, "{copy:?}");
            assert_eq!(copy.first_round, last.next_first_round(), "{copy:?}");
            assert_eq!(copy.stakes, last.stakes, "{copy:?}");
            format!(
                "round {round} opened epoch {} with epoch {}'s stakes",
                copy.epoch, last.epoch
            )
        }
        more => panic!("the restart took {} snapshots: {more:?}", more.len()),
    };

    // Each accepted attestation is counted: sent again, it is refused as a duplicate.
    let mut already = 0;
    for &(k, n) in accepted {
        let hash = chain[k as usize]["Hash"].as_str().unwrap();
        let c = &mut sessions[usize::from(n) - 1];
        let signature = sign_attest(&key(n), &chain_id, k, hash);
        c.send(&format!("attest {k} {hash} {signature}")).await;
        let line = answer(c).await;
        if line
            == format!(
                "attest refused: {} has already attested block {k}",
                address(n)
            )
        {
            already += 1;
        } else {
            assert!(
                line.contains("attestation window closed") && carried.contains(&(k, address(n))),
                "account {n}'s accepted attestation of block {k}, sent again: {line}"
            );
        }
    }

    // Each block announced final is final, and counts at least the attesters accepted.
    let blocks: BTreeSet<u64> = accepted.iter().map(|(k, _)| *k).collect();
    for k in blocks {
        let attesters = accepted.iter().filter(|(b, _)| *b == k).count() as u64;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (status, body) = common::http_get(http, &format!("/api/blocks/{k}")).await;
            assert_eq!(status, 200, "{body}");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            let counted = v["attesters"].as_u64().unwrap();
            if counted >= attesters && (v["final"] == true || !finals.contains(&k)) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "block {k} after the restart: {body}; {attesters} attestations were accepted, final announced: {}",
                finals.contains(&k)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    drop(sessions);
    drop(server);
    (already, epoch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_attestations_in_flight_loses_no_counted_attestation_nor_finality() {
    let dir = tempfile::tempdir().unwrap();
    let gdir = tempfile::tempdir().unwrap();
    let genesis = write_genesis(&gdir.path().join("genesis.json"), FOUR);
    // Over every run: (block, account) of each accepted attestation, and the blocks final.
    let mut accepted: Vec<(u64, u8)> = Vec::new();
    let mut finals: BTreeSet<u64> = BTreeSet::new();
    let started = std::time::Instant::now();
    // The last run, `None`, is stopped rather than killed.
    let kills = KILL_AFTER.iter().copied().map(Some).chain([None]);
    for (run, kill_after) in kills.enumerate() {
        let (mut server, port, _) = spawn_with(dir.path(), Some(&genesis), "0.3", &[EPOCHS]);
        let (tx, mut rx) = unbounded_channel();
        let bots: Vec<_> = (1..=4)
            .map(|n| tokio::spawn(attester(port, n, tx.clone())))
            .collect();
        drop(tx);
        let mut heard = Attested::new();
        if run > 0 {
            // The first block after a restart carries every attestation the pool held.
            while heard.blocks.is_empty() {
                heard.hear(&mut rx).await;
            }
            let carried: HashSet<(u64, String)> = carried_attestations(dir.path())
                .into_iter()
                .map(|a| (a.index, a.address))
                .collect();
            for &(k, n) in &accepted {
                assert!(
                    carried.contains(&(k, address(n))),
                    "run {run}: account {n}'s attestation of block {k}, accepted before the kill, is not in the first block after the restart"
                );
            }
        }
        let Some(kill_after) = kill_after else {
            while heard.blocks.len() < 3 {
                heard.hear(&mut rx).await;
            }
            drop(server);
            for b in bots {
                let _ = timeout(WAIT, b).await;
            }
            while let Ok(h) = rx.try_recv() {
                heard.record(h);
            }
            accepted.extend(&heard.accepted);
            finals.extend(&heard.finals);
            break;
        };
        // Kill right after an `attest accepted`, the other attestations of the block still
        // on their way.
        loop {
            let was_accepted = heard.hear(&mut rx).await;
            if was_accepted && heard.accepted.len() >= kill_after && !heard.finals.is_empty() {
                break;
            }
        }
        server.kill();
        for b in bots {
            let _ = timeout(WAIT, b).await;
        }
        while let Ok(h) = rx.try_recv() {
            heard.record(h);
        }
        let height = chain_blocks(dir.path()).len() as u64 - 1;
        let previous = accepted.iter().map(|(k, _)| *k).max().unwrap_or(0);
        assert!(
            heard
                .accepted
                .iter()
                .all(|(k, _)| *k > previous || run == 0),
            "run {run}: attested a block from before the restart"
        );
        accepted.extend(&heard.accepted);
        finals.extend(&heard.finals);

        // On disk before any restart: each announced block, and each accepted attestation
        // in a block or in the pool log.
        let chain = chain_blocks(dir.path());
        for (k, hash) in &heard.blocks {
            let block = chain
                .get(*k as usize)
                .unwrap_or_else(|| panic!("run {run}: announced block {k} lost"));
            assert_eq!(block["Hash"], hash.as_str(), "run {run}: block {k}");
        }
        let carried: HashSet<(u64, String)> = carried_attestations(dir.path())
            .into_iter()
            .map(|a| (a.index, a.address))
            .collect();
        let pooled = pooled_attestations(dir.path());
        // Attestations of this run's blocks on disk whose answer never arrived: in flight
        // at the kill.
        let answered: HashSet<(u64, String)> = heard
            .accepted
            .iter()
            .map(|&(k, n)| (k, address(n)))
            .collect();
        let unanswered = carried
            .union(&pooled)
            .filter(|e| heard.blocks.contains_key(&e.0) && !answered.contains(*e))
            .count();
        let mut in_pool = 0;
        for &(k, n) in &accepted {
            let entry = (k, address(n));
            if pooled.contains(&entry) && !carried.contains(&entry) {
                in_pool += 1;
            }
            assert!(
                carried.contains(&entry) || pooled.contains(&entry),
                "run {run}: account {n}'s accepted attestation of block {k} is neither in transactions.jsonl nor in pool.jsonl"
            );
        }
        let out = verify(dir.path());
        assert!(
            out.status.success(),
            "verify failed after SIGKILL: {}",
            text(&out.stdout)
        );
        let (already, epoch) = check_restart(dir.path(), &genesis, &accepted, &finals).await;
        println!(
            "run {run}: killed at height {height} after {} accepted attestations ({} in all, {in_pool} of them only in the pool log), {unanswered} more counted with no answer heard, {} refused, final {:?}; restarted: {epoch}, {already} already attested",
            heard.accepted.len(),
            accepted.len(),
            heard.refused,
            heard.finals
        );
    }

    // Every accepted attestation is in a block, once; `verify` counts exactly those, and each
    // block announced final has more than 3/4 of its snapshot stake attested in them.
    let out = verify(dir.path());
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let line = stdout
        .lines()
        .find_map(|l| l.split("finality: ").nth(1))
        .unwrap_or_else(|| panic!("no finality line: {stdout}"));
    let carried = carried_attestations(dir.path());
    let unique: HashSet<(u64, &str)> = carried
        .iter()
        .map(|a| (a.index, a.address.as_str()))
        .collect();
    assert_eq!(unique.len(), carried.len(), "an attestation carried twice");
    assert_eq!(
        common::number_before(line, " attestations counted"),
        carried.len() as u64,
        "{line}"
    );
    for &(k, n) in &accepted {
        assert!(
            unique.contains(&(k, address(n).as_str())),
            "account {n}'s accepted attestation of block {k} is in no block"
        );
    }
    let chain = chain_blocks(dir.path());
    let snapshots = snapshots(dir.path());
    for &k in &finals {
        let block = &chain[k as usize];
        let round = block["Round"].as_u64().unwrap();
        let snapshot = snapshots
            .iter()
            .rev()
            .find(|s| s.first_round <= round)
            .unwrap_or_else(|| panic!("block {k} (round {round}) is in no epoch"));
        let attested: u128 = carried
            .iter()
            .filter(|a| a.index == k && block["Hash"] == a.hash.as_str())
            .map(|a| u128::from(snapshot.stake_of(&a.address).unwrap()))
            .sum();
        assert!(
            attested * 4 > snapshot.total() * 3,
            "block {k}, announced final: {attested} of {} attested in the blocks",
            snapshot.total()
        );
    }
    assert!(
        common::number_before(line, " blocks final") >= finals.len() as u64,
        "{line}; final: {finals:?}"
    );
    assert!(
        common::number_after(line, "finalized height ") >= *finals.last().unwrap(),
        "{line}; final: {finals:?}"
    );
    println!(
        "{} accepted attestations over {} runs, {} blocks announced final; verify: {line} ({:.1?})",
        accepted.len(),
        KILL_AFTER.len() + 1,
        finals.len(),
        started.elapsed()
    );
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
