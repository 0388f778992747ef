//! What closes rounds: the round timer (or, in tests, ticks sent by hand), and the timer of
//! the chain broadcast.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, Interval, MissedTickBehavior};

/// What closes rounds: a timer, or (in tests) explicit ticks.
pub enum Ticks {
    Every(Duration),
    Manual(mpsc::Receiver<()>),
}

pub(super) enum TickSource {
    Every(Interval, Duration),
    Manual(mpsc::Receiver<()>),
    /// Manual ticks have ended: no round closes again, commands are still served.
    Ended,
}

impl TickSource {
    /// Waits for the next tick; cancel-safe. `None` once manual ticks have ended.
    pub(super) async fn next(&mut self) -> Option<()> {
        match self {
            TickSource::Every(interval, _) => {
                interval.tick().await;
                Some(())
            }
            TickSource::Manual(rx) => rx.recv().await,
            // Pending for ever, so the loop waits on its other arms instead of spinning.
            TickSource::Ended => std::future::pending().await,
        }
    }
}

/// The round timer. After a stall (a slow disk, say) longer than a round it closes one round
/// at once, then goes back to the schedule: `Burst` would close every missed round back to
/// back without serving a command in between.
pub(super) fn round_interval(start: Instant, period: Duration) -> Interval {
    let mut interval = tokio::time::interval_at(start, period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
    interval
}

pub(super) async fn tick_opt(interval: &mut Option<Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn after_a_stall_one_round_closes_then_the_schedule_resumes() {
        let period = Duration::from_secs(30);
        let t0 = Instant::now();
        let mut interval = round_interval(t0 + period, period);
        interval.tick().await;
        assert_eq!(Instant::now(), t0 + period);
        // A stall of three and a half rounds, as a slow fsync would cause.
        tokio::time::advance(period * 7 / 2).await;
        let stalled_until = Instant::now();
        interval.tick().await;
        assert_eq!(Instant::now(), stalled_until, "one round closes at once");
        interval.tick().await;
        assert_eq!(
            Instant::now(),
            t0 + period * 5,
            "the next closes on the original schedule, not back to back"
        );
    }
}
