//! One bot: a tokio task with one connection that joins, then proposes, floods or
//! listens until the run ends, and hands back a [`BotReport`]. [`Ctx`] is what all bots
//! share: the settings, the live [`Counters`] and the table of announced blocks.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use rand::Rng;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tokio::time::{sleep_until, timeout, Instant, Interval, MissedTickBehavior};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use ed25519_dalek::SigningKey;

use super::arrival::StampedRead;
use super::attestor::{attest_line, Recent, SharedVerdicts, Verdict};
use super::protocol::{Announcement, Reply, ReplyCodec};
use super::tally::{Deliveries, Rounds};
use crate::tx::{sign_auth, Transfer};

/// A connect that has not completed by then counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// From connecting to `you are validator` (or `watching`).
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);
/// A write that makes no progress for this long ends the bot.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Read buffer per bot: an announcement is ~230 bytes, and 10,000 bots should stay small.
pub(super) const READ_BUFFER: usize = 1024;
/// Flooding bots are few and read megabytes.
const FLOOD_READ_BUFFER: usize = 64 * 1024;
/// `72\n` lines per flood write.
pub(super) const FLOOD_BATCH_LINES: usize = 16 * 1024;
pub(super) const FLOOD_LINE: &[u8] = b"72\n";
/// Flooding bots publish reply counts in steps, so counting is not a shared hot spot.
const FLOOD_COUNT_STEP: u64 = 256;
const FLOOD_PUBLISH: Duration = Duration::from_millis(50);
/// Heart rates the bots propose.
const BPM_RANGE: std::ops::RangeInclusive<u32> = 55..=180;
/// Blocks whose every delivery time is kept for the lag quantiles (memory: 8 bytes per
/// delivery, so 120 blocks x 10,000 connections is about 10 MB).
const MAX_TIMED_BLOCKS: usize = 120;
/// Blocks a bot heard of whose shared verdict it still waits for.
const MAX_WAITING_VERDICTS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Validator { stake: u64 },
    Watcher,
}

/// Live figures the bots publish for the status line and the drain.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) connected: AtomicUsize,
    pub(super) joined: AtomicUsize,
    pub(super) watching: AtomicUsize,
    pub(super) failed: AtomicUsize,
    pub(super) finished: AtomicUsize,
    pub(super) entered: AtomicU64,
    /// `BPM .. entered` plus `already proposed` replies (flooding bots add in steps).
    pub(super) replies: AtomicU64,
    pub(super) deliveries: AtomicU64,
    pub(super) blocks: AtomicU64,
    pub(super) chains: AtomicU64,
    pub(super) missed: AtomicU64,
    pub(super) other: AtomicU64,
    pub(super) flood_sent: AtomicU64,
    /// Microseconds since the start, for the drain's "nothing is still arriving".
    pub(super) last_delivery_us: AtomicU64,
    pub(super) last_reply_us: AtomicU64,
    pub(super) last_entered_us: AtomicU64,
    pub(super) last_block_us: AtomicU64,
    pub(super) last_join_us: AtomicU64,
    /// Ledger mode (`--transfers-per-sec`).
    pub(super) transfers_sent: AtomicU64,
    pub(super) transfers_accepted: AtomicU64,
    pub(super) transfers_refused: AtomicU64,
    /// Ledger mode with `--http`: `attest` lines sent, and their answers.
    pub(super) attests_sent: AtomicU64,
    pub(super) attests_accepted: AtomicU64,
    pub(super) attests_refused: AtomicU64,
    /// `block <k> final` lines, over all connections.
    pub(super) final_lines: AtomicU64,
    /// The last attestation answer or `final` line, for the drain.
    pub(super) last_attest_us: AtomicU64,
}

/// One announced block, as seen by all bots together.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) announcement: Announcement,
    pub(super) first_us: u64,
    pub(super) last_us: u64,
    pub(super) arrivals: Arrivals,
    pub(super) deliveries: u64,
    /// Deliveries whose announcement differs from `announcement` (another hash, winner,
    /// BPM or stake): two different blocks announced under one index.
    pub(super) mismatches: u64,
    /// Every delivery time, for the first [`MAX_TIMED_BLOCKS`] blocks.
    pub(super) times_us: Option<Vec<u64>>,
}

