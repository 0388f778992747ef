//! `slashes.jsonl`: one record per slash, and the audit that reads the records back and adds
//! up what was burned.

use std::io::BufRead;

use serde::{Deserialize, Serialize};

use super::{read_line, AuditError, Repair};
use crate::chain::is_hex64;

/// One line per slash, made durable before the slashed validator is told.
pub const SLASHES_FILE: &str = "slashes.jsonl";

/// One line of `slashes.jsonl`: who was slashed, in which round, and how much was burned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlashRecord {
    /// The round that was open when the validator was slashed.
    #[serde(rename = "Round")]
    pub round: u64,
    #[serde(rename = "Address")]
    pub address: String,
    #[serde(rename = "Burned")]
    pub burned: u64,
}

/// What `slashes.jsonl` adds up to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Burns {
    pub slashes: u64,
    pub burned: u128,
    pub repairs: Vec<Repair>,
}

/// Reads every slash record; a torn last line is a crash leftover (its validator was never
/// told), anything else unreadable is damage.
pub fn audit_slashes(mut r: impl BufRead) -> Result<Burns, AuditError> {
    let mut out = Burns::default();
    let mut offset = 0u64;
    let mut line_no = 0u64;
    let io_err =
        |e: std::io::Error| AuditError::new(SLASHES_FILE, None, format!("cannot read: {e}"));
    while let Some(line) = read_line(&mut r, &mut offset).map_err(io_err)? {
        line_no += 1;
        let parsed = serde_json::from_slice::<SlashRecord>(&line.bytes);
        let record = match parsed {
            Ok(record) if line.terminated => record,
            outcome => {
                if read_line(&mut r, &mut offset).map_err(io_err)?.is_none() {
                    out.repairs.push(Repair {
                        file: SLASHES_FILE,
                        offset: line.offset,
                        reason: if line.terminated {
                            "unparseable last line (torn write)"
                        } else {
                            "last line has no newline (torn write)"
                        },
                    });
                    break;
                }
                let why = match outcome {
                    Err(e) => format!("line {line_no} is not a valid slash record: {e}"),
                    Ok(_) => format!("line {line_no} has no newline"),
                };
                return Err(AuditError::new(SLASHES_FILE, None, why));
            }
        };
        if !is_hex64(&record.address) {
            return Err(AuditError::new(
                SLASHES_FILE,
                None,
                format!(
                    "line {line_no}: Address is {:?}, not 64 lowercase hex characters",
                    record.address
                ),
            ));
        }
        if record.burned == 0 {
            return Err(AuditError::new(
                SLASHES_FILE,
                None,
                format!("line {line_no}: Burned is 0; a slash burns a stake of at least 1"),
            ));
        }
        out.slashes += 1;
        out.burned += u128::from(record.burned);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(c: char) -> String {
        std::iter::repeat_n(c, 64).collect()
    }

    #[test]
    fn slashes_add_up_and_a_torn_last_line_is_a_leftover() {
        let a = addr('a');
        let text = format!(
            "{{\"Round\":1,\"Address\":\"{a}\",\"Burned\":5}}\n{{\"Round\":2,\"Address\":\"{a}\",\"Burned\":{}}}\n",
            u64::MAX
        );
        let b = audit_slashes(text.as_bytes()).unwrap();
        assert_eq!((b.slashes, b.burned), (2, 5 + u128::from(u64::MAX)));
        let torn = &text.as_bytes()[..text.len() - 3];
        let b = audit_slashes(torn).unwrap();
        assert_eq!((b.slashes, b.burned), (1, 5));
        assert_eq!(b.repairs.len(), 1);
        let zero = format!("{{\"Round\":1,\"Address\":\"{a}\",\"Burned\":0}}\n");
        assert!(audit_slashes(zero.as_bytes()).is_err());
        let middle = format!("{{\n{text}");
        assert!(audit_slashes(middle.as_bytes()).is_err());
    }
}
