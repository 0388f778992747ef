//! Ledger mode's delegation over HTTP against the real server: `POST /api/transactions` with
//! `"type": "delegate" | "undelegate" | "commission"`, accepted into the pool or refused with
//! the reason, and `/api/accounts` showing the delegations once a block applied them and the
//! undelegated tokens until the next epoch returns them.

mod common;

use std::net::SocketAddr;

use common::{address, key, start_ledger, TestServer, WAIT};
use pos_lottery::tx::{Commission, Delegation, Direction, Tx};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// EPOCH_ROUNDS: epoch 1 opens as round 4 starts.
const ROUNDS: u64 = 3;
/// Validators 1 and 2; account 3 delegates.
const ACCOUNTS: &[(u8, u64)] = &[(1, 100), (2, 100), (3, 1000)];

async fn ledger(tweak: impl FnOnce(&mut pos_lottery::config::Config)) -> (TestServer, String) {
    let server = start_ledger(ACCOUNTS, |c| {
        c.http_addr = Some("127.0.0.1:0".parse().unwrap());
        c.epoch_rounds = ROUNDS;
        tweak(c);
    })
    .await;
    let (_, info) = server.get("/info").await;
    let info: Value = serde_json::from_str(&info).unwrap();
    let chain_id = info["chain_id"].as_str().unwrap().to_string();
    (server, chain_id)
}

/// `POST /api/transactions` with `body`: (status, JSON answer).
async fn post(http: SocketAddr, body: &str) -> (u16, Value) {
    let mut s = timeout(WAIT, TcpStream::connect(http))
        .await
        .unwrap()
        .unwrap();
    let head = format!(
        "POST /api/transactions HTTP/1.1\r\nHost: {http}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // A body the server refuses to read whole may be cut short by its close.
    let _ = s.write_all(body.as_bytes()).await;
    let mut raw = Vec::new();
    let _ = timeout(WAIT, s.read_to_end(&mut raw))
        .await
        .expect("no answer in time");
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap())
}

fn delegation(way: Direction, chain: &str, from: u8, to: u8, amount: u64, nonce: u64) -> Value {
    let d = Delegation::sign(&key(from), way, chain, &address(to), amount, nonce);
    json!({
        "type": way.word(),
        "from": d.from,
        "to": d.to,
        "amount": d.amount,
        "nonce": d.nonce,
        "signature": d.signature,
    })
}

fn commission(chain: &str, from: u8, percent: u64, nonce: u64) -> Value {
    let c = Commission::sign(&key(from), chain, percent, nonce);
    json!({
        "type": "commission",
        "from": c.from,
        "percent": c.percent,
        "nonce": c.nonce,
        "signature": c.signature,
    })
}

/// The id a body's transaction has.
fn id_of(body: &Value) -> String {
    let (from, nonce, signature) = (
        body["from"].as_str().unwrap().to_string(),
        body["nonce"].as_u64().unwrap(),
        body["signature"].as_str().unwrap().to_string(),
    );
    let d = || Delegation {
        from: from.clone(),
        to: body["to"].as_str().unwrap().to_string(),
        amount: body["amount"].as_u64().unwrap(),
        nonce,
        signature: signature.clone(),
    };
    match body["type"].as_str().unwrap() {
        "delegate" => Tx::Delegate(d()),
        "undelegate" => Tx::Undelegate(d()),
        _ => Tx::Commission(Commission {
            from: from.clone(),
            percent: body["percent"].as_u64().unwrap(),
            nonce,
            signature: signature.clone(),
        }),
    }
    .id()
}