/// The kernel's arrival stamps of one block's deliveries (see [`super::arrival`]).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Arrivals {
    /// Deliveries that came with a stamp.
    pub(super) stamped: u64,
    pub(super) first_ns: u64,
    pub(super) last_ns: u64,
}

impl Arrivals {
    fn with(self, stamp: Option<u64>) -> Arrivals {
        let Some(ns) = stamp else { return self };
        if self.stamped == 0 {
            return Arrivals {
                stamped: 1,
                first_ns: ns,
                last_ns: ns,
            };
        }
        Arrivals {
            stamped: self.stamped + 1,
            first_ns: self.first_ns.min(ns),
            last_ns: self.last_ns.max(ns),
        }
    }
}

/// The first `block <k> final` line any bot received for block k.
#[derive(Debug, Clone)]
pub(super) struct FinalSlot {
    pub(super) first_us: u64,
    pub(super) percent: String,
}

/// What all bots share.
pub(super) struct Ctx {
    pub(super) addr: SocketAddr,
    pub(super) start: Instant,
    pub(super) bpm_every: Duration,
    pub(super) flood: bool,
    pub(super) flood_lines: Option<u64>,
    pub(super) flood_batch: Bytes,
    pub(super) counters: Counters,
    pub(super) blocks: Mutex<BTreeMap<u64, Slot>>,
    /// Stop proposing and connecting; keep reading.
    pub(super) stop: CancellationToken,
    /// Close every connection and report.
    pub(super) end: CancellationToken,
    /// Ledger mode (`--keys-dir`): the account keys bots log in with, and their addresses.
    pub(super) keys: Vec<SigningKey>,
    pub(super) addresses: Vec<String>,
    /// Ledger mode: how often each logged-in bot sends a transfer.
    pub(super) transfer_every: Option<Duration>,
    /// One refusal text, to show why transfers were refused.
    pub(super) refusal_sample: Mutex<Option<String>>,
    /// Ledger mode with `--http`: each block's draw recomputed once for every bot.
    pub(super) verdicts: Option<Arc<SharedVerdicts>>,
    /// When each block was first said to be final.
    pub(super) finals: Mutex<BTreeMap<u64, FinalSlot>>,
    /// One `attest refused:` reason.
    pub(super) attest_refusal_sample: Mutex<Option<String>>,
}

impl Ctx {
    pub(super) fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    pub(super) fn record_final(&self, index: u64, percent: String, at_us: u64) {
        let c = &self.counters;
        c.final_lines.fetch_add(1, Ordering::Relaxed);
        c.last_attest_us.fetch_max(at_us, Ordering::Relaxed);
        let mut finals = self.finals.lock().unwrap_or_else(|p| p.into_inner());
        finals.entry(index).or_insert(FinalSlot {
            first_us: at_us,
            percent,
        });
    }

    /// `arrived`: the kernel's arrival stamp of the line (ns since the Unix epoch), if any.
    pub(super) fn record_delivery(
        &self,
        announcement: Announcement,
        at_us: u64,
        arrived: Option<u64>,
    ) {
        let c = &self.counters;
        c.deliveries.fetch_add(1, Ordering::Relaxed);
        c.last_delivery_us.fetch_max(at_us, Ordering::Relaxed);
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        let timed = blocks.len() < MAX_TIMED_BLOCKS;
        match blocks.entry(announcement.index) {
            std::collections::btree_map::Entry::Vacant(e) => {
                c.blocks.fetch_add(1, Ordering::Relaxed);
                c.last_block_us.fetch_max(at_us, Ordering::Relaxed);
                e.insert(Slot {
                    announcement,
                    first_us: at_us,
                    last_us: at_us,
                    arrivals: Arrivals::default().with(arrived),
                    deliveries: 1,
                    mismatches: 0,
                    times_us: timed.then(|| vec![at_us]),
                });
            }
            std::collections::btree_map::Entry::Occupied(mut e) => {
                let slot = e.get_mut();
                slot.first_us = slot.first_us.min(at_us);
                slot.last_us = slot.last_us.max(at_us);
                slot.arrivals = slot.arrivals.with(arrived);
                slot.deliveries += 1;
                slot.mismatches += u64::from(slot.announcement != announcement);
                if let Some(times) = &mut slot.times_us {
                    times.push(at_us);
                }
            }
        }
    }
}

