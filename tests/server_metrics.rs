//! Observability: the Prometheus endpoint (server counters plus the program's lines) and the
//! periodic session summary in the log.

mod server_common;

use keva_electrum::jsonrpc::RpcError;
use keva_electrum::server::{self, Admin, Level, Logger, Protocol};
use parking_lot::Mutex;
use serde_json::{json, Value};
use server_common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct AppMetrics;

impl Admin for AppMetrics {
    fn getinfo(&self) -> Value {
        json!({})
    }
    fn daemon_url(&self, _: Option<&str>) -> Result<Value, RpcError> {
        Ok(Value::Null)
    }
    fn stop(&self) -> Result<Value, RpcError> {
        Ok(Value::Null)
    }
    fn reorg(&self, _: u32) -> Result<Value, RpcError> {
        Ok(Value::Null)
    }
    fn query(&self, _: &[String], _: usize) -> Result<Value, RpcError> {
        Ok(Value::Null)
    }
    fn keva_ban_tx(&self, _: &str) -> Result<Value, RpcError> {
        Ok(Value::Null)
    }
    fn keva_unban_tx(&self, _: &str) -> Result<Value, RpcError> {
        Ok(Value::Null)
    }
    fn metrics(&self) -> String {
        "# TYPE keva_electrum_tip_height gauge\nkeva_electrum_tip_height 4242\n".to_string()
    }
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn prometheus_endpoint_counts_requests_errors_and_sessions() {
    let mut s = settings(&[Protocol::Tcp, Protocol::Ws]);
    s.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    let server =
        server::start_with_admin(s, TestBackend::new(), Some(Arc::new(AppMetrics))).unwrap();
    let addr = server.metrics_addr().unwrap();
    let mut c = tcp(server.local_addrs()[0]);
    for i in 0..3 {
        c.call("server.ping", json!([]), json!(i));
    }
    c.call("fail", json!([]), json!(9));
    c.call("made.up.method", json!([]), json!(10));
    let text = http_get(addr, "/metrics");
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("Content-Type: text/plain; version=0.0.4"));
    assert!(
        text.contains("keva_electrum_requests_total{method=\"server.ping\"} 3\n"),
        "{text}"
    );
    assert!(
        text.contains("keva_electrum_requests_total{method=\"other\"} 2\n"),
        "{text}"
    );
    assert!(text.contains("keva_electrum_errors_total 2\n"), "{text}");
    assert!(
        text.contains("keva_electrum_sessions{service=\"tcp\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("keva_electrum_sessions_accepted_total{service=\"tcp\"} 1\n"));
    assert!(
        text.contains("keva_electrum_tip_height 4242\n"),
        "the program's lines follow"
    );
    let cost: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("keva_electrum_cost_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(cost >= 200.0, "two errors cost at least 100 each: {cost}");
    // Closed sessions stay counted.
    drop(c);
    std::thread::sleep(Duration::from_millis(200));
    let text = server.metrics();
    assert!(text.contains("keva_electrum_errors_total 2\n"), "{text}");
    assert!(
        !text.contains("keva_electrum_sessions{service=\"tcp\"}"),
        "{text}"
    );
    assert!(http_get(addr, "/other").starts_with("HTTP/1.1 404 "));
}

#[test]
fn metrics_endpoint_must_be_loopback() {
    let mut s = settings(&[Protocol::Tcp]);
    s.metrics_addr = Some("0.0.0.0:0".parse().unwrap());
    let e = server::start(s, TestBackend::new()).err().expect("refused");
    assert!(e.0.contains("loopback"), "{e}");
}

#[test]
fn session_summaries_are_logged_periodically() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let mut s = settings(&[Protocol::Tcp]);
    s.log_sessions = Duration::from_millis(200);
    s.logger = Logger(Arc::new(move |l: Level, m: &str| {
        sink.lock().push(format!("{}: {m}", l.name()))
    }));
    let (server, _) = start(s);
    let mut c = tcp(server.local_addrs()[0]);
    c.call(
        "blockchain.scripthash.subscribe",
        json!(["ef".repeat(32)]),
        json!(1),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = lines.lock().iter().any(|l| {
            l.starts_with("INFO: sessions: 1 (tcp 1), with subscriptions 1, subscriptions 1")
        });
        if found {
            break;
        }
        assert!(Instant::now() < deadline, "no summary: {:?}", lines.lock());
        std::thread::sleep(Duration::from_millis(50));
    }
}
