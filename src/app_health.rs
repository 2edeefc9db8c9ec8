//! The chain side of `GET /health`: a thread that looks at the node's tip and the index's every
//! second and leaves what it saw on the [`HealthBoard`], so the endpoint answers at once, from
//! the last look, however slow the node is.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::chain::Network;
use crate::daemon::Daemon;
use crate::index::read::Reader;
use crate::server::health::{HealthBoard, NodeView, Observation};

/// How often the node is asked.
const EVERY: Duration = Duration::from_secs(1);

/// Starts the thread; it ends when `stop` is set.
pub fn spawn(
    daemon: Daemon,
    db_path: PathBuf,
    network: Network,
    board: HealthBoard,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, String> {
    std::thread::Builder::new()
        .name("health".into())
        .spawn(move || {
            let mut reader = None;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                match look(&daemon, &db_path, network, &mut reader) {
                    Ok(seen) => board.set(NodeView::Answered { at: started, seen }),
                    Err(error) => board.fail(error),
                }
                while started.elapsed() < EVERY && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        })
        .map_err(|e| format!("cannot start the health thread: {e}"))
}

/// One look: the index's tip, the node's, and whether the node's best chain holds the index's
/// tip block (it does not while a reorg is being followed).
fn look(
    daemon: &Daemon,
    db_path: &std::path::Path,
    network: Network,
    reader: &mut Option<Reader>,
) -> Result<Observation, String> {
    if reader.is_none() {
        // The index file appears with the first start's sync: until then nothing is indexed.
        *reader = Reader::open(db_path, network, 1).ok();
    }
    let tip = match reader.as_ref().map(Reader::tip) {
        Some(Ok(tip)) => tip,
        Some(Err(e)) => {
            *reader = None;
            return Err(format!("cannot read the index: {e}"));
        }
        None => None,
    };
    let best = daemon.best_block_hash().map_err(|e| e.to_string())?;
    let node_height = daemon.block_count().map_err(|e| e.to_string())?;
    let Some((height, hash)) = tip else {
        return Ok(Observation {
            index_height: -1,
            node_height,
            on_node_chain: true,
        });
    };
    let on_node_chain = hash == best
        || (height <= node_height
            && daemon.block_hashes(height, 1).map_err(|e| e.to_string())?[0] == hash);
    Ok(Observation {
        index_height: i64::from(height),
        node_height,
        on_node_chain,
    })
}
