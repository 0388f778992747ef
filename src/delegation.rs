//! Ledger mode's delegation: pure, like [`crate::accounts`], whose state it extends.
//!
//! An account delegates tokens to a validator with a signed `delegate` transaction: they stay
//! in its balance but leave its `available`, and count toward the validator's stake from the
//! next snapshot (a validator's snapshot stake is its own bond plus what is delegated to it,
//! when it has a staked session as the epoch opens). An `undelegate` stops a delegation from
//! counting at once; its tokens come back to the delegator's `available` when the next epoch
//! starts. A block reward `R` to a validator with own snapshot stake `b`, snapshot
//! delegations `d_i` and commission `c` percent: the validator keeps `⌊R·c/100⌋`; the rest
//! `R'` is shared by stake, each delegator `⌊R'·d_i/(b + Σd)⌋`, and the validator keeps what
//! is left. A slash of a validator's bond also burns `DelegationSlashPercent` of each
//! delegation to it (rounded down), from the delegators' balances.
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

use std::sync::Arc;

use crate::accounts::Accounts;
use crate::epoch::Snapshot;
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};

use crate::chain::is_hex64;
use crate::tx::{
    address_of, check_signature_with, is_public_key, verifying_key, RewardKind, TxError,
};

/// Most a validator's commission may be, in percent.
pub const MAX_COMMISSION: u64 = 100;

/// Delegating tokens to a validator, or asking them back: `from` signs
/// `pos-lottery <delegate|undelegate> v1 <chain id> <from> <to> <amount> <nonce>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delegation {
    #[serde(rename = "From")]
    pub from: String,
    /// The validator.
    #[serde(rename = "To")]
    pub to: String,
    #[serde(rename = "Amount")]
    pub amount: u64,
    #[serde(rename = "Nonce")]
    pub nonce: u64,
    #[serde(rename = "Signature")]
    pub signature: String,
}

/// Which way a [`Delegation`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Delegate,
    Undelegate,
}

impl Direction {
    pub fn word(self) -> &'static str {
        match self {
            Direction::Delegate => "delegate",
            Direction::Undelegate => "undelegate",
        }
    }
}

impl Delegation {
    /// Builds and signs one from `key`'s account.
    pub fn sign(
        key: &SigningKey,
        way: Direction,
        chain_id: &str,
        to: &str,
        amount: u64,
        nonce: u64,
    ) -> Delegation {
        let from = address_of(key);
        let message = delegation_message(way, chain_id, &from, to, amount, nonce);
        Delegation {
            from,
            to: to.to_string(),
            amount,
            nonce,
            signature: hex::encode(key.sign(message.as_bytes()).to_bytes()),
        }
    }

    pub fn message(&self, way: Direction, chain_id: &str) -> String {
        delegation_message(way, chain_id, &self.from, &self.to, self.amount, self.nonce)
    }

    /// Addresses, amount, and the signature.
    ///
    /// # Errors
    /// [`TxError`] with the reason.
    pub fn check_alone(&self, way: Direction, chain_id: &str) -> Result<(), TxError> {
        let key =
            verifying_key(&self.from).ok_or_else(|| TxError::Address("from", self.from.clone()))?;
        if !is_hex64(&self.to) || !is_public_key(&self.to) {
            return Err(TxError::Address("to", self.to.clone()));
        }
        if self.amount == 0 {
            return Err(TxError::Other(format!(
                "amount is 0; {} moves at least 1 token",
                match way {
                    Direction::Delegate => "a delegation",
                    Direction::Undelegate => "an undelegation",
                }
            )));
        }
        if self.from == self.to {
            return Err(TxError::Other(format!(
                "an account cannot {} to itself: its own stake is what it bonds",
                way.word()
            )));
        }
        check_signature_with(
            &key,
            self.message(way, chain_id).as_bytes(),
            &self.signature,
        )
        .map_err(TxError::Signature)
    }
}

/// `pos-lottery <delegate|undelegate> v1 <chain id> <from> <to> <amount> <nonce>`.
pub fn delegation_message(
    way: Direction,
    chain_id: &str,
    from: &str,
    to: &str,
    amount: u64,
    nonce: u64,
) -> String {
    format!(
        "pos-lottery {} v1 {chain_id} {from} {to} {amount} {nonce}",
        way.word()
    )
}

