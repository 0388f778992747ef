//! Line framing for sessions: LF or CRLF terminated lines as raw bytes, bounded in length.
//!
//! tokio-util's `LinesCodec` treats invalid UTF-8 as a fatal stream error, but the protocol
//! must answer it (a bad balance is re-prompted, a bad BPM is slashed), so this codec hands
//! out bytes and leaves UTF-8 to `input`. Like `LinesCodec::new_with_max_length` it never
//! buffers more than one over-long line: it fails as soon as the limit is passed.

use bytes::{Bytes, BytesMut};
use tokio_util::codec::Decoder;

/// Longest accepted line, terminator excluded.
pub const MAX_LINE_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("line too long: at most {MAX_LINE_BYTES} bytes are accepted")]
    TooLong,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Decodes `\n`-terminated lines, dropping the `\n` and one `\r` before it.
#[derive(Debug, Default)]
pub struct LineCodec {
    /// Bytes already searched for `\n`, so a slowly arriving line is scanned once.
    scanned: usize,
}

impl Decoder for LineCodec {
    type Item = Bytes;
    type Error = LineError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, LineError> {
        match buf[self.scanned..].iter().position(|b| *b == b'\n') {
            Some(offset) => {
                let newline = self.scanned + offset;
                self.scanned = 0;
                let mut line = buf.split_to(newline + 1);
                line.truncate(newline);
                if line.last() == Some(&b'\r') {
                    line.truncate(newline - 1);
                }
                if line.len() > MAX_LINE_BYTES {
                    return Err(LineError::TooLong);
                }
                Ok(Some(line.freeze()))
            }
            None => {
                // One byte of slack for a `\r` that may still be followed by `\n`.
                if buf.len() > MAX_LINE_BYTES + 1 {
                    return Err(LineError::TooLong);
                }
                self.scanned = buf.len();
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, LineError> {
        // A last line without a terminator (`printf 100 | nc`) still counts.
        match self.decode(buf)? {
            Some(line) => Ok(Some(line)),
            None if buf.is_empty() => Ok(None),
            None => {
                self.scanned = 0;
                let mut line = buf.split();
                if line.last() == Some(&b'\r') {
                    line.truncate(line.len() - 1);
                }
                // The slack byte kept for a `\r` is no excuse at the end of input.
                if line.len() > MAX_LINE_BYTES {
                    return Err(LineError::TooLong);
                }
                Ok(Some(line.freeze()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> (Vec<Bytes>, Option<String>) {
        let mut codec = LineCodec::default();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(line)) => out.push(line),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }

    #[test]
    fn splits_lf_and_crlf_lines_keeping_invalid_utf8() {
        let (lines, err) = decode_all(b"100\r\n72\n\xff\r\npartial");
        assert_eq!(lines, vec![&b"100"[..], &b"72"[..], &b"\xff"[..]]);
        assert!(err.is_none());
    }

    #[test]
    fn rejects_an_over_long_line_without_waiting_for_its_end() {
        let (_, err) = decode_all(&[b'9'; 2000]);
        assert!(err.unwrap().contains("too long"));
        let mut exact = vec![b'9'; MAX_LINE_BYTES];
        exact.extend_from_slice(b"\r\n");
        let (lines, err) = decode_all(&exact);
        assert_eq!(lines.len(), 1);
        assert!(err.is_none());
        let mut over = vec![b'9'; MAX_LINE_BYTES + 1];
        over.push(b'\n');
        assert!(decode_all(&over).1.is_some());
    }

    #[test]
    fn the_limit_holds_for_a_last_line_without_newline() {
        let mut codec = LineCodec::default();
        let mut over = BytesMut::from(&[b'9'; MAX_LINE_BYTES + 1][..]);
        assert!(codec.decode(&mut over).unwrap().is_none());
        assert!(matches!(
            codec.decode_eof(&mut over),
            Err(LineError::TooLong)
        ));
        let mut exact = BytesMut::from(&[b'9'; MAX_LINE_BYTES][..]);
        let mut codec = LineCodec::default();
        assert_eq!(
            codec.decode_eof(&mut exact).unwrap().unwrap().len(),
            MAX_LINE_BYTES
        );
        let mut with_cr = BytesMut::from(&[b'9'; MAX_LINE_BYTES][..]);
        with_cr.extend_from_slice(b"\r");
        let mut codec = LineCodec::default();
        assert_eq!(
            codec.decode_eof(&mut with_cr).unwrap().unwrap().len(),
            MAX_LINE_BYTES
        );
    }

    #[test]
    fn incremental_arrival_finds_the_line() {
        let mut codec = LineCodec::default();
        let mut buf = BytesMut::new();
        for chunk in [&b"1"[..], b"2", b"3\r", b"\n"] {
            buf.extend_from_slice(chunk);
            if let Some(line) = codec.decode(&mut buf).unwrap() {
                assert_eq!(&line[..], b"123");
                return;
            }
        }
        panic!("no line decoded");
    }
}
