//! Ledger mode's state: every account's balance, nonce and wins, and the supply.
//!
//! Pure, like [`crate::tx`]: the server admits and applies transactions here, and `verify`
//! replays the chain through the same [`Accounts::apply_block`], so both apply one rule.
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

use serde::Serialize;

use crate::chain::is_hex64;
pub use crate::delegation::{share, BlockContext, ExpectedReward};
use crate::tx::{Genesis, RewardKind, Transfer, Tx, TxError};

/// One account's standing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Account {
    /// Everything it owns, bonded stake included.
    pub balance: u64,
    /// The nonce of its last applied transfer (0 before its first).
    pub nonce: u64,
    /// Blocks won.
    pub wins: u64,
    /// Stake bonded by its session (server only; 0 in a replay).
    pub bonded: u64,
    /// Transfers and slashes out of it waiting in the pool (server only).
    pub pending_out: u64,
    /// Its transfers waiting in the pool (server only).
    pub pending_transfers: u64,
    /// Snapshot stake that may not be transferred yet: its epoch's attestation window is
    /// open, and evidence could still burn it (server only).
    pub locked: u64,
    /// Tokens it delegated to validators, and undelegated ones not yet returned: part of its
    /// balance that it cannot move, bond or burn as its own.
    pub delegated_out: u64,
    /// What others delegated to it.
    pub delegated_in: u64,
    /// What it delegated in a snapshot whose attestation window is open: kept within its
    /// reach (delegated still, or back in its balance but not to be moved) until the window
    /// closes, as evidence against the validator could burn part of it (server only).
    pub locked_delegated: u64,
    /// The percent of each of its block rewards it keeps before the rest is shared by stake.
    pub commission: u64,
}

impl Account {
    /// balance − bonded − delegated out − pending out: what a stake, a delegation or a
    /// transfer may draw on.
    pub fn available(&self) -> u64 {
        self.balance
            .saturating_sub(self.bonded)
            .saturating_sub(self.delegated_out)
            .saturating_sub(self.pending_out)
    }

    /// balance − max(bonded, locked) − pending out: what a transfer may move. Bonding may
    /// use locked tokens (they stay at stake); a transfer may not.
    pub fn transferable(&self) -> u64 {
        self.balance
            .saturating_sub(self.bonded.max(self.locked))
            .saturating_sub(self.delegated_out.max(self.locked_delegated))
            .saturating_sub(self.pending_out)
    }

    /// The nonce the account's next signed transaction (transfer, delegation, commission)
    /// must carry.
    pub fn next_nonce(&self) -> u64 {
        self.nonce
            .saturating_add(self.pending_transfers)
            .saturating_add(1)
    }
}

/// Every account, and the supply: the ledger's whole state at one height.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    pub map: std::collections::HashMap<String, Account>,
    /// genesis + minted − burned; never above 2^64 − 1.
    pub supply: u64,
    pub genesis_total: u64,
    pub minted: u128,
    pub burned: u128,
    /// Rewards not minted because they would have passed 2^64 − 1.
    pub cut: u128,
    pub transfers: u64,
    /// Addresses already found to be valid keys: decompressing a point costs about as much
    /// as half a signature check, and the same recipients come back block after block.
    valid_keys: std::collections::HashSet<String>,
    /// The chain's `BlockReward` (its genesis block's): every reward's `Amount + Cut`.
    pub block_reward: Option<u64>,
    /// Applied delegations, (validator, delegator) to amount.
    pub delegations: std::collections::BTreeMap<(String, String), u64>,
    /// Undelegated tokens, (delegator, amount): returned when the next epoch starts.
    pub returning: Vec<(String, u64)>,
}

/// What applying one transaction found wrong (a replay names the block).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("transaction {at} ({kind}): {reason}")]
    Invalid {
        at: usize,
        kind: &'static str,
        reason: String,
    },
}

impl Accounts {
    pub fn from_genesis(g: &Genesis) -> Accounts {
        let total = g.total();
        Accounts {
            map: g
                .accounts
                .iter()
                .map(|(a, b)| {
                    (
                        a.clone(),
                        Account {
                            balance: *b,
                            ..Account::default()
                        },
                    )
                })
                .collect(),
            supply: total,
            genesis_total: total,
            ..Accounts::default()
        }
    }

