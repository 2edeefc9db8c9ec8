//! The sync thread: keeps the index equal to the node's best chain. It compares its tip with the
//! node, follows reorgs (rollback and the new branch in one transaction), writes many blocks per
//! transaction during initial sync and one per transaction at the tip, logs progress, and
//! announces every commit. `fork` finds where the index and the node part, `progress` writes
//! the progress line.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::prefetch::{Prefetcher, Sources};
use super::writer::{Touched, Writer};
use super::{Error, Result, REORG_LIMIT};
use crate::chain::{Hash32, OutPoint};
use crate::daemon::{BlockFiles, Daemon};
use crate::mempool::Mempool;
use progress::Progress;

mod fork;
mod progress;

/// Where log lines go (the server passes its logger; tests pass a silent one).
pub type LogFn = Arc<dyn Fn(&str) + Send + Sync>;

/// Tuning of the sync thread.
#[derive(Clone)]
pub struct SyncConfig {
    /// Deepest reorg followed; deeper stops the sync with instructions (`REORG_LIMIT`).
    pub reorg_limit: u32,
    /// Budget of the prefetch queue in bytes.
    pub prefetch_bytes: usize,
    /// Commit once a transaction holds this many chain transactions (initial sync).
    pub batch_txs: usize,
    /// ... or once it has been open this long.
    pub batch_time: Duration,
    /// How often the node's tip is polled when caught up.
    pub poll_interval: Duration,
    /// How often a progress line is logged while syncing.
    pub progress_interval: Duration,
    /// The node's block files, read instead of `getblock` for long ranges (`None`: RPC only).
    pub block_files: Option<BlockFiles>,
    /// Concurrent `getblock` batches (`DAEMON_PARALLELISM`).
    pub parallelism: usize,
    /// Where log lines go.
    pub log: LogFn,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            reorg_limit: REORG_LIMIT,
            prefetch_bytes: 32 << 20,
            batch_txs: 100_000,
            batch_time: Duration::from_secs(10),
            poll_interval: Duration::from_millis(500),
            progress_interval: Duration::from_secs(5),
            block_files: None,
            // One batch being served, one waiting: the node reads one block at a time.
            parallelism: 2,
            log: Arc::new(|m| eprintln!("INFO:index: {m}")),
        }
    }
}

/// Sent after every commit: the server turns it into notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEvent {
    /// New tip height.
    pub height: u32,
    /// New tip hash (internal order).
    pub hash: Hash32,
    /// Scripthashes whose confirmed history changed.
    pub touched: Touched,
    /// Blocks rolled back in this commit (0 without a reorg).
    pub reorg_depth: u32,
}

/// What one [`Syncer::sync_once`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Blocks applied.
    pub blocks: u64,
    /// Transactions applied.
    pub txs: u64,
    /// Blocks of `blocks` read from the node's block files (the rest came over RPC).
    pub from_files: u64,
    /// Deepest rollback done.
    pub reorg_depth: u32,
    /// Whether the index ended at the node's tip (false when stopped early).
    pub at_tip: bool,
}

/// Blocks applied since the start, by where they came from (the metrics endpoint and the admin
/// `getinfo` show them; tests read them to see which path a sync took).
#[derive(Debug, Default)]
pub struct SourceCounts {
    /// Blocks read from the node's block files.
    pub files: AtomicU64,
    /// Blocks fetched with `getblock`.
    pub rpc: AtomicU64,
}

/// The sync loop state: the writer, the node client and where events go.
pub struct Syncer {
    writer: Writer,
    daemon: Daemon,
    config: SyncConfig,
    events: Option<Sender<ChainEvent>>,
    stop: Arc<AtomicBool>,
    /// The mempool view kept consistent with each commit, when the server runs one.
    mempool: Option<Mempool>,
    /// Txids and spent outpoints of the blocks in the open transaction (for the mempool).
    mined: Vec<Hash32>,
    spent: Vec<OutPoint>,
    /// Blocks the admin `reorg` command asks to undo and index again (0: none asked).
    forced_reorg: Arc<AtomicU32>,
    /// Blocks applied by source.
    counts: Arc<SourceCounts>,
}

impl Syncer {
    /// Prepares a sync of `writer`'s index from `daemon`; `stop` ends it between transactions.
    pub fn new(
        writer: Writer,
        daemon: Daemon,
        config: SyncConfig,
        events: Option<Sender<ChainEvent>>,
        stop: Arc<AtomicBool>,
    ) -> Syncer {
        Syncer {
            writer,
            daemon,
            config,
            events,
            stop,
            mempool: None,
            mined: Vec::new(),
            spent: Vec::new(),
            forced_reorg: Arc::new(AtomicU32::new(0)),
            counts: Arc::default(),
        }
    }

