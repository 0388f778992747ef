//! Ledger mode's epochs over real TCP, the server in-process with manual ticks: the stake
//! snapshot taken when an epoch's first round opens, the `SnapshotHash` its first block
//! carries, draws weighed by `min(snapshot stake, bond)`, stakes taken mid-epoch waiting for
//! the next one, restarts, and what `verify` and a start make of a damaged `snapshots.jsonl`.

mod common;

use std::path::Path;

use common::ledger::tick_to_with;
use common::{address, number_after, start, start_in, verify, Client, TestServer};
use pos_lottery::epoch::{Snapshot, SNAPSHOTS_FILE};
use pos_lottery::ledger::DrawRecord;

const REWARD: u64 = 7;
/// `EPOCH_ROUNDS` in these tests: epoch 1 is rounds 4..=6, epoch 2 from round 7.
const ROUNDS: u64 = 3;
const STAKE_PROMPT: &str = "Enter stake:";
const BPM_PROMPT: &str = "Enter a new BPM:";
/// Accounts 1 and 2 (100 tokens each) and 3 (80 tokens).
const ACCOUNTS: &[(u8, u64)] = &[(1, 100), (2, 100), (3, 80)];

async fn ledger(accounts: &'static [(u8, u64)]) -> TestServer {
    let genesis = common::genesis_setting(accounts);
    restart_with(tempfile::tempdir().unwrap(), genesis).await
}

/// Starts (again) on `dir` with the same settings.
async fn restart(dir: tempfile::TempDir, accounts: &[(u8, u64)]) -> TestServer {
    restart_with(dir, common::genesis_setting(accounts)).await
}

async fn restart_with(
    dir: tempfile::TempDir,
    genesis: pos_lottery::pool::GenesisSetting,
) -> TestServer {
    start_in(dir, move |c| {
        c.block_reward = REWARD;
        c.epoch_rounds = ROUNDS;
        c.genesis = Some(genesis);
    })
    .await
}

fn lines(dir: &Path, file: &str) -> Vec<String> {
    match std::fs::read_to_string(dir.join(file)) {
        Ok(text) => text.lines().map(str::to_string).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("{file}: {e}"),
    }
}

