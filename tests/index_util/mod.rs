//! Shared helpers of the index tests: a stand-in node, a sync to its tip, a canonical dump of
//! every table, and the comparison of an index with the stand-in's ground truth.
#![allow(dead_code)]

#[path = "../support/mod.rs"]
mod support;
#[allow(unused_imports)]
pub use support::TempDir;

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use keva_electrum::chain::keva::namespace_to_string;
use keva_electrum::chain::{Hash32, Network};
use keva_electrum::daemon::{Daemon, DaemonConfig};
use keva_electrum::devnode::analyze::KevaOp;
use keva_electrum::devnode::{DevNode, DevNodeConfig, Truth};
use keva_electrum::index::read::reaction_scripthash;
use keva_electrum::index::sync::SyncReport;
use keva_electrum::index::{Reader, SyncConfig, Syncer, Writer};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

/// A regtest stand-in with `blocks` generated blocks.
pub fn start_node(blocks: u32, seed: u64) -> DevNode {
    DevNode::start(DevNodeConfig {
        blocks,
        seed,
        ..DevNodeConfig::default()
    })
    .expect("stand-in starts")
}

/// A client for the stand-in over real HTTP.
pub fn daemon_for(url: &str) -> Daemon {
    Daemon::new(DaemonConfig {
        urls: vec![url.to_string()],
        cookie_file: None,
        timeout: Duration::from_secs(30),
        network: Network::Regtest,
    })
    .expect("daemon config")
}

/// A quiet sync configuration with commits every `batch_txs` transactions.
pub fn quiet_config(batch_txs: usize) -> SyncConfig {
    SyncConfig {
        batch_txs,
        prefetch_bytes: 4 << 20,
        log: Arc::new(|_| {}),
        ..SyncConfig::default()
    }
}

/// Syncs the index at `db` to the node's tip (opening and closing the writer).
pub fn sync_to_tip(db: &Path, url: &str, config: SyncConfig) -> SyncReport {
    let writer = Writer::open(db, Network::Regtest, 16).expect("open writer");
    let mut syncer = Syncer::new(
        writer,
        daemon_for(url),
        config,
        None,
        Arc::new(AtomicBool::new(false)),
    );
    let report = syncer.sync_once().expect("sync");
    assert!(report.at_tip, "sync ended at the node's tip");
    report
}

/// Every row of every table, in key order, as text: two indexes are equal iff their dumps are.
pub fn dump(db: &Path) -> Vec<String> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let tables = [
        ("meta", "name"),
        ("sync_state", "id"),
        ("blocks", "height"),
        ("txs", "tx_num"),
        ("scripts", "id"),
        ("outputs", "tx_num, vout"),
        ("history", "script_id, tx_num"),
        ("keva_ops", "tx_num, vout"),
        ("reaction_counts", "txid"),
        ("banned_txs", "txid"),
    ];
    let mut out = Vec::new();
    for (table, order) in tables {
        let mut st = conn
            .prepare(&format!("SELECT * FROM {table} ORDER BY {order}"))
            .unwrap();
        let n = st.column_count();
        let mut rows = st.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            let mut line = format!("{table}:");
            for i in 0..n {
                match r.get_ref(i).unwrap() {
                    ValueRef::Null => line.push_str(" NULL"),
                    ValueRef::Integer(v) => line.push_str(&format!(" {v}")),
                    ValueRef::Real(v) => line.push_str(&format!(" {v}")),
                    ValueRef::Text(t) => {
                        line.push_str(&format!(" '{}'", String::from_utf8_lossy(t)))
                    }
                    ValueRef::Blob(b) => line.push_str(&format!(" x{}", hex(b))),
                }
            }
            out.push(line);
        }
    }
    let mut st = conn
        .prepare(
            "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_stat%' \
             ORDER BY type, name",
        )
        .unwrap();
    let objs = st
        .query_map([], |r| {
            Ok(format!(
                "schema: {} {}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?
            ))
        })
        .unwrap();
    for o in objs {
        out.push(o.unwrap());
    }
    out
}

