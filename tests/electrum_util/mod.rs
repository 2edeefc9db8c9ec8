//! Shared fixture of the Electrum method tests: a stand-in node over real HTTP, an index synced
//! from it into a temporary SQLite file, a mempool snapshot built from the node's mempool, and
//! the `Methods` backend over all three; plus independent expectations from the ground truth.
#![allow(dead_code)]

#[path = "../support/mod.rs"]
mod support;
#[allow(unused_imports)]
pub use support::{vectors_dir, TempDir};

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use keva_electrum::chain::hash::{hash_to_hex, sha256, to_hex};
use keva_electrum::chain::{Block, Hash32, Network, Transaction};
use keva_electrum::daemon::{Daemon, DaemonConfig};
use keva_electrum::devnode::{DevNode, DevNodeConfig, Shape, Truth};
use keva_electrum::index::{Reader, SyncConfig, Syncer, Writer};
use keva_electrum::jsonrpc::{Backend, Reply, RpcError};
use keva_electrum::mempool::{Builder, Mempool};
use keva_electrum::methods::{Methods, MethodsConfig, Worker};
use serde_json::{json, Value};

/// Node + index + mempool + backend.
pub struct Fixture {
    pub node: DevNode,
    pub dir: TempDir,
    pub db: PathBuf,
    pub daemon: Daemon,
    pub mempool: Mempool,
    builder: Builder,
    pub methods: Arc<Methods>,
    pub worker: Worker,
}

pub fn daemon_for(url: &str) -> Daemon {
    Daemon::new(DaemonConfig {
        urls: vec![url.to_string()],
        cookie_file: None,
        timeout: Duration::from_secs(30),
        network: Network::Regtest,
    })
    .expect("daemon config")
}

pub fn config(db: PathBuf, max_send: usize) -> MethodsConfig {
    MethodsConfig {
        network: Network::Regtest,
        db_path: db,
        cache_mb: 8,
        max_send,
        banned_hashtags: HashSet::new(),
    }
}

impl Fixture {
    /// A busy regtest chain of `blocks` blocks.
    pub fn new(tag: &str, blocks: u32, seed: u64) -> Fixture {
        Fixture::with_shape(tag, blocks, seed, None, 10_000_000)
    }

    pub fn with_shape(
        tag: &str,
        blocks: u32,
        seed: u64,
        shape: Option<Shape>,
        max_send: usize,
    ) -> Fixture {
        let node = DevNode::start(DevNodeConfig {
            blocks,
            seed,
            shape,
            ..DevNodeConfig::default()
        })
        .expect("stand-in starts");
        let dir = TempDir::new(tag);
        let db = dir.0.join("index.db");
        let daemon = daemon_for(&node.url());
        let mempool = Mempool::default();
        let methods = Arc::new(Methods::new(
            config(db.clone(), max_send),
            daemon.clone(),
            mempool.clone(),
        ));
        sync_index(&db, &node.url());
        let worker = methods.new_worker();
        let mut f = Fixture {
            node,
            dir,
            db,
            daemon,
            mempool,
            builder: Builder::new(64 << 20),
            methods,
            worker,
        };
        f.refresh_mempool();
        f
    }

    /// Brings the index to the node's tip.
    pub fn sync(&self) {
        sync_index(&self.db, &self.node.url());
    }

    /// Publishes a new mempool snapshot built from the node's mempool.
    pub fn refresh_mempool(&mut self) {
        let mut reader = Reader::open(&self.db, Network::Regtest, 8).unwrap();
        let prev = self.mempool.snapshot();
        let txids = self.daemon.raw_mempool().unwrap();
        let missing = self.builder.missing(&prev, &txids);
        let fetched: Vec<Transaction> = self
            .daemon
            .raw_transactions(&missing)
            .unwrap()
            .into_iter()
            .flatten()
            .map(|raw| Transaction::from_bytes(&raw).unwrap())
            .collect();
        let next = self.builder.build(&prev, &txids, fetched, &mut reader);
        assert_eq!(next.len(), txids.len(), "every mempool tx resolved");
        self.mempool.publish(next);
    }

    /// Syncs the index and refreshes the mempool.
    pub fn catch_up(&mut self) {
        self.sync();
        self.refresh_mempool();
    }

    /// Calls a method through the backend.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, RpcError> {
        self.methods
            .call(&mut self.worker, method, &params)
            .result
            .map(Reply::into_value)
    }

    /// Calls a method that must succeed.
    pub fn ok(&mut self, method: &str, params: Value) -> Value {
        self.call(method, params.clone())
            .unwrap_or_else(|e| panic!("{method} {params}: {e}"))
    }

    /// Calls a method that must fail; returns (code, message).
    pub fn err(&mut self, method: &str, params: Value) -> (i64, String) {
        match self.call(method, params.clone()) {
            Ok(v) => panic!("{method} {params} succeeded with {v}"),
            Err(e) => (e.code, e.message),
        }
    }

    /// Status through the backend's subscription entry point (display-order bytes).
    pub fn status(&mut self, sh: &Hash32) -> Result<Option<String>, RpcError> {
        let mut display = *sh;
        display.reverse();
        self.methods.scripthash_status(&mut self.worker, &display)
    }

    /// Every block of the node's active chain, parsed.
    pub fn blocks(&self) -> Vec<Block> {
        (0..=self.node.height())
            .map(|h| Block::from_bytes(&self.node.block_bytes(h).unwrap()).unwrap())
            .collect()
    }
}

/// Syncs the index file at `db` from the node at `url` to its tip.
pub fn sync_index(db: &std::path::Path, url: &str) {
    let writer = Writer::open(db, Network::Regtest, 16).expect("open writer");
    let mut syncer = Syncer::new(
        writer,
        daemon_for(url),
        SyncConfig {
            prefetch_bytes: 4 << 20,
            log: Arc::new(|_| {}),
            ..SyncConfig::default()
        },
        None,
        Arc::new(AtomicBool::new(false)),
    );
    let report = syncer.sync_once().expect("sync");
    assert!(report.at_tip, "sync reached the node's tip");
}

/// Electrum display hex of a scripthash (sha256 of the script, reversed).
pub fn sh_hex(sh: &Hash32) -> String {
    hash_to_hex(sh)
}

/// The expected Electrum status of (txid, height) entries, computed from the protocol text.
pub fn expected_status(entries: &[(Hash32, i64)]) -> Option<String> {
    if entries.is_empty() {
        return None;
    }
    let s: String = entries
        .iter()
        .map(|(t, h)| format!("{}:{}:", hash_to_hex(t), h))
        .collect();
    Some(to_hex(&sha256(s.as_bytes())))
}

/// Where each confirmed transaction is: txid -> (height, position), from the node's blocks.
pub fn chain_positions(blocks: &[Block]) -> HashMap<Hash32, (u32, u32)> {
    let mut out = HashMap::new();
    for (h, b) in blocks.iter().enumerate() {
        for (i, t) in b.txids().iter().enumerate() {
            out.insert(*t, (h as u32, i as u32));
        }
    }
    out
}

/// The truth's confirmed history of `sh` without genesis (not indexed, as in ElectrumX).
pub fn truth_history(truth: &Truth, sh: &Hash32) -> Vec<(Hash32, u32)> {
    truth
        .history(sh)
        .iter()
        .filter(|(_, h)| *h > 0)
        .copied()
        .collect()
}

/// JSON of a confirmed history as get_history returns it.
pub fn history_json(entries: &[(Hash32, u32)]) -> Vec<Value> {
    entries
        .iter()
        .map(|(t, h)| json!({"tx_hash": hash_to_hex(t), "height": h}))
        .collect()
}
