//! A real browser watches the dashboard while validators play the lottery.
//!
//! The test starts the server in-process on port 0 (TCP and HTTP), connects three validators
//! (one staking `u64::MAX`) that propose a BPM every round, then drives headless Chromium over
//! the Chrome DevTools Protocol. Once the page has loaded, a fourth validator stakes 2^53 + 1
//! and is slashed; the test polls the page until it shows the newest block `/api/chain`
//! reports, one chart bar group per validator, the big stake and the burned total digit for
//! digit, all without a reload; then until this round's entrants show with their odds (the
//! total entered stake, past 2^64, digit for digit). Screenshots go to `target/dashboard.png` and
//! `target/dashboard-phone.png`.
//!
//! A second test runs the page against a ledger-mode server (`GENESIS`): accounts log in with
//! signed challenges, one account sends a signed transfer over HTTP and another is slashed,
//! and the page must show the accounts table, the supply digit for digit and both in the
//! activity feed, again without a reload; then, once epochs with stake snapshots run
//! (`EPOCH_ROUNDS` = 5), the validator attests a block over HTTP, which makes it final, and the
//! page must show the finalized height, a final badge on the block and the finality in the
//! activity feed. Its screenshot is `target/dashboard-ledger.png`.
//! The two tests take turns: each starts its own Chromium.
//!
//! Without Chromium (`/usr/bin/chromium` or `chromium` on `PATH`) the tests print `SKIPPED`
//! and pass, unless `POS_LOTTERY_REQUIRE_BROWSER=1`.
//!
//! ```text
//! cargo test --test browser -- --nocapture
//! ```

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::codec::{Framed, LinesCodec};
use tokio_util::sync::CancellationToken;
use tungstenite::{Message, WebSocket};

use pos_lottery::config::Config;
use pos_lottery::round::Ticks;
use pos_lottery::server::ServerError;

const BIG_STAKE: &str = "18446744073709551615";
const STAKES: [&str; 3] = ["100", "50", BIG_STAKE];
/// 2^53 + 1: a JavaScript number would show ...992. Staked, then slashed, while the page watches.
const SLASHED_STAKE: &str = "9007199254740993";
/// The round's total entered stake when all three validators entered: u64::MAX + 150.
const POOL_TOTAL: &str = "18446744073709551765";
const ROUND: Duration = Duration::from_millis(300);
/// How long the page may take to catch up with the server.
const PAGE_TIMEOUT: Duration = Duration::from_secs(20);
/// Blocks the page must receive live, after its first load, before the test is satisfied.
const LIVE_BLOCKS: u64 = 3;
const POLL: Duration = Duration::from_millis(100);
/// Bound on one DevTools command, one HTTP request, one protocol line, and browser start-up.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_LINE: usize = 1 << 20;

const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
    "--window-size=1280,900",
];

/// What the page shows, read in one `Runtime.evaluate`.
const PAGE_STATE_JS: &str = r#"JSON.stringify((() => {
  const text = (sel) => { const e = document.querySelector(sel); return e ? e.textContent : null; };
  const winner = document.querySelector('#latest-winner');
  return {
    index: text('#latest-index'),
    winner: winner ? (winner.dataset.address || null) : null,
    height: text('#height'),
    bars: [...document.querySelectorAll('#chart .bar-group')].map((g) => g.dataset.address),
    validators: text('#validators'),
    countdown: text('#countdown'),
    burned: text('#burned'),
    activity: text('#activity'),
    pool: [...document.querySelectorAll('#pool tbody tr')].map((r) => ({
      address: r.dataset.address,
      stake: r.children[1].textContent,
      chance: r.querySelector('.chance').textContent,
    })),
    pool_total: text('#pool-total'),
    odds: document.querySelectorAll('#pool-odds > span').length,
    ledger: !!document.body && (document.body.classList.contains('ledger')
      || !document.getElementById('accounts-card').hidden),
    marker: window.__browserTest === true,
  };
})())"#;

