//! The simulate flags' own parsers: stake ranges, durations and connection rates.

use std::time::Duration;

use rand::Rng;

/// `--stake A..B` (inclusive) or `--stake N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StakeRange {
    pub low: u64,
    pub high: u64,
}

impl StakeRange {
    pub(super) fn pick(&self, rng: &mut impl Rng) -> u64 {
        rng.random_range(self.low..=self.high)
    }
}

/// Parses `1..1000` or `1..=1000` (both inclusive) or a single stake; stakes start at 1.
pub fn parse_stake_range(s: &str) -> Result<StakeRange, String> {
    let s = s.trim();
    let bad = || format!("expected a stake such as 100 or a range such as 1..1000, got {s:?}");
    let number = |t: &str| t.trim().parse::<u64>().map_err(|_| bad());
    let (low, high) = match s.split_once("..") {
        Some((a, b)) => (number(a)?, number(b.strip_prefix('=').unwrap_or(b))?),
        None => {
            let n = number(s)?;
            (n, n)
        }
    };
    if low == 0 {
        return Err(format!("stakes start at 1, got {s:?}"));
    }
    if low > high {
        return Err(format!("the range is empty: {low} > {high} in {s:?}"));
    }
    Ok(StakeRange { low, high })
}

/// Parses `2s`, `500ms`, `1.5m`, `1h`, `250us` or bare seconds (`0.5`); 0 is allowed.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let bad = || format!("expected a duration such as 2s, 500ms or 0.5, got {s:?}");
    let (number, unit_secs) = [
        ("ms", 1e-3),
        ("us", 1e-6),
        ("µs", 1e-6),
        ("s", 1.0),
        ("m", 60.0),
        ("h", 3600.0),
    ]
    .iter()
    .find_map(|(suffix, secs)| t.strip_suffix(suffix).map(|n| (n, *secs)))
    .unwrap_or((t, 1.0));
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    let secs = value * unit_secs;
    if !secs.is_finite() || secs < 0.0 || number.trim().starts_with('+') {
        return Err(bad());
    }
    if secs > 7.0 * 86_400.0 {
        return Err(format!("at most a week, got {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Like [`parse_duration`], but above zero.
pub fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err(format!("expected a duration above 0, got {s:?}")),
        d => Ok(d),
    }
}

pub(super) fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "expected connections per second above 0, got {s:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stake_ranges_are_inclusive_and_reject_nonsense() {
        assert_eq!(
            parse_stake_range("1..1000").unwrap(),
            StakeRange { low: 1, high: 1000 }
        );
        assert_eq!(
            parse_stake_range("5..=5").unwrap(),
            StakeRange { low: 5, high: 5 }
        );
        assert_eq!(
            parse_stake_range(" 250 ").unwrap(),
            StakeRange {
                low: 250,
                high: 250
            }
        );
        for bad in ["0..10", "10..1", "a..b", "", "..5", "5..", "-1..3", "0"] {
            assert!(parse_stake_range(bad).is_err(), "{bad}");
        }
        let range = parse_stake_range("3..4").unwrap();
        let mut rng = rand::rng();
        for _ in 0..100 {
            assert!((3..=4).contains(&range.pick(&mut rng)));
        }
    }

    #[test]
    fn durations_take_units_or_bare_seconds() {
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5m").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in [
            "",
            "s",
            "-1s",
            "abc",
            "2 parsecs",
            "NaN",
            "inf",
            "+2s",
            "8d",
            "1e9",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_positive_duration("0s").is_err());
        assert!(parse_positive_duration("10ms").is_ok());
    }
}
