//! The ws:// and wss:// services over real sockets: a browser's handshake, requests and
//! notifications in text frames, fragmented and masked frames, ping, close, size limits.

mod server_common;

use keva_electrum::server::Protocol;
use serde_json::{json, Value};
use server_common::ws::{chromium_request, WsClient};
use server_common::*;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn open(addr: SocketAddr) -> WsClient<TcpStream> {
    WsClient::open(connect(addr), &addr.to_string())
}

#[test]
fn browser_handshake_then_requests_batches_and_notifications() {
    let (server, backend) = start(settings(&[Protocol::Tcp, Protocol::Ws]));
    let ws_addr = server.local_addrs()[1];
    let mut ws = open(ws_addr);
    let v = ws.call("server.version", json!(["keva-api-js", "1.4"]), json!(1));
    assert_eq!(v["result"][1], json!("1.4"));
    assert_eq!(v["id"], json!(1));
    ws.send_text(&json!([
        {"jsonrpc": "2.0", "method": "echo", "params": ["a"], "id": 1},
        {"jsonrpc": "2.0", "method": "server.ping", "id": 2}
    ]));
    let batch = ws.recv();
    assert_eq!(batch.as_array().map(Vec::len), Some(2));
    // A response over 65535 bytes uses the 64-bit length form.
    let big = ws.call("big", json!([70_000]), json!("big"));
    assert_eq!(big["result"].as_str().map(str::len), Some(70_000));

    let sh_hex = "cd".repeat(32);
    let mut line = tcp(server.local_addrs()[0]);
    for id in [1, 2] {
        let r = if id == 1 {
            ws.call(
                "blockchain.scripthash.subscribe",
                json!([sh_hex]),
                json!(id),
            )
        } else {
            line.call(
                "blockchain.scripthash.subscribe",
                json!([sh_hex]),
                json!(id),
            )
        };
        assert_eq!(r["result"], Value::Null);
    }
    backend
        .statuses
        .lock()
        .insert(sh(&sh_hex), Some("02".repeat(32)));
    server.notify(event(Value::Null, vec![sh(&sh_hex)]));
    let expected = json!([sh_hex, "02".repeat(32)]);
    assert_eq!(ws.recv()["params"], expected);
    assert_eq!(line.expect()["params"], expected);
}

