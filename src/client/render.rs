//! The human-readable report of a [`Summary`](super::report::Summary).

use super::report::{BotRow, Summary};
use super::tally::Quantiles;

/// Rows of the per-validator table printed before it is cut short (`--json` lists all).
const TABLE_ROWS: usize = 40;

fn short(address: &str) -> String {
    match (
        address.get(..8),
        address.get(address.len().saturating_sub(4)..),
    ) {
        (Some(head), Some(tail)) if address.len() > 14 => format!("{head}..{tail}"),
        _ => address.to_owned(),
    }
}

fn fmt_q(q: &Option<Quantiles>, unit: &str) -> String {
    match q {
        Some(q) => format!(
            "min {:.1}{unit}  p50 {:.1}{unit}  p99 {:.1}{unit}  max {:.1}{unit}  (n={})",
            q.min, q.p50, q.p99, q.max, q.n
        ),
        None => "no samples".to_owned(),
    }
}

/// The human-readable report.
pub(super) fn render(s: &Summary) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\nsimulate against {}: {} validators, {} watchers; stopped at {:.1} s ({}), ended at {:.1} s ({})",
        s.addr, s.validators, s.watchers, s.stopped_at_s, s.stop_reason, s.ended_at_s, s.drain_reason
    );
    let outcomes: Vec<String> = s
        .outcomes
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    let _ = writeln!(o, "connections: {}", outcomes.join(", "));
    for (k, v) in &s.failure_samples {
        let _ = writeln!(o, "  e.g. {k}: {v}");
    }
    let j = &s.joins;
    let _ = match (j.last_join_s, j.joins_per_s) {
        (Some(t), Some(rate)) => writeln!(
            o,
            "joins: {} {} validators joined in {t:.2} s = {rate:.0} joins/s",
            if j.all_joined { "all" } else { "only" },
            j.joined
        ),
        _ => writeln!(
            o,
            "joins: {} of {} validators joined",
            j.joined, s.validators
        ),
    };
    if j.buckets.len() > 1 {
        for b in &j.buckets {
            let _ = writeln!(
                o,
                "  joins {:>6}-{:<6} {:7.2} s  {:8.0} joins/s",
                b.from, b.to, b.seconds, b.joins_per_s
            );
        }
    }
    let _ = writeln!(o, "  tcp connect:   {}", fmt_q(&j.connect_ms, " ms"));
    let _ = writeln!(o, "  stake answer:  {}", fmt_q(&j.stake_answer_ms, " ms"));
    let f = &s.fanout;
    let _ = writeln!(
        o,
        "fan-out: {} blocks announced; {} to all {} connections that got the prompt: first-to-last spread {}",
        f.blocks,
        f.blocks_to_all,
        f.connections,
        fmt_q(&f.spread_ms, " ms")
    );
    if f.arrival_spread_ms.is_some() {
        let _ = writeln!(
            o,
            "  by the kernel's arrival stamps (the server's part): {}",
            fmt_q(&f.arrival_spread_ms, " ms")
        );
    }
    let _ = writeln!(
        o,
        "  per delivery after the first ({} blocks): {}",
        f.timed_blocks,
        fmt_q(&f.delivery_lag_ms, " ms")
    );
    let _ = writeln!(
        o,
        "  announcements per open connection: {}",
        fmt_q(&f.per_connection, "")
    );
    let e = &f.exactly_once;
    let verdict = match &e.not_checked {
        _ if e.ok => "OK".to_owned(),
        Some(why) if e.repeats == 0 && e.lag_notices == 0 && e.mismatches == 0 => {
            format!("NOT CHECKED: {why}")
        }
        _ => "FAILED".to_owned(),
    };
    let _ = writeln!(
        o,
        "exactly-once: {verdict} ({} connections checked: {} of {} expected deliveries, {} missing on {} connections, {} repeats, {} lag notices, {} mismatched; {} tail blocks unchecked)",
        e.connections_checked,
        e.delivered,
        e.expected,
        e.missing,
        e.connections_missing,
        e.repeats,
        e.lag_notices,
        e.mismatches,
        e.tail_blocks
    );
    if let Some(fl) = &s.flood {
        let _ = writeln!(
            o,
            "flood: {} connections sent {} lines, {} replies in {:.2} s = {:.0} lines/s",
            fl.connections, fl.sent, fl.replies, fl.seconds, fl.lines_per_s
        );
    }
    let r = &s.rounds;
    let _ = writeln!(
        o,
        "rounds: blocks {}..{}, proposals entered {}, repeats answered {}, chain broadcasts {}; rounds paired {} (unpaired: {} rounds, {} blocks)",
        r.first_block.map_or("-".into(), |b| b.to_string()),
        r.last_block.map_or("-".into(), |b| b.to_string()),
        r.proposals_entered,
        r.repeats,
        r.chain_broadcasts,
        r.rounds_matched,
        r.rounds_unmatched,
        r.blocks_unmatched
    );
    if let Some(t) = &s.transfers {
        let _ = writeln!(
            o,
            "transfers: {} sent, {} accepted ({:.0}/s), {} refused{}",
            t.sent,
            t.accepted,
            t.accepted_per_s,
            t.refused,
            t.refusal_sample
                .as_ref()
                .map(|r| format!(" (e.g. {r})"))
                .unwrap_or_default()
        );
    }
    if let Some(a) = &s.attestations {
        let e_g = |x: &Option<String>| {
            x.as_ref()
                .map(|r| format!(" (e.g. {r})"))
                .unwrap_or_default()
        };
        match &a.unsupported {
            Some(why) if a.sent == 0 => {
                let _ = writeln!(o, "attestations: none sent: {why}");
            }
            _ => {
                let _ = writeln!(
                    o,
                    "attestations: {} sent, {} accepted, {} refused{}; {} blocks recomputed, {} not attested{}",
                    a.sent,
                    a.accepted,
                    a.refused,
                    e_g(&a.refusal_sample),
                    a.blocks_recomputed,
                    a.blocks_not_attested,
                    e_g(&a.not_attested_sample)
                );
                let late = if a.not_final_within_a_round.is_empty() {
                    String::new()
                } else {
                    let list: Vec<String> = a
                        .not_final_within_a_round
                        .iter()
                        .map(u64::to_string)
                        .collect();
                    format!(" (not: block {})", list.join(", "))
                };
                let _ = writeln!(
                    o,
                    "finality: {} of {} blocks said final ({} final lines); {} of {} blocks followed by another were final before it{late}",
                    a.blocks_final,
                    s.fanout.blocks,
                    a.final_lines,
                    a.final_within_a_round,
                    a.blocks_followed
                );
                let _ = writeln!(
                    o,
                    "  announcement to final: {}",
                    fmt_q(&a.time_to_final_ms, " ms")
                );
                let _ = writeln!(o, "  stake attested: {}", fmt_q(&a.final_percent, "%"));
            }
        }
    }
    if s.other_lines > 0 {
        let _ = writeln!(
            o,
            "unexpected lines: {} (e.g. {:?})",
            s.other_lines,
            s.other_sample.as_deref().unwrap_or("")
        );
    }
    if !s.bots.is_empty() {
        let _ = writeln!(
            o,
            "\n{:<16} {:>10} {:>9} {:>6} {:>10}",
            "validator", "stake", "proposed", "wins", "expected"
        );
        let mut rows: Vec<&BotRow> = s.bots.iter().collect();
        rows.sort_by(|a, b| b.stake.cmp(&a.stake).then(a.address.cmp(&b.address)));
        for b in rows.iter().take(TABLE_ROWS) {
            let _ = writeln!(
                o,
                "{:<16} {:>10} {:>9} {:>6} {:>10.3}",
                short(&b.address),
                b.stake,
                b.proposals,
                b.wins,
                b.expected
            );
        }
        if rows.len() > TABLE_ROWS {
            let _ = writeln!(
                o,
                "... {} more (largest stakes shown; --json lists all)",
                rows.len() - TABLE_ROWS
            );
        }
        let t = &s.totals;
        let _ = writeln!(
            o,
            "{:<16} {:>10} {:>9} {:>6} {:>10.3}",
            "total", t.stake, t.proposals, t.wins, t.expected
        );
    }
    o
}
