//! Ledger mode's audit: the token ledger replayed from genesis, block by block.
//!
//! [`crate::ledger::audit_full`] drives it beside the chain and draw checks: for every block
//! after genesis it reads that block's line of `transactions.jsonl`, checks it against the
//! block's `TxHash`, verifies every transfer signature (batch-verified per block), applies
//! the transactions with [`Accounts::apply_block`] and checks each draw entry's stake against
//! its account's balance at that height. Pure: reads through `BufRead` only.

use std::collections::HashMap;
use std::io::BufRead;
use std::sync::Arc;

use ed25519_dalek::{Signature, VerifyingKey};

use crate::attest::{Tracker, Vote};
use crate::chain::{hex_matches, Block};
use crate::delegation::BlockContext;
use crate::epoch::{Snapshot, SNAPSHOTS_FILE};
use crate::ledger::{next_record, AuditError, DrawRecord, Repair};
use crate::tx::{
    compute_tx_hash, parse_signature, verifying_key, Accounts, Direction, Genesis, Tx, TxRecord,
};

pub const TRANSACTIONS_FILE: &str = "transactions.jsonl";
/// Blocks with fewer transfers are checked on one thread.
const PARALLEL_MIN: usize = 256;
const MAX_THREADS: usize = 8;

/// The replay's state between blocks.
pub struct Replay<'a> {
    pub accounts: Accounts,
    /// The genesis block's `Hash`, which every transfer signs.
    chain_id: String,
    txs: &'a mut dyn BufRead,
    offset: u64,
    /// Byte offset and length of each transactions line, by block index - 1.
    pub spans: Vec<(u64, u32)>,
    pub signatures_checked: u64,
    /// The last replayed block's transactions.
    pub last_txs: Vec<Tx>,
    /// Every epoch's stake snapshot, in order (`snapshots.jsonl`, each checked after the one
    /// before), the one in force, and whether a block of its epoch has committed to it.
    snapshots: &'a [Snapshot],
    active: Option<usize>,
    /// The snapshot in force, shared with the attestation tracker.
    active_arc: Option<Arc<Snapshot>>,
    committed: bool,
    /// Attestations counted so far, by block.
    pub tracker: Tracker,
    /// The previous block's `Round`: a block's attestations were counted after it.
    prev_round: u64,
    /// Senders' keys, decompressed once.
    keys: HashMap<String, VerifyingKey>,
}

