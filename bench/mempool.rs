//! Mempool benchmark: the real `keva-electrum` binary polling an in-process stand-in node over
//! HTTP.
//!
//! `cargo bench --bench mempool`. Reports:
//! - notification latency: time from the node accepting a payment to the subscribed client
//!   receiving the scripthash notification, p50/p99 over 1,000 payments (one every 20 ms), at
//!   the default poll interval (1,000 ms) and at 200 ms;
//! - a 50,000-transaction mempool: time for the server's first full refresh, server RSS, the
//!   CPU cost of a steady-state poll, and the time to confirm them all in one block.
//!
//! Knobs: KEVA_BENCH_PAYMENTS (default 1,000), KEVA_BENCH_MEMPOOL (default 50,000).

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use keva_electrum::chain::hash::{hash160, hash_to_hex};
use keva_electrum::chain::script::{scripthash, scripthash_to_hex};
use keva_electrum::chain::{Hash32, OutPoint, Transaction, TxIn, TxOut};
use keva_electrum::devnode::{DevNode, DevNodeConfig};
use serde_json::{json, Value};

const OUTPUT_VALUE: u64 = 1_000_000;
const FEE: u64 = 2_000;

fn main() {
    let payments = env_u32("KEVA_BENCH_PAYMENTS", 1_000) as usize;
    let mempool = env_u32("KEVA_BENCH_MEMPOOL", 50_000) as usize;
    println!("mempool benchmark: {payments} payments for latency, a {mempool}-tx mempool");
    let node = DevNode::start(DevNodeConfig {
        blocks: 300,
        seed: 7,
        ..DevNodeConfig::default()
    })
    .expect("the stand-in starts");
    let funder = script("bench funder");
    let latency_coins = fund(&node, &funder, 2 * payments);
    let bulk_coins = fund(&node, &funder, mempool);

    for (run, poll_ms) in [(0usize, 1000u32), (1, 200)] {
        let coins = &latency_coins[run * payments..(run + 1) * payments];
        latency(&node, coins, poll_ms, run);
    }
    big_mempool(&node, &bulk_coins);
}

fn script(label: &str) -> Vec<u8> {
    let h = hash160(label.as_bytes());
    [&[0x76, 0xa9, 0x14][..], &h, &[0x88, 0xac]].concat()
}

/// Outputs of `OUTPUT_VALUE` to `owner`, made by the node's wallet 1,000 per transaction.
fn fund(node: &DevNode, owner: &[u8], n: usize) -> Vec<OutPoint> {
    let mut coins = Vec::with_capacity(n);
    while coins.len() < n {
        let k = (n - coins.len()).min(1000);
        let txid = node
            .with_state(|s| {
                let outputs = (0..k)
                    .map(|_| TxOut {
                        value: OUTPUT_VALUE,
                        script_pubkey: owner.to_vec(),
                    })
                    .collect();
                let built = s.wallet.pay(outputs)?;
                s.submit(built.tx.clone()).map_err(|r| r.message)?;
                Ok::<Hash32, String>(built.txid)
            })
            .expect("the wallet funds the benchmark");
        coins.extend((0..k as u32).map(|vout| OutPoint { txid, vout }));
        // One funding transaction per block keeps the stand-in's output lookups cheap.
        node.mine(1);
    }
    coins
}

fn pay(coin: OutPoint, to: &[u8]) -> Transaction {
    Transaction {
        version: 2,
        inputs: vec![TxIn {
            prevout: coin,
            script_sig: vec![0x51],
            sequence: 0xffff_ffff,
            witness: Vec::new(),
        }],
        outputs: vec![TxOut {
            value: OUTPUT_VALUE - FEE,
            script_pubkey: to.to_vec(),
        }],
        lock_time: 0,
    }
}

fn start(node: &DevNode, poll_ms: u32) -> (TempDir, Proc, std::net::SocketAddr) {
    let dir = TempDir::new(&format!("mempool-{poll_ms}"));
    let (mut server, addr) = start_server(
        &node.url(),
        &dir.0,
        &[
            ("MEMPOOL_POLL_MS", &poll_ms.to_string()),
            ("COST_SOFT_LIMIT", "0"),
            ("COST_HARD_LIMIT", "0"),
        ],
    );
    server.wait_for("serving tcp on", Duration::from_secs(300));
    (dir, server, addr)
}

