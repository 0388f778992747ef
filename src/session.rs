//! One connection: the balance prompt, then BPM proposals, with announcements interleaved.
//!
//! The session runs one `select!` over shutdown, its fan-out wake-up, the stake deadline and
//! the socket's next line; every arm is cancel-safe. Announcements normally never reach the
//! session: the fan-out threads write them straight to the socket (see [`crate::fanout`]),
//! and wake the session only for lines the socket could not take at once. Replies to lines
//! that are already buffered are batched into one write, so a flooding client costs one
//! syscall per batch rather than per line. All of the session's writes go through one
//! bounded buffer with a no-progress timeout, so a client that stops reading is closed
//! instead of buffered without bound.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::codec::{LineCodec, LineError, MAX_LINE_BYTES};
use crate::fanout::{Claim, Fanout, Subscription};
use crate::input::{
    parse_attest, parse_auth, parse_bpm, parse_command, parse_stake, parse_transfer, BpmError,
    BpmInput, SessionCommand, StakeInput,
};
use crate::round::delegations::parse_signed_command;
use crate::round::{Command, Joined, Proposal, Shared, StatusView};
use crate::tx::{auth_message, check_signature};

mod ledger;

pub const BALANCE_PROMPT: &str = "Enter token balance:";
pub const BPM_PROMPT: &str = "Enter a new BPM:";
pub const HELP_LINE: &str = "pos-lottery: type your token balance to stake and become a validator, or watch to only watch the rounds; help lists the commands";
/// `help` while staking.
pub const HELP_STAKING: &str = "commands: help (this list), status (the round and the time left), watch (only watch the rounds, never stake), quit (leave); anything else is read as your token balance";
/// `help` as a validator.
pub const HELP_VALIDATOR: &str = "commands: help (this list), status (your stake, the round, the time left, your wins), watch (stop validating: your stake is withdrawn and you keep watching), quit (leave: your stake is withdrawn); anything else is a BPM, and a BPM that is not digits 0-9 gets you slashed";
/// `help` as a watcher.
pub const HELP_WATCHER: &str = "commands: help (this list), status (the round and the time left), quit (leave); you are watching: reconnect to stake and propose";
pub const SHUTDOWN_LINE: &str = "server is shutting down";
/// Ledger mode's first line.
pub const HELP_LINE_LEDGER: &str = "pos-lottery (ledger mode): sign the challenge below with your account key and answer `auth <address> <signature>` (`pos-lottery sign --key KEYFILE <challenge line>` prints it), or watch to only watch the rounds; help lists the commands";
/// `help` before logging in (ledger mode).
pub const HELP_LOGIN: &str = "commands: help (this list), status (the round and the time left), watch (only watch the rounds), quit (leave); otherwise answer the challenge with `auth <address> <signature>`, the signature over `pos-lottery auth v1 <chain id> <nonce>`";
/// `help` for a logged-in account that only watches (ledger mode): its signed commands work.
pub const HELP_ACCOUNT_WATCHING: &str = "commands: help (this list), status (your balance and available tokens, the round, the time left), transfer, attest, delegate, undelegate and commission (signed lines, as `help` lists them before watching), quit (leave); you are watching: reconnect to stake and propose";
/// `help` once logged in (ledger mode).
pub const HELP_ACCOUNT: &str = "commands: help (this list), status (your balance, available tokens and stake, the round, the time left, your wins), transfer <to> <amount> <nonce> <signature> (send tokens; `pos-lottery transfer` signs and submits one over HTTP), attest <block> <hash> <signature> (sign that you checked a block; `pos-lottery attest` signs one), delegate|undelegate <validator> <amount> <nonce> <signature> (stake through a validator, or ask it back; `pos-lottery delegate` signs and submits one over HTTP), commission <percent> <nonce> <signature> (your cut of your block rewards before your delegators share them), watch (unbond and only watch), quit (leave; your stake is unbonded); a stake or a BPM otherwise, and a BPM that is not digits 0-9 gets your bonded stake burned";
/// The stake prompt in ledger mode.
pub const STAKE_PROMPT: &str = "Enter stake:";
/// Failed logins tolerated before the connection is closed.
pub const MAX_BAD_LOGINS: u8 = 3;
/// Bad balances tolerated before the connection is closed.
pub const MAX_BAD_STAKES: u8 = 3;
/// Stop pulling buffered lines into one batch once this much reply text is waiting.
const BATCH_BYTES: usize = 16 * 1024;
/// Small at first: an idle connection should cost little; the buffer grows for floods.
const READ_BUFFER: usize = 256;
/// The goodbye on shutdown must not hold up the exit for long.
const GOODBYE_TIMEOUT: Duration = Duration::from_millis(300);
/// How long a closing connection's leftover input is drained (see `close_gracefully`).
const LINGER: Duration = Duration::from_secs(1);

