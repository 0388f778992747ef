//! Ledger mode's delegation over real TCP, the server in-process with manual ticks: a
//! delegation out of the delegator's available balance, counted in the validator's next
//! snapshot; a block reward shared after the commission; undelegation locked while the
//! snapshot's window is open and returned at the next epoch; a validator's slash burning
//! DELEGATION_SLASH_PERCENT of each delegation; `verify` replaying all of it.

mod common;

use std::process::Command;

use common::ledger::{block_of, reply, tick_to};
use common::{address, key, start_in, verify_stdout_stderr as verify, Client, TestServer, BIN};
use pos_lottery::tx::{Commission, Delegation, Direction};

/// EPOCH_ROUNDS: epoch 1 is rounds 4..=6, its attestation window ends after round 9.
const ROUNDS: u64 = 3;
const REWARD: u64 = 100;
/// Validators 1 and 2; account 3 delegates.
const ACCOUNTS: &[(u8, u64)] = &[(1, 100), (2, 100), (3, 1000)];

async fn ledger() -> TestServer {
    ledger_in(tempfile::tempdir().unwrap(), ROUNDS, REWARD).await
}

/// Starts (again) on `dir`, DELEGATION_SLASH_PERCENT 10.
async fn ledger_in(dir: tempfile::TempDir, epoch_rounds: u64, reward: u64) -> TestServer {
    let genesis = common::genesis_setting(ACCOUNTS);
    start_in(dir, move |c| {
        c.epoch_rounds = epoch_rounds;
        c.genesis = Some(genesis);
        c.block_reward = reward;
        c.delegation_slash_percent = 10;
    })
    .await
}

fn delegation(way: Direction, chain: &str, from: u8, to: u8, amount: u64, nonce: u64) -> String {
    let d = Delegation::sign(&key(from), way, chain, &address(to), amount, nonce);
    format!(
        "{} {} {} {} {}",
        way.word(),
        d.to,
        d.amount,
        d.nonce,
        d.signature
    )
}

fn record(
    dir: &std::path::Path,
    file: &str,
    pick: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    std::fs::read_to_string(dir.join(file))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| pick(r))
        .unwrap_or_else(|| panic!("no such record in {file}"))
}

