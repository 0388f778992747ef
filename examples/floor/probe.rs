//! `--server ADDR`: the floor's own reader against the real server.
//!
//! N connections join a running tutorial-mode server (a stake each, then, for the first P, a
//! BPM), and the same epoll reader threads as the floor's time every announcement: when it was
//! read, and the kernel's arrival stamp. The first P connections propose again on each
//! announcement, so every round closes with P entrants. This measures the server's spread with
//! the reader the floor is measured with, where `simulate`'s bots (a task per connection,
//! parsing and checking every line) cost the shared cores more per delivery.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use pos_lottery::client::arrival;

use crate::{median, now_ns, raise_nofile};

/// Blocks announced while the connections were still joining are not all delivered; the
/// first complete ones are skipped as warm-up all the same.
const WARMUP_BLOCKS: usize = 2;
/// The run fails if no block reaches every connection for this long.
const STALL: Duration = Duration::from_secs(60);
const PREFIX: &[u8] = b"winning validator: ";

/// One announced block as the readers saw it.
#[derive(Clone, Copy)]
struct Seen {
    count: usize,
    stamped: usize,
    first_read: u64,
    last_read: u64,
    first_arrival: u64,
    last_arrival: u64,
}

struct Shared {
    blocks: Mutex<HashMap<u64, Seen>>,
    /// Blocks in the order they reached every connection.
    complete: Mutex<Vec<u64>>,
    complete_count: AtomicUsize,
    n: usize,
}

impl Shared {
    fn record(&self, index: u64, read: u64, arrival: Option<u64>) {
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        let s = blocks.entry(index).or_insert(Seen {
            count: 0,
            stamped: 0,
            first_read: u64::MAX,
            last_read: 0,
            first_arrival: u64::MAX,
            last_arrival: 0,
        });
        s.count += 1;
        s.first_read = s.first_read.min(read);
        s.last_read = s.last_read.max(read);
        if let Some(at) = arrival {
            s.stamped += 1;
            s.first_arrival = s.first_arrival.min(at);
            s.last_arrival = s.last_arrival.max(at);
        }
        if s.count == self.n {
            drop(blocks);
            self.complete
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(index);
            self.complete_count.fetch_add(1, Ordering::Release);
        }
    }
}

