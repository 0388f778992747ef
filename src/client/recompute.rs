//! Pure: what a client checks before it attests block k. From the documents the server
//! publishes over HTTP (`/api/blocks/0`, `/api/blocks/{k-1}`, `/api/blocks/{k}` and
//! `/api/draws/{k}`) and the `winning validator:` line it announced, [`recompute`] redoes the
//! draw with the published algorithm ([`crate::lottery`], [`crate::chain`]) and says whether
//! every part of it holds: the genesis block is the chain the TCP session logged in to, the
//! blocks hash to their `Hash` and link up, the server signed block k, the entries hash to its
//! `EntriesHash`, the seed and the stake-weighted pick give its `Validator`, and the
//! announcement says the same. Only then does the client sign `attest <k> <hash>`.
//!
//! No I/O here: `attestor` fetches, this decides.

use serde_json::Value;

use super::protocol::Announcement;
use crate::chain::{compute_entries_hash_bytes, hex_matches, is_hex64, Block, ChainError};
use crate::ledger::DrawRecord;
use crate::lottery::{compute_seed, compute_seed_v2, pick_winner, LotteryError};

/// The key of a block document that says the server takes attestations: servers that count
/// them add `final` (with `epoch`, `attesters`, ...) to `/api/blocks/{k}`.
pub const ATTESTING_FIELD: &str = "final";

/// A block as `/api/blocks/{k}` serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockDoc {
    pub block: Block,
    /// The document carries [`ATTESTING_FIELD`]: the server takes `attest` lines. One that
    /// does not would read an `attest` line as a heart rate that is not a number, and slash.
    pub attesting: bool,
}

/// Everything the recomputation of block k reads.
#[derive(Debug, Clone)]
pub struct DrawInputs {
    /// Block 0: its `Hash` is the chain id, and its `ServerKey` signs every block.
    pub genesis: Block,
    /// Block k-1 (the genesis block again when k = 1): its `Hash` seeds the draw.
    pub prev: Block,
    pub block: Block,
    pub draw: DrawRecord,
}

/// Why block k is not attested. Each says what it found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecomputeError {
    #[error("the announcement carries no block hash (a server from before attestations)")]
    NoAnnouncedHash,
    #[error("the genesis block from HTTP hashes to {found}, but the chain id of the TCP session is {chain_id}: --http serves another chain")]
    OtherChain { found: String, chain_id: String },
    #[error("the genesis block carries no ServerKey: a v1 chain has no attestations")]
    NoServerKey,
    #[error("{what} is block {found}, expected block {expected}")]
    Index {
        what: &'static str,
        found: u64,
        expected: u64,
    },
    #[error("{0}")]
    Chain(#[from] ChainError),
    #[error("block {0} is not a ledger-mode block (no TxHash): only ledger mode has attestations")]
    NotLedger(u64),
    #[error(
        "block {index}: the server's Signature does not verify with the genesis ServerKey ({why})"
    )]
    Signature { index: u64, why: String },
    #[error("the announcement says block {index} has hash {announced}, but /api/blocks/{index} has Hash {found}")]
    AnnouncedHash {
        index: u64,
        announced: String,
        found: String,
    },
    #[error("draw entries are not in strictly ascending address order: entry {at} is {address:?} after {before:?}")]
    Order {
        at: usize,
        address: String,
        before: String,
    },
    #[error("draw entry {0} has address {1:?}, not 64 lowercase hex characters")]
    Address(usize, String),
    #[error("draw entry {0} ({1}) has stake 0; every stake is at least 1")]
    ZeroStake(usize, String),
    #[error("block {index}: EntriesHash is {found}, but the draw's entries hash to {computed}")]
    EntriesHash {
        index: u64,
        found: String,
        computed: String,
    },
    #[error("the draw cannot be computed: {0}")]
    Lottery(#[from] LotteryError),
    /// What the draw recomputes to, against what the draw record says.
    #[error("{0}")]
    Outcome(String),
    #[error("block {index}: Validator is {found}, but the draw's winner is {winner}")]
    Validator {
        index: u64,
        found: String,
        winner: String,
    },
    /// The announcement's winner, BPM, stake or total against the block and its draw.
    #[error("the announcement of block {index} says {what}")]
    Announcement { index: u64, what: String },
}

