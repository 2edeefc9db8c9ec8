//! Reorgs: after following a reorg of depth 1, 2, 10 or 100 the index equals, row for row, a
//! fresh sync of the winning chain; a reorg deeper than REORG_LIMIT stops with instructions.

mod index_util;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use index_util::*;
use keva_electrum::chain::Network;
use keva_electrum::index::sync::SyncError;
use keva_electrum::index::{SyncConfig, Syncer, Writer};

fn check_reorg(depth: u32, new_blocks: u32, seed: u64) {
    let node = start_node(300, seed);
    let dir = TempDir::new(&format!("reorg{depth}"));
    let db = dir.db("followed.db");
    sync_to_tip(&db, &node.url(), quiet_config(1_000));
    let before = node.height();
    // Activity in the blocks that get orphaned: payments and keva operations.
    let (ns_tx, ns) = node.keva_namespace("reorged").unwrap();
    node.mine(1);
    node.keva_put(&ns, b"#tag key", b"value #Two").unwrap();
    node.mine(1);
    let _ = ns_tx;
    let (tx, rx) = crossbeam_channel::unbounded();
    let writer = Writer::open(&db, Network::Regtest, 8).unwrap();
    let mut syncer = Syncer::new(
        writer,
        daemon_for(&node.url()),
        quiet_config(1_000),
        Some(tx),
        Arc::new(AtomicBool::new(false)),
    );
    syncer.sync_once().unwrap();
    drop(syncer);
    rx.try_iter().count();
    let orphaned_truth = node.truth();
    node.reorg(depth, new_blocks);
    assert_eq!(node.height(), before + 2 - depth + new_blocks);

    let (tx, rx) = crossbeam_channel::unbounded();
    let writer = Writer::open(&db, Network::Regtest, 8).unwrap();
    let mut syncer = Syncer::new(
        writer,
        daemon_for(&node.url()),
        quiet_config(1_000),
        Some(tx),
        Arc::new(AtomicBool::new(false)),
    );
    let report = syncer.sync_once().unwrap();
    drop(syncer);
    assert!(report.at_tip);
    assert_eq!(
        report.reorg_depth, depth,
        "rolled back exactly the orphaned blocks"
    );
    let events: Vec<_> = rx.try_iter().collect();
    let first = events.first().expect("a commit event");
    assert_eq!(first.reorg_depth, depth);
    assert!(!first.touched.all && !first.touched.scripthashes.is_empty());
    let last = events.last().unwrap();
    assert_eq!(last.height, node.height());
    assert_eq!(last.hash, node.tip());
    // Histories touched by the orphaned blocks are announced (they changed).
    let changed = orphaned_truth
        .histories
        .iter()
        .filter(|(_, h)| h.iter().any(|(_, height)| *height > before + 2 - depth))
        .map(|(sh, _)| *sh);
    let touched: std::collections::HashSet<_> = events
        .iter()
        .flat_map(|e| e.touched.scripthashes.iter().copied())
        .collect();
    for sh in changed {
        assert!(
            touched.contains(&sh),
            "orphaned history {} announced",
            hex(&sh)
        );
    }

    let fresh = dir.db("fresh.db");
    sync_to_tip(&fresh, &node.url(), quiet_config(1_000));
    assert_same_dump(
        &dump(&db),
        &dump(&fresh),
        &format!("reorg of depth {depth}"),
    );
    assert_matches_truth(&db, &node.truth());
    assert_consistent(&db);
}

#[test]
fn reorg_depth_1() {
    check_reorg(1, 2, 31);
}

#[test]
fn reorg_depth_2() {
    check_reorg(2, 3, 32);
}

#[test]
fn reorg_depth_10() {
    check_reorg(10, 11, 33);
}

#[test]
fn reorg_depth_100() {
    check_reorg(100, 101, 34);
}

#[test]
fn reorg_to_a_shorter_chain() {
    let node = start_node(120, 35);
    let dir = TempDir::new("shorter");
    let db = dir.db("followed.db");
    sync_to_tip(&db, &node.url(), quiet_config(1_000));
    node.rewind(110);
    let report = sync_to_tip(&db, &node.url(), quiet_config(1_000));
    assert_eq!(report.reorg_depth, 10);
    let fresh = dir.db("fresh.db");
    sync_to_tip(&fresh, &node.url(), quiet_config(1_000));
    assert_same_dump(&dump(&db), &dump(&fresh), "rewind");
    assert_matches_truth(&db, &node.truth());
}

#[test]
fn reorg_deeper_than_the_limit_stops_with_instructions() {
    let node = start_node(60, 36);
    let dir = TempDir::new("deep");
    let db = dir.db("index.db");
    sync_to_tip(&db, &node.url(), quiet_config(1_000));
    let before = dump(&db);
    node.reorg(6, 7);
    let writer = Writer::open(&db, Network::Regtest, 8).unwrap();
    let config = SyncConfig {
        reorg_limit: 5,
        ..quiet_config(1_000)
    };
    let mut syncer = Syncer::new(
        writer,
        daemon_for(&node.url()),
        config,
        None,
        Arc::new(AtomicBool::new(false)),
    );
    match syncer.sync_once() {
        Err(SyncError::Fatal(e)) => {
            assert!(e.message().contains("REORG_LIMIT=5"), "{e}");
            assert!(e.message().contains("delete"), "says how to resync: {e}");
        }
        other => panic!("expected a fatal error, got {other:?}"),
    }
    assert!(syncer.run().is_err(), "run stops on it too");
    drop(syncer);
    assert_eq!(dump(&db), before, "the index is left as it was");
}