/// Session settings taken from the server's config.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub min_stake: u64,
    pub stake_timeout: Duration,
    pub write_timeout: Duration,
    /// Ledger mode: the chain id (the genesis block's `Hash`) logins sign.
    pub chain_id: Option<Arc<str>>,
}

enum State {
    /// Ledger mode: the challenge is out, no valid `auth` yet.
    Login {
        bad: u8,
    },
    Staking {
        bad: u8,
    },
    Validator {
        id: u64,
        proposed_in: u64,
    },
    Watching,
}

#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Close,
}

/// Everything one connection's task needs.
pub struct Session {
    lines: FramedRead<OwnedReadHalf, LineCodec>,
    /// The write half lives here, shared with the fan-out thread that writes announcements.
    outbox: Subscription,
    /// Replies waiting to be written; bounded by `BATCH_BYTES` plus one reply.
    out: Vec<u8>,
    cmd_tx: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    config: SessionConfig,
    state: State,
    /// Ledger mode: this connection's challenge line, and the account it logged in as.
    challenge: Option<String>,
    account: Option<Arc<str>>,
    /// Its public key, from the login.
    pub(super) account_key: Option<ed25519_dalek::VerifyingKey>,
}

impl Session {
    pub fn new(
        socket: TcpStream,
        cmd_tx: mpsc::Sender<Command>,
        fanout: &Fanout,
        shared: Arc<Shared>,
        shutdown: CancellationToken,
        config: SessionConfig,
    ) -> Session {
        let (reader, writer) = socket.into_split();
        Session {
            lines: FramedRead::with_capacity(reader, LineCodec::default(), READ_BUFFER),
            outbox: fanout.subscribe(writer),
            out: Vec::new(),
            cmd_tx,
            shared,
            shutdown,
            state: if config.chain_id.is_some() {
                State::Login { bad: 0 }
            } else {
                State::Staking { bad: 0 }
            },
            config,
            challenge: None,
            account: None,
            account_key: None,
        }
    }

