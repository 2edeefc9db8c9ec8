//! One client session as a state machine, free of sockets and threads: bytes in, jobs and bytes
//! out. The event loop feeds it what the socket delivered and what the workers answered, and
//! carries out the [`Effects`] it asks for. Tests drive it directly.

use super::cost::{CostMeter, ERROR_COST, PARSE_ERROR_COST};
use super::framing::LineFramer;
use super::pool::{Job, Outcome, Route, Task};
use super::rpc::{
    bind_params, encode_error, encode_notification, encode_result, parse_line, py_str, Item,
    Message, Request, RpcError,
};
use super::settings::{Limits, Settings, PROTOCOL_MAX, PROTOCOL_MIN};
use crate::chain::hash::from_hex;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Queued requests beyond which the session stops reading its socket.
const MAX_QUEUED: usize = 1000;
/// Output bytes beyond which the session stops reading its socket and starting requests.
const PAUSE_OUTPUT: usize = 1 << 20;
/// Output buffer capacity kept once everything is written; larger buffers are released.
const KEEP_OUTPUT: usize = 16 * 1024;

/// Server-wide state a session reads while handling input.
pub struct Shared<'a> {
    /// Operator settings.
    pub settings: &'a Settings,
    /// The last tip the server knows (`{"height","hex"}`), if any.
    pub tip: Option<&'a Value>,
    /// Number of chain events seen so far; a status computed across a change is re-checked.
    pub epoch: u64,
}

/// What a session asks the event loop to do after a call.
#[derive(Debug, Default)]
pub struct Effects {
    /// Jobs for the worker pool.
    pub jobs: Vec<Job>,
    /// Scripthashes this session now subscribes to (add to the loop's index).
    pub subscribed: Vec<[u8; 32]>,
    /// Scripthashes this session no longer subscribes to (remove from the index).
    pub unsubscribed: Vec<[u8; 32]>,
    /// Scripthashes whose status may have changed while being computed: check them again.
    pub recheck: Vec<[u8; 32]>,
    /// A tip learnt from a worker, for the loop to remember.
    pub tip: Option<Value>,
    /// The session's cost moved enough that its group's share should be recomputed.
    pub recalc: bool,
    /// Metric labels of the requests received (Electrum sessions only).
    pub calls: Vec<&'static str>,
    /// Lines for the log (requests of a session whose logging is on).
    pub log: Vec<String>,
}

/// How the session is ending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closing {
    /// The client closed its side: finish the requests already received, send, then close.
    Drain,
    /// Send what is already queued (a final error), then close.
    Flush,
    /// Close without sending more.
    Now,
}

/// Where a response goes.
#[derive(Clone, Debug, PartialEq)]
enum ReplyTo {
    Nobody,
    Single(Value),
    Batch { batch: u64, id: Value },
}

#[derive(Debug)]
enum Work {
    Call { method: String, params: Value },
    Subscribe { scripthash: [u8; 32], name: String },
    Tip,
}

#[derive(Debug)]
struct Queued {
    reply_to: ReplyTo,
    work: Work,
}

#[derive(Debug)]
enum PendingKind {
    Call,
    Subscribe { scripthash: [u8; 32], name: String },
    Tip,
}

#[derive(Debug)]
struct Pending {
    reply_to: ReplyTo,
    started: Instant,
    epoch: u64,
    kind: PendingKind,
}

/// A batch reply being assembled in completion order.
#[derive(Debug, Default)]
struct Batch {
    remaining: usize,
    body: Vec<u8>,
    parts: usize,
    size: usize,
    over: bool,
}

#[derive(Debug)]
struct Subscription {
    name: String,
    status: Option<String>,
}

/// Bytes waiting for the socket.
#[derive(Debug, Default)]
struct OutBuf {
    buf: Vec<u8>,
    pos: usize,
}

impl OutBuf {
    fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Queues `line`, taking it over when nothing else waits (a long reply is not copied).
    fn append(&mut self, line: Vec<u8>) {
        if self.pending() == 0 {
            self.buf = line;
            self.pos = 0;
        } else {
            self.buf.extend_from_slice(&line);
        }
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
        if self.pos == self.buf.len() {
            self.pos = 0;
            self.buf.clear();
            if self.buf.capacity() > KEEP_OUTPUT {
                self.buf = Vec::new();
            }
        } else if self.pos > (1 << 20) && self.pos * 2 > self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }
}

