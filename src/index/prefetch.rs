//! Fetching blocks ahead of the writer. The node names the chain (`getblockhash` batches); a few
//! workers read the blocks — from the node's block files when a scan found them there and they
//! check out, over parallel `getblock` calls otherwise — and parse them; a coordinator hands them
//! to the writer in height order through a queue bounded in bytes, so memory stays flat whatever
//! the block sizes or the order in which workers finish.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::prepared::PreparedBlock;
use super::sync::LogFn;
use super::{Error, Result};
use crate::chain::encode::Cursor;
use crate::chain::hash::hash_to_hex;
use crate::chain::{Hash32, Header};
use crate::daemon::{BlockFiles, BlockMap, Daemon, OpenFiles};

/// A FIFO whose producer blocks while the queued items exceed a byte budget.
pub struct ByteQueue<T> {
    inner: Mutex<QueueInner<T>>,
    changed: Condvar,
    cap_bytes: usize,
}

struct QueueInner<T> {
    items: VecDeque<(T, usize)>,
    bytes: usize,
    closed: bool,
}

impl<T> ByteQueue<T> {
    /// A queue holding at most `cap_bytes` (one item is always admitted, however big).
    pub fn new(cap_bytes: usize) -> ByteQueue<T> {
        ByteQueue {
            inner: Mutex::new(QueueInner {
                items: VecDeque::new(),
                bytes: 0,
                closed: false,
            }),
            changed: Condvar::new(),
            cap_bytes,
        }
    }

    /// Adds an item of `size` bytes, waiting for room; false when the queue was closed.
    pub fn push(&self, item: T, size: usize) -> bool {
        let mut q = self.inner.lock();
        while !q.closed && q.bytes > 0 && q.bytes + size > self.cap_bytes {
            self.changed.wait(&mut q);
        }
        if q.closed {
            return false;
        }
        q.bytes += size;
        q.items.push_back((item, size));
        self.changed.notify_all();
        true
    }

    /// Takes the oldest item, waiting for one; `None` once closed and drained.
    pub fn pop(&self) -> Option<T> {
        let mut q = self.inner.lock();
        loop {
            if let Some((item, size)) = q.items.pop_front() {
                q.bytes -= size;
                self.changed.notify_all();
                return Some(item);
            }
            if q.closed {
                return None;
            }
            self.changed.wait(&mut q);
        }
    }

    /// Ends the stream: producers stop, the consumer drains what is queued.
    pub fn close(&self) {
        self.inner.lock().closed = true;
        self.changed.notify_all();
    }

    /// Bytes currently queued.
    pub fn bytes(&self) -> usize {
        self.inner.lock().bytes
    }
}

/// Hashes asked per `getblockhash` batch.
const HASH_CHUNK: u32 = 2000;
/// Most blocks per job read from files (large jobs keep the coordinator's share small).
const MAX_FILE_JOB: usize = 500;
/// Most blocks per job fetched over RPC: the node answers a batch on one thread, one block at a
/// time (~27 ms each), so small jobs keep the first blocks coming within a second and a stop is
/// honoured within half a second.
const MAX_RPC_JOB: usize = 16;
/// Ranges shorter than this come over RPC without scanning the block files first.
pub const MIN_FILE_RANGE: u32 = 100;
/// Block-file mismatches logged one by one per range; the rest are counted.
const LOGGED_MISMATCHES: u32 = 10;

/// Where blocks come from.
pub struct Sources {
    /// The node: hashes always, blocks when the files do not have them.
    pub daemon: Daemon,
    /// The node's block files, when readable.
    pub files: Option<BlockFiles>,
    /// Concurrent `getblock` batches (and file-reading workers).
    pub parallelism: usize,
    /// Where the scan summary and mismatches are logged.
    pub log: LogFn,
}

/// A block ready for the writer and where it came from.
pub struct Fetched {
    /// The parsed, checked block.
    pub block: PreparedBlock,
    /// True when it was read from the node's block files, false when it came over RPC.
    pub from_file: bool,
}

