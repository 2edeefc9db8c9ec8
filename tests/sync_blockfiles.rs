//! The initial sync from the node's block files (`blocks/blk*.dat`, written by the stand-in as
//! kevacoind writes them: several files, headers-first order, pre-allocated tails) gives the
//! same index as the sync over RPC; damaged files — a partial last record, a flipped byte in a
//! block, a record whose size runs past the end, a file that vanishes mid-read — never put a
//! wrong block into the index: the stand-in's `getblock` counter shows exactly those blocks came
//! over RPC, and the index equals a clean sync.

mod index_util;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use index_util::*;
use keva_electrum::chain::Network;
use keva_electrum::daemon::BlockFiles;
use keva_electrum::devnode::{DevNode, DevNodeConfig};
use keva_electrum::index::sync::{SourceCounts, SyncReport};
use keva_electrum::index::{SyncConfig, Syncer, Writer};

const BLOCKS: u32 = 400;
const SEED: u64 = 11;

/// A stand-in keeping its chain as block files of at most 48 KB (several files).
fn node_with_files(dir: &Path) -> DevNode {
    DevNode::start(DevNodeConfig {
        blocks: BLOCKS,
        seed: SEED,
        datadir: Some(dir.to_path_buf()),
        blockfile_size: 48 << 10,
        ..DevNodeConfig::default()
    })
    .expect("stand-in starts")
}

/// Syncs a fresh index at `db` to the node's tip, reading the block files under `datadir`
/// when given; returns the report and the per-source counts.
fn sync(
    db: &Path,
    node: &DevNode,
    datadir: Option<&Path>,
    config: SyncConfig,
) -> (SyncReport, Arc<SourceCounts>) {
    let writer = Writer::open(db, Network::Regtest, 16).expect("open writer");
    let block_files =
        datadir.map(|d| BlockFiles::open(d, Network::Regtest).expect("block files readable"));
    let mut syncer = Syncer::new(
        writer,
        daemon_for(&node.url()),
        SyncConfig {
            block_files,
            ..config
        },
        None,
        Arc::new(AtomicBool::new(false)),
    );
    let report = syncer.sync_once().expect("sync");
    assert!(report.at_tip, "sync ended at the node's tip");
    (report, syncer.source_counts())
}

/// Commits every 5,000 transactions and keeps the sync's log lines in `lines` (also on stderr
/// with `KEVA_TEST_ECHO=1`).
fn config(lines: &Arc<Mutex<Vec<String>>>) -> SyncConfig {
    let echo = std::env::var_os("KEVA_TEST_ECHO").is_some();
    let lines = Arc::clone(lines);
    SyncConfig {
        log: Arc::new(move |line: &str| {
            if echo {
                eprintln!("  | {line}");
            }
            lines.lock().unwrap().push(line.to_string());
        }),
        ..quiet_config(5_000)
    }
}

/// The index of a clean sync over RPC only.
fn clean_dump(node: &DevNode) -> Vec<String> {
    let dir = TempDir::new("blockfiles-clean");
    let db = dir.db("index.db");
    let (_, counts) = sync(&db, node, None, quiet_config(5_000));
    assert_eq!(counts.files.load(Ordering::Relaxed), 0);
    assert_eq!(counts.rpc.load(Ordering::Relaxed), u64::from(BLOCKS) + 1);
    dump(&db)
}

/// One record of a block file.
#[derive(Clone, Copy, Debug)]
struct Record {
    offset: u64,
    size: u64,
    height: u32,
}

/// The records of a block file, read independently of the server's reader.
fn records(path: &Path) -> Vec<Record> {
    let bytes = std::fs::read(path).unwrap();
    let magic = Network::Regtest.magic();
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= bytes.len() && bytes[pos..pos + 4] == magic {
        let size = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let block = &bytes[pos + 8..pos + 8 + size];
        let height = u32::from_le_bytes(block[76..80].try_into().unwrap());
        out.push(Record {
            offset: pos as u64,
            size: size as u64,
            height,
        });
        pos += 8 + size;
    }
    out
}

fn blk_files(node: &DevNode) -> Vec<PathBuf> {
    let dir = node.blocks_dir().expect("the stand-in keeps block files");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("blk"))
        .collect();
    files.sort();
    files
}

/// How often `getblock` served each height so far.
fn served(node: &DevNode) -> Vec<u32> {
    (0..=BLOCKS).map(|h| node.getblock_served(h)).collect()
}

/// Heights `getblock` served since `before` was taken.
fn served_since(node: &DevNode, before: &[u32]) -> BTreeSet<u32> {
    (0..=BLOCKS)
        .filter(|&h| node.getblock_served(h) > before[h as usize])
        .collect()
}

fn patch(path: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, offset).unwrap();
}