/// Asserts two dumps are equal, showing the first difference.
pub fn assert_same_dump(a: &[String], b: &[String], what: &str) {
    assert!(
        a.len() > 20,
        "{what}: the dump holds the chain ({} lines)",
        a.len()
    );
    if a != b {
        let i = a
            .iter()
            .zip(b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        panic!(
            "{what}: dumps differ at line {i} (lengths {} and {}):\n  {:?}\n  {:?}",
            a.len(),
            b.len(),
            a.get(i),
            b.get(i)
        );
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `PRAGMA integrity_check` and the sync state agrees with the blocks table.
///
/// Opened read-write: a process killed while SQLite switched a new file to WAL leaves a hot
/// rollback journal that only a writable connection may roll back, as the next start does.
pub fn assert_consistent(db: &Path) {
    let conn = Connection::open(db).unwrap();
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    if tables == 0 {
        // Killed before the schema's transaction committed: an empty file, created afresh on
        // the next start.
        return;
    }
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok", "integrity of {}", db.display());
    let (height, next_tx, next_script): (i64, i64, i64) = conn
        .query_row(
            "SELECT height, next_tx_num, next_script FROM sync_state",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let max_height: i64 = conn
        .query_row("SELECT coalesce(max(height), -1) FROM blocks", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(height, max_height, "sync_state.height is the highest block");
    let end: i64 = conn
        .query_row(
            "SELECT coalesce(max(first_tx_num + tx_count), 0) FROM blocks",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(next_tx, end, "next_tx_num follows the last block");
    let max_script: i64 = conn
        .query_row("SELECT coalesce(max(id), 0) FROM scripts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        next_script,
        max_script + 1,
        "next_script follows the last script"
    );
}

/// Compares every history, UTXO set, balance and namespace of the index with the truth.
pub fn assert_matches_truth(db: &Path, truth: &Truth) {
    let reader = Reader::open(db, Network::Regtest, 8).unwrap();
    let (height, hash) = reader.tip().unwrap().expect("a tip");
    assert_eq!(height, truth.height, "tip height");
    assert_eq!(hash, truth.tip, "tip hash");
    // Genesis transactions are not indexed (as in ElectrumX).
    let mut expected_scripts = 0usize;
    for (sh, hist) in &truth.histories {
        let want: Vec<(Hash32, u32)> = hist.iter().filter(|(_, h)| *h > 0).cloned().collect();
        if want.is_empty() {
            continue;
        }
        expected_scripts += 1;
        let got: Vec<(Hash32, u32)> = reader
            .history(sh, usize::MAX >> 1)
            .unwrap()
            .into_iter()
            .map(|i| (i.txid, i.height))
            .collect();
        assert_eq!(got, want, "history of scripthash {}", hex(sh));
        assert_eq!(reader.history_len(sh).unwrap(), want.len() as u64);
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let with_history: i64 = conn
        .query_row(
            "SELECT count(*) FROM scripts s WHERE EXISTS (SELECT 1 FROM history h WHERE h.script_id = s.id)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        with_history as usize, expected_scripts,
        "scripts with history"
    );
    let all_scripts: i64 = conn
        .query_row("SELECT count(*) FROM scripts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(all_scripts, with_history, "no script row without history");
    let mut utxo_scripts = HashSet::new();
    for (sh, utxos) in &truth.utxos {
        let want: Vec<(Hash32, u32, u64, u32)> = utxos
            .iter()
            .filter(|u| u.height > 0)
            .map(|u| (u.outpoint.txid, u.outpoint.vout, u.value, u.height))
            .collect();
        let mut got: Vec<(Hash32, u32, u64, u32)> = reader
            .utxos(sh)
            .unwrap()
            .into_iter()
            .map(|u| (u.txid, u.vout, u.value, u.height))
            .collect();
        got.sort();
        let mut want_sorted = want.clone();
        want_sorted.sort();
        assert_eq!(got, want_sorted, "utxos of {}", hex(sh));
        let bal: u64 = want.iter().map(|u| u.2).sum();
        assert_eq!(reader.balance(sh).unwrap(), bal, "balance of {}", hex(sh));
        if !want.is_empty() {
            utxo_scripts.insert(*sh);
        }
    }
    let unspent: i64 = conn
        .query_row(
            "SELECT count(*) FROM outputs WHERE spent_tx_num IS NULL AND script_id IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let truth_unspent: usize = truth
        .utxos
        .values()
        .map(|v| v.iter().filter(|u| u.height > 0).count())
        .sum();
    assert_eq!(unspent as usize, truth_unspent, "number of unspent outputs");
    // Keva: the current keys of every namespace and its operations in order.
    let mut st = conn
        .prepare("SELECT key, value, txid_hex, height FROM keva_current WHERE namespace = ?1 ORDER BY key")
        .unwrap();
    for (ns, nt) in &truth.namespaces {
        let id = namespace_to_string(ns);
        let got: Vec<(Vec<u8>, Vec<u8>, String, u32)> = st
            .query_map([&id], |r| {
                let k: ValueRef = r.get_ref(0)?;
                let v: ValueRef = r.get_ref(1)?;
                Ok((
                    k.as_bytes().map(|b| b.to_vec()).unwrap_or_default(),
                    v.as_bytes().map(|b| b.to_vec()).unwrap_or_default(),
                    r.get(2)?,
                    r.get(3)?,
                ))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut want: Vec<(Vec<u8>, Vec<u8>, String, u32)> = nt
            .keys
            .iter()
            .map(|(k, (v, txid, h))| (k.clone(), v.clone(), display_hex(txid), *h))
            .collect();
        want.sort();
        let mut got_sorted = got;
        got_sorted.sort();
        assert_eq!(got_sorted, want, "current keys of namespace {id}");
        let ops: Vec<String> = conn
            .prepare("SELECT txid_hex FROM keva_log WHERE namespace = ?1 ORDER BY tx_num")
            .unwrap()
            .query_map([&id], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let want_ops: Vec<String> = nt.events.iter().map(|e| display_hex(&e.txid)).collect();
        assert_eq!(ops, want_ops, "operations of namespace {id}");
    }
    // Reaction counts: a row for exactly the posts reacted to (a key or display name
    // `00 01|02|03 ‖ txid`), each count the length of that reaction's history.
    let mut posts: Vec<Hash32> = truth
        .namespaces
        .values()
        .flat_map(|nt| &nt.events)
        .filter_map(|e| match &e.op {
            KevaOp::Namespace {
                display_name: k, ..
            }
            | KevaOp::Put { key: k, .. }
            | KevaOp::Delete { key: k, .. } => match k.as_slice() {
                [0, 1..=3, post @ ..] => <Hash32>::try_from(post).ok(),
                _ => None,
            },
        })
        .map(|mut post| {
            post.reverse();
            post
        })
        .collect();
    posts.sort();
    posts.dedup();
    for post in &posts {
        let counts = reader.reaction_counts(post).unwrap();
        let want = |k: u8| truth.history(&reaction_scripthash(post, k)).len() as u64;
        assert_eq!(
            [counts.replies, counts.shares, counts.likes],
            [want(1), want(2), want(3)],
            "reactions to {}",
            display_hex(post)
        );
    }
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM reaction_counts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows as usize, posts.len(), "posts with reactions");
}

/// Txid as people read it.
pub fn display_hex(h: &Hash32) -> String {
    let mut d = *h;
    d.reverse();
    hex(&d)
}
