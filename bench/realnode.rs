//! Initial sync from the real kevacoind (Kevacoin Core 0.16.9, regtest), both ways.
//!
//! `cargo bench --bench realnode`. A 1,000-block regtest chain with payments and keva activity
//! is mined by the real node once and cached in `target/tmp/kevacoind-chains/` (about five
//! minutes the first time). Then, in one run on one node:
//! - the node's own capacity: 4 threads calling `getblock HASH 0` over every block (the node
//!   re-hashes each block's proof of work before answering: that is the ceiling for RPC);
//! - the real `keva-electrum` binary syncing the chain from scratch from the node's block files,
//!   over RPC with `DAEMON_PARALLELISM` parallel calls (default 4), and over RPC one call at a
//!   time (`DAEMON_PARALLELISM=1`, the path before parallel fetching);
//! - every table of the three index files compared.
//!
//! Reports blocks/s and tx/s (sync time as the server logs it, and wall time from start to
//! serving), peak RSS, and the targets: files ≥ 100 × single RPC, parallel RPC ≥ 90 % of the
//! node's capacity, identical index both ways. Numbers are noisy while other jobs share the
//! cores: the load average is printed beside them.

#[path = "../tests/kevacoind_util/mod.rs"]
mod kevacoind_util;

use std::time::{Duration, Instant};

use keva_electrum::chain::address::script_to_address;
use keva_electrum::chain::Network;
use kevacoind_util::*;
use serde_json::{json, Value};

/// Height of the benchmark chain's tip.
const BLOCKS: u64 = 1_000;
/// Parallel `getblock` callers of the node-capacity measure (kevacoind's default rpcthreads).
const CALLERS: usize = 4;

fn main() {
    println!("initial sync from the real kevacoind, load {}", load());
    let chain = cached("bench", 1, bench_recipe);
    let node = chain.node(Auth::Password);
    let tip = node.height();
    let txs = node.call("getchaintxstats", json!([]))["txcount"]
        .as_u64()
        .unwrap();
    println!(
        "chain: {} blocks, {txs} transactions ({}), node {}",
        tip + 1,
        chain.datadir.display(),
        kevacoind_binary().display()
    );

    let capacity = node_capacity(&node);
    println!(
        "node capacity, {CALLERS} parallel getblock callers: {:.1} blocks/s, {:.0} tx/s (load {})",
        capacity,
        capacity * txs as f64 / (tip + 1) as f64,
        load()
    );

    let runs = [
        ("block files", vec![]),
        ("RPC, DAEMON_PARALLELISM=4", vec![("BLOCK_FILES", "off")]),
        (
            "RPC, DAEMON_PARALLELISM=1",
            vec![("BLOCK_FILES", "off"), ("DAEMON_PARALLELISM", "1")],
        ),
    ];
    let results: Vec<Run> = runs
        .iter()
        .map(|(label, env)| {
            let r = sync(&node, env);
            r.print(label);
            r
        })
        .collect();

    let (files, parallel, single) = (&results[0], &results[1], &results[2]);
    let speedup = files.blocks_per_s() / single.blocks_per_s();
    let share = parallel.blocks_per_s() / capacity;
    println!("targets:");
    println!(
        "  block files / single RPC: {speedup:.0}× (target ≥ 100×): {}",
        verdict(speedup >= 100.0)
    );
    println!(
        "  parallel RPC / node capacity: {:.0} % (target ≥ 90 %): {}",
        share * 100.0,
        verdict(share >= 0.9)
    );
    for other in [parallel, single] {
        assert_same_index(&files.db(), &other.db());
    }
    println!("  the three indexes are identical, table by table: met");
    println!("load at the end: {}", load());
}

/// One sync of the whole chain into a new index.
struct Run {
    dir: TempDir,
    /// The server's own figure: from the start of the initial sync to the tip.
    sync_secs: f64,
    /// From starting the process until it serves.
    wall_secs: f64,
    blocks: u64,
    txs: u64,
    peak_rss: u64,
}

impl Run {
    fn db(&self) -> std::path::PathBuf {
        self.dir.path().join("index.db")
    }

    fn blocks_per_s(&self) -> f64 {
        self.blocks as f64 / self.sync_secs
    }

    fn print(&self, label: &str) {
        println!(
            "{label}: {} blocks, {} txs in {:.2}s: {:.1} blocks/s, {:.0} tx/s; start to serving \
             {:.2}s; peak RSS {:.1} MB (load {})",
            self.blocks,
            self.txs,
            self.sync_secs,
            self.blocks_per_s(),
            self.txs as f64 / self.sync_secs,
            self.wall_secs,
            self.peak_rss as f64 / MB as f64,
            load()
        );
    }
}

