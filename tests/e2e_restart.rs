//! End to end: SIGTERM while the initial sync runs stops the server cleanly, and the next start
//! resumes from what was committed and serves the same answers as the node's ground truth.

mod e2e_util;

use std::time::{Duration, Instant};

use e2e_util::*;
use keva_electrum::devnode::generator::pool_scripts;
use serde_json::json;

/// Indexed height in the index file, if it has committed anything yet.
fn indexed_height(db: &std::path::Path) -> Option<i64> {
    let conn = rusqlite::Connection::open_with_flags(
        db.join("index.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .ok()?;
    conn.query_row("SELECT height FROM sync_state", [], |r| r.get(0))
        .ok()
}

#[test]
fn sigterm_during_initial_sync_restarts_cleanly() {
    let blocks = 150_000u32;
    let (_node, url) = start_devnode_binary(blocks, "mainnet", 41);
    let db = TempDir::new("restart");

    let mut first = spawn_server(
        &url,
        ServerOpts {
            db: Some(db.0.clone()),
            ..ServerOpts::default()
        },
    );
    // Wait for a first commit, then stop it in the middle of the sync.
    let started = Instant::now();
    let interrupted_at = loop {
        if let Some(h) = indexed_height(&db.0).filter(|h| *h > 0) {
            break h;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no commit within 2 minutes:\n{}",
            first.proc.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    first.proc.signal("TERM");
    let status = first.proc.wait_exit(Duration::from_secs(60));
    assert!(
        status.success(),
        "exit status {status}:\n{}",
        first.proc.log()
    );
    assert!(
        !first.proc.logged("serving tcp"),
        "the sync finished before the signal; make the chain longer:\n{}",
        first.proc.log()
    );
    assert!(
        first.proc.logged("stopped during initial sync"),
        "{}",
        first.proc.log()
    );
    let committed = indexed_height(&db.0).expect("the index survives the stop");
    assert!(committed >= interrupted_at && committed < blocks as i64);

    // The second start resumes (never from scratch) and reaches the tip.
    let mut second = start_server(
        &url,
        ServerOpts {
            db: Some(db.0.clone()),
            ..ServerOpts::default()
        },
    );
    second
        .proc
        .wait_for("index at the node's tip", Duration::from_secs(10));
    let resumed = second
        .proc
        .lines
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.contains(" at height "))
        .cloned()
        .unwrap_or_default();
    assert!(
        !resumed.ends_with("at height -1"),
        "the restart began from an empty index: {resumed}"
    );
    assert_eq!(indexed_height(&db.0), Some(blocks as i64));

    // Answers match the node: tip, and the big pool addresses' balances and history length.
    let mut c = tcp(second.tcp);
    let tip = c.result("blockchain.headers.subscribe", json!([]));
    assert_eq!(tip["height"], blocks);
    let truth = node_rpc(&url, "dev_truth", json!([])).unwrap();
    assert_eq!(truth["height"], blocks);
    for (script, _) in pool_scripts(41).iter().take(2) {
        let sh = sh_hex(script);
        let per = node_rpc(&url, "dev_truth", json!([sh])).unwrap();
        let balance = c.result("blockchain.scripthash.get_balance", json!([sh]));
        assert_eq!(balance["confirmed"], per["confirmed"], "balance of {sh}");
        let unspent = c.result("blockchain.scripthash.listunspent", json!([sh]));
        let total: u64 = unspent
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["value"].as_u64().unwrap())
            .sum();
        assert_eq!(json!(total), per["confirmed"]);
    }
    second.proc.signal("TERM");
    assert!(second.proc.wait_exit(Duration::from_secs(30)).success());
    assert!(second.proc.logged("stopped"));
}
