//! TLS garbage and aborted handshakes against the real binary's `ssl://` service: every one is
//! dropped without disturbing the plain-TCP and TLS clients that behave.

mod hostile_common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hostile_common::*;
use rustls::pki_types::ServerName;

/// One request over TLS; asserts the answer and returns how long it all took.
fn tls_ping(addr: std::net::SocketAddr, config: &Arc<rustls::ClientConfig>) -> Duration {
    let t = Instant::now();
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let conn =
        rustls::ClientConnection::new(config.clone(), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, s);
    tls.write_all(b"{\"id\":1,\"method\":\"server.ping\"}\n")
        .unwrap();
    let mut line = String::new();
    BufReader::new(&mut tls).read_line(&mut line).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["id"], 1, "{v}");
    assert!(v["error"].is_null(), "{v}");
    t.elapsed()
}

/// Writes `bytes`, then reads until the server closes; true when it closed within 5 s.
fn closes_after(addr: std::net::SocketAddr, bytes: &[u8]) -> bool {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(bytes);
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    }
}

/// A ClientHello as a real client would send it.
fn client_hello(config: &Arc<rustls::ClientConfig>) -> Vec<u8> {
    let mut conn =
        rustls::ClientConnection::new(config.clone(), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let mut out = Vec::new();
    conn.write_tls(&mut out).unwrap();
    out
}

#[test]
fn tls_garbage_and_aborted_handshakes() {
    let dir = TempDir::new("tls");
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_pem = key.cert.pem();
    let cert = dir.path().join("cert.pem");
    let keyf = dir.path().join("key.pem");
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&keyf, key.key_pair.serialize_pem()).unwrap();
    let db = dir.path().join("db");
    let node = start_node(30, 5);
    let mut opts = ServerOpts::new(node.url(), &db);
    opts.tls = Some((&cert, &keyf));
    let mut server = Server::start(opts);
    let ssl = server.ssl.unwrap();
    let config = trusting(&cert_pem);
    assert!(tls_ping(ssl, &config) < PROBE_LIMIT);
    let watch = RssWatch::start(server.pid());

    let hello = client_hello(&config);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "plaintext JSON",
            b"{\"id\":1,\"method\":\"server.ping\"}\n".to_vec(),
        ),
        ("HTTP", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        (
            "record header claiming 16 MB",
            vec![0x16, 0x03, 0x01, 0xff, 0xff],
        ),
        (
            "bad record type",
            vec![0x99, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5],
        ),
        ("hello with a corrupt body", {
            let mut h = hello.clone();
            for b in h.iter_mut().skip(9).step_by(7) {
                *b ^= 0x5a;
            }
            h
        }),
        (
            "alert before hello",
            vec![0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28],
        ),
    ];
    for n in [1usize, 5, 300, 20_000, 200_000] {
        cases.push(("random bytes", noise(n)));
    }
    let mut closed = 0;
    for (what, bytes) in &cases {
        assert!(
            closes_after(ssl, bytes),
            "{what}: the TLS service kept the connection open"
        );
        closed += 1;
    }
    // Aborted handshakes: half a ClientHello then close; connect-and-close; a hello and then
    // silence (held open while others are served).
    for i in 0..100 {
        let mut s = TcpStream::connect(ssl).unwrap();
        if i % 2 == 0 {
            let _ = s.write_all(&hello[..hello.len() / 2]);
        }
    }
    let mut silent = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(ssl).unwrap();
        s.write_all(&hello).unwrap();
        silent.push(s);
    }
    let worst = (0..5).map(|_| tls_ping(ssl, &config)).max().unwrap();
    eprintln!(
        "tls: {closed} garbage cases closed, 100 aborted and 50 stalled handshakes; \
         worst TLS ping meanwhile {worst:?}"
    );
    assert!(worst < PROBE_LIMIT, "TLS clients waited {worst:?}");
    server.probe();
    drop(silent);
    assert!(tls_ping(ssl, &config) < PROBE_LIMIT);
    server.probe();
    watch.assert_bounded("tls", 32 * MB);
}
