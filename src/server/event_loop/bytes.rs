//! Moving bytes between sockets and sessions: reading with a budget per connection so that one
//! client cannot starve the others, writing the sessions' output (framed for WebSocket), and
//! half-closing with a short linger so that the last reply is not lost.

use super::EventLoop;
use crate::server::session::{Closing, Effects, Session, Shared};
use crate::server::transport::{ReadResult, Transport};
use crate::server::ws::{WsCodec, WsError};
use std::cmp::Reverse;
use std::io;
use std::net::Shutdown;
use std::time::{Duration, Instant};

/// Bytes read from one connection before others get their turn.
const READ_BUDGET: usize = 256 * 1024;
/// How long a closing connection waits for the client to hang up after the last byte.
const LINGER: Duration = Duration::from_secs(2);
/// WebSocket bytes framed ahead of the socket; the rest waits in the session (backpressure).
const WS_AHEAD: usize = 256 * 1024;

impl EventLoop {
    /// Queues a connection whose socket has data (or an error) for reading.
    pub(super) fn mark_readable(&mut self, index: usize) {
        if let Some(Some(conn)) = self.conns.get_mut(index) {
            conn.readable = true;
            if !conn.queued_read {
                conn.queued_read = true;
                self.ready.push_back(index);
            }
        }
    }

    /// Reads each queued connection once, within its budget; the rest waits for the next turn.
    pub(super) fn read_ready(&mut self) {
        for _ in 0..self.ready.len() {
            let Some(index) = self.ready.pop_front() else {
                break;
            };
            if let Some(Some(conn)) = self.conns.get_mut(index) {
                conn.queued_read = false;
                self.read(index);
            }
        }
    }

    /// Reads one connection's socket into its session (after its PROXY header, if it owes one).
    pub(super) fn read(&mut self, index: usize) {
        if !self.read_header(index) {
            return;
        }
        let now = Instant::now();
        let mut eff = Effects::default();
        let shared = Shared {
            settings: &self.settings,
            tip: self.tip.as_ref(),
            epoch: self.epoch,
        };
        let Some(Some(conn)) = self.conns.get_mut(index) else {
            return;
        };
        let mut used = 0;
        let mut again = false;
        loop {
            let lingering = conn.linger_until.is_some();
            if !lingering && !conn.session.wants_input() {
                break;
            }
            if used >= READ_BUDGET {
                again = true;
                break;
            }
            match conn.transport.read(&mut self.scratch) {
                Ok(ReadResult::Data(n)) => {
                    used += n;
                    if lingering {
                        continue;
                    }
                    let data = &self.scratch[..n];
                    match &mut conn.ws {
                        None => conn.session.receive(data, now, &shared, &mut eff),
                        Some(ws) => {
                            let session = &mut conn.session;
                            let max = shared.settings.limits.max_recv;
                            let result = ws.receive(data, max, |message| {
                                session.receive_message(message, now, &shared, &mut eff);
                                session.closing().is_none()
                            });
                            match result {
                                Ok(()) if ws.peer_closed() => session.finish(),
                                Ok(()) => {}
                                Err(WsError::TooBig) => {
                                    session.receive_oversized(now, &shared, &mut eff)
                                }
                                Err(WsError::Handshake(_) | WsError::Protocol(..)) => {
                                    session.finish()
                                }
                            }
                        }
                    }
                }
                Ok(ReadResult::WouldBlock) => {
                    conn.readable = false;
                    break;
                }
                Ok(ReadResult::Eof) => {
                    conn.readable = false;
                    if lingering {
                        conn.session.abort();
                    } else {
                        conn.session.on_eof();
                    }
                    break;
                }
                Err(_) => {
                    conn.readable = false;
                    conn.session.abort();
                    break;
                }
            }
        }
        if again && !conn.queued_read {
            conn.queued_read = true;
            self.ready.push_back(index);
        }
        self.apply(index, eff, now);
    }

    /// Writes a session's output; closes, half-closes or re-arms reading and timers as needed.
    pub(super) fn flush(&mut self, index: usize) {
        let now = Instant::now();
        let Some(Some(conn)) = self.conns.get_mut(index) else {
            return;
        };
        if conn.linger_until.is_none() {
            if let Some(ws) = &mut conn.ws {
                if write_ws(ws, &mut conn.session, &mut conn.transport).is_err() {
                    conn.session.abort();
                }
            } else {
                let out = conn.session.output();
                if !out.is_empty() || conn.transport.has_unsent() {
                    match conn.transport.write(out) {
                        Ok(n) => conn.session.consume_output(n),
                        Err(_) => conn.session.abort(),
                    }
                }
            }
        } else if conn.transport.has_unsent() && conn.transport.write(&[]).is_err() {
            conn.session.abort();
        }
        if conn.session.closing() == Some(Closing::Now) {
            self.close(index);
            return;
        }
        let ws_unsent = conn.ws.as_ref().is_some_and(|ws| ws.pending() > 0);
        if conn.linger_until.is_none()
            && conn.session.finished()
            && !ws_unsent
            && !conn.transport.has_unsent()
        {
            // All sent: half-close and wait briefly for the client to hang up, so that the
            // last reply is not lost to a reset caused by unread input.
            conn.transport.close_notify();
            let _ = conn.transport.socket().shutdown(Shutdown::Write);
            conn.linger_until = Some(now + LINGER);
            if conn.readable && !conn.queued_read {
                conn.queued_read = true;
                self.ready.push_back(index);
            }
            return;
        }
        if conn.linger_until.is_none() {
            if conn.readable && !conn.queued_read && conn.session.wants_input() {
                conn.queued_read = true;
                self.ready.push_back(index);
            }
            if let Some(t) = conn.session.next_wakeup() {
                if conn.timer_at.is_none_or(|old| t < old) {
                    conn.timer_at = Some(t);
                    self.timers.push(Reverse((t, index, conn.session.serial())));
                }
            }
        }
    }
}

/// Frames the session's output as WebSocket text frames and writes them.
///
/// At most [`WS_AHEAD`] framed bytes wait for the socket; the rest stays in the session, whose
/// own limits then pause reading or drop a client that does not read.
fn write_ws(ws: &mut WsCodec, session: &mut Session, transport: &mut Transport) -> io::Result<()> {
    loop {
        if ws.pending() < WS_AHEAD {
            let used = ws.frame_lines(session.output());
            session.consume_output(used);
        }
        if session.finished() {
            ws.finish();
        }
        if ws.pending() == 0 && !transport.has_unsent() {
            return Ok(());
        }
        let written = transport.write(ws.output())?;
        ws.consume_output(written);
        if ws.pending() > 0 || session.output().is_empty() {
            return Ok(());
        }
    }
}
