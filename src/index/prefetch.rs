//! Fetching blocks ahead of the writer: a thread asks the node for block hashes and raw blocks,
//! parses them into [`PreparedBlock`]s and hands them over through a queue bounded in bytes, so
//! memory stays flat whatever the block sizes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};

use super::prepared::PreparedBlock;
use super::{Error, Result};
use crate::daemon::Daemon;

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
/// Bytes aimed at per `getblock` batch.
const FETCH_TARGET_BYTES: usize = 2 << 20;
/// Most blocks per `getblock` batch.
const MAX_FETCH_BLOCKS: usize = 200;

/// A running prefetch of heights `first..=last`; dropping it stops the thread.
pub struct Prefetcher {
    queue: Arc<ByteQueue<Result<PreparedBlock>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Prefetcher {
    /// Starts fetching heights `first..=last` from `daemon` into a queue of `cap_bytes`.
    pub fn start(daemon: Daemon, first: u32, last: u32, cap_bytes: usize) -> Result<Prefetcher> {
        let queue = Arc::new(ByteQueue::new(cap_bytes));
        let stop = Arc::new(AtomicBool::new(false));
        let (q, s) = (Arc::clone(&queue), Arc::clone(&stop));
        let handle = std::thread::Builder::new()
            .name("prefetch".into())
            .spawn(move || {
                if let Err(e) = fetch_range(&daemon, first, last, cap_bytes, &q, &s) {
                    q.push(Err(e), 0);
                }
                q.close();
            })
            .map_err(|e| Error::new(format!("cannot start the prefetch thread: {e}")))?;
        Ok(Prefetcher {
            queue,
            stop,
            handle: Some(handle),
        })
    }

    /// The next block in height order; `None` when the range is done.
    pub fn next(&self) -> Option<Result<PreparedBlock>> {
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

fn fetch_range(
    daemon: &Daemon,
    first: u32,
    last: u32,
    cap_bytes: usize,
    queue: &ByteQueue<Result<PreparedBlock>>,
    stop: &AtomicBool,
) -> Result<()> {
    let target = FETCH_TARGET_BYTES.min(cap_bytes / 4).max(1);
    let mut avg_size = 4096usize;
    let mut height = first;
    while height <= last {
        let count = HASH_CHUNK.min(last - height + 1);
        let hashes = daemon
            .block_hashes(height, count)
            .map_err(|e| Error::new(format!("fetching block hashes from height {height}: {e}")))?;
        if hashes.len() != count as usize {
            return Err(Error::new(format!(
                "the node returned {} block hashes for heights {height}..{}",
                hashes.len(),
                height + count - 1
            )));
        }
        let mut i = 0;
        while i < hashes.len() {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let n = (target / avg_size.max(1))
                .clamp(1, MAX_FETCH_BLOCKS)
                .min(hashes.len() - i);
            let batch = &hashes[i..i + n];
            let raws = daemon.blocks(batch).map_err(|e| {
                Error::new(format!(
                    "fetching blocks from height {}: {e}",
                    height + i as u32
                ))
            })?;
            if raws.len() != batch.len() {
                return Err(Error::new(format!(
                    "the node returned {} blocks for {} hashes",
                    raws.len(),
                    batch.len()
                )));
            }
            let total: usize = raws.iter().map(Vec::len).sum();
            avg_size = (avg_size + total / raws.len().max(1)) / 2;
            for (j, raw) in raws.iter().enumerate() {
                let h = height + (i + j) as u32;
                let block = PreparedBlock::parse(h, &batch[j], raw)?;
                // Parsed blocks take about twice their raw size in memory.
                if !queue.push(Ok(block), raw.len() * 2) {
                    return Ok(());
                }
            }
            i += n;
        }
        height += count;
    }
    Ok(())
}
