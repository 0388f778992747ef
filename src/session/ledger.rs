//! A logged-in ledger session's commands: `attest`, `delegate`, `undelegate`, `commission`
//! and `transfer`. Each is checked here (signature included, on this session's thread, so
//! checks spread over the cores), then sent to the round task, and answered in one line.

use super::{Flow, Session};
use crate::round::delegations::check_signed_alone;
use crate::round::Command;
use crate::tx::{Attestation, Transfer, Tx};

impl Session {
    /// Ledger mode: `attest <index> <hash> <signature>` from a logged-in session, staked or
    /// not. The signature is checked here, on this session's thread, so checks spread over
    /// the cores and the round task only counts.
    pub(super) async fn on_attest(
        &mut self,
        parsed: Result<(u64, String, String), String>,
    ) -> Flow {
        let chain_id = self.config.chain_id.clone().unwrap_or_default();
        let address = self.account.as_deref().unwrap_or_default().to_string();
        let key = self.account_key;
        let checked = parsed.and_then(|(index, hash, signature)| {
            let a = Attestation {
                address,
                index,
                hash,
                round: 0,
                signature,
            };
            match &key {
                Some(k) => a.check_with_key(k, &chain_id),
                None => a.check_alone(&chain_id),
            }
            .map(|()| a)
            .map_err(|e| e.to_string())
        });
        let line = match checked {
            Err(why) => format!("attest refused: {why}"),
            Ok(attestation) => {
                let index = attestation.index;
                match self
                    .ask(|reply| Command::Attest { attestation, reply })
                    .await
                {
                    None => return Flow::Close,
                    Some(Ok(f)) => format!(
                        "attest accepted: block {index}, {} of {} snapshot stake attested",
                        f.attested_stake, f.snapshot_stake
                    ),
                    Some(Err(e)) => format!("attest refused: {e}"),
                }
            }
        };
        self.say(&line);
        self.reprompt();
        Flow::Continue
    }

    /// Ledger mode: `delegate|undelegate <to> <amount> <nonce> <signature>` or `commission
    /// <percent> <nonce> <signature>` from a logged-in session; answered once in the pool log.
    pub(super) async fn on_signed(&mut self, parsed: Result<Tx, (&'static str, String)>) -> Flow {
        let chain_id = self.config.chain_id.clone().unwrap_or_default();
        let line = match parsed {
            Err((kind, why)) => format!("{kind} refused: {why}"),
            Ok(tx) => {
                let kind = tx.kind();
                let after = match &tx {
                    Tx::Delegate(d) => format!(
                        "applies with the next block; counts toward {}'s stake from the next epoch",
                        d.to
                    ),
                    Tx::Undelegate(_) => "stops counting with the next block; the tokens come back when the next epoch starts".to_string(),
                    _ => "applies with the next block".to_string(),
                };
                match check_signed_alone(&tx, &chain_id) {
                    Err(e) => format!("{kind} refused: {e}"),
                    Ok(()) => match self.ask(|reply| Command::Signed { tx, reply }).await {
                        None => return Flow::Close,
                        Some(Ok(id)) => format!("{kind} accepted: {id} ({after})"),
                        Some(Err(e)) => format!("{kind} refused: {e}"),
                    },
                }
            }
        };
        self.say(&line);
        self.reprompt();
        Flow::Continue
    }

    /// Ledger mode: `transfer <to> <amount> <nonce> <signature>` from a logged-in session.
    pub(super) async fn on_transfer(
        &mut self,
        parsed: Result<(String, u64, u64, String), String>,
    ) -> Flow {
        let chain_id = self.config.chain_id.clone().unwrap_or_default();
        let from = self.account.as_deref().unwrap_or_default().to_string();
        let checked = parsed.and_then(|(to, amount, nonce, signature)| {
            let t = Transfer {
                from,
                to,
                amount,
                nonce,
                signature,
            };
            t.check_alone(&chain_id)
                .map(|()| t)
                .map_err(|e| e.to_string())
        });
        let line = match checked {
            Err(why) => format!("transfer refused: {why}"),
            Ok(transfer) => match self
                .ask(|reply| Command::Transfer { transfer, reply })
                .await
            {
                None => return Flow::Close,
                Some(Ok(id)) => format!("transfer accepted: {id} (pending until the next block)"),
                Some(Err(e)) => format!("transfer refused: {e}"),
            },
        };
        self.say(&line);
        self.reprompt();
        Flow::Continue
    }
}
