//! Block signatures of a v2 chain: collected as an audit reads the blocks, then verified in
//! batches on every core, and the first bad one named by its block.

use std::collections::VecDeque;

use super::{AuditError, CHAIN_FILE};
use crate::chain::{decode_hash, Block, BLOCK_SIGNING_PREFIX};

/// Which block signatures an audit checks (v2 chains).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signatures {
    /// Every one (`verify`), batch-verified.
    All,
    /// Only the newest n (start-up: the reveal chain and every hash are checked in full, and
    /// the files were written by this server).
    Newest(usize),
}

/// How many signatures are batch-verified at once (one `verify_batch` call).
const SIGNATURE_BATCH: usize = 1024;
/// Batches gathered before they are verified, split across the cores: enough to keep every
/// core busy for a while per thread start, few enough to cost only a few MB.
const PARALLEL_BATCHES: usize = 16;
/// The most threads one flush uses.
const MAX_SIGNATURE_THREADS: usize = 8;

/// A block's index, `Hash` and `Signature` as found (hex text, already checked by
/// [`Block::validate_alone`]). Decoded only when verified: a block whose signature start-up
/// skips costs a copy, not a decode and an allocation.
struct PendingSignature {
    index: u64,
    hash: [u8; 64],
    signature: [u8; 128],
}

impl PendingSignature {
    /// What the server signed (see [`Block::signing_message`]) and the signature; `None`
    /// when the signature is not hex.
    fn decode(&self) -> Option<(Vec<u8>, ed25519_dalek::Signature)> {
        let mut raw = [0u8; 64];
        hex::decode_to_slice(self.signature, &mut raw).ok()?;
        let message = [BLOCK_SIGNING_PREFIX.as_bytes(), &self.hash].concat();
        Some((message, ed25519_dalek::Signature::from_bytes(&raw)))
    }
}

/// Collects block signatures and verifies them in batches, on every core.
pub(super) struct SignatureCheck {
    key: ed25519_dalek::VerifyingKey,
    mode: Signatures,
    pending: VecDeque<PendingSignature>,
    pub(super) checked: u64,
}

/// True when every signature in `batch` verifies under `key` (one batch verification).
fn verify_batch(key: &ed25519_dalek::VerifyingKey, batch: &[PendingSignature]) -> bool {
    let Some(decoded) = batch
        .iter()
        .map(PendingSignature::decode)
        .collect::<Option<Vec<_>>>()
    else {
        return false;
    };
    let msgs: Vec<&[u8]> = decoded.iter().map(|d| d.0.as_slice()).collect();
    let sigs: Vec<ed25519_dalek::Signature> = decoded.iter().map(|d| d.1).collect();
    let keys = vec![*key; batch.len()];
    ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok()
}

impl SignatureCheck {
    pub(super) fn new(genesis: &Block, mode: Signatures) -> Result<SignatureCheck, AuditError> {
        let bad = |why: String| AuditError::new(CHAIN_FILE, Some(0), why);
        let hex_key = genesis.server_key.as_deref().unwrap_or_default();
        let raw = decode_hash(hex_key)
            .ok_or_else(|| bad(format!("ServerKey is {hex_key:?}, not 64 hex characters")))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&raw)
            .map_err(|_| bad(format!("ServerKey {hex_key} is not an Ed25519 public key")))?;
        // A small-order key "verifies" forged signatures under some implementations.
        if key.is_weak() {
            return Err(bad(format!(
                "ServerKey {hex_key} is a weak (small-order) key"
            )));
        }
        Ok(SignatureCheck {
            key,
            mode,
            pending: VecDeque::new(),
            checked: 0,
        })
    }

    pub(super) fn push(&mut self, block: &Block) -> Result<(), AuditError> {
        let sig = block.signature.as_deref().unwrap_or_default();
        let (Ok(hash), Ok(signature)) = (
            <[u8; 64]>::try_from(block.hash.as_bytes()),
            <[u8; 128]>::try_from(sig.as_bytes()),
        ) else {
            return Err(AuditError::new(
                CHAIN_FILE,
                Some(block.index),
                "Signature is not 128 hex characters",
            ));
        };
        self.pending.push_back(PendingSignature {
            index: block.index,
            hash,
            signature,
        });
        match self.mode {
            Signatures::All if self.pending.len() >= SIGNATURE_BATCH * PARALLEL_BATCHES => {
                self.flush()
            }
            Signatures::Newest(n) if self.pending.len() > n => {
                self.pending.pop_front();
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Verifies what is pending; the first bad signature is named by its block.
    pub(super) fn flush(&mut self) -> Result<(), AuditError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let key = self.key;
        let pending = self.pending.make_contiguous();
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, MAX_SIGNATURE_THREADS);
        // Each thread takes an equal share; each share is verified in batches.
        let share = pending.len().div_ceil(threads).max(1);
        let batch = share.min(SIGNATURE_BATCH);
        let verify_share =
            move |part: &[PendingSignature]| part.chunks(batch).all(|c| verify_batch(&key, c));
        let all_good = if threads == 1 || pending.len() <= batch {
            verify_share(pending)
        } else {
            std::thread::scope(|scope| {
                let mut inline = true;
                let handles: Vec<_> = pending
                    .chunks(share)
                    .filter_map(|part| {
                        match std::thread::Builder::new()
                            .name("verify-signatures".into())
                            .spawn_scoped(scope, move || verify_share(part))
                        {
                            Ok(h) => Some(h),
                            // No thread to be had: this one does that share itself.
                            Err(_) => {
                                inline &= verify_share(part);
                                None
                            }
                        }
                    })
                    .collect();
                handles
                    .into_iter()
                    .fold(inline, |ok, h| h.join().unwrap_or(false) && ok)
            })
        };
        if !all_good {
            let bad = self
                .pending
                .iter()
                .find(|p| {
                    p.decode()
                        .is_none_or(|(m, s)| self.key.verify_strict(&m, &s).is_err())
                })
                .or(self.pending.front())
                .map_or(0, |p| p.index);
            return Err(AuditError::new(
                CHAIN_FILE,
                Some(bad),
                format!(
                    "Signature does not verify under the ServerKey {}: this block was not signed by the chain's server",
                    hex::encode(self.key.as_bytes())
                ),
            ));
        }
        self.checked += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }
}
