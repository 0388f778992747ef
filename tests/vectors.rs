//! The published known answers of pos-lottery-v1 (tests/vectors/draws.json).

use pos_lottery::lottery::{compute_seed, compute_target, pick_winner};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/draws.json")).unwrap()
}

fn hex32(v: &Value) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(v.as_str().unwrap(), &mut out).unwrap();
    out
}

fn entries(v: &Value) -> Vec<(String, u64)> {
    serde_json::from_value(v.clone()).unwrap()
}

fn big(v: &Value) -> u128 {
    v.as_str().unwrap().parse().unwrap()
}

#[test]
fn draws_match_known_answers() {
    let all = vectors();
    let cases = all["draws"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let seed = match case.get("seed") {
            Some(seed) => hex32(seed),
            None => compute_seed(&hex32(&case["tip_hash"]), case["index"].as_u64().unwrap()),
        };
        if let Some(expected) = case.get("expected_seed") {
            assert_eq!(hex::encode(seed), expected.as_str().unwrap(), "{name}");
        }
        let entries = entries(&case["entries"]);
        let d = pick_winner(&seed, &entries).unwrap();
        assert_eq!(
            entries[d.winner].0,
            case["winner"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(d.counter, case["counter"].as_u64().unwrap(), "{name}");
        assert_eq!(d.target, big(&case["target"]), "{name}");
        assert_eq!(d.total, big(&case["total"]), "{name}");
    }
}

#[test]
fn rejection_sampling_matches_known_answer() {
    for case in vectors()["targets"].as_array().unwrap() {
        let seed: [u8; 32] =
            Sha256::digest(case["seed_of_u64_be"].as_u64().unwrap().to_be_bytes()).into();
        let (c, t) = compute_target(&seed, big(&case["total"])).unwrap();
        assert_eq!(c, case["counter"].as_u64().unwrap());
        assert_eq!(t, big(&case["target"]));
    }
}

#[test]
fn win_counts_over_100000_seeds_match_known_answer() {
    let all = vectors();
    let f = &all["frequency"];
    let entries = entries(&f["entries"]);
    let mut wins = vec![0u64; entries.len()];
    for i in 0..f["count"].as_u64().unwrap() {
        let seed: [u8; 32] = Sha256::digest(i.to_be_bytes()).into();
        wins[pick_winner(&seed, &entries).unwrap().winner] += 1;
    }
    for (i, (name, _)) in entries.iter().enumerate() {
        assert_eq!(wins[i], f["wins"][name].as_u64().unwrap(), "{name}");
    }
}
