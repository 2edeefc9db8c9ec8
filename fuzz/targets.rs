//! The fuzz targets' bodies, shared by the libFuzzer binaries (`fuzz/fuzz_targets/`) and the
//! corpus regression test (`tests/hostile_fuzz_corpus.rs`): each takes arbitrary bytes, must
//! never panic, and checks what must hold for any input it accepts.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use keva_electrum::admin as cli;
use keva_electrum::chain::header::Header;
use keva_electrum::chain::keva::{index_scripthashes, parse_keva_script};
use keva_electrum::chain::script::scripthash;
use keva_electrum::chain::{Block, Transaction};
use keva_electrum::index::prepared::PreparedBlock;
use keva_electrum::jsonrpc::{
    bind_params, encode_error, encode_result, parse_line, Item, Message, RpcError,
};
use keva_electrum::server::admin::{self, Admin, APP_COMMANDS};
use keva_electrum::server::peers::parse_add_peer;
use keva_electrum::server::pool::{Outcome, Route, Task};
use keva_electrum::server::session::{Effects, Session, Shared};
use keva_electrum::server::ws::{WsCodec, WsError};
use keva_electrum::server::Settings;
use serde_json::{json, Value};

/// Block and transaction parsing: whatever parses re-serializes to bytes that parse back to
/// the same thing. (Not necessarily to the input: the parser accepts non-minimal CompactSize
/// lengths, as ElectrumX does, and re-serializes them minimally.)
pub fn block_and_tx(data: &[u8]) {
    if let Ok(block) = Block::from_bytes(data) {
        let bytes = block.serialize();
        let again = Block::from_bytes(&bytes).expect("a serialized block parses");
        assert_eq!(again.serialize(), bytes, "a block does not round-trip");
        let _ = block.compute_merkle_root();
        for tx in &block.txs {
            let _ = (tx.txid(), tx.wtxid());
        }
    }
    if let Ok(tx) = Transaction::from_bytes(data) {
        let bytes = tx.serialize();
        let again = Transaction::from_bytes(&bytes).expect("a serialized transaction parses");
        assert_eq!(
            again.serialize(),
            bytes,
            "a transaction does not round-trip"
        );
        assert_eq!(again.txid(), tx.txid());
    }
}

/// Keva script parsing and the index scripthashes derived from it: the address part is a
/// suffix of the script, and derivation never fails on a parsed operation.
pub fn keva_script(data: &[u8]) {
    if let Some((op, address)) = parse_keva_script(data) {
        assert!(
            data.ends_with(address),
            "the address script is not the tail of the keva script"
        );
        // One per namespace, key and hashtag: any number, but always the same ones.
        let hashes = index_scripthashes(&op);
        assert_eq!(
            hashes,
            index_scripthashes(&op),
            "derivation is not deterministic"
        );
        let _ = scripthash(address);
    }
    let _ = scripthash(data);
}

/// Header chains: parse consecutive headers, check each links to the one before, and prepare
/// a block the way the sync does (hash, height and merkle checks) without panicking.
pub fn header_chain(data: &[u8]) {
    let mut rest = data;
    let mut prev: Option<Header> = None;
    while !rest.is_empty() {
        let mut cur = keva_electrum::chain::encode::Cursor::new(rest);
        let Ok(h) = Header::parse(&mut cur) else {
            break;
        };
        let used = rest.len() - cur.remaining();
        assert!(used > 0, "a header of zero bytes");
        assert_eq!(Header::from_bytes(&rest[..used]).ok().as_ref(), Some(&h));
        let _ = (h.hash(), h.original_hash(), h.height(), h.cn_fields());
        if let Some(p) = &prev {
            let _linked = h.prev_hash() == p.hash();
        }
        prev = Some(h);
        rest = &rest[used..];
    }
    if data.len() >= 4 {
        let height = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
        let hash = Block::from_bytes(&data[4..])
            .map(|b| b.header.hash())
            .unwrap_or_else(|_| keva_electrum::chain::hash::sha256(data));
        if let Ok(b) = PreparedBlock::parse(height, &hash, &data[4..]) {
            assert_eq!(b.hash, hash);
            assert_eq!(b.txids.len(), b.tx_count());
        }
    }
}

