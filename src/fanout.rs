//! Announcements to every connection, written by one thread per core without waking a task
//! per connection.
//!
//! The round task sends each announcement once on its broadcast channel. The first fan-out
//! thread receives it and, with the others, `try_write`s the shared bytes straight to every
//! connection's socket. A socket that takes the whole line costs one `send` and nothing else:
//! no task wakes, no waiter list, no scheduling. Only when a socket is full (or its session is
//! writing a reply at that moment) does the line go to that connection's own bounded queue,
//! and its session is woken to write it with the usual no-progress timeout, so a slow reader
//! never delays the others.
//!
//! The threads share the work of each announcement by chunks of connections, taken from one
//! counter, rather than each owning a fixed share: a thread that gets less of its core (the
//! server's own tasks, or anything else on the machine) takes fewer chunks and the others
//! take more, so the last socket is written about when the work is done, not when the slowest
//! core is.
//!
//! Exactly-once and order: each outbox sits in one slot of the list; for one announcement
//! every chunk of slots is taken by one thread once, and the next announcement starts only
//! when every chunk of this one is done. A line is either written by a thread or queued,
//! never both. A partially written line is finished by the session before anything else it
//! writes, so lines never interleave. When a queue is full the oldest whole line is dropped
//! and counted, and the session says `missed <n> announcements`, as it did when it read the
//! channel itself.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::Thread;

use bytes::Bytes;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{broadcast, Notify};

use crate::round::{Shared, ANNOUNCE_QUEUE};

/// Connections per chunk of work: small enough that the threads finish within about one
/// chunk's sends of each other (64 sends, ~0.5 ms), large enough that taking a chunk (one
/// counter, one short lock) costs nothing beside its sends.
const CHUNK: usize = 64;

/// The fan-out threads and the connections they write to; sessions
/// [`subscribe`](Fanout::subscribe).
pub struct Fanout {
    inner: Arc<Inner>,
    /// Where the round task counts the announcements it has sent.
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Inner {
    slots: Mutex<Slots>,
    /// The announcement being written, for the helper threads.
    job: Mutex<Posted>,
    posted: Condvar,
}

#[derive(Default)]
struct Slots {
    list: Vec<Option<Arc<Outbox>>>,
    free: Vec<usize>,
    /// The channel has closed: no more announcements.
    closed: bool,
}

#[derive(Default)]
struct Posted {
    job: Option<Arc<Job>>,
    /// Jobs posted so far; a helper works on each at most once.
    count: u64,
    /// The channel has closed: helpers return.
    stop: bool,
}

/// One announcement's writing, shared by the threads.
struct Job {
    /// The line's number: every line sent on the channel is numbered in order from 0.
    seq: u64,
    line: Bytes,
    /// Chunks of the slot list as it was when the job began; slots added later belong to
    /// connections that joined after this line was sent (see [`Outbox::from`]).
    chunks: usize,
    /// The next chunk to take.
    next: AtomicUsize,
    /// Chunks written; the thread that completes the last wakes `leader`.
    done: AtomicUsize,
    /// Connections written to or queued for.
    connections: AtomicUsize,
    /// Of those, the ones left to their sessions (socket full, or the session writing).
    handed: AtomicUsize,
    leader: Thread,
}

impl Fanout {
    /// Starts `threads` fan-out threads (at least one); the first holds a receiver of
    /// `announce_tx` and the others help it. They stop once the channel closes, that is once
    /// the round task has dropped its sender; every connection is then told (see
    /// [`Subscription::is_closed`]). `shared.announced` must count every line sent on
    /// `announce_tx` (before it is sent), and no line may have been sent before this call.
    pub fn start(
        announce_tx: &broadcast::Sender<Bytes>,
        threads: usize,
        shared: Arc<Shared>,
    ) -> io::Result<Fanout> {
        let inner = Arc::new(Inner::default());
        let helpers = threads.max(1) - 1;
        let rx = announce_tx.subscribe();
        let started = (1..=helpers)
            .try_for_each(|i| {
                let inner = inner.clone();
                std::thread::Builder::new()
                    .name(format!("fanout-{i}"))
                    .spawn(move || inner.help())
                    .map(drop)
            })
            .and_then(|()| {
                let lead = inner.clone();
                std::thread::Builder::new()
                    .name("fanout-0".into())
                    .spawn(move || lead.lead(rx, helpers > 0))
                    .map(drop)
            });
        if let Err(e) = started {
            // The helpers started wait for jobs that will never come: let them go.
            inner.stop_helpers();
            return Err(e);
        }
        Ok(Fanout { inner, shared })
    }

