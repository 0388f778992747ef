//! Ledger mode over real TCP, the server in-process with manual ticks: signed logins, stakes
//! bonded from balances, signed transfers, rewards and slashes, and what survives a restart.

mod common;

use std::path::Path;

use common::{
    address, key, number_after, number_before, start, start_in, start_ledger, transfer_line,
    verify, Client, TestServer,
};
use pos_lottery::tx::{Transfer, Tx, TxRecord};

const REWARD: u64 = 7;
const STAKE_PROMPT: &str = "Enter stake:";
const BPM_PROMPT: &str = "Enter a new BPM:";

/// Accounts 1 (100 tokens) and 2 (50 tokens).
const TWO: &[(u8, u64)] = &[(1, 100), (2, 50)];

async fn ledger(accounts: &[(u8, u64)]) -> TestServer {
    start_ledger(accounts, |c| c.block_reward = REWARD).await
}

fn lines(dir: &Path, file: &str) -> Vec<String> {
    match std::fs::read_to_string(dir.join(file)) {
        Ok(text) => text.lines().map(str::to_string).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("{file}: {e}"),
    }
}

/// The genesis block's hash, read from the data directory.
fn genesis_hash(dir: &Path) -> String {
    let genesis: serde_json::Value = serde_json::from_str(&lines(dir, "chain.jsonl")[0]).unwrap();
    genesis["Hash"].as_str().unwrap().to_string()
}

/// The chain id as a connection is told it (once the server has opened its directory).
async fn chain_id(server: &TestServer) -> String {
    server.connect().await.challenge().await.chain_id
}

