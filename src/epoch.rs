//! Ledger mode's epochs and stake snapshots: pure, like [`crate::tx`].
//!
//! Epoch e covers `EPOCH_ROUNDS` rounds. When an epoch's first round opens, the server
//! snapshots the bonded stake of every account with a staked session; in that epoch's draws an
//! entrant weighs `min(snapshot stake, current bond)` and an account outside the snapshot is not
//! an entrant, so stake moved after the snapshot cannot change the odds. Until the first
//! snapshot a chain is in epoch 0, the bootstrap epoch: every staked account is an entrant,
//! weighed by its bond.
//!
//! A snapshot is one line of `snapshots.jsonl`, fsynced before any block of its epoch, and the
//! epoch's first block commits to it with `SnapshotHash` ([`Snapshot::hash`]). Each holds its
//! own `EpochRounds`, so the audit needs no setting; a changed `EPOCH_ROUNDS` applies from the
//! next epoch.
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

use crate::attest::Fraction;
use crate::chain::is_hex64;

pub const SNAPSHOTS_FILE: &str = "snapshots.jsonl";

/// One line of `snapshots.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    #[serde(rename = "Epoch")]
    pub epoch: u64,
    /// The epoch's first round; it lasts `EpochRounds` rounds.
    #[serde(rename = "FirstRound")]
    pub first_round: u64,
    #[serde(rename = "EpochRounds")]
    pub epoch_rounds: u64,
    /// `FINALITY` for the epoch's blocks; absent in records made before attestations, which
    /// read as 3/4 (and hash without it).
    #[serde(rename = "Finality", default, skip_serializing_if = "Option::is_none")]
    pub finality: Option<Fraction>,
    /// `ATTEST_REWARD`: what each attester of a final block of the epoch is paid. Absent
    /// reads as 0 (and hashes without it); present only with `Finality`.
    #[serde(
        rename = "AttestReward",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub attest_reward: Option<u64>,
    /// `DELEGATION_SLASH_PERCENT`: what a slash of a validator burns of each delegation to
    /// it. Absent reads as 0 (records made before delegation).
    #[serde(
        rename = "DelegationSlashPercent",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub delegation_slash_percent: Option<u64>,
    /// (address, stake) in ascending address order, every stake at least 1.
    #[serde(rename = "Stakes")]
    pub stakes: Vec<(String, u64)>,
    /// (validator, delegator, amount) in (validator, delegator) order: the delegations each
    /// stake includes. A stake is its validator's own bond plus these.
    #[serde(rename = "Delegations", default, skip_serializing_if = "Vec::is_empty")]
    pub delegations: Vec<(String, String, u64)>,
}

/// Why a snapshot record is not one the server could have written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("Epoch {found} does not follow Epoch {prev}")]
    Epoch { found: u64, prev: u64 },
    #[error("FirstRound {found} is inside the previous epoch, which runs to round {prev_last}")]
    FirstRound { found: u64, prev_last: u64 },
    #[error("Epoch {0} is not above 0: epoch 0 is the bootstrap epoch, which has no snapshot")]
    Zero(u64),
    #[error("EpochRounds is 0")]
    NoRounds,
    #[error("no stakes: a snapshot holds at least one account")]
    Empty,
    #[error(
        "stake {0} ({1:?}): the addresses are not 64 lowercase hex in strictly ascending order"
    )]
    Order(usize, String),
    #[error("stake {0} ({1}) is 0")]
    ZeroStake(usize, String),
    #[error("DelegationSlashPercent is above 100")]
    SlashPercent,
    #[error("delegation {0}: not in strictly ascending (validator, delegator) order, or a delegator that is not 64 lowercase hex or is its validator")]
    DelegationOrder(usize),
    #[error("delegation {0} has amount 0")]
    DelegationZero(usize),
    #[error("delegation {0} is to {1}, which has no stake in the snapshot")]
    DelegationTo(usize, String),
    #[error("{0}'s delegations add up to {1}, more than its stake {2}")]
    Overdelegated(String, u64, u64),
    #[error("Finality is not a fraction p/q in lowest terms with 0 < p < q <= 1000000000")]
    Finality,
    #[error("AttestReward is 0: a record carries AttestReward only when it is above 0")]
    ZeroAttestReward,
    #[error("AttestReward without Finality: a record carries AttestReward only beside Finality")]
    RewardWithoutFinality,
}