/// Both ways of parsing (Chromium's `context.source` and the fallback) must keep big
/// integers exact and leave strings and floats alone.
const PARSER_JS: &str = r#"JSON.stringify([false, true].map((fallback) => {
  const p = window.dashboard.parseJSON(
    '{"a":18446744073709551615,"b":[340282366920938463463374607431768211455,1.5,"12345678901234567890",-9007199254740993,42]}',
    { fallback });
  return typeof p.a === 'bigint' && String(p.a) === '18446744073709551615'
    && String(p.b[0]) === '340282366920938463463374607431768211455'
    && p.b[1] === 1.5 && p.b[2] === '12345678901234567890'
    && String(p.b[3]) === '-9007199254740993' && p.b[4] === 42;
}).concat([window.dashboard.hasSource]))"#;

/// One browser test at a time: two Chromiums on a small machine slow both past their limits.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Chromium, or `None` (and a SKIPPED line) when it is missing and not required.
fn chromium_or_skip() -> Option<PathBuf> {
    let found = find_chromium();
    if found.is_none() {
        if std::env::var("POS_LOTTERY_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!(
                "chromium not found and POS_LOTTERY_REQUIRE_BROWSER=1 (apt-get install chromium)"
            );
        }
        // Straight to stderr, past the test harness's capture, so a plain `cargo test`
        // shows that this test did not really run.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"SKIPPED browser test: chromium not found (apt-get install chromium)\n",
        );
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_follows_the_lottery_live_in_a_real_browser() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let _turn = ONE_BROWSER.lock().await;
    let started = Instant::now();
    let server = TestServer::start(|_| {}).await;
    let mut validators = Vec::new();
    for stake in STAKES {
        validators.push(join_as_validator(server.tcp, stake).await);
    }

    let (tcp, http) = (server.tcp, server.http);
    let outcome =
        tokio::task::spawn_blocking(move || drive_dashboard(&chromium, tcp, http, STAKES.len()))
            .await;

    for v in &validators {
        v.abort();
    }
    server.stop().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
    println!("browser test passed in {:.1?}", started.elapsed());
}

/// The browser half, blocking: open the page, wait for it to catch up, check, screenshot.
fn drive_dashboard(chromium: &Path, tcp: SocketAddr, http: SocketAddr, validator_count: usize) {
    let browser = Browser::launch(chromium);
    let mut page = browser.page();
    page.call("Page.navigate", json!({ "url": format!("http://{http}/") }));

    // First load: any block beyond genesis. A marker on `window` then proves that later
    // updates arrive without a reload.
    let first = poll_page(&mut page, "the first block", |view| {
        view.index.as_deref().and_then(|i| i.parse::<u64>().ok()) >= Some(1)
    });
    let first_index: u64 = first.index.as_deref().unwrap_or("0").parse().unwrap();
    page.eval("window.__browserTest = true");
    tokio::runtime::Handle::current().block_on(join_and_get_slashed(tcp));

    let mut newest = newest_block(http);
    let view = poll_page(&mut page, "the newest block and every validator", |view| {
        newest = newest_block(http);
        view.index.as_deref() == Some(newest.index.to_string().as_str())
            && view.height == view.index
            && view.winner.as_deref() == Some(newest.validator.as_str())
            && newest.index >= first_index + LIVE_BLOCKS
            && view.bars.len() == validator_count
            && view
                .validators
                .as_deref()
                .is_some_and(|t| t.contains(BIG_STAKE))
            && view.burned.as_deref() == Some(SLASHED_STAKE)
    });
    assert!(
        view.marker,
        "the page reloaded instead of updating in place"
    );
    assert!(!view.ledger, "tutorial mode shows no ledger parts");

    let mut api_addresses = validator_addresses(http);
    let mut chart_addresses = view.bars.clone();
    api_addresses.sort();
    chart_addresses.sort();
    assert_eq!(
        chart_addresses, api_addresses,
        "one bar group per validator"
    );
    let activity = view.activity.unwrap_or_default();
    assert!(
        activity.contains(&format!("forfeited {SLASHED_STAKE}")),
        "the activity list shows the slashing: {activity:?}"
    );
    let countdown = view.countdown.unwrap_or_default();
    assert!(
        countdown.ends_with(" s") || countdown == "closing…",
        "countdown shows {countdown:?}"
    );

    // This round's entrants, with their odds. The validators enter again right after each
    // announcement, so the page soon shows all three; the chances come from exact stakes.
    // In draw order: ascending address, like the sorted list of validators.
    let pool = poll_page(&mut page, "this round's entrants and their odds", |view| {
        let shown: Vec<&String> = view.pool.iter().map(|c| &c.address).collect();
        shown == api_addresses.iter().collect::<Vec<_>>()
            && view.pool_total.as_deref() == Some(POOL_TOTAL)
            && view.odds == api_addresses.len()
    });
    let chances: Vec<(&str, &str)> = pool
        .pool
        .iter()
        .map(|c| (c.stake.as_str(), c.chance.as_str()))
        .collect();
    for (stake, chance) in [
        (BIG_STAKE, "> 99.99%"),
        ("100", "< 0.01%"),
        ("50", "< 0.01%"),
    ] {
        assert!(
            chances.contains(&(stake, chance)),
            "stake {stake} shows chance {chance}: {chances:?}"
        );
    }

    let parser: Vec<bool> = serde_json::from_str(&page.eval_string(PARSER_JS)).unwrap();
    assert_eq!(
        parser,
        [true, true, true],
        "[source reviver exact, fallback exact, Chromium has context.source]"
    );

    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&out).unwrap();
    page.screenshot(&out.join("dashboard.png"));
    page.call(
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true }),
    );
    poll_eval(
        &mut page,
        "the phone-sized layout",
        "window.innerWidth === 390",
    );
    page.screenshot(&out.join("dashboard-phone.png"));
    println!(
        "dashboard showed block {} (first load: block {first_index}); screenshots in {}",
        newest.index,
        out.display()
    );
}

