//! Initial-sync benchmark on a mainnet-shaped stand-in chain.
//!
//! `cargo bench --bench sync` (KEVA_BENCH_BLOCKS=N to change the chain length, default
//! 1,000,000). Reports:
//! - end to end: the real `keva-electrum` binary syncing from `keva-devnode` over HTTP
//!   (blocks/s, tx/s, peak RSS of the server process, database size);
//! - index only: the same chain's blocks already in memory, applied by the index writer in
//!   initial-sync batches (tx/s), to show whether the node or the index limits the rate.

mod common;

use std::time::{Duration, Instant};

use common::*;
use keva_electrum::chain::Network;
use keva_electrum::devnode::{DevNode, DevNodeConfig, Shape};
use keva_electrum::index::prepared::PreparedBlock;
use keva_electrum::index::Writer;

fn main() {
    let blocks = env_u32("KEVA_BENCH_BLOCKS", 1_000_000);
    let seed = 7;
    println!("sync benchmark: {blocks} mainnet-shaped blocks (seed {seed})");
    end_to_end(blocks, seed);
    index_only(blocks, seed);
}

fn end_to_end(blocks: u32, seed: u64) {
    let t = Instant::now();
    let (node, url) = start_devnode_binary(blocks, "mainnet", seed);
    println!(
        "  stand-in node ready in {:.1}s (pid {})",
        t.elapsed().as_secs_f64(),
        node.pid()
    );
    let dir = TempDir::new("sync");
    let start = Instant::now();
    // KEVA_BENCH_SERVER_ENV="CACHE_MB=16,…" passes settings through to the server.
    let extra_env = std::env::var("KEVA_BENCH_SERVER_ENV").unwrap_or_default();
    let extra: Vec<(&str, &str)> = extra_env
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let (mut server, _addr) = start_server(&url, &dir.0, &extra);
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
    println!("  end to end over HTTP:");
    println!(
        "    {} blocks, {txs} txs in {elapsed:.1}s: {:.0} blocks/s, {:.0} tx/s",
        height + 1,
        (height + 1) as f64 / elapsed,
        txs as f64 / elapsed
    );
    println!("    peak RSS of keva-electrum: {:.1} MB", mb(peak));
    println!("    database size: {:.1} MB", mb(db_size(&dir.0)));
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
