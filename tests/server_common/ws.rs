//! A small blocking WebSocket client for the ws/wss tests, written against RFC 6455 directly.

use serde_json::{json, Value};
use std::io::{Read, Write};

/// The RFC 6455 §1.3 example key and the accept value the RFC gives for it.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The upgrade request Chromium sends (header order and values as in its network log).
pub fn chromium_request(host: &str, path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\n\
         Host: {host}\r\n\
         Connection: Upgrade\r\n\
         Pragma: no-cache\r\n\
         Cache-Control: no-cache\r\n\
         User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36\r\n\
         Upgrade: websocket\r\n\
         Origin: https://wallet.example.org\r\n\
         Sec-WebSocket-Version: 13\r\n\
         Accept-Encoding: gzip, deflate, br, zstd\r\n\
         Accept-Language: en-US,en;q=0.9\r\n\
         Sec-WebSocket-Key: {KEY}\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
    )
}

/// One frame as received.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

pub struct WsClient<S: Read + Write> {
    pub stream: S,
}

impl<S: Read + Write> WsClient<S> {
    /// Sends `request` and returns the response head (status line and headers).
    pub fn handshake(mut stream: S, request: &str) -> (Self, String) {
        stream.write_all(request.as_bytes()).unwrap();
        stream.flush().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => break,
            }
        }
        (WsClient { stream }, String::from_utf8(head).unwrap())
    }

    /// Opens a session with the Chromium request and checks the 101 answer.
    pub fn open(stream: S, host: &str) -> Self {
        let (c, head) = Self::handshake(stream, &chromium_request(host, "/"));
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        assert!(
            head.contains(&format!("Sec-WebSocket-Accept: {ACCEPT}\r\n")),
            "{head}"
        );
        assert!(!head
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions"));
        c
    }

    /// Sends a frame, masked unless `masked` is false.
    pub fn send_frame(&mut self, fin: bool, opcode: u8, payload: &[u8], masked: bool) {
        let mask = [0x9c, 0x01, 0x7e, 0x55];
        let mut f = vec![(u8::from(fin) << 7) | opcode];
        let m = if masked { 0x80 } else { 0 };
        let n = payload.len();
        if n < 126 {
            f.push(m | n as u8);
        } else if n <= 0xFFFF {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            f.push(m | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
        if masked {
            f.extend_from_slice(&mask);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        } else {
            f.extend_from_slice(payload);
        }
        self.stream.write_all(&f).unwrap();
        self.stream.flush().unwrap();
    }

    pub fn send_text(&mut self, v: &Value) {
        self.send_frame(true, 0x1, &serde_json::to_vec(v).unwrap(), true);
    }

    /// The next frame; `None` at end of stream. Server frames must not be masked.
    pub fn recv_frame(&mut self) -> Option<Frame> {
        let mut h = [0u8; 2];
        if !read_exact(&mut self.stream, &mut h) {
            return None;
        }
        assert_eq!(h[1] & 0x80, 0, "server frames are never masked");
        let len = match h[1] & 0x7F {
            126 => {
                let mut b = [0u8; 2];
                assert!(read_exact(&mut self.stream, &mut b));
                u16::from_be_bytes(b) as usize
            }
            127 => {
                let mut b = [0u8; 8];
                assert!(read_exact(&mut self.stream, &mut b));
                u64::from_be_bytes(b) as usize
            }
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        assert!(read_exact(&mut self.stream, &mut payload));
        Some(Frame {
            fin: h[0] & 0x80 != 0,
            opcode: h[0] & 0x0F,
            payload,
        })
    }

    /// The next text message, parsed; its payload must not end in a newline.
    pub fn recv(&mut self) -> Value {
        let f = self.recv_frame().expect("a frame before end of stream");
        assert_eq!((f.fin, f.opcode), (true, 0x1), "a whole text frame: {f:?}");
        assert!(!f.payload.ends_with(b"\n"), "no newline inside a frame");
        serde_json::from_slice(&f.payload).expect("JSON in a text frame")
    }

    pub fn call(&mut self, method: &str, params: Value, id: Value) -> Value {
        self.send_text(&json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id}));
        self.recv()
    }

    /// True when the server closed the TCP connection (EOF or reset).
    pub fn eof(&mut self) -> bool {
        let mut b = [0u8; 1];
        match self.stream.read(&mut b) {
            Ok(0) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
            Ok(_) => false,
        }
    }
}

fn read_exact<S: Read>(s: &mut S, buf: &mut [u8]) -> bool {
    let mut done = 0;
    while done < buf.len() {
        match s.read(&mut buf[done..]) {
            Ok(0) => return false,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return false,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return false,
            Err(e) => panic!("read failed: {e}"),
        }
    }
    true
}