// ---- Ledger mode ---------------------------------------------------------------------------------

/// Genesis balances by key seed: the third is 2^53 + 1, which a JavaScript number would round.
const LEDGER_FUNDS: [(u8, u64); 4] = [(1, 1000), (2, 500), (3, 9_007_199_254_740_993), (4, 300)];
const LEDGER_TRANSFER: u64 = 42;
const LEDGER_SLASHED: u64 = 10;
/// Epoch 1 opens at round 6, 1.8 s in; a block's attestation window is two epochs, 3 s.
const LEDGER_EPOCH_ROUNDS: u64 = 5;

/// What the page shows in ledger mode, read in one `Runtime.evaluate`.
const LEDGER_STATE_JS: &str = r#"JSON.stringify((() => {
  const text = (sel) => { const e = document.querySelector(sel); return e ? e.textContent : null; };
  const cell = (r, sel) => r.querySelector(sel).textContent;
  return {
    ledger: !!document.body && document.body.classList.contains('ledger')
      && !document.getElementById('accounts-card').hidden,
    supply: text('#supply'),
    supply_line: text('#supply-line'),
    accounts: [...document.querySelectorAll('#accounts tbody tr')].map((r) => ({
      address: r.dataset.address,
      balance: cell(r, '.balance'),
      available: cell(r, '.available'),
      bonded: cell(r, '.bonded'),
      connected: cell(r, '.connected'),
    })),
    activity: text('#activity'),
    pool: [...document.querySelectorAll('#pool tbody tr')].map((r) => r.dataset.address),
    marker: window.__browserTest === true,
  };
})())"#;

#[derive(Debug, serde::Deserialize)]
struct LedgerPage {
    ledger: bool,
    supply: Option<String>,
    supply_line: Option<String>,
    accounts: Vec<AccountRow>,
    activity: Option<String>,
    pool: Vec<String>,
    marker: bool,
}

#[derive(Debug, serde::Deserialize, PartialEq)]
struct AccountRow {
    address: String,
    balance: String,
    available: String,
    bonded: String,
    connected: String,
}

fn ledger_key(n: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[n; 32])
}

