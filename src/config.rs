//! Settings: `.env`, then the environment, then flags (flags win), validated into [`Config`].
//!
//! The binary reads `.env` with dotenvy before clap parses, so clap's `env` attribute sees it.
//! Every value parser here returns a one-line reason, which the binary prints before exiting 2.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

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
}

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

/// A whole number, 0 allowed.
pub fn parse_u64(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .map_err(|_| format!("expected a whole number from 0 to {}, got {s:?}", u64::MAX))
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
}