    /// Checks every reward against the chain's `BlockReward`.
    pub fn with_block_reward(mut self, block_reward: Option<u64>) -> Accounts {
        self.block_reward = block_reward;
        self
    }

    pub fn get(&self, address: &str) -> Account {
        self.map.get(address).copied().unwrap_or_default()
    }

    /// Checks a transfer against the state with the pool counted in (submission), after
    /// [`Transfer::check_alone`]. Nothing is changed.
    ///
    /// # Errors
    /// A wrong nonce, or an amount above what is available.
    pub fn check_pending_transfer(&self, t: &Transfer) -> Result<(), TxError> {
        let a = self.get(&t.from);
        if a.balance == 0 {
            return Err(TxError::Unknown(t.from.clone()));
        }
        if t.nonce != a.next_nonce() {
            return Err(TxError::Nonce {
                found: t.nonce,
                expected: a.next_nonce(),
            });
        }
        if t.amount > a.available() {
            return Err(TxError::Insufficient {
                address: t.from.clone(),
                amount: t.amount,
                available: a.available(),
            });
        }
        if t.amount > a.transferable() {
            return Err(TxError::Locked {
                address: t.from.clone(),
                amount: t.amount,
                transferable: a.transferable(),
                locked: a
                    .locked
                    .saturating_add(a.locked_delegated.saturating_sub(a.delegated_out)),
            });
        }
        Ok(())
    }

    /// Counts a transaction accepted into the pool as pending out of its sender.
    pub fn admit(&mut self, tx: &Tx) {
        match tx {
            Tx::Transfer(t) => {
                let a = self.map.entry(t.from.clone()).or_default();
                a.pending_out = a.pending_out.saturating_add(t.amount);
                a.pending_transfers = a.pending_transfers.saturating_add(1);
            }
            Tx::Slash {
                address, amount, ..
            }
            | Tx::Evidence(crate::tx::Evidence {
                address, amount, ..
            }) => {
                let a = self.map.entry(address.clone()).or_default();
                a.pending_out = a.pending_out.saturating_add(*amount);
            }
            Tx::Delegate(d) => {
                let a = self.map.entry(d.from.clone()).or_default();
                a.pending_out = a.pending_out.saturating_add(d.amount);
                a.pending_transfers = a.pending_transfers.saturating_add(1);
            }
            Tx::Undelegate(crate::tx::Delegation { from, .. })
            | Tx::Commission(crate::tx::Commission { from, .. }) => {
                let a = self.map.entry(from.clone()).or_default();
                a.pending_transfers = a.pending_transfers.saturating_add(1);
            }
            // An attestation moves no tokens.
            Tx::Reward { .. } | Tx::Attest(_) => {}
        }
    }

    /// Applies a block's transactions, in order, after its draw's `winner` is known: the pool
    /// entries, then the winner's reward, last. For a block with no delegators, no attesters
    /// owed and no snapshot; see [`Accounts::apply_block_in`].
    ///
    /// # Errors
    /// The first invalid transaction, by position.
    pub fn apply_block(&mut self, txs: &[Tx], winner: &str) -> Result<(), ApplyError> {
        self.apply_block_in(txs, &BlockContext::new(winner))
    }

    /// [`Accounts::apply_block`] with attest rewards `due` after the winner's.
    ///
    /// # Errors
    /// The first invalid transaction, by position.
    pub fn apply_block_paying(
        &mut self,
        txs: &[Tx],
        winner: &str,
        due: &[(String, u64)],
    ) -> Result<(), ApplyError> {
        self.apply_block_in(
            txs,
            &BlockContext {
                due,
                ..BlockContext::new(winner)
            },
        )
    }

