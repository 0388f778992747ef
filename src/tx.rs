//! Ledger mode's pure side: the genesis file, signed messages, transactions and their hashes.
//!
//! No I/O and no clock, like [`crate::chain`]: the server, `verify` and the client tools all
//! build and check the same bytes from here. Every encoding below is published in the README
//! (section "Ledger mode: encodings") with test vectors.
//!
//! - An account's address is its Ed25519 public key as 64 lowercase hex.
//! - `AccountsHash` (genesis block): SHA-256 over `address \n balance \n` for each genesis
//!   account in ascending address order, the same rule as `EntriesHash`.
//! - Login: the signature over `pos-lottery auth v1 <chain id> <nonce>`.
//! - Transfer: the signature over `pos-lottery transfer v1 <chain id> <from> <to> <amount> <nonce>`.
//! - `TxHash` (every block after genesis): SHA-256 over the block's transactions in order,
//!   each as its canonical line ([`Tx::canonical_line`]) ending in `\n`.
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

use std::collections::BTreeMap;
use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

pub use crate::accounts::{Account, Accounts, ApplyError};
use crate::chain::{compute_entries_hash_bytes, is_hex64};
pub use crate::delegation::{
    commission_message, delegation_message, Commission, Delegation, Direction, MAX_COMMISSION,
};

/// The name of the genesis file, in the data directory and by convention elsewhere.
pub const GENESIS_FILE: &str = "genesis.json";
/// What a login signs, followed by `<chain id> <nonce>`.
pub const AUTH_PREFIX: &str = "pos-lottery auth v1";
/// What a transfer signs, followed by `<chain id> <from> <to> <amount> <nonce>`.
pub const TRANSFER_PREFIX: &str = "pos-lottery transfer v1";
/// What an attestation signs, followed by `<chain id> <index> <hash>`.
pub const ATTEST_PREFIX: &str = "pos-lottery attest v1";

/// The genesis allocation: address to balance, in address order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Genesis {
    pub accounts: BTreeMap<String, u64>,
}

/// Why a genesis file is refused, naming the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    #[error("not a genesis file: {0}")]
    Json(String),
    #[error("no accounts: a genesis file allocates at least one")]
    Empty,
    #[error("account {0:?} appears twice")]
    Duplicate(String),
    #[error("account {0:?} is not an address: 64 lowercase hex characters, an Ed25519 public key")]
    Address(String),
    #[error("account {0} has balance 0; every genesis balance is at least 1")]
    Zero(String),
    #[error("the balances add up to more than 18446744073709551615 (2^64 - 1)")]
    Overflow,
}

impl Genesis {
    /// Parses and checks a genesis file's text.
    ///
    /// # Errors
    /// [`GenesisError`], naming the offending entry.
    pub fn parse(text: &str) -> Result<Genesis, GenesisError> {
        let file: GenesisFile =
            serde_json::from_str(text).map_err(|e| GenesisError::Json(e.to_string()))?;
        let mut accounts = BTreeMap::new();
        let mut total = 0u64;
        for (address, balance) in file.accounts.0 {
            if !is_hex64(&address) || !is_public_key(&address) {
                return Err(GenesisError::Address(address));
            }
            if balance == 0 {
                return Err(GenesisError::Zero(address));
            }
            total = total.checked_add(balance).ok_or(GenesisError::Overflow)?;
            if accounts.insert(address.clone(), balance).is_some() {
                return Err(GenesisError::Duplicate(address));
            }
        }
        if accounts.is_empty() {
            return Err(GenesisError::Empty);
        }
        Ok(Genesis { accounts })
    }