impl Snapshot {
    /// `SnapshotHash`: SHA-256 over `<Epoch>\n<FirstRound>\n<EpochRounds>\n`, then
    /// `<p>/<q>\n` when it carries `Finality`, `<AttestReward>\n` when it carries that, then
    /// each stake as `<address>\n<stake>\n` in
    /// address order.
    pub fn hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(
            format!(
                "{}\n{}\n{}\n",
                self.epoch, self.first_round, self.epoch_rounds
            )
            .as_bytes(),
        );
        if let Some(f) = &self.finality {
            h.update(format!("{f}\n").as_bytes());
        }
        if let Some(r) = self.attest_reward {
            h.update(format!("{r}\n").as_bytes());
        }
        if let Some(p) = self.delegation_slash_percent {
            h.update(format!("delegation-slash {p}\n").as_bytes());
        }
        for (address, stake) in &self.stakes {
            h.update(address.as_bytes());
            h.update(b"\n");
            h.update(stake.to_string().as_bytes());
            h.update(b"\n");
        }
        for (validator, delegator, amount) in &self.delegations {
            h.update(format!("delegation {validator} {delegator} {amount}\n").as_bytes());
        }
        h.finalize().into()
    }

    /// The last round of the epoch.
    pub fn last_round(&self) -> u64 {
        self.first_round
            .saturating_add(self.epoch_rounds)
            .saturating_sub(1)
    }

    /// The first round after this epoch: where the next one opens.
    pub fn next_first_round(&self) -> u64 {
        self.first_round.saturating_add(self.epoch_rounds)
    }

    /// The snapshot stake of `address`, if it is in the snapshot.
    pub fn stake_of(&self, address: &str) -> Option<u64> {
        self.stakes
            .binary_search_by(|(a, _)| a.as_str().cmp(address))
            .ok()
            .and_then(|i| self.stakes.get(i))
            .map(|(_, s)| *s)
    }

    /// Delegations to `validator` in the snapshot: (delegator, amount) in delegator order.
    pub fn delegations_to<'a>(
        &'a self,
        validator: &'a str,
    ) -> impl Iterator<Item = (&'a str, u64)> + 'a {
        let start = self
            .delegations
            .partition_point(|(v, _, _)| v.as_str() < validator);
        self.delegations
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(move |(v, _, _)| v == validator)
            .map(|(_, d, a)| (d.as_str(), *a))
    }

    /// `validator`'s own part of its stake: what is not delegated to it.
    pub fn own_stake(&self, validator: &str) -> Option<u64> {
        let delegated = self
            .delegations_to(validator)
            .fold(0u64, |sum, (_, a)| sum.saturating_add(a));
        self.stake_of(validator)
            .map(|s| s.saturating_sub(delegated))
    }

    /// The snapshot's total stake.
    pub fn total(&self) -> u128 {
        self.stakes.iter().map(|(_, s)| u128::from(*s)).sum()
    }

    /// Checks the record on its own and after `prev` (the snapshot before it, if any).
    ///
    /// # Errors
    /// What is wrong.
    pub fn check(&self, prev: Option<&Snapshot>) -> Result<(), SnapshotError> {
        if self.epoch == 0 {
            return Err(SnapshotError::Zero(self.epoch));
        }
        if self.epoch_rounds == 0 {
            return Err(SnapshotError::NoRounds);
        }
        if self.finality.is_some_and(|f| !f.is_valid()) {
            return Err(SnapshotError::Finality);
        }
        if self.attest_reward == Some(0) {
            return Err(SnapshotError::ZeroAttestReward);
        }
        if self.attest_reward.is_some() && self.finality.is_none() {
            return Err(SnapshotError::RewardWithoutFinality);
        }
        if let Some(p) = prev {
            if self.epoch <= p.epoch {
                return Err(SnapshotError::Epoch {
                    found: self.epoch,
                    prev: p.epoch,
                });
            }
            if self.first_round < p.next_first_round() {
                return Err(SnapshotError::FirstRound {
                    found: self.first_round,
                    prev_last: p.last_round(),
                });
            }
        }
        if self.stakes.is_empty() {
            return Err(SnapshotError::Empty);
        }
        let mut before: Option<&str> = None;
        for (i, (address, stake)) in self.stakes.iter().enumerate() {
            if !is_hex64(address) || before.is_some_and(|b| b >= address.as_str()) {
                return Err(SnapshotError::Order(i, address.clone()));
            }
            if *stake == 0 {
                return Err(SnapshotError::ZeroStake(i, address.clone()));
            }
            before = Some(address);
        }
        if self.delegation_slash_percent.is_some_and(|p| p > 100) {
            return Err(SnapshotError::SlashPercent);
        }
        let mut prev: Option<(&str, &str)> = None;
        for (i, (validator, delegator, amount)) in self.delegations.iter().enumerate() {
            let key = (validator.as_str(), delegator.as_str());
            if !is_hex64(delegator) || prev.is_some_and(|p| p >= key) || validator == delegator {
                return Err(SnapshotError::DelegationOrder(i));
            }
            if *amount == 0 {
                return Err(SnapshotError::DelegationZero(i));
            }
            if self.stake_of(validator).is_none() {
                return Err(SnapshotError::DelegationTo(i, validator.clone()));
            }
            prev = Some(key);
        }
        for (validator, stake) in &self.stakes {
            let delegated = self
                .delegations_to(validator)
                .fold(0u64, |sum, (_, a)| sum.saturating_add(a));
            if delegated > *stake {
                return Err(SnapshotError::Overdelegated(
                    validator.clone(),
                    delegated,
                    *stake,
                ));
            }
        }
        Ok(())
    }
}