async fn get_json(server: &TestServer, path: &str) -> Value {
    let (status, body) = server.get(path).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

async fn account(server: &TestServer, n: u8) -> Value {
    get_json(server, &format!("/api/accounts/{}", address(n))).await
}

/// Posts `body` and expects a 202 with its id.
async fn accepted(http: SocketAddr, body: &Value) {
    let (status, answer) = post(http, &body.to_string()).await;
    assert_eq!(status, 202, "{body}: {answer}");
    assert_eq!(answer, json!({"id": id_of(body), "status": "pending"}));
}

/// Posts `body` and expects a 400 whose error contains `says`.
async fn refused(http: SocketAddr, what: &str, body: &str, says: &str) {
    let (status, answer) = post(http, body).await;
    assert_eq!(status, 400, "{what}: {answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(error.contains(says), "{what}: {error}");
}

/// Closes the round in progress (no block unless a validator proposed) and waits until
/// `/api/stats` shows the next.
async fn next_round(server: &TestServer) -> Value {
    let (_, stats) = server.get("/api/stats").await;
    let round = serde_json::from_str::<Value>(&stats).unwrap()["round"]
        .as_u64()
        .unwrap();
    server.tick().await;
    server
        .wait_for_stats(|s| s["round"].as_u64() > Some(round))
        .await
}

#[tokio::test]
async fn delegations_go_through_http_and_show_in_the_accounts() {
    let (server, chain) = ledger(|_| {}).await;
    let http = server.http.unwrap();
    let mut one = server.bonded(1, 60).await;

    let delegate = delegation(Direction::Delegate, &chain, 3, 1, 300, 1);
    accepted(http, &delegate).await;
    accepted(http, &commission(&chain, 1, 10, 1)).await;
    let pool = get_json(&server, "/transactionPool").await;
    let kinds: Vec<&str> = pool
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["delegate", "commission"], "{pool}");
    assert_eq!(pool[0]["id"], id_of(&delegate).as_str());
    // Pending: out of the delegator's available balance, its next nonce counted; the
    // delegations themselves show once a block applies them.
    let three = account(&server, 3).await;
    assert_eq!(
        (&three["available"], &three["next_nonce"]),
        (&json!(700), &json!(2))
    );
    assert_eq!(three["delegations_out"], json!([]), "{three}");
    assert_eq!(three["delegated_out"], 0);

    // Refusals: each says why, and leaves nothing behind.
    let signed = delegation(Direction::Delegate, &chain, 3, 2, 5, 2);
    let mut bad_signature = signed.clone();
    bad_signature["amount"] = json!(6);
    let mut other_key = signed.clone();
    other_key["signature"] =
        delegation(Direction::Delegate, &chain, 2, 1, 5, 2)["signature"].clone();
    let other_chain = commission(&"0".repeat(64), 1, 5, 2);
    let nothing = format!("{} has nothing delegated to {}", address(3), address(1));
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "bad signature",
            bad_signature.to_string(),
            "the signature does not verify",
        ),
        (
            "another key's signature",
            other_key.to_string(),
            "does not verify",
        ),
        (
            "another chain's signature",
            other_chain.to_string(),
            "does not verify",
        ),
        (
            "nonce ahead",
            delegation(Direction::Delegate, &chain, 3, 2, 5, 3).to_string(),
            "nonce is 3, expected 2",
        ),
        (
            "nonce behind",
            delegate.to_string(),
            "nonce is 1, expected 2",
        ),
        (
            "more than available",
            delegation(Direction::Delegate, &chain, 3, 2, 701, 2).to_string(),
            "amount 701 is more than the 700 that",
        ),
        (
            "to itself",
            delegation(Direction::Delegate, &chain, 3, 3, 5, 2).to_string(),
            "an account cannot delegate to itself",
        ),
        (
            "zero",
            delegation(Direction::Delegate, &chain, 3, 2, 0, 2).to_string(),
            "amount is 0",
        ),
        (
            "undelegating what is not delegated yet",
            delegation(Direction::Undelegate, &chain, 3, 1, 1, 2).to_string(),
            &nothing,
        ),
        (
            "commission 101",
            commission(&chain, 2, 101, 1).to_string(),
            "percent is 101; a commission is 0 to 100",
        ),
        (
            "an unknown account",
            commission(&chain, 9, 5, 1).to_string(),
            "holds no tokens on this chain",
        ),
        (
            "unknown type",
            json!({"type": "stake", "from": address(3), "amount": 5}).to_string(),
            r#"unknown transaction type "stake"; POST /api/transactions takes "transfer" (the default when "type" is absent), "delegate", "undelegate" or "commission""#,
        ),
        (
            "a commission with a to",
            {
                let mut c = commission(&chain, 1, 5, 2);
                c["to"] = json!(address(2));
                c.to_string()
            },
            "not a commission (unknown field `to`)",
        ),
        (
            "a delegation without an amount",
            {
                let mut d = delegation(Direction::Delegate, &chain, 3, 2, 5, 2);
                d.as_object_mut().unwrap().remove("amount");
                d.to_string()
            },
            r#"not a delegation (missing field `amount`); expected {"type": "delegate", "from", "to", "amount", "nonce", "signature"}"#,
        ),
        (
            "a negative percent",
            commission(&chain, 1, 5, 2)
                .to_string()
                .replace("\"percent\":5", "\"percent\":-5"),
            "not a commission (invalid value: integer `-5`",
        ),
    ];
    for (what, body, says) in &cases {
        refused(http, what, body, says).await;
    }
    // Over 64 KiB: 413, whatever the type.
    let huge = json!({"type": "delegate", "from": "a".repeat(70_000)}).to_string();
    let (status, answer) = post(http, &huge).await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(get_json(&server, "/transactionPool").await, pool);

    // The block applies them: the delegation both ways, the commission.
    server.make_block(&mut one, 70).await;
    let three = account(&server, 3).await;
    for (field, want) in [
        ("balance", json!(1000)),
        ("available", json!(700)),
        ("transferable", json!(700)),
        ("nonce", json!(1)),
        ("next_nonce", json!(2)),
        ("delegated_out", json!(300)),
        ("delegated_in", json!(0)),
        ("commission", json!(0)),
        (
            "delegations_out",
            json!([{"to": address(1), "amount": 300}]),
        ),
        ("delegations_in", json!([])),
        ("pending_undelegations", json!(0)),
    ] {
        assert_eq!(three[field], want, "{field} in {three}");
    }
    let validator = account(&server, 1).await;
    for (field, want) in [
        ("delegated_in", json!(300)),
        ("delegated_out", json!(0)),
        ("commission", json!(10)),
        (
            "delegations_in",
            json!([{"from": address(3), "amount": 300}]),
        ),
        ("delegations_out", json!([])),
    ] {
        assert_eq!(validator[field], want, "{field} in {validator}");
    }
    // The list shows the same entries.
    let list = get_json(&server, "/api/accounts").await;
    let listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["address"] == address(3).as_str())
        .unwrap();
    assert_eq!(listed, &three);

    // Undelegating more than is delegated is refused; less is accepted, stops counting with
    // the next block and is pending until the next epoch starts.
    refused(
        http,
        "undelegate more than delegated",
        &delegation(Direction::Undelegate, &chain, 3, 1, 301, 2).to_string(),
        &format!("undelegates 301 of the 300 delegated to {}", address(1)),
    )
    .await;
    accepted(
        http,
        &delegation(Direction::Undelegate, &chain, 3, 1, 100, 2),
    )
    .await;
    refused(
        http,
        "undelegate what is already being undelegated",
        &delegation(Direction::Undelegate, &chain, 3, 1, 201, 3).to_string(),
        "100 of which is already being undelegated",
    )
    .await;
    server.make_block(&mut one, 70).await;
    let three = account(&server, 3).await;
    for (field, want) in [
        ("delegated_out", json!(300)),
        ("available", json!(700)),
        (
            "delegations_out",
            json!([{"to": address(1), "amount": 200}]),
        ),
        ("pending_undelegations", json!(100)),
    ] {
        assert_eq!(three[field], want, "{field} in {three}");
    }
    let validator = account(&server, 1).await;
    assert_eq!(validator["delegated_in"], 200, "{validator}");
    assert_eq!(
        validator["delegations_in"],
        json!([{"from": address(3), "amount": 200}])
    );

    // Epoch 1 opens: the undelegated tokens come back.
    loop {
        let stats = next_round(&server).await;
        if !stats["epoch"].is_null() {
            assert_eq!(stats["epoch"]["epoch"], 1, "{stats}");
            break;
        }
    }
    let three = account(&server, 3).await;
    for (field, want) in [
        ("delegated_out", json!(200)),
        ("available", json!(800)),
        (
            "delegations_out",
            json!([{"to": address(1), "amount": 200}]),
        ),
        ("pending_undelegations", json!(0)),
    ] {
        assert_eq!(three[field], want, "{field} in {three}");
    }
    drop(one);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn delegations_share_the_transfer_rate() {
    let (server, chain) = ledger(|c| c.transfers_per_sec = 1).await;
    let http = server.http.unwrap();
    accepted(http, &commission(&chain, 1, 10, 1)).await;
    // One a second, whatever the type: the next one within the second is refused at once.
    let (status, answer) = post(
        http,
        &delegation(Direction::Delegate, &chain, 3, 1, 5, 1).to_string(),
    )
    .await;
    assert_eq!(status, 429, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("TRANSFERS_PER_SEC"),
        "{answer}"
    );
    server.shutdown().await.unwrap();
}
