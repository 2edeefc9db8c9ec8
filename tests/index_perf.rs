//! Index-only write rate: blocks already in memory (parsed), applied in initial-sync batches.
//! Ignored by default (it is a measurement); run with
//! `cargo test --release --test index_perf -- --ignored --nocapture`.

mod index_util;

use std::time::Instant;

use index_util::*;
use keva_electrum::chain::Network;
use keva_electrum::index::prepared::PreparedBlock;
use keva_electrum::index::Writer;

#[test]
#[ignore = "measurement; run explicitly"]
fn index_only_rate() {
    let blocks: u32 = std::env::var("KEVA_PERF_BLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let t = Instant::now();
    let node = start_node(blocks, 5);
    eprintln!(
        "generated {blocks} blocks in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let mut prepared = Vec::new();
    for h in 0..=node.height() {
        let raw = node.block_bytes(h).unwrap();
        prepared.push(PreparedBlock::parse(h, &node.block_hash(h).unwrap(), &raw).unwrap());
    }
    let txs: usize = prepared.iter().map(|b| b.tx_count()).sum();
    let dir = TempDir::new("perf");
    let db = dir.db("index.db");
    let mut w = Writer::open(&db, Network::Regtest, 64).unwrap();
    w.set_track_touched(false);
    let t = Instant::now();
    let mut in_batch = 0;
    w.begin().unwrap();
    for b in &prepared {
        w.begin().unwrap();
        w.apply_block(b).unwrap();
        in_batch += b.tx_count();
        if in_batch >= 100_000 {
            w.commit().unwrap();
            in_batch = 0;
        }
    }
    w.commit().unwrap();
    let write = t.elapsed().as_secs_f64();
    let t = Instant::now();
    w.finish_initial_sync().unwrap();
    let finish = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(&db).unwrap().len();
    assert_eq!(w.state().height, i64::from(node.height()));
    eprintln!(
        "{} blocks, {txs} txs: {:.0} tx/s writing ({write:.2}s), deferred indexes {finish:.2}s, \
         overall {:.0} tx/s, db {:.1} MB",
        prepared.len(),
        txs as f64 / write,
        txs as f64 / (write + finish),
        size as f64 / 1e6
    );
}
