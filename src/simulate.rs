//! `pos-lottery simulate`: bots that play validators against a running server over real TCP,
//! for demos and load tests.
//!
//! Each bot is one tokio task with one connection. It waits for the balance prompt, stakes
//! (or types `watch`), then proposes a BPM every `--bpm-every`; with `--flood` it instead
//! pipelines BPM lines as fast as the server takes them while it counts the replies. Bots
//! share atomic counters for the live status line and one table of announced blocks, which
//! records when each connection heard of each block: the report's fan-out spread is the
//! time from the first to the last connection that received it.
//!
//! Every figure is measured by the client: when the bots share a machine with the server,
//! their own scheduling delay is part of what they report.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, IsTerminal, Write as _};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures::StreamExt;
use rand::Rng;
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout, timeout_at, Instant, Interval, MissedTickBehavior};
use tokio_util::codec::{Decoder, FramedRead};
use tokio_util::sync::CancellationToken;

use crate::session::{BALANCE_PROMPT, BPM_PROMPT, SHUTDOWN_LINE};

/// A connect that has not completed by then counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// From connecting to `you are validator` (or `watching`).
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);
/// A write that makes no progress for this long ends the bot.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest server line kept, chain broadcasts aside (those are skipped, whatever their length).
const MAX_REPLY_BYTES: usize = 4096;
/// Read buffer per bot: an announcement is ~230 bytes, and 10,000 bots should stay small.
const READ_BUFFER: usize = 1024;
/// Flooding bots are few and read megabytes.
const FLOOD_READ_BUFFER: usize = 64 * 1024;
/// `72\n` lines per flood write.
const FLOOD_BATCH_LINES: usize = 16 * 1024;
const FLOOD_LINE: &[u8] = b"72\n";
/// Flooding bots publish reply counts in steps, so counting is not a shared hot spot.
const FLOOD_COUNT_STEP: u64 = 256;
const FLOOD_PUBLISH: Duration = Duration::from_millis(50);
/// Heart rates the bots propose.
const BPM_RANGE: std::ops::RangeInclusive<u32> = 55..=180;
/// Join-rate buckets in the report: one per this many validators.
const JOIN_BUCKET: usize = 1000;
/// After the run stops, bots keep reading at most this long for rounds still closing.
const DRAIN_CAP: Duration = Duration::from_secs(10);
/// The drain ends once no announcement or reply has arrived for this long.
const QUIET: Duration = Duration::from_secs(1);
/// A connection must have heard of every block first delivered this long after its prompt:
/// a block sent just before the server subscribed it may legitimately never reach it.
const HEAD_GRACE: Duration = Duration::from_secs(1);
/// Blocks whose every delivery time is kept for the lag quantiles (memory: 8 bytes per
/// delivery, so 120 blocks x 10,000 connections is about 10 MB).
const MAX_TIMED_BLOCKS: usize = 120;
/// How long the bots get to hand back their reports after the end.
const COLLECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Live status refresh on a terminal, and the line interval when stderr is a file.
const STATUS_TTY: Duration = Duration::from_millis(250);
const STATUS_LOG: Duration = Duration::from_secs(5);
/// How often the run checks whether it is time to stop (or, draining, to end).
const CHECK_EVERY: Duration = Duration::from_millis(50);
/// Rows of the per-validator table printed before it is cut short (`--json` lists all).
const TABLE_ROWS: usize = 40;

/// `pos-lottery simulate`: bots against a running server.
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Server address; a bare port means 127.0.0.1:PORT
    #[arg(long, env = "ADDR", default_value = "127.0.0.1:9000", value_parser = crate::config::parse_addr)]
    pub addr: SocketAddr,
    /// Validators to play
    #[arg(long, default_value_t = 10)]
    pub validators: usize,
    /// Stake per validator: an inclusive range A..B, drawn per bot, or one number
    #[arg(long, default_value = "1..1000", value_parser = parse_stake_range)]
    pub stake: StakeRange,
    /// How often each validator proposes a BPM (2s, 500ms, 0.5); 0 joins and stays idle
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub bpm_every: Duration,
    /// Stop after this long (then drain for up to 10 s); without it, run until Ctrl-C
    #[arg(long, value_parser = parse_positive_duration)]
    pub duration: Option<Duration>,
    /// Validators send BPM lines as fast as the server takes them, pipelined
    #[arg(long)]
    pub flood: bool,
    /// With --flood: lines each validator sends before it stops; the run then ends once
    /// every reply has arrived
    #[arg(long, requires = "flood", value_parser = crate::config::parse_at_least_one)]
    pub flood_lines: Option<u64>,
    /// Also connect this many watchers (they type `watch`)
    #[arg(long, default_value_t = 0)]
    pub watch: usize,
    /// Most new connections per second (default: all at once)
    #[arg(long, value_parser = parse_rate)]
    pub connect_rate: Option<f64>,
    /// No live status line
    #[arg(long)]
    pub quiet: bool,
    /// Print the final summary as JSON on stdout instead of tables
    #[arg(long)]
    pub json: bool,
}

/// `--stake A..B` (inclusive) or `--stake N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StakeRange {
    pub low: u64,
    pub high: u64,
}

