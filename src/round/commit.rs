//! Ledger mode: the pool log's group commit, and what a commit tells everyone: slashes,
//! transfers, and the blocks its attestations made final.

use bytes::Bytes;
use tokio::sync::mpsc;

use super::view::{FinalizedEvent, SlashedEvent};
use super::{Command, Ledger, Round, RoundError, COMMAND_QUEUE};
use crate::tx::Tx;

impl Round {
    /// Ledger mode: once a command left pool entries waiting for stable storage, serves what
    /// else is queued already, then writes them all with one fsync and acknowledges them.
    /// Commands that arrive during the fsync make the next group.
    pub(super) async fn group_commit(
        &mut self,
        cmd_rx: &mut mpsc::Receiver<Command>,
    ) -> Result<(), RoundError> {
        if !self.ledger.as_ref().is_some_and(Ledger::has_unsynced) {
            return Ok(());
        }
        for _ in 0..COMMAND_QUEUE {
            match cmd_rx.try_recv() {
                Ok(cmd) => Box::pin(self.handle(cmd)).await?,
                Err(_) => break,
            }
        }
        let Some(ledger) = &mut self.ledger else {
            return Ok(());
        };
        let (txs, acks) = ledger.take_unsynced();
        let store = self.store.clone();
        let txs = tokio::task::spawn_blocking(move || {
            let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
            store.append_pool(&txs).map(|()| txs)
        })
        .await??;
        // Burned so far, counting this group's slashes one by one as they are told.
        let mut burned = self.ledger.as_ref().map_or(0, |l| l.burned());
        for tx in &txs {
            match tx {
                Tx::Slash {
                    address, amount, ..
                }
                | Tx::Evidence(crate::tx::Evidence {
                    address, amount, ..
                }) => {
                    burned += u128::from(*amount);
                    match tx {
                        Tx::Evidence(e) => {
                            tracing::warn!(%address, stake = amount, index = e.index, %burned, "slashed on evidence: two hashes signed for one block")
                        }
                        _ => tracing::warn!(%address, stake = amount, %burned, "validator slashed"),
                    }
                    self.event(
                        "slashed",
                        &SlashedEvent {
                            address,
                            stake: *amount,
                            burned,
                            evidence: match tx {
                                Tx::Evidence(e) => Some(e.index),
                                _ => None,
                            },
                        },
                    );
                }
                Tx::Transfer(t) => self.event("transfer", t),
                _ => {}
            }
        }
        let finalized = match &mut self.ledger {
            Some(ledger) => ledger.synced(txs, acks),
            None => Vec::new(),
        };
        self.changed();
        for f in finalized {
            tracing::info!(index = f.index, epoch = f.epoch, attested = %f.attested, total = %f.total, "block final");
            self.announce(Bytes::from(format!("{}\n", f.line())));
            self.event(
                "finalized",
                &FinalizedEvent {
                    index: f.index,
                    hash: &f.hash,
                    epoch: f.epoch,
                    attested: f.attested,
                    total: f.total,
                    percent: crate::attest::percent(f.attested, f.total),
                },
            );
        }
        Ok(())
    }

    /// Ledger mode: an account slashed on evidence keeps bonded no more than its balance
    /// less what is pending out (the slash included), so its draw weight stays within what
    /// it holds.
    pub(super) fn cap_slashed_bonds(&mut self) {
        let Some(l) = &mut self.ledger else { return };
        for address in l.take_slashed() {
            let cap = l.bond_cap(&address);
            for v in self.validators.values_mut() {
                if *v.address == *address && v.stake > cap {
                    l.unbond(&address, v.stake - cap);
                    v.stake = cap;
                }
            }
        }
    }
}
