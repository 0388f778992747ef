//! Ledger mode's attestations and finality over real TCP, the server in-process with manual
//! ticks: `attest <k> <hash> <signature>` counted by snapshot stake, a block final one unit
//! above `FINALITY` and not at it, the `block <k> final` line every connection is sent once,
//! each refusal, the window, a restart that keeps what was counted, and `verify` replaying it.

mod common;

use common::ledger::{block, reply, tick_to};
use common::{address, key, start_in, verify_stdout_stderr, Client, TestServer};
use pos_lottery::tx::sign_attest;

/// `EPOCH_ROUNDS`: epoch 1 is rounds 4..=6; its blocks take attestations up to round 9.
const ROUNDS: u64 = 3;
/// Snapshot stakes 50 + 25 + 24 + 1 = 100: 75 is exactly 3/4, 76 one unit above. Account 5
/// never stakes, so it is in no snapshot.
const ACCOUNTS: &[(u8, u64)] = &[(1, 50), (2, 25), (3, 24), (4, 1), (5, 10)];

async fn ledger(dir: tempfile::TempDir) -> TestServer {
    let genesis = common::genesis_setting(ACCOUNTS);
    start_in(dir, move |c| {
        c.epoch_rounds = ROUNDS;
        c.genesis = Some(genesis);
    })
    .await
}

async fn attest(c: &mut Client, chain_id: &str, n: u8, index: u64, hash: &str) -> String {
    let sig = sign_attest(&key(n), chain_id, index, hash);
    c.send(&format!("attest {index} {hash} {sig}")).await;
    reply(c).await
}

fn accepted(index: u64, attested: u64) -> String {
    format!("attest accepted: block {index}, {attested} of 100 snapshot stake attested")
}

/// Accounts 1-4 staked with everything in epoch 0, then epoch 1 open (round 4) with all four
/// in its snapshot; account 5 logged in, not staked. Returns the chain id too.
async fn staked(server: &TestServer) -> (Vec<Client>, Client, String) {
    let mut stakers = Vec::new();
    for (n, balance) in &ACCOUNTS[..4] {
        stakers.push(server.bonded(*n, *balance).await);
    }
    let (mut five, _) = server.login(5).await;
    five.send("watch").await;
    assert!(reply(&mut five).await.starts_with("watching: "));
    let chain_id = {
        let c = server.connect().await;
        let mut c = c;
        c.challenge().await.chain_id
    };
    tick_to(server, &mut five, ROUNDS + 1).await;
    (stakers, five, chain_id)
}

#[tokio::test]
async fn a_block_is_final_one_unit_above_three_quarters_and_everyone_is_told_once() {
    let server = ledger(tempfile::tempdir().unwrap()).await;
    let mut watcher = server.connect().await;
    let (mut v, mut five, id) = staked(&server).await;

    // A block of epoch 0 (none before round 4 here, so make one in epoch 1 and check
    // epoch 0 through block 0, the genesis block).
    let genesis_hash = id.clone();
    assert_eq!(
        attest(&mut v[0], &id, 1, 0, &genesis_hash).await,
        "attest refused: block 0 is from the bootstrap epoch 0, whose blocks cannot be attested"
    );
    let (k, hash) = block(&server, &mut v, Some(&mut watcher)).await;

    // Refusals change nothing.
    assert_eq!(
        attest(&mut v[0], &id, 1, k, &"0".repeat(64)).await,
        format!(
            "attest refused: block {k}'s hash is {hash}, not {}",
            "0".repeat(64)
        )
    );
    assert_eq!(
        attest(&mut v[0], &id, 1, k + 5, &hash).await,
        format!("attest refused: there is no block {} yet", k + 5)
    );
    v[0].send(&format!(
        "attest {k} {hash} {}",
        sign_attest(&key(2), &id, k, &hash)
    ))
    .await;
    assert_eq!(
        reply(&mut v[0]).await,
        "attest refused: the signature does not verify"
    );
    v[0].send(&format!("attest {k} {hash}")).await;
    assert_eq!(
        reply(&mut v[0]).await,
        "attest refused: expected `attest <block index> <block hash> <signature>`"
    );
    assert_eq!(
        attest(&mut five, &id, 5, k, &hash).await,
        format!(
            "attest refused: {} is not in epoch 1's stake snapshot, which block {k} belongs to",
            address(5)
        )
    );

    // 50, then 75 of 100: exactly 3/4 is not more than 3/4.
    assert_eq!(attest(&mut v[0], &id, 1, k, &hash).await, accepted(k, 50));
    assert_eq!(attest(&mut v[1], &id, 2, k, &hash).await, accepted(k, 75));
    assert_eq!(
        attest(&mut v[1], &id, 2, k, &hash).await,
        format!(
            "attest refused: {} has already attested block {k}",
            address(2)
        )
    );
    // One unit more: final, and every connection is told, the watcher included.
    assert_eq!(attest(&mut v[3], &id, 4, k, &hash).await, accepted(k, 76));
    let final_line = format!("block {k} final: 76.0% of stake attested");
    assert_eq!(watcher.line_containing(" final: ").await, final_line);
    assert_eq!(five.line_containing(" final: ").await, final_line);
    // Counted on, but never announced again: the next announcement is the next block's.
    assert_eq!(attest(&mut v[2], &id, 3, k, &hash).await, accepted(k, 100));
    let (next, next_hash) = block(&server, &mut v, Some(&mut watcher)).await;
    let mut before_next = Vec::new();
    loop {
        let line = five.line().await;
        if line.starts_with("winning validator: ") {
            break;
        }
        before_next.push(line);
    }
    assert!(
        !before_next.iter().any(|l| l.contains(" final: ")),
        "{before_next:?}"
    );

    // Block `next` (round 5) takes attestations up to round 9, then never.
    tick_to(&server, &mut five, 10).await;
    assert_eq!(
        attest(&mut v[0], &id, 1, next, &next_hash).await,
        format!(
            "attest refused: block {next}'s attestation window closed after round 9; the round in progress is 10"
        )
    );

    // `verify` replays every attestation and the finality.
    let dir = server.stop_keeping_dir().await;
    let (code, out) = verify_stdout_stderr(dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "finality: 4 attestations counted, 1 blocks final, finalized height {k}"
        )),
        "{out}"
    );
}