    /// The genesis file's text, as `pos-lottery genesis` writes it: one account per line.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{\"accounts\": {\n");
        let n = self.accounts.len();
        for (i, (address, balance)) in self.accounts.iter().enumerate() {
            out.push_str(&format!("  \"{address}\": {balance}"));
            out.push_str(if i.saturating_add(1) < n { ",\n" } else { "\n" });
        }
        out.push_str("}}\n");
        out
    }

    /// `AccountsHash`: the allocation's hash, committed to by the genesis block.
    pub fn accounts_hash(&self) -> [u8; 32] {
        let entries: Vec<(&str, u64)> = self
            .accounts
            .iter()
            .map(|(a, b)| (a.as_str(), *b))
            .collect();
        compute_entries_hash_bytes(&entries)
    }

    /// The sum of the balances (fits a u64: checked by [`Genesis::parse`]).
    pub fn total(&self) -> u64 {
        self.accounts
            .values()
            .fold(0u64, |sum, b| sum.saturating_add(*b))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenesisFile {
    accounts: Entries,
}

/// The `accounts` object, kept as a list so a duplicate key is seen, not silently merged.
struct Entries(Vec<(String, u64)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Entries, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of address: balance")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Entries, M::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, u64>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// True when `address` (64 hex) decodes to a valid Ed25519 public key.
pub fn is_public_key(address: &str) -> bool {
    verifying_key(address).is_some()
}

/// The public key an address stands for: 64 lowercase hex of a point that is not of small
/// order (a weak key can sign nothing `verify_strict` accepts, so tokens sent to it would be
/// stuck for ever).
pub fn verifying_key(address: &str) -> Option<VerifyingKey> {
    if !is_hex64(address) {
        return None;
    }
    let raw = crate::chain::decode_hash(address)?;
    VerifyingKey::from_bytes(&raw).ok().filter(|k| !k.is_weak())
}

/// The address of a signing key.
pub fn address_of(key: &SigningKey) -> String {
    hex::encode(key.verifying_key().to_bytes())
}

/// A key file's text: the 32-byte secret key as 64 lowercase hex and a newline.
pub fn key_file_text(key: &SigningKey) -> String {
    format!("{}\n", hex::encode(key.to_bytes()))
}

/// Reads a key file's text (surrounding whitespace is ignored).
///
/// # Errors
/// A one-line reason when it is not 64 hex characters.
pub fn parse_key_file(text: &str) -> Result<SigningKey, String> {
    let t = text.trim();
    let mut raw = [0u8; 32];
    if t.len() != 64 || hex::decode_to_slice(t, &mut raw).is_err() {
        return Err(
            "not a key file: expected one line of 64 hex characters (a 32-byte Ed25519 secret key)"
                .into(),
        );
    }
    Ok(SigningKey::from_bytes(&raw))
}

/// The bytes a login signs: `pos-lottery auth v1 <chain id> <nonce>`.
pub fn auth_message(chain_id: &str, nonce: &str) -> String {
    format!("{AUTH_PREFIX} {chain_id} {nonce}")
}

/// Signs a login challenge; returns the signature as 128 lowercase hex.
pub fn sign_auth(key: &SigningKey, chain_id: &str, nonce: &str) -> String {
    hex::encode(
        key.sign(auth_message(chain_id, nonce).as_bytes())
            .to_bytes(),
    )
}

/// The bytes an attestation signs: `pos-lottery attest v1 <chain id> <index> <hash>`.
pub fn attest_message(chain_id: &str, index: u64, hash: &str) -> String {
    format!("{ATTEST_PREFIX} {chain_id} {index} {hash}")
}

/// Signs an attestation of block `index` with hash `hash`; returns 128 lowercase hex.
pub fn sign_attest(key: &SigningKey, chain_id: &str, index: u64, hash: &str) -> String {
    hex::encode(
        key.sign(attest_message(chain_id, index, hash).as_bytes())
            .to_bytes(),
    )
}

/// Checks `signature` (128 hex) by `address` over `message`.
///
/// # Errors
/// A one-line reason: a malformed address or signature, or one that does not verify.
pub fn check_signature(address: &str, message: &[u8], signature: &str) -> Result<(), SigError> {
    if !is_hex64(address) {
        return Err(SigError::Address(address.to_string()));
    }
    let key = verifying_key(address).ok_or_else(|| SigError::Address(address.to_string()))?;
    check_signature_with(&key, message, signature)
}

/// [`check_signature`] with the signer's key decompressed already (decompressing costs about
/// a quarter of the check: callers that validated the address keep its key).
///
/// # Errors
/// A malformed signature, or one that does not verify.
pub fn check_signature_with(
    key: &VerifyingKey,
    message: &[u8],
    signature: &str,
) -> Result<(), SigError> {
    let sig = parse_signature(signature)?;
    // Strict: no second encoding of the same signature is accepted (no malleability).
    key.verify_strict(message, &sig)
        .map_err(|_| SigError::Invalid)
}

/// A signature's 128 lowercase hex, decoded.
///
/// # Errors
/// [`SigError::Malformed`] when it is not 128 lowercase hex characters.
pub fn parse_signature(signature: &str) -> Result<Signature, SigError> {
    let mut raw = [0u8; 64];
    if signature.len() != 128
        || !signature
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        || hex::decode_to_slice(signature, &mut raw).is_err()
    {
        return Err(SigError::Malformed);
    }
    Ok(Signature::from_bytes(&raw))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    #[error("{0:?} is not an address (64 lowercase hex characters, an Ed25519 public key)")]
    Address(String),
    #[error("the signature is not 128 lowercase hex characters")]
    Malformed,
    #[error("the signature does not verify")]
    Invalid,
}

/// A signed transfer, as submitted (`POST /api/transactions`) and as stored in a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    pub from: String,
    pub to: String,
    pub amount: u64,
    pub nonce: u64,
    pub signature: String,
}

impl Transfer {
    /// Builds and signs a transfer from `key`'s account.
    pub fn sign(key: &SigningKey, chain_id: &str, to: &str, amount: u64, nonce: u64) -> Transfer {
        let from = address_of(key);
        let message = transfer_message(chain_id, &from, to, amount, nonce);
        Transfer {
            from,
            to: to.to_string(),
            amount,
            nonce,
            signature: hex::encode(key.sign(message.as_bytes()).to_bytes()),
        }
    }

    /// What the sender signs.
    pub fn message(&self, chain_id: &str) -> String {
        transfer_message(chain_id, &self.from, &self.to, self.amount, self.nonce)
    }

    /// The checks that need no ledger state: addresses, amount, destination, signature.
    ///
    /// # Errors
    /// [`TxError`] with the reason.
    pub fn check_alone(&self, chain_id: &str) -> Result<(), TxError> {
        let key =
            verifying_key(&self.from).ok_or_else(|| TxError::Address("from", self.from.clone()))?;
        // A key that cannot sign could never spend what it is sent: refused, not burned.
        if !is_hex64(&self.to) || !is_public_key(&self.to) {
            return Err(TxError::Address("to", self.to.clone()));
        }
        if self.amount == 0 {
            return Err(TxError::ZeroAmount);
        }
        if self.from == self.to {
            return Err(TxError::ToItself);
        }
        check_signature_with(&key, self.message(chain_id).as_bytes(), &self.signature)
            .map_err(TxError::Signature)
    }

    /// The transaction id: hex SHA-256 of its canonical line.
    pub fn id(&self) -> String {
        Tx::Transfer(self.clone()).id()
    }
}

/// `pos-lottery transfer v1 <chain id> <from> <to> <amount> <nonce>`.
pub fn transfer_message(chain_id: &str, from: &str, to: &str, amount: u64, nonce: u64) -> String {
    format!("{TRANSFER_PREFIX} {chain_id} {from} {to} {amount} {nonce}")
}

/// A signed attestation of block `index`, as counted: `round` is the round in progress when
/// the server counted it (not signed: the attester signs only the block).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    #[serde(rename = "Address")]
    pub address: String,
    #[serde(rename = "Index")]
    pub index: u64,
    #[serde(rename = "Hash")]
    pub hash: String,
    #[serde(rename = "Round")]
    pub round: u64,
    #[serde(rename = "Signature")]
    pub signature: String,
}