#[test]
fn any_path_is_served_and_plain_http_is_refused() {
    let (server, _) = start(settings(&[Protocol::Ws]));
    let addr = server.local_addrs()[0];
    let (mut ws, head) = WsClient::handshake(
        connect(addr),
        &chromium_request("ec.example.org:50004", "/electrum?x=1"),
    );
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert_eq!(ws.call("server.ping", json!([]), json!(7))["id"], json!(7));

    let (mut c, head) = WsClient::handshake(connect(addr), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 426 "), "{head}");
    let mut body = String::new();
    use std::io::Read;
    let _ = c.stream.read_to_string(&mut body);
    assert!(body.contains("WebSocket"), "{body}");
}

#[test]
fn fragmented_masked_message_with_a_ping_in_between() {
    let (server, _) = start(settings(&[Protocol::Ws]));
    let mut ws = open(server.local_addrs()[0]);
    let text = br#"{"jsonrpc": "2.0", "method": "echo", "params": ["frag", 1], "id": "f"}"#;
    ws.send_frame(false, 0x1, &text[..10], true);
    ws.send_frame(true, 0x9, b"are you there", true);
    ws.send_frame(false, 0x0, &text[10..40], true);
    ws.send_frame(true, 0x0, &text[40..], true);
    let pong = ws.recv_frame().unwrap();
    assert_eq!(
        (pong.opcode, pong.payload.as_slice()),
        (0xA, &b"are you there"[..])
    );
    assert_eq!(
        ws.recv(),
        json!({"jsonrpc": "2.0", "result": ["frag", 1], "id": "f"})
    );
    // A client pong is ignored; the session keeps serving.
    ws.send_frame(true, 0xA, b"", true);
    assert_eq!(
        ws.call("server.ping", json!([]), json!(2))["result"],
        Value::Null
    );
}

#[test]
fn close_handshake_is_echoed_and_the_connection_ends() {
    let (server, _) = start(settings(&[Protocol::Ws]));
    let mut ws = open(server.local_addrs()[0]);
    assert_eq!(ws.call("server.ping", json!([]), json!(1))["id"], json!(1));
    ws.send_frame(true, 0x8, &1001u16.to_be_bytes(), true);
    let close = ws.recv_frame().unwrap();
    assert_eq!(close.opcode, 0x8);
    assert_eq!(close.payload, 1001u16.to_be_bytes().to_vec());
    assert!(ws.eof());
}

#[test]
fn unmasked_client_frames_are_a_protocol_error() {
    let (server, _) = start(settings(&[Protocol::Ws]));
    let mut ws = open(server.local_addrs()[0]);
    ws.send_frame(true, 0x1, br#"{"method":"server.ping","id":1}"#, false);
    let close = ws.recv_frame().unwrap();
    assert_eq!(close.opcode, 0x8);
    assert_eq!(&close.payload[..2], &1002u16.to_be_bytes());
    assert!(ws.eof());
}

#[test]
fn oversized_messages_get_an_error_then_close_1009() {
    let mut s = settings(&[Protocol::Ws]);
    s.limits.max_recv = 1000;
    let (server, _) = start(s);
    let addr = server.local_addrs()[0];
    // One frame over the limit.
    let mut ws = open(addr);
    ws.send_frame(true, 0x1, &[b' '; 2000], true);
    let e = ws.recv();
    assert_eq!(e["error"]["code"], json!(-32600));
    assert_eq!(
        e["error"]["message"],
        json!("request too large (over 1,000 bytes)")
    );
    let close = ws.recv_frame().unwrap();
    assert_eq!(
        (close.opcode, &close.payload[..2]),
        (0x8, &1009u16.to_be_bytes()[..])
    );
    assert!(ws.eof());
    // Fragments that together exceed the limit.
    let mut ws = open(addr);
    ws.send_frame(false, 0x1, &[b' '; 600], true);
    ws.send_frame(true, 0x0, &[b' '; 600], true);
    assert_eq!(ws.recv()["error"]["code"], json!(-32600));
    assert_eq!(ws.recv_frame().unwrap().opcode, 0x8);
    assert!(ws.eof());
    // Just under the limit is served.
    let mut ws = open(addr);
    let mut msg = br#"{"method":"server.ping","id":9}"#.to_vec();
    msg.resize(1000, b' ');
    ws.send_frame(true, 0x1, &msg, true);
    assert_eq!(ws.recv()["id"], json!(9));
}

#[test]
fn wss_serves_the_same_protocol_over_tls() {
    let ca = TestCa::new("wss", false);
    let mut s = settings(&[Protocol::Ssl, Protocol::Wss]);
    s.tls = Some(ca.files.clone());
    let (server, _) = start(s);
    let addr = server.local_addrs()[1];
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(ca.client_config(), name).unwrap();
    let stream = rustls::StreamOwned::new(conn, connect(addr));
    let mut ws = WsClient::open(stream, &format!("localhost:{}", addr.port()));
    let v = ws.call("server.version", json!(["web", ["1.4", "1.4.2"]]), json!(1));
    assert_eq!(v["result"][1], json!("1.4.2"));
    assert_eq!(
        ws.call("server.features", json!([]), json!(2))["result"]["hash_function"],
        json!("sha256")
    );
    ws.send_frame(true, 0x9, b"p", true);
    assert_eq!(ws.recv_frame().unwrap().opcode, 0xA);
    // The ssl:// service on the same server is unaffected.
    let mut line = tls(server.local_addrs()[0], ca.client_config());
    assert_eq!(
        line.call("server.ping", json!([]), json!(3))["id"],
        json!(3)
    );
}
