//! Settings: `.env`, then the environment, then flags (flags win), validated into [`Config`].
//!
//! The binary reads `./.env` ([`parse_dotenv`]) before clap parses, so clap's `env` attribute
//! sees it. Every parser here returns a one-line reason, which the binary prints before
//! exiting 2.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};

/// Largest round or broadcast interval accepted: one day.
const MAX_SECS: f64 = 86_400.0;

/// Everything the server needs, already validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// TCP address validators connect to.
    pub addr: SocketAddr,
    /// Round length: every tick closes a round.
    pub round: Duration,
    /// How often every connection gets the whole chain; `None` turns it off.
    pub broadcast: Option<Duration>,
    pub min_stake: u64,
    /// Tokens added to a winner's stake after each win (saturating).
    pub block_reward: u64,
    /// Where `chain.jsonl` and `draws.jsonl` live.
    pub data_dir: PathBuf,
    /// Connections over this limit are told `server full` and closed.
    pub max_connections: usize,
    /// A connection that has not staked (nor typed `watch`) by then is closed.
    pub stake_timeout: Duration,
    /// A write to a client that makes no progress for this long closes that connection.
    pub write_timeout: Duration,
    /// The HTTP view; `None` when `HTTP_ADDR=off`.
    pub http_addr: Option<SocketAddr>,
    /// How many of the newest blocks the chain broadcast carries; `0` means the whole chain.
    pub broadcast_blocks: u64,
    /// Open HTTP connections (event streams included) beyond this are refused.
    pub http_max_connections: usize,
    /// An HTTP connection that is idle, or slow to send its request headers, for this long
    /// is closed (event streams are exempt once established: they send keep-alives).
    pub http_timeout: Duration,
    /// Reveals in each reveal chain a new v2 chain (or a rotation) makes.
    pub seed_chain_len: u64,
    /// `GENESIS`: ledger mode, with stake owned by the accounts of this genesis file.
    pub genesis: Option<crate::pool::GenesisSetting>,
    /// Ledger mode: `POST /api/transactions` a second, server-wide, with a burst of as
    /// many; beyond it a `429`. `0` means no limit.
    pub transfers_per_sec: u64,
    /// Ledger mode: rounds per epoch (each epoch draws with its stake snapshot).
    pub epoch_rounds: u64,
    /// Ledger mode: `FINALITY`, the share of snapshot stake a block's attesters must pass.
    pub finality: crate::attest::Fraction,
    /// Ledger mode: `ATTEST_REWARD`, minted to each attester of a final block.
    pub attest_reward: u64,
    /// Ledger mode: `DELEGATION_SLASH_PERCENT`, what a validator's slash burns of each
    /// delegation to it.
    pub delegation_slash_percent: u64,
}

/// `TRANSFERS_PER_SEC` unless set: well above what two cores verify and commit.
pub const DEFAULT_TRANSFERS_PER_SEC: u64 = 20_000;

impl Config {
    /// Defaults with the given data directory and both listeners on free loopback ports:
    /// what tests start from.
    pub fn for_tests(data_dir: PathBuf) -> Config {
        Config {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            round: Duration::from_secs(30),
            broadcast: Some(Duration::from_secs(60)),
            min_stake: 1,
            block_reward: 0,
            data_dir,
            max_connections: 10_000,
            stake_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(10),
            http_addr: None,
            broadcast_blocks: 100,
            http_max_connections: 256,
            http_timeout: Duration::from_secs(30),
            // Small, so making a chain costs tests nothing; rotation has its own test.
            seed_chain_len: 1024,
            genesis: None,
            transfers_per_sec: DEFAULT_TRANSFERS_PER_SEC,
            epoch_rounds: 10,
            finality: crate::attest::Fraction::DEFAULT,
            attest_reward: 0,
            delegation_slash_percent: 10,
        }
    }
}

