//! The node's block files, `blocks/blk*.dat`, read directly during the initial sync: a real
//! kevacoind re-hashes each block's proof of work on every `getblock` (~27 ms a block), while the
//! same bytes read from its files cost microseconds.
//!
//! A record is the network magic, a 4-byte little-endian size and the block. Files are not in
//! height order (headers-first download stores blocks as they arrive), the newest one is
//! pre-allocated (zero-filled past its last record) and may end in a partial record. One scan
//! reads each record's prefix and its header's `nNonce` (the height, in Kevacoin) and keeps where
//! each wanted height lies, 8 bytes a height; then blocks are read back one by one. Nothing read
//! here is trusted: the caller checks every block against the node's hash for its height and
//! the merkle root, and fetches it over RPC when it does not match.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::chain::Network;

/// Largest record believed (the node's `MAX_SIZE`); a larger size field is corruption.
pub const MAX_RECORD: u64 = 0x0200_0000;
/// Smallest block: an 80-byte header, a length byte and one transaction's worth.
pub const MIN_RECORD: u64 = 81 + 60;
/// Files a worker keeps open while reading blocks back.
const OPEN_FILES: usize = 4;
/// Read buffer of the scan: records are read whole, except large blocks (skipped by seeking).
pub const SCAN_BUFFER: usize = 1 << 20;

/// The node's `blocks/` directory, checked readable.
#[derive(Clone, Debug)]
pub struct BlockFiles {
    dir: PathBuf,
    magic: [u8; 4],
}

/// Why the block files cannot be used: the start-up log says it with the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unusable {
    /// `BLOCK_FILES=off`.
    Off,
    /// The directory does not exist, or is not a directory.
    Missing { dir: PathBuf, detail: String },
    /// It exists but this user may not list it or read its files.
    Unreadable { dir: PathBuf, detail: String },
    /// It holds no `blk*.dat` file.
    Empty { dir: PathBuf },
}

/// What the log says about the RPC path's cost, wherever the files cannot be used.
const RPC_COST: &str = "blocks come over RPC (slow: the node re-hashes each block's proof of \
                        work, ~27 ms a block)";

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unusable::Off => write!(f, "BLOCK_FILES=off: {RPC_COST}"),
            Unusable::Missing { dir, detail } => write!(
                f,
                "no block files at {} ({detail}): {RPC_COST}; run the server beside the node \
                 and set DAEMON_DIR to its data directory (see README, \"Deploying against a \
                 real node\")",
                dir.display()
            ),
            Unusable::Unreadable { dir, detail } => write!(
                f,
                "{} is not readable by this user ({detail}): {RPC_COST}; give this user read \
                 access to it (see README, \"Deploying against a real node\")",
                dir.display()
            ),
            Unusable::Empty { dir } => write!(
                f,
                "no blk*.dat files in {}: {RPC_COST}; is DAEMON_DIR the node's data directory?",
                dir.display()
            ),
        }
    }
}

impl BlockFiles {
    /// The `blocks/` directory of the node whose data directory is `daemon_dir` (the network's
    /// subdirectory is added), once it is listed and its first file opened for reading.
    pub fn open(daemon_dir: &Path, network: Network) -> Result<BlockFiles, Unusable> {
        let dir = daemon_dir.join(network.data_subdir()).join("blocks");
        let files = BlockFiles {
            dir,
            magic: network.magic(),
        };
        let list = files.list().map_err(|e| files.unusable(&e))?;
        let Some(first) = list.first() else {
            return Err(Unusable::Empty {
                dir: files.dir.clone(),
            });
        };
        File::open(first).map_err(|e| files.unusable(&e))?;
        Ok(files)
    }

