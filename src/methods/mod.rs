//! The Electrum 1.4 protocol methods, served from the index, the mempool snapshot and (for
//! four pass-through calls) the node: the [`Backend`] the server runs on its workers.
//!
//! Every method is one function `fn(&Ctx, &[Option<&Value>]) -> Result<Value, RpcError>` (or,
//! for answers that can run to megabytes, one that writes the JSON text itself) listed in a
//! [`Method`] table with its parameter names; the table drives argument binding (positional or
//! named, with aiorpcX's error texts) and dispatch. The keva methods live in [`keva`] and
//! plug in through its own table.
//!
//! * [`params`]: argument coercion with ElectrumX's rules and texts.
//! * [`headers`], [`scripthash`], [`transaction`], [`fees`]: the methods by family.
//! * [`proof`]: `cp_height` checkpoint proofs with a cache of finished subtrees.
//! * [`node`]: the narrow node wrapper (the only node calls a client can cause).

pub mod fees;
pub mod headers;
pub mod keva;
pub mod node;
pub mod params;
pub mod proof;
pub mod scripthash;
pub mod transaction;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::path::PathBuf;

use serde_json::Value;

use crate::chain::Network;
use crate::daemon::Daemon;
use crate::index::Reader;
use crate::jsonrpc::bind_params;
use crate::jsonrpc::{Answer, Backend, Reply, RpcError};
use crate::mempool::{Mempool, Snapshot};
use node::NodeGateway;

/// A method handler: parsed arguments (one per declared name, `None` when an optional one was
/// not given) and the read context in, a JSON result or a protocol error out.
pub type Handler = fn(&Ctx, &[Option<&Value>]) -> Result<Value, RpcError>;

/// A handler that writes its JSON result as text: a value tree of a long history would take
/// many times the memory of the text it serializes to.
pub type TextHandler = fn(&Ctx, &[Option<&Value>]) -> Result<String, RpcError>;

/// Answers longer than this (bytes) read so much of the index that the worker's page cache
/// is released after them.
const LONG_ANSWER: usize = 1 << 20;

/// How a method produces its result.
#[derive(Clone, Copy)]
pub enum Run {
    /// As a JSON value.
    Value(Handler),
    /// As JSON text.
    Text(TextHandler),
}

/// One protocol method: its name, its parameter names in positional order, and its handler.
pub struct Method {
    /// The JSON-RPC method name.
    pub name: &'static str,
    /// Names of the required parameters (also the names accepted as named arguments).
    pub required: &'static [&'static str],
    /// Names of the optional parameters, after the required ones.
    pub optional: &'static [&'static str],
    /// The implementation.
    pub run: Run,
}

impl Method {
    /// A table entry (keeps the tables one line per method).
    pub const fn new(
        name: &'static str,
        required: &'static [&'static str],
        optional: &'static [&'static str],
        run: Handler,
    ) -> Method {
        Method {
            name,
            required,
            optional,
            run: Run::Value(run),
        }
    }

    /// A table entry whose handler writes JSON text.
    pub const fn text(
        name: &'static str,
        required: &'static [&'static str],
        optional: &'static [&'static str],
        run: TextHandler,
    ) -> Method {
        Method {
            name,
            required,
            optional,
            run: Run::Text(run),
        }
    }
}

