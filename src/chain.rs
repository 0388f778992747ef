//! Blocks and the hash-linked chain: hashing, validation, append.
//!
//! Pure: a block's time and contents are passed in, never read from a clock. The hash covers
//! every other field, the validator and the draw's entries included, so neither the winner nor
//! the stakes it won against can be swapped without changing every later hash.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod hashes;
mod in_memory;
use hashes::push_decimal;
pub use hashes::{
    compute_entries_hash, compute_entries_hash_bytes, decode_hash, hex_matches, is_hex64,
};
pub use in_memory::Chain;

/// Smallest and largest heart rate a block may carry (the genesis block carries 0).
pub const BPM_RANGE: std::ops::RangeInclusive<u32> = 1..=300;

/// What the server signs for each v2 block, followed by the block's `Hash`.
pub const BLOCK_SIGNING_PREFIX: &str = "pos-lottery block v2 ";

/// SHA-256 of the empty string: the genesis block's `EntriesHash`.
pub const EMPTY_ENTRIES_HASH: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// One block. Field names and order are the wire and file format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    #[serde(rename = "Index")]
    pub index: u64,
    /// RFC 3339 UTC with `Z`; kept as text so the hash covers exactly what was written.
    #[serde(rename = "Timestamp")]
    pub timestamp: String,
    #[serde(rename = "BPM")]
    pub bpm: u32,
    #[serde(rename = "PrevHash")]
    pub prev_hash: String,
    #[serde(rename = "Validator")]
    pub validator: String,
    #[serde(rename = "Round")]
    pub round: u64,
    /// Commits the block to its draw's entries; see [`compute_entries_hash`].
    #[serde(rename = "EntriesHash")]
    pub entries_hash: String,
    /// v2 genesis only: `hex(s_0)`, the commitment to the server's reveal chain.
    #[serde(
        rename = "SeedCommit",
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub seed_commit: Option<String>,
    /// v2 genesis only: the server's Ed25519 public key, which signs every block.
    #[serde(
        rename = "ServerKey",
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub server_key: Option<String>,
    /// v2 blocks after genesis: `hex(s_k)`, the reveal that seeds this block's draw.
    #[serde(
        rename = "Reveal",
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub reveal: Option<String>,
    /// v2, on the block carrying a reveal chain's last reveal: the next chain's `hex(s'_0)`.
    #[serde(
        rename = "NextSeedCommit",
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_seed_commit: Option<String>,
    /// Ledger mode, genesis only: the hash of the genesis allocation (see [`crate::tx`]).
    #[serde(
        rename = "AccountsHash",
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub accounts_hash: Option<String>,
    /// Ledger mode, genesis only: the reward every block of the chain mints for its winner
    /// (`BLOCK_REWARD` when the chain was made), so `verify` checks each reward against it.
    #[serde(
        rename = "BlockReward",
        default,
        deserialize_with = "present_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub block_reward: Option<u64>,
    /// Ledger mode, every block after genesis: the hash of its transactions (see
    /// [`crate::tx::compute_tx_hash`]), which live in `transactions.jsonl`.
    #[serde(
        rename = "TxHash",
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub tx_hash: Option<String>,
    /// Ledger mode, on an epoch's first block: the hash of that epoch's stake snapshot (see
    /// [`crate::epoch::Snapshot::hash`]), which lives in `snapshots.jsonl`.
    #[serde(
        rename = "SnapshotHash",
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub snapshot_hash: Option<String>,
    #[serde(rename = "Hash")]
    pub hash: String,
    /// v2: the server's signature over `pos-lottery block v2 <Hash>`; not covered by `Hash`.
    #[serde(
        rename = "Signature",
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub signature: Option<String>,
}

/// A v2 field is absent or a string: `null` is refused, so no block has two spellings.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    String::deserialize(d).map(Some)
}

/// [`present`] for a number.
fn present_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    u64::deserialize(d).map(Some)
}