impl Attestation {
    /// What the attester signs.
    pub fn message(&self, chain_id: &str) -> String {
        attest_message(chain_id, self.index, &self.hash)
    }

    /// The checks that need no chain state: the address, the hash's form, the signature.
    ///
    /// # Errors
    /// A one-line reason.
    pub fn check_alone(&self, chain_id: &str) -> Result<(), TxError> {
        let key = verifying_key(&self.address)
            .ok_or_else(|| TxError::Address("address", self.address.clone()))?;
        self.check_with_key(&key, chain_id)
    }

    /// [`Attestation::check_alone`] with the attester's key decompressed already (a session
    /// keeps its account's from the login): the hash's form and the strict signature check.
    ///
    /// # Errors
    /// A one-line reason.
    pub fn check_with_key(&self, key: &VerifyingKey, chain_id: &str) -> Result<(), TxError> {
        if !is_hex64(&self.hash) {
            return Err(TxError::Other(format!(
                "hash {:?} is not a block hash (64 lowercase hex characters)",
                self.hash
            )));
        }
        check_signature_with(key, self.message(chain_id).as_bytes(), &self.signature)
            .map_err(TxError::Signature)
    }
}

/// One balance change. In a block: the pool's transfers and slashes in the order they were
/// accepted, then the winner's reward, last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "Type", deny_unknown_fields)]
pub enum Tx {
    #[serde(rename = "transfer")]
    Transfer(#[serde(with = "transfer_fields")] Transfer),
    /// A validator sent a malformed BPM: its bonded stake is burned.
    #[serde(rename = "slash")]
    Slash {
        #[serde(rename = "Address")]
        address: String,
        #[serde(rename = "Amount")]
        amount: u64,
        /// The round that was open when it was slashed.
        #[serde(rename = "Round")]
        round: u64,
        /// The offending line (invalid UTF-8 replaced by U+FFFD).
        #[serde(rename = "Line")]
        line: String,
    },
    /// `BLOCK_REWARD` to the winner (kind `block`), or `ATTEST_REWARD` to an attester of a
    /// final block (kind `attest`); `Cut` is what did not fit under 2^64 - 1 total supply.
    #[serde(rename = "reward")]
    Reward {
        /// Absent for a block reward (every reward before attestations was one).
        #[serde(rename = "Kind", default, skip_serializing_if = "RewardKind::is_block")]
        kind: RewardKind,
        #[serde(rename = "To")]
        to: String,
        #[serde(rename = "Amount")]
        amount: u64,
        #[serde(rename = "Cut")]
        cut: u64,
    },
    /// An attestation counted toward a block's finality; it moves no tokens.
    #[serde(rename = "attest")]
    Attest(Attestation),
    /// Evidence: `Address` signed two different hashes for block `Index`; `Amount` of its
    /// snapshot stake is burned.
    #[serde(rename = "evidence")]
    Evidence(Evidence),
    /// Tokens of `From` delegated to the validator `To`: out of `From`'s available balance,
    /// counted toward `To`'s stake from the next snapshot.
    #[serde(rename = "delegate")]
    Delegate(Delegation),
    /// A delegation asked back: it stops counting at once and returns at the next epoch's
    /// start.
    #[serde(rename = "undelegate")]
    Undelegate(Delegation),
    #[serde(rename = "commission")]
    Commission(Commission),
}

/// What a reward pays for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RewardKind {
    /// The block's winner: `BLOCK_REWARD`, or its share of it when it has delegators.
    #[default]
    #[serde(rename = "block")]
    Block,
    /// A delegator's share of its validator's block reward.
    #[serde(rename = "delegator")]
    Delegator,
    /// An attester of a block that became final: its snapshot's `AttestReward`.
    #[serde(rename = "attest")]
    Attest,
}