/// A running prefetch of heights `first..=last`; dropping it stops the threads.
pub struct Prefetcher {
    queue: Arc<ByteQueue<Result<Fetched>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Prefetcher {
    /// Starts fetching heights `first..=last` into a queue of `cap_bytes`; the block files are
    /// scanned first when given and the range is long enough to be worth it.
    pub fn start(sources: Sources, first: u32, last: u32, cap_bytes: usize) -> Result<Prefetcher> {
        let queue = Arc::new(ByteQueue::new(cap_bytes));
        let stop = Arc::new(AtomicBool::new(false));
        let (q, s) = (Arc::clone(&queue), Arc::clone(&stop));
        let handle = std::thread::Builder::new()
            .name("prefetch".into())
            .spawn(move || {
                // Closed however the thread ends (a panic too), so the writer never waits on it.
                let q = ClosedOnDrop(q);
                if let Err(e) = fetch_range(&sources, first, last, cap_bytes, &q.0, &s) {
                    q.0.push(Err(e), 0);
                }
            })
            .map_err(|e| Error::new(format!("cannot start the prefetch thread: {e}")))?;
        Ok(Prefetcher {
            queue,
            stop,
            handle: Some(handle),
        })
    }

    /// The next block in height order; `None` when the range is done.
    pub fn next(&self) -> Option<Result<Fetched>> {
        self.queue.pop()
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.queue.close();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Closes the queue when dropped.
struct ClosedOnDrop(Arc<ByteQueue<Result<Fetched>>>);

impl Drop for ClosedOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Consecutive heights for one worker.
struct Job {
    index: u64,
    first: u32,
    hashes: Vec<Hash32>,
}

/// What the workers share.
struct Shared<'a> {
    sources: &'a Sources,
    map: Option<&'a BlockMap>,
    /// Mismatching file blocks seen so far (for the log's limit).
    mismatches: Mutex<u32>,
}

fn fetch_range(
    sources: &Sources,
    first: u32,
    last: u32,
    cap_bytes: usize,
    queue: &ByteQueue<Result<Fetched>>,
    stop: &AtomicBool,
) -> Result<()> {
    let map = match &sources.files {
        Some(files) if last >= first && last - first + 1 >= MIN_FILE_RANGE => {
            scan(files, first, last, stop, &sources.log)
        }
        _ => None,
    };
    let workers = sources.parallelism.max(1);
    let shared = Shared {
        sources,
        map: map.as_ref(),
        mismatches: Mutex::new(0),
    };
    let (job_tx, job_rx) = crossbeam_channel::unbounded::<Job>();
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<(u64, Result<Vec<Fetched>>)>();
    let size = JobSize::new(workers, cap_bytes, map.is_some());
    std::thread::scope(|scope| {
        for i in 0..workers {
            let (jobs, done, shared) = (job_rx.clone(), done_tx.clone(), &shared);
            std::thread::Builder::new()
                .name(format!("fetch-{i}"))
                .spawn_scoped(scope, move || {
                    let mut open = OpenFiles::default();
                    for job in jobs {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let result = fetch_job(shared, &job, &mut open);
                        if done.send((job.index, result)).is_err() {
                            break;
                        }
                    }
                })
                .map_err(|e| Error::new(format!("cannot start a fetch thread: {e}")))?;
        }
        drop(done_tx);
        let crew = Crew {
            jobs: job_tx,
            done: done_rx,
        };
        // When it returns, the workers finish the job in hand and see the channel closed.
        coordinate(&sources.daemon, (first, last), &size, &crew, queue, stop)
    })
}

/// How the range is cut into jobs.
struct JobSize {
    /// Jobs handed out and not yet passed on, four per worker: the node takes its callers out
    /// of order, so a job it serves late must not leave the other workers without work.
    max_in_flight: usize,
    /// Bytes aimed at per job: jobs in flight hold about half the queue's budget.
    bytes: usize,
    /// Most blocks per job.
    max_blocks: usize,
}

impl JobSize {
    fn new(workers: usize, cap_bytes: usize, from_files: bool) -> JobSize {
        let max_in_flight = 4 * workers;
        JobSize {
            max_in_flight,
            bytes: (cap_bytes / max_in_flight / 2).max(1),
            max_blocks: if from_files {
                MAX_FILE_JOB
            } else {
                MAX_RPC_JOB
            },
        }
    }

    /// Blocks in the next job, given the average block size so far.
    fn blocks(&self, avg_size: usize) -> usize {
        (self.bytes / avg_size.max(1)).clamp(1, self.max_blocks)
    }
}

/// The coordinator's ends of the workers' channels.
struct Crew {
    jobs: crossbeam_channel::Sender<Job>,
    done: crossbeam_channel::Receiver<(u64, Result<Vec<Fetched>>)>,
}

/// Scans the block files for `first..=last`, logging what it found; `None` if the scan failed.
fn scan(
    files: &BlockFiles,
    first: u32,
    last: u32,
    stop: &AtomicBool,
    log: &LogFn,
) -> Option<BlockMap> {
    let t = Instant::now();
    match files.scan(first, last, stop) {
        Ok(map) => {
            for problem in &map.problems {
                log(&format!(
                    "block files: cannot read {problem}; its blocks come over RPC"
                ));
            }
            for damage in &map.damaged {
                log(&format!(
                    "block files: damaged record in {damage}; its block comes over RPC"
                ));
            }
            if map.damaged_count > map.damaged.len() as u64 {
                log(&format!(
                    "block files: {} damaged records in all",
                    map.damaged_count
                ));
            }
            log(&format!(
                "block files: scanned {} of {} files in {} ({:.1} MB, {} records) in {:.1}s: \
                 {} of {} heights {first}..{last} found; the rest come over RPC",
                map.files_scanned,
                map.file_count(),
                files.dir().display(),
                map.bytes_scanned as f64 / 1e6,
                map.records,
                t.elapsed().as_secs_f64(),
                map.located,
                map.wanted(),
            ));
            Some(map)
        }
        Err(e) => {
            log(&format!(
                "block files: cannot list {}: {e}; blocks come over RPC",
                files.dir().display()
            ));
            None
        }
    }
}

/// Hands out jobs of heights named by the node, a few at a time, and passes finished ones on
/// in height order.
fn coordinate(
    daemon: &Daemon,
    (first, last): (u32, u32),
    size: &JobSize,
    crew: &Crew,
    queue: &ByteQueue<Result<Fetched>>,
    stop: &AtomicBool,
) -> Result<()> {
    let mut avg_size = 4096usize;
    let mut hashes: VecDeque<Hash32> = VecDeque::new();
    let mut next_height = first;
    let mut hashed_to = first;
    let mut next_job = 0u64;
    let mut next_out = 0u64;
    let mut finished: BTreeMap<u64, Result<Vec<Fetched>>> = BTreeMap::new();
    loop {
        while next_job - next_out < size.max_in_flight as u64 && next_height <= last {
            if hashes.is_empty() {
                let count = HASH_CHUNK.min(last - hashed_to + 1);
                hashes.extend(block_hashes(daemon, hashed_to, count)?);
                hashed_to += count;
            }
            let n = size.blocks(avg_size).min(hashes.len());
            let job = Job {
                index: next_job,
                first: next_height,
                hashes: hashes.drain(..n).collect(),
            };
            next_height += n as u32;
            next_job += 1;
            if crew.jobs.send(job).is_err() {
                return Err(Error::new("the fetch threads stopped"));
            }
        }
        if next_out == next_job {
            return Ok(());
        }
        let (index, result) = loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            match crew.done.recv_timeout(Duration::from_millis(100)) {
                Ok(r) => break r,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    return Err(Error::new("the fetch threads stopped"))
                }
            }
        };
        finished.insert(index, result);
        while let Some(result) = finished.remove(&next_out) {
            next_out += 1;
            let blocks = result?;
            let total: usize = blocks.iter().map(|f| f.block.size).sum();
            avg_size = (avg_size + total / blocks.len().max(1)) / 2;
            for fetched in blocks {
                // Parsed blocks take about twice their raw size in memory.
                let size = fetched.block.size * 2;
                if !queue.push(Ok(fetched), size) {
                    return Ok(());
                }
            }
        }
    }
}

