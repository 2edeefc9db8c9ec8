//! The incoming side of a session: a line becomes requests, each answered at once (the methods
//! the server answers itself), refused, or queued; queued requests start on the workers as far
//! as the session's cost allows.

use super::replies::Batch;
use super::{Closing, Effects, Pending, PendingKind, Queued, ReplyTo, Session, Shared, Work};
use crate::chain::hash::from_hex;
use crate::jsonrpc::{
    bind_params, encode_error, parse_line, py_str, Item, Message, Request, RpcError,
};
use crate::server::cost::{ERROR_COST, PARSE_ERROR_COST};
use crate::server::pool::{Job, Route, Task};
use crate::server::settings::Limits;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

impl Session {
    /// Handles one received message (a line, or a WebSocket text frame).
    pub(super) fn handle_line(
        &mut self,
        line: &[u8],
        now: Instant,
        shared: &Shared,
        eff: &mut Effects,
    ) {
        // Only whole messages keep a session alive: a client dribbling bytes does not.
        self.last_recv = now;
        let limits = &shared.settings.limits;
        match parse_line(line) {
            Message::Error(error) => {
                let cost = if error.code == RpcError::PARSE_ERROR {
                    PARSE_ERROR_COST - ERROR_COST
                } else {
                    0.0
                };
                self.charge(cost, now, limits, eff);
                self.deliver(
                    ReplyTo::Single(Value::Null),
                    encode_error(&Value::Null, &error),
                    true,
                    now,
                    limits,
                    eff,
                );
                if self.cost.excessive(limits) {
                    self.excessive(ReplyTo::Single(Value::Null), limits);
                }
            }
            Message::Single(item) => self.handle_item(item, None, now, shared, eff),
            Message::Batch(items) => {
                let expected = items
                    .iter()
                    .filter(|i| match i {
                        Item::Request(r) => r.id.is_some(),
                        Item::Invalid { reply_id, .. } => reply_id.is_some(),
                        Item::Ignored => false,
                    })
                    .count();
                let batch = self.next_tag;
                self.next_tag += 1;
                if expected > 0 {
                    self.batches.insert(batch, Batch::expecting(expected));
                }
                for item in items {
                    if self.closing.is_some() {
                        break;
                    }
                    self.handle_item(item, Some(batch), now, shared, eff);
                }
            }
        }
    }

    fn handle_item(
        &mut self,
        item: Item,
        batch: Option<u64>,
        now: Instant,
        shared: &Shared,
        eff: &mut Effects,
    ) {
        let limits = &shared.settings.limits;
        let reply_to = |id: Option<Value>| match (id, batch) {
            (None, _) => ReplyTo::Nobody,
            (Some(id), None) => ReplyTo::Single(id),
            (Some(id), Some(batch)) => ReplyTo::Batch { batch, id },
        };
        match item {
            Item::Ignored => {}
            Item::Invalid { reply_id, error } => {
                let bytes = reply_id.as_ref().map(|id| encode_error(id, &error));
                match bytes {
                    Some(bytes) => self.deliver(reply_to(reply_id), bytes, true, now, limits, eff),
                    None => self.charge(ERROR_COST, now, limits, eff),
                }
            }
            Item::Request(request) => {
                self.stats.requests += 1;
                if !self.admin {
                    eff.calls
                        .push(crate::server::metrics::label(&request.method));
                }
                if self.logging {
                    eff.log.push(format!(
                        "[{}] {} {}",
                        self.serial,
                        request.method,
                        crate::jsonrpc::py_str(&request.params)
                    ));
                }
                if self.admin {
                    let work = Work::Call {
                        method: request.method,
                        params: request.params,
                    };
                    let reply_to = reply_to(request.id);
                    self.queue.push_back(Queued { reply_to, work });
                    return;
                }
                let to = reply_to(request.id.clone());
                if self.cost.excessive(limits) {
                    self.excessive(to, limits);
                    return;
                }
                self.dispatch(request, to, now, shared, eff);
            }
        }
    }

    /// Answers -101 and closes: the session reached `COST_HARD_LIMIT`.
    fn excessive(&mut self, to: ReplyTo, limits: &Limits) {
        let error = RpcError::new(
            RpcError::EXCESSIVE_RESOURCE_USAGE,
            "excessive resource usage",
        );
        let id = match &to {
            ReplyTo::Nobody => None,
            ReplyTo::Single(id) | ReplyTo::Batch { id, .. } => Some(id.clone()),
        };
        if let Some(id) = id {
            // Any batch being assembled is abandoned: the connection is closing.
            self.stats.errors += 1;
            self.push_line(encode_error(&id, &error), limits);
        }
        self.close(Closing::Flush);
    }

