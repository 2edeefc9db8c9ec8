//! Initial-sync benchmark on a mainnet-shaped stand-in chain that costs what kevacoind costs.
//!
//! `cargo bench --bench sync`. Knobs: KEVA_BENCH_BLOCKS (chain length, default 1,000,000),
//! KEVA_BENCH_READ_MS (the stand-in's `getblock` cost per block, default 25: the real node
//! re-hashes each block's proof of work, ~27 ms), KEVA_BENCH_RPC_SECS (how long the RPC path is
//! timed, default 60), KEVA_BENCH_SERVER_ENV="K=V,…" (more server settings). Reports:
//! - from the block files: the real `keva-electrum` binary syncing the whole chain with
//!   `DAEMON_DIR` pointing at the stand-in's `blk*.dat` files (blocks/s, tx/s, peak RSS, the
//!   scan, the split between files and RPC);
//! - over RPC at the stand-in's block-read cost (`BLOCK_FILES=off`, the default 2 parallel
//!   calls), timed over KEVA_BENCH_RPC_SECS, beside what the stand-in serves to 4 parallel
//!   `getblock` callers;
//! - the time both paths need for this chain and for Kevacoin mainnet (1,800,000 blocks);
//! - index only: the same blocks already in memory, applied by the index writer alone.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use keva_electrum::chain::Network;
use keva_electrum::daemon::{Daemon, DaemonConfig};
use keva_electrum::devnode::{DevNode, DevNodeConfig, Shape};
use keva_electrum::index::prepared::PreparedBlock;
use keva_electrum::index::Writer;

/// Kevacoin mainnet's height, roughly, for the projections.
const MAINNET_BLOCKS: f64 = 1_800_000.0;

fn main() {
    let blocks = env_u32("KEVA_BENCH_BLOCKS", 1_000_000);
    let read_ms = env_u32("KEVA_BENCH_READ_MS", 25);
    let rpc_secs = env_u32("KEVA_BENCH_RPC_SECS", 60);
    let seed = 7;
    println!(
        "sync benchmark: {blocks} mainnet-shaped blocks (seed {seed}), stand-in getblock cost \
         {read_ms} ms a block"
    );
    let node_dir = TempDir::new("sync-node");
    let t = Instant::now();
    let datadir = node_dir.0.display().to_string();
    let read_cost = read_ms.to_string();
    let (node, url) = start_devnode_binary_with(
        blocks,
        "mainnet",
        seed,
        &["--datadir", &datadir, "--block-read-ms", &read_cost],
    );
    let (files, bytes) = block_files(&node_dir.0.join("regtest/blocks"));
    println!(
        "  stand-in node ready in {:.1}s (pid {}): {files} block files, {:.1} MB",
        t.elapsed().as_secs_f64(),
        node.pid(),
        mb(bytes)
    );
    let from_files = from_block_files(&url, &datadir, blocks);
    let rpc_rate = over_rpc(&url, rpc_secs);
    let capacity = node_capacity(&url, blocks.min(20_000), Duration::from_secs(10));
    println!("  the stand-in serving 4 parallel getblock callers: {capacity:.1} blocks/s");
    println!(
        "    the parallel RPC path gets {:.0}% of that",
        100.0 * rpc_rate / capacity
    );
    let chain = f64::from(blocks) + 1.0;
    println!("  projections (initial sync, this machine):");
    for (what, n) in [("this chain", chain), ("Kevacoin mainnet", MAINNET_BLOCKS)] {
        println!(
            "    {what} ({n:.0} blocks): from the block files {}, over RPC {}",
            duration(n / from_files),
            duration(n / rpc_rate)
        );
    }
    index_only(blocks, seed);
}

/// Number and total size of the `blk*.dat` files.
fn block_files(dir: &std::path::Path) -> (usize, u64) {
    let mut n = 0;
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir).expect("the stand-in's blocks directory") {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().starts_with("blk") {
            n += 1;
            bytes += entry.metadata().unwrap().len();
        }
    }
    (n, bytes)
}

/// The whole chain from the block files, end to end; returns blocks/s.
fn from_block_files(url: &str, datadir: &str, blocks: u32) -> f64 {
    let dir = TempDir::new("sync-files");
    let extra_env = std::env::var("KEVA_BENCH_SERVER_ENV").unwrap_or_default();
    let mut env: Vec<(&str, &str)> = extra_env
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    env.push(("DAEMON_DIR", datadir));
    let start = Instant::now();
    let (mut server, _addr) = start_server(url, &dir.0, &env);
    let sampler = RssWatch::start(server.pid());
    server.wait_for("index at the node's tip", Duration::from_secs(7200));
    let elapsed = start.elapsed().as_secs_f64();
    let peak = sampler.peak();
    server.terminate();
    drop(sampler);
    let (height, txs) = index_counts(&dir.0.join("index.db"));
    assert_eq!(
        height,
        i64::from(blocks),
        "the index must reach the node's tip"
    );
    let log = server.log();
    let line = |needle: &str| {
        log.lines()
            .find(|l| l.contains(needle))
            .map(|l| l.split_once(": ").map_or(l, |(_, rest)| rest).to_string())
            .unwrap_or_default()
    };
    println!("  from the node's block files (end to end, server start to index at the tip):");
    println!(
        "    {} blocks, {txs} txs in {elapsed:.1}s: {:.0} blocks/s, {:.0} tx/s",
        height + 1,
        (height + 1) as f64 / elapsed,
        txs as f64 / elapsed
    );
    println!("    {}", line("block files: scanned"));
    println!("    {}", line("block(s) read from the node's block files"));
    println!("    peak RSS of keva-electrum: {:.1} MB", mb(peak));
    println!("    database size: {:.1} MB", mb(db_size(&dir.0)));
    (height + 1) as f64 / elapsed
}