#[tokio::test]
async fn delegated_stake_counts_from_the_next_epoch_shares_rewards_and_risks_slashes() {
    let server = ledger().await;
    let dir = server.dir.path().to_path_buf();
    let chain = server.connect().await.challenge().await.chain_id;
    let mut watcher = server.connect().await;
    let mut one = server.bonded(1, 60).await;
    let mut two = server.bonded(2, 40).await;
    let (mut three, _) = server.login(3).await;

    // A delegation leaves the delegator's available balance at once; a commission is set.
    three
        .send(&delegation(Direction::Delegate, &chain, 3, 1, 300, 1))
        .await;
    let accepted = reply(&mut three).await;
    assert!(
        accepted.starts_with("delegate accepted: ")
            && accepted.ends_with(&format!(
                "(applies with the next block; counts toward {}'s stake from the next epoch)",
                address(1)
            )),
        "{accepted}"
    );
    let c = Commission::sign(&key(1), &chain, 10, 1);
    one.send(&format!("commission 10 1 {}", c.signature)).await;
    assert!(reply(&mut one).await.starts_with("commission accepted: "));
    assert!(three
        .status()
        .await
        .starts_with("status: balance 1000, available 700, "));
    // More than is left, or to itself, is refused.
    three
        .send(&delegation(Direction::Delegate, &chain, 3, 2, 701, 2))
        .await;
    assert!(reply(&mut three)
        .await
        .starts_with("delegate refused: amount 701 is more than the 700 that "));
    three
        .send(&delegation(Direction::Delegate, &chain, 3, 3, 1, 2))
        .await;
    assert!(reply(&mut three)
        .await
        .starts_with("delegate refused: an account cannot delegate to itself"));
    // Epoch 0: the block applies them; the reward is not shared (no snapshot yet).
    let first = block(&server, &mut [&mut one], &mut watcher).await;
    let txs = record(&dir, "transactions.jsonl", |r| r["Index"] == first);
    let kinds: Vec<&str> = txs["Transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["Type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["delegate", "commission", "reward"]);

    // Epoch 1 opens: validator 1's stake is its bond and the delegation to it.
    tick_to(&server, &mut three, ROUNDS + 1).await;
    let snapshot = record(&dir, "snapshots.jsonl", |s| s["Epoch"] == 1);
    let mut stakes = vec![(address(1), 360), (address(2), 40)];
    stakes.sort();
    assert_eq!(snapshot["Stakes"], serde_json::json!(stakes));
    assert_eq!(
        snapshot["Delegations"],
        serde_json::json!([[address(1), address(3), 300]])
    );

    // Validator 1 wins with 360 (its bond 60 plus 300 delegated): R = 100, commission 10%
    // keeps 10; the other 90 is shared by stake: the delegator 90 * 300 / 360 = 75.
    let won = block(&server, &mut [&mut one], &mut watcher).await;
    let draw = record(&dir, "draws.jsonl", |d| d["Index"] == won);
    assert_eq!(draw["Entries"], serde_json::json!([[address(1), 360]]));
    let txs = record(&dir, "transactions.jsonl", |r| r["Index"] == won);
    let rewards: Vec<(String, String, u64)> = txs["Transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["Type"] == "reward")
        .map(|t| {
            (
                t["Kind"].as_str().unwrap_or("block").to_string(),
                t["To"].as_str().unwrap().to_string(),
                t["Amount"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rewards,
        [
            ("block".to_string(), address(1), 25),
            ("delegator".to_string(), address(3), 75)
        ]
    );

    // An undelegation is taken at once, and a slash of validator 1's bond in the same block
    // burns 10% of what is still delegated to it: 20 of the 200 left.
    three
        .send(&delegation(Direction::Undelegate, &chain, 3, 1, 100, 2))
        .await;
    assert!(reply(&mut three).await.starts_with("undelegate accepted: "));
    one.send("not a number").await;
    let rest = one.expect_closed().await;
    assert!(rest.iter().any(|l| l.contains("slashed")), "{rest:?}");
    let _ = block(&server, &mut [&mut two], &mut watcher).await;
    let s = three.status().await;
    assert!(
        s.starts_with("status: balance 1055, available 775, "),
        "1000 + 75 - 20, with 180 delegated and 100 on its way back: {s}"
    );

    // Epoch 2 (round 7) returns the 100; but epoch 1's snapshot held 300 of this account's
    // delegation, and its attestation window runs to round 9: that much stays in reach of
    // evidence, and only the rest may move.
    tick_to(&server, &mut three, 7).await;
    assert!(three
        .status()
        .await
        .starts_with("status: balance 1055, available 875, "));
    let (line, _) = common::transfer_line(&key(3), &chain, &address(2), 800, 3);
    three.send(&line).await;
    let locked = reply(&mut three).await;
    assert!(
        locked.starts_with(&format!(
            "transfer refused: amount 800 is more than the 755 that {} may move now: 120 of its balance is snapshot stake",
            address(3)
        )),
        "{locked}"
    );
    tick_to(&server, &mut three, 10).await;
    three.send(&line).await;
    assert!(reply(&mut three).await.starts_with("transfer accepted: "));
    let _ = block(&server, &mut [&mut two], &mut watcher).await;
    assert!(three
        .status()
        .await
        .starts_with("status: balance 255, available 75, "));

    drop((two, three));
    let dir = server.stop_keeping_dir().await;
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn the_fairness_statistics_weigh_delegated_stake() {
    let server = ledger_in(tempfile::tempdir().unwrap(), 2, 0).await;
    let chain = server.connect().await.challenge().await.chain_id;
    let mut watcher = server.connect().await;
    // Validator 1 bonds 10 and is delegated 90; validator 2 bonds 100: equal weights.
    let mut one = server.bonded(1, 10).await;
    let mut two = server.bonded(2, 100).await;
    let (mut three, _) = server.login(3).await;
    three
        .send(&delegation(Direction::Delegate, &chain, 3, 1, 90, 1))
        .await;
    assert!(reply(&mut three).await.starts_with("delegate accepted: "));
    let _ = block(&server, &mut [&mut one, &mut two], &mut watcher).await;
    // Epoch 1 opens at round 3: from then on both weigh 100.
    tick_to(&server, &mut three, 3).await;
    const BLOCKS: u64 = 60;
    for _ in 0..BLOCKS {
        block(&server, &mut [&mut one, &mut two], &mut watcher).await;
    }
    drop((one, two, three));
    let dir = server.stop_keeping_dir().await;
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
    let out = Command::new(BIN)
        .args(["stats", "--json"])
        .arg(dir.path())
        .env_clear()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected = |n: u8| {
        report["validators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["address"] == address(n))
            .unwrap()["expected_wins"]
            .as_f64()
            .unwrap()
    };
    // The epoch-0 block weighed 10 against 100; every later one 100 against 100.
    let first = 10.0 / 110.0;
    assert!(
        (expected(1) - (first + BLOCKS as f64 / 2.0)).abs() < 1e-9,
        "{report}"
    );
    assert!(
        (expected(2) - (1.0 - first + BLOCKS as f64 / 2.0)).abs() < 1e-9,
        "{report}"
    );
    assert!(report["chi_square"].is_object(), "{report}");
}

#[tokio::test]
async fn accepted_delegations_survive_a_restart_before_their_block() {
    let server = ledger().await;
    let chain = server.connect().await.challenge().await.chain_id;
    let (mut three, _) = server.login(3).await;
    three
        .send(&delegation(Direction::Delegate, &chain, 3, 1, 300, 1))
        .await;
    assert!(reply(&mut three).await.starts_with("delegate accepted: "));
    // Only applied delegations can be asked back.
    three
        .send(&delegation(Direction::Undelegate, &chain, 3, 1, 100, 2))
        .await;
    assert_eq!(
        reply(&mut three).await,
        format!(
            "undelegate refused: {} has nothing delegated to {}",
            address(3),
            address(1)
        )
    );
    let c = Commission::sign(&key(3), &chain, 5, 2);
    three.send(&format!("commission 5 2 {}", c.signature)).await;
    assert!(reply(&mut three).await.starts_with("commission accepted: "));
    drop(three);

    // Acknowledged means in the pool log: both still pending after a restart, nonces taken.
    let dir = server.stop_keeping_dir().await;
    let server = ledger_in(dir, ROUNDS, REWARD).await;
    let (mut three, welcome) = server.login(3).await;
    assert!(welcome.contains("next nonce 3"), "{welcome}");
    assert!(three
        .status()
        .await
        .starts_with("status: balance 1000, available 700, "));
    let mut one = server.bonded(1, 50).await;
    let mut watcher = server.connect().await;
    let _ = block(&server, &mut [&mut one], &mut watcher).await;
    three
        .send(&delegation(Direction::Undelegate, &chain, 3, 1, 100, 3))
        .await;
    assert!(reply(&mut three).await.starts_with("undelegate accepted: "));
    let _ = block(&server, &mut [&mut one], &mut watcher).await;
    // Applied: 200 still delegated, 100 on its way back at the next epoch.
    assert!(three
        .status()
        .await
        .starts_with("status: balance 1000, available 700, "));
    tick_to(&server, &mut three, ROUNDS + 1).await;
    assert!(three
        .status()
        .await
        .starts_with("status: balance 1000, available 800, "));
    drop((one, three));
    let dir = server.stop_keeping_dir().await;
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
}

/// The proposers propose, the round closes; the block's index, from `watcher`'s winner line.
async fn block(server: &TestServer, proposers: &mut [&mut Client], watcher: &mut Client) -> u64 {
    for c in proposers.iter_mut() {
        c.send("70").await;
        let answer = reply(c).await;
        assert!(answer.starts_with("BPM 70 entered round "), "{answer}");
    }
    server.tick().await;
    block_of(&watcher.line_containing("winning validator: ").await).0
}

#[tokio::test]
async fn a_restart_before_an_epochs_first_block_keeps_what_its_start_returned() {
    let server = ledger().await;
    let chain = server.connect().await.challenge().await.chain_id;
    let mut watcher = server.connect().await;
    let mut two = server.bonded(2, 40).await;
    let (mut three, _) = server.login(3).await;
    three
        .send(&delegation(Direction::Delegate, &chain, 3, 1, 300, 1))
        .await;
    assert!(reply(&mut three).await.starts_with("delegate accepted: "));
    let _ = block(&server, &mut [&mut two], &mut watcher).await;
    three
        .send(&delegation(Direction::Undelegate, &chain, 3, 1, 300, 2))
        .await;
    assert!(reply(&mut three).await.starts_with("undelegate accepted: "));
    let _ = block(&server, &mut [&mut two], &mut watcher).await;
    // Epoch 1 opens (round 4): the 300 come back, and a transfer spends them at once.
    tick_to(&server, &mut three, ROUNDS + 1).await;
    let (line, _) = common::transfer_line(&key(3), &chain, &address(2), 900, 3);
    three.send(&line).await;
    assert!(reply(&mut three).await.starts_with("transfer accepted: "));
    drop((two, three));

    // Stopped before epoch 1's first block: the start takes the pool back as it was.
    let dir = server.stop_keeping_dir().await;
    let server = ledger_in(dir, ROUNDS, REWARD).await;
    let (mut three, _) = server.login(3).await;
    assert!(three
        .status()
        .await
        .starts_with("status: balance 1000, available 100, "));
    let mut two = server.bonded(2, 40).await;
    let mut watcher = server.connect().await;
    let _ = block(&server, &mut [&mut two], &mut watcher).await;
    assert!(three
        .status()
        .await
        .starts_with("status: balance 100, available 100, "));
    drop((two, three));
    let dir = server.stop_keeping_dir().await;
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
}
