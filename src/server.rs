//! The TCP side: accept loop, connection limit, one task per connection, graceful shutdown.
//!
//! [`run`] takes listeners that are already bound and a shutdown future, so tests can bind
//! port 0 and stop the server when they like.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{broadcast, mpsc, watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::fanout::Fanout;
use crate::round::{
    Command, Event, Round, RoundError, RoundSetup, Shared, Ticks, View, ANNOUNCE_QUEUE,
    COMMAND_QUEUE, EVENT_QUEUE,
};
use crate::session::{Session, SessionConfig};
use crate::store::{ChainIndex, LedgerSetup, NewChain, Store, StoreError};

/// The line a connection over `MAX_CONNECTIONS` gets before it is closed.
pub const SERVER_FULL: &[u8] = b"server full\n";
/// Pending-connection queue of the listener. std and mio use 128, and a classroom's burst
/// of thousands of `nc`s overflowed it: the kernel dropped handshakes, and clients sat
/// "connected" to a server that had no socket for them. Linux caps this at somaxconn.
pub const LISTEN_BACKLOG: u32 = 4096;
/// How long shutdown waits for sessions to say goodbye.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(800);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Round(#[from] RoundError),
    #[error("the storage task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("HTTP server: {0}")]
    Http(std::io::Error),
    #[error("starting the fan-out threads: {0}")]
    Fanout(std::io::Error),
}

/// Binds a TCP listener with [`LISTEN_BACKLOG`].
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Handles the HTTP view needs: the command channel and the event stream.
#[derive(Clone)]
pub struct Handles {
    /// The round task's published state, for read-only queries.
    pub view: watch::Receiver<Arc<View>>,
    /// Where every block and draw line is: the HTTP side reads history from the files.
    pub index: Arc<ChainIndex>,
    pub event_tx: broadcast::Sender<Event>,
    pub shared: Arc<Shared>,
    pub config: Arc<Config>,
    /// Ledger mode: where signed transfers go (`POST /api/transactions`).
    pub cmd_tx: mpsc::Sender<Command>,
}

