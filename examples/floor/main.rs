//! The fan-out floor: what it costs this machine to write one announcement-sized line to N
//! connected loopback sockets, with nothing but the sends in the way.
//!
//! `cargo run --release --example floor -- [--sizes 500,2000,10000] [--writers 1,2]
//! [--trials 20] [--readers 1] [--bytes 196] [--reader-cpus LIST]`
//!
//! W writer threads, pinned one per core (of those `taskset` allows), each own N/W of the
//! server-side sockets; per trial
//! every writer writes one line to each of its sockets with a plain blocking `write`. The
//! client sides live in a child process (as the simulator's bots do; it also keeps each
//! process under an open-file limit of N plus a little), drained by reader threads that wait
//! in epoll (mio) and share the machine's cores with the writers. A trial starts only once the
//! readers have received every byte of the last one and are back waiting. `--reader-cpus`
//! (a `taskset` list such as `1` or `2-15`) keeps the reader process on other cores, as
//! `scripts/load.sh` keeps the simulator with `SERVER_CPUS`/`CLIENT_CPUS`.
//!
//! `--server ADDR --sizes N [--proposers P]` measures a running tutorial-mode server with
//! the same readers instead (see `probe.rs`).
//!
//! One line per (N, W), for `scripts/load.sh` to print beside the server's fan-out spread:
//! the loop's time is from the first writer's start to the last writer's end (the shortest
//! spread a server could reach on these cores), µs per send is one writer's loop time over its
//! sends, the readers' first-to-last read is what a client would measure, and the arrivals'
//! first-to-last is the same from the kernel's arrival stamps (`SO_TIMESTAMPNS`), as the
//! simulator's `arrival_spread_ms` measures the server.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

mod probe;

use mio::{Events, Interest, Poll, Token};
use pos_lottery::client::arrival;

/// Trials run and thrown away before the measured ones: page faults, socket buffer growth.
const WARMUP_TRIALS: usize = 3;
/// Quiet time between trials, so every reader is back in `epoll_wait` when the next starts.
const SETTLE: Duration = Duration::from_millis(20);

struct Args {
    sizes: Vec<usize>,
    writers: Vec<usize>,
    trials: usize,
    readers: usize,
    bytes: usize,
    /// CPUs for the reader process; `None` leaves it where the writers may run too.
    reader_cpus: Option<Vec<usize>>,
    /// `--server ADDR`: measure a running server with the same readers (see `probe`).
    server: Option<String>,
    /// With `--server`: connections that propose each round (default: all).
    proposers: Option<usize>,
}

fn parse_list(s: &str) -> Result<Vec<usize>, String> {
    s.split(',')
        .map(|v| v.trim().parse::<usize>().map_err(|e| format!("{v:?}: {e}")))
        .filter(|v| v.as_ref().map_or(true, |&n| n > 0))
        .collect()
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        sizes: vec![500, 2000, 10_000],
        writers: Vec::new(),
        trials: 20,
        readers: 1,
        bytes: 196,
        reader_cpus: None,
        server: None,
        proposers: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--sizes" => args.sizes = parse_list(&value)?,
            "--writers" => args.writers = parse_list(&value)?,
            "--trials" => args.trials = value.parse().map_err(|e| format!("--trials: {e}"))?,
            "--readers" => args.readers = value.parse().map_err(|e| format!("--readers: {e}"))?,
            "--bytes" => args.bytes = value.parse().map_err(|e| format!("--bytes: {e}"))?,
            "--reader-cpus" => args.reader_cpus = Some(parse_cpu_list(&value)?),
            "--server" => args.server = Some(value),
            "--proposers" => {
                args.proposers = Some(value.parse().map_err(|e| format!("--proposers: {e}"))?)
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if args.writers.is_empty() {
        let cores = allowed_cpus().len();
        args.writers = vec![1, 2];
        if cores > 2 {
            args.writers.push(cores);
        }
    }
    if args.trials == 0 || args.readers == 0 || args.bytes == 0 {
        return Err("--trials, --readers and --bytes must be at least 1".into());
    }
    Ok(args)
}

/// A `taskset -c` style list: `1`, `0,2`, `2-15`.
fn parse_cpu_list(s: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in s.split(',') {
        let bad = || format!("--reader-cpus: {part:?} is not a CPU or a range A-B");
        let (a, b): (usize, usize) = match part.split_once('-') {
            Some((a, b)) => (
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            ),
            None => {
                let c = part.trim().parse().map_err(|_| bad())?;
                (c, c)
            }
        };
        if a > b || b >= libc::CPU_SETSIZE as usize {
            return Err(bad());
        }
        cpus.extend(a..=b);
    }
    Ok(cpus)
}

/// Keeps the calling thread, and the threads it starts afterwards, on `cpus`.
fn pin_to_set(cpus: &[usize]) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET stays within CPU_SETSIZE,
    // which parse_cpu_list checked; pid 0 is the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The CPUs this process may run on, in order.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set, and the kernel fills at most its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return vec![0];
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Raises the open-file limit to at least `need`, lifting the hard limit too where allowed.
fn raise_nofile(need: u64) -> io::Result<()> {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(io::Error::last_os_error());
        }
        if lim.rlim_cur >= need {
            return Ok(());
        }
        let wanted = libc::rlimit {
            rlim_cur: need,
            rlim_max: lim.rlim_max.max(need),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) != 0 {
            return Err(io::Error::other(format!(
                "{need} file descriptors needed, limit {} (hard {}): {}",
                lim.rlim_cur,
                lim.rlim_max,
                io::Error::last_os_error()
            )));
        }
    }
    Ok(())
}

