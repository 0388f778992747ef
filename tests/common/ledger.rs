//! A ledger-mode session over TCP while rounds close: replies among the announcements and
//! prompts, the round open now, closing rounds up to one, and blocks proposed by many.

use super::{number_after, Client, TestServer, WAIT};

/// The next line that answers something: announcements (winners, blocks turning final) and
/// prompts are skipped.
pub async fn reply(c: &mut Client) -> String {
    loop {
        let line = c.line().await;
        let announcement = line.starts_with("winning validator: ")
            || line.starts_with("block ") && line.contains(" final: ");
        if !announcement && !line.starts_with("Enter ") {
            return line;
        }
    }
}

/// The round open now, as `c`'s `status` tells it (read with [`reply`]; the prompt after it
/// is left unread).
pub async fn round_now(c: &mut Client) -> u64 {
    c.send("status").await;
    let line = reply(c).await;
    assert!(line.starts_with("status: "), "{line}");
    number_after(&line, "round ")
}

/// Closes rounds while the round open is before `round`, waiting (bounded) after each until
/// it has opened the next: `round_now` reads the open round off `c`. Returns the round that
/// was open before any closed (past `round` where one past it was open already).
pub async fn tick_until(
    server: &TestServer,
    c: &mut Client,
    round: u64,
    mut round_now: impl AsyncFnMut(&mut Client) -> u64,
) -> u64 {
    let first = round_now(c).await;
    let mut now = first;
    while now < round {
        server.tick().await;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let seen = round_now(c).await;
            if seen > now {
                now = seen;
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "round {now} never closed"
            );
        }
    }
    first
}

/// [`tick_until`] `round` is open, which must not be past already.
pub async fn tick_to_with(
    server: &TestServer,
    c: &mut Client,
    round: u64,
    round_now: impl AsyncFnMut(&mut Client) -> u64,
) {
    let first = tick_until(server, c, round, round_now).await;
    assert!(
        first <= round,
        "round {first} is open already, past {round}"
    );
}

/// [`tick_to_with`] [`round_now`].
pub async fn tick_to(server: &TestServer, c: &mut Client, round: u64) {
    tick_to_with(server, c, round, round_now).await;
}

/// The index and hash a winner line (`winning validator: ... (block <k>, ..., hash <h>)`)
/// names.
pub fn block_of(line: &str) -> (u64, String) {
    let index = number_after(line, "(block ");
    let hash = line
        .split("hash ")
        .nth(1)
        .and_then(|h| h.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no hash in {line:?}"))
        .to_string();
    (index, hash)
}

/// Every client proposes BPM 70, the round closes; returns the block's index and hash as
/// the winner line `watcher` (`proposers[0]` when `None`) is sent says them.
pub async fn block(
    server: &TestServer,
    proposers: &mut [Client],
    watcher: Option<&mut Client>,
) -> (u64, String) {
    for c in proposers.iter_mut() {
        c.send("70").await;
        let answer = reply(c).await;
        assert!(answer.starts_with("BPM 70 entered round "), "{answer}");
    }
    server.tick().await;
    let watcher = match watcher {
        Some(w) => w,
        None => &mut proposers[0],
    };
    block_of(&watcher.line_containing("winning validator: ").await)
}