impl RewardKind {
    pub fn word(self) -> &'static str {
        match self {
            RewardKind::Block => "block",
            RewardKind::Delegator => "delegator",
            RewardKind::Attest => "attest",
        }
    }

    pub fn is_block(&self) -> bool {
        *self == RewardKind::Block
    }
}

/// An evidence slash: both signed attestations, checkable by anyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    #[serde(rename = "Address")]
    pub address: String,
    #[serde(rename = "Index")]
    pub index: u64,
    /// Burned: at most its stake in the snapshot of block `Index`'s epoch.
    #[serde(rename = "Amount")]
    pub amount: u64,
    /// The round in progress when the second signature arrived.
    #[serde(rename = "Round")]
    pub round: u64,
    #[serde(rename = "FirstHash")]
    pub first_hash: String,
    #[serde(rename = "FirstSignature")]
    pub first_signature: String,
    #[serde(rename = "SecondHash")]
    pub second_hash: String,
    #[serde(rename = "SecondSignature")]
    pub second_signature: String,
}

impl Evidence {
    /// Both signed messages with their signatures: what a checker verifies.
    pub fn signed(&self, chain_id: &str) -> [(String, &str); 2] {
        [
            (
                attest_message(chain_id, self.index, &self.first_hash),
                &self.first_signature,
            ),
            (
                attest_message(chain_id, self.index, &self.second_hash),
                &self.second_signature,
            ),
        ]
    }
}

/// A transfer inside a block's transaction list, with the file's capitalised field names.
mod transfer_fields {
    use super::Transfer;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Fields {
        #[serde(rename = "From")]
        from: String,
        #[serde(rename = "To")]
        to: String,
        #[serde(rename = "Amount")]
        amount: u64,
        #[serde(rename = "Nonce")]
        nonce: u64,
        #[serde(rename = "Signature")]
        signature: String,
    }