impl StakeRange {
    fn pick(&self, rng: &mut impl Rng) -> u64 {
        rng.random_range(self.low..=self.high)
    }
}

/// Parses `1..1000` or `1..=1000` (both inclusive) or a single stake; stakes start at 1.
pub fn parse_stake_range(s: &str) -> Result<StakeRange, String> {
    let s = s.trim();
    let bad = || format!("expected a stake such as 100 or a range such as 1..1000, got {s:?}");
    let number = |t: &str| t.trim().parse::<u64>().map_err(|_| bad());
    let (low, high) = match s.split_once("..") {
        Some((a, b)) => (number(a)?, number(b.strip_prefix('=').unwrap_or(b))?),
        None => {
            let n = number(s)?;
            (n, n)
        }
    };
    if low == 0 {
        return Err(format!("stakes start at 1, got {s:?}"));
    }
    if low > high {
        return Err(format!("the range is empty: {low} > {high} in {s:?}"));
    }
    Ok(StakeRange { low, high })
}

/// Parses `2s`, `500ms`, `1.5m`, `1h`, `250us` or bare seconds (`0.5`); 0 is allowed.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let bad = || format!("expected a duration such as 2s, 500ms or 0.5, got {s:?}");
    let (number, unit_secs) = [
        ("ms", 1e-3),
        ("us", 1e-6),
        ("µs", 1e-6),
        ("s", 1.0),
        ("m", 60.0),
        ("h", 3600.0),
    ]
    .iter()
    .find_map(|(suffix, secs)| t.strip_suffix(suffix).map(|n| (n, *secs)))
    .unwrap_or((t, 1.0));
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    let secs = value * unit_secs;
    if !secs.is_finite() || secs < 0.0 || number.trim().starts_with('+') {
        return Err(bad());
    }
    if secs > 7.0 * 86_400.0 {
        return Err(format!("at most a week, got {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Like [`parse_duration`], but above zero.
pub fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err(format!("expected a duration above 0, got {s:?}")),
        d => Ok(d),
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "expected connections per second above 0, got {s:?}"
        )),
    }
}

/// One `winning validator:` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub index: u64,
    pub winner: String,
    pub bpm: u32,
    /// The winner's stake at the draw.
    pub stake: u64,
    /// Total stake of the round's candidates.
    pub total: u128,
    /// The block's `Hash` (64 lowercase hex); `None` from servers that do not announce it.
    pub hash: Option<String>,
}

/// A server line, as far as the bots care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Help,
    BalancePrompt,
    BpmPrompt,
    Validator {
        address: String,
        stake: u64,
    },
    Watching,
    Entered {
        round: u64,
    },
    Already {
        round: u64,
    },
    Announcement(Announcement),
    /// A whole-chain broadcast; its content is skipped, not kept.
    Chain,
    Missed(u64),
    Full,
    Shutdown,
    Other(String),
}

/// Parses `winning validator: <address> (block <i>, BPM <b>, stake <s> of <total>, hash <Hash>)`
/// and the older form without `, hash <Hash>`, which servers before the hash still send.
/// `None` for anything else, including a hash that is not 64 lowercase hex characters.
pub fn parse_announcement(line: &str) -> Option<Announcement> {
    let rest = line.strip_prefix("winning validator: ")?;
    let (winner, rest) = rest.split_once(" (block ")?;
    let (index, rest) = rest.split_once(", BPM ")?;
    let (bpm, rest) = rest.split_once(", stake ")?;
    let (stake, rest) = rest.strip_suffix(')')?.split_once(" of ")?;
    let (total, hash) = match rest.split_once(", hash ") {
        Some((total, hash)) if is_hash(hash) => (total, Some(hash.to_owned())),
        Some(_) => return None,
        None => (rest, None),
    };
    Some(Announcement {
        index: index.parse().ok()?,
        winner: winner.to_owned(),
        bpm: bpm.parse().ok()?,
        stake: stake.parse().ok()?,
        total: total.parse().ok()?,
        hash,
    })
}

/// A block `Hash` as the server writes it: 64 lowercase hex characters.
fn is_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Reads the number that opens `bytes`, stopping at the first non-digit.
fn leading_u64(bytes: &[u8]) -> Option<u64> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(bytes.get(..digits)?).ok()?.parse().ok()
}

