//! Pure tallies over what the bots saw: which blocks each connection heard of, which
//! rounds each bot entered, the pairing of rounds with announcements, quantiles and join
//! rates.

use std::collections::BTreeMap;

use serde::Serialize;

/// Which blocks one connection heard of, in O(1) space unless it misses some.
#[derive(Debug, Default, Clone)]
pub struct Deliveries {
    first: Option<u64>,
    last: u64,
    /// Announcements received, repeats included.
    pub count: u64,
    /// Announcements for an index at or below one already received: a repeat or reordering.
    pub repeats: u64,
    /// Ranges skipped between `first` and `last` (capped; see `gaps_dropped`).
    gaps: Vec<(u64, u64)>,
    gaps_dropped: u64,
}

const MAX_GAPS: usize = 1024;

impl Deliveries {
    /// Notes an announcement for block `index`.
    pub fn record(&mut self, index: u64) {
        self.count += 1;
        match self.first {
            None => {
                self.first = Some(index);
                self.last = index;
            }
            Some(_) if index <= self.last => self.repeats += 1,
            Some(_) => {
                if index > self.last + 1 {
                    if self.gaps.len() < MAX_GAPS {
                        self.gaps.push((self.last + 1, index - 1));
                    } else {
                        self.gaps_dropped += index - 1 - self.last;
                    }
                }
                self.last = index;
            }
        }
    }

    /// Whether block `index` reached this connection.
    pub fn saw(&self, index: u64) -> bool {
        match self.first {
            Some(first) if (first..=self.last).contains(&index) => {
                !self.gaps.iter().any(|(a, b)| (*a..=*b).contains(&index))
            }
            _ => false,
        }
    }
}

/// The rounds one bot entered, as inclusive runs: a bot that proposes every round needs
/// one entry however long it runs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rounds {
    pub(super) runs: Vec<(u64, u64)>,
}

impl Rounds {
    /// Adds a round; rounds arrive in increasing order, and a repeat is ignored.
    pub fn push(&mut self, round: u64) {
        match self.runs.last_mut() {
            Some((_, end)) if *end + 1 == round => *end = round,
            Some((_, end)) if round <= *end => {}
            _ => self.runs.push((round, round)),
        }
    }

    pub fn contains(&self, round: u64) -> bool {
        let i = self.runs.partition_point(|(_, end)| *end < round);
        self.runs.get(i).is_some_and(|(start, _)| *start <= round)
    }

    pub fn count(&self) -> u64 {
        self.runs.iter().map(|(a, b)| b - a + 1).sum()
    }
}

/// A round in which some of our bots were candidates, with their stake together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnteredRound {
    pub round: u64,
    pub stake: u128,
}

/// Our stake in each round any bot entered, in round order, from `(stake, rounds)` per bot.
pub fn stake_per_round<'a>(bots: impl IntoIterator<Item = (u64, &'a Rounds)>) -> Vec<EnteredRound> {
    // Stake joins at a run's first round and leaves after its last: sweep the changes.
    let mut changes: BTreeMap<u64, i128> = BTreeMap::new();
    for (stake, rounds) in bots {
        for &(a, b) in &rounds.runs {
            *changes.entry(a).or_default() += i128::from(stake);
            *changes.entry(b + 1).or_default() -= i128::from(stake);
        }
    }
    let mut out = Vec::new();
    let mut stake: i128 = 0;
    let points: Vec<(u64, i128)> = changes.into_iter().collect();
    for (i, &(round, change)) in points.iter().enumerate() {
        stake += change;
        let until = points.get(i + 1).map_or(round, |p| p.0);
        if let Ok(stake) = u128::try_from(stake) {
            if stake > 0 {
                out.extend((round..until).map(|round| EnteredRound { round, stake }));
            }
        }
    }
    out
}

/// What an announcement tells about its draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drawn {
    /// The winning bot, when the winner is one of ours.
    pub winner: Option<usize>,
    pub total: u128,
}

/// Pairs announcements (in block order) with the rounds our bots entered (in round order);
/// `entered(bot, round)` says whether a bot was a candidate in a round.
///
/// Announcements carry a block index, not a round, and a round nobody entered makes no
/// block, so the pairing is inferred. Both sequences increase, and a round fits an
/// announcement when our stake in it is at most the draw's total, the winner (if ours)
/// entered it, and a winner from outside means someone else's stake is in the total. Each
/// announcement takes the first fitting round after the previous match; rounds passed over
/// had no announcement (the run ended first). The result is exact when the bots are the
/// server's only validators; with other validators a round only they entered can be
/// mistaken for one of ours.
pub fn match_rounds(
    rounds: &[EnteredRound],
    drawn: &[Drawn],
    entered: impl Fn(usize, u64) -> bool,
) -> Vec<Option<usize>> {
    let fits = |r: &EnteredRound, d: &Drawn| {
        r.stake <= d.total
            && match d.winner {
                Some(w) => entered(w, r.round),
                None => r.stake < d.total,
            }
    };
    let mut next = 0;
    drawn
        .iter()
        .map(|d| {
            let found = (next..rounds.len()).find(|&j| fits(&rounds[j], d))?;
            next = found + 1;
            Some(found)
        })
        .collect()
}