#[tokio::test]
async fn counted_attestations_survive_a_restart_before_their_block() {
    let server = ledger(tempfile::tempdir().unwrap()).await;
    let mut watcher = server.connect().await;
    let (mut v, _five, id) = staked(&server).await;
    let (k, hash) = block(&server, &mut v, Some(&mut watcher)).await;
    assert_eq!(attest(&mut v[0], &id, 1, k, &hash).await, accepted(k, 50));
    assert_eq!(attest(&mut v[3], &id, 4, k, &hash).await, accepted(k, 51));
    drop(v);

    // Acknowledged means durable: after a restart, in the pool, counted, not twice.
    let dir = server.stop_keeping_dir().await;
    let server = ledger(dir).await;
    let (mut one, _) = server.login(1).await;
    assert_eq!(
        attest(&mut one, &id, 1, k, &hash).await,
        format!(
            "attest refused: {} has already attested block {k}",
            address(1)
        )
    );
    let (mut two, _) = server.login(2).await;
    assert_eq!(attest(&mut two, &id, 2, k, &hash).await, accepted(k, 76));
    assert_eq!(
        one.line_containing(" final: ").await,
        format!("block {k} final: 76.0% of stake attested")
    );

    // The next block carries all three, and `verify` counts them.
    one.send("25").await;
    let mut watcher = server.connect().await;
    let _ = reply(&mut one).await;
    let (next, _) = block(&server, &mut [one], Some(&mut watcher)).await;
    assert_eq!(next, k + 1);
    let dir = server.stop_keeping_dir().await;
    let txs = std::fs::read_to_string(dir.path().join("transactions.jsonl")).unwrap();
    let last = txs.lines().last().unwrap();
    assert_eq!(last.matches("\"Type\":\"attest\"").count(), 3, "{last}");
    let (code, out) = verify_stdout_stderr(dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "finality: 3 attestations counted, 1 blocks final, finalized height {k}"
        )),
        "{out}"
    );
}