fn ledger_address(n: u8) -> String {
    pos_lottery::tx::address_of(&ledger_key(n))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_dashboard_shows_accounts_supply_and_transfers_live() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let _turn = ONE_BROWSER.lock().await;
    let genesis_dir = tempfile::tempdir().unwrap();
    let path = genesis_dir.path().join("genesis.json");
    let accounts: serde_json::Map<String, Value> = LEDGER_FUNDS
        .iter()
        .map(|&(n, b)| (ledger_address(n), Value::from(b)))
        .collect();
    std::fs::write(&path, json!({ "accounts": accounts }).to_string()).unwrap();
    let genesis = pos_lottery::pool::GenesisSetting::load(&path).unwrap();
    let server = TestServer::start(|c| {
        c.genesis = Some(genesis);
        c.epoch_rounds = LEDGER_EPOCH_ROUNDS;
    })
    .await;
    let validator = log_in_as_validator(server.tcp, 1, 100).await;

    let (tcp, http) = (server.tcp, server.http);
    let outcome =
        tokio::task::spawn_blocking(move || drive_ledger_dashboard(&chromium, tcp, http)).await;
    validator.abort();
    server.stop().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

fn drive_ledger_dashboard(chromium: &Path, tcp: SocketAddr, http: SocketAddr) {
    let browser = Browser::launch(chromium);
    let mut page = browser.page();
    page.call("Page.navigate", json!({ "url": format!("http://{http}/") }));
    let genesis_total: u64 = LEDGER_FUNDS.iter().map(|f| f.1).sum();
    let first = poll_ledger_page(&mut page, "the accounts and the supply", |p| {
        p.ledger
            && p.accounts.len() == LEDGER_FUNDS.len()
            && p.supply.as_deref() == Some(genesis_total.to_string().as_str())
    });
    assert_eq!(
        first.accounts[0].balance, "9007199254740993",
        "largest balance first, digit for digit"
    );
    page.eval("window.__browserTest = true");

    // A signed transfer over HTTP, and a slashing over TCP, while the page watches.
    let chain_id = get_json(http, "/info")["chain_id"]
        .as_str()
        .unwrap()
        .to_string();
    let t = pos_lottery::tx::Transfer::sign(
        &ledger_key(2),
        &chain_id,
        &ledger_address(4),
        LEDGER_TRANSFER,
        1,
    );
    let (status, body) = http_request(
        http,
        "POST",
        "/api/transactions",
        &serde_json::to_string(&t).unwrap(),
    );
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    tokio::runtime::Handle::current().block_on(async {
        let mut cheat = log_in(tcp, 4, LEDGER_SLASHED).await;
        cheat.send("not-a-heart-rate").await.unwrap();
        read_until(&mut cheat, |l| l.starts_with("slashed:")).await;
    });

    // Once a block has applied both: 500 - 42, 300 + 42 - 10, and the supply 10 lower.
    let supply = (genesis_total - LEDGER_SLASHED).to_string();
    let sender = (500 - LEDGER_TRANSFER).to_string();
    let receiver = (300 + LEDGER_TRANSFER - LEDGER_SLASHED).to_string();
    let balance_of = |p: &LedgerPage, n: u8| {
        let address = ledger_address(n);
        p.accounts
            .iter()
            .find(|a| a.address == address)
            .map(|a| a.balance.clone())
    };
    let view = poll_ledger_page(&mut page, "the transfer and the slashing applied", |p| {
        let activity = p.activity.as_deref().unwrap_or_default();
        activity.contains(&format!("sent {LEDGER_TRANSFER}"))
            && activity.contains(&format!("forfeited {LEDGER_SLASHED}"))
            && balance_of(p, 2).as_deref() == Some(sender.as_str())
            && balance_of(p, 4).as_deref() == Some(receiver.as_str())
            && p.supply.as_deref() == Some(supply.as_str())
    });
    assert!(
        view.marker,
        "the page reloaded instead of updating in place"
    );
    let stats = get_json(http, "/api/stats");
    assert_eq!(stats["supply"].to_string(), supply);
    let line = view.supply_line.unwrap_or_default();
    assert!(
        line.contains(&format!("burned {LEDGER_SLASHED}")) && line.contains("minted 0"),
        "{line}"
    );
    let validator = view
        .accounts
        .iter()
        .find(|a| a.address == ledger_address(1))
        .unwrap();
    assert_eq!(
        (
            validator.bonded.as_str(),
            validator.available.as_str(),
            validator.connected.as_str()
        ),
        ("100", "900", "online"),
        "{validator:?}"
    );
    assert!(
        view.pool.iter().all(|a| *a == ledger_address(1)),
        "the entrants table lists candidates only: {:?}",
        view.pool
    );

    // Account 1 bonds at least 100 of every snapshot's 110 at most: its attestation alone,
    // over HTTP, makes a block of epoch 1 or later final.
    let deadline = Instant::now() + PAGE_TIMEOUT;
    let (index, percent) = loop {
        assert!(
            Instant::now() < deadline,
            "no block of epoch 1 or later was attested within {PAGE_TIMEOUT:?}"
        );
        let height = get_json(http, "/api/stats")["height"].as_u64().unwrap();
        let block = get_json(http, &format!("/api/blocks/{height}"));
        if block["epoch"].as_u64().unwrap() == 0 {
            std::thread::sleep(POLL);
            continue;
        }
        let hash = block["Hash"].as_str().unwrap();
        let attestation = json!({
            "index": height,
            "hash": hash,
            "address": ledger_address(1),
            "signature": pos_lottery::tx::sign_attest(&ledger_key(1), &chain_id, height, hash),
        });
        let (status, body) =
            http_request(http, "POST", "/api/attestations", &attestation.to_string());
        let answer: Value = serde_json::from_slice(&body).unwrap();
        if status == 200 {
            assert_eq!(answer["final"], true, "{answer}");
            break (height, answer["percent"].as_str().unwrap().to_string());
        }
        // Only a window that closed meanwhile may refuse it: then a newer block.
        assert!(
            answer["error"].as_str().unwrap().contains("window closed"),
            "{answer}"
        );
    };
    poll_eval(
        &mut page,
        "the final block marked, without a reload",
        &format!(
            r#"window.__browserTest === true
              && document.getElementById('finalized').textContent === '{index}'
              && !!document.querySelector('#blocks tr[data-index="{index}"] .tag.final')
              && document.getElementById('activity').textContent.includes('#{index} final: {percent}%')
              && document.getElementById('finalized-note').textContent.startsWith('1 final block ·')"#
        ),
    );

    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&out).unwrap();
    page.screenshot(&out.join("dashboard-ledger.png"));
}

