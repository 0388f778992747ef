//! Attesting blocks: fetching what [`recompute`](super::recompute) checks, and deciding per
//! block, for `connect` (one check per block of its session) and for `simulate` (one check per
//! block for all bots: [`SharedVerdicts`]).
//!
//! A client attests block k only after it recomputed the draw itself from the server's HTTP
//! documents and found it right; without an HTTP address it never attests. The fetches use
//! the blocking [`http_client`](super::http_client) on tokio's blocking pool, a few at a time
//! (a [`Semaphore`]), so a socket's reading loop never waits on them: the verdict comes back
//! as a message.
//!
//! A server that does not take attestations would read an `attest` line as a heart rate that
//! is not a number, and slash the validator: no line is sent unless the block documents carry
//! the attestation fields ([`ATTESTING_FIELD`](super::recompute::ATTESTING_FIELD)).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use tokio::sync::{broadcast, Semaphore};

use super::http_client::{self, HttpError};
use super::protocol::Announcement;
use super::recompute::{
    check_genesis, parse_block_doc, parse_draw, recompute, BlockDoc, DrawInputs, RecomputeError,
    ATTESTING_FIELD,
};
use crate::chain::Block;

/// Waits before each retry of a `404` (the document not there yet).
const RETRY_AFTER: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(300),
    Duration::from_secs(1),
];
/// Blocks checked at once by one client (each check is three or four requests).
pub const MAX_CHECKS: usize = 4;
/// Recent blocks [`SharedVerdicts`] keeps the verdict of.
const KEPT_VERDICTS: usize = 256;

/// Why a block is not attested.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    /// The server takes no attestations: no block of it will be attested.
    #[error("{0}")]
    Unsupported(String),
    /// A document could not be fetched or read.
    #[error("{0}")]
    Fetch(String),
    /// The recomputation disagrees with what the server published.
    #[error("{0}")]
    Recompute(#[from] RecomputeError),
}

impl From<HttpError> for Skip {
    fn from(e: HttpError) -> Skip {
        Skip::Fetch(e.to_string())
    }
}

/// `attest <k> <hash> <signature>`, signed by `key` for the chain `chain_id`.
pub fn attest_line(key: &SigningKey, chain_id: &str, index: u64, hash: &str) -> String {
    format!(
        "attest {index} {hash} {}",
        crate::tx::sign_attest(key, chain_id, index, hash)
    )
}

/// GET `path`'s body, retrying a `404` a few times.
fn fetch(http: SocketAddr, path: &str) -> Result<String, Skip> {
    let mut retries = RETRY_AFTER.iter();
    loop {
        let r = http_client::get(http, path)?;
        match (r.status, retries.next()) {
            (200, _) => return Ok(r.body),
            (404, Some(wait)) => std::thread::sleep(*wait),
            (status, _) => {
                return Err(Skip::Fetch(format!(
                    "GET {path} answered {status}: {}",
                    r.error_text()
                )))
            }
        }
    }
}

fn fetch_block(http: SocketAddr, index: u64) -> Result<BlockDoc, Skip> {
    let path = format!("/api/blocks/{index}");
    parse_block_doc(&fetch(http, &path)?).map_err(|why| Skip::Fetch(format!("GET {path}: {why}")))
}

/// Blocking: block 0 from `http`, checked against the chain id of the TCP session.
///
/// # Errors
/// [`Skip::Fetch`], or [`Skip::Recompute`] from [`check_genesis`].
pub fn fetch_genesis(http: SocketAddr, chain_id: &str) -> Result<Block, Skip> {
    let genesis = fetch_block(http, 0)?.block;
    check_genesis(&genesis, chain_id)?;
    Ok(genesis)
}

