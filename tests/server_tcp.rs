//! The server over real TCP sockets: framing, JSON-RPC dialect, batches, every error code,
//! subscriptions and notifications.

mod server_common;

use keva_electrum::server::{Protocol, SERVER_VERSION};
use serde_json::{json, Value};
use server_common::*;

const SH: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

#[test]
fn ids_batches_and_notifications() {
    let (server, _) = start(settings(&[Protocol::Tcp]));
    let mut c = tcp(server.local_addrs()[0]);
    let v = c.call("server.version", json!(["bluewallet", "1.4"]), json!(0));
    assert_eq!(
        v,
        json!({"jsonrpc": "2.0", "result": [SERVER_VERSION, "1.4"], "id": 0})
    );
    // String ids are echoed as strings, without "jsonrpc" in the request.
    c.send_raw(b"{\"method\": \"echo\", \"params\": [\"a\"], \"id\": \"4\" }\n");
    assert_eq!(
        c.expect(),
        json!({"jsonrpc": "2.0", "result": ["a"], "id": "4"})
    );
    // A notification gets no reply: the next reply is for the following request.
    c.send_raw(b"{\"method\":\"echo\",\"params\":[1]}\n{\"method\":\"server.ping\",\"id\":null}\n{\"method\":\"server.ping\",\"id\":5}\n");
    assert_eq!(
        c.expect(),
        json!({"jsonrpc": "2.0", "result": null, "id": 5})
    );
    // A batch is one array holding every id.
    let batch: Vec<Value> = (1..=100)
        .map(|i| json!({"jsonrpc": "2.0", "method": "echo", "params": [i], "id": i}))
        .collect();
    c.send(&Value::Array(batch));
    let reply = c.expect();
    let items = reply.as_array().expect("a batch reply is an array");
    let mut ids: Vec<i64> = items.iter().map(|i| i["id"].as_i64().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, (1..=100).collect::<Vec<i64>>());
    for item in items {
        assert_eq!(item["result"], json!([item["id"]]));
    }
    // Many requests in one write, answered (in any order) one line each.
    let mut many = Vec::new();
    for i in 0..50 {
        many.extend_from_slice(
            format!("{{\"method\":\"echo\",\"params\":[{i}],\"id\":{i}}}\n").as_bytes(),
        );
    }
    c.send_raw(&many);
    let mut seen: Vec<i64> = (0..50)
        .map(|_| c.expect()["id"].as_i64().unwrap())
        .collect();
    seen.sort();
    assert_eq!(seen, (0..50).collect::<Vec<i64>>());
    // A request split over several writes.
    c.send_raw(b"{\"method\":\"ec");
    std::thread::sleep(std::time::Duration::from_millis(50));
    c.send_raw(b"ho\",\"params\":[9],\"id\":9}\n");
    assert_eq!(c.expect()["result"], json!([9]));
}

#[test]
fn every_error_code_over_the_wire() {
    let (server, _) = start(settings(&[Protocol::Tcp]));
    let mut c = tcp(server.local_addrs()[0]);
    c.send_raw(b"\n");
    assert_eq!(c.expect(), err(-32700, "invalid JSON", Value::Null));
    c.send_raw(b"\x00\x01garbage\xff{{{\n");
    assert_eq!(
        c.expect(),
        err(-32700, "messages must be encoded in UTF-8", Value::Null)
    );
    c.send_raw(b"{\"method\": \"server.ping\", \"id\": 1\n");
    assert_eq!(c.expect(), err(-32700, "invalid JSON", Value::Null));
    c.send_raw(b"[]\n");
    assert_eq!(c.expect(), err(-32600, "batch is empty", Value::Null));
    c.send_raw(b"\"hello\"\n");
    assert_eq!(
        c.expect(),
        err(-32600, "request object must be a dictionary", Value::Null)
    );
    c.send_raw(b"{\"method\":\"server.ping\",\"id\":[1]}\n");
    assert_eq!(c.expect(), err(-32600, "invalid \"id\": [1]", Value::Null));
    assert_eq!(
        c.call("no.such.method", json!([]), json!(2)),
        err(-32601, "unknown method \"no.such.method\"", json!(2))
    );
    c.send_raw(b"{\"method\":7,\"id\":3}\n");
    assert_eq!(c.expect(), err(-32601, "method must be a string", json!(3)));
    assert_eq!(
        c.call("blockchain.headers.subscribe", json!([false]), json!(4)),
        err(
            -32602,
            "1 argument passed to method blockchain.headers.subscribe taking at most 0",
            json!(4)
        )
    );
    assert_eq!(
        c.call("fail", json!([]), json!(5)),
        err(1, "bad value", json!(5))
    );
    let daemon = c.call("daemon", json!([]), json!(6));
    assert_eq!(daemon["error"]["code"], json!(2));
    assert_eq!(
        c.call("panic", json!([]), json!(7)),
        err(-32603, "internal server error", json!(7))
    );
    // The connection survived all of it.
    assert_eq!(
        c.call("server.ping", json!([]), json!(8))["result"],
        Value::Null
    );
}

#[test]
fn unsupported_version_is_answered_then_closed() {
    let (server, _) = start(settings(&[Protocol::Tcp]));
    let mut c = tcp(server.local_addrs()[0]);
    assert_eq!(
        c.call("server.version", json!(["x", ["1.0", "1.2"]]), json!(1)),
        err(1, "unsupported protocol version: ['1.0', '1.2']", json!(1))
    );
    assert!(c.closed());
}

