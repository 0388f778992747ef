//! Ledger mode's attestations over HTTP against the real server (in-process, manual ticks):
//! `POST /api/attestations` accepted and counted, every refusal with the session's
//! `attest refused: <reason>` wording, a block turning final exactly when its attested stake
//! passes 3/4 of its snapshot's (one unit above, not at it), the `finalized` event and the
//! `block <k> final: ...` line every TCP connection gets, once; the finality fields of
//! `/api/blocks/{k}`, `/api/chain`, `/api/stats` and `/info`; the shared rate limit; and
//! tutorial mode's `404`.

mod common;

use common::http::{http_ledger, json, request, Answer, Events, HttpLedger};
use common::{address, key, start, Client};
use pos_lottery::config::Config;
use pos_lottery::tx::{sign_attest, Transfer};
use serde_json::{json, Value};

/// `EPOCH_ROUNDS` here: epoch 0 is rounds 1-2, epoch 1 rounds 3-4 (its blocks take
/// attestations up to round 6), epoch 2 from round 5.
const ROUNDS: u64 = 2;
/// Bonds when epoch 1 opens: 75 + 1 + 24 = 100, so 75 is exactly 3/4 and 76 passes it.
const BONDS: [(u8, u64); 3] = [(1, 75), (2, 1), (3, 24)];
/// Account 4 is funded but never bonds: it is in no snapshot.
const FUNDS: &[(u8, u64)] = &[(1, 1000), (2, 1000), (3, 1000), (4, 1000)];

/// Where attestations are posted.
const ATTESTATIONS: &str = "/api/attestations";

/// A ledger-mode server with HTTP on (funding [`FUNDS`]), `EPOCH_ROUNDS` = [`ROUNDS`].
async fn ledger(tweak: impl FnOnce(&mut Config)) -> HttpLedger {
    http_ledger(FUNDS, |c| {
        c.epoch_rounds = ROUNDS;
        tweak(c);
    })
    .await
}

/// Attestations and blocks on an [`HttpLedger`].
trait Attesting {
    /// Account `n`'s attestation of block `index` with hash `hash`, signed by `n`.
    fn body(&self, n: u8, index: u64, hash: &str) -> Value;

    async fn attest(&self, n: u8, index: u64, hash: &str) -> Answer;

    /// `v` proposes, the round closes, and the `block` event comes: the block's JSON, and
    /// the events before it.
    async fn make_block(
        &self,
        v: &mut Client,
        events: &mut Events,
    ) -> (Value, Vec<(String, Value)>);

    /// Closes the open round `round`, empty, and waits for its `round` event.
    async fn skip_round(&self, round: u64, events: &mut Events);
}

impl Attesting for HttpLedger {
    fn body(&self, n: u8, index: u64, hash: &str) -> Value {
        json!({
            "index": index,
            "hash": hash,
            "address": address(n),
            "signature": sign_attest(&key(n), &self.chain_id, index, hash),
        })
    }

    async fn attest(&self, n: u8, index: u64, hash: &str) -> Answer {
        self.post(ATTESTATIONS, &self.body(n, index, hash).to_string())
            .await
    }

    async fn make_block(
        &self,
        v: &mut Client,
        events: &mut Events,
    ) -> (Value, Vec<(String, Value)>) {
        v.send("70").await;
        v.line_containing("entered").await;
        self.server.tick().await;
        let (data, skipped) = events.until("block", |_| true).await;
        (data["block"].clone(), skipped)
    }

    async fn skip_round(&self, round: u64, events: &mut Events) {
        self.server.tick().await;
        events.until("round", |d| d["round"] == round).await;
    }
}

/// A block's JSON without the finality fields the API adds.
fn without_finality(b: &Value) -> Value {
    let mut b = b.clone();
    for field in [
        "epoch",
        "final",
        "attesters",
        "attested_stake",
        "snapshot_stake",
    ] {
        b.as_object_mut().unwrap().remove(field);
    }
    b
}