/// A validator's commission: the percent of each block reward it keeps before the rest is
/// shared by stake. `from` signs `pos-lottery commission v1 <chain id> <from> <percent> <nonce>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Commission {
    #[serde(rename = "From")]
    pub from: String,
    #[serde(rename = "Percent")]
    pub percent: u64,
    #[serde(rename = "Nonce")]
    pub nonce: u64,
    #[serde(rename = "Signature")]
    pub signature: String,
}

impl Commission {
    pub fn sign(key: &SigningKey, chain_id: &str, percent: u64, nonce: u64) -> Commission {
        let from = address_of(key);
        let message = commission_message(chain_id, &from, percent, nonce);
        Commission {
            from,
            percent,
            nonce,
            signature: hex::encode(key.sign(message.as_bytes()).to_bytes()),
        }
    }

    pub fn message(&self, chain_id: &str) -> String {
        commission_message(chain_id, &self.from, self.percent, self.nonce)
    }

    /// The address, the percent (0 to 100), the signature.
    ///
    /// # Errors
    /// [`TxError`] with the reason.
    pub fn check_alone(&self, chain_id: &str) -> Result<(), TxError> {
        let key =
            verifying_key(&self.from).ok_or_else(|| TxError::Address("from", self.from.clone()))?;
        if self.percent > MAX_COMMISSION {
            return Err(TxError::Other(format!(
                "percent is {}; a commission is 0 to 100",
                self.percent
            )));
        }
        check_signature_with(&key, self.message(chain_id).as_bytes(), &self.signature)
            .map_err(TxError::Signature)
    }
}

/// `pos-lottery commission v1 <chain id> <from> <percent> <nonce>`.
pub fn commission_message(chain_id: &str, from: &str, percent: u64, nonce: u64) -> String {
    format!("pos-lottery commission v1 {chain_id} {from} {percent} {nonce}")
}

/// What applying a block needs besides the transactions.
pub struct BlockContext<'a> {
    /// The block's winner, who gets the block reward (or its share).
    pub winner: &'a str,
    /// Attest rewards owed: (attester, amount), in order.
    pub due: &'a [(String, u64)],
    /// The snapshot in force for the block; `None` in the bootstrap epoch 0, where
    /// delegations neither earn nor risk anything.
    pub snapshot: Option<&'a Snapshot>,
    /// The snapshot of block k's epoch, for an evidence entry naming block k.
    pub snapshot_of_block: &'a dyn Fn(u64) -> Option<Arc<Snapshot>>,
}

impl<'a> BlockContext<'a> {
    /// A block in epoch 0 with nothing owed.
    pub fn new(winner: &'a str) -> BlockContext<'a> {
        BlockContext {
            winner,
            due: &[],
            snapshot: None,
            snapshot_of_block: &|_| None,
        }
    }
}

/// One reward a block must carry, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedReward {
    pub kind: RewardKind,
    pub to: String,
    /// `Amount + Cut`; `None` when the chain's `BlockReward` is not known (never for a
    /// ledger chain, whose genesis block fixes it).
    pub total: Option<u64>,
}

impl ExpectedReward {
    pub fn describe(&self) -> String {
        let what = match self.kind {
            RewardKind::Block => "the winner's reward",
            RewardKind::Delegator => "a delegator's share",
            RewardKind::Attest => "an attest reward",
        };
        match self.total {
            Some(t) => format!("{what} of {t} to {}", self.to),
            None => format!("{what} to {}", self.to),
        }
    }
}

/// `⌊amount · num / den⌋` in u128; 0 when `den` is 0. At most `amount` when `num <= den`.
pub fn share(amount: u64, num: u64, den: u64) -> u64 {
    u128::from(amount)
        .saturating_mul(u128::from(num))
        .checked_div(u128::from(den))
        .map_or(0, |v| u64::try_from(v).unwrap_or(u64::MAX))
}