    /// Serves the connection until the client leaves, misbehaves, or the server stops.
    /// A validator is removed from the set whatever the way out.
    pub async fn run(mut self) {
        self.shared.connections.fetch_add(1, Ordering::Relaxed);
        let result = self.serve().await;
        if let Err(e) = result {
            tracing::debug!(error = %e, "connection ended");
        }
        self.release().await;
        self.shared.connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// Withdraws the stake and (ledger mode) logs the account out, once: on the way out, and
    /// before a closing connection lingers, so the account can log in again at once.
    async fn release(&mut self) {
        if let State::Validator { id, .. } = self.state {
            self.state = State::Watching;
            let _ = self.cmd_tx.send(Command::Leave { id, reply: None }).await;
        }
        if let Some(address) = self.account.take() {
            let _ = self.cmd_tx.send(Command::Logout { address }).await;
        }
    }

    async fn serve(&mut self) -> io::Result<()> {
        match &self.config.chain_id {
            Some(chain_id) => {
                let nonce = hex::encode(rand::random::<[u8; 32]>());
                let line = format!("challenge {chain_id} {nonce}");
                self.say(HELP_LINE_LEDGER);
                self.say(&line);
                self.challenge = Some(line);
            }
            None => {
                self.say(HELP_LINE);
                self.say(BALANCE_PROMPT);
            }
        }
        self.flush().await?;
        let stake_deadline = tokio::time::sleep(self.config.stake_timeout);
        tokio::pin!(stake_deadline);
        loop {
            let staking = matches!(self.state, State::Staking { .. } | State::Login { .. });
            let flow = tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return self.goodbye().await,
                // Announcements the socket could not take at once: written by `flush` below.
                _ = self.outbox.notified() => {
                    if self.outbox.is_closed() {
                        self.flush().await?;
                        return self.goodbye().await;
                    }
                    Flow::Continue
                }
                _ = &mut stake_deadline, if staking => {
                    let what = match self.state {
                        State::Login { .. } => "no login",
                        _ if self.account.is_some() => "no stake",
                        _ => "no token balance",
                    };
                    self.say(&format!(
                        "{what} within {} s; closing the connection",
                        self.config.stake_timeout.as_secs_f64()
                    ));
                    Flow::Close
                }
                line = self.lines.next() => self.on_read(line).await,
            };
            let flow = if flow == Flow::Continue {
                self.drain_ready_lines().await
            } else {
                flow
            };
            self.flush().await?;
            if flow == Flow::Close {
                self.release().await;
                self.close_gracefully().await;
                return Ok(());
            }
        }
    }

    /// Handles lines that have already arrived, without waiting, to batch their replies.
    async fn drain_ready_lines(&mut self) -> Flow {
        while self.out.len() < BATCH_BYTES {
            match self.lines.next().now_or_never() {
                Some(line) => {
                    if self.on_read(line).await == Flow::Close {
                        return Flow::Close;
                    }
                }
                None => break,
            }
        }
        Flow::Continue
    }

    async fn on_read(&mut self, line: Option<Result<Bytes, LineError>>) -> Flow {
        match line {
            Some(Ok(line)) => self.on_line(&line).await,
            Some(Err(LineError::TooLong)) => {
                self.say(&format!(
                    "line too long: at most {MAX_LINE_BYTES} bytes per line; closing the connection"
                ));
                Flow::Close
            }
            // The client went away (EOF or a reset): nobody is left to answer.
            Some(Err(LineError::Io(_))) | None => Flow::Close,
        }
    }

    async fn on_line(&mut self, line: &[u8]) -> Flow {
        if let Some(command) = parse_command(line) {
            return self.on_command(command).await;
        }
        // The signed commands' futures are boxed: each task holds its future inline, and
        // theirs (keys, signatures, messages) would make every connection's about 0.7 KiB
        // larger, tutorial mode's too.
        if self.account.is_some() {
            if let Some(parsed) = parse_transfer(line) {
                return Box::pin(self.on_transfer(parsed)).await;
            }
            if let Some(parsed) = parse_attest(line) {
                return Box::pin(self.on_attest(parsed)).await;
            }
            let account = self.account.as_deref().unwrap_or_default().to_string();
            if let Some(parsed) = parse_signed_command(line, &account) {
                return Box::pin(self.on_signed(parsed)).await;
            }
        }
        match self.state {
            State::Login { bad } => Box::pin(self.on_auth(line, bad)).await,
            State::Staking { bad } => self.on_stake(line, bad).await,
            State::Validator { id, proposed_in } => self.on_bpm(line, id, proposed_in).await,
            State::Watching => {
                if !line.trim_ascii().is_empty() {
                    self.say("you are watching; reconnect to stake and propose");
                }
                Flow::Continue
            }
        }
    }

