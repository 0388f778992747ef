//! Ledger mode's HTTP side against the real server: the accounts, signed transfers from
//! `POST /api/transactions` to the pool and into a block, every refusal, the rate limit,
//! the ledger fields of `/info`, `/api/stats` and `/transactionPool`, and tutorial mode's 404s.

mod common;

use common::http::{http_ledger, json, request, Answer, Events, HttpLedger};
use common::{address, key, start, Client, WAIT};
use pos_lottery::config::Config;
use pos_lottery::tx::{sign_auth, Transfer};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Where transfers are posted.
const TRANSACTIONS: &str = "/api/transactions";

/// A ledger-mode server with HTTP on whose genesis funds key `n` with `balance` for each pair.
async fn ledger(funds: &[(u8, u64)], tweak: impl FnOnce(&mut Config)) -> HttpLedger {
    http_ledger(funds, tweak).await
}

/// Transfers and blocks on an [`HttpLedger`].
trait Transfers {
    /// Signs and posts a transfer from key `from` to key `to`.
    async fn send(&self, from: u8, to: u8, amount: u64, nonce: u64) -> (Transfer, Answer);

    async fn account(&self, n: u8) -> Value;

    async fn pool(&self) -> Vec<Value>;

    /// Logs key `n` in over TCP and stakes `stake`; the BPM prompt is consumed.
    async fn validator(&self, n: u8, stake: u64) -> Client;

    /// Has `v` propose, closes the round and waits for the block.
    async fn make_block(&self, v: &mut Client) -> String;
}

impl Transfers for HttpLedger {
    async fn send(&self, from: u8, to: u8, amount: u64, nonce: u64) -> (Transfer, Answer) {
        let t = Transfer::sign(&key(from), &self.chain_id, &address(to), amount, nonce);
        let answer = self
            .post(TRANSACTIONS, &serde_json::to_string(&t).unwrap())
            .await;
        (t, answer)
    }

    async fn account(&self, n: u8) -> Value {
        self.get_json(&format!("/api/accounts/{}", address(n)))
            .await
    }

    async fn pool(&self) -> Vec<Value> {
        self.get_json("/transactionPool")
            .await
            .as_array()
            .unwrap()
            .clone()
    }

    async fn validator(&self, n: u8, stake: u64) -> Client {
        let mut c = self.server.connect().await;
        let challenge = loop {
            let line = c.line().await;
            if line.starts_with("challenge ") {
                break line;
            }
        };
        let words: Vec<&str> = challenge.split_whitespace().collect();
        assert_eq!(words.len(), 3, "{challenge}");
        assert_eq!(words[1], self.chain_id);
        c.send(&format!(
            "auth {} {}",
            address(n),
            sign_auth(&key(n), words[1], words[2])
        ))
        .await;
        c.line_containing("Enter stake:").await;
        c.send(&stake.to_string()).await;
        c.line_containing("you are validator").await;
        c.expect("Enter a new BPM:").await;
        c
    }

    async fn make_block(&self, v: &mut Client) -> String {
        self.server.make_block(v, 70).await
    }
}