/// Blocking: what the recomputation of block `index` reads (`genesis` as fetched before),
/// and whether the server takes attestations (block `index`'s document has the field).
///
/// # Errors
/// [`Skip::Fetch`] when a document cannot be fetched or read.
pub fn fetch_inputs(
    http: SocketAddr,
    genesis: &Block,
    index: u64,
) -> Result<(DrawInputs, bool), Skip> {
    if index == 0 {
        return Err(Skip::Fetch(
            "block 0 is the genesis block: it has no draw".into(),
        ));
    }
    let path = format!("/api/draws/{index}");
    let draw = parse_draw(&fetch(http, &path)?)
        .map_err(|why| Skip::Fetch(format!("GET {path}: {why}")))?;
    let BlockDoc { block, attesting } = fetch_block(http, index)?;
    let prev = match index - 1 {
        0 => genesis.clone(),
        k => fetch_block(http, k)?.block,
    };
    let inputs = DrawInputs {
        genesis: genesis.clone(),
        prev,
        block,
        draw,
    };
    Ok((inputs, attesting))
}

/// One server's HTTP side, for the chain a TCP session logged in to: fetches and checks,
/// keeping the genesis block once it checked out.
#[derive(Debug)]
pub struct Source {
    http: SocketAddr,
    chain_id: String,
    genesis: Mutex<Option<Block>>,
}

impl Source {
    pub fn new(http: SocketAddr, chain_id: String) -> Source {
        Source {
            http,
            chain_id,
            genesis: Mutex::new(None),
        }
    }

    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// Blocking: fetches block `announced.index`, its draw and the block before it, and
    /// recomputes the draw. `Ok` means: attest it.
    ///
    /// # Errors
    /// Why not: [`Skip::Unsupported`] when the announcement has no hash or the block document
    /// lacks [`ATTESTING_FIELD`]; [`Skip::Fetch`]; [`Skip::Recompute`].
    pub fn check(&self, announced: &Announcement) -> Result<(), Skip> {
        if announced.hash.is_none() {
            return Err(Skip::Unsupported(format!(
                "the server does not take attestations ({})",
                RecomputeError::NoAnnouncedHash
            )));
        }
        let cached = self
            .genesis
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let genesis = match cached {
            Some(g) => g,
            None => {
                let g = fetch_genesis(self.http, &self.chain_id)?;
                *self.genesis.lock().unwrap_or_else(|p| p.into_inner()) = Some(g.clone());
                g
            }
        };
        let (inputs, attesting) = fetch_inputs(self.http, &genesis, announced.index)?;
        if !attesting {
            return Err(Skip::Unsupported(format!(
                "the server at {} does not take attestations (its /api/blocks/{} has no {:?} field)",
                self.http, announced.index, ATTESTING_FIELD
            )));
        }
        recompute(&self.chain_id, announced, &inputs)?;
        Ok(())
    }

    /// [`Source::check`] on the blocking pool, once one of `permits` is free.
    pub async fn check_async(
        self: Arc<Self>,
        announced: Announcement,
        permits: Arc<Semaphore>,
    ) -> Result<(), Skip> {
        // The semaphore is never closed.
        let _permit = permits.acquire_owned().await.ok();
        tokio::task::spawn_blocking(move || self.check(&announced))
            .await
            .unwrap_or_else(|e| Err(Skip::Fetch(format!("the check failed: {e}"))))
    }
}

/// A few recent block indices, to attest each block once.
#[derive(Debug, Default)]
pub struct Recent {
    indices: VecDeque<u64>,
}

impl Recent {
    const KEPT: usize = 64;

    /// Adds `index`; false when it was there already.
    pub fn insert(&mut self, index: u64) -> bool {
        if self.indices.contains(&index) {
            return false;
        }
        if self.indices.len() >= Self::KEPT {
            self.indices.pop_front();
        }
        self.indices.push_back(index);
        true
    }
}

/// One block's verdict, shared by every bot: the hash that was checked, and the outcome.
#[derive(Debug)]
pub struct Verdict {
    pub index: u64,
    pub hash: Option<String>,
    pub outcome: Result<(), Skip>,
}

/// Figures for the report.
#[derive(Debug, Default)]
pub struct VerdictCounts {
    /// Blocks whose recomputation succeeded.
    pub recomputed: AtomicU64,
    /// Blocks not attested: the recomputation failed, or a document could not be fetched.
    pub not_attested: AtomicU64,
    /// Why, for one of them (or why the server takes no attestations).
    pub sample: Mutex<Option<String>>,
    /// Set when the server takes no attestations.
    pub unsupported: Mutex<Option<String>>,
}