/// Classifies one server line (without its line ending). The hot lines of a flood
/// (`Enter a new BPM:`, `already proposed ...`) are matched first and allocate nothing.
pub fn parse_reply(line: &[u8]) -> Reply {
    if line == BPM_PROMPT.as_bytes() {
        return Reply::BpmPrompt;
    }
    if let Some(rest) = line.strip_prefix(b"already proposed in round ") {
        if let Some(round) = leading_u64(rest) {
            return Reply::Already { round };
        }
    }
    if let Some(rest) = line.strip_prefix(b"BPM ") {
        let bpm_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if let Some(round) = rest
            .get(bpm_len..)
            .and_then(|r| r.strip_prefix(b" entered round "))
            .and_then(leading_u64)
        {
            return Reply::Entered { round };
        }
    }
    let text = String::from_utf8_lossy(line);
    if let Some(a) = parse_announcement(&text) {
        return Reply::Announcement(a);
    }
    if text == BALANCE_PROMPT {
        return Reply::BalancePrompt;
    }
    if let Some((address, stake)) = text
        .strip_prefix("you are validator ")
        .and_then(|r| r.split_once(" with stake "))
    {
        if let Ok(stake) = stake.parse() {
            return Reply::Validator {
                address: address.to_owned(),
                stake,
            };
        }
    }
    if let Some(n) = text
        .strip_prefix("missed ")
        .and_then(|r| leading_u64(r.as_bytes()))
    {
        if text.contains(" announcements") {
            return Reply::Missed(n);
        }
    }
    if text.starts_with("watching:") {
        return Reply::Watching;
    }
    if text.starts_with("pos-lottery:") {
        return Reply::Help;
    }
    if text == "server full" {
        return Reply::Full;
    }
    if text == SHUTDOWN_LINE {
        return Reply::Shutdown;
    }
    Reply::Other(text.into_owned())
}

/// Decodes server lines straight into [`Reply`]s. A line opening with `[` is a chain
/// broadcast, as long as the chain: it is dropped as it arrives instead of buffered, so a
/// bot's buffer stays at [`READ_BUFFER`] however long the chain grows.
#[derive(Debug, Default)]
pub struct ReplyCodec {
    skipping: bool,
    /// Bytes already searched for `\n`.
    scanned: usize,
}

impl Decoder for ReplyCodec {
    type Item = Reply;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<Reply>> {
        if self.skipping {
            return Ok(match buf.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    buf.advance(i + 1);
                    self.skipping = false;
                    Some(Reply::Chain)
                }
                None => {
                    buf.clear();
                    None
                }
            });
        }
        if buf.first() == Some(&b'[') {
            self.skipping = true;
            self.scanned = 0;
            return self.decode(buf);
        }
        match buf[self.scanned..].iter().position(|b| *b == b'\n') {
            Some(offset) => {
                let end = self.scanned + offset;
                self.scanned = 0;
                let line = &buf[..end];
                let reply = parse_reply(line.strip_suffix(b"\r").unwrap_or(line));
                buf.advance(end + 1);
                Ok(Some(reply))
            }
            None if buf.len() > MAX_REPLY_BYTES => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the server sent a line over {MAX_REPLY_BYTES} bytes"),
            )),
            None => {
                self.scanned = buf.len();
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> io::Result<Option<Reply>> {
        // An unterminated tail at EOF is dropped: every server line ends with `\n`.
        let reply = self.decode(buf)?;
        if reply.is_none() {
            buf.clear();
        }
        Ok(reply)
    }
}

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
    runs: Vec<(u64, u64)>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Validator { stake: u64 },
    Watcher,
}

/// Live figures the bots publish for the status line and the drain.
#[derive(Debug, Default)]
struct Counters {
    connected: AtomicUsize,
    joined: AtomicUsize,
    watching: AtomicUsize,
    failed: AtomicUsize,
    finished: AtomicUsize,
    entered: AtomicU64,
    /// `BPM .. entered` plus `already proposed` replies (flooding bots add in steps).
    replies: AtomicU64,
    deliveries: AtomicU64,
    blocks: AtomicU64,
    chains: AtomicU64,
    missed: AtomicU64,
    other: AtomicU64,
    flood_sent: AtomicU64,
    /// Microseconds since the start, for the drain's "nothing is still arriving".
    last_delivery_us: AtomicU64,
    last_reply_us: AtomicU64,
    last_entered_us: AtomicU64,
    last_block_us: AtomicU64,
    last_join_us: AtomicU64,
}

/// One announced block, as seen by all bots together.
#[derive(Debug)]
struct Slot {
    announcement: Announcement,
    first_us: u64,
    last_us: u64,
    deliveries: u64,
    /// Deliveries whose announcement differs from `announcement` (another hash, winner,
    /// BPM or stake): two different blocks announced under one index.
    mismatches: u64,
    /// Every delivery time, for the first [`MAX_TIMED_BLOCKS`] blocks.
    times_us: Option<Vec<u64>>,
}

/// What all bots share.
struct Ctx {
    addr: SocketAddr,
    start: Instant,
    bpm_every: Duration,
    flood: bool,
    flood_lines: Option<u64>,
    flood_batch: Bytes,
    counters: Counters,
    blocks: Mutex<BTreeMap<u64, Slot>>,
    /// Stop proposing and connecting; keep reading.
    stop: CancellationToken,
    /// Close every connection and report.
    end: CancellationToken,
}