#[test]
fn oversized_line_gets_an_error_and_the_connection_closes() {
    let mut s = settings(&[Protocol::Tcp]);
    s.limits.max_recv = 10_000;
    let (server, _) = start(s);
    let mut c = tcp(server.local_addrs()[0]);
    let mut big = vec![b' '; 20_000];
    big.extend_from_slice(b"{\"method\":\"server.ping\",\"id\":1}\n");
    c.send_raw(&big);
    assert_eq!(
        c.expect(),
        err(-32600, "request too large (over 10,000 bytes)", Value::Null)
    );
    assert!(c.closed());
    // Others are unaffected.
    let mut d = tcp(server.local_addrs()[0]);
    assert_eq!(
        d.call("server.ping", json!([]), json!(1))["result"],
        Value::Null
    );
}

#[test]
fn max_send_replaces_large_responses_with_an_error() {
    let mut s = settings(&[Protocol::Tcp]);
    s.limits.max_send = 350_000;
    let (server, _) = start(s);
    let mut c = tcp(server.local_addrs()[0]);
    assert_eq!(
        c.call("big", json!([400_000]), json!(1)),
        err(-32600, "response too large (over 350,000 bytes", json!(1))
    );
    let ok = c.call("big", json!([300_000]), json!(2));
    assert_eq!(ok["result"].as_str().map(str::len), Some(300_000));
}

#[test]
fn subscriptions_get_notified_after_notify_and_stop_after_unsubscribe() {
    let (server, backend) = start(settings(&[Protocol::Tcp]));
    let mut c = tcp(server.local_addrs()[0]);
    let v = c.call("server.version", json!(["t", ["1.4", "1.4.2"]]), json!(0));
    assert_eq!(v["result"][1], json!("1.4.2"));
    let tip = c.call("blockchain.headers.subscribe", json!([]), json!(1));
    assert_eq!(tip["result"]["height"], json!(100));
    backend
        .statuses
        .lock()
        .insert(sh(SH), Some("aa".repeat(32)));
    let upper = SH.to_uppercase();
    let sub = c.call("blockchain.scripthash.subscribe", json!([upper]), json!(2));
    assert_eq!(sub["result"], json!("aa".repeat(32)));

    // A new block touching the scripthash: header first, then the status.
    backend
        .statuses
        .lock()
        .insert(sh(SH), Some("bb".repeat(32)));
    let new_tip = json!({"height": 101, "hex": "cd".repeat(157)});
    assert!(server.notify(event(new_tip.clone(), vec![sh(SH)])));
    assert_eq!(
        c.expect(),
        json!({"jsonrpc": "2.0", "method": "blockchain.headers.subscribe", "params": [new_tip]})
    );
    assert_eq!(
        c.expect(),
        json!({"jsonrpc": "2.0", "method": "blockchain.scripthash.subscribe", "params": [upper, "bb".repeat(32)]})
    );
    // Same tip and unchanged status: nothing is sent; the ping reply comes first.
    assert!(server.notify(event(new_tip.clone(), vec![sh(SH)])));
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(c.call("server.ping", json!([]), json!(3))["id"], json!(3));
    // headers.subscribe now answers the notified tip.
    assert_eq!(
        c.call("blockchain.headers.subscribe", json!([]), json!(4))["result"],
        new_tip
    );

    let un = c.call("blockchain.scripthash.unsubscribe", json!([SH]), json!(5));
    assert_eq!(un["result"], json!(true));
    backend
        .statuses
        .lock()
        .insert(sh(SH), Some("cc".repeat(32)));
    assert!(server.notify(event(Value::Null, vec![sh(SH)])));
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(c.call("server.ping", json!([]), json!(6))["id"], json!(6));
}

#[test]
fn many_sessions_subscribed_to_one_scripthash_all_hear_of_a_change() {
    let (server, backend) = start(settings(&[Protocol::Tcp]));
    let mut clients: Vec<TcpClient> = (0..20).map(|_| tcp(server.local_addrs()[0])).collect();
    for c in clients.iter_mut() {
        let r = c.call("blockchain.scripthash.subscribe", json!([SH]), json!(1));
        assert_eq!(r["result"], Value::Null);
    }
    backend
        .statuses
        .lock()
        .insert(sh(SH), Some("dd".repeat(32)));
    server.notify(event(Value::Null, vec![sh(SH)]));
    for c in clients.iter_mut() {
        assert_eq!(c.expect()["params"], json!([SH, "dd".repeat(32)]));
    }
}

#[test]
fn static_server_methods_come_from_settings() {
    let (server, _) = start(settings(&[Protocol::Tcp]));
    let mut c = tcp(server.local_addrs()[0]);
    assert_eq!(
        c.call("server.banner", json!([]), json!(1))["result"],
        json!("test banner")
    );
    assert_eq!(
        c.call("server.donation_address", json!([]), json!(2))["result"],
        json!("")
    );
    assert_eq!(
        c.call("server.features", json!([]), json!(3))["result"]["hash_function"],
        json!("sha256")
    );
    assert_eq!(
        c.call("server.peers.subscribe", json!([]), json!(4))["result"],
        json!([])
    );
}

#[test]
fn shutdown_closes_connections() {
    let (mut server, _) = start(settings(&[Protocol::Tcp]));
    let mut c = tcp(server.local_addrs()[0]);
    assert_eq!(c.call("server.ping", json!([]), json!(1))["id"], json!(1));
    server.shutdown().unwrap();
    assert!(c.closed());
}
