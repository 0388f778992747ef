//! The round task's ledger-mode state: accounts, logged-in sessions, bonds and the pool.
//!
//! Owned by the round task like everything else it holds. Transfers and slashes are admitted
//! here (counted as pending out of their account at once, so nothing can be spent twice),
//! wait in `unsynced` until the round task's next pool fsync, and only then join the pool and
//! are acknowledged. A block takes the whole pool, in acceptance order, plus the reward.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use serde::{Serialize, Serializer};
use tokio::sync::oneshot;

use super::attest::vote;
pub use super::attest::{AttestError, AttestReply};
use crate::attest::{BlockFinality, FinalityView, Finalized, Tracker};
use crate::delegation::BlockContext;
use crate::epoch::Snapshot;
use crate::round::NotEntrant;
use crate::store::LedgerOpened;
use crate::tx::{Account, Accounts, ApplyError, Evidence, Transfer, Tx, TxError};

/// Who is told once a pool entry is on stable storage.
pub enum Ack {
    /// A transfer: its id, or why it was refused.
    Transfer(oneshot::Sender<Result<String, TxError>>, String),
    /// A slash: the stake burned.
    Slash(oneshot::Sender<Option<u64>>, u64),
    /// An attestation: the block's count with it, and whether it made the block final.
    Attest(AttestReply, BlockFinality, Option<Finalized>),
    /// An evidence slash, with the attester to refuse when its wrong hash made it.
    Evidence(Option<(AttestReply, AttestError)>),
}

/// What a login finds.
#[derive(Debug, Clone, Copy)]
pub struct Welcome {
    pub account: Account,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("{0} holds no tokens on this chain")]
    Unknown(String),
    #[error("{0} is already connected")]
    AlreadyConnected(String),
}

/// One account as `/api/accounts` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    pub address: Arc<str>,
    pub balance: u64,
    pub available: u64,
    pub bonded: u64,
    /// Snapshot stake locked against transfers while its attestation window is open.
    pub locked: u64,
    /// What a transfer may move now: `available` less the locked stake beyond the bond.
    pub transferable: u64,
    pub nonce: u64,
    pub next_nonce: u64,
    pub wins: u64,
    pub connected: bool,
    /// Tokens it delegated to validators, undelegated ones not yet returned included.
    pub delegated_out: u64,
    /// What others delegate to it now.
    pub delegated_in: u64,
    /// The percent of its block rewards it keeps before sharing the rest with its delegators.
    pub commission: u64,
}

/// One of an account's delegations to a validator, as `/api/accounts` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DelegationOut {
    pub to: String,
    pub amount: u64,
}

/// One delegation to a validator, as `/api/accounts` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DelegationIn {
    pub from: String,
    pub amount: u64,
}

/// The applied delegations, indexed both ways, and the undelegated tokens waiting for the
/// next epoch. Rebuilt only when a block or an epoch start may have changed them, and shared
/// by every view published in between.
#[derive(Debug, Default)]
pub struct DelegationsView {
    /// By delegator: its delegations, in validator order.
    pub by_delegator: HashMap<String, Vec<DelegationOut>>,
    /// By validator: the delegations to it, in delegator order.
    pub by_validator: HashMap<String, Vec<DelegationIn>>,
    /// By delegator: undelegated tokens that come back when the next epoch starts.
    pub returning: HashMap<String, u64>,
}

impl DelegationsView {
    fn of(accounts: &Accounts) -> DelegationsView {
        let mut v = DelegationsView::default();
        for ((validator, delegator), &amount) in &accounts.delegations {
            v.by_delegator
                .entry(delegator.clone())
                .or_default()
                .push(DelegationOut {
                    to: validator.clone(),
                    amount,
                });
            v.by_validator
                .entry(validator.clone())
                .or_default()
                .push(DelegationIn {
                    from: delegator.clone(),
                    amount,
                });
        }
        for (delegator, amount) in &accounts.returning {
            let e = v.returning.entry(delegator.clone()).or_default();
            *e = e.saturating_add(*amount);
        }
        v
    }

