//! Ledger mode's attestations and finality: pure, like [`crate::epoch`].
//!
//! After block k is announced, each account in the stake snapshot of block k's epoch may sign
//! `pos-lottery attest v1 <chain id> <k> <hash>`: "I recomputed this draw and it is right".
//! Block k is final once the snapshot stake of its attesters is more than `FINALITY` (p/q) of
//! the snapshot's total: `attested * q > total * p`. Attestations are counted while the round
//! in progress is inside the block's window (up to the end of the epoch after its own), never
//! after; finality is never revoked.
//!
//! The server and `verify` both count through [`Tracker`], so the live count and the replay
//! apply one rule. Signatures are checked by the caller (on the session's thread, or in
//! parallel by the replay); everything here is cheap.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::chain::is_hex64;
use crate::epoch::Snapshot;

/// The largest denominator `FINALITY` may have: keeps `stake * q` inside a u128.
pub const MAX_DENOMINATOR: u64 = 1_000_000_000;

/// A finality threshold p/q, 0 < p < q, in lowest terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fraction {
    pub p: u64,
    pub q: u64,
}

impl Fraction {
    /// The default: more than three quarters, as the forger/attestor design has it.
    pub const DEFAULT: Fraction = Fraction { p: 3, q: 4 };

    /// Reads `p/q` or a decimal such as `0.75`, exactly (no floating point), and reduces it.
    ///
    /// # Errors
    /// A one-line reason: not a fraction, not strictly between 0 and 1, or a denominator
    /// above 10^9 (nine decimals).
    pub fn parse(text: &str) -> Result<Fraction, String> {
        let t = text.trim();
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let (p, q) = if let Some((p, q)) = t.split_once('/') {
            if !digits(p) || !digits(q) {
                return Err(format!("{t:?} is not a fraction p/q of whole numbers"));
            }
            let parse = |s: &str| {
                s.parse::<u64>()
                    .map_err(|_| format!("{t:?}: {s} is too large"))
            };
            (parse(p)?, parse(q)?)
        } else if let Some((whole, frac)) = t.split_once('.') {
            if !(whole.is_empty() || digits(whole)) || !digits(frac) {
                return Err(format!("{t:?} is not a decimal such as 0.75"));
            }
            if frac.len() > 9 {
                return Err(format!("{t:?} has more than 9 decimals"));
            }
            if whole.bytes().any(|b| b != b'0') {
                return Err(format!("{t:?} is not below 1"));
            }
            let q = 10u64.pow(u32::try_from(frac.len()).unwrap_or(9));
            (frac.parse::<u64>().map_err(|e| e.to_string())?, q)
        } else {
            return Err(format!(
                "{t:?} is neither a fraction p/q (such as 3/4 or 2/3) nor a decimal (such as 0.75)"
            ));
        };
        if p == 0 || p >= q {
            return Err(format!("{t:?} is not strictly between 0 and 1"));
        }
        let g = gcd(p, q);
        let reduced = Fraction {
            p: p.checked_div(g).unwrap_or(p),
            q: q.checked_div(g).unwrap_or(q),
        };
        if reduced.q > MAX_DENOMINATOR {
            return Err(format!(
                "{t:?}: the denominator is above {MAX_DENOMINATOR} once reduced"
            ));
        }
        Ok(reduced)
    }

    /// 0 < p < q <= 10^9 in lowest terms: what [`Fraction::parse`] makes.
    pub fn is_valid(&self) -> bool {
        self.p > 0 && self.p < self.q && self.q <= MAX_DENOMINATOR && gcd(self.p, self.q) == 1
    }

    /// `attested * q > total * p`: strictly more than the fraction.
    pub fn is_final(&self, attested: u128, total: u128) -> bool {
        // attested and total are sums of u64 stakes within a u64 supply; q and p are at most
        // 10^9: no product overflows a u128.
        attested.saturating_mul(u128::from(self.q)) > total.saturating_mul(u128::from(self.p))
    }
}

impl fmt::Display for Fraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.p, self.q)
    }
}

