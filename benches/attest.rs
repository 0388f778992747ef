//! Criterion benchmarks of the attestation path: the signature check each attestation costs
//! (strict, as the sessions and `verify` do it, and batched, for comparison), and counting
//! (the round task's part).
//!
//! `cargo bench --bench attest`.

use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use pos_lottery::attest::{Tracker, Vote};
use pos_lottery::epoch::Snapshot;
use pos_lottery::tx::{address_of, attest_message, sign_attest, Attestation};

const CHAIN: &str = "5eeb7a63f477827432836d7c9e6a02cc2f9d5cd9b8472a257577e47e4de7729d";
const HASH: &str = "5360d364ff4f12dd4d14675bdbe4615756682fa1471c5d5df5d4d2ba445636c2";

/// `n` attestations of block 5 by distinct keys.
fn attestations(n: usize) -> Vec<Attestation> {
    (0..n)
        .map(|i| {
            let mut secret = [0u8; 32];
            secret[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            let key = SigningKey::from_bytes(&secret);
            Attestation {
                address: address_of(&key),
                index: 5,
                hash: HASH.to_string(),
                round: 12,
                signature: sign_attest(&key, CHAIN, 5, HASH),
            }
        })
        .collect()
}

fn signatures(c: &mut Criterion) {
    let all = attestations(1024);
    let mut group = c.benchmark_group("attest_signatures");
    group.throughput(Throughput::Elements(all.len() as u64));
    // What `POST /api/attestations` does for each attestation (the key decompressed each
    // time).
    group.bench_function("check_alone_strict_1024", |b| {
        b.iter(|| {
            for a in &all {
                black_box(a.check_alone(CHAIN)).unwrap();
            }
        })
    });
    // Batch verification of the same 1024 (cofactored; not what the server accepts by).
    let messages: Vec<Vec<u8>> = all
        .iter()
        .map(|a| attest_message(CHAIN, a.index, &a.hash).into_bytes())
        .collect();
    let sigs: Vec<Signature> = all
        .iter()
        .map(|a| pos_lottery::tx::parse_signature(&a.signature).unwrap())
        .collect();
    let keys: Vec<VerifyingKey> = all
        .iter()
        .map(|a| pos_lottery::tx::verifying_key(&a.address).unwrap())
        .collect();
    // What a logged-in session does: its account's key was decompressed at the login.
    group.bench_function("check_with_key_strict_1024", |b| {
        b.iter(|| {
            for (a, k) in all.iter().zip(&keys) {
                black_box(a.check_with_key(k, CHAIN)).unwrap();
            }
        })
    });
    group.bench_function("verify_batch_1024", |b| {
        b.iter(|| {
            let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
            ed25519_dalek::verify_batch(&refs, &sigs, &keys).unwrap()
        })
    });
    group.finish();
}

fn counting(c: &mut Criterion) {
    let n = 10_000;
    let all = attestations(n);
    let mut stakes: Vec<(String, u64)> = all.iter().map(|a| (a.address.clone(), 1000)).collect();
    stakes.sort();
    let snapshot = Arc::new(Snapshot {
        epoch: 1,
        first_round: 11,
        epoch_rounds: 10,
        finality: None,
        attest_reward: None,
        delegation_slash_percent: None,
        stakes,
        delegations: Vec::new(),
    });
    let mut group = c.benchmark_group("attest_count");
    group.sample_size(20);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("tracker_10000", |b| {
        b.iter(|| {
            let mut t = Tracker::default();
            t.on_block(5, HASH, Some(&snapshot));
            for a in &all {
                black_box(t.count(&Vote {
                    address: &a.address,
                    index: a.index,
                    hash: &a.hash,
                    round: a.round,
                    signature: &a.signature,
                }))
                .unwrap();
            }
        })
    });
    group.finish();
}

criterion_group!(benches, signatures, counting);
criterion_main!(benches);