fn hash_of(block: &Value) -> String {
    block["Hash"].as_str().unwrap().to_string()
}

/// Asserts a `400` whose error is `attest refused: ` and contains `why`; returns the error.
fn assert_refused(what: &str, a: &Answer, why: &str) -> String {
    assert_eq!(a.status, 400, "{what}: {}", a.body);
    assert_eq!(a.header("content-type"), Some("application/json"), "{what}");
    let error = a.error();
    assert!(error.starts_with("attest refused: "), "{what}: {error}");
    assert!(error.contains(why), "{what}: {error} lacks {why:?}");
    error
}

/// The finality fields of a block from `/api/blocks/{k}` or `/api/chain`.
fn finality(b: &Value) -> (u64, bool, u64, u64, u64) {
    (
        b["epoch"]
            .as_u64()
            .unwrap_or_else(|| panic!("no epoch in {b}")),
        b["final"].as_bool().unwrap(),
        b["attesters"].as_u64().unwrap(),
        b["attested_stake"].as_u64().unwrap(),
        b["snapshot_stake"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn a_block_becomes_final_over_http_once_attested_stake_passes_three_quarters() {
    let l = ledger(|_| {}).await;
    let mut events = Events::open(l.http()).await;
    let mut one = l.server.bonded(1, BONDS[0].1).await;
    let mut two = l.server.bonded(2, BONDS[1].1).await;
    let mut three = l.server.bonded(3, BONDS[2].1).await;
    let (mut four, _) = l.server.login(4).await;

    // Round 1 (epoch 0): block 1, which no one can attest. Round 2 closes empty, and round 3
    // opens epoch 1 with a snapshot of the bonds.
    let (bootstrap, _) = l.make_block(&mut one, &mut events).await;
    assert_eq!(bootstrap["Index"], 1);
    l.skip_round(2, &mut events).await;
    let (epoch, _) = events.until("epoch", |_| true).await;
    assert_eq!((&epoch["epoch"], &epoch["total"]), (&json!(1), &json!(100)));
    let (block, _) = l.make_block(&mut one, &mut events).await;
    assert_eq!((&block["Index"], &block["Round"]), (&json!(2), &json!(3)));
    let hash = hash_of(&block);

    // The block endpoints add the count, outside the block's own fields.
    let two_before = l.get_json("/api/blocks/2").await;
    assert_eq!(two_before["Hash"], hash.as_str());
    assert_eq!(finality(&two_before), (1, false, 0, 0, 100));
    let one_json = l.get_json("/api/blocks/1").await;
    assert_eq!(one_json["Hash"], bootstrap["Hash"]);
    assert_eq!(finality(&one_json), (0, false, 0, 0, 0));
    assert_eq!(
        finality(&l.get_json("/api/blocks/0").await),
        (0, false, 0, 0, 0)
    );
    let stats = l.get_json("/api/stats").await;
    for (field, want) in [
        ("finalized_height", 0),
        ("final_blocks", 0),
        ("attestations", 0),
        ("pending_attestations", 0),
    ] {
        assert_eq!(stats[field], want, "{field} in {stats}");
    }

    // Refusals: each a 400 with the reason, and nothing counted.
    let signed = |n: u8, index: u64, hash: &str| l.body(n, index, hash);
    let mut tampered = signed(1, 2, &hash);
    tampered["signature"] = json!(sign_attest(&key(1), &l.chain_id, 1, &hash));
    let mut someone_elses = signed(2, 2, &hash);
    someone_elses["address"] = json!(address(1));
    let other_chain = json!({
        "index": 2, "hash": hash, "address": address(1),
        "signature": sign_attest(&key(1), &"0".repeat(64), 2, &hash),
    });
    let wrong_hash = "ab".repeat(32);
    let mut bad_address = signed(1, 2, &hash);
    bad_address["address"] = json!("xyz");
    let mut bad_hash = signed(1, 2, &hash);
    bad_hash["hash"] = json!(hash.to_uppercase());
    let mut short_signature = signed(1, 2, &hash);
    short_signature["signature"] = json!("abcd");
    let mut unknown_field = signed(1, 2, &hash);
    unknown_field["round"] = json!(3);
    let mut missing = signed(1, 2, &hash);
    missing.as_object_mut().unwrap().remove("signature");
    let mut negative = signed(1, 2, &hash);
    negative["index"] = json!(-2);
    let genesis_hash = l.chain_id.clone();
    let cases: Vec<(&str, String, String)> = vec![
        (
            "a signature over another block",
            tampered.to_string(),
            "the signature does not verify".into(),
        ),
        (
            "another account's signature",
            someone_elses.to_string(),
            "the signature does not verify".into(),
        ),
        (
            "another chain's signature",
            other_chain.to_string(),
            "the signature does not verify".into(),
        ),
        (
            "a malformed signature",
            short_signature.to_string(),
            "not 128 lowercase hex".into(),
        ),
        (
            "a malformed address",
            bad_address.to_string(),
            "\"xyz\", not an address".into(),
        ),
        (
            "a malformed hash",
            bad_hash.to_string(),
            "is not a block hash".into(),
        ),
        (
            // Signed by an account outside the snapshot: from a snapshot account it would be
            // kept, and evidence once the account attests the right hash (tests/attest.rs).
            "the wrong hash",
            signed(4, 2, &wrong_hash).to_string(),
            format!("block 2's hash is {hash}, not {wrong_hash}"),
        ),
        (
            "an account outside the snapshot",
            signed(4, 2, &hash).to_string(),
            format!(
                "{} is not in epoch 1's stake snapshot, which block 2 belongs to",
                address(4)
            ),
        ),
        (
            "a block not made yet",
            signed(1, 99, &hash).to_string(),
            "there is no block 99 yet".into(),
        ),
        (
            "a block of epoch 0",
            signed(1, 1, &hash_of(&bootstrap)).to_string(),
            "block 1 is from the bootstrap epoch 0, whose blocks cannot be attested".into(),
        ),
        (
            "the genesis block",
            signed(1, 0, &genesis_hash).to_string(),
            "block 0 is from the bootstrap epoch 0".into(),
        ),
        (
            "an unknown field",
            unknown_field.to_string(),
            "unknown field `round`".into(),
        ),
        (
            "a missing field",
            missing.to_string(),
            "missing field `signature`".into(),
        ),
        (
            "a negative index",
            negative.to_string(),
            "not an attestation".into(),
        ),
        (
            "not JSON",
            "attest 2 please".into(),
            "not an attestation".into(),
        ),
    ];
    for (what, body, why) in cases {
        assert_refused(what, &l.post(ATTESTATIONS, &body).await, &why);
    }
    let huge = format!(r#"{{"hash":"{}"}}"#, "a".repeat(65 * 1024));
    let a = l.post(ATTESTATIONS, &huge).await;
    assert_eq!(a.status, 413, "{}", a.body);
    assert!(a.error().starts_with("attest refused: "), "{}", a.body);
    assert!(a.error().contains("65536"), "{}", a.body);
    let a = request(l.http(), "GET", ATTESTATIONS, b"").await;
    assert_eq!(a.status, 405, "{}", a.body);
    assert!(a.error().contains("POST"), "{}", a.body);
    assert_eq!(
        finality(&l.get_json("/api/blocks/2").await),
        (1, false, 0, 0, 100)
    );
    assert_eq!(l.get_json("/api/stats").await["attestations"], 0);

    // 75 of 100 is exactly 3/4: counted, not final.
    let a = l.attest(1, 2, &hash).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.header("content-type"), Some("application/json"));
    assert_eq!(
        a.json(),
        json!({"accepted": true, "index": 2, "attesters": 1, "attested_stake": 75,
               "snapshot_stake": 100, "final": false, "percent": "75.0"})
    );
    assert_eq!(
        finality(&l.get_json("/api/blocks/2").await),
        (1, false, 1, 75, 100)
    );
    let pool = l.get_json("/transactionPool?type=attest").await;
    assert_eq!(pool.as_array().unwrap().len(), 1, "{pool}");
    assert_eq!(
        (&pool[0]["address"], &pool[0]["index"], &pool[0]["round"]),
        (&json!(address(1)), &json!(2), &json!(4)),
        "the round task sets the round in progress: {pool}"
    );
    let stats = l.get_json("/api/stats").await;
    for (field, want) in [
        ("finalized_height", 0),
        ("final_blocks", 0),
        ("attestations", 1),
        ("pending_attestations", 1),
        ("pending_slashes", 0),
        ("pending_transfers", 0),
    ] {
        assert_eq!(stats[field], want, "{field} in {stats}");
    }

    // The same again is a duplicate, over HTTP and over the session alike.
    let http_dup = assert_refused(
        "a duplicate",
        &l.attest(1, 2, &hash).await,
        &format!("{} has already attested block 2", address(1)),
    );
    one.send(&format!(
        "attest 2 {hash} {}",
        sign_attest(&key(1), &l.chain_id, 2, &hash)
    ))
    .await;
    assert_eq!(one.line_containing("attest ").await, http_dup);

    // One unit more, 76: final, announced once to the event stream and every connection.
    let a = l.attest(2, 2, &hash).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.json(),
        json!({"accepted": true, "index": 2, "attesters": 2, "attested_stake": 76,
               "snapshot_stake": 100, "final": true, "percent": "76.0"})
    );
    // The first `finalized` event, and the first announcement, are this one's: none came
    // at 75.
    let (finalized, _) = events.until("finalized", |_| true).await;
    assert_eq!(
        finalized,
        json!({"index": 2, "hash": hash, "epoch": 1, "attested": 76, "total": 100,
               "percent": "76.0"})
    );
    for c in [&mut one, &mut two, &mut three, &mut four] {
        assert_eq!(
            c.line_containing(" final: ").await,
            "block 2 final: 76.0% of stake attested"
        );
    }
    let after = l.get_json("/api/blocks/2").await;
    assert_eq!(finality(&after), (1, true, 2, 76, 100));
    assert_eq!(without_finality(&after), without_finality(&two_before));
    assert_eq!(
        without_finality(&after),
        block,
        "the block as its event carried it"
    );
    let page = l.get_json("/api/chain?from=1&limit=2").await;
    assert_eq!(finality(&page["blocks"][0]), (0, false, 0, 0, 0));
    assert_eq!(finality(&page["blocks"][1]), (1, true, 2, 76, 100));
    let stats = l.get_json("/api/stats").await;
    for (field, want) in [
        ("finalized_height", 2),
        ("final_blocks", 1),
        ("attestations", 2),
        ("pending_attestations", 2),
    ] {
        assert_eq!(stats[field], want, "{field} in {stats}");
    }

    // The rest still counts; the block stays final and is not announced again.
    let a = l.attest(3, 2, &hash).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.json(),
        json!({"accepted": true, "index": 2, "attesters": 3, "attested_stake": 100,
               "snapshot_stake": 100, "final": true, "percent": "100.0"})
    );
    // Round 4, still epoch 1: block 3 carries the three attestations, and no second
    // announcement came before it.
    let (next, skipped) = l.make_block(&mut one, &mut events).await;
    assert!(
        skipped.iter().all(|(name, _)| name != "finalized"),
        "{skipped:?}"
    );
    loop {
        let line = two.line().await;
        assert!(!line.contains(" final: "), "announced again: {line}");
        if line.starts_with("winning validator: ") {
            assert!(line.contains(&address(1)), "{line}");
            break;
        }
    }
    assert_eq!((&next["Index"], &next["Round"]), (&json!(3), &json!(4)));
    let txs = std::fs::read_to_string(l.server.dir.path().join("transactions.jsonl")).unwrap();
    let record = json(txs.lines().last().unwrap());
    assert_eq!(record["Index"], 3);
    let attesters: Vec<&Value> = record["Transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["Type"] == "attest")
        .map(|t| &t["Address"])
        .collect();
    assert_eq!(
        attesters,
        [&json!(address(1)), &json!(address(2)), &json!(address(3))]
    );
    assert_eq!(l.get_json("/api/stats").await["pending_attestations"], 0);

    // Block 3's window ends with round 6 (epoch 2 opens at round 5): at round 7 it is late.
    let hash3 = hash_of(&next);
    l.skip_round(5, &mut events).await;
    l.skip_round(6, &mut events).await;
    assert_refused(
        "after the window",
        &l.attest(1, 3, &hash3).await,
        "block 3's attestation window closed after round 6; the round in progress is 7",
    );
    assert_eq!(
        finality(&l.get_json("/api/blocks/3").await),
        (1, false, 0, 0, 100)
    );
    assert_eq!(
        finality(&l.get_json("/api/blocks/2").await),
        (1, true, 3, 100, 100),
        "a closed window keeps the count"
    );
    let stats = l.get_json("/api/stats").await;
    assert_eq!(
        (
            &stats["finalized_height"],
            &stats["final_blocks"],
            &stats["attestations"]
        ),
        (&json!(2), &json!(1), &json!(3))
    );
    drop((one, two, three, four));
    l.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn attestations_share_the_transfer_rate_limit() {
    let l = ledger(|c| {
        c.transfers_per_sec = 1;
        c.finality = pos_lottery::attest::Fraction { p: 2, q: 3 };
    })
    .await;
    let info = l.get_json("/info").await;
    assert_eq!(
        (&info["finality"], &info["epoch_rounds"]),
        (&json!("2/3"), &json!(ROUNDS))
    );
    // One token a second, for both: an attestation (junk, refused after its token) leaves
    // none for a transfer, nor for another attestation.
    assert_refused(
        "junk",
        &l.post(ATTESTATIONS, "not an attestation").await,
        "not an attestation",
    );
    let t = Transfer::sign(&key(1), &l.chain_id, &address(2), 1, 1);
    let a = request(
        l.http(),
        "POST",
        "/api/transactions",
        serde_json::to_string(&t).unwrap().as_bytes(),
    )
    .await;
    assert_eq!(a.status, 429, "{}", a.body);
    let a = l.attest(1, 1, &l.chain_id).await;
    assert_eq!(a.status, 429, "{}", a.body);
    assert_eq!(a.header("retry-after"), Some("1"));
    let error = a.error();
    assert!(
        error.starts_with("attest refused: too many requests")
            && error.contains("TRANSFERS_PER_SEC"),
        "{error}"
    );
    l.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn tutorial_mode_has_no_attestations_and_no_finality_fields() {
    let server = start(|c| c.http_addr = Some("127.0.0.1:0".parse().unwrap())).await;
    let http = server.http.unwrap();
    for method in ["POST", "GET"] {
        let a = request(http, method, "/api/attestations", b"{}").await;
        assert_eq!(a.status, 404, "{method}: {}", a.body);
        assert_eq!(a.header("content-type"), Some("application/json"));
        assert!(
            a.error().contains("only in ledger mode (GENESIS)"),
            "{}",
            a.body
        );
    }
    let genesis = json(&server.get("/api/blocks/0").await.1);
    assert_eq!(genesis["Index"], 0);
    assert!(genesis.get("final").is_none(), "{genesis}");
    let page = json(&server.get("/api/chain").await.1);
    assert!(page["blocks"][0].get("epoch").is_none(), "{page}");
    let stats = json(&server.get("/api/stats").await.1);
    assert!(stats.get("finalized_height").is_none(), "{stats}");
    let info = json(&server.get("/info").await.1);
    assert_eq!(
        info["finality"], "3/4",
        "the setting, as epoch_rounds is shown"
    );
    server.shutdown().await.unwrap();
}