impl Ctx {
    fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn record_delivery(&self, announcement: Announcement, at_us: u64) {
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
                    deliveries: 1,
                    mismatches: 0,
                    times_us: timed.then(|| vec![at_us]),
                });
            }
            std::collections::btree_map::Entry::Occupied(mut e) => {
                let slot = e.get_mut();
                slot.first_us = slot.first_us.min(at_us);
                slot.last_us = slot.last_us.max(at_us);
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
enum Outcome {
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
    fn label(&self) -> &'static str {
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

    fn detail(&self) -> Option<&str> {
        match self {
            Outcome::ConnectFailed(d) | Outcome::JoinFailed(d) | Outcome::Closed(d) => Some(d),
            _ => None,
        }
    }
}

/// What one bot hands back.
#[derive(Debug)]
struct BotReport {
    role: Role,
    outcome: Outcome,
    address: Option<String>,
    /// Duration of the TCP connect.
    connect_us: Option<u64>,
    /// Since the start: the balance prompt arrived (the server has subscribed us by then).
    ready_us: Option<u64>,
    /// Since the start: `you are validator`.
    joined_us: Option<u64>,
    /// From sending the stake to `you are validator`.
    join_wait_us: Option<u64>,
    /// A watcher that got `watching:`.
    watching: bool,
    entered: Rounds,
    deliveries: Deliveries,
    chains: u64,
    missed: u64,
    replies: u64,
    unpublished_replies: u64,
    flood_start_us: Option<u64>,
    last_reply_us: Option<u64>,
    flood_sent: u64,
    other: u64,
    other_sample: Option<String>,
}

impl BotReport {
    fn new(role: Role) -> BotReport {
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

    fn stake(&self) -> u64 {
        match self.role {
            Role::Validator { stake } => stake,
            Role::Watcher => 0,
        }
    }

    /// Accounts for one line that needs no answer.
    fn observe(&mut self, ctx: &Ctx, reply: Reply) {
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
                ctx.record_delivery(a, ctx.now_us());
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
            Reply::Help
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

type Lines = FramedRead<OwnedReadHalf, ReplyCodec>;

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
async fn run_bot(ctx: Arc<Ctx>, role: Role, start_at: Option<Instant>) -> BotReport {
    let report = bot(&ctx, role, start_at).await;
    ctx.counters.finished.fetch_add(1, Ordering::Relaxed);
    report
}

async fn bot(ctx: &Arc<Ctx>, role: Role, start_at: Option<Instant>) -> BotReport {
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
    let mut lines = FramedRead::with_capacity(reader, ReplyCodec::default(), capacity);
    report.outcome = play(ctx, &mut lines, writer, &mut report).await;
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
) -> Outcome {
    let deadline = Instant::now() + JOIN_TIMEOUT;
    let handshake_end = |wait: Wait, stage: &str| match wait {
        Wait::Stopped => Outcome::StoppedJoining,
        Wait::TimedOut => Outcome::JoinFailed(format!("timed out {stage}")),
        Wait::Closed(why) => Outcome::JoinFailed(format!("{why} ({stage})")),
    };
    loop {
        match next_reply(lines, deadline, &ctx.stop).await {
            Ok(Reply::BalancePrompt) => break,
            Ok(Reply::Full) => return Outcome::Refused,
            Ok(Reply::Shutdown) => return Outcome::ServerShutdown,
            Ok(reply) => report.observe(ctx, reply),
            Err(wait) => return handshake_end(wait, "waiting for the balance prompt"),
        }
    }
    report.ready_us = Some(ctx.now_us());
    let asked = Instant::now();
    let answer = match report.role {
        Role::Validator { stake } => format!("{stake}\n"),
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
            Ok(Reply::BalancePrompt) => {
                let why = report.other_sample.take().unwrap_or_default();
                return Outcome::JoinFailed(format!("stake refused: {why}"));
            }
            Ok(Reply::Shutdown) => return Outcome::ServerShutdown,
            Ok(reply) => report.observe(ctx, reply),
            Err(wait) => return handshake_end(wait, "waiting for the stake's answer"),
        }
    }
    match report.role {
        Role::Validator { .. } if ctx.flood => flood(ctx, lines, writer, report).await,
        Role::Validator { .. } => listen(ctx, lines, writer, report, Some(ctx.bpm_every)).await,
        Role::Watcher => listen(ctx, lines, writer, report, None).await,
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

/// Reads until the end, proposing a BPM every `every` until the stop.
async fn listen(
    ctx: &Ctx,
    lines: &mut Lines,
    mut writer: OwnedWriteHalf,
    report: &mut BotReport,
    every: Option<Duration>,
) -> Outcome {
    // A random phase, so thousands of bots do not propose in the same instant.
    let mut ticker = every.filter(|d| !d.is_zero()).map(|period| {
        let phase = period.mul_f64(rand::random::<f64>());
        let mut i = tokio::time::interval_at(Instant::now() + phase, period);
        i.set_missed_tick_behavior(MissedTickBehavior::Delay);
        i
    });
    let mut proposing = ticker.is_some();
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
            item = lines.next() => match item {
                Some(Ok(Reply::Shutdown)) => return Outcome::ServerShutdown,
                Some(Ok(reply)) => report.observe(ctx, reply),
                Some(Err(e)) => return Outcome::Closed(e.to_string()),
                None => return Outcome::Closed("the server closed the connection".into()),
            },
        }
    }
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
                Some(Ok(reply)) => report.observe(ctx, reply),
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

/// The soft open-file limit, from `/proc/self/limits` (Linux only).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Runs the bots until `--duration`, Ctrl-C, the end of `--flood-lines`, or until every
/// connection has ended; then drains, reports, and returns.
///
/// # Errors
/// - arguments that leave nothing to do;
/// - a run that verified nothing (see `Summary::error`), after the report is printed;
/// - failing to print the report.
///
/// A bot that cannot connect or join is otherwise counted in the report, not an error.
pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let total = args.validators + args.watch;
    anyhow::ensure!(
        total > 0,
        "nothing to simulate: --validators 0 and --watch 0"
    );
    if let Some(limit) = open_file_limit() {
        if total as u64 + 32 > limit {
            eprintln!(
                "warning: the open-file limit is {limit} but {total} connections need more; \
                 raise it first (ulimit -n 65536)"
            );
        }
    }
    let ctx = Arc::new(Ctx {
        addr: args.addr,
        start: Instant::now(),
        bpm_every: args.bpm_every,
        flood: args.flood,
        flood_lines: args.flood_lines,
        flood_batch: Bytes::from(FLOOD_LINE.repeat(FLOOD_BATCH_LINES)),
        counters: Counters::default(),
        blocks: Mutex::new(BTreeMap::new()),
        stop: CancellationToken::new(),
        end: CancellationToken::new(),
    });
    let live = !args.quiet;
    if live {
        eprintln!(
            "simulate: {} validators (stake {}..={}{}) and {} watchers against {}{}",
            args.validators,
            args.stake.low,
            args.stake.high,
            if args.flood {
                ", flooding".to_owned()
            } else if args.bpm_every.is_zero() {
                ", idle".to_owned()
            } else {
                format!(", a BPM every {:?}", args.bpm_every)
            },
            args.watch,
            args.addr,
            args.duration
                .map_or(" until Ctrl-C".to_owned(), |d| format!(" for {d:?}")),
        );
    }
    let mut rng = rand::rng();
    let mut handles = Vec::with_capacity(total);
    for i in 0..total {
        let role = if i < args.validators {
            Role::Validator {
                stake: args.stake.pick(&mut rng),
            }
        } else {
            Role::Watcher
        };
        let start_at = args
            .connect_rate
            .map(|rate| ctx.start + Duration::from_secs_f64(i as f64 / rate));
        handles.push(tokio::spawn(run_bot(ctx.clone(), role, start_at)));
    }

    let mut status = Status::new(live, args.validators, args.watch, args.flood);
    let stop_reason = watch_until_stop(&ctx, &args, total, &mut status).await;
    let stop_us = ctx.now_us();
    ctx.stop.cancel();
    let drain_reason = drain(&ctx, total, stop_us, &mut status).await;
    let end_us = ctx.now_us();
    ctx.end.cancel();
    status.finish(&ctx);

    let deadline = Instant::now() + COLLECT_TIMEOUT;
    let mut reports = Vec::with_capacity(total);
    for mut handle in handles {
        match timeout_at(deadline, &mut handle).await {
            Ok(Ok(report)) => reports.push(report),
            Ok(Err(_)) | Err(_) => {
                handle.abort();
                let mut lost = BotReport::new(Role::Watcher);
                lost.outcome = Outcome::Lost;
                reports.push(lost);
            }
        }
    }
    let blocks = std::mem::take(&mut *ctx.blocks.lock().unwrap_or_else(|p| p.into_inner()));
    let summary = summarize(
        &args,
        &reports,
        &blocks,
        Times {
            stop_us,
            end_us,
            stop_reason,
            drain_reason,
        },
    );
    let mut out = io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &summary)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", render(&summary))?;
    }
    out.flush()?;
    match summary.error {
        Some(why) => Err(anyhow::anyhow!(why)),
        None => Ok(()),
    }
}

/// Shows the status line until it is time to stop, and says why.
async fn watch_until_stop(
    ctx: &Ctx,
    args: &SimulateArgs,
    total: usize,
    status: &mut Status,
) -> &'static str {
    let stop_at = args.duration.map(|d| ctx.start + d);
    // Without --duration, run until Ctrl-C; a far deadline keeps the select simple.
    let deadline =
        sleep_until(stop_at.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365)));
    tokio::pin!(deadline);
    let mut check = tokio::time::interval(CHECK_EVERY);
    check.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut shown: Option<Instant> = None;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let flood_total = args
        .flood_lines
        .map(|n| n.saturating_mul(args.validators as u64));
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return "interrupted (Ctrl-C)",
            _ = &mut deadline => return "--duration elapsed",
            _ = check.tick() => {}
        }
        if shown.is_none_or(|t| t.elapsed() >= status.every) {
            status.show(ctx);
            shown = Some(Instant::now());
        }
        let c = &ctx.counters;
        if c.finished.load(Ordering::Relaxed) >= total {
            return "every connection ended";
        }
        if let Some(want) = flood_total {
            if c.replies.load(Ordering::Relaxed) >= want {
                return "every --flood-lines reply arrived";
            }
        }
    }
}