/// The block index of an announcement line, `winning validator: <a> (block <k>, ...`.
fn block_index(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(PREFIX)?;
    let at = rest.windows(8).position(|w| w == b" (block ")? + 8;
    let digits = rest[at..].split(|&b| b == b',').next()?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

struct Conn {
    sock: mio::net::TcpStream,
    /// The start of a line whose end has not arrived.
    partial: Vec<u8>,
    proposes: bool,
}

fn reader(mut conns: Vec<Conn>, shared: Arc<Shared>) -> io::Result<()> {
    let mut poll = Poll::new()?;
    for (i, c) in conns.iter_mut().enumerate() {
        arrival::enable(c.sock.as_raw_fd())?;
        poll.registry()
            .register(&mut c.sock, Token(i), Interest::READABLE)?;
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = [0u8; 4096];
    loop {
        poll.poll(&mut events, None)?;
        for ev in &events {
            let c = &mut conns[ev.token().0];
            let fd = c.sock.as_raw_fd();
            loop {
                let (n, stamp) = match arrival::recv(fd, &mut buf) {
                    Ok((0, _)) => return Err(io::Error::other("the server closed a connection")),
                    Ok(got) => got,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                let read = now_ns();
                c.partial.extend_from_slice(&buf[..n]);
                let mut start = 0;
                while let Some(end) = c.partial[start..].iter().position(|&b| b == b'\n') {
                    let line = &c.partial[start..start + end];
                    if let Some(index) = block_index(line) {
                        shared.record(index, read, stamp);
                        if c.proposes {
                            // Three bytes into an idle socket: never blocks in practice.
                            let _ = c.sock.write(b"70\n");
                        }
                    }
                    start += end + 1;
                }
                c.partial.drain(..start);
            }
        }
    }
}

/// The nearest-rank 99th percentile of sorted `v` (the maximum below 100 values), as
/// `simulate` reports it.
fn p99(v: &[f64]) -> f64 {
    let rank = (v.len() * 99).div_ceil(100).max(1);
    v.get(rank - 1).copied().unwrap_or(0.0)
}

/// Joins `n` connections to `addr`, `proposers` of them proposing each round, and prints the
/// spread of `trials` announcements to all of them after the warm-up.
pub fn run(
    addr: &str,
    n: usize,
    proposers: usize,
    trials: usize,
    readers: usize,
) -> io::Result<()> {
    raise_nofile(n as u64 + 64)?;
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = TcpStream::connect(addr)?;
        c.set_nodelay(true)?;
        // Typed ahead, as pasted into nc: the session reads them in order.
        let stake = 1 + (i * 7919) % 1000;
        let proposes = i < proposers;
        let first = if proposes {
            format!("{stake}\n70\n")
        } else {
            format!("{stake}\n")
        };
        c.write_all(first.as_bytes())?;
        c.set_nonblocking(true)?;
        conns.push(Conn {
            sock: mio::net::TcpStream::from_std(c),
            partial: Vec::new(),
            proposes,
        });
    }
    let shared = Arc::new(Shared {
        blocks: Mutex::new(HashMap::new()),
        complete: Mutex::new(Vec::new()),
        complete_count: AtomicUsize::new(0),
        n,
    });
    let per_reader = n.div_ceil(readers.max(1));
    while !conns.is_empty() {
        let rest = conns.split_off(conns.len().saturating_sub(per_reader));
        let s = shared.clone();
        thread::spawn(move || {
            if let Err(e) = reader(rest, s) {
                eprintln!("floor --server: {e}");
                std::process::exit(1);
            }
        });
    }
    let want = WARMUP_BLOCKS + trials;
    let (mut seen, mut since) = (0, Instant::now());
    while shared.complete_count.load(Ordering::Acquire) < want {
        let now = shared.complete_count.load(Ordering::Acquire);
        if now != seen {
            (seen, since) = (now, Instant::now());
        } else if since.elapsed() > STALL {
            return Err(io::Error::other(format!(
                "{now} blocks reached all {n} connections, then none for {STALL:?}"
            )));
        }
        thread::sleep(Duration::from_millis(20));
    }
    let complete = shared
        .complete
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let blocks = shared.blocks.lock().unwrap_or_else(|p| p.into_inner());
    let measured: Vec<Seen> = complete[WARMUP_BLOCKS..want]
        .iter()
        .filter_map(|i| blocks.get(i).copied())
        .collect();
    let ms = |ns: u64| ns as f64 / 1e6;
    let mut reads: Vec<f64> = measured
        .iter()
        .map(|s| ms(s.last_read - s.first_read))
        .collect();
    let mut arrivals: Vec<f64> = measured
        .iter()
        .filter(|s| s.stamped == s.count)
        .map(|s| ms(s.last_arrival - s.first_arrival))
        .collect();
    let arrival = if arrivals.is_empty() {
        "no arrival stamps".to_string()
    } else {
        format!(
            "arrival spread p50 {:.1} ms, p99 {:.1} ms",
            median(&mut arrivals),
            p99(&arrivals)
        )
    };
    println!(
        "probe N={n} ({proposers} proposing): {} blocks to all; read spread p50 {:.1} ms, p99 {:.1} ms; {arrival}",
        measured.len(),
        median(&mut reads),
        p99(&reads),
    );
    io::stdout().flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_block_index_of_an_announcement() {
        let line = b"winning validator: 4836 (block 17, BPM 80, stake 50 of 150, hash e649)";
        assert_eq!(block_index(line), Some(17));
        assert_eq!(block_index(b"BPM 70 entered round 3"), None);
        assert_eq!(block_index(b"winning validator: x (block , BPM"), None);
    }
}
