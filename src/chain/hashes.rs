//! The hash text of the chain's files: a draw's `EntriesHash`, and checking, comparing and
//! decoding 64-hex hashes without allocating.

use sha2::{Digest, Sha256};

/// `EntriesHash`: hex SHA-256 over each entry in draw order as `address \n stake \n`.
pub fn compute_entries_hash<A: AsRef<str>>(entries: &[(A, u64)]) -> String {
    hex::encode(compute_entries_hash_bytes(entries))
}

/// The raw digest behind [`compute_entries_hash`].
pub fn compute_entries_hash_bytes<A: AsRef<str>>(entries: &[(A, u64)]) -> [u8; 32] {
    // Fed in 64 KiB chunks: a million entries are one pass over ~85 MB, not 4M tiny updates.
    const CHUNK: usize = 64 * 1024;
    let mut h = Sha256::new();
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 128);
    for (address, stake) in entries {
        buf.extend_from_slice(address.as_ref().as_bytes());
        buf.push(b'\n');
        push_decimal(&mut buf, *stake);
        buf.push(b'\n');
        if buf.len() >= CHUNK {
            h.update(&buf);
            buf.clear();
        }
    }
    h.update(&buf);
    h.finalize().into()
}

/// Appends `n` in decimal without allocating.
pub(super) fn push_decimal(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i = i.saturating_sub(1);
        if let Some(d) = digits.get_mut(i) {
            *d = b'0'.saturating_add((n % 10) as u8);
        }
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(digits.get(i..).unwrap_or_default());
}

/// True for exactly 64 lowercase hex characters.
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// True when `hex` is exactly the lowercase hex of `raw`. Compares without decoding or
/// allocating: start-up and `verify` make this check several times per block.
pub fn hex_matches(hex: &str, raw: &[u8; 32]) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let hex = hex.as_bytes();
    hex.len() == 64
        && raw.iter().zip(hex.chunks_exact(2)).all(|(b, pair)| {
            pair.first() == DIGITS.get(usize::from(b >> 4))
                && pair.get(1) == DIGITS.get(usize::from(b & 0xf))
        })
}

/// The 32 bytes a 64-hex hash stands for; `None` if it is not hex of that length.
pub fn decode_hash(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::EMPTY_ENTRIES_HASH;

    #[test]
    fn entries_hash_of_nothing_is_sha256_of_empty_string() {
        let none: [(&str, u64); 0] = [];
        assert_eq!(compute_entries_hash(&none), EMPTY_ENTRIES_HASH);
        assert_eq!(
            compute_entries_hash(&[("alice", 50), ("bob", 30)]),
            hex::encode(Sha256::digest(b"alice\n50\nbob\n30\n"))
        );
        let edge = [("a", 0), ("b", 9), ("c", 10), ("d", u64::MAX)];
        assert_eq!(
            compute_entries_hash(&edge),
            hex::encode(Sha256::digest(
                b"a\n0\nb\n9\nc\n10\nd\n18446744073709551615\n"
            ))
        );
    }

    #[test]
    fn hex_matches_only_the_exact_lowercase_hex() {
        let raw: [u8; 32] = core::array::from_fn(|i| (i * 37) as u8);
        let hex = hex::encode(raw);
        assert!(hex_matches(&hex, &raw));
        assert!(!hex_matches(&hex.to_uppercase(), &raw));
        assert!(!hex_matches(&hex[..62], &raw));
        let mut other = raw;
        other[31] ^= 1;
        assert!(!hex_matches(&hex, &other));
    }
}
