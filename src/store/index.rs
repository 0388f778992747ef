//! Reading history back from the data directory: the [`ChainIndex`] of every block's and draw's
//! line, and whole lines or the chain as one JSON array read straight from the files.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::Spans;
use crate::ledger::{CHAIN_FILE, DRAWS_FILE};

/// Reads one line of `file` (such as [`CHAIN_FILE`] or [`DRAWS_FILE`]) by its span, as
/// recorded by [`Store::append`](super::Store::append) or the audit.
pub fn read_line_at(dir: &Path, file: &str, offset: u64, len: u32) -> std::io::Result<Vec<u8>> {
    let mut f = File::open(dir.join(file))?;
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; len as usize];
    f.read_exact(&mut buf)?;
    Ok(buf)
}

/// Where every block line and draw line is in the data directory: the server's only record
/// of history in memory (16 bytes a block each), shared by the round task, which appends,
/// and the HTTP side, which reads lines straight from the files. A read never sees a span
/// that is not yet durable: spans are pushed only after
/// [`Store::append`](super::Store::append) returns.
#[derive(Debug)]
pub struct ChainIndex {
    dir: PathBuf,
    spans: std::sync::RwLock<IndexSpans>,
}

#[derive(Debug, Default)]
struct IndexSpans {
    blocks: Vec<(u64, u32)>,
    /// By block index − 1: the genesis block has no draw.
    draws: Vec<(u64, u32)>,
}

impl ChainIndex {
    pub fn new(dir: PathBuf, blocks: Vec<(u64, u32)>, draws: Vec<(u64, u32)>) -> ChainIndex {
        ChainIndex {
            dir,
            spans: std::sync::RwLock::new(IndexSpans { blocks, draws }),
        }
    }

    fn spans(&self) -> std::sync::RwLockReadGuard<'_, IndexSpans> {
        // A panic while holding the lock cannot leave the vectors half-pushed.
        self.spans.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a block that is now durable.
    pub fn push(&self, spans: Spans) {
        let mut s = self.spans.write().unwrap_or_else(|p| p.into_inner());
        s.blocks.push(spans.block);
        s.draws.push(spans.draw);
    }

    /// Blocks in the chain, genesis included.
    pub fn len(&self) -> u64 {
        self.spans().blocks.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Block `index`'s JSON line (without `\n`), or `None` past the tip. Blocking I/O.
    pub fn read_block(&self, index: u64) -> std::io::Result<Option<Vec<u8>>> {
        let span = usize::try_from(index)
            .ok()
            .and_then(|i| self.spans().blocks.get(i).copied());
        span.map(|(off, len)| read_line_at(&self.dir, CHAIN_FILE, off, len))
            .transpose()
    }

    /// Block `index`'s draw line, or `None` for the genesis block and past the tip.
    pub fn read_draw(&self, index: u64) -> std::io::Result<Option<Vec<u8>>> {
        let span = index
            .checked_sub(1)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.spans().draws.get(i).copied());
        span.map(|(off, len)| read_line_at(&self.dir, DRAWS_FILE, off, len))
            .transpose()
    }

    /// Up to `limit` block lines from `from`, in one read, and the index after the last.
    pub fn read_blocks(&self, from: u64, limit: usize) -> std::io::Result<(Vec<Vec<u8>>, u64)> {
        let range: Vec<(u64, u32)> = {
            let s = self.spans();
            let start = usize::try_from(from)
                .unwrap_or(usize::MAX)
                .min(s.blocks.len());
            let end = start.saturating_add(limit).min(s.blocks.len());
            s.blocks[start..end].to_vec()
        };
        let (Some(first), Some(last)) = (range.first(), range.last()) else {
            return Ok((Vec::new(), from));
        };
        let start = first.0;
        let end = last.0 + u64::from(last.1);
        let bytes = read_line_at(&self.dir, CHAIN_FILE, start, (end - start) as u32)?;
        let lines = range
            .iter()
            .map(|(off, len)| {
                let at = (off - start) as usize;
                bytes[at..at + *len as usize].to_vec()
            })
            .collect::<Vec<_>>();
        let next = from + lines.len() as u64;
        Ok((lines, next))
    }

    /// How many bytes of `chain.jsonl` hold the blocks known now (each line with its `\n`).
    pub fn chain_bytes(&self) -> u64 {
        self.spans()
            .blocks
            .last()
            .map_or(0, |(off, len)| off + u64::from(*len) + 1)
    }
}

/// Reads the first `len` bytes of `chain.jsonl` (whole lines) and makes them one JSON array
/// line, `[block,block,...]\n`: what the tutorial broadcasts and `/blockchain` serves.
pub fn read_chain_array(dir: &Path, len: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0).saturating_add(2));
    stream_chain_array(dir, len, |chunk| {
        out.extend_from_slice(&chunk);
        true
    })?;
    Ok(out)
}

/// Like [`read_chain_array`], in chunks of at most 64 KiB handed to `send` (which returns
/// false to stop), so a whole-chain answer costs bounded memory however long the chain.
pub fn stream_chain_array(
    dir: &Path,
    len: u64,
    mut send: impl FnMut(bytes::Bytes) -> bool,
) -> std::io::Result<()> {
    const CHUNK: u64 = 64 * 1024;
    if len == 0 {
        send(bytes::Bytes::from_static(b"[]\n"));
        return Ok(());
    }
    let mut f = File::open(dir.join(CHAIN_FILE))?;
    if !send(bytes::Bytes::from_static(b"[")) {
        return Ok(());
    }
    let mut left = len;
    while left > 0 {
        let n = left.min(CHUNK);
        let mut buf = vec![0u8; n as usize];
        f.read_exact(&mut buf)?;
        left -= n;
        for b in &mut buf {
            if *b == b'\n' {
                *b = b',';
            }
        }
        if left == 0 {
            // The range ends with the last line's newline, now a comma: close the array.
            buf.pop();
            buf.extend_from_slice(b"]\n");
        }
        if !send(buf.into()) {
            return Ok(());
        }
    }
    Ok(())
}
