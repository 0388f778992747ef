//! The client's attestations: the draw recomputed from a real server's HTTP documents;
//! `connect` against tiny fake servers (a chain built here, served with and without the
//! attestation fields, and with a tampered draw); and `simulate --http` against the real
//! server with short epochs, where every block after epoch 0 is attested by every bot and
//! final within its round, and behind a proxy that hides the attestation fields (as a server
//! from before them), where no `attest` line is sent.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use pos_lottery::chain::{compute_entries_hash, compute_entries_hash_bytes, Block};
use pos_lottery::client::attestor::{fetch_genesis, fetch_inputs, Skip, Source};
use pos_lottery::client::parse_announcement;
use pos_lottery::client::recompute::{recompute, RecomputeError};
use pos_lottery::ledger::DrawRecord;
use pos_lottery::lottery::{compute_seed_v2, pick_winner};
use pos_lottery::tx;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::time::timeout;

use common::fake::{serve_http, serve_one, Conn, Request, Requests};
use common::{cli, key_file, BIN, WAIT};

const NONCE: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn http_on(c: &mut pos_lottery::config::Config) {
    c.http_addr = Some("127.0.0.1:0".parse().unwrap());
}

/// Blocking work (the client's HTTP fetches) off the test's runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

// ------------------------------------------------------------ against the real server

#[tokio::test]
async fn the_real_servers_draws_recompute_and_another_chain_is_refused() {
    let server = common::start_ledger(&[(1, 1000), (2, 1000)], http_on).await;
    let http = server.http.unwrap();
    let chain_id = server.connect().await.challenge().await.chain_id;
    let mut a = server.bonded(1, 100).await;
    let mut b = server.bonded(2, 300).await;
    let mut announced = Vec::new();
    for bpm in [70, 71, 72] {
        a.send(&bpm.to_string()).await;
        a.line_containing("entered").await;
        b.send(&(bpm + 10).to_string()).await;
        b.line_containing("entered").await;
        server.tick().await;
        let line = a.line_containing("winning validator").await;
        assert_eq!(b.line_containing("winning validator").await, line);
        announced.push(parse_announcement(&line).expect(&line));
    }
    let id = chain_id.clone();
    let genesis = blocking(move || fetch_genesis(http, &id)).await.unwrap();
    for a in announced {
        let (g, id, k) = (genesis.clone(), chain_id.clone(), a.index);
        let (inputs, attesting) = blocking(move || fetch_inputs(http, &g, k)).await.unwrap();
        assert!(attesting, "block {k}: the server takes attestations");
        assert_eq!(recompute(&chain_id, &a, &inputs), Ok(()), "block {k}");
        // The whole check: attest.
        let source = Source::new(http, id);
        let outcome = blocking(move || source.check(&a)).await;
        assert_eq!(outcome, Ok(()), "block {k}");
    }
    let other = "0".repeat(64);
    let err = blocking(move || fetch_genesis(http, &other))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Skip::Recompute(RecomputeError::OtherChain { .. })),
        "{err}"
    );
}

/// `EPOCH_ROUNDS` of the simulate runs: epoch 0 is rounds 1-2, and every block from round 3
/// on belongs to a snapshot holding the three bots' bonds.
const SIM_EPOCH_ROUNDS: u64 = 2;
/// The bots, each bonding [`SIM_STAKE`] of its 500: a block is final once all three attest
/// (two of three is 2/3, not past 3/4).
const BOTS: u64 = 3;
const SIM_STAKE: u64 = 100;