/// Runs the server until `shutdown` completes, then says goodbye to every connection.
///
/// Opens (and audits) `config.data_dir` first.
///
/// # Errors
/// A damaged data directory, or a block that could not be written to it: the server stops
/// rather than announce a block it might lose.
pub async fn run(
    config: Config,
    listener: TcpListener,
    http: Option<TcpListener>,
    ticks: Ticks,
    shutdown: impl Future,
) -> Result<(), ServerError> {
    let dir = config.data_dir.clone();
    // The newest blocks the broadcast carries come back from the audit; the rest of the
    // history stays on disk.
    let keep = match config.broadcast_blocks {
        0 => 1,
        n => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let seed_chain_len = config.seed_chain_len;
    let genesis = config.genesis.clone();
    let block_reward = config.block_reward;
    let mut opened = tokio::task::spawn_blocking(move || {
        Store::open_with(
            &dir,
            keep,
            NewChain::V2 { seed_chain_len },
            genesis.as_ref().map(|genesis| LedgerSetup {
                genesis,
                block_reward,
            }),
            || crate::round::rfc3339(chrono::Utc::now()),
        )
    })
    .await??;
    if opened.created {
        let genesis = opened
            .audit
            .tip
            .as_ref()
            .map(|b| serde_json::to_string(b).unwrap_or_default());
        tracing::info!(genesis = genesis.unwrap_or_default(), "created a new chain");
    } else {
        tracing::info!(height = opened.audit.block_count - 1, "loaded the chain");
    }
    let mut config = config;
    // Settings as in force: `/info` shows the port actually bound, not a requested 0.
    if let Ok(addr) = listener.local_addr() {
        config.addr = addr;
    }
    let config = Arc::new(config);
    let shared = Arc::new(Shared::default());
    let index = Arc::new(ChainIndex::new(
        config.data_dir.clone(),
        std::mem::take(&mut opened.audit.block_spans),
        std::mem::take(&mut opened.audit.draw_spans),
    ));
    let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
    let (announce_tx, _) = broadcast::channel::<Bytes>(ANNOUNCE_QUEUE);
    let (event_tx, _) = broadcast::channel(EVENT_QUEUE);
    let (view_tx, view_rx) = watch::channel(Arc::new(View::default()));
    let chain_id: Option<Arc<str>> = opened.ledger.as_ref().map(|l| l.chain_id.as_str().into());
    let round = Round::new(
        opened,
        RoundSetup {
            ticks,
            broadcast: config.broadcast,
            broadcast_blocks: config.broadcast_blocks,
            block_reward: config.block_reward,
            index: index.clone(),
            seed_chain_len: config.seed_chain_len,
            shared: shared.clone(),
            announce_tx: announce_tx.clone(),
            event_tx: event_tx.clone(),
            view_tx,
            epoch_rounds: config.epoch_rounds,
            finality: config.finality,
            attest_reward: config.attest_reward,
            delegation_slash_percent: config.delegation_slash_percent,
        },
    )?;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            %addr,
            round_secs = config.round.as_secs_f64(),
            data_dir = %config.data_dir.display(),
            "listening: connect with nc {} {}",
            addr.ip(),
            addr.port()
        );
    }
    // One fan-out thread per core writes the announcements; it holds the only receivers, so
    // the channel closes when the round task drops its sender.
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let fanout =
        Fanout::start(&announce_tx, threads, shared.clone()).map_err(ServerError::Fanout)?;
    drop(announce_tx);
    let token = CancellationToken::new();
    let tracker = TaskTracker::new();
    let mut round_task = tokio::spawn(round.run(cmd_rx, token.clone()));

    let handles = Handles {
        view: view_rx,
        index,
        event_tx,
        shared: shared.clone(),
        config: config.clone(),
        cmd_tx: cmd_tx.clone(),
    };
    if let Some(http) = http {
        tracker.spawn(crate::http::serve(http, handles, token.clone()));
    }

    let mut listener = Listener {
        listener,
        limit: Arc::new(Semaphore::new(config.max_connections)),
        cmd_tx,
        fanout,
        shared,
        token: token.clone(),
        tracker: tracker.clone(),
        session: SessionConfig {
            min_stake: config.min_stake,
            stake_timeout: config.stake_timeout,
            write_timeout: config.write_timeout,
            chain_id,
        },
    };
    tokio::pin!(shutdown);
    let outcome = tokio::select! {
        _ = &mut shutdown => {
            tracing::info!("shutting down: asked to stop");
            Ok(())
        }
        _ = listener.accept_loop() => Ok(()),
        res = &mut round_task => {
            let outcome = match res {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(ServerError::Round(e)),
                Err(e) => Err(ServerError::Join(e)),
            };
            match &outcome {
                Ok(()) => tracing::error!("shutting down: the round task stopped"),
                Err(e) => tracing::error!(error = %causes(e), "shutting down: the round task failed"),
            }
            outcome
        }
    };
    token.cancel();
    drop(listener);
    tracker.close();
    // Sessions say goodbye while the round task finishes any durable write in progress;
    // both share one grace period so the process exits within a second.
    let round_done = async {
        if !round_task.is_finished() {
            let _ = (&mut round_task).await;
        }
    };
    if tokio::time::timeout(
        SHUTDOWN_GRACE,
        futures::future::join(tracker.wait(), round_done),
    )
    .await
    .is_err()
    {
        tracing::warn!("some connections did not close in time");
    }
    outcome
}

/// The accept loop's state.
struct Listener {
    listener: TcpListener,
    /// One permit per open connection, `MAX_CONNECTIONS` in all.
    limit: Arc<Semaphore>,
    cmd_tx: mpsc::Sender<Command>,
    /// Where each session's write half goes, to receive the announcements.
    fanout: Fanout,
    shared: Arc<Shared>,
    token: CancellationToken,
    tracker: TaskTracker,
    session: SessionConfig,
}

impl Listener {
    async fn accept_loop(&mut self) {
        loop {
            let socket = self.accept().await;
            let _ = socket.set_nodelay(true);
            let Ok(permit) = self.limit.clone().try_acquire_owned() else {
                // A new socket's send buffer is empty, so this write completes at once.
                let _ = socket.try_write(SERVER_FULL);
                tracing::warn!("connection refused: server full");
                continue;
            };
            let session = Session::new(
                socket,
                self.cmd_tx.clone(),
                &self.fanout,
                self.shared.clone(),
                self.token.clone(),
                self.session.clone(),
            );
            self.tracker.spawn(async move {
                session.run().await;
                drop(permit);
            });
        }
    }

    async fn accept(&mut self) -> TcpStream {
        accept_with_backoff(&self.listener, "connection").await
    }
}

/// An error and each of its causes, `: `-separated, as `{:#}` prints an anyhow chain.
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Accepts the next connection, retrying with a growing pause when accept fails (out of file
/// descriptors, say) instead of giving up. `what` names the listener in the logs.
pub async fn accept_with_backoff(listener: &TcpListener, what: &str) -> TcpStream {
    let mut backoff = Duration::from_millis(1);
    loop {
        match listener.accept().await {
            Ok((socket, peer)) => {
                tracing::debug!(%peer, "{what}");
                return socket;
            }
            Err(e) => {
                tracing::warn!(error = %e, "{what}: accept failed; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}