fn tx_records(dir: &Path) -> Vec<TxRecord> {
    lines(dir, "transactions.jsonl")
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The pool log: its header's height and its entries.
fn pool(dir: &Path) -> (u64, Vec<Tx>) {
    let lines = lines(dir, "pool.jsonl");
    let header: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let entries = lines[1..]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (header["Height"].as_u64().unwrap(), entries)
}

/// `(balance, available, wins)` from a welcome or status line.
fn standing(line: &str) -> (u64, u64, u64) {
    (
        number_after(line, "balance "),
        number_after(line, "available "),
        number_before(line, " wins"),
    )
}

/// Sends `line` and expects `answer`, then the prompt again.
async fn answered(c: &mut Client, line: &str, answer: &str, prompt: &str) {
    c.send(line).await;
    assert_eq!(c.line().await, answer, "after {line:?}");
    c.expect(prompt).await;
}

/// Sends a transfer and returns the accepted id (the prompt after it consumed).
async fn transfer_ok(c: &mut Client, line: &str, t: &Transfer, prompt: &str) -> String {
    let id = t.id();
    answered(
        c,
        line,
        &format!("transfer accepted: {id} (pending until the next block)"),
        prompt,
    )
    .await;
    id
}

/// `status` for a logged-in session in the state whose prompt is `prompt` (announcements
/// that arrive first are skipped).
async fn status(c: &mut Client, prompt: Option<&str>) -> String {
    c.send("status").await;
    let mut line = c.line().await;
    while line.starts_with("winning validator: ") {
        line = c.line().await;
    }
    assert!(line.starts_with("status: balance "), "{line}");
    if let Some(p) = prompt {
        c.expect(p).await;
    }
    line
}

/// Proposes `bpm` with `v` (logged in and bonded), closes the round, returns the winner line.
async fn block(server: &TestServer, v: &mut Client, bpm: u32) -> String {
    v.send(&bpm.to_string()).await;
    assert!(v.line().await.contains("entered round"));
    v.expect(BPM_PROMPT).await;
    server.tick().await;
    v.line_containing("winning validator: ").await
}

#[tokio::test]
async fn a_signed_login_is_welcomed_with_the_account_balance() {
    let server = ledger(TWO).await;
    let mut c = server.connect().await;
    let ch = c.challenge().await;
    assert_eq!(ch.chain_id, genesis_hash(server.dir.path()));
    assert!(
        ch.nonce.len() == 64 && ch.nonce.bytes().all(|b| b.is_ascii_hexdigit()),
        "{}",
        ch.line
    );
    let mut other = server.connect().await;
    let ch2 = other.challenge().await;
    assert_eq!(ch2.chain_id, ch.chain_id);
    assert_ne!(ch2.nonce, ch.nonce, "a fresh nonce per connection");

    c.send(&ch.auth_line(&key(1))).await;
    let welcome = c.line().await;
    assert!(
        welcome.starts_with(&format!(
            "welcome {}: balance 100, available 100, 0 wins",
            address(1)
        )),
        "{welcome}"
    );
    c.expect(STAKE_PROMPT).await;
    let s = status(&mut c, Some(STAKE_PROMPT)).await;
    assert!(
        s.starts_with("status: balance 100, available 100, not staked yet, next nonce 1, round 1"),
        "{s}"
    );
    c.send("40").await;
    c.expect(&format!("you are validator {} with stake 40", address(1)))
        .await;
    c.expect(BPM_PROMPT).await;
    let s = status(&mut c, Some(BPM_PROMPT)).await;
    assert!(
        s.starts_with("status: balance 100, available 60, stake 40 bonded, next nonce 1"),
        "{s}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_signature_by_another_key_fails_and_the_same_challenge_comes_again() {
    let server = ledger(TWO).await;
    let mut c = server.connect().await;
    let ch = c.challenge().await;
    let forged = format!(
        "auth {} {}",
        address(1),
        pos_lottery::tx::sign_auth(&key(2), &ch.chain_id, &ch.nonce)
    );
    answered(
        &mut c,
        &forged,
        "auth failed: the signature does not verify",
        &ch.line,
    )
    .await;
    // Signed over another chain's id: the same.
    let other_chain = format!(
        "auth {} {}",
        address(1),
        pos_lottery::tx::sign_auth(&key(1), &"0".repeat(64), &ch.nonce)
    );
    answered(
        &mut c,
        &other_chain,
        "auth failed: the signature does not verify",
        &ch.line,
    )
    .await;
    // The nonce stays this connection's: the right signature still logs in.
    c.send(&ch.auth_line(&key(1))).await;
    assert!(c.line().await.starts_with("welcome "));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_signature_replayed_from_another_connection_fails() {
    let server = ledger(TWO).await;
    let mut first = server.connect().await;
    let ch1 = first.challenge().await;
    let mut second = server.connect().await;
    let ch2 = second.challenge().await;
    answered(
        &mut second,
        &ch1.auth_line(&key(1)),
        "auth failed: the signature does not verify",
        &ch2.line,
    )
    .await;
    first.send(&ch1.auth_line(&key(1))).await;
    assert!(first.line().await.starts_with("welcome "));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_valid_key_that_is_not_in_the_genesis_fails() {
    let server = ledger(TWO).await;
    let mut c = server.connect().await;
    let ch = c.challenge().await;
    answered(
        &mut c,
        &ch.auth_line(&key(9)),
        &format!("auth failed: {} holds no tokens on this chain", address(9)),
        &ch.line,
    )
    .await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn three_failed_logins_close_and_help_or_blank_lines_do_not_count() {
    let server = ledger(TWO).await;
    let mut c = server.connect().await;
    let ch = c.challenge().await;
    c.send("").await;
    c.send("help").await;
    assert!(c.line().await.starts_with("commands: help"));
    c.expect(&ch.line).await;
    answered(
        &mut c,
        &ch.auth_line(&key(9)),
        &format!("auth failed: {} holds no tokens on this chain", address(9)),
        &ch.line,
    )
    .await;
    // Not logged in: a transfer is no transfer, only a failed login.
    let (t, _) = transfer_line(&key(1), &ch.chain_id, &address(2), 5, 1);
    c.send(&t).await;
    let line = c.line().await;
    assert!(
        line.starts_with("auth failed: expected `auth <address> <signature>`"),
        "{line}"
    );
    c.expect(&ch.line).await;
    c.send(&format!("auth {} {}", "ab".repeat(32), "00".repeat(64)))
        .await;
    let mut rest = vec![c.line().await];
    rest.extend(c.expect_closed().await);
    assert!(rest[0].starts_with("auth failed: "), "{rest:?}");
    assert_eq!(rest[1..], ["3 failed logins; closing the connection"]);
    let (height, entries) = pool(server.dir.path());
    assert_eq!((height, entries.len()), (0, 0), "nothing entered the pool");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_second_session_for_an_account_is_refused_and_closed() {
    let server = ledger(TWO).await;
    let (mut first, _) = server.login(1).await;
    let mut second = server.connect().await;
    let ch = second.challenge().await;
    second.send(&ch.auth_line(&key(1))).await;
    let rest = second.expect_closed().await;
    assert_eq!(
        rest,
        [format!(
            "auth failed: {} is already connected; one session per account",
            address(1)
        )]
    );
    drop(second);
    // The refused session did not log the first one out.
    let mut third = server.connect().await;
    let ch = third.challenge().await;
    let s = status(&mut first, Some(STAKE_PROMPT)).await;
    assert!(s.starts_with("status: balance 100"), "{s}");
    third.send(&ch.auth_line(&key(1))).await;
    assert!(third
        .line()
        .await
        .ends_with("is already connected; one session per account"));
    // Another account logs in meanwhile; once the first leaves, the account is free again.
    let (_two, _) = server.login(2).await;
    first.send("quit").await;
    assert_eq!(first.expect_closed().await, ["goodbye"]);
    drop(first);
    let (_again, welcome) = server.login(1).await;
    assert!(welcome.starts_with(&format!("welcome {}: balance 100", address(1))));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_stake_above_what_is_available_is_asked_again_and_never_slashed() {
    let server = ledger(TWO).await;
    let (mut c, welcome) = server.login(1).await;
    assert_eq!(standing(&welcome), (100, 100, 0));
    let chain = chain_id(&server).await;
    answered(
        &mut c,
        "101",
        "stake 101 is more than your 100 available tokens (balance minus what is pending out)",
        STAKE_PROMPT,
    )
    .await;
    // A pending transfer out counts against what may be staked.
    let (line, t) = transfer_line(&key(1), &chain, &address(2), 30, 1);
    transfer_ok(&mut c, &line, &t, STAKE_PROMPT).await;
    answered(
        &mut c,
        "71",
        "stake 71 is more than your 70 available tokens (balance minus what is pending out)",
        STAKE_PROMPT,
    )
    .await;
    c.send("1000").await;
    let mut rest = vec![c.line().await];
    rest.extend(c.expect_closed().await);
    assert_eq!(
        rest,
        [
            "stake 1000 is more than your 70 available tokens (balance minus what is pending out)",
            "3 bad stakes; closing the connection"
        ]
    );
    drop(c);
    // No slash: the pool holds only the transfer, and the account can stake what it has.
    let (_, entries) = pool(server.dir.path());
    assert_eq!(entries, [Tx::Transfer(t)]);
    let (mut c, welcome) = server.login(1).await;
    assert_eq!(standing(&welcome), (100, 70, 0));
    c.send("70").await;
    c.expect(&format!("you are validator {} with stake 70", address(1)))
        .await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn reconnecting_keeps_the_address_and_the_wins() {
    let server = ledger(TWO).await;
    let mut v = server.bonded(1, 40).await;
    let won = block(&server, &mut v, 70).await;
    assert!(
        won.starts_with(&format!(
            "winning validator: {} (block 1, BPM 70, stake 40 of 40,",
            address(1)
        )),
        "{won}"
    );
    v.send("quit").await;
    assert_eq!(
        v.expect_closed().await,
        ["goodbye: your stake of 40 is withdrawn"]
    );
    drop(v);
    let (mut v, welcome) = server.login(1).await;
    assert!(
        welcome.starts_with(&format!(
            "welcome {}: balance 107, available 107, 1 wins",
            address(1)
        )),
        "{welcome}"
    );
    let s = status(&mut v, Some(STAKE_PROMPT)).await;
    assert_eq!(number_before(&s, " wins"), 1, "{s}");
    assert_eq!(number_after(&s, "chain height "), 1, "{s}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_reward_goes_to_the_winner_and_a_slash_burns_the_bond_at_the_next_block() {
    let server = ledger(TWO).await;
    let mut one = server.bonded(1, 40).await;
    let mut two = server.bonded(2, 20).await;
    let won = block(&server, &mut one, 70).await;
    assert!(won.starts_with(&format!("winning validator: {} (block 1", address(1))));
    two.line_containing("winning validator").await;
    two.send("abc").await;
    let rest = two.expect_closed().await;
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert!(
        rest[0].starts_with("slashed: ")
            && rest[0]
                .ends_with("your stake of 20 is forfeited and you are removed from the validators"),
        "{rest:?}"
    );
    drop(two);
    // On stable storage before the validator is told.
    let (height, entries) = pool(server.dir.path());
    assert_eq!(height, 1);
    assert_eq!(
        entries,
        [Tx::Slash {
            address: address(2),
            amount: 20,
            round: 2,
            line: "abc".into()
        }]
    );
    // Burned by the next block: until then the balance holds it, but it is not available.
    let (mut two, welcome) = server.login(2).await;
    assert_eq!(standing(&welcome), (50, 30, 0));
    let s = status(&mut one, Some(BPM_PROMPT)).await;
    assert_eq!(standing(&s), (107, 67, 1), "{s}");
    let won = block(&server, &mut one, 71).await;
    assert!(won.starts_with(&format!("winning validator: {} (block 2", address(1))));
    let s = status(&mut one, Some(BPM_PROMPT)).await;
    assert_eq!(standing(&s), (114, 74, 2), "{s}");
    let s = status(&mut two, Some(STAKE_PROMPT)).await;
    assert_eq!(standing(&s), (30, 30, 0), "{s}");
    // Nor can it stake the burned tokens.
    answered(
        &mut two,
        "31",
        "stake 31 is more than your 30 available tokens (balance minus what is pending out)",
        STAKE_PROMPT,
    )
    .await;

    let records = tx_records(server.dir.path());
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[1].transactions,
        [
            Tx::Slash {
                address: address(2),
                amount: 20,
                round: 2,
                line: "abc".into()
            },
            Tx::Reward {
                kind: pos_lottery::tx::RewardKind::Block,
                to: address(1),
                amount: REWARD,
                cut: 0
            }
        ]
    );
    drop((one, two));
    let dir = server.stop_keeping_dir().await;
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "ledger: 2 accounts hold a balance; supply 144 = genesis 150 + rewards 14 - burned 20; 0 transfers replayed"
        ),
        "{out}"
    );
}

#[tokio::test]
async fn each_transfer_refusal_is_answered_and_the_prompt_comes_back() {
    let server = ledger(TWO).await;
    let (mut c, _) = server.login(1).await;
    let chain = chain_id(&server).await;
    let to = address(2);
    let refused = |why: &str| format!("transfer refused: {why}");
    let signed = |amount, nonce| transfer_line(&key(1), &chain, &to, amount, nonce);

    // Signed by another key, over another chain, or over another amount.
    let by_other = Transfer::sign(&key(3), &chain, &to, 10, 1);
    let wrong_chain = Transfer::sign(&key(1), &"0".repeat(64), &to, 10, 1);
    let (_, for_ten) = signed(10, 1);
    let mut cases = vec![
        (
            format!("transfer {to} 10 1 {}", by_other.signature),
            refused("the signature does not verify"),
        ),
        (
            format!("transfer {to} 10 1 {}", wrong_chain.signature),
            refused("the signature does not verify"),
        ),
        (
            format!("transfer {to} 11 1 {}", for_ten.signature),
            refused("the signature does not verify"),
        ),
        (
            format!("transfer {to} 10 1 {}", "zz".repeat(64)),
            refused("the signature is not 128 lowercase hex characters"),
        ),
        (
            format!(
                "transfer {to} 10 1 {}",
                for_ten.signature.to_ascii_uppercase()
            ),
            refused("the signature is not 128 lowercase hex characters"),
        ),
        (
            signed(10, 2).0,
            refused("nonce is 2, expected 1 (the sender's last applied nonce, plus its transfers still pending, plus 1)"),
        ),
        (
            signed(10, 0).0,
            refused("nonce is 0, expected 1 (the sender's last applied nonce, plus its transfers still pending, plus 1)"),
        ),
        (
            signed(101, 1).0,
            refused(&format!("amount 101 is more than the 100 that {} has available (balance minus bonded stake, delegations out and what is already pending out)", address(1))),
        ),
        (
            signed(0, 1).0,
            refused("amount is 0; a transfer moves at least 1 token"),
        ),
        (
            transfer_line(&key(1), &chain, &address(1), 10, 1).0,
            refused("a transfer to itself moves nothing"),
        ),
        (
            transfer_line(&key(1), &chain, "xyz", 10, 1).0,
            refused("to is \"xyz\", not an address (64 lowercase hex characters, an Ed25519 public key)"),
        ),
        (
            transfer_line(&key(1), &chain, &to.to_ascii_uppercase(), 10, 1).0,
            refused(&format!("to is {:?}, not an address (64 lowercase hex characters, an Ed25519 public key)", to.to_ascii_uppercase())),
        ),
        (
            format!("transfer {to} ten 1 {}", for_ten.signature),
            refused("amount \"ten\" is not a whole number from 0 to 18446744073709551615; expected `transfer <to> <amount> <nonce> <signature>`"),
        ),
        (
            format!("transfer {to} 10"),
            refused("expected `transfer <to> <amount> <nonce> <signature>`"),
        ),
    ];
    // The identity point is a weak key: no signature could ever move tokens sent to it.
    let weak = format!("01{}", "00".repeat(31));
    cases.push((
        transfer_line(&key(1), &chain, &weak, 10, 1).0,
        refused(&format!(
            "to is {weak:?}, not an address (64 lowercase hex characters, an Ed25519 public key)"
        )),
    ));
    for (line, answer) in &cases {
        answered(&mut c, line, answer, STAKE_PROMPT).await;
    }
    // Nothing refused used up a nonce or any tokens.
    let s = status(&mut c, Some(STAKE_PROMPT)).await;
    assert!(
        s.starts_with("status: balance 100, available 100, not staked yet, next nonce 1"),
        "{s}"
    );
    let (line, t) = signed(10, 1);
    transfer_ok(&mut c, &line, &t, STAKE_PROMPT).await;
    // The same line again is a replay.
    answered(
        &mut c,
        &line,
        &refused("nonce is 1, expected 2 (the sender's last applied nonce, plus its transfers still pending, plus 1)"),
        STAKE_PROMPT,
    )
    .await;
    answered(
        &mut c,
        &signed(91, 2).0,
        &refused(&format!("amount 91 is more than the 90 that {} has available (balance minus bonded stake, delegations out and what is already pending out)", address(1))),
        STAKE_PROMPT,
    )
    .await;
    // As a validator the bond counts too, and a refusal is never a slash.
    c.send("50").await;
    c.line_containing("you are validator").await;
    c.expect(BPM_PROMPT).await;
    answered(
        &mut c,
        &signed(41, 2).0,
        &refused(&format!("amount 41 is more than the 40 that {} has available (balance minus bonded stake, delegations out and what is already pending out)", address(1))),
        BPM_PROMPT,
    )
    .await;
    answered(
        &mut c,
        &format!("transfer {to} 10 2 {}", "00".repeat(64)),
        &refused("the signature does not verify"),
        BPM_PROMPT,
    )
    .await;
    // After the block applied it, the old transfer is still a replay.
    let won = block(&server, &mut c, 70).await;
    assert!(won.contains("(block 1,"), "{won}");
    answered(
        &mut c,
        &line,
        &refused("nonce is 1, expected 2 (the sender's last applied nonce, plus its transfers still pending, plus 1)"),
        BPM_PROMPT,
    )
    .await;
    let s = status(&mut c, Some(BPM_PROMPT)).await;
    assert!(
        s.starts_with("status: balance 97, available 47, stake 50 bonded, next nonce 2"),
        "{s}"
    );
    let records = tx_records(server.dir.path());
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].transactions.len(),
        2,
        "one transfer and the reward"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_transfer_applies_in_the_next_block_and_only_in_a_block_with_a_candidate() {
    let server = ledger(TWO).await;
    let dir = server.dir.path().to_path_buf();
    let (mut one, _) = server.login(1).await;
    let chain = chain_id(&server).await;
    let (line, t) = transfer_line(&key(1), &chain, &address(2), 30, 1);
    let id = transfer_ok(&mut one, &line, &t, STAKE_PROMPT).await;
    assert_eq!(pool(&dir), (0, vec![Tx::Transfer(t.clone())]));

    // A round with a pending transfer but no candidate makes no block.
    server.tick().await;
    let s = status(&mut one, Some(STAKE_PROMPT)).await;
    assert!(
        s.starts_with("status: balance 100, available 70, not staked yet, next nonce 2, round 2"),
        "{s}"
    );
    assert!(s.ends_with("chain height 0"), "{s}");
    assert_eq!(lines(&dir, "chain.jsonl").len(), 1);
    assert!(tx_records(&dir).is_empty());
    assert_eq!(pool(&dir), (0, vec![Tx::Transfer(t.clone())]));
    // Incoming tokens are not spendable before they apply.
    let (mut two, welcome) = server.login(2).await;
    assert_eq!(standing(&welcome), (50, 50, 0));
    answered(
        &mut two,
        &transfer_line(&key(2), &chain, &address(1), 51, 1).0,
        &format!("transfer refused: amount 51 is more than the 50 that {} has available (balance minus bonded stake, delegations out and what is already pending out)", address(2)),
        STAKE_PROMPT,
    )
    .await;

    one.send("60").await;
    one.line_containing("you are validator").await;
    one.expect(BPM_PROMPT).await;
    let won = block(&server, &mut one, 70).await;
    assert!(
        won.starts_with(&format!("winning validator: {} (block 1", address(1))),
        "{won}"
    );
    let records = tx_records(&dir);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].index, 1);
    assert_eq!(
        records[0].transactions,
        [
            Tx::Transfer(t),
            Tx::Reward {
                kind: pos_lottery::tx::RewardKind::Block,
                to: address(1),
                amount: REWARD,
                cut: 0
            }
        ]
    );
    assert_eq!(records[0].transactions[0].id(), id);
    assert_eq!(pool(&dir), (1, vec![]), "the block took the pool");
    let s = status(&mut one, Some(BPM_PROMPT)).await;
    assert!(
        s.starts_with("status: balance 77, available 17, stake 60 bonded, next nonce 2"),
        "{s}"
    );
    let s = status(&mut two, Some(STAKE_PROMPT)).await;
    assert_eq!(standing(&s), (80, 80, 0), "{s}");
    // Now they are.
    let (line, t2) = transfer_line(&key(2), &chain, &address(1), 80, 1);
    transfer_ok(&mut two, &line, &t2, STAKE_PROMPT).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_account_outside_the_genesis_can_log_in_once_a_transfer_to_it_applies() {
    let server = ledger(TWO).await;
    let chain = chain_id(&server).await;
    let mut one = server.bonded(1, 10).await;
    let (line, t) = transfer_line(&key(1), &chain, &address(9), 25, 1);
    transfer_ok(&mut one, &line, &t, BPM_PROMPT).await;
    let mut c = server.connect().await;
    let ch = c.challenge().await;
    answered(
        &mut c,
        &ch.auth_line(&key(9)),
        &format!("auth failed: {} holds no tokens on this chain", address(9)),
        &ch.line,
    )
    .await;
    block(&server, &mut one, 70).await;
    // Announcements reach a connection before it logs in, too.
    c.line_containing("winning validator: ").await;
    c.send(&ch.auth_line(&key(9))).await;
    let welcome = c.line().await;
    assert_eq!(standing(&welcome), (25, 25, 0), "{welcome}");
    c.expect(STAKE_PROMPT).await;
    let (line, back) = transfer_line(&key(9), &chain, &address(1), 5, 1);
    transfer_ok(&mut c, &line, &back, STAKE_PROMPT).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_restart_keeps_balances_wins_nonces_and_pending_transfers() {
    let server = ledger(TWO).await;
    let chain = chain_id(&server).await;
    let mut one = server.bonded(1, 40).await;
    let (line, t1) = transfer_line(&key(1), &chain, &address(2), 10, 1);
    transfer_ok(&mut one, &line, &t1, BPM_PROMPT).await;
    block(&server, &mut one, 70).await;
    let (line, t2) = transfer_line(&key(1), &chain, &address(2), 5, 2);
    let pending_id = transfer_ok(&mut one, &line, &t2, BPM_PROMPT).await;
    drop(one);
    let dir = server.stop_keeping_dir().await;

    let server = start_in(dir, |c| {
        c.block_reward = REWARD;
        c.genesis = Some(common::genesis_setting(TWO));
    })
    .await;
    let mut c = server.connect().await;
    let ch = c.challenge().await;
    assert_eq!(ch.chain_id, chain, "the same chain");
    drop(c);
    let (mut one, welcome) = server.login(1).await;
    // 100 - 10 + 7, with 5 still pending out.
    assert_eq!(standing(&welcome), (97, 92, 1), "{welcome}");
    let s = status(&mut one, Some(STAKE_PROMPT)).await;
    assert_eq!(number_after(&s, "next nonce "), 3, "{s}");
    let (mut two, welcome) = server.login(2).await;
    assert_eq!(standing(&welcome), (60, 60, 0), "{welcome}");
    // The pending transfer applies in the first block after the restart.
    one.send("40").await;
    one.line_containing("you are validator").await;
    one.expect(BPM_PROMPT).await;
    let won = block(&server, &mut one, 72).await;
    assert!(won.contains("(block 2,"), "{won}");
    let records = tx_records(server.dir.path());
    assert_eq!(records[1].transactions[0].id(), pending_id);
    let s = status(&mut two, Some(STAKE_PROMPT)).await;
    assert_eq!(standing(&s), (65, 65, 0), "{s}");
    let s = status(&mut one, Some(BPM_PROMPT)).await;
    assert_eq!(standing(&s), (99, 59, 2), "{s}");
    drop((one, two));
    let dir = server.stop_keeping_dir().await;
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("supply 164 = genesis 150 + rewards 14 - burned 0; 2 transfers replayed"),
        "{out}"
    );
}

#[tokio::test]
async fn a_restart_with_another_genesis_none_or_another_block_reward_is_refused() {
    let server = ledger(TWO).await;
    let dir = server.stop_keeping_dir().await;
    let before = std::fs::read(dir.path().join("chain.jsonl")).unwrap();
    let dir = {
        let server = start_in(dir, |c| {
            c.genesis = Some(common::genesis_setting(&[(1, 100)]))
        })
        .await;
        let err = server.handle.await.unwrap().unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("does not match this chain's genesis file"),
            "{text}"
        );
        server.dir
    };
    let dir = {
        let server = start_in(dir, |_| {}).await;
        let err = server.handle.await.unwrap().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("holds a ledger-mode chain"), "{text}");
        server.dir
    };
    // The genesis block fixed the reward: another BLOCK_REWARD is refused, not applied.
    let dir = {
        let server = start_in(dir, |c| {
            c.block_reward = REWARD + 1;
            c.genesis = Some(common::genesis_setting(TWO));
        })
        .await;
        let err = server.handle.await.unwrap().unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains(&format!(
                "BLOCK_REWARD is {}, but this ledger-mode chain's genesis block fixes its reward at {REWARD}",
                REWARD + 1
            )),
            "{text}"
        );
        server.dir
    };
    assert_eq!(
        std::fs::read(dir.path().join("chain.jsonl")).unwrap(),
        before
    );
}

#[tokio::test]
async fn in_tutorial_mode_a_transfer_line_is_a_bad_balance_or_a_slashing_bpm() {
    let server = start(|_| {}).await;
    let (line, _) = transfer_line(&key(1), &"0".repeat(64), &address(2), 5, 1);
    let mut c = server.connect().await;
    c.expect_prompt().await;
    c.send(&line).await;
    assert!(
        c.line()
            .await
            .starts_with("token balance must be a whole number"),
        "a bad balance"
    );
    c.expect("Enter token balance:").await;
    let (mut v, _) = server.validator(10).await;
    v.send(&line).await;
    let rest = v.expect_closed().await;
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert!(
        rest[0].starts_with("slashed: ")
            && rest[0]
                .ends_with("your stake of 10 is forfeited and you are removed from the validators"),
        "{rest:?}"
    );
    for file in ["genesis.json", "transactions.jsonl", "pool.jsonl"] {
        assert!(
            !server.dir.path().join(file).exists(),
            "{file} in tutorial mode"
        );
    }
    server.shutdown().await.unwrap();
}

/// Restarts the server on `dir` with the same genesis (`TWO`).
async fn restart(dir: tempfile::TempDir) -> TestServer {
    start_in(dir, |c| {
        c.block_reward = REWARD;
        c.genesis = Some(common::genesis_setting(TWO));
    })
    .await
}

#[tokio::test]
async fn a_crash_between_the_block_and_the_pool_reset_applies_nothing_twice() {
    let server = ledger(TWO).await;
    let chain = chain_id(&server).await;
    let dir = server.dir.path().to_path_buf();
    let mut one = server.bonded(1, 40).await;
    let (line, t) = transfer_line(&key(1), &chain, &address(2), 10, 1);
    transfer_ok(&mut one, &line, &t, BPM_PROMPT).await;
    let before_block = std::fs::read(dir.join("pool.jsonl")).unwrap();
    block(&server, &mut one, 70).await;
    drop(one);
    let dir = server.stop_keeping_dir().await;
    // As if the process died after the block was written, before the pool started over.
    std::fs::write(dir.path().join("pool.jsonl"), &before_block).unwrap();
    assert_eq!(pool(dir.path()), (0, vec![Tx::Transfer(t)]));

    let server = restart(dir).await;
    let (mut one, welcome) = server.login(1).await;
    assert_eq!(standing(&welcome), (97, 97, 1), "{welcome}");
    assert_eq!(pool(server.dir.path()), (1, vec![]));
    let s = status(&mut one, Some(STAKE_PROMPT)).await;
    assert_eq!(number_after(&s, "next nonce "), 2, "{s}");
    let (line, t2) = transfer_line(&key(1), &chain, &address(2), 1, 2);
    transfer_ok(&mut one, &line, &t2, STAKE_PROMPT).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_crash_before_the_block_keeps_its_transfers_pending_for_the_next() {
    let server = ledger(TWO).await;
    let chain = chain_id(&server).await;
    let mut one = server.bonded(1, 40).await;
    let (line, t) = transfer_line(&key(1), &chain, &address(2), 10, 1);
    let id = transfer_ok(&mut one, &line, &t, BPM_PROMPT).await;
    drop(one);
    let dir = server.stop_keeping_dir().await;
    // As if the process died after block 1's draw and transactions lines, before the
    // block; and with a pool line torn part-way (never acknowledged).
    let spare = TxRecord {
        index: 1,
        transactions: vec![
            Tx::Transfer(t.clone()),
            Tx::Reward {
                kind: pos_lottery::tx::RewardKind::Block,
                to: address(1),
                amount: REWARD,
                cut: 0,
            },
        ],
    };
    let mut txs = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("transactions.jsonl"))
        .unwrap();
    std::io::Write::write_all(
        &mut txs,
        format!("{}\n", serde_json::to_string(&spare).unwrap()).as_bytes(),
    )
    .unwrap();
    let mut pool_log = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("pool.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut pool_log, b"{\"Type\":\"transfer\",\"Fr").unwrap();
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("transactions.jsonl: last transactions line has no block"),
        "{out}"
    );

    let server = restart(dir).await;
    let (mut one, welcome) = server.login(1).await;
    assert_eq!(standing(&welcome), (100, 90, 0), "{welcome}");
    assert!(
        tx_records(server.dir.path()).is_empty(),
        "the spare line is cut"
    );
    assert_eq!(pool(server.dir.path()), (0, vec![Tx::Transfer(t)]));
    one.send("40").await;
    one.line_containing("you are validator").await;
    one.expect(BPM_PROMPT).await;
    block(&server, &mut one, 70).await;
    let records = tx_records(server.dir.path());
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].transactions[0].id(), id);
    let s = status(&mut one, Some(BPM_PROMPT)).await;
    assert_eq!(standing(&s), (97, 57, 1), "{s}");
    drop(one);
    let dir = server.stop_keeping_dir().await;
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 transfers replayed"), "{out}");
}

