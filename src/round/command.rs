//! The round task's requests: every [`Command`] a session or the HTTP side may send it, and
//! the replies those commands carry back.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use super::ledger::{AttestError, LoginError, Welcome};
use crate::attest::BlockFinality;
use crate::tx::{Account, Attestation, Transfer, TxError};

/// A request to the round task. Each carries its own reply channel.
#[derive(Debug)]
pub enum Command {
    Join {
        stake: u64,
        reply: oneshot::Sender<Joined>,
    },
    Propose {
        id: u64,
        bpm: u32,
        at: DateTime<Utc>,
        reply: oneshot::Sender<Proposal>,
    },
    /// A malicious BPM: forfeit the stake. Replies with the stake burned, once the slash
    /// is on stable storage; `None` if it could not be recorded.
    Slash {
        id: u64,
        /// The offending line, recorded with a ledger-mode slash.
        line: String,
        reply: oneshot::Sender<Option<u64>>,
    },
    /// Ledger mode: a session proved it holds `address`'s key.
    Login {
        address: Arc<str>,
        reply: oneshot::Sender<Result<Welcome, LoginError>>,
    },
    /// Ledger mode: that session ended (after its `Leave`, if it was a validator).
    Logout { address: Arc<str> },
    /// Ledger mode: stake `stake` of a logged-in account; `Err(available)` when too much.
    Bond {
        address: Arc<str>,
        stake: u64,
        reply: oneshot::Sender<Result<Joined, u64>>,
    },
    /// Ledger mode: a transfer whose signature the sender of this command checked. Replies
    /// with its id once it is in the pool log on stable storage, or why it is refused.
    Transfer {
        transfer: Transfer,
        reply: oneshot::Sender<Result<String, TxError>>,
    },
    /// Ledger mode: a signed delegation, undelegation or commission whose signature the
    /// sender of this command checked; answered like a transfer.
    Signed {
        tx: crate::tx::Tx,
        reply: oneshot::Sender<Result<String, TxError>>,
    },
    /// Ledger mode: an attestation whose signature the sender of this command checked (its
    /// `round` is set by the round task). Replies with the block's count once it is on
    /// stable storage, or why it is refused.
    Attest {
        attestation: Attestation,
        reply: oneshot::Sender<Result<BlockFinality, AttestError>>,
    },
    /// The connection ended, or typed `quit` or `watch`: withdraw the stake. Replies with
    /// the stake withdrawn when asked.
    Leave {
        id: u64,
        reply: Option<oneshot::Sender<u64>>,
    },
    /// `status`: this connection's standing (`id` is `None` for a watcher; `account` is the
    /// logged-in account in ledger mode).
    Status {
        id: Option<u64>,
        account: Option<Arc<str>>,
        reply: oneshot::Sender<StatusView>,
    },
}

/// What `status` tells a connection.
#[derive(Debug, Clone)]
pub struct StatusView {
    /// The validator's address and stake, for a validator.
    pub validator: Option<(Arc<str>, u64)>,
    /// Blocks this address has won (over the whole data directory).
    pub wins: u64,
    pub round: u64,
    /// Time until the round closes; `None` when rounds are closed by hand (tests).
    pub left: Option<Duration>,
    pub height: u64,
    /// Ledger mode: the session's account.
    pub account: Option<Account>,
}

#[derive(Debug, Clone)]
pub struct Joined {
    pub id: u64,
    pub address: Arc<str>,
    /// Ledger mode: the epoch in force, when this account is not in its stake snapshot (it
    /// enters the draws from the next epoch, if still staked when that one opens).
    pub not_entrant_in: Option<NotEntrant>,
}

/// Ledger mode: an account outside the stake snapshot of the epoch in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotEntrant {
    pub epoch: u64,
    /// Where the next epoch opens.
    pub next_round: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proposal {
    Entered {
        round: u64,
    },
    AlreadyProposed {
        round: u64,
    },
    /// Ledger mode: not in the stake snapshot of the epoch in force.
    NotEntrant(NotEntrant),
    /// The validator is gone (it cannot happen to a live session).
    Unknown,
}
