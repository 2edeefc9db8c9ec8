//! Keva page benchmark: `get_keyvalues` and `get_hashtag` pages (25 items each) asked by 50
//! concurrent clients of the real `keva-electrum` binary, on two datasets:
//!
//! * `light`: a namespace with 10,000 short keys and a hashtag with 10,000 one-line posts by
//!   100 namespaces with small profiles, no reactions; clients ask at page boundaries.
//! * `real`, shaped like Kevacoin social use: post values of 100–3,000 bytes (most a few
//!   hundred; UTF-8 with multi-byte characters; several hashtags each), one post in ten
//!   popular with 5–50 replies, 5–20 shares and 5–50 likes, 400 authors with ~200-byte JSON
//!   profiles (25 different authors on every hashtag page), a namespace with 4,000 posts, and
//!   clients asking pages at random depths (random `start_tx_num`).
//!
//! `cargo bench --bench keva` runs both. `KEVA_BENCH_DATASET=light|real` runs one;
//! `KEVA_BENCH_CLIENTS` and `KEVA_BENCH_SECONDS` change the defaults 50 and 10. Reports per
//! method requests/s, p50/p99 latency and the server's CPU time per page; then the server's
//! peak RSS and a digest of every page walked in order (equal digests: byte-identical answers).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use keva_electrum::chain::hash::{sha256, to_hex};
use keva_electrum::chain::keva::index_scripthash;
use keva_electrum::chain::script::scripthash_to_hex;
use keva_electrum::chain::Hash32;
use keva_electrum::devnode::generator::Rng;
use keva_electrum::devnode::{DevNode, DevNodeConfig};
use serde_json::json;

fn main() {
    let clients = env_u32("KEVA_BENCH_CLIENTS", 50);
    let seconds = env_u32("KEVA_BENCH_SECONDS", 10);
    let which = std::env::var("KEVA_BENCH_DATASET").unwrap_or_default();
    println!(
        "keva benchmark: {clients} clients, {seconds}s per method; load average at start: {}",
        load_average()
    );
    if which.is_empty() || which == "light" {
        run(&light(), clients, seconds);
    }
    if which.is_empty() || which == "real" {
        run(&real(), clients, seconds);
    }
}

/// A chain built on the stand-in and what to ask of it.
struct Dataset {
    name: &'static str,
    node: DevNode,
    /// The namespace whose `get_keyvalues` pages are asked.
    namespace: Vec<u8>,
    /// The hashtag whose `get_hashtag` pages are asked.
    tag: &'static str,
    /// Whether clients ask pages at random depths (else at page boundaries).
    random_depths: bool,
}

fn run(data: &Dataset, clients: u32, seconds: u32) {
    let dir = TempDir::new("keva");
    // Capacity, not the cost policy: each client asks ~100 pages a second, which the cost
    // limits would (rightly) slow down as abuse within seconds, as in the serve benchmark.
    let t = Instant::now();
    let (mut server, addr) = start_server(
        &data.node.url(),
        &dir.0,
        &[("COST_SOFT_LIMIT", "0"), ("COST_HARD_LIMIT", "0")],
    );
    server.wait_for("serving tcp", Duration::from_secs(600));
    println!(
        "  [{}] indexed in {:.1}s",
        data.name,
        t.elapsed().as_secs_f64()
    );
    let sampler = RssWatch::start(server.pid());
    let (_, tx_count) = index_counts(&dir.db("index.db"));

    let mut digest = Vec::new();
    for (method, list, sh) in [
        (
            "blockchain.keva.get_keyvalues",
            "keyvalues",
            index_scripthash(&data.namespace),
        ),
        (
            "blockchain.keva.get_hashtag",
            "hashtags",
            index_scripthash(data.tag.as_bytes()),
        ),
    ] {
        let sh = scripthash_to_hex(&sh);
        let walk = walk(addr, method, &sh, list);
        digest.extend(walk.digest);
        let starts = if data.random_depths {
            let lowest = walk.anchors.last().copied().unwrap_or(1);
            let mut rng = Rng::new(7);
            (0..2000)
                .map(|_| lowest + 1 + rng.below((tx_count - lowest).max(1) as u64) as i64)
                .collect()
        } else {
            walk.anchors.clone()
        };
        let cpu = cpu_seconds(server.pid());
        let load = load(addr, method, &sh, &starts, clients, seconds);
        let cpu = cpu_seconds(server.pid()) - cpu;
        let (count, lat) = (load.requests, &load.latencies);
        println!(
            "  [{}] {method}: {} pages ({:.1} KB each, {} items per page); {:.0} requests/s, \
             p50 {:.1} ms, p99 {:.1} ms; server CPU {:.3} ms per page ({count} requests)",
            data.name,
            walk.anchors.len(),
            walk.bytes as f64 / walk.anchors.len().max(1) as f64 / 1024.0,
            walk.items / walk.anchors.len().max(1),
            count as f64 / load.elapsed.as_secs_f64(),
            percentile(lat, 50.0).as_secs_f64() * 1e3,
            percentile(lat, 99.0).as_secs_f64() * 1e3,
            cpu * 1e3 / count.max(1) as f64,
        );
        assert_eq!(load.errors, 0, "{method}: error replies");
    }
    println!(
        "  [{}] server peak RSS: {:.1} MB; answers digest {}; load average now: {}",
        data.name,
        mb(sampler.peak()),
        &to_hex(&sha256(&digest))[..16],
        load_average()
    );
    server.terminate();
}