fn block_hashes(daemon: &Daemon, first: u32, count: u32) -> Result<Vec<Hash32>> {
    let hashes = daemon
        .block_hashes(first, count)
        .map_err(|e| Error::new(format!("fetching block hashes from height {first}: {e}")))?;
    if hashes.len() != count as usize {
        return Err(Error::new(format!(
            "the node returned {} block hashes for heights {first}..{}",
            hashes.len(),
            first + count - 1
        )));
    }
    Ok(hashes)
}

/// One job's blocks in height order: from the files where they check out, the rest in one
/// `getblock` batch.
fn fetch_job(shared: &Shared, job: &Job, open: &mut OpenFiles) -> Result<Vec<Fetched>> {
    let mut out: Vec<Option<Fetched>> = Vec::with_capacity(job.hashes.len());
    let mut missing = Vec::new();
    for (i, hash) in job.hashes.iter().enumerate() {
        let height = job.first + i as u32;
        let from_file = shared
            .map
            .and_then(|map| from_files(shared, map, height, hash, open));
        if from_file.is_none() {
            missing.push(i);
        }
        out.push(from_file.map(|block| Fetched {
            block,
            from_file: true,
        }));
    }
    if !missing.is_empty() {
        let hashes: Vec<Hash32> = missing.iter().map(|&i| job.hashes[i]).collect();
        let first_missing = job.first + missing[0] as u32;
        let raws =
            shared.sources.daemon.blocks(&hashes).map_err(|e| {
                Error::new(format!("fetching blocks from height {first_missing}: {e}"))
            })?;
        if raws.len() != hashes.len() {
            return Err(Error::new(format!(
                "the node returned {} blocks for {} hashes",
                raws.len(),
                hashes.len()
            )));
        }
        for (&i, raw) in missing.iter().zip(&raws) {
            let block = PreparedBlock::parse(job.first + i as u32, &job.hashes[i], raw)?;
            out[i] = Some(Fetched {
                block,
                from_file: false,
            });
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// The block at `height` from the files, when a record there hashes to the node's `hash` and
/// passes the merkle check; mismatches are logged (the block then comes over RPC).
fn from_files(
    shared: &Shared,
    map: &BlockMap,
    height: u32,
    hash: &Hash32,
    open: &mut OpenFiles,
) -> Option<PreparedBlock> {
    let shown = hash_to_hex(hash);
    // The parse errors name the block; the log line does once.
    let named = [
        format!("block {shown} at height {height}: "),
        format!("block {shown}: "),
    ];
    let mut why = None;
    for loc in map.candidates(height) {
        let checked = map
            .read(loc, open)
            .map_err(|e| format!("cannot read it: {e}"))
            .and_then(|raw| match Header::parse(&mut Cursor::new(&raw)) {
                // A stale branch's block claims the same height too.
                Ok(h) if h.hash() != *hash => {
                    Err(format!("its header hashes to {}", hash_to_hex(&h.hash())))
                }
                _ => PreparedBlock::parse(height, hash, &raw).map_err(|e| {
                    let mut msg = e.to_string();
                    for prefix in &named {
                        if let Some(rest) = msg.strip_prefix(prefix.as_str()) {
                            msg = rest.to_string();
                        }
                    }
                    msg
                }),
            });
        match checked {
            Ok(block) => return Some(block),
            Err(e) => why = Some((map.describe(loc), e)),
        }
    }
    if let Some((place, reason)) = why {
        let mut seen = shared.mismatches.lock();
        *seen += 1;
        if *seen <= LOGGED_MISMATCHES {
            (shared.sources.log)(&format!(
                "block files: the record in {place} is not the node's block {height} ({shown}): \
                 {reason}; fetching it over RPC"
            ));
        } else if *seen == LOGGED_MISMATCHES + 1 {
            (shared.sources.log)(
                "block files: more records do not match the node's blocks; those blocks come \
                 over RPC too (counted in the sync summary)",
            );
        }
    }
    None
}
