//! Peer discovery between real servers on loopback: `server.add_peer`, verification (same
//! genesis, serving headers), announcing back, and the refusals.

mod server_common;

use keva_electrum::admin::{render, send};
use keva_electrum::server::{self, Discovery, PeerSettings, Protocol, ServerHandle, Settings};
use serde_json::{json, Value};
use server_common::*;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const GENESIS: &str = "1111111111111111111111111111111111111111111111111111111111111111";

/// A server on a known port whose features announce it at 127.0.0.1.
fn peer_server(genesis: &str, allow_loopback: bool, interval: Duration) -> (ServerHandle, u16) {
    let port = free_port();
    let mut s: Settings = settings(&[Protocol::Tcp, Protocol::Rpc]);
    s.services[0].addr = SocketAddr::from(([127, 0, 0, 1], port));
    s.features = json!({
        "hosts": {"127.0.0.1": {"tcp_port": port, "ssl_port": null}},
        "genesis_hash": genesis,
        "hash_function": "sha256",
        "protocol_min": "1.4",
        "protocol_max": "1.4.2",
        "server_version": "keva-electrum test",
    });
    s.discovery = PeerSettings {
        discovery: Discovery::On,
        announce: true,
        allow_loopback,
        add_peer_interval: interval,
        timeout: Duration::from_secs(5),
        ..PeerSettings::default()
    };
    let (server, _) = start(s);
    (server, port)
}

fn features_of(port: u16, genesis: &str) -> Value {
    json!({"hosts": {"127.0.0.1": {"tcp_port": port}}, "genesis_hash": genesis, "protocol_max": "1.4.2"})
}

fn peers_of(server: &ServerHandle) -> Value {
    tcp(server.local_addrs()[0]).call("server.peers.subscribe", json!([]), json!(1))["result"]
        .clone()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn two_servers_discover_each_other_through_add_peer() {
    let (a, port_a) = peer_server(GENESIS, true, Duration::ZERO);
    let (b, port_b) = peer_server(GENESIS, true, Duration::ZERO);
    assert_eq!(peers_of(&a), json!([]));
    // B introduces itself to A, as its announcer would.
    let mut c = tcp(a.local_addrs()[0]);
    let r = c.call(
        "server.add_peer",
        json!([features_of(port_b, GENESIS)]),
        json!(1),
    );
    assert_eq!(r["result"], json!(true));
    let entry_b = json!(["127.0.0.1", "127.0.0.1", ["v1.4.2", format!("t{port_b}")]]);
    let entry_a = json!(["127.0.0.1", "127.0.0.1", ["v1.4.2", format!("t{port_a}")]]);
    wait_for("A to list B", || peers_of(&a) == json!([entry_b.clone()]));
    // A announced itself while verifying B; B verified A in turn.
    wait_for("B to list A", || peers_of(&b) == json!([entry_a.clone()]));

    let rpc_a = a.local_addrs()[1].port();
    let table = render("peers", &send(rpc_a, "peers", &json!({})).unwrap().unwrap());
    let row = table.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with("127.0.0.1") && row.contains("good") && row.contains("add_peer"),
        "{table}"
    );
    let info = send(rpc_a, "getinfo", &json!({})).unwrap().unwrap();
    assert_eq!(info["peers"], json!({"good": 1, "known": 1}));
}

#[test]
fn a_peer_serving_another_chain_is_checked_and_never_listed() {
    let (a, _) = peer_server(GENESIS, true, Duration::ZERO);
    let other = "2222222222222222222222222222222222222222222222222222222222222222";
    let (_c, port_c) = peer_server(other, true, Duration::ZERO);
    let mut client = tcp(a.local_addrs()[0]);
    // Features claiming a different genesis are refused outright.
    let r = client.call(
        "server.add_peer",
        json!([features_of(port_c, other)]),
        json!(1),
    );
    assert_eq!(r["result"], json!(false));
    // Claiming our genesis gets it checked; its server.features then gives it away.
    let r = client.call(
        "server.add_peer",
        json!([features_of(port_c, GENESIS)]),
        json!(2),
    );
    assert_eq!(r["result"], json!(true));
    let rpc_a = a.local_addrs()[1].port();
    wait_for("the check to finish", || {
        let rows = send(rpc_a, "peers", &json!({})).unwrap().unwrap();
        rows[0]["status"] == json!("refused")
    });
    let rows = send(rpc_a, "peers", &json!({})).unwrap().unwrap();
    assert!(
        rows[0]["error"].as_str().unwrap().contains("genesis"),
        "{rows}"
    );
    assert_eq!(peers_of(&a), json!([]));
}