/// Reads a `/api/blocks/{k}` answer: the block's own fields (capitalised, as in
/// `chain.jsonl`), and whether the server added [`ATTESTING_FIELD`]. The lowercase fields a
/// server adds beside them (`final`, `epoch`, `attesters`, ...) are set aside, so a block
/// still parses strictly.
///
/// # Errors
/// A one-line reason: not a JSON object, or not a block.
pub fn parse_block_doc(body: &str) -> Result<BlockDoc, String> {
    let (fields, extra) = split_fields(body)?;
    let block: Block =
        serde_json::from_value(Value::Object(fields)).map_err(|e| format!("not a block ({e})"))?;
    Ok(BlockDoc {
        block,
        attesting: extra.contains_key(ATTESTING_FIELD),
    })
}

/// Reads a `/api/draws/{k}` answer (a `draws.jsonl` record; lowercase additions set aside).
///
/// # Errors
/// A one-line reason: not a JSON object, or not a draw record.
pub fn parse_draw(body: &str) -> Result<DrawRecord, String> {
    let (fields, _) = split_fields(body)?;
    serde_json::from_value(Value::Object(fields)).map_err(|e| format!("not a draw record ({e})"))
}

type Fields = serde_json::Map<String, Value>;

/// The object's record fields (opening with an uppercase letter) and the rest.
fn split_fields(body: &str) -> Result<(Fields, Fields), String> {
    let Value::Object(all) =
        serde_json::from_str(body).map_err(|e| format!("the answer is not JSON ({e})"))?
    else {
        return Err("the answer is not a JSON object".into());
    };
    Ok(all
        .into_iter()
        .partition(|(k, _)| k.starts_with(|c: char| c.is_ascii_uppercase())))
}

/// Checks the genesis block fetched over HTTP against the chain id the TCP session was
/// challenged with: valid on its own, hashing to the chain id, and v2 (it names the key that
/// signs every block).
///
/// # Errors
/// [`RecomputeError::Chain`], [`RecomputeError::OtherChain`], [`RecomputeError::NoServerKey`].
pub fn check_genesis(genesis: &Block, chain_id: &str) -> Result<(), RecomputeError> {
    if genesis.index != 0 {
        return Err(RecomputeError::Index {
            what: "the genesis block",
            found: genesis.index,
            expected: 0,
        });
    }
    genesis.validate_alone()?;
    if genesis.hash != chain_id {
        return Err(RecomputeError::OtherChain {
            found: genesis.hash.clone(),
            chain_id: chain_id.to_owned(),
        });
    }
    if genesis.server_key.is_none() {
        return Err(RecomputeError::NoServerKey);
    }
    Ok(())
}

