//! Ledger mode: the round task's side of delegation (see [`crate::delegation`]): admitting
//! signed delegations, undelegations and commissions into the pool, and the lock that keeps
//! a snapshot's delegations in place until its attestation window closes.

use std::collections::HashMap;

use tokio::sync::oneshot;

use super::ledger::{Ack, Ledger};
use crate::tx::{Delegation, Direction, Tx, TxError};

/// (validator, delegator).
pub type Pair = (String, String);

impl Ledger {
    /// Admits a signed delegation, undelegation or commission whose signature the caller
    /// checked, or answers why not at once. Acknowledged (with its id) once the pool log holds
    /// it, like a transfer.
    pub fn submit_signed(&mut self, tx: Tx, reply: oneshot::Sender<Result<String, TxError>>) {
        if let Err(e) = self.check_pending_signed(&tx) {
            let _ = reply.send(Err(e));
            return;
        }
        let id = tx.id();
        self.admit_signed(&tx);
        self.unsynced.push((tx, Ack::Transfer(reply, id)));
    }

    /// Counts an admitted entry as pending.
    pub(super) fn admit_signed(&mut self, tx: &Tx) {
        if let Tx::Undelegate(d) = tx {
            let e = self
                .pending_undelegated
                .entry((d.to.clone(), d.from.clone()))
                .or_default();
            *e = e.saturating_add(d.amount);
        }
        self.accounts.admit(tx);
    }

    /// The checks against the ledger with the pool counted in: the sender, its nonce, and
    /// what it may delegate or undelegate now.
    ///
    /// # Errors
    /// Why it is refused.
    pub(super) fn check_pending_signed(&self, tx: &Tx) -> Result<(), TxError> {
        let from = match tx {
            Tx::Delegate(d) | Tx::Undelegate(d) => &d.from,
            Tx::Commission(c) => &c.from,
            Tx::Transfer(t) => return self.accounts.check_pending_transfer(t),
            _ => return Err(TxError::Other("not a signed transaction".into())),
        };
        let a = self.accounts.get(from);
        if a.balance == 0 {
            return Err(TxError::Unknown(from.clone()));
        }
        let nonce = match tx {
            Tx::Delegate(d) | Tx::Undelegate(d) => d.nonce,
            Tx::Commission(c) => c.nonce,
            _ => 0,
        };
        if nonce != a.next_nonce() {
            return Err(TxError::Nonce {
                found: nonce,
                expected: a.next_nonce(),
            });
        }
        match tx {
            Tx::Delegate(d) if d.amount > a.available() => Err(TxError::Other(format!(
                "amount {} is more than the {} that {from} has available (balance minus bonded stake, delegations out and what is already pending out)",
                d.amount,
                a.available()
            ))),
            // Locked snapshot stake stays where evidence can reach it: not delegated away.
            Tx::Delegate(d) if d.amount > a.transferable() => Err(TxError::Locked {
                address: from.clone(),
                amount: d.amount,
                transferable: a.transferable(),
                locked: a
                    .locked
                    .saturating_add(a.locked_delegated.saturating_sub(a.delegated_out)),
            }),
            Tx::Undelegate(d) => self.check_undelegate(d),
            _ => Ok(()),
        }
    }

    fn check_undelegate(&self, d: &Delegation) -> Result<(), TxError> {
        let key = (d.to.clone(), d.from.clone());
        let now = self.accounts.delegations.get(&key).copied().unwrap_or(0);
        let pending = self.pending_undelegated.get(&key).copied().unwrap_or(0);
        let free = now.saturating_sub(pending);
        if d.amount <= free {
            return Ok(());
        }
        Err(TxError::Other(if now == 0 {
            format!("{} has nothing delegated to {}", d.from, d.to)
        } else {
            format!(
                "undelegates {} of the {now} delegated to {}, {pending} of which is already being undelegated",
                d.amount, d.to
            )
        }))
    }

    /// What each delegator delegated in the snapshots whose attestation window is open at
    /// `round` (the most over them), as [`Ledger::relock`] locks own stake: not to be moved
    /// out of reach until the windows close, delegated or undelegated.
    pub(super) fn lock_delegations(&mut self, round: u64) {
        let mut locked: HashMap<String, u64> = HashMap::new();
        for s in self.snapshots.iter().rev().take(2) {
            if crate::attest::window_end(s) < round {
                continue;
            }
            let mut sums: HashMap<&str, u64> = HashMap::new();
            for (_, d, amount) in &s.delegations {
                let e = sums.entry(d).or_default();
                *e = e.saturating_add(*amount);
            }
            for (d, sum) in sums {
                let e = locked.entry(d.to_string()).or_default();
                *e = (*e).max(sum);
            }
        }
        for address in std::mem::take(&mut self.locked_delegators) {
            if let Some(a) = self.accounts.map.get_mut(&address) {
                a.locked_delegated = 0;
            }
        }
        for (d, sum) in locked {
            self.accounts
                .map
                .entry(d.clone())
                .or_default()
                .locked_delegated = sum;
            self.locked_delegators.push(d);
        }
    }
}