    /// `address`'s delegations out to validators.
    pub fn out_of(&self, address: &str) -> &[DelegationOut] {
        self.by_delegator.get(address).map_or(&[], Vec::as_slice)
    }

    /// The delegations to `address`.
    pub fn to(&self, address: &str) -> &[DelegationIn] {
        self.by_validator.get(address).map_or(&[], Vec::as_slice)
    }

    /// `address`'s undelegated tokens waiting for the next epoch.
    pub fn returning_to(&self, address: &str) -> u64 {
        self.returning.get(address).copied().unwrap_or(0)
    }
}

/// When the [`DelegationsView`] was built: blocks applied and snapshots taken by then (the
/// only changes to the delegations).
type DelegationsKey = (u64, usize);

/// The epoch in force, as `/api/stats` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EpochView {
    pub epoch: u64,
    pub first_round: u64,
    pub last_round: u64,
    /// Accounts in its stake snapshot, and their total snapshot stake.
    pub snapshot_accounts: usize,
    pub snapshot_stake: u128,
}

/// A pending transfer or slash as `/transactionPool` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PendingTxView {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    #[serde(flatten)]
    pub tx: PendingFields,
}

/// The ledger part of the readers' view.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LedgerView {
    pub chain_id: Arc<str>,
    /// Every account in the ledger, largest balance first (then by address).
    pub accounts: Vec<AccountView>,
    pub supply: u64,
    pub genesis_total: u64,
    pub minted: u128,
    pub burned: u128,
    pub cut: u128,
    pub transfers: u64,
    /// The pending transfers and slashes, in acceptance order.
    pub pool: PoolView,
    /// The epoch in force and its stake snapshot; `None` in the bootstrap epoch 0.
    pub epoch: Option<EpochView>,
    /// The applied delegations (shared between views while they do not change).
    #[serde(skip)]
    pub delegations: Arc<DelegationsView>,
    /// Attestation counts and finality, by block.
    #[serde(skip)]
    pub finality: FinalityView,
    /// Address to position in `accounts`, built by the first reader that looks one up, so
    /// the round task never pays for it.
    #[serde(skip)]
    pub index: OnceLock<HashMap<Arc<str>, usize>>,
}

impl LedgerView {
    /// One account by address; `None` when the ledger has never held it.
    pub fn account(&self, address: &str) -> Option<&AccountView> {
        let index = self.index.get_or_init(|| {
            self.accounts
                .iter()
                .enumerate()
                .map(|(i, a)| (a.address.clone(), i))
                .collect()
        });
        index.get(address).and_then(|&i| self.accounts.get(i))
    }
}

/// The pool as readers see it. Shared chunks, one per pool fsync, merged as they pile up
/// (a chunk is always longer than the next), so publishing a view copies O(log pool)
/// pointers rather than the whole pool: it can grow by thousands of transfers a second.
#[derive(Debug, Clone, Default)]
pub struct PoolView {
    chunks: Vec<Arc<[Arc<PendingTxView>]>>,
    len: usize,
    transfers: usize,
    attestations: usize,
    /// Delegations, undelegations and commissions.
    delegations: usize,
}

impl PoolView {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many of the entries are transfers.
    pub fn transfers(&self) -> usize {
        self.transfers
    }

    /// How many of the entries are attestations.
    pub fn attestations(&self) -> usize {
        self.attestations
    }

    /// How many are delegations, undelegations and commissions (the rest, none of these
    /// kinds, are slashes and evidence slashes).
    pub fn delegations(&self) -> usize {
        self.delegations
    }

    /// The entries in acceptance order.
    pub fn iter(&self) -> impl Iterator<Item = &PendingTxView> {
        self.chunks.iter().flat_map(|c| c.iter().map(|e| &**e))
    }