    /// A reserved word, in any state: never a stake, never a heart rate, never a slash.
    async fn on_command(&mut self, command: SessionCommand) -> Flow {
        let challenge = self.challenge.clone();
        let prompt = match self.state {
            State::Login { .. } => challenge.as_deref(),
            State::Staking { .. } if self.account.is_some() => Some(STAKE_PROMPT),
            State::Staking { .. } => Some(BALANCE_PROMPT),
            State::Validator { .. } => Some(BPM_PROMPT),
            State::Watching => None,
        };
        match command {
            SessionCommand::Help => self.say(match self.state {
                State::Login { .. } => HELP_LOGIN,
                _ if self.account.is_some() && matches!(self.state, State::Watching) => {
                    HELP_ACCOUNT_WATCHING
                }
                _ if self.account.is_some() => HELP_ACCOUNT,
                State::Staking { .. } => HELP_STAKING,
                State::Validator { .. } => HELP_VALIDATOR,
                State::Watching => HELP_WATCHER,
            }),
            SessionCommand::Status => {
                let id = match self.state {
                    State::Validator { id, .. } => Some(id),
                    _ => None,
                };
                let account = self.account.clone();
                let Some(status) = self
                    .ask(|reply| Command::Status { id, account, reply })
                    .await
                else {
                    return Flow::Close;
                };
                let line = status_line(&status, matches!(self.state, State::Watching));
                self.say(&line);
            }
            SessionCommand::Quit => {
                let line = match self.state {
                    State::Validator { id, .. } => {
                        let stake = self.leave(id).await;
                        format!("goodbye: your stake of {stake} is withdrawn")
                    }
                    _ => "goodbye".to_string(),
                };
                self.say(&line);
                return Flow::Close;
            }
            SessionCommand::Watch => {
                let line = match self.state {
                    State::Validator { id, .. } => {
                        let stake = self.leave(id).await;
                        format!("watching: your stake of {stake} is withdrawn; you will see every winner and chain broadcast")
                    }
                    State::Staking { .. } | State::Login { .. } => {
                        "watching: you will see every winner and chain broadcast".to_string()
                    }
                    State::Watching => "you are already watching".to_string(),
                };
                self.state = State::Watching;
                self.say(&line);
                return Flow::Continue;
            }
        }
        if let Some(prompt) = prompt {
            self.say(prompt);
        }
        Flow::Continue
    }

    /// Withdraws this validator's stake; the state must change with it, so the exit path
    /// does not withdraw it twice.
    async fn leave(&mut self, id: u64) -> u64 {
        self.state = State::Watching;
        self.ask(|reply| Command::Leave {
            id,
            reply: Some(reply),
        })
        .await
        .unwrap_or(0)
    }

    /// Ledger mode: an answer to the challenge.
    async fn on_auth(&mut self, line: &[u8], bad: u8) -> Flow {
        if line.trim_ascii().is_empty() {
            return Flow::Continue;
        }
        let checked = parse_auth(line).and_then(|(address, signature)| {
            let chain_id = self.config.chain_id.as_deref().unwrap_or_default();
            let nonce = self
                .challenge
                .as_deref()
                .and_then(|c| c.rsplit(' ').next())
                .unwrap_or_default();
            check_signature(
                &address,
                auth_message(chain_id, nonce).as_bytes(),
                &signature,
            )
            .map(|()| address)
            .map_err(|e| e.to_string())
        });
        let outcome = match checked {
            Err(why) => Err(why),
            Ok(address) => {
                let address: Arc<str> = address.into();
                let login = address.clone();
                match self
                    .ask(|reply| Command::Login {
                        address: login,
                        reply,
                    })
                    .await
                {
                    None => return Flow::Close,
                    Some(Ok(welcome)) => Ok((address, welcome)),
                    Some(Err(e @ crate::round::ledger::LoginError::AlreadyConnected(_))) => {
                        self.say(&format!("auth failed: {e}; one session per account"));
                        return Flow::Close;
                    }
                    Some(Err(e)) => Err(e.to_string()),
                }
            }
        };
        match outcome {
            Ok((address, welcome)) => {
                let a = welcome.account;
                self.say(&format!(
                    "welcome {address}: balance {}, available {}, {} wins, next nonce {}",
                    a.balance,
                    a.available(),
                    a.wins,
                    a.next_nonce()
                ));
                // Decompressed once: every attestation of the session is checked with it.
                self.account_key = crate::tx::verifying_key(&address);
                self.account = Some(address);
                self.state = State::Staking { bad: 0 };
                self.say(STAKE_PROMPT);
            }
            Err(why) => {
                self.say(&format!("auth failed: {why}"));
                let bad = bad + 1;
                if bad >= MAX_BAD_LOGINS {
                    self.say(&format!("{bad} failed logins; closing the connection"));
                    return Flow::Close;
                }
                self.state = State::Login { bad };
                // The same challenge again: its nonce stays this connection's.
                if let Some(c) = self.challenge.clone() {
                    self.say(&c);
                }
            }
        }
        Flow::Continue
    }