    pub fn serialize<S: Serializer>(t: &Transfer, s: S) -> Result<S::Ok, S::Error> {
        Fields {
            from: t.from.clone(),
            to: t.to.clone(),
            amount: t.amount,
            nonce: t.nonce,
            signature: t.signature.clone(),
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Transfer, D::Error> {
        let f = Fields::deserialize(d)?;
        Ok(Transfer {
            from: f.from,
            to: f.to,
            amount: f.amount,
            nonce: f.nonce,
            signature: f.signature,
        })
    }
}

impl Tx {
    /// The line `TxHash` hashes (without its `\n`):
    /// `transfer <from> <to> <amount> <nonce> <signature>`,
    /// `slash <address> <amount> <round> <line>`, `reward <to> <amount> <cut>` (a block
    /// reward), `reward attest <to> <amount> <cut>`,
    /// `attest <address> <index> <hash> <round> <signature>`,
    /// `evidence <address> <index> <amount> <round> <first hash> <first signature>
    /// <second hash> <second signature>`.
    pub fn canonical_line(&self) -> String {
        match self {
            Tx::Transfer(t) => format!(
                "transfer {} {} {} {} {}",
                t.from, t.to, t.amount, t.nonce, t.signature
            ),
            Tx::Slash {
                address,
                amount,
                round,
                line,
            } => format!("slash {address} {amount} {round} {line}"),
            Tx::Reward {
                kind: RewardKind::Block,
                to,
                amount,
                cut,
            } => format!("reward {to} {amount} {cut}"),
            Tx::Reward {
                kind: RewardKind::Attest,
                to,
                amount,
                cut,
            } => format!("reward attest {to} {amount} {cut}"),
            Tx::Reward {
                kind: RewardKind::Delegator,
                to,
                amount,
                cut,
            } => format!("reward delegator {to} {amount} {cut}"),
            Tx::Attest(a) => format!(
                "attest {} {} {} {} {}",
                a.address, a.index, a.hash, a.round, a.signature
            ),
            Tx::Delegate(d) | Tx::Undelegate(d) => format!(
                "{} {} {} {} {} {}",
                self.kind(),
                d.from,
                d.to,
                d.amount,
                d.nonce,
                d.signature
            ),
            Tx::Commission(c) => format!(
                "commission {} {} {} {}",
                c.from, c.percent, c.nonce, c.signature
            ),
            Tx::Evidence(e) => format!(
                "evidence {} {} {} {} {} {} {} {}",
                e.address,
                e.index,
                e.amount,
                e.round,
                e.first_hash,
                e.first_signature,
                e.second_hash,
                e.second_signature
            ),
        }
    }

    /// Hex SHA-256 of the canonical line: a transaction's id.
    pub fn id(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_line().as_bytes()))
    }

    /// `"transfer"`, `"slash"`, `"reward"`, `"attest"` or `"evidence"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Tx::Transfer(_) => "transfer",
            Tx::Slash { .. } => "slash",
            Tx::Reward { .. } => "reward",
            Tx::Attest(_) => "attest",
            Tx::Evidence(_) => "evidence",
            Tx::Delegate(_) => "delegate",
            Tx::Undelegate(_) => "undelegate",
            Tx::Commission(_) => "commission",
        }
    }
}

/// `TxHash`: SHA-256 over each transaction's canonical line and `\n`, in block order.
pub fn compute_tx_hash(txs: &[Tx]) -> [u8; 32] {
    let mut h = Sha256::new();
    for tx in txs {
        h.update(tx.canonical_line().as_bytes());
        h.update(b"\n");
    }
    h.finalize().into()
}

/// One line of `transactions.jsonl`: the transactions of block `Index`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxRecord {
    #[serde(rename = "Index")]
    pub index: u64,
    #[serde(rename = "Transactions")]
    pub transactions: Vec<Tx>,
}