    /// Applies a block's transactions in `ctx`: the pool's entries (transfers, slashes,
    /// attestations, evidence, delegations, commissions) in order, then exactly the rewards
    /// [`Accounts::expected_rewards`] names once they applied: the winner's, its delegators'
    /// shares, then the attesters owed, each cut to what fits under 2^64 − 1. Pending counts
    /// (server) are released as their transactions apply.
    ///
    /// On error nothing is guaranteed about `self`: a replay stops at the first error.
    ///
    /// # Errors
    /// The first invalid transaction, by position.
    pub fn apply_block_in(&mut self, txs: &[Tx], ctx: &BlockContext<'_>) -> Result<(), ApplyError> {
        let pool_len = txs
            .iter()
            .position(|t| matches!(t, Tx::Reward { .. }))
            .unwrap_or(txs.len());
        let (pool, rewards) = txs.split_at(pool_len);
        self.apply_pool(pool, ctx)?;
        let expected = self.expected_rewards(ctx);
        for (i, want) in expected.iter().enumerate() {
            let at = pool_len.saturating_add(i);
            let Some(tx) = rewards.get(i) else {
                return Err(ApplyError::Invalid {
                    at,
                    kind: "reward",
                    reason: format!(
                        "the block ends early: expected {} here ({} rewards after the pool's entries: the winner's, its delegators' shares, then the attesters owed)",
                        want.describe(),
                        expected.len()
                    ),
                });
            };
            let invalid = |reason: String| ApplyError::Invalid {
                at,
                kind: tx.kind(),
                reason,
            };
            let Tx::Reward {
                kind,
                to,
                amount,
                cut,
            } = tx
            else {
                return Err(invalid(format!(
                    "a reward comes only after the pool's entries; expected {} here",
                    want.describe()
                )));
            };
            if *kind != want.kind || *to != want.to {
                return Err(invalid(format!(
                    "expected {} here, found {} {} reward to {to}",
                    want.describe(),
                    if *kind == RewardKind::Attest {
                        "an"
                    } else {
                        "a"
                    },
                    kind.word()
                )));
            }
            if let Some(total) = want.total {
                if amount.checked_add(*cut) != Some(total) {
                    let whole = want.kind == RewardKind::Block && Some(total) == self.block_reward;
                    return Err(invalid(if whole {
                        format!(
                            "Amount {amount} + Cut {cut} is not the chain's BlockReward {total}"
                        )
                    } else {
                        format!(
                            "Amount {amount} + Cut {cut} is not {total}, {}",
                            want.describe()
                        )
                    }));
                }
            }
            self.mint(to, *amount, *cut, *kind == RewardKind::Block)
                .map_err(invalid)?;
        }
        if let Some(extra) = rewards.get(expected.len()) {
            let at = pool_len.saturating_add(expected.len());
            return Err(ApplyError::Invalid {
                at,
                kind: extra.kind(),
                reason: if pool.is_empty() && expected.is_empty() {
                    "no transactions: every block ends with the winner's reward".into()
                } else {
                    format!(
                        "a transaction after the block's last reward ({} rewards are due: the winner's, its delegators' shares, then the attesters owed)",
                        expected.len()
                    )
                },
            });
        }
        if txs.is_empty() {
            return Err(ApplyError::Invalid {
                at: 0,
                kind: "reward",
                reason: "no transactions: every block ends with the winner's reward".into(),
            });
        }
        Ok(())
    }

    /// The pool's entries, in order (a block's transactions before its rewards).
    ///
    /// # Errors
    /// The first that does not apply, by position.
    pub fn apply_pool(&mut self, pool: &[Tx], ctx: &BlockContext<'_>) -> Result<(), ApplyError> {
        for (at, tx) in pool.iter().enumerate() {
            self.apply_entry(tx, ctx)
                .map_err(|reason| ApplyError::Invalid {
                    at,
                    kind: tx.kind(),
                    reason,
                })?;
        }
        Ok(())
    }