impl Accounts {
    /// The rewards a block carries after its pool's entries applied: the winner's (its share
    /// when it has delegators in the snapshot), each delegator's share above 0 in address
    /// order, then the attesters owed.
    pub fn expected_rewards(&self, ctx: &BlockContext<'_>) -> Vec<ExpectedReward> {
        let mut out = Vec::new();
        match self.block_reward {
            None => out.push(ExpectedReward {
                kind: RewardKind::Block,
                to: ctx.winner.to_string(),
                total: None,
            }),
            Some(r) => out.extend(self.split_reward(r, ctx.winner, ctx.snapshot)),
        }
        out.extend(ctx.due.iter().map(|(to, r)| ExpectedReward {
            kind: RewardKind::Attest,
            to: to.clone(),
            total: Some(*r),
        }));
        out
    }

    /// The block reward `r` to `winner`, shared with its delegators in `snapshot`.
    fn split_reward(
        &self,
        r: u64,
        winner: &str,
        snapshot: Option<&Snapshot>,
    ) -> Vec<ExpectedReward> {
        let delegations: Vec<(&str, u64)> = snapshot
            .map(|s| s.delegations_to(winner).collect())
            .unwrap_or_default();
        let stake = snapshot.and_then(|s| s.stake_of(winner)).unwrap_or(0);
        let commission = self.get(winner).commission.min(MAX_COMMISSION);
        let rest = r.saturating_sub(share(r, commission, MAX_COMMISSION));
        let shares: Vec<(&str, u64)> = delegations
            .iter()
            .map(|(d, amount)| (*d, share(rest, *amount, stake)))
            .filter(|(_, s)| *s > 0)
            .collect();
        let paid: u64 = shares.iter().fold(0, |sum, (_, s)| sum.saturating_add(*s));
        let mut out = vec![ExpectedReward {
            kind: RewardKind::Block,
            to: winner.to_string(),
            total: Some(r.saturating_sub(paid)),
        }];
        out.extend(shares.into_iter().map(|(d, s)| ExpectedReward {
            kind: RewardKind::Delegator,
            to: d.to_string(),
            total: Some(s),
        }));
        out
    }

    /// Delegations to `validator` now: (delegator, amount) in delegator order.
    pub fn delegations_to(&self, validator: &str) -> Vec<(String, u64)> {
        let from = (validator.to_string(), String::new());
        self.delegations
            .range(from..)
            .take_while(|((v, _), _)| v == validator)
            .map(|((_, d), a)| (d.clone(), *a))
            .collect()
    }

    /// Burns `burn` of `delegator`'s delegation to `validator`, from its balance.
    pub(crate) fn burn_delegation(&mut self, validator: &str, delegator: &str, burn: u64) {
        if burn == 0 {
            return;
        }
        let key = (validator.to_string(), delegator.to_string());
        let left = self
            .delegations
            .get(&key)
            .map_or(0, |a| a.saturating_sub(burn));
        if left == 0 {
            self.delegations.remove(&key);
        } else {
            self.delegations.insert(key, left);
        }
        let d = self.map.entry(delegator.to_string()).or_default();
        d.balance = d.balance.saturating_sub(burn);
        d.delegated_out = d.delegated_out.saturating_sub(burn);
        let v = self.map.entry(validator.to_string()).or_default();
        v.delegated_in = v.delegated_in.saturating_sub(burn);
        self.supply = self.supply.saturating_sub(burn);
        self.burned = self.burned.saturating_add(u128::from(burn));
    }

    /// An evidence slash's burn of `burn` from `delegator` for what it delegated to
    /// `validator` in the evidence block's snapshot: from that delegation while it lasts,
    /// then from its undelegated tokens still on their way back, then from its own free
    /// balance (the server keeps a snapshot's delegations locked there until the window
    /// closes), never more than it holds.
    pub(crate) fn burn_delegator(&mut self, validator: &str, delegator: &str, burn: u64) {
        let now = self
            .delegations
            .get(&(validator.to_string(), delegator.to_string()))
            .copied()
            .unwrap_or(0);
        let from_delegation = burn.min(now);
        self.burn_delegation(validator, delegator, from_delegation);
        let mut left = burn.saturating_sub(from_delegation);
        for (d, amount) in self.returning.iter_mut() {
            if left == 0 {
                break;
            }
            if d != delegator {
                continue;
            }
            let b = left.min(*amount);
            *amount = amount.saturating_sub(b);
            left = left.saturating_sub(b);
            let a = self.map.entry(delegator.to_string()).or_default();
            a.balance = a.balance.saturating_sub(b);
            a.delegated_out = a.delegated_out.saturating_sub(b);
            self.supply = self.supply.saturating_sub(b);
            self.burned = self.burned.saturating_add(u128::from(b));
        }
        self.returning.retain(|(_, a)| *a > 0);
        let a = self.map.entry(delegator.to_string()).or_default();
        let b = left.min(a.balance.saturating_sub(a.delegated_out));
        a.balance = a.balance.saturating_sub(b);
        self.supply = self.supply.saturating_sub(b);
        self.burned = self.burned.saturating_add(u128::from(b));
    }

