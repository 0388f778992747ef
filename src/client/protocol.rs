//! Pure: the server's lines as a client reads them, and the codec that frames them. No
//! socket here, so a future `connect` subcommand can reuse it.

use std::io;

use bytes::{Buf, BytesMut};
use tokio_util::codec::Decoder;

use crate::session::{BALANCE_PROMPT, BPM_PROMPT, SHUTDOWN_LINE, STAKE_PROMPT};

/// Longest server line kept, chain broadcasts aside (those are skipped, whatever their length).
const MAX_REPLY_BYTES: usize = 4096;

/// One `winning validator:` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub index: u64,
    pub winner: String,
    pub bpm: u32,
    /// The winner's stake at the draw.
    pub stake: u64,
    /// Total stake of the round's candidates.
    pub total: u128,
    /// The block's `Hash` (64 lowercase hex); `None` from servers that do not announce it.
    pub hash: Option<String>,
}

/// A server line, as far as the bots care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Help,
    BalancePrompt,
    BpmPrompt,
    /// Ledger mode: `challenge <chain id> <nonce>`.
    Challenge {
        chain_id: String,
        nonce: String,
    },
    /// Ledger mode: `welcome <address>: balance B, available A, W wins, next nonce N`.
    Welcome {
        available: u64,
        next_nonce: u64,
    },
    /// Ledger mode's `Enter stake:`.
    StakePrompt,
    /// `auth failed: ...`.
    AuthFailed(String),
    /// `transfer accepted: <id> ...` / `transfer refused: <reason>`.
    TransferAccepted,
    TransferRefused(String),
    /// Ledger mode: `attest accepted: block <k>, <a> of <t> snapshot stake attested`.
    AttestAccepted {
        index: u64,
    },
    /// Ledger mode: `attest refused: <reason>` (blocks of the bootstrap epoch, for one).
    AttestRefused(String),
    /// Ledger mode, to every connection: `block <k> final: <p>% of stake attested`.
    Final {
        index: u64,
        /// As the server writes it: `75.0`.
        percent: String,
    },
    Validator {
        address: String,
        stake: u64,
    },
    Watching,
    Entered {
        round: u64,
    },
    Already {
        round: u64,
    },
    Announcement(Announcement),
    /// A whole-chain broadcast; its content is skipped, not kept.
    Chain,
    Missed(u64),
    Full,
    Shutdown,
    Other(String),
}

/// Parses `winning validator: <address> (block <i>, BPM <b>, stake <s> of <total>, hash <Hash>)`
/// and the older form without `, hash <Hash>`, which servers before the hash still send.
/// `None` for anything else, including a hash that is not 64 lowercase hex characters.
pub fn parse_announcement(line: &str) -> Option<Announcement> {
    let rest = line.strip_prefix("winning validator: ")?;
    let (winner, rest) = rest.split_once(" (block ")?;
    let (index, rest) = rest.split_once(", BPM ")?;
    let (bpm, rest) = rest.split_once(", stake ")?;
    let (stake, rest) = rest.strip_suffix(')')?.split_once(" of ")?;
    let (total, hash) = match rest.split_once(", hash ") {
        Some((total, hash)) if is_hash(hash) => (total, Some(hash.to_owned())),
        Some(_) => return None,
        None => (rest, None),
    };
    Some(Announcement {
        index: index.parse().ok()?,
        winner: winner.to_owned(),
        bpm: bpm.parse().ok()?,
        stake: stake.parse().ok()?,
        total: total.parse().ok()?,
        hash,
    })
}

/// `block <k> final: <p>% of stake attested`.
fn parse_final(line: &str) -> Option<Reply> {
    let (index, rest) = line.strip_prefix("block ")?.split_once(" final: ")?;
    let percent = rest.strip_suffix("% of stake attested")?;
    let (whole, tenths) = percent.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(tenths) || !digits(index) {
        return None;
    }
    Some(Reply::Final {
        index: index.parse().ok()?,
        percent: percent.to_owned(),
    })
}

/// A block `Hash` as the server writes it: 64 lowercase hex characters.
fn is_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Reads the number that opens `bytes`, stopping at the first non-digit.
fn leading_u64(bytes: &[u8]) -> Option<u64> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(bytes.get(..digits)?).ok()?.parse().ok()
}

