//! The draw, `pos-lottery-v1`: a stake-weighted winner from a seed and the round's entries.
//!
//! Pure: no clock, no socket, no global RNG. Given the chain tip's hash, the new block's index
//! and the entries, anyone can recompute the winner (the README publishes the algorithm and a
//! Python script that does). Never swap in `rand`'s samplers here: their algorithms change
//! between versions, and every past draw must stay reproducible forever.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

use sha2::{Digest, Sha256};

/// Domain separator of the seed, so no other SHA-256 use in the protocol can collide with it.
pub const SEED_DOMAIN: &[u8] = b"pos-lottery-seed-v1";

/// Why a draw could not pick a winner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LotteryError {
    #[error("no candidates in this round")]
    NoCandidates,
    #[error("the entrants' total stake is zero")]
    ZeroTotalStake,
}

/// The outcome of a draw, with everything needed to check it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    /// Position of the winner in the entries as given to [`pick_winner`].
    pub winner: usize,
    /// `T`: the sum of all entrants' stakes.
    pub total: u128,
    /// `c`: how many hash outputs were rejected before one was accepted.
    pub counter: u64,
    /// `t = x mod T`: the winning point on the stake line.
    pub target: u128,
}

/// `seed = SHA256("pos-lottery-seed-v1" || tip_hash || u64_be(index))`.
pub fn compute_seed(tip_hash: &[u8; 32], index: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(SEED_DOMAIN);
    h.update(tip_hash);
    h.update(index.to_be_bytes());
    h.finalize().into()
}

/// Domain separator of the v2 seed.
pub const SEED_DOMAIN_V2: &[u8] = b"pos-lottery-seed-v2";

/// `seed = SHA256("pos-lottery-seed-v2" || tip_hash || u64_be(index) || entries_hash ||
/// reveal)`: pos-lottery-v2. The entries are frozen (committed by `entries_hash`) before the
/// server's `reveal` for this block is used, and the reveal was committed at genesis (or at
/// the last rotation), so neither side can steer the outcome once entries close.
pub fn compute_seed_v2(
    tip_hash: &[u8; 32],
    index: u64,
    entries_hash: &[u8; 32],
    reveal: &[u8; 32],
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(SEED_DOMAIN_V2);
    h.update(tip_hash);
    h.update(index.to_be_bytes());
    h.update(entries_hash);
    h.update(reveal);
    h.finalize().into()
}

/// Draws `(c, t)` with `t` uniform in `0..total`, by rejection sampling over
/// `x_c = u128_be(SHA256(seed || u64_be(c))[..16])`.
///
/// `x` is accepted iff it lies below the largest multiple of `total` that fits in 2^128, so
/// every `t` is equally likely (no modulo bias). Returns [`LotteryError::ZeroTotalStake`] for
/// `total == 0`. The expected number of tries is below 2 for every `total`.
pub fn compute_target(seed: &[u8; 32], total: u128) -> Result<(u64, u128), LotteryError> {
    if total == 0 {
        return Err(LotteryError::ZeroTotalStake);
    }
    // 2^128 mod T, computed without 2^128: when it is 0 (T a power of two), every x is
    // accepted. `u128::MAX % T < T`, so adding 1 cannot wrap.
    let rem = u128::MAX
        .checked_rem(total)
        .map(|r| r.wrapping_add(1))
        .and_then(|r| r.checked_rem(total))
        .ok_or(LotteryError::ZeroTotalStake)?;
    let mut counter: u64 = 0;
    loop {
        let x = hash_counter(seed, counter);
        if rem == 0 || x <= u128::MAX.wrapping_sub(rem) {
            let target = x.checked_rem(total).ok_or(LotteryError::ZeroTotalStake)?;
            return Ok((counter, target));
        }
        // A rejection has probability below 1/2; 2^64 of them in a row do not happen.
        counter = counter.wrapping_add(1);
    }
}

fn hash_counter(seed: &[u8; 32], counter: u64) -> u128 {
    let mut h = Sha256::new();
    h.update(seed);
    h.update(counter.to_be_bytes());
    let digest: [u8; 32] = h.finalize().into();
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(first)
}

/// Picks the winner among `entries` (address, stake) for `seed`.
///
/// The winner is the first entry, in ascending byte order of address, whose running stake sum
/// exceeds the target `t`, so an entry with stake `s` owns exactly `s` of the `T` targets.
/// Addresses must be distinct. Entries already in address order (as the server passes them)
/// cost O(n) time and no allocation; any other order is sorted first, O(n log n), with the
/// same result.
///
/// # Errors
/// [`LotteryError::NoCandidates`] for no entries, [`LotteryError::ZeroTotalStake`] when every
/// stake is zero. Stakes up to `u64::MAX` each cannot overflow: `T` is a `u128`.
pub fn pick_winner<A: AsRef<[u8]>>(
    seed: &[u8; 32],
    entries: &[(A, u64)],
) -> Result<Draw, LotteryError> {
    if entries.is_empty() {
        return Err(LotteryError::NoCandidates);
    }
    let total = entries
        .iter()
        .try_fold(0u128, |sum, (_, stake)| sum.checked_add(u128::from(*stake)))
        .ok_or(LotteryError::ZeroTotalStake)?; // only reachable past 2^64 entries
    let (counter, target) = compute_target(seed, total)?;
    let sorted = entries
        .windows(2)
        .all(|w| matches!(w, [a, b] if a.0.as_ref() < b.0.as_ref()));
    let winner = if sorted {
        find_target(target, (0..entries.len()).map(|i| (i, entries.get(i))))
    } else {
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_unstable_by(|&a, &b| {
            let key = |i: usize| entries.get(i).map(|(addr, s)| (addr.as_ref(), *s));
            key(a).cmp(&key(b))
        });
        find_target(target, order.into_iter().map(|i| (i, entries.get(i))))
    };
    // `target < total` and the stakes sum to `total`, so some entry's running sum exceeds it.
    winner
        .map(|winner| Draw {
            winner,
            total,
            counter,
            target,
        })
        .ok_or(LotteryError::ZeroTotalStake)
}