/// After the stop: keeps reading until rounds the bots entered have been announced and
/// nothing has arrived for [`QUIET`], or for at most [`DRAIN_CAP`] (a second Ctrl-C ends it).
async fn drain(ctx: &Ctx, total: usize, stop_us: u64, status: &mut Status) -> &'static str {
    let deadline = Instant::now() + DRAIN_CAP;
    let c = &ctx.counters;
    // A block delivered before the stop that no later proposal followed settles nothing.
    let block_before_stop = c.last_block_us.load(Ordering::Relaxed);
    let awaiting_block = c.last_entered_us.load(Ordering::Relaxed) > block_before_stop
        && c.entered.load(Ordering::Relaxed) > 0;
    let quiet_us = u64::try_from(QUIET.as_micros()).unwrap_or(u64::MAX);
    let mut check = tokio::time::interval(CHECK_EVERY);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut shown = Instant::now();
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return "interrupted during the drain",
            _ = check.tick() => {}
        }
        if Instant::now() >= deadline {
            return "drain cap reached";
        }
        if c.finished.load(Ordering::Relaxed) >= total {
            return "every connection ended";
        }
        if shown.elapsed() >= status.every {
            status.show(ctx);
            shown = Instant::now();
        }
        let now = ctx.now_us();
        let last = c
            .last_delivery_us
            .load(Ordering::Relaxed)
            .max(c.last_reply_us.load(Ordering::Relaxed))
            .max(stop_us);
        let settled = !awaiting_block || c.last_block_us.load(Ordering::Relaxed) > stop_us;
        let flood_done = c.replies.load(Ordering::Relaxed) >= c.flood_sent.load(Ordering::Relaxed);
        if settled && flood_done && now.saturating_sub(last) >= quiet_us {
            return "quiet";
        }
    }
}