    fn unusable(&self, e: &io::Error) -> Unusable {
        let dir = self.dir.clone();
        let detail = e.to_string();
        match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => {
                Unusable::Missing { dir, detail }
            }
            _ => Unusable::Unreadable { dir, detail },
        }
    }

    /// The `blocks/` directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `blkNNNNN.dat` files, by number.
    pub fn list(&self) -> io::Result<Vec<PathBuf>> {
        let mut numbered = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            let Some(name) = name.to_str() else { continue };
            let number = name
                .strip_prefix("blk")
                .and_then(|n| n.strip_suffix(".dat"))
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<u32>().ok());
            if let Some(n) = number {
                numbered.push((n, self.dir.join(name)));
            }
        }
        numbered.sort();
        Ok(numbered.into_iter().map(|(_, p)| p).collect())
    }

    /// Finds where the blocks claiming heights `first..=last` lie, newest file first, until
    /// every height has a candidate or every file was read. A file that cannot be read is
    /// noted and skipped (its blocks then come over RPC).
    pub fn scan(&self, first: u32, last: u32, stop: &AtomicBool) -> io::Result<BlockMap> {
        let files = self.list()?;
        let mut map = BlockMap::new(first, last, files, self.magic);
        for index in (0..map.files.len()).rev() {
            if stop.load(Ordering::Relaxed) || map.located == map.slots.len() {
                break;
            }
            if let Err(e) = map.scan_file(index) {
                let path = map.files[index].display().to_string();
                map.problems.push(format!("{path}: {e}"));
            }
            map.files_scanned += 1;
        }
        Ok(map)
    }
}

/// Where each wanted height's block lies: (file index << 32 | record offset), `NONE` if not
/// seen; a height claimed by more than one record (a stale branch) keeps the others aside.
pub struct BlockMap {
    first: u32,
    slots: Vec<u64>,
    extra: HashMap<u32, Vec<u64>>,
    files: Vec<PathBuf>,
    magic: [u8; 4],
    /// Heights of `first..=last` with at least one candidate.
    pub located: usize,
    /// Records seen (in or out of the range).
    pub records: u64,
    /// Files read by the scan.
    pub files_scanned: usize,
    /// Bytes of the files scanned.
    pub bytes_scanned: u64,
    /// Files that could not be read, with the reason.
    pub problems: Vec<String>,
    /// Damaged records the scan stepped over (the first few), with where and why.
    pub damaged: Vec<String>,
    /// Damaged records in all.
    pub damaged_count: u64,
}

const NONE: u64 = u64::MAX;

impl BlockMap {
    fn new(first: u32, last: u32, files: Vec<PathBuf>, magic: [u8; 4]) -> BlockMap {
        let len = if last >= first {
            (last - first) as usize + 1
        } else {
            0
        };
        BlockMap {
            first,
            slots: vec![NONE; len],
            extra: HashMap::new(),
            files,
            magic,
            located: 0,
            records: 0,
            files_scanned: 0,
            bytes_scanned: 0,
            problems: Vec::new(),
            damaged: Vec::new(),
            damaged_count: 0,
        }
    }

    /// Heights asked for.
    pub fn wanted(&self) -> usize {
        self.slots.len()
    }