    /// One pool entry.
    fn apply_entry(&mut self, tx: &Tx, ctx: &BlockContext<'_>) -> Result<(), String> {
        match tx {
            Tx::Transfer(t) => self.apply_transfer(t).map_err(|e| e.to_string()),
            // Counted by the attestation tracker ([`crate::attest`]); no balance changes.
            Tx::Attest(_) => Ok(()),
            Tx::Slash {
                address,
                amount,
                line,
                ..
            } => {
                if !is_hex64(address) {
                    return Err(format!("Address {address:?} is not an address"));
                }
                if *amount == 0 {
                    return Err("Amount is 0; a slash burns a stake of at least 1".into());
                }
                if line.contains('\n') {
                    // The canonical line ends with Line: a newline in it would let two
                    // different transaction lists share one TxHash.
                    return Err("Line contains a newline; an offending line never does".into());
                }
                self.burn_own(address, *amount)?;
                // Its delegators lose DelegationSlashPercent of what they delegated to it.
                let percent = ctx
                    .snapshot
                    .map_or(0, |s| s.delegation_slash_percent.unwrap_or(0));
                let current: Vec<(String, u64)> = self.delegations_to(address);
                for (delegator, delegated) in current {
                    let burn = share(delegated, percent, 100);
                    self.burn_delegation(address, &delegator, burn);
                }
                Ok(())
            }
            // Its signatures and snapshot are checked by the replay; here, the burns.
            Tx::Evidence(e) => {
                if e.amount == 0 {
                    return Err("Amount is 0; an evidence slash burns at least 1".into());
                }
                self.burn_own(&e.address, e.amount)?;
                if let Some(s) = (ctx.snapshot_of_block)(e.index) {
                    let percent = s.delegation_slash_percent.unwrap_or(0);
                    for (delegator, in_snapshot) in s.delegations_to(&e.address) {
                        let burn = share(in_snapshot, percent, 100);
                        self.burn_delegator(&e.address, delegator, burn);
                    }
                }
                Ok(())
            }
            Tx::Delegate(d) => self.apply_delegate(d),
            Tx::Undelegate(d) => self.apply_undelegate(d),
            Tx::Commission(c) => self.apply_commission(c),
            Tx::Reward { .. } => Err("a reward comes only after the pool's entries".into()),
        }
    }

    /// Credits a reward of `amount` (`cut` more did not fit) to `to`.
    fn mint(&mut self, to: &str, amount: u64, cut: u64, win: bool) -> Result<(), String> {
        let room = u64::MAX.saturating_sub(self.supply);
        if amount > room {
            return Err(format!(
                "Amount {amount} would take the supply past 2^64 - 1 (room for {room})"
            ));
        }
        if cut > 0 && amount != room {
            return Err(format!(
                "Cut is {cut}, but only a reward that fills the supply to 2^64 - 1 is cut (room for {room}, Amount {amount})"
            ));
        }
        let a = self.map.entry(to.to_string()).or_default();
        a.balance = a.balance.saturating_add(amount);
        if win {
            a.wins = a.wins.saturating_add(1);
        }
        self.supply = self.supply.saturating_add(amount);
        self.minted = self.minted.saturating_add(u128::from(amount));
        self.cut = self.cut.saturating_add(u128::from(cut));
        Ok(())
    }

    /// Burns `amount` of `address`'s own tokens: never what it delegated out.
    fn burn_own(&mut self, address: &str, amount: u64) -> Result<(), String> {
        let a = self.map.entry(address.to_string()).or_default();
        let own = a.balance.saturating_sub(a.delegated_out);
        if amount > own {
            return Err(if a.delegated_out == 0 {
                format!(
                    "burns {amount} from {address}, which holds only {}",
                    a.balance
                )
            } else {
                format!(
                    "burns {amount} from {address}, which holds {} of its own ({} of its balance is delegated out)",
                    own, a.delegated_out
                )
            });
        }
        a.balance = a.balance.saturating_sub(amount);
        a.pending_out = a.pending_out.saturating_sub(amount);
        self.supply = self.supply.saturating_sub(amount);
        self.burned = self.burned.saturating_add(u128::from(amount));
        Ok(())
    }

    /// Whether `address` is an Ed25519 public key, remembered once found.
    pub(crate) fn is_valid_key(&mut self, address: &str) -> bool {
        if self.valid_keys.contains(address) {
            return true;
        }
        let valid = crate::tx::verifying_key(address).is_some();
        if valid {
            self.valid_keys.insert(address.to_string());
        }
        valid
    }

