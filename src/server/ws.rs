//! WebSocket (RFC 6455) framing for the `ws` and `wss` services, free of sockets.
//!
//! Web wallets speak JSON-RPC over WebSocket: one JSON-RPC message (or batch) per text frame,
//! without a trailing newline. The codec sits between the transport and the [`Session`]: it
//! answers the HTTP Upgrade handshake, turns client frames into whole messages for the session
//! and the session's newline-terminated output lines into text frames.
//! `handshake` checks the upgrade request, `frame` decodes client frames.
//!
//! [`Session`]: super::session::Session

use frame::parse_frame;
use handshake::{accept_key, Refusal};

mod frame;
mod handshake;

/// Largest HTTP request head accepted before the upgrade.
const MAX_HEAD: usize = 16 * 1024;
/// Output buffer capacity kept once everything is written.
const KEEP_OUTPUT: usize = 16 * 1024;

/// Close status codes (RFC 6455 §7.4.1).
pub mod code {
    /// The purpose of the connection was fulfilled.
    pub const NORMAL: u16 = 1000;
    /// The client broke the protocol (e.g. an unmasked frame).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A message too big to process (`MAX_RECV`).
    pub const TOO_BIG: u16 = 1009;
}

/// Why the client's bytes cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsError {
    /// The upgrade request was unusable; an HTTP error response is queued.
    Handshake(String),
    /// A frame broke RFC 6455; a close frame with this code is queued.
    Protocol(u16, String),
    /// A message exceeded the size limit; reading stops and [`WsCodec::finish`] sends 1009.
    TooBig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the HTTP request head.
    Handshake,
    /// Frames flow both ways.
    Open,
    /// Reading stopped (a message was too big); replies are still framed, then a close frame
    /// with this status.
    Draining(u16),
    /// A close frame was queued; nothing more is framed or read.
    Closed,
}

/// The WebSocket state of one connection.
#[derive(Debug)]
pub struct WsCodec {
    state: State,
    inbuf: Vec<u8>,
    message: Vec<u8>,
    in_message: bool,
    out: Vec<u8>,
    out_pos: usize,
    peer_closed: bool,
}

impl Default for WsCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl WsCodec {
    /// A codec waiting for the client's upgrade request.
    pub fn new() -> Self {
        WsCodec {
            state: State::Handshake,
            inbuf: Vec::new(),
            message: Vec::new(),
            in_message: false,
            out: Vec::new(),
            out_pos: 0,
            peer_closed: false,
        }
    }

    /// True once the handshake succeeded and until a close frame is queued.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// True when the client sent a close frame (the server answered it).
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Feeds bytes from the socket; `on_message` gets each complete data message.
    ///
    /// `max` bounds a message (and so a frame) in bytes; 0 = unlimited. Pings are answered
    /// here. After an error, or after the client's close frame, the codec reads nothing more.
    pub fn receive(
        &mut self,
        data: &[u8],
        max: usize,
        mut on_message: impl FnMut(&[u8]) -> bool,
    ) -> Result<(), WsError> {
        if matches!(self.state, State::Closed | State::Draining(_)) {
            return Ok(());
        }
        // Only the new bytes (and the 3 before them) can complete the head's terminator.
        let searched = self.inbuf.len().saturating_sub(3);
        self.inbuf.extend_from_slice(data);
        if self.state == State::Handshake {
            let found = find(&self.inbuf[searched..], b"\r\n\r\n").map(|i| i + searched);
            // The same refusal whether the head came in one read or many.
            let too_large = match found {
                Some(end) => end > MAX_HEAD,
                None => self.inbuf.len() >= MAX_HEAD + 4,
            };
            if too_large {
                return Err(self.refuse(
                    "431 Request Header Fields Too Large",
                    "",
                    "request head too large",
                ));
            }
            let Some(end) = found else {
                return Ok(());
            };
            let head = self.inbuf[..end].to_vec();
            self.inbuf.drain(..end + 4);
            match accept_key(&head) {
                Ok(accept) => {
                    let response = format!(
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                         Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                    );
                    self.push_out(response.as_bytes());
                    self.state = State::Open;
                }
                Err(Refusal {
                    status,
                    headers,
                    why,
                }) => {
                    return Err(self.refuse(status, headers, &why));
                }
            }
        }
        let mut pos = 0;
        let result = loop {
            match parse_frame(&self.inbuf[pos..], max) {
                Ok(None) => break Ok(()),
                Ok(Some(frame)) => {
                    pos += frame.consumed;
                    match self.on_frame(
                        frame.fin,
                        frame.opcode,
                        frame.payload,
                        max,
                        &mut on_message,
                    ) {
                        Ok(true) => {}
                        Ok(false) => break Ok(()),
                        Err(e) => break Err(e),
                    }
                }
                Err(e) => break Err(e),
            }
        };
        self.inbuf.drain(..pos);
        if let Err(e) = &result {
            match e {
                WsError::Protocol(c, why) => self.close(*c, why),
                WsError::TooBig => self.state = State::Draining(code::TOO_BIG),
                WsError::Handshake(_) => {}
            }
        }
        if self.state != State::Open {
            self.inbuf = Vec::new();
        }
        result
    }

