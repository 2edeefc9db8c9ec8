//! The HTTP Upgrade request (RFC 6455 §4.2): checking it and computing
//! `Sec-WebSocket-Accept`.

use base64::Engine;
use sha1::{Digest, Sha1};

/// The GUID every server appends to `Sec-WebSocket-Key` (RFC 6455 §1.3).
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// An HTTP refusal of the upgrade.
pub(super) struct Refusal {
    pub(super) status: &'static str,
    pub(super) headers: &'static str,
    pub(super) why: String,
}

/// Checks the upgrade request head and computes `Sec-WebSocket-Accept`.
pub(super) fn accept_key(head: &[u8]) -> Result<String, Refusal> {
    let bad = |why: &str| Refusal {
        status: "400 Bad Request",
        headers: "",
        why: why.to_string(),
    };
    let text = std::str::from_utf8(head).map_err(|_| bad("the request head is not text"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (method, _path, version) = (parts.next(), parts.next(), parts.next());
    if method != Some("GET") || !version.is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err(bad("a WebSocket upgrade must be an HTTP/1.1 GET request"));
    }
    let mut upgrade = false;
    let mut connection = false;
    let mut key = None;
    let mut ws_version = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let has_token = |token: &str| {
            value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "upgrade" => upgrade |= has_token("websocket"),
            "connection" => connection |= has_token("upgrade"),
            "sec-websocket-key" => key = Some(value.to_string()),
            "sec-websocket-version" => ws_version = Some(value.to_string()),
            _ => {}
        }
    }
    if !upgrade || !connection {
        return Err(Refusal {
            status: "426 Upgrade Required",
            headers: "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n",
            why: "this port serves Electrum over WebSocket only".to_string(),
        });
    }
    if ws_version.as_deref() != Some("13") {
        return Err(Refusal {
            status: "426 Upgrade Required",
            headers: "Sec-WebSocket-Version: 13\r\n",
            why: "only WebSocket version 13 is supported".to_string(),
        });
    }
    let key = key.ok_or_else(|| bad("Sec-WebSocket-Key is missing"))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(key.as_bytes())
        .map_err(|_| bad("Sec-WebSocket-Key is not base64"))?;
    if decoded.len() != 16 {
        return Err(bad("Sec-WebSocket-Key must encode 16 bytes"));
    }
    Ok(accept_for(&key))
}

/// `Sec-WebSocket-Accept` for a client key: base64(SHA-1(key ‖ GUID)).
pub(super) fn accept_for(key: &str) -> String {
    let mut input = key.as_bytes().to_vec();
    input.extend_from_slice(ACCEPT_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(Sha1::digest(&input))
}