/// The standard Electrum methods served here (the server answers the session-level ones).
const METHODS: &[Method] = &[
    Method::new(
        "blockchain.block.header",
        &["height"],
        &["cp_height"],
        headers::block_header,
    ),
    Method::new(
        "blockchain.block.headers",
        &["start_height", "count"],
        &["cp_height"],
        headers::block_headers,
    ),
    Method::new("blockchain.block.count", &[], &[], headers::block_count),
    Method::new(
        "blockchain.estimatefee",
        &["number"],
        &[],
        fees::estimatefee,
    ),
    Method::new("blockchain.relayfee", &[], &[], fees::relayfee),
    Method::new(
        "blockchain.scripthash.get_balance",
        &["scripthash"],
        &[],
        scripthash::get_balance,
    ),
    Method::text(
        "blockchain.scripthash.get_history",
        &["scripthash"],
        &[],
        scripthash::get_history,
    ),
    Method::new(
        "blockchain.scripthash.get_mempool",
        &["scripthash"],
        &[],
        scripthash::get_mempool,
    ),
    Method::text(
        "blockchain.scripthash.listunspent",
        &["scripthash"],
        &[],
        scripthash::listunspent,
    ),
    Method::new(
        "blockchain.transaction.broadcast",
        &["raw_tx"],
        &[],
        transaction::broadcast,
    ),
    Method::new(
        "blockchain.transaction.get",
        &["tx_hash"],
        &["verbose"],
        transaction::get,
    ),
    Method::new(
        "blockchain.transaction.get_merkle",
        &["tx_hash", "height"],
        &[],
        transaction::get_merkle,
    ),
    Method::new(
        "blockchain.transaction.id_from_pos",
        &["height", "tx_pos"],
        &["merkle"],
        transaction::id_from_pos,
    ),
    Method::new("mempool.get_fee_histogram", &[], &[], fees::fee_histogram),
];

/// Looks a method up in the standard table, then in the keva table.
pub fn find(name: &str) -> Option<&'static Method> {
    METHODS
        .iter()
        .chain(keva::METHODS.iter())
        .find(|m| m.name == name)
}

/// What the methods need to know besides the index and the node.
#[derive(Clone, Debug)]
pub struct MethodsConfig {
    /// The network served (`NET`).
    pub network: Network,
    /// The index file each worker opens read-only.
    pub db_path: PathBuf,
    /// Page cache per worker connection, in MB.
    pub cache_mb: u32,
    /// `MAX_SEND`: also bounds histories (ElectrumX: `MAX_SEND // 99` entries); 0 = no limit.
    pub max_send: usize,
    /// `BANNED_HASHTAGS`, lower-cased, without `#`.
    pub banned_hashtags: HashSet<String>,
}

impl MethodsConfig {
    /// Histories with at least this many confirmed entries are refused ("history too large").
    pub fn history_limit(&self) -> usize {
        if self.max_send == 0 {
            usize::MAX
        } else {
            self.max_send / 99
        }
    }
}

/// Answers shared by all workers that stay valid for a while.
#[derive(Default)]
pub struct Caches {
    /// Finished checkpoint-proof subtrees.
    pub proofs: proof::ProofCache,
    /// Fee answers of the node for the current tip.
    pub fees: fees::FeeCache,
}

/// Everything one method call reads, borrowed for the duration of the call.
pub struct Ctx<'a> {
    /// The worker's read-only index connection.
    pub reader: &'a Reader,
    /// The mempool as it was when the call started.
    pub mempool: &'a Snapshot,
    /// The pass-through node calls.
    pub node: &'a NodeGateway,
    /// Shared caches.
    pub caches: &'a Caches,
    /// Settings.
    pub config: &'a MethodsConfig,
    /// Namespace profiles the worker keeps between calls.
    pub profiles: &'a RefCell<keva::profile::ProfileCache>,
    cost: Cell<f64>,
}

impl Ctx<'_> {
    /// Adds to the cost charged to the session (ElectrumX's `bump_cost`).
    pub fn bump_cost(&self, cost: f64) {
        self.cost.set(self.cost.get() + cost);
    }
}

/// Per-worker state: its read-only index connection, opened on the worker's thread, and
/// what it keeps between calls.
pub struct Worker {
    reader: Option<Reader>,
    profiles: RefCell<keva::profile::ProfileCache>,
}

/// The protocol methods as a [`Backend`] for the server.
pub struct Methods {
    config: MethodsConfig,
    node: NodeGateway,
    mempool: Mempool,
    caches: Caches,
}