    /// After a command's answer: the prompt of the state it came in.
    pub(super) fn reprompt(&mut self) {
        match self.state {
            State::Staking { .. } => self.say(STAKE_PROMPT),
            State::Validator { .. } => self.say(BPM_PROMPT),
            _ => {}
        }
    }

    async fn on_stake(&mut self, line: &[u8], bad: u8) -> Flow {
        let prompt = if self.account.is_some() {
            STAKE_PROMPT
        } else {
            BALANCE_PROMPT
        };
        match parse_stake(line, self.config.min_stake) {
            Ok(StakeInput::Empty) => self.say(prompt),
            Ok(StakeInput::Watch) => {
                self.state = State::Watching;
                self.say("watching: you will see every winner and chain broadcast");
            }
            Ok(StakeInput::Stake(stake)) => {
                let joined = match self.account.clone() {
                    Some(address) => {
                        match self
                            .ask(|reply| Command::Bond {
                                address,
                                stake,
                                reply,
                            })
                            .await
                        {
                            None => return Flow::Close,
                            Some(Ok(j)) => j,
                            Some(Err(available)) => {
                                self.say(&format!(
                                    "stake {stake} is more than your {available} available tokens (balance minus what is pending out)"
                                ));
                                return self.bad_stake(bad, prompt);
                            }
                        }
                    }
                    None => match self.ask(|reply| Command::Join { stake, reply }).await {
                        Some(j) => j,
                        None => return Flow::Close,
                    },
                };
                let Joined {
                    id,
                    address,
                    not_entrant_in,
                } = joined;
                self.state = State::Validator { id, proposed_in: 0 };
                self.say(&format!("you are validator {address} with stake {stake}"));
                if let Some(not) = not_entrant_in {
                    self.say(&not_entrant_line(not));
                }
                self.say(BPM_PROMPT);
            }
            Err(e) => {
                self.say(&e.to_string());
                return self.bad_stake(bad, prompt);
            }
        }
        Flow::Continue
    }

    /// One more bad answer to the stake prompt: the third closes the connection.
    fn bad_stake(&mut self, bad: u8, prompt: &str) -> Flow {
        let bad = bad + 1;
        if bad >= MAX_BAD_STAKES {
            let what = if self.account.is_some() {
                "bad stakes"
            } else {
                "bad token balances"
            };
            self.say(&format!("{bad} {what}; closing the connection"));
            return Flow::Close;
        }
        self.state = State::Staking { bad };
        self.say(prompt);
        Flow::Continue
    }