fn sync(node: &Kevacoind, env: &[(&'static str, &str)]) -> Run {
    let dir = TempDir::new("realnode-bench");
    let mut vars = env.to_vec();
    let db_dir = dir.path().display().to_string();
    vars.push(("DB_DIRECTORY", &db_dir));
    let started = Instant::now();
    let mut server = spawn_server_for(node, &vars);
    let rss = RssWatch::start(server.proc.pid());
    server
        .proc
        .wait_for("serving tcp on", Duration::from_secs(3600));
    let wall_secs = started.elapsed().as_secs_f64();
    let peak_rss = rss.peak();
    drop(rss);
    let log = server.proc.log();
    let sync_secs = log
        .lines()
        .find_map(|l| {
            let rest = l.split("index at the node's tip, height ").nth(1)?;
            rest.split(" (")
                .nth(1)?
                .strip_suffix("s)")?
                .parse::<f64>()
                .ok()
        })
        .unwrap_or_else(|| panic!("no sync time in the server's log:\n{log}"));
    server.proc.terminate();
    let (height, txs) = index_counts(&dir.path().join("index.db"));
    assert_eq!(height, node.height(), "the index reached the node's tip");
    Run {
        dir,
        sync_secs,
        wall_secs,
        blocks: height + 1,
        txs,
        peak_rss,
    }
}

/// (height, transactions) of an index file.
fn index_counts(db: &std::path::Path) -> (u64, u64) {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the index");
    let (height, txs): (i64, i64) = conn
        .query_row("SELECT height, next_tx_num FROM sync_state", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("read sync_state");
    (height as u64, txs as u64)
}

/// Blocks per second the node serves to [`CALLERS`] threads asking `getblock HASH 0` for every
/// block of its chain, each thread a share of the heights.
fn node_capacity(node: &Kevacoind) -> f64 {
    let hashes = node.hashes();
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..CALLERS {
            let hashes = &hashes;
            s.spawn(move || {
                for hash in hashes.iter().skip(t).step_by(CALLERS) {
                    let hex = node.call("getblock", json!([hash, 0]));
                    assert!(hex.as_str().is_some_and(|h| h.len() > 300));
                }
            });
        }
    });
    hashes.len() as f64 / started.elapsed().as_secs_f64()
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}

/// The 1-, 5- and 15-minute load averages.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The benchmark chain: 110 blocks to mature coinbases, eight namespaces, then blocks up to
/// height [`BLOCKS`], each with four payments to outside addresses and two to the wallet's own,
/// a keva post with two hashtags, every fourth a reply, share or like, every 25th a delete.
fn bench_recipe(node: &Kevacoind) -> Value {
    node.mine(110);
    let kinds = ["legacy", "p2sh-segwit", "bech32"];
    let own: Vec<String> = (0..12).map(|i| node.new_address(kinds[i % 3])).collect();
    let outside: Vec<String> = (0..40)
        .map(|i| {
            script_to_address(&test_script(&format!("bench payee {i}")), Network::Regtest).unwrap()
        })
        .collect();
    let namespaces: Vec<String> = (0..8)
        .map(|i| node.keva_namespace(&format!("Author {i}")).1)
        .collect();
    node.mine(1);
    let tags = ["kevacoin", "rust", "news", "art", "music", "sport"];
    let mut posts: Vec<String> = Vec::new();
    let mut height = node.height();
    let mut amount: u64 = 1_234_567;
    while height < BLOCKS {
        let h = height as usize + 1;
        for i in 0..6 {
            amount = amount * 7_919 % 97_000_000 + 1_000_000;
            let to = if i < 4 {
                &outside[(h * 4 + i) % outside.len()]
            } else {
                &own[(h * 2 + i) % own.len()]
            };
            node.pay(to, amount);
        }
        let ns = &namespaces[h % namespaces.len()];
        let text = format!(
            "Post {h} about #{} and #{}: {}",
            tags[h % tags.len()],
            tags[(h / tags.len()) % tags.len()],
            "ünïcode text ".repeat(h % 20)
        );
        posts.push(node.keva_put(ns, &format!("post-{h}"), &text));
        if h % 4 == 0 && posts.len() > 2 {
            let kind = [Reaction::Reply, Reaction::Share, Reaction::Like][(h / 4) % 3];
            let from = &namespaces[(h + 3) % namespaces.len()];
            let target = &posts[posts.len() - 2];
            let tip = if kind == Reaction::Like { COIN / 10 } else { 0 };
            node.send_raw(&node.keva_react_tx(
                from,
                kind,
                target,
                &format!("re {h} #kevacoin"),
                tip,
            ));
        }
        if h % 25 == 0 && h > 150 {
            node.keva_delete(ns, &format!("post-{}", h - namespaces.len()));
        }
        node.mine(1);
        height += 1;
        if height % 100 == 0 {
            eprintln!("  mined {height} of {BLOCKS} blocks");
        }
    }
    json!({"namespaces": namespaces, "posts": posts.len()})
}
