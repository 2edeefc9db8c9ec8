//! The fixed worker pool: jobs come from the event loop over a crossbeam channel, answers go back
//! over another one, and the loop is woken through its `mio::Waker`.

use crate::jsonrpc::{
    encode_error, encode_result, encode_result_text, Answer, Backend, Reply, RpcError,
};
use crossbeam_channel::{Receiver, Sender};
use serde_json::Value;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Where the answer of a job goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// To one request of one session (`serial` guards against a reused slot).
    Session {
        /// Slot of the connection in the loop.
        token: usize,
        /// Unique number of the connection.
        serial: u64,
        /// The session's number for this request.
        tag: u64,
    },
    /// To every session subscribed to a scripthash (a notification check).
    Notify {
        /// The scripthash whose status was recomputed.
        scripthash: [u8; 32],
    },
}

/// What a worker does.
#[derive(Clone, Debug, PartialEq)]
pub enum Task {
    /// Run a method; encode the answer for `id` (no encoding for a notification).
    Call {
        /// Request id, `None` for a client notification.
        id: Option<Value>,
        /// Method name.
        method: String,
        /// Params as sent.
        params: Value,
    },
    /// Compute a scripthash status.
    Status {
        /// The scripthash.
        scripthash: [u8; 32],
    },
    /// Read the current tip.
    Tip,
}

/// A unit of work for the pool.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    /// Where the answer goes.
    pub route: Route,
    /// What to do.
    pub task: Task,
}

/// The result of a job, as the loop needs it.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// An encoded response object (no newline); `error` tells whether it is an error response.
    Response {
        /// The encoded JSON-RPC response.
        bytes: Vec<u8>,
        /// True for an error response (charged as an error).
        error: bool,
    },
    /// A notification was run; nothing to send.
    Silent {
        /// True when the call failed.
        error: bool,
    },
    /// A computed status.
    Status(Result<Option<String>, RpcError>),
    /// The current tip.
    Tip(Result<Value, RpcError>),
}

/// A finished job.
#[derive(Debug, PartialEq)]
pub struct Done {
    /// Where it goes.
    pub route: Route,
    /// What came out.
    pub outcome: Outcome,
    /// Cost reported by the backend.
    pub cost: f64,
}

/// Wakes the event loop at most once per batch of answers.
#[derive(Clone)]
pub struct Wake {
    waker: Arc<mio::Waker>,
    pending: Arc<AtomicBool>,
}

impl Wake {
    /// Wraps the loop's waker.
    pub fn new(waker: Arc<mio::Waker>) -> Self {
        Wake {
            waker,
            pending: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Wakes the loop unless a wake is already on its way.
    pub fn wake(&self) {
        if !self.pending.swap(true, Ordering::AcqRel) {
            // A failed wake means the loop is gone; its channels are closed too.
            let _ = self.waker.wake();
        }
    }

    /// Called by the loop before it drains its channels.
    pub fn clear(&self) {
        self.pending.store(false, Ordering::Release);
    }
}

/// Starts `count` worker threads serving `jobs` with `backend`.
pub fn spawn<B: Backend>(
    count: usize,
    backend: Arc<B>,
    jobs: Receiver<Job>,
    done: Sender<Done>,
    wake: Wake,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    (0..count.max(1))
        .map(|i| {
            let backend = Arc::clone(&backend);
            let jobs = jobs.clone();
            let done = done.clone();
            let wake = wake.clone();
            std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || work(&*backend, &jobs, &done, &wake))
        })
        .collect()
}

fn work<B: Backend>(backend: &B, jobs: &Receiver<Job>, done: &Sender<Done>, wake: &Wake) {
    let mut state = backend.new_worker();
    for job in jobs.iter() {
        let route = job.route;
        let (outcome, cost) = run(backend, &mut state, job.task);
        if done
            .send(Done {
                route,
                outcome,
                cost,
            })
            .is_err()
        {
            return;
        }
        wake.wake();
    }
}

/// Runs one task, turning a panic in the backend into -32603 "internal server error".
pub fn run<B: Backend>(backend: &B, state: &mut B::Worker, task: Task) -> (Outcome, f64) {
    match task {
        Task::Call { id, method, params } => {
            let answer = catch_unwind(AssertUnwindSafe(|| backend.call(state, &method, &params)))
                .unwrap_or_else(|_| Answer::err(RpcError::internal()));
            let error = answer.result.is_err();
            let outcome = match id {
                None => Outcome::Silent { error },
                Some(id) => Outcome::Response {
                    bytes: match answer.result {
                        Ok(Reply::Value(v)) => encode_result(&id, &v),
                        Ok(Reply::Text(t)) => encode_result_text(&id, t),
                        Err(e) => encode_error(&id, &e),
                    },
                    error,
                },
            };
            (outcome, answer.cost)
        }
        Task::Status { scripthash } => {
            let status = catch_unwind(AssertUnwindSafe(|| {
                backend.scripthash_status(state, &scripthash)
            }))
            .unwrap_or_else(|_| Err(RpcError::internal()));
            let cost = status
                .as_ref()
                .map_or(0.1, |s| 0.1 + s.as_ref().map_or(0.0, |_| 0.1));
            (Outcome::Status(status), cost)
        }
        Task::Tip => {
            let tip = catch_unwind(AssertUnwindSafe(|| backend.tip(state)))
                .unwrap_or_else(|_| Err(RpcError::internal()));
            (Outcome::Tip(tip), 0.1)
        }
    }
}