/// How a bot's connection ended.
#[derive(Debug, Clone, Default)]
pub(super) enum Outcome {
    /// The run stopped before its turn to connect.
    #[default]
    NotStarted,
    /// Still connected at the end: the normal case.
    Open,
    ConnectFailed(String),
    /// `server full`.
    Refused,
    JoinFailed(String),
    /// The run stopped during the handshake.
    StoppedJoining,
    Closed(String),
    ServerShutdown,
    /// The task did not report back in time.
    Lost,
}

impl Outcome {
    pub(super) fn label(&self) -> &'static str {
        match self {
            Outcome::NotStarted => "not started",
            Outcome::Open => "open at the end",
            Outcome::ConnectFailed(_) => "connect failed",
            Outcome::Refused => "server full",
            Outcome::JoinFailed(_) => "join failed",
            Outcome::StoppedJoining => "still joining at the end",
            Outcome::Closed(_) => "closed early",
            Outcome::ServerShutdown => "server shut down",
            Outcome::Lost => "did not report",
        }
    }

    pub(super) fn detail(&self) -> Option<&str> {
        match self {
            Outcome::ConnectFailed(d) | Outcome::JoinFailed(d) | Outcome::Closed(d) => Some(d),
            _ => None,
        }
    }
}

/// What one bot hands back.
#[derive(Debug)]
pub(super) struct BotReport {
    pub(super) role: Role,
    pub(super) outcome: Outcome,
    pub(super) address: Option<String>,
    /// Duration of the TCP connect.
    pub(super) connect_us: Option<u64>,
    /// Since the start: the balance prompt arrived (the server has subscribed us by then).
    pub(super) ready_us: Option<u64>,
    /// Since the start: `you are validator`.
    pub(super) joined_us: Option<u64>,
    /// From sending the stake to `you are validator`.
    pub(super) join_wait_us: Option<u64>,
    /// A watcher that got `watching:`.
    pub(super) watching: bool,
    pub(super) entered: Rounds,
    pub(super) deliveries: Deliveries,
    pub(super) chains: u64,
    pub(super) missed: u64,
    pub(super) replies: u64,
    pub(super) unpublished_replies: u64,
    pub(super) flood_start_us: Option<u64>,
    pub(super) last_reply_us: Option<u64>,
    pub(super) flood_sent: u64,
    pub(super) other: u64,
    pub(super) other_sample: Option<String>,
}

impl BotReport {
    pub(super) fn new(role: Role) -> BotReport {
        BotReport {
            role,
            outcome: Outcome::NotStarted,
            address: None,
            connect_us: None,
            ready_us: None,
            joined_us: None,
            join_wait_us: None,
            watching: false,
            entered: Rounds::default(),
            deliveries: Deliveries::default(),
            chains: 0,
            missed: 0,
            replies: 0,
            unpublished_replies: 0,
            flood_start_us: None,
            last_reply_us: None,
            flood_sent: 0,
            other: 0,
            other_sample: None,
        }
    }

    pub(super) fn stake(&self) -> u64 {
        match self.role {
            Role::Validator { stake } => stake,
            Role::Watcher => 0,
        }
    }

