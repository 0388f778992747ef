//! Announcements to every connection, written by one thread per core without waking a task
//! per connection.
//!
//! The round task sends each announcement once on its broadcast channel. Each fan-out thread
//! holds one receiver and a share of the connections' [`Outbox`]es; for every announcement it
//! `try_write`s the shared bytes straight to each socket in its share. A socket that takes the
//! whole line costs one `send` and nothing else: no task wakes, no waiter list, no scheduling.
//! Only when a socket is full (or its session is writing a reply at that moment) does the line
//! go to that connection's own bounded queue, and its session is woken to write it with the
//! usual no-progress timeout, so a slow reader never delays the others.
//!
//! Exactly-once: each outbox sits in one slot of one shard, and a shard's thread visits every
//! slot once per announcement; a line is either written by the thread or queued, never both.
//! A partially written line is finished by the session before anything else it writes, so
//! lines never interleave. When a queue is full the oldest whole line is dropped and counted,
//! and the session says `missed <n> announcements`, as it did when it read the channel itself.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{broadcast, Notify};

use crate::round::{Shared, ANNOUNCE_QUEUE};

/// Outboxes copied out of a shard per lock: joins and leaves wait for at most this many.
const CHUNK: usize = 256;

/// The fan-out threads' shards; sessions [`subscribe`](Fanout::subscribe) to one of them.
pub struct Fanout {
    shards: Vec<Arc<Shard>>,
    next: AtomicUsize,
    /// Where the round task counts the announcements it has sent.
    shared: Arc<Shared>,
}

impl Fanout {
    /// Starts `threads` fan-out threads (at least one), each with its own receiver of
    /// `announce_tx`. They stop once the channel closes, that is once the round task has
    /// dropped its sender; every connection is then told (see [`Subscription::is_closed`]).
    /// `shared.announced` must count every line sent on `announce_tx` (before it is sent),
    /// and no line may have been sent before this call.
    pub fn start(
        announce_tx: &broadcast::Sender<Bytes>,
        threads: usize,
        shared: Arc<Shared>,
    ) -> io::Result<Fanout> {
        let mut shards = Vec::new();
        for i in 0..threads.max(1) {
            let shard = Arc::new(Shard::default());
            let rx = announce_tx.subscribe();
            let s = shard.clone();
            std::thread::Builder::new()
                .name(format!("fanout-{i}"))
                .spawn(move || s.run(rx))?;
            shards.push(shard);
        }
        Ok(Fanout {
            shards,
            next: AtomicUsize::new(0),
            shared,
        })
    }

    /// Hands a connection's write half to the fan-out; from now on it receives every
    /// announcement its shard's thread takes from the channel.
    pub fn subscribe(&self, writer: OwnedWriteHalf) -> Subscription {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len();
        let shard = self.shards[i].clone();
        // Lines already sent, even if this shard's thread has not offered them yet, are
        // older than the connection: it gets the ones after, as a channel subscriber would.
        let from = self.shared.announced.load(Ordering::SeqCst);
        let outbox = Arc::new(Outbox {
            from,
            state: Mutex::new(OutboxState {
                writer: Some(writer),
                partial: None,
                queue: VecDeque::new(),
                missed: 0,
                closed: false,
                gone: false,
            }),
            wake: Notify::new(),
        });
        let slot = {
            let mut slots = lock(&shard.slots);
            if slots.closed {
                lock(&outbox.state).closed = true;
                outbox.wake.notify_one();
            }
            match slots.free.pop() {
                Some(i) => {
                    slots.list[i] = Some(outbox.clone());
                    i
                }
                None => {
                    slots.list.push(Some(outbox.clone()));
                    slots.list.len() - 1
                }
            }
        };
        Subscription {
            outbox,
            shard,
            slot,
        }
    }
}

#[derive(Default)]
struct Shard {
    slots: Mutex<Slots>,
}

#[derive(Default)]
struct Slots {
    list: Vec<Option<Arc<Outbox>>>,
    free: Vec<usize>,
    /// The channel has closed: no more announcements.
    closed: bool,
}