/// `ADDR`: a bare port means `127.0.0.1:PORT`; otherwise `IP:PORT` (`0.0.0.0:9000` for all
/// interfaces).
pub fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    if let Some(port) = s
        .strip_prefix("localhost:")
        .and_then(|p| p.parse::<u16>().ok())
    {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    s.parse()
        .map_err(|_| format!("expected a port (9000) or IP:PORT (0.0.0.0:9000), got {s:?}"))
}

/// `HTTP_ADDR`: like [`parse_addr`], or `off`.
pub fn parse_http_addr(s: &str) -> Result<HttpAddr, String> {
    if s.trim().eq_ignore_ascii_case("off") {
        Ok(HttpAddr(None))
    } else {
        parse_addr(s).map(|a| HttpAddr(Some(a)))
    }
}

/// An optional HTTP address; its own type so clap does not treat it as an optional flag.
#[derive(Debug, Clone, Copy)]
pub struct HttpAddr(pub Option<SocketAddr>);

/// Seconds as a positive decimal (`30`, `0.25`), at most a day.
pub fn parse_positive_secs(s: &str) -> Result<Duration, String> {
    match parse_secs(s)? {
        d if d.is_zero() => Err(format!(
            "expected seconds above 0, such as 30 or 0.25, got {s:?}"
        )),
        d => Ok(d),
    }
}

/// Seconds as a decimal, where 0 means off.
pub fn parse_secs_or_off(s: &str) -> Result<Duration, String> {
    parse_secs(s)
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let bad = || format!("expected a number of seconds such as 30 or 0.25, got {s:?}");
    let secs: f64 = s.trim().parse().map_err(|_| bad())?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(bad());
    }
    if secs > MAX_SECS {
        return Err(format!("at most {MAX_SECS} seconds (a day), got {s:?}"));
    }
    let d = Duration::from_secs_f64(secs);
    if secs > 0.0 && d < Duration::from_millis(1) {
        return Err(format!("at least 0.001 seconds, got {s:?}"));
    }
    Ok(d)
}

/// A whole number, at least 1.
pub fn parse_at_least_one(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "expected a whole number from 1 to {}, got {s:?}",
            u64::MAX
        )),
    }
}

/// `MAX_CONNECTIONS`, `HTTP_MAX_CONNECTIONS`: a whole number from 1 to
/// [`Semaphore::MAX_PERMITS`], the most a tokio semaphore can hold (it panics above that).
pub fn parse_connection_limit(s: &str) -> Result<usize, String> {
    match s.trim().parse::<u128>() {
        Ok(n) if n >= 1 && n <= Semaphore::MAX_PERMITS as u128 => Ok(n as usize),
        _ => Err(format!(
            "expected a whole number from 1 to {}, got {s:?}",
            Semaphore::MAX_PERMITS
        )),
    }
}

/// `RUST_LOG` as a tracing `EnvFilter`: unset, empty or blank means `info`; a value that does
/// not parse is an error, not a silent fallback.
pub fn parse_log_filter(value: Option<&str>) -> Result<EnvFilter, String> {
    let value = value.unwrap_or_default();
    let builder = EnvFilter::builder().with_default_directive(LevelFilter::INFO.into());
    if value.trim().is_empty() {
        return Ok(builder.parse_lossy(""));
    }
    builder
        .parse(value)
        .map_err(|e| format!("invalid RUST_LOG {value:?}: {e}"))
}

