//! The live status line on stderr: rewritten in place on a terminal, one line every few
//! seconds otherwise.

use std::io::{self, IsTerminal};
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::bot::Ctx;

/// Live status refresh on a terminal, and the line interval when stderr is a file.
const STATUS_TTY: Duration = Duration::from_millis(250);
const STATUS_LOG: Duration = Duration::from_secs(5);

/// The live one-line summary on stderr.
pub(super) struct Status {
    live: bool,
    tty: bool,
    pub(super) every: Duration,
    validators: usize,
    watchers: usize,
    flood: bool,
    last_replies: u64,
    last_at: Instant,
    announced_joined: bool,
}

impl Status {
    pub(super) fn new(live: bool, validators: usize, watchers: usize, flood: bool) -> Status {
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

    pub(super) fn show(&mut self, ctx: &Ctx) {
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
        if ctx.verdicts.is_some() {
            line.push_str(&format!(
                "  attests {} (accepted {}, refused {})  final {}",
                c.attests_sent.load(Ordering::Relaxed),
                c.attests_accepted.load(Ordering::Relaxed),
                c.attests_refused.load(Ordering::Relaxed),
                ctx.finals.lock().unwrap_or_else(|p| p.into_inner()).len(),
            ));
        }
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

    pub(super) fn finish(&mut self, ctx: &Ctx) {
        self.show(ctx);
        if self.live && self.tty {
            eprintln!();
        }
    }
}