/// Today's first dataset: short keys and values, no reactions, small profiles.
fn light() -> Dataset {
    let posts = 10_000;
    let authors = 100;
    let t = Instant::now();
    let node = start_node(3);
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
        let author = &writers[i % writers.len()];
        let post = format!("post number {i} about #benchtag");
        node.keva_put(author, format!("post {i}").as_bytes(), post.as_bytes())
            .expect("keva post");
        if i % 50 == 49 {
            node.mine(1);
        }
    }
    node.mine(1);
    println!(
        "light dataset: {posts} keys in one namespace; {posts} posts tagged #benchtag by \
         {authors} namespaces; chain built in {:.1}s: height {}",
        t.elapsed().as_secs_f64(),
        node.height()
    );
    Dataset {
        name: "light",
        node,
        namespace: ns,
        tag: "benchtag",
        random_depths: false,
    }
}

/// Authors of the real-shaped dataset.
const AUTHORS: usize = 400;
/// Posts carrying the benchmarked tag (each by a different author than its 24 neighbours).
const TAG_POSTS: usize = 10_000;
/// Posts of the one big namespace (`get_keyvalues`).
const BIG_POSTS: usize = 4_000;
/// New posts per block (with their reactions, blocks of ~50 transactions: the stand-in finds
/// a confirmed input by reading its whole block).
const POSTS_PER_BLOCK: usize = 6;
/// Reactions come within this many blocks of their post.
const REACTION_BLOCKS: u64 = 100;