    /// Applies one transfer whose signature is checked already (batch or one by one).
    fn apply_transfer(&mut self, t: &Transfer) -> Result<(), TxError> {
        if !is_hex64(&t.from) {
            return Err(TxError::Address("from", t.from.clone()));
        }
        if !self.is_valid_key(&t.to) {
            return Err(TxError::Address("to", t.to.clone()));
        }
        if t.amount == 0 {
            return Err(TxError::ZeroAmount);
        }
        if t.from == t.to {
            return Err(TxError::ToItself);
        }
        let from = self.map.entry(t.from.clone()).or_default();
        let expected = from.nonce.saturating_add(1);
        if t.nonce != expected {
            return Err(TxError::Nonce {
                found: t.nonce,
                expected,
            });
        }
        // Delegated tokens stay the delegator's, but cannot move.
        let movable = from.balance.saturating_sub(from.delegated_out);
        if t.amount > movable {
            return Err(TxError::Other(if from.delegated_out == 0 {
                format!(
                    "amount {} is more than the {} that {} holds",
                    t.amount, from.balance, t.from
                )
            } else {
                format!(
                    "amount {} is more than the {movable} that {} may move (its balance {} less the {} it delegated out)",
                    t.amount, t.from, from.balance, from.delegated_out
                )
            }));
        }
        from.balance = from.balance.saturating_sub(t.amount);
        from.nonce = t.nonce;
        from.pending_out = from.pending_out.saturating_sub(t.amount);
        from.pending_transfers = from.pending_transfers.saturating_sub(1);
        let to = self.map.entry(t.to.clone()).or_default();
        // Cannot overflow: the supply, which includes both balances, fits a u64.
        to.balance = to.balance.saturating_add(t.amount);
        self.transfers = self.transfers.saturating_add(1);
        Ok(())
    }

    /// The reward the winner gets for `block_reward`: cut to what fits under 2^64 − 1.
    pub fn reward_for(&self, winner: &str, block_reward: u64) -> Tx {
        self.reward_after_burning(winner, block_reward, 0)
    }

    /// [`Accounts::reward_for`] in a block whose earlier transactions burn `burned` first
    /// (its slashes), which makes that much more room under 2^64 − 1.
    pub fn reward_after_burning(&self, winner: &str, block_reward: u64, burned: u64) -> Tx {
        let room = u64::MAX.saturating_sub(self.supply.saturating_sub(burned));
        let amount = block_reward.min(room);
        Tx::Reward {
            kind: RewardKind::Block,
            to: winner.to_string(),
            amount,
            cut: block_reward.saturating_sub(amount),
        }
    }

    /// The winner's reward and then the attest rewards `due`, each cut in turn to what still
    /// fits under 2^64 − 1 once the block's slashes burned `burned`.
    pub fn rewards_after_burning(
        &self,
        winner: &str,
        block_reward: u64,
        burned: u64,
        due: &[(String, u64)],
    ) -> Vec<Tx> {
        let mut room = u64::MAX.saturating_sub(self.supply.saturating_sub(burned));
        let mut out = Vec::with_capacity(due.len().saturating_add(1));
        let block = std::iter::once((RewardKind::Block, winner, block_reward));
        let attest = due
            .iter()
            .map(|(to, r)| (RewardKind::Attest, to.as_str(), *r));
        for (kind, to, reward) in block.chain(attest) {
            let amount = reward.min(room);
            room = room.saturating_sub(amount);
            out.push(Tx::Reward {
                kind,
                to: to.to_string(),
                amount,
                cut: reward.saturating_sub(amount),
            });
        }
        out
    }

