//! The server's reveal chain (pos-lottery-v2): a secret `s_N` hashed down to `s_0`,
//! `s_{i-1} = SHA256(s_i)`. The genesis block publishes `s_0` (`SeedCommit`); block k reveals
//! `s_k`. Each reveal is fixed the moment the chain is made, so the operator cannot choose or
//! re-roll one, and nobody else can compute `s_k` from what was published before it.
//!
//! Pure: the secret comes in as an argument, nothing here touches a file or a clock. Holding
//! checkpoints (every [`CHECKPOINT_EVERY`]th value) makes any reveal at most that many hashes
//! away, without keeping all N values in memory or hashing N times per block.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::chain::decode_hash;

/// Reveals per chain unless `SEED_CHAIN_LEN` says otherwise: at one block every 30 s, about
/// four years before the server rotates to a new chain.
pub const DEFAULT_CHAIN_LEN: u64 = 1 << 22;
/// Distance between checkpoints: the most hashes one reveal costs.
pub const CHECKPOINT_EVERY: u64 = 4096;

/// One reveal chain as stored in `seed-secret`: the secret end, its length and checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRecord {
    /// N: the number of reveals.
    #[serde(rename = "N")]
    pub n: u64,
    /// `hex(s_N)`.
    #[serde(rename = "Secret")]
    pub secret: String,
    #[serde(rename = "Every")]
    pub every: u64,
    /// `hex(s_{j*Every})` for j = 0, 1, ... while `j*Every <= N`; the first is `s_0`.
    #[serde(rename = "Checkpoints")]
    pub checkpoints: Vec<String>,
}

/// Why a stored reveal chain cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    #[error("a reveal chain needs N >= 1 and Every >= 1 (got N {n}, Every {every})")]
    Shape { n: u64, every: u64 },
    #[error("{0} is not 64 lowercase hex characters")]
    NotHex(String),
    #[error("checkpoint {0} is not what hashing down from the secret gives")]
    Checkpoint(usize),
    #[error("expected {expected} checkpoints for N {n} and Every {every}, found {found}")]
    CheckpointCount {
        n: u64,
        every: u64,
        expected: u64,
        found: usize,
    },
}

/// A reveal chain ready to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretChain {
    n: u64,
    every: u64,
    secret: [u8; 32],
    /// `s_{j*every}`; `checkpoints[0]` is `s_0`.
    checkpoints: Vec<[u8; 32]>,
}

fn sha(x: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(x).into()
}

impl SecretChain {
    /// Hashes `secret` (`s_N`) down to `s_0`, keeping every `every`th value. N hashes.
    pub fn new(n: u64, every: u64, secret: [u8; 32]) -> Result<SecretChain, SeedError> {
        if n == 0 || every == 0 {
            return Err(SeedError::Shape { n, every });
        }
        let mut checkpoints = vec![[0u8; 32]; (n / every + 1) as usize];
        let mut s = secret;
        let mut i = n;
        loop {
            if i.is_multiple_of(every) {
                checkpoints[(i / every) as usize] = s;
            }
            if i == 0 {
                break;
            }
            s = sha(&s);
            i -= 1;
        }
        Ok(SecretChain {
            n,
            every,
            secret,
            checkpoints,
        })
    }

    /// Rebuilds a chain from its stored record, checking its shape but not every hash (that
    /// would cost N hashes at every start). A damaged checkpoint cannot slip into the chain:
    /// every block is checked against the reveal rule before it is written.
    pub fn from_record(r: &SecretRecord) -> Result<SecretChain, SeedError> {
        if r.n == 0 || r.every == 0 {
            return Err(SeedError::Shape {
                n: r.n,
                every: r.every,
            });
        }
        let raw = |h: &String| decode_hash(h).ok_or_else(|| SeedError::NotHex(h.clone()));
        let secret = raw(&r.secret)?;
        let checkpoints = r
            .checkpoints
            .iter()
            .map(raw)
            .collect::<Result<Vec<_>, _>>()?;
        let expected = r.n / r.every + 1;
        if checkpoints.len() as u64 != expected {
            return Err(SeedError::CheckpointCount {
                n: r.n,
                every: r.every,
                expected,
                found: checkpoints.len(),
            });
        }
        Ok(SecretChain {
            n: r.n,
            every: r.every,
            secret,
            checkpoints,
        })
    }

    /// Walks the whole chain from `s_N` and checks every checkpoint (N hashes).
    pub fn check(&self) -> Result<(), SeedError> {
        let fresh = SecretChain::new(self.n, self.every, self.secret)?;
        match fresh
            .checkpoints
            .iter()
            .zip(&self.checkpoints)
            .position(|(a, b)| a != b)
        {
            Some(j) => Err(SeedError::Checkpoint(j)),
            None => Ok(()),
        }
    }

    pub fn to_record(&self) -> SecretRecord {
        SecretRecord {
            n: self.n,
            secret: hex::encode(self.secret),
            every: self.every,
            checkpoints: self.checkpoints.iter().map(hex::encode).collect(),
        }
    }

    /// N: how many reveals the chain holds.
    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// `s_0`, the public commitment.
    pub fn commit(&self) -> [u8; 32] {
        self.checkpoints[0]
    }

    /// `s_i` for `i` in `1..=N`, at most `CHECKPOINT_EVERY` hashes; `None` outside that range.
    pub fn reveal(&self, i: u64) -> Option<[u8; 32]> {
        if i == 0 || i > self.n {
            return None;
        }
        let j = i.div_ceil(self.every);
        let (mut s, mut at) = match self.checkpoints.get(j as usize) {
            Some(c) => (*c, j * self.every),
            None => (self.secret, self.n),
        };
        while at > i {
            s = sha(&s);
            at -= 1;
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reveal_hashes_to_the_one_before_down_to_the_commit() {
        for (n, every) in [(1, 1), (4, 1), (10, 3), (64, 8), (100, 7)] {
            let chain = SecretChain::new(n, every, [1u8; 32]).unwrap();
            let mut prev = chain.commit();
            for i in 1..=n {
                let s = chain.reveal(i).unwrap();
                assert_eq!(sha(&s), prev, "n {n} every {every} i {i}");
                prev = s;
            }
            assert_eq!(prev, [1u8; 32], "s_N is the secret");
            assert_eq!(chain.reveal(0), None);
            assert_eq!(chain.reveal(n + 1), None);
        }
    }

    #[test]
    fn records_round_trip_and_damage_is_refused() {
        let chain = SecretChain::new(50, 8, [9u8; 32]).unwrap();
        let record = chain.to_record();
        assert_eq!(SecretChain::from_record(&record).unwrap(), chain);
        assert!(chain.check().is_ok());
        let mut bad = record.clone();
        bad.checkpoints[3] = hex::encode([0u8; 32]);
        assert_eq!(
            SecretChain::from_record(&bad).unwrap().check(),
            Err(SeedError::Checkpoint(3))
        );
        let mut short = record.clone();
        short.checkpoints.pop();
        assert!(SecretChain::from_record(&short).is_err());
        let mut zero = record;
        zero.every = 0;
        assert!(SecretChain::from_record(&zero).is_err());
    }

    #[test]
    fn the_published_vector() {
        // s_N = 32 bytes of 0x01, N = 4: see the README.
        let chain = SecretChain::new(4, 1, [1u8; 32]).unwrap();
        let s3 = sha(&[1u8; 32]);
        assert_eq!(chain.reveal(3), Some(s3));
        assert_eq!(chain.commit(), sha(&sha(&sha(&s3))));
    }
}