/// The socket-free session state machine fed arbitrary bytes in arbitrary pieces, with every
/// job it asks for answered: it never panics, and everything it writes is JSON lines.
pub fn session(data: &[u8]) {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let mut settings = Settings::default();
    settings.limits.max_recv = 4096;
    settings.limits.max_send = 350_000;
    let tip = serde_json::json!({"height": 5, "hex": "00"});
    let shared = Shared {
        settings: &settings,
        tip: Some(&tip),
        epoch: 0,
    };
    let start = Instant::now();
    let mut session = Session::new(1, 1, start);
    let mut out = Vec::new();
    let piece = usize::from(split % 64) + 1;
    for (i, chunk) in data.chunks(piece).enumerate() {
        let now = start + Duration::from_millis(i as u64);
        let mut eff = Effects::default();
        session.receive(chunk, now, &shared, &mut eff);
        let mut jobs = std::mem::take(&mut eff.jobs);
        // Answer what was asked (answers may enqueue more jobs).
        let mut rounds = 0;
        while let Some(job) = jobs.pop() {
            rounds += 1;
            if rounds > 10_000 {
                break;
            }
            let Route::Session { tag, .. } = job.route else {
                continue;
            };
            let outcome = match job.task {
                Task::Call { id: Some(id), .. } => Outcome::Response {
                    bytes: serde_json::to_vec(
                        &serde_json::json!({"jsonrpc": "2.0", "result": [1, "x"], "id": id}),
                    )
                    .unwrap(),
                    error: false,
                },
                Task::Call { id: None, .. } => Outcome::Silent { error: false },
                Task::Status { .. } => Outcome::Status(Ok(Some("ab".repeat(32)))),
                Task::Tip => Outcome::Tip(Ok(tip.clone())),
            };
            let mut eff = Effects::default();
            session.complete(tag, outcome, 1.0, now, &shared, &mut eff);
            jobs.extend(eff.jobs);
        }
        let mut eff = Effects::default();
        session.tick(now + Duration::from_secs(3), &shared, &mut eff);
        out.extend_from_slice(session.output());
        let n = session.output().len();
        session.consume_output(n);
        if session.finished() {
            break;
        }
    }
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: Result<serde_json::Value, _> = serde_json::from_slice(line);
        assert!(
            v.is_ok(),
            "the session wrote a line that is not JSON: {:?}",
            String::from_utf8_lossy(line)
        );
    }
}

/// A WebSocket upgrade request the codec accepts.
pub const WS_HEAD: &[u8] =
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// What one run of the WebSocket codec over a byte stream produced.
#[derive(Debug, PartialEq)]
struct WsRun {
    messages: Vec<Vec<u8>>,
    error: Option<WsError>,
    output: Vec<u8>,
    open: bool,
}

/// Feeds `data` to a fresh codec in pieces of `piece` bytes, checking the buffering bound
/// after every piece.
fn ws_feed(data: &[u8], piece: usize, max: usize) -> WsRun {
    let mut codec = WsCodec::new();
    let mut messages = Vec::new();
    let mut error = None;
    for chunk in data.chunks(piece.max(1)) {
        let result = codec.receive(chunk, max, |m| {
            assert!(
                max == 0 || m.len() <= max,
                "a message of {} bytes passed the {max}-byte limit",
                m.len()
            );
            messages.push(m.to_vec());
            true
        });
        // An incomplete head (under 16 KiB + its terminator), or an incomplete frame (under
        // `max` + its 14-byte header) plus a fragmented message (at most `max`).
        let bound = if max == 0 {
            usize::MAX
        } else {
            (16 * 1024 + 4).max(2 * max + 14)
        };
        assert!(
            codec.buffered() <= bound,
            "{} bytes buffered with a {max}-byte limit",
            codec.buffered()
        );
        if let Err(e) = result {
            error = Some(e);
            break;
        }
    }
    WsRun {
        messages,
        error,
        open: codec.is_open(),
        output: codec.output().to_vec(),
    }
}

/// A client frame (masked) as browsers send them.
pub fn ws_client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
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

