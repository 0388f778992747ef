//! The published known answers of pos-lottery-v2 (tests/vectors/v2.json, computed with
//! Python by scripts/make_v2_vectors.py), reproduced with the Rust code: seeds and draws, the
//! reveal chain, and whole signed chains built block by block, line for line.

use pos_lottery::chain::{compute_entries_hash, Block, Chain};
use pos_lottery::ledger::{audit, DrawRecord};
use pos_lottery::lottery::{compute_seed_v2, pick_winner};
use pos_lottery::seed::SecretChain;
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/v2.json")).unwrap()
}

fn hex32(v: &Value) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(v.as_str().unwrap(), &mut out).unwrap();
    out
}

#[test]
fn seeds_and_draws_match_known_answers() {
    let all = vectors();
    for case in all["seeds"].as_array().unwrap() {
        let entries: Vec<(String, u64)> = serde_json::from_value(case["entries"].clone()).unwrap();
        assert_eq!(
            compute_entries_hash(&entries),
            case["entries_hash"].as_str().unwrap()
        );
        let seed = compute_seed_v2(
            &hex32(&case["tip_hash"]),
            case["index"].as_u64().unwrap(),
            &hex32(&case["entries_hash"]),
            &hex32(&case["reveal"]),
        );
        assert_eq!(hex::encode(seed), case["expected_seed"].as_str().unwrap());
        let d = pick_winner(&seed, &entries).unwrap();
        assert_eq!(entries[d.winner].0, case["winner"].as_str().unwrap());
        assert_eq!(d.counter, case["counter"].as_u64().unwrap());
        assert_eq!(d.target.to_string(), case["target"].as_str().unwrap());
        assert_eq!(d.total.to_string(), case["total"].as_str().unwrap());
    }
}

#[test]
fn the_reveal_chain_matches() {
    let rc = &vectors()["reveal_chain"];
    let n = rc["N"].as_u64().unwrap();
    let values: Vec<[u8; 32]> = rc["s_N_to_s_0"]
        .as_array()
        .unwrap()
        .iter()
        .map(hex32)
        .collect();
    let chain = SecretChain::new(n, 1, values[0]).unwrap();
    assert_eq!(chain.commit(), values[n as usize]);
    for i in 1..=n {
        assert_eq!(chain.reveal(i).unwrap(), values[(n - i) as usize], "s_{i}");
    }
}

/// Rebuilds a published chain with the Rust block code, from its inputs alone, and checks
/// every line (JSON, Hash, Signature) and draw byte for byte, then audits the files.
fn rebuild(name: &str) {
    let all = vectors();
    let key = ed25519_dalek::SigningKey::from_bytes(&hex32(&all["server_key"]["secret_key"]));
    assert_eq!(
        hex::encode(key.verifying_key().to_bytes()),
        all["server_key"]["public_key"].as_str().unwrap()
    );
    let published = &all[name];
    let blocks = published["blocks"].as_array().unwrap();
    let draws = published["draws"].as_array().unwrap();
    let g: Block = serde_json::from_value(blocks[0]["block"].clone()).unwrap();
    let genesis = Block::genesis_v2(
        g.timestamp.clone(),
        hex32(&Value::from(g.seed_commit.clone().unwrap())),
        key.verifying_key().to_bytes(),
    )
    .sign_with(&key);
    assert_eq!(
        serde_json::to_string(&genesis).unwrap(),
        blocks[0]["line"].as_str().unwrap()
    );
    let mut chain = Chain::new(genesis).unwrap();
    let (mut chain_file, mut draws_file) = (String::new(), String::new());
    chain_file.push_str(blocks[0]["line"].as_str().unwrap());
    chain_file.push('\n');
    for (b, d) in blocks[1..].iter().zip(draws) {
        let want: Block = serde_json::from_value(b["block"].clone()).unwrap();
        let draw: DrawRecord = serde_json::from_value(d["draw"].clone()).unwrap();
        let tip = chain.tip().clone();
        let reveal = want.reveal_bytes().unwrap();
        let entries_hash = compute_entries_hash(&draw.entries);
        let seed = compute_seed_v2(
            &tip.hash_bytes().unwrap(),
            tip.index + 1,
            &hex32(&Value::from(entries_hash.clone())),
            &reveal,
        );
        let won = pick_winner(&seed, &draw.entries).unwrap();
        assert_eq!(draw.entries[won.winner].0, draw.winner);
        assert_eq!(
            (won.counter, won.target, won.total),
            (draw.counter, draw.target, draw.total)
        );
        let next = want
            .next_seed_commit
            .as_ref()
            .map(|c| hex32(&Value::from(c.clone())));
        let block = Block::next(
            &tip,
            want.timestamp.clone(),
            want.bpm,
            draw.winner.clone(),
            want.round,
            entries_hash,
        )
        .with_reveal(reveal, next)
        .sign_with(&key);
        assert_eq!(
            serde_json::to_string(&block).unwrap(),
            b["line"].as_str().unwrap()
        );
        assert_eq!(
            serde_json::to_string(&draw).unwrap(),
            d["line"].as_str().unwrap()
        );
        chain.append(block).unwrap();
        chain_file.push_str(b["line"].as_str().unwrap());
        chain_file.push('\n');
        draws_file.push_str(d["line"].as_str().unwrap());
        draws_file.push('\n');
    }
    let a = audit(chain_file.as_bytes(), draws_file.as_bytes(), 0).unwrap();
    assert_eq!(a.signatures_checked, blocks.len() as u64);
    assert_eq!(a.version(), 2);
}

#[test]
fn the_signed_chain_is_reproduced_line_for_line() {
    rebuild("chain");
}

#[test]
fn the_chain_with_a_rotation_is_reproduced_line_for_line() {
    rebuild("chain_rotation");
}
