//! The end of a run: [`summarize`] turns the bots' reports and the announced blocks into
//! a [`Summary`] (printed as JSON with `--json`), and decides whether the run verified
//! anything at all.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;

use super::attestor::SharedVerdicts;
use super::bot::{BotReport, Ctx, FinalSlot, Outcome, Slot};
use super::simulate::{SimulateArgs, QUIET};
use super::tally::{
    join_buckets, match_rounds, quantiles, stake_per_round, Drawn, JoinBucket, Quantiles,
};

/// Join-rate buckets in the report: one per this many validators.
const JOIN_BUCKET: usize = 1000;
/// A connection must have heard of every block first delivered this long after its prompt:
/// a block sent just before the server subscribed it may legitimately never reach it.
const HEAD_GRACE: Duration = Duration::from_secs(1);
/// Blocks listed as not final in time, at most.
const LATE_LISTED: usize = 10;

pub(super) struct Times {
    pub(super) stop_us: u64,
    pub(super) end_us: u64,
    pub(super) stop_reason: &'static str,
    pub(super) drain_reason: &'static str,
}

#[derive(Debug, Serialize)]
pub(super) struct Summary {
    /// Why the run verified nothing, which makes `simulate` exit 1: no validator joined
    /// (or, with only watchers, no watcher), no announcement delivery was checked (without
    /// `--flood`), or no flood line was answered (with it). `None` otherwise.
    pub(super) error: Option<String>,
    pub(super) addr: String,
    pub(super) validators: usize,
    pub(super) watchers: usize,
    /// Seconds from the start to the stop, and to the end of the drain.
    pub(super) stopped_at_s: f64,
    pub(super) ended_at_s: f64,
    pub(super) stop_reason: &'static str,
    pub(super) drain_reason: &'static str,
    pub(super) outcomes: BTreeMap<&'static str, usize>,
    /// One example message per failure kind.
    pub(super) failure_samples: BTreeMap<&'static str, String>,
    pub(super) joins: JoinSummary,
    pub(super) fanout: FanoutSummary,
    pub(super) flood: Option<FloodSummary>,
    pub(super) rounds: RoundSummary,
    /// Unexpected server lines, with one example.
    pub(super) other_lines: u64,
    pub(super) other_sample: Option<String>,
    /// Ledger mode with `--transfers-per-sec`.
    pub(super) transfers: Option<TransferSummary>,
    /// Ledger mode with `--http`.
    pub(super) attestations: Option<AttestSummary>,
    pub(super) bots: Vec<BotRow>,
    pub(super) totals: Totals,
}