/// The minimum, p50, p99 and maximum of a sample, nearest-rank.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quantiles {
    pub n: usize,
    pub min: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// Sorts `values` and takes its quantiles; `None` when empty.
pub fn quantiles(values: &mut [f64]) -> Option<Quantiles> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let i = (p * values.len() as f64).ceil() as usize;
        values[i.clamp(1, values.len()) - 1]
    };
    Some(Quantiles {
        n: values.len(),
        min: values[0],
        p50: rank(0.50),
        p99: rank(0.99),
        max: values[values.len() - 1],
    })
}

/// Join rate per `size` validators, in order of joining.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JoinBucket {
    /// 1-based positions in join order, inclusive.
    pub from: usize,
    pub to: usize,
    /// From the previous bucket's last join (or the start) to this bucket's last.
    pub seconds: f64,
    pub joins_per_s: f64,
}

/// `join_us` must be sorted: microseconds from the start to each `you are validator`.
pub fn join_buckets(join_us: &[u64], size: usize) -> Vec<JoinBucket> {
    let mut previous = 0;
    join_us
        .chunks(size.max(1))
        .enumerate()
        .map(|(i, chunk)| {
            let end = chunk[chunk.len() - 1];
            let seconds = end.saturating_sub(previous) as f64 / 1e6;
            previous = end;
            JoinBucket {
                from: i * size + 1,
                to: i * size + chunk.len(),
                seconds,
                joins_per_s: if seconds > 0.0 {
                    chunk.len() as f64 / seconds
                } else {
                    f64::INFINITY
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_find_gaps_and_repeats() {
        let mut d = Deliveries::default();
        for i in [5, 6, 8, 9, 9, 12] {
            d.record(i);
        }
        assert_eq!(d.count, 6);
        assert_eq!(d.repeats, 1);
        let seen: Vec<u64> = (0..15).filter(|i| d.saw(*i)).collect();
        assert_eq!(seen, vec![5, 6, 8, 9, 12]);
    }

    #[test]
    fn rounds_pair_with_announcements_in_order() {
        // Bot 0 (stake 10) entered rounds 4 and 6, bot 1 (stake 20) rounds 4 and 7; round 5
        // was empty, and round 7 had no announcement before the run ended.
        let mut a = Rounds::default();
        let mut b = Rounds::default();
        for r in [4, 6] {
            a.push(r);
        }
        for r in [4, 7] {
            b.push(r);
        }
        let rounds = stake_per_round([(10, &a), (20, &b)]);
        let stake = |round, stake| EnteredRound { round, stake };
        assert_eq!(rounds, vec![stake(4, 30), stake(6, 10), stake(7, 20)]);
        let bots = [&a, &b];
        let entered = |bot: usize, round| bots[bot].contains(round);
        let drawn = [
            Drawn {
                winner: Some(1),
                total: 30,
            },
            Drawn {
                winner: Some(0),
                total: 10,
            },
        ];
        assert_eq!(
            match_rounds(&rounds, &drawn, entered),
            vec![Some(0), Some(1)]
        );
        // A winner from outside cannot come from a round only our bots entered.
        let outside = [Drawn {
            winner: None,
            total: 30,
        }];
        assert_eq!(match_rounds(&rounds[..1], &outside, entered), vec![None]);
        // A winner of ours skips rounds it did not enter.
        let skip = [Drawn {
            winner: Some(1),
            total: 20,
        }];
        assert_eq!(match_rounds(&rounds[1..], &skip, entered), vec![Some(1)]);
    }

    #[test]
    fn rounds_are_kept_as_runs() {
        let mut r = Rounds::default();
        for round in [3, 4, 5, 5, 9, 10] {
            r.push(round);
        }
        assert_eq!(r.runs, vec![(3, 5), (9, 10)]);
        assert_eq!(r.count(), 5);
        let inside: Vec<u64> = (0..12).filter(|x| r.contains(*x)).collect();
        assert_eq!(inside, vec![3, 4, 5, 9, 10]);
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        let q = quantiles(&mut v).unwrap();
        assert_eq!(
            (q.n, q.min, q.p50, q.p99, q.max),
            (100, 1.0, 50.0, 99.0, 100.0)
        );
        assert_eq!(quantiles(&mut [7.0]).unwrap().p99, 7.0);
        assert!(quantiles(&mut []).is_none());
    }

    #[test]
    fn join_buckets_measure_each_thousand() {
        let joins: Vec<u64> = (1..=2500).map(|i| i * 1000).collect();
        let b = join_buckets(&joins, 1000);
        assert_eq!(b.len(), 3);
        assert_eq!((b[0].from, b[0].to), (1, 1000));
        assert!((b[0].seconds - 1.0).abs() < 1e-9);
        assert!((b[1].joins_per_s - 1000.0).abs() < 1e-6);
        assert_eq!((b[2].from, b[2].to), (2001, 2500));
        assert!((b[2].seconds - 0.5).abs() < 1e-9);
    }
}