    /// Accounts for one line that needs no answer.
    /// `lines`: where it was read, for an announcement's arrival stamp.
    fn observe(&mut self, ctx: &Ctx, reply: Reply, lines: &Lines) {
        let c = &ctx.counters;
        match reply {
            Reply::Entered { round } => {
                self.entered.push(round);
                c.entered.fetch_add(1, Ordering::Relaxed);
                c.last_entered_us.fetch_max(ctx.now_us(), Ordering::Relaxed);
                self.count_reply(ctx);
            }
            Reply::Already { .. } => self.count_reply(ctx),
            Reply::Announcement(a) => {
                self.deliveries.record(a.index);
                let arrived = lines.get_ref().last_arrival_ns();
                ctx.record_delivery(a, ctx.now_us(), arrived);
            }
            Reply::Chain => {
                self.chains += 1;
                c.chains.fetch_add(1, Ordering::Relaxed);
            }
            Reply::Missed(n) => {
                self.missed += n;
                c.missed.fetch_add(n, Ordering::Relaxed);
            }
            Reply::Other(text) => {
                self.other += 1;
                c.other.fetch_add(1, Ordering::Relaxed);
                self.other_sample.get_or_insert(text);
            }
            Reply::TransferAccepted => {
                c.transfers_accepted.fetch_add(1, Ordering::Relaxed);
            }
            Reply::TransferRefused(why) => {
                c.transfers_refused.fetch_add(1, Ordering::Relaxed);
                let mut sample = ctx.refusal_sample.lock().unwrap_or_else(|p| p.into_inner());
                sample.get_or_insert(why);
            }
            Reply::AttestAccepted { .. } => {
                c.attests_accepted.fetch_add(1, Ordering::Relaxed);
                c.last_attest_us.fetch_max(ctx.now_us(), Ordering::Relaxed);
            }
            Reply::AttestRefused(why) => {
                c.attests_refused.fetch_add(1, Ordering::Relaxed);
                c.last_attest_us.fetch_max(ctx.now_us(), Ordering::Relaxed);
                let mut sample = ctx
                    .attest_refusal_sample
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                sample.get_or_insert(why);
            }
            Reply::Final { index, percent } => ctx.record_final(index, percent, ctx.now_us()),
            Reply::AuthFailed(why) => {
                self.other += 1;
                c.other.fetch_add(1, Ordering::Relaxed);
                self.other_sample
                    .get_or_insert(format!("auth failed: {why}"));
            }
            Reply::Help
            | Reply::Challenge { .. }
            | Reply::Welcome { .. }
            | Reply::StakePrompt
            | Reply::BalancePrompt
            | Reply::BpmPrompt
            | Reply::Validator { .. }
            | Reply::Watching
            | Reply::Full
            | Reply::Shutdown => {}
        }
    }

    fn count_reply(&mut self, ctx: &Ctx) {
        let now = ctx.now_us();
        self.replies += 1;
        self.last_reply_us = Some(now);
        self.unpublished_replies += 1;
        if !ctx.flood || self.unpublished_replies >= FLOOD_COUNT_STEP {
            self.publish_replies(ctx);
        }
    }

    fn publish_replies(&mut self, ctx: &Ctx) {
        if self.unpublished_replies == 0 {
            return;
        }
        let c = &ctx.counters;
        c.replies
            .fetch_add(self.unpublished_replies, Ordering::Relaxed);
        c.last_reply_us
            .fetch_max(self.last_reply_us.unwrap_or(0), Ordering::Relaxed);
        self.unpublished_replies = 0;
    }
}

type Lines = FramedRead<StampedRead, ReplyCodec>;

/// Why waiting for a line ended without one.
enum Wait {
    Stopped,
    TimedOut,
    Closed(String),
}

async fn next_reply(
    lines: &mut Lines,
    deadline: Instant,
    stop: &CancellationToken,
) -> Result<Reply, Wait> {
    tokio::select! {
        biased;
        _ = stop.cancelled() => Err(Wait::Stopped),
        _ = sleep_until(deadline) => Err(Wait::TimedOut),
        item = lines.next() => match item {
            Some(Ok(reply)) => Ok(reply),
            Some(Err(e)) => Err(Wait::Closed(e.to_string())),
            None => Err(Wait::Closed("the server closed the connection".into())),
        },
    }
}

async fn write_line(wr: &mut OwnedWriteHalf, line: &[u8]) -> io::Result<()> {
    timeout(WRITE_TIMEOUT, wr.write_all(line))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "write made no progress"))?
}

/// One bot, from its connect to the end of the run.
pub(super) async fn run_bot(
    ctx: Arc<Ctx>,
    role: Role,
    start_at: Option<Instant>,
    key: Option<usize>,
) -> BotReport {
    let report = bot(&ctx, role, start_at, key).await;
    ctx.counters.finished.fetch_add(1, Ordering::Relaxed);
    report
}