impl Methods {
    /// Serves the index at `config.db_path`, the mempool published through `mempool`, and the
    /// pass-through calls through `daemon` (of which only four RPCs are ever used).
    pub fn new(config: MethodsConfig, daemon: Daemon, mempool: Mempool) -> Methods {
        Methods {
            config,
            node: NodeGateway::new(daemon),
            mempool,
            caches: Caches::default(),
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &MethodsConfig {
        &self.config
    }

    /// Runs `f` with a context over `reader` and the current mempool snapshot; returns its
    /// result and the cost it accumulated.
    fn with_ctx<T>(
        &self,
        worker: &mut Worker,
        f: impl FnOnce(&Ctx) -> Result<T, RpcError>,
    ) -> (Result<T, RpcError>, f64) {
        let reader = match self.reader(&mut worker.reader) {
            Ok(r) => r,
            Err(e) => return (Err(e), 0.1),
        };
        let snapshot = self.mempool.snapshot();
        let ctx = Ctx {
            reader,
            mempool: &snapshot,
            node: &self.node,
            caches: &self.caches,
            config: &self.config,
            profiles: &worker.profiles,
            cost: Cell::new(0.1),
        };
        let result = f(&ctx);
        (result, ctx.cost.get())
    }

    fn reader<'w>(&self, reader: &'w mut Option<Reader>) -> Result<&'w Reader, RpcError> {
        if reader.is_none() {
            let opened = Reader::open(
                &self.config.db_path,
                self.config.network,
                self.config.cache_mb,
            )
            .map_err(|e| {
                internal_failure(format!(
                    "cannot open the index {} for reading: {e}",
                    self.config.db_path.display()
                ))
            })?;
            *reader = Some(opened);
        }
        reader
            .as_ref()
            .ok_or_else(|| internal_failure("the index reader is missing"))
    }
}

impl Backend for Methods {
    type Worker = Worker;

    fn new_worker(&self) -> Worker {
        let mut worker = Worker {
            reader: None,
            profiles: RefCell::default(),
        };
        // Opening now surfaces a bad index path at start-up; a failure is retried per call.
        let _ = self.reader(&mut worker.reader);
        worker
    }

    fn call(&self, worker: &mut Worker, method: &str, params: &Value) -> Answer {
        let Some(m) = find(method) else {
            return Answer::err(RpcError::unknown_method(method));
        };
        let args = match bind_params(method, params, m.required, m.optional) {
            Ok(a) => a,
            Err(e) => return Answer::err(e),
        };
        let (result, cost) = self.with_ctx(worker, |ctx| match m.run {
            Run::Value(run) => run(ctx, &args).map(Reply::Value),
            Run::Text(run) => run(ctx, &args).map(Reply::Text),
        });
        if matches!(&result, Ok(Reply::Text(t)) if t.len() > LONG_ANSWER) {
            if let Some(reader) = &worker.reader {
                let _ = reader.release_memory();
            }
        }
        Answer { result, cost }
    }

    fn scripthash_status(
        &self,
        worker: &mut Worker,
        scripthash: &[u8; 32],
    ) -> Result<Option<String>, RpcError> {
        // The server passes the display order (the client's hex); the index and the mempool
        // use sha256(script) as computed, the reverse.
        let mut sh = *scripthash;
        sh.reverse();
        self.with_ctx(worker, |ctx| scripthash::status(ctx, &sh)).0
    }

    fn tip(&self, worker: &mut Worker) -> Result<Value, RpcError> {
        self.with_ctx(worker, headers::tip).0
    }
}

/// The argument at `i`; binding guarantees required ones are present, `null` otherwise.
pub fn arg<'a>(args: &[Option<&'a Value>], i: usize) -> &'a Value {
    const NULL: &Value = &Value::Null;
    args.get(i).copied().flatten().unwrap_or(NULL)
}

/// The optional argument at `i`, `None` when not given.
pub fn opt<'a>(args: &[Option<&'a Value>], i: usize) -> Option<&'a Value> {
    args.get(i).copied().flatten()
}

/// An index read failed: logged for the operator, answered as an internal error.
pub fn index_failure(e: crate::index::Error) -> RpcError {
    internal_failure(format!("index read failed: {e}"))
}

/// Something that should not happen: logged for the operator, answered as an internal error.
pub fn internal_failure(msg: impl std::fmt::Display) -> RpcError {
    eprintln!("ERROR:methods: {msg}");
    RpcError::internal()
}