/// `simulate`'s recomputation: once per block for all bots. The first bot to hear of block
/// k starts its check; every bot hears of the verdict through [`SharedVerdicts::subscribe`]
/// (or finds it with [`SharedVerdicts::announce`] when its own announcement came later), and
/// signs with its own key only after a verdict that is `Ok`, for the hash it was announced.
pub struct SharedVerdicts {
    http: SocketAddr,
    source: OnceLock<Arc<Source>>,
    /// `None` while the check runs.
    verdicts: Mutex<BTreeMap<u64, Option<Arc<Verdict>>>>,
    permits: Arc<Semaphore>,
    done_tx: broadcast::Sender<Arc<Verdict>>,
    pub counts: VerdictCounts,
}

impl SharedVerdicts {
    pub fn new(http: SocketAddr) -> Arc<SharedVerdicts> {
        Arc::new(SharedVerdicts {
            http,
            source: OnceLock::new(),
            verdicts: Mutex::new(BTreeMap::new()),
            permits: Arc::new(Semaphore::new(MAX_CHECKS)),
            done_tx: broadcast::channel(KEPT_VERDICTS).0,
            counts: VerdictCounts::default(),
        })
    }

    /// Verdicts as they are reached.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Verdict>> {
        self.done_tx.subscribe()
    }

    /// Whether the server was found to take no attestations: nothing more is checked.
    pub fn unsupported(&self) -> bool {
        self.counts
            .unsupported
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// A bot on chain `chain_id` heard `announced`: starts its check unless one was started,
    /// and returns the verdict when it is already known.
    pub fn announce(
        self: &Arc<Self>,
        chain_id: &str,
        announced: &Announcement,
    ) -> Option<Arc<Verdict>> {
        let source = self
            .source
            .get_or_init(|| Arc::new(Source::new(self.http, chain_id.to_owned())));
        if source.chain_id() != chain_id || self.unsupported() {
            return None;
        }
        let mut verdicts = self.verdicts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(known) = verdicts.get(&announced.index) {
            return known.clone();
        }
        verdicts.insert(announced.index, None);
        while verdicts.len() > KEPT_VERDICTS {
            verdicts.pop_first();
        }
        drop(verdicts);
        let shared = self.clone();
        let source = source.clone();
        let announced = announced.clone();
        tokio::spawn(async move {
            let index = announced.index;
            let hash = announced.hash.clone();
            let outcome = source.check_async(announced, shared.permits.clone()).await;
            shared.record(Verdict {
                index,
                hash,
                outcome,
            });
        });
        None
    }

    fn record(&self, verdict: Verdict) {
        let c = &self.counts;
        match &verdict.outcome {
            Ok(()) => {
                c.recomputed.fetch_add(1, Ordering::Relaxed);
            }
            Err(Skip::Unsupported(why)) => {
                c.unsupported
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert_with(|| why.clone());
            }
            Err(why) => {
                c.not_attested.fetch_add(1, Ordering::Relaxed);
                c.sample
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert_with(|| format!("block {}: {why}", verdict.index));
            }
        }
        let verdict = Arc::new(verdict);
        let mut verdicts = self.verdicts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = verdicts.get_mut(&verdict.index) {
            *slot = Some(verdict.clone());
        }
        drop(verdicts);
        // No receiver (every bot gone) is fine.
        let _ = self.done_tx.send(verdict);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_indices_are_kept_once() {
        let mut r = Recent::default();
        assert!(r.insert(5));
        assert!(!r.insert(5));
        for i in 100..100 + Recent::KEPT as u64 {
            assert!(r.insert(i));
        }
        // 5 has been forgotten by now.
        assert!(r.insert(5));
    }

    #[test]
    fn an_attest_line_verifies() {
        let key = SigningKey::from_bytes(&[8; 32]);
        let id = "ab".repeat(32);
        let hash = "cd".repeat(32);
        let line = attest_line(&key, &id, 12, &hash);
        let words: Vec<&str> = line.split(' ').collect();
        assert_eq!(words[..3], ["attest", "12", hash.as_str()]);
        let message = crate::tx::attest_message(&id, 12, &hash);
        assert_eq!(
            crate::tx::check_signature(&crate::tx::address_of(&key), message.as_bytes(), words[3]),
            Ok(())
        );
    }
}
