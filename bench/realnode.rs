//! Initial sync from the real kevacoind (Kevacoin Core 0.16.9, regtest), both ways.
//!
//! `cargo bench --bench realnode`. A 1,000-block regtest chain with payments and keva activity
//! is mined by the real node once and cached in `target/tmp/kevacoind-chains/` (15 minutes the
//! first time on a busy 2-core machine). Then, in one run on one node:
//! - the node's own capacity: 4 threads asking `getblock HASH 0` for every block, in batches
//!   of 16 as the server asks (the node re-hashes each block's proof of work before answering:
//!   the ceiling for RPC), measured before and after the parallel RPC sync;
//! - the real `keva-electrum` binary syncing the chain from scratch from the node's block
//!   files, over RPC with 2 parallel calls (`DAEMON_PARALLELISM=2`, the default), with 4
//!   (kevacoind's `rpcthreads`), and one call at a time (`DAEMON_PARALLELISM=1`, the path
//!   before parallel fetching);
//! - every table of the four index files compared.
//!
//! Reports blocks/s and tx/s of the initial sync (from the index opened to the node's tip,
//! timed by the server's log lines as they arrive), the time from start to serving, the blocks
//! each source gave, the node's CPU time per block, peak RSS, and the targets: files ≥ 100 ×
//! single RPC, parallel RPC (the default) ≥ 90 % of the node's capacity, identical index both ways. Other
//! jobs on the cores move the figures: the load average is printed beside them.

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
/// Blocks per `getblock` batch of a caller (as the server asks them: fewer HTTP requests, and
/// the node answers a batch on one of its RPC threads).
const BATCH: usize = 16;

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

    // The node's capacity is measured before and after the parallel RPC syncs, which are
    // compared with their mean: other jobs on the machine move both.
    let files = sync(&node, "block files", &[]);
    let before = node_capacity(&node, "before the parallel RPC syncs");
    let parallel = sync(
        &node,
        "RPC, DAEMON_PARALLELISM=2 (the default)",
        &[("BLOCK_FILES", "off")],
    );
    let four = sync(
        &node,
        "RPC, DAEMON_PARALLELISM=4",
        &[("BLOCK_FILES", "off"), ("DAEMON_PARALLELISM", "4")],
    );
    let after = node_capacity(&node, "after them");
    let single = sync(
        &node,
        "RPC, DAEMON_PARALLELISM=1",
        &[("BLOCK_FILES", "off"), ("DAEMON_PARALLELISM", "1")],
    );
    let capacity = (before + after) / 2.0;
    println!(
        "node capacity, mean of the two: {capacity:.1} blocks/s, {:.0} tx/s",
        capacity * txs as f64 / (tip + 1) as f64,
    );

    let speedup = files.rate() / single.rate();
    let share = parallel.rate() / capacity;
    println!("targets:");
    println!(
        "  block files / single RPC: {speedup:.0}× (target ≥ 100×): {}",
        verdict(speedup >= 100.0)
    );
    println!(
        "  parallel RPC (the default, 2) / node capacity: {:.0} % (target ≥ 90 %): {}; with 4: \
         {:.0} %",
        share * 100.0,
        verdict(share >= 0.9),
        four.rate() / capacity * 100.0
    );
    for other in [&parallel, &four, &single] {
        assert_same_index(&files.db(), &other.db());
    }
    println!("  the four indexes are identical, table by table: met");
    println!("load at the end: {}", load());
}

/// One sync of the whole chain into a new index.
struct Run {
    dir: TempDir,
    /// The initial sync: from the index opened to the tip.
    sync_secs: f64,
    /// From starting the process until it serves.
    wall_secs: f64,
    blocks: u64,
    txs: u64,
    /// Blocks (from the block files, over RPC), as the server logs them.
    sources: (u64, u64),
    /// CPU time the node spent meanwhile.
    node_cpu: Duration,
    peak_rss: u64,
}

impl Run {
    fn db(&self) -> std::path::PathBuf {
        self.dir.path().join("index.db")
    }

    /// Blocks per second of the initial sync.
    fn rate(&self) -> f64 {
        self.blocks as f64 / self.sync_secs
    }

