//! pos-lottery: a proof-of-stake lottery server.
//!
//! Validators connect over TCP (`nc localhost 9000`), stake tokens and propose heart-rate
//! readings; every round a verifiable stake-weighted draw (`pos-lottery-v1`) picks one
//! proposal, whose block joins a hash-linked chain that is fsynced before it is announced.
//!
//! # Layout
//! - pure consensus logic, no I/O: [`input`] (what a validator types), [`lottery`] (the
//!   draw), [`chain`] (blocks and hashing), [`ledger`] (auditing the files), [`stats`]
//!   (the fairness test);
//! - ledger mode, pure: [`tx`] (genesis, signed messages), [`accounts`] (balances),
//!   [`epoch`] (stake snapshots), [`attest`] (attestations and finality);
//! - [`store`]: the data directory, written durably before announcements;
//! - [`round`]: the one task that owns validators, candidates and the chain;
//! - [`session`] and [`codec`]: one TCP connection; [`server`]: accept loop and shutdown;
//!   [`fanout`]: the threads that write each announcement to every connection;
//! - [`http`]: the read-only JSON API, event stream and dashboard;
//! - [`audit`]: the `verify` and `stats` subcommands;
//! - [`client`]: the client side, over the public protocol only: `simulate` (bots for demos
//!   and load) and the protocol parsing it rests on;
//! - [`repair`]: the `repair` subcommand, which cuts only a damaged tail, after showing it;
//! - settings live in [`config`].

pub mod accounts;
pub mod attest;
pub mod audit;
pub mod chain;
pub mod client;
pub mod codec;
pub mod config;
pub mod delegation;
pub mod epoch;
pub mod fanout;
pub mod http;
pub mod input;
pub mod ledger;
pub mod lottery;
pub mod pool;
pub mod repair;
pub mod replay;
pub mod round;
pub mod seed;
pub mod server;
pub mod session;
pub mod stats;
pub mod store;
pub mod tx;
