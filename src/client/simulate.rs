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
//! Ledger mode with `--http`: each logged-in validator attests each block it heard of, once
//! the draw behind it recomputed from the server's HTTP documents. The recomputation runs
//! once per block for all bots (see [`super::attestor::SharedVerdicts`]); each bot then signs
//! with its own key. The report counts the attestations and when each block was said final.
//!
//! Every figure is measured by the client: when the bots share a machine with the server,
//! their own scheduling delay is part of what they report.

use std::collections::BTreeMap;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use tokio::time::{sleep_until, timeout_at, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::args::{
    parse_duration, parse_positive_duration, parse_rate, parse_stake_range, StakeRange,
};
use super::attestor::SharedVerdicts;
use super::bot::{run_bot, BotReport, Counters, Ctx, Outcome, Role, FLOOD_BATCH_LINES, FLOOD_LINE};
use super::render::render;
use super::report::{attest_summary, summarize, Times, TransferSummary};
use super::status::Status;

/// After the run stops, bots keep reading at most this long for rounds still closing.
const DRAIN_CAP: Duration = Duration::from_secs(10);
/// The drain ends once no announcement or reply has arrived for this long.
pub(super) const QUIET: Duration = Duration::from_secs(1);
/// How long the bots get to hand back their reports after the end.
const COLLECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How often the run checks whether it is time to stop (or, draining, to end).
const CHECK_EVERY: Duration = Duration::from_millis(50);

/// `pos-lottery simulate`: bots against a running server.
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Server address; a bare port means 127.0.0.1:PORT
    #[arg(long, env = "ADDR", default_value = "127.0.0.1:9000", value_parser = crate::config::parse_addr)]
    pub addr: SocketAddr,
    /// Validators to play [default: 10, or with --keys-dir one per key file]
    #[arg(long = "validators", value_name = "VALIDATORS")]
    pub validators_flag: Option<usize>,
    /// What the run plays: `--validators`, or its default.
    #[arg(skip)]
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
    /// Ledger mode: log the validators in with these accounts' key files (`*.key`, as
    /// `pos-lottery genesis` writes them), one bot per key; --validators defaults to all of
    /// them. Each stakes at most its available balance (half of it with --transfers-per-sec).
    #[arg(long, value_name = "DIR")]
    pub keys_dir: Option<PathBuf>,
    /// Ledger mode: signed transfers per second in all, 1 token each to a random other
    /// account, spread over the logged-in validators (needs --keys-dir)
    #[arg(long, requires = "keys_dir", value_parser = parse_transfer_rate)]
    pub transfers_per_sec: Option<f64>,
    /// Ledger mode: the server's HTTP address. The logged-in validators then attest each
    /// block, once its draw recomputes from /api/draws/{k} and /api/blocks/{k} (checked once
    /// per block for all bots); the report says when each block became final (needs --keys-dir)
    #[arg(long, value_name = "HOST:PORT", requires = "keys_dir", value_parser = crate::config::parse_addr)]
    pub http: Option<SocketAddr>,
}

fn parse_transfer_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!("expected transfers per second above 0, got {s:?}")),
    }
}

/// Every `*.key` file in `dir`, in name order.
fn load_keys(dir: &Path) -> anyhow::Result<Vec<SigningKey>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("--keys-dir {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "key"))
        .collect();
    paths.sort();
    anyhow::ensure!(
        !paths.is_empty(),
        "--keys-dir {}: no *.key files",
        dir.display()
    );
    paths
        .iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            crate::tx::parse_key_file(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
        })
        .collect()
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
pub async fn run(mut args: SimulateArgs) -> anyhow::Result<()> {
    let keys = match &args.keys_dir {
        Some(dir) => load_keys(dir)?,
        None => Vec::new(),
    };
    args.validators = match (args.validators_flag, keys.len()) {
        (Some(n), 0) => n,
        (None, 0) => 10,
        (Some(n), k) => n.min(k),
        (None, k) => k,
    };
    let addresses: Vec<String> = keys.iter().map(crate::tx::address_of).collect();
    let transfer_every = args
        .transfers_per_sec
        .map(|rate| Duration::from_secs_f64(args.validators.max(1) as f64 / rate));
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
        keys,
        addresses,
        transfer_every,
        refusal_sample: Mutex::new(None),
        verdicts: args.http.map(SharedVerdicts::new),
        finals: Mutex::new(BTreeMap::new()),
        attest_refusal_sample: Mutex::new(None),
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
        let key = (i < args.validators && i < ctx.keys.len()).then_some(i);
        handles.push(tokio::spawn(run_bot(ctx.clone(), role, start_at, key)));
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
    let mut summary = summarize(
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
    if args.transfers_per_sec.is_some() {
        let c = &ctx.counters;
        let accepted = c.transfers_accepted.load(Ordering::Relaxed);
        summary.transfers = Some(TransferSummary {
            sent: c.transfers_sent.load(Ordering::Relaxed),
            accepted,
            refused: c.transfers_refused.load(Ordering::Relaxed),
            accepted_per_s: accepted as f64 / (stop_us.max(1) as f64 / 1e6),
            refusal_sample: ctx
                .refusal_sample
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        });
    }
    if let Some(verdicts) = &ctx.verdicts {
        let finals = std::mem::take(&mut *ctx.finals.lock().unwrap_or_else(|p| p.into_inner()));
        summary.attestations = Some(attest_summary(&ctx, verdicts, &blocks, &finals));
    }
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
            .max(c.last_attest_us.load(Ordering::Relaxed))
            .max(stop_us);
        let settled = !awaiting_block || c.last_block_us.load(Ordering::Relaxed) > stop_us;
        let flood_done = c.replies.load(Ordering::Relaxed) >= c.flood_sent.load(Ordering::Relaxed);
        if settled && flood_done && now.saturating_sub(last) >= quiet_us {
            return "quiet";
        }
    }
}
