//! A kevacoind stand-in for tests and the demo: a generated regtest chain served over HTTP
//! JSON-RPC with basic auth, with the node's response shapes and error codes, plus controls
//! (mine, mempool, reorg, faults) as a Rust API and as `dev_*` RPC methods.
//!
//! It is built on the `chain` code and never linked into the serving path.

pub mod analyze;
pub mod blockfiles;
pub mod generator;
mod http;
mod lie;
pub mod node;
mod rpc;
mod serve;
pub mod state;
pub mod truth;
pub mod wallet;

pub use generator::{GenConfig, Shape};
pub use lie::Lie;
pub use node::{NodeState, Settings};
pub use state::Reject;
pub use truth::Truth;
pub use wallet::AddrKind;

use crate::chain::{Hash32, Network, Transaction, TxOut};
use base64::Engine as _;
use lie::{forge, Forgery};
use parking_lot::Mutex;
use serve::{handle, Slots};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A misbehaviour the stand-in can be told to show, to test retries and timeouts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer HTTP 500 with a body that is not JSON.
    Http500,
    /// Wait this long before answering.
    Delay(Duration),
    /// Answer -28 "Loading block index..." like a node that is starting.
    WarmingUp,
    /// Send only half of the JSON body, then close.
    Truncate,
    /// Close the connection without answering.
    Close,
}

/// How to start a stand-in.
#[derive(Clone, Debug)]
pub struct DevNodeConfig {
    /// Address to listen on; port 0 picks a free one.
    pub bind: SocketAddr,
    /// `rpcuser`.
    pub rpcuser: String,
    /// `rpcpassword`.
    pub rpcpassword: String,
    /// Write a `.cookie` file into this directory (and accept its credentials too).
    pub cookie_dir: Option<PathBuf>,
    /// Whose genesis block the chain starts from (regtest by default).
    pub network: Network,
    /// Blocks to generate after genesis.
    pub blocks: u32,
    /// Seed of the generator and the wallet.
    pub seed: u64,
    /// Chain shape; `None` picks by size.
    pub shape: Option<Shape>,
    /// Serve confirmed transactions (`-txindex`).
    pub txindex: bool,
    /// What reading one block for `getblock` costs, in milliseconds of one core: a real
    /// kevacoind re-hashes the block's proof of work (~27 ms here) under its chain lock, so
    /// parallel callers are served one block at a time. 0 for tests that need speed.
    pub block_read_ms: u64,
    /// Data directory to keep the chain in as real block files (`<net>/blocks/blk*.dat`, and
    /// the `.cookie` there unless `cookie_dir` says otherwise).
    pub datadir: Option<PathBuf>,
    /// Largest block file (kevacoind's 128 MiB; smaller gives tests several files).
    pub blockfile_size: u64,
}

impl Default for DevNodeConfig {
    fn default() -> Self {
        DevNodeConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            rpcuser: "user".into(),
            rpcpassword: "pass".into(),
            cookie_dir: None,
            network: Network::Regtest,
            blocks: 0,
            seed: 1,
            shape: None,
            txindex: true,
            block_read_ms: 0,
            datadir: None,
            blockfile_size: blockfiles::MAX_BLOCKFILE_SIZE,
        }
    }
}

/// kevacoind's default `rpcthreads`: requests beyond this many wait for a free thread.
const RPC_THREADS: usize = 4;

struct FaultState {
    fault: Option<Fault>,
    remaining: u32,
}

struct Shared {
    state: Mutex<NodeState>,
    faults: Mutex<FaultState>,
    lie: Mutex<Option<Forgery>>,
    /// Accepted `Authorization` header values.
    auth: Vec<String>,
    stop: Arc<AtomicBool>,
    /// Per-block cost of `getblock`.
    read_cost: Duration,
    /// The node's chain lock, held while a block is read (and re-hashed).
    cs_main: Mutex<()>,
    /// The node's RPC threads.
    rpc_threads: Slots,
    /// `getblock` answers served, by height (tests see which blocks came over RPC).
    served: Mutex<Vec<u32>>,
}

/// A running stand-in node; stops when dropped.
pub struct DevNode {
    shared: Arc<Shared>,
    addr: SocketAddr,
    cfg: DevNodeConfig,
    cookie_file: Option<PathBuf>,
    accept: Option<JoinHandle<()>>,
}

fn basic(user_pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    )
}