impl Shard {
    fn run(&self, mut rx: broadcast::Receiver<Bytes>) {
        let mut batch = Vec::with_capacity(CHUNK);
        // The number of the next line: every shard receives every line, in order.
        let mut seq: u64 = 0;
        loop {
            match rx.blocking_recv() {
                Ok(line) => {
                    let started = std::time::Instant::now();
                    let connections = self.each(&mut batch, |o| {
                        if seq >= o.from {
                            o.offer(&line)
                        }
                    });
                    seq += 1;
                    tracing::debug!(
                        connections,
                        bytes = line.len(),
                        us = started.elapsed().as_micros() as u64,
                        "announcement written"
                    );
                }
                // Not expected: this thread never waits on a socket. Tell everyone, as the
                // channel would have told each session.
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "the fan-out fell behind the round task");
                    self.each(&mut batch, |o| o.miss(n));
                    seq += n;
                }
                Err(broadcast::error::RecvError::Closed) => {
                    lock(&self.slots).closed = true;
                    self.each(&mut batch, |o| o.close());
                    return;
                }
            }
        }
    }

    /// Calls `f` on every outbox, copying them out a chunk at a time so the shard's lock is
    /// never held across a system call. Returns how many there were.
    fn each(&self, batch: &mut Vec<Arc<Outbox>>, f: impl Fn(&Outbox)) -> usize {
        let (mut at, mut count) = (0, 0);
        loop {
            {
                let slots = lock(&self.slots);
                let Some(chunk) = slots.list.get(at..) else {
                    return count;
                };
                let chunk = &chunk[..chunk.len().min(CHUNK)];
                if chunk.is_empty() {
                    return count;
                }
                batch.extend(chunk.iter().flatten().cloned());
                at += chunk.len();
            }
            for outbox in batch.iter() {
                f(outbox);
            }
            count += batch.len();
            batch.clear();
        }
    }
}

/// One connection's side of the fan-out.
struct Outbox {
    /// The number of the first line this connection gets: the count of lines sent before it
    /// subscribed.
    from: u64,
    state: Mutex<OutboxState>,
    /// Wakes the session when something was queued for it or the channel closed.
    wake: Notify,
}

struct OutboxState {
    /// The socket's write half, while the fan-out may write to it; `None` while the session
    /// is writing (see [`Subscription::claim`]) or after it has closed.
    writer: Option<OwnedWriteHalf>,
    /// The unwritten rest of a line the fan-out began: the session writes it first.
    partial: Option<Bytes>,
    /// Whole lines waiting for the session; at most `ANNOUNCE_QUEUE`.
    queue: VecDeque<Bytes>,
    /// Lines dropped from a full queue since the session last looked.
    missed: u64,
    /// The channel has closed.
    closed: bool,
    /// The session has ended.
    gone: bool,
}

impl Outbox {
    fn offer(&self, line: &Bytes) {
        let mut st = lock(&self.state);
        if st.gone {
            return;
        }
        if st.partial.is_none() && st.queue.is_empty() {
            if let Some(w) = &st.writer {
                match w.try_write(line) {
                    Ok(n) if n == line.len() => return,
                    Ok(n) => st.partial = Some(line.slice(n..)),
                    // Full, or failed: the session writes it and meets the error itself.
                    Err(_) => st.queue.push_back(line.clone()),
                }
                drop(st);
                self.wake.notify_one();
                return;
            }
        }
        if st.queue.len() >= ANNOUNCE_QUEUE {
            st.queue.pop_front();
            st.missed += 1;
        }
        st.queue.push_back(line.clone());
        drop(st);
        self.wake.notify_one();
    }

    fn miss(&self, n: u64) {
        let mut st = lock(&self.state);
        if !st.gone {
            st.missed += n;
            drop(st);
            self.wake.notify_one();
        }
    }

    fn close(&self) {
        lock(&self.state).closed = true;
        self.wake.notify_one();
    }
}

/// A session's registration with the fan-out; leaving the shard when dropped.
pub struct Subscription {
    outbox: Arc<Outbox>,
    shard: Arc<Shard>,
    slot: usize,
}

/// The write half, taken from the fan-out with what is waiting to be written before
/// anything else.
pub struct Claim {
    pub writer: OwnedWriteHalf,
    /// The rest of a line the fan-out began: first, or lines interleave.
    pub partial: Option<Bytes>,
    /// Announcements dropped because the queue was full (the lag notice).
    pub missed: u64,
    pub queue: VecDeque<Bytes>,
}

impl Subscription {
    /// Resolves when announcements were queued for this session or the channel closed.
    /// Cancel-safe; a wake-up that finds nothing to do is harmless.
    pub async fn notified(&self) {
        self.outbox.wake.notified().await;
    }

    /// Whether the channel has closed: no more announcements will come.
    pub fn is_closed(&self) -> bool {
        lock(&self.outbox.state).closed
    }

    /// Takes the write half, so the session can write; the fan-out queues lines meanwhile.
    /// `None` once the session has [`closed`](Subscription::close) it, or if a claim is
    /// already out (not done by a session, which gives back or drops each claim).
    pub fn claim(&self) -> Option<Claim> {
        let mut st = lock(&self.outbox.state);
        let writer = st.writer.take()?;
        Some(Claim {
            writer,
            partial: st.partial.take(),
            missed: std::mem::take(&mut st.missed),
            queue: std::mem::take(&mut st.queue),
        })
    }

