//! The load balancer's question, "should this server get wallets now?" (`GET /health` on the
//! metrics listener), answered from what the program last learned about its index and node.
//! Pure: [`assess`] turns the last look at the node into a status and a small JSON body.

use parking_lot::Mutex;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A node answer older than this means the node stopped answering (the program looks every
/// second; a busy node may take a few).
pub const STALE: Duration = Duration::from_secs(10);

/// One look at the node and the index, taken together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// Height of the indexed tip (-1: nothing indexed yet).
    pub index_height: i64,
    /// The node's best height.
    pub node_height: u32,
    /// Whether the indexed tip is a block of the node's best chain: false after a reorg until
    /// the index has followed it.
    pub on_node_chain: bool,
}

/// What the program knows about its node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NodeView {
    /// Not asked yet.
    #[default]
    Unknown,
    /// The node answered, at `at`.
    Answered {
        /// When.
        at: Instant,
        /// What the node and the index said.
        seen: Observation,
    },
    /// The last question failed; `last` is the last answer there was.
    Failed {
        /// The error, for the operator.
        error: String,
        /// Whether the node answered that it is still loading (-28) rather than not at all.
        warming_up: bool,
        /// The last successful look, if any.
        last: Option<Observation>,
    },
}

/// The last look at the node: written by the program's prober, read by the endpoint.
#[derive(Clone, Debug, Default)]
pub struct HealthBoard(Arc<Mutex<NodeView>>);

impl HealthBoard {
    /// Records a look.
    pub fn set(&self, view: NodeView) {
        *self.0.lock() = view;
    }

    /// Records a look that found no node answering, keeping the last observation there was.
    pub fn fail(&self, error: String) {
        self.failed(error, false);
    }

    /// Records a look that found the node still loading (-28), keeping the last observation.
    pub fn warming_up(&self, message: String) {
        self.failed(message, true);
    }

    fn failed(&self, error: String, warming_up: bool) {
        let mut view = self.0.lock();
        let last = match &*view {
            NodeView::Answered { seen, .. } => Some(*seen),
            NodeView::Failed { last, .. } => *last,
            NodeView::Unknown => None,
        };
        *view = NodeView::Failed {
            error,
            warming_up,
            last,
        };
    }

    /// The last look.
    pub fn get(&self) -> NodeView {
        self.0.lock().clone()
    }
}

/// The answer to `GET /health`.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// 200 (take wallets) or 503 (do not).
    pub status: u16,
    /// `{height, node_height, caught_up, sessions}`, with `reason` when the status is 503.
    pub body: Value,
}

