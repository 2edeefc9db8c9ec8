//! The fuzz targets as plain regression tests: every input of the committed corpus
//! (`fuzz/seeds/<target>/`) and every past finding (`fuzz/regressions/<target>/`) runs
//! through its target, then a few thousand deterministic mutations of them do. This runs
//! where libFuzzer cannot (stable Rust without sanitizers); `fuzz/run.sh` fuzzes for real.
//!
//! `KEVA_WRITE_CORPUS=1 cargo test --test hostile_fuzz_corpus` regenerates the seed corpus from
//! a stand-in node's chain (blocks, transactions, keva scripts, headers, JSON-RPC sessions).

#[path = "../fuzz/targets.rs"]
mod targets;

use std::path::{Path, PathBuf};

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("block_and_tx", targets::block_and_tx),
    ("keva_script", targets::keva_script),
    ("header_chain", targets::header_chain),
    ("session", targets::session),
    ("ws_frames", targets::ws_frames),
    ("admin_command", targets::admin_command),
    ("proxy_header", targets::proxy_header),
    ("block_files", targets::block_files),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn inputs(target: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for kind in ["seeds", "regressions"] {
        let dir = fuzz_dir().join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for p in paths {
            out.push(std::fs::read(&p).unwrap());
        }
    }
    out
}

/// xorshift64: deterministic mutations, the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = [0, 0xff, 0xfd, 0xfe, b'\n', b'[', b'"'][rng.below(7)];
            }
            2 if !v.is_empty() => {
                let i = rng.below(v.len());
                v.truncate(i);
            }
            3 if !v.is_empty() => {
                let i = rng.below(v.len());
                let n = rng.below(16).min(v.len() - i);
                v.drain(i..i + n);
            }
            4 if !other.is_empty() => {
                let i = rng.below(v.len() + 1);
                let j = rng.below(other.len());
                let n = rng.below(64).min(other.len() - j);
                v.splice(i..i, other[j..j + n].iter().copied());
            }
            _ => {
                let i = rng.below(v.len() + 1);
                let b = rng.next() as u8;
                v.insert(i, b);
            }
        }
    }
    v
}

