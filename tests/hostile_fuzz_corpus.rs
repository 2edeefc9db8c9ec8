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
            "{name}: {} seeds + {rounds} mutations",
            seeds.len()
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
    for h in 0..=node.height() {
        let raw = node.block_bytes(h).unwrap();
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
}