    fn push(&mut self, entries: Vec<Arc<PendingTxView>>) {
        if entries.is_empty() {
            return;
        }
        self.len += entries.len();
        self.transfers += entries.iter().filter(|e| e.kind == "transfer").count();
        self.attestations += entries.iter().filter(|e| e.kind == "attest").count();
        self.delegations += entries
            .iter()
            .filter(|e| matches!(e.kind, "delegate" | "undelegate" | "commission"))
            .count();
        self.chunks.push(entries.into());
        // Like a binary counter: each entry is copied O(log pool) times in all.
        while let [.., a, b] = self.chunks.as_slice() {
            if a.len() > b.len() {
                break;
            }
            let merged: Vec<Arc<PendingTxView>> = a.iter().chain(b.iter()).cloned().collect();
            self.chunks.truncate(self.chunks.len() - 2);
            self.chunks.push(merged.into());
        }
    }
}

impl Serialize for PoolView {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

pub struct Ledger {
    pub accounts: Accounts,
    pub chain_id: Arc<str>,
    /// Durable in the pool log, waiting for a block, in acceptance order.
    pub pool: Vec<Tx>,
    /// Admitted, waiting for the next pool fsync.
    pub(super) unsynced: Vec<(Tx, Ack)>,
    /// Undelegations in the pool, by (validator, delegator).
    pub(super) pending_undelegated: std::collections::HashMap<(String, String), u64>,
    /// Delegations in a snapshot whose attestation window is open: not to be undelegated.
    /// Delegators whose delegations in an open-window snapshot are locked.
    pub(super) locked_delegators: Vec<String>,
    /// Every epoch's stake snapshot so far, oldest first; the last is in force.
    pub snapshots: Vec<Arc<Snapshot>>,
    /// Attestations counted, by block, and which blocks are final.
    pub tracker: Tracker,
    /// Whether a block of the newest snapshot's epoch has committed to it yet.
    pub snapshot_committed: bool,
    /// Accounts with a logged-in session: one session per account.
    sessions: HashSet<Arc<str>>,
    /// `pool` as readers see it, kept alongside so a view does not rebuild it.
    pool_view: PoolView,
    /// What the pool's slashes burn.
    pool_burned: u128,
    /// Accounts slashed on evidence whose bonds the round task has not capped yet.
    pub(super) slashed_now: Vec<String>,
    /// Accounts whose snapshot stake is locked now (see [`Ledger::relock`]).
    pub(super) locked: Vec<String>,
    /// Blocks applied since start-up: with the number of snapshots, when the delegations
    /// may have changed.
    blocks_applied: u64,
    /// The delegations as the last view showed them, and when they were built.
    delegations_view: std::sync::Mutex<Option<(DelegationsKey, Arc<DelegationsView>)>>,
}

impl Ledger {
    /// Takes over the accounts and the pending pool; the pool is checked again.
    ///
    /// # Errors
    /// A pending transaction that no longer applies (the pool log was edited).
    pub fn new(opened: LedgerOpened) -> Result<Ledger, String> {
        let mut l = Ledger {
            accounts: opened.accounts,
            chain_id: opened.chain_id.into(),
            pool: Vec::new(),
            unsynced: Vec::new(),
            sessions: HashSet::new(),
            pool_view: PoolView::default(),
            pool_burned: 0,
            slashed_now: Vec::new(),
            locked: Vec::new(),
            blocks_applied: 0,
            delegations_view: std::sync::Mutex::new(None),
            pending_undelegated: Default::default(),
            locked_delegators: Vec::new(),
            snapshot_committed: opened
                .snapshots
                .last()
                .is_none_or(|s| opened.tip_round >= s.first_round),
            snapshots: opened.snapshots.into_iter().map(Arc::new).collect(),
            tracker: opened.tracker,
        };
        // An epoch whose snapshot was taken, with no block yet: its start had returned the
        // undelegated tokens (the replay returns them at the epoch's first block), and the
        // pool may spend them.
        if !l.snapshot_committed {
            l.accounts.start_epoch();
        }
        for (i, tx) in opened.pending.into_iter().enumerate() {
            let why = match &tx {
                Tx::Transfer(t) => t
                    .check_alone(&l.chain_id)
                    .and_then(|()| l.accounts.check_pending_transfer(t))
                    .err()
                    .map(|e| e.to_string()),
                Tx::Slash {
                    address, amount, ..
                } => {
                    let available = l.accounts.get(address).available();
                    (*amount == 0 || *amount > available)
                        .then(|| format!("burns {amount} of {address}'s {available} available"))
                }
                Tx::Reward { .. } => Some("a reward is never pending".into()),
                Tx::Attest(a) => a
                    .check_alone(&l.chain_id)
                    .map_err(|e| e.to_string())
                    .and_then(|()| {
                        l.tracker
                            .count(&vote(a))
                            .map(|_| ())
                            .map_err(|e| e.to_string())
                    })
                    .err(),
                Tx::Evidence(e) => l.recheck_evidence(e).err(),
                Tx::Delegate(_) | Tx::Undelegate(_) | Tx::Commission(_) => {
                    super::delegations::check_signed_alone(&tx, &l.chain_id)
                        .and_then(|()| l.check_pending_signed(&tx))
                        .err()
                        .map(|e| e.to_string())
                }
            };
            if let Some(why) = why {
                return Err(format!("pending entry {}: {why}", i + 1));
            }
            l.admit_signed(&tx);
            l.pool.push(tx);
        }
        l.pool_view.push(l.pool.iter().map(pending_view).collect());
        l.pool_burned = l.pool.iter().map(slash_amount).sum();
        Ok(l)
    }