#[tokio::test]
async fn a_pending_slash_survives_a_restart_and_burns_at_the_next_block() {
    let server = ledger(TWO).await;
    let mut two = server.bonded(2, 20).await;
    two.send("not a heart rate").await;
    assert!(two.line().await.starts_with("slashed: "));
    drop(two);
    let dir = server.stop_keeping_dir().await;
    let server = restart(dir).await;
    let (two, welcome) = server.login(2).await;
    assert_eq!(standing(&welcome), (50, 30, 0), "{welcome}");
    let mut one = server.bonded(1, 40).await;
    block(&server, &mut one, 70).await;
    let s = status(&mut one, Some(BPM_PROMPT)).await;
    assert_eq!(standing(&s), (107, 67, 1), "{s}");
    drop((one, two));
    let dir = server.stop_keeping_dir().await;
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("supply 137 = genesis 150 + rewards 7 - burned 20"),
        "{out}"
    );
}

#[tokio::test]
async fn a_watching_account_can_still_transfer_and_its_stake_is_unbonded() {
    let server = ledger(TWO).await;
    let chain = chain_id(&server).await;
    let (mut one, _) = server.login(1).await;
    one.send("60").await;
    one.line_containing("you are validator").await;
    one.expect(BPM_PROMPT).await;
    one.send("watch").await;
    assert_eq!(
        one.line().await,
        "watching: your stake of 60 is withdrawn; you will see every winner and chain broadcast"
    );
    let s = status(&mut one, None).await;
    assert!(
        s.starts_with("status: balance 100, available 100, watching, next nonce 1"),
        "{s}"
    );
    let (line, t) = transfer_line(&key(1), &chain, &address(2), 100, 1);
    one.send(&line).await;
    assert_eq!(
        one.line().await,
        format!(
            "transfer accepted: {} (pending until the next block)",
            t.id()
        )
    );
    // Staking is over for this connection: a number is not a stake.
    one.send("5").await;
    assert_eq!(
        one.line().await,
        "you are watching; reconnect to stake and propose"
    );
    server.shutdown().await.unwrap();
}
