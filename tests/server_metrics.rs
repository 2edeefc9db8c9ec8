//! Observability: the Prometheus endpoint (server counters plus the program's lines) and the
//! periodic session summary in the log.

mod server_common;

use keva_electrum::jsonrpc::RpcError;
use keva_electrum::server::health::{HealthBoard, NodeView, Observation};
use keva_electrum::server::{self, Admin, Endpoint, Level, Logger, Protocol};
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
    let s = settings(&[Protocol::Tcp, Protocol::Ws]);
    let admin: Arc<dyn Admin> = Arc::new(AppMetrics);
    let endpoint = Endpoint::start(
        "127.0.0.1:0".parse().unwrap(),
        HealthBoard::default(),
        Some(admin.clone()),
    )
    .unwrap();
    let addr = endpoint.addr();
    // Before the server runs (the start-up sync), the program's lines alone.
    let text = http_get(addr, "/metrics");
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("keva_electrum_tip_height 4242\n"), "{text}");
    assert!(!text.contains("keva_electrum_requests_total"), "{text}");
    let server = server::start_with_admin(s, TestBackend::new(), Some(admin)).unwrap();
    endpoint.attach(server.notifier());
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

/// `/health`: 503 with the reason until the last look at the node says the index is at its tip
/// and the server serves; 200 with the height, the node's height and the session count then;
/// 503 again when the node stops answering or the server stops.
#[test]
fn health_endpoint_says_200_only_when_caught_up_and_serving() {
    let board = HealthBoard::default();
    let endpoint = Endpoint::start("127.0.0.1:0".parse().unwrap(), board.clone(), None).unwrap();
    let health = || -> (u16, Value) {
        let text = http_get(endpoint.addr(), "/health");
        let status = text[9..12].parse().unwrap();
        assert!(
            text.contains("Content-Type: application/json\r\n"),
            "{text}"
        );
        let body = text.split("\r\n\r\n").nth(1).unwrap();
        (status, serde_json::from_str(body).unwrap())
    };
    let seen = |index_height, node_height| NodeView::Answered {
        at: Instant::now(),
        seen: Observation {
            index_height,
            node_height,
            on_node_chain: true,
        },
    };
    let (status, body) = health();
    assert_eq!(status, 503);
    assert!(
        body["reason"].as_str().unwrap().starts_with("starting"),
        "{body}"
    );
    board.set(seen(5, 9));
    let (status, body) = health();
    assert_eq!(
        (status, &body["reason"]),
        (
            503,
            &json!("syncing: index at height 5, node at 9 (4 blocks behind)")
        )
    );
    board.set(seen(9, 9));
    let (status, body) = health();
    assert_eq!(status, 503, "at the tip but not serving yet: {body}");
    assert!(
        body["reason"].as_str().unwrap().starts_with("not serving"),
        "{body}"
    );

    let (mut server, _) = start(settings(&[Protocol::Tcp]));
    endpoint.attach(server.notifier());
    let mut c = tcp(server.local_addrs()[0]);
    c.call("server.ping", json!([]), json!(1));
    assert_eq!(
        health(),
        (
            200,
            json!({"height": 9, "node_height": 9, "caught_up": true, "sessions": 1})
        )
    );
    let head = {
        let mut s = TcpStream::connect(endpoint.addr()).unwrap();
        write!(s, "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    assert!(
        head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"),
        "{head:?}"
    );

    board.fail("connection refused".into());
    let (status, body) = health();
    assert_eq!(status, 503);
    assert_eq!(
        body["reason"],
        json!("node unreachable: connection refused")
    );
    assert_eq!(body["node_height"], json!(9), "the last answer is kept");
    board.set(seen(9, 9));
    assert_eq!(health().0, 200);
    server.shutdown().unwrap();
    let (status, body) = health();
    assert_eq!(status, 503, "{body}");
    assert!(http_get(endpoint.addr(), "/metrics").starts_with("HTTP/1.1 503 "));
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