impl<'a> Replay<'a> {
    /// Starts from `genesis`, which must be what the genesis block committed to.
    ///
    /// # Errors
    /// The genesis block has no `AccountsHash`, or not this allocation's.
    pub fn new(
        genesis_block: &Block,
        genesis: &Genesis,
        txs: &'a mut dyn BufRead,
        snapshots: &'a [Snapshot],
    ) -> Result<Replay<'a>, AuditError> {
        let computed = genesis.accounts_hash();
        let Some(found) = &genesis_block.accounts_hash else {
            return Err(AuditError::new(
                crate::ledger::CHAIN_FILE,
                Some(0),
                "the genesis block has no AccountsHash: this is a tutorial-mode chain, but a genesis file was given",
            ));
        };
        if !hex_matches(found, &computed) {
            return Err(AuditError::new(
                crate::tx::GENESIS_FILE,
                None,
                format!(
                    "its accounts hash to {}, but the genesis block's AccountsHash is {found}: not the genesis file this chain was made from",
                    hex::encode(computed)
                ),
            ));
        }
        Ok(Replay {
            accounts: Accounts::from_genesis(genesis).with_block_reward(genesis_block.block_reward),
            chain_id: genesis_block.hash.clone(),
            txs,
            offset: 0,
            spans: Vec::new(),
            signatures_checked: 0,
            last_txs: Vec::new(),
            snapshots,
            active: None,
            active_arc: None,
            committed: false,
            tracker: Tracker::default(),
            prev_round: genesis_block.round,
            keys: HashMap::new(),
        })
    }

    /// Replays block `block` (already checked on its own and with its draw).
    ///
    /// # Errors
    /// The first thing wrong, naming the file and block.
    pub fn block(&mut self, block: &Block, draw: &DrawRecord) -> Result<(), AuditError> {
        self.check_epoch(block, draw)?;
        let index = block.index;
        let bad = |why: String| AuditError::new(TRANSACTIONS_FILE, Some(index), why);
        let mut torn = Vec::new();
        let Some((record, off, len)) = next_record::<TxRecord>(
            &mut self.txs,
            &mut self.offset,
            TRANSACTIONS_FILE,
            index,
            &mut torn,
        )?
        else {
            return Err(bad(match torn.first() {
                Some(t) => format!(
                    "its transactions line at byte {} is torn, but the block is in the chain; \
                     a transactions line is made durable before its block is written, so this \
                     is damage, not a crash leftover",
                    t.offset
                ),
                None => format!(
                    "no transactions line for this block: {TRANSACTIONS_FILE} ends after {} lines",
                    self.spans.len()
                ),
            }));
        };
        if record.index != index {
            return Err(bad(format!(
                "the transactions line has Index {}, expected {index}",
                record.index
            )));
        }
        let computed = compute_tx_hash(&record.transactions);
        let found = block.tx_hash.as_deref().unwrap_or_default();
        if !hex_matches(found, &computed) {
            return Err(bad(format!(
                "the block's TxHash is {found}, but its transactions hash to {}",
                hex::encode(computed)
            )));
        }
        self.check_signatures(&record.transactions)
            .map_err(|(at, why)| {
                let kind = record.transactions.get(at).map_or("transfer", Tx::kind);
                bad(format!("transaction {at} ({kind}): {why}"))
            })?;
        self.count_attestations(block, &record.transactions)
            .map_err(|(at, why)| {
                let kind = record.transactions.get(at).map_or("attest", Tx::kind);
                bad(format!("transaction {at} ({kind}): {why}"))
            })?;
        let tracker = &self.tracker;
        let lookup = |k: u64| tracker.snapshot_of(k);
        let ctx = BlockContext {
            winner: &block.validator,
            due: tracker.owed(),
            snapshot: self.active_arc.as_deref(),
            snapshot_of_block: &lookup,
        };
        self.accounts
            .apply_block_in(&record.transactions, &ctx)
            .map_err(|e| bad(e.to_string()))?;
        self.tracker.paid();
        self.tracker
            .on_block(index, &block.hash, self.active_arc.as_ref());
        self.prev_round = block.round;
        // In an epoch with a snapshot, entries are bounded by it (delegated stake counts);
        // before, by the entrant's own balance.
        for (address, stake) in draw.entries.iter().filter(|_| self.active_arc.is_none()) {
            let balance = self.accounts.get(address).balance;
            if *stake > balance {
                return Err(AuditError::new(
                    crate::ledger::DRAWS_FILE,
                    Some(index),
                    format!(
                        "entry {address} stakes {stake}, but its account holds {balance} at this height"
                    ),
                ));
            }
        }
        self.spans.push((off, len));
        self.last_txs = record.transactions;
        Ok(())
    }

    /// The block's epoch: a snapshot whose first round has come is in force from then on (its
    /// stakes held at that height), the epoch's first block carries its `SnapshotHash`, and
    /// each draw entry is in the snapshot with at most its snapshot stake. Before the first
    /// snapshot (epoch 0) entries weigh their bonds, which only the balance bounds.
    fn check_epoch(&mut self, block: &Block, draw: &DrawRecord) -> Result<(), AuditError> {
        let index = block.index;
        let next = |s: &Self| s.active.map_or(0, |i| i.saturating_add(1));
        while let Some(s) = self.snapshots.get(next(self)) {
            if s.first_round > block.round {
                break;
            }
            // Undelegated tokens come back as an epoch starts.
            self.accounts.start_epoch();
            for (address, _) in &s.stakes {
                let own = s.own_stake(address).unwrap_or(0);
                let a = self.accounts.get(address);
                let free = a.balance.saturating_sub(a.delegated_out);
                let bad = |why: String| {
                    AuditError::new(
                        SNAPSHOTS_FILE,
                        Some(index),
                        format!("epoch {}: {why}", s.epoch),
                    )
                };
                if own > free {
                    return Err(bad(if a.delegated_out == 0 {
                        format!("{address} has snapshot stake {own}, but its account holds {} when the epoch opens", a.balance)
                    } else {
                        format!("{address} has own snapshot stake {own}, but holds {free} of its own when the epoch opens ({} of its {} is delegated out)", a.delegated_out, a.balance)
                    }));
                }
                let listed: Vec<(&str, u64)> = s.delegations_to(address).collect();
                let applied = self.accounts.delegations_to(address);
                let same = listed.len() == applied.len()
                    && listed
                        .iter()
                        .zip(&applied)
                        .all(|((d, a), (d2, a2))| *d == d2.as_str() && a == a2);
                if !same {
                    return Err(bad(format!(
                        "the delegations to {address} in the snapshot ({}) are not those applied when the epoch opens ({})",
                        list(&listed),
                        list(&applied.iter().map(|(d, a)| (d.as_str(), *a)).collect::<Vec<_>>())
                    )));
                }
            }
            self.active = Some(next(self));
            self.active_arc = Some(Arc::new(s.clone()));
            self.committed = false;
        }
        let active = self.active.and_then(|i| self.snapshots.get(i));
        let chain_err = |why: String| AuditError::new(crate::ledger::CHAIN_FILE, Some(index), why);
        match (active, &block.snapshot_hash) {
            (Some(s), found) if !self.committed => {
                let computed = s.hash();
                match found {
                    Some(h) if hex_matches(h, &computed) => self.committed = true,
                    Some(h) => {
                        return Err(chain_err(format!(
                            "SnapshotHash is {h}, but epoch {}'s snapshot hashes to {}",
                            s.epoch,
                            hex::encode(computed)
                        )))
                    }
                    None => {
                        return Err(chain_err(format!(
                            "the first block of epoch {} (from round {}) carries no SnapshotHash",
                            s.epoch, s.first_round
                        )))
                    }
                }
            }
            (_, Some(h)) => {
                return Err(chain_err(format!(
                    "SnapshotHash {h} on a block that opens no epoch{}",
                    if active.is_none() {
                        format!(": {SNAPSHOTS_FILE} holds no snapshot whose first round is at or before round {}", block.round)
                    } else {
                        String::new()
                    }
                )))
            }
            _ => {}
        }
        if let Some(s) = active {
            for (address, stake) in &draw.entries {
                match s.stake_of(address) {
                    Some(cap) if *stake <= cap => {}
                    Some(cap) => {
                        return Err(AuditError::new(
                            crate::ledger::DRAWS_FILE,
                            Some(index),
                            format!("entry {address} weighs {stake}, above its epoch {} snapshot stake {cap}", s.epoch),
                        ))
                    }
                    None => {
                        return Err(AuditError::new(
                            crate::ledger::DRAWS_FILE,
                            Some(index),
                            format!("entry {address} is not in epoch {}'s stake snapshot, so it is not an entrant in that epoch", s.epoch),
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    /// The block's attestations, counted in order (their signatures are checked already):
    /// each was counted in a round after the previous block's and no later than this
    /// block's, and passes the tracker's rules (the block and its hash, its window, the
    /// snapshot, one per account).
    fn count_attestations(&mut self, block: &Block, txs: &[Tx]) -> Result<(), (usize, String)> {
        self.tracker.close_before(self.prev_round.saturating_add(1));
        for (at, tx) in txs.iter().enumerate() {
            let round = match tx {
                Tx::Attest(a) => a.round,
                Tx::Evidence(e) => e.round,
                _ => continue,
            };
            if round <= self.prev_round || round > block.round {
                return Err((
                    at,
                    format!(
                        "Round {round} is not after the previous block's round {} and at most this block's round {}",
                        self.prev_round, block.round
                    ),
                ));
            }
            match tx {
                Tx::Attest(a) => {
                    self.tracker
                        .count(&Vote {
                            address: &a.address,
                            index: a.index,
                            hash: &a.hash,
                            round: a.round,
                            signature: &a.signature,
                        })
                        .map_err(|e| (at, e.to_string()))?;
                }
                Tx::Evidence(e) => {
                    let stake = self
                        .tracker
                        .check_evidence(
                            &e.address,
                            e.index,
                            (&e.first_hash, &e.second_hash),
                            e.round,
                        )
                        .map_err(|why| (at, why))?;
                    if e.amount > stake {
                        return Err((
                            at,
                            format!(
                                "Amount {} is more than {}'s own snapshot stake {stake} for block {}",
                                e.amount, e.address, e.index
                            ),
                        ));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Every transfer's signature, checked with `verify_strict` (what the server checked when
    /// it accepted it; batch verification accepts a slightly different set), spread over the
    /// cores for a big block. On failure, the first bad one by position.
    fn check_signatures(&mut self, txs: &[Tx]) -> Result<(), (usize, String)> {
        let mut checks: Vec<(usize, Vec<u8>, Signature, VerifyingKey)> = Vec::new();
        for (i, tx) in txs.iter().enumerate() {
            let (field, signer, signed) = match tx {
                Tx::Transfer(t) => (
                    "From",
                    &t.from,
                    vec![(t.message(&self.chain_id), t.signature.as_str())],
                ),
                Tx::Attest(a) => (
                    "Address",
                    &a.address,
                    vec![(a.message(&self.chain_id), a.signature.as_str())],
                ),
                Tx::Evidence(e) => ("Address", &e.address, e.signed(&self.chain_id).into()),
                Tx::Delegate(d) => (
                    "From",
                    &d.from,
                    vec![(
                        d.message(Direction::Delegate, &self.chain_id),
                        d.signature.as_str(),
                    )],
                ),
                Tx::Undelegate(d) => (
                    "From",
                    &d.from,
                    vec![(
                        d.message(Direction::Undelegate, &self.chain_id),
                        d.signature.as_str(),
                    )],
                ),
                Tx::Commission(c) => (
                    "From",
                    &c.from,
                    vec![(c.message(&self.chain_id), c.signature.as_str())],
                ),
                _ => continue,
            };
            let key = match self.keys.get(signer) {
                Some(k) => *k,
                None => {
                    let k = verifying_key(signer).ok_or_else(|| {
                        (
                            i,
                            format!("{field} {signer:?} is not an Ed25519 public key"),
                        )
                    })?;
                    self.keys.insert(signer.clone(), k);
                    k
                }
            };
            for (message, signature) in signed {
                let sig = parse_signature(signature).map_err(|e| (i, e.to_string()))?;
                checks.push((i, message.into_bytes(), sig, key));
            }
        }
        let first_bad = |part: &[(usize, Vec<u8>, Signature, VerifyingKey)]| {
            part.iter()
                .find(|(_, m, s, k)| k.verify_strict(m, s).is_err())
                .map(|c| c.0)
        };
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_THREADS);
        let bad = if threads < 2 || checks.len() < PARALLEL_MIN {
            first_bad(&checks)
        } else {
            let share = checks.len().div_ceil(threads);
            std::thread::scope(|scope| {
                let handles: Vec<_> = checks
                    .chunks(share)
                    .map(|part| scope.spawn(move || first_bad(part)))
                    .collect();
                handles
                    .into_iter()
                    .filter_map(|h| h.join().unwrap_or(Some(0)))
                    .min()
            })
        };
        if let Some(i) = bad {
            let whose = match txs.get(i) {
                Some(Tx::Attest(_) | Tx::Evidence(_)) => "Address",
                _ => "From",
            };
            return Err((
                i,
                format!("the signature does not verify under {whose}'s key"),
            ));
        }
        self.signatures_checked += checks.len() as u64;
        Ok(())
    }

    /// After the last block: a crash between a transactions line and its block leaves one
    /// spare line for the next block, which is a repair; more is damage.
    ///
    /// # Errors
    /// Lines continue past the next block's.
    pub fn finish(&mut self, next_index: u64, repairs: &mut Vec<Repair>) -> Result<(), AuditError> {
        let mut spare = Vec::new();
        let Some((record, off, _)) = next_record::<TxRecord>(
            &mut self.txs,
            &mut self.offset,
            TRANSACTIONS_FILE,
            next_index,
            &mut spare,
        )?
        else {
            repairs.extend(spare);
            return Ok(());
        };
        let more = next_record::<TxRecord>(
            &mut self.txs,
            &mut self.offset,
            TRANSACTIONS_FILE,
            next_index,
            &mut spare,
        )?;
        if record.index != next_index || more.is_some() || !spare.is_empty() {
            return Err(AuditError::new(
                TRANSACTIONS_FILE,
                Some(record.index),
                format!(
                    "transactions lines continue past the last block: the chain ends at block {}, \
                     {TRANSACTIONS_FILE} goes on with Index {} (a crash leaves at most one spare line)",
                    next_index.saturating_sub(1),
                    record.index
                ),
            ));
        }
        repairs.push(Repair {
            file: TRANSACTIONS_FILE,
            offset: off,
            reason: "last transactions line has no block (crash before the block was written)",
        });
        Ok(())
    }
}

/// `d1 5, d2 3`, or `none`.
fn list(delegations: &[(&str, u64)]) -> String {
    if delegations.is_empty() {
        return "none".into();
    }
    delegations
        .iter()
        .map(|(d, a)| format!("{d} {a}"))
        .collect::<Vec<_>>()
        .join(", ")
}
