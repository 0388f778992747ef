//! The round task: the one owner of the validator set, this round's candidates and the chain.
//!
//! Sessions and the HTTP view talk to it only through a bounded [`Command`] channel, so no
//! lock guards consensus state. Every tick closes a round: the draw, the durable write, the
//! append, then one announcement on a broadcast channel that the fan-out threads write to
//! every connection (see [`crate::fanout`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::chain::{compute_entries_hash, decode_hash, Block};
use crate::ledger::{DrawRecord, SlashRecord, Tally};
use crate::lottery::{compute_seed, compute_seed_v2, pick_winner};
use crate::store::{ChainIndex, Secrets, Store, StoreError};
use crate::tx::{compute_tx_hash, TxError, TxRecord};

mod attest;
mod command;
mod commit;
pub mod delegations;
mod epochs;
pub mod ledger;
mod ticks;
mod view;
pub use command::{Command, Joined, NotEntrant, Proposal, StatusView};
use ledger::{Ledger, LoginError};
pub use ticks::Ticks;
use ticks::{round_interval, tick_opt, TickSource};
use view::{BlockEvent, DrawSummary, RoundEvent, SlashedEvent, ValidatorEvent};
pub use view::{Event, PendingView, StatsView, ValidatorView, View, VIEW_EAGER_MAX, VIEW_INTERVAL};

/// Capacity of the command channel: sessions wait (backpressure) when it is full.
pub const COMMAND_QUEUE: usize = 1024;
/// Announcements a connection may fall behind by before it is told it missed some.
pub const ANNOUNCE_QUEUE: usize = 64;
/// Events an HTTP event stream may fall behind by.
pub const EVENT_QUEUE: usize = 1024;

/// Counters the round task and the sessions publish for everyone to read.
#[derive(Debug, Default)]
pub struct Shared {
    /// The round now open for candidates.
    pub round: AtomicU64,
    /// Open TCP connections.
    pub connections: AtomicUsize,
    /// Announcements handed to the broadcast channel so far, counted before each send: a
    /// connection that joins now is sent only the ones after this count (see
    /// [`crate::fanout`]), never an older one still on its way.
    pub announced: AtomicU64,
}

