//! The data directory: `chain.jsonl` and `draws.jsonl`, appended and flushed to stable storage
//! before any block is announced.
//!
//! Opening audits both files with [`crate::ledger::audit`]. A crash's leftovers are cut off
//! (with a warning naming file and offset); anything else refuses to start and leaves the
//! files exactly as they were, since "repairing" tampering would destroy the evidence.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::chain::Block;
use crate::ledger::{audit, Audit, AuditError, DrawRecord, CHAIN_FILE, DRAWS_FILE};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{dir}/{0}", dir = .1.display())]
    Damaged(AuditError, PathBuf),
    #[error("{dir}: {CHAIN_FILE} is missing but {DRAWS_FILE} has draws", dir = .0.display())]
    ChainMissing(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The open data directory, positioned to append.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    chain: File,
    draws: File,
    draws_len: u64,
}

/// What opening found: the audited chain and any crash leftovers it cut off.
#[derive(Debug)]
pub struct Opened {
    pub store: Store,
    pub audit: Audit,
    /// True when this start wrote the genesis block.
    pub created: bool,
}

impl Store {
    /// Opens (creating if missing) `dir`, audits it, repairs a crash's torn tail, and writes
    /// the genesis block (stamped `genesis_time`) when the directory holds no chain yet.
    pub fn open(dir: &Path, genesis_time: impl FnOnce() -> String) -> Result<Opened, StoreError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let chain_path = dir.join(CHAIN_FILE);
        let draws_path = dir.join(DRAWS_FILE);
        let chain_existed = chain_path.exists();
        let open = |p: &Path| {
            OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(p)
                .map_err(io_err(p))
        };
        let mut chain = open(&chain_path)?;
        let mut draws = open(&draws_path)?;
        let mut audit = audit(
            BufReader::with_capacity(1 << 20, &mut chain),
            BufReader::with_capacity(1 << 20, &mut draws),
            true,
        )
        .map_err(|e| StoreError::Damaged(e, dir.to_path_buf()))?;
        if !chain_existed && audit.block_count == 0 && draws.metadata().map_or(0, |m| m.len()) > 0 {
            return Err(StoreError::ChainMissing(dir.to_path_buf()));
        }
        for repair in &audit.repairs {
            let (file, path) = if repair.file == CHAIN_FILE {
                (&chain, &chain_path)
            } else {
                (&draws, &draws_path)
            };
            tracing::warn!(
                file = %path.display(),
                offset = repair.offset,
                "{}: truncating at byte {}",
                repair.reason,
                repair.offset
            );
            file.set_len(repair.offset).map_err(io_err(path))?;
            file.sync_all().map_err(io_err(path))?;
        }
        let draws_len = draws.seek(SeekFrom::End(0)).map_err(io_err(&draws_path))?;
        let mut store = Store {
            dir: dir.to_path_buf(),
            chain,
            draws,
            draws_len,
        };
        let created = audit.tip.is_none();
        if created {
            let genesis = Block::genesis(genesis_time());
            store.write_line(true, &genesis)?;
            sync_dir(dir)?;
            audit.block_count = 1;
            audit.blocks.push(genesis.clone());
            audit.tip = Some(genesis);
        }
        Ok(Opened {
            store,
            audit,
            created,
        })
    }

    /// Appends `draw` and then `block`, each flushed to stable storage before the next step:
    /// once this returns, the block survives a crash, and may be announced.
    /// Returns the draw line's byte offset and length, for serving it later.
    pub fn append(&mut self, draw: &DrawRecord, block: &Block) -> Result<(u64, u32), StoreError> {
        let offset = self.draws_len;
        let len = self.write_line(false, draw)?;
        self.write_line(true, block)?;
        Ok((offset, len))
    }

    fn write_line(
        &mut self,
        chain: bool,
        value: &impl serde::Serialize,
    ) -> Result<u32, StoreError> {
        let (file, name) = if chain {
            (&mut self.chain, CHAIN_FILE)
        } else {
            (&mut self.draws, DRAWS_FILE)
        };
        let path = self.dir.join(name);
        let mut line = serde_json::to_vec(value).map_err(|e| StoreError::Io {
            path: path.clone(),
            source: e.into(),
        })?;
        let len = line.len() as u32;
        line.push(b'\n');
        file.write_all(&line).map_err(io_err(&path))?;
        file.sync_data().map_err(io_err(&path))?;
        if !chain {
            self.draws_len += line.len() as u64;
        }
        Ok(len)
    }
}

/// Reads one draw line by its span, as recorded by [`Store::append`] or the audit.
pub fn read_draw_line(dir: &Path, offset: u64, len: u32) -> std::io::Result<Vec<u8>> {
    let mut f = File::open(dir.join(DRAWS_FILE))?;
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; len as usize];
    f.read_exact(&mut buf)?;
    Ok(buf)
}

/// Makes a newly created file's directory entry durable too.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: &str = "2026-01-01T00:00:00.000Z";

    #[test]
    fn first_open_writes_genesis_and_later_opens_read_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let first = Store::open(dir.path(), || T0.into()).unwrap();
        assert!(first.created);
        let genesis = first.audit.tip.clone().unwrap();
        drop(first);
        let again = Store::open(dir.path(), || panic!("genesis made twice")).unwrap();
        assert!(!again.created);
        assert_eq!(again.audit.tip.unwrap(), genesis);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        #[test]
        fn random_blocks_written_then_reloaded_are_identical(
            rounds in proptest::collection::vec((1u32..=300, 1u64..4, proptest::collection::vec(1u64..u64::MAX, 1..5)), 0..8),
        ) {
            use crate::chain::compute_entries_hash;
            use crate::lottery::{compute_seed, pick_winner};
            let dir = tempfile::tempdir().unwrap();
            let Opened { mut store, audit, .. } = Store::open(dir.path(), || T0.into()).unwrap();
            let mut blocks = audit.blocks;
            let mut round = 0;
            for (bpm, gap, stakes) in rounds {
                round += gap;
                let tip = blocks.last().unwrap().clone();
                let entries: Vec<(String, u64)> = stakes
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (format!("{:064x}", i * 7 + 1), *s))
                    .collect();
                let d = pick_winner(&compute_seed(&tip.hash_bytes().unwrap(), tip.index + 1), &entries).unwrap();
                let winner = entries[d.winner].0.clone();
                let block = Block::next(&tip, T0.into(), bpm, winner.clone(), round, compute_entries_hash(&entries));
                let draw = DrawRecord { index: block.index, entries, total: d.total, counter: d.counter, target: d.target, winner };
                store.append(&draw, &block).unwrap();
                blocks.push(block);
            }
            drop(store);
            let reloaded = Store::open(dir.path(), || panic!("genesis made twice")).unwrap();
            proptest::prop_assert!(reloaded.audit.repairs.is_empty());
            proptest::prop_assert_eq!(reloaded.audit.blocks, blocks);
        }
    }

    #[test]
    fn damaged_files_refuse_to_open_and_stay_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path(), || T0.into()).unwrap());
        let path = dir.path().join(CHAIN_FILE);
        let tampered = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"BPM\":0", "\"BPM\":1");
        std::fs::write(&path, &tampered).unwrap();
        let err = Store::open(dir.path(), || T0.into()).unwrap_err();
        assert!(err.to_string().contains("chain.jsonl, block 0"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), tampered);
    }
}
