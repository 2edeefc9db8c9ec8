//! The real Kevacoin node in the tests: `kevacoind` (Kevacoin Core) in regtest beside the real
//! `keva-electrum` binary, with the end-to-end helpers (`e2e_util`) on top.
//!
//! * [`node`]: finding the binary (`KEVACOIND`, else `../shared/kevacoind/`), one node process
//!   on free ports in its own data directory, its JSON-RPC.
//! * [`wallet`]: payments and keva operations through the node's wallet, and reactions built
//!   here and signed by it.
//! * [`chain`]: test chains mined once and cached under `target/tmp/`, copied per test.
//!
//! Below: what the tests compare, read from the server and from its index file.

#![allow(dead_code)]

#[path = "../e2e_util/mod.rs"]
mod e2e_util;
#[allow(unused_imports)]
pub use e2e_util::*;

pub mod chain;
pub mod node;
pub mod wallet;

#[allow(unused_imports)]
pub use chain::{base_chain, cached, Chain};
#[allow(unused_imports)]
pub use node::{bytes_of, kevacoind_binary, Auth, Kevacoind};
#[allow(unused_imports)]
pub use wallet::{Reaction, COIN};

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use keva_electrum::chain::keva::{index_scripthash, namespace_from_string};
use keva_electrum::chain::script::scripthash_to_hex;
use serde_json::{json, Value};

/// The Electrum scripthash of a keva lookup (`d1 <push x> 00 6d 75 6a`), as wallets send it.
pub fn lookup_sh(x: &[u8]) -> String {
    scripthash_to_hex(&index_scripthash(x))
}

/// The lookup scripthash of a namespace id (`N…`).
pub fn namespace_sh(ns: &str) -> String {
    lookup_sh(&namespace_from_string(ns).expect("a namespace id"))
}

/// The lookup scripthash of a hashtag (lower case, without `#`).
pub fn hashtag_sh(tag: &str) -> String {
    lookup_sh(tag.as_bytes())
}

/// Bytes of a base64 field of a keva answer (absent: empty).
pub fn b64(v: &Value) -> Vec<u8> {
    v.as_str()
        .map(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .expect("base64")
        })
        .unwrap_or_default()
}