    /// Checks and takes `from`'s next nonce (one sequence for every signed transaction).
    pub(crate) fn take_nonce(&mut self, from: &str, nonce: u64) -> Result<(), String> {
        let a = self.map.entry(from.to_string()).or_default();
        let expected = a.nonce.saturating_add(1);
        if nonce != expected {
            return Err(format!(
                "nonce is {nonce}, expected {expected} (the sender's last applied nonce plus 1)"
            ));
        }
        a.nonce = nonce;
        a.pending_transfers = a.pending_transfers.saturating_sub(1);
        Ok(())
    }

    pub(crate) fn apply_delegate(&mut self, d: &Delegation) -> Result<(), String> {
        if d.amount == 0 {
            return Err("Amount is 0; a delegation moves at least 1 token".into());
        }
        if d.from == d.to {
            return Err("From and To are the same account".into());
        }
        if !self.is_valid_key(&d.to) {
            return Err(format!("To {:?} is not an Ed25519 public key", d.to));
        }
        let a = self.get(&d.from);
        let free = a.balance.saturating_sub(a.delegated_out);
        if d.amount > free {
            return Err(format!(
                "delegates {} of {}'s {free} not already delegated",
                d.amount, d.from
            ));
        }
        self.take_nonce(&d.from, d.nonce)?;
        let a = self.map.entry(d.from.clone()).or_default();
        a.delegated_out = a.delegated_out.saturating_add(d.amount);
        a.pending_out = a.pending_out.saturating_sub(d.amount);
        let v = self.map.entry(d.to.clone()).or_default();
        v.delegated_in = v.delegated_in.saturating_add(d.amount);
        let e = self
            .delegations
            .entry((d.to.clone(), d.from.clone()))
            .or_default();
        *e = e.saturating_add(d.amount);
        Ok(())
    }

    pub(crate) fn apply_undelegate(&mut self, d: &Delegation) -> Result<(), String> {
        if d.amount == 0 {
            return Err("Amount is 0; an undelegation returns at least 1 token".into());
        }
        let key = (d.to.clone(), d.from.clone());
        let delegated = self.delegations.get(&key).copied().unwrap_or(0);
        if d.amount > delegated {
            return Err(format!(
                "{2} undelegates {0} from {1}, but has only {delegated} delegated to it",
                d.amount, d.to, d.from
            ));
        }
        self.take_nonce(&d.from, d.nonce)?;
        if delegated == d.amount {
            self.delegations.remove(&key);
        } else {
            self.delegations
                .insert(key, delegated.saturating_sub(d.amount));
        }
        let v = self.map.entry(d.to.clone()).or_default();
        v.delegated_in = v.delegated_in.saturating_sub(d.amount);
        // Still out of the delegator's reach until the next epoch starts.
        self.returning.push((d.from.clone(), d.amount));
        Ok(())
    }

    pub(crate) fn apply_commission(&mut self, c: &Commission) -> Result<(), String> {
        if c.percent > MAX_COMMISSION {
            return Err(format!("Percent {} is above 100", c.percent));
        }
        self.take_nonce(&c.from, c.nonce)?;
        self.map.entry(c.from.clone()).or_default().commission = c.percent;
        Ok(())
    }

    /// An epoch starts: undelegated tokens come back to their delegators.
    pub fn start_epoch(&mut self) {
        for (delegator, amount) in std::mem::take(&mut self.returning) {
            let a = self.map.entry(delegator).or_default();
            a.delegated_out = a.delegated_out.saturating_sub(amount);
        }
    }