/// Decodes the server's frames (unmasked, minimal lengths) as a client would; `None` when
/// the bytes are not a sequence of whole, valid server frames.
fn ws_server_frames(mut out: &[u8]) -> Option<Vec<(u8, Vec<u8>)>> {
    let mut frames = Vec::new();
    while !out.is_empty() {
        if out.len() < 2 || out[0] & 0x70 != 0 || out[0] & 0x80 == 0 || out[1] & 0x80 != 0 {
            return None;
        }
        let (len, at): (usize, usize) = match out[1] & 0x7F {
            126 => (
                usize::from(u16::from_be_bytes([*out.get(2)?, *out.get(3)?])),
                4,
            ),
            127 => {
                let b: [u8; 8] = out.get(2..10)?.try_into().ok()?;
                (usize::try_from(u64::from_be_bytes(b)).ok()?, 10)
            }
            n => (usize::from(n), 2),
        };
        let payload = out.get(at..at.checked_add(len)?)?;
        frames.push((out[0] & 0x0F, payload.to_vec()));
        out = &out[at + len..];
    }
    Some(frames)
}

/// The WebSocket codec (handshake and client frames) fed arbitrary bytes in arbitrary pieces.
///
/// Byte 0: piece size and whether a valid upgrade request comes first; byte 1: the message
/// limit (0 = none). Checks: no panic; messages and buffers within the limit; the same
/// messages, error and output whichever way the stream is cut; the server's output is an HTTP
/// response followed by whole, valid frames; every decoded message, framed again by a client,
/// decodes to itself, and the server's text frame of it carries it unchanged.
pub fn ws_frames(data: &[u8]) {
    let [a, b, rest @ ..] = data else {
        return;
    };
    let piece = usize::from(a >> 1) + 1;
    let max = match b % 8 {
        0 => 0,
        k => 16 << k,
    };
    let mut stream = Vec::new();
    if a & 1 == 1 {
        stream.extend_from_slice(WS_HEAD);
    }
    stream.extend_from_slice(rest);
    let whole = ws_feed(&stream, stream.len(), max);
    let cut = ws_feed(&stream, piece, max);
    assert_eq!(whole, cut, "the result depends on how the stream was cut");

    // Output: an HTTP response head, then frames (a refusal has a body after its head).
    let out = &whole.output;
    if !out.is_empty() {
        assert!(
            out.starts_with(b"HTTP/1.1 "),
            "output does not start with HTTP"
        );
        let head_end = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("the HTTP head is not terminated");
        if out.starts_with(b"HTTP/1.1 101 ") {
            let frames = ws_server_frames(&out[head_end + 4..]).expect("invalid server frames");
            for (i, (opcode, payload)) in frames.iter().enumerate() {
                assert!(
                    matches!(opcode, 0x8 | 0xA),
                    "the server sent opcode {opcode:#x} unprompted"
                );
                assert!(payload.len() <= 125, "a control frame over 125 bytes");
                if *opcode == 0x8 {
                    assert_eq!(i, frames.len() - 1, "a frame after the close frame");
                }
            }
        }
    }

    // Round trips through a fresh open codec and the server's encoder.
    for (i, m) in whole.messages.iter().enumerate().take(8) {
        let mut codec = WsCodec::new();
        codec.receive(WS_HEAD, 0, |_| true).expect("handshake");
        let n = codec.pending();
        codec.consume_output(n);
        let mask = [*a, *b, i as u8, 0x5a];
        let split = m.len() / 2;
        let mut frames = ws_client_frame(false, 0x1, &m[..split], mask);
        frames.extend(ws_client_frame(true, 0x0, &m[split..], mask));
        let mut again = Vec::new();
        codec
            .receive(&frames, max, |x| {
                again.push(x.to_vec());
                true
            })
            .expect("a re-framed message is refused");
        assert_eq!(
            again,
            vec![m.clone()],
            "a re-framed message decodes differently"
        );
        if !m.contains(&b'\n') {
            let mut line = m.clone();
            line.push(b'\n');
            assert_eq!(codec.frame_lines(&line), line.len());
            let sent = ws_server_frames(codec.output()).expect("invalid text frame");
            assert_eq!(
                sent,
                vec![(0x1, m.clone())],
                "the text frame changed the message"
            );
        }
    }
}

/// An [`Admin`] that checks the arguments the parser hands it and answers with them.
struct CheckingAdmin;

impl Admin for CheckingAdmin {
    fn getinfo(&self) -> Value {
        json!({"coin": "Kevacoin"})
    }