/// Syncs from the files after `damage`, and checks that exactly `expected` came over RPC and
/// the index equals a clean sync.
fn assert_recovers(
    name: &str,
    node: &DevNode,
    datadir: &Path,
    clean: &[String],
    expected: &BTreeSet<u32>,
    logged: &[(String, &str)],
) {
    let dir = TempDir::new(name);
    let db = dir.db("index.db");
    let before = node.getblock_calls();
    let counts_before = served(node);
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (report, counts) = sync(&db, node, Some(datadir), config(&lines));
    assert_eq!(report.blocks, u64::from(BLOCKS) + 1, "{name}");
    // Each damage is logged with its file and offset.
    let lines = lines.lock().unwrap();
    for (place, why) in logged {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(place.as_str()) && l.contains(why)),
            "{name}: no log line with {place:?} and {why:?}:\n{}",
            lines.join("\n")
        );
    }
    assert_eq!(
        &served_since(node, &counts_before),
        expected,
        "{name}: the blocks fetched over RPC"
    );
    assert_eq!(
        node.getblock_calls() - before,
        expected.len() as u64,
        "{name}: one getblock per damaged block"
    );
    assert_eq!(counts.rpc.load(Ordering::Relaxed), expected.len() as u64);
    assert_eq!(
        counts.files.load(Ordering::Relaxed),
        u64::from(BLOCKS) + 1 - expected.len() as u64
    );
    assert_same_dump(&dump(&db), clean, name);
    assert_consistent(&db);
}

#[test]
fn files_and_rpc_give_the_same_index() {
    let datadir = TempDir::new("blockfiles-node");
    let node = node_with_files(&datadir.0);
    let files = blk_files(&node);
    assert!(files.len() >= 3, "several block files: {files:?}");
    // Headers-first order: not the height order, and every height once.
    let heights: Vec<u32> = files
        .iter()
        .flat_map(|f| records(f))
        .map(|r| r.height)
        .collect();
    assert_ne!(heights, (0..=BLOCKS).collect::<Vec<_>>());
    let mut sorted = heights.clone();
    sorted.sort();
    assert_eq!(sorted, (0..=BLOCKS).collect::<Vec<_>>());
    // The newest file is pre-allocated: zero-filled past its last record.
    let newest = files.last().unwrap();
    let last = *records(newest).last().unwrap();
    let len = std::fs::metadata(newest).unwrap().len();
    assert!(len > last.offset + 8 + last.size, "pre-allocated tail");

    let clean = clean_dump(&node);
    let calls = node.getblock_calls();
    let dir = TempDir::new("blockfiles-files");
    let db = dir.db("index.db");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (report, counts) = sync(&db, &node, Some(&datadir.0), config(&lines));
    assert!(
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l
                == "sync: 401 block(s) read from the node's block files, 0 over RPC (2 parallel)"),
        "{:?}",
        lines.lock().unwrap()
    );
    assert_eq!(report.blocks, u64::from(BLOCKS) + 1);
    assert_eq!(report.from_files, u64::from(BLOCKS) + 1);
    assert_eq!(counts.files.load(Ordering::Relaxed), u64::from(BLOCKS) + 1);
    assert_eq!(counts.rpc.load(Ordering::Relaxed), 0);
    assert_eq!(node.getblock_calls(), calls, "no getblock at all");
    assert_same_dump(&dump(&db), &clean, "from the block files");

    // Blocks mined later are appended to the newest file; a short range comes over RPC.
    node.mine(3);
    let writer = Writer::open(&db, Network::Regtest, 16).unwrap();
    let mut syncer = Syncer::new(
        writer,
        daemon_for(&node.url()),
        SyncConfig {
            block_files: Some(BlockFiles::open(&datadir.0, Network::Regtest).unwrap()),
            ..quiet_config(5_000)
        },
        None,
        Arc::new(AtomicBool::new(false)),
    );
    assert_eq!(syncer.sync_once().unwrap().blocks, 3);
    assert_eq!(syncer.source_counts().rpc.load(Ordering::Relaxed), 3);
    let newest = records(blk_files(&node).last().unwrap());
    assert_eq!(newest.last().unwrap().height, BLOCKS + 3);

    // A reorg leaves the old branch's blocks in the files beside the new ones, at the same
    // heights: a fresh sync still takes every block from the files, the node's ones.
    node.reorg(2, 3);
    let dir = TempDir::new("blockfiles-after-reorg");
    let db = dir.db("index.db");
    let (report, counts) = sync(&db, &node, Some(&datadir.0), config(&lines));
    assert_eq!(report.blocks, u64::from(BLOCKS) + 5);
    assert_eq!(counts.rpc.load(Ordering::Relaxed), 0);
    let heights: Vec<u32> = blk_files(&node)
        .iter()
        .flat_map(|f| records(f))
        .map(|r| r.height)
        .collect();
    assert_eq!(heights.iter().filter(|h| **h == BLOCKS + 2).count(), 2);
    let rpc_only = TempDir::new("blockfiles-after-reorg-rpc");
    let (_, counts) = sync(&rpc_only.db("index.db"), &node, None, quiet_config(5_000));
    assert_eq!(counts.files.load(Ordering::Relaxed), 0);
    assert_same_dump(&dump(&db), &dump(&rpc_only.db("index.db")), "after a reorg");
}