async fn bot(
    ctx: &Arc<Ctx>,
    role: Role,
    start_at: Option<Instant>,
    key: Option<usize>,
) -> BotReport {
    let mut report = BotReport::new(role);
    if let Some(at) = start_at {
        tokio::select! {
            _ = sleep_until(at) => {}
            _ = ctx.stop.cancelled() => return report,
        }
    }
    let began = Instant::now();
    let connected = tokio::select! {
        r = timeout(CONNECT_TIMEOUT, TcpStream::connect(ctx.addr)) => r,
        _ = ctx.stop.cancelled() => return report,
    };
    let stream = match connected {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            report.outcome = Outcome::ConnectFailed(e.to_string());
            ctx.counters.failed.fetch_add(1, Ordering::Relaxed);
            return report;
        }
        Err(_) => {
            report.outcome =
                Outcome::ConnectFailed(format!("no answer within {CONNECT_TIMEOUT:?}"));
            ctx.counters.failed.fetch_add(1, Ordering::Relaxed);
            return report;
        }
    };
    report.connect_us = Some(u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX));
    let _ = stream.set_nodelay(true);
    ctx.counters.connected.fetch_add(1, Ordering::Relaxed);
    let (reader, writer) = stream.into_split();
    let capacity = if ctx.flood {
        FLOOD_READ_BUFFER
    } else {
        READ_BUFFER
    };
    // A flood's replies are counted, not timed: plain reads.
    let reader = if ctx.flood {
        StampedRead::unstamped(reader)
    } else {
        StampedRead::new(reader)
    };
    let mut lines = FramedRead::with_capacity(reader, ReplyCodec::default(), capacity);
    report.outcome = play(ctx, &mut lines, writer, &mut report, key).await;
    report.publish_replies(ctx);
    ctx.counters.connected.fetch_sub(1, Ordering::Relaxed);
    if !matches!(report.outcome, Outcome::Open) {
        ctx.counters.failed.fetch_add(1, Ordering::Relaxed);
    }
    report
}

