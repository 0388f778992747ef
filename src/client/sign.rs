//! `pos-lottery sign`: answers a ledger server's login challenge by hand. Paste the
//! `challenge <chain id> <nonce>` line the server sent; paste back the `auth` line printed.
//!
//! The pure half (reading a challenge, making the `auth` line) is shared with `connect`,
//! which does the same without the copy and paste.

use std::path::PathBuf;

use ed25519_dalek::SigningKey;

use super::tool::{read_key_file, ToolError};
use crate::chain::is_hex64;
use crate::tx;

/// `pos-lottery sign`: the `auth` line for a pasted challenge.
#[derive(clap::Args, Debug)]
pub struct SignArgs {
    /// The account's key file
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The server's challenge line, pasted: `challenge <chain id> <nonce>` or just
    /// `<chain id> <nonce>`, quoted or not
    #[arg(
        required = true,
        num_args = 1..,
        allow_hyphen_values = true,
        value_name = "CHALLENGE"
    )]
    pub challenge: Vec<String>,
}

/// A login challenge: the chain it is for and the server's nonce, both 64 lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub chain_id: String,
    pub nonce: String,
}

impl Challenge {
    /// Reads `challenge <chain id> <nonce>`, or `<chain id> <nonce>` without the word, from
    /// whitespace-separated text (surrounding whitespace and a trailing `\r` are ignored).
    ///
    /// # Errors
    /// A one-line reason that echoes the text.
    pub fn parse(text: &str) -> Result<Challenge, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let words = match words.split_first() {
            Some((&"challenge", rest)) => rest,
            _ => &words[..],
        };
        let bad = |why: &str| {
            format!(
                "expected the server's line \"challenge <chain id> <nonce>\" ({why}), got {text:?}"
            )
        };
        let [chain_id, nonce] = words else {
            return Err(bad("two values after the word challenge"));
        };
        if !is_hex64(chain_id) || !is_hex64(nonce) {
            return Err(bad("each 64 lowercase hex characters"));
        }
        Ok(Challenge {
            chain_id: (*chain_id).to_owned(),
            nonce: (*nonce).to_owned(),
        })
    }

    /// The challenge in a line the server sent, if it is one: `challenge <chain id> <nonce>`
    /// exactly (the word is required here, so no other line is mistaken for one).
    pub fn from_server_line(line: &str) -> Option<Challenge> {
        if !line.starts_with("challenge ") {
            return None;
        }
        Challenge::parse(line).ok()
    }

    /// `auth <address> <signature>`: the reply that logs `key`'s account in.
    pub fn auth_line(&self, key: &SigningKey) -> String {
        format!(
            "auth {} {}",
            tx::address_of(key),
            tx::sign_auth(key, &self.chain_id, &self.nonce)
        )
    }
}

/// Prints the `auth` line for the pasted challenge.
///
/// # Errors
/// [`ToolError::Usage`] for a challenge that does not parse; [`ToolError::Failed`] for a
/// key file that cannot be read.
pub fn sign(args: &SignArgs) -> Result<(), ToolError> {
    let challenge = Challenge::parse(&args.challenge.join(" ")).map_err(ToolError::Usage)?;
    let key = read_key_file(&args.key)?;
    println!("{}", challenge.auth_line(&key));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b8e0c3ab4a5b1d8e4c0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6";
    const NONCE: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn a_challenge_reads_with_or_without_the_word() {
        let want = Challenge {
            chain_id: ID.into(),
            nonce: NONCE.into(),
        };
        for text in [
            format!("challenge {ID} {NONCE}"),
            format!("  challenge {ID}   {NONCE}\r"),
            format!("{ID} {NONCE}"),
        ] {
            assert_eq!(Challenge::parse(&text), Ok(want.clone()), "{text:?}");
        }
        assert_eq!(
            Challenge::from_server_line(&format!("challenge {ID} {NONCE}")),
            Some(want)
        );
        assert_eq!(Challenge::from_server_line(&format!("{ID} {NONCE}")), None);
    }

    #[test]
    fn anything_else_is_refused_with_the_text_echoed() {
        for text in [
            String::new(),
            "challenge".into(),
            format!("challenge {ID}"),
            format!("challenge {ID} {NONCE} extra"),
            format!("challenge {} {NONCE}", ID.to_uppercase()),
            format!("challenge {ID} {}", &NONCE[1..]),
            format!("auth {ID} {NONCE}"),
            "garbage".into(),
        ] {
            let err = Challenge::parse(&text).unwrap_err();
            assert!(err.starts_with("expected the server's line"), "{err}");
            assert!(err.contains(&format!("{text:?}")), "{err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn the_auth_line_verifies_against_the_auth_message() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let c = Challenge::parse(&format!("{ID} {NONCE}")).unwrap();
        let line = c.auth_line(&key);
        let words: Vec<&str> = line.split(' ').collect();
        assert_eq!(words.len(), 3);
        assert_eq!(words[0], "auth");
        assert_eq!(words[1], tx::address_of(&key));
        let message = tx::auth_message(ID, NONCE);
        assert_eq!(
            tx::check_signature(words[1], message.as_bytes(), words[2]),
            Ok(())
        );
    }
}
