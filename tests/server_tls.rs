//! The server over TLS: ECDSA and RSA certificates from a CA made at test time, and clients that
//! misbehave during the handshake without hurting anyone else.

mod server_common;

use keva_electrum::server::{self, Protocol, Settings};
use serde_json::{json, Value};
use server_common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn tls_settings(ca: &TestCa) -> Settings {
    let mut s = settings(&[Protocol::Tcp, Protocol::Ssl]);
    s.tls = Some(ca.files.clone());
    s
}

#[test]
fn ecdsa_certificate_serves_requests_and_notifications() {
    let ca = TestCa::new("ecdsa", false);
    let (server, backend) = start(tls_settings(&ca));
    let ssl = server.local_addrs()[1];
    let mut c = tls(ssl, ca.client_config());
    let v = c.call("server.version", json!(["t", "1.4"]), json!("a"));
    assert_eq!(v["id"], json!("a"));
    let batch = json!([
        {"jsonrpc": "2.0", "method": "echo", "params": [1], "id": 1},
        {"jsonrpc": "2.0", "method": "server.ping", "id": 2}
    ]);
    c.send(&batch);
    assert_eq!(c.expect().as_array().map(Vec::len), Some(2));
    let big = c.call("big", json!([300_000]), json!(3));
    assert_eq!(big["result"].as_str().map(str::len), Some(300_000));
    let sh_hex = "ab".repeat(32);
    assert_eq!(
        c.call("blockchain.scripthash.subscribe", json!([sh_hex]), json!(4))["result"],
        Value::Null
    );
    backend
        .statuses
        .lock()
        .insert(sh(&sh_hex), Some("01".repeat(32)));
    server.notify(event(Value::Null, vec![sh(&sh_hex)]));
    assert_eq!(c.expect()["params"], json!([sh_hex, "01".repeat(32)]));
}

#[test]
fn rsa_pkcs1_key_is_accepted() {
    let ca = TestCa::new("rsa", true);
    let (server, _) = start(tls_settings(&ca));
    let mut c = tls(server.local_addrs()[1], ca.client_config());
    assert_eq!(
        c.call("server.ping", json!([]), json!(1))["result"],
        Value::Null
    );
}

#[test]
fn stalled_handshakes_and_tls_garbage_do_not_disturb_other_clients() {
    let ca = TestCa::new("garbage", false);
    let (server, _) = start(tls_settings(&ca));
    let ssl = server.local_addrs()[1];
    // A client that opens TCP and never starts the handshake.
    let silent = TcpStream::connect(ssl).unwrap();
    // A client that sends a partial ClientHello record header and stops.
    let mut partial = TcpStream::connect(ssl).unwrap();
    partial
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    // A client that speaks plain JSON to the TLS port: the server drops it.
    let mut garbage = TcpStream::connect(ssl).unwrap();
    garbage
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    garbage
        .write_all(b"{\"method\":\"server.ping\",\"id\":1}\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = garbage.read_to_end(&mut buf);
    assert!(
        !buf.windows(7).any(|w| w == b"jsonrpc"),
        "no JSON-RPC answer over a failed handshake"
    );
    // Meanwhile TLS and TCP clients are served.
    let mut good = tls(ssl, ca.client_config());
    assert_eq!(
        good.call("server.ping", json!([]), json!(1))["id"],
        json!(1)
    );
    let mut plain = tcp(server.local_addrs()[0]);
    assert_eq!(
        plain.call("server.ping", json!([]), json!(2))["id"],
        json!(2)
    );
    // A TLS client that aborts mid-handshake after the server answered its hello.
    let mut aborted = TcpStream::connect(ssl).unwrap();
    let mut conn =
        rustls::ClientConnection::new(ca.client_config(), "localhost".try_into().unwrap()).unwrap();
    conn.write_tls(&mut aborted).unwrap();
    drop(aborted);
    assert_eq!(
        good.call("server.ping", json!([]), json!(3))["id"],
        json!(3)
    );
    drop(silent);
    drop(partial);
}

#[test]
fn ssl_without_certificate_files_fails_to_start_with_a_clear_message() {
    let s = settings(&[Protocol::Ssl]);
    let e = server::start(s, TestBackend::new())
        .err()
        .expect("start must fail");
    assert!(e.0.contains("SSL_CERTFILE"), "{e}");
    let ca = TestCa::new("badkey", false);
    std::fs::write(&ca.files.key, "not a key").unwrap();
    let e = server::start(tls_settings(&ca), TestBackend::new())
        .err()
        .expect("start must fail");
    assert!(e.0.contains("SSL_KEYFILE"), "{e}");
}