    /// Undelegated tokens of `delegator` waiting for the next epoch.
    pub fn returning_to(&self, delegator: &str) -> u64 {
        self.returning
            .iter()
            .filter(|(d, _)| d == delegator)
            .fold(0, |sum, (_, a)| sum.saturating_add(*a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx::Genesis;

    fn a(c: char) -> String {
        std::iter::repeat_n(c, 64).collect()
    }

    #[test]
    fn shares_round_down_and_the_validator_keeps_the_rest() {
        assert_eq!(share(10, 1, 3), 3);
        assert_eq!(share(u64::MAX, u64::MAX, u64::MAX), u64::MAX);
        assert_eq!(share(5, 1, 0), 0);
        let mut accounts = Accounts::from_genesis(&Genesis {
            accounts: [(a('v'), 100)].into_iter().collect(),
        })
        .with_block_reward(Some(100));
        accounts.map.get_mut(&a('v')).unwrap().commission = 10;
        let s = Snapshot {
            epoch: 1,
            first_round: 11,
            epoch_rounds: 10,
            finality: None,
            attest_reward: None,
            delegation_slash_percent: Some(10),
            stakes: vec![(a('v'), 70)],
            delegations: vec![(a('v'), a('1'), 20), (a('v'), a('2'), 10)],
        };
        // R = 100, c = 10%: 10 kept; R' = 90 shared over 70: 90*20/70 = 25, 90*10/70 = 12;
        // the validator gets 100 - 37 = 63.
        let got = accounts.split_reward(100, &a('v'), Some(&s));
        let totals: Vec<(RewardKind, String, Option<u64>)> =
            got.into_iter().map(|e| (e.kind, e.to, e.total)).collect();
        assert_eq!(
            totals,
            [
                (RewardKind::Block, a('v'), Some(63)),
                (RewardKind::Delegator, a('1'), Some(25)),
                (RewardKind::Delegator, a('2'), Some(12)),
            ]
        );
        // Without delegators in the snapshot, the whole reward.
        assert_eq!(
            accounts.split_reward(100, &a('x'), Some(&s))[0].total,
            Some(100)
        );
        // 100% commission: nothing to share, no zero entries.
        accounts.map.get_mut(&a('v')).unwrap().commission = 100;
        assert_eq!(accounts.split_reward(100, &a('v'), Some(&s)).len(), 1);
    }

    #[test]
    fn an_evidence_slash_burns_the_delegations_in_its_snapshot() {
        let (v, d) = (a('a'), a('d'));
        let mut accounts = Accounts::from_genesis(&Genesis {
            accounts: [(v.clone(), 100), (d.clone(), 100)].into_iter().collect(),
        });
        // d delegated 50 to v (as `apply_delegate` leaves it).
        accounts.delegations.insert((v.clone(), d.clone()), 50);
        accounts.map.get_mut(&d).unwrap().delegated_out = 50;
        accounts.map.get_mut(&v).unwrap().delegated_in = 50;
        let s = Arc::new(Snapshot {
            epoch: 1,
            first_round: 11,
            epoch_rounds: 10,
            finality: None,
            attest_reward: None,
            delegation_slash_percent: Some(20),
            stakes: vec![(v.clone(), 60)],
            delegations: vec![(v.clone(), d.clone(), 50)],
        });
        let lookup = |_: u64| Some(s.clone());
        let ctx = BlockContext {
            snapshot_of_block: &lookup,
            ..BlockContext::new(&v)
        };
        let evidence = crate::tx::Tx::Evidence(crate::tx::Evidence {
            address: v.clone(),
            index: 12,
            amount: 10,
            round: 13,
            first_hash: a('1'),
            first_signature: String::new(),
            second_hash: a('2'),
            second_signature: String::new(),
        });
        accounts.apply_pool(&[evidence], &ctx).unwrap();
        // Its own 10, and 20% of the 50 delegated to it in the snapshot.
        assert_eq!(accounts.get(&v).balance, 90);
        assert_eq!(accounts.get(&d).balance, 90);
        assert_eq!(accounts.get(&d).delegated_out, 40);
        assert_eq!(accounts.get(&v).delegated_in, 40);
        assert_eq!(accounts.delegations_to(&v), [(d.clone(), 40)]);
        assert_eq!(accounts.burned, 20);
        // An own burn never takes delegated tokens: d holds 50 of its own.
        let too_much = crate::tx::Tx::Slash {
            address: d.clone(),
            amount: 51,
            round: 13,
            line: "x".into(),
        };
        assert!(accounts.apply_pool(&[too_much], &ctx).is_err());
    }
}
