//! Pure parsing of what a validator types: a line of bytes in, a stake or heart rate out.
//!
//! Each error's `Display` is the one line the user sees: what was expected and what arrived.

use std::fmt;

/// Largest heart rate accepted as a proposal.
pub const MAX_BPM: u32 = 300;

/// What arrived, quoted and shortened for echoing back on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Got(String);

impl Got {
    const MAX_CHARS: usize = 40;

    fn new(line: &[u8]) -> Got {
        let text = String::from_utf8_lossy(line);
        let mut shown: String = text.chars().take(Self::MAX_CHARS).collect();
        if text.chars().nth(Self::MAX_CHARS).is_some() {
            shown.push('…');
        }
        Got(shown)
    }
}

impl fmt::Display for Got {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// An answer to the balance prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StakeInput {
    /// A blank line: prompt again, no penalty.
    Empty,
    /// `watch`: receive announcements without staking.
    Watch,
    Stake(u64),
}

/// A rejected balance: re-prompt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StakeError {
    #[error("token balance must be a whole number from {min} to {max} in digits 0-9 (got {got})", max = u64::MAX)]
    NotANumber { got: Got, min: u64 },
    #[error("token balance must be at least {min} (got {got})")]
    TooSmall { got: Got, min: u64 },
    #[error("token balance must be at most {max} (got {got})", max = u64::MAX)]
    TooLarge { got: Got },
}

/// An answer to the BPM prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BpmInput {
    Empty,
    Bpm(u32),
}

/// A rejected heart rate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BpmError {
    /// Digits, but not a plausible heart rate: re-prompt, no penalty.
    #[error("BPM must be from 1 to {MAX_BPM} (got {got})")]
    OutOfRange { got: Got },
    /// Not a number at all: the tutorial's malicious validator, who gets slashed.
    #[error("{got} is not a heart rate (digits 0-9 only)")]
    Malformed { got: Got },
}

/// Digits only, so signs, decimals, exponents and spaces inside are all rejected.
/// `None` for a non-digit; `Some(None)` for digits whose value overflows `u64`.
fn parse_digits(s: &[u8]) -> Option<Option<u64>> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    }))
}

/// A reserved word: a command, never a stake or a heart rate, so never slashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCommand {
    /// Lists the commands.
    Help,
    /// Leave: stake withdrawn, connection closed with a goodbye line.
    Quit,
    /// This connection's stake, the round, the time left and its wins.
    Status,
    /// Stop validating (stake withdrawn) and stay as a watcher.
    Watch,
}

/// The exact lowercase words `help`, `quit`, `status` and `watch`, surrounding whitespace
/// ignored; `None` for anything else.
pub fn parse_command(line: &[u8]) -> Option<SessionCommand> {
    match line.trim_ascii() {
        b"help" => Some(SessionCommand::Help),
        b"quit" => Some(SessionCommand::Quit),
        b"status" => Some(SessionCommand::Status),
        b"watch" => Some(SessionCommand::Watch),
        _ => None,
    }
}

/// Ledger mode: `auth <address> <signature>`, single spaces or more, surrounding whitespace
/// ignored. Only the shape is checked here; the signature is checked by the caller.
///
/// # Errors
/// A one-line reason saying what the line should look like.
pub fn parse_auth(line: &[u8]) -> Result<(String, String), String> {
    let text = String::from_utf8_lossy(line.trim_ascii()).into_owned();
    let mut words = text.split_ascii_whitespace();
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some("auth"), Some(address), Some(signature), None) => {
            Ok((address.to_string(), signature.to_string()))
        }
        _ => Err(format!(
            "expected `auth <address> <signature>` (the signature over the challenge; `pos-lottery sign --key KEYFILE <challenge line>` makes this line), got {:?}",
            Got::new(line.trim_ascii()).0
        )),
    }
}

/// Ledger mode: a line starting with the word `transfer` is a transfer command
/// (`transfer <to> <amount> <nonce> <signature>`), never a stake or a heart rate. `None` for
/// other lines.
pub fn parse_transfer(line: &[u8]) -> Option<Result<(String, u64, u64, String), String>> {
    let text = String::from_utf8_lossy(line.trim_ascii()).into_owned();
    let mut words = text.split_ascii_whitespace();
    if words.next() != Some("transfer") {
        return None;
    }
    let usage = "expected `transfer <to> <amount> <nonce> <signature>`";
    let rest: Vec<&str> = words.collect();
    let [to, amount, nonce, signature] = rest.as_slice() else {
        return Some(Err(usage.to_string()));
    };
    let number = |what: &str, s: &str| match parse_digits(s.as_bytes()) {
        Some(Some(n)) => Ok(n),
        _ => Err(format!(
            "{what} {s:?} is not a whole number from 0 to 18446744073709551615; {usage}"
        )),
    };
    Some((|| {
        Ok((
            to.to_string(),
            number("amount", amount)?,
            number("nonce", nonce)?,
            signature.to_string(),
        ))
    })())
}

/// Ledger mode: `attest <index> <hash> <signature>` from a logged-in session; `None` when
/// the line is not an attestation at all (it does not start with the word `attest`).
pub fn parse_attest(line: &[u8]) -> Option<Result<(u64, String, String), String>> {
    let text = String::from_utf8_lossy(line.trim_ascii()).into_owned();
    let mut words = text.split_ascii_whitespace();
    if words.next() != Some("attest") {
        return None;
    }
    let usage = "expected `attest <block index> <block hash> <signature>`";
    let rest: Vec<&str> = words.collect();
    let [index, hash, signature] = rest.as_slice() else {
        return Some(Err(usage.to_string()));
    };
    let Some(Some(index)) = parse_digits(index.as_bytes()) else {
        return Some(Err(format!(
            "block index {index:?} is not a whole number from 0 to 18446744073709551615; {usage}"
        )));
    };
    Some(Ok((index, hash.to_string(), signature.to_string())))
}