    pub fn login(&mut self, address: &Arc<str>) -> Result<Welcome, LoginError> {
        let account = self.accounts.get(address);
        if account.balance == 0 {
            return Err(LoginError::Unknown(address.to_string()));
        }
        if !self.sessions.insert(address.clone()) {
            return Err(LoginError::AlreadyConnected(address.to_string()));
        }
        Ok(Welcome { account })
    }

    pub fn logout(&mut self, address: &str) {
        self.sessions.remove(address);
    }

    pub fn account(&self, address: &str) -> Account {
        self.accounts.get(address)
    }

    /// Bonds `stake` of `address`'s available balance; `Err(available)` when it is more.
    pub fn bond(&mut self, address: &str, stake: u64) -> Result<(), u64> {
        let a = self.accounts.map.entry(address.to_string()).or_default();
        if stake > a.available() {
            return Err(a.available());
        }
        a.bonded = a.bonded.saturating_add(stake);
        Ok(())
    }

    pub fn unbond(&mut self, address: &str, stake: u64) {
        if let Some(a) = self.accounts.map.get_mut(address) {
            a.bonded = a.bonded.saturating_sub(stake);
        }
    }

    /// Admits a transfer whose signature the caller checked ([`Transfer::check_alone`]), or
    /// answers why not at once.
    pub fn submit(&mut self, t: Transfer, reply: oneshot::Sender<Result<String, TxError>>) {
        if let Err(e) = self.accounts.check_pending_transfer(&t) {
            let _ = reply.send(Err(e));
            return;
        }
        let id = t.id();
        let tx = Tx::Transfer(t);
        self.accounts.admit(&tx);
        self.unsynced.push((tx, Ack::Transfer(reply, id)));
    }

    /// Burns a bonded stake: the validator is already removed (and its bond released).
    pub fn slash(
        &mut self,
        address: &str,
        amount: u64,
        round: u64,
        line: String,
        reply: oneshot::Sender<Option<u64>>,
    ) {
        let tx = Tx::Slash {
            address: address.to_string(),
            amount,
            round,
            line,
        };
        self.accounts.admit(&tx);
        self.unsynced.push((tx, Ack::Slash(reply, amount)));
    }

    /// Burned so far, pending slashes included (they are durable in the pool log).
    pub fn burned(&self) -> u128 {
        self.accounts.burned.saturating_add(self.pool_burned)
    }

    /// The snapshot in force; `None` in the bootstrap epoch 0.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshots.last().map(|s| &**s)
    }