#[test]
fn loopback_peers_are_refused_without_the_test_setting_and_add_peer_is_rate_limited() {
    let (strict, _) = peer_server(GENESIS, false, Duration::ZERO);
    let (_b, port_b) = peer_server(GENESIS, true, Duration::ZERO);
    let mut c = tcp(strict.local_addrs()[0]);
    let r = c.call(
        "server.add_peer",
        json!([features_of(port_b, GENESIS)]),
        json!(1),
    );
    assert_eq!(r["result"], json!(false));
    assert_eq!(peers_of(&strict), json!([]));

    let (limited, _) = peer_server(GENESIS, true, Duration::from_secs(600));
    let mut c = tcp(limited.local_addrs()[0]);
    let first = c.call(
        "server.add_peer",
        json!([features_of(port_b, GENESIS)]),
        json!(1),
    );
    let second = c.call(
        "server.add_peer",
        json!([features_of(port_b, GENESIS)]),
        json!(2),
    );
    assert_eq!(
        (first["result"].clone(), second["result"].clone()),
        (json!(true), json!(false))
    );
}

#[test]
fn discovery_off_answers_false_and_admin_add_peer_explains() {
    let mut s = settings(&[Protocol::Tcp, Protocol::Rpc]);
    s.features = features_of(1, GENESIS);
    let server = server::start(s, TestBackend::new()).unwrap();
    let mut c = tcp(server.local_addrs()[0]);
    let r = c.call(
        "server.add_peer",
        json!([features_of(1, GENESIS)]),
        json!(1),
    );
    assert_eq!(r["result"], json!(false));
    let port = server.local_addrs()[1].port();
    let e = send(port, "add_peer", &json!({"real_name": "127.0.0.1 t50001"}))
        .unwrap()
        .unwrap_err();
    assert!(
        e["message"].as_str().unwrap().contains("PEER_DISCOVERY"),
        "{e}"
    );
}

#[test]
fn admin_add_peer_verifies_a_named_server() {
    let (a, _) = peer_server(GENESIS, true, Duration::ZERO);
    let (_b, port_b) = peer_server(GENESIS, true, Duration::ZERO);
    let rpc_a = a.local_addrs()[1].port();
    let msg = send(
        rpc_a,
        "add_peer",
        &json!({"real_name": format!("127.0.0.1 t{port_b}")}),
    )
    .unwrap()
    .unwrap();
    assert!(msg.as_str().unwrap().contains("added"), "{msg}");
    wait_for("A to list B", || {
        peers_of(&a).as_array().is_some_and(|l| l.len() == 1)
    });
}

#[test]
fn peers_of_a_verified_peer_are_learnt_and_verified_too() {
    let (a, port_a) = peer_server(GENESIS, true, Duration::ZERO);
    let (b, port_b) = peer_server(GENESIS, true, Duration::ZERO);
    let (c, port_c) = peer_server(GENESIS, true, Duration::ZERO);
    // C introduces itself to B; then B to A. A learns C from B's list.
    let r = tcp(b.local_addrs()[0]).call(
        "server.add_peer",
        json!([features_of(port_c, GENESIS)]),
        json!(1),
    );
    assert_eq!(r["result"], json!(true));
    wait_for("B to list C", || {
        peers_of(&b).as_array().is_some_and(|l| !l.is_empty())
    });
    let r = tcp(a.local_addrs()[0]).call(
        "server.add_peer",
        json!([features_of(port_b, GENESIS)]),
        json!(1),
    );
    assert_eq!(r["result"], json!(true));
    let ports = |s: &ServerHandle| -> Vec<String> {
        let mut p: Vec<String> = peers_of(s)
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e[2][1].as_str().unwrap().to_string())
            .collect();
        p.sort();
        p
    };
    let mut want_a = vec![format!("t{port_b}"), format!("t{port_c}")];
    want_a.sort();
    wait_for("A to list B and C", || ports(&a) == want_a);
    let rows = send(a.local_addrs()[1].port(), "peers", &json!({}))
        .unwrap()
        .unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| r["source"] == json!("peer 127.0.0.1")),
        "{rows}"
    );
    // Nobody lists itself.
    assert!(!ports(&a).contains(&format!("t{port_a}")));
    assert!(!ports(&c).contains(&format!("t{port_c}")));
}