    /// Handles one frame; false stops reading (closed).
    fn on_frame(
        &mut self,
        fin: bool,
        opcode: u8,
        payload: Vec<u8>,
        max: usize,
        on_message: &mut impl FnMut(&[u8]) -> bool,
    ) -> Result<bool, WsError> {
        match opcode {
            0x8 => {
                // Echo the status code (if any) and stop.
                self.peer_closed = true;
                let status = match payload.len() {
                    0 => None,
                    1 => {
                        return Err(WsError::Protocol(
                            code::PROTOCOL_ERROR,
                            "close frame of one byte".into(),
                        ))
                    }
                    _ => Some(u16::from_be_bytes([payload[0], payload[1]])),
                };
                let mut body = Vec::new();
                if let Some(s) = status {
                    body.extend_from_slice(&s.to_be_bytes());
                }
                self.push_frame(0x8, &body);
                self.state = State::Closed;
                Ok(false)
            }
            0x9 => {
                self.push_frame(0xA, &payload);
                Ok(true)
            }
            0xA => Ok(true),
            0x1 | 0x2 => {
                if self.in_message {
                    return Err(WsError::Protocol(
                        code::PROTOCOL_ERROR,
                        "a new message began before the fragmented one ended".into(),
                    ));
                }
                if fin {
                    return Ok(on_message(&payload) && self.state == State::Open);
                }
                self.in_message = true;
                self.message = payload;
                Ok(true)
            }
            0x0 => {
                if !self.in_message {
                    return Err(WsError::Protocol(
                        code::PROTOCOL_ERROR,
                        "continuation frame without a message".into(),
                    ));
                }
                if max != 0 && self.message.len() + payload.len() > max {
                    return Err(WsError::TooBig);
                }
                self.message.extend_from_slice(&payload);
                if !fin {
                    return Ok(true);
                }
                self.in_message = false;
                let message = std::mem::take(&mut self.message);
                Ok(on_message(&message) && self.state == State::Open)
            }
            other => Err(WsError::Protocol(
                code::PROTOCOL_ERROR,
                format!("unknown opcode {other:#x}"),
            )),
        }
    }

    /// Frames the complete lines at the start of `lines` (each ending in `\n`) as text frames.
    ///
    /// Returns the bytes of `lines` used. While the handshake is pending nothing is used; once
    /// closed, everything is used and dropped (nothing may follow a close frame).
    pub fn frame_lines(&mut self, lines: &[u8]) -> usize {
        match self.state {
            State::Handshake => 0,
            State::Closed => lines.len(),
            State::Open | State::Draining(_) => {
                let mut used = 0;
                while let Some(n) = lines[used..].iter().position(|&b| b == b'\n') {
                    let line = &lines[used..used + n];
                    self.push_frame(0x1, line);
                    used += n + 1;
                }
                used
            }
        }
    }

    /// The session is done: queues the close frame (1000, or the status of a failure).
    pub fn finish(&mut self) {
        match self.state {
            State::Open => self.close(code::NORMAL, ""),
            State::Draining(status) => self.close(status, "message too big"),
            State::Handshake | State::Closed => self.state = State::Closed,
        }
    }