    /// Files in the directory when it was scanned.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    fn insert(&mut self, height: u32, file: usize, offset: u64) {
        let Some(i) = height.checked_sub(self.first).map(|i| i as usize) else {
            return;
        };
        let (Some(slot), Ok(offset)) = (self.slots.get_mut(i), u32::try_from(offset)) else {
            return;
        };
        let loc = (file as u64) << 32 | u64::from(offset);
        if *slot == NONE {
            *slot = loc;
            self.located += 1;
        } else {
            self.extra.entry(height).or_default().push(loc);
        }
    }

    /// Reads one file's record prefixes and header heights.
    fn scan_file(&mut self, index: usize) -> io::Result<()> {
        let magic = self.magic;
        let file = File::open(&self.files[index])?;
        let len = file.metadata()?.len();
        self.bytes_scanned += len;
        let mut r = BufReader::with_capacity(SCAN_BUFFER, file);
        let mut pos = 0u64;
        let mut prefix = [0u8; 8];
        let mut head = [0u8; 80];
        while pos + 8 <= len {
            if !read_fully(&mut r, &mut prefix)? {
                break;
            }
            if prefix[..4] != magic {
                if prefix == [0; 8] {
                    // The pre-allocated, zero-filled tail: no record follows.
                    break;
                }
                let next = seek_magic(&mut r, pos + 1, magic)?;
                self.note_damage(
                    index,
                    pos,
                    format!("no record starts there; {} bytes skipped", next - pos),
                );
                pos = next;
                continue;
            }
            let size = u64::from(u32::from_le_bytes([
                prefix[4], prefix[5], prefix[6], prefix[7],
            ]));
            if !(MIN_RECORD..=MAX_RECORD).contains(&size) || pos + 8 + size > len {
                // A damaged size or a partial record: look for the next record after it.
                let what = if (MIN_RECORD..=MAX_RECORD).contains(&size) {
                    format!("a record of {size} bytes runs past the end of the file ({len} bytes)")
                } else {
                    format!("a record size of {size} bytes is impossible")
                };
                self.note_damage(index, pos, what);
                pos = seek_magic(&mut r, pos + 1, magic)?;
                continue;
            }
            if !read_fully(&mut r, &mut head)? {
                break;
            }
            self.records += 1;
            let height = u32::from_le_bytes([head[76], head[77], head[78], head[79]]);
            self.insert(height, index, pos);
            r.seek_relative(size as i64 - 80)?;
            pos += 8 + size;
        }
        Ok(())
    }

    fn note_damage(&mut self, file: usize, offset: u64, what: String) {
        self.damaged_count += 1;
        if self.damaged.len() < 10 {
            let place = self.describe((file as u64) << 32 | offset.min(u64::from(u32::MAX)));
            self.damaged.push(format!("{place}: {what}"));
        }
    }

    /// Where the blocks claiming `height` lie, most likely first.
    pub fn candidates(&self, height: u32) -> Vec<u64> {
        let Some(i) = height.checked_sub(self.first).map(|i| i as usize) else {
            return Vec::new();
        };
        match self.slots.get(i) {
            Some(&loc) if loc != NONE => {
                let mut all = vec![loc];
                if let Some(more) = self.extra.get(&height) {
                    all.extend_from_slice(more);
                }
                all
            }
            _ => Vec::new(),
        }
    }

    /// `blk00012.dat at 4096`, for log lines.
    pub fn describe(&self, loc: u64) -> String {
        let (file, offset) = ((loc >> 32) as usize, loc & 0xffff_ffff);
        let name = self
            .files
            .get(file)
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{name} at offset {offset}")
    }

    /// The record at `loc`, re-checked for its magic and size (the file may have changed since
    /// the scan), through `open`, a worker's few open files.
    pub fn read(&self, loc: u64, open: &mut OpenFiles) -> io::Result<Vec<u8>> {
        let (index, offset) = ((loc >> 32) as usize, loc & 0xffff_ffff);
        let file = open.get(index, &self.files)?;
        let mut prefix = [0u8; 8];
        file.read_exact_at(&mut prefix, offset)?;
        let size = u64::from(u32::from_le_bytes([
            prefix[4], prefix[5], prefix[6], prefix[7],
        ]));
        if prefix[..4] != self.magic || !(MIN_RECORD..=MAX_RECORD).contains(&size) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "no block record there any more",
            ));
        }
        let mut block = vec![0u8; size as usize];
        file.read_exact_at(&mut block, offset + 8)?;
        Ok(block)
    }
}

/// A worker's open block files (a few, most recently used kept), so reading a block back costs
/// two `pread`s and no `open`.
#[derive(Default)]
pub struct OpenFiles {
    files: Vec<(usize, File)>,
}

impl OpenFiles {
    fn get(&mut self, index: usize, paths: &[PathBuf]) -> io::Result<&File> {
        if let Some(i) = self.files.iter().position(|(n, _)| *n == index) {
            let entry = self.files.remove(i);
            self.files.push(entry);
        } else {
            let path = paths
                .get(index)
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such block file"))?;
            let file = File::open(path)?;
            if self.files.len() >= OPEN_FILES {
                self.files.remove(0);
            }
            self.files.push((index, file));
        }
        Ok(&self.files[self.files.len() - 1].1)
    }
}