    fn print(&self, label: &str) {
        println!(
            "{label}: {} blocks, {} txs synced in {:.3}s: {:.1} blocks/s, {:.0} tx/s; start to \
             serving {:.3}s; {} blocks from the files, {} over RPC; node CPU {:.1}s ({:.1} ms a \
             block, busy {:.0} % of the sync); peak RSS {:.1} MB (load {})",
            self.blocks,
            self.txs,
            self.sync_secs,
            self.rate(),
            self.txs as f64 / self.sync_secs,
            self.wall_secs,
            self.sources.0,
            self.sources.1,
            self.node_cpu.as_secs_f64(),
            self.node_cpu.as_secs_f64() * 1e3 / self.blocks as f64,
            self.node_cpu.as_secs_f64() * 100.0 / self.sync_secs,
            self.peak_rss as f64 / MB as f64,
            load()
        );
    }
}

fn sync(node: &Kevacoind, label: &str, env: &[(&'static str, &str)]) -> Run {
    let dir = TempDir::new("realnode-bench");
    let mut vars = env.to_vec();
    let db_dir = dir.path().display().to_string();
    vars.push(("DB_DIRECTORY", &db_dir));
    let (started, cpu) = (Instant::now(), node.cpu_time());
    let mut server = spawn_server_for(node, &vars);
    let rss = RssWatch::start(server.proc.pid());
    // The initial sync runs from the index being opened to the tip; timed here from the log
    // lines as they arrive (the server's own figure has a tenth of a second's resolution).
    let sync_start = arrival(&mut server, "at height -1");
    let sync_end = arrival(&mut server, "index at the node's tip");
    arrival(&mut server, "serving tcp on");
    let wall_secs = started.elapsed().as_secs_f64();
    let sync_secs = (sync_end - sync_start).as_secs_f64();
    let node_cpu = node.cpu_time() - cpu;
    let peak_rss = rss.peak();
    drop(rss);
    let sources = block_sources(&server);
    server.proc.terminate();
    let (height, txs) = index_counts(&dir.path().join("index.db"));
    assert_eq!(height, node.height(), "the index reached the node's tip");
    let run = Run {
        dir,
        sync_secs,
        wall_secs,
        blocks: height + 1,
        txs,
        sources,
        node_cpu,
        peak_rss,
    };
    run.print(label);
    run
}

/// When a log line holding `needle` arrived (polled every millisecond).
fn arrival(server: &mut Server, needle: &str) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(3600);
    while !server.proc.logged(needle) {
        server.proc.assert_alive();
        assert!(
            Instant::now() < deadline,
            "no {needle:?}:\n{}",
            server.proc.log()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    Instant::now()
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
/// block of its chain in batches of [`BATCH`], each thread a share of the batches; printed with
/// the node's CPU time.
fn node_capacity(node: &Kevacoind, when: &str) -> f64 {
    let hashes = node.hashes();
    let (started, cpu) = (Instant::now(), node.cpu_time());
    let batches: Vec<Vec<Value>> = hashes
        .chunks(BATCH)
        .map(|c| c.iter().map(|h| json!([h, 0])).collect())
        .collect();
    std::thread::scope(|s| {
        for t in 0..CALLERS {
            let batches = &batches;
            s.spawn(move || {
                for batch in batches.iter().skip(t).step_by(CALLERS) {
                    for hex in node.batch("getblock", batch) {
                        assert!(hex.as_str().is_some_and(|h| h.len() > 300));
                    }
                }
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    let cpu = (node.cpu_time() - cpu).as_secs_f64();
    let rate = hashes.len() as f64 / secs;
    println!(
        "node capacity {when}, {CALLERS} parallel callers of getblock batches of {BATCH}: {} \
         blocks in {secs:.2}s: {rate:.1} blocks/s; node CPU {cpu:.1}s ({:.1} ms a block, busy \
         {:.0} %) (load {})",
        hashes.len(),
        cpu * 1e3 / hashes.len() as f64,
        cpu * 100.0 / secs,
        load()
    );
    rate
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