/// `delegate|undelegate <to> <amount> <nonce> <signature>` or `commission <percent> <nonce>
/// <signature>` from a logged-in session, as a transaction from `from`; `None` when the line
/// is none of these. An error names the command word and why.
pub fn parse_signed_command(line: &[u8], from: &str) -> Option<Result<Tx, (&'static str, String)>> {
    let text = String::from_utf8_lossy(line.trim_ascii()).into_owned();
    let mut words = text.split_ascii_whitespace();
    let first = words.next()?;
    let word = match first {
        "delegate" => "delegate",
        "undelegate" => "undelegate",
        "commission" => "commission",
        _ => return None,
    };
    let rest: Vec<&str> = words.collect();
    let number = |what: &str, s: &str, usage: &str| {
        s.parse::<u64>()
            .ok()
            .filter(|_| s.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                format!(
                    "{what} {s:?} is not a whole number from 0 to 18446744073709551615; {usage}"
                )
            })
    };
    let parsed = match first {
        "delegate" | "undelegate" => {
            let usage = format!("expected `{first} <validator> <amount> <nonce> <signature>`");
            let [to, amount, nonce, signature] = rest.as_slice() else {
                return Some(Err((word, usage)));
            };
            Some((|| {
                let d = Delegation {
                    from: from.to_string(),
                    to: to.to_string(),
                    amount: number("amount", amount, &usage)?,
                    nonce: number("nonce", nonce, &usage)?,
                    signature: signature.to_string(),
                };
                Ok(if first == "delegate" {
                    Tx::Delegate(d)
                } else {
                    Tx::Undelegate(d)
                })
            })())
        }
        "commission" => {
            let usage = "expected `commission <percent> <nonce> <signature>`".to_string();
            let [percent, nonce, signature] = rest.as_slice() else {
                return Some(Err((word, usage)));
            };
            Some((|| {
                Ok(Tx::Commission(crate::tx::Commission {
                    from: from.to_string(),
                    percent: number("percent", percent, &usage)?,
                    nonce: number("nonce", nonce, &usage)?,
                    signature: signature.to_string(),
                }))
            })())
        }
        _ => None,
    }?;
    Some(parsed.map_err(|why| (word, why)))
}

/// The signature checks of a signed delegation, undelegation or commission.
///
/// # Errors
/// Why it is refused.
pub fn check_signed_alone(tx: &Tx, chain_id: &str) -> Result<(), TxError> {
    match tx {
        Tx::Transfer(t) => t.check_alone(chain_id),
        Tx::Delegate(d) => d.check_alone(Direction::Delegate, chain_id),
        Tx::Undelegate(d) => d.check_alone(Direction::Undelegate, chain_id),
        Tx::Commission(c) => c.check_alone(chain_id),
        _ => Err(TxError::Other("not a signed transaction".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_commands_parse_or_say_how() {
        let from = "f".repeat(64);
        let to = "a".repeat(64);
        let sig = "b".repeat(128);
        let tx = parse_signed_command(format!("delegate {to} 5 2 {sig}").as_bytes(), &from)
            .unwrap()
            .unwrap();
        assert_eq!(
            tx.canonical_line(),
            format!("delegate {from} {to} 5 2 {sig}")
        );
        let tx = parse_signed_command(format!("commission 10 3 {sig}").as_bytes(), &from)
            .unwrap()
            .unwrap();
        assert_eq!(tx.canonical_line(), format!("commission {from} 10 3 {sig}"));
        let (word, why) = parse_signed_command(b"undelegate x", &from)
            .unwrap()
            .unwrap_err();
        assert_eq!(word, "undelegate");
        assert!(why.contains("expected `undelegate <validator> <amount> <nonce> <signature>`"));
        assert!(
            parse_signed_command(format!("delegate {to} -1 2 {sig}").as_bytes(), &from)
                .unwrap()
                .is_err()
        );
        assert!(parse_signed_command(b"70", &from).is_none());
    }
}