/// Fills `buf`; false at the end of the file (a file shortened while it is read ends there).
fn read_fully(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    match r.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// Moves the reader, standing just after a bad 8-byte prefix that began at `from - 1`, to the
/// next `magic` at or after `from`; returns its position (the end of the file when none).
fn seek_magic(r: &mut BufReader<File>, from: u64, magic: [u8; 4]) -> io::Result<u64> {
    r.seek_relative(-7)?;
    let mut next = from;
    let mut window = [0u8; 4];
    let mut seen = 0usize;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(next);
        }
        let mut found = None;
        for (i, &b) in buf.iter().enumerate() {
            window = [window[1], window[2], window[3], b];
            seen += 1;
            if seen >= 4 && window == magic {
                found = Some(i + 1);
                break;
            }
        }
        let n = found.unwrap_or(buf.len());
        r.consume(n);
        next += n as u64;
        if found.is_some() {
            // Leave the reader at the magic's first byte.
            r.seek_relative(-4)?;
            return Ok(next - 4);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "keva-blockfiles-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        std::fs::create_dir_all(d.join("regtest/blocks")).unwrap();
        d
    }

    /// A fake block claiming `height`, `size` bytes in all.
    fn block(height: u32, size: usize) -> Vec<u8> {
        let mut b = vec![0x11u8; size];
        b[76..80].copy_from_slice(&height.to_le_bytes());
        b
    }

    fn record(block: &[u8]) -> Vec<u8> {
        let mut r = Network::Regtest.magic().to_vec();
        r.extend_from_slice(&(block.len() as u32).to_le_bytes());
        r.extend_from_slice(block);
        r
    }

    #[test]
    fn scan_finds_records_out_of_order_and_stops_at_damage() {
        let d = temp("scan");
        let blocks = d.join("regtest/blocks");
        let mut f0 = Vec::new();
        for h in [0u32, 2, 1, 3] {
            f0.extend(record(&block(h, 200 + h as usize)));
        }
        // Garbage, then a record found again by its magic; then a zero-filled tail.
        f0.extend([0x55u8; 37]);
        f0.extend(record(&block(4, 300)));
        f0.extend(vec![0u8; 4096]);
        std::fs::write(blocks.join("blk00000.dat"), &f0).unwrap();
        // A record whose size runs past the end, after a good one.
        let mut f1 = record(&block(5, 250));
        let mut partial = record(&block(6, 400));
        partial.truncate(200);
        f1.extend(partial);
        std::fs::write(blocks.join("blk00001.dat"), &f1).unwrap();
        std::fs::write(blocks.join("rev00000.dat"), b"not a block file").unwrap();

        let files = BlockFiles::open(&d, Network::Regtest).unwrap();
        let map = files.scan(0, 6, &AtomicBool::new(false)).unwrap();
        assert_eq!(map.file_count(), 2);
        assert_eq!(map.located, 6, "heights 0..=5 found, 6 is partial");
        assert!(map.candidates(6).is_empty());
        let mut open = OpenFiles::default();
        for h in 0..=5u32 {
            let c = map.candidates(h);
            assert_eq!(c.len(), 1, "height {h}");
            let raw = map.read(c[0], &mut open).unwrap();
            let want = if h == 4 {
                300
            } else if h == 5 {
                250
            } else {
                200 + h as usize
            };
            assert_eq!(raw, block(h, want), "height {h}");
        }
        // Only a part of the range: the scan stops once every wanted height is found.
        let map = files.scan(5, 5, &AtomicBool::new(false)).unwrap();
        assert_eq!((map.located, map.files_scanned), (1, 1));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_height_claimed_twice_keeps_both_candidates() {
        let d = temp("twice");
        let mut f = record(&block(7, 200));
        f.extend(record(&block(7, 220)));
        std::fs::write(d.join("regtest/blocks/blk00000.dat"), &f).unwrap();
        let files = BlockFiles::open(&d, Network::Regtest).unwrap();
        let map = files.scan(0, 10, &AtomicBool::new(false)).unwrap();
        assert_eq!(map.candidates(7).len(), 2);
        assert_eq!(map.located, 1);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn missing_and_empty_directories_say_why() {
        let d = temp("none");
        assert!(matches!(
            BlockFiles::open(&d, Network::Regtest),
            Err(Unusable::Empty { .. })
        ));
        let e = BlockFiles::open(&d, Network::Testnet).unwrap_err();
        assert!(matches!(e, Unusable::Missing { .. }), "{e:?}");
        assert!(e.to_string().contains("DAEMON_DIR"), "{e}");
        std::fs::write(d.join("regtest/blocks2"), b"").unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }
}