/// The settings in a `.env` file (dotenvy's syntax: `KEY=VALUE`, `export`, quotes, `#`
/// comments, `${VAR}` substitution), in file order. The caller sets them in the environment.
///
/// # Errors
///
/// One line naming the 1-based line where the bad entry starts, e.g.
/// `line 2: expected KEY=VALUE (...), got "A B"`. dotenvy itself reports only a position
/// inside the entry (a byte or character index, depending on the mistake), so the lines are
/// counted here.
pub fn parse_dotenv(reader: impl Read) -> Result<Vec<(String, String)>, String> {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let reader = OneLineAtATime {
        inner: BufReader::new(reader),
        seen: Rc::clone(&seen),
    };
    let mut settings = Vec::new();
    // The number of the line dotenvy was on, and the text it had been given.
    let last_line =
        |seen: &[u8]| seen.split(|&b| b == b'\n').count() - usize::from(seen.ends_with(b"\n"));
    for item in dotenvy::Iter::new(reader) {
        let seen = seen.borrow();
        match item {
            Ok(kv) => settings.push(kv),
            // The entry (the whole line, or only its value) ends on the last line read; a
            // quoted value may span several lines.
            Err(dotenvy::Error::LineParse(entry, _)) => {
                let spans = entry.matches('\n').count() + usize::from(!entry.ends_with('\n'));
                let first = last_line(&seen).saturating_sub(spans.max(1)) + 1;
                let line = seen
                    .split(|&b| b == b'\n')
                    .nth(first - 1)
                    .unwrap_or_default();
                let shown: String = String::from_utf8_lossy(line)
                    .trim_end_matches('\r')
                    .chars()
                    .take(80)
                    .collect();
                return Err(format!(
                    "line {first}: expected KEY=VALUE (quote a value that holds spaces or #, and close every quote), got {shown:?}"
                ));
            }
            Err(e) => return Err(format!("line {}: {e}", last_line(&seen).max(1))),
        }
    }
    Ok(settings)
}

/// Hands dotenvy at most one line per `read` and keeps what it handed over, so `seen` ends
/// with the line dotenvy is on.
struct OneLineAtATime<R> {
    inner: BufReader<R>,
    seen: Rc<RefCell<Vec<u8>>>,
}

impl<R: Read> Read for OneLineAtATime<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let available = self.inner.fill_buf()?;
        let line_len = match available.iter().position(|&b| b == b'\n') {
            Some(i) => i + 1,
            None => available.len(),
        };
        let n = line_len.min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.seen.borrow_mut().extend_from_slice(&available[..n]);
        self.inner.consume(n);
        Ok(n)
    }
}

/// A whole number, 0 allowed.
pub fn parse_u64(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .map_err(|_| format!("expected a whole number from 0 to {}, got {s:?}", u64::MAX))
}