/// Recomputes the draw behind the announced block from `inputs`, and says whether the client
/// may attest it: `Ok(())` only when everything below holds.
///
/// - the genesis block passes [`check_genesis`] for `chain_id`;
/// - block k-1 is valid on its own (the genesis block itself when k = 1), and block k validly
///   follows it (`PrevHash`, `Round`, `Hash` over its fields, its `Reveal` against the
///   commitment before it); block k is a ledger-mode block, signed with the genesis
///   `ServerKey`, and its `Hash` is the announced one;
/// - the draw record is block k's; its entries are in strictly ascending address order, each
///   address 64 lowercase hex, each stake at least 1, and they hash to the block's
///   `EntriesHash`;
/// - the seed (v2: from block k-1's `Hash`, k, `EntriesHash` and block k's `Reveal`) and the
///   stake-weighted pick give the record's `Total`, `Counter`, `Target` and `Winner`, and that
///   winner is the block's `Validator`;
/// - the announcement names that winner, the block's BPM, the winner's stake in the draw and
///   the draw's total.
///
/// # Errors
/// The first check that fails, as a [`RecomputeError`].
pub fn recompute(
    chain_id: &str,
    announced: &Announcement,
    inputs: &DrawInputs,
) -> Result<(), RecomputeError> {
    let DrawInputs {
        genesis,
        prev,
        block,
        draw,
    } = inputs;
    let index = announced.index;
    let announced_hash = announced
        .hash
        .as_deref()
        .ok_or(RecomputeError::NoAnnouncedHash)?;
    check_genesis(genesis, chain_id)?;
    for (what, found, expected) in [
        ("/api/blocks/{k}", block.index, index),
        ("/api/blocks/{k-1}", prev.index.saturating_add(1), index),
        ("/api/draws/{k}", draw.index, index),
    ] {
        if found != expected {
            return Err(RecomputeError::Index {
                what,
                found,
                expected,
            });
        }
    }
    if prev.index == 0 && prev != genesis {
        return Err(RecomputeError::OtherChain {
            found: prev.hash.clone(),
            chain_id: chain_id.to_owned(),
        });
    }
    prev.validate_alone()?;
    block.validate_after(prev)?;
    if block.tx_hash.is_none() {
        return Err(RecomputeError::NotLedger(index));
    }
    let server_key = genesis.server_key.as_deref().unwrap_or_default();
    let signature = block.signature.as_deref().unwrap_or_default();
    crate::tx::check_signature(server_key, &block.signing_message(), signature).map_err(|e| {
        RecomputeError::Signature {
            index,
            why: e.to_string(),
        }
    })?;
    if block.hash != announced_hash {
        return Err(RecomputeError::AnnouncedHash {
            index,
            announced: announced_hash.to_owned(),
            found: block.hash.clone(),
        });
    }
    check_entries(draw)?;
    let computed = compute_entries_hash_bytes(&draw.entries);
    if !hex_matches(&block.entries_hash, &computed) {
        return Err(RecomputeError::EntriesHash {
            index,
            found: block.entries_hash.clone(),
            computed: hex::encode(computed),
        });
    }
    let tip_hash = prev.hash_bytes().unwrap_or_default();
    let seed = match block.reveal_bytes() {
        Some(reveal) => compute_seed_v2(&tip_hash, index, &computed, &reveal),
        None => compute_seed(&tip_hash, index),
    };
    let d = pick_winner(&seed, &draw.entries)?;
    let (winner, stake) = draw.entries.get(d.winner).cloned().unwrap_or_default();
    if (d.total, d.counter, d.target, &winner)
        != (draw.total, draw.counter, draw.target, &draw.winner)
    {
        return Err(RecomputeError::Outcome(format!(
            "the draw of block {index} recomputes to Total {}, Counter {}, Target {}, winner \
             {winner}; /api/draws/{index} says Total {}, Counter {}, Target {}, Winner {}",
            d.total, d.counter, d.target, draw.total, draw.counter, draw.target, draw.winner
        )));
    }
    if block.validator != winner {
        return Err(RecomputeError::Validator {
            index,
            found: block.validator.clone(),
            winner,
        });
    }
    let said = |what: String| RecomputeError::Announcement { index, what };
    if announced.winner != winner {
        return Err(said(format!(
            "winner {}, but the draw's winner is {winner}",
            announced.winner
        )));
    }
    if announced.bpm != block.bpm {
        return Err(said(format!(
            "BPM {}, but the block's BPM is {}",
            announced.bpm, block.bpm
        )));
    }
    if (announced.stake, announced.total) != (stake, d.total) {
        return Err(said(format!(
            "stake {} of {}, but the draw has stake {stake} of {}",
            announced.stake, announced.total, d.total
        )));
    }
    Ok(())
}