/// Reads the page every [`POLL`] until `done` holds, failing after [`PAGE_TIMEOUT`].
fn poll_ledger_page(
    page: &mut Cdp,
    what: &str,
    mut done: impl FnMut(&LedgerPage) -> bool,
) -> LedgerPage {
    let deadline = Instant::now() + PAGE_TIMEOUT;
    loop {
        let view: LedgerPage = serde_json::from_str(&page.eval_string(LEDGER_STATE_JS)).unwrap();
        if done(&view) {
            return view;
        }
        assert!(
            Instant::now() < deadline,
            "the dashboard did not show {what} within {PAGE_TIMEOUT:?}; it shows {view:#?}"
        );
        std::thread::sleep(POLL);
    }
}

/// Logs key `n` in by signing the challenge, and stakes `stake`; the BPM prompt is next.
async fn log_in(addr: SocketAddr, n: u8, stake: u64) -> Lines {
    let socket = TcpStream::connect(addr).await.unwrap();
    let mut lines = Framed::new(socket, LinesCodec::new_with_max_length(MAX_LINE));
    let challenge = read_until(&mut lines, |l| l.starts_with("challenge ")).await;
    let words: Vec<&str> = challenge.split_whitespace().collect();
    let signature = pos_lottery::tx::sign_auth(&ledger_key(n), words[1], words[2]);
    lines
        .send(format!("auth {} {signature}", ledger_address(n)))
        .await
        .unwrap();
    read_until(&mut lines, |l| l == "Enter stake:").await;
    lines.send(stake.to_string()).await.unwrap();
    read_until(&mut lines, |l| l.starts_with("you are validator")).await;
    lines
}

