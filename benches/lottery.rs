//! Criterion benchmarks of the pure consensus code: the draw, block hashing, chain checks.
//!
//! `cargo bench --bench lottery` (add `-- draw` etc. to pick a group).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pos_lottery::chain::{compute_entries_hash, Block, Chain};
use pos_lottery::lottery::{compute_seed, pick_winner};
use sha2::{Digest, Sha256};

/// `n` entries with distinct 64-hex addresses in ascending order and random-looking u64
/// stakes, built the way the round task builds them: in address order, each address
/// allocated in turn as it walks its sorted candidate map.
fn entries(n: usize) -> Vec<(String, u64)> {
    let mut raw: Vec<[u8; 32]> = (0..n as u64)
        .map(|i| Sha256::digest(i.to_be_bytes()).into())
        .collect();
    raw.sort_unstable();
    raw.iter()
        .map(|h| {
            let stake = u64::from_be_bytes(h[8..16].try_into().unwrap());
            (hex::encode(h), stake)
        })
        .collect()
}

fn draw(c: &mut Criterion) {
    let mut group = c.benchmark_group("draw");
    group.sample_size(20);
    let seed = compute_seed(&[7; 32], 1);
    for n in [10usize, 1_000, 100_000, 1_000_000] {
        let e = entries(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("sorted", n), &e, |b, e| {
            b.iter(|| black_box(pick_winner(black_box(&seed), e).unwrap()))
        });
        if n == 1_000_000 {
            let mut shuffled = e.clone();
            shuffled.reverse();
            group.bench_with_input(BenchmarkId::new("unsorted", n), &shuffled, |b, e| {
                b.iter(|| black_box(pick_winner(black_box(&seed), e).unwrap()))
            });
            group.bench_with_input(BenchmarkId::new("entries_hash", n), &e, |b, e| {
                b.iter(|| black_box(compute_entries_hash(e)))
            });
        }
    }
    group.finish();
}

fn chain_of(n: u64) -> Chain {
    let address = "ab".repeat(32);
    let mut chain = Chain::new(Block::genesis("2026-01-01T00:00:00.000Z".into())).unwrap();
    for round in 1..=n {
        let b = Block::next(
            chain.tip(),
            "2026-01-01T00:00:30.000Z".into(),
            72,
            address.clone(),
            round,
            "cd".repeat(32),
        );
        chain.append(b).unwrap();
    }
    chain
}

fn blocks(c: &mut Criterion) {
    let chain = chain_of(10_000);
    let block = chain.tip().clone();
    c.bench_function("block_hash", |b| {
        b.iter(|| black_box(black_box(&block).compute_hash()))
    });
    let mut group = c.benchmark_group("chain_verify");
    group.sample_size(10);
    group.throughput(Throughput::Elements(10_001));
    group.bench_function("10k_blocks", |b| b.iter(|| chain.verify().unwrap()));
    group.finish();
}

criterion_group!(benches, draw, blocks);
criterion_main!(benches);