impl DevNode {
    /// Generates the chain and starts serving it.
    pub fn start(cfg: DevNodeConfig) -> Result<DevNode, String> {
        let mut state = NodeState::new(cfg.network, cfg.seed)?;
        state.settings.txindex = cfg.txindex;
        let gen = GenConfig {
            shape: cfg
                .shape
                .unwrap_or(GenConfig::auto(cfg.blocks, cfg.seed).shape),
            ..GenConfig::auto(cfg.blocks, cfg.seed)
        };
        generator::generate(&mut state, &gen)?;
        let net_dir = cfg
            .datadir
            .as_ref()
            .map(|d| d.join(cfg.network.data_subdir()));
        if let Some(datadir) = &cfg.datadir {
            let files =
                blockfiles::write_chain(&state.chain, datadir, cfg.blockfile_size, cfg.seed)
                    .map_err(|e| {
                        format!("cannot write block files under {}: {e}", datadir.display())
                    })?;
            state.files = Some(files);
        }
        let listener = TcpListener::bind(cfg.bind)
            .map_err(|e| format!("cannot listen on {}: {e} (is the port in use?)", cfg.bind))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?;
        let mut auth = vec![basic(&format!("{}:{}", cfg.rpcuser, cfg.rpcpassword))];
        let mut cookie_file = None;
        if let Some(dir) = cfg.cookie_dir.as_ref().or(net_dir.as_ref()) {
            let secret = crate::chain::hash::to_hex(&crate::chain::hash::sha256(
                format!("cookie {} {:?}", cfg.seed, std::time::SystemTime::now()).as_bytes(),
            ));
            let line = format!("__cookie__:{secret}");
            let path = dir.join(".cookie");
            std::fs::create_dir_all(dir)
                .and_then(|_| std::fs::write(&path, &line))
                .map_err(|e| format!("cannot write the cookie file {}: {e}", path.display()))?;
            auth.push(basic(&line));
            cookie_file = Some(path);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            faults: Mutex::new(FaultState {
                fault: None,
                remaining: 0,
            }),
            lie: Mutex::new(None),
            auth,
            stop: Arc::clone(&stop),
            read_cost: Duration::from_millis(cfg.block_read_ms),
            cs_main: Mutex::new(()),
            rpc_threads: Slots {
                free: Mutex::new(RPC_THREADS),
                freed: parking_lot::Condvar::new(),
            },
            served: Mutex::new(Vec::new()),
        });
        let handler_shared = Arc::clone(&shared);
        let handler: Arc<http::Handler> = Arc::new(move |req| handle(&handler_shared, req));
        let accept = http::serve(listener, handler, stop)
            .map_err(|e| format!("cannot start the accept thread: {e}"))?;
        Ok(DevNode {
            shared,
            addr,
            cfg,
            cookie_file,
            accept: Some(accept),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://user:pass@addr/`, ready for `DAEMON_URL`.
    pub fn url(&self) -> String {
        format!(
            "http://{}:{}@{}/",
            self.cfg.rpcuser, self.cfg.rpcpassword, self.addr
        )
    }

    /// `http://addr/` (for cookie authentication).
    pub fn url_without_credentials(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The `.cookie` file, when a cookie directory was configured.
    pub fn cookie_file(&self) -> Option<PathBuf> {
        self.cookie_file.clone()
    }

    /// The `blocks/` directory of the block files, when the node keeps them.
    pub fn blocks_dir(&self) -> Option<PathBuf> {
        self.with_state(|s| s.files.as_ref().map(|f| f.dir().to_path_buf()))
    }

    /// How many times `getblock` served the block at `height` (of the chain at the time).
    pub fn getblock_served(&self, height: u32) -> u32 {
        self.shared
            .served
            .lock()
            .get(height as usize)
            .copied()
            .unwrap_or(0)
    }

    /// `getblock` answers served in all.
    pub fn getblock_calls(&self) -> u64 {
        self.shared
            .served
            .lock()
            .iter()
            .map(|&n| u64::from(n))
            .sum()
    }

    /// The network whose genesis the chain starts from.
    pub fn network(&self) -> Network {
        self.cfg.network
    }

    /// Whether the server was asked to stop (the `stop` RPC).
    pub fn stop_requested(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
    }

    /// Runs `f` on the node state under its lock (for anything the helpers below lack).
    pub fn with_state<R>(&self, f: impl FnOnce(&mut NodeState) -> R) -> R {
        f(&mut self.shared.state.lock())
    }

    /// Height of the tip.
    pub fn height(&self) -> u32 {
        self.with_state(|s| s.chain.height())
    }

    /// Hash of the tip.
    pub fn tip(&self) -> Hash32 {
        self.with_state(|s| s.chain.tip_hash())
    }

    /// Hash of the block at `height`.
    pub fn block_hash(&self, height: u32) -> Option<Hash32> {
        self.with_state(|s| s.chain.hash_at(height))
    }

    /// Serialized block at `height`.
    pub fn block_bytes(&self, height: u32) -> Option<Vec<u8>> {
        self.with_state(|s| s.chain.block_bytes(height))
    }

    /// Mines `n` blocks to the wallet, the mempool going into the first.
    pub fn mine(&self, n: u32) -> Vec<Hash32> {
        self.with_state(|s| s.mine(n, None, true))
    }

    /// Mines `n` blocks paying `script`, without touching the mempool.
    pub fn mine_empty_to(&self, n: u32, script: &[u8]) -> Vec<Hash32> {
        self.with_state(|s| s.mine(n, Some(script), false))
    }

    /// A fresh wallet address: (output script, address string).
    pub fn new_address(&self, kind: AddrKind) -> (Vec<u8>, String) {
        self.with_state(|s| {
            let k = s.wallet.new_key(kind);
            let net = s.chain.network();
            (
                s.wallet.key(k).script(),
                s.wallet.address(k, net).unwrap_or_default(),
            )
        })
    }

    /// Pays `value` satoshis to `script` from the wallet into the mempool; returns the txid.
    pub fn pay(&self, script: &[u8], value: u64) -> Result<Hash32, String> {
        self.with_state(|s| {
            let b = s.wallet.pay(vec![TxOut {
                value,
                script_pubkey: script.to_vec(),
            }]);
            s.submit_built(b).map(|b| b.txid)
        })
    }

    /// Registers a namespace into the mempool; returns (txid, 21-byte namespace id).
    pub fn keva_namespace(&self, display_name: &str) -> Result<(Hash32, Vec<u8>), String> {
        self.with_state(|s| {
            let b = s.wallet.keva_namespace(display_name.as_bytes());
            let b = s.submit_built(b)?;
            Ok((b.txid, b.namespace.unwrap_or_default()))
        })
    }

    /// Puts `key` = `value` into a wallet namespace (mempool); returns the txid.
    pub fn keva_put(&self, ns: &[u8], key: &[u8], value: &[u8]) -> Result<Hash32, String> {
        self.with_state(|s| {
            let b = s.wallet.keva_put(ns, key, value, Vec::new());
            s.submit_built(b).map(|b| b.txid)
        })
    }

    /// Deletes `key` from a wallet namespace (mempool); returns the txid.
    pub fn keva_delete(&self, ns: &[u8], key: &[u8]) -> Result<Hash32, String> {
        self.with_state(|s| {
            let b = s.wallet.keva_delete(ns, key);
            s.submit_built(b).map(|b| b.txid)
        })
    }

    /// Replies (`00 01`), shares (`00 02`) or likes (`00 03`) post `target` from namespace
    /// `ns`; a like with `reward` also pays that (script, value). Returns the txid.
    pub fn keva_react(
        &self,
        ns: &[u8],
        kind: u8,
        target: &Hash32,
        text: &[u8],
        reward: Option<(Vec<u8>, u64)>,
    ) -> Result<Hash32, String> {
        let mut key = vec![0x00, kind];
        key.extend(target.iter().rev());
        let extra = reward
            .map(|(script_pubkey, value)| {
                vec![TxOut {
                    value,
                    script_pubkey,
                }]
            })
            .unwrap_or_default();
        self.with_state(|s| {
            let b = s.wallet.keva_put(ns, &key, text, extra);
            s.submit_built(b).map(|b| b.txid)
        })
    }

    /// Submits a transaction like `sendrawtransaction`.
    pub fn submit(&self, tx: Transaction) -> Result<Hash32, Reject> {
        self.with_state(|s| s.submit(tx))
    }

    /// Mempool txids in arrival order.
    pub fn mempool(&self) -> Vec<Hash32> {
        self.with_state(|s| s.chain.mempool_txids())
    }

    /// Drops mempool transactions (all when `None`) with their descendants.
    pub fn drop_mempool(&self, txids: Option<&[Hash32]>) -> Vec<Hash32> {
        self.with_state(|s| s.drop_mempool(txids))
    }

    /// Replaces the last `depth` blocks by `new_blocks` others; the old branch's transactions
    /// return to the mempool and go into the first new block. Returns the new hashes.
    pub fn reorg(&self, depth: u32, new_blocks: u32) -> Vec<Hash32> {
        self.with_state(|s| s.reorg(depth, new_blocks, true, true))
    }

    /// Goes back to `height` (like `invalidateblock` of the block above it).
    pub fn rewind(&self, height: u32) -> u32 {
        self.with_state(|s| s.rewind(height, true))
    }

    /// Makes the next `count` non-`dev_` requests misbehave (`None` clears).
    pub fn set_fault(&self, fault: Option<Fault>, count: u32) {
        let mut f = self.shared.faults.lock();
        f.remaining = if fault.is_some() { count } else { 0 };
        f.fault = fault;
    }

    /// Lies about the block at `height` (≥ 1) until called with `None`; the lie is forged
    /// from the block there now. Returns the hash announced for that height.
    pub fn set_lie(&self, lie: Option<(u32, Lie)>) -> Result<Option<Hash32>, String> {
        let forgery = match lie {
            None => None,
            Some((height, lie)) => Some(self.with_state(|s| forge(s, height, lie))?),
        };
        let announced = match &forgery {
            Some(f) => Some(
                crate::chain::hash::hash_from_hex(&f.announced)
                    .map_err(|e| format!("forged hash: {e}"))?,
            ),
            None => None,
        };
        *self.shared.lie.lock() = forgery;
        Ok(announced)
    }

    /// Changes run-time settings (txindex, fee estimate, relay fee).
    pub fn set(&self, f: impl FnOnce(&mut Settings)) {
        self.with_state(|s| f(&mut s.settings))
    }

    /// Ground truth of the confirmed chain.
    pub fn truth(&self) -> Truth {
        self.with_state(|s| Truth::compute(&s.chain))
    }

    /// Stops serving (also done on drop).
    pub fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            http::wake(self.addr);
            let _ = t.join();
        }
    }
}

impl Drop for DevNode {
    fn drop(&mut self) {
        self.shutdown();
    }
}