/// A logged-in validator that proposes a BPM every round, like [`join_as_validator`].
async fn log_in_as_validator(addr: SocketAddr, n: u8, stake: u64) -> JoinHandle<()> {
    let mut lines = log_in(addr, n, stake).await;
    lines.send("72").await.unwrap();
    tokio::spawn(async move {
        while let Some(Ok(line)) = lines.next().await {
            if line.starts_with("winning validator:") && lines.send("73").await.is_err() {
                break;
            }
        }
    })
}

// ---- The server and its validators -------------------------------------------------------------

struct TestServer {
    tcp: SocketAddr,
    http: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), ServerError>>,
    _dir: TempDir,
}

impl TestServer {
    async fn start(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_tests(dir.path().to_path_buf());
        config.http_addr = Some("127.0.0.1:0".parse().unwrap());
        tweak(&mut config);
        let tcp_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = tcp_listener.local_addr().unwrap();
        let http = http_listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(pos_lottery::server::run(
            config,
            tcp_listener,
            Some(http_listener),
            Ticks::Every(ROUND),
            shutdown.clone().cancelled_owned(),
        ));
        TestServer {
            tcp,
            http,
            shutdown,
            task,
            _dir: dir,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(STEP_TIMEOUT, self.task)
            .await
            .expect("the server did not stop in time")
            .expect("the server task panicked");
        result.expect("the server failed");
    }
}

type Lines = Framed<TcpStream, LinesCodec>;

/// Connects, stakes, and leaves a task proposing a BPM each round: once on joining, then
/// after every winner announcement (the announcement comes after the next round opened).
async fn join_as_validator(addr: SocketAddr, stake: &str) -> JoinHandle<()> {
    let socket = TcpStream::connect(addr).await.unwrap();
    let mut lines = Framed::new(socket, LinesCodec::new_with_max_length(MAX_LINE));
    read_until(&mut lines, |l| l == "Enter token balance:").await;
    lines.send(stake).await.unwrap();
    read_until(&mut lines, |l| l.starts_with("you are validator")).await;
    lines.send("72").await.unwrap();
    tokio::spawn(async move {
        let mut bpm = 60;
        while let Some(Ok(line)) = lines.next().await {
            if line.starts_with("winning validator:") {
                bpm = if bpm >= 99 { 60 } else { bpm + 1 };
                if lines.send(bpm.to_string()).await.is_err() {
                    break;
                }
            }
        }
    })
}

/// A validator that stakes [`SLASHED_STAKE`], then sends a heart rate that is not a number.
async fn join_and_get_slashed(addr: SocketAddr) {
    let socket = TcpStream::connect(addr).await.unwrap();
    let mut lines = Framed::new(socket, LinesCodec::new_with_max_length(MAX_LINE));
    read_until(&mut lines, |l| l == "Enter token balance:").await;
    lines.send(SLASHED_STAKE).await.unwrap();
    read_until(&mut lines, |l| l.starts_with("you are validator")).await;
    lines.send("not-a-heart-rate").await.unwrap();
    read_until(&mut lines, |l| l.starts_with("slashed:")).await;
}

async fn read_until(lines: &mut Lines, wanted: impl Fn(&str) -> bool) -> String {
    tokio::time::timeout(STEP_TIMEOUT, async {
        while let Some(line) = lines.next().await {
            let line = line.expect("reading from the server");
            if wanted(&line) {
                return line;
            }
        }
        panic!("the server closed the connection");
    })
    .await
    .expect("the server did not answer in time")
}

// ---- HTTP, by hand -----------------------------------------------------------------------------

/// A blocking `GET`, enough for the JSON API and Chromium's `/json/list`.
fn http_get(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    http_request(addr, "GET", path, "")
}

/// A blocking request with a JSON body (none for an empty one).
fn http_request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Vec<u8>) {
    let mut stream = StdTcpStream::connect_timeout(&addr, STEP_TIMEOUT)
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    stream.set_read_timeout(Some(STEP_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(STEP_TIMEOUT)).unwrap();
    let content = if body.is_empty() {
        String::new()
    } else {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{content}Connection: close\r\n\r\n{body}"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("GET {path}: bad status line {status_line:?}"));
    let (mut length, mut chunked) = (None, false);
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).unwrap();
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        reader.read_exact(&mut body).unwrap();
    } else {
        reader.read_to_end(&mut body).unwrap();
    }
    (status, body)
}