/// A chain shaped like Kevacoin social use (see the file comment).
fn real() -> Dataset {
    let t = Instant::now();
    let node = start_node(11);
    let mut rng = Rng::new(11);
    let (_, big) = node.keva_namespace("Keva Daily 日报").expect("register");
    let mut authors = Vec::new();
    for a in 0..AUTHORS {
        let (_, ns) = node.keva_namespace(&name(&mut rng, a)).expect("register");
        authors.push(ns);
    }
    node.mine(1);
    for (a, ns) in authors.iter().enumerate() {
        node.keva_put(ns, b"\x01_KEVA_NS_", profile(&mut rng, a).as_bytes())
            .expect("profile");
    }
    node.keva_put(
        &big,
        b"\x01_KEVA_NS_",
        profile(&mut rng, AUTHORS).as_bytes(),
    )
    .expect("profile");
    node.mine(1);

    // Posts in chain order: tagged ones by rotating authors, the big namespace's in between.
    let total = TAG_POSTS + BIG_POSTS;
    let (mut tagged, mut own) = (0, 0);
    // Reactions waiting for a later block: (block due, reactor, kind, post, text).
    let mut pending: Vec<(usize, usize, u8, Hash32, Vec<u8>)> = Vec::new();
    let (mut txs, mut reactions) = (0usize, 0usize);
    let mut block = 0;
    while tagged + own < total || !pending.is_empty() {
        for _ in 0..POSTS_PER_BLOCK {
            if tagged + own == total {
                break;
            }
            let to_big = own < BIG_POSTS && rng.below(total as u64) < BIG_POSTS as u64;
            let (ns, tag) = if to_big || tagged == TAG_POSTS {
                own += 1;
                (&big, None)
            } else {
                tagged += 1;
                (&authors[(tagged * 37) % AUTHORS], Some("kevacoin"))
            };
            let (key, value) = post(&mut rng, tag);
            let txid = node.keva_put(ns, &key, &value).expect("post");
            txs += 1;
            for (kind, n) in reaction_counts(&mut rng) {
                for _ in 0..n {
                    let due = block + 1 + rng.below(REACTION_BLOCKS) as usize;
                    let text = match kind {
                        1 => {
                            let len = 20 + rng.below(380) as usize;
                            text(&mut rng, len, &[])
                        }
                        _ => Vec::new(),
                    };
                    let who = rng.below(AUTHORS as u64) as usize;
                    pending.push((due, who, kind, txid, text));
                }
            }
        }
        let (now, later): (Vec<_>, Vec<_>) = pending.into_iter().partition(|p| p.0 <= block);
        pending = later;
        for (_, who, kind, target, text) in now {
            node.keva_react(&authors[who], kind, &target, &text, None)
                .expect("reaction");
            reactions += 1;
        }
        node.mine(1);
        block += 1;
    }
    println!(
        "real dataset: {AUTHORS} authors with profiles; {TAG_POSTS} posts tagged #kevacoin, \
         {BIG_POSTS} posts in one namespace, {reactions} replies/shares/likes; chain built in \
         {:.1}s: height {}, {} keva txs",
        t.elapsed().as_secs_f64(),
        node.height(),
        txs + reactions + AUTHORS + 1,
    );
    Dataset {
        name: "real",
        node,
        namespace: big,
        tag: "kevacoin",
        random_depths: true,
    }
}

fn start_node(seed: u64) -> DevNode {
    DevNode::start(DevNodeConfig {
        blocks: 110,
        seed,
        ..DevNodeConfig::default()
    })
    .expect("start the stand-in")
}

/// Words posts are made of: ASCII, accented Latin, Cyrillic, CJK and emoji.
const WORDS: &[&str] = &[
    "keva",
    "the",
    "chain",
    "block",
    "today",
    "price",
    "news",
    "mining",
    "wallet",
    "great",
    "café",
    "naïve",
    "über",
    "señor",
    "привет",
    "мир",
    "блокчейн",
    "новости",
    "比特币",
    "区块链",
    "今天",
    "社区",
    "ニュース",
    "🚀",
    "🔥",
    "💎",
    "👍",
    "a",
    "of",
    "and",
    "to",
    "in",
    "is",
];
/// Further tags posts carry besides the benchmarked one.
const TAGS: &[&str] = &[
    "crypto",
    "news",
    "art",
    "music",
    "photo",
    "区块链",
    "блокчейн",
    "über",
    "defi",
    "nft",
    "mining",
    "dev",
    "meme",
    "life",
    "travel",
    "food",
    "tech",
    "kva",
];

/// A post: a short key (its title) and a value of 100–3,000 bytes, most a few hundred, with
/// two to five hashtags (`tag` among them).
fn post(rng: &mut Rng, tag: Option<&str>) -> (Vec<u8>, Vec<u8>) {
    let len = match rng.below(100) {
        0..=84 => 100 + rng.below(300),
        85..=96 => 400 + rng.below(600),
        _ => 1000 + rng.below(2000),
    } as usize;
    let mut tags: Vec<&str> = tag.into_iter().collect();
    for _ in 0..1 + rng.below(4) {
        tags.push(*rng.pick(TAGS));
    }
    let key_len = 10 + rng.below(50) as usize;
    let key = text(rng, key_len, &[]);
    (key, text(rng, len, &tags))
}