    async fn on_bpm(&mut self, line: &[u8], id: u64, proposed_in: u64) -> Flow {
        match parse_bpm(line) {
            Ok(BpmInput::Empty) => {}
            Ok(BpmInput::Bpm(bpm)) => {
                // Answer repeats locally: a flood never reaches the round task.
                let current = self.shared.round.load(Ordering::Relaxed);
                if proposed_in == current {
                    self.say(&already(current));
                } else {
                    let at = chrono::Utc::now();
                    match self
                        .ask(|reply| Command::Propose { id, bpm, at, reply })
                        .await
                    {
                        Some(Proposal::Entered { round }) => {
                            self.state = State::Validator {
                                id,
                                proposed_in: round,
                            };
                            self.say(&format!("BPM {bpm} entered round {round}"));
                        }
                        Some(Proposal::AlreadyProposed { round }) => {
                            self.state = State::Validator {
                                id,
                                proposed_in: round,
                            };
                            self.say(&already(round));
                        }
                        Some(Proposal::NotEntrant(not)) => {
                            self.say(&format!("BPM not entered: {}", not_entrant_line(not)));
                        }
                        Some(Proposal::Unknown) | None => return Flow::Close,
                    }
                }
            }
            Err(e @ BpmError::OutOfRange { .. }) => self.say(&e.to_string()),
            Err(e @ BpmError::Malformed { .. }) => {
                // Answered once the slash is durable; `None` when the server is stopping
                // because it could not be written.
                let Some(burned) = self
                    .ask(|reply| Command::Slash {
                        id,
                        line: String::from_utf8_lossy(line.trim_ascii()).into_owned(),
                        reply,
                    })
                    .await
                    .flatten()
                else {
                    self.state = State::Watching;
                    return Flow::Close;
                };
                // Removed already: the exit path must not also withdraw the stake.
                self.state = State::Watching;
                self.say(&format!(
                    "slashed: {e}; your stake of {burned} is forfeited and you are removed from the validators"
                ));
                return Flow::Close;
            }
        }
        self.say(BPM_PROMPT);
        Flow::Continue
    }

    /// Sends a command to the round task and waits for its answer; `None` once it has stopped.
    pub(super) async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.cmd_tx.send(make(reply)).await.ok()?;
        answer.await.ok()
    }

    pub(super) fn say(&mut self, line: &str) {
        self.out.extend_from_slice(line.as_bytes());
        self.out.push(b'\n');
    }

    /// Writes what the fan-out queued for this connection (the rest of a line it began
    /// first, then a lag notice, then whole announcements), then the replies, each with the
    /// no-progress timeout; meanwhile the fan-out queues new announcements, and they are
    /// written before the write half is given back.
    async fn flush(&mut self) -> io::Result<()> {
        let Some(mut claim) = self.outbox.claim() else {
            // Closed already; nothing more is written.
            self.out.clear();
            return Ok(());
        };
        let timeout = self.config.write_timeout;
        let result = loop {
            if let Err(e) = write_claim(&mut claim, &mut self.out, timeout).await {
                break Err(e);
            }
            match self.outbox.release(claim.writer) {
                Ok(()) => break Ok(()),
                Err(next) => claim = next,
            }
        };
        self.out.clear();
        if self.out.capacity() > 4 * BATCH_BYTES {
            self.out = Vec::new();
        }
        result
    }

    /// Sends FIN, then reads and discards what the client is still sending for a moment, so
    /// that closing with unread input does not reset the connection and destroy the last
    /// line we wrote (the reason for closing) before the client has read it.
    async fn close_gracefully(&mut self) {
        if let Some((mut writer, _)) = self.outbox.close() {
            let _ = writer.shutdown().await;
        }
        let drain = async {
            // On the heap: an array here would sit in every connection's task for its whole
            // life (a task holds its future inline), 4 KiB of an idle connection's ~8.
            let mut sink = vec![0u8; 4096];
            let reader = self.lines.get_mut();
            while let Ok(n) = reader.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(LINGER, drain).await;
    }

    async fn goodbye(&mut self) -> io::Result<()> {
        self.say(SHUTDOWN_LINE);
        let Some((mut writer, partial)) = self.outbox.close() else {
            return Ok(());
        };
        let mut result = Ok(());
        if let Some(rest) = partial {
            result = write_with_progress(&mut writer, &rest, GOODBYE_TIMEOUT).await;
        }
        if result.is_ok() {
            result = write_with_progress(&mut writer, &self.out, GOODBYE_TIMEOUT).await;
        }
        self.out.clear();
        let _ = writer.shutdown().await;
        result
    }
}

