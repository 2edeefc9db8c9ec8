//! The HTTP Upgrade request (RFC 6455 §4.2): checking it and computing
//! `Sec-WebSocket-Accept`.

use base64::Engine;

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
    base64::engine::general_purpose::STANDARD.encode(sha1(&input))
}

/// SHA-1 (FIPS 180-4), needed only for the handshake's accept key; not used for security.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn sha1_matches_the_fips_vectors() {
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(&sha1(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(
            hex(&sha1(&vec![b'a'; 1_000_000])),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
    }
}