#[tokio::test]
async fn two_signed_hashes_for_one_block_burn_the_snapshot_stake_in_either_order() {
    let server = ledger(tempfile::tempdir().unwrap()).await;
    let mut watcher = server.connect().await;
    let (mut v, mut five, id) = staked(&server).await;
    let (k, hash) = block(&server, &mut v, Some(&mut watcher)).await;
    let (w1, w2) = ("1".repeat(64), "2".repeat(64));

    // Counted first, then a wrong hash: refused, and evidence at once.
    assert_eq!(attest(&mut v[2], &id, 3, k, &hash).await, accepted(k, 24));
    assert_eq!(
        attest(&mut v[2], &id, 3, k, &w1).await,
        format!(
            "attest refused: block {k}'s hash is {hash}, not {w1}; you had signed {hash} for block {k}: two hashes for one block are evidence, and 24 of your stake is burned"
        )
    );
    // Once per account and block.
    assert_eq!(
        attest(&mut v[2], &id, 3, k, &w2).await,
        format!("attest refused: block {k}'s hash is {hash}, not {w2}")
    );
    // A wrong hash first is kept (the same one again is nothing new); the right one after it
    // is counted, and is evidence too.
    for _ in 0..2 {
        assert_eq!(
            attest(&mut v[3], &id, 4, k, &w1).await,
            format!("attest refused: block {k}'s hash is {hash}, not {w1}")
        );
    }
    assert_eq!(attest(&mut v[3], &id, 4, k, &hash).await, accepted(k, 25));
    // Outside the snapshot there is no stake to lose: two wrong hashes are two refusals.
    for w in [&w1, &w2] {
        assert!(attest(&mut five, &id, 5, k, w).await.starts_with(&format!(
            "attest refused: block {k}'s hash is {hash}, not {w}"
        )));
    }

    // The next block burns both; the slashed accounts keep no bond beyond what they hold.
    let (next, _) = block(&server, &mut v[..2], Some(&mut watcher)).await;
    let dir = server.stop_keeping_dir().await;
    let txs = std::fs::read_to_string(dir.path().join("transactions.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(txs.lines().last().unwrap()).unwrap();
    assert_eq!(last["Index"], next);
    let evidence: Vec<&serde_json::Value> = last["Transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["Type"] == "evidence")
        .collect();
    assert_eq!(evidence.len(), 2, "{last}");
    assert_eq!(evidence[0]["Address"], address(3));
    assert_eq!(evidence[0]["Amount"], 24);
    assert_eq!(evidence[0]["FirstHash"], hash.as_str());
    assert_eq!(evidence[0]["SecondHash"], w1.as_str());
    assert_eq!(evidence[1]["Address"], address(4));
    assert_eq!(evidence[1]["Amount"], 1);
    assert_eq!(evidence[1]["FirstHash"], w1.as_str());
    assert_eq!(evidence[1]["SecondHash"], hash.as_str());
    let (code, out) = verify_stdout_stderr(dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("burned 25"), "{out}");
}

#[tokio::test]
async fn snapshot_stake_cannot_be_sent_away_until_its_window_closes() {
    let server = ledger(tempfile::tempdir().unwrap()).await;
    let (mut v, mut five, id) = staked(&server).await;
    // Account 4 stops validating: its bond is free, but its snapshot stake is locked.
    let mut four = v.pop().unwrap();
    four.send("watch").await;
    assert!(reply(&mut four).await.starts_with("watching: "));
    let (line, _) = common::transfer_line(&key(4), &id, &address(5), 1, 1);
    four.send(&line).await;
    assert_eq!(
        reply(&mut four).await,
        format!(
            "transfer refused: amount 1 is more than the 0 that {} may move now: 1 of its balance is snapshot stake, locked until the attestation windows of its epochs close (evidence of a double attestation could still burn it)",
            address(4)
        )
    );
    // Epoch 1 (rounds 4-6) takes attestations up to round 9; epoch 2's snapshot (round 7)
    // holds the stakers still bonded, which no longer include account 4.
    tick_to(&server, &mut five, 10).await;
    four.send(&line).await;
    assert!(
        reply(&mut four).await.starts_with("transfer accepted: "),
        "the lock outlived the window"
    );
    drop(v);
}

#[tokio::test]
async fn attesters_of_a_final_block_are_paid_by_the_next_block_in_the_order_they_attested() {
    let genesis = common::genesis_setting(ACCOUNTS);
    let server = start_in(tempfile::tempdir().unwrap(), move |c| {
        c.epoch_rounds = ROUNDS;
        c.genesis = Some(genesis);
        c.attest_reward = 3;
    })
    .await;
    let mut watcher = server.connect().await;
    let (mut v, _five, id) = staked(&server).await;
    let (k, hash) = block(&server, &mut v, Some(&mut watcher)).await;
    // 50 + 1 is not final; + 25 is: all three are owed, in that order; 3 comes after.
    assert_eq!(attest(&mut v[0], &id, 1, k, &hash).await, accepted(k, 50));
    assert_eq!(attest(&mut v[3], &id, 4, k, &hash).await, accepted(k, 51));
    assert_eq!(attest(&mut v[1], &id, 2, k, &hash).await, accepted(k, 76));
    let (next, _) = block(&server, &mut v, Some(&mut watcher)).await;
    assert_eq!(attest(&mut v[2], &id, 3, k, &hash).await, accepted(k, 100));
    let (last, _) = block(&server, &mut v, Some(&mut watcher)).await;
    let dir = server.stop_keeping_dir().await;
    let txs = std::fs::read_to_string(dir.path().join("transactions.jsonl")).unwrap();
    let paid = |index: u64| -> Vec<(String, u64)> {
        let line = txs
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|r| r["Index"] == index)
            .unwrap();
        line["Transactions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["Kind"] == "attest")
            .map(|t| {
                (
                    t["To"].as_str().unwrap().to_string(),
                    t["Amount"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        paid(next),
        [(address(1), 3), (address(4), 3), (address(2), 3)]
    );
    assert_eq!(paid(last), [(address(3), 3)]);
    let snapshots = std::fs::read_to_string(dir.path().join("snapshots.jsonl")).unwrap();
    assert!(
        snapshots.contains(r#""Finality":"3/4","AttestReward":3,"#),
        "{snapshots}"
    );
    let (code, out) = verify_stdout_stderr(dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("rewards 12"), "{out}");
}
