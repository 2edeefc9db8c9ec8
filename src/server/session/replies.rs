//! The outgoing side of a session: encoding answers, `MAX_SEND`, assembling batch replies in
//! completion order, and the buffer of bytes waiting for the socket.

use super::{Closing, Effects, ReplyTo, Session};
use crate::jsonrpc::{encode_error, encode_result, RpcError};
use crate::server::cost::ERROR_COST;
use crate::server::settings::Limits;
use serde_json::Value;
use std::time::Instant;

/// Output buffer capacity kept once everything is written; larger buffers are released.
const KEEP_OUTPUT: usize = 16 * 1024;

/// A batch reply being assembled in completion order.
#[derive(Debug, Default)]
pub(super) struct Batch {
    remaining: usize,
    body: Vec<u8>,
    parts: usize,
    size: usize,
    over: bool,
}

impl Batch {
    /// A batch that is complete once `answers` replies have arrived.
    pub(super) fn expecting(answers: usize) -> Self {
        Batch {
            remaining: answers,
            ..Batch::default()
        }
    }
}

/// Bytes waiting for the socket.
#[derive(Debug, Default)]
pub(super) struct OutBuf {
    pub(super) buf: Vec<u8>,
    pub(super) pos: usize,
}

impl OutBuf {
    /// Bytes not yet written.
    pub(super) fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Queues `line`, taking it over when nothing else waits (a long reply is not copied).
    pub(super) fn append(&mut self, line: Vec<u8>) {
        if self.pending() == 0 {
            self.buf = line;
            self.pos = 0;
        } else {
            self.buf.extend_from_slice(&line);
        }
    }

    /// Marks `n` bytes written, releasing memory once everything is.
    pub(super) fn consume(&mut self, n: usize) {
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

impl Session {
    /// Encodes a result or error for `to` and sends or batches it.
    pub(super) fn reply(
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
    pub(super) fn deliver(
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

    /// Queues one message for the socket; a client too far behind is disconnected.
    pub(super) fn push_line(&mut self, mut line: Vec<u8>, limits: &Limits) {
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
