//! [`Chain`]: a whole chain held in memory, each block checked as it is appended. The server
//! never holds one (its history stays on disk, see [`crate::store`]); tests and benches build
//! chains with it.

use super::{Block, ChainError};

/// The chain: a genesis block and every block appended after it, each checked on the way in.
#[derive(Debug, Clone)]
pub struct Chain {
    blocks: Vec<Block>,
}

impl Chain {
    /// A chain holding only `genesis`, which must be a valid genesis block.
    pub fn new(genesis: Block) -> Result<Chain, ChainError> {
        if genesis.index != 0 {
            return Err(ChainError::IndexMismatch {
                index: genesis.index,
                expected: 0,
            });
        }
        genesis.validate_alone()?;
        Ok(Chain {
            blocks: vec![genesis],
        })
    }

    /// Rebuilds a chain from blocks, checking every link. Fails on the first bad block.
    pub fn from_blocks(blocks: Vec<Block>) -> Result<Chain, ChainError> {
        let mut iter = blocks.into_iter();
        let mut chain = Chain::new(iter.next().ok_or(ChainError::Empty)?)?;
        for block in iter {
            chain.append(block)?;
        }
        Ok(chain)
    }

    /// A chain from blocks that [`crate::ledger::audit`] has already checked with these
    /// same rules, skipping a second pass over every hash; only emptiness is checked.
    pub fn from_audited_blocks(blocks: Vec<Block>) -> Result<Chain, ChainError> {
        if blocks.is_empty() {
            return Err(ChainError::Empty);
        }
        Ok(Chain { blocks })
    }

    /// The newest block.
    pub fn tip(&self) -> &Block {
        // A Chain is only built by `new`, which stores the genesis block; nothing removes it.
        self.blocks
            .last()
            .unwrap_or_else(|| unreachable!("a chain always has its genesis"))
    }

    /// Appends `block` if it validly follows the tip; otherwise leaves the chain unchanged.
    pub fn append(&mut self, block: Block) -> Result<(), ChainError> {
        block.validate_after(self.tip())?;
        self.blocks.push(block);
        Ok(())
    }

    /// Re-checks every block and link from genesis to tip.
    pub fn verify(&self) -> Result<(), ChainError> {
        let mut prev: Option<&Block> = None;
        for block in &self.blocks {
            match prev {
                None => {
                    if block.index != 0 {
                        return Err(ChainError::IndexMismatch {
                            index: block.index,
                            expected: 0,
                        });
                    }
                    block.validate_alone()?
                }
                Some(p) => block.validate_after(p)?,
            }
            prev = Some(block);
        }
        Ok(())
    }

    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    pub fn get(&self, index: u64) -> Option<&Block> {
        usize::try_from(index).ok().and_then(|i| self.blocks.get(i))
    }

    /// Number of blocks, genesis included.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Always false: a chain holds at least its genesis block.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}