#[tokio::test]
async fn simulate_with_http_attests_the_real_servers_blocks_and_each_after_epoch_0_is_final_in_its_round(
) {
    let (keys, server) = simulate_setup().await;
    let summary = simulate_ok(&server, keys.path(), server.addr, server.http.unwrap()).await;
    let a = &summary["attestations"];
    let count = |field: &str| {
        a[field]
            .as_u64()
            .unwrap_or_else(|| panic!("no {field} in {a}"))
    };
    assert_eq!(a["unsupported"], serde_json::Value::Null, "{a}");
    assert_eq!(count("blocks_not_attested"), 0, "{a}");

    // The chain as the server wrote it: epoch 0's blocks (round 1 or 2), and the later ones.
    let chain = std::fs::read_to_string(server.dir.path().join("chain.jsonl")).unwrap();
    let blocks: Vec<Block> = chain
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let epoch0: Vec<u64> = blocks
        .iter()
        .filter(|b| b.index > 0 && b.round <= SIM_EPOCH_ROUNDS)
        .map(|b| b.index)
        .collect();
    let later: Vec<u64> = blocks
        .iter()
        .filter(|b| b.round > SIM_EPOCH_ROUNDS)
        .map(|b| b.index)
        .collect();
    // The bots joined before round 1 closed and propose every 50 ms: a block every round.
    assert_eq!(epoch0, [1, 2], "{a}");
    assert!(
        later.len() >= 5,
        "only {} blocks past epoch 0: {a}",
        later.len()
    );

    // Refused: each bot's attestation of each epoch-0 block, and nothing else.
    let (sent, accepted, refused) = (count("sent"), count("accepted"), count("refused"));
    assert_eq!(refused, BOTS * epoch0.len() as u64, "{a}");
    let sample = a["refusal_sample"].as_str().unwrap_or_default();
    assert!(
        sample.contains("is from the bootstrap epoch 0, whose blocks cannot be attested"),
        "{a}"
    );
    // Accepted: each bot's attestation of each later block (the last one perhaps not, when
    // the run stopped before it was checked); an answer or so may miss the end of the run.
    let most = BOTS * later.len() as u64;
    assert!(
        accepted > 0 && accepted <= most && accepted + BOTS >= most,
        "accepted {accepted}, {} blocks past epoch 0: {a}",
        later.len()
    );
    assert!(
        accepted + refused <= sent && accepted + refused + BOTS >= sent,
        "{a}"
    );
    // The server counted all three attesters of every later block, and said it final.
    for k in &later[..later.len() - 1] {
        let (status, body) = server.get(&format!("/api/blocks/{k}")).await;
        assert_eq!(status, 200, "{body}");
        let b: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (&b["final"], &b["attesters"], &b["attested_stake"]),
            (&true.into(), &BOTS.into(), &(BOTS * SIM_STAKE).into()),
            "block {k}: {b}"
        );
    }

    // The report: every block followed by another was said final before the next one came
    // (within its round), except epoch 0's; each at 100% of its snapshot.
    let late: Vec<u64> = serde_json::from_value(a["not_final_within_a_round"].clone()).unwrap();
    assert_eq!(late, epoch0, "{a}");
    let (followed, in_time) = (count("blocks_followed"), count("final_within_a_round"));
    assert_eq!(followed - in_time, epoch0.len() as u64, "{a}");
    assert!(in_time + 1 >= later.len() as u64, "{a}");
    assert!(count("blocks_final") + 1 >= later.len() as u64, "{a}");
    assert!(count("final_lines") >= BOTS * in_time, "{a}");
    let percent = &a["final_percent"];
    assert_eq!(
        (&percent["min"], &percent["max"]),
        (&100.0.into(), &100.0.into()),
        "{a}"
    );
    drop(server.shutdown().await);
}

/// What the proxy saw the bots send: every `attest` line.
#[derive(Debug, Default)]
struct Sent {
    attest_lines: Vec<String>,
    /// `/api/blocks/{k}` answers served without their `final` field.
    stripped: u64,
}