#[test]
fn fuzz_corpus_and_mutations_pass_every_target() {
    if std::env::var_os("KEVA_WRITE_CORPUS").is_some() {
        write_corpus();
    }
    let mut report = Vec::new();
    for (name, target) in TARGETS {
        let start = std::time::Instant::now();
        let seeds = inputs(name);
        assert!(
            !seeds.is_empty(),
            "fuzz/seeds/{name} is empty: run with KEVA_WRITE_CORPUS=1"
        );
        for s in &seeds {
            target(s);
        }
        if *name == "keva_script" {
            let keva = seeds
                .iter()
                .filter(|s| keva_electrum::chain::keva::parse_keva_script(s).is_some())
                .count();
            assert!(keva >= 3, "only {keva} keva scripts among the seeds");
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
        let rounds = 3000;
        for _ in 0..rounds {
            let a = &seeds[rng.below(seeds.len())];
            let b = &seeds[rng.below(seeds.len())];
            target(&mutate(&mut rng, a, b));
        }
        report.push(format!(
            "{name}: {} seeds + {rounds} mutations in {:.1?}",
            seeds.len(),
            start.elapsed()
        ));
    }
    eprintln!("{}", report.join("; "));
}

/// Seeds from a stand-in chain with payments and keva operations.
fn write_corpus() {
    use keva_electrum::chain::Block;
    use keva_electrum::devnode::{AddrKind, DevNode, DevNodeConfig};
    let node = DevNode::start(DevNodeConfig {
        blocks: 12,
        seed: 9,
        ..DevNodeConfig::default()
    })
    .unwrap();
    let (ns_tx, ns) = node.keva_namespace("fuzz").unwrap();
    let _ = ns_tx;
    node.mine(1);
    node.keva_put(&ns, b"key", b"value").unwrap();
    node.keva_put(&ns, &[0, 1, 2, 3], &[0xff; 40]).unwrap();
    node.keva_delete(&ns, b"key").unwrap();
    for kind in [AddrKind::P2pkh, AddrKind::P2sh, AddrKind::P2wpkh] {
        let (script, _) = node.new_address(kind);
        node.pay(&script, 12_345).unwrap();
    }
    node.mine(1);
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = fuzz_dir().join("seeds").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let mut headers = Vec::new();
    let mut blocks = Vec::new();
    for h in 0..=node.height() {
        let raw = node.block_bytes(h).unwrap();
        blocks.push(raw.clone());
        let block = Block::from_bytes(&raw).unwrap();
        headers.extend_from_slice(block.header.as_bytes());
        if h == 0 || h + 2 >= node.height() {
            write("block_and_tx", &format!("block-{h}"), &raw);
            let mut prepared = h.to_le_bytes().to_vec();
            prepared.extend_from_slice(&raw);
            write("header_chain", &format!("block-{h}"), &prepared);
        }
        for (i, tx) in block.txs.iter().enumerate() {
            if h + 2 >= node.height() {
                write("block_and_tx", &format!("tx-{h}-{i}"), &tx.serialize());
                for (j, out) in tx.outputs.iter().enumerate() {
                    write(
                        "keva_script",
                        &format!("script-{h}-{i}-{j}"),
                        &out.script_pubkey,
                    );
                }
            }
        }
    }
    write("header_chain", "headers-0-14", &headers);
    write_block_file_seeds(&write, &blocks);
    let sessions: &[&[u8]] = &[
        b"\x07{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"server.version\",\"params\":[\"x\",\"1.4\"]}\n",
        b"\x01[{\"id\":1,\"method\":\"server.ping\"},{\"id\":2,\"method\":\"blockchain.headers.subscribe\"}]\n",
        b"\x10{\"id\":3,\"method\":\"blockchain.scripthash.subscribe\",\"params\":[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]}\n{\"id\":4,\"method\":\"blockchain.scripthash.unsubscribe\",\"params\":{\"scripthash\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}\n",
        b"\x03{\"method\":\"server.ping\"}\n{\"id\":null,\"method\":\"x\"}\n[]\n[1,2]\n{\"id\":[1],\"method\":5}\n",
        b"\x3f{\"id\":1,\"method\":\"blockchain.block.headers\",\"params\":[0,2016]}\r\n\n\n",
        b"\x02\xff\xfe\n{\"id\":\"\\ud800\",\"method\":\"server.version\",\"params\":[\"a\",[\"1.4\",\"1.4.2\"]]}\n",
        b"\x05[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n{\"id\":1e999,\"method\":\"server.ping\"}\n",
    ];
    for (i, s) in sessions.iter().enumerate() {
        write("session", &format!("session-{i}"), s);
    }
    write_protocol_seeds(&write);
}

/// Seeds for the WebSocket codec and the admin command parsers (no chain needed).
fn write_protocol_seeds(write: &dyn Fn(&str, &str, &[u8])) {
    use targets::{ws_client_frame as frame, WS_HEAD};
    let m = [0x12, 0x34, 0x56, 0x78];
    let ping = b"{\"id\":1,\"method\":\"server.ping\"}";
    // Byte 0: piece size * 2 + 1 when a valid upgrade request comes first; byte 1: the limit.
    let mut ws: Vec<Vec<u8>> = Vec::new();
    let mut open = |a: u8, b: u8, frames: &[Vec<u8>]| {
        let mut v = vec![a, b];
        v.extend(frames.concat());
        ws.push(v);
    };
    open(1, 3, &[frame(true, 1, ping, m)]);
    open(
        7,
        5,
        &[
            frame(false, 1, b"{\"id\":2,", m),
            frame(true, 9, b"ping", m),
            frame(true, 0, b"\"method\":\"server.version\"}", m),
            frame(true, 0xA, b"", m),
        ],
    );
    open(
        0x21,
        0,
        &[
            frame(true, 2, &[b'x'; 300], m),
            frame(true, 8, &1000u16.to_be_bytes(), m),
        ],
    );
    open(3, 2, &[frame(true, 1, &[b'y'; 70_000], m)]);
    open(1, 1, &[vec![0x81, 0x03, b'a', b'b', b'c']]);
    open(
        1,
        0,
        &[vec![
            0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0,
        ]],
    );
    open(5, 4, &[frame(true, 0, b"x", m), frame(true, 0xB, b"", m)]);
    let mut head = vec![0x10, 3];
    head.extend_from_slice(
        b"GET /x HTTP/1.1\r\nupgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n\
        sec-websocket-key: AAAAAAAAAAAAAAAAAAAAAA==\r\nsec-websocket-version: 13\r\n\r\n",
    );
    head.extend(frame(true, 1, ping, m));
    ws.push(head);
    let mut bad = vec![0x02, 3];
    bad.extend_from_slice(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    ws.push(bad);
    let mut old = vec![0x40, 3];
    old.extend_from_slice(&WS_HEAD[..WS_HEAD.len() - 6]);
    old.extend_from_slice(b"8\r\n\r\n");
    ws.push(old);
    for (i, s) in ws.iter().enumerate() {
        write("ws_frames", &format!("ws-{i}"), s);
    }
    let admin: &[&[u8]] = &[
        b"{\"jsonrpc\":\"2.0\",\"method\":\"getinfo\",\"params\":{},\"id\":0}",
        b"{\"method\":\"disconnect\",\"params\":{\"session_ids\":[\"3\",4]},\"id\":1}\n{\"method\":\"log\",\"params\":[[5]],\"id\":2}",
        b"[{\"method\":\"reorg\",\"params\":{\"count\":\"3\"},\"id\":1},{\"method\":\"query\",\"params\":{\"items\":[\"Kaddr\"],\"limit\":5},\"id\":2}]",
        b"{\"method\":\"keva_ban_tx\",\"params\":[\"AB00000000000000000000000000000000000000000000000000000000000000\"],\"id\":\"x\"}",
        b"{\"method\":\"add_peer\",\"params\":{\"real_name\":\"ec1.example.org s50002 t v1.4\"},\"id\":3}",
        b"{\"method\":\"daemon_url\",\"params\":[\"http://u:p@127.0.0.1:9337/\"],\"id\":4}",
        b"-p\x008001\x00query\x00-l\x005\x00Kaddr\x0076a914",
        b"--port=8002\x00reorg\x007",
        b"disconnect\x003\x004",
        b"keva_unban_tx\x00ab00000000000000000000000000000000000000000000000000000000000000",
        b"add_peer\x00ec1.example.org\x00s50002",
        b"daemon_url\x00http://127.0.0.1:9337/",
        b"[{\"id\":1,\"flags\":\"TCP\",\"time\":3725,\"peer\":\"1.2.3.4:5\"}]",
    ];
    for (i, s) in admin.iter().enumerate() {
        write("admin_command", &format!("admin-{i}"), s);
    }
    write_proxy_seeds(write);
}

/// Seeds for the PROXY protocol parser: headers as HAProxy sends them, then what follows.
fn write_proxy_seeds(write: &dyn Fn(&str, &str, &[u8])) {
    use targets::proxy_header_for as header;
    let v4 = "203.0.113.7:40123".parse().unwrap();
    let v6 = "[2001:db8::7]:443".parse().unwrap();
    let mut seeds: Vec<Vec<u8>> = vec![
        [
            header(v4, 1),
            b"{\"id\":1,\"method\":\"server.ping\"}\n".to_vec(),
        ]
        .concat(),
        [header(v6, 1), b"\x16\x03\x01\x02\x00\x01\x00".to_vec()].concat(),
        [
            header(v4, 2),
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n".to_vec(),
        ]
        .concat(),
        header(v6, 2),
        b"PROXY UNKNOWN\r\n".to_vec(),
        b"PROXY UNKNOWN ffff:f::1 ffff:f::2 65535 65535\r\nrest".to_vec(),
        b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n".to_vec(),
        b"{\"id\":1}\n".to_vec(),
        b"10.0.0.5, 192.168.1.0/24 fd00::/8,::ffff:172.16.0.0/108".to_vec(),
    ];
    // v2 LOCAL with no addresses; v2 PROXY with TLVs (NOOP, AUTHORITY, UNIQUE_ID, SSL).
    let mut local = keva_electrum::server::proxy::V2_SIGNATURE.to_vec();
    local.extend_from_slice(&[0x20, 0x00, 0, 0]);
    seeds.push(local);
    let mut tlvs = header(v4, 2);
    let extra: &[u8] = &[
        0x04, 0, 1, 0, 0x02, 0, 4, b'k', b'e', b'v', b'a', 0x05, 0, 2, 1, 2, 0x20, 0, 13, 1, 0, 0,
        0, 0, 0x21, 0, 7, b'T', b'L', b'S', b'v', b'1', b'.', b'3',
    ];
    let len = u16::from_be_bytes([tlvs[14], tlvs[15]]) + extra.len() as u16;
    tlvs[14..16].copy_from_slice(&len.to_be_bytes());
    tlvs.extend_from_slice(extra);
    seeds.push(tlvs);
    for (i, s) in seeds.iter().enumerate() {
        write("proxy_header", &format!("proxy-{i}"), s);
    }
}

/// Seeds for the block-file scan: the stand-in chain's blocks as records, the way kevacoind
/// leaves them and damaged in each way the scan must step over. Four control bytes first
/// (filler and buffer boundary, first height, span, where to cut into two files).
fn write_block_file_seeds(write: &dyn Fn(&str, &str, &[u8]), blocks: &[Vec<u8>]) {
    let magic = keva_electrum::chain::Network::Regtest.magic();
    let record = |b: &[u8]| [&magic[..], &(b.len() as u32).to_le_bytes(), b].concat();
    // Out of height order, as a headers-first sync stores them.
    let order = [0, 2, 1, 3, 5, 4, 6, 7, 9, 8, 10, 11, 12, 13, 14];
    let clean: Vec<u8> = order
        .iter()
        .filter_map(|&h| blocks.get(h))
        .flat_map(|b| record(b))
        .collect();
    let with = |control: [u8; 4], file: &[u8]| [&control[..], file].concat();
    let mut seeds = vec![
        // The pre-allocated file: records, then zeros.
        with([0, 0, 14, 0], &[&clean[..], &[0; 64]].concat()),
        // Two files, a part of the chain wanted (the scan stops once it has them).
        with([0, 3, 6, 128], &clean),
        // The bytes after a long first record straddle the scan's read buffer.
        with([0x80 | 5, 0, 14, 0], &clean),
        with([0, 0, 0, 0], &[]),
    ];
    let first = record(&blocks[1]);
    let second = record(&blocks[2]);
    let mut damaged = Vec::new();
    // Garbage between records; a size too small, then too large; a record claiming more bytes
    // than the file has; a magic inside a block, found when the scan looks for the next record.
    damaged.extend_from_slice(&first);
    damaged.extend_from_slice(&[0x55; 37]);
    let mut small = second.clone();
    small[4..8].copy_from_slice(&100u32.to_le_bytes());
    damaged.extend_from_slice(&small);
    let mut huge = second.clone();
    huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    damaged.extend_from_slice(&huge);
    let mut inner = record(&blocks[3]);
    inner[8 + 100..8 + 104].copy_from_slice(&magic);
    inner[4..8].copy_from_slice(&50u32.to_le_bytes());
    damaged.extend_from_slice(&inner);
    damaged.extend_from_slice(&record(&blocks[4]));
    damaged.extend_from_slice(&first[..first.len() / 2]);
    seeds.push(with([0, 1, 4, 0], &damaged));
    // The same height twice (a stale branch), and a partial record at the end of a file.
    let mut twice = [&first[..], &record(&blocks[3]), &first[..]].concat();
    twice.extend_from_slice(&second[..second.len() - 9]);
    seeds.push(with([0x80 | 120, 0, 4, 200], &twice));
    // More damage than the scan describes (it counts the rest).
    let mut many = Vec::new();
    for i in 0..12 {
        many.extend_from_slice(&[0xAA; 5][..1 + i % 5]);
        many.extend_from_slice(&record(&blocks[5 + i % 3]));
    }
    seeds.push(with([0, 5, 2, 0], &many));
    for (i, s) in seeds.iter().enumerate() {
        write("block_files", &format!("blk-{i}"), s);
    }
}