impl Serialize for Fraction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fraction {
    /// Any string reads; one that is not the canonical `p/q` in lowest terms reads as the
    /// invalid 0/0, which [`Fraction::is_valid`] (and so the snapshot check) refuses. So a
    /// complete record with a bad value is refused as damage, never taken for a torn line.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Fraction, D::Error> {
        let text = String::deserialize(d)?;
        Ok(Fraction::parse(&text)
            .ok()
            .filter(|f| f.to_string() == text)
            .unwrap_or(Fraction { p: 0, q: 0 }))
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        let r = a.checked_rem(b).unwrap_or(0);
        a = b;
        b = r;
    }
    a.max(1)
}

/// `⌊1000 a / t⌋ / 10` with one decimal, rounded down: `75.0`, `66.6`, `100.0`.
pub fn percent(attested: u128, total: u128) -> String {
    let tenths = attested
        .saturating_mul(1000)
        .checked_div(total)
        .unwrap_or(0);
    format!(
        "{}.{}",
        tenths.checked_div(10).unwrap_or(0),
        tenths.checked_rem(10).unwrap_or(0)
    )
}

/// The last round in which a block of `s`'s epoch takes attestations: the end of the epoch
/// after it (`(e + 2) * EPOCH_ROUNDS` when epochs start at `e * EPOCH_ROUNDS + 1`).
pub fn window_end(s: &Snapshot) -> u64 {
    s.first_round
        .saturating_add(s.epoch_rounds.saturating_mul(2))
        .saturating_sub(1)
}

/// One attestation as counted: who, which block, and the round in progress then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote<'a> {
    pub address: &'a str,
    pub index: u64,
    pub hash: &'a str,
    pub round: u64,
    /// Kept while the block's window is open: half of any evidence against the signer.
    pub signature: &'a str,
}

/// Two signed hashes by one account for one block: evidence that it attested without
/// checking (or lied). The first is the one the server had kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equivocation {
    pub address: String,
    pub index: u64,
    /// Its own stake (not what is delegated to it) in the snapshot of the block's epoch: at
    /// most what the slash burns of its own.
    pub stake: u64,
    pub first: (String, String),
    pub second: (String, String),
}

/// What counting an attestation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub finality: BlockFinality,
    /// The block became final with it.
    pub finalized: Option<Finalized>,
    /// The same account had signed another hash for the block: evidence.
    pub evidence: Option<Equivocation>,
}

/// Why an attestation is not counted: the text after `attest refused: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("there is no block {0} yet")]
    NoBlock(u64),
    #[error("block {0} is from the bootstrap epoch 0, whose blocks cannot be attested")]
    Bootstrap(u64),
    #[error("block {index}'s attestation window closed after round {window_end}; the round in progress is {round}")]
    Late {
        index: u64,
        window_end: u64,
        round: u64,
    },
    #[error("block {index}'s hash is {expected}, not {found}")]
    WrongHash {
        index: u64,
        expected: String,
        found: String,
    },
    #[error("{address} is not in epoch {epoch}'s stake snapshot, which block {index} belongs to")]
    NotInSnapshot {
        address: String,
        epoch: u64,
        index: u64,
    },
    #[error("{address} has already attested block {index}")]
    Duplicate { address: String, index: u64 },
}

/// A block that became final with an attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finalized {
    pub index: u64,
    pub hash: String,
    pub epoch: u64,
    pub attested: u128,
    pub total: u128,
}

impl Finalized {
    /// `block <k> final: <p>% of stake attested`.
    pub fn line(&self) -> String {
        format!(
            "block {} final: {}% of stake attested",
            self.index,
            percent(self.attested, self.total)
        )
    }
}

/// A block's attestation count, as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BlockFinality {
    pub epoch: u64,
    #[serde(rename = "final")]
    pub is_final: bool,
    pub attesters: u64,
    pub attested_stake: u128,
    pub snapshot_stake: u128,
    /// The last round in which an attestation of it counts.
    pub window_end: u64,
}