/// What is wrong with a block, named by its index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("block {expected}: Index is {index}, expected {expected}")]
    IndexMismatch { index: u64, expected: u64 },
    #[error("block {index}: PrevHash is {found:?}, but the Hash of block {prev} is {expected}")]
    PrevHashMismatch {
        index: u64,
        prev: u64,
        found: String,
        expected: String,
    },
    #[error("block {index}: Hash is {found}, but its fields hash to {computed}")]
    HashMismatch {
        index: u64,
        found: String,
        computed: String,
    },
    #[error("block {index}: Round {round} does not follow Round {prev_round} of the block before")]
    RoundNotIncreasing {
        index: u64,
        round: u64,
        prev_round: u64,
    },
    #[error("block {index}: BPM {bpm} is outside 1-300")]
    BpmOutOfRange { index: u64, bpm: u32 },
    #[error("block {index}: {field} is {found:?}, not 64 lowercase hex characters")]
    NotHex {
        index: u64,
        field: &'static str,
        found: String,
    },
    #[error("block {index}: Timestamp {timestamp:?} is not RFC 3339 UTC ending in Z")]
    BadTimestamp { index: u64, timestamp: String },
    #[error("block 0: not a genesis block ({what})")]
    BadGenesis { what: String },
    /// A v2 field missing where the chain's version needs it, or present where it must not be.
    #[error("block {index}: {what}")]
    Version { index: u64, what: String },
    #[error("block {index}: Reveal is {found}; its SHA-256 is {hashed}, but it must be {expected} (the {source_field} of block {prev})")]
    RevealMismatch {
        index: u64,
        found: String,
        hashed: String,
        expected: String,
        source_field: &'static str,
        prev: u64,
    },
    #[error("the chain is empty: it has no genesis block")]
    Empty,
}

impl Block {
    /// The genesis block: index 0, BPM 0, no predecessor, no validator, round 0.
    pub fn genesis(timestamp: String) -> Block {
        Block::seal(
            0,
            timestamp,
            0,
            String::new(),
            String::new(),
            0,
            EMPTY_ENTRIES_HASH.into(),
        )
    }

    /// The block that follows `tip`, carrying the winner's candidate.
    pub fn next(
        tip: &Block,
        timestamp: String,
        bpm: u32,
        validator: String,
        round: u64,
        entries_hash: String,
    ) -> Block {
        Block::seal(
            tip.index.saturating_add(1),
            timestamp,
            bpm,
            tip.hash.clone(),
            validator,
            round,
            entries_hash,
        )
    }

    fn seal(
        index: u64,
        timestamp: String,
        bpm: u32,
        prev_hash: String,
        validator: String,
        round: u64,
        entries_hash: String,
    ) -> Block {
        let mut block = Block {
            index,
            timestamp,
            bpm,
            prev_hash,
            validator,
            round,
            entries_hash,
            seed_commit: None,
            server_key: None,
            reveal: None,
            next_seed_commit: None,
            accounts_hash: None,
            block_reward: None,
            tx_hash: None,
            snapshot_hash: None,
            hash: String::new(),
            signature: None,
        };
        block.hash = block.compute_hash();
        block
    }

    /// A v2 genesis block: committed to the reveal chain `seed_commit` and to the server's
    /// public key. Unsigned: see [`Block::sign_with`].
    pub fn genesis_v2(timestamp: String, seed_commit: [u8; 32], server_key: [u8; 32]) -> Block {
        let mut block = Block::genesis(timestamp);
        block.seed_commit = Some(hex::encode(seed_commit));
        block.server_key = Some(hex::encode(server_key));
        block.hash = block.compute_hash();
        block
    }

    /// Adds the v2 fields of a block after genesis (its reveal, and on a rotation the next
    /// reveal chain's commitment) and hashes it again. Unsigned: see [`Block::sign_with`].
    pub fn with_reveal(mut self, reveal: [u8; 32], next_seed_commit: Option<[u8; 32]>) -> Block {
        self.reveal = Some(hex::encode(reveal));
        self.next_seed_commit = next_seed_commit.map(hex::encode);
        self.hash = self.compute_hash();
        self
    }

    /// A ledger-mode genesis: v2, and committed to the genesis allocation's `accounts_hash`
    /// and to the chain's `block_reward`.
    pub fn with_accounts_hash(mut self, accounts_hash: [u8; 32], block_reward: u64) -> Block {
        self.accounts_hash = Some(hex::encode(accounts_hash));
        self.block_reward = Some(block_reward);
        self.hash = self.compute_hash();
        self
    }

    /// Commits a ledger-mode block to its transactions (see [`crate::tx::compute_tx_hash`]).
    pub fn with_tx_hash(mut self, tx_hash: [u8; 32]) -> Block {
        self.tx_hash = Some(hex::encode(tx_hash));
        self.hash = self.compute_hash();
        self
    }

