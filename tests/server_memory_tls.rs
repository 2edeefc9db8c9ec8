//! Idle TLS connections stay within budget. Both ends live in this process (the client side
//! holds a rustls client and an 8 KiB read buffer per connection); measured on its own, the
//! server side of an idle TLS session is about 8 KiB.

mod server_common;

use keva_electrum::server::Protocol;
use server_common::*;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS value");
    kb * 1024
}

#[test]
fn idle_tls_connections_cost_little_memory() {
    const N: usize = 1000;
    let ca = TestCa::new("memory", false);
    let mut s = settings(&[Protocol::Ssl]);
    s.tls = Some(ca.files.clone());
    s.limits.max_sessions = 20_000;
    let (server, _) = start(s);
    let addr = server.local_addrs()[0];
    let config = ca.client_config();
    {
        let mut c = tls(addr, config.clone());
        c.call("server.ping", serde_json::json!([]), serde_json::json!(0));
    }
    let before = rss_bytes();
    let mut conns = Vec::with_capacity(N);
    for _ in 0..N {
        let mut c = tls(addr, config.clone());
        c.call("server.ping", serde_json::json!([]), serde_json::json!(1));
        conns.push(c);
    }
    let after = rss_bytes();
    let per_conn = after.saturating_sub(before) / N as u64;
    eprintln!(
        "RSS growth {} bytes per idle TLS connection (both ends, client buffers included)",
        per_conn
    );
    assert!(
        per_conn < 32 * 1024,
        "an idle TLS connection takes {per_conn} bytes (both ends)"
    );
}