/// Channels and settings the round task is built from.
pub struct RoundSetup {
    pub ticks: Ticks,
    pub broadcast: Option<Duration>,
    /// Newest blocks in the chain broadcast; 0 means the whole chain.
    pub broadcast_blocks: u64,
    pub block_reward: u64,
    pub index: Arc<ChainIndex>,
    /// Reveals in each new reveal chain a rotation makes (v2).
    pub seed_chain_len: u64,
    pub shared: Arc<Shared>,
    pub announce_tx: broadcast::Sender<Bytes>,
    pub event_tx: broadcast::Sender<Event>,
    /// Where the round task publishes its [`View`].
    pub view_tx: watch::Sender<Arc<View>>,
    /// Ledger mode: `EPOCH_ROUNDS` for the next snapshot.
    pub epoch_rounds: u64,
    /// Ledger mode: `FINALITY` for the next snapshot.
    pub finality: crate::attest::Fraction,
    /// Ledger mode: `ATTEST_REWARD` for the next snapshot.
    pub attest_reward: u64,
    /// Ledger mode: `DELEGATION_SLASH_PERCENT` for the next snapshot.
    pub delegation_slash_percent: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    #[error("cannot write the data directory")]
    Store(#[from] StoreError),
    #[error("the storage task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("a block the round task built does not fit the chain: {0}")]
    Chain(#[from] crate::chain::ChainError),
    #[error("the data directory holds no chain")]
    Empty,
    #[error("the reveal chain is used up without a rotation")]
    SeedUsedUp,
    #[error("cannot make a new reveal chain: {0}")]
    Seed(String),
    #[error("ledger: {0}")]
    Ledger(String),
}

struct Validator {
    address: Arc<str>,
    stake: u64,
    joined_at: DateTime<Utc>,
    proposed: u64,
}

struct Pending {
    id: u64,
    bpm: u32,
    at: DateTime<Utc>,
}

/// The round task's state. Build with [`Round::new`], then [`Round::run`] it.
///
/// History stays on disk: the task holds the tip, the newest `BROADCAST_BLOCKS` blocks'
/// JSON (for the broadcast) and the [`ChainIndex`] of spans, never the whole chain.
pub struct Round {
    number: u64,
    tip: Block,
    /// JSON of the newest blocks, oldest first, at most `broadcast_blocks` of them.
    recent: VecDeque<Bytes>,
    broadcast_blocks: u64,
    /// The last chain broadcast, reused until the chain grows.
    broadcast_cache: Option<(u64, Bytes)>,
    index: Arc<ChainIndex>,
    store: Arc<Mutex<Store>>,
    /// The signing key and reveal chain of a v2 chain; `None` keeps a v1 chain v1.
    secrets: Option<Secrets>,
    seed_chain_len: u64,
    validators: HashMap<u64, Validator>,
    /// This round's candidates by address: draw order for free, one per validator.
    candidates: BTreeMap<Arc<str>, Pending>,
    tallies: HashMap<String, Tally>,
    next_id: u64,
    /// Secret per server start, so addresses cannot be predicted or collide across starts.
    salt: [u8; 32],
    burned: u128,
    rounds_run: u64,
    empty_rounds: u64,
    ticks: TickSource,
    next_tick: Option<Instant>,
    broadcast: Option<Interval>,
    block_reward: u64,
    shared: Arc<Shared>,
    announce_tx: broadcast::Sender<Bytes>,
    event_tx: broadcast::Sender<Event>,
    view_tx: watch::Sender<Arc<View>>,
    /// The state changed since the last published view.
    view_dirty: bool,
    view_published: Instant,
    /// Ledger mode's accounts and pool; `None` in tutorial mode.
    ledger: Option<Ledger>,
    epoch_rounds: u64,
    finality: crate::attest::Fraction,
    attest_reward: u64,
    delegation_slash_percent: u64,
}

impl Round {
    /// Takes over an opened data directory; rounds continue after the last block's round.
    /// `opened.audit.recent` should hold the newest `broadcast_blocks` blocks (at least
    /// the tip).
    pub fn new(opened: crate::store::Opened, setup: RoundSetup) -> Result<Round, RoundError> {
        let ledger = match opened.ledger {
            Some(l) => Some(Ledger::new(l).map_err(RoundError::Ledger)?),
            None => None,
        };
        let audit = opened.audit;
        let tip = audit.tip.ok_or(RoundError::Empty)?;
        let keep = usize::try_from(setup.broadcast_blocks).unwrap_or(usize::MAX);
        let skip = audit.recent.len().saturating_sub(keep);
        let recent: VecDeque<Bytes> = if setup.broadcast_blocks == 0 {
            VecDeque::new()
        } else {
            audit.recent.iter().skip(skip).map(block_json).collect()
        };
        // Rounds go on after the last block's, and never back into an epoch already opened
        // (whose snapshot is on disk, maybe with no block yet).
        let opened_epoch = ledger
            .as_ref()
            .and_then(|l| l.snapshot())
            .map_or(0, |s| s.first_round.saturating_sub(1));
        let number = tip.round.max(opened_epoch) + 1;
        setup.shared.round.store(number, Ordering::Relaxed);
        let (ticks, next_tick) = match setup.ticks {
            Ticks::Every(period) => {
                let start = Instant::now() + period;
                (
                    TickSource::Every(round_interval(start, period), period),
                    Some(start),
                )
            }
            Ticks::Manual(rx) => (TickSource::Manual(rx), None),
        };
        let broadcast = setup.broadcast.filter(|d| !d.is_zero()).map(|period| {
            let mut i = tokio::time::interval_at(Instant::now() + period, period);
            i.set_missed_tick_behavior(MissedTickBehavior::Delay);
            i
        });
        let mut round = Round {
            number,
            tip,
            recent,
            broadcast_blocks: setup.broadcast_blocks,
            broadcast_cache: None,
            index: setup.index,
            store: Arc::new(Mutex::new(opened.store)),
            secrets: opened.secrets,
            seed_chain_len: setup.seed_chain_len,
            validators: HashMap::new(),
            candidates: BTreeMap::new(),
            tallies: audit.tallies,
            next_id: 1,
            salt: rand::random(),
            burned: audit.burns.burned,
            rounds_run: 0,
            empty_rounds: 0,
            ticks,
            next_tick,
            broadcast,
            block_reward: setup.block_reward,
            shared: setup.shared,
            announce_tx: setup.announce_tx,
            event_tx: setup.event_tx,
            view_tx: setup.view_tx,
            view_dirty: false,
            view_published: Instant::now(),
            ledger,
            epoch_rounds: setup.epoch_rounds,
            finality: setup.finality,
            attest_reward: setup.attest_reward,
            delegation_slash_percent: setup.delegation_slash_percent,
        };
        if let Some(l) = &mut round.ledger {
            l.relock(number);
        }
        // Readers see the state from the first moment, not an empty default view.
        round.publish();
        Ok(round)
    }

    /// Serves commands and closes rounds until `shutdown`, or until every command sender is
    /// gone. Returns an error only when a block could not be made durable: the server must
    /// then stop rather than announce blocks it may lose.
    pub async fn run(
        mut self,
        mut cmd_rx: mpsc::Receiver<Command>,
        shutdown: CancellationToken,
    ) -> Result<(), RoundError> {
        // The first round may open an epoch (a restart at its boundary).
        self.open_epoch().await?;
        self.publish();
        loop {
            let publish_at = self.view_published + VIEW_INTERVAL;
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep_until(publish_at), if self.view_dirty => self.publish(),
                tick = self.ticks.next() => match tick {
                    Some(()) => {
                        self.close_round().await?;
                        self.open_epoch().await?;
                    }
                    // Manual ticks ended: keep serving commands, close no more rounds.
                    None => self.ticks = TickSource::Ended,
                },
                _ = tick_opt(&mut self.broadcast) => self.broadcast_chain().await?,
                cmd = cmd_rx.recv() => match cmd {
                    Some(cmd) => {
                        self.handle(cmd).await?;
                        self.group_commit(&mut cmd_rx).await?;
                    }
                    None => return Ok(()),
                },
            }
        }
    }

    /// Serves one command. Readers' view is updated before the reply, so a client that
    /// has its answer finds it reflected in the view.
    async fn handle(&mut self, cmd: Command) -> Result<(), RoundError> {
        match cmd {
            Command::Join { stake, reply } => {
                // The address: SHA-256 of the per-start salt and the connection's id.
                let mut h = Sha256::new();
                h.update(self.salt);
                h.update(self.next_id.to_be_bytes());
                let address: Arc<str> = hex::encode(h.finalize()).into();
                let _ = reply.send(self.add_validator(address, stake));
            }
            Command::Propose { id, bpm, at, reply } => {
                let round = self.number;
                let answer = match self.validators.get_mut(&id) {
                    None => Proposal::Unknown,
                    Some(v) if self.candidates.contains_key(&v.address) => {
                        Proposal::AlreadyProposed { round }
                    }
                    Some(v) => match self.ledger.as_ref().and_then(|l| l.not_entrant(&v.address)) {
                        Some(not) => Proposal::NotEntrant(not),
                        None => {
                            v.proposed += 1;
                            self.candidates
                                .insert(v.address.clone(), Pending { id, bpm, at });
                            Proposal::Entered { round }
                        }
                    },
                };
                if matches!(answer, Proposal::Entered { .. }) {
                    self.changed();
                }
                let _ = reply.send(answer);
            }
            Command::Slash { id, line, reply } => {
                let Some(v) = self.remove(id) else {
                    return Ok(());
                };
                if let Some(ledger) = &mut self.ledger {
                    // Burned from the balance by the next block; acknowledged once the pool
                    // log holds it (see `group_commit`).
                    ledger.slash(&v.address, v.stake, self.number, line, reply);
                    self.changed();
                    return Ok(());
                }
                // Durable before the validator is told, so the burned total survives restarts
                // and `verify` can add it up.
                let record = SlashRecord {
                    round: self.number,
                    address: v.address.to_string(),
                    burned: v.stake,
                };
                let store = self.store.clone();
                tokio::task::spawn_blocking(move || {
                    let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
                    store.record_slash(&record)
                })
                .await??;
                self.burned += u128::from(v.stake);
                tracing::warn!(address = %v.address, stake = v.stake, burned = %self.burned, "validator slashed");
                self.event(
                    "slashed",
                    &SlashedEvent {
                        address: &v.address,
                        stake: v.stake,
                        burned: self.burned,
                        evidence: None,
                    },
                );
                self.changed();
                let _ = reply.send(Some(v.stake));
            }
            Command::Leave { id, reply } => {
                let Some(v) = self.remove(id) else {
                    return Ok(());
                };
                self.changed();
                if let Some(reply) = reply {
                    let _ = reply.send(v.stake);
                }
                tracing::info!(address = %v.address, stake = v.stake, "validator left");
                self.event(
                    "validator_left",
                    &ValidatorEvent {
                        address: &v.address,
                        stake: v.stake,
                    },
                );
            }
            Command::Login { address, reply } => {
                let answer = match &mut self.ledger {
                    Some(l) => l.login(&address),
                    None => Err(LoginError::Unknown(address.to_string())),
                };
                if answer.is_ok() {
                    tracing::info!(%address, "account logged in");
                    self.changed();
                }
                let _ = reply.send(answer);
            }
            Command::Logout { address } => {
                if let Some(l) = &mut self.ledger {
                    l.logout(&address);
                    self.changed();
                }
            }
            Command::Bond {
                address,
                stake,
                reply,
            } => {
                let bonded = match &mut self.ledger {
                    Some(l) => l.bond(&address, stake),
                    None => Err(0),
                };
                if let Err(available) = bonded {
                    let _ = reply.send(Err(available));
                    return Ok(());
                }
                let _ = reply.send(Ok(self.add_validator(address, stake)));
            }
            Command::Attest { attestation, reply } => match &mut self.ledger {
                Some(l) => {
                    l.attest(attestation, self.number, reply);
                    self.cap_slashed_bonds();
                }
                None => {
                    let _ = reply.send(Err(ledger::AttestError::Tutorial));
                }
            },
            Command::Signed { tx, reply } => match &mut self.ledger {
                Some(l) => l.submit_signed(tx, reply),
                None => {
                    let _ = reply.send(Err(TxError::Other(
                        "this server runs in tutorial mode: there are no accounts".into(),
                    )));
                }
            },
            Command::Transfer { transfer, reply } => match &mut self.ledger {
                Some(l) => l.submit(transfer, reply),
                None => {
                    let _ = reply.send(Err(TxError::Other(
                        "this server runs in tutorial mode: there are no accounts".into(),
                    )));
                }
            },
            Command::Status { id, account, reply } => {
                let validator = id
                    .and_then(|id| self.validators.get(&id))
                    .map(|v| (v.address.clone(), v.stake));
                let wins = validator
                    .as_ref()
                    .and_then(|(a, _)| self.tallies.get(&**a))
                    .map_or(0, |t| t.wins);
                let _ = reply.send(StatusView {
                    validator,
                    wins,
                    round: self.number,
                    left: self
                        .next_tick
                        .map(|t| t.saturating_duration_since(Instant::now())),
                    height: self.tip.index,
                    account: match (&self.ledger, account) {
                        (Some(l), Some(a)) => Some(l.account(&a)),
                        _ => None,
                    },
                });
            }
        }
        Ok(())
    }

    /// Adds a validator with the next id (its stake already bonded in ledger mode).
    fn add_validator(&mut self, address: Arc<str>, stake: u64) -> Joined {
        let id = self.next_id;
        self.next_id += 1;
        tracing::info!(%address, stake, "validator joined");
        self.event(
            "validator_joined",
            &ValidatorEvent {
                address: &address,
                stake,
            },
        );
        self.validators.insert(
            id,
            Validator {
                address: address.clone(),
                stake,
                joined_at: Utc::now(),
                proposed: 0,
            },
        );
        self.changed();
        let not_entrant_in = self.ledger.as_ref().and_then(|l| l.not_entrant(&address));
        Joined {
            id,
            address,
            not_entrant_in,
        }
    }

    /// Removes a validator and its pending candidate, at once: it can no longer win.
    fn remove(&mut self, id: u64) -> Option<Validator> {
        let v = self.validators.remove(&id)?;
        self.candidates.remove(&v.address);
        if let Some(l) = &mut self.ledger {
            l.unbond(&v.address, v.stake);
        }
        Some(v)
    }

    fn total_stake(&self) -> u128 {
        self.validators.values().map(|v| u128::from(v.stake)).sum()
    }

    /// Closes the open round: draw, durable write, append, announce, reward.
    async fn close_round(&mut self) -> Result<(), RoundError> {
        let closing = std::time::Instant::now();
        let round = self.number;
        self.number += 1;
        self.rounds_run += 1;
        self.shared.round.store(self.number, Ordering::Relaxed);
        // Blocks whose attestation window ended with this round take no more, and their
        // snapshot stake is free to move.
        if let Some(l) = &mut self.ledger {
            l.tracker.close_before(self.number);
            if l.relock_due(self.number) {
                l.relock(self.number);
            }
        }
        if let TickSource::Every(_, period) = &self.ticks {
            self.next_tick = Some(Instant::now() + *period);
        }
        if self.candidates.is_empty() {
            self.empty_rounds += 1;
            tracing::debug!(round, "empty round");
            self.event("round", &RoundEvent { round, empty: true });
            self.changed();
            return Ok(());
        }
        let candidates = std::mem::take(&mut self.candidates);
        // Stakes are read now, at draw time; a validator that left has no candidate.
        // Ledger mode: a bond weighs at most its epoch's snapshot stake.
        let entries: Vec<(String, u64)> = candidates
            .iter()
            .map(|(a, p)| {
                let bond = self.validators.get(&p.id).map_or(0, |v| v.stake);
                let weight = match &self.ledger {
                    Some(l) => l.weight(a, bond),
                    None => bond,
                };
                (a.to_string(), weight)
            })
            .filter(|(_, w)| *w > 0)
            .collect();
        let tip = &self.tip;
        let index = tip.index + 1;
        let entries_hash = compute_entries_hash(&entries);
        let tip_hash = tip.hash_bytes().unwrap_or_default();
        // v2: the entries are frozen now (committed by the EntriesHash); only then is this
        // block's reveal taken from the reveal chain committed long before.
        let reveal = match &self.secrets {
            Some(s) => {
                let at = s.used + 1;
                let reveal = s.seed.reveal(at).ok_or(RoundError::SeedUsedUp)?;
                Some((reveal, at == s.seed.len()))
            }
            None => None,
        };
        let seed = match &reveal {
            Some((r, _)) => compute_seed_v2(
                &tip_hash,
                index,
                &decode_hash(&entries_hash).unwrap_or_default(),
                r,
            ),
            None => compute_seed(&tip_hash, index),
        };
        let started = std::time::Instant::now();
        let draw = match pick_winner(&seed, &entries) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(round, error = %e, "no winner");
                return Ok(());
            }
        };
        let draw_time = started.elapsed();
        let (winner, stake) = entries[draw.winner].clone();
        let pending = &candidates[winner.as_str()];
        let block = Block::next(
            tip,
            rfc3339(pending.at),
            pending.bpm,
            winner.clone(),
            round,
            entries_hash,
        );
        // Ledger mode: the block takes the whole pool and the rewards due.
        let txs = match &self.ledger {
            Some(l) => Some(TxRecord {
                index,
                transactions: l
                    .block_txs(&winner)
                    .map_err(|e| RoundError::Ledger(format!("block {index}: {e}")))?,
            }),
            None => None,
        };
        let block = match &txs {
            Some(t) => block.with_tx_hash(compute_tx_hash(&t.transactions)),
            None => block,
        };
        // The epoch's first block commits to its stake snapshot.
        let block = match self.ledger.as_ref().filter(|l| !l.snapshot_committed) {
            Some(l) => match l.snapshot() {
                Some(s) => block.with_snapshot_hash(s.hash()),
                None => block,
            },
            None => block,
        };
        let entrants = entries.len();
        let record = DrawRecord {
            index,
            entries,
            total: draw.total,
            counter: draw.counter,
            target: draw.target,
            winner: winner.clone(),
        };
        // Durable before announced: fsync off the async threads, and wait for it.
        let store = self.store.clone();
        let tip = self.tip.clone();
        let key = self.secrets.as_ref().map(|s| s.key.clone());
        let rotate = match reveal {
            Some((_, true)) => Some(self.seed_chain_len),
            _ => None,
        };
        let (record, block, spans, rotated, txs) = tokio::task::spawn_blocking(move || {
            let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
            // The last reveal of a chain carries the next chain's commitment, which is made
            // durable in seed-secret before any block commits to it.
            let rotated = match rotate {
                Some(n) => {
                    let next = crate::store::new_seed_chain(n)
                        .map_err(|e| RoundError::Seed(e.to_string()))?;
                    store.add_seed_chain(&next)?;
                    Some(next)
                }
                None => None,
            };
            let block = match (reveal, &key) {
                (Some((r, _)), Some(key)) => block
                    .with_reveal(r, rotated.as_ref().map(|c| c.commit()))
                    .sign_with(key),
                _ => block,
            };
            // Built from the tip by this task; checked anyway before it is written, so a
            // bug (or a damaged seed-secret) never puts a block on disk the audit refuses.
            block.validate_after(&tip)?;
            let spans = store.append_with(&record, txs.as_ref(), &block)?;
            Ok::<_, RoundError>((record, block, spans, rotated, txs))
        })
        .await??;
        self.index.push(spans);
        if let Some(s) = &mut self.secrets {
            match rotated {
                Some(next) => {
                    tracing::info!(commit = %hex::encode(next.commit()), reveals = next.len(), "rotated to a new reveal chain");
                    s.seed = next;
                    s.used = 0;
                }
                None => s.used += 1,
            }
        }
        if self.broadcast_blocks > 0 {
            if self.recent.len() as u64 >= self.broadcast_blocks {
                self.recent.pop_front();
            }
            self.recent.push_back(block_json(&block));
        }
        crate::ledger::tally(&mut self.tallies, &record);
        match (&mut self.ledger, &txs) {
            // The reward is credited to the balance, not the bond.
            (Some(l), Some(t)) => {
                l.snapshot_committed = true;
                l.applied(&t.transactions, &winner)
                    .map_err(|e| RoundError::Ledger(format!("block {index}: {e}")))?;
                l.on_block(index, &block.hash);
            }
            _ => {
                if let Some(v) = self.validators.get_mut(&pending.id) {
                    v.stake = v.stake.saturating_add(self.block_reward);
                }
            }
        }
        self.tip = block.clone();
        // Readers see the new block before anyone is told about it, however many validators.
        self.publish();