/// A block whose window is open.
#[derive(Debug, Clone)]
struct Open {
    hash: String,
    snapshot: Arc<Snapshot>,
    finality: BlockFinality,
    /// Counted attesters and their signatures.
    attesters: HashMap<Arc<str>, Box<str>>,
    /// The attesters in the order they were counted: the order they are paid in.
    order: Vec<Arc<str>>,
    /// The first signed wrong hash of each snapshot account that sent one: (hash, signature).
    wrong: HashMap<Arc<str>, (Box<str>, Box<str>)>,
    /// Accounts with evidence against them for this block: one slash each.
    evidenced: HashSet<Arc<str>>,
}

/// The attestation state: blocks still in their window, and what closed ones ended with.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    open: BTreeMap<u64, Open>,
    /// Blocks whose window closed (with a snapshot), by index: never changes again.
    closed: Arc<HashMap<u64, BlockFinality>>,
    /// The highest final block.
    pub finalized_height: u64,
    pub final_blocks: u64,
    pub counted: u64,
    /// The newest block seen (attestable or not).
    tip: u64,
    /// Attest rewards the next block pays: (attester, its epoch's `AttestReward`), in the
    /// order the attestations made them due.
    owed: Vec<(String, u64)>,
}

impl Tracker {
    /// Block `index` (hash `hash`, closed in `round`) joined the chain; `snapshot` is the one
    /// in force for it (`None` in epoch 0: it cannot be attested).
    pub fn on_block(&mut self, index: u64, hash: &str, snapshot: Option<&Arc<Snapshot>>) {
        self.tip = self.tip.max(index);
        let Some(s) = snapshot else { return };
        let window_end = window_end(s);
        self.open.insert(
            index,
            Open {
                hash: hash.to_string(),
                snapshot: s.clone(),
                finality: BlockFinality {
                    epoch: s.epoch,
                    is_final: false,
                    attesters: 0,
                    attested_stake: 0,
                    snapshot_stake: s.total(),
                    window_end,
                },
                attesters: HashMap::new(),
                order: Vec::new(),
                wrong: HashMap::new(),
                evidenced: HashSet::new(),
            },
        );
    }

    /// The round in progress is `round`: blocks whose window ended before it are closed for
    /// good. Returns whether any closed.
    pub fn close_before(&mut self, round: u64) -> bool {
        let done: Vec<u64> = self
            .open
            .iter()
            .filter(|(_, o)| o.finality.window_end < round)
            .map(|(k, _)| *k)
            .collect();
        if done.is_empty() {
            return false;
        }
        let closed = Arc::make_mut(&mut self.closed);
        for k in done {
            if let Some(o) = self.open.remove(&k) {
                closed.insert(k, o.finality);
            }
        }
        true
    }

    /// Checks an attestation (its signature already checked) without counting it.
    ///
    /// # Errors
    /// The [`Refusal`].
    pub fn check(&self, v: &Vote<'_>) -> Result<(), Refusal> {
        let Some(o) = self.open.get(&v.index) else {
            return Err(match self.closed.get(&v.index) {
                Some(f) => Refusal::Late {
                    index: v.index,
                    window_end: f.window_end,
                    round: v.round,
                },
                None if v.index > self.tip => Refusal::NoBlock(v.index),
                None => Refusal::Bootstrap(v.index),
            });
        };
        if v.round > o.finality.window_end {
            return Err(Refusal::Late {
                index: v.index,
                window_end: o.finality.window_end,
                round: v.round,
            });
        }
        if v.hash != o.hash {
            return Err(Refusal::WrongHash {
                index: v.index,
                expected: o.hash.clone(),
                found: v.hash.to_string(),
            });
        }
        if o.snapshot.stake_of(v.address).is_none() {
            return Err(Refusal::NotInSnapshot {
                address: v.address.to_string(),
                epoch: o.snapshot.epoch,
                index: v.index,
            });
        }
        if o.attesters.contains_key(v.address) {
            return Err(Refusal::Duplicate {
                address: v.address.to_string(),
                index: v.index,
            });
        }
        Ok(())
    }