/// The epoch that opens with `round`, if one does: after the newest snapshot, the round its
/// epoch hands over at (or any later round, when rounds were skipped); before any snapshot,
/// rounds `e * epoch_rounds + 1` for e >= 1.
pub fn opens_epoch(newest: Option<&Snapshot>, epoch_rounds: u64, round: u64) -> Option<u64> {
    match newest {
        Some(s) if round >= s.next_first_round() => Some(s.epoch.saturating_add(1)),
        Some(_) => None,
        None => {
            let n = epoch_rounds.max(1);
            let before = round.checked_sub(1)?;
            (before > 0 && before.checked_rem(n) == Some(0)).then(|| before.checked_div(n))?
        }
    }
}

/// The settings a new snapshot records for its epoch: `EPOCH_ROUNDS`, `FINALITY` and
/// `ATTEST_REWARD` as they are when it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    pub epoch_rounds: u64,
    pub finality: Fraction,
    pub attest_reward: u64,
    pub delegation_slash_percent: u64,
}

/// What a snapshot taken now holds: the bonds of the staked accounts, or (when none is
/// staked, as after a restart) the previous snapshot's own stakes, each cut to what its
/// account holds of its own now (`own`: balance less delegated out; it may have spent since,
/// and an own stake above that when its epoch opens is one the audit refuses); plus, for each
/// of those validators, the delegations to it now (`delegations_to`). `None` when there is
/// nobody, and the epoch in force (the bootstrap epoch 0 before any snapshot) goes on.
pub fn take_snapshot(
    epoch: u64,
    first_round: u64,
    terms: Terms,
    mut bonds: Vec<(String, u64)>,
    prev: Option<&Snapshot>,
    own: impl Fn(&str) -> u64,
    delegations_to: impl Fn(&str) -> Vec<(String, u64)>,
) -> Option<Snapshot> {
    bonds.retain(|(_, s)| *s > 0);
    bonds.sort();
    bonds.dedup_by(|b, a| {
        // One session per account: a second entry for an address is never made, but if it
        // were, the stakes add up rather than vanish.
        if a.0 == b.0 {
            a.1 = a.1.saturating_add(b.1);
            true
        } else {
            false
        }
    });
    let owns: Vec<(String, u64)> = if bonds.is_empty() {
        let prev = prev?;
        prev.stakes
            .iter()
            .map(|(a, _)| {
                let was = prev.own_stake(a).unwrap_or(0);
                (a.clone(), was.min(own(a)))
            })
            .filter(|(_, s)| *s > 0)
            .collect()
    } else {
        bonds
    };
    if owns.is_empty() {
        return None;
    }
    let mut stakes = Vec::with_capacity(owns.len());
    let mut delegations = Vec::new();
    for (validator, own) in owns {
        let mut stake = own;
        for (delegator, amount) in delegations_to(&validator) {
            stake = stake.saturating_add(amount);
            delegations.push((validator.clone(), delegator, amount));
        }
        stakes.push((validator, stake));
    }
    Some(Snapshot {
        epoch,
        first_round,
        epoch_rounds: terms.epoch_rounds.max(1),
        finality: Some(terms.finality),
        // Written only when paid, so a record without it reads (and hashes) as before.
        attest_reward: (terms.attest_reward > 0).then_some(terms.attest_reward),
        delegation_slash_percent: Some(terms.delegation_slash_percent),
        stakes,
        delegations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Terms = Terms {
        epoch_rounds: 10,
        finality: Fraction::DEFAULT,
        attest_reward: 0,
        delegation_slash_percent: 10,
    };

    fn none(_: &str) -> Vec<(String, u64)> {
        Vec::new()
    }

    fn a(c: char) -> String {
        std::iter::repeat_n(c, 64).collect()
    }

    #[test]
    fn epochs_open_on_schedule_before_and_after_the_first_snapshot() {
        // Before any snapshot: rounds 11, 21, 31... with 10 rounds an epoch.
        assert_eq!(opens_epoch(None, 10, 1), None);
        assert_eq!(opens_epoch(None, 10, 10), None);
        assert_eq!(opens_epoch(None, 10, 11), Some(1));
        assert_eq!(opens_epoch(None, 10, 31), Some(3));
        let s = Snapshot {
            epoch: 3,
            first_round: 31,
            epoch_rounds: 5,
            finality: None,
            attest_reward: None,
            delegation_slash_percent: None,
            delegations: Vec::new(),
            stakes: vec![(a('a'), 1)],
        };
        // After one: its own length decides, whatever the setting is now.
        assert_eq!(opens_epoch(Some(&s), 10, 35), None);
        assert_eq!(opens_epoch(Some(&s), 10, 36), Some(4));
        assert_eq!(opens_epoch(Some(&s), 10, 40), Some(4));
    }

    #[test]
    fn a_snapshot_of_nobody_copies_the_previous_one_or_waits() {
        let rich = |_: &str| u64::MAX;
        assert_eq!(take_snapshot(1, 11, T, vec![], None, rich, none), None);
        let s = take_snapshot(1, 11, T, vec![(a('b'), 5), (a('a'), 7)], None, rich, none).unwrap();
        assert_eq!(s.stakes, vec![(a('a'), 7), (a('b'), 5)]);
        assert_eq!(s.check(None), Ok(()));
        let next = take_snapshot(2, 21, T, vec![], Some(&s), rich, none).unwrap();
        assert_eq!(next.stakes, s.stakes);
        assert_eq!(next.check(Some(&s)), Ok(()));
        // A copy holds no more than each account has left, and nobody with nothing left.
        let spent = |x: &str| if x == a('a') { 3 } else { 0 };
        let cut = take_snapshot(2, 21, T, vec![], Some(&s), spent, none).unwrap();
        assert_eq!(cut.stakes, vec![(a('a'), 3)]);
        assert_eq!(take_snapshot(2, 21, T, vec![], Some(&s), |_| 0, none), None);
        assert_eq!(s.stake_of(&a('b')), Some(5));
        assert_eq!(s.stake_of(&a('c')), None);
        assert_eq!(s.total(), 12);
    }

    #[test]
    fn snapshot_records_are_checked_in_order() {
        let s = take_snapshot(1, 11, T, vec![(a('a'), 7)], None, |_| 7, none).unwrap();
        let mut early = take_snapshot(2, 20, T, vec![(a('a'), 7)], None, |_| 7, none).unwrap();
        assert!(matches!(
            early.check(Some(&s)),
            Err(SnapshotError::FirstRound { .. })
        ));
        early.first_round = 21;
        early.epoch = 1;
        assert!(matches!(
            early.check(Some(&s)),
            Err(SnapshotError::Epoch { .. })
        ));
        let mut unordered = s.clone();
        unordered.stakes = vec![(a('b'), 1), (a('a'), 1)];
        assert!(matches!(
            unordered.check(None),
            Err(SnapshotError::Order(1, _))
        ));
    }

    #[test]
    fn the_snapshot_hash_covers_every_field() {
        let s = Snapshot {
            epoch: 1,
            first_round: 11,
            epoch_rounds: 10,
            finality: None,
            attest_reward: None,
            delegation_slash_percent: None,
            delegations: Vec::new(),
            stakes: vec![(a('a'), 7)],
        };
        let text = format!("1\n11\n10\n{}\n7\n", a('a'));
        assert_eq!(s.hash(), <[u8; 32]>::from(Sha256::digest(text.as_bytes())));
        let mut two_thirds = s.clone();
        two_thirds.finality = Some(Fraction { p: 2, q: 3 });
        let text = format!("1\n11\n10\n2/3\n{}\n7\n", a('a'));
        assert_eq!(
            two_thirds.hash(),
            <[u8; 32]>::from(Sha256::digest(text.as_bytes()))
        );
        let json = serde_json::to_string(&two_thirds).unwrap();
        assert!(
            json.contains(r#""EpochRounds":10,"Finality":"2/3","Stakes""#),
            "{json}"
        );
        assert!(!serde_json::to_string(&s).unwrap().contains("Finality"));
        let mut other = s.clone();
        other.epoch_rounds = 9;
        assert_ne!(other.hash(), s.hash());
    }

    #[test]
    fn a_stake_is_its_own_bond_plus_the_delegations_to_it() {
        let delegated = |v: &str| {
            if v == a('a') {
                vec![(a('c'), 3), (a('d'), 2)]
            } else {
                Vec::new()
            }
        };
        let s = take_snapshot(
            1,
            11,
            T,
            vec![(a('a'), 7), (a('b'), 4)],
            None,
            |_| 100,
            delegated,
        )
        .unwrap();
        assert_eq!(s.stakes, vec![(a('a'), 12), (a('b'), 4)]);
        assert_eq!(s.own_stake(&a('a')), Some(7));
        assert_eq!(
            s.delegations_to(&a('a')).collect::<Vec<_>>(),
            [(a('c').as_str(), 3), (a('d').as_str(), 2)]
        );
        assert_eq!(s.delegations_to(&a('b')).count(), 0);
        assert_eq!(s.check(None), Ok(()));
        let text = format!(
            "1\n11\n10\n3/4\ndelegation-slash 10\n{}\n12\n{}\n4\ndelegation {} {} 3\ndelegation {} {} 2\n",
            a('a'),
            a('b'),
            a('a'),
            a('c'),
            a('a'),
            a('d')
        );
        assert_eq!(s.hash(), <[u8; 32]>::from(Sha256::digest(text.as_bytes())));
        // A copy keeps the own part within what is left, and today's delegations.
        let copy = take_snapshot(2, 21, T, vec![], Some(&s), |_| 5, delegated).unwrap();
        assert_eq!(copy.stakes, vec![(a('a'), 10), (a('b'), 4)]);
        let mut bad = s.clone();
        bad.delegations.reverse();
        assert!(matches!(
            bad.check(None),
            Err(SnapshotError::DelegationOrder(1))
        ));
        let mut bad = s.clone();
        bad.delegations[0].2 = 20;
        assert!(matches!(
            bad.check(None),
            Err(SnapshotError::Overdelegated(..))
        ));
        let mut bad = s.clone();
        bad.delegations[0].0 = a('e');
        assert!(bad.check(None).is_err());
    }
}