#[derive(Debug, Serialize)]
pub(super) struct TransferSummary {
    pub(super) sent: u64,
    pub(super) accepted: u64,
    pub(super) refused: u64,
    /// accepted / seconds to the stop.
    pub(super) accepted_per_s: f64,
    pub(super) refusal_sample: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct AttestSummary {
    /// `attest` lines the bots sent, and the answers.
    pub(super) sent: u64,
    pub(super) accepted: u64,
    pub(super) refused: u64,
    pub(super) refusal_sample: Option<String>,
    /// Blocks whose draw recomputed from the server's documents (once for all bots).
    pub(super) blocks_recomputed: u64,
    /// Blocks not attested: a document could not be fetched, or the recomputation failed.
    pub(super) blocks_not_attested: u64,
    pub(super) not_attested_sample: Option<String>,
    /// Why nothing was attested: the server takes no attestations.
    pub(super) unsupported: Option<String>,
    /// `block <k> final` lines over all connections.
    pub(super) final_lines: u64,
    /// Blocks announced during the run that were said final.
    pub(super) blocks_final: usize,
    /// Blocks announced during the run and followed by another: those said final before
    /// the next block's first announcement (within one round), and up to 10 that were not.
    pub(super) blocks_followed: usize,
    pub(super) final_within_a_round: usize,
    pub(super) not_final_within_a_round: Vec<u64>,
    /// From a block's first announcement to its first `final` line, in milliseconds.
    pub(super) time_to_final_ms: Option<Quantiles>,
    /// The percentage the `final` line gave, per block said final.
    pub(super) final_percent: Option<Quantiles>,
}

#[derive(Debug, Serialize)]
pub(super) struct JoinSummary {
    pub(super) joined: usize,
    /// Whether every validator joined.
    pub(super) all_joined: bool,
    /// Watchers that got `watching:`.
    pub(super) watching: usize,
    /// Seconds from the start until the last `you are validator`.
    pub(super) last_join_s: Option<f64>,
    /// joined / seconds to the last join.
    pub(super) joins_per_s: Option<f64>,
    pub(super) buckets: Vec<JoinBucket>,
    /// Milliseconds for the TCP connect, and from sending the stake to its answer.
    pub(super) connect_ms: Option<Quantiles>,
    pub(super) stake_answer_ms: Option<Quantiles>,
}

#[derive(Debug, Serialize)]
pub(super) struct FanoutSummary {
    /// Distinct blocks announced during the run.
    pub(super) blocks: usize,
    /// Connections that were ready at some point, and still open at the end.
    pub(super) connections: usize,
    pub(super) connections_open_at_end: usize,
    /// Blocks first delivered after every connection was ready (and before the tail).
    pub(super) blocks_to_all: usize,
    /// Per block to all: first to last delivery, in milliseconds, as the bots read them.
    pub(super) spread_ms: Option<Quantiles>,
    /// The same from the kernel's arrival stamps (when the server's send put each line in),
    /// over the blocks whose every delivery was stamped: the server's part of the spread.
    pub(super) arrival_spread_ms: Option<Quantiles>,
    /// Per delivery to all, for the first blocks (see `timed_blocks`): time after the
    /// block's first delivery, in milliseconds.
    pub(super) delivery_lag_ms: Option<Quantiles>,
    pub(super) timed_blocks: usize,
    /// Announcements each open connection received (repeats included).
    pub(super) per_connection: Option<Quantiles>,
    pub(super) exactly_once: ExactlyOnce,
}

#[derive(Debug, Serialize)]
pub(super) struct ExactlyOnce {
    /// Connections open at the end, each checked against every block first delivered
    /// `head_grace_s` after its prompt.
    pub(super) connections_checked: usize,
    pub(super) head_grace_s: f64,
    pub(super) expected: u64,
    pub(super) delivered: u64,
    pub(super) missing: u64,
    /// Connections with at least one missing block.
    pub(super) connections_missing: usize,
    /// Announcements for an index already seen on that connection.
    pub(super) repeats: u64,
    /// Sum of N over `missed N announcements` lines.
    pub(super) lag_notices: u64,
    /// Deliveries of an index whose announcement differs from the first one for that index
    /// (another hash, winner, BPM or stake), over all connections.
    pub(super) mismatches: u64,
    /// Blocks first delivered less than the quiet period before the end: not checked.
    pub(super) tail_blocks: usize,
    /// At least one delivery was checked, and nothing was missing, repeated, lagged or
    /// mismatched.
    pub(super) ok: bool,
    /// Why no delivery could be checked; `None` once one was.
    pub(super) not_checked: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct FloodSummary {
    pub(super) connections: usize,
    pub(super) sent: u64,
    pub(super) replies: u64,
    /// From the first flood write to the last reply.
    pub(super) seconds: f64,
    pub(super) lines_per_s: f64,
}

#[derive(Debug, Serialize)]
pub(super) struct RoundSummary {
    pub(super) first_block: Option<u64>,
    pub(super) last_block: Option<u64>,
    /// The last block's `Hash`, from servers that announce it.
    pub(super) last_hash: Option<String>,
    pub(super) proposals_entered: u64,
    pub(super) repeats: u64,
    pub(super) chain_broadcasts: u64,
    /// Rounds our bots entered that were paired with an announcement, and those that were not.
    pub(super) rounds_matched: usize,
    pub(super) rounds_unmatched: usize,
    /// Announcements no round of ours was paired with.
    pub(super) blocks_unmatched: usize,
}

#[derive(Debug, Serialize)]
pub(super) struct BotRow {
    pub(super) address: String,
    pub(super) stake: u64,
    pub(super) proposals: u64,
    pub(super) wins: u64,
    pub(super) expected: f64,
}

#[derive(Debug, Serialize)]
pub(super) struct Totals {
    pub(super) stake: u128,
    pub(super) proposals: u64,
    pub(super) wins: u64,
    pub(super) expected: f64,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1e3
}

pub(super) fn summarize(
    args: &SimulateArgs,
    reports: &[BotReport],
    blocks: &BTreeMap<u64, Slot>,
    times: Times,
) -> Summary {
    let mut outcomes = BTreeMap::new();
    let mut failure_samples = BTreeMap::new();
    for r in reports {
        *outcomes.entry(r.outcome.label()).or_insert(0) += 1;
        if let Some(d) = r.outcome.detail() {
            failure_samples
                .entry(r.outcome.label())
                .or_insert_with(|| d.to_owned());
        }
    }

    // Joins.
    let mut join_us: Vec<u64> = reports.iter().filter_map(|r| r.joined_us).collect();
    join_us.sort_unstable();
    let all_joined = args.validators > 0 && join_us.len() == args.validators;
    let last_join = join_us.last().copied();
    let joins = JoinSummary {
        joined: join_us.len(),
        all_joined,
        watching: reports.iter().filter(|r| r.watching).count(),
        last_join_s: last_join.map(|t| t as f64 / 1e6),
        joins_per_s: last_join
            .filter(|t| *t > 0)
            .map(|t| join_us.len() as f64 / (t as f64 / 1e6)),
        buckets: join_buckets(&join_us, JOIN_BUCKET),
        connect_ms: quantiles(
            &mut reports
                .iter()
                .filter_map(|r| r.connect_us.map(ms))
                .collect::<Vec<_>>(),
        ),
        stake_answer_ms: quantiles(
            &mut reports
                .iter()
                .filter_map(|r| r.join_wait_us.map(ms))
                .collect::<Vec<_>>(),
        ),
    };

    // Fan-out and exactly-once.
    let quiet_us = u64::try_from(QUIET.as_micros()).unwrap_or(u64::MAX);
    let grace_us = u64::try_from(HEAD_GRACE.as_micros()).unwrap_or(u64::MAX);
    let tail_from = times.end_us.saturating_sub(quiet_us);
    let ready: Vec<&BotReport> = reports.iter().filter(|r| r.ready_us.is_some()).collect();
    let open: Vec<&BotReport> = ready
        .iter()
        .copied()
        .filter(|r| matches!(r.outcome, Outcome::Open))
        .collect();
    let all_ready_us = ready.iter().filter_map(|r| r.ready_us).max().unwrap_or(0);
    // Connections that never got their prompt receive nothing; they count as failed.
    let to_all: Vec<&Slot> = blocks
        .values()
        .filter(|s| s.first_us > all_ready_us + grace_us && s.first_us < tail_from)
        .collect();
    let spread_ms = quantiles(
        &mut to_all
            .iter()
            .map(|s| ms(s.last_us - s.first_us))
            .collect::<Vec<_>>(),
    );
    // The same from the kernel's arrival stamps, for blocks whose every delivery had one: the
    // server's fan-out without the readers' own scheduling.
    let arrival_spread_ms = quantiles(
        &mut to_all
            .iter()
            .filter(|s| s.arrivals.stamped == s.deliveries)
            .map(|s| (s.arrivals.last_ns - s.arrivals.first_ns) as f64 / 1e6)
            .collect::<Vec<_>>(),
    );
    let mut timed_blocks = 0;
    let mut lags = Vec::new();
    for s in &to_all {
        if let Some(t) = &s.times_us {
            timed_blocks += 1;
            lags.extend(t.iter().map(|t| ms(t - s.first_us)));
        }
    }
    let mut checked = ExactlyOnce {
        connections_checked: open.len(),
        head_grace_s: HEAD_GRACE.as_secs_f64(),
        expected: 0,
        delivered: 0,
        missing: 0,
        connections_missing: 0,
        repeats: reports.iter().map(|r| r.deliveries.repeats).sum(),
        lag_notices: reports.iter().map(|r| r.missed).sum(),
        mismatches: blocks.values().map(|s| s.mismatches).sum(),
        tail_blocks: blocks.values().filter(|s| s.first_us >= tail_from).count(),
        ok: false,
        not_checked: None,
    };
    for r in &open {
        let ready_us = r.ready_us.unwrap_or(0);
        let mut missing = 0;
        for (index, s) in blocks {
            if s.first_us > ready_us + grace_us && s.first_us < tail_from {
                checked.expected += 1;
                if r.deliveries.saw(*index) {
                    checked.delivered += 1;
                } else {
                    missing += 1;
                }
            }
        }
        checked.missing += missing;
        checked.connections_missing += usize::from(missing > 0);
    }
    checked.ok = checked.delivered > 0
        && checked.missing == 0
        && checked.repeats == 0
        && checked.lag_notices == 0
        && checked.mismatches == 0;
    let fanout = FanoutSummary {
        blocks: blocks.len(),
        connections: ready.len(),
        connections_open_at_end: open.len(),
        blocks_to_all: to_all.len(),
        spread_ms,
        arrival_spread_ms,
        delivery_lag_ms: quantiles(&mut lags),
        timed_blocks,
        per_connection: quantiles(
            &mut open
                .iter()
                .map(|r| r.deliveries.count as f64)
                .collect::<Vec<_>>(),
        ),
        exactly_once: checked,
    };

    // Flood.
    let flood = args.flood.then(|| {
        let flooders: Vec<&BotReport> = reports
            .iter()
            .filter(|r| r.flood_start_us.is_some())
            .collect();
        let first = flooders.iter().filter_map(|r| r.flood_start_us).min();
        let last = flooders.iter().filter_map(|r| r.last_reply_us).max();
        let replies: u64 = flooders.iter().map(|r| r.replies).sum();
        let seconds = match (first, last) {
            (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e6,
            _ => 0.0,
        };
        FloodSummary {
            connections: flooders.len(),
            sent: flooders.iter().map(|r| r.flood_sent).sum(),
            replies,
            seconds,
            lines_per_s: if seconds > 0.0 {
                replies as f64 / seconds
            } else {
                0.0
            },
        }
    });

    // Wins against expectations: pair rounds with announcements, then share them out.
    let by_address: HashMap<&str, usize> = reports
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.address.as_deref().map(|a| (a, i)))
        .collect();
    let rounds = stake_per_round(reports.iter().map(|r| (r.stake(), &r.entered)));
    let drawn: Vec<Drawn> = blocks
        .values()
        .map(|s| Drawn {
            winner: by_address.get(s.announcement.winner.as_str()).copied(),
            total: s.announcement.total,
        })
        .collect();
    let pairs = match_rounds(&rounds, &drawn, |bot, round| {
        reports[bot].entered.contains(round)
    });
    let mut wins = vec![0_u64; reports.len()];
    for w in drawn.iter().filter_map(|d| d.winner) {
        wins[w] += 1;
    }
    // A bot expects stake / total from each paired round it entered: prefix sums of
    // 1 / total over the paired rounds give each run of rounds in one subtraction.
    let paired: Vec<(u64, f64)> = drawn
        .iter()
        .zip(&pairs)
        .filter_map(|(d, pair)| pair.map(|j| (rounds[j].round, 1.0 / d.total as f64)))
        .collect();
    let mut prefix = Vec::with_capacity(paired.len() + 1);
    prefix.push(0.0);
    for (_, inverse) in &paired {
        prefix.push(prefix[prefix.len() - 1] + inverse);
    }
    let expected: Vec<f64> = reports
        .iter()
        .map(|r| {
            let share: f64 = r
                .entered
                .runs
                .iter()
                .map(|&(a, b)| {
                    let lo = paired.partition_point(|(round, _)| *round < a);
                    let hi = paired.partition_point(|(round, _)| *round <= b);
                    prefix[hi] - prefix[lo]
                })
                .sum();
            r.stake() as f64 * share
        })
        .collect();
    let matched = pairs.iter().flatten().count();
    let all_replies: u64 = reports.iter().map(|r| r.replies).sum();
    let proposals_entered: u64 = reports.iter().map(|r| r.entered.count()).sum();
    let round_summary = RoundSummary {
        first_block: blocks.keys().next().copied(),
        last_block: blocks.keys().next_back().copied(),
        last_hash: blocks
            .values()
            .next_back()
            .and_then(|s| s.announcement.hash.clone()),
        proposals_entered,
        repeats: all_replies.saturating_sub(proposals_entered),
        chain_broadcasts: reports.iter().map(|r| r.chains).sum(),
        rounds_matched: matched,
        rounds_unmatched: rounds.len() - matched,
        blocks_unmatched: pairs.iter().filter(|p| p.is_none()).count(),
    };
    let bots: Vec<BotRow> = reports
        .iter()
        .enumerate()
        .filter(|(_, r)| r.address.is_some())
        .map(|(i, r)| BotRow {
            address: r.address.clone().unwrap_or_default(),
            stake: r.stake(),
            proposals: r.entered.count(),
            wins: wins[i],
            expected: expected[i],
        })
        .collect();
    let totals = Totals {
        stake: bots.iter().map(|b| u128::from(b.stake)).sum(),
        proposals: bots.iter().map(|b| b.proposals).sum(),
        wins: bots.iter().map(|b| b.wins).sum(),
        expected: bots.iter().map(|b| b.expected).sum(),
    };
    let mut summary = Summary {
        error: None,
        addr: args.addr.to_string(),
        validators: args.validators,
        watchers: args.watch,
        stopped_at_s: times.stop_us as f64 / 1e6,
        ended_at_s: times.end_us as f64 / 1e6,
        stop_reason: times.stop_reason,
        drain_reason: times.drain_reason,
        outcomes,
        failure_samples,
        joins,
        fanout,
        flood,
        rounds: round_summary,
        other_lines: reports.iter().map(|r| r.other).sum(),
        other_sample: reports.iter().find_map(|r| r.other_sample.clone()),
        transfers: None,
        attestations: None,
        bots,
        totals,
    };
    let idle = args.validators == 0 || (args.bpm_every.is_zero() && !args.flood);
    summary.fanout.exactly_once.not_checked = not_checked(&summary, idle);
    summary.error = nothing_verified(&summary);
    summary
}

/// The attestations and finality of the blocks announced during the run.
pub(super) fn attest_summary(
    ctx: &Ctx,
    verdicts: &SharedVerdicts,
    blocks: &BTreeMap<u64, Slot>,
    finals: &BTreeMap<u64, FinalSlot>,
) -> AttestSummary {
    let c = &ctx.counters;
    let v = &verdicts.counts;
    let sample =
        |m: &std::sync::Mutex<Option<String>>| m.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut lags = Vec::new();
    let mut percents = Vec::new();
    let mut followed = 0;
    let mut in_time = 0;
    let mut late = Vec::new();
    for (index, slot) in blocks {
        let fin = finals.get(index);
        if let Some(f) = fin {
            lags.push(ms(f.first_us.saturating_sub(slot.first_us)));
            percents.extend(f.percent.parse::<f64>().ok());
        }
        let Some(next) = blocks.get(&(index + 1)) else {
            continue;
        };
        followed += 1;
        if fin.is_some_and(|f| f.first_us <= next.first_us) {
            in_time += 1;
        } else if late.len() < LATE_LISTED {
            late.push(*index);
        }
    }
    AttestSummary {
        sent: c.attests_sent.load(Ordering::Relaxed),
        accepted: c.attests_accepted.load(Ordering::Relaxed),
        refused: c.attests_refused.load(Ordering::Relaxed),
        refusal_sample: sample(&ctx.attest_refusal_sample),
        blocks_recomputed: v.recomputed.load(Ordering::Relaxed),
        blocks_not_attested: v.not_attested.load(Ordering::Relaxed),
        not_attested_sample: sample(&v.sample),
        unsupported: sample(&v.unsupported),
        final_lines: c.final_lines.load(Ordering::Relaxed),
        blocks_final: blocks.keys().filter(|i| finals.contains_key(i)).count(),
        blocks_followed: followed,
        final_within_a_round: in_time,
        not_final_within_a_round: late,
        time_to_final_ms: quantiles(&mut lags),
        final_percent: quantiles(&mut percents),
    }
}

/// Why the exactly-once check covered no delivery; `None` when it expected at least one.
/// `idle`: the bots never propose (`--bpm-every 0`, or only watchers).
fn not_checked(s: &Summary, idle: bool) -> Option<String> {
    let f = &s.fanout;
    let e = &f.exactly_once;
    if e.expected > 0 {
        return None;
    }
    Some(if e.connections_checked == 0 {
        "no connection was still open at the end".to_owned()
    } else if f.blocks == 0 && idle {
        "no block was announced (these bots never propose: with --bpm-every 0 or only \
         watchers, another client must)"
            .to_owned()
    } else if f.blocks == 0 && s.rounds.proposals_entered == 0 {
        "no block was announced, and no BPM of these bots entered a round".to_owned()
    } else if f.blocks == 0 {
        format!(
            "no block was announced, though {} BPMs entered rounds: the run ended before a \
             round closed (is the server's ROUND_SECS longer than the run?)",
            s.rounds.proposals_entered
        )
    } else {
        format!(
            "the {} blocks announced all came within {:?} of a connection's prompt or in the \
             last {:?} of the run, where delivery is not checked; run for longer",
            f.blocks, HEAD_GRACE, QUIET
        )
    })
}

/// Why the run verified nothing at all (see `Summary::error`), or `None`.
fn nothing_verified(s: &Summary) -> Option<String> {
    let failures = || {
        let total = s.validators + s.watchers;
        let parts: Vec<String> = s
            .outcomes
            .iter()
            .filter(|(label, _)| **label != Outcome::Open.label())
            .map(|(label, n)| match s.failure_samples.get(label) {
                Some(sample) => format!("{label}: {n} of {total} connections, e.g. {sample}"),
                None => format!("{label}: {n} of {total} connections"),
            })
            .collect();
        parts.join("; ")
    };
    if s.validators > 0 && s.joins.joined == 0 {
        return Some(format!(
            "no validator could join {} ({})",
            s.addr,
            failures()
        ));
    }
    if s.validators == 0 && s.joins.watching == 0 {
        return Some(format!("no watcher could join {} ({})", s.addr, failures()));
    }
    if let Some(fl) = &s.flood {
        return (fl.replies == 0).then(|| "no flood line was answered".to_owned());
    }
    let e = &s.fanout.exactly_once;
    if e.delivered > 0 {
        return None;
    }
    Some(match &e.not_checked {
        Some(why) => format!("no announcement was checked: {why}"),
        None => format!(
            "no announcement was checked: all {} expected deliveries are missing",
            e.expected
        ),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use bytes::Bytes;
    use tokio::time::Instant;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::client::args::StakeRange;
    use crate::client::bot::{Counters, Ctx, Role};
    use crate::client::protocol::tests::{announcement, HASH};
    use crate::client::render::render;

    fn args(validators: usize, watch: usize, flood: bool) -> SimulateArgs {
        SimulateArgs {
            addr: "127.0.0.1:9".parse().unwrap(),
            validators_flag: Some(validators),
            validators,
            stake: StakeRange { low: 10, high: 10 },
            bpm_every: Duration::from_secs(1),
            duration: Some(Duration::from_secs(10)),
            flood,
            flood_lines: None,
            watch,
            connect_rate: None,
            quiet: true,
            json: false,
            keys_dir: None,
            transfers_per_sec: None,
            http: None,
        }
    }

    fn ctx() -> Ctx {
        Ctx {
            addr: "127.0.0.1:9".parse().unwrap(),
            start: Instant::now(),
            bpm_every: Duration::from_secs(1),
            flood: false,
            flood_lines: None,
            flood_batch: Bytes::new(),
            counters: Counters::default(),
            blocks: Mutex::new(BTreeMap::new()),
            stop: CancellationToken::new(),
            end: CancellationToken::new(),
            keys: Vec::new(),
            addresses: Vec::new(),
            transfer_every: None,
            refusal_sample: Mutex::new(None),
            verdicts: None,
            finals: Mutex::new(BTreeMap::new()),
            attest_refusal_sample: Mutex::new(None),
        }
    }

    /// A run that stopped at 9 s and ended at 10 s.
    fn times() -> Times {
        Times {
            stop_us: 9_000_000,
            end_us: 10_000_000,
            stop_reason: "--duration elapsed",
            drain_reason: "quiet",
        }
    }

    /// A validator whose prompt came at the start and who was still connected at the end.
    fn joined_validator(address: char) -> BotReport {
        let mut r = BotReport::new(Role::Validator { stake: 10 });
        r.outcome = Outcome::Open;
        r.address = Some(address.to_string().repeat(64));
        r.ready_us = Some(0);
        r.joined_us = Some(1_000);
        r
    }

    fn refused() -> BotReport {
        let mut r = BotReport::new(Role::Validator { stake: 10 });
        r.outcome = Outcome::ConnectFailed("Connection refused (os error 111)".into());
        r
    }

    /// Announces blocks 1..=n at 2 s, 3 s, ... to every report, as the bots would.
    fn deliver(ctx: &Ctx, reports: &mut [BotReport], n: u64) {
        for index in 1..=n {
            for r in reports.iter_mut() {
                r.deliveries.record(index);
                ctx.record_delivery(
                    announcement(index, Some(HASH)),
                    (index + 1) * 1_000_000,
                    None,
                );
            }
        }
    }

    /// The arrival spread comes from the kernel's stamps, not the read times, and only from
    /// blocks whose every delivery was stamped.
    #[test]
    fn the_arrival_spread_uses_the_stamps_of_fully_stamped_blocks() {
        let ctx = ctx();
        let reports = vec![joined_validator('a'), joined_validator('b')];
        // Block 1: read 40 ms apart, arrived 3 ms apart.
        ctx.record_delivery(announcement(1, Some(HASH)), 2_000_000, Some(7_000_000));
        ctx.record_delivery(announcement(1, Some(HASH)), 2_040_000, Some(10_000_000));
        // Block 2: one delivery unstamped, so no arrival spread for it.
        ctx.record_delivery(announcement(2, Some(HASH)), 3_000_000, Some(20_000_000));
        ctx.record_delivery(announcement(2, Some(HASH)), 3_010_000, None);
        let blocks = std::mem::take(&mut *ctx.blocks.lock().unwrap());
        let s = summarize(&args(2, 0, false), &reports, &blocks, times());
        let read = s.fanout.spread_ms.as_ref().unwrap();
        assert_eq!((read.min, read.max, read.n), (10.0, 40.0, 2));
        let arrived = s.fanout.arrival_spread_ms.as_ref().unwrap();
        assert_eq!((arrived.min, arrived.max, arrived.n), (3.0, 3.0, 1));
        assert!(
            render(&s).contains("by the kernel's arrival stamps (the server's part): min 3.0 ms"),
            "{}",
            render(&s)
        );
    }

    #[test]
    fn finality_is_judged_against_the_next_block() {
        let ctx = ctx();
        let mut reports = vec![joined_validator('a'), joined_validator('b')];
        // Blocks 1, 2, 3 first delivered at 2 s, 3 s, 4 s.
        deliver(&ctx, &mut reports, 3);
        ctx.record_final(1, "75.0".into(), 2_500_000);
        ctx.record_final(1, "75.0".into(), 2_600_000);
        // Block 2 is said final only after block 3 came; block 3 has no next block.
        ctx.record_final(2, "100.0".into(), 4_500_000);
        ctx.record_final(3, "80.5".into(), 4_100_000);
        // A block from before the run is not judged.
        ctx.record_final(0, "99.9".into(), 1_000);
        let verdicts = SharedVerdicts::new("127.0.0.1:9".parse().unwrap());
        let blocks = std::mem::take(&mut *ctx.blocks.lock().unwrap());
        let finals = std::mem::take(&mut *ctx.finals.lock().unwrap());
        let a = attest_summary(&ctx, &verdicts, &blocks, &finals);
        assert_eq!(a.final_lines, 5);
        assert_eq!(a.blocks_final, 3);
        assert_eq!(a.blocks_followed, 2);
        assert_eq!(a.final_within_a_round, 1);
        assert_eq!(a.not_final_within_a_round, vec![2]);
        let lag = a.time_to_final_ms.as_ref().unwrap();
        assert_eq!((lag.min, lag.max, lag.n), (100.0, 1500.0, 3));
        let mut s = summarize(&args(2, 0, false), &reports, &blocks, times());
        s.attestations = Some(a);
        let report = render(&s);
        assert!(
            report.contains("finality: 3 of 3 blocks said final (5 final lines); 1 of 2 blocks followed by another were final before it (not: block 2)"),
            "{report}"
        );
        assert!(report.contains("attestations: 0 sent, 0 accepted, 0 refused; 0 blocks recomputed, 0 not attested\n"), "{report}");
    }

    #[test]
    fn a_run_where_nobody_joined_fails_and_says_why() {
        let blocks = BTreeMap::new();
        let s = summarize(
            &args(2, 0, false),
            &[refused(), refused()],
            &blocks,
            times(),
        );
        let error = s.error.as_deref().unwrap();
        assert!(error.starts_with("no validator could join 127.0.0.1:9 (connect failed: 2 of 2 connections, e.g. Connection refused"), "{error}");
        let report = render(&s);
        assert!(!report.contains("exactly-once: OK"), "{report}");
        assert!(
            report.contains("exactly-once: NOT CHECKED: no connection was still open at the end"),
            "{report}"
        );
        assert!(!s.fanout.exactly_once.ok);
        // Only watchers, none of which got in.
        let mut watcher = BotReport::new(Role::Watcher);
        watcher.outcome = Outcome::Refused;
        let s = summarize(&args(0, 1, false), &[watcher], &blocks, times());
        assert_eq!(
            s.error.as_deref(),
            Some("no watcher could join 127.0.0.1:9 (server full: 1 of 1 connections)")
        );
    }

    #[test]
    fn a_run_that_checked_no_announcement_fails_and_says_why() {
        let mut reports = [joined_validator('a')];
        let s = summarize(&args(1, 0, false), &reports, &BTreeMap::new(), times());
        assert_eq!(
            s.error.as_deref(),
            Some("no announcement was checked: no block was announced, and no BPM of these bots entered a round")
        );
        let mut idle = args(1, 0, false);
        idle.bpm_every = Duration::ZERO;
        let s = summarize(&idle, &reports, &BTreeMap::new(), times());
        assert!(s.error.unwrap().contains("these bots never propose"));
        reports[0].entered.push(1);
        let s = summarize(&args(1, 0, false), &reports, &BTreeMap::new(), times());
        assert!(s.error.unwrap().contains("though 1 BPMs entered rounds"));
        // A block in the head grace period only: announced, but nothing to check.
        let ctx = ctx();
        reports[0].deliveries.record(1);
        ctx.record_delivery(announcement(1, None), 500_000, None);
        let blocks = std::mem::take(&mut *ctx.blocks.lock().unwrap());
        let s = summarize(&args(1, 0, false), &reports, &blocks, times());
        let error = s.error.as_deref().unwrap();
        assert!(
            error.contains("the 1 blocks announced all came within 1s"),
            "{error}"
        );
        assert!(render(&s).contains("exactly-once: NOT CHECKED: the 1 blocks"));
    }

    #[test]
    fn a_flood_needs_answered_lines_not_announcements() {
        let mut flooder = joined_validator('a');
        flooder.flood_start_us = Some(2_000);
        let s = summarize(
            &args(1, 0, true),
            std::slice::from_ref(&flooder),
            &BTreeMap::new(),
            times(),
        );
        assert_eq!(s.error.as_deref(), Some("no flood line was answered"));
        flooder.replies = 5;
        flooder.last_reply_us = Some(3_000);
        let s = summarize(&args(1, 0, true), &[flooder], &BTreeMap::new(), times());
        assert_eq!(s.error, None);
        assert!(!s.fanout.exactly_once.ok);
    }

    #[test]
    fn a_checked_run_passes_and_keeps_the_last_hash() {
        let ctx = ctx();
        let mut reports = [joined_validator('a'), joined_validator('b')];
        deliver(&ctx, &mut reports, 3);
        let blocks = std::mem::take(&mut *ctx.blocks.lock().unwrap());
        let s = summarize(&args(2, 0, false), &reports, &blocks, times());
        assert_eq!(s.error, None);
        let e = &s.fanout.exactly_once;
        assert!(e.ok && e.not_checked.is_none());
        assert_eq!((e.expected, e.delivered, e.mismatches), (6, 6, 0));
        assert_eq!(s.rounds.last_hash.as_deref(), Some(HASH));
        assert!(render(&s).contains("exactly-once: OK (2 connections checked: 6 of 6"));
    }

    #[test]
    fn one_index_announced_with_two_hashes_is_a_mismatch() {
        let ctx = ctx();
        let mut reports = [joined_validator('a'), joined_validator('b')];
        deliver(&ctx, &mut reports, 2);
        // A third connection's view of block 2 names another block.
        let other = HASH.replace('3', "4");
        ctx.record_delivery(announcement(2, Some(&other)), 3_000_000, None);
        // An old server's line for the same block differs too: it carries no hash.
        ctx.record_delivery(announcement(2, None), 3_000_000, None);
        let blocks = std::mem::take(&mut *ctx.blocks.lock().unwrap());
        let s = summarize(&args(2, 0, false), &reports, &blocks, times());
        let e = &s.fanout.exactly_once;
        assert_eq!(
            (e.delivered, e.missing, e.repeats, e.mismatches),
            (4, 0, 0, 2)
        );
        assert!(!e.ok);
        assert!(render(&s).contains("exactly-once: FAILED"));
        // Delivered deliveries were verified, so the run itself did check something.
        assert_eq!(s.error, None);
    }
}
