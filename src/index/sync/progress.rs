//! The progress line of a long sync: height, share done, blocks and transactions per second,
//! and the time left.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{LogFn, SyncConfig};

/// Rate and ETA bookkeeping for the progress line.
pub(super) struct Progress {
    log: LogFn,
    every: Duration,
    target: u32,
    start: Instant,
    last: Instant,
    last_blocks: u64,
    last_txs: u64,
    blocks: u64,
    txs: u64,
    height: u32,
    first: u32,
}

impl Progress {
    pub(super) fn new(first: u32, target: u32, config: &SyncConfig) -> Progress {
        let now = Instant::now();
        Progress {
            log: Arc::clone(&config.log),
            every: config.progress_interval,
            target,
            start: now,
            last: now,
            last_blocks: 0,
            last_txs: 0,
            blocks: 0,
            txs: 0,
            height: first.saturating_sub(1),
            first,
        }
    }

    pub(super) fn advance(&mut self, height: u32, txs: usize) {
        self.blocks += 1;
        self.txs += txs as u64;
        self.height = height;
        let dt = self.last.elapsed();
        if dt >= self.every {
            let secs = dt.as_secs_f64();
            let bps = (self.blocks - self.last_blocks) as f64 / secs;
            let tps = (self.txs - self.last_txs) as f64 / secs;
            let overall = self.blocks as f64 / self.start.elapsed().as_secs_f64();
            let left = f64::from(self.target.saturating_sub(height));
            let eta = if overall > 0.0 { left / overall } else { 0.0 };
            (self.log)(&format!(
                "sync: height {height} / {} ({:.1}%), {bps:.0} blocks/s, {tps:.0} tx/s, ETA {}",
                self.target,
                100.0 * f64::from(height.saturating_sub(self.first) + 1)
                    / f64::from(self.target.saturating_sub(self.first) + 1),
                format_eta(eta)
            ));
            self.last = Instant::now();
            self.last_blocks = self.blocks;
            self.last_txs = self.txs;
        }
    }

    pub(super) fn done(&self) {
        let secs = self.start.elapsed().as_secs_f64();
        if self.blocks > 0 && secs >= self.every.as_secs_f64() {
            (self.log)(&format!(
                "sync: reached height {} ({} blocks, {} txs in {secs:.1}s, {:.0} tx/s)",
                self.height,
                self.blocks,
                self.txs,
                self.txs as f64 / secs
            ));
        }
    }
}

fn format_eta(secs: f64) -> String {
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}
