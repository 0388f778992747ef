//! Ledger mode: opening an epoch, with its stake snapshot (see [`crate::epoch`]).

use super::view::EpochEvent;
use super::{Round, RoundError};

impl Round {
    /// Ledger mode: when the round just opened starts an epoch, snapshots the bonds of the
    /// staked accounts (or copies the previous snapshot when nobody is staked, as after a
    /// restart), durably, before any block of the epoch.
    pub(super) async fn open_epoch(&mut self) -> Result<(), RoundError> {
        let Some(ledger) = &self.ledger else {
            return Ok(());
        };
        let round = self.number;
        let Some(epoch) = crate::epoch::opens_epoch(ledger.snapshot(), self.epoch_rounds, round)
        else {
            return Ok(());
        };
        let bonds: Vec<(String, u64)> = self
            .validators
            .values()
            .map(|v| (v.address.to_string(), v.stake))
            .collect();
        let Some(snapshot) = crate::epoch::take_snapshot(
            epoch,
            round,
            crate::epoch::Terms {
                epoch_rounds: self.epoch_rounds,
                finality: self.finality,
                attest_reward: self.attest_reward,
                delegation_slash_percent: self.delegation_slash_percent,
            },
            bonds,
            ledger.snapshot(),
            |a| {
                let a = ledger.account(a);
                a.balance.saturating_sub(a.delegated_out)
            },
            |v| ledger.accounts.delegations_to(v),
        ) else {
            // Before the first snapshot this happens once an epoch's worth of rounds; after it
            // (a copy with nothing left) it is retried every round, so it is quieter then.
            match ledger.snapshot() {
                None => tracing::info!(round, "no account is staked: epoch 0 goes on"),
                Some(s) => tracing::debug!(
                    round,
                    epoch = s.epoch,
                    "no account is staked and the last snapshot holds nothing now: the epoch in force goes on"
                ),
            }
            return Ok(());
        };
        let store = self.store.clone();
        let snapshot = tokio::task::spawn_blocking(move || {
            let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
            store.append_snapshot(&snapshot).map(|()| snapshot)
        })
        .await??;
        tracing::info!(
            epoch,
            first_round = round,
            accounts = snapshot.stakes.len(),
            total = %snapshot.total(),
            "epoch opened: stake snapshot taken"
        );
        self.event(
            "epoch",
            &EpochEvent {
                epoch,
                first_round: round,
                last_round: snapshot.last_round(),
                accounts: snapshot.stakes.len(),
                total: snapshot.total(),
            },
        );
        if let Some(l) = &mut self.ledger {
            // Undelegated tokens come back as the epoch starts (as `verify` replays it).
            l.accounts.start_epoch();
            l.snapshots.push(std::sync::Arc::new(snapshot));
            l.snapshot_committed = false;
            l.relock(round);
        }
        self.changed();
        Ok(())
    }
}
