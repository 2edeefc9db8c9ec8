//! The stand-in's `blocks/blk*.dat`, laid out as kevacoind leaves them, so the server's
//! block-file reader is tested against the real shape: records of network magic, 4-byte
//! little-endian size and block; several files of at most `max_file` bytes; the chain's blocks in
//! the order a node syncing headers-first receives them (not height order); the newest file
//! pre-allocated in 16 MiB steps (zero-filled past its last record), older ones truncated to
//! their records; an undo file (`rev*.dat`) beside each; 0600 files in a 0700 directory.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::generator::Rng;
use super::state::Chain;
use crate::chain::Network;

/// kevacoind's `MAX_BLOCKFILE_SIZE`.
pub const MAX_BLOCKFILE_SIZE: u64 = 128 << 20;
/// kevacoind's `BLOCKFILE_CHUNK_SIZE`: the newest file grows in steps of this, zero-filled.
const CHUNK: u64 = 16 << 20;
/// kevacoind's `UNDOFILE_CHUNK_SIZE`.
const UNDO_CHUNK: u64 = 1 << 20;
/// kevacoind's `BLOCK_DOWNLOAD_WINDOW`: how far ahead of the lowest missing block it fetches.
const DOWNLOAD_WINDOW: u32 = 1024;
/// kevacoind's `MAX_BLOCKS_IN_TRANSIT_PER_PEER`: blocks asked of one peer at once.
const PER_PEER: u32 = 16;
/// Peers the simulated download spreads requests over.
const PEERS: u64 = 8;

/// Appends blocks to the block files as the node does.
pub struct BlockFileWriter {
    dir: PathBuf,
    magic: [u8; 4],
    max_file: u64,
    number: u32,
    out: BufWriter<File>,
    pos: u64,
    allocated: u64,
}

impl BlockFileWriter {
    /// Starts `blk00000.dat` in `datadir`'s network subdirectory (replacing block files there).
    pub fn create(datadir: &Path, network: Network, max_file: u64) -> io::Result<BlockFileWriter> {
        let net_dir = datadir.join(network.data_subdir());
        let dir = net_dir.join("blocks");
        std::fs::create_dir_all(&dir)?;
        for d in [datadir, &net_dir] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))?;
        }
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".dat") && (name.starts_with("blk") || name.starts_with("rev")) {
                std::fs::remove_file(&path)?;
            }
        }
        let out = open_numbered(&dir, 0)?;
        Ok(BlockFileWriter {
            dir,
            magic: network.magic(),
            max_file: max_file.max(1),
            number: 0,
            out,
            pos: 0,
            allocated: 0,
        })
    }

    /// The `blocks/` directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one block (not flushed: see [`BlockFileWriter::flush`]).
    pub fn append(&mut self, block: &[u8]) -> io::Result<()> {
        let record = 8 + block.len() as u64;
        if self.pos > 0 && self.pos + record > self.max_file {
            // The node finishes a full file by cutting its pre-allocated tail.
            self.out.flush()?;
            self.out.get_ref().set_len(self.pos)?;
            self.number += 1;
            self.out = open_numbered(&self.dir, self.number)?;
            self.pos = 0;
            self.allocated = 0;
        }
        if self.pos + record > self.allocated {
            self.allocated = (self.pos + record).div_ceil(CHUNK) * CHUNK;
            self.out.get_ref().set_len(self.allocated)?;
        }
        self.out.write_all(&self.magic)?;
        self.out.write_all(&(block.len() as u32).to_le_bytes())?;
        self.out.write_all(block)?;
        self.pos += record;
        Ok(())
    }

    /// Makes everything appended visible to readers.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Opens `blkNNNNN.dat` for writing (and creates its `revNNNNN.dat`), mode 0600.
fn open_numbered(dir: &Path, number: u32) -> io::Result<BufWriter<File>> {
    let rev = File::create(dir.join(format!("rev{number:05}.dat")))?;
    rev.set_len(UNDO_CHUNK)?;
    let path = dir.join(format!("blk{number:05}.dat"));
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&path)?;
    for f in [&file, &rev] {
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(BufWriter::with_capacity(1 << 20, file))
}

/// Writes `chain` as block files under `datadir`, in headers-first arrival order; returns the
/// writer, to which newly mined blocks are appended.
pub fn write_chain(
    chain: &Chain,
    datadir: &Path,
    max_file: u64,
    seed: u64,
) -> io::Result<BlockFileWriter> {
    let mut w = BlockFileWriter::create(datadir, chain.network(), max_file)?;
    for height in arrival_order(chain.height(), seed) {
        w.append(&chain.block_bytes(height).unwrap_or_default())?;
    }
    w.flush()?;
    Ok(w)
}

/// Heights `0..=tip` in the order a node syncing headers-first stores them: genesis first, then
/// each 1024-block window asked of eight peers 16 blocks at a time, the blocks landing as the
/// peers (each at its own speed) deliver them.
pub fn arrival_order(tip: u32, seed: u64) -> Vec<u32> {
    let mut rng = Rng::new(seed ^ 0x626c_6b66);
    let mut order = Vec::with_capacity(tip as usize + 1);
    order.push(0);
    let mut start = 1u32;
    while start <= tip {
        let end = start.saturating_add(DOWNLOAD_WINDOW - 1).min(tip);
        let speeds: Vec<u64> = (0..PEERS).map(|_| 1 + rng.below(4)).collect();
        let mut chunks: Vec<(u64, u32)> = Vec::new();
        let mut queued = [0u64; PEERS as usize];
        let mut first = start;
        let mut k = 0usize;
        while first <= end {
            let peer = k % PEERS as usize;
            queued[peer] += 1;
            chunks.push((queued[peer] * speeds[peer] * 8 + rng.below(8), first));
            first = first.saturating_add(PER_PEER);
            k += 1;
        }
        chunks.sort();
        for (_, first) in chunks {
            order.extend(first..=first.saturating_add(PER_PEER - 1).min(end));
        }
        start = end.saturating_add(1);
        if end == u32::MAX {
            break;
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrival_order_is_a_shuffled_permutation() {
        let order = arrival_order(5000, 3);
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted, (0..=5000).collect::<Vec<_>>());
        assert_ne!(order, sorted, "not in height order");
        // Never further from its place than a download window.
        for (i, h) in order.iter().enumerate() {
            assert!(
                (*h as i64 - i as i64).abs() < i64::from(DOWNLOAD_WINDOW),
                "{h} at {i}"
            );
        }
    }

    #[test]
    fn files_roll_over_and_the_newest_is_preallocated() {
        let d = std::env::temp_dir().join(format!("keva-devnode-blk-{}", std::process::id()));
        let mut w = BlockFileWriter::create(&d, Network::Regtest, 1000).unwrap();
        for i in 0..10u8 {
            w.append(&[i; 300]).unwrap();
        }
        w.flush().unwrap();
        let blocks = d.join("regtest/blocks");
        let len = |n: &str| std::fs::metadata(blocks.join(n)).unwrap().len();
        // Three 308-byte records fit in 1000 bytes.
        assert_eq!(len("blk00000.dat"), 3 * 308);
        assert_eq!(len("blk00002.dat"), 3 * 308);
        assert_eq!(len("blk00003.dat"), CHUNK);
        assert_eq!(len("rev00003.dat"), UNDO_CHUNK);
        let f = std::fs::read(blocks.join("blk00001.dat")).unwrap();
        assert_eq!(&f[..4], &Network::Regtest.magic());
        assert_eq!(&f[4..8], &300u32.to_le_bytes());
        assert_eq!(f[8], 3);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