/// About `len` bytes (never more) of words, with `tags` spread through them.
fn text(rng: &mut Rng, len: usize, tags: &[&str]) -> Vec<u8> {
    let tags: Vec<String> = tags.iter().map(|t| format!("#{t}")).collect();
    let room = len.saturating_sub(tags.iter().map(|t| t.len() + 1).sum());
    let mut words: Vec<&str> = Vec::new();
    let mut used = 0;
    loop {
        let w = *rng.pick(WORDS);
        if used + w.len() + 1 > room {
            break;
        }
        used += w.len() + 1;
        words.push(w);
    }
    for t in &tags {
        let at = rng.below(words.len() as u64 + 1) as usize;
        words.insert(at, t);
    }
    words.join(" ").into_bytes()
}

/// A display name, multi-byte for some.
fn name(rng: &mut Rng, a: usize) -> String {
    let first = [
        "Ana",
        "Björn",
        "Дмитрий",
        "李",
        "Zoë",
        "Kenji",
        "Olu",
        "Marta",
    ];
    format!("{} {a}", rng.pick(&first))
}

/// A JSON profile of about 200 bytes.
fn profile(rng: &mut Rng, a: usize) -> String {
    let bio = String::from_utf8(text(rng, 90, &[])).expect("text is UTF-8");
    json!({
        "displayName": name(rng, a),
        "bio": bio,
        "avatar": format!("https://keva.app/avatar/{a:04}.png"),
    })
    .to_string()
}

/// How many replies (1), shares (2) and likes (3) a new post will get: one in ten is
/// popular, a third of the rest get one to three.
fn reaction_counts(rng: &mut Rng) -> Vec<(u8, u64)> {
    if rng.chance(0.1) {
        vec![
            (1, 5 + rng.below(46)),
            (2, 5 + rng.below(16)),
            (3, 5 + rng.below(46)),
        ]
    } else if rng.chance(0.33) {
        vec![(1 + rng.below(3) as u8, 1 + rng.below(3))]
    } else {
        Vec::new()
    }
}

/// Every page of a history, walked from the first.
struct Walk {
    /// `start_tx_num` of every page (-1 for the first).
    anchors: Vec<i64>,
    /// Items over all pages.
    items: usize,
    /// Bytes of all answers.
    bytes: usize,
    /// The answers, hashed in order.
    digest: Vec<u8>,
}

fn walk(addr: SocketAddr, method: &str, sh: &str, field: &str) -> Walk {
    let mut client = Client::connect(addr).expect("connect");
    let mut w = Walk {
        anchors: vec![-1i64],
        items: 0,
        bytes: 0,
        digest: Vec::new(),
    };
    loop {
        let start = *w.anchors.last().unwrap();
        let raw = client.call_raw(method, json!([sh, start]));
        w.digest.extend(sha256(raw.as_bytes()));
        w.bytes += raw.len();
        let reply: serde_json::Value = serde_json::from_str(&raw).expect("JSON");
        let result = &reply["result"];
        let items = result[field].as_array().map_or(0, Vec::len);
        w.items += items;
        let next = result["min_tx_num"].as_i64().unwrap_or(-1);
        if items == 0 {
            w.anchors.pop();
            return w;
        }
        if next < 0 {
            return w;
        }
        w.anchors.push(next);
    }
}

/// `clients` connections asking pages below random `starts` back to back for `seconds`, each
/// with its own sequence.
fn load(
    addr: SocketAddr,
    method: &str,
    sh: &str,
    starts: &[i64],
    clients: u32,
    seconds: u32,
) -> Load {
    let (method, sh, starts) = (method.to_string(), sh.to_string(), starts.to_vec());
    let connections = AtomicU64::new(0);
    closed_loop(
        clients as usize,
        Duration::from_secs(u64::from(seconds)),
        move || {
            let seed = connections.fetch_add(1, Ordering::Relaxed);
            (Client::connect(addr).expect("connect"), Rng::new(seed))
        },
        move |(client, rng), _| {
            let start = starts[rng.below(starts.len() as u64) as usize];
            // Unparsed: the load generator shares the two cores with the server.
            let reply = client.call_raw(&method, json!([sh, start]));
            reply.contains("\"result\":{")
        },
    )
}

/// The 1-, 5- and 15-minute load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