    fn daemon_url(&self, url: Option<&str>) -> Result<Value, RpcError> {
        assert!(url.is_none_or(|u| !u.trim().is_empty()), "a blank URL");
        Ok(json!(url))
    }

    fn stop(&self) -> Result<Value, RpcError> {
        Ok(json!("stopping"))
    }

    fn reorg(&self, count: u32) -> Result<Value, RpcError> {
        assert!(count > 0, "reorg of 0 blocks");
        Ok(json!(count))
    }

    fn query(&self, items: &[String], limit: usize) -> Result<Value, RpcError> {
        assert!(!items.is_empty(), "query without items");
        Ok(json!([items, limit]))
    }

    fn keva_ban_tx(&self, txid: &str) -> Result<Value, RpcError> {
        check_txid(txid);
        Ok(json!(txid))
    }

    fn keva_unban_tx(&self, txid: &str) -> Result<Value, RpcError> {
        check_txid(txid);
        Ok(json!(txid))
    }

    fn metrics(&self) -> String {
        String::new()
    }
}

fn check_txid(txid: &str) {
    assert!(
        txid.len() == 64
            && txid
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "txid {txid:?} is not 64 lowercase hex digits"
    );
}

/// What the server makes of one admin request, without a running loop: the same parsing the
/// loop (`sessions`, `disconnect`, …), the peer manager (`add_peer`) and the admin thread do.
fn admin_server_side(method: &str, params: &Value) -> Result<Value, RpcError> {
    match method {
        "sessions" | "groups" | "peers" => bind_params(method, params, &[], &[]).map(|_| json!([])),
        "disconnect" | "log" => admin::session_ids(method, params).map(|ids| json!(ids)),
        "add_peer" => parse_add_peer(params).map(|(h, t, s)| json!([h, t, s])),
        m if APP_COMMANDS.contains(&m) => admin::run_command(&CheckingAdmin, m, params, json!({})),
        other => Err(RpcError::unknown_method(other)),
    }
}

/// Admin commands from untrusted bytes, two ways: as JSON-RPC lines on the admin port, and as
/// the CLI's argument list (NUL-separated). Checks: no panic; every error has a message and
/// every answer encodes to JSON carrying the request's id; a command line the CLI accepts is
/// sent as a request the server parses back unchanged and accepts (numeric session ids); the
/// CLI renders any answer.
pub fn admin_command(data: &[u8]) {
    for line in data.split(|&b| b == b'\n') {
        let items = match parse_line(line) {
            Message::Single(item) => vec![item],
            Message::Batch(items) => items,
            Message::Error(e) => {
                assert!(!e.message.is_empty());
                continue;
            }
        };
        for item in items {
            let Item::Request(r) = item else {
                continue;
            };
            let answer = admin_server_side(&r.method, &r.params);
            let id = r.id.clone().unwrap_or(Value::Null);
            let bytes = match &answer {
                Ok(v) => encode_result(&id, v),
                Err(e) => {
                    assert!(!e.message.is_empty(), "an error without a message");
                    encode_error(&id, e)
                }
            };
            let back: Value = serde_json::from_slice(&bytes).expect("an answer that is not JSON");
            assert_eq!(back["id"], id, "the answer lost the request id");
        }
    }

    let args: Vec<String> = data
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if let Ok(Some(req)) = cli::parse_args(&args) {
        let line = serde_json::to_vec(
            &json!({"jsonrpc": "2.0", "method": req.method, "params": req.params, "id": 0}),
        )
        .unwrap();
        let Message::Single(Item::Request(r)) = parse_line(&line) else {
            panic!(
                "the CLI's request does not parse: {}",
                String::from_utf8_lossy(&line)
            );
        };
        assert_eq!((&r.method, &r.params), (&req.method, &req.params));
        let numeric_ids = req.params["session_ids"].as_array().is_none_or(|ids| {
            ids.iter()
                .all(|i| i.as_str().is_some_and(|s| s.trim().parse::<u64>().is_ok()))
        });
        if req.method != "add_peer" && numeric_ids {
            if let Err(e) = admin_server_side(&r.method, &r.params) {
                panic!(
                    "the server refuses what the CLI accepted ({args:?}): {}",
                    e.message
                );
            }
        }
    }
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        for method in ["sessions", "groups", "peers", "getinfo", "query"] {
            let _ = cli::render(method, &v);
        }
    }
}

