//! The chain side of `GET /health`: a thread that looks at the node's tip and the index's every
//! second and leaves what it saw on the [`HealthBoard`], so the endpoint answers at once, from
//! the last look, however slow the node is.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::chain::Network;
use crate::daemon::{Daemon, Error as NodeCallError, NodeError};
use crate::index::read::Reader;
use crate::server::health::{HealthBoard, NodeView, Observation};

/// How often the node is asked.
const EVERY: Duration = Duration::from_secs(1);

/// Starts the thread; it ends when `stop` is set. It may start before the node is up: it
/// reports a node that does not answer, or answers that it is still loading, as such.
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
            // A warming-up node is reported, not waited for.
            let daemon = daemon.impatient();
            let mut reader = None;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                match look(&daemon, &db_path, network, &mut reader) {
                    Ok(seen) => board.set(NodeView::Answered { at: started, seen }),
                    Err(Miss::WarmingUp(message)) => board.warming_up(message),
                    Err(Miss::Other(error)) => board.fail(error),
                }
                while started.elapsed() < EVERY && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        })
        .map_err(|e| format!("cannot start the health thread: {e}"))
}

/// Why a look saw nothing.
enum Miss {
    /// The node answered -28: it is loading its block index.
    WarmingUp(String),
    /// The node did not answer (or the index could not be read).
    Other(String),
}

impl From<NodeCallError> for Miss {
    fn from(e: NodeCallError) -> Miss {
        match e {
            NodeCallError::Node { error, .. } if error.code == NodeError::WARMING_UP => {
                Miss::WarmingUp(error.to_string())
            }
            other => Miss::Other(other.to_string()),
        }
    }
}

/// One look: the index's tip, the node's, and whether the node's best chain holds the index's
/// tip block (it does not while a reorg is being followed).
fn look(
    daemon: &Daemon,
    db_path: &std::path::Path,
    network: Network,
    reader: &mut Option<Reader>,
) -> Result<Observation, Miss> {
    if reader.is_none() {
        // The index file appears with the first start's sync: until then nothing is indexed.
        *reader = Reader::open(db_path, network, 1).ok();
    }
    let tip = match reader.as_ref().map(Reader::tip) {
        Some(Ok(tip)) => tip,
        Some(Err(e)) => {
            *reader = None;
            return Err(Miss::Other(format!("cannot read the index: {e}")));
        }
        None => None,
    };
    let best = daemon.best_block_hash()?;
    let node_height = daemon.block_count()?;
    let Some((height, hash)) = tip else {
        return Ok(Observation {
            index_height: -1,
            node_height,
            on_node_chain: true,
        });
    };
    let on_node_chain =
        hash == best || (height <= node_height && daemon.block_hashes(height, 1)?[0] == hash);
    Ok(Observation {
        index_height: i64::from(height),
        node_height,
        on_node_chain,
    })
}