async fn play(
    ctx: &Arc<Ctx>,
    lines: &mut Lines,
    mut writer: OwnedWriteHalf,
    report: &mut BotReport,
    key: Option<usize>,
) -> Outcome {
    let deadline = Instant::now() + JOIN_TIMEOUT;
    let handshake_end = |wait: Wait, stage: &str| match wait {
        Wait::Stopped => Outcome::StoppedJoining,
        Wait::TimedOut => Outcome::JoinFailed(format!("timed out {stage}")),
        Wait::Closed(why) => Outcome::JoinFailed(format!("{why} ({stage})")),
    };
    // Ledger mode: what the welcome said.
    let mut account: Option<(u64, u64)> = None;
    let mut chain = String::new();
    let signing = key.and_then(|k| ctx.keys.get(k));
    loop {
        match next_reply(lines, deadline, &ctx.stop).await {
            Ok(Reply::BalancePrompt) => break,
            Ok(Reply::StakePrompt) if account.is_some() => break,
            Ok(Reply::Challenge { chain_id, nonce }) => {
                let (Some(k), Role::Validator { .. }) = (signing, report.role) else {
                    if report.role == Role::Watcher {
                        break;
                    }
                    return Outcome::JoinFailed(
                        "the server runs in ledger mode: give --keys-dir with the accounts' key files".into(),
                    );
                };
                chain.clone_from(&chain_id);
                let line = format!(
                    "auth {} {}\n",
                    crate::tx::address_of(k),
                    sign_auth(k, &chain_id, &nonce)
                );
                if let Err(e) = write_line(&mut writer, line.as_bytes()).await {
                    return Outcome::JoinFailed(format!("sending the login: {e}"));
                }
            }
            Ok(Reply::AuthFailed(why)) => {
                return Outcome::JoinFailed(format!("auth failed: {why}"))
            }
            Ok(Reply::Welcome {
                available,
                next_nonce,
            }) => account = Some((available, next_nonce)),
            Ok(Reply::Full) => return Outcome::Refused,
            Ok(Reply::Shutdown) => return Outcome::ServerShutdown,
            Ok(reply) => report.observe(ctx, reply, lines),
            Err(wait) => return handshake_end(wait, "waiting for the balance prompt"),
        }
    }
    report.ready_us = Some(ctx.now_us());
    let asked = Instant::now();
    let answer = match report.role {
        // An account stakes what it has, at most.
        Role::Validator { stake } => {
            // With transfers to send, half of it: a bond is not available to transfer.
            let spendable = |available: u64| match ctx.transfer_every {
                Some(_) => available / 2,
                None => available,
            };
            let stake = account.map_or(stake, |(available, _)| {
                stake.min(spendable(available)).max(1)
            });
            report.role = Role::Validator { stake };
            format!("{stake}\n")
        }
        Role::Watcher => "watch\n".to_owned(),
    };
    if let Err(e) = write_line(&mut writer, answer.as_bytes()).await {
        return Outcome::JoinFailed(format!("sending the stake: {e}"));
    }
    loop {
        match next_reply(lines, deadline, &ctx.stop).await {
            Ok(Reply::Validator { address, .. }) if report.role != Role::Watcher => {
                report.address = Some(address);
                let now = ctx.now_us();
                report.joined_us = Some(now);
                ctx.counters.last_join_us.fetch_max(now, Ordering::Relaxed);
                report.join_wait_us =
                    Some(u64::try_from(asked.elapsed().as_micros()).unwrap_or(u64::MAX));
                ctx.counters.joined.fetch_add(1, Ordering::Relaxed);
                break;
            }
            Ok(Reply::Watching) if report.role == Role::Watcher => {
                report.watching = true;
                ctx.counters.watching.fetch_add(1, Ordering::Relaxed);
                break;
            }
            // The server asks again: the stake was refused (below MIN_STAKE?).
            Ok(Reply::BalancePrompt | Reply::StakePrompt) => {
                let why = report.other_sample.take().unwrap_or_default();
                return Outcome::JoinFailed(format!("stake refused: {why}"));
            }
            Ok(Reply::Shutdown) => return Outcome::ServerShutdown,
            Ok(reply) => report.observe(ctx, reply, lines),
            Err(wait) => return handshake_end(wait, "waiting for the stake's answer"),
        }
    }
    match report.role {
        Role::Validator { .. } if ctx.flood => flood(ctx, lines, writer, report).await,
        Role::Validator { .. } => {
            let sender = match (signing, account) {
                (Some(k), Some((_, nonce))) => Some(Sender {
                    key: k.clone(),
                    next_nonce: nonce,
                    chain_id: chain.clone(),
                }),
                _ => None,
            };
            listen(ctx, lines, writer, report, Some(ctx.bpm_every), sender).await
        }
        Role::Watcher => listen(ctx, lines, writer, report, None, None).await,
    }
}

