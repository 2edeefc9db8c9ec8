//! The PROXY protocol stage of a connection from `PROXY_PROTOCOL_FROM`: the loop peeks at the
//! socket until [`Pending`](crate::server::proxy::Pending) has a verdict, then reads exactly the
//! header's bytes, so whatever follows (a TLS handshake, an HTTP upgrade, JSON-RPC lines) stays
//! in the socket for the usual path. From then on the connection is the header's client's: its
//! address in `rpc sessions`, its cost group, its exemption (or not).

use super::EventLoop;
use crate::server::cost::group_of;
use crate::server::proxy::{Step, MAX_HEADER};
use crate::server::settings::Level;
use std::io::{self, Read};
use std::time::Instant;

impl EventLoop {
    /// Takes a connection past its PROXY header; true when it is ready for the usual reading
    /// (it had no header to wait for, or the header just completed), false while it waits or
    /// once it is closed.
    pub(super) fn read_header(&mut self, index: usize) -> bool {
        let Some(Some(conn)) = self.conns.get_mut(index) else {
            return false;
        };
        let Some(pending) = &conn.proxy else {
            return true;
        };
        let first = &mut self.scratch[..MAX_HEADER];
        let step = loop {
            match conn.transport.socket().peek(first) {
                Ok(n) => break pending.offer(&first[..n], n == 0),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Step::Wait,
                Err(e) => break Step::Refuse(pending.refusal(&format!("reading failed: {e}"))),
            }
        };
        match step {
            Step::Wait => {
                conn.readable = false;
                false
            }
            Step::Refuse(line) => {
                self.refuse_proxied(index, &line);
                false
            }
            Step::Accept { client, consume } => {
                // The header's bytes are in the socket already (they were just peeked).
                let socket = conn.transport.socket();
                if let Err(e) = socket.read_exact(&mut self.scratch[..consume]) {
                    let line = pending.refusal(&format!("reading its PROXY header failed: {e}"));
                    self.refuse_proxied(index, &line);
                    return false;
                }
                conn.proxy = None;
                conn.peer = client;
                conn.group = group_of(client.ip(), &self.settings.limits);
                if let Some(g) = conn.group {
                    self.join_group(g, index, Instant::now());
                }
                true
            }
        }
    }

    /// Closes the proxied connections whose header is overdue.
    pub(super) fn expire_headers(&mut self, now: Instant) {
        for index in 0..self.conns.len() {
            let overdue = match self.conns.get(index) {
                Some(Some(conn)) => conn.proxy.as_ref().and_then(|p| p.expired(now)),
                _ => None,
            };
            if let Some(line) = overdue {
                self.refuse_proxied(index, &line);
            }
        }
    }

    /// Closes a trusted proxy's connection whose header is missing or invalid, with a log line.
    fn refuse_proxied(&mut self, index: usize, line: &str) {
        self.settings.logger.log(Level::Warning, line);
        self.counters.proxy_refused += 1;
        self.close(index);
    }
}
