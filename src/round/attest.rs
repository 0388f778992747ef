//! Ledger mode: the round task's side of attestations (see [`crate::attest`]): counting them,
//! keeping signed wrong hashes as evidence, the evidence slash, and the lock that keeps
//! snapshot stake in reach of it until its epoch's attestation window closes.

use tokio::sync::oneshot;

use super::ledger::{Ack, Ledger};
use crate::attest::{BlockFinality, Counted, Equivocation, Refusal, Vote};
use crate::tx::{check_signature, Attestation, Evidence, Tx, TxError};

/// Where an attestation's answer goes.
pub type AttestReply = oneshot::Sender<Result<BlockFinality, AttestError>>;

/// Why an attestation is not counted: the text after `attest refused: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestError {
    #[error("{0}")]
    Refused(#[from] Refusal),
    #[error("{0}")]
    Invalid(TxError),
    #[error("this server runs in tutorial mode: there are no attestations")]
    Tutorial,
    #[error("{refusal}; you had signed {first} for block {index}: two hashes for one block are evidence, and {amount} of your stake is burned")]
    Equivocation {
        refusal: Refusal,
        first: String,
        index: u64,
        amount: u64,
    },
}

impl Ledger {
    /// Counts an attestation whose signature the caller checked
    /// ([`Attestation::check_alone`]) in the round in progress, `round`; it is acknowledged
    /// (and a block it makes final announced) after the next pool fsync.
    pub fn attest(&mut self, mut a: Attestation, round: u64, reply: AttestReply) {
        a.round = round;
        // Counted now, so a duplicate in the same fsync group is refused; readers and the
        // attester hear of it only once it is durable.
        match self.tracker.count(&vote(&a)) {
            Ok(Counted {
                finality,
                finalized,
                evidence,
            }) => {
                self.unsynced
                    .push((Tx::Attest(a), Ack::Attest(reply, finality, finalized)));
                if let Some(ev) = evidence {
                    self.evidence(ev, round, None);
                }
            }
            Err(refusal @ Refusal::WrongHash { .. }) => {
                // Signed, but not this block's hash: kept, and evidence with another.
                match self.tracker.equivocation(&vote(&a)) {
                    Some(ev) => {
                        let (first, index) = (ev.first.0.clone(), ev.index);
                        let why = |amount| AttestError::Equivocation {
                            refusal: refusal.clone(),
                            first: first.clone(),
                            index,
                            amount,
                        };
                        self.evidence(ev, round, Some((reply, &why)));
                    }
                    None => {
                        let _ = reply.send(Err(refusal.into()));
                    }
                }
            }
            Err(e) => {
                let _ = reply.send(Err(e.into()));
            }
        }
    }

    /// Admits the evidence slash for `ev`: its snapshot stake, or as much of it as its
    /// balance still holds beyond what is pending out. The attester whose signature made the
    /// evidence (if it did) is answered once the slash is durable. Returns whether anything
    /// is burned; the account's bond is capped by the round task ([`Ledger::bond_cap`]).
    fn evidence(
        &mut self,
        ev: Equivocation,
        round: u64,
        refuse: Option<(AttestReply, &dyn Fn(u64) -> AttestError)>,
    ) -> bool {
        let amount = ev.stake.min(self.bond_cap(&ev.address));
        if amount == 0 {
            if let Some((reply, why)) = refuse {
                let _ = reply.send(Err(why(0)));
            }
            return false;
        }
        let tx = Tx::Evidence(Evidence {
            address: ev.address.clone(),
            index: ev.index,
            amount,
            round,
            first_hash: ev.first.0,
            first_signature: ev.first.1,
            second_hash: ev.second.0,
            second_signature: ev.second.1,
        });
        self.accounts.admit(&tx);
        self.slashed_now.push(ev.address);
        let ack = refuse.map(|(reply, why)| (reply, why(amount)));
        self.unsynced.push((tx, Ack::Evidence(ack)));
        true
    }

    /// Locks, for the round in progress `round`, the snapshot stake of every account in a
    /// snapshot whose attestation window is open (the one in force and the one before it),
    /// and releases the rest. Run when a snapshot is taken, when a window closes, and at
    /// start-up: O(snapshot) each time, a few times an epoch.
    pub fn relock(&mut self, round: u64) {
        for address in self.locked.drain(..) {
            if let Some(a) = self.accounts.map.get_mut(&address) {
                a.locked = 0;
            }
        }
        for s in self.snapshots.iter().rev().take(2) {
            if crate::attest::window_end(s) < round {
                continue;
            }
            for (address, _) in &s.stakes {
                let own = s.own_stake(address).unwrap_or(0);
                let a = self.accounts.map.entry(address.clone()).or_default();
                if a.locked == 0 {
                    self.locked.push(address.clone());
                }
                a.locked = a.locked.max(own);
            }
        }
        self.lock_delegations(round);
    }

    /// Whether a snapshot's window closed with the round before `round`.
    pub fn relock_due(&self, round: u64) -> bool {
        self.snapshots
            .iter()
            .rev()
            .take(2)
            .any(|s| crate::attest::window_end(s).saturating_add(1) == round)
    }

    /// Accounts slashed on evidence since the round task last asked: their bonds must be
    /// capped ([`Ledger::bond_cap`]).
    pub fn take_slashed(&mut self) -> Vec<String> {
        std::mem::take(&mut self.slashed_now)
    }

    /// The most `address` may keep bonded: its balance less what it delegated out and what
    /// is pending out of it.
    pub fn bond_cap(&self, address: &str) -> u64 {
        let a = self.accounts.get(address);
        a.balance
            .saturating_sub(a.delegated_out)
            .saturating_sub(a.pending_out)
    }

    /// A pending evidence slash read back from the pool log at start-up: checked again.
    pub(super) fn recheck_evidence(&mut self, e: &Evidence) -> Result<(), String> {
        for (message, signature) in e.signed(&self.chain_id) {
            check_signature(&e.address, message.as_bytes(), signature)
                .map_err(|err| err.to_string())?;
        }
        let stake = self.tracker.check_evidence(
            &e.address,
            e.index,
            (&e.first_hash, &e.second_hash),
            e.round,
        )?;
        let room = self.bond_cap(&e.address);
        if e.amount == 0 || e.amount > stake.min(room) {
            return Err(format!(
                "burns {} of {}'s snapshot stake {stake} with {room} left to burn",
                e.amount, e.address
            ));
        }
        Ok(())
    }

    /// Block `index` with `hash` joined the chain, in the epoch in force.
    pub fn on_block(&mut self, index: u64, hash: &str) {
        self.tracker.on_block(index, hash, self.snapshots.last());
    }
}

pub(super) fn vote(a: &Attestation) -> Vote<'_> {
    Vote {
        address: &a.address,
        index: a.index,
        hash: &a.hash,
        round: a.round,
        signature: &a.signature,
    }
}