    /// Blocks applied so far from the block files and over RPC.
    pub fn source_counts(&self) -> Arc<SourceCounts> {
        Arc::clone(&self.counts)
    }

    /// Shares the admin side's controls, made before the sync: `forced_reorg` is where the
    /// admin `reorg COUNT` command leaves its request (the next round rolls back that many
    /// blocks and indexes them again from the node, as a real reorg would); `counts` receives
    /// the blocks applied by source.
    pub fn with_controls(
        mut self,
        forced_reorg: Arc<AtomicU32>,
        counts: Arc<SourceCounts>,
    ) -> Syncer {
        self.forced_reorg = forced_reorg;
        self.counts = counts;
        self
    }

    /// Keeps `mempool` consistent with the index: each commit removes the transactions it
    /// confirmed (and their conflicts) from the view in the same step.
    pub fn with_mempool(mut self, mempool: Mempool) -> Syncer {
        self.mempool = Some(mempool);
        self
    }

    /// The writer (e.g. to read the tip).
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Gives the writer back.
    pub fn into_writer(self) -> Writer {
        self.writer
    }

    /// Runs until `stop` is set: sync to the node's tip, then poll for new blocks. An error
    /// that retrying cannot fix (a reorg deeper than the limit, a corrupt index) ends it; a
    /// failing node or disk pauses it (the indexed chain stays served) until they recover.
    pub fn run(&mut self) -> Result<()> {
        let mut last_node_error: Option<Instant> = None;
        let mut last_disk_error: Option<Instant> = None;
        let quiet =
            |last: Option<Instant>| last.is_none_or(|t| t.elapsed() > Duration::from_secs(60));
        while !self.stopped() {
            match self.sync_once() {
                Ok(_) => {
                    if last_disk_error.take().is_some() {
                        (self.config.log)(&format!(
                            "the index is writable again; sync resumed at height {}",
                            self.writer.state().height
                        ));
                    }
                    if last_node_error.take().is_some() {
                        (self.config.log)(&format!(
                            "the node answers correctly again; sync resumed at height {}",
                            self.writer.state().height
                        ));
                    }
                }
                Err(SyncError::Node(e)) => {
                    // The node may be restarting; keep trying, but do not flood the log.
                    if quiet(last_node_error) {
                        (self.config.log)(&format!(
                            "{e}; still serving the indexed chain at height {}; retrying",
                            self.writer.state().height
                        ));
                        last_node_error = Some(Instant::now());
                    }
                }
                Err(SyncError::Storage(e)) if self.writer.is_read_only() => {
                    if quiet(last_disk_error) {
                        (self.config.log)(&format!(
                            "cannot write the index {}: {e}: it was opened without write \
                             permission. Sync is paused and the indexed chain (height {}) is \
                             still served; make DB_DIRECTORY and its files writable by this user \
                             and restart the server",
                            self.writer.path().display(),
                            self.writer.state().height
                        ));
                        last_disk_error = Some(Instant::now());
                    }
                }
                Err(SyncError::Storage(e)) => {
                    if quiet(last_disk_error) {
                        (self.config.log)(&format!(
                            "cannot write the index {}: {e}. Sync is paused and the indexed chain \
                             (height {}) is still served; free disk space or make DB_DIRECTORY \
                             writable and sync resumes by itself",
                            self.writer.path().display(),
                            self.writer.state().height
                        ));
                        last_disk_error = Some(Instant::now());
                    }
                }
                Err(SyncError::Fatal(e)) => return Err(e),
            }
            self.sleep(self.config.poll_interval);
        }
        Ok(())
    }

    /// Starts [`Syncer::run`] on its own thread.
    pub fn spawn(mut self) -> Result<std::thread::JoinHandle<Result<()>>> {
        std::thread::Builder::new()
            .name("sync".into())
            .spawn(move || self.run())
            .map_err(|e| Error::new(format!("cannot start the sync thread: {e}")))
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.stopped() {
            let now = Instant::now();
            if now >= until {
                break;
            }
            std::thread::sleep((until - now).min(Duration::from_millis(50)));
        }
    }