/// Judges the server's health: 200 only when clients are served, the node answers, and the
/// index is at the node's tip on the node's chain; otherwise 503 with the reason.
pub fn assess(view: &NodeView, serving: bool, sessions: u64, now: Instant) -> Verdict {
    let (seen, trouble) = match view {
        NodeView::Unknown => (
            None,
            Some("starting: the node has not been asked yet".to_string()),
        ),
        NodeView::Failed {
            error,
            warming_up,
            last,
        } => {
            let what = if *warming_up {
                "node warming up"
            } else {
                "node unreachable"
            };
            (*last, Some(format!("{what}: {error}")))
        }
        NodeView::Answered { at, seen } => {
            let age = now.saturating_duration_since(*at);
            let stale = (age > STALE)
                .then(|| format!("node unreachable: no answer for {} s", age.as_secs()));
            (Some(*seen), stale)
        }
    };
    let reason = trouble.or_else(|| {
        let s = seen?;
        if !s.on_node_chain && s.index_height >= 0 {
            Some(format!(
                "catching up after a reorg: the indexed block at height {} is no longer on the \
                 node's best chain (node at {})",
                s.index_height, s.node_height
            ))
        } else if s.index_height < i64::from(s.node_height) {
            Some(format!(
                "syncing: index at height {}, node at {} ({} blocks behind)",
                s.index_height,
                s.node_height,
                i64::from(s.node_height) - s.index_height
            ))
        } else if !serving {
            Some("not serving: the index is at the node's tip, but clients are not served (the server is starting or stopping)".into())
        } else {
            None
        }
    });
    let mut body = json!({
        "height": seen.map(|s| s.index_height),
        "node_height": seen.map(|s| s.node_height),
        "caught_up": reason.is_none(),
        "sessions": sessions,
    });
    let status = match reason {
        None => 200,
        Some(why) => {
            body["reason"] = json!(why);
            503
        }
    };
    Verdict { status, body }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(index_height: i64, node_height: u32, on_node_chain: bool) -> Observation {
        Observation {
            index_height,
            node_height,
            on_node_chain,
        }
    }

    fn answered(at: Instant, s: Observation) -> NodeView {
        NodeView::Answered { at, seen: s }
    }

    fn reason(v: &Verdict) -> &str {
        v.body["reason"].as_str().unwrap_or("")
    }

    #[test]
    fn at_the_tip_with_the_node_answering_is_healthy() {
        let now = Instant::now();
        let v = assess(&answered(now, seen(120, 120, true)), true, 7, now);
        assert_eq!(v.status, 200);
        assert_eq!(
            v.body,
            json!({"height": 120, "node_height": 120, "caught_up": true, "sessions": 7})
        );
    }

    #[test]
    fn behind_the_node_is_syncing() {
        let now = Instant::now();
        let v = assess(&answered(now, seen(100, 120, true)), true, 0, now);
        assert_eq!(v.status, 503);
        assert_eq!(v.body["caught_up"], json!(false));
        assert_eq!(
            reason(&v),
            "syncing: index at height 100, node at 120 (20 blocks behind)"
        );
        let empty = assess(&answered(now, seen(-1, 5, false)), false, 0, now);
        assert!(
            reason(&empty).starts_with("syncing: index at height -1"),
            "{empty:?}"
        );
    }

    #[test]
    fn an_index_off_the_nodes_chain_is_catching_up_after_a_reorg() {
        let now = Instant::now();
        for s in [
            seen(120, 120, false),
            seen(120, 118, false),
            seen(119, 121, false),
        ] {
            let v = assess(&answered(now, s), true, 3, now);
            assert_eq!(v.status, 503);
            assert!(reason(&v).starts_with("catching up after a reorg"), "{v:?}");
            assert_eq!(v.body["height"], json!(s.index_height));
        }
    }

    #[test]
    fn a_node_that_fails_or_stops_answering_is_unreachable() {
        let then = Instant::now();
        let v = assess(
            &NodeView::Failed {
                error: "connection refused".into(),
                warming_up: false,
                last: Some(seen(120, 120, true)),
            },
            true,
            2,
            then,
        );
        assert_eq!(v.status, 503);
        assert_eq!(reason(&v), "node unreachable: connection refused");
        assert_eq!(v.body["node_height"], json!(120));

        let fresh = answered(then, seen(120, 120, true));
        assert_eq!(assess(&fresh, true, 0, then + STALE).status, 200);
        let v = assess(&fresh, true, 0, then + STALE + Duration::from_secs(2));
        assert_eq!(reason(&v), "node unreachable: no answer for 12 s");
    }

    #[test]
    fn a_node_still_loading_is_warming_up() {
        let board = HealthBoard::default();
        board.warming_up("Loading block index... (code -28)".into());
        let v = assess(&board.get(), false, 0, Instant::now());
        assert_eq!(v.status, 503);
        assert_eq!(
            reason(&v),
            "node warming up: Loading block index... (code -28)"
        );
        assert_eq!(v.body["height"], Value::Null);
        board.fail("connection refused".into());
        assert_eq!(
            reason(&assess(&board.get(), false, 0, Instant::now())),
            "node unreachable: connection refused"
        );
    }

    #[test]
    fn a_failed_look_keeps_the_last_observation() {
        let board = HealthBoard::default();
        board.fail("refused".into());
        assert_eq!(
            board.get(),
            NodeView::Failed {
                error: "refused".into(),
                warming_up: false,
                last: None
            }
        );
        let now = Instant::now();
        board.set(answered(now, seen(5, 5, true)));
        board.fail("timed out".into());
        board.fail("refused".into());
        assert_eq!(
            board.get(),
            NodeView::Failed {
                error: "refused".into(),
                warming_up: false,
                last: Some(seen(5, 5, true))
            }
        );
    }

    #[test]
    fn not_serving_yet_or_not_asked_yet_is_starting() {
        let now = Instant::now();
        let v = assess(&answered(now, seen(120, 120, true)), false, 0, now);
        assert_eq!(v.status, 503);
        assert!(reason(&v).starts_with("not serving: the index is at the node's tip"));
        let v = assess(&NodeView::Unknown, true, 0, now);
        assert_eq!(v.status, 503);
        assert_eq!(v.body["height"], Value::Null);
        assert!(reason(&v).starts_with("starting: the node has not been asked"));
    }
}