#[tokio::test]
async fn tutorial_mode_has_no_ledger_routes() {
    let server = start(|c| c.http_addr = Some("127.0.0.1:0".parse().unwrap())).await;
    let http = server.http.unwrap();
    for (method, path) in [
        ("GET", "/api/accounts".to_string()),
        ("GET", format!("/api/accounts/{}", address(1))),
        ("POST", "/api/transactions".to_string()),
        ("GET", "/api/transactions".to_string()),
    ] {
        let a = request(http, method, &path, b"{}").await;
        assert_eq!(a.status, 404, "{method} {path}: {}", a.body);
        assert_eq!(a.header("content-type"), Some("application/json"));
        assert!(
            a.error().contains("only in ledger mode (GENESIS)"),
            "{}",
            a.body
        );
    }
    let info = json(&server.get("/info").await.1);
    assert_eq!(info["mode"], "tutorial");
    assert!(info["genesis"].is_null(), "{info}");
    assert!(info.get("chain_id").is_none(), "{info}");
    assert_eq!(info["transfers_per_sec"], 20_000);
    let stats = json(&server.get("/api/stats").await.1);
    assert!(stats.get("supply").is_none(), "{stats}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn accounts_are_listed_by_balance_paged_and_looked_up() {
    let l = ledger(&[(1, 300), (2, 100), (3, 200)], |_| {}).await;
    let list = l.get("/api/accounts").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.header("x-total-count"), Some("3"));
    let list = list.json();
    let balances: Vec<u64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["balance"].as_u64().unwrap())
        .collect();
    assert_eq!(balances, [300, 200, 100]);
    let first = &list[0];
    assert_eq!(first["address"], address(1).as_str());
    for (field, want) in [
        ("available", 300),
        ("bonded", 0),
        ("nonce", 0),
        ("next_nonce", 1),
        ("wins", 0),
    ] {
        assert_eq!(first[field], want, "{field} in {first}");
    }
    assert_eq!(first["connected"], false);

    let page = l.get_json("/api/accounts?offset=1&limit=1").await;
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["address"], address(3).as_str());
    assert_eq!(
        l.get_json("/api/accounts?offset=9").await,
        Value::Array(vec![])
    );
    for bad in ["limit=0", "limit=10001", "limit=x", "offset=-1"] {
        let a = l.get(&format!("/api/accounts?{bad}")).await;
        assert_eq!(a.status, 400, "{bad}: {}", a.body);
        assert!(!a.error().is_empty());
    }

    let one = l.account(2).await;
    assert_eq!(one["balance"], 100);
    assert_eq!(one["address"], address(2).as_str());
    let unknown = l.get(&format!("/api/accounts/{}", address(9))).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert!(unknown.error().contains(&address(9)), "{}", unknown.body);
    for bad in [
        address(1).to_uppercase(),
        "abc".to_string(),
        format!("{}0", address(1)),
    ] {
        let a = l.get(&format!("/api/accounts/{bad}")).await;
        assert_eq!(a.status, 400, "{bad}: {}", a.body);
        assert!(a.error().contains("64 lowercase hex"), "{}", a.body);
    }

    let info = l.get_json("/info").await;
    assert_eq!(info["mode"], "ledger");
    let genesis_block = l.get_json("/api/blocks/0").await;
    assert_eq!(info["chain_id"], genesis_block["Hash"], "the chain id");
    assert_eq!(info["genesis_total"], 600);
    assert_eq!(info["supply"], 600);
    assert_eq!(info["accounts"], 3);
    assert!(
        info["genesis"].as_str().unwrap().ends_with("genesis.json"),
        "{info}"
    );
    let stats = l.get_json("/api/stats").await;
    for (field, want) in [
        ("supply", 600),
        ("genesis_total", 600),
        ("minted", 0),
        ("burned", 0),
        ("accounts", 3),
        ("pending_transfers", 0),
        ("pending_slashes", 0),
    ] {
        assert_eq!(stats[field], want, "{field} in {stats}");
    }
    l.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_transfer_is_accepted_pooled_then_applied_by_the_next_block() {
    let l = ledger(&[(1, 1000), (2, 10), (3, 500)], |c| c.block_reward = 7).await;
    let mut events = Events::open(l.http()).await;
    let (t, answer) = l.send(1, 2, 250, 1).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let accepted = answer.json();
    assert_eq!(accepted["status"], "pending");
    assert_eq!(accepted["id"], t.id().as_str());

    let event = events.find("transfer").await;
    assert_eq!(event["from"], address(1).as_str());
    assert_eq!(event["amount"], 250);

    // Pending: counted out of the sender at once, not yet moved.
    let sender = l.account(1).await;
    assert_eq!(
        (
            &sender["balance"],
            &sender["available"],
            &sender["nonce"],
            &sender["next_nonce"]
        ),
        (
            &Value::from(1000),
            &Value::from(750),
            &Value::from(0),
            &Value::from(2)
        )
    );
    assert_eq!(l.account(2).await["balance"], 10);
    let pool = l.pool().await;
    assert_eq!(pool.len(), 1, "{pool:?}");
    let entry = &pool[0];
    assert_eq!(entry["type"], "transfer");
    assert_eq!(entry["id"], t.id().as_str());
    assert_eq!(entry["from"], address(1).as_str());
    assert_eq!(entry["to"], address(2).as_str());
    assert_eq!(entry["amount"], 250);
    assert_eq!(entry["nonce"], 1);
    assert_eq!(entry["signature"], t.signature.as_str());
    assert_eq!(l.get_json("/api/stats").await["pending_transfers"], 1);

    // A validator enters: candidates come first in the one list, and `type` filters it.
    let mut v = l.validator(3, 100).await;
    v.send("70").await;
    v.line_containing("entered").await;
    let pool = l.pool().await;
    let kinds: Vec<&str> = pool.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["candidate", "transfer"]);
    let only = l.get_json("/transactionPool?type=transfer").await;
    assert_eq!(only.as_array().unwrap().len(), 1);
    assert_eq!(only[0]["id"], t.id().as_str());
    assert_eq!(
        l.get("/transactionPool?type=reward").await.status,
        400,
        "an unknown type"
    );
    assert_eq!(l.account(3).await["connected"], true);
    assert_eq!(l.account(3).await["bonded"], 100);

    l.server.tick().await;
    v.line_containing("winning validator").await;
    let sender = l.account(1).await;
    assert_eq!(
        (
            &sender["balance"],
            &sender["available"],
            &sender["nonce"],
            &sender["next_nonce"]
        ),
        (
            &Value::from(750),
            &Value::from(750),
            &Value::from(1),
            &Value::from(2)
        )
    );
    assert_eq!(l.account(2).await["balance"], 260);
    let winner = l.account(3).await;
    assert_eq!(
        (&winner["balance"], &winner["wins"]),
        (&Value::from(507), &Value::from(1))
    );
    assert!(l.pool().await.is_empty());
    let stats = l.get_json("/api/stats").await;
    assert_eq!(stats["supply"], 1517);
    assert_eq!(stats["minted"], 7);
    assert_eq!(stats["pending_transfers"], 0);
    assert_eq!(l.get_json("/info").await["supply"], 1517);

    // The next transfer carries the next nonce, and the same one again is a replay.
    let (_, answer) = l.send(1, 2, 1, 2).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    l.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_refusal_says_why_and_changes_nothing() {
    let l = ledger(&[(1, 100), (2, 50)], |_| {}).await;
    let (accepted, answer) = l.send(1, 2, 10, 1).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let before_accounts = l.get_json("/api/accounts").await;
    let before_pool = l.pool().await;

    let signed = |amount, nonce| Transfer::sign(&key(1), &l.chain_id, &address(2), amount, nonce);
    let body = |t: &Transfer| serde_json::to_string(t).unwrap();
    let mut tampered = signed(5, 2);
    tampered.amount = 6;
    let mut other_chain = Transfer::sign(&key(1), &"0".repeat(64), &address(2), 5, 2);
    other_chain.to = address(2);
    let mut to_itself = signed(5, 2);
    to_itself.to = address(1);
    let mut bad_from = signed(5, 2);
    bad_from.from = "xyz".into();
    let mut bad_to = signed(5, 2);
    bad_to.to = address(2).to_uppercase();
    let zero = signed(0, 2);
    let mut unknown_field = serde_json::to_value(signed(5, 2)).unwrap();
    unknown_field["memo"] = "hi".into();
    let mut missing = serde_json::to_value(signed(5, 2)).unwrap();
    missing.as_object_mut().unwrap().remove("signature");
    let cases: Vec<(&str, String, &str)> = vec![
        ("tampered amount", body(&tampered), "does not verify"),
        (
            "another chain's signature",
            body(&other_chain),
            "does not verify",
        ),
        ("nonce ahead", body(&signed(5, 3)), "nonce is 3, expected 2"),
        (
            "nonce behind",
            body(&signed(5, 1)),
            "nonce is 1, expected 2",
        ),
        (
            "the same transfer again",
            body(&accepted),
            "nonce is 1, expected 2",
        ),
        (
            "more than available",
            body(&signed(91, 2)),
            "more than the 90",
        ),
        ("zero", body(&zero), "amount is 0"),
        ("to itself", body(&to_itself), "to itself"),
        ("malformed from", body(&bad_from), "from is \"xyz\""),
        ("malformed to", body(&bad_to), "not an address"),
        (
            "unknown field",
            unknown_field.to_string(),
            "unknown field `memo`",
        ),
        (
            "missing field",
            missing.to_string(),
            "missing field `signature`",
        ),
        (
            "negative amount",
            body(&signed(5, 2)).replace("\"amount\":5", "\"amount\":-5"),
            "not a transfer",
        ),
        ("not JSON", "transfer 5 please".into(), "not a transfer"),
        (
            "a bare signature",
            format!("{:?}", "ab".repeat(64)),
            "not a transfer",
        ),
    ];
    for (what, body, why) in cases {
        let a = l.post(TRANSACTIONS, &body).await;
        assert_eq!(a.status, 400, "{what}: {}", a.body);
        assert_eq!(a.header("content-type"), Some("application/json"), "{what}");
        let error = a.error();
        assert!(error.contains(why), "{what}: {error}");
    }

    // Over 64 KiB: 413, whatever the content.
    for size in [65 * 1024, 1 << 20] {
        let huge = format!(r#"{{"from":"{}"}}"#, "a".repeat(size));
        let a = l.post(TRANSACTIONS, &huge).await;
        assert_eq!(a.status, 413, "{}", a.body);
        assert!(a.error().contains("65536"), "{}", a.body);
    }
    let a = request(l.http(), "GET", "/api/transactions", b"").await;
    assert_eq!(a.status, 405, "{}", a.body);
    assert!(a.error().contains("POST"), "{}", a.body);

    assert_eq!(l.get_json("/api/accounts").await, before_accounts);
    assert_eq!(l.pool().await, before_pool);
    // The sender's next transfer is still nonce 2.
    let (_, a) = l.send(1, 2, 90, 2).await;
    assert_eq!(a.status, 202, "{}", a.body);
    l.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn transfers_over_the_rate_get_429() {
    let l = ledger(&[(1, 100), (2, 50)], |c| c.transfers_per_sec = 1).await;
    let (_, first) = l.send(1, 2, 1, 1).await;
    assert_eq!(first.status, 202, "{}", first.body);
    // One token a second: the next one within the second is refused, before any check.
    let a = l.post(TRANSACTIONS, "not even JSON").await;
    assert_eq!(a.status, 429, "{}", a.body);
    assert_eq!(a.header("retry-after"), Some("1"));
    assert!(a.error().contains("TRANSFERS_PER_SEC"), "{}", a.body);
    assert_eq!(l.get_json("/info").await["transfers_per_sec"], 1);
    assert_eq!(l.account(1).await["next_nonce"], 2);
    l.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_slash_is_pooled_then_burned_from_the_balance() {
    let l = ledger(&[(1, 1000), (2, 300)], |_| {}).await;
    let mut events = Events::open(l.http()).await;
    let mut honest = l.validator(1, 100).await;
    let mut cheat = l.validator(2, 40).await;
    cheat.send("not-a-bpm").await;
    cheat.line_containing("slashed").await;
    let slashed = events.find("slashed").await;
    assert_eq!(slashed["address"], address(2).as_str());
    assert_eq!(slashed["stake"], 40);

    let pool = l.get_json("/transactionPool?type=slash").await;
    assert_eq!(pool.as_array().unwrap().len(), 1, "{pool}");
    assert_eq!(pool[0]["type"], "slash");
    assert_eq!(pool[0]["address"], address(2).as_str());
    assert_eq!(pool[0]["amount"], 40);
    assert_eq!(pool[0]["id"].as_str().unwrap().len(), 64);
    let stats = l.get_json("/api/stats").await;
    assert_eq!(stats["burned_stake"], 40, "pending slashes count: {stats}");
    assert_eq!(stats["burned"], 0, "blocks burned nothing yet: {stats}");
    assert_eq!(stats["pending_slashes"], 1);
    assert_eq!(l.account(2).await["available"], 260);

    l.make_block(&mut honest).await;
    let cheat = l.account(2).await;
    assert_eq!(
        (&cheat["balance"], &cheat["available"]),
        (&Value::from(260), &Value::from(260))
    );
    let stats = l.get_json("/api/stats").await;
    assert_eq!(stats["burned"], 40);
    assert_eq!(stats["supply"], 1260);
    assert_eq!(stats["pending_slashes"], 0);
    l.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_account_emptied_by_its_transfers_still_answers() {
    let l = ledger(&[(1, 100), (2, 5), (3, 50)], |_| {}).await;
    let (_, a) = l.send(2, 1, 5, 1).await;
    assert_eq!(a.status, 202, "{}", a.body);
    let mut v = l.validator(3, 1).await;
    l.make_block(&mut v).await;
    let empty = l.account(2).await;
    assert_eq!(
        (&empty["balance"], &empty["nonce"]),
        (&Value::from(0), &Value::from(1))
    );
    let list = l.get_json("/api/accounts").await;
    assert_eq!(
        list.as_array().unwrap().last().unwrap()["address"],
        address(2).as_str()
    );
    // Holding nothing, it can send nothing.
    let (_, a) = l.send(2, 1, 1, 2).await;
    assert_eq!(a.status, 400, "{}", a.body);
    l.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn keep_alive_clients_can_send_transfers_back_to_back() {
    let l = ledger(&[(1, 1000), (2, 1)], |_| {}).await;
    let http = l.http();
    let mut s = TcpStream::connect(http).await.unwrap();
    for nonce in 1..=5 {
        let t = Transfer::sign(&key(1), &l.chain_id, &address(2), 1, nonce);
        let body = serde_json::to_string(&t).unwrap();
        let req = format!(
            "POST /api/transactions HTTP/1.1\r\nHost: {http}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let answer = read_one_response(&mut s).await;
        assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    }
    assert_eq!(l.account(1).await["next_nonce"], 6);
    l.server.shutdown().await.unwrap();
}

/// One response on a keep-alive connection (a body with a content-length).
async fn read_one_response(s: &mut TcpStream) -> String {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = timeout(WAIT, s.read(&mut buf)).await.unwrap().unwrap();
        assert_ne!(n, 0, "closed: {:?}", String::from_utf8_lossy(&raw));
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |v| v.trim().parse().unwrap());
            if body.len() >= length {
                return text;
            }
        }
    }
}