    /// `Some` when `address` is not an entrant in the epoch in force.
    pub fn not_entrant(&self, address: &str) -> Option<NotEntrant> {
        let s = self.snapshot()?;
        s.stake_of(address).is_none().then(|| NotEntrant {
            epoch: s.epoch,
            next_round: s.next_first_round(),
        })
    }

    /// What `address`'s bond weighs in a draw now: at most its snapshot stake.
    pub fn weight(&self, address: &str, bond: u64) -> u64 {
        match self.snapshot() {
            // Its bond and what is delegated to it now, at most its snapshot stake.
            Some(s) => s.stake_of(address).map_or(0, |cap| {
                cap.min(bond.saturating_add(self.accounts.get(address).delegated_in))
            }),
            None => bond,
        }
    }

    pub fn has_unsynced(&self) -> bool {
        !self.unsynced.is_empty()
    }

    /// What the next pool fsync writes, and who is told after it.
    pub fn take_unsynced(&mut self) -> (Vec<Tx>, Vec<Ack>) {
        self.unsynced.drain(..).unzip()
    }

    /// The fsync is done: the entries join the pool and everyone is told. Returns the blocks
    /// that became final.
    pub fn synced(&mut self, txs: Vec<Tx>, acks: Vec<Ack>) -> Vec<Finalized> {
        let mut finalized = Vec::new();
        self.pool_view.push(txs.iter().map(pending_view).collect());
        self.pool_burned += txs.iter().map(slash_amount).sum::<u128>();
        self.pool.extend(txs);
        for ack in acks {
            match ack {
                Ack::Transfer(reply, id) => {
                    let _ = reply.send(Ok(id));
                }
                Ack::Slash(reply, amount) => {
                    let _ = reply.send(Some(amount));
                }
                Ack::Attest(reply, count, made_final) => {
                    let _ = reply.send(Ok(count));
                    finalized.extend(made_final);
                }
                Ack::Evidence(Some((reply, why))) => {
                    let _ = reply.send(Err(why));
                }
                Ack::Evidence(None) => {}
            }
        }
        finalized
    }

    /// The next block's transactions: the pool, then the rewards due once it applied (the
    /// winner's or its share, its delegators' shares, the attesters owed), each cut in turn
    /// to what fits under a 2^64 − 1 supply. When the pool burns or sets a commission, worked
    /// out on a copy of the accounts with the pool applied, so those count exactly as the
    /// block will apply them; transfers, delegations and attestations change neither the
    /// supply nor a commission, so a pool of only those needs no copy.
    ///
    /// # Errors
    /// A pool entry that does not apply: a bug, since each was checked on admission.
    pub fn block_txs(&self, winner: &str) -> Result<Vec<Tx>, ApplyError> {
        let lookup = |k: u64| self.tracker.snapshot_of(k);
        let ctx = BlockContext {
            winner,
            due: self.tracker.owed(),
            snapshot: self.snapshot(),
            snapshot_of_block: &lookup,
        };
        let changes_rewards = self
            .pool
            .iter()
            .any(|t| matches!(t, Tx::Slash { .. } | Tx::Evidence(_) | Tx::Commission(_)));
        let scratch;
        let basis = if changes_rewards {
            let mut copy = self.accounts.clone();
            copy.apply_pool(&self.pool, &ctx)?;
            scratch = copy;
            &scratch
        } else {
            &self.accounts
        };
        let mut room = u64::MAX.saturating_sub(basis.supply);
        let mut txs = self.pool.clone();
        for e in basis.expected_rewards(&ctx) {
            let total = e.total.unwrap_or(0);
            let amount = total.min(room);
            room = room.saturating_sub(amount);
            txs.push(Tx::Reward {
                kind: e.kind,
                to: e.to,
                amount,
                cut: total.saturating_sub(amount),
            });
        }
        Ok(txs)
    }