fn get_json(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = http_get(addr, path);
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "GET {path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}"))
}

/// The connected validators' addresses, as `/api/validators` lists them.
fn validator_addresses(http: SocketAddr) -> Vec<String> {
    get_json(http, "/api/validators")
        .as_array()
        .expect("/api/validators is an array")
        .iter()
        .map(|v| v["address"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[derive(Debug)]
struct NewestBlock {
    index: u64,
    validator: String,
}

/// The tip, as `/api/chain` reports it.
fn newest_block(http: SocketAddr) -> NewestBlock {
    let height = get_json(http, "/api/stats")["height"].as_u64().unwrap();
    let page = get_json(http, &format!("/api/chain?from={height}&limit=1"));
    let block = &page["blocks"][0];
    NewestBlock {
        index: block["Index"].as_u64().expect("a block index"),
        validator: block["Validator"].as_str().unwrap_or_default().to_string(),
    }
}

// ---- Chromium ----------------------------------------------------------------------------------

fn find_chromium() -> Option<PathBuf> {
    let default = PathBuf::from("/usr/bin/chromium");
    if default.is_file() {
        return Some(default);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("chromium"))
        .find(|p| p.is_file())
}

/// A headless Chromium, killed when dropped (also when the test fails).
struct Browser {
    child: Child,
    /// Where DevTools listens: `127.0.0.1:PORT`.
    devtools: SocketAddr,
    /// The last lines Chromium wrote to stderr, for failure messages.
    stderr_tail: Arc<Mutex<Vec<String>>>,
    _profile: TempDir,
}

impl Browser {
    fn launch(exe: &Path) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(exe)
            .args(CHROMIUM_FLAGS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group, so `drop` can end the helpers (zygote, renderer, GPU) too.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", exe.display()));
        let stderr = child.stderr.take().unwrap();
        let stderr_tail = Arc::new(Mutex::new(Vec::new()));
        let (url_tx, url_rx) = std_mpsc::channel();
        // Read stderr to the end, so Chromium never blocks on a full pipe.
        let tail = stderr_tail.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = url_tx.send(url.trim().to_string());
                }
                let mut tail = tail.lock().unwrap();
                tail.push(line);
                if tail.len() > 20 {
                    tail.remove(0);
                }
            }
        });
        let mut browser = Browser {
            child,
            devtools: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr_tail,
            _profile: profile,
        };
        let url = url_rx.recv_timeout(STEP_TIMEOUT).unwrap_or_else(|_| {
            panic!(
                "Chromium printed no DevTools address within {STEP_TIMEOUT:?}; stderr:\n{}",
                browser.stderr()
            )
        });
        // ws://127.0.0.1:PORT/devtools/browser/ID
        let authority = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        browser.devtools = authority
            .parse()
            .unwrap_or_else(|_| panic!("unexpected DevTools address {url:?}"));
        browser
    }

    fn stderr(&self) -> String {
        self.stderr_tail.lock().unwrap().join("\n")
    }

    /// A DevTools session on the tab Chromium opened with `about:blank`.
    fn page(&self) -> Cdp {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let (_, body) = http_get(self.devtools, "/json/list");
            let targets: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let page = targets.as_array().and_then(|list| {
                list.iter()
                    .find(|t| t["type"] == "page")
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            });
            if let Some(url) = page {
                return Cdp::connect(self.devtools, url);
            }
            assert!(
                Instant::now() < deadline,
                "Chromium has no page target: {targets}\nstderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One Chrome DevTools Protocol connection: numbered commands, matching replies.
struct Cdp {
    socket: WebSocket<StdTcpStream>,
    next_id: u64,
}

impl Cdp {
    fn connect(addr: SocketAddr, url: &str) -> Cdp {
        let stream = StdTcpStream::connect_timeout(&addr, STEP_TIMEOUT).unwrap();
        // Reads time out now and then, so `call` can check its deadline.
        stream.set_read_timeout(Some(POLL)).unwrap();
        stream.set_write_timeout(Some(STEP_TIMEOUT)).unwrap();
        let (socket, _) = tungstenite::client(url, stream)
            .unwrap_or_else(|e| panic!("DevTools handshake with {url}: {e}"));
        Cdp { socket, next_id: 1 }
    }

    /// Sends a command and waits (bounded) for its result, skipping events.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({ "id": id, "method": method, "params": params });
        self.socket
            .send(Message::Text(request.to_string()))
            .unwrap_or_else(|e| panic!("sending {method}: {e}"));
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            assert!(
                Instant::now() < deadline,
                "{method}: no reply within {STEP_TIMEOUT:?}"
            );
            let text = match self.socket.read() {
                Ok(Message::Text(text)) => text,
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) => panic!("{method}: DevTools connection failed: {e}"),
            };
            let reply: Value = serde_json::from_str(&text).unwrap();
            if reply["id"] != id {
                continue;
            }
            if let Some(error) = reply.get("error") {
                panic!("{method} failed: {error}");
            }
            return reply["result"].clone();
        }
    }

    /// Evaluates `expression` in the page and returns its value.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("evaluating {expression}: {exception}");
        }
        result["result"]["value"].clone()
    }

    fn eval_string(&mut self, expression: &str) -> String {
        match self.eval(expression) {
            Value::String(s) => s,
            other => panic!("evaluating {expression}: expected a string, got {other}"),
        }
    }

    /// Saves a PNG of the whole page, not just the viewport.
    fn screenshot(&mut self, path: &Path) {
        let metrics = self.call("Page.getLayoutMetrics", json!({}));
        let size = &metrics["cssContentSize"];
        let clip = json!({
            "x": 0, "y": 0, "scale": 1,
            "width": size["width"].as_f64().unwrap_or(1280.0),
            "height": size["height"].as_f64().unwrap_or(900.0),
        });
        let shot = self.call(
            "Page.captureScreenshot",
            json!({ "format": "png", "clip": clip, "captureBeyondViewport": true }),
        );
        let png = decode_base64(shot["data"].as_str().expect("screenshot data"));
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}

