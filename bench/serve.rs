//! Serving benchmark: the real `keva-electrum` binary against `keva-devnode` (mainnet-shaped
//! chain), loaded by closed-loop clients over TCP on loopback.
//!
//! `cargo bench --bench serve`. Reports, for 100 and 1,000 concurrent clients mixing
//! `get_balance`, `get_history`, `listunspent` and `subscribe` on small histories: requests/s,
//! p50/p99 latency, server RSS; large histories (a mining pool's address, >= 100,000 entries)
//! on their own and while small clients measure their p99; and the RSS of 10,000 idle
//! connections. Knobs: KEVA_BENCH_BLOCKS (default 300,000: the largest pool address then has
//! about 105,000 entries), KEVA_BENCH_SECONDS per phase (default 8), KEVA_BENCH_IDLE (default
//! 10,000). Client and server share the machine's cores, so the client's own cost is included.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use keva_electrum::chain::address::script_to_address;
use keva_electrum::chain::hash::hash160;
use keva_electrum::chain::script::{scripthash, scripthash_to_hex};
use keva_electrum::chain::Network;
use keva_electrum::devnode::generator::pool_scripts;
use serde_json::{json, Value};

const SEED: u64 = 7;
const METHODS: [&str; 4] = [
    "blockchain.scripthash.get_balance",
    "blockchain.scripthash.get_history",
    "blockchain.scripthash.listunspent",
    "blockchain.scripthash.subscribe",
];

fn main() {
    let blocks = env_u32("KEVA_BENCH_BLOCKS", 300_000);
    let seconds = env_u32("KEVA_BENCH_SECONDS", 8) as u64;
    let idle = env_u32("KEVA_BENCH_IDLE", 10_000) as usize;
    println!("serve benchmark: {blocks} mainnet-shaped blocks (seed {SEED}), {seconds}s per phase");

    let t = Instant::now();
    let (_node, url) = start_devnode_binary(blocks, "mainnet", SEED);
    let small = fund_small_addresses(&url, 200);
    println!("  stand-in node ready in {:.1}s", t.elapsed().as_secs_f64());

    let dir = TempDir::new("serve");
    let t = Instant::now();
    // KEVA_BENCH_SERVER_ENV="WORKERS=4,…" passes more settings through to the server.
    let extra_env = std::env::var("KEVA_BENCH_SERVER_ENV").unwrap_or_default();
    let mut env: Vec<(&str, &str)> = extra_env
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    env.extend([
        ("MAX_SESSIONS", "20000"),
        // The largest pool history is over ElectrumX's 101,010-entry limit at 10 MB.
        ("MAX_SEND", "40000000"),
        // One IP runs every client: pooled per-subnet cost accounting would throttle it.
        ("COST_SOFT_LIMIT", "0"),
        ("COST_HARD_LIMIT", "0"),
    ]);
    let (mut server, addr) = start_server_nofile(&url, &dir.0, &env);
    server.wait_for("serving tcp on", Duration::from_secs(1800));
    println!(
        "  server synced and serving in {:.1}s; RSS {:.1} MB",
        t.elapsed().as_secs_f64(),
        mb(rss(server.pid()))
    );

    let pools: Vec<String> = pool_scripts(SEED)
        .iter()
        .map(|(s, _)| scripthash_to_hex(&scripthash(s)))
        .collect();
    // First, while the heap holds only what the sync left: what idle sessions cost.
    idle_connections(addr, idle, server.pid());

    let mut probe = Client::connect(addr).expect("connect");
    let large = pools[0].clone();
    let entries = probe.call("blockchain.scripthash.get_history", json!([large]))["result"]
        .as_array()
        .map_or(0, Vec::len);
    println!("  large history: pool address with {entries} entries");

    let duration = Duration::from_secs(seconds);
    for clients in [100usize, 1000] {
        let r = run_mixed(addr, clients, &small, duration, server.pid());
        r.print(&format!("{clients} clients, small histories"));
    }
    let alone = run_mixed(
        addr,
        2,
        std::slice::from_ref(&large),
        duration,
        server.pid(),
    );
    alone.print("2 clients, large history only");
    let stop_large = Arc::new(AtomicBool::new(false));
    let large_lat = Arc::new(Mutex::new(Vec::new()));
    let background: Vec<_> = (0..2)
        .map(|i| {
            let (stop, lat, large) = (stop_large.clone(), large_lat.clone(), large.clone());
            std::thread::spawn(move || {
                let mut c = Client::connect(addr).expect("connect");
                let mut n = i;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let r = c.call(METHODS[n % 3], json!([large]));
                    assert!(r.get("error").is_none(), "{r}");
                    lat.lock().unwrap().push(t.elapsed());
                    n += 1;
                }
            })
        })
        .collect();
    let mixed = run_mixed(addr, 100, &small, duration, server.pid());
    stop_large.store(true, Ordering::Relaxed);
    for b in background {
        let _ = b.join();
    }
    mixed.print("100 small clients while 2 clients fetch the large history");
    let mut l = large_lat.lock().unwrap().clone();
    l.sort();
    println!(
        "    large requests meanwhile: {} done, p50 {:.1} ms, p99 {:.1} ms",
        l.len(),
        ms(percentile(&l, 50.0)),
        ms(percentile(&l, 99.0))
    );

    server.terminate();
}