    /// The block with `txs` is durable: apply it and empty the pool.
    ///
    /// # Errors
    /// A transaction that does not apply: a bug, since each was checked on admission.
    pub fn applied(&mut self, txs: &[Tx], winner: &str) -> Result<(), ApplyError> {
        self.pool.clear();
        self.pool_view = PoolView::default();
        self.pool_burned = 0;
        self.pending_undelegated.clear();
        let tracker = &self.tracker;
        let lookup = |k: u64| tracker.snapshot_of(k);
        let ctx = BlockContext {
            winner,
            due: tracker.owed(),
            snapshot: self.snapshots.last().map(|s| &**s),
            snapshot_of_block: &lookup,
        };
        self.blocks_applied = self.blocks_applied.wrapping_add(1);
        self.accounts.apply_block_in(txs, &ctx)?;
        self.tracker.paid();
        Ok(())
    }

    pub fn view(&self) -> LedgerView {
        let mut accounts: Vec<AccountView> = self
            .accounts
            .map
            .iter()
            .map(|(address, a)| AccountView {
                address: address.as_str().into(),
                balance: a.balance,
                available: a.available(),
                bonded: a.bonded,
                locked: a.locked,
                transferable: a.transferable(),
                nonce: a.nonce,
                next_nonce: a.next_nonce(),
                wins: a.wins,
                connected: self.sessions.contains(address.as_str()),
                delegated_out: a.delegated_out,
                delegated_in: a.delegated_in,
                commission: a.commission,
            })
            .collect();
        accounts.sort_unstable_by(|a, b| b.balance.cmp(&a.balance).then(a.address.cmp(&b.address)));
        LedgerView {
            chain_id: self.chain_id.clone(),
            accounts,
            supply: self.accounts.supply,
            genesis_total: self.accounts.genesis_total,
            minted: self.accounts.minted,
            burned: self.accounts.burned,
            cut: self.accounts.cut,
            transfers: self.accounts.transfers,
            pool: self.pool_view.clone(),
            epoch: self.snapshot().map(|s| EpochView {
                epoch: s.epoch,
                first_round: s.first_round,
                last_round: s.last_round(),
                snapshot_accounts: s.stakes.len(),
                snapshot_stake: s.total(),
            }),
            finality: self.tracker.view(),
            delegations: self.delegations_view(),
            index: OnceLock::new(),
        }
    }

    /// The delegations for a view: the last one's unless a block was applied or an epoch
    /// started since, so publishing costs no copy of them in between.
    fn delegations_view(&self) -> Arc<DelegationsView> {
        let key = (self.blocks_applied, self.snapshots.len());
        let mut cached = self
            .delegations_view
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match &*cached {
            Some((built, view)) if *built == key => view.clone(),
            _ => {
                let view = Arc::new(DelegationsView::of(&self.accounts));
                *cached = Some((key, view.clone()));
                view
            }
        }
    }
}

fn pending_view(tx: &Tx) -> Arc<PendingTxView> {
    Arc::new(PendingTxView {
        kind: tx.kind(),
        id: tx.id(),
        tx: pool_fields(tx),
    })
}

fn slash_amount(tx: &Tx) -> u128 {
    match tx {
        Tx::Slash { amount, .. } | Tx::Evidence(Evidence { amount, .. }) => u128::from(*amount),
        _ => 0,
    }
}

/// A pending entry's fields in the API's lowercase spelling, in the order of the transfer
/// body (`from`, `to`, `amount`, `nonce`, `signature`).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum PendingFields {
    Transfer {
        from: String,
        to: String,
        amount: u64,
        nonce: u64,
        signature: String,
    },
    Slash {
        address: String,
        amount: u64,
        round: u64,
        line: String,
    },
    Reward {
        to: String,
        amount: u64,
        cut: u64,
    },
    Attest {
        address: String,
        index: u64,
        hash: String,
        round: u64,
        signature: String,
    },
    Evidence {
        address: String,
        index: u64,
        amount: u64,
        round: u64,
        first_hash: String,
        first_signature: String,
        second_hash: String,
        second_signature: String,
    },
    Commission {
        from: String,
        percent: u64,
        nonce: u64,
        signature: String,
    },
}