/// One payment every 20 ms to a subscribed address; latency from acceptance to notification.
fn latency(node: &DevNode, coins: &[OutPoint], poll_ms: u32, run: usize) {
    let (_dir, mut server, addr) = start(node, poll_ms);
    let payees: Vec<Vec<u8>> = (0..coins.len())
        .map(|i| script(&format!("bench payee {run} {i}")))
        .collect();
    let index: HashMap<String, usize> = payees
        .iter()
        .enumerate()
        .map(|(i, s)| (scripthash_to_hex(&scripthash(s)), i))
        .collect();
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut batch = Vec::new();
    for (i, s) in payees.iter().enumerate() {
        batch.push(
            json!({"jsonrpc":"2.0","id":i,"method":"blockchain.scripthash.subscribe",
            "params":[scripthash_to_hex(&scripthash(s))]}),
        );
        if batch.len() == 100 || i + 1 == payees.len() {
            stream
                .write_all(format!("{}\n", Value::Array(std::mem::take(&mut batch))).as_bytes())
                .unwrap();
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            assert!(line.starts_with('['), "subscribe batch failed: {line}");
        }
    }
    let notified: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; payees.len()]));
    let listener = {
        let notified = notified.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while let Ok(n) = reader.read_line(&mut line) {
                if n == 0 {
                    break;
                }
                let now = Instant::now();
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if let Some(i) = v["params"][0].as_str().and_then(|s| index.get(s)) {
                        let mut n = notified.lock().unwrap();
                        if n[*i].is_none() {
                            n[*i] = Some(now);
                        }
                    }
                }
                line.clear();
            }
        })
    };
    let mut accepted = Vec::with_capacity(coins.len());
    for (coin, payee) in coins.iter().zip(&payees) {
        node.submit(pay(*coin, payee)).expect("the node accepts");
        accepted.push(Instant::now());
        std::thread::sleep(Duration::from_millis(20));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && notified.lock().unwrap().iter().any(Option::is_none) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = notified.lock().unwrap().clone();
    let mut lat: Vec<Duration> = got
        .iter()
        .zip(&accepted)
        .filter_map(|(n, a)| n.map(|n| n.saturating_duration_since(*a)))
        .collect();
    lat.sort();
    println!(
        "  notification latency, MEMPOOL_POLL_MS={poll_ms}: {} of {} notified; p50 {:.0} ms, \
         p99 {:.0} ms, max {:.0} ms",
        lat.len(),
        coins.len(),
        percentile(&lat, 50.0).as_secs_f64() * 1000.0,
        percentile(&lat, 99.0).as_secs_f64() * 1000.0,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
    );
    let _ = stream.shutdown(std::net::Shutdown::Both);
    server.terminate();
    let _ = listener.join();
    // Leave the mempool empty for the next phase.
    node.mine(1);
}

fn big_mempool(node: &DevNode, coins: &[OutPoint]) {
    let (_dir, mut server, addr) = start(node, 1000);
    let pid = server.pid();
    let mut c = Client::connect(addr).expect("connect");
    let rss_empty = rss(pid);
    let payees: Vec<Vec<u8>> = (0..coins.len())
        .map(|i| script(&format!("bulk payee {i}")))
        .collect();
    let txs: Vec<Transaction> = coins.iter().zip(&payees).map(|(c, p)| pay(*c, p)).collect();
    let sentinel = scripthash_to_hex(&scripthash(payees.last().unwrap()));
    let last_txid = hash_to_hex(&txs.last().unwrap().txid());
    let t = Instant::now();
    node.with_state(|s| {
        for tx in &txs {
            s.submit(tx.clone()).expect("the node accepts");
        }
    });
    let submit = t.elapsed();
    let sampler = RssWatch::start(pid);
    let t = Instant::now();
    loop {
        let r = c.call("blockchain.scripthash.get_mempool", json!([sentinel]));
        if r["result"][0]["tx_hash"] == last_txid {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "the mempool never filled"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let refresh = t.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let rss_full = rss(pid);
    let cpu0 = cpu_seconds(pid);
    let idle = Duration::from_secs(10);
    std::thread::sleep(idle);
    let polls = idle.as_secs_f64();
    let per_poll = (cpu_seconds(pid) - cpu0) / polls;
    let t = Instant::now();
    let histogram = c.call("mempool.get_fee_histogram", json!([]));
    let histogram_time = t.elapsed();
    println!(
        "  {}-tx mempool (node accepted them in {:.1}s):",
        txs.len(),
        submit.as_secs_f64()
    );
    println!(
        "    first refresh until the last tx is served: {:.2}s; server RSS {:.1} MB -> {:.1} MB (peak {:.1} MB)",
        refresh.as_secs_f64(),
        mb(rss_empty),
        mb(rss_full),
        mb(sampler.peak())
    );
    println!(
        "    steady state: {:.0} ms of server CPU per 1 s poll with nothing new; fee histogram \
         {} bins in {:.1} ms",
        per_poll * 1000.0,
        histogram["result"].as_array().map_or(0, Vec::len),
        histogram_time.as_secs_f64() * 1000.0
    );
    let t = Instant::now();
    node.mine(1);
    let height = node.height();
    loop {
        let r = c.call("blockchain.scripthash.get_history", json!([sentinel]));
        if r["result"][0]["height"] == height {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "the block never landed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "    one block confirming all of them: served as confirmed after {:.2}s; RSS {:.1} MB",
        t.elapsed().as_secs_f64(),
        mb(rss(pid))
    );
    server.terminate();
}