/// CLOCK_MONOTONIC in ns: the same clock in the writer and the reader process.
fn now_ns() -> u64 {
    // SAFETY: clock_gettime only writes the struct passed.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
}

/// What the readers saw since the last report.
struct ReadTimes {
    first_ns: AtomicU64,
    last_ns: AtomicU64,
    /// The kernel's arrival stamps (CLOCK_REALTIME), first and last.
    first_arrival_ns: AtomicU64,
    last_arrival_ns: AtomicU64,
    bytes: AtomicU64,
}

fn reader(mut socks: Vec<mio::net::TcpStream>, times: Arc<ReadTimes>) {
    let mut run = || -> io::Result<()> {
        let mut poll = Poll::new()?;
        for (i, s) in socks.iter_mut().enumerate() {
            arrival::enable(s.as_raw_fd())?;
            poll.registry().register(s, Token(i), Interest::READABLE)?;
        }
        let mut events = Events::with_capacity(1024);
        let mut buf = [0u8; 4096];
        loop {
            poll.poll(&mut events, None)?;
            for ev in &events {
                let fd = socks[ev.token().0].as_raw_fd();
                let mut got = 0u64;
                loop {
                    match arrival::recv(fd, &mut buf) {
                        // The writer process is done; the other sockets may still have data.
                        Ok((0, _)) => break,
                        Ok((n, stamp)) => {
                            got += n as u64;
                            if let Some(at) = stamp {
                                times.first_arrival_ns.fetch_min(at, Ordering::Relaxed);
                                times.last_arrival_ns.fetch_max(at, Ordering::Relaxed);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                if got > 0 {
                    let now = now_ns();
                    times.first_ns.fetch_min(now, Ordering::Relaxed);
                    times.last_ns.fetch_max(now, Ordering::Relaxed);
                    times.bytes.fetch_add(got, Ordering::Release);
                }
            }
        }
    };
    if let Err(e) = run() {
        eprintln!("floor reader: {e}");
        std::process::exit(1);
    }
}

/// The child process: connects `n` clients to `addr`, says `ready`, then reports
/// `FIRST_NS LAST_NS FIRST_ARRIVAL_NS LAST_ARRIVAL_NS` on stdout each time another
/// `per_trial` bytes have arrived. Runs on `cpus` when given.
fn child(
    addr: &str,
    n: usize,
    per_trial: u64,
    readers: usize,
    cpus: Option<Vec<usize>>,
) -> io::Result<()> {
    if let Some(cpus) = cpus {
        pin_to_set(&cpus)?;
    }
    raise_nofile(n as u64 + 64)?;
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        let c = TcpStream::connect(addr)?;
        c.set_nonblocking(true)?;
        clients.push(mio::net::TcpStream::from_std(c));
    }
    let times = Arc::new(ReadTimes {
        first_ns: AtomicU64::new(u64::MAX),
        last_ns: AtomicU64::new(0),
        first_arrival_ns: AtomicU64::new(u64::MAX),
        last_arrival_ns: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
    });
    let per_reader = n.div_ceil(readers);
    while !clients.is_empty() {
        let rest = clients.split_off(clients.len().saturating_sub(per_reader));
        let t = times.clone();
        thread::spawn(move || reader(rest, t));
    }
    let mut out = io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    let mut reported = 0u64;
    loop {
        if times.bytes.load(Ordering::Acquire) >= reported + per_trial {
            reported += per_trial;
            let first = times.first_ns.swap(u64::MAX, Ordering::SeqCst);
            let last = times.last_ns.swap(0, Ordering::SeqCst);
            let first_arrival = times.first_arrival_ns.swap(u64::MAX, Ordering::SeqCst);
            let last_arrival = times.last_arrival_ns.swap(0, Ordering::SeqCst);
            // The parent closes its sockets (and this pipe) when it is done.
            if writeln!(out, "{first} {last} {first_arrival} {last_arrival}")
                .and_then(|_| out.flush())
                .is_err()
            {
                return Ok(());
            }
        } else {
            thread::sleep(Duration::from_micros(200));
        }
    }
}

struct Trial {
    loop_ns: u64,
    per_send_ns: f64,
    read_spread_ns: u64,
    /// `None` when a read of the trial came unstamped (stamping starts a moment late).
    arrival_spread_ns: Option<u64>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn measure(n: usize, w: usize, args: &Args, cpus: &[usize]) -> io::Result<Vec<Trial>> {
    raise_nofile(n as u64 + 64)?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let exe = std::env::current_exe()?;
    let mut readers_proc = Command::new(exe)
        .args([
            "--child-reader".to_string(),
            addr.to_string(),
            n.to_string(),
            (n * args.bytes).to_string(),
            args.readers.to_string(),
            args.reader_cpus.as_ref().map_or("-".to_string(), |c| {
                c.iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            }),
        ])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut reports = BufReader::new(
        readers_proc
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no pipe"))?,
    );
    let mut servers = Vec::with_capacity(n);
    for _ in 0..n {
        let (s, _) = listener.accept()?;
        // As the server does: an announcement goes out at once.
        s.set_nodelay(true)?;
        servers.push(s);
    }
    drop(listener);
    let mut report = String::new();
    reports.read_line(&mut report)?;
    if report.trim() != "ready" {
        return Err(io::Error::other("the reader process did not start"));
    }

    // Writer i gets sockets i, i + w, i + 2w, ...
    let mut shares: Vec<Vec<TcpStream>> = (0..w).map(|_| Vec::new()).collect();
    for (i, s) in servers.into_iter().enumerate() {
        shares[i % w].push(s);
    }
    let line: Arc<Vec<u8>> = Arc::new({
        let mut l = vec![b'x'; args.bytes - 1];
        l.push(b'\n');
        l
    });
    let total = WARMUP_TRIALS + args.trials;
    let start = Arc::new(Barrier::new(w + 1));
    let done = Arc::new(Barrier::new(w + 1));
    // (start ns, end ns, sends) per writer for the current trial.
    let spans = Arc::new(Mutex::new(Vec::<(u64, u64, usize)>::new()));
    let mut writers = Vec::new();
    for (i, mut socks) in shares.into_iter().enumerate() {
        let cpu = cpus[i % cpus.len()];
        let (start, done, spans, line) = (start.clone(), done.clone(), spans.clone(), line.clone());
        writers.push(thread::spawn(move || -> io::Result<Vec<TcpStream>> {
            pin_to_set(&[cpu])?;
            for _ in 0..total {
                start.wait();
                let t0 = now_ns();
                for s in &mut socks {
                    s.write_all(&line)?;
                }
                let t1 = now_ns();
                spans
                    .lock()
                    .map_err(|_| io::Error::other("poisoned"))?
                    .push((t0, t1, socks.len()));
                done.wait();
            }
            // Closed only once the reader process is gone: an early FIN is no report.
            Ok(socks)
        }));
    }

    let mut trials = Vec::new();
    for t in 0..total {
        spans
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?
            .clear();
        start.wait();
        done.wait();
        // Blocks until the readers have every byte of this trial.
        report.clear();
        if reports.read_line(&mut report)? == 0 {
            return Err(io::Error::other("the reader process stopped"));
        }
        let mut seen = report.split_whitespace().map(str::parse::<u64>);
        let (
            Some(Ok(read_first)),
            Some(Ok(read_last)),
            Some(Ok(arrived_first)),
            Some(Ok(arrived_last)),
        ) = (seen.next(), seen.next(), seen.next(), seen.next())
        else {
            return Err(io::Error::other(format!("bad report {report:?}")));
        };
        let spans = spans.lock().map_err(|_| io::Error::other("poisoned"))?;
        let first = spans.iter().map(|s| s.0).min().unwrap_or(0);
        let last = spans.iter().map(|s| s.1).max().unwrap_or(0);
        let per_send = spans
            .iter()
            .map(|&(a, b, k)| (b - a) as f64 / k.max(1) as f64)
            .sum::<f64>()
            / spans.len().max(1) as f64;
        if t >= WARMUP_TRIALS {
            trials.push(Trial {
                loop_ns: last - first,
                per_send_ns: per_send,
                read_spread_ns: read_last.saturating_sub(read_first),
                arrival_spread_ns: (arrived_first <= arrived_last)
                    .then(|| arrived_last - arrived_first),
            });
        }
        drop(spans);
        thread::sleep(SETTLE);
    }
    let mut socks = Vec::new();
    for h in writers {
        socks.push(
            h.join()
                .map_err(|_| io::Error::other("a writer panicked"))??,
        );
    }
    drop(reports);
    let _ = readers_proc.kill();
    let _ = readers_proc.wait();
    drop(socks);
    Ok(trials)
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--child-reader") {
        let parsed = (
            argv.get(3).and_then(|v| v.parse().ok()),
            argv.get(4).and_then(|v| v.parse().ok()),
            argv.get(5).and_then(|v| v.parse().ok()),
        );
        let cpus = match argv.get(6).map(String::as_str) {
            Some("-") => Ok(None),
            Some(list) => parse_cpu_list(list).map(Some),
            None => Err(String::new()),
        };
        let (Some(addr), (Some(n), Some(per_trial), Some(readers)), Ok(cpus)) =
            (argv.get(2), parsed, cpus)
        else {
            eprintln!("floor: bad --child-reader arguments");
            std::process::exit(2);
        };
        if let Err(e) = child(addr, n, per_trial, readers, cpus) {
            eprintln!("floor reader process: {e}");
            std::process::exit(1);
        }
        return;
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("floor: {e}");
            eprintln!("usage: floor [--sizes 500,2000,10000] [--writers 1,2] [--trials 20] [--readers 1] [--bytes 196] [--reader-cpus LIST]");
            eprintln!(
                "       floor --server ADDR --sizes N [--proposers P] [--trials 20] [--readers 1]"
            );
            std::process::exit(2);
        }
    };
    if let Some(addr) = &args.server {
        let [n] = args.sizes[..] else {
            eprintln!("floor: --server takes one size, the number of connections");
            std::process::exit(2);
        };
        let proposers = args.proposers.unwrap_or(n).min(n);
        if let Err(e) = probe::run(addr, n, proposers, args.trials, args.readers) {
            eprintln!("floor --server: {e}");
            std::process::exit(1);
        }
        return;
    }
    let cpus = allowed_cpus();
    println!(
        "floor: {}-byte line to N loopback sockets, W writer threads pinned one per core ({} cores), {} reader thread(s) in epoll in another process; median of {} trials",
        args.bytes,
        cpus.len(),
        args.readers,
        args.trials
    );
    for &n in &args.sizes {
        for &w in &args.writers {
            match measure(n, w, &args, &cpus) {
                Ok(trials) => {
                    let ms = |ns: f64| ns / 1e6;
                    let mut loops: Vec<f64> = trials.iter().map(|t| t.loop_ns as f64).collect();
                    let mut sends: Vec<f64> = trials.iter().map(|t| t.per_send_ns).collect();
                    let mut reads: Vec<f64> =
                        trials.iter().map(|t| t.read_spread_ns as f64).collect();
                    let mut arrivals: Vec<f64> = trials
                        .iter()
                        .filter_map(|t| t.arrival_spread_ns.map(|ns| ns as f64))
                        .collect();
                    let arrivals = if arrivals.is_empty() {
                        "no arrival stamps".to_string()
                    } else {
                        format!(
                            "arrivals' first-to-last {:.1} ms",
                            ms(median(&mut arrivals))
                        )
                    };
                    let (min, max) = (
                        loops.iter().copied().fold(f64::MAX, f64::min),
                        loops.iter().copied().fold(0.0, f64::max),
                    );
                    println!(
                        "floor N={n} W={w}: {:.1} us per send, loop {:.1} ms (min {:.1}, max {:.1}); readers' first-to-last {:.1} ms; {arrivals}",
                        median(&mut sends) / 1e3,
                        ms(median(&mut loops)),
                        ms(min),
                        ms(max),
                        ms(median(&mut reads)),
                    );
                }
                Err(e) => println!("floor N={n} W={w}: failed: {e}"),
            }
        }
    }
}
