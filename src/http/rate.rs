//! The rate limit on ledger mode's signed writes, `POST /api/transactions` and
//! `POST /api/attestations`: one token bucket for the whole server, shared by both,
//! `TRANSFERS_PER_SEC` tokens a second and a burst of as many, checked before a signature is.
//!
//! A generic cell rate algorithm on one atomic: the bucket is the "theoretical arrival time"
//! of the next request, so taking a token is a compare-and-swap and no lock is held.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A token bucket shared by every HTTP connection.
#[derive(Debug)]
pub struct TransferRate {
    /// Nanoseconds a token takes to come back; `None` when there is no limit.
    interval: Option<u64>,
    /// How far past now the next arrival time may run: the burst, in nanoseconds.
    burst: u64,
    /// When the next request would conform if the bucket were empty, in nanoseconds since
    /// `start`.
    next: AtomicU64,
    start: Instant,
}

impl TransferRate {
    /// `per_sec` tokens a second with a burst of `per_sec`; 0 means no limit.
    pub fn new(per_sec: u64) -> TransferRate {
        let interval = (per_sec > 0).then(|| (NANOS_PER_SEC / per_sec).max(1));
        TransferRate {
            interval,
            burst: interval.map_or(0, |i| i.saturating_mul(per_sec)),
            next: AtomicU64::new(0),
            start: Instant::now(),
        }
    }

    /// Takes a token if one is left.
    pub fn try_take(&self) -> bool {
        let now = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.try_take_at(now)
    }

    /// [`Self::try_take`] at `now` nanoseconds after the bucket was made.
    fn try_take_at(&self, now: u64) -> bool {
        let Some(interval) = self.interval else {
            return true;
        };
        let mut next = self.next.load(Ordering::Relaxed);
        loop {
            let after = next.max(now).saturating_add(interval);
            if after - now > self.burst {
                return false;
            }
            match self
                .next
                .compare_exchange_weak(next, after, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(seen) => next = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_full_bucket_gives_its_burst_then_one_token_per_interval() {
        let rate = TransferRate::new(10);
        assert_eq!((0..10).filter(|_| rate.try_take_at(0)).count(), 10);
        assert!(!rate.try_take_at(0));
        assert!(!rate.try_take_at(99 * MS));
        assert!(rate.try_take_at(100 * MS));
        assert!(!rate.try_take_at(100 * MS));
        // A quiet second refills it, but never beyond the burst.
        assert_eq!((0..20).filter(|_| rate.try_take_at(5_000 * MS)).count(), 10);
    }

    #[test]
    fn zero_means_no_limit_and_huge_rates_do_not_overflow() {
        let free = TransferRate::new(0);
        assert!((0..100_000).all(|_| free.try_take_at(0)));
        let fast = TransferRate::new(u64::MAX);
        assert!((0..1000).all(|_| fast.try_take_at(0)));
    }
}