fn snapshots(dir: &Path) -> Vec<Snapshot> {
    lines(dir, SNAPSHOTS_FILE)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn blocks(dir: &Path) -> Vec<serde_json::Value> {
    lines(dir, "chain.jsonl")
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The block closed in `round`.
fn block_of_round(dir: &Path, round: u64) -> serde_json::Value {
    blocks(dir)
        .into_iter()
        .find(|b| b["Round"].as_u64() == Some(round))
        .unwrap_or_else(|| panic!("no block in round {round}"))
}

fn snapshot_hash(block: &serde_json::Value) -> Option<String> {
    block
        .get("SnapshotHash")
        .map(|h| h.as_str().unwrap().to_string())
}

fn draws(dir: &Path) -> Vec<DrawRecord> {
    lines(dir, "draws.jsonl")
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The draw of the block closed in `round`.
fn draw_of_round(dir: &Path, round: u64) -> DrawRecord {
    let index = block_of_round(dir, round)["Index"].as_u64().unwrap();
    draws(dir)
        .into_iter()
        .find(|d| d.index == index)
        .unwrap_or_else(|| panic!("no draw for block {index}"))
}

/// `(address, stake)` of test accounts in address order, as a snapshot and a draw list them.
fn stakes(of: &[(u8, u64)]) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = of.iter().map(|(n, s)| (address(*n), *s)).collect();
    v.sort();
    v
}

fn snapshot(epoch: u64, first_round: u64, of: &[(u8, u64)]) -> Snapshot {
    Snapshot {
        epoch,
        first_round,
        epoch_rounds: ROUNDS,
        finality: Some(pos_lottery::attest::Fraction::DEFAULT),
        attest_reward: None,
        delegation_slash_percent: Some(10),
        delegations: Vec::new(),
        stakes: stakes(of),
    }
}

fn not_entrant(epoch: u64, next_round: u64) -> String {
    format!(
        "not an entrant in epoch {epoch}: your account is not in its stake snapshot; stay staked and you enter the draws from epoch {} (round {next_round})",
        epoch + 1
    )
}

/// The next line that is not a winner announcement (they may arrive at any point).
async fn reply(c: &mut Client) -> String {
    loop {
        let line = c.line().await;
        if !line.starts_with("winning validator: ") {
            return line;
        }
    }
}

/// Account `n` logged in and bonded `stake`, the BPM prompt consumed; with the line that
/// says it is not an entrant in the epoch in force, if the server sent one.
async fn stake(server: &TestServer, n: u8, stake: u64) -> (Client, Option<String>) {
    let (mut c, _) = server.login(n).await;
    c.send(&stake.to_string()).await;
    assert_eq!(
        reply(&mut c).await,
        format!("you are validator {} with stake {stake}", address(n))
    );
    let next = reply(&mut c).await;
    if next == BPM_PROMPT {
        return (c, None);
    }
    assert_eq!(reply(&mut c).await, BPM_PROMPT, "after {next:?}");
    (c, Some(next))
}

/// Sends BPM `bpm` and returns the answer, the prompt after it consumed.
async fn propose(c: &mut Client, bpm: u32) -> String {
    c.send(&bpm.to_string()).await;
    let answer = reply(c).await;
    assert_eq!(reply(c).await, BPM_PROMPT, "after {answer:?}");
    answer
}

/// The `status` line of a logged-in session, the prompt after it consumed.
async fn status(c: &mut Client) -> String {
    c.send("status").await;
    let line = reply(c).await;
    assert!(line.starts_with("status: balance "), "{line}");
    let prompt = reply(c).await;
    assert!(
        prompt == BPM_PROMPT || prompt == STAKE_PROMPT,
        "after status: {prompt:?}"
    );
    line
}

/// The round open now, as `c`'s `status` tells it.
async fn round_now(c: &mut Client) -> u64 {
    number_after(&status(c).await, "round ")
}

/// Closes rounds (empty unless someone proposed) until `round` is open, and waits (bounded)
/// until the round task has opened it, epoch snapshot included: `c` asks `status`.
async fn tick_to(server: &TestServer, c: &mut Client, round: u64) {
    tick_to_with(server, c, round, round_now).await;
}

/// Everyone in `proposers` proposes (the first must be an entrant), the round closes, and
/// the winner line the first one is sent comes back.
async fn block(server: &TestServer, proposers: &mut [&mut Client], bpm: u32) -> String {
    for c in proposers.iter_mut() {
        propose(c, bpm).await;
    }
    server.tick().await;
    proposers[0].line_containing("winning validator: ").await
}

/// `quit` as a staked session: the stake is withdrawn.
async fn quit(mut c: Client, stake: u64) {
    c.send("quit").await;
    let rest = c.expect_closed().await;
    assert_eq!(
        rest.last().map(String::as_str),
        Some(format!("goodbye: your stake of {stake} is withdrawn").as_str()),
        "{rest:?}"
    );
}

#[tokio::test]
async fn an_epoch_opens_with_a_snapshot_of_the_bonds_and_its_first_block_commits_to_it() {
    let server = ledger(ACCOUNTS).await;
    let dir = server.dir.path().to_path_buf();
    // Epoch 0 (bootstrap): every staked account is an entrant, weighed by its bond.
    let (mut one, not) = stake(&server, 1, 40).await;
    assert_eq!(not, None);
    let (mut two, not) = stake(&server, 2, 30).await;
    assert_eq!(not, None);
    for round in 1..=3 {
        block(&server, &mut [&mut one, &mut two], 70).await;
        assert_eq!(
            draw_of_round(&dir, round).entries,
            stakes(&[(1, 40), (2, 30)])
        );
    }
    // Closing round 3 opened round 4, and with it epoch 1: snapshotted before any block.
    assert_eq!(round_now(&mut one).await, 4);
    let first = snapshot(1, 4, &[(1, 40), (2, 30)]);
    assert_eq!(snapshots(&dir), std::slice::from_ref(&first));
    assert_eq!(
        lines(&dir, SNAPSHOTS_FILE),
        [format!(
            "{{\"Epoch\":1,\"FirstRound\":4,\"EpochRounds\":3,\"Finality\":\"3/4\",\"DelegationSlashPercent\":10,\"Stakes\":[[\"{}\",{}],[\"{}\",{}]]}}",
            first.stakes[0].0, first.stakes[0].1, first.stakes[1].0, first.stakes[1].1
        )]
    );
    for round in 1..=3 {
        assert_eq!(snapshot_hash(&block_of_round(&dir, round)), None);
    }

    for _ in 4..=6 {
        block(&server, &mut [&mut one, &mut two], 71).await;
    }
    assert_eq!(
        snapshot_hash(&block_of_round(&dir, 4)),
        Some(hex::encode(first.hash()))
    );
    assert_eq!(snapshot_hash(&block_of_round(&dir, 5)), None);
    assert_eq!(snapshot_hash(&block_of_round(&dir, 6)), None);
    for round in 4..=6 {
        assert_eq!(
            draw_of_round(&dir, round).entries,
            stakes(&[(1, 40), (2, 30)])
        );
    }

    // Epoch 2 opens at round 7 with the bonds then (the rewards went to balances, not bonds).
    assert_eq!(round_now(&mut one).await, 7);
    let second = snapshot(2, 7, &[(1, 40), (2, 30)]);
    assert_eq!(snapshots(&dir), [first.clone(), second.clone()]);
    block(&server, &mut [&mut one, &mut two], 72).await;
    let hash = snapshot_hash(&block_of_round(&dir, 7)).unwrap();
    assert_eq!(hash, hex::encode(second.hash()));
    assert_ne!(second.hash(), first.hash(), "the epoch is hashed too");
    drop((one, two));
    let dir = server.stop_keeping_dir().await;
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn a_stake_taken_mid_epoch_enters_the_draws_from_the_next_epoch() {
    let server = ledger(ACCOUNTS).await;
    let dir = server.dir.path().to_path_buf();
    let (mut one, _) = stake(&server, 1, 40).await;
    tick_to(&server, &mut one, 4).await;
    assert_eq!(snapshots(&dir), [snapshot(1, 4, &[(1, 40)])]);

    let (mut three, not) = stake(&server, 3, 20).await;
    assert_eq!(not, Some(not_entrant(1, 7)));
    for round in 4..=6 {
        propose(&mut one, 70).await;
        // Not an entrant, and not slashed either: it stays staked.
        assert_eq!(
            propose(&mut three, 70).await,
            format!("BPM not entered: {}", not_entrant(1, 7))
        );
        server.tick().await;
        let won = one.line_containing("winning validator: ").await;
        assert!(
            won.starts_with(&format!("winning validator: {} (", address(1))),
            "{won}"
        );
        assert!(won.contains(", stake 40 of 40,"), "{won}");
        assert_eq!(draw_of_round(&dir, round).entries, stakes(&[(1, 40)]));
        let s = status(&mut three).await;
        assert!(s.contains("stake 20 bonded"), "{s}");
    }

    // Still staked at the boundary: in epoch 2's snapshot, and its BPMs enter.
    assert_eq!(round_now(&mut three).await, 7);
    assert_eq!(
        snapshots(&dir)[1],
        snapshot(2, 7, &[(1, 40), (3, 20)]),
        "{:?}",
        snapshots(&dir)
    );
    assert_eq!(propose(&mut three, 75).await, "BPM 75 entered round 7");
    propose(&mut one, 75).await;
    server.tick().await;
    three.line_containing("winning validator: ").await;
    assert_eq!(draw_of_round(&dir, 7).entries, stakes(&[(1, 40), (3, 20)]));
    // A newcomer now waits for epoch 3, which opens at round 10.
    let (two, not) = stake(&server, 2, 10).await;
    assert_eq!(not, Some(not_entrant(2, 10)));
    drop((one, two, three));
    let dir = server.stop_keeping_dir().await;
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn a_draw_weighs_the_smaller_of_the_snapshot_stake_and_the_bond() {
    let server = ledger(ACCOUNTS).await;
    let dir = server.dir.path().to_path_buf();
    let (mut one, _) = stake(&server, 1, 50).await;
    let (two, _) = stake(&server, 2, 30).await;
    tick_to(&server, &mut one, 4).await;
    assert_eq!(snapshots(&dir), [snapshot(1, 4, &[(1, 50), (2, 30)])]);
    quit(one, 50).await;
    quit(two, 30).await;

    // Reconnected in the same epoch: still in its snapshot, so no not-entrant line.
    let (mut one, not) = stake(&server, 1, 20).await;
    assert_eq!(not, None);
    // 90 of its 100: more than the snapshot's 30, which caps it.
    let (mut two, not) = stake(&server, 2, 90).await;
    assert_eq!(not, None);
    let won = block(&server, &mut [&mut one, &mut two], 70).await;
    assert!(won.contains(" of 50,"), "{won}");
    assert_eq!(draw_of_round(&dir, 4).entries, stakes(&[(1, 20), (2, 30)]));
    assert_eq!(draw_of_round(&dir, 4).total, 50);
    let s = status(&mut two).await;
    assert!(
        s.contains("stake 90 bonded"),
        "the bond itself is not cut: {s}"
    );

    // The next epoch snapshots the bonds as they are now.
    tick_to(&server, &mut one, 7).await;
    assert_eq!(snapshots(&dir)[1], snapshot(2, 7, &[(1, 20), (2, 90)]));
    let won = block(&server, &mut [&mut one, &mut two], 70).await;
    assert!(won.contains(" of 110,"), "{won}");
    assert_eq!(draw_of_round(&dir, 7).entries, stakes(&[(1, 20), (2, 90)]));
    drop((one, two));
    let dir = server.stop_keeping_dir().await;
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn a_restart_mid_epoch_goes_on_with_the_round_and_the_snapshot_on_disk() {
    let server = ledger(ACCOUNTS).await;
    let (mut one, _) = stake(&server, 1, 40).await;
    let (mut two, _) = stake(&server, 2, 30).await;
    for _ in 1..=4 {
        block(&server, &mut [&mut one, &mut two], 70).await;
    }
    assert_eq!(round_now(&mut one).await, 5);
    drop((one, two));
    let dir = server.stop_keeping_dir().await;
    let on_disk = std::fs::read(dir.path().join(SNAPSHOTS_FILE)).unwrap();
    assert_eq!(snapshots(dir.path()), [snapshot(1, 4, &[(1, 40), (2, 30)])]);

    let server = restart(dir, ACCOUNTS).await;
    let dir = server.dir.path().to_path_buf();
    // Both are in epoch 1's snapshot: entrants at once, capped by it.
    let (mut one, not) = stake(&server, 1, 60).await;
    assert_eq!(not, None);
    let (mut two, not) = stake(&server, 2, 10).await;
    assert_eq!(not, None);
    assert_eq!(round_now(&mut one).await, 5);
    assert_eq!(std::fs::read(dir.join(SNAPSHOTS_FILE)).unwrap(), on_disk);
    // Not in it: waits for epoch 2, as before the restart.
    let (mut three, not) = stake(&server, 3, 25).await;
    assert_eq!(not, Some(not_entrant(1, 7)));
    assert_eq!(
        propose(&mut three, 70).await,
        format!("BPM not entered: {}", not_entrant(1, 7))
    );
    block(&server, &mut [&mut one, &mut two], 70).await;
    let b = block_of_round(&dir, 5);
    assert_eq!(snapshot_hash(&b), None, "block 4 committed to it already");
    assert_eq!(draw_of_round(&dir, 5).entries, stakes(&[(1, 40), (2, 10)]));
    block(&server, &mut [&mut one, &mut two], 70).await;

    // Epoch 2 from the bonds after the restart, appended after epoch 1's line.
    assert_eq!(round_now(&mut three).await, 7);
    let second = snapshot(2, 7, &[(1, 60), (2, 10), (3, 25)]);
    assert_eq!(snapshots(&dir)[1], second);
    assert!(std::fs::read(dir.join(SNAPSHOTS_FILE))
        .unwrap()
        .starts_with(&on_disk));
    block(&server, &mut [&mut three, &mut one, &mut two], 70).await;
    assert_eq!(
        snapshot_hash(&block_of_round(&dir, 7)),
        Some(hex::encode(second.hash()))
    );
    drop((one, two, three));
    let dir = server.stop_keeping_dir().await;
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn a_restart_after_a_snapshot_before_its_first_block_reuses_it_and_stays_in_its_epoch() {
    let server = ledger(ACCOUNTS).await;
    let (mut one, _) = stake(&server, 1, 40).await;
    block(&server, &mut [&mut one], 70).await;
    // Rounds 2 and 3 close empty; round 4 opens epoch 1, and the server stops before a block.
    tick_to(&server, &mut one, 4).await;
    drop(one);
    let dir = server.stop_keeping_dir().await;
    let on_disk = std::fs::read(dir.path().join(SNAPSHOTS_FILE)).unwrap();
    let first = snapshot(1, 4, &[(1, 40)]);
    assert_eq!(snapshots(dir.path()), std::slice::from_ref(&first));
    assert_eq!(blocks(dir.path()).last().unwrap()["Round"], 1);

    // Not back to round 2, after the last block: the epoch opened already.
    let server = restart(dir, ACCOUNTS).await;
    let dir = server.dir.path().to_path_buf();
    let (mut one, not) = stake(&server, 1, 40).await;
    assert_eq!(not, None);
    assert_eq!(round_now(&mut one).await, 4);
    assert_eq!(std::fs::read(dir.join(SNAPSHOTS_FILE)).unwrap(), on_disk);
    let (two, not) = stake(&server, 2, 5).await;
    assert_eq!(not, Some(not_entrant(1, 7)));
    block(&server, &mut [&mut one], 70).await;
    assert_eq!(
        snapshot_hash(&block_of_round(&dir, 4)),
        Some(hex::encode(first.hash()))
    );
    drop((one, two));
    let dir = server.stop_keeping_dir().await;
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn a_boundary_with_nobody_staked_copies_the_previous_snapshot() {
    let server = ledger(ACCOUNTS).await;
    let dir = server.dir.path().to_path_buf();
    let (mut one, _) = stake(&server, 1, 40).await;
    let (two, _) = stake(&server, 2, 30).await;
    tick_to(&server, &mut one, 4).await;
    let first = snapshot(1, 4, &[(1, 40), (2, 30)]);
    assert_eq!(snapshots(&dir), std::slice::from_ref(&first));
    quit(two, 30).await;
    block(&server, &mut [&mut one], 70).await;
    quit(one, 40).await;
    // Rounds 5 and 6 close with nobody staked: epoch 2 keeps epoch 1's stakes.
    let (mut three, _) = server.login(3).await;
    tick_to(&server, &mut three, 7).await;
    let second = snapshot(2, 7, &[(1, 40), (2, 30)]);
    assert_eq!(snapshots(&dir), [first.clone(), second.clone()]);

    let (mut one, not) = stake(&server, 1, 35).await;
    assert_eq!(not, None);
    let (three_staked, not) = {
        drop(three);
        stake(&server, 3, 10).await
    };
    assert_eq!(not, Some(not_entrant(2, 10)));
    block(&server, &mut [&mut one], 70).await;
    assert_eq!(
        snapshot_hash(&block_of_round(&dir, 7)),
        Some(hex::encode(second.hash()))
    );
    assert_eq!(draw_of_round(&dir, 7).entries, stakes(&[(1, 35)]));
    drop((one, three_staked));
    let dir = server.stop_keeping_dir().await;
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn a_restart_at_a_boundary_with_nobody_staked_copies_the_previous_snapshot() {
    let server = ledger(ACCOUNTS).await;
    let (mut one, _) = stake(&server, 1, 40).await;
    let (two, _) = stake(&server, 2, 30).await;
    tick_to(&server, &mut one, 4).await;
    let first = snapshot(1, 4, &[(1, 40), (2, 30)]);
    quit(two, 30).await;
    for _ in 4..=6 {
        block(&server, &mut [&mut one], 70).await;
    }
    // Closing round 6 opened epoch 2 with the one bond left.
    assert_eq!(round_now(&mut one).await, 7);
    assert_eq!(
        snapshots(server.dir.path()),
        [first.clone(), snapshot(2, 7, &[(1, 40)])]
    );
    drop(one);
    let dir = server.stop_keeping_dir().await;
    // As if the server had died after round 6's block, before epoch 2's snapshot was
    // written: the restart opens epoch 2 itself, with nobody staked.
    let text = std::fs::read_to_string(dir.path().join(SNAPSHOTS_FILE)).unwrap();
    let first_line = format!("{}\n", text.lines().next().unwrap());
    std::fs::write(dir.path().join(SNAPSHOTS_FILE), &first_line).unwrap();
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");

    let server = restart(dir, ACCOUNTS).await;
    let dir = server.dir.path().to_path_buf();
    let second = snapshot(2, 7, &[(1, 40), (2, 30)]);
    // The copy is on disk before the first session: the start opened the epoch.
    let (mut one, not) = stake(&server, 1, 40).await;
    assert_eq!(not, None);
    assert_eq!(round_now(&mut one).await, 7);
    assert_eq!(snapshots(&dir), [first, second.clone()]);
    assert!(std::fs::read_to_string(dir.join(SNAPSHOTS_FILE))
        .unwrap()
        .starts_with(&first_line));
    block(&server, &mut [&mut one], 70).await;
    assert_eq!(
        snapshot_hash(&block_of_round(&dir, 7)),
        Some(hex::encode(second.hash()))
    );
    drop(one);
    let dir = server.stop_keeping_dir().await;
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn a_copied_snapshot_holds_no_more_than_an_account_has_left() {
    const TWO: &[(u8, u64)] = &[(1, 100), (2, 55)];
    let server = ledger(TWO).await;
    let dir = server.dir.path().to_path_buf();
    let (mut one, _) = stake(&server, 1, 40).await;
    let (mut two, _) = stake(&server, 2, 50).await;
    tick_to(&server, &mut one, 4).await;
    assert_eq!(snapshots(&dir), [snapshot(1, 4, &[(1, 40), (2, 50)])]);
    // Account 2's snapshot stake is locked (it cannot send it away), but a slash burns its
    // bond: a block applies it, and 5 of its 55 are left.
    two.send("x").await;
    let rest = two.expect_closed().await;
    assert!(rest.iter().any(|l| l.contains("slashed")), "{rest:?}");
    let (mut two, _) = server.login(2).await;
    block(&server, &mut [&mut one], 70).await;
    let s = status(&mut two).await;
    assert!(s.starts_with("status: balance 5, "), "{s}");
    quit(one, 40).await;
    // Nobody staked at the boundary: the copy holds at most what each account has.
    tick_to(&server, &mut two, 7).await;
    assert_eq!(snapshots(&dir)[1], snapshot(2, 7, &[(1, 40), (2, 5)]));
    let (mut one, _) = stake(&server, 1, 40).await;
    block(&server, &mut [&mut one], 70).await;
    drop((one, two));
    let dir = server.stop_keeping_dir().await;
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
    // And the server starts on it again.
    let server = restart(dir, TWO).await;
    let (one, _) = stake(&server, 1, 10).await;
    drop(one);
    server.shutdown().await.unwrap();
}

/// A directory whose epoch 1 (from round 4) has its first block: accounts 1 and 2 bonded
/// 40 and 30, blocks in rounds 1 to 4.
async fn one_epoch() -> tempfile::TempDir {
    let server = ledger(ACCOUNTS).await;
    let (mut one, _) = stake(&server, 1, 40).await;
    let (mut two, _) = stake(&server, 2, 30).await;
    for _ in 1..=4 {
        block(&server, &mut [&mut one, &mut two], 70).await;
    }
    drop((one, two));
    let dir = server.stop_keeping_dir().await;
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
    dir
}

/// Starts on `dir` and expects the start to be refused; returns the error and the directory.
async fn refused(dir: tempfile::TempDir) -> (String, tempfile::TempDir) {
    let server = restart(dir, ACCOUNTS).await;
    let err = tokio::time::timeout(common::WAIT, server.handle)
        .await
        .expect("the server neither stopped nor refused")
        .unwrap()
        .expect_err("a damaged snapshots.jsonl was accepted");
    (format!("{err:#}"), server.dir)
}

#[tokio::test]
async fn verify_and_a_start_refuse_an_edited_snapshot() {
    let dir = one_epoch().await;
    let path = dir.path().join(SNAPSHOTS_FILE);
    let original = std::fs::read(&path).unwrap();
    let rewrite = |s: &Snapshot| {
        std::fs::write(&path, format!("{}\n", serde_json::to_string(s).unwrap())).unwrap()
    };

    // One stake lowered: the chain's SnapshotHash no longer matches.
    let mut edited = snapshot(1, 4, &[(1, 40), (2, 30)]);
    let at = edited
        .stakes
        .iter()
        .position(|(a, _)| *a == address(2))
        .unwrap();
    edited.stakes[at].1 = 29;
    rewrite(&edited);
    let (code, out) = verify(dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("FAILED: ") && out.contains("chain.jsonl") && out.contains("SnapshotHash"),
        "{out}"
    );
    let (err, dir) = refused(dir).await;
    assert!(err.contains("SnapshotHash"), "{err}");

    // Raised above the account's balance: refused as a snapshot no server could take.
    edited.stakes[at].1 = 1000;
    rewrite(&edited);
    let (code, out) = verify(dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(SNAPSHOTS_FILE), "{out}");
    let (err, dir) = refused(dir).await;
    assert!(err.contains(SNAPSHOTS_FILE), "{err}");

    // A stake of 0 is no record at all.
    edited.stakes[at].1 = 0;
    rewrite(&edited);
    let (code, out) = verify(dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(SNAPSHOTS_FILE) && out.contains("is 0"),
        "{out}"
    );
    let (err, dir) = refused(dir).await;
    assert!(err.contains(SNAPSHOTS_FILE), "{err}");

    // Removed: the block's SnapshotHash commits to a snapshot that is not there.
    std::fs::remove_file(&path).unwrap();
    let (code, out) = verify(dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("SnapshotHash"), "{out}");
    let (_, dir) = refused(dir).await;

    // Put back, it all checks out again, and the directory was left as it was.
    std::fs::write(&path, &original).unwrap();
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
    let server = restart(dir, ACCOUNTS).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_torn_last_snapshot_line_is_a_warning_for_verify_and_cut_at_start() {
    let dir = one_epoch().await;
    let path = dir.path().join(SNAPSHOTS_FILE);
    let original = std::fs::read(&path).unwrap();
    let mut torn = original.clone();
    torn.extend_from_slice(b"{\"Epoch\":2,\"FirstRound\":7,\"Epoch");
    std::fs::write(&path, &torn).unwrap();
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "warning: {}/{SNAPSHOTS_FILE}: torn last snapshot line (a crash before its epoch had a block) at byte {}; the server cuts it off at its next start",
            dir.path().display(),
            original.len()
        )),
        "{out}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        torn,
        "verify changes nothing"
    );

    let server = restart(dir, ACCOUNTS).await;
    let (mut one, not) = stake(&server, 1, 40).await;
    assert_eq!(not, None, "epoch 1's snapshot is still in force");
    assert_eq!(std::fs::read(&path).unwrap(), original);
    assert_eq!(round_now(&mut one).await, 5);
    // Appends after the cut stay whole lines.
    for _ in 5..=6 {
        block(&server, &mut [&mut one], 70).await;
    }
    assert_eq!(round_now(&mut one).await, 7);
    assert_eq!(
        snapshots(server.dir.path()),
        [
            snapshot(1, 4, &[(1, 40), (2, 30)]),
            snapshot(2, 7, &[(1, 40)])
        ]
    );
    drop(one);
    let dir = server.stop_keeping_dir().await;
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("warning"), "{out}");
}

#[tokio::test]
async fn tutorial_mode_has_no_epochs() {
    let server = start(|c| c.epoch_rounds = ROUNDS).await;
    let (mut v, _) = server.validator(10).await;
    for _ in 1..=7 {
        let won = server.make_block(&mut v, 70).await;
        assert!(won.contains("stake "), "{won}");
    }
    // A late joiner is an entrant at once, whatever the round.
    let (mut late, _) = server.validator(5).await;
    late.send("70").await;
    assert!(
        late.line_containing("entered")
            .await
            .contains("entered round 8"),
        "tutorial mode has no not-entrant answer"
    );
    drop((v, late));
    let dir = server.stop_keeping_dir().await;
    assert!(!dir.path().join(SNAPSHOTS_FILE).exists());
    assert!(blocks(dir.path())
        .iter()
        .all(|b| b.get("SnapshotHash").is_none()));
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
}