/// Pays 1 KVA to `n` fresh addresses and mines them: small histories of one entry each.
fn fund_small_addresses(url: &str, n: usize) -> Vec<String> {
    let agent = ureq::agent();
    let call = |method: &str, params: Value| -> Value {
        let body = json!({"jsonrpc": "1.0", "id": 1, "method": method, "params": params});
        agent
            .post(url)
            .send_json(body)
            .expect("node call")
            .into_json::<Value>()
            .expect("node JSON")["result"]
            .clone()
    };
    let mut out = Vec::new();
    for i in 0..n {
        let h = hash160(format!("bench small {i}").as_bytes());
        let script = [&[0x76, 0xa9, 0x14][..], &h, &[0x88, 0xac]].concat();
        let addr = script_to_address(&script, Network::Regtest).unwrap();
        let txid = call("dev_pay", json!([addr, 100_000_000]));
        assert!(txid.is_string(), "dev_pay failed for {addr}");
        out.push(scripthash_to_hex(&scripthash(&script)));
    }
    call("dev_mine", json!([1]));
    out
}

/// Starts the server with its open-file limit raised (10,000 idle connections need it).
fn start_server_nofile(
    url: &str,
    db: &std::path::Path,
    extra: &[(&str, &str)],
) -> (Proc, SocketAddr) {
    let port = free_port();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -n 30000 2>/dev/null || ulimit -n $(ulimit -Hn); exec \"$0\"")
        .arg(env!("CARGO_BIN_EXE_keva-electrum"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("COIN", "Kevacoin")
        .env("NET", "regtest")
        .env("DB_DIRECTORY", db)
        .env("DAEMON_URL", url)
        .env("SERVICES", format!("tcp://127.0.0.1:{port}"))
        .env("PEER_DISCOVERY", "off");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    (Proc::spawn(cmd), SocketAddr::from(([127, 0, 0, 1], port)))
}

struct Report {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    peak_rss: u64,
}

impl Report {
    fn print(&self, what: &str) {
        println!("  {what}:");
        println!(
            "    {} requests in {:.1}s: {:.0} req/s; p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms; \
             errors {}; server peak RSS {:.1} MB",
            self.requests,
            self.elapsed.as_secs_f64(),
            self.requests as f64 / self.elapsed.as_secs_f64(),
            ms(percentile(&self.latencies, 50.0)),
            ms(percentile(&self.latencies, 99.0)),
            ms(self.latencies.last().copied().unwrap_or_default()),
            self.errors,
            mb(self.peak_rss)
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `clients` closed-loop connections, each cycling through the four methods over `targets`.
fn run_mixed(
    addr: SocketAddr,
    clients: usize,
    targets: &[String],
    duration: Duration,
    pid: u32,
) -> Report {
    let sampler = RssWatch::start(pid);
    let targets = targets.to_vec();
    let load = closed_loop(
        clients,
        duration,
        move || Client::connect(addr).expect("connect"),
        move |c, n| {
            let target = &targets[n % targets.len()];
            let r = c.call(METHODS[n % METHODS.len()], json!([target]));
            r.get("error").is_none()
        },
    );
    Report {
        requests: load.requests,
        errors: load.errors,
        elapsed: load.elapsed,
        latencies: load.latencies,
        peak_rss: sampler.peak(),
    }
}

/// Opens `n` connections that each make one round trip and then stay idle; reports the RSS.
fn idle_connections(addr: SocketAddr, n: usize, pid: u32) {
    let limit = open_file_limit();
    let n = if (n as u64) + 100 > limit {
        let m = limit.saturating_sub(100) as usize;
        println!("  NOTE: open-file limit {limit}: holding {m} idle connections instead of {n}");
        m
    } else {
        n
    };
    let before = rss(pid);
    let t = Instant::now();
    let mut held: Vec<TcpStream> = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).expect("connect an idle client");
        use std::io::{BufRead, BufReader, Write};
        s.write_all(b"{\"id\":1,\"method\":\"server.ping\",\"params\":[]}\n")
            .unwrap();
        let mut line = String::new();
        BufReader::new(&mut s).read_line(&mut line).unwrap();
        assert!(line.contains("\"result\":null"), "{line}");
        held.push(s);
    }
    std::thread::sleep(Duration::from_secs(2));
    let after = rss(pid);
    println!(
        "  {n} idle connections opened in {:.1}s: server RSS {:.1} MB (was {:.1} MB; {:.1} KB per connection)",
        t.elapsed().as_secs_f64(),
        mb(after),
        mb(before),
        (after.saturating_sub(before)) as f64 / 1024.0 / n as f64
    );
    drop(held);
}

/// The soft open-file limit of this process.
fn open_file_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_string))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}
