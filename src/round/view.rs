//! What the round task publishes for readers (the HTTP side): the [`View`] of its state on a
//! `watch` channel, rebuilt as the state changes, and the [`Event`]s of the HTTP event
//! stream with their payloads.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use tokio::time::Instant;

use super::ledger::LedgerView;
use super::ticks::TickSource;
use super::{rfc3339, Pending, Round};
use crate::chain::Block;
use crate::stats::{chi_square, ChiSquare};

/// What the round task publishes for readers (the HTTP side) on a `watch` channel, so
/// that no number of readers ever queues behind, or delays, a proposal. Blocks and draws
/// are not in it: readers take those from the data directory through
/// [`ChainIndex`](crate::store::ChainIndex).
#[derive(Debug, Clone, Default)]
pub struct View {
    /// The chain's draw: `pos-lottery-v1` or `pos-lottery-v2`.
    pub draw: &'static str,
    /// The connected validators, largest stake first.
    pub validators: Vec<ValidatorView>,
    /// This round's candidates, in draw (address) order.
    pub pool: Vec<PendingView>,
    pub height: u64,
    pub round: u64,
    pub rounds_run: u64,
    pub empty_rounds: u64,
    pub total_stake: u128,
    pub burned_stake: u128,
    pub round_secs: Option<f64>,
    /// When the open round closes; `None` when rounds are closed by hand.
    pub next_tick: Option<Instant>,
    pub chi_square: Option<ChiSquare>,
    /// Ledger mode: accounts, supply and the pending transfers and slashes.
    pub ledger: Option<Arc<LedgerView>>,
}

impl View {
    /// `/api/stats`, with the time left computed now rather than when the view was made.
    pub fn stats(&self, connections: usize) -> StatsView {
        let left = self
            .next_tick
            .map(|t| t.saturating_duration_since(Instant::now()));
        StatsView {
            height: self.height,
            round: self.round,
            rounds_run: self.rounds_run,
            empty_rounds: self.empty_rounds,
            validators: self.validators.len(),
            candidates: self.pool.len(),
            total_stake: self.total_stake,
            burned_stake: self.burned_stake,
            connections,
            round_secs: self.round_secs,
            next_round_at: left
                .map(|d| rfc3339(Utc::now() + chrono::Duration::from_std(d).unwrap_or_default())),
            seconds_left: left.map(|d| d.as_secs_f64()),
            chi_square: self.chi_square,
        }
    }
}

/// A view costs O(validators) to build: with up to this many validators and candidates it
/// is rebuilt on every change, beyond it at most once per [`VIEW_INTERVAL`].
pub const VIEW_EAGER_MAX: usize = 1024;
/// The longest a view may lag behind the state when it is rebuilt lazily.
pub const VIEW_INTERVAL: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Serialize)]
pub struct ValidatorView {
    pub address: Arc<str>,
    pub stake: u64,
    /// stake / total stake of the connected validators.
    pub share: f64,
    pub wins: u64,
    pub expected_wins: f64,
    /// Candidates proposed since it connected.
    pub proposed: u64,
    pub connected_since: String,
}

/// One entry of `/transactionPool`: a candidate of the open round and its odds.
///
/// The odds are public while the round is open (every entrant's stake and the total are),
/// the outcome is not: on a pos-lottery-v2 chain the seed needs the block's reveal, which
/// the server publishes only in the block itself, after the entries are frozen.
#[derive(Debug, Clone, Serialize)]
pub struct PendingView {
    /// Always `"candidate"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub address: Arc<str>,
    pub bpm: u32,
    /// The validator's stake now; the draw reads it again when the round closes.
    pub stake: u64,
    pub proposed_at: String,
    /// The open round's total entered stake: the draw's `T` if nothing changes before the
    /// round closes. A u128, so it may exceed 2^64.
    pub total: u128,
    /// stake / total: the chance to win this round as things stand.
    pub chance: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatsView {
    pub height: u64,
    pub round: u64,
    pub rounds_run: u64,
    pub empty_rounds: u64,
    pub validators: usize,
    pub candidates: usize,
    pub total_stake: u128,
    pub burned_stake: u128,
    pub connections: usize,
    pub round_secs: Option<f64>,
    pub next_round_at: Option<String>,
    pub seconds_left: Option<f64>,
    pub chi_square: Option<ChiSquare>,
}

/// One server event, already serialized, for the HTTP event stream.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: &'static str,
    pub data: Arc<str>,
}

#[derive(Serialize)]
pub(super) struct ValidatorEvent<'a> {
    pub(super) address: &'a str,
    pub(super) stake: u64,
}

/// Ledger mode: an epoch opened with its stake snapshot.
#[derive(Serialize)]
pub(super) struct EpochEvent {
    pub(super) epoch: u64,
    pub(super) first_round: u64,
    pub(super) last_round: u64,
    pub(super) accounts: usize,
    pub(super) total: u128,
}