/// The live one-line summary on stderr.
struct Status {
    live: bool,
    tty: bool,
    every: Duration,
    validators: usize,
    watchers: usize,
    flood: bool,
    last_replies: u64,
    last_at: Instant,
    announced_joined: bool,
}

impl Status {
    fn new(live: bool, validators: usize, watchers: usize, flood: bool) -> Status {
        let tty = io::stderr().is_terminal();
        Status {
            live,
            tty,
            every: if tty { STATUS_TTY } else { STATUS_LOG },
            validators,
            watchers,
            flood,
            last_replies: 0,
            last_at: Instant::now(),
            announced_joined: false,
        }
    }

    fn show(&mut self, ctx: &Ctx) {
        let c = &ctx.counters;
        let now = Instant::now();
        let replies = c.replies.load(Ordering::Relaxed);
        let secs = now.duration_since(self.last_at).as_secs_f64();
        let rate = if secs > 0.0 {
            (replies - self.last_replies.min(replies)) as f64 / secs
        } else {
            0.0
        };
        self.last_replies = replies;
        self.last_at = now;
        if !self.live {
            return;
        }
        let joined = c.joined.load(Ordering::Relaxed);
        if !self.announced_joined && self.validators > 0 && joined >= self.validators {
            self.announced_joined = true;
            let secs = c.last_join_us.load(Ordering::Relaxed) as f64 / 1e6;
            self.print_line(&format!(
                "all {joined} validators joined in {secs:.2} s ({:.0} joins/s)",
                joined as f64 / secs.max(1e-6)
            ));
        }
        let entered = c.entered.load(Ordering::Relaxed);
        let mut line = format!(
            "{:6.1}s  connected {}  validators {joined}/{}  watchers {}/{}  failed {}  proposals {entered}  repeats {}  blocks {}  announcements {}  chains {}  missed {}",
            ctx.start.elapsed().as_secs_f64(),
            c.connected.load(Ordering::Relaxed),
            self.validators,
            c.watching.load(Ordering::Relaxed),
            self.watchers,
            c.failed.load(Ordering::Relaxed),
            replies.saturating_sub(entered),
            c.blocks.load(Ordering::Relaxed),
            c.deliveries.load(Ordering::Relaxed),
            c.chains.load(Ordering::Relaxed),
            c.missed.load(Ordering::Relaxed),
        );
        if self.flood {
            line.push_str(&format!("  {rate:.0} lines/s"));
        }
        if self.tty {
            eprint!("\r\x1b[K{line}");
        } else {
            eprintln!("{line}");
        }
    }

    fn print_line(&self, text: &str) {
        if self.tty {
            eprintln!("\r\x1b[K{text}");
        } else {
            eprintln!("{text}");
        }
    }

    fn finish(&mut self, ctx: &Ctx) {
        self.show(ctx);
        if self.live && self.tty {
            eprintln!();
        }
    }
}

struct Times {
    stop_us: u64,
    end_us: u64,
    stop_reason: &'static str,
    drain_reason: &'static str,
}

#[derive(Debug, Serialize)]
struct Summary {
    /// Why the run verified nothing, which makes `simulate` exit 1: no validator joined
    /// (or, with only watchers, no watcher), no announcement delivery was checked (without
    /// `--flood`), or no flood line was answered (with it). `None` otherwise.
    error: Option<String>,
    addr: String,
    validators: usize,
    watchers: usize,
    /// Seconds from the start to the stop, and to the end of the drain.
    stopped_at_s: f64,
    ended_at_s: f64,
    stop_reason: &'static str,
    drain_reason: &'static str,
    outcomes: BTreeMap<&'static str, usize>,
    /// One example message per failure kind.
    failure_samples: BTreeMap<&'static str, String>,
    joins: JoinSummary,
    fanout: FanoutSummary,
    flood: Option<FloodSummary>,
    rounds: RoundSummary,
    /// Unexpected server lines, with one example.
    other_lines: u64,
    other_sample: Option<String>,
    bots: Vec<BotRow>,
    totals: Totals,
}