/// Classifies one server line (without its line ending). The hot lines of a flood
/// (`Enter a new BPM:`, `already proposed ...`) are matched first and allocate nothing.
pub fn parse_reply(line: &[u8]) -> Reply {
    if line == BPM_PROMPT.as_bytes() {
        return Reply::BpmPrompt;
    }
    if let Some(rest) = line.strip_prefix(b"already proposed in round ") {
        if let Some(round) = leading_u64(rest) {
            return Reply::Already { round };
        }
    }
    if let Some(rest) = line.strip_prefix(b"BPM ") {
        let bpm_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if let Some(round) = rest
            .get(bpm_len..)
            .and_then(|r| r.strip_prefix(b" entered round "))
            .and_then(leading_u64)
        {
            return Reply::Entered { round };
        }
    }
    let text = String::from_utf8_lossy(line);
    if let Some(a) = parse_announcement(&text) {
        return Reply::Announcement(a);
    }
    if text == BALANCE_PROMPT {
        return Reply::BalancePrompt;
    }
    if text == STAKE_PROMPT {
        return Reply::StakePrompt;
    }
    if let Some(rest) = text.strip_prefix("challenge ") {
        if let Some((chain_id, nonce)) = rest.split_once(' ') {
            return Reply::Challenge {
                chain_id: chain_id.to_owned(),
                nonce: nonce.to_owned(),
            };
        }
    }
    if text.starts_with("welcome ") {
        let field = |name: &str| {
            text.split(", ")
                .find_map(|part| part.strip_prefix(name))
                .and_then(|n| n.trim().parse::<u64>().ok())
        };
        return Reply::Welcome {
            available: field("available ").unwrap_or(0),
            next_nonce: field("next nonce ").unwrap_or(1),
        };
    }
    if let Some(why) = text.strip_prefix("auth failed: ") {
        return Reply::AuthFailed(why.to_owned());
    }
    if text.starts_with("transfer accepted: ") {
        return Reply::TransferAccepted;
    }
    if let Some(why) = text.strip_prefix("transfer refused: ") {
        return Reply::TransferRefused(why.to_owned());
    }
    if let Some(rest) = text.strip_prefix("attest accepted: block ") {
        if let Some(index) = leading_u64(rest.as_bytes()) {
            return Reply::AttestAccepted { index };
        }
    }
    if let Some(why) = text.strip_prefix("attest refused: ") {
        return Reply::AttestRefused(why.to_owned());
    }
    if let Some(a) = parse_final(&text) {
        return a;
    }
    if let Some((address, stake)) = text
        .strip_prefix("you are validator ")
        .and_then(|r| r.split_once(" with stake "))
    {
        if let Ok(stake) = stake.parse() {
            return Reply::Validator {
                address: address.to_owned(),
                stake,
            };
        }
    }
    if let Some(n) = text
        .strip_prefix("missed ")
        .and_then(|r| leading_u64(r.as_bytes()))
    {
        if text.contains(" announcements") {
            return Reply::Missed(n);
        }
    }
    if text.starts_with("watching:") {
        return Reply::Watching;
    }
    if text.starts_with("pos-lottery:") || text.starts_with("pos-lottery (ledger mode):") {
        return Reply::Help;
    }
    if text == "server full" {
        return Reply::Full;
    }
    if text == SHUTDOWN_LINE {
        return Reply::Shutdown;
    }
    Reply::Other(text.into_owned())
}

/// Decodes server lines straight into [`Reply`]s. A line opening with `[` is a chain
/// broadcast, as long as the chain: it is dropped as it arrives instead of buffered, so a
/// bot's buffer stays at [`READ_BUFFER`](super::bot::READ_BUFFER) however long the chain grows.
#[derive(Debug, Default)]
pub struct ReplyCodec {
    skipping: bool,
    /// Bytes already searched for `\n`.
    scanned: usize,
}

