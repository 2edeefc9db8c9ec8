//! One HTTP request to an answer, as kevacoind's RPC server gives it: basic auth, POST only,
//! a limited number of RPC threads, the injected faults and lies, then the method.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};

use super::lie::lie_answer;
use super::{http, rpc, Fault, NodeState, Shared};

/// A counting semaphore: the node's RPC worker threads.
pub(super) struct Slots {
    pub(super) free: Mutex<usize>,
    pub(super) freed: parking_lot::Condvar,
}

impl Slots {
    pub(super) fn acquire(&self) -> SlotGuard<'_> {
        let mut free = self.free.lock();
        while *free == 0 {
            self.freed.wait(&mut free);
        }
        *free -= 1;
        SlotGuard(self)
    }
}

pub(super) struct SlotGuard<'a>(&'a Slots);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        *self.0.free.lock() += 1;
        self.0.freed.notify_one();
    }
}

/// Keeps one core busy for `cost`, as the node's proof-of-work re-hash does.
fn burn(cost: Duration) {
    let end = Instant::now() + cost;
    let mut h = [0u8; 32];
    while Instant::now() < end {
        for _ in 0..32 {
            h = crate::chain::hash::sha256(&h);
        }
    }
    std::hint::black_box(h);
}

/// Counts a `getblock` answer against the height of the block asked for.
fn count_served(shared: &Shared, state: &NodeState, params: &[Value]) {
    let height = params
        .first()
        .and_then(Value::as_str)
        .and_then(|h| crate::chain::hash::hash_from_hex(h).ok())
        .and_then(|h| state.chain.height_of(&h));
    if let Some(h) = height {
        let mut served = shared.served.lock();
        if served.len() <= h as usize {
            served.resize(h as usize + 1, 0);
        }
        served[h as usize] += 1;
    }
}

fn rpc_error(id: &Value, code: i64, message: &str) -> Value {
    json!({"result": null, "error": {"code": code, "message": message}, "id": id})
}

pub(super) fn handle(shared: &Shared, req: &http::Request) -> http::Response {
    let full = |status: u16, body: Vec<u8>| http::Response::Full {
        status,
        body,
        extra_headers: Vec::new(),
    };
    let authorized = req
        .authorization
        .as_ref()
        .is_some_and(|a| shared.auth.iter().any(|ok| ok == a));
    if !authorized {
        return http::Response::Full {
            status: 401,
            body: Vec::new(),
            extra_headers: vec![("WWW-Authenticate", "Basic realm=\"jsonrpc\"".into())],
        };
    }
    if req.method != "POST" {
        return full(405, b"JSONRPC server handles only POST requests".to_vec());
    }
    let parsed: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(_) => {
            return full(
                500,
                rpc_error(&Value::Null, -32700, "Parse error")
                    .to_string()
                    .into_bytes(),
            )
        }
    };
    let is_dev = |v: &Value| v["method"].as_str().is_some_and(|m| m.starts_with("dev_"));
    let control = match &parsed {
        Value::Array(items) => !items.is_empty() && items.iter().all(is_dev),
        v => is_dev(v),
    };
    let _thread = (!control).then(|| shared.rpc_threads.acquire());
    if !control {
        let fault = {
            let mut f = shared.faults.lock();
            if f.remaining > 0 {
                f.remaining -= 1;
                f.fault.clone()
            } else {
                None
            }
        };
        match fault {
            Some(Fault::Http500) => return full(500, b"internal error (injected)".to_vec()),
            Some(Fault::Delay(d)) => std::thread::sleep(d),
            Some(Fault::WarmingUp) => {
                return full(
                    500,
                    rpc_error(&Value::Null, -28, "Loading block index...")
                        .to_string()
                        .into_bytes(),
                )
            }
            Some(Fault::Truncate) => {
                let (status, body) = answer(shared, &parsed);
                return http::Response::Truncated { status, body };
            }
            Some(Fault::Close) => return http::Response::Close,
            None => {}
        }
    }
    let (status, body) = answer(shared, &parsed);
    full(status, body)
}

/// Answers a single or batch request: (HTTP status, body).
fn answer(shared: &Shared, parsed: &Value) -> (u16, Vec<u8>) {
    match parsed {
        Value::Array(items) => {
            let out: Vec<Value> = items.iter().map(|item| one(shared, item).1).collect();
            (200, Value::Array(out).to_string().into_bytes())
        }
        single => {
            let (status, v) = one(shared, single);
            (status, v.to_string().into_bytes())
        }
    }
}

fn one(shared: &Shared, req: &Value) -> (u16, Value) {
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = req.get("method").and_then(Value::as_str) else {
        return (400, rpc_error(&id, -32600, "Method must be a string"));
    };
    let params: Vec<Value> = match req.get("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return (500, rpc_error(&id, -32600, "Params must be an array")),
    };
    if let Some(v) = lie_answer(shared, method, &params) {
        return (200, json!({"result": v, "error": null, "id": id}));
    }
    if method == "getblock" && !shared.read_cost.is_zero() {
        let _chain = shared.cs_main.lock();
        burn(shared.read_cost);
    }
    let result = {
        let mut state = shared.state.lock();
        let result = rpc::dispatch(&mut state, method, &params);
        if method == "getblock" && result.is_ok() {
            count_served(shared, &state, &params);
        }
        result
    };
    match result {
        Ok((v, effect)) => {
            match effect {
                rpc::Effect::None => {}
                rpc::Effect::Fault(fr) => {
                    let mut f = shared.faults.lock();
                    f.remaining = if fr.fault.is_some() { fr.count } else { 0 };
                    f.fault = fr.fault;
                }
                rpc::Effect::Stop => shared.stop.store(true, Ordering::SeqCst),
            }
            (200, json!({"result": v, "error": null, "id": id}))
        }
        Err(r) => {
            let status = match r.code {
                -32600 => 400,
                -32601 => 404,
                _ => 500,
            };
            (status, rpc_error(&id, r.code, &r.message))
        }
    }
}
