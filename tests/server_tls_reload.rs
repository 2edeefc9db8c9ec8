//! Certificate renewal without a restart: new connections get the new certificate, open
//! sessions stay up, and unusable new files keep the old certificate.

mod server_common;

use keva_electrum::server::{Level, Logger, Protocol, Reload, Settings};
use parking_lot::Mutex;
use rustls::pki_types::ServerName;
use serde_json::{json, Value};
use server_common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One request on a fresh TLS connection; an error when the handshake fails.
fn fresh_ping(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> Result<Value, String> {
    let sock = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut s = rustls::StreamOwned::new(conn, sock);
    s.write_all(b"{\"method\":\"server.ping\",\"id\":1}\n")
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&line).map_err(|e| format!("{e}: {line:?}"))
}

/// Replaces `dst`'s certificate and key with `src`'s, each by an atomic rename.
fn install(src: &TestCa, dst: &TestCa) {
    for (from, to) in [
        (&src.files.cert, &dst.files.cert),
        (&src.files.key, &dst.files.key),
    ] {
        let tmp = to.with_extension("new");
        std::fs::copy(from, &tmp).unwrap();
        std::fs::rename(&tmp, to).unwrap();
    }
}

fn tls_settings(ca: &TestCa, poll: Duration, lines: &Arc<Mutex<Vec<String>>>) -> Settings {
    let mut s = settings(&[Protocol::Ssl]);
    s.tls = Some(ca.files.clone());
    s.tls_poll = poll;
    let sink = Arc::clone(lines);
    s.logger = Logger(Arc::new(move |level: Level, m: &str| {
        sink.lock().push(format!("{}: {m}", level.name()))
    }));
    s
}

#[test]
fn reload_on_request_keeps_open_sessions_and_serves_the_new_certificate() {
    let old = TestCa::new("reload-old", false);
    let new = TestCa::new("reload-new", false);
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (server, _) = start(tls_settings(&old, Duration::ZERO, &lines));
    let addr = server.local_addrs()[0];
    let mut open = tls(addr, old.client_config());
    assert_eq!(
        open.call("server.ping", json!([]), json!(1))["id"],
        json!(1)
    );

    install(&new, &old);
    assert_eq!(server.reload_tls(), Reload::Loaded);
    assert!(lines
        .lock()
        .iter()
        .any(|l| l.starts_with("INFO: TLS certificate reloaded")));

    // The session opened before the swap keeps working.
    assert_eq!(
        open.call("echo", json!(["still here"]), json!(2))["result"],
        json!(["still here"])
    );
    // New connections see the new certificate: the old CA no longer verifies it.
    assert_eq!(
        fresh_ping(addr, new.client_config()).unwrap()["id"],
        json!(1)
    );
    let refused = fresh_ping(addr, old.client_config()).unwrap_err();
    assert!(refused.to_lowercase().contains("certificate"), "{refused}");
    assert_eq!(
        open.call("server.ping", json!([]), json!(3))["id"],
        json!(3)
    );
}

#[test]
fn changed_files_are_picked_up_by_polling() {
    let old = TestCa::new("poll-old", false);
    let new = TestCa::new("poll-new", true);
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (server, _) = start(tls_settings(&old, Duration::from_millis(100), &lines));
    let addr = server.local_addrs()[0];
    let mut open = tls(addr, old.client_config());
    assert_eq!(
        open.call("server.ping", json!([]), json!(1))["id"],
        json!(1)
    );
    install(&new, &old);
    let deadline = Instant::now() + Duration::from_secs(10);
    while fresh_ping(addr, new.client_config()).is_err() {
        assert!(
            Instant::now() < deadline,
            "the new certificate was never picked up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(fresh_ping(addr, old.client_config()).is_err());
    assert_eq!(
        open.call("server.ping", json!([]), json!(2))["id"],
        json!(2)
    );
}

#[test]
fn a_broken_new_file_keeps_the_old_certificate_and_says_why() {
    let ca = TestCa::new("broken", false);
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (server, _) = start(tls_settings(&ca, Duration::from_millis(100), &lines));
    let addr = server.local_addrs()[0];
    std::fs::write(&ca.files.cert, "not a certificate\n").unwrap();
    match server.reload_tls() {
        Reload::Kept(why) => assert!(why.contains("SSL_CERTFILE"), "{why}"),
        other => panic!("expected the old certificate to be kept, got {other:?}"),
    }
    assert_eq!(
        fresh_ping(addr, ca.client_config()).unwrap()["id"],
        json!(1)
    );
    // The poller sees the broken key too, logs it once, and keeps serving the old pair.
    std::fs::write(
        &ca.files.key,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lines
        .lock()
        .iter()
        .any(|l| l.contains("files changed") && l.starts_with("ERROR"))
    {
        assert!(
            Instant::now() < deadline,
            "no log line about the broken files: {:?}",
            lines.lock()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let errors = lines
        .lock()
        .iter()
        .filter(|l| l.starts_with("ERROR"))
        .count();
    assert_eq!(
        errors,
        2,
        "one line per change, not per poll: {:?}",
        lines.lock()
    );
    assert_eq!(
        fresh_ping(addr, ca.client_config()).unwrap()["id"],
        json!(1)
    );
}