/// A PROXY header announcing `source` (to `10.0.0.1:50001`): version 1 text or version 2 binary.
pub fn proxy_header_for(source: std::net::SocketAddr, version: u8) -> Vec<u8> {
    use std::net::IpAddr;
    if version == 1 {
        let (family, dst) = match source.ip() {
            IpAddr::V4(_) => ("TCP4", "10.0.0.1"),
            IpAddr::V6(_) => ("TCP6", "fd00::1"),
        };
        let line = format!(
            "PROXY {family} {} {dst} {} 50001\r\n",
            source.ip(),
            source.port()
        );
        return line.into_bytes();
    }
    let mut h = keva_electrum::server::proxy::V2_SIGNATURE.to_vec();
    h.push(0x21);
    let (fam, mut addrs) = match source.ip() {
        IpAddr::V4(ip) => (0x11, [ip.octets().to_vec(), vec![10, 0, 0, 1]].concat()),
        IpAddr::V6(ip) => (0x21, [ip.octets().to_vec(), vec![0xfd; 16]].concat()),
    };
    addrs.extend_from_slice(&source.port().to_be_bytes());
    addrs.extend_from_slice(&50001u16.to_be_bytes());
    h.push(fam);
    h.extend_from_slice(&(addrs.len() as u16).to_be_bytes());
    h.extend_from_slice(&addrs);
    h
}

/// The PROXY protocol parser (v1 text, v2 binary with TLVs) on a connection's first bytes.
///
/// Checks: no panic; the verdict only moves forward as bytes arrive (every prefix of a header
/// asks for more, a header is complete exactly at its last byte, and what follows a complete
/// header or an invalid start does not change the verdict); a header is at most `MAX_HEADER`
/// bytes (`V1_MAX` for text); the address of a header, and one made from the input's bytes,
/// written out again as v1 and v2 headers, parse back to themselves; the pending-connection
/// state agrees with the parser; a trusted-proxy list that parses contains its own entries.
pub fn proxy_header(data: &[u8]) {
    use keva_electrum::server::proxy::{
        parse, Parse, Pending, Step, TrustedProxies, MAX_HEADER, V1_MAX,
    };
    use std::net::{IpAddr, SocketAddr};
    let data = &data[..data.len().min(MAX_HEADER + 64)];
    let mut verdict = Parse::NeedMore;
    let mut decided_at = data.len();
    for i in 0..=data.len() {
        verdict = parse(&data[..i]);
        if verdict != Parse::NeedMore {
            decided_at = i;
            break;
        }
    }
    for longer in [decided_at + 1, data.len()] {
        if longer <= data.len() && verdict != Parse::NeedMore {
            // The same header, or invalid still (the reason may quote more of the bytes).
            match (parse(&data[..longer]), &verdict) {
                (Parse::Invalid(_), Parse::Invalid(_)) => {}
                (later, _) => assert_eq!(
                    &later, &verdict,
                    "the verdict changed after byte {decided_at}"
                ),
            }
        }
    }
    let check_round_trip = |source: SocketAddr| {
        for version in [1, 2] {
            let bytes = proxy_header_for(source, version);
            assert_eq!(
                parse(&bytes),
                Parse::Done(
                    keva_electrum::server::proxy::Header {
                        version,
                        source: Some(source)
                    },
                    bytes.len()
                ),
                "v{version} header for {source} does not parse back"
            );
        }
    };
    if let Parse::Done(header, len) = &verdict {
        assert_eq!(*len, decided_at, "a header completed before its last byte");
        assert!(*len <= MAX_HEADER);
        if header.version == 1 {
            assert!(*len <= V1_MAX && data.starts_with(b"PROXY "));
        }
        if let Some(source) = header.source {
            check_round_trip(source);
        }
    }
    if data.len() >= 19 {
        let ip = if data[16] & 1 == 0 {
            IpAddr::from(<[u8; 4]>::try_from(&data[..4]).unwrap())
        } else {
            IpAddr::from(<[u8; 16]>::try_from(&data[..16]).unwrap())
        };
        check_round_trip(SocketAddr::new(
            ip,
            u16::from_be_bytes([data[17], data[18]]),
        ));
    }

    let proxy: SocketAddr = "10.0.0.2:41000".parse().unwrap();
    let pending = Pending::new(proxy, Instant::now());
    let whole = parse(data);
    match (pending.offer(data, false), whole) {
        (Step::Wait, Parse::NeedMore) | (Step::Refuse(_), Parse::Invalid(_)) => {}
        (Step::Accept { client, consume }, Parse::Done(h, n)) => {
            assert_eq!((client, consume), (h.source.unwrap_or(proxy), n));
        }
        (step, parsed) => {
            panic!("the pending state says {step:?} where the parser says {parsed:?}")
        }
    }

    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(trusted) = TrustedProxies::parse(text) {
            for entry in text
                .split([',', ' '])
                .map(str::trim)
                .filter(|e| !e.is_empty())
            {
                let ip: IpAddr = entry.split('/').next().unwrap().parse().unwrap();
                assert!(trusted.contains(ip), "{entry} is not in its own list");
            }
        }
    }
}