fn pool_fields(tx: &Tx) -> PendingFields {
    match tx.clone() {
        Tx::Transfer(t) => PendingFields::Transfer {
            from: t.from,
            to: t.to,
            amount: t.amount,
            nonce: t.nonce,
            signature: t.signature,
        },
        Tx::Slash {
            address,
            amount,
            round,
            line,
        } => PendingFields::Slash {
            address,
            amount,
            round,
            line,
        },
        Tx::Reward {
            to, amount, cut, ..
        } => PendingFields::Reward { to, amount, cut },
        Tx::Attest(a) => PendingFields::Attest {
            address: a.address,
            index: a.index,
            hash: a.hash,
            round: a.round,
            signature: a.signature,
        },
        // A delegation's fields are a transfer's: its `type` tells them apart.
        Tx::Delegate(d) | Tx::Undelegate(d) => PendingFields::Transfer {
            from: d.from,
            to: d.to,
            amount: d.amount,
            nonce: d.nonce,
            signature: d.signature,
        },
        Tx::Commission(c) => PendingFields::Commission {
            from: c.from,
            percent: c.percent,
            nonce: c.nonce,
            signature: c.signature,
        },
        Tx::Evidence(e) => PendingFields::Evidence {
            address: e.address,
            index: e.index,
            amount: e.amount,
            round: e.round,
            first_hash: e.first_hash,
            first_signature: e.first_signature,
            second_hash: e.second_hash,
            second_signature: e.second_signature,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> Arc<PendingTxView> {
        Arc::new(PendingTxView {
            kind: if n.is_multiple_of(3) {
                "slash"
            } else {
                "transfer"
            },
            id: n.to_string(),
            tx: PendingFields::Reward {
                to: String::new(),
                amount: 0,
                cut: 0,
            },
        })
    }

    #[test]
    fn the_delegations_view_indexes_both_ways_and_sums_what_returns() {
        let a = |c: char| c.to_string().repeat(64);
        let mut accounts = Accounts::default();
        for (v, d, amount) in [('v', 'b', 5), ('v', 'a', 7), ('w', 'a', 3)] {
            accounts.delegations.insert((a(v), a(d)), amount);
        }
        accounts.returning = vec![(a('a'), 2), (a('b'), 1), (a('a'), 4)];
        let view = DelegationsView::of(&accounts);
        let out: Vec<(String, u64)> = view
            .out_of(&a('a'))
            .iter()
            .map(|d| (d.to.clone(), d.amount))
            .collect();
        assert_eq!(out, [(a('v'), 7), (a('w'), 3)]);
        let to: Vec<(String, u64)> = view
            .to(&a('v'))
            .iter()
            .map(|d| (d.from.clone(), d.amount))
            .collect();
        assert_eq!(to, [(a('a'), 7), (a('b'), 5)]);
        assert!(view.to(&a('a')).is_empty() && view.out_of(&a('v')).is_empty());
        assert_eq!(
            (view.returning_to(&a('a')), view.returning_to(&a('v'))),
            (6, 0)
        );
    }

    #[test]
    fn the_pool_view_keeps_acceptance_order_in_few_chunks() {
        let mut pool = PoolView::default();
        let mut next = 0;
        for size in (0..300).map(|i| 1 + i % 7) {
            pool.push((next..next + size).map(entry).collect());
            next += size;
            let ids: Vec<usize> = pool.iter().map(|e| e.id.parse().unwrap()).collect();
            assert_eq!(ids, (0..next).collect::<Vec<_>>());
            assert_eq!(pool.len(), next);
            assert_eq!(
                pool.transfers(),
                (0..next).filter(|n| !n.is_multiple_of(3)).count()
            );
            // Each chunk is longer than the next: at most log2(len) + 1 of them.
            assert!(pool.chunks.len() <= next.ilog2() as usize + 1, "{next}");
        }
        let json = serde_json::to_value(&pool).unwrap();
        assert_eq!(json.as_array().unwrap().len(), next);
        assert_eq!(json[0]["type"], "slash");
    }
}