/// Ledger mode: a block's attesters passed `FINALITY` of its snapshot stake.
#[derive(Serialize)]
pub(super) struct FinalizedEvent<'a> {
    pub(super) index: u64,
    pub(super) hash: &'a str,
    pub(super) epoch: u64,
    pub(super) attested: u128,
    pub(super) total: u128,
    /// One decimal, rounded down, as the announcement says it.
    pub(super) percent: String,
}

#[derive(Serialize)]
pub(super) struct SlashedEvent<'a> {
    pub(super) address: &'a str,
    pub(super) stake: u64,
    pub(super) burned: u128,
    /// The block it signed two hashes for, when the slash is on evidence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) evidence: Option<u64>,
}

#[derive(Serialize)]
pub(super) struct RoundEvent {
    pub(super) round: u64,
    pub(super) empty: bool,
}

#[derive(Serialize)]
pub(super) struct BlockEvent<'a> {
    pub(super) block: &'a Block,
    pub(super) draw: DrawSummary,
}

#[derive(Serialize)]
pub(super) struct DrawSummary {
    pub(super) entrants: usize,
    /// The winner's stake in the draw.
    pub(super) stake: u64,
    pub(super) total: u128,
    pub(super) counter: u64,
    pub(super) target: u128,
}

impl Round {
    /// Builds the readers' view of the state now.
    fn build_view(&self) -> View {
        let total = self.total_stake();
        let total_f = total as f64;
        let mut validators: Vec<ValidatorView> = self
            .validators
            .values()
            .map(|v| {
                let t = self.tallies.get(&*v.address).copied().unwrap_or_default();
                ValidatorView {
                    address: v.address.clone(),
                    stake: v.stake,
                    share: if total_f > 0.0 {
                        v.stake as f64 / total_f
                    } else {
                        0.0
                    },
                    wins: t.wins,
                    expected_wins: t.expected,
                    proposed: v.proposed,
                    connected_since: rfc3339(v.joined_at),
                }
            })
            .collect();
        validators.sort_by(|a, b| b.stake.cmp(&a.stake).then(a.address.cmp(&b.address)));
        // Stakes as the draw would read them if the round closed now.
        let entered: Vec<(&Arc<str>, &Pending, u64)> = self
            .candidates
            .iter()
            .map(|(address, p)| {
                let stake = self.validators.get(&p.id).map_or(0, |v| v.stake);
                (address, p, stake)
            })
            .collect();
        let entered_total: u128 = entered.iter().map(|(_, _, s)| u128::from(*s)).sum();
        let pool = entered
            .into_iter()
            .map(|(address, p, stake)| PendingView {
                kind: "candidate",
                address: address.clone(),
                bpm: p.bpm,
                stake,
                proposed_at: rfc3339(p.at),
                total: entered_total,
                chance: if entered_total > 0 {
                    stake as f64 / entered_total as f64
                } else {
                    0.0
                },
            })
            .collect();
        View {
            draw: if self.secrets.is_some() {
                "pos-lottery-v2"
            } else {
                "pos-lottery-v1"
            },
            validators,
            pool,
            height: self.tip.index,
            round: self.number,
            rounds_run: self.rounds_run,
            empty_rounds: self.empty_rounds,
            total_stake: total,
            burned_stake: match &self.ledger {
                Some(l) => l.burned(),
                None => self.burned,
            },
            round_secs: match &self.ticks {
                TickSource::Every(_, p) => Some(p.as_secs_f64()),
                TickSource::Manual(_) | TickSource::Ended => None,
            },
            next_tick: self.next_tick,
            chi_square: chi_square(self.tallies.values()),
            ledger: self.ledger.as_ref().map(|l| Arc::new(l.view())),
        }
    }

    /// Publishes a fresh view now.
    pub(super) fn publish(&mut self) {
        let view = Arc::new(self.build_view());
        self.view_tx.send_replace(view);
        self.view_dirty = false;
        self.view_published = Instant::now();
    }

    /// The state changed: publish now while that is cheap or the last view is old enough,
    /// otherwise soon (the run loop publishes a dirty view after [`VIEW_INTERVAL`]).
    pub(super) fn changed(&mut self) {
        // Ledger mode's view lists every account: many accounts make every rebuild dear.
        let accounts = self.ledger.as_ref().map_or(0, |l| l.accounts.map.len());
        let small = self.validators.len() + self.candidates.len() + accounts <= VIEW_EAGER_MAX;
        if small || self.view_published.elapsed() >= VIEW_INTERVAL {
            self.publish();
        } else {
            self.view_dirty = true;
        }
    }

    /// Publishes an event for the HTTP stream. Typed payloads, not `json!`: a `u128` total
    /// above `u64::MAX` cannot live in a `serde_json::Value`, but serializes fine directly.
    pub(super) fn event(&self, name: &'static str, data: &impl Serialize) {
        if self.event_tx.receiver_count() > 0 {
            let Ok(data) = serde_json::to_string(data) else {
                return;
            };
            let data: Arc<str> = data.into();
            let _ = self.event_tx.send(Event { name, data });
        }
    }
}