/// A stand-in for a server from before attestations, in front of the real one: HTTP requests
/// are forwarded, `/api/blocks/{k}` answers losing their `final` field (an old server never
/// had it); TCP lines are relayed both ways, and every `attest` line a client sends is kept.
/// To an old server such a line would be a BPM that is not a number, and slashed.
fn old_server_proxy(
    tcp: SocketAddr,
    http: SocketAddr,
) -> (SocketAddr, SocketAddr, Arc<Mutex<Sent>>) {
    let seen = Arc::new(Mutex::new(Sent::default()));
    let log = seen.clone();
    let (http_addr, _) = serve_http(move |r: &Request| {
        let path = &r.path;
        let r = pos_lottery::client::http_client::get(http, path).unwrap();
        let body = if r.status == 200 && path.starts_with("/api/blocks/") {
            let mut v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            assert!(v.as_object_mut().unwrap().remove("final").is_some(), "{v}");
            log.lock().unwrap().stripped += 1;
            v.to_string()
        } else {
            r.body
        };
        (r.status, body)
    });
    let tcp_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp_listener.local_addr().unwrap();
    let log = seen.clone();
    std::thread::spawn(move || {
        for client in tcp_listener.incoming() {
            let Ok(client) = client else { return };
            let upstream = TcpStream::connect(tcp).unwrap();
            let (mut down, mut to_client) =
                (upstream.try_clone().unwrap(), client.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut down, &mut to_client);
                let _ = to_client.shutdown(std::net::Shutdown::Write);
            });
            let log = log.clone();
            std::thread::spawn(move || {
                let mut up = upstream;
                for line in BufReader::new(client).lines() {
                    let Ok(line) = line else { break };
                    if line.starts_with("attest") {
                        log.lock().unwrap().attest_lines.push(line.clone());
                    }
                    if up.write_all(format!("{line}\n").as_bytes()).is_err() {
                        break;
                    }
                }
                let _ = up.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (tcp_addr, http_addr, seen)
}

/// Three ledger accounts of 500 with their key files, and the server funding them (HTTP on,
/// `EPOCH_ROUNDS` = [`SIM_EPOCH_ROUNDS`]).
async fn simulate_setup() -> (tempfile::TempDir, common::TestServer) {
    let keys_dir = tempfile::tempdir().unwrap();
    let mut accounts = std::collections::BTreeMap::new();
    for n in 1..=BOTS as u8 {
        let key = SigningKey::from_bytes(&[n; 32]);
        std::fs::write(
            keys_dir.path().join(format!("v{n}.key")),
            tx::key_file_text(&key),
        )
        .unwrap();
        accounts.insert(tx::address_of(&key), 500);
    }
    let genesis = keys_dir.path().join("genesis.json");
    std::fs::write(&genesis, tx::Genesis { accounts }.to_json()).unwrap();
    let setting = pos_lottery::pool::GenesisSetting::load(&genesis).unwrap();
    let server = common::start(|c| {
        c.genesis = Some(setting);
        c.epoch_rounds = SIM_EPOCH_ROUNDS;
        http_on(c);
    })
    .await;
    (keys_dir, server)
}

/// `simulate --json` for 3 s against `addr` and `http`; once its three bots have bonded (so
/// the first snapshot holds them all), the test closes a round every 200 ms. It must exit 0.
/// Returns the summary.
async fn simulate_ok(
    server: &common::TestServer,
    keys: &std::path::Path,
    addr: SocketAddr,
    http: SocketAddr,
) -> serde_json::Value {
    let (addr, http) = (addr.to_string(), http.to_string());
    let stake = SIM_STAKE.to_string();
    let run = Command::new(BIN)
        .args([
            "simulate",
            "--addr",
            &addr,
            "--http",
            &http,
            "--keys-dir",
            keys.to_str().unwrap(),
            "--stake",
            &stake,
            "--bpm-every",
            "50ms",
            "--duration",
            "3s",
            "--quiet",
            "--json",
        ])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    tokio::pin!(run);
    tokio::select! {
        out = &mut run => panic!("simulate ended before its bots bonded: {out:?}"),
        _ = server.wait_for_stats(|s| s["validators"] == BOTS) => {}
    }
    let mut rounds = tokio::time::interval(Duration::from_millis(200));
    rounds.tick().await;
    let out = timeout(Duration::from_secs(30), async {
        loop {
            tokio::select! {
                out = &mut run => break out.unwrap(),
                _ = rounds.tick() => server.tick().await,
            }
        }
    })
    .await
    .expect("simulate did not end");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // A slashed bot would have been disconnected.
    assert_eq!(
        summary["outcomes"]["open at the end"], BOTS,
        "{}",
        summary["outcomes"]
    );
    assert!(summary["fanout"]["blocks"].as_u64().unwrap() > 0);
    summary
}

#[tokio::test]
async fn simulate_sends_no_attest_line_to_a_server_whose_blocks_carry_no_final_field() {
    let (keys, server) = simulate_setup().await;
    let (tcp, http, seen) = old_server_proxy(server.addr, server.http.unwrap());
    let summary = simulate_ok(&server, keys.path(), tcp, http).await;
    let a = &summary["attestations"];
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(seen.attest_lines, Vec::<String>::new(), "{a}");
    // The bots looked once, found no `final` field, and checked no block after that.
    assert!(seen.stripped >= 1, "{a}");
    assert_eq!(
        (&a["sent"], &a["accepted"], &a["refused"]),
        (&0.into(), &0.into(), &0.into()),
        "{a}"
    );
    assert_eq!(a["blocks_recomputed"], 0, "{a}");
    assert!(
        a["unsupported"]
            .as_str()
            .unwrap_or_default()
            .contains("does not take attestations"),
        "{a}"
    );
    drop(server.shutdown().await);
}

// ------------------------------------------------------------ connect against fakes

/// A ledger chain of three blocks after genesis, with each block's draw and announcement.
struct Fixture {
    chain_id: String,
    blocks: Vec<Block>,
    draws: Vec<DrawRecord>,
    announcements: Vec<String>,
}

fn fixture() -> Fixture {
    let server = SigningKey::from_bytes(&[9; 32]);
    let mut reveals = vec![[42u8; 32]];
    for _ in 0..3 {
        let next: [u8; 32] = Sha256::digest(reveals[reveals.len() - 1]).into();
        reveals.push(next);
    }
    reveals.reverse();
    let genesis = Block::genesis_v2(
        "2026-01-01T00:00:00.000Z".into(),
        reveals[0],
        server.verifying_key().to_bytes(),
    )
    .with_accounts_hash([1; 32], 10)
    .sign_with(&server);
    let mut entries: Vec<(String, u64)> = (1..=3u8)
        .map(|n| {
            (
                tx::address_of(&SigningKey::from_bytes(&[n; 32])),
                100 * u64::from(n),
            )
        })
        .collect();
    entries.sort();
    let mut f = Fixture {
        chain_id: genesis.hash.clone(),
        blocks: vec![genesis],
        draws: vec![],
        announcements: vec![String::new()],
    };
    for k in 1..=3u64 {
        let prev = f.blocks.last().unwrap().clone();
        let reveal = reveals[k as usize];
        let seed = compute_seed_v2(
            &prev.hash_bytes().unwrap(),
            k,
            &compute_entries_hash_bytes(&entries),
            &reveal,
        );
        let d = pick_winner(&seed, &entries).unwrap();
        let (winner, stake) = entries[d.winner].clone();
        let block = Block::next(
            &prev,
            format!("2026-01-01T00:00:{k:02}.000Z"),
            70,
            winner.clone(),
            k,
            compute_entries_hash(&entries),
        )
        .with_tx_hash([k as u8; 32])
        .with_reveal(reveal, None)
        .sign_with(&server);
        f.announcements.push(format!(
            "winning validator: {winner} (block {k}, BPM 70, stake {stake} of {}, hash {})",
            d.total, block.hash
        ));
        f.draws.push(DrawRecord {
            index: k,
            entries: entries.clone(),
            total: d.total,
            counter: d.counter,
            target: d.target,
            winner,
        });
        f.blocks.push(block);
    }
    f
}

/// A fake HTTP server serving `f`'s blocks (with the attestation fields when `attesting`)
/// and draws, block 3's draw tampered with; the paths asked for are kept.
fn fake_http(f: &Fixture, attesting: bool) -> (SocketAddr, Requests) {
    let blocks: Vec<String> = f
        .blocks
        .iter()
        .map(|b| {
            let json = serde_json::to_string(b).unwrap();
            if attesting {
                format!(
                    "{},\"epoch\":1,\"final\":false,\"attesters\":0}}",
                    json.strip_suffix('}').unwrap()
                )
            } else {
                json
            }
        })
        .collect();
    let mut draws = f.draws.clone();
    draws[2].counter += 1;
    let draws: Vec<String> = draws
        .iter()
        .map(|d| serde_json::to_string(d).unwrap())
        .collect();
    serve_http(move |r: &Request| {
        let index = |prefix: &str| {
            r.path
                .strip_prefix(prefix)
                .and_then(|k| k.parse::<usize>().ok())
        };
        let found = match (index("/api/blocks/"), index("/api/draws/")) {
            (Some(k), _) => blocks.get(k).cloned(),
            (_, Some(k)) if k > 0 => draws.get(k - 1).cloned(),
            _ => None,
        };
        match found {
            Some(body) => (200, body),
            None => (404, r#"{"error":"no such thing"}"#.to_owned()),
        }
    })
}

/// The help line, the challenge, the client's `auth`, and the welcome.
fn login(c: &mut Conn, chain_id: &str, address: &str) {
    let auth = c.challenge(
        "pos-lottery (ledger mode): answer the challenge with auth, or type watch",
        chain_id,
        NONCE,
    );
    assert!(auth.starts_with(&format!("auth {address} ")), "{auth}");
    c.send(&format!(
        "welcome {address}: balance 500, available 500, 0 wins, next nonce 1"
    ));
    c.send("Enter stake:");
}

/// Alice (test account 1) for `connect`: a directory holding her key file `alice.key`, and
/// her address.
fn alice() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "alice.key", 1);
    (dir, tx::address_of(&key))
}

/// A fake ledger TCP server on `f`'s chain for one `connect` as `address`: it logs the client
/// in and sends block 1's announcement, then `script` goes on with the connection, all the
/// announcements, and the end of a channel the test steps it with.
fn fake_ledger<T: Send + 'static>(
    f: &Fixture,
    address: &str,
    script: impl FnOnce(Conn, Vec<String>, std::sync::mpsc::Receiver<()>) -> T + Send + 'static,
) -> (
    SocketAddr,
    std::sync::mpsc::Sender<()>,
    std::thread::JoinHandle<T>,
) {
    let (step_tx, step_rx) = std::sync::mpsc::channel::<()>();
    let (chain_id, me, announcements) = (
        f.chain_id.clone(),
        address.to_owned(),
        f.announcements.clone(),
    );
    let (addr, server) = serve_one(move |mut c| {
        login(&mut c, &chain_id, &me);
        c.send(&announcements[1]);
        script(c, announcements, step_rx)
    });
    (addr, step_tx, server)
}

/// `connect` with `args`, its stderr read line by line as it comes.
struct Connect {
    child: tokio::process::Child,
    stderr: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
    said: Vec<String>,
}

impl Connect {
    fn spawn(dir: &std::path::Path, args: &[&str]) -> Connect {
        let mut child = cli(dir, &["connect", "--key", "alice.key"])
            .args(args)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        Connect {
            child,
            stderr,
            said: Vec::new(),
        }
    }

    /// Reads stderr until a line starts with `prefix`; returns it.
    async fn said(&mut self, prefix: &str) -> String {
        loop {
            let line = timeout(WAIT, self.stderr.next_line())
                .await
                .unwrap_or_else(|_| panic!("connect never said {prefix:?}: {:?}", self.said))
                .unwrap()
                .unwrap_or_else(|| panic!("connect never said {prefix:?}: {:?}", self.said));
            self.said.push(line.clone());
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    /// Waits for the exit (the server closed); the rest of stderr joins `said`.
    async fn finish(mut self) -> (Output, Vec<String>) {
        while let Ok(Some(line)) = timeout(WAIT, self.stderr.next_line()).await.unwrap() {
            self.said.push(line);
        }
        let out = timeout(WAIT, self.child.wait_with_output())
            .await
            .expect("connect did not exit")
            .unwrap();
        (out, self.said)
    }
}

#[tokio::test]
async fn connect_attests_each_block_once_and_only_when_its_draw_recomputes() {
    let f = fixture();
    let (dir, address) = alice();
    let (http, paths) = fake_http(&f, true);
    let (addr, step_tx, server) = fake_ledger(&f, &address, |mut c, announcements, step_rx| {
        let first = c.line();
        c.send("attest accepted: block 1, 300 of 600 snapshot stake attested");
        c.send("block 1 final: 100.0% of stake attested");
        // Block 1 again, the tampered block 3, then block 2.
        c.send(&announcements[1]);
        c.send(&announcements[3]);
        c.send(&announcements[2]);
        let second = c.line();
        step_rx.recv_timeout(WAIT).unwrap();
        (first, second, c.close())
    });
    let mut connect = Connect::spawn(
        dir.path(),
        &["--addr", &addr.to_string(), "--http", &http.to_string()],
    );
    let refused = connect.said("not attesting block 3: ").await;
    step_tx.send(()).unwrap();
    let (out, said) = connect.finish().await;
    let (first, second, rest) = tokio::task::spawn_blocking(move || server.join())
        .await
        .unwrap()
        .unwrap_or_else(|_| panic!("the fake server failed; connect said {said:?}"));
    assert_eq!(out.status.code(), Some(0));
    assert!(
        refused.contains("recomputes to") && refused.contains("Counter"),
        "{refused}"
    );
    for (line, k) in [(&first, 1), (&second, 2)] {
        let words: Vec<&str> = line.split(' ').collect();
        let hash = &f.blocks[k].hash;
        assert_eq!(
            words[..3],
            ["attest", &k.to_string(), hash.as_str()],
            "{line}"
        );
        let message = tx::attest_message(&f.chain_id, k as u64, hash);
        assert_eq!(
            tx::check_signature(&address, message.as_bytes(), words[3]),
            Ok(()),
            "{line}"
        );
        assert!(said.contains(&format!("> {line}")), "{said:?}");
    }
    assert_eq!(rest, "", "the client attested more");
    // One check per block: block 1's repeat fetched nothing again; block 0 once.
    let paths: Vec<String> = (paths.lock().unwrap().iter())
        .map(|r| r.path.clone())
        .collect();
    for (path, times) in [
        ("/api/blocks/0", 1),
        ("/api/draws/1", 1),
        ("/api/draws/2", 1),
        ("/api/draws/3", 1),
    ] {
        assert_eq!(
            paths.iter().filter(|p| *p == path).count(),
            times,
            "{path}: {paths:?}"
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("block 1 final: 100.0% of stake attested"),
        "{stdout}"
    );
}

#[tokio::test]
async fn connect_never_attests_to_a_server_that_takes_no_attestations_or_with_no_attest() {
    let f = fixture();
    for no_attest in [false, true] {
        let (dir, address) = alice();
        let (http, paths) = fake_http(&f, false);
        let (addr, step_tx, server) = fake_ledger(&f, &address, |mut c, announcements, step_rx| {
            step_rx.recv_timeout(WAIT).unwrap();
            c.send(&announcements[2]);
            // A typed line goes through after the announcement: nothing was sent before it.
            let typed = c.line();
            (typed, c.close())
        });
        let mut args = vec![
            "--addr".to_owned(),
            addr.to_string(),
            "--http".into(),
            http.to_string(),
        ];
        if no_attest {
            args.push("--no-attest".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut connect = Connect::spawn(dir.path(), &args);
        if !no_attest {
            let why = connect.said("not attesting").await;
            assert!(
                why.starts_with("not attesting: the server at ")
                    && why.contains("does not take attestations"),
                "{why}"
            );
        } else {
            connect.said("> auth ").await;
        }
        step_tx.send(()).unwrap();
        // Whatever the client sends after block 2's announcement comes before or after this.
        let mut stdin = connect.child.stdin.take().unwrap();
        stdin.write_all(b"help\n").await.unwrap();
        let (out, said) = connect.finish().await;
        drop(stdin);
        let (typed, rest) = tokio::task::spawn_blocking(move || server.join())
            .await
            .unwrap()
            .unwrap_or_else(|_| panic!("the fake server failed"));
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(typed, "help", "no_attest {no_attest}: {said:?}");
        assert_eq!(rest, "");
        assert!(!said.iter().any(|l| l.starts_with("> attest")), "{said:?}");
        // Said once; after that, no block is checked.
        assert_eq!(
            said.iter()
                .filter(|l| l.starts_with("not attesting"))
                .count(),
            usize::from(!no_attest),
            "{said:?}"
        );
        let paths: Vec<String> = (paths.lock().unwrap().iter())
            .map(|r| r.path.clone())
            .collect();
        let draws = paths
            .iter()
            .filter(|p| p.starts_with("/api/draws/"))
            .count();
        assert_eq!(draws, usize::from(!no_attest), "{paths:?}");
    }
}