    /// Queues a close frame (once); nothing is framed after it.
    pub fn close(&mut self, status: u16, reason: &str) {
        if matches!(self.state, State::Handshake | State::Closed) {
            self.state = State::Closed;
            return;
        }
        let mut body = status.to_be_bytes().to_vec();
        let reason = reason.as_bytes();
        body.extend_from_slice(&reason[..reason.len().min(123)]);
        self.push_frame(0x8, &body);
        self.state = State::Closed;
    }

    /// Bytes ready for the socket.
    pub fn output(&self) -> &[u8] {
        &self.out[self.out_pos..]
    }

    /// Marks `n` bytes of [`WsCodec::output`] as written.
    pub fn consume_output(&mut self, n: usize) {
        self.out_pos = (self.out_pos + n).min(self.out.len());
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
            if self.out.capacity() > KEEP_OUTPUT {
                self.out = Vec::new();
            }
        } else if self.out_pos > (1 << 20) && self.out_pos * 2 > self.out.len() {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
    }

    /// Client bytes held for an incomplete head, frame or fragmented message (bounded by the
    /// head limit and twice the message limit).
    pub fn buffered(&self) -> usize {
        self.inbuf.len() + self.message.len()
    }

    /// Bytes queued and not yet written.
    pub fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    fn refuse(&mut self, status: &str, headers: &str, why: &str) -> WsError {
        let body = format!("{why}\n");
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
             Connection: close\r\n{headers}\r\n{body}",
            body.len()
        );
        self.push_out(response.as_bytes());
        self.state = State::Closed;
        self.inbuf = Vec::new();
        WsError::Handshake(why.to_string())
    }

    fn push_out(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    fn push_frame(&mut self, opcode: u8, payload: &[u8]) {
        self.out.push(0x80 | opcode);
        let n = payload.len();
        if n < 126 {
            self.out.push(n as u8);
        } else if n <= 0xFFFF {
            self.out.push(126);
            self.out.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            self.out.push(127);
            self.out.extend_from_slice(&(n as u64).to_be_bytes());
        }
        self.out.extend_from_slice(payload);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::handshake::accept_for;
    use super::*;

    /// A client frame, masked with a fixed key.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut f = vec![(u8::from(fin) << 7) | opcode];
        let n = payload.len();
        if n < 126 {
            f.push(0x80 | n as u8);
        } else if n <= 0xFFFF {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    fn open() -> WsCodec {
        let mut c = WsCodec::new();
        let head = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        c.receive(head, 0, |_| true).unwrap();
        let n = c.pending();
        c.consume_output(n);
        c
    }

    #[test]
    fn accept_key_is_the_rfc_example() {
        assert_eq!(
            accept_for("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let mut c = WsCodec::new();
        let head = b"GET /any/path?x=1 HTTP/1.1\r\nhost: x\r\nupgrade: WebSocket\r\n\
                     connection: keep-alive, Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                     sec-websocket-version: 13\r\n\r\n";
        c.receive(head, 0, |_| true).unwrap();
        let out = String::from_utf8(c.output().to_vec()).unwrap();
        assert!(out.starts_with("HTTP/1.1 101 "), "{out}");
        assert!(out.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(c.is_open());
    }

    #[test]
    fn plain_http_and_old_versions_are_refused() {
        let mut c = WsCodec::new();
        let e = c.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, |_| true);
        assert!(matches!(e, Err(WsError::Handshake(_))));
        assert!(String::from_utf8_lossy(c.output()).starts_with("HTTP/1.1 426 "));
        let mut c = WsCodec::new();
        let e = c.receive(
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
            0,
            |_| true,
        );
        assert!(matches!(e, Err(WsError::Handshake(_))));
        assert!(String::from_utf8_lossy(c.output()).contains("Sec-WebSocket-Version: 13"));
    }

    #[test]
    fn fragmented_masked_messages_are_joined_and_pings_answered() {
        let mut c = open();
        let mut bytes = client_frame(false, 0x1, b"{\"a\":");
        bytes.extend(client_frame(true, 0x9, b"hi"));
        bytes.extend(client_frame(false, 0x0, b" 1"));
        bytes.extend(client_frame(true, 0x0, b"}"));
        let mut got = Vec::new();
        // Byte by byte: frames split anywhere must still decode.
        for b in &bytes {
            c.receive(std::slice::from_ref(b), 100, |m| {
                got.push(m.to_vec());
                true
            })
            .unwrap();
        }
        assert_eq!(got, vec![b"{\"a\": 1}".to_vec()]);
        assert_eq!(c.output(), &[0x8A, 2, b'h', b'i']);
    }

    #[test]
    fn unmasked_oversized_and_stray_frames_close_the_connection() {
        let mut c = open();
        let e = c.receive(&[0x81, 0x01, b'x'], 0, |_| true);
        assert_eq!(
            e,
            Err(WsError::Protocol(
                1002,
                "client frames must be masked".into()
            ))
        );
        assert_eq!(&c.output()[..4], &[0x88, 30, 0x03, 0xEA]);
        assert!(!c.is_open());

        let mut c = open();
        let e = c.receive(&client_frame(true, 0x1, &[b'x'; 200]), 100, |_| true);
        assert_eq!(e, Err(WsError::TooBig));
        assert_eq!(c.frame_lines(b"{\"error\":1}\n"), 12);
        c.finish();
        assert_eq!(c.output()[0], 0x81);
        assert_eq!(&c.output()[13..17], &[0x88, 17, 0x03, 0xF1]);
        assert!(!c.is_open());

        let mut c = open();
        let mut bytes = client_frame(false, 0x1, &[b'x'; 60]);
        bytes.extend(client_frame(true, 0x0, &[b'x'; 60]));
        assert_eq!(c.receive(&bytes, 100, |_| true), Err(WsError::TooBig));

        let mut c = open();
        let e = c.receive(&client_frame(true, 0x0, b"x"), 0, |_| true);
        assert!(matches!(e, Err(WsError::Protocol(1002, _))));
    }

    #[test]
    fn lengths_near_2_pow_64_and_long_heads_are_refused_however_they_arrive() {
        // Without a message limit the end offset of this frame used to wrap around.
        let mut c = open();
        let mut frame = vec![0x81, 0xFF];
        frame.extend_from_slice(&(u64::MAX - 7).to_be_bytes());
        frame.extend_from_slice(&[0; 4]);
        assert_eq!(c.receive(&frame, 0, |_| true), Err(WsError::TooBig));

        let mut head = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n".to_vec();
        head.extend_from_slice(format!("X-Pad: {}\r\n\r\n", "a".repeat(MAX_HEAD)).as_bytes());
        let mut whole = WsCodec::new();
        let e = whole.receive(&head, 0, |_| true);
        let mut cut = WsCodec::new();
        let mut e2 = Ok(());
        for piece in head.chunks(1000) {
            e2 = cut.receive(piece, 0, |_| true);
            if e2.is_err() {
                break;
            }
        }
        assert_eq!(e, e2);
        assert!(matches!(e, Err(WsError::Handshake(_))));
        assert!(whole.output().starts_with(b"HTTP/1.1 431 "));
        assert_eq!(whole.buffered(), 0);
    }

    #[test]
    fn close_is_echoed_and_output_after_it_dropped() {
        let mut c = open();
        c.receive(&client_frame(true, 0x8, &1000u16.to_be_bytes()), 0, |_| {
            true
        })
        .unwrap();
        assert!(c.peer_closed());
        assert_eq!(c.output(), &[0x88, 2, 0x03, 0xE8]);
        assert_eq!(c.frame_lines(b"{}\n"), 3);
        assert_eq!(c.output(), &[0x88, 2, 0x03, 0xE8]);
    }

    #[test]
    fn lines_become_text_frames_with_the_right_length_encoding() {
        let mut c = open();
        let mut lines = b"{}\n".to_vec();
        lines.extend(vec![b'x'; 300]);
        lines.push(b'\n');
        lines.extend(vec![b'y'; 70_000]);
        lines.push(b'\n');
        lines.extend(b"partial");
        assert_eq!(c.frame_lines(&lines), lines.len() - 7);
        let out = c.output();
        assert_eq!(&out[..4], &[0x81, 2, b'{', b'}']);
        assert_eq!(&out[4..8], &[0x81, 126, 0x01, 0x2C]);
        let at = 8 + 300;
        assert_eq!(&out[at..at + 2], &[0x81, 127]);
        assert_eq!(&out[at + 2..at + 10], &70_000u64.to_be_bytes());
    }
}