#[test]
fn damaged_files_never_put_a_wrong_block_into_the_index() {
    let datadir = TempDir::new("blockfiles-damage");
    let node = node_with_files(&datadir.0);
    let clean = clean_dump(&node);
    let files = blk_files(&node);
    let busy = |r: &Record| r.size > 600;
    let mut expected = BTreeSet::new();
    let mut logged = Vec::new();
    let name = |f: &Path| f.file_name().unwrap().to_string_lossy().into_owned();
    let mismatch = |f: &Path, r: &Record| {
        format!(
            "the record in {} at offset {} is not the node's block {} (",
            name(f),
            r.offset,
            r.height
        )
    };

    // A partial last record: the node stopped while writing it into the pre-allocated file,
    // so its second half is still zeros.
    let newest = files.last().unwrap();
    let last = *records(newest).last().unwrap();
    let half = last.size / 2;
    patch(
        newest,
        last.offset + 8 + half,
        &vec![0u8; (last.size - half) as usize],
    );
    expected.insert(last.height);
    logged.push((mismatch(newest, &last), "fetching it over RPC"));
    assert_recovers(
        "partial-last-record",
        &node,
        &datadir.0,
        &clean,
        &expected,
        &logged,
    );

    // A flipped byte inside a transaction (the coinbase's outpoint: its txid, and so the
    // merkle root, no longer match) and one inside a header (the CryptoNote blob no longer
    // matches the 80-byte header, so the block cannot be the node's).
    let first = records(&files[0]);
    let bytes = std::fs::read(&files[0]).unwrap();
    let in_tx = *first.iter().skip(5).find(|r| busy(r)).unwrap();
    // Header (153 bytes in regtest), transaction count, version, segwit marker and flag.
    let mut at = in_tx.offset + 8 + 153 + 1 + 4;
    if bytes[at as usize] == 0 {
        at += 2;
    }
    // Input count, then the outpoint's hash.
    patch(&files[0], at + 1, &[0x5a]);
    let in_header = *first.iter().skip(20).find(|r| busy(r)).unwrap();
    patch(&files[0], in_header.offset + 8 + 4, &[0xa5]);
    expected.extend([in_tx.height, in_header.height]);
    logged.push((mismatch(&files[0], &in_tx), "merkle root does not match"));
    logged.push((
        mismatch(&files[0], &in_header),
        "inconsistent CryptoNote blob",
    ));
    assert_recovers(
        "flipped-bytes",
        &node,
        &datadir.0,
        &clean,
        &expected,
        &logged,
    );

    // A record whose size field runs past the end of its file: the scan finds the records
    // after it again by their magic.
    let second = records(&files[1]);
    let broken = second[second.len() / 2];
    let huge = (std::fs::metadata(&files[1]).unwrap().len() as u32).to_le_bytes();
    patch(&files[1], broken.offset + 4, &huge);
    expected.insert(broken.height);
    logged.push((
        format!(
            "damaged record in {} at offset {}:",
            name(&files[1]),
            broken.offset
        ),
        "runs past the end of the file",
    ));
    assert_recovers(
        "size-past-the-end",
        &node,
        &datadir.0,
        &clean,
        &expected,
        &logged,
    );
}

#[test]
fn a_file_that_vanishes_mid_read_is_fetched_over_rpc() {
    let datadir = TempDir::new("blockfiles-vanish");
    let node = node_with_files(&datadir.0);
    let clean = clean_dump(&node);
    // The file whose blocks are all high in the chain (the download order mixes heights).
    let (newest, gone) = blk_files(&node)
        .into_iter()
        .map(|f| {
            let heights: BTreeSet<u32> = records(&f).iter().map(|r| r.height).collect();
            (f, heights)
        })
        .max_by_key(|(_, h)| *h.iter().next().unwrap())
        .unwrap();
    let lowest = *gone.iter().next().unwrap();
    assert!(lowest > 150, "a file holds only high blocks: {lowest}");
    let before = served(&node);

    // The sync thread logs every block; once it is 50 blocks in (well before the workers, a
    // small queue ahead of it, reach that file), the file is deleted.
    let removed = Arc::new(Mutex::new(false));
    let log = {
        let (removed, newest) = (removed.clone(), newest.clone());
        Arc::new(move |line: &str| {
            let height = line
                .strip_prefix("sync: height ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|h| h.parse::<u32>().ok());
            let mut done = removed.lock().unwrap();
            if height.is_some_and(|h| h >= 50) && !*done {
                std::fs::remove_file(&newest).unwrap();
                *done = true;
            }
        })
    };
    let config = SyncConfig {
        prefetch_bytes: 32 << 10,
        progress_interval: Duration::ZERO,
        log,
        ..quiet_config(5_000)
    };
    let dir = TempDir::new("blockfiles-vanish-sync");
    let db = dir.db("index.db");
    let (_, counts) = sync(&db, &node, Some(&datadir.0), config);
    assert!(*removed.lock().unwrap(), "the file was deleted mid-read");
    assert_eq!(
        served_since(&node, &before),
        gone,
        "the vanished file's blocks"
    );
    assert_eq!(counts.rpc.load(Ordering::Relaxed), gone.len() as u64);
    assert_same_dump(&dump(&db), &clean, "after a file vanished");
}