/// The entries' order and fields, as the server writes them.
fn check_entries(draw: &DrawRecord) -> Result<(), RecomputeError> {
    for (i, pair) in draw.entries.windows(2).enumerate() {
        if let [a, b] = pair {
            if a.0 >= b.0 {
                return Err(RecomputeError::Order {
                    at: i + 1,
                    address: b.0.clone(),
                    before: a.0.clone(),
                });
            }
        }
    }
    for (i, (address, stake)) in draw.entries.iter().enumerate() {
        if !is_hex64(address) {
            return Err(RecomputeError::Address(i, address.clone()));
        }
        if *stake == 0 {
            return Err(RecomputeError::ZeroStake(i, address.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use ed25519_dalek::SigningKey;
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::chain::compute_entries_hash;

    const T0: &str = "2026-01-01T00:00:00.000Z";

    fn address(n: u8) -> String {
        crate::tx::address_of(&SigningKey::from_bytes(&[n; 32]))
    }

    /// A ledger chain of `blocks` + 1 blocks, each block's draw and its announcement: three
    /// accounts enter every round.
    pub(crate) fn chain(blocks: u64) -> (String, Vec<Block>, Vec<DrawRecord>, Vec<Announcement>) {
        let server = SigningKey::from_bytes(&[9; 32]);
        // The reveal chain: reveal k hashes to reveal k-1, reveal 0 is the SeedCommit.
        let mut reveals = vec![[42u8; 32]];
        for _ in 0..blocks {
            let next: [u8; 32] = Sha256::digest(reveals[reveals.len() - 1]).into();
            reveals.push(next);
        }
        reveals.reverse();
        let genesis = Block::genesis_v2(T0.into(), reveals[0], server.verifying_key().to_bytes())
            .with_accounts_hash([1; 32], 10)
            .sign_with(&server);
        let mut entries: Vec<(String, u64)> =
            (1..=3).map(|n| (address(n), 100 * u64::from(n))).collect();
        entries.sort();
        let mut chain = vec![genesis.clone()];
        let (mut draws, mut announcements) = (
            vec![DrawRecord {
                index: 0,
                entries: vec![],
                total: 0,
                counter: 0,
                target: 0,
                winner: String::new(),
            }],
            vec![],
        );
        for k in 1..=blocks {
            let prev = chain.last().unwrap().clone();
            let entries_hash = compute_entries_hash_bytes(&entries);
            let reveal = reveals[k as usize];
            let seed = compute_seed_v2(&prev.hash_bytes().unwrap(), k, &entries_hash, &reveal);
            let d = pick_winner(&seed, &entries).unwrap();
            let (winner, stake) = entries[d.winner].clone();
            let block = Block::next(
                &prev,
                format!("2026-01-01T00:00:{:02}.000Z", k),
                60 + k as u32,
                winner.clone(),
                k * 2,
                compute_entries_hash(&entries),
            )
            .with_tx_hash([k as u8; 32])
            .with_reveal(reveal, None)
            .sign_with(&server);
            block.validate_after(&prev).unwrap();
            announcements.push(Announcement {
                index: k,
                winner: winner.clone(),
                bpm: block.bpm,
                stake,
                total: d.total,
                hash: Some(block.hash.clone()),
            });
            draws.push(DrawRecord {
                index: k,
                entries: entries.clone(),
                total: d.total,
                counter: d.counter,
                target: d.target,
                winner,
            });
            chain.push(block);
        }
        (genesis.hash.clone(), chain, draws, announcements)
    }

    fn inputs(chain: &[Block], draws: &[DrawRecord], k: usize) -> DrawInputs {
        DrawInputs {
            genesis: chain[0].clone(),
            prev: chain[k - 1].clone(),
            block: chain[k].clone(),
            draw: draws[k].clone(),
        }
    }

    #[test]
    fn an_honest_draw_recomputes() {
        let (id, chain, draws, announced) = chain(3);
        for k in 1..=3 {
            assert_eq!(
                recompute(&id, &announced[k - 1], &inputs(&chain, &draws, k)),
                Ok(())
            );
        }
    }

    #[test]
    fn every_tampered_input_is_refused() {
        let (id, chain, draws, announced) = chain(2);
        let a = &announced[1];
        let good = inputs(&chain, &draws, 2);
        let other = address(7);
        let refuse = |id: &str, a: &Announcement, i: &DrawInputs| {
            recompute(id, a, i).expect_err("tampered input accepted")
        };

        // Another chain id, another genesis.
        let err = refuse(&"0".repeat(64), a, &good);
        assert!(matches!(err, RecomputeError::OtherChain { .. }), "{err}");
        let mut i = good.clone();
        i.genesis.timestamp = "2026-01-02T00:00:00.000Z".into();
        assert!(matches!(
            refuse(&id, a, &i),
            RecomputeError::Chain(ChainError::HashMismatch { .. })
        ));

        // The announcement.
        let mut b = a.clone();
        b.hash = None;
        assert_eq!(refuse(&id, &b, &good), RecomputeError::NoAnnouncedHash);
        b.hash = Some(chain[1].hash.clone());
        assert!(matches!(
            refuse(&id, &b, &good),
            RecomputeError::AnnouncedHash { .. }
        ));
        let tweaks: [fn(&mut Announcement); 4] = [
            |b: &mut Announcement| b.winner = address(7),
            |b: &mut Announcement| b.bpm += 1,
            |b: &mut Announcement| b.stake += 1,
            |b: &mut Announcement| b.total += 1,
        ];
        for tweak in tweaks {
            let mut b = a.clone();
            tweak(&mut b);
            let err = refuse(&id, &b, &good);
            assert!(matches!(err, RecomputeError::Announcement { .. }), "{err}");
        }
        let mut b = a.clone();
        b.index = 1;
        assert!(matches!(
            refuse(&id, &b, &good),
            RecomputeError::Index { .. }
        ));

        // The block: a field changed without its hash, or rehashed without the signature.
        let mut i = good.clone();
        i.block.bpm += 1;
        assert!(matches!(
            refuse(&id, a, &i),
            RecomputeError::Chain(ChainError::HashMismatch { .. })
        ));
        let mut i = good.clone();
        i.block.validator = other.clone();
        i.block.hash = i.block.compute_hash();
        let mut b = a.clone();
        b.hash = Some(i.block.hash.clone());
        assert!(matches!(
            refuse(&id, &b, &i),
            RecomputeError::Signature { .. }
        ));
        let mut i = good.clone();
        i.block.signature = None;
        assert!(matches!(refuse(&id, a, &i), RecomputeError::Chain(_)));
        // The previous block: another one, or a changed one.
        let mut i = good.clone();
        i.prev = chain[0].clone();
        assert!(matches!(refuse(&id, a, &i), RecomputeError::Index { .. }));
        let mut i = good.clone();
        i.prev.round += 1;
        assert!(matches!(
            refuse(&id, a, &i),
            RecomputeError::Chain(ChainError::HashMismatch { .. })
        ));

        // The draw record.
        let mut i = good.clone();
        i.draw.index = 1;
        assert!(matches!(refuse(&id, a, &i), RecomputeError::Index { .. }));
        let mut i = good.clone();
        i.draw.entries[0].1 += 1;
        assert!(matches!(
            refuse(&id, a, &i),
            RecomputeError::EntriesHash { .. }
        ));
        let mut i = good.clone();
        i.draw.entries.swap(0, 1);
        assert!(matches!(refuse(&id, a, &i), RecomputeError::Order { .. }));
        let mut i = good.clone();
        i.draw.entries[2].0 = "Z".repeat(64);
        assert!(matches!(refuse(&id, a, &i), RecomputeError::Address(2, _)));
        let mut i = good.clone();
        i.draw.entries[1].1 = 0;
        assert!(matches!(
            refuse(&id, a, &i),
            RecomputeError::ZeroStake(1, _)
        ));
        let mut i = good.clone();
        i.draw.counter += 1;
        assert!(matches!(refuse(&id, a, &i), RecomputeError::Outcome(_)));
        let mut i = good.clone();
        i.draw.winner = other;
        assert!(matches!(refuse(&id, a, &i), RecomputeError::Outcome(_)));
        let mut i = good;
        i.draw.entries.clear();
        i.draw.total = 0;
        assert!(matches!(
            refuse(&id, a, &i),
            RecomputeError::EntriesHash { .. }
        ));
    }

    #[test]
    fn a_tutorial_mode_or_v1_chain_is_not_attested() {
        let v1 = Block::genesis(T0.into());
        assert_eq!(
            check_genesis(&v1, &v1.hash),
            Err(RecomputeError::NoServerKey)
        );
    }

    #[test]
    fn block_documents_keep_their_fields_and_say_whether_the_server_attests() {
        let (_, chain, draws, _) = chain(1);
        let stored = serde_json::to_string(&chain[1]).unwrap();
        assert_eq!(
            parse_block_doc(&stored),
            Ok(BlockDoc {
                block: chain[1].clone(),
                attesting: false
            })
        );
        let served = format!(
            "{},\"epoch\":1,\"final\":true,\"attesters\":2,\"attested_stake\":500,\"snapshot_stake\":600}}",
            stored.strip_suffix('}').unwrap()
        );
        assert_eq!(
            parse_block_doc(&served),
            Ok(BlockDoc {
                block: chain[1].clone(),
                attesting: true
            })
        );
        // Unknown record fields are still refused: the block must hash as served.
        let extra = format!("{},\"Extra\":1}}", stored.strip_suffix('}').unwrap());
        assert!(parse_block_doc(&extra).unwrap_err().contains("not a block"));
        for bad in ["", "[]", "{\"error\":\"no block 9\"}", "nope"] {
            assert!(parse_block_doc(bad).is_err(), "{bad}");
        }
        let draw = serde_json::to_string(&draws[1]).unwrap();
        assert_eq!(parse_draw(&draw), Ok(draws[1].clone()));
        assert!(parse_draw("{\"Index\":1}").is_err());
    }
}