/// What [`PAGE_STATE_JS`] reads from the page.
#[derive(Debug, serde::Deserialize)]
struct PageView {
    index: Option<String>,
    winner: Option<String>,
    height: Option<String>,
    bars: Vec<String>,
    validators: Option<String>,
    countdown: Option<String>,
    burned: Option<String>,
    activity: Option<String>,
    /// This round's entrants as the page lists them, in its order.
    pool: Vec<PoolRow>,
    /// The round's total entered stake, as its digits.
    pool_total: Option<String>,
    /// Slices in the odds bar.
    odds: usize,
    /// Any ledger part shown (none in tutorial mode).
    ledger: bool,
    marker: bool,
}

#[derive(Debug, serde::Deserialize)]
struct PoolRow {
    address: String,
    stake: String,
    chance: String,
}

/// Reads the page every [`POLL`] until `done` holds, failing after [`PAGE_TIMEOUT`].
fn poll_page(page: &mut Cdp, what: &str, mut done: impl FnMut(&PageView) -> bool) -> PageView {
    let deadline = Instant::now() + PAGE_TIMEOUT;
    loop {
        let view: PageView = serde_json::from_str(&page.eval_string(PAGE_STATE_JS)).unwrap();
        if done(&view) {
            return view;
        }
        assert!(
            Instant::now() < deadline,
            "the dashboard did not show {what} within {PAGE_TIMEOUT:?}; it shows {view:#?}"
        );
        std::thread::sleep(POLL);
    }
}

/// Evaluates `condition` every [`POLL`] until it is true, failing after [`STEP_TIMEOUT`].
fn poll_eval(page: &mut Cdp, what: &str, condition: &str) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    while page.eval(condition) != Value::Bool(true) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(POLL);
    }
}

/// Standard base64 (what DevTools sends screenshots in); panics on anything else.
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {:?}", c as char),
        }
    };
    let bytes: Vec<u8> = text.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &c)| n | value(c) << (18 - 6 * i));
        let produced = chunk.len() * 6 / 8;
        out.extend_from_slice(&n.to_be_bytes()[1..1 + produced]);
    }
    out
}