    /// Gives the write half back to the fan-out, unless lines were queued while the session
    /// held it: then they come back in a new claim, to be written first.
    pub fn release(&self, writer: OwnedWriteHalf) -> Result<(), Claim> {
        let mut st = lock(&self.outbox.state);
        if st.partial.is_none() && st.queue.is_empty() && st.missed == 0 {
            st.writer = Some(writer);
            return Ok(());
        }
        Err(Claim {
            writer,
            partial: st.partial.take(),
            missed: std::mem::take(&mut st.missed),
            queue: std::mem::take(&mut st.queue),
        })
    }

    /// Takes the write half for good, with the rest of any line the fan-out began (which
    /// must be finished before a last line); announcements stop here.
    pub fn close(&self) -> Option<(OwnedWriteHalf, Option<Bytes>)> {
        let mut st = lock(&self.outbox.state);
        st.gone = true;
        st.queue = VecDeque::new();
        let writer = st.writer.take()?;
        Some((writer, st.partial.take()))
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        {
            let mut st = lock(&self.outbox.state);
            st.gone = true;
            // Closes the socket now, not when the fan-out next lets go of the outbox.
            st.writer = None;
            st.queue = VecDeque::new();
            st.partial = None;
        }
        let mut slots = lock(&self.shard.slots);
        if let Some(slot) = slots.list.get_mut(self.slot) {
            *slot = None;
            slots.free.push(self.slot);
        }
    }
}

/// The fan-out's locks guard plain data that stays consistent even if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::time::timeout;

    const WAIT: Duration = Duration::from_secs(10);

    /// Lines sent before a connection subscribed never reach it, even when the fan-out thread
    /// has not offered them yet: its greeting comes first, as with a channel subscriber.
    #[tokio::test]
    async fn a_new_connection_gets_only_lines_sent_after_it_joined() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (tx, _) = broadcast::channel::<Bytes>(16);
        let shared = Arc::new(Shared::default());
        let fanout = Fanout::start(&tx, 1, shared.clone()).unwrap();
        let send = |line: &'static [u8]| {
            shared.announced.fetch_add(1, Ordering::SeqCst);
            tx.send(Bytes::from_static(line)).unwrap();
        };
        for _ in 0..50 {
            let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let (_read, write) = server.into_split();
            // Sent just before the connection joins: the thread may not have offered it yet.
            send(b"old\n");
            let sub = fanout.subscribe(write);
            send(b"new\n");
            let mut got = [0u8; 4];
            timeout(WAIT, client.read_exact(&mut got))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&got, b"new\n");
            drop(sub);
        }
    }

    /// A line larger than any socket buffer is written in part by the fan-out; the session
    /// finishes it before the next queued line, so the reader gets each line once, whole,
    /// and in order.
    #[tokio::test]
    async fn a_partly_written_line_is_finished_before_the_next_one() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (_read, write) = server.into_split();
        let (tx, _) = broadcast::channel::<Bytes>(16);
        let fanout = Fanout::start(&tx, 1, Arc::new(Shared::default())).unwrap();
        let sub = fanout.subscribe(write);

        let mut big = vec![b'a'; 8 << 20];
        big.push(b'\n');
        // Offered as the fan-out thread offers each announcement (called directly, so the
        // test does not race the thread): the first only partly fits, the second queues.
        sub.outbox.offer(&Bytes::from(big.clone()));
        sub.outbox.offer(&Bytes::from_static(b"second\n"));
        timeout(WAIT, sub.notified()).await.unwrap();
        let claim = sub.claim().expect("the session can take the write half");
        let rest = claim
            .partial
            .clone()
            .expect("8 MiB cannot fit a socket buffer at once");
        assert!(!rest.is_empty() && rest.len() < big.len(), "{}", rest.len());
        assert_eq!(
            claim.queue,
            VecDeque::from([Bytes::from_static(b"second\n")])
        );

        let mut writer = claim.writer;
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.unwrap();
            got
        });
        writer.write_all(&rest).await.unwrap();
        for line in &claim.queue {
            writer.write_all(line).await.unwrap();
        }
        writer.shutdown().await.unwrap();
        drop(writer);
        drop(sub);
        let got = timeout(WAIT, reader).await.unwrap().unwrap();
        let mut expected = big;
        expected.extend_from_slice(b"second\n");
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "lines interleaved or repeated");
    }
}