#[derive(Debug, Serialize)]
struct JoinSummary {
    joined: usize,
    /// Whether every validator joined.
    all_joined: bool,
    /// Watchers that got `watching:`.
    watching: usize,
    /// Seconds from the start until the last `you are validator`.
    last_join_s: Option<f64>,
    /// joined / seconds to the last join.
    joins_per_s: Option<f64>,
    buckets: Vec<JoinBucket>,
    /// Milliseconds for the TCP connect, and from sending the stake to its answer.
    connect_ms: Option<Quantiles>,
    stake_answer_ms: Option<Quantiles>,
}

#[derive(Debug, Serialize)]
struct FanoutSummary {
    /// Distinct blocks announced during the run.
    blocks: usize,
    /// Connections that were ready at some point, and still open at the end.
    connections: usize,
    connections_open_at_end: usize,
    /// Blocks first delivered after every connection was ready (and before the tail).
    blocks_to_all: usize,
    /// Per block to all: first to last delivery, in milliseconds.
    spread_ms: Option<Quantiles>,
    /// Per delivery to all, for the first blocks (see `timed_blocks`): time after the
    /// block's first delivery, in milliseconds.
    delivery_lag_ms: Option<Quantiles>,
    timed_blocks: usize,
    /// Announcements each open connection received (repeats included).
    per_connection: Option<Quantiles>,
    exactly_once: ExactlyOnce,
}

#[derive(Debug, Serialize)]
struct ExactlyOnce {
    /// Connections open at the end, each checked against every block first delivered
    /// `head_grace_s` after its prompt.
    connections_checked: usize,
    head_grace_s: f64,
    expected: u64,
    delivered: u64,
    missing: u64,
    /// Connections with at least one missing block.
    connections_missing: usize,
    /// Announcements for an index already seen on that connection.
    repeats: u64,
    /// Sum of N over `missed N announcements` lines.
    lag_notices: u64,
    /// Deliveries of an index whose announcement differs from the first one for that index
    /// (another hash, winner, BPM or stake), over all connections.
    mismatches: u64,
    /// Blocks first delivered less than the quiet period before the end: not checked.
    tail_blocks: usize,
    /// At least one delivery was checked, and nothing was missing, repeated, lagged or
    /// mismatched.
    ok: bool,
    /// Why no delivery could be checked; `None` once one was.
    not_checked: Option<String>,
}

#[derive(Debug, Serialize)]
struct FloodSummary {
    connections: usize,
    sent: u64,
    replies: u64,
    /// From the first flood write to the last reply.
    seconds: f64,
    lines_per_s: f64,
}

#[derive(Debug, Serialize)]
struct RoundSummary {
    first_block: Option<u64>,
    last_block: Option<u64>,
    /// The last block's `Hash`, from servers that announce it.
    last_hash: Option<String>,
    proposals_entered: u64,
    repeats: u64,
    chain_broadcasts: u64,
    /// Rounds our bots entered that were paired with an announcement, and those that were not.
    rounds_matched: usize,
    rounds_unmatched: usize,
    /// Announcements no round of ours was paired with.
    blocks_unmatched: usize,
}

#[derive(Debug, Serialize)]
struct BotRow {
    address: String,
    stake: u64,
    proposals: u64,
    wins: u64,
    expected: f64,
}

#[derive(Debug, Serialize)]
struct Totals {
    stake: u128,
    proposals: u64,
    wins: u64,
    expected: f64,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1e3
}