/// The same chain over RPC at the stand-in's block-read cost, timed from the first progress
/// line for `secs`; returns blocks/s.
fn over_rpc(url: &str, secs: u32) -> f64 {
    let dir = TempDir::new("sync-rpc");
    let env = [("BLOCK_FILES", "off")];
    let (mut server, _addr) = start_server(url, &dir.0, &env);
    let sampler = RssWatch::start(server.pid());
    server.wait_for("sync: height", Duration::from_secs(600));
    let (t0, h0) = (Instant::now(), last_progress_height(&server));
    let mut last = (t0, h0);
    while t0.elapsed() < Duration::from_secs(u64::from(secs)) {
        std::thread::sleep(Duration::from_millis(100));
        let h = last_progress_height(&server);
        if h != last.1 {
            last = (Instant::now(), h);
        }
        server.assert_alive();
    }
    let peak = sampler.peak();
    server.terminate();
    let (blocks, secs) = (last.1 - h0, (last.0 - t0).as_secs_f64());
    let rate = blocks as f64 / secs;
    // Transactions per block of the part of the chain synced, from the index.
    let (height, txs) = index_counts(&dir.0.join("index.db"));
    let per_block = txs as f64 / (height + 1).max(1) as f64;
    println!("  over RPC at the stand-in's block-read cost (BLOCK_FILES=off, 2 parallel calls):");
    println!(
        "    {blocks} blocks in {secs:.1}s (heights {h0}..{}): {rate:.1} blocks/s, {:.1} tx/s; \
         peak RSS {:.1} MB",
        last.1,
        rate * per_block,
        mb(peak)
    );
    rate
}

/// The height of the server's last progress line.
fn last_progress_height(server: &Proc) -> u64 {
    server
        .log()
        .lines()
        .rev()
        .find_map(|l| {
            l.split_once("sync: height ")
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .and_then(|h| h.parse().ok())
        })
        .unwrap_or(0)
}

/// Blocks/s the node serves to 4 threads each asking for one block at a time (among the
/// first `spread` blocks).
fn node_capacity(url: &str, spread: u32, time: Duration) -> f64 {
    let daemon = Daemon::new(DaemonConfig {
        urls: vec![url.to_string()],
        cookie_file: None,
        timeout: Duration::from_secs(60),
        network: Network::Regtest,
    })
    .expect("daemon");
    let hashes = daemon.block_hashes(1, spread.max(1)).expect("hashes");
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize % hashes.len();
                    daemon.blocks(&hashes[i..i + 1]).expect("getblock");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(time);
        stop.store(true, Ordering::Relaxed);
    });
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// `1h23m` / `4m05s` / `42s`.
fn duration(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

fn index_only(blocks: u32, seed: u64) {
    let node = DevNode::start(DevNodeConfig {
        blocks,
        seed,
        shape: Some(Shape::Mainnet),
        ..DevNodeConfig::default()
    })
    .expect("start the in-process stand-in");
    let dir = TempDir::new("index-only");
    let db = dir.0.join("index.db");
    let mut writer = Writer::open(&db, Network::Regtest, 64).expect("open the index");
    writer.set_track_touched(false);

    // Blocks are parsed ahead in chunks (like the prefetch thread); only the writer is timed.
    let mut write_time = Duration::ZERO;
    let mut txs = 0usize;
    let mut in_batch = 0usize;
    let chunk = 20_000u32;
    let mut h = 0u32;
    writer.begin().expect("begin");
    while h <= blocks {
        let end = (h + chunk).min(blocks + 1);
        let prepared: Vec<PreparedBlock> = (h..end)
            .map(|height| {
                let raw = node.block_bytes(height).expect("block bytes");
                let hash = node.block_hash(height).expect("block hash");
                PreparedBlock::parse(height, &hash, &raw).expect("valid block")
            })
            .collect();
        let t = Instant::now();
        for block in &prepared {
            writer.begin().expect("begin");
            writer.apply_block(block).expect("apply");
            in_batch += block.tx_count();
            txs += block.tx_count();
            if in_batch >= 100_000 {
                writer.commit().expect("commit");
                in_batch = 0;
            }
        }
        write_time += t.elapsed();
        h = end;
    }
    let t = Instant::now();
    writer.commit().expect("commit");
    writer
        .finish_initial_sync()
        .expect("build deferred indexes");
    write_time += t.elapsed();
    println!("  index only (blocks in memory):");
    println!(
        "    {} blocks, {txs} txs written in {:.1}s: {:.0} blocks/s, {:.0} tx/s",
        blocks + 1,
        write_time.as_secs_f64(),
        f64::from(blocks + 1) / write_time.as_secs_f64(),
        txs as f64 / write_time.as_secs_f64()
    );
}