    /// Brings the index to the node's current tip (following a reorg if there is one).
    pub fn sync_once(&mut self) -> std::result::Result<SyncReport, SyncError> {
        let result = self.sync_round();
        if matches!(result, Err(SyncError::Storage(_))) {
            // Nothing of the failed transaction reached the file: drop it and start the next
            // round from the committed tip.
            self.discard_pending();
            self.writer.abort().map_err(write_err)?;
        }
        result
    }

    fn sync_round(&mut self) -> std::result::Result<SyncReport, SyncError> {
        let node_height = self.daemon.block_count().map_err(node_err)?;
        let ours = self.writer.state().height;
        let mut fork = self.find_fork(node_height)?;
        let forced = self.forced_reorg.load(Ordering::Relaxed);
        if forced > 0 && ours >= 0 {
            fork = fork.min((ours - i64::from(forced)).max(0));
        }
        let depth = (ours - fork).max(0) as u32;
        if depth > self.config.reorg_limit {
            return Err(SyncError::Fatal(Error::new(format!(
                "the node's best chain forks from the index at height {fork}, {depth} blocks below \
                 the indexed tip {ours}: deeper than REORG_LIMIT={}. Stop the server, delete {} \
                 (and its -wal/-shm files) and start again to resync, or raise REORG_LIMIT",
                self.config.reorg_limit,
                self.writer.path().display()
            ))));
        }
        let mut report = SyncReport {
            reorg_depth: depth,
            ..SyncReport::default()
        };
        if fork == ours && i64::from(node_height) == ours {
            report.at_tip = true;
            self.finish_initial_sync()?;
            return Ok(report);
        }
        if depth > 0 && forced > 0 {
            (self.config.log)(&format!(
                "reorg forced by the admin command: rolling back {depth} block(s) from {ours} \
                 and indexing the node's chain again from height {}",
                fork + 1
            ));
        } else if depth > 0 {
            (self.config.log)(&format!(
                "reorg: the node's chain forks at height {fork}; rolling back {depth} block(s) \
                 from {ours} and applying the node's branch to {node_height}"
            ));
        }
        let first = (fork + 1) as u32;
        let sources = Sources {
            daemon: self.daemon.clone(),
            files: self.config.block_files.clone(),
            parallelism: self.config.parallelism,
            log: Arc::clone(&self.config.log),
        };
        let prefetch = Prefetcher::start(sources, first, node_height, self.config.prefetch_bytes)
            .map_err(SyncError::Fatal)?;
        self.writer.set_track_touched(self.writer.state().caught_up);
        self.writer.begin().map_err(write_err)?;
        if depth > 0 {
            self.writer.rollback_to(fork).map_err(write_err)?;
        }
        let result = self.apply_fetched(&prefetch, (ours, node_height), depth, &mut report);
        drop(prefetch);
        let from_files = report.from_files;
        let over_rpc = report.blocks - from_files;
        self.counts.files.fetch_add(from_files, Ordering::Relaxed);
        self.counts.rpc.fetch_add(over_rpc, Ordering::Relaxed);
        if from_files > 0 || report.blocks >= u64::from(super::prefetch::MIN_FILE_RANGE) {
            (self.config.log)(&format!(
                "sync: {} block(s) read from the node's block files, {} over RPC \
                 ({} parallel)",
                from_files, over_rpc, self.config.parallelism
            ));
        }
        if !result? {
            return Ok(report);
        }
        report.at_tip = self.writer.state().height >= i64::from(node_height);
        if report.at_tip {
            self.finish_initial_sync()?;
        }
        Ok(report)
    }