    /// Hands a connection's write half to the fan-out; from now on it receives every
    /// announcement sent after this call.
    pub fn subscribe(&self, writer: OwnedWriteHalf) -> Subscription {
        let mut slots = lock(&self.inner.slots);
        // Lines already sent, even if the fan-out has not offered them yet, are older than the
        // connection: it gets the ones after, as a channel subscriber would. Read under the
        // slots' lock: a line counted after this read is taken from the channel after it
        // (the round task counts before it sends), so its job sizes the list after this slot
        // is in it; read before taking the lock, a line could be sized without the slot and
        // never reach a connection that is owed it.
        let from = self.shared.announced.load(Ordering::SeqCst);
        let outbox = Arc::new(Outbox {
            from,
            state: Mutex::new(OutboxState {
                writer: Some(writer),
                partial: None,
                queue: VecDeque::new(),
                missed: 0,
                closed: slots.closed,
                gone: false,
            }),
            wake: Notify::new(),
        });
        if slots.closed {
            outbox.wake.notify_one();
        }
        let slot = match slots.free.pop() {
            Some(i) => {
                slots.list[i] = Some(outbox.clone());
                i
            }
            None => {
                slots.list.push(Some(outbox.clone()));
                slots.list.len() - 1
            }
        };
        drop(slots);
        Subscription {
            outbox,
            inner: self.inner.clone(),
            slot,
        }
    }
}

impl Inner {
    /// The first thread: takes each line from the channel, posts it for the helpers, writes
    /// chunks itself, and waits until every chunk is written before the next line.
    fn lead(&self, mut rx: broadcast::Receiver<Bytes>, helped: bool) {
        let mut batch = Vec::with_capacity(CHUNK);
        let mut seq: u64 = 0;
        loop {
            match rx.blocking_recv() {
                Ok(line) => {
                    let started = std::time::Instant::now();
                    let chunks = lock(&self.slots).list.len().div_ceil(CHUNK);
                    let job = Arc::new(Job {
                        seq,
                        line,
                        chunks,
                        next: AtomicUsize::new(0),
                        done: AtomicUsize::new(0),
                        connections: AtomicUsize::new(0),
                        handed: AtomicUsize::new(0),
                        leader: std::thread::current(),
                    });
                    if helped && chunks > 1 {
                        let mut posted = lock(&self.job);
                        posted.job = Some(job.clone());
                        posted.count += 1;
                        drop(posted);
                        self.posted.notify_all();
                    }
                    self.work(&job, &mut batch);
                    // Helpers may still be writing their last chunks; the next line must
                    // not overtake this one on any socket.
                    while job.done.load(Ordering::Acquire) < chunks {
                        std::thread::park();
                    }
                    seq += 1;
                    tracing::debug!(
                        connections = job.connections.load(Ordering::Relaxed),
                        to_sessions = job.handed.load(Ordering::Relaxed),
                        bytes = job.line.len(),
                        us = started.elapsed().as_micros() as u64,
                        "announcement written"
                    );
                }
                // Not expected: no thread ever waits on a socket. Tell everyone, as the
                // channel would have told each session.
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "the fan-out fell behind the round task");
                    self.each(&mut batch, |o| o.miss(n));
                    seq += n;
                }
                Err(broadcast::error::RecvError::Closed) => {
                    lock(&self.slots).closed = true;
                    self.each(&mut batch, |o| o.close());
                    self.stop_helpers();
                    return;
                }
            }
        }
    }

    /// A helper thread: works on each posted job until the channel closes.
    fn help(&self) {
        let mut batch = Vec::with_capacity(CHUNK);
        let mut seen = 0;
        loop {
            let job = {
                let mut posted = lock(&self.job);
                while posted.count == seen && !posted.stop {
                    posted = self
                        .posted
                        .wait(posted)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                if posted.stop {
                    return;
                }
                seen = posted.count;
                posted.job.clone()
            };
            if let Some(job) = job {
                self.work(&job, &mut batch);
            }
        }
    }

    fn stop_helpers(&self) {
        let mut posted = lock(&self.job);
        posted.stop = true;
        posted.job = None;
        drop(posted);
        self.posted.notify_all();
    }

    /// Takes chunks of `job` until none is left, writing its line to each outbox in them.
    fn work(&self, job: &Job, batch: &mut Vec<Arc<Outbox>>) {
        loop {
            let i = job.next.fetch_add(1, Ordering::Relaxed);
            if i >= job.chunks {
                return;
            }
            self.copy_chunk(i * CHUNK, batch);
            let mut handed = 0;
            for outbox in batch.iter() {
                if job.seq >= outbox.from && !outbox.offer(&job.line) {
                    handed += 1;
                }
            }
            job.connections.fetch_add(batch.len(), Ordering::Relaxed);
            job.handed.fetch_add(handed, Ordering::Relaxed);
            batch.clear();
            if job.done.fetch_add(1, Ordering::AcqRel) + 1 == job.chunks {
                job.leader.unpark();
            }
        }
    }

    /// Copies the outboxes of the chunk starting at slot `at` into `batch`, so the lock is
    /// never held across a system call. Returns false past the end of the list.
    fn copy_chunk(&self, at: usize, batch: &mut Vec<Arc<Outbox>>) -> bool {
        let slots = lock(&self.slots);
        let Some(rest) = slots.list.get(at..).filter(|r| !r.is_empty()) else {
            return false;
        };
        batch.extend(rest[..rest.len().min(CHUNK)].iter().flatten().cloned());
        true
    }

    /// Calls `f` on every outbox, a chunk at a time, from this thread alone.
    fn each(&self, batch: &mut Vec<Arc<Outbox>>, f: impl Fn(&Outbox)) {
        let mut at = 0;
        while self.copy_chunk(at, batch) {
            for outbox in batch.iter() {
                f(outbox);
            }
            batch.clear();
            at += CHUNK;
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
    /// Writes `line` to the socket, or hands it to the session; true if it was written whole.
    fn offer(&self, line: &Bytes) -> bool {
        let mut st = lock(&self.state);
        if st.gone {
            return true;
        }
        if st.partial.is_none() && st.queue.is_empty() {
            if let Some(w) = &st.writer {
                match w.try_write(line) {
                    Ok(n) if n == line.len() => return true,
                    Ok(n) => st.partial = Some(line.slice(n..)),
                    // Full, or failed: the session writes it and meets the error itself.
                    Err(_) => st.queue.push_back(line.clone()),
                }
                drop(st);
                self.wake.notify_one();
                return false;
            }
        }
        if st.queue.len() >= ANNOUNCE_QUEUE {
            st.queue.pop_front();
            st.missed += 1;
        }
        st.queue.push_back(line.clone());
        drop(st);
        self.wake.notify_one();
        false
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

/// A session's registration with the fan-out; it leaves its slot when dropped.
pub struct Subscription {
    outbox: Arc<Outbox>,
    inner: Arc<Inner>,
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
        let mut slots = lock(&self.inner.slots);
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
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
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

    /// Eight threads sharing each line to 300 connections (five chunks): every connection
    /// gets every line once and in order, however the chunks fall to the threads. (With more
    /// threads than cores, a helper is often preempted mid-chunk: without the wait for every
    /// chunk before the next line, this fails in most runs.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shared_work_keeps_every_line_once_and_in_order() {
        const CONNECTIONS: usize = 300;
        const LINES: usize = 300;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (tx, _) = broadcast::channel::<Bytes>(LINES);
        let shared = Arc::new(Shared::default());
        let fanout = Fanout::start(&tx, 8, shared.clone()).unwrap();
        let mut subs = Vec::new();
        let mut readers = Vec::new();
        for _ in 0..CONNECTIONS {
            let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let (_read, write) = server.into_split();
            subs.push(fanout.subscribe(write));
            readers.push(tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(client).lines();
                let mut got = Vec::new();
                while got.len() < LINES {
                    got.push(lines.next_line().await.unwrap().unwrap());
                }
                got
            }));
        }
        for i in 0..LINES {
            shared.announced.fetch_add(1, Ordering::SeqCst);
            tx.send(Bytes::from(format!("line {i}\n"))).unwrap();
        }
        let expected: Vec<String> = (0..LINES).map(|i| format!("line {i}")).collect();
        for r in readers {
            let got = timeout(WAIT, r).await.unwrap().unwrap();
            assert_eq!(got, expected);
        }
        // Nothing was left to the sessions: every socket took every line.
        for sub in &subs {
            let claim = sub.claim().unwrap();
            assert!(claim.queue.is_empty() && claim.partial.is_none() && claim.missed == 0);
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