/// The block-file format stated plainly over one file's bytes: the records a scan must find
/// (offset, size) and the offsets where it must report damage. A record is the magic, a size
/// within the node's bounds and that many bytes; an 8-byte zero prefix starts the pre-allocated
/// tail; anything else is damage, stepped over to the next magic.
fn block_file_model(file: &[u8], magic: [u8; 4]) -> (Vec<(usize, usize)>, Vec<usize>) {
    use keva_electrum::daemon::blockfiles::{MAX_RECORD, MIN_RECORD};
    let (mut records, mut damage) = (Vec::new(), Vec::new());
    let mut pos = 0;
    while pos + 8 <= file.len() {
        let prefix = &file[pos..pos + 8];
        let size = u32::from_le_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]) as usize;
        let bounds = MIN_RECORD as usize..=MAX_RECORD as usize;
        if prefix[..4] == magic && bounds.contains(&size) && pos + 8 + size <= file.len() {
            records.push((pos, size));
            pos += 8 + size;
            continue;
        }
        if prefix == [0; 8] {
            break;
        }
        damage.push(pos);
        pos = file[pos + 1..]
            .windows(4)
            .position(|w| w == magic)
            .map_or(file.len(), |i| pos + 1 + i);
    }
    (records, damage)
}

/// The node's block files (`blk*.dat`) scanned and read back the way the initial sync does.
///
/// Byte 0: bit 7 puts a long valid record (zero-filled, claiming height `u32::MAX`) first in the
/// newest file, so that the rest begins `byte 0 & 0x7f` bytes before the scan's first read
/// buffer ends; bytes 1 and 2: the heights wanted (`b1..=b1 + b2`); byte 3: 0 for one file, else
/// where the rest is cut into two files (`blk00000.dat`, `blk00001.dat`). Checks: no panic;
/// every block the map yields lies within its file, starts with the magic and its size, reads
/// back as exactly those bytes and claims the height it is filed under; no two overlap; the
/// records found, the damage reported (count, file and offset), the files read and the
/// candidates per height, newest file first, are those of [`block_file_model`].
pub fn block_files(data: &[u8]) {
    use keva_electrum::chain::Network;
    use keva_electrum::daemon::blockfiles::SCAN_BUFFER;
    use keva_electrum::daemon::{BlockFiles, OpenFiles};
    use std::os::unix::fs::FileExt;
    use std::sync::atomic::AtomicBool;
    let [flags, first, span, split, rest @ ..] = data else {
        return;
    };
    let network = Network::Regtest;
    let magic = network.magic();
    let (first, last) = (u32::from(*first), u32::from(*first) + u32::from(*span));
    let cut = if *split == 0 {
        rest.len()
    } else {
        rest.len() * usize::from(*split) / 256
    };
    // Each file: the length of the leading record (0 for none), then the fuzzed bytes.
    let mut files: Vec<(usize, &[u8])> = vec![(0, &rest[..cut])];
    if *split != 0 {
        files.push((0, &rest[cut..]));
    }
    if flags & 0x80 != 0 {
        files.last_mut().unwrap().0 = SCAN_BUFFER - usize::from(flags & 0x7f);
    }
    // In memory where there is a tmpfs: a directory on disk costs ~10x the scan itself.
    let tmp = Some(std::path::PathBuf::from("/dev/shm"))
        .filter(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let root = tmp.join(format!(
        "keva-fuzz-blk-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let dir = root.join(network.data_subdir()).join("blocks");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, &(lead, bytes)) in files.iter().enumerate() {
        let file = std::fs::File::create(dir.join(format!("blk{i:05}.dat"))).unwrap();
        if lead > 0 {
            // Written sparse: the zeros of the block are a hole in the file.
            let mut head = magic.to_vec();
            head.extend_from_slice(&(lead as u32 - 8).to_le_bytes());
            head.resize(8 + 80, 0);
            head[8 + 76..].copy_from_slice(&u32::MAX.to_le_bytes());
            file.write_all_at(&head, 0).unwrap();
            file.set_len(lead as u64).unwrap();
        }
        file.write_all_at(bytes, lead as u64).unwrap();
    }

    let block_files = BlockFiles::open(&root, network).expect("the block files open");
    let map = block_files
        .scan(first, last, &AtomicBool::new(false))
        .expect("the directory lists");
    // The model, newest file first, until every wanted height has a candidate. A leading
    // record is one more record, never wanted; the fuzzed bytes start after it.
    let wanted = (last - first + 1) as usize;
    let mut want: Vec<Vec<u64>> = vec![Vec::new(); wanted];
    let (mut records, mut damage, mut scanned) = (0, Vec::new(), 0);
    for (index, &(lead, bytes)) in files.iter().enumerate().rev() {
        if want.iter().all(|c| !c.is_empty()) {
            break;
        }
        scanned += 1;
        let (found, bad) = block_file_model(bytes, magic);
        records += found.len() as u64 + u64::from(lead > 0);
        damage.extend(bad.iter().map(|&o| (index, lead + o)));
        for (offset, _) in found {
            let at = offset + 8 + 76;
            let height = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
            if (first..=last).contains(&height) {
                want[(height - first) as usize].push((index as u64) << 32 | (lead + offset) as u64);
            }
        }
    }
    assert_eq!(map.files_scanned, scanned, "files read");
    assert_eq!(map.records, records, "records found");
    assert_eq!(
        map.damaged_count,
        damage.len() as u64,
        "damaged records reported"
    );
    assert!(map.problems.is_empty(), "{:?}", map.problems);
    for (note, (index, offset)) in map.damaged.iter().zip(&damage) {
        let place = format!("blk{index:05}.dat at offset {offset}: ");
        assert!(note.starts_with(&place), "{note:?} is not about {place:?}");
    }
    assert_eq!(map.damaged.len(), damage.len().min(10));
    assert_eq!(map.located, want.iter().filter(|c| !c.is_empty()).count());

    let mut open = OpenFiles::default();
    let mut yielded: Vec<(usize, usize, usize)> = Vec::new();
    for height in first.saturating_sub(1)..=last + 1 {
        let candidates = map.candidates(height);
        if !(first..=last).contains(&height) {
            assert!(candidates.is_empty(), "height {height} was not asked for");
            continue;
        }
        assert_eq!(
            candidates,
            want[(height - first) as usize],
            "height {height}"
        );
        for loc in candidates {
            let (index, offset) = ((loc >> 32) as usize, (loc & 0xffff_ffff) as usize);
            let (lead, bytes) = files[index];
            let block = map
                .read(loc, &mut open)
                .expect("a yielded record reads back");
            // Where the record lies among the fuzzed bytes (the leading record claims no
            // wanted height).
            let at = offset
                .checked_sub(lead)
                .expect("the leading record yielded");
            let end = at + 8 + block.len();
            assert!(end <= bytes.len(), "a record past the end of its file");
            assert_eq!(&bytes[at..at + 4], magic);
            assert_eq!(bytes[at + 4..at + 8], (block.len() as u32).to_le_bytes());
            assert_eq!(&bytes[at + 8..end], &block[..], "not what the file holds");
            assert_eq!(
                block[76..80],
                height.to_le_bytes(),
                "filed under another height"
            );
            yielded.push((index, offset, lead + end));
        }
    }
    yielded.sort();
    for pair in yielded.windows(2) {
        assert!(
            pair[0].0 != pair[1].0 || pair[0].2 <= pair[1].1,
            "records overlap: {pair:?}"
        );
    }
    std::fs::remove_dir_all(&root).unwrap();
}