    /// Applies what the prefetcher hands over, committing in batches, and counts it into
    /// `report`; false when stopped early.
    fn apply_fetched(
        &mut self,
        prefetch: &Prefetcher,
        (ours, node_height): (i64, u32),
        mut pending_depth: u32,
        report: &mut SyncReport,
    ) -> std::result::Result<bool, SyncError> {
        let first = (self.writer.state().height + 1) as u32;
        let mut progress = Progress::new(first, node_height, &self.config);
        let mut batch_txs = 0usize;
        let mut batch_start = Instant::now();
        while let Some(item) = prefetch.next() {
            let (block, from_file) = match item {
                Ok(f) => (f.block, f.from_file),
                Err(e) => {
                    // Keep what is complete; the next round refetches the rest.
                    self.commit_if_safe(ours, pending_depth)?;
                    return Err(SyncError::Node(e));
                }
            };
            if let Some(e) = self.refusal(&block) {
                // The node's answer does not continue our chain: keep what is complete and
                // ask again next round.
                self.commit_if_safe(ours, pending_depth)?;
                return Err(SyncError::Node(e));
            }
            let n = block.tx_count();
            if let Err(e) = self
                .writer
                .begin()
                .and_then(|_| self.writer.apply_block(&block))
            {
                self.discard_pending();
                self.writer.abort().map_err(write_err)?;
                return Err(write_err(e));
            }
            if self.mempool.is_some() {
                self.mined.extend_from_slice(&block.txids);
                self.spent.extend(
                    block
                        .block
                        .txs
                        .iter()
                        .flat_map(|tx| tx.inputs.iter().map(|i| i.prevout)),
                );
            }
            report.blocks += 1;
            report.txs += n as u64;
            report.from_files += u64::from(from_file);
            batch_txs += n;
            progress.advance(block.height, n);
            // A reorg commits only once the new branch reaches the old height, so readers
            // never see the chain shrink.
            let height = self.writer.state().height;
            let reorg_pending = pending_depth > 0 && height < ours;
            let big = batch_txs >= self.config.batch_txs
                || batch_start.elapsed() >= self.config.batch_time;
            let at_end = height >= i64::from(node_height);
            let tip_mode = self.writer.state().caught_up;
            if !reorg_pending && (big || at_end || tip_mode) {
                self.commit(pending_depth)?;
                pending_depth = 0;
                batch_txs = 0;
                batch_start = Instant::now();
                if self.stopped() {
                    return Ok(false);
                }
            }
        }
        if self.writer.in_transaction() {
            if pending_depth > 0 && self.writer.state().height < ours {
                // The node's chain got shorter than ours (invalidateblock): commit anyway.
                (self.config.log)("reorg: the node's new chain is shorter than the old one");
            }
            self.commit(pending_depth)?;
        }
        progress.done();
        Ok(true)
    }

    fn finish_initial_sync(&mut self) -> std::result::Result<(), SyncError> {
        if self.writer.state().caught_up {
            return Ok(());
        }
        (self.config.log)("initial sync reached the node's tip; building the remaining indexes");
        let t = Instant::now();
        self.writer.finish_initial_sync().map_err(write_err)?;
        (self.config.log)(&format!(
            "indexes built in {:.1}s",
            t.elapsed().as_secs_f64()
        ));
        self.writer.set_track_touched(true);
        Ok(())
    }

    fn commit_if_safe(
        &mut self,
        old_height: i64,
        pending_depth: u32,
    ) -> std::result::Result<(), SyncError> {
        if pending_depth > 0 && self.writer.state().height < old_height {
            self.discard_pending();
            self.writer.abort().map_err(write_err)
        } else {
            self.commit(pending_depth)
        }
    }

    fn discard_pending(&mut self) {
        self.mined.clear();
        self.spent.clear();
    }

    fn commit(&mut self, reorg_depth: u32) -> std::result::Result<(), SyncError> {
        let mined = std::mem::take(&mut self.mined);
        let spent = std::mem::take(&mut self.spent);
        let touched = match &self.mempool {
            None => self.writer.commit().map_err(write_err)?,
            Some(mempool) => {
                let writer = &mut self.writer;
                let (mut touched, unconfirmed) = mempool
                    .commit_block(|| writer.commit().map(|t| (t, mined, spent)))
                    .map_err(write_err)?;
                if !touched.all {
                    touched.scripthashes.extend(unconfirmed);
                }
                touched
            }
        };
        if reorg_depth > 0 {
            self.forced_reorg.store(0, Ordering::Relaxed);
        }
        let s = self.writer.state();
        if let (Some(events), Some(hash)) = (&self.events, s.hash) {
            let _ = events.send(ChainEvent {
                height: s.height.max(0) as u32,
                hash,
                touched,
                reorg_depth,
            });
        }
        Ok(())
    }
}

/// Why a sync round failed: the node (retry later) or something retrying cannot fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncError {
    /// The node could not be reached or answered badly; the next round retries.
    Node(Error),
    /// The disk refused a write (full, read-only): nothing was damaged; retry once it is fixed.
    Storage(Error),
    /// The index cannot follow (deep reorg, corrupt index).
    Fatal(Error),
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncError::Node(e) | SyncError::Storage(e) | SyncError::Fatal(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SyncError {}

/// A failed index write: the disk's fault (retryable) or the index's (fatal).
fn write_err(e: Error) -> SyncError {
    if e.is_storage() {
        SyncError::Storage(e)
    } else {
        SyncError::Fatal(e)
    }
}

fn node_err(e: crate::daemon::Error) -> SyncError {
    SyncError::Node(Error::new(e.to_string()))
}