/// Why a transaction is refused (at submission) or invalid (in a block).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("{0} is {1:?}, not an address (64 lowercase hex characters, an Ed25519 public key)")]
    Address(&'static str, String),
    #[error("amount is 0; a transfer moves at least 1 token")]
    ZeroAmount,
    #[error("a transfer to itself moves nothing")]
    ToItself,
    #[error("{0}")]
    Signature(SigError),
    #[error("nonce is {found}, expected {expected} (the sender's last applied nonce, plus its transfers still pending, plus 1)")]
    Nonce { found: u64, expected: u64 },
    #[error("amount {amount} is more than the {available} that {address} has available (balance minus bonded stake, delegations out and what is already pending out)")]
    Insufficient {
        address: String,
        amount: u64,
        available: u64,
    },
    #[error("amount {amount} is more than the {transferable} that {address} may move now: {locked} of its balance is snapshot stake, locked until the attestation windows of its epochs close (evidence of a double attestation could still burn it)")]
    Locked {
        address: String,
        amount: u64,
        transferable: u64,
        locked: u64,
    },
    #[error("{0} holds no tokens on this chain")]
    Unknown(String),
    #[error("{0}")]
    Other(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    #[test]
    fn genesis_refuses_each_bad_entry_by_name() {
        let a = address_of(&key(1));
        let b = address_of(&key(2));
        assert!(Genesis::parse(&format!(r#"{{"accounts": {{"{a}": 5, "{b}": 7}}}}"#)).is_ok());
        let dup = Genesis::parse(&format!(r#"{{"accounts": {{"{a}": 5, "{a}": 7}}}}"#));
        assert_eq!(dup, Err(GenesisError::Duplicate(a.clone())));
        let zero = Genesis::parse(&format!(r#"{{"accounts": {{"{a}": 0}}}}"#));
        assert_eq!(zero, Err(GenesisError::Zero(a.clone())));
        let upper = a.to_uppercase();
        let bad = Genesis::parse(&format!(r#"{{"accounts": {{"{upper}": 1}}}}"#));
        assert_eq!(bad, Err(GenesisError::Address(upper)));
        let over = Genesis::parse(&format!(
            r#"{{"accounts": {{"{a}": 18446744073709551615, "{b}": 1}}}}"#
        ));
        assert_eq!(over, Err(GenesisError::Overflow));
        assert_eq!(
            Genesis::parse(r#"{"accounts": {}}"#),
            Err(GenesisError::Empty)
        );
        assert!(matches!(
            Genesis::parse(&format!(r#"{{"accounts": {{"{a}": 1}}, "x": 1}}"#)),
            Err(GenesisError::Json(_))
        ));
        assert!(matches!(
            Genesis::parse(&format!(r#"{{"accounts": {{"{a}": -1}}}}"#)),
            Err(GenesisError::Json(_))
        ));
    }

    #[test]
    fn genesis_round_trips_through_its_text() {
        let mut accounts = BTreeMap::new();
        accounts.insert(address_of(&key(1)), 10);
        accounts.insert(address_of(&key(2)), 20);
        let g = Genesis { accounts };
        assert_eq!(Genesis::parse(&g.to_json()), Ok(g.clone()));
        assert_eq!(g.total(), 30);
    }

    #[test]
    fn transfers_sign_and_verify_and_tampering_is_refused() {
        let k = key(1);
        let to = address_of(&key(2));
        let t = Transfer::sign(&k, "c0ffee", &to, 10, 1);
        assert_eq!(t.check_alone("c0ffee"), Ok(()));
        assert!(matches!(
            t.check_alone("other"),
            Err(TxError::Signature(SigError::Invalid))
        ));
        let mut more = t.clone();
        more.amount = 11;
        assert!(more.check_alone("c0ffee").is_err());
        let mut me = t.clone();
        me.to = me.from.clone();
        assert_eq!(me.check_alone("c0ffee"), Err(TxError::ToItself));
    }

    #[test]
    fn tx_hash_covers_every_field() {
        let a = address_of(&key(1));
        let r = Tx::Reward {
            kind: RewardKind::Block,
            to: a.clone(),
            amount: 1,
            cut: 0,
        };
        let line = format!("reward {a} 1 0\n");
        assert_eq!(
            compute_tx_hash(std::slice::from_ref(&r)),
            <[u8; 32]>::from(Sha256::digest(line))
        );
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            format!(r#"{{"Type":"reward","To":"{a}","Amount":1,"Cut":0}}"#)
        );
        let t = Tx::Transfer(Transfer::sign(&key(1), "c", &a, 1, 1));
        let back: Tx = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
        let h = "ab".repeat(32);
        let att = Attestation {
            address: a.clone(),
            index: 3,
            hash: h.clone(),
            round: 12,
            signature: sign_attest(&key(1), "c", 3, &h),
        };
        assert_eq!(att.check_alone("c"), Ok(()));
        assert!(att.check_alone("d").is_err());
        let tx = Tx::Attest(att.clone());
        assert_eq!(
            tx.canonical_line(),
            format!("attest {a} 3 {h} 12 {}", att.signature)
        );
        let json = serde_json::to_string(&tx).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"Type":"attest","Address":"{a}","Index":3,"Hash":"{h}","Round":12,"Signature":"{}"}}"#,
                att.signature
            )
        );
        assert_eq!(serde_json::from_str::<Tx>(&json).unwrap(), tx);
    }
}