impl Decoder for ReplyCodec {
    type Item = Reply;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<Reply>> {
        if self.skipping {
            return Ok(match buf.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    buf.advance(i + 1);
                    self.skipping = false;
                    Some(Reply::Chain)
                }
                None => {
                    buf.clear();
                    None
                }
            });
        }
        if buf.first() == Some(&b'[') {
            self.skipping = true;
            self.scanned = 0;
            return self.decode(buf);
        }
        match buf[self.scanned..].iter().position(|b| *b == b'\n') {
            Some(offset) => {
                let end = self.scanned + offset;
                self.scanned = 0;
                let line = &buf[..end];
                let reply = parse_reply(line.strip_suffix(b"\r").unwrap_or(line));
                buf.advance(end + 1);
                Ok(Some(reply))
            }
            None if buf.len() > MAX_REPLY_BYTES => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the server sent a line over {MAX_REPLY_BYTES} bytes"),
            )),
            None => {
                self.scanned = buf.len();
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> io::Result<Option<Reply>> {
        // An unterminated tail at EOF is dropped: every server line ends with `\n`.
        let reply = self.decode(buf)?;
        if reply.is_none() {
            buf.clear();
        }
        Ok(reply)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(crate) const HASH: &str =
        "3ae2ad9b95e9fb0240958df08cf837bdb2de92351b079b0fffa57f41f313bebb";

    pub(crate) fn announcement(index: u64, hash: Option<&str>) -> Announcement {
        Announcement {
            index,
            winner: "5f3a".into(),
            bpm: 72,
            stake: 300,
            total: 1200,
            hash: hash.map(str::to_owned),
        }
    }

    #[test]
    fn parses_announcements_with_and_without_the_block_hash() {
        let old = "winning validator: 5f3a (block 12, BPM 72, stake 300 of 1200)";
        assert_eq!(
            parse_reply(old.as_bytes()),
            Reply::Announcement(announcement(12, None))
        );
        let new =
            format!("winning validator: 5f3a (block 12, BPM 72, stake 300 of 1200, hash {HASH})");
        assert_eq!(
            parse_reply(new.as_bytes()),
            Reply::Announcement(announcement(12, Some(HASH)))
        );
        // A hash that is not 64 lowercase hex characters makes the line unrecognised.
        let upper = HASH.to_uppercase();
        for bad_hash in [
            &HASH[1..],
            &upper,
            &format!("{HASH}0"),
            "",
            &HASH.replace('a', "g"),
        ] {
            let line = format!(
                "winning validator: 5f3a (block 12, BPM 72, stake 300 of 1200, hash {bad_hash})"
            );
            assert_eq!(parse_announcement(&line), None, "{line}");
        }
        for bad in [
            format!("winning validator: 5f3a (block 12, BPM 72, stake 300 of 1200, hash {HASH}"),
            format!("winning validator: 5f3a (block 12, BPM 72, stake 300 of 1200 hash {HASH})"),
            format!(
                "winning validator: 5f3a (block 12, BPM 72, stake 300 of 1200, hash {HASH}, x)"
            ),
            "winning validator: 5f3a (block 12, BPM 72, stake 300 of 1200, hash )".to_owned(),
        ] {
            assert_eq!(parse_announcement(&bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_the_protocol_lines() {
        assert_eq!(
            parse_reply(b"BPM 72 entered round 7"),
            Reply::Entered { round: 7 }
        );
        assert_eq!(
            parse_reply(b"already proposed in round 9: only the first BPM of a round counts"),
            Reply::Already { round: 9 }
        );
        assert_eq!(
            parse_reply(b"you are validator abc123 with stake 40"),
            Reply::Validator {
                address: "abc123".into(),
                stake: 40
            }
        );
        assert_eq!(parse_reply(BPM_PROMPT.as_bytes()), Reply::BpmPrompt);
        assert_eq!(parse_reply(BALANCE_PROMPT.as_bytes()), Reply::BalancePrompt);
        assert_eq!(
            parse_reply(crate::session::HELP_LINE.as_bytes()),
            Reply::Help
        );
        assert_eq!(
            parse_reply(b"missed 3 announcements: you were not reading fast enough"),
            Reply::Missed(3)
        );
        assert_eq!(
            parse_reply(&crate::server::SERVER_FULL[..crate::server::SERVER_FULL.len() - 1]),
            Reply::Full
        );
        assert_eq!(parse_reply(SHUTDOWN_LINE.as_bytes()), Reply::Shutdown);
        assert_eq!(
            parse_reply(b"winning validator: x (block twelve, BPM 72, stake 1 of 2)"),
            Reply::Other("winning validator: x (block twelve, BPM 72, stake 1 of 2)".into())
        );
    }

    #[test]
    fn parses_the_attestation_lines() {
        assert_eq!(
            parse_reply(b"attest accepted: block 12, 300 of 1200 snapshot stake attested"),
            Reply::AttestAccepted { index: 12 }
        );
        assert_eq!(
            parse_reply(b"attest refused: block 3 is in epoch 0, which has no snapshot"),
            Reply::AttestRefused("block 3 is in epoch 0, which has no snapshot".into())
        );
        assert_eq!(
            parse_reply(b"block 12 final: 75.0% of stake attested"),
            Reply::Final {
                index: 12,
                percent: "75.0".into()
            }
        );
        assert_eq!(
            parse_reply(b"block 7 final: 100.0% of stake attested"),
            Reply::Final {
                index: 7,
                percent: "100.0".into()
            }
        );
        for other in [
            "block 12 final: 75% of stake attested",
            "block x final: 75.0% of stake attested",
            "block 12 final: 75.0% of stake",
            "attest accepted: block x",
            "attest accepted",
        ] {
            assert_eq!(
                parse_reply(other.as_bytes()),
                Reply::Other(other.into()),
                "{other}"
            );
        }
    }

    #[test]
    fn codec_skips_chain_broadcasts_without_buffering_them() {
        let mut codec = ReplyCodec::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let chain = format!("[{}]\n", "{\"Index\":1},".repeat(10_000));
        let input = format!("BPM 72 entered round 3\r\n{chain}{BPM_PROMPT}\n");
        let mut biggest = 0;
        for chunk in input.as_bytes().chunks(1000) {
            buf.extend_from_slice(chunk);
            biggest = biggest.max(buf.len());
            while let Some(reply) = codec.decode(&mut buf).unwrap() {
                out.push(reply);
            }
        }
        assert_eq!(
            out,
            vec![Reply::Entered { round: 3 }, Reply::Chain, Reply::BpmPrompt]
        );
        assert!(biggest <= 2000, "buffered {biggest} bytes");
        assert!(codec
            .decode(&mut BytesMut::from(&[b'x'; MAX_REPLY_BYTES + 1][..]))
            .is_err());
    }
}
