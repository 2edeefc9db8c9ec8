//! Idle connections must stay cheap: the budget is 10,000 idle sessions well under 200 MB RSS.
//! The process holds both ends, so the test measures 4,000 of them (the file-descriptor limit
//! of a test process) and extrapolates.

mod server_common;

use keva_electrum::server::Protocol;
use server_common::*;
use std::io::{Read, Write};
use std::net::TcpStream;

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
fn idle_connections_cost_little_memory() {
    const N: usize = 4000;
    let mut s = settings(&[Protocol::Tcp]);
    s.limits.max_sessions = 20_000;
    let (server, _) = start(s);
    let addr = server.local_addrs()[0];
    // Warm up allocator arenas and the loop's tables.
    {
        let mut c = tcp(addr);
        c.call("server.ping", serde_json::json!([]), serde_json::json!(0));
    }
    let before = rss_bytes();
    // One round trip per connection, so that the accept queue never overflows.
    let mut conns = Vec::with_capacity(N);
    let mut buf = [0u8; 128];
    for _ in 0..N {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"{\"method\":\"server.ping\",\"id\":1}\n")
            .unwrap();
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0 && buf[..n].ends_with(b"\n"), "a ping reply");
        conns.push(s);
    }
    let after = rss_bytes();
    let per_conn = after.saturating_sub(before) / N as u64;
    let for_10k = per_conn * 10_000;
    eprintln!(
        "RSS growth {} bytes per idle connection (both ends); 10,000 ≈ {} MB",
        per_conn,
        for_10k >> 20
    );
    assert!(
        for_10k < 100 << 20,
        "10,000 idle connections would take {} MB",
        for_10k >> 20
    );
}