/// The answer to `status`.
fn status_line(s: &StatusView, watching: bool) -> String {
    let left = match s.left {
        Some(d) => format!("{:.1} s left", d.as_secs_f64()),
        None => "closed by hand".to_string(),
    };
    if let Some(a) = &s.account {
        let stake = match &s.validator {
            Some((_, stake)) => format!("stake {stake} bonded"),
            None if watching => "watching".to_string(),
            None => "not staked yet".to_string(),
        };
        return format!(
            "status: balance {}, available {}, {stake}, next nonce {}, round {} ({left}), {} wins, chain height {}",
            a.balance,
            a.available(),
            a.next_nonce(),
            s.round,
            a.wins,
            s.height
        );
    }
    match &s.validator {
        Some((address, stake)) => format!(
            "status: validator {address} with stake {stake}, round {} ({left}), {} wins, chain height {}",
            s.round, s.wins, s.height
        ),
        None if watching => format!(
            "status: watching, round {} ({left}), chain height {}",
            s.round, s.height
        ),
        None => format!(
            "status: not staked yet, round {} ({left}), chain height {}",
            s.round, s.height
        ),
    }
}

/// Ledger mode: why an account's BPMs do not enter this epoch's draws.
fn not_entrant_line(not: crate::round::NotEntrant) -> String {
    format!(
        "not an entrant in epoch {}: your account is not in its stake snapshot; stay staked and you enter the draws from epoch {} (round {})",
        not.epoch,
        not.epoch.saturating_add(1),
        not.next_round
    )
}

fn already(round: u64) -> String {
    format!("already proposed in round {round}: only the first BPM of a round counts")
}

/// Writes one claim's lines in order, then `replies` (which it leaves for the caller to clear).
async fn write_claim(
    claim: &mut Claim,
    replies: &mut Vec<u8>,
    timeout: Duration,
) -> io::Result<()> {
    let w = &mut claim.writer;
    if let Some(rest) = claim.partial.take() {
        write_with_progress(w, &rest, timeout).await?;
    }
    if claim.missed > 0 {
        let notice = format!(
            "missed {} announcements: you were not reading fast enough\n",
            claim.missed
        );
        claim.missed = 0;
        write_with_progress(w, notice.as_bytes(), timeout).await?;
    }
    while let Some(line) = claim.queue.pop_front() {
        write_with_progress(w, &line, timeout).await?;
    }
    if !replies.is_empty() {
        write_with_progress(w, replies, timeout).await?;
        replies.clear();
    }
    Ok(())
}

/// Writes all of `buf`, failing if any single write makes no progress within `timeout`
/// (a client that stopped reading), however long a slow but moving transfer takes.
async fn write_with_progress(
    w: &mut OwnedWriteHalf,
    buf: &[u8],
    timeout: Duration,
) -> io::Result<()> {
    let mut written = 0;
    while written < buf.len() {
        let n = tokio::time::timeout(timeout, w.write(&buf[written..]))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "client stopped reading"))??;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        written += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task holds its future inline, so every connection costs the size of `run`'s future
    /// for its whole life: it once carried a 4 KiB drain buffer and every signed command's
    /// locals, more than half of an idle connection's memory (target: at most 8 KiB).
    #[tokio::test]
    async fn a_session_task_stays_small() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (socket, _) = listener.accept().await.unwrap();
        let (tx, _) = tokio::sync::broadcast::channel::<Bytes>(1);
        let shared = Arc::new(Shared::default());
        let fanout = Fanout::start(&tx, 1, shared.clone()).unwrap();
        let (cmd_tx, _cmd_rx) = mpsc::channel(1);
        let config = SessionConfig {
            min_stake: 1,
            stake_timeout: Duration::from_secs(1),
            write_timeout: Duration::from_secs(1),
            chain_id: None,
        };
        let session = Session::new(
            socket,
            cmd_tx,
            &fanout,
            shared,
            CancellationToken::new(),
            config,
        );
        let size = std::mem::size_of_val(&session.run());
        eprintln!("a session's future: {size} bytes");
        // About 1.9 KiB now; 5.3 KiB with the drain buffer inline.
        assert!(size <= 3072, "a session's future is {size} bytes");
    }
}