        let line = format!(
            "winning validator: {winner} (block {index}, BPM {}, stake {stake} of {}, hash {})\n",
            block.bpm, draw.total, block.hash
        );
        self.announce(Bytes::from(line));
        // From the tick to the announcement: draw, durable writes (transactions included), append.
        tracing::info!(
            round, index, %winner, stake, total = %draw.total, entrants,
            transactions = txs.as_ref().map_or(0, |t| t.transactions.len()),
            draw_us = draw_time.as_micros() as u64,
            close_us = closing.elapsed().as_micros() as u64, "block appended"
        );
        self.event(
            "block",
            &BlockEvent {
                block: &block,
                draw: DrawSummary {
                    entrants,
                    stake,
                    total: draw.total,
                    counter: draw.counter,
                    target: draw.target,
                },
            },
        );
        Ok(())
    }

    /// Sends the chain broadcast to every connection, serialized once for all of them: the
    /// newest `BROADCAST_BLOCKS` blocks as one JSON array line, or (with 0) the whole chain,
    /// read back from the data directory.
    async fn broadcast_chain(&mut self) -> Result<(), RoundError> {
        // Counts connections, not receivers: the fan-out threads hold receivers of their own.
        if self.shared.connections.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        let height = self.tip.index;
        let bytes = match &self.broadcast_cache {
            Some((h, bytes)) if *h == height => bytes.clone(),
            _ if self.broadcast_blocks == 0 => {
                let (dir, len) = (self.index.dir().to_path_buf(), self.index.chain_bytes());
                let read =
                    tokio::task::spawn_blocking(move || crate::store::read_chain_array(&dir, len))
                        .await?;
                match read {
                    Ok(v) => Bytes::from(v),
                    Err(e) => {
                        // A read failing is not a durability problem: skip this broadcast.
                        tracing::warn!(error = %e, "cannot read the chain for the broadcast");
                        return Ok(());
                    }
                }
            }
            _ => {
                let size: usize = self.recent.iter().map(|b| b.len() + 1).sum();
                let mut out = Vec::with_capacity(size + 2);
                out.push(b'[');
                for (i, b) in self.recent.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(b);
                }
                out.extend_from_slice(b"]\n");
                Bytes::from(out)
            }
        };
        self.broadcast_cache = Some((height, bytes.clone()));
        self.announce(bytes);
        Ok(())
    }

    /// Sends one line to every connection, counted first (see [`Shared::announced`]).
    fn announce(&self, line: Bytes) {
        self.shared.announced.fetch_add(1, Ordering::SeqCst);
        let _ = self.announce_tx.send(line);
    }
}

/// A block's JSON, exactly its line in `chain.jsonl`.
fn block_json(block: &Block) -> Bytes {
    // Serializing a struct of strings and integers cannot fail.
    Bytes::from(serde_json::to_vec(block).unwrap_or_default())
}

/// RFC 3339 in UTC with millisecond precision and a `Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}
