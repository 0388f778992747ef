//! The client side: programs that talk to a running server over TCP, through the public
//! protocol only (what `nc` would see), never the server's own types.
//!
//! - [`simulate`]: the `pos-lottery simulate` subcommand, its flags and the run;
//! - [`args`]: the parsers of its flags (stake ranges, durations, rates);
//! - [`protocol`]: pure: the server's lines as [`Reply`]s, and the [`ReplyCodec`] framing;
//! - `bot`: one bot task per connection, and what the bots share;
//! - [`arrival`]: reads that keep the kernel's arrival stamp, for the fan-out spread;
//! - [`tally`]: pure: deliveries, entered rounds, round pairing, quantiles, join rates;
//! - `report` and `render`: the end-of-run summary (JSON or text) and whether it passed;
//! - `status`: the live status line.
//!
//! Ledger mode's tools, each a subcommand:
//! - [`keys`]: `keygen` (one account key) and `genesis` (a class's keys and genesis file);
//! - [`sign`]: `sign` (the `auth` line for a pasted challenge) and [`sign::Challenge`];
//! - [`connect`]: `connect`, an `nc` that logs in by itself and turns `send` into transfers;
//! - [`transfer`]: `transfer`, a signed transfer submitted over HTTP;
//! - [`delegate`]: `delegate`, `undelegate` and `commission`, submitted the same way;
//! - [`attest`]: `attest`, one block's draw recomputed over HTTP, then signed and submitted
//!   (or, offline, just the `attest` line to paste into `nc`);
//! - [`http_client`]: the minimal HTTP/1.1 client those two use;
//! - [`recompute`]: pure: recomputing block k's draw from the server's HTTP documents, the
//!   check before `connect` and the `simulate` bots attest it;
//! - [`attestor`]: fetching those documents off the reading loop, once per block (for all bots
//!   together in `simulate`), and the signed `attest` line;
//! - [`tool`]: their [`ToolError`] (the exit code) and key files on disk.

pub mod args;
pub mod arrival;
pub mod attest;
pub mod attestor;
mod bot;
pub mod connect;
pub mod delegate;
pub mod http_client;
pub mod keys;
pub mod protocol;
pub mod recompute;
mod render;
mod report;
pub mod sign;
pub mod simulate;
mod status;
pub mod tally;
pub mod tool;
pub mod transfer;

pub use args::{parse_duration, parse_positive_duration, parse_stake_range, StakeRange};
pub use protocol::{parse_announcement, parse_reply, Announcement, Reply, ReplyCodec};
pub use simulate::{run, SimulateArgs};
pub use tally::{
    join_buckets, match_rounds, quantiles, stake_per_round, Deliveries, Drawn, EnteredRound,
    JoinBucket, Quantiles, Rounds,
};
pub use tool::ToolError;
