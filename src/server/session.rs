//! One client session as a state machine, free of sockets and threads: bytes in, jobs and bytes
//! out. The event loop feeds it what the socket delivered and what the workers answered, and
//! carries out the [`Effects`] it asks for. Tests drive it directly.
//!
//! The incoming side (lines to requests, the methods the server answers itself, starting work
//! under the cost limits) is in `requests`, `server.version` negotiation in `version`, the
//! outgoing side (replies, batches, the output buffer) in `replies`.

use super::cost::{CostMeter, ERROR_COST, PARSE_ERROR_COST};
use super::framing::LineFramer;
use super::pool::{Job, Outcome};
use super::settings::{Limits, Settings};
use crate::jsonrpc::{encode_error, encode_notification, RpcError};
use replies::{Batch, OutBuf};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::time::Instant;
use version::version_string;

mod replies;
mod requests;
mod version;

/// Queued requests beyond which the session stops reading its socket.
const MAX_QUEUED: usize = 1000;
/// Output bytes beyond which the session stops reading its socket and starting requests.
const PAUSE_OUTPUT: usize = 1 << 20;

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

#[derive(Debug)]
struct Subscription {
    name: String,
    status: Option<String>,
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
                crate::jsonrpc::thousands(limits.max_recv as u64)
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
}

#[cfg(test)]
mod tests;