/// Parses an answer to `Enter token balance:`, accepting `min..=u64::MAX`.
pub fn parse_stake(line: &[u8], min: u64) -> Result<StakeInput, StakeError> {
    let s = line.trim_ascii();
    if s.is_empty() {
        return Ok(StakeInput::Empty);
    }
    if s.eq_ignore_ascii_case(b"watch") {
        return Ok(StakeInput::Watch);
    }
    let got = || Got::new(s);
    match parse_digits(s) {
        None => Err(StakeError::NotANumber { got: got(), min }),
        Some(None) => Err(StakeError::TooLarge { got: got() }),
        Some(Some(n)) if n < min => Err(StakeError::TooSmall { got: got(), min }),
        Some(Some(n)) => Ok(StakeInput::Stake(n)),
    }
}

/// Parses an answer to `Enter a new BPM:`.
pub fn parse_bpm(line: &[u8]) -> Result<BpmInput, BpmError> {
    let s = line.trim_ascii();
    if s.is_empty() {
        return Ok(BpmInput::Empty);
    }
    match parse_digits(s) {
        None => Err(BpmError::Malformed { got: Got::new(s) }),
        Some(Some(n @ 1..=300)) => Ok(BpmInput::Bpm(n as u32)),
        Some(_) => Err(BpmError::OutOfRange { got: Got::new(s) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn stake_accepts_digits_in_range() {
        assert_eq!(parse_stake(b"100", 1), Ok(StakeInput::Stake(100)));
        assert_eq!(parse_stake(b"  0042 \r", 1), Ok(StakeInput::Stake(42)));
        assert_eq!(
            parse_stake(b"18446744073709551615", 1),
            Ok(StakeInput::Stake(u64::MAX))
        );
        assert_eq!(parse_stake(b"", 1), Ok(StakeInput::Empty));
        assert_eq!(parse_stake(b" \t ", 1), Ok(StakeInput::Empty));
        assert_eq!(parse_stake(b"watch", 1), Ok(StakeInput::Watch));
    }

    #[test]
    fn stake_rejects_everything_else_with_the_value_echoed() {
        for bad in ["abc", "-5", "+5", "1e3", "1.0", "1 2", "0x10"] {
            let err = parse_stake(bad.as_bytes(), 1).unwrap_err();
            assert!(matches!(err, StakeError::NotANumber { .. }), "{bad}");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        assert!(matches!(
            parse_stake(b"0", 1),
            Err(StakeError::TooSmall { .. })
        ));
        assert!(matches!(
            parse_stake(b"9", 10),
            Err(StakeError::TooSmall { .. })
        ));
        assert!(matches!(
            parse_stake(b"18446744073709551616", 1),
            Err(StakeError::TooLarge { .. })
        ));
        let err = parse_stake(b"\xff\xfe", 1).unwrap_err();
        assert!(matches!(err, StakeError::NotANumber { .. }));
        assert_eq!(
            parse_stake(b"abc", 1).unwrap_err().to_string(),
            "token balance must be a whole number from 1 to 18446744073709551615 in digits 0-9 (got \"abc\")"
        );
    }

    #[test]
    fn bpm_cases() {
        assert_eq!(parse_bpm(b"72"), Ok(BpmInput::Bpm(72)));
        assert_eq!(parse_bpm(b"007\r"), Ok(BpmInput::Bpm(7)));
        assert_eq!(parse_bpm(b"1"), Ok(BpmInput::Bpm(1)));
        assert_eq!(parse_bpm(b"300"), Ok(BpmInput::Bpm(300)));
        assert_eq!(parse_bpm(b""), Ok(BpmInput::Empty));
        for out in ["0", "301", "400", "1000000000000000000000000000000"] {
            assert!(
                matches!(parse_bpm(out.as_bytes()), Err(BpmError::OutOfRange { .. })),
                "{out}"
            );
        }
        for bad in ["abc", "-5", "+5", "72.0", "1e2", "7 2"] {
            assert!(
                matches!(parse_bpm(bad.as_bytes()), Err(BpmError::Malformed { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_bpm(b"\xc3\x28"),
            Err(BpmError::Malformed { .. })
        ));
    }

    #[test]
    fn long_input_is_echoed_shortened() {
        let long = "x".repeat(500);
        let msg = parse_bpm(long.as_bytes()).unwrap_err().to_string();
        assert!(msg.len() < 120, "{msg}");
        assert!(msg.contains('…'));
    }

    proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), min in any::<u64>()) {
            let _ = parse_stake(&bytes, min);
            let _ = parse_bpm(&bytes);
        }

        #[test]
        fn stake_round_trips(n in 1u64.., zeros in 0usize..3) {
            let text = format!("{}{n}", "0".repeat(zeros));
            prop_assert_eq!(parse_stake(text.as_bytes(), 1), Ok(StakeInput::Stake(n)));
        }

        #[test]
        fn bpm_round_trips(n in 1u32..=300) {
            prop_assert_eq!(parse_bpm(n.to_string().as_bytes()), Ok(BpmInput::Bpm(n)));
        }
    }
}