fn summarize(
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
        bots,
        totals,
    };
    let idle = args.validators == 0 || (args.bpm_every.is_zero() && !args.flood);
    summary.fanout.exactly_once.not_checked = not_checked(&summary, idle);
    summary.error = nothing_verified(&summary);
    summary
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
fn render(s: &Summary) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stake_ranges_are_inclusive_and_reject_nonsense() {
        assert_eq!(
            parse_stake_range("1..1000").unwrap(),
            StakeRange { low: 1, high: 1000 }
        );
        assert_eq!(
            parse_stake_range("5..=5").unwrap(),
            StakeRange { low: 5, high: 5 }
        );
        assert_eq!(
            parse_stake_range(" 250 ").unwrap(),
            StakeRange {
                low: 250,
                high: 250
            }
        );
        for bad in ["0..10", "10..1", "a..b", "", "..5", "5..", "-1..3", "0"] {
            assert!(parse_stake_range(bad).is_err(), "{bad}");
        }
        let range = parse_stake_range("3..4").unwrap();
        let mut rng = rand::rng();
        for _ in 0..100 {
            assert!((3..=4).contains(&range.pick(&mut rng)));
        }
    }

    #[test]
    fn durations_take_units_or_bare_seconds() {
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5m").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in [
            "",
            "s",
            "-1s",
            "abc",
            "2 parsecs",
            "NaN",
            "inf",
            "+2s",
            "8d",
            "1e9",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_positive_duration("0s").is_err());
        assert!(parse_positive_duration("10ms").is_ok());
    }

    const HASH: &str = "3ae2ad9b95e9fb0240958df08cf837bdb2de92351b079b0fffa57f41f313bebb";

    fn announcement(index: u64, hash: Option<&str>) -> Announcement {
        Announcement {
            index,
            winner: "5f3a".into(),
            bpm: 72,
            stake: 300,
            total: 1200,
            hash: hash.map(str::to_owned),
        }
    }

    #[test]
    fn parses_announcements_with_and_without_the_block_hash() {
        let old = "winning validator: 5f3a (block 12, BPM 72, stake 300 of 1200)";
        assert_eq!(
            parse_reply(old.as_bytes()),
            Reply::Announcement(announcement(12, None))
        );
        let new =
            format!("winning validator: 5f3a (block 12, BPM 72, stake 300 of 1200, hash {HASH})");
        assert_eq!(
            parse_reply(new.as_bytes()),
            Reply::Announcement(announcement(12, Some(HASH)))
        );
        // A hash that is not 64 lowercase hex characters makes the line unrecognised.
        let upper = HASH.to_uppercase();
        for bad_hash in [
            &HASH[1..],
            &upper,
            &format!("{HASH}0"),
            "",
            &HASH.replace('a', "g"),
        ] {
            let line = format!(
                "winning validator: 5f3a (block 12, BPM 72, stake 300 of 1200, hash {bad_hash})"
            );
            assert_eq!(parse_announcement(&line), None, "{line}");
        }
        for bad in [
            format!("winning validator: 5f3a (block 12, BPM 72, stake 300 of 1200, hash {HASH}"),
            format!("winning validator: 5f3a (block 12, BPM 72, stake 300 of 1200 hash {HASH})"),
            format!(
                "winning validator: 5f3a (block 12, BPM 72, stake 300 of 1200, hash {HASH}, x)"
            ),
            "winning validator: 5f3a (block 12, BPM 72, stake 300 of 1200, hash )".to_owned(),
        ] {
            assert_eq!(parse_announcement(&bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_the_protocol_lines() {
        assert_eq!(
            parse_reply(b"BPM 72 entered round 7"),
            Reply::Entered { round: 7 }
        );
        assert_eq!(
            parse_reply(b"already proposed in round 9: only the first BPM of a round counts"),
            Reply::Already { round: 9 }
        );
        assert_eq!(
            parse_reply(b"you are validator abc123 with stake 40"),
            Reply::Validator {
                address: "abc123".into(),
                stake: 40
            }
        );
        assert_eq!(parse_reply(BPM_PROMPT.as_bytes()), Reply::BpmPrompt);
        assert_eq!(parse_reply(BALANCE_PROMPT.as_bytes()), Reply::BalancePrompt);
        assert_eq!(
            parse_reply(crate::session::HELP_LINE.as_bytes()),
            Reply::Help
        );
        assert_eq!(
            parse_reply(b"missed 3 announcements: you were not reading fast enough"),
            Reply::Missed(3)
        );
        assert_eq!(
            parse_reply(&crate::server::SERVER_FULL[..crate::server::SERVER_FULL.len() - 1]),
            Reply::Full
        );
        assert_eq!(parse_reply(SHUTDOWN_LINE.as_bytes()), Reply::Shutdown);
        assert_eq!(
            parse_reply(b"winning validator: x (block twelve, BPM 72, stake 1 of 2)"),
            Reply::Other("winning validator: x (block twelve, BPM 72, stake 1 of 2)".into())
        );
    }

    #[test]
    fn codec_skips_chain_broadcasts_without_buffering_them() {
        let mut codec = ReplyCodec::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let chain = format!("[{}]\n", "{\"Index\":1},".repeat(10_000));
        let input = format!("BPM 72 entered round 3\r\n{chain}{BPM_PROMPT}\n");
        let mut biggest = 0;
        for chunk in input.as_bytes().chunks(1000) {
            buf.extend_from_slice(chunk);
            biggest = biggest.max(buf.len());
            while let Some(reply) = codec.decode(&mut buf).unwrap() {
                out.push(reply);
            }
        }
        assert_eq!(
            out,
            vec![Reply::Entered { round: 3 }, Reply::Chain, Reply::BpmPrompt]
        );
        assert!(biggest <= 2000, "buffered {biggest} bytes");
        assert!(codec
            .decode(&mut BytesMut::from(&[b'x'; MAX_REPLY_BYTES + 1][..]))
            .is_err());
    }

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

    fn args(validators: usize, watch: usize, flood: bool) -> SimulateArgs {
        SimulateArgs {
            addr: "127.0.0.1:9".parse().unwrap(),
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
                ctx.record_delivery(announcement(index, Some(HASH)), (index + 1) * 1_000_000);
            }
        }
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
        ctx.record_delivery(announcement(1, None), 500_000);
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
        ctx.record_delivery(announcement(2, Some(&other)), 3_000_000);
        // An old server's line for the same block differs too: it carries no hash.
        ctx.record_delivery(announcement(2, None), 3_000_000);
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