    /// Commits the first block of an epoch to the epoch's stake snapshot.
    pub fn with_snapshot_hash(mut self, snapshot_hash: [u8; 32]) -> Block {
        self.snapshot_hash = Some(hex::encode(snapshot_hash));
        self.hash = self.compute_hash();
        self
    }

    /// True for a block of a ledger-mode chain (its genesis has `AccountsHash`, every later
    /// block a `TxHash`).
    pub fn is_ledger(&self) -> bool {
        self.accounts_hash.is_some() || self.tx_hash.is_some()
    }

    /// True for a block of a pos-lottery-v2 chain.
    pub fn is_v2(&self) -> bool {
        self.seed_commit.is_some() || self.reveal.is_some()
    }

    /// What the server signs: `pos-lottery block v2 <Hash>`.
    pub fn signing_message(&self) -> Vec<u8> {
        format!("{BLOCK_SIGNING_PREFIX}{}", self.hash).into_bytes()
    }

    /// Signs the block with the server's key (v2).
    pub fn sign_with(mut self, key: &ed25519_dalek::SigningKey) -> Block {
        use ed25519_dalek::Signer;
        let signature = key.sign(&self.signing_message());
        self.signature = Some(hex::encode(signature.to_bytes()));
        self
    }

    /// The raw 32 bytes of `Reveal`, when it is 64 hex characters.
    pub fn reveal_bytes(&self) -> Option<[u8; 32]> {
        self.reveal.as_deref().and_then(decode_hash)
    }

    /// What the next block's reveal must hash to (v2): this block's `NextSeedCommit` when it
    /// starts a rotation, else its `Reveal`, else (genesis) its `SeedCommit`.
    pub fn reveal_commitment(&self) -> Option<[u8; 32]> {
        self.next_seed_commit
            .as_deref()
            .or(self.reveal.as_deref())
            .or(self.seed_commit.as_deref())
            .and_then(decode_hash)
    }

    /// Hex SHA-256 over every field but `Hash`, in order, each as text followed by `\n`.
    pub fn compute_hash(&self) -> String {
        hex::encode(self.compute_hash_bytes())
    }

    /// The raw digest behind [`Block::compute_hash`]; checks compare digests, not hex.
    pub fn compute_hash_bytes(&self) -> [u8; 32] {
        let mut text = Vec::with_capacity(256);
        push_decimal(&mut text, self.index);
        text.push(b'\n');
        for (i, field) in [
            &self.timestamp,
            &self.prev_hash,
            &self.validator,
            &self.entries_hash,
        ]
        .into_iter()
        .enumerate()
        {
            text.extend_from_slice(field.as_bytes());
            text.push(b'\n');
            // BPM follows Timestamp, Round follows Validator: the published field order.
            if i == 0 {
                push_decimal(&mut text, u64::from(self.bpm));
                text.push(b'\n');
            } else if i == 2 {
                push_decimal(&mut text, self.round);
                text.push(b'\n');
            }
        }
        // v2 and ledger fields, when present, in their published order (`BlockReward`, in
        // decimal, right after `AccountsHash`); a v1 block has none, so its hash is exactly the
        // v1 rule.
        let push = |text: &mut Vec<u8>, field: &Option<String>| {
            if let Some(f) = field {
                text.extend_from_slice(f.as_bytes());
                text.push(b'\n');
            }
        };
        for field in [
            &self.seed_commit,
            &self.server_key,
            &self.reveal,
            &self.next_seed_commit,
            &self.accounts_hash,
        ] {
            push(&mut text, field);
        }
        if let Some(reward) = self.block_reward {
            push_decimal(&mut text, reward);
            text.push(b'\n');
        }
        push(&mut text, &self.tx_hash);
        push(&mut text, &self.snapshot_hash);
        Sha256::digest(&text).into()
    }

    /// The raw 32 bytes of `Hash`, the draw's input. `None` if it is not 64 hex characters.
    pub fn hash_bytes(&self) -> Option<[u8; 32]> {
        decode_hash(&self.hash)
    }