    /// Accounts that hold a balance.
    pub fn holders(&self) -> usize {
        self.map.values().filter(|a| a.balance > 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx::address_of;
    use ed25519_dalek::SigningKey;
    use std::collections::BTreeMap;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    #[test]
    fn the_pool_counts_nonces_and_amounts_before_they_apply() {
        let (a, b) = (key(1), key(2));
        let (aa, ba) = (address_of(&a), address_of(&b));
        let mut accounts = BTreeMap::new();
        accounts.insert(aa.clone(), 100);
        let mut s = Accounts::from_genesis(&Genesis { accounts });
        let t1 = Transfer::sign(&a, "c", &ba, 60, 1);
        assert_eq!(s.check_pending_transfer(&t1), Ok(()));
        s.admit(&Tx::Transfer(t1.clone()));
        // Replaying nonce 1 while it is pending is refused, and so is spending it twice.
        assert!(matches!(
            s.check_pending_transfer(&t1),
            Err(TxError::Nonce { expected: 2, .. })
        ));
        let t2 = Transfer::sign(&a, "c", &ba, 41, 2);
        assert!(matches!(
            s.check_pending_transfer(&t2),
            Err(TxError::Insufficient { available: 40, .. })
        ));
        let txs = vec![Tx::Transfer(t1), s.reward_for(&ba, 5)];
        s.apply_block(&txs, &ba).unwrap();
        assert_eq!(s.get(&aa).balance, 40);
        assert_eq!(s.get(&aa).available(), 40);
        assert_eq!(s.get(&ba).balance, 65);
        assert_eq!(s.get(&ba).wins, 1);
        assert_eq!(s.supply, 105);
    }

    #[test]
    fn a_reward_must_be_the_chains_block_reward() {
        let a = address_of(&key(1));
        let s = Accounts::from_genesis(&Genesis {
            accounts: [(a.clone(), 5)].into(),
        })
        .with_block_reward(Some(10));
        let reward = |amount, cut| Tx::Reward {
            kind: crate::tx::RewardKind::Block,
            to: a.clone(),
            amount,
            cut,
        };
        assert!(s.clone().apply_block(&[reward(10, 0)], &a).is_ok());
        let err = s.clone().apply_block(&[reward(11, 0)], &a).unwrap_err();
        assert!(
            err.to_string()
                .contains("Amount 11 + Cut 0 is not the chain's BlockReward 10"),
            "{err}"
        );
        assert!(s.clone().apply_block(&[reward(9, 0)], &a).is_err());
    }

    #[test]
    fn a_reward_is_cut_to_what_fits_and_the_cut_is_recorded() {
        let mut accounts = BTreeMap::new();
        let a = address_of(&key(1));
        accounts.insert(a.clone(), u64::MAX - 3);
        let mut s = Accounts::from_genesis(&Genesis { accounts });
        let r = s.reward_for(&a, 10);
        assert_eq!(
            r,
            Tx::Reward {
                kind: crate::tx::RewardKind::Block,
                to: a.clone(),
                amount: 3,
                cut: 7
            }
        );
        s.apply_block(&[r], &a).unwrap();
        assert_eq!(s.supply, u64::MAX);
        // A cut that is not needed is refused.
        let wrong = Tx::Reward {
            kind: crate::tx::RewardKind::Block,
            to: a.clone(),
            amount: 0,
            cut: 1,
        };
        assert!(
            s.clone().apply_block(&[wrong], &a).is_ok(),
            "room is 0, so 0 + cut is right"
        );
        let mut s2 = Accounts::from_genesis(&Genesis {
            accounts: [(a.clone(), 5)].into(),
        });
        let bad = Tx::Reward {
            kind: crate::tx::RewardKind::Block,
            to: a.clone(),
            amount: 1,
            cut: 1,
        };
        assert!(s2.apply_block(&[bad], &a).is_err());
    }

    #[test]
    fn a_block_applies_in_order_and_names_the_first_bad_transaction() {
        let (a, b) = (key(1), key(2));
        let (aa, ba) = (address_of(&a), address_of(&b));
        let mut s = Accounts::from_genesis(&Genesis {
            accounts: [(aa.clone(), 10)].into(),
        });
        let slash = Tx::Slash {
            address: aa.clone(),
            amount: 11,
            round: 3,
            line: "x".into(),
        };
        let err = s
            .clone()
            .apply_block(&[slash, s.reward_for(&ba, 1)], &ba)
            .unwrap_err();
        assert!(
            err.to_string().starts_with("transaction 0 (slash)"),
            "{err}"
        );
        let t = Tx::Transfer(Transfer::sign(&a, "c", &ba, 5, 2));
        let err = s.apply_block(&[t, s.reward_for(&ba, 1)], &ba).unwrap_err();
        assert!(err.to_string().contains("nonce is 2, expected 1"), "{err}");
    }
}
