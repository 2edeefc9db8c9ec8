//! Keva page benchmark: `get_keyvalues` on a namespace with 10,000 keys and `get_hashtag` on a
//! hashtag with 10,000 posts by 100 namespaces (each with a profile, so every hashtag page
//! shows 25 different authors), 50 concurrent clients, served by the real `keva-electrum`
//! binary.
//!
//! `cargo bench --bench keva` (KEVA_BENCH_POSTS, KEVA_BENCH_CLIENTS, KEVA_BENCH_SECONDS change
//! the defaults 10,000 / 50 / 10). Reports requests/s and p50/p99 latency per method.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use keva_electrum::chain::keva::index_scripthash;
use keva_electrum::chain::script::scripthash_to_hex;
use keva_electrum::devnode::{DevNode, DevNodeConfig};
use serde_json::json;

fn main() {
    let posts = env_u32("KEVA_BENCH_POSTS", 10_000);
    let clients = env_u32("KEVA_BENCH_CLIENTS", 50);
    let seconds = env_u32("KEVA_BENCH_SECONDS", 10);
    let authors = 100;
    println!(
        "keva benchmark: {posts} keys in one namespace; {posts} posts tagged #benchtag by \
         {authors} namespaces; {clients} clients, {seconds}s per method"
    );

    let t = Instant::now();
    let node = DevNode::start(DevNodeConfig {
        blocks: 110,
        seed: 3,
        ..DevNodeConfig::default()
    })
    .expect("start the stand-in");
    let (_, ns) = node.keva_namespace("bench").expect("register a namespace");
    node.mine(1);
    let mut writers = Vec::new();
    for a in 0..authors {
        let (_, author) = node
            .keva_namespace(&format!("author {a}"))
            .expect("register an author");
        writers.push(author);
    }
    node.mine(1);
    for (a, author) in writers.iter().enumerate() {
        let profile = format!("{{\"displayName\":\"Author {a}\"}}");
        node.keva_put(author, b"\x01_KEVA_NS_", profile.as_bytes())
            .expect("profile");
    }
    node.mine(1);
    for i in 0..posts {
        let key = format!("key {i}");
        let value = format!("value number {i}");
        node.keva_put(&ns, key.as_bytes(), value.as_bytes())
            .expect("keva put");
        // Consecutive posts come from different authors, as on a busy tag.
        let author = &writers[i as usize % writers.len()];
        let post = format!("post number {i} about #benchtag");
        node.keva_put(author, format!("post {i}").as_bytes(), post.as_bytes())
            .expect("keva post");
        if i % 50 == 49 {
            node.mine(1);
        }
    }
    node.mine(1);
    println!(
        "  chain built in {:.1}s: height {}",
        t.elapsed().as_secs_f64(),
        node.height()
    );

    let dir = TempDir::new("keva");
    // Capacity, not the cost policy: each client asks ~100 pages a second, which the cost
    // limits would (rightly) slow down as abuse within seconds, as in the serve benchmark.
    let (mut server, addr) = start_server(
        &node.url(),
        &dir.0,
        &[("COST_SOFT_LIMIT", "0"), ("COST_HARD_LIMIT", "0")],
    );
    server.wait_for("serving tcp", Duration::from_secs(600));
    let sampler = RssWatch::start(server.pid());

    let ns_sh = scripthash_to_hex(&index_scripthash(&ns));
    let tag_sh = scripthash_to_hex(&index_scripthash(b"benchtag"));
    // Page anchors, so clients ask for pages all through the history, not just the first.
    let anchors = page_anchors(addr, "blockchain.keva.get_keyvalues", &ns_sh, "keyvalues");
    let tag_anchors = page_anchors(addr, "blockchain.keva.get_hashtag", &tag_sh, "hashtags");
    println!(
        "  {} pages of key-values, {} pages of the hashtag",
        anchors.len(),
        tag_anchors.len()
    );
    for (method, sh, anchors) in [
        ("blockchain.keva.get_keyvalues", &ns_sh, &anchors),
        ("blockchain.keva.get_hashtag", &tag_sh, &tag_anchors),
    ] {
        let (count, lat) = load(addr, method, sh, anchors, clients, seconds);
        println!(
            "  {method}: {:.0} requests/s, p50 {:.1} ms, p99 {:.1} ms ({count} requests)",
            count as f64 / f64::from(seconds),
            percentile(&lat, 50.0).as_secs_f64() * 1e3,
            percentile(&lat, 99.0).as_secs_f64() * 1e3,
        );
    }
    println!("  server peak RSS: {:.1} MB", mb(sampler.peak()));
    server.terminate();
}

/// Walks a paged history from the first page: the `start_tx_num` of every page.
fn page_anchors(addr: std::net::SocketAddr, method: &str, sh: &str, field: &str) -> Vec<i64> {
    let mut client = Client::connect(addr).expect("connect");
    let mut anchors = vec![-1i64];
    loop {
        let start = *anchors.last().unwrap();
        let reply = client.call(method, json!([sh, start]));
        let result = &reply["result"];
        let items = result[field].as_array().map_or(0, Vec::len);
        let next = result["min_tx_num"].as_i64().unwrap_or(-1);
        if items == 0 {
            anchors.pop();
            return anchors;
        }
        if next < 0 {
            return anchors;
        }
        anchors.push(next);
    }
}

/// `clients` threads asking random pages for `seconds`: (requests, sorted latencies).
fn load(
    addr: std::net::SocketAddr,
    method: &str,
    sh: &str,
    anchors: &[i64],
    clients: u32,
    seconds: u32,
) -> (usize, Vec<Duration>) {
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let deadline = Instant::now() + Duration::from_secs(u64::from(seconds));
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (latencies, anchors) = (latencies.clone(), anchors.to_vec());
            let (method, sh) = (method.to_string(), sh.to_string());
            std::thread::spawn(move || {
                let mut client = Client::connect(addr).expect("connect");
                let mut mine = Vec::new();
                let mut i = c as usize;
                while Instant::now() < deadline {
                    let start = anchors[i % anchors.len()];
                    i = i.wrapping_mul(31).wrapping_add(7);
                    let t = Instant::now();
                    // Unparsed: the load generator shares the two cores with the server.
                    let reply = client.call_raw(&method, json!([sh, start]));
                    mine.push(t.elapsed());
                    assert!(reply.contains("\"result\":{"), "error reply: {reply}");
                }
                latencies.lock().unwrap().extend(mine);
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    let mut lat = Arc::try_unwrap(latencies).unwrap().into_inner().unwrap();
    lat.sort();
    (lat.len(), lat)
}