async fn tick(interval: &mut Option<Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// A logged-in bot's transfers: amount 1 to a random other account, nonces in order.
struct Sender {
    key: SigningKey,
    next_nonce: u64,
    chain_id: String,
}

/// A logged-in bot's attestations: each block it heard of, once the shared recomputation
/// of that block succeeded for the hash this bot was announced.
struct Attester {
    shared: Arc<SharedVerdicts>,
    verdict_rx: broadcast::Receiver<Arc<Verdict>>,
    /// Blocks heard of whose verdict is not known yet, with their announced hash.
    waiting: VecDeque<(u64, String)>,
    attested: Recent,
}

impl Attester {
    fn new(shared: &Arc<SharedVerdicts>) -> Attester {
        Attester {
            shared: shared.clone(),
            verdict_rx: shared.subscribe(),
            waiting: VecDeque::new(),
            attested: Recent::default(),
        }
    }

    /// The `attest` line to send for `a`, when its verdict is known and good.
    fn on_announcement(&mut self, s: &Sender, a: &Announcement) -> Option<String> {
        let hash = a.hash.as_deref()?;
        match self.shared.announce(&s.chain_id, a) {
            Some(verdict) => self.decide(s, &verdict, hash),
            None => {
                if self.waiting.len() >= MAX_WAITING_VERDICTS {
                    self.waiting.pop_front();
                }
                self.waiting.push_back((a.index, hash.to_owned()));
                None
            }
        }
    }

    /// The `attest` line to send now that `verdict` is known, for a block this bot heard of.
    fn on_verdict(&mut self, s: &Sender, verdict: &Verdict) -> Option<String> {
        let at = self.waiting.iter().position(|(i, _)| *i == verdict.index)?;
        let (_, hash) = self.waiting.remove(at)?;
        self.decide(s, verdict, &hash)
    }

    fn decide(&mut self, s: &Sender, verdict: &Verdict, hash: &str) -> Option<String> {
        let good = verdict.outcome.is_ok() && verdict.hash.as_deref() == Some(hash);
        (good && self.attested.insert(verdict.index)).then(|| {
            let mut line = attest_line(&s.key, &s.chain_id, verdict.index, hash);
            line.push('\n');
            line
        })
    }
}

/// The next verdict; never, without an attester.
async fn next_verdict(attester: &mut Option<Attester>) -> Arc<Verdict> {
    if let Some(a) = attester {
        loop {
            match a.verdict_rx.recv().await {
                Ok(v) => return v,
                // Verdicts missed: their blocks stay in `waiting` until pushed out.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    }
    std::future::pending().await
}

async fn send_attest(
    ctx: &Ctx,
    writer: &mut OwnedWriteHalf,
    line: Option<String>,
) -> io::Result<()> {
    if let Some(line) = line {
        write_line(writer, line.as_bytes()).await?;
        ctx.counters.attests_sent.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Reads until the end, proposing a BPM every `every` until the stop; a logged-in bot
/// (`sender`) also sends transfers (`--transfers-per-sec`) and attestations (`--http`).
async fn listen(
    ctx: &Ctx,
    lines: &mut Lines,
    mut writer: OwnedWriteHalf,
    report: &mut BotReport,
    every: Option<Duration>,
    mut sender: Option<Sender>,
) -> Outcome {
    let mut transfers = match (&sender, ctx.transfer_every) {
        (Some(_), Some(period)) if ctx.addresses.len() > 1 => {
            let phase = period.mul_f64(rand::random::<f64>());
            let mut i = tokio::time::interval_at(Instant::now() + phase, period);
            i.set_missed_tick_behavior(MissedTickBehavior::Delay);
            Some(i)
        }
        _ => None,
    };
    // A random phase, so thousands of bots do not propose in the same instant.
    let mut ticker = every.filter(|d| !d.is_zero()).map(|period| {
        let phase = period.mul_f64(rand::random::<f64>());
        let mut i = tokio::time::interval_at(Instant::now() + phase, period);
        i.set_missed_tick_behavior(MissedTickBehavior::Delay);
        i
    });
    let mut proposing = ticker.is_some();
    let mut attester = match (&ctx.verdicts, &sender) {
        (Some(shared), Some(_)) => Some(Attester::new(shared)),
        _ => None,
    };
    loop {
        tokio::select! {
            biased;
            _ = ctx.end.cancelled() => return Outcome::Open,
            _ = ctx.stop.cancelled(), if proposing => proposing = false,
            _ = tick(&mut ticker), if proposing => {
                let bpm = rand::rng().random_range(BPM_RANGE);
                if let Err(e) = write_line(&mut writer, format!("{bpm}\n").as_bytes()).await {
                    return Outcome::Closed(format!("sending a BPM: {e}"));
                }
            }
            _ = tick(&mut transfers), if proposing => {
                if let Some(s) = &mut sender {
                    let line = transfer_line(ctx, s);
                    if let Err(e) = write_line(&mut writer, line.as_bytes()).await {
                        return Outcome::Closed(format!("sending a transfer: {e}"));
                    }
                    ctx.counters.transfers_sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            verdict = next_verdict(&mut attester) => {
                let line = match (&mut attester, &sender) {
                    (Some(a), Some(s)) => a.on_verdict(s, &verdict),
                    _ => None,
                };
                if let Err(e) = send_attest(ctx, &mut writer, line).await {
                    return Outcome::Closed(format!("sending an attestation: {e}"));
                }
            }
            item = lines.next() => match item {
                Some(Ok(Reply::Shutdown)) => return Outcome::ServerShutdown,
                Some(Ok(Reply::Announcement(a))) => {
                    let line = match (&mut attester, &sender) {
                        (Some(att), Some(s)) => att.on_announcement(s, &a),
                        _ => None,
                    };
                    report.observe(ctx, Reply::Announcement(a), lines);
                    if let Err(e) = send_attest(ctx, &mut writer, line).await {
                        return Outcome::Closed(format!("sending an attestation: {e}"));
                    }
                }
                Some(Ok(reply)) => report.observe(ctx, reply, lines),
                Some(Err(e)) => return Outcome::Closed(e.to_string()),
                None => return Outcome::Closed("the server closed the connection".into()),
            },
        }
    }
}

/// A signed `transfer` line for the next nonce: 1 token to a random other account.
fn transfer_line(ctx: &Ctx, s: &mut Sender) -> String {
    let from = crate::tx::address_of(&s.key);
    let mut rng = rand::rng();
    let to = loop {
        let pick = &ctx.addresses[rng.random_range(0..ctx.addresses.len())];
        if *pick != from {
            break pick.clone();
        }
    };
    let t = Transfer::sign(&s.key, &s.chain_id, &to, 1, s.next_nonce);
    s.next_nonce += 1;
    format!(
        "transfer {} {} {} {}\n",
        t.to, t.amount, t.nonce, t.signature
    )
}

/// Pipelines BPM lines from a writer task while this task counts the replies.
async fn flood(
    ctx: &Arc<Ctx>,
    lines: &mut Lines,
    writer: OwnedWriteHalf,
    report: &mut BotReport,
) -> Outcome {
    report.flood_start_us = Some(ctx.now_us());
    // Ends the writer at the run's stop, or when this connection fails.
    let halt = ctx.stop.child_token();
    let writer_task = tokio::spawn(flood_writer(ctx.clone(), writer, halt.clone()));
    // Counts are published in steps; this publishes the remainder once replies pause.
    let mut publish = tokio::time::interval(FLOOD_PUBLISH);
    let outcome = loop {
        tokio::select! {
            biased;
            _ = ctx.end.cancelled() => break Outcome::Open,
            _ = publish.tick() => report.publish_replies(ctx),
            item = lines.next() => match item {
                Some(Ok(Reply::Shutdown)) => break Outcome::ServerShutdown,
                Some(Ok(reply)) => report.observe(ctx, reply, lines),
                Some(Err(e)) => break Outcome::Closed(e.to_string()),
                None => break Outcome::Closed("the server closed the connection".into()),
            },
        }
    };
    halt.cancel();
    // The write half comes back with the count and is dropped only now, after the last
    // read: closing it earlier would end the session before its replies were counted.
    if let Ok(Ok((sent, _writer))) = timeout(WRITE_TIMEOUT, writer_task).await {
        report.flood_sent = sent;
    }
    outcome
}

/// Writes `72\n` lines in big batches until `halt`, a write error, or `--flood-lines`.
/// Returns the complete lines written, and the write half.
async fn flood_writer(
    ctx: Arc<Ctx>,
    mut writer: OwnedWriteHalf,
    halt: CancellationToken,
) -> (u64, OwnedWriteHalf) {
    let batch = ctx.flood_batch.clone();
    let line = FLOOD_LINE.len() as u64;
    let limit = ctx.flood_lines.map(|n| n.saturating_mul(line));
    let mut written: u64 = 0;
    // `write` (not `write_all`) so a write cut short by `halt` is counted to the byte.
    let mut offset = 0;
    loop {
        let left = limit.map_or(u64::MAX, |l| l - written);
        let len = (batch.len() - offset).min(usize::try_from(left).unwrap_or(usize::MAX));
        if len == 0 {
            break;
        }
        let result = tokio::select! {
            biased;
            _ = halt.cancelled() => break,
            r = timeout(WRITE_TIMEOUT, writer.write(&batch[offset..offset + len])) => r,
        };
        match result {
            Ok(Ok(n)) if n > 0 => {
                let before = written / line;
                written += n as u64;
                offset = (offset + n) % batch.len();
                ctx.counters
                    .flood_sent
                    .fetch_add(written / line - before, Ordering::Relaxed);
            }
            _ => break,
        }
    }
    (written / line, writer)
}