fn find_target<'a, A: 'a, I>(target: u128, in_order: I) -> Option<usize>
where
    I: Iterator<Item = (usize, Option<&'a (A, u64)>)>,
{
    let mut running: u128 = 0;
    for (i, entry) in in_order {
        let (_, stake) = entry?;
        running = running.saturating_add(u128::from(*stake));
        if running > target {
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sha(data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }

    #[test]
    fn seed_matches_the_published_vector() {
        assert_eq!(
            hex::encode(compute_seed(&[0; 32], 1)),
            "e38152d780705f208c82bd8ff18f725687260f6e40ddd3870afe78333c5bc054"
        );
    }

    #[test]
    fn power_of_two_total_accepts_instead_of_looping() {
        // T = 1 and T = 64 make the naive bound 2^128, which wraps to 0 in u128.
        let seed = compute_seed(&[0; 32], 1);
        assert_eq!(compute_target(&seed, 1), Ok((0, 0)));
        let d = pick_winner(&seed, &[("alice", 32), ("bob", 32)]).unwrap();
        assert_eq!((d.winner, d.counter, d.target, d.total), (1, 0, 61, 64));
    }

    #[test]
    fn rejection_step_matches_the_published_vector() {
        let seed = sha(&1u64.to_be_bytes());
        let (c, t) = compute_target(&seed, (1u128 << 127) + 1).unwrap();
        assert_eq!((c, t), (1, 75654841595359870473496974339328223326));
    }

    #[test]
    fn empty_round_and_zero_stake_are_errors_not_panics() {
        let none: [(&str, u64); 0] = [];
        assert_eq!(
            pick_winner(&[0; 32], &none),
            Err(LotteryError::NoCandidates)
        );
        assert_eq!(
            pick_winner(&[0; 32], &[("a", 0), ("b", 0)]),
            Err(LotteryError::ZeroTotalStake)
        );
        assert_eq!(
            compute_target(&[0; 32], 0),
            Err(LotteryError::ZeroTotalStake)
        );
    }

    #[test]
    fn zero_stake_entry_never_wins() {
        for i in 0..200u64 {
            let d = pick_winner(&sha(&i.to_be_bytes()), &[("a", 0), ("b", 1), ("c", 0)]).unwrap();
            assert_eq!(d.winner, 1);
        }
    }

    #[test]
    fn max_stakes_do_not_overflow() {
        let e = [("a", u64::MAX), ("b", u64::MAX), ("c", u64::MAX)];
        let d = pick_winner(&[7; 32], &e).unwrap();
        assert_eq!(d.total, 3 * u128::from(u64::MAX));
        assert!(d.target < d.total);
    }

    proptest! {
        #[test]
        fn winner_is_always_an_entrant_with_stake(
            stakes in proptest::collection::vec(any::<u64>(), 1..40),
            seed in any::<[u8; 32]>(),
        ) {
            let entries: Vec<(String, u64)> =
                stakes.iter().enumerate().map(|(i, s)| (format!("{i:04}"), *s)).collect();
            match pick_winner(&seed, &entries) {
                Ok(d) => {
                    prop_assert!(d.winner < entries.len());
                    prop_assert!(entries[d.winner].1 > 0);
                    prop_assert!(d.target < d.total);
                }
                Err(e) => {
                    prop_assert_eq!(e, LotteryError::ZeroTotalStake);
                    prop_assert!(stakes.iter().all(|s| *s == 0));
                }
            }
        }

        #[test]
        fn entry_order_does_not_matter(
            stakes in proptest::collection::vec(1..u64::MAX, 1..40),
            seed in any::<[u8; 32]>(),
            rotate in 0usize..40,
        ) {
            let sorted: Vec<(String, u64)> =
                stakes.iter().enumerate().map(|(i, s)| (format!("{i:04}"), *s)).collect();
            let mut shuffled = sorted.clone();
            shuffled.reverse();
            let len = shuffled.len();
            shuffled.rotate_left(rotate % len);
            let a = pick_winner(&seed, &sorted).unwrap();
            let b = pick_winner(&seed, &shuffled).unwrap();
            prop_assert_eq!(&sorted[a.winner].0, &shuffled[b.winner].0);
            prop_assert_eq!((a.total, a.counter, a.target), (b.total, b.counter, b.target));
        }

        #[test]
        fn each_entry_owns_exactly_its_stake_in_targets(
            stakes in proptest::collection::vec(0u64..12, 1..8),
        ) {
            // For small T, walk every target 0..T through the same selection the draw uses.
            let entries: Vec<(String, u64)> =
                stakes.iter().enumerate().map(|(i, s)| (format!("{i}"), *s)).collect();
            let total: u128 = stakes.iter().map(|s| u128::from(*s)).sum();
            let mut owned = vec![0u64; entries.len()];
            for t in 0..total {
                let w = find_target(t, entries.iter().enumerate().map(|(i, e)| (i, Some(e))))
                    .unwrap();
                owned[w] += 1;
            }
            prop_assert_eq!(owned, stakes);
        }
    }
}