    /// Checks and counts an attestation: the block's count after it, whether it made the
    /// block final, and evidence when the account had signed a wrong hash for it before.
    ///
    /// # Errors
    /// The [`Refusal`]; nothing is counted.
    pub fn count(&mut self, v: &Vote<'_>) -> Result<Counted, Refusal> {
        self.check(v)?;
        let Some(o) = self.open.get_mut(&v.index) else {
            return Err(Refusal::NoBlock(v.index));
        };
        let stake = o.snapshot.stake_of(v.address).unwrap_or(0);
        let address: Arc<str> = v.address.into();
        o.attesters.insert(address.clone(), v.signature.into());
        o.order.push(address.clone());
        let evidence = match o.wrong.get(v.address) {
            Some((hash, sig)) if o.evidenced.insert(address) => Some(Equivocation {
                address: v.address.to_string(),
                index: v.index,
                stake: o.snapshot.own_stake(v.address).unwrap_or(0),
                first: (hash.to_string(), sig.to_string()),
                second: (v.hash.to_string(), v.signature.to_string()),
            }),
            _ => None,
        };
        let f = &mut o.finality;
        f.attesters = f.attesters.saturating_add(1);
        f.attested_stake = f.attested_stake.saturating_add(u128::from(stake));
        self.counted = self.counted.saturating_add(1);
        let threshold = o.snapshot.finality.unwrap_or(Fraction::DEFAULT);
        let made_final = !f.is_final && threshold.is_final(f.attested_stake, f.snapshot_stake);
        let mut finalized = None;
        if made_final {
            f.is_final = true;
            finalized = Some(Finalized {
                index: v.index,
                hash: o.hash.clone(),
                epoch: f.epoch,
                attested: f.attested_stake,
                total: f.snapshot_stake,
            });
        }
        let out = *f;
        // Every attester of a final block is paid once: those before it became final when it
        // does, later ones as they come.
        let reward = o.snapshot.attest_reward.unwrap_or(0);
        if reward > 0 && out.is_final {
            let newly: &[Arc<str>] = if made_final {
                &o.order
            } else {
                o.order.last().map(std::slice::from_ref).unwrap_or_default()
            };
            self.owed
                .extend(newly.iter().map(|a| (a.to_string(), reward)));
        }
        if made_final {
            self.final_blocks = self.final_blocks.saturating_add(1);
            self.finalized_height = self.finalized_height.max(v.index);
        }
        Ok(Counted {
            finality: out,
            finalized,
            evidence,
        })
    }

    /// A correctly signed attestation that [`Tracker::count`] refused with
    /// [`Refusal::WrongHash`]: kept, and evidence when the same account signed another hash
    /// for the block before (a counted one or another wrong one), once per account and block.
    /// Only snapshot accounts inside the window are kept: nobody else has stake to lose.
    pub fn equivocation(&mut self, v: &Vote<'_>) -> Option<Equivocation> {
        let o = self.open.get_mut(&v.index)?;
        if v.round > o.finality.window_end || v.hash == o.hash {
            return None;
        }
        let stake = o.snapshot.own_stake(v.address)?;
        if o.evidenced.contains(v.address) {
            return None;
        }
        let first = match (o.attesters.get(v.address), o.wrong.get(v.address)) {
            (Some(sig), _) => (o.hash.clone(), sig.to_string()),
            (None, Some((hash, sig))) if &**hash != v.hash => (hash.to_string(), sig.to_string()),
            (None, Some(_)) => return None,
            (None, None) => {
                o.wrong
                    .insert(v.address.into(), (v.hash.into(), v.signature.into()));
                return None;
            }
        };
        o.evidenced.insert(v.address.into());
        Some(Equivocation {
            address: v.address.to_string(),
            index: v.index,
            stake,
            first,
            second: (v.hash.to_string(), v.signature.to_string()),
        })
    }