/// A percent: a whole number from 0 to 100.
pub fn parse_percent(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(p) if p <= 100 => Ok(p),
        _ => Err(format!(
            "expected a whole number of percent from 0 to 100, got {s:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_port_means_loopback() {
        assert_eq!(
            parse_addr("9000").unwrap(),
            "127.0.0.1:9000".parse().unwrap()
        );
        assert_eq!(
            parse_addr("0.0.0.0:9000").unwrap(),
            "0.0.0.0:9000".parse().unwrap()
        );
        assert_eq!(
            parse_addr("[::1]:9000").unwrap(),
            "[::1]:9000".parse().unwrap()
        );
        assert!(parse_addr("nine").is_err());
        assert!(parse_addr("70000").is_err());
        assert!(parse_http_addr("off").unwrap().0.is_none());
    }

    #[test]
    fn seconds_accept_fractions_and_reject_nonsense() {
        assert_eq!(
            parse_positive_secs("0.25").unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(parse_positive_secs("30").unwrap(), Duration::from_secs(30));
        for bad in ["0", "-1", "abc", "NaN", "inf", "1e9", "0.0000001"] {
            assert!(parse_positive_secs(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_secs_or_off("0").unwrap(), Duration::ZERO);
        assert!(parse_at_least_one("0").is_err());
        assert_eq!(parse_u64("0").unwrap(), 0);
    }

    #[test]
    fn connection_limits_stop_at_what_a_semaphore_can_hold() {
        assert_eq!(parse_connection_limit("1").unwrap(), 1);
        let max = Semaphore::MAX_PERMITS;
        assert_eq!(parse_connection_limit(&max.to_string()).unwrap(), max);
        // Semaphore::new panics above MAX_PERMITS: the parser must refuse before that.
        let _ = Semaphore::new(parse_connection_limit(&max.to_string()).unwrap());
        for bad in [
            (max as u128 + 1).to_string(),
            u64::MAX.to_string(),
            u128::MAX.to_string(),
            "0".into(),
            "-1".into(),
            "ten".into(),
            "".into(),
        ] {
            let err = parse_connection_limit(&bad).unwrap_err();
            assert!(err.contains(&max.to_string()), "{bad}: {err}");
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
    }

    #[test]
    fn an_empty_log_filter_means_info_and_a_bad_one_is_an_error() {
        for empty in [None, Some(""), Some("  ")] {
            assert_eq!(
                parse_log_filter(empty).unwrap().to_string(),
                "info",
                "{empty:?}"
            );
        }
        assert_eq!(
            parse_log_filter(Some("pos_lottery=debug"))
                .unwrap()
                .to_string(),
            "pos_lottery=debug"
        );
        assert!(parse_log_filter(Some("warn,pos_lottery::round=trace")).is_ok());
        for bad in ["foo=bar=baz", "info,[{"] {
            let err = parse_log_filter(Some(bad)).unwrap_err();
            assert!(
                err.starts_with(&format!("invalid RUST_LOG {bad:?}: ")),
                "{err}"
            );
        }
    }

    #[test]
    fn dotenv_reads_settings_in_order() {
        let text =
            "# settings\n\nADDR=9000\r\nexport ROUND_SECS=0.5\nNOTE=\"two\nlines\" # c\nLAST='x y'";
        assert_eq!(
            parse_dotenv(text.as_bytes()).unwrap(),
            [
                ("ADDR".into(), "9000".into()),
                ("ROUND_SECS".into(), "0.5".into()),
                ("NOTE".into(), "two\nlines".into()),
                ("LAST".into(), "x y".into()),
            ]
        );
        assert!(parse_dotenv(&b""[..]).unwrap().is_empty());
    }

    #[test]
    fn dotenv_errors_name_the_line_counting_from_one() {
        let line_of = |text: &str| {
            let err = parse_dotenv(text.as_bytes()).unwrap_err();
            assert_eq!(err.lines().count(), 1, "{err}");
            err.split(':').next().unwrap().to_string()
        };
        assert_eq!(line_of("HELLO WORLD=3\n"), "line 1");
        assert_eq!(line_of("ROUND_SECS=1\nHELLO WORLD=3\n"), "line 2");
        assert_eq!(line_of("# c\n\nA=1\r\nB=x y\r\nC=2\n"), "line 4");
        assert_eq!(line_of("A=1\nNO_EQUALS"), "line 2");
        // A quoted value over lines 2-3, then junk after the closing quote: the entry's start.
        assert_eq!(line_of("A=1\nB=\"x\ny\" z\nC=3\n"), "line 2");
        // An unclosed quote runs to the end of the file: named where it opens.
        assert_eq!(line_of("A=1\nB=\"open\nC=3\nD=4\n"), "line 2");
        assert_eq!(line_of("A=1\nB='open\nC=3"), "line 2");
        assert_eq!(line_of("A=1\nB=\\q\n"), "line 2");
        let err = parse_dotenv(&b"A=1\nB=\xff\n"[..]).unwrap_err();
        assert!(err.starts_with("line 2: "), "{err}");
        // The whole line is shown, even where dotenvy reports only the value.
        for (text, shown) in [
            ("A=1\nHELLO WORLD=3\n", r#"got "HELLO WORLD=3""#),
            ("A=1\r\nB=x y\r\n", r#"got "B=x y""#),
            ("A=1\nB=\"x\ny\" z\n", r#"got "B=\"x""#),
        ] {
            let err = parse_dotenv(text.as_bytes()).unwrap_err();
            assert!(err.ends_with(shown), "{err}");
        }
    }
}