/// Starts the server against `node` and waits until it serves. `HOME` is the node's home, so
/// the defaults that look in `~/.kevacoin` (the cookie, the node's data directory) find the
/// node's; `env` adds settings.
pub fn start_server_for(node: &Kevacoind, env: &[(&'static str, &str)]) -> Server {
    let mut server = spawn_server_for(node, env);
    server
        .proc
        .wait_for("serving tcp on", Duration::from_secs(300));
    server
}

/// [`start_server_for`] without waiting.
pub fn spawn_server_for(node: &Kevacoind, env: &[(&'static str, &str)]) -> Server {
    let mut vars = vec![("HOME", node.home().display().to_string())];
    vars.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
    spawn_server(
        &node.url(),
        ServerOpts {
            env: vars,
            ..ServerOpts::default()
        },
    )
}

/// Blocks the server's log says came (from the node's block files, over RPC).
pub fn block_sources(server: &Server) -> (u64, u64) {
    let mut counts = (0, 0);
    for line in server.proc.log().lines() {
        let Some(rest) = line.split("sync: ").nth(1) else {
            continue;
        };
        let Some((files, rest)) = rest.split_once(" block(s) read from the node's block files, ")
        else {
            continue;
        };
        let rpc = rest.split(" over RPC").next().unwrap();
        counts.0 += files.parse::<u64>().unwrap();
        counts.1 += rpc.parse::<u64>().unwrap();
    }
    counts
}

/// Waits until the server's tip is `height` with the node's header there.
pub fn wait_for_tip(c: &mut TcpClient, node: &Kevacoind, height: u64) {
    let want = node.call(
        "getblockheader",
        json!([node.call("getblockhash", json!([height])), false]),
    );
    eventually(Duration::from_secs(60), "server at the node's tip", || {
        let tip = c.result("blockchain.headers.subscribe", json!([]));
        (tip["height"] == json!(height) && tip["hex"] == want).then_some(())
    });
}

/// Every item of a paged keva list (`get_keyvalues` / `get_hashtag`), newest first.
pub fn all_pages(c: &mut TcpClient, method: &str, sh: &str, field: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut start = json!(-1);
    loop {
        let page = c.result(method, json!([sh, start]));
        let list = page[field].as_array().expect("a list").clone();
        if list.is_empty() {
            return items;
        }
        let min = page["min_tx_num"].clone();
        assert!(
            start == json!(-1) || min.as_i64() < start.as_i64(),
            "{method}: min_tx_num must decrease ({start} then {min})"
        );
        items.extend(list);
        start = min;
    }
}

/// A namespace's state from the server's `get_keyvalues` history, replayed oldest first the
/// way the node applies it: key → (value, txid, height). A registration sets the node's
/// display-name key `_KEVA_NS_`.
pub fn server_keva_state(c: &mut TcpClient, ns: &str) -> BTreeMap<Vec<u8>, (Vec<u8>, String, i64)> {
    let mut items = all_pages(
        c,
        "blockchain.keva.get_keyvalues",
        &namespace_sh(ns),
        "keyvalues",
    );
    items.reverse();
    let mut state = BTreeMap::new();
    for item in items {
        let txid = item["tx_hash"].as_str().unwrap().to_string();
        let height = item["height"].as_i64().unwrap();
        match item["type"].as_str().unwrap() {
            "REG" => {
                state.insert(b"_KEVA_NS_".to_vec(), (b64(&item["key"]), txid, height));
            }
            "PUT" => {
                state.insert(b64(&item["key"]), (b64(&item["value"]), txid, height));
            }
            "DEL" => {
                state.remove(&b64(&item["key"]));
            }
            other => panic!("unexpected keva item type {other}: {item}"),
        }
    }
    state
}

/// Every table of an index file, each as its rows in key order (values as text), for
/// comparing two indexes of the same chain.
pub fn index_tables(db: &Path) -> BTreeMap<String, Vec<Vec<String>>> {
    let conn = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap_or_else(|e| panic!("open {}: {e}", db.display()));
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    names
        .into_iter()
        .map(|t| {
            let n = conn
                .prepare(&format!("SELECT * FROM \"{t}\""))
                .unwrap()
                .column_count();
            let order: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT * FROM \"{t}\" ORDER BY {}",
                    order.join(",")
                ))
                .unwrap();
            let rows: Vec<Vec<String>> = stmt
                .query_map([], |r| {
                    (0..n)
                        .map(|i| {
                            Ok(match r.get_ref(i)? {
                                rusqlite::types::ValueRef::Null => "NULL".to_string(),
                                rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                                rusqlite::types::ValueRef::Real(v) => v.to_string(),
                                rusqlite::types::ValueRef::Text(v) => {
                                    format!("'{}'", String::from_utf8_lossy(v))
                                }
                                rusqlite::types::ValueRef::Blob(v) => {
                                    format!("x'{}'", keva_electrum::chain::hash::to_hex(v))
                                }
                            })
                        })
                        .collect()
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            (t, rows)
        })
        .collect()
}

/// Stops two servers and asserts their indexes hold the same rows in every table.
pub fn assert_same_index_of(a: &mut Server, b: &mut Server) {
    a.proc.terminate();
    b.proc.terminate();
    assert_same_index(&a.db.join("index.db"), &b.db.join("index.db"));
}

/// Asserts two index files hold the same rows in every table, naming the first difference.
pub fn assert_same_index(a: &Path, b: &Path) {
    let (ta, tb) = (index_tables(a), index_tables(b));
    assert_eq!(
        ta.keys().collect::<Vec<_>>(),
        tb.keys().collect::<Vec<_>>(),
        "the two indexes have different tables"
    );
    for (name, rows_a) in &ta {
        let rows_b = &tb[name];
        if let Some(i) =
            (0..rows_a.len().max(rows_b.len())).find(|&i| rows_a.get(i) != rows_b.get(i))
        {
            panic!(
                "table {name} differs ({} rows vs {}): first at row {i}: {:?} vs {:?}",
                rows_a.len(),
                rows_b.len(),
                rows_a.get(i),
                rows_b.get(i)
            );
        }
    }
}