    /// Replays an evidence slash of `address` for block `index` recorded in round `round`
    /// (its two signatures checked by the caller): the block is in its window, the account in
    /// its snapshot, the hashes differ, and no earlier evidence names the same account and
    /// block. Returns its own snapshot stake, the most the slash may burn of its own.
    ///
    /// # Errors
    /// What is wrong, in words.
    pub fn check_evidence(
        &mut self,
        address: &str,
        index: u64,
        hashes: (&str, &str),
        round: u64,
    ) -> Result<u64, String> {
        if let Some(h) = [hashes.0, hashes.1].into_iter().find(|h| !is_hex64(h)) {
            return Err(format!(
                "hash {h:?} is not a block hash (64 lowercase hex characters)"
            ));
        }
        if hashes.0 == hashes.1 {
            return Err("the two hashes are the same: one hash signed twice is no evidence".into());
        }
        let Some(o) = self.open.get_mut(&index) else {
            let probe = Vote {
                address,
                index,
                hash: "",
                round,
                signature: "",
            };
            return Err(self.check(&probe).err().map_or_else(
                || format!("block {index} takes no evidence"),
                |e| e.to_string(),
            ));
        };
        if round > o.finality.window_end {
            return Err(Refusal::Late {
                index,
                window_end: o.finality.window_end,
                round,
            }
            .to_string());
        }
        let Some(stake) = o.snapshot.own_stake(address) else {
            return Err(Refusal::NotInSnapshot {
                address: address.to_string(),
                epoch: o.snapshot.epoch,
                index,
            }
            .to_string());
        };
        if !o.evidenced.insert(address.into()) {
            return Err(format!(
                "{address} was already slashed on evidence for block {index}"
            ));
        }
        Ok(stake)
    }

    /// The snapshot of block `index`'s epoch, while its window is open.
    pub fn snapshot_of(&self, index: u64) -> Option<Arc<Snapshot>> {
        self.open.get(&index).map(|o| o.snapshot.clone())
    }

    /// The attest rewards the next block pays, in order.
    pub fn owed(&self) -> &[(String, u64)] {
        &self.owed
    }

    /// A block paid them.
    pub fn paid(&mut self) {
        self.owed.clear();
    }

    /// Block `index`'s count; `None` for a block of epoch 0 or one not made yet.
    pub fn get(&self, index: u64) -> Option<BlockFinality> {
        self.open
            .get(&index)
            .map(|o| o.finality)
            .or_else(|| self.closed.get(&index).copied())
    }

    /// What readers see: the open blocks' counts (a few epochs' worth) and the closed map,
    /// shared, not copied.
    pub fn view(&self) -> FinalityView {
        FinalityView {
            open: self.open.iter().map(|(k, o)| (*k, o.finality)).collect(),
            closed: self.closed.clone(),
            finalized_height: self.finalized_height,
            final_blocks: self.final_blocks,
            counted: self.counted,
        }
    }
}

/// The readers' copy of the [`Tracker`].
#[derive(Debug, Clone, Default)]
pub struct FinalityView {
    open: BTreeMap<u64, BlockFinality>,
    closed: Arc<HashMap<u64, BlockFinality>>,
    pub finalized_height: u64,
    pub final_blocks: u64,
    pub counted: u64,
}