    /// Checks this block on its own: hash, fields, and (for index 0) the genesis shape.
    pub fn validate_alone(&self) -> Result<(), ChainError> {
        let index = self.index;
        if chrono::DateTime::parse_from_rfc3339(&self.timestamp).is_err()
            || !self.timestamp.ends_with('Z')
        {
            return Err(ChainError::BadTimestamp {
                index,
                timestamp: self.timestamp.clone(),
            });
        }
        if !is_hex64(&self.entries_hash) {
            return Err(ChainError::NotHex {
                index,
                field: "EntriesHash",
                found: self.entries_hash.clone(),
            });
        }
        if !is_hex64(&self.hash) {
            return Err(ChainError::NotHex {
                index,
                field: "Hash",
                found: self.hash.clone(),
            });
        }
        for (field, value) in [
            ("SeedCommit", &self.seed_commit),
            ("ServerKey", &self.server_key),
            ("Reveal", &self.reveal),
            ("NextSeedCommit", &self.next_seed_commit),
            ("AccountsHash", &self.accounts_hash),
            ("TxHash", &self.tx_hash),
            ("SnapshotHash", &self.snapshot_hash),
        ] {
            if let Some(v) = value {
                if !is_hex64(v) {
                    return Err(ChainError::NotHex {
                        index,
                        field,
                        found: v.clone(),
                    });
                }
            }
        }
        if let Some(sig) = &self.signature {
            if sig.len() != 128 || !sig.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(ChainError::Version {
                    index,
                    what: format!("Signature is {sig:?}, not 128 lowercase hex characters"),
                });
            }
        }
        let v2 = self.seed_commit.is_some() || self.server_key.is_some() || self.reveal.is_some();
        let misplaced = if index == 0 {
            if self.reveal.is_some() || self.next_seed_commit.is_some() {
                Some("a genesis block carries no Reveal or NextSeedCommit")
            } else if v2 && (self.seed_commit.is_none() || self.server_key.is_none()) {
                Some("a v2 genesis block carries both SeedCommit and ServerKey")
            } else {
                None
            }
        } else if self.seed_commit.is_some() || self.server_key.is_some() {
            Some("only the genesis block carries SeedCommit and ServerKey")
        } else {
            None
        };
        let misplaced = misplaced.or(if index == 0 && self.tx_hash.is_some() {
            Some("a genesis block carries no TxHash")
        } else if self.snapshot_hash.is_some() && (index == 0 || self.tx_hash.is_none()) {
            Some("only a ledger-mode block after genesis carries SnapshotHash")
        } else if index > 0 && (self.accounts_hash.is_some() || self.block_reward.is_some()) {
            Some("only the genesis block carries AccountsHash and BlockReward")
        } else if index == 0 && self.accounts_hash.is_some() != self.block_reward.is_some() {
            Some("a ledger-mode genesis block carries both AccountsHash and BlockReward")
        } else if self.is_ledger() && !v2 {
            Some("a ledger-mode block is a v2 block, but this one has no SeedCommit or Reveal")
        } else {
            None
        });
        let misplaced = misplaced.or(if v2 && self.signature.is_none() {
            Some("a v2 block is signed, but this one has no Signature")
        } else if !v2 && (self.signature.is_some() || self.next_seed_commit.is_some()) {
            Some("a v1 block carries no Signature or NextSeedCommit")
        } else {
            None
        });
        if let Some(what) = misplaced {
            return Err(ChainError::Version {
                index,
                what: what.to_string(),
            });
        }
        if index == 0 {
            let what = if self.bpm != 0 {
                Some(format!("BPM is {}, expected 0", self.bpm))
            } else if !self.prev_hash.is_empty() {
                Some(format!("PrevHash is {:?}, expected \"\"", self.prev_hash))
            } else if !self.validator.is_empty() {
                Some(format!("Validator is {:?}, expected \"\"", self.validator))
            } else if self.round != 0 {
                Some(format!("Round is {}, expected 0", self.round))
            } else if self.entries_hash != EMPTY_ENTRIES_HASH {
                Some(format!(
                    "EntriesHash is {}, expected the hash of no entries {EMPTY_ENTRIES_HASH}",
                    self.entries_hash
                ))
            } else {
                None
            };
            if let Some(what) = what {
                return Err(ChainError::BadGenesis { what });
            }
        } else {
            if !BPM_RANGE.contains(&self.bpm) {
                return Err(ChainError::BpmOutOfRange {
                    index,
                    bpm: self.bpm,
                });
            }
            if !is_hex64(&self.validator) {
                return Err(ChainError::NotHex {
                    index,
                    field: "Validator",
                    found: self.validator.clone(),
                });
            }
        }
        let computed = self.compute_hash_bytes();
        if !hex_matches(&self.hash, &computed) {
            return Err(ChainError::HashMismatch {
                index,
                found: self.hash.clone(),
                computed: hex::encode(computed),
            });
        }
        Ok(())
    }

    /// Checks that this block validly follows `prev`, and is valid on its own.
    pub fn validate_after(&self, prev: &Block) -> Result<(), ChainError> {
        let index = self.index;
        let expected = prev.index.saturating_add(1);
        if index != expected {
            return Err(ChainError::IndexMismatch { index, expected });
        }
        if self.prev_hash != prev.hash {
            return Err(ChainError::PrevHashMismatch {
                index,
                prev: prev.index,
                found: self.prev_hash.clone(),
                expected: prev.hash.clone(),
            });
        }
        if self.round <= prev.round {
            return Err(ChainError::RoundNotIncreasing {
                index,
                round: self.round,
                prev_round: prev.round,
            });
        }
        self.validate_alone()?;
        // A chain keeps the mode its genesis block gave it.
        if prev.is_ledger() != self.tx_hash.is_some() {
            return Err(ChainError::Version {
                index,
                what: if prev.is_ledger() {
                    "no TxHash in a ledger-mode chain (its genesis block has an AccountsHash)"
                } else {
                    "TxHash in a tutorial-mode chain (its genesis block has no AccountsHash)"
                }
                .into(),
            });
        }
        // A chain keeps the version its genesis block gave it.
        match (prev.is_v2(), self.reveal.as_deref()) {
            (false, None) => Ok(()),
            (false, Some(_)) => Err(ChainError::Version {
                index,
                what: "Reveal in a v1 chain (its genesis block has no SeedCommit)".into(),
            }),
            (true, None) => Err(ChainError::Version {
                index,
                what: "no Reveal in a v2 chain (its genesis block has a SeedCommit)".into(),
            }),
            (true, Some(reveal)) => {
                let (expected, source_field) = match (&prev.next_seed_commit, &prev.reveal) {
                    (Some(c), _) => (c, "NextSeedCommit"),
                    (None, Some(r)) => (r, "Reveal"),
                    (None, None) => (
                        prev.seed_commit.as_ref().unwrap_or(&prev.hash),
                        "SeedCommit",
                    ),
                };
                let raw = decode_hash(reveal).unwrap_or_default();
                let hashed: [u8; 32] = Sha256::digest(raw).into();
                if hex_matches(expected, &hashed) {
                    Ok(())
                } else {
                    Err(ChainError::RevealMismatch {
                        index,
                        found: reveal.to_string(),
                        hashed: hex::encode(hashed),
                        expected: expected.clone(),
                        source_field,
                        prev: prev.index,
                    })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: &str = "2026-01-01T00:00:00.000Z";

    fn addr(c: char) -> String {
        std::iter::repeat_n(c, 64).collect()
    }

    fn three_blocks() -> Chain {
        let mut chain = Chain::new(Block::genesis(T0.into())).unwrap();
        let e1 = compute_entries_hash(&[(addr('a'), 10)]);
        let b1 = Block::next(
            chain.tip(),
            "2026-01-01T00:00:30.000Z".into(),
            72,
            addr('a'),
            1,
            e1,
        );
        chain.append(b1).unwrap();
        let e2 = compute_entries_hash(&[(addr('a'), 10), (addr('b'), 5)]);
        let b2 = Block::next(
            chain.tip(),
            "2026-01-01T00:01:00.000Z".into(),
            80,
            addr('b'),
            2,
            e2,
        );
        chain.append(b2).unwrap();
        chain
    }

    #[test]
    fn three_block_chain_matches_hand_computed_hashes() {
        // Hashes computed independently with Python's hashlib (tests/vectors/chain.json).
        let chain = three_blocks();
        let hashes: Vec<&str> = chain.blocks().iter().map(|b| b.hash.as_str()).collect();
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../tests/vectors/chain.json")).unwrap();
        let expected: Vec<Block> = serde_json::from_value(vectors["blocks"].clone()).unwrap();
        assert_eq!(chain.blocks(), &expected[..]);
        assert_eq!(hashes.len(), 3);
        chain.verify().unwrap();
    }

    #[test]
    fn multi_digit_index_is_hashed_as_all_its_digits() {
        // The Go original hashed string(Index), a single rune: index 10 became "\n".
        let mut b = Block::genesis(T0.into());
        b.index = 10;
        b.bpm = 72;
        b.round = 12;
        let text = format!("10\n{T0}\n72\n\n\n12\n{EMPTY_ENTRIES_HASH}\n");
        assert_eq!(
            b.compute_hash(),
            hex::encode(Sha256::digest(text.as_bytes()))
        );
    }

    #[test]
    fn swapping_the_validator_breaks_the_hash() {
        let chain = three_blocks();
        let mut b = chain.blocks()[1].clone();
        b.validator = addr('c');
        assert!(matches!(
            b.validate_alone(),
            Err(ChainError::HashMismatch { index: 1, .. })
        ));
    }

    #[test]
    fn append_rejects_bad_links_and_leaves_the_chain_unchanged() {
        let mut chain = three_blocks();
        let tip = chain.tip().clone();
        let good = Block::next(&tip, T0.into(), 70, addr('a'), 3, EMPTY_ENTRIES_HASH.into());

        let mut wrong_prev = good.clone();
        wrong_prev.prev_hash = addr('0');
        wrong_prev.hash = wrong_prev.compute_hash();
        let err = chain.append(wrong_prev).unwrap_err();
        assert!(
            matches!(&err, ChainError::PrevHashMismatch { index: 3, prev: 2, found, expected }
                if *found == addr('0') && *expected == tip.hash),
            "{err:?}"
        );
        // The message says what was found and what was expected.
        assert!(err.to_string().contains(&tip.hash), "{err}");

        let same_round = Block::next(&tip, T0.into(), 70, addr('a'), 2, EMPTY_ENTRIES_HASH.into());
        assert!(matches!(
            chain.append(same_round),
            Err(ChainError::RoundNotIncreasing { .. })
        ));

        let bad_bpm = Block::next(
            &tip,
            T0.into(),
            301,
            addr('a'),
            3,
            EMPTY_ENTRIES_HASH.into(),
        );
        assert_eq!(
            chain.append(bad_bpm),
            Err(ChainError::BpmOutOfRange { index: 3, bpm: 301 })
        );

        let mut skipped = good.clone();
        skipped.index = 4;
        skipped.hash = skipped.compute_hash();
        assert_eq!(
            chain.append(skipped),
            Err(ChainError::IndexMismatch {
                index: 4,
                expected: 3
            })
        );

        let mut bad_time = good.clone();
        bad_time.timestamp = "yesterday".into();
        bad_time.hash = bad_time.compute_hash();
        assert!(matches!(
            chain.append(bad_time),
            Err(ChainError::BadTimestamp { .. })
        ));

        assert_eq!(chain.len(), 3);
        chain.append(good).unwrap();
        assert_eq!(chain.len(), 4);
    }

    #[test]
    fn genesis_must_have_the_genesis_shape() {
        let mut g = Block::genesis(T0.into());
        g.bpm = 5;
        g.hash = g.compute_hash();
        assert!(matches!(Chain::new(g), Err(ChainError::BadGenesis { .. })));
    }

    #[test]
    fn a_null_v2_field_is_refused() {
        let line = serde_json::to_string(&Block::genesis(T0.into())).unwrap();
        let with_null = line.replace(",\"Hash\"", ",\"NextSeedCommit\":null,\"Hash\"");
        assert!(serde_json::from_str::<Block>(&with_null).is_err());
        assert!(serde_json::from_str::<Block>(&line).is_ok());
    }

    #[test]
    fn json_uses_the_published_field_names_in_order() {
        let json = serde_json::to_string(&Block::genesis(T0.into())).unwrap();
        let keys = [
            "Index",
            "Timestamp",
            "BPM",
            "PrevHash",
            "Validator",
            "Round",
            "EntriesHash",
            "Hash",
        ];
        let mut last = 0;
        for key in keys {
            let at = json.find(&format!("\"{key}\"")).unwrap();
            assert!(at >= last, "{key} out of order in {json}");
            last = at;
        }
    }

    proptest! {
        #[test]
        fn verify_holds_after_any_appends(bpms in proptest::collection::vec(1u32..=300, 0..30)) {
            let mut chain = Chain::new(Block::genesis(T0.into())).unwrap();
            for (i, bpm) in bpms.iter().enumerate() {
                let round = (i as u64 + 1) * 2;
                let b = Block::next(chain.tip(), T0.into(), *bpm, addr('f'), round, addr('e'));
                chain.append(b).unwrap();
            }
            prop_assert!(chain.verify().is_ok());
            prop_assert_eq!(chain.len(), bpms.len() + 1);
        }
    }
}
