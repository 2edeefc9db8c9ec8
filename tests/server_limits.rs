//! Limits over real sockets: MAX_SESSIONS, SESSION_TIMEOUT, REQUEST_TIMEOUT, the cost hard limit,
//! and many concurrent connections.

mod server_common;

use keva_electrum::server::Protocol;
use serde_json::{json, Value};
use server_common::*;
use std::time::{Duration, Instant};

#[test]
fn max_sessions_refuses_extra_connections_until_one_leaves() {
    let mut s = settings(&[Protocol::Tcp]);
    s.limits.max_sessions = 2;
    let (server, _) = start(s);
    let addr = server.local_addrs()[0];
    let mut a = tcp(addr);
    let mut b = tcp(addr);
    assert_eq!(a.call("server.ping", json!([]), json!(1))["id"], json!(1));
    assert_eq!(b.call("server.ping", json!([]), json!(1))["id"], json!(1));
    let mut c = tcp(addr);
    c.send_raw(b"{\"method\":\"server.ping\",\"id\":1}\n");
    assert!(c.closed(), "the third session is closed at once");
    drop(a);
    // The slot frees once the server has seen the close.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut d = tcp(addr);
        d.send_raw(b"{\"method\":\"server.ping\",\"id\":2}\n");
        if let Some(v) = d.recv() {
            assert_eq!(v["id"], json!(2));
            break;
        }
        assert!(Instant::now() < deadline, "a slot never freed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(b.call("server.ping", json!([]), json!(3))["id"], json!(3));
}

#[test]
fn idle_sessions_are_closed_after_session_timeout() {
    let mut s = settings(&[Protocol::Tcp]);
    s.limits.session_timeout = Duration::from_millis(400);
    let (server, _) = start(s);
    let mut idle = tcp(server.local_addrs()[0]);
    let mut busy = tcp(server.local_addrs()[0]);
    let started = Instant::now();
    assert_eq!(
        idle.call("server.ping", json!([]), json!(1))["id"],
        json!(1)
    );
    for i in 0..8 {
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            busy.call("server.ping", json!([]), json!(i))["id"],
            json!(i)
        );
    }
    assert!(idle.closed());
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(
        busy.call("server.ping", json!([]), json!(9))["id"],
        json!(9)
    );
}

#[test]
fn slow_requests_get_server_busy_after_request_timeout() {
    let mut s = settings(&[Protocol::Tcp]);
    s.limits.request_timeout = Duration::from_millis(200);
    let (server, _) = start(s);
    let mut c = tcp(server.local_addrs()[0]);
    assert_eq!(
        c.call("sleep", json!([1500]), json!(1)),
        err(-102, "server busy - request timed out", json!(1))
    );
    assert_eq!(c.call("echo", json!([1]), json!(2))["result"], json!([1]));
}

#[test]
fn excessive_cost_disconnects_with_101() {
    let mut s = settings(&[Protocol::Tcp]);
    s.limits.cost_soft_limit = 100;
    s.limits.cost_hard_limit = 2500;
    let (server, _) = start(s);
    let mut c = tcp(server.local_addrs()[0]);
    c.send_raw(b"x\nx\nx\n{\"method\":\"server.ping\",\"id\":1}\n");
    let mut last = Value::Null;
    while let Some(v) = c.recv() {
        last = v;
    }
    assert_eq!(last, err(-101, "excessive resource usage", Value::Null));
}

#[test]
fn a_thousand_concurrent_connections_are_served() {
    let mut s = settings(&[Protocol::Tcp]);
    s.limits.max_sessions = 2000;
    let (server, _) = start(s);
    let addr = server.local_addrs()[0];
    let mut clients: Vec<TcpClient> = (0..1000).map(|_| tcp(addr)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(&json!({"jsonrpc": "2.0", "method": "echo", "params": [i], "id": i}));
    }
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(c.expect()["result"], json!([i]));
    }
    // Subscribed to headers, every one hears of a new tip.
    for c in clients.iter_mut() {
        assert_eq!(
            c.call("blockchain.headers.subscribe", json!([]), json!("h"))["result"]["height"],
            json!(100)
        );
    }
    let tip = json!({"height": 101, "hex": "ee".repeat(157)});
    server.notify(event(tip.clone(), vec![]));
    for c in clients.iter_mut() {
        assert_eq!(c.expect()["params"], json!([tip]));
    }
}