impl FinalityView {
    pub fn get(&self, index: u64) -> Option<BlockFinality> {
        self.open
            .get(&index)
            .copied()
            .or_else(|| self.closed.get(&index).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(c: char) -> String {
        std::iter::repeat_n(c, 64).collect()
    }

    fn snapshot(finality: Option<Fraction>) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            epoch: 1,
            first_round: 11,
            epoch_rounds: 10,
            finality,
            attest_reward: None,
            delegation_slash_percent: None,
            stakes: vec![(a('a'), 1), (a('b'), 1), (a('c'), 1), (a('d'), 1)],
            delegations: Vec::new(),
        })
    }

    fn vote(who: char, index: u64, hash: &str, round: u64) -> (String, u64, String, u64) {
        (a(who), index, hash.to_string(), round)
    }

    fn count(
        t: &mut Tracker,
        v: &(String, u64, String, u64),
    ) -> Result<(BlockFinality, Option<Finalized>), Refusal> {
        t.count(&Vote {
            address: &v.0,
            index: v.1,
            hash: &v.2,
            round: v.3,
            signature: "sig",
        })
        .map(|c| (c.finality, c.finalized))
    }

    #[test]
    fn two_signed_hashes_for_one_block_are_evidence_in_either_order_once() {
        let mut t = Tracker::default();
        let h = a('1');
        t.on_block(5, &h, Some(&snapshot(None)));
        fn wrong<'a>(who: &'a str, hash: &'a str, sig: &'a str) -> Vote<'a> {
            Vote {
                address: who,
                index: 5,
                hash,
                round: 12,
                signature: sig,
            }
        }
        let (aa, bb, e) = (a('a'), a('b'), a('e'));
        let (w1, w2) = (a('7'), a('8'));
        // Counted, then a wrong hash: evidence at once.
        t.count(&Vote {
            address: &aa,
            index: 5,
            hash: &h,
            round: 12,
            signature: "s1",
        })
        .unwrap();
        let ev = t.equivocation(&wrong(&aa, &w1, "s2")).unwrap();
        assert_eq!(ev.first, (h.clone(), "s1".to_string()));
        assert_eq!(ev.second, (w1.clone(), "s2".to_string()));
        assert_eq!(ev.stake, 1);
        // Once per account and block.
        assert_eq!(t.equivocation(&wrong(&aa, &w2, "s3")), None);
        // A wrong hash first is kept; the same one again is nothing; the right one after it
        // is counted, and is evidence.
        assert_eq!(t.equivocation(&wrong(&bb, &w1, "s4")), None);
        assert_eq!(t.equivocation(&wrong(&bb, &w1, "s4")), None);
        let c = t
            .count(&Vote {
                address: &bb,
                index: 5,
                hash: &h,
                round: 12,
                signature: "s5",
            })
            .unwrap();
        let ev = c.evidence.unwrap();
        assert_eq!(ev.first, (w1.clone(), "s4".to_string()));
        assert_eq!(ev.second, (h.clone(), "s5".to_string()));
        // Two different wrong hashes.
        let cc = a('c');
        assert_eq!(t.equivocation(&wrong(&cc, &w1, "s6")), None);
        assert!(t.equivocation(&wrong(&cc, &w2, "s7")).is_some());
        // Nobody outside the snapshot is kept.
        assert_eq!(t.equivocation(&wrong(&e, &w1, "s8")), None);
        assert_eq!(t.equivocation(&wrong(&e, &w2, "s9")), None);
        // The replay's side: evidence names a block in its window, a snapshot account, two
        // hashes, once.
        let mut r = Tracker::default();
        r.on_block(5, &h, Some(&snapshot(None)));
        assert_eq!(r.check_evidence(&aa, 5, (&h, &w1), 12), Ok(1));
        assert!(r.check_evidence(&aa, 5, (&h, &w2), 12).is_err());
        assert!(r.check_evidence(&bb, 5, (&w1, &w1), 12).is_err());
        assert!(r.check_evidence(&e, 5, (&h, &w1), 12).is_err());
        assert!(r.check_evidence(&bb, 5, (&h, &w1), 31).is_err());
        assert!(r.check_evidence(&bb, 6, (&h, &w1), 12).is_err());
    }

    #[test]
    fn fractions_are_read_exactly() {
        assert_eq!(Fraction::parse("3/4"), Ok(Fraction { p: 3, q: 4 }));
        assert_eq!(Fraction::parse("0.75"), Ok(Fraction { p: 3, q: 4 }));
        assert_eq!(Fraction::parse("6/9"), Ok(Fraction { p: 2, q: 3 }));
        assert_eq!(Fraction::parse(".5"), Ok(Fraction { p: 1, q: 2 }));
        assert_eq!(
            Fraction::parse("0.666666667"),
            Ok(Fraction {
                p: 666_666_667,
                q: 1_000_000_000
            })
        );
        for bad in [
            "",
            "1",
            "0",
            "1/1",
            "4/3",
            "0/5",
            "0.0",
            "1.0",
            "0.1234567891",
            "-1/2",
            "1/-2",
            "0.7x",
            "a/b",
            "3/4/5",
            "1e-1",
            "0.5.5",
        ] {
            assert!(Fraction::parse(bad).is_err(), "{bad:?} accepted");
        }
        let f: Fraction = serde_json::from_str("\"2/3\"").unwrap();
        assert_eq!(serde_json::to_string(&f).unwrap(), "\"2/3\"");
        for bad in ["4/6", "0.75", "03/4", "+3/4", "1/1"] {
            let f: Fraction = serde_json::from_str(&format!("{bad:?}")).unwrap();
            assert!(!f.is_valid(), "{bad}");
        }
        assert!(Fraction::DEFAULT.is_valid());
    }

    #[test]
    fn final_is_strictly_more_than_the_fraction() {
        let f = Fraction::DEFAULT;
        assert!(!f.is_final(3, 4));
        assert!(f.is_final(4, 4));
        assert!(!f.is_final(750, 1000));
        assert!(f.is_final(751, 1000));
        let two_thirds = Fraction { p: 2, q: 3 };
        assert!(!two_thirds.is_final(2, 3));
        assert!(two_thirds.is_final(2_000_001, 3_000_000));
        let huge = u128::from(u64::MAX);
        assert!(!f.is_final(huge / 4 * 3, huge));
        assert_eq!(percent(2, 3), "66.6");
        assert_eq!(percent(3, 4), "75.0");
        assert_eq!(percent(4, 4), "100.0");
        assert_eq!(percent(751, 1000), "75.1");
        assert_eq!(percent(0, 0), "0.0");
    }

    #[test]
    fn a_block_is_final_one_attester_above_three_quarters_and_only_once() {
        let mut t = Tracker::default();
        let h = a('1');
        t.on_block(5, &h, Some(&snapshot(None)));
        for (i, who) in ['a', 'b', 'c'].into_iter().enumerate() {
            let (f, fin) = count(&mut t, &vote(who, 5, &h, 12)).unwrap();
            assert_eq!(f.attesters, i as u64 + 1);
            assert!(fin.is_none(), "3 of 4 is not more than 3/4");
        }
        let (f, fin) = count(&mut t, &vote('d', 5, &h, 12)).unwrap();
        assert!(f.is_final);
        let fin = fin.unwrap();
        assert_eq!(fin.line(), "block 5 final: 100.0% of stake attested");
        assert_eq!(t.finalized_height, 5);
        assert_eq!(t.final_blocks, 1);
        assert_eq!(
            count(&mut t, &vote('d', 5, &h, 12)),
            Err(Refusal::Duplicate {
                address: a('d'),
                index: 5
            })
        );
    }

    #[test]
    fn each_refusal_names_its_reason() {
        let mut t = Tracker::default();
        let h = a('1');
        t.on_block(1, &a('0'), None);
        t.on_block(2, &h, Some(&snapshot(Some(Fraction { p: 1, q: 2 }))));
        assert_eq!(
            count(&mut t, &vote('a', 3, &h, 12)),
            Err(Refusal::NoBlock(3))
        );
        assert_eq!(
            count(&mut t, &vote('a', 1, &a('0'), 12)),
            Err(Refusal::Bootstrap(1))
        );
        assert!(matches!(
            count(&mut t, &vote('a', 2, &a('2'), 12)),
            Err(Refusal::WrongHash { index: 2, .. })
        ));
        assert!(matches!(
            count(&mut t, &vote('e', 2, &h, 12)),
            Err(Refusal::NotInSnapshot { epoch: 1, .. })
        ));
        // The window: epoch 1 is rounds 11..=20, its blocks count votes up to round 30.
        assert!(matches!(
            count(&mut t, &vote('a', 2, &h, 31)),
            Err(Refusal::Late { window_end: 30, .. })
        ));
        count(&mut t, &vote('a', 2, &h, 30)).unwrap();
        // 1/2 is not more than 1/2; 3/4 is.
        assert!(!t.get(2).unwrap().is_final);
        let (_, fin) = count(&mut t, &vote('b', 2, &h, 30)).unwrap();
        assert!(fin.is_none());
        let (_, fin) = count(&mut t, &vote('c', 2, &h, 30)).unwrap();
        assert_eq!(
            fin.unwrap().line(),
            "block 2 final: 75.0% of stake attested"
        );
        assert!(t.close_before(31));
        let view = t.view();
        assert!(view.get(2).unwrap().is_final);
        assert!(matches!(
            count(&mut t, &vote('d', 2, &h, 31)),
            Err(Refusal::Late { .. })
        ));
        assert_eq!(view.get(1), None);
    }
}
