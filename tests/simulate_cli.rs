//! `pos-lottery simulate` as a child process: its exit status and the line that says why.

mod common;

use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::process::Command;
use tokio::time::timeout;

const BIN: &str = env!("CARGO_BIN_EXE_pos-lottery");
/// The longest a simulate run below may take, drain included.
const RUN_LIMIT: Duration = Duration::from_secs(30);

async fn simulate(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(BIN)
        .arg("simulate")
        .args(args)
        .env_clear()
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    timeout(RUN_LIMIT, child.wait_with_output())
        .await
        .expect("simulate did not end")
        .unwrap()
}

/// Runs simulate (with `--json`) against `server`, closing a round every 200 ms until the run
/// ends (the test is the server's round timer); it must exit 0. Returns the JSON summary.
async fn simulate_ok(server: &common::TestServer, args: &[&str]) -> serde_json::Value {
    let run = simulate(args);
    tokio::pin!(run);
    let mut rounds = tokio::time::interval(Duration::from_millis(200));
    let out = loop {
        tokio::select! {
            out = &mut run => break out,
            _ = rounds.tick() => server.tick().await,
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn simulate_against_a_closed_port_exits_1_saying_nobody_joined() {
    let addr = format!("127.0.0.1:{}", closed_port());
    let out = simulate(&[
        "--addr",
        &addr,
        "--validators",
        "2",
        "--duration",
        "2s",
        "--quiet",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with(&format!(
            "error: no validator could join {addr} (connect failed: 2 of 2 connections, e.g. "
        )),
        "{stderr}"
    );
    assert!(!stdout.contains("exactly-once: OK"), "{stdout}");
    assert!(stdout.contains("exactly-once: NOT CHECKED"), "{stdout}");

    // The JSON summary is still printed, with the same reason.
    let out = simulate(&[
        "--addr",
        &addr,
        "--validators",
        "2",
        "--duration",
        "2s",
        "--quiet",
        "--json",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let error = summary["error"].as_str().unwrap();
    assert!(error.starts_with("no validator could join"), "{error}");
    assert_eq!(summary["fanout"]["exactly_once"]["ok"], false);
}

#[tokio::test]
async fn simulate_against_a_live_server_checks_deliveries_and_exits_0() {
    let server = common::start(|_| {}).await;
    let addr = server.addr.to_string();
    let args = [
        "--addr",
        &addr,
        "--validators",
        "2",
        "--bpm-every",
        "50ms",
        "--duration",
        "3s",
        "--quiet",
        "--json",
    ];
    let summary = simulate_ok(&server, &args).await;
    assert_eq!(summary["error"], serde_json::Value::Null);
    let once = &summary["fanout"]["exactly_once"];
    assert_eq!(once["ok"], true, "{once}");
    assert!(once["delivered"].as_u64().unwrap() > 0, "{once}");
    assert_eq!(once["mismatches"], 0);
    // A server that announces block hashes: the last one is the chain's.
    if let Some(hash) = summary["rounds"]["last_hash"].as_str() {
        let last = summary["rounds"]["last_block"].as_u64().unwrap();
        let chain = std::fs::read_to_string(server.dir.path().join("chain.jsonl")).unwrap();
        let block: serde_json::Value = chain
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|b| b["Index"] == last)
            .unwrap();
        assert_eq!(block["Hash"], hash);
    }
}

#[tokio::test]
async fn simulate_with_keys_logs_in_stakes_from_balances_and_sends_transfers() {
    // Four accounts of 500 tokens, their key files beside the genesis file.
    let keys_dir = tempfile::tempdir().unwrap();
    let mut accounts = std::collections::BTreeMap::new();
    for n in 1..=4u8 {
        let key = ed25519_dalek::SigningKey::from_bytes(&[n; 32]);
        std::fs::write(
            keys_dir.path().join(format!("v{n}.key")),
            pos_lottery::tx::key_file_text(&key),
        )
        .unwrap();
        accounts.insert(pos_lottery::tx::address_of(&key), 500);
    }
    let genesis = keys_dir.path().join("genesis.json");
    std::fs::write(&genesis, pos_lottery::tx::Genesis { accounts }.to_json()).unwrap();
    let setting = pos_lottery::pool::GenesisSetting::load(&genesis).unwrap();
    let server = common::start(|c| c.genesis = Some(setting)).await;
    let addr = server.addr.to_string();
    let keys = keys_dir.path().to_str().unwrap().to_string();
    let args = [
        "--addr",
        &addr,
        "--keys-dir",
        &keys,
        "--stake",
        "900",
        "--bpm-every",
        "50ms",
        "--transfers-per-sec",
        "40",
        "--duration",
        "3s",
        "--quiet",
        "--json",
    ];
    let summary = simulate_ok(&server, &args).await;
    // One bot per key file, each logged in; a stake of 900 is cut to the 500 it holds.
    assert_eq!(summary["validators"], 4);
    assert_eq!(summary["joins"]["joined"], 4, "{}", summary["joins"]);
    for bot in summary["bots"].as_array().unwrap() {
        assert!(bot["stake"].as_u64().unwrap() <= 500, "{bot}");
    }
    let t = &summary["transfers"];
    assert!(t["accepted"].as_u64().unwrap() > 0, "{t}");
    assert_eq!(t["refused"], 0, "{t}");
    assert_eq!(summary["fanout"]["exactly_once"]["ok"], true);
    // Every accepted transfer is in a block or still pending: verify replays the blocks'.
    drop(server.shutdown().await);
}