/// Counters for logs and the admin interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes queued for sending.
    pub bytes_out: u64,
    /// Requests received (batch members counted one by one).
    pub requests: u64,
    /// Error responses sent.
    pub errors: u64,
}

/// The protocol state of one connection.
#[derive(Debug)]
pub struct Session {
    token: usize,
    serial: u64,
    framer: LineFramer,
    out: OutBuf,
    version: Option<Vec<u32>>,
    queue: VecDeque<Queued>,
    sleeping: Vec<(Instant, Queued)>,
    pending: HashMap<u64, Pending>,
    batches: HashMap<u64, Batch>,
    next_tag: u64,
    in_flight: usize,
    subs: HashMap<[u8; 32], Subscription>,
    headers: bool,
    cost: CostMeter,
    last_recv: Instant,
    closing: Option<Closing>,
    stats: SessionStats,
    admin: bool,
    client: String,
    logging: bool,
    /// Set while queued requests wait for the client to read its output.
    held: Option<Instant>,
}

impl Session {
    /// A new session for the connection in slot `token` with unique number `serial`.
    pub fn new(token: usize, serial: u64, now: Instant) -> Self {
        Session {
            token,
            serial,
            framer: LineFramer::default(),
            out: OutBuf::default(),
            version: None,
            queue: VecDeque::new(),
            sleeping: Vec::new(),
            pending: HashMap::new(),
            batches: HashMap::new(),
            next_tag: 0,
            in_flight: 0,
            subs: HashMap::new(),
            headers: false,
            cost: CostMeter::new(now),
            last_recv: now,
            closing: None,
            stats: SessionStats::default(),
            admin: false,
            client: String::new(),
            logging: false,
            held: None,
        }
    }

    /// A session of the admin (`rpc`) service: every request goes to the loop's admin router,
    /// none is answered as an Electrum method.
    pub fn new_admin(token: usize, serial: u64, now: Instant) -> Self {
        Session {
            admin: true,
            ..Session::new(token, serial, now)
        }
    }

    /// True for a session of the admin service.
    pub fn is_admin(&self) -> bool {
        self.admin
    }

    /// The client name sent in `server.version` (empty before it).
    pub fn client_name(&self) -> &str {
        &self.client
    }

    /// The negotiated protocol version, e.g. "1.4.2" (empty before `server.version`).
    pub fn protocol_version(&self) -> String {
        self.version
            .as_deref()
            .map(version_string)
            .unwrap_or_default()
    }