    fn dispatch(
        &mut self,
        req: Request,
        to: ReplyTo,
        now: Instant,
        shared: &Shared,
        eff: &mut Effects,
    ) {
        let limits = &shared.settings.limits;
        let settings = shared.settings;
        let method = req.method.as_str();
        let no_args = |p: &Value| bind_params(method, p, &[], &[]).map(|_| ());
        let result: Result<Value, RpcError> = match method {
            "server.version" => return self.version(&req.params, to, now, shared, eff),
            "server.ping" => no_args(&req.params).map(|_| Value::Null),
            "server.banner" => no_args(&req.params).map(|_| json!(settings.banner)),
            "server.donation_address" => {
                no_args(&req.params).map(|_| json!(settings.donation_address))
            }
            "server.features" => no_args(&req.params).map(|_| settings.features.clone()),
            "server.peers.subscribe" => no_args(&req.params).map(|_| settings.peers.clone()),
            "server.add_peer" => match bind_params(method, &req.params, &["features"], &[]) {
                // Peer discovery lives outside the session: the loop routes the call.
                Ok(_) => {
                    let work = Work::Call {
                        method: req.method,
                        params: req.params,
                    };
                    self.queue.push_back(Queued { reply_to: to, work });
                    return;
                }
                Err(e) => Err(e),
            },
            "blockchain.headers.subscribe" => match (no_args(&req.params), shared.tip) {
                (Err(e), _) => Err(e),
                (Ok(()), Some(tip)) => {
                    self.headers = true;
                    Ok(tip.clone())
                }
                (Ok(()), None) => {
                    self.queue.push_back(Queued {
                        reply_to: to,
                        work: Work::Tip,
                    });
                    return;
                }
            },
            "blockchain.scripthash.subscribe" => {
                match bind_params(method, &req.params, &["scripthash"], &[])
                    .and_then(|a| parse_scripthash(a[0]))
                {
                    Ok((scripthash, name)) => {
                        let work = Work::Subscribe { scripthash, name };
                        self.queue.push_back(Queued { reply_to: to, work });
                        return;
                    }
                    Err(e) => Err(e),
                }
            }
            "blockchain.scripthash.unsubscribe" if self.negotiated() >= [1, 4, 2].as_slice() => {
                bind_params(method, &req.params, &["scripthash"], &[])
                    .and_then(|a| parse_scripthash(a[0]))
                    .map(|(scripthash, _)| {
                        let was = self.subs.remove(&scripthash).is_some();
                        if was {
                            eff.unsubscribed.push(scripthash);
                        }
                        Value::Bool(was)
                    })
            }
            "blockchain.scripthash.unsubscribe" => Err(RpcError::unknown_method(method)),
            _ => {
                let work = Work::Call {
                    method: req.method,
                    params: req.params,
                };
                self.queue.push_back(Queued { reply_to: to, work });
                return;
            }
        };
        self.charge(0.1, now, limits, eff);
        self.reply(to, result, now, limits, eff);
    }

    /// Starts queued requests as far as the cost-derived concurrency allows, none while the
    /// client leaves its output unread: a client that never reads cannot make workers produce
    /// replies that would only pile up in memory.
    pub(super) fn pump(&mut self, now: Instant, shared: &Shared, eff: &mut Effects) {
        if matches!(self.closing, Some(Closing::Now | Closing::Flush)) {
            return;
        }
        if self.output_paused() {
            if !self.queue.is_empty() || !self.sleeping.is_empty() {
                self.held = Some(now);
            }
            return;
        }
        self.held = None;
        let limits = &shared.settings.limits;
        let mut i = 0;
        while i < self.sleeping.len() {
            if self.sleeping[i].0 <= now {
                let (_, q) = self.sleeping.swap_remove(i);
                self.start(q, now, shared, eff);
            } else {
                i += 1;
            }
        }
        while !self.queue.is_empty() {
            if self.output_paused() {
                self.held = Some(now);
                return;
            }
            let throttle = self.cost.throttle(limits);
            if let Some(max) = throttle.concurrency {
                if max == 0 {
                    if let Some(q) = self.queue.pop_front() {
                        self.excessive(q.reply_to, limits);
                    }
                    return;
                }
                if self.in_flight >= max as usize {
                    return;
                }
            }
            let Some(q) = self.queue.pop_front() else {
                break;
            };
            self.in_flight += 1;
            if throttle.delay > Duration::ZERO {
                self.sleeping.push((now + throttle.delay, q));
            } else {
                self.start(q, now, shared, eff);
            }
        }
    }

    /// Hands one request to the workers (its concurrency slot is already taken).
    fn start(&mut self, q: Queued, now: Instant, shared: &Shared, eff: &mut Effects) {
        let tag = self.next_tag;
        self.next_tag += 1;
        let route = Route::Session {
            token: self.token,
            serial: self.serial,
            tag,
        };
        let (kind, task) = match q.work {
            Work::Call { method, params } => {
                let id = match &q.reply_to {
                    ReplyTo::Nobody => None,
                    ReplyTo::Single(id) | ReplyTo::Batch { id, .. } => Some(id.clone()),
                };
                (PendingKind::Call, Task::Call { id, method, params })
            }
            Work::Subscribe { scripthash, name } => (
                PendingKind::Subscribe { scripthash, name },
                Task::Status { scripthash },
            ),
            Work::Tip => {
                if let Some(tip) = shared.tip {
                    // The tip became known while this request waited.
                    self.in_flight = self.in_flight.saturating_sub(1);
                    self.headers = true;
                    let limits = &shared.settings.limits;
                    return self.reply(q.reply_to, Ok(tip.clone()), now, limits, eff);
                }
                (PendingKind::Tip, Task::Tip)
            }
        };
        self.pending.insert(
            tag,
            Pending {
                reply_to: q.reply_to,
                started: now,
                epoch: shared.epoch,
                kind,
            },
        );
        eff.jobs.push(Job { route, task });
    }
}

/// Parses a scripthash param: 64 hex digits, either case; keeps the client's spelling.
pub(super) fn parse_scripthash(value: Option<&Value>) -> Result<([u8; 32], String), RpcError> {
    let value = value.unwrap_or(&Value::Null);
    let invalid = || RpcError::bad_request(format!("{} is not a valid script hash", py_str(value)));
    let Value::String(s) = value else {
        return Err(invalid());
    };
    let out = from_hex(s)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(invalid)?;
    Ok((out, s.clone()))
}