    /// Number of scripthash subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.subs.len()
    }

    /// True when the session subscribed to headers.
    pub fn subscribed_headers(&self) -> bool {
        self.headers
    }

    /// Requests received and not yet answered (queued, delayed or running).
    pub fn pending_requests(&self) -> usize {
        self.queue.len() + self.sleeping.len() + self.pending.len()
    }

    /// True when each request of this session is written to the log (admin `log`).
    pub fn logging(&self) -> bool {
        self.logging
    }

    /// Turns request logging on or off.
    pub fn set_logging(&mut self, on: bool) {
        self.logging = on;
    }

    /// The connection's unique number.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// Counters so far.
    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// How the session is ending, if it is.
    pub fn closing(&self) -> Option<Closing> {
        self.closing
    }

    /// Bytes ready for the socket.
    pub fn output(&self) -> &[u8] {
        &self.out.buf[self.out.pos..]
    }

    /// Marks `n` bytes of [`Session::output`] as written.
    pub fn consume_output(&mut self, n: usize) {
        self.out.consume(n);
    }

    /// True when the session can take more input (not closing, not backed up).
    pub fn wants_input(&self) -> bool {
        self.closing.is_none() && self.queue.len() < MAX_QUEUED && !self.output_paused()
    }

    /// True when the connection can be dropped now.
    pub fn finished(&self) -> bool {
        match self.closing {
            None => false,
            Some(Closing::Now) => true,
            Some(Closing::Flush) => self.out.pending() == 0,
            Some(Closing::Drain) => {
                self.out.pending() == 0
                    && self.pending.is_empty()
                    && self.queue.is_empty()
                    && self.sleeping.is_empty()
            }
        }
    }

    /// Scripthashes this session subscribes to.
    pub fn subscriptions(&self) -> impl Iterator<Item = &[u8; 32]> {
        self.subs.keys()
    }

    /// The session's own cost (for its group's accounting).
    pub fn cost(&self) -> f64 {
        self.cost.cost()
    }

    /// Recomputes decay and throttling with the group's `extra` cost.
    pub fn recalc_cost(&mut self, now: Instant, extra: f64, limits: &Limits) {
        self.cost.recalc(now, extra, self.subs.len(), limits);
    }

    /// When the session next needs [`Session::tick`]: for a delayed request, or to start
    /// requests held back while the client was not reading (none while it still is not).
    pub fn next_wakeup(&self) -> Option<Instant> {
        if self.output_paused() {
            return None;
        }
        let delayed = self.sleeping.iter().map(|(t, _)| *t).min();
        match (delayed, self.held) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// True while so much output waits that the client must read before more work starts.
    fn output_paused(&self) -> bool {
        self.out.pending() >= PAUSE_OUTPUT
    }

    /// The client closed its sending side.
    pub fn on_eof(&mut self) {
        if self.closing.is_none() {
            self.closing = Some(Closing::Drain);
        }
    }

    /// Forces the session to close without sending more (socket error, shutdown).
    pub fn abort(&mut self) {
        self.closing = Some(Closing::Now);
    }

    /// Feeds bytes read from the socket.
    pub fn receive(&mut self, data: &[u8], now: Instant, shared: &Shared, eff: &mut Effects) {
        if self.closing.is_some() {
            return;
        }
        let limits = &shared.settings.limits;
        self.account_input(data.len(), now, limits, eff);
        let mut framer = std::mem::take(&mut self.framer);
        let result = framer.feed(data, limits.max_recv, |line| {
            self.handle_line(line, now, shared, eff);
            self.closing.is_none()
        });
        self.framer = framer;
        if result.is_err() {
            self.too_large(now, limits, eff);
        }
        self.pump(now, shared, eff);
    }

    /// Feeds one whole message (a WebSocket text frame): no newline framing applies.
    pub fn receive_message(
        &mut self,
        message: &[u8],
        now: Instant,
        shared: &Shared,
        eff: &mut Effects,
    ) {
        if self.closing.is_some() {
            return;
        }
        let limits = &shared.settings.limits;
        self.account_input(message.len(), now, limits, eff);
        if limits.max_recv != 0 && message.len() > limits.max_recv {
            self.too_large(now, limits, eff);
        } else {
            self.handle_line(message, now, shared, eff);
        }
        self.pump(now, shared, eff);
    }

    /// The transport saw a message over `MAX_RECV`: answer the error and close.
    pub fn receive_oversized(&mut self, now: Instant, shared: &Shared, eff: &mut Effects) {
        if self.closing.is_none() {
            self.too_large(now, &shared.settings.limits, eff);
        }
    }

    /// The transport is ending the connection: send what is queued, start nothing new.
    pub fn finish(&mut self) {
        self.close(Closing::Flush);
    }

    fn account_input(&mut self, bytes: usize, now: Instant, limits: &Limits, eff: &mut Effects) {
        self.stats.bytes_in += bytes as u64;
        if self.cost.bump_bandwidth(bytes, limits) {
            self.recalc_now(now, limits, eff);
        }
    }

    fn too_large(&mut self, now: Instant, limits: &Limits, eff: &mut Effects) {
        let error = RpcError::new(
            RpcError::INVALID_REQUEST,
            format!(
                "request too large (over {} bytes)",
                super::rpc::thousands(limits.max_recv as u64)
            ),
        );
        self.charge(PARSE_ERROR_COST, now, limits, eff);
        self.stats.errors += 1;
        self.push_line(encode_error(&Value::Null, &error), limits);
        self.close(Closing::Flush);
    }

    /// Delivers a worker's answer to request `tag`.
    pub fn complete(
        &mut self,
        tag: u64,
        outcome: Outcome,
        cost: f64,
        now: Instant,
        shared: &Shared,
        eff: &mut Effects,
    ) {
        let Some(pending) = self.pending.remove(&tag) else {
            return; // Timed out earlier; the answer is no longer wanted.
        };
        self.in_flight = self.in_flight.saturating_sub(1);
        let limits = &shared.settings.limits;
        self.charge(cost, now, limits, eff);
        match (pending.kind, outcome) {
            (PendingKind::Call, Outcome::Response { bytes, error }) => {
                self.deliver(pending.reply_to, bytes, error, now, limits, eff)
            }
            (PendingKind::Call, Outcome::Silent { error }) => {
                if error {
                    self.charge(ERROR_COST, now, limits, eff);
                }
            }
            (PendingKind::Subscribe { scripthash, name }, Outcome::Status(result)) => {
                match result {
                    Ok(status) => {
                        let status_json = json!(status);
                        let fresh = self
                            .subs
                            .insert(scripthash, Subscription { name, status })
                            .is_none();
                        if fresh {
                            eff.subscribed.push(scripthash);
                        }
                        if pending.epoch != shared.epoch {
                            eff.recheck.push(scripthash);
                        }
                        self.reply(pending.reply_to, Ok(status_json), now, limits, eff);
                    }
                    Err(e) => self.reply(pending.reply_to, Err(e), now, limits, eff),
                }
            }
            (PendingKind::Tip, Outcome::Tip(result)) => {
                if let Ok(tip) = &result {
                    self.headers = true;
                    eff.tip = Some(tip.clone());
                }
                self.reply(pending.reply_to, result, now, limits, eff);
            }
            (_, _) => {
                self.reply(
                    pending.reply_to,
                    Err(RpcError::internal()),
                    now,
                    limits,
                    eff,
                );
            }
        }
        self.pump(now, shared, eff);
    }

    /// Periodic work: request timeouts, the idle timeout and delayed requests.
    pub fn tick(&mut self, now: Instant, shared: &Shared, eff: &mut Effects) {
        let limits = &shared.settings.limits;
        // Also ends sessions stuck while closing (a client that stopped reading its replies).
        if !limits.session_timeout.is_zero()
            && now.saturating_duration_since(self.last_recv) >= limits.session_timeout
        {
            self.close(Closing::Now);
            return;
        }
        if !limits.request_timeout.is_zero() {
            let expired: Vec<u64> = self
                .pending
                .iter()
                .filter(|(_, p)| now.saturating_duration_since(p.started) >= limits.request_timeout)
                .map(|(tag, _)| *tag)
                .collect();
            for tag in expired {
                if let Some(p) = self.pending.remove(&tag) {
                    self.in_flight = self.in_flight.saturating_sub(1);
                    let busy =
                        RpcError::new(RpcError::SERVER_BUSY, "server busy - request timed out");
                    self.reply(p.reply_to, Err(busy), now, limits, eff);
                }
            }
        }
        self.pump(now, shared, eff);
    }

    /// Sends a pre-encoded header notification if the session subscribed to headers.
    pub fn notify_headers(&mut self, encoded: &[u8], limits: &Limits) {
        if self.headers && self.closing.is_none() {
            self.push_line(encoded.to_vec(), limits);
        }
    }

    /// Sends a status notification if the status of a subscribed scripthash changed.
    ///
    /// An error (e.g. the history grew too large) ends the subscription with a `null` status.
    pub fn notify_status(
        &mut self,
        scripthash: &[u8; 32],
        status: &Result<Option<String>, RpcError>,
        limits: &Limits,
        eff: &mut Effects,
    ) {
        if self.closing.is_some() {
            return;
        }
        let Some(sub) = self.subs.get_mut(scripthash) else {
            return;
        };
        let (name, new_status) = match status {
            Ok(s) if *s == sub.status => return,
            Ok(s) => {
                sub.status = s.clone();
                (sub.name.clone(), s.clone())
            }
            Err(_) => {
                let name = sub.name.clone();
                self.subs.remove(scripthash);
                eff.unsubscribed.push(*scripthash);
                (name, None)
            }
        };
        let message = encode_notification(
            "blockchain.scripthash.subscribe",
            &json!([name, new_status]),
        );
        self.push_line(message, limits);
    }

    fn close(&mut self, how: Closing) {
        let how = if self.closing == Some(Closing::Now) {
            Closing::Now
        } else {
            how
        };
        self.closing = Some(how);
        if how != Closing::Drain {
            self.queue.clear();
            self.sleeping.clear();
        }
    }

    fn charge(&mut self, delta: f64, now: Instant, limits: &Limits, eff: &mut Effects) {
        if self.cost.bump(delta) {
            self.recalc_now(now, limits, eff);
        }
    }

    fn recalc_now(&mut self, now: Instant, limits: &Limits, eff: &mut Effects) {
        let extra = self.cost.extra();
        self.cost.recalc(now, extra, self.subs.len(), limits);
        eff.recalc = true;
    }

    fn handle_line(&mut self, line: &[u8], now: Instant, shared: &Shared, eff: &mut Effects) {
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
                    self.batches.insert(
                        batch,
                        Batch {
                            remaining: expected,
                            ..Batch::default()
                        },
                    );
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
                    eff.calls.push(super::metrics::label(&request.method));
                }
                if self.logging {
                    eff.log.push(format!(
                        "[{}] {} {}",
                        self.serial,
                        request.method,
                        super::rpc::py_str(&request.params)
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

    fn negotiated(&self) -> &[u32] {
        self.version.as_deref().unwrap_or(PROTOCOL_MIN)
    }

    fn version(
        &mut self,
        params: &Value,
        to: ReplyTo,
        now: Instant,
        shared: &Shared,
        eff: &mut Effects,
    ) {
        let limits = &shared.settings.limits;
        self.charge(0.5, now, limits, eff);
        if self.version.is_some() {
            let e = RpcError::bad_request("server.version already sent");
            return self.reply(to, Err(e), now, limits, eff);
        }
        let args = match bind_params(
            "server.version",
            params,
            &[],
            &["client_name", "protocol_version"],
        ) {
            Ok(a) => a,
            Err(e) => return self.reply(to, Err(e), now, limits, eff),
        };
        let name = match args[0] {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => py_str(other),
        };
        if let Some(filter) = &shared.settings.drop_client {
            if !name.is_empty() && filter.matches(&name) {
                let e = RpcError::bad_request(format!("unsupported client: {name}"));
                self.reply(to, Err(e), now, limits, eff);
                self.close(Closing::Flush);
                return;
            }
        }
        let requested = args[1].filter(|v| !v.is_null());
        match negotiate(requested) {
            Some(v) => {
                let reply = json!([shared.settings.server_version, version_string(&v)]);
                self.version = Some(v);
                self.client = name.chars().take(64).collect();
                self.reply(to, Ok(reply), now, limits, eff);
            }
            None => {
                let shown = requested.map_or_else(|| "None".to_string(), py_str);
                let e = RpcError::bad_request(format!("unsupported protocol version: {shown}"));
                self.reply(to, Err(e), now, limits, eff);
                self.close(Closing::Flush);
            }
        }
    }

    /// Starts queued requests as far as the cost-derived concurrency allows, none while the
    /// client leaves its output unread: a client that never reads cannot make workers produce
    /// replies that would only pile up in memory.
    fn pump(&mut self, now: Instant, shared: &Shared, eff: &mut Effects) {
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

    fn reply(
        &mut self,
        to: ReplyTo,
        result: Result<Value, RpcError>,
        now: Instant,
        limits: &Limits,
        eff: &mut Effects,
    ) {
        let id = match &to {
            ReplyTo::Nobody => {
                if result.is_err() {
                    self.charge(ERROR_COST, now, limits, eff);
                }
                return;
            }
            ReplyTo::Single(id) | ReplyTo::Batch { id, .. } => id.clone(),
        };
        let (bytes, error) = match &result {
            Ok(v) => (encode_result(&id, v), false),
            Err(e) => (encode_error(&id, e), true),
        };
        self.deliver(to, bytes, error, now, limits, eff);
    }

    /// Sends an encoded response, enforcing `MAX_SEND`, or adds it to its batch.
    fn deliver(
        &mut self,
        to: ReplyTo,
        bytes: Vec<u8>,
        error: bool,
        now: Instant,
        limits: &Limits,
        eff: &mut Effects,
    ) {
        if error {
            self.charge(ERROR_COST, now, limits, eff);
            self.stats.errors += 1;
        }
        match to {
            ReplyTo::Nobody => {}
            ReplyTo::Single(id) => {
                if limits.max_send != 0 && bytes.len() > limits.max_send {
                    self.charge(ERROR_COST, now, limits, eff);
                    self.stats.errors += 1;
                    let e = RpcError::response_too_large(limits.max_send);
                    self.push_line(encode_error(&id, &e), limits);
                } else {
                    self.push_line(bytes, limits);
                }
            }
            ReplyTo::Batch { batch, id } => {
                let Some(b) = self.batches.get_mut(&batch) else {
                    return;
                };
                b.size += bytes.len() + 2;
                let too_large = limits.max_send != 0 && (b.over || b.size > limits.max_send);
                let part = if too_large {
                    b.over = true;
                    encode_error(&id, &RpcError::response_too_large(limits.max_send))
                } else {
                    bytes
                };
                if b.parts > 0 {
                    b.body.extend_from_slice(b", ");
                }
                b.body.extend_from_slice(&part);
                b.parts += 1;
                b.remaining -= 1;
                if too_large {
                    self.stats.errors += 1;
                    self.charge(ERROR_COST, now, limits, eff);
                }
                self.finish_batch(batch, limits);
            }
        }
    }

    fn finish_batch(&mut self, batch: u64, limits: &Limits) {
        if self.batches.get(&batch).is_some_and(|b| b.remaining == 0) {
            if let Some(b) = self.batches.remove(&batch) {
                let mut line = Vec::with_capacity(b.body.len() + 2);
                line.push(b'[');
                line.extend_from_slice(&b.body);
                line.push(b']');
                self.push_line(line, limits);
            }
        }
    }

    fn push_line(&mut self, mut line: Vec<u8>, limits: &Limits) {
        if self.closing == Some(Closing::Now) {
            return;
        }
        // narwhallet reads until a recv() returns less than 1024 bytes, so a message whose
        // length is a multiple of 1024 would stall it: pad such a message with one space of
        // JSON whitespace before its closing bracket.
        if (line.len() + 1) % 1024 == 0 {
            if let Some(last) = line.pop() {
                line.push(b' ');
                line.push(last);
            }
        }
        line.push(b'\n');
        let n = line.len();
        self.out.append(line);
        self.stats.bytes_out += n as u64;
        // Bandwidth is charged without triggering a recalculation here; the next one counts it.
        let _ = self.cost.bump_bandwidth(n, limits);
        if limits.max_write_backlog != 0 && self.out.pending() > limits.max_write_backlog {
            self.close(Closing::Now);
        }
    }
}

/// Parses a scripthash param: 64 hex digits, either case; keeps the client's spelling.
fn parse_scripthash(value: Option<&Value>) -> Result<([u8; 32], String), RpcError> {
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

/// ElectrumX `util.protocol_tuple`: "1.4.2" → [1, 4, 2]; anything unreadable → [0].
fn protocol_tuple(value: &Value) -> Vec<u32> {
    let Value::String(s) = value else {
        return vec![0];
    };
    s.split('.')
        .map(|p| p.trim().parse::<u32>())
        .collect::<Result<Vec<u32>, _>>()
        .unwrap_or_else(|_| vec![0])
}

/// ElectrumX `util.protocol_version`: the version to speak, or `None` when unsupported.
fn negotiate(requested: Option<&Value>) -> Option<Vec<u32>> {
    let (client_min, client_max) = match requested {
        None => (PROTOCOL_MIN.to_vec(), PROTOCOL_MIN.to_vec()),
        Some(Value::Array(pair)) if pair.len() == 2 => {
            (protocol_tuple(&pair[0]), protocol_tuple(&pair[1]))
        }
        Some(v) => (protocol_tuple(v), protocol_tuple(v)),
    };
    let result = client_max.min(PROTOCOL_MAX.to_vec());
    let floor = client_min.max(PROTOCOL_MIN.to_vec());
    (result >= floor && result != [0]).then_some(result)
}

/// ElectrumX `util.version_string`: at least two components.
fn version_string(v: &[u32]) -> String {
    let mut parts: Vec<String> = v.iter().map(u32::to_string).collect();
    while parts.len() < 2 {
        parts.push("0".to_string());
    }
    parts.join(".")
}

#[cfg(test)]
mod tests;
