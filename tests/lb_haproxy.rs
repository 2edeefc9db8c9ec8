//! Several servers behind the real HAProxy (Debian's `haproxy`, configured from
//! `contrib/haproxy.cfg`): wallets keep their own addresses through the PROXY protocol (v2 from
//! HAProxy, v1 and v2 by hand), a flooding subnet is cut off through the proxy, a killed server
//! fails over and a restarted one takes wallets only once `/health` says it caught up, and a
//! forged PROXY line from anyone else is not believed.

mod lb_common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use keva_electrum::chain::script::{scripthash, scripthash_to_hex};
use keva_electrum::devnode::AddrKind;
use lb_common::*;
use serde_json::{json, Value};

fn ip(a: [u8; 4]) -> IpAddr {
    IpAddr::from(a)
}

/// The stand-in node's own address (from its URL).
fn node_addr(url: &str) -> SocketAddr {
    let hostport = url.rsplit('@').next().unwrap().trim_end_matches('/');
    hostport.parse().unwrap()
}

/// Through both of HAProxy's TLS passthrough frontends and its tcp one, every wallet appears in
/// `rpc sessions` with its own address and port; 40 wallets of 127.0.0.0/24 that misbehave
/// share one bill per server and are cut off, while a wallet of 127.0.1.0/24 is served.
#[test]
fn wallets_keep_their_addresses_and_a_flooding_subnet_is_cut_off_through_haproxy() {
    let node = start_node(30, 11);
    let ca = TestCa::new("lb-addr", false);
    let limits = [("COST_SOFT_LIMIT", "1000"), ("COST_HARD_LIMIT", "4000")];
    let a = Replica::start("server-a", &node.url(), &ca.files, &limits);
    let b = Replica::start("server-b", &node.url(), &ca.files, &limits);
    let proxy = HaProxy::start(Variant::Passthrough, &[&a, &b], None);
    for backend in ["keva_tcp", "keva_ssl", "keva_wss"] {
        for server in ["keva1", "keva2"] {
            proxy.wait_state(backend, server, "UP", Duration::from_secs(20));
        }
    }
    let tls = ca.client_config();

    // One wallet per transport, each from its own address.
    let cases = [
        (Kind::Tcp, ip([127, 0, 0, 2]), proxy.tcp),
        (Kind::Ssl, ip([127, 0, 0, 3]), proxy.ssl),
        (Kind::Wss, ip([127, 0, 0, 4]), proxy.wss),
        (Kind::Tcp, ip([127, 0, 1, 2]), proxy.tcp),
    ];
    let mut wallets = Vec::new();
    for (kind, from, to) in cases {
        let mut w = Wallet::connect(kind, from, to, Some(&tls)).expect("connect through haproxy");
        let v = w.call("server.version", json!(["lb-test", "1.4"]));
        assert!(v["result"].is_array(), "{kind:?} from {from}: {v}");
        wallets.push((kind, w));
    }
    let mut peers = a.session_peers();
    peers.extend(b.session_peers());
    eprintln!("sessions seen by the two servers: {peers:?}");
    for (kind, w) in &wallets {
        let mine = w.local.to_string();
        assert!(
            peers.contains(&mine),
            "the {kind:?} wallet at {mine} is not in rpc sessions: {peers:?}"
        );
    }
    assert!(
        !peers.iter().any(|p| p.starts_with("127.0.0.1:")),
        "a session shows HAProxy's own address: {peers:?}"
    );
    drop(wallets);

    // A flood from one /24: each bad request costs 100; the hard limit is 4000 per subnet.
    let errors = "{\"id\":1,\"method\":\"no.such\"}\n".repeat(3);
    let mut flood = Vec::new();
    for i in 0..40u8 {
        let mut w = Wallet::connect(Kind::Tcp, ip([127, 0, 0, 10 + i]), proxy.tcp, None).unwrap();
        w.send_raw(errors.as_bytes()).unwrap();
        flood.push(w);
    }
    let mut other = Wallet::connect(Kind::Tcp, ip([127, 0, 1, 2]), proxy.tcp, None).unwrap();
    other.send_raw(errors.as_bytes()).unwrap();
    for w in flood.iter_mut().chain(std::iter::once(&mut other)) {
        for _ in 0..3 {
            let v = w
                .recv()
                .unwrap_or_else(|| panic!("no answer for the wallet at {}", w.local));
            assert_eq!(v["error"]["code"], json!(-32601), "{v}");
        }
    }
    // Group costs are pooled at each server's next recalculation (at most a second away).
    std::thread::sleep(Duration::from_millis(1500));
    let mut cut = 0;
    for w in flood.iter_mut() {
        let v = w.call("server.ping", json!([]));
        if v["error"]["code"] == json!(-101) {
            cut += 1;
        }
    }
    let v = other.call("server.ping", json!([]));
    let groups: Vec<Value> = [&a, &b]
        .iter()
        .flat_map(|r| {
            r.admin("groups", json!([]))
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    eprintln!(
        "through haproxy: {cut} of {} flooding sessions cut off; 127.0.1.2 got {v}; groups {groups:?}",
        flood.len()
    );
    assert_eq!(
        cut,
        flood.len(),
        "every session of the flooding /24 is cut off"
    );
    assert!(
        v["error"].is_null() && v["result"].is_null() && v["id"].is_u64(),
        "{v}"
    );
    assert!(
        groups.iter().any(|g| g["name"] == json!("127.0.0.0/24")),
        "the flood is billed to its own /24: {groups:?}"
    );
}

/// SIGKILL the server a wallet uses: the wallet's next request fails, it reconnects through
/// HAProxy to the other server and gets the same answers and subscriptions; new connections all
/// reach the survivor (one caught at the instant HAProxy marks the dead server down may be
/// closed, and its retry does), and HAProxy marks the dead one down within its check interval. Started
/// again behind a slow node, the server gets no wallet while `/health` says it is catching up,
/// and gets wallets again once it says 200.
#[test]
fn a_killed_server_fails_over_and_a_restarted_one_waits_until_caught_up() {
    let node = start_node(40, 12);
    let (script, _) = node.new_address(AddrKind::P2pkh);
    node.pay(&script, 1_000_000).unwrap();
    node.mine(1);
    let sh = scripthash_to_hex(&scripthash(&script));
    let ca = TestCa::new("lb-kill", false);
    let relays = [
        Relay::start(node_addr(&node.url())),
        Relay::start(node_addr(&node.url())),
    ];
    let mut replicas = [
        Replica::start("server-a", &relays[0].url(&node), &ca.files, &[]),
        Replica::start("server-b", &relays[1].url(&node), &ca.files, &[]),
    ];
    let cert = ProxyCert::new();
    let proxy = HaProxy::start(
        Variant::Termination,
        &[&replicas[0], &replicas[1]],
        Some(&cert.pem),
    );
    for server in ["keva1", "keva2"] {
        proxy.wait_state("keva_tcp", server, "UP", Duration::from_secs(20));
    }

    // A wallet over ssl, decrypted by HAProxy, on one of the servers.
    let wallet_ip = ip([127, 0, 0, 2]);
    let connect = || Wallet::connect(Kind::Ssl, wallet_ip, proxy.ssl, Some(&cert.client));
    let mut w = connect().expect("the wallet connects");
    let victim = w.server_name().expect("an answer");
    let k = replicas.iter().position(|r| r.name == victim).unwrap();
    let survivor = replicas[1 - k].name.clone();
    let tip = w.call("blockchain.headers.subscribe", json!([]))["result"].clone();
    let status = w.call("blockchain.scripthash.subscribe", json!([sh]))["result"].clone();
    let history = w.call("blockchain.scripthash.get_history", json!([sh]))["result"].clone();
    assert!(
        tip["height"].as_u64() == Some(41) && status.is_string(),
        "{tip} {status}"
    );

    let killed = Instant::now();
    replicas[k].kill();
    let failed = loop {
        let v = w.call("server.ping", json!([]));
        if v.is_null() {
            break Instant::now();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "the wallet still gets {v}"
        );
    };
    let (mut w, name) = loop {
        if let Ok(mut again) = connect() {
            if let Some(name) = again.server_name() {
                break (again, name);
            }
        }
        assert!(
            failed.elapsed() < Duration::from_secs(30),
            "no server answers"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let failover = failed.elapsed();
    assert_eq!(name, survivor);
    assert_eq!(
        w.call("blockchain.headers.subscribe", json!([]))["result"],
        tip
    );
    assert_eq!(
        w.call("blockchain.scripthash.subscribe", json!([sh]))["result"],
        status
    );
    assert_eq!(
        w.call("blockchain.scripthash.get_history", json!([sh]))["result"],
        history
    );

    // New connections: every one reaches the survivor, before and after HAProxy notices, but
    // for one HAProxy may still be connecting or retrying toward the dead server at the instant
    // it marks that server down: `on-marked-down shutdown-sessions` closes it with the
    // server's own sessions (HAProxy's behaviour, seen under load: a wallet retries). Such a
    // probe is allowed only in the round where HAProxy's state turns DOWN, once, and its
    // retry must reach the survivor.
    let mut probes: Vec<(Duration, Duration, Option<String>)> = Vec::new();
    let mut down_after = None;
    let mut closed_at_mark_down = Vec::new();
    while probes.len() < 20 || down_after.is_none() {
        let t = Instant::now();
        let got = answering_server(ip([127, 0, 0, 3]), proxy.tcp);
        probes.push((killed.elapsed(), t.elapsed(), got.clone()));
        let state = proxy.state("keva_tcp", &format!("keva{}", k + 1));
        if down_after.is_none() && state.starts_with("DOWN") {
            down_after = Some(killed.elapsed());
            if got.is_none() {
                let retry = answering_server(ip([127, 0, 0, 3]), proxy.tcp);
                closed_at_mark_down.push((probes.pop().unwrap(), retry));
            }
        }
        assert!(
            killed.elapsed() < Duration::from_secs(20),
            "haproxy never marked it down"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let missed: Vec<_> = probes
        .iter()
        .filter(|p| p.2.as_deref() != Some(survivor.as_str()))
        .collect();
    assert!(
        missed.is_empty(),
        "new connections after the kill that did not reach {survivor} \
         (time after the kill, duration, answer): {missed:?}; closed as HAProxy marked \
         {victim} down: {closed_at_mark_down:?}"
    );
    for (probe, retry) in &closed_at_mark_down {
        assert_eq!(
            retry.as_deref(),
            Some(survivor.as_str()),
            "the retry of {probe:?}, closed as HAProxy marked {victim} down"
        );
    }
    let slowest = probes.iter().map(|p| p.1).max().unwrap_or_default();
    let down_after = down_after.unwrap();
    // inter 2s × fall 3, plus one interval of slack for a check under way.
    assert!(
        down_after <= Duration::from_secs(8),
        "marked down after {down_after:?}"
    );
    for _ in 0..10 {
        let t = Instant::now();
        let got = answering_server(ip([127, 0, 0, 3]), proxy.tcp);
        assert_eq!(got.as_deref(), Some(survivor.as_str()));
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?} once marked down",
            t.elapsed()
        );
    }
    eprintln!(
        "failover: the wallet's first failed request to the first answer from {survivor}: \
         {failover:?}; {} new connections after the kill all reached {survivor} (slowest \
         {slowest:?}), {} closed as haproxy marked {victim} down {down_after:?} after the kill \
         and answered by {survivor} on retry",
        probes.len(),
        closed_at_mark_down.len()
    );

    // Its subscription lives on at the survivor: a payment is notified.
    node.pay(&script, 2_000_000).unwrap();
    node.mine(1);
    let notified = loop {
        match w.recv() {
            Some(v) if v["method"] == json!("blockchain.scripthash.subscribe") => break v,
            Some(_) => {}
            None => panic!("no notification from {survivor}"),
        }
    };
    assert_eq!(notified["params"][0], json!(sh));
    assert_ne!(notified["params"][1], status);

    // The node moves on while the killed server is down; it restarts behind a node that
    // answers slowly, so it spends a while catching up.
    node.mine(150);
    relays[k].set_delay(400);
    let restarted = Instant::now();
    replicas[k].spawn();
    let mut samples: Vec<(Duration, Option<u16>, Option<String>)> = Vec::new();
    let mut released = false;
    let mut healthy_at = None;
    let reached_at = loop {
        let health = replicas[k].health();
        let got = answering_server(ip([127, 0, 0, 4]), proxy.tcp);
        let t = restarted.elapsed();
        let status = health.as_ref().map(|(s, _)| *s);
        if status == Some(200) && healthy_at.is_none() {
            healthy_at = Some(t);
        }
        let reason = health
            .as_ref()
            .and_then(|(_, b)| b["reason"].as_str())
            .unwrap_or("");
        if !released && reason.starts_with("syncing") {
            let syncing = samples.iter().filter(|s| s.1 == Some(503)).count();
            if syncing >= 10 {
                relays[k].set_delay(0); // seen long enough: let it catch up
                released = true;
            }
        }
        samples.push((t, status, got.clone()));
        if got.as_deref() == Some(victim.as_str()) {
            break t;
        }
        assert!(
            t < Duration::from_secs(90),
            "the restarted server never got a wallet; samples {samples:?}\n{}",
            replicas[k].log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let healthy_at = healthy_at.expect("a wallet reached the server before /health said 200");
    let unhealthy: Vec<_> = samples.iter().filter(|s| s.1 != Some(200)).collect();
    assert!(
        unhealthy.iter().filter(|s| s.1 == Some(503)).count() >= 10,
        "/health never said 503 while catching up: {samples:?}"
    );
    for (t, status, got) in &samples {
        if *t < healthy_at {
            assert_ne!(
                got.as_deref(),
                Some(victim.as_str()),
                "a wallet reached {victim} at {t:?} while /health said {status:?}"
            );
            assert_eq!(got.as_deref(), Some(survivor.as_str()), "at {t:?}");
        }
    }
    let body = replicas[k].wait_healthy(Duration::from_secs(1));
    assert_eq!(body["caught_up"], json!(true));
    assert_eq!(body["height"], json!(node.height()));
    eprintln!(
        "restart: {} samples; /health said 503 (syncing {} blocks through a slow node) until \
         {healthy_at:?} after the restart, then 200; the first new wallet reached {victim} at \
         {reached_at:?}, none before",
        samples.len(),
        node.height() - 41
    );
}

/// `/health` of a real server follows its node: 503 `catching up after a reorg` while the
/// index is on a branch the node left (the node answers slowly, so the sync takes a while),
/// 200 once it follows; 503 `node unreachable` when the node is gone, 200 when it is back.
#[test]
fn health_reports_a_reorg_and_a_lost_node() {
    let node = start_node(30, 15);
    let ca = TestCa::new("lb-health", false);
    let relay = Relay::start(node_addr(&node.url()));
    let r = Replica::start("server-a", &relay.url(&node), &ca.files, &[]);
    let wait_reason = |prefix: &str| -> Value {
        let start = Instant::now();
        loop {
            let h = r.health();
            if let Some((503, body)) = &h {
                if body["reason"].as_str().unwrap_or("").starts_with(prefix) {
                    return body.clone();
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no 503 {prefix:?}: {h:?}\n{}",
                r.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    relay.set_delay(1500);
    node.reorg(2, 2);
    let body = wait_reason("catching up after a reorg");
    assert_eq!(
        (body["height"].clone(), body["node_height"].clone()),
        (json!(30), json!(30))
    );
    relay.set_delay(0);
    let body = r.wait_healthy(Duration::from_secs(30));
    assert_eq!(body["height"], json!(30));

    relay.cut();
    let body = wait_reason("node unreachable");
    eprintln!("node cut: {body}");
    relay.set_delay(0);
    r.wait_healthy(Duration::from_secs(30));
}

/// A wallet that connects straight to a server and sends a PROXY line is not believed: it is
/// not a trusted proxy, so its line is an ordinary (bad) request and its real address is the
/// session's. A trusted source must send a header: without one, or with a broken one, it is
/// closed with a log line; with one (v1 or v2, even split across reads), it is the header's
/// address. The admin and metrics listeners never expect a header.
#[test]
fn forged_proxy_lines_are_not_believed_and_trusted_sources_must_send_a_header() {
    let node = start_node(20, 13);
    let ca = TestCa::new("lb-forge", false);
    let r = Replica::start("server-a", &node.url(), &ca.files, &[]);
    let tcp = r.addr(r.ports.tcp);
    let untrusted = ip([127, 0, 0, 5]);
    let trusted = ip([127, 0, 0, 1]);

    // Untrusted, tcp: the line is a parse error, the session goes on under its real address.
    use std::io::{Read, Write};
    let mut w = Wallet::connect(Kind::Tcp, untrusted, tcp, None).unwrap();
    w.send_raw(b"PROXY TCP4 8.8.8.8 127.0.0.1 4444 50001\r\n")
        .unwrap();
    let v = w.recv().expect("an answer to the forged line");
    assert_eq!(v["error"]["code"], json!(-32700), "{v}");
    assert!(w.call("server.version", json!(["forger", "1.4"]))["result"].is_array());
    let peers = r.session_peers();
    assert!(peers.contains(&w.local.to_string()), "{peers:?}");
    assert!(!peers.iter().any(|p| p.starts_with("8.8.8.8")), "{peers:?}");
    drop(w);
    // Untrusted, ws: the HTTP upgrade is refused; ssl: the TLS handshake fails. A plain TLS
    // client from there is served as usual.
    let mut raw = connect_from(untrusted, r.addr(r.ports.ws));
    raw.write_all(b"PROXY TCP4 8.8.8.8 127.0.0.1 4444 50003\r\n")
        .unwrap();
    raw.write_all(ws_upgrade().as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = raw.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    let mut raw = connect_from(untrusted, r.addr(r.ports.ssl));
    raw.write_all(b"PROXY TCP4 8.8.8.8 127.0.0.1 4444 50002\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = raw.read_to_end(&mut buf);
    assert!(
        buf.first() != Some(&0x16),
        "a TLS handshake after a forged line: {buf:?}"
    );
    let tls = ca.client_config();
    let mut ssl = Wallet::connect(Kind::Ssl, untrusted, r.addr(r.ports.ssl), Some(&tls)).unwrap();
    assert!(ssl.call("server.version", json!(["tls", "1.4"]))["result"].is_array());

    // Trusted, no header: closed unanswered, with a log line.
    for (port, first) in [
        (
            r.ports.tcp,
            &b"{\"id\":1,\"method\":\"server.version\"}\n"[..],
        ),
        (r.ports.ws, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        (r.ports.ssl, b"\x16\x03\x01\x00\x05hello"),
    ] {
        let mut raw = connect_from(trusted, r.addr(port));
        raw.write_all(first).unwrap();
        let mut buf = Vec::new();
        let _ = raw.read_to_end(&mut buf);
        assert!(
            buf.is_empty(),
            "a trusted source without a header got {buf:?}"
        );
    }
    wait_logged(
        &r,
        &[
            "closed a connection from 127.0.0.1:",
            "(PROXY_PROTOCOL_FROM): expected a PROXY protocol header, got \"{\\\"id\\\":1",
        ],
    );
    wait_logged(
        &r,
        &["(PROXY_PROTOCOL_FROM): expected a PROXY protocol header, got \"GET / HTTP/1.1"],
    );
    wait_logged(
        &r,
        &["(PROXY_PROTOCOL_FROM): expected a PROXY protocol header, got \"\\x16\\x03\\x01"],
    );
    // Trusted, a broken header, and one that never completes.
    let mut raw = connect_from(trusted, tcp);
    raw.write_all(b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = raw.read_to_end(&mut buf);
    assert!(buf.is_empty());
    wait_logged(&r, &["PROXY v1: \"01\" or \"2\" is not a port"]);
    let mut silent = connect_from(trusted, tcp);
    silent.write_all(b"PROXY TCP4 1.2.").unwrap();
    let t = Instant::now();
    let _ = silent.set_read_timeout(Some(Duration::from_secs(15)));
    let _ = silent.read_to_end(&mut buf);
    assert!(
        t.elapsed() >= Duration::from_secs(3),
        "closed after {:?}",
        t.elapsed()
    );
    wait_logged(&r, &["no complete PROXY header within 5 s"]);

    // Trusted, valid headers: v1 split over two writes, v2 PROXY, v2 LOCAL.
    let mut raw = connect_from(trusted, tcp);
    raw.write_all(b"PROXY TCP4 127.0.0.77 127.0.0.1 4").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    raw.write_all(b"321 50001\r\n{\"id\":1,\"method\":\"server.ping\"}\n")
        .unwrap();
    let mut v1 = std::io::BufReader::new(raw);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut v1, &mut line).unwrap();
    assert!(line.contains("\"result\":null"), "{line}");
    let mut v2 = connect_from(trusted, tcp);
    let mut header = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    header.extend_from_slice(&[127, 0, 1, 99, 127, 0, 0, 1]);
    header.extend_from_slice(&5555u16.to_be_bytes());
    header.extend_from_slice(&50001u16.to_be_bytes());
    header.extend_from_slice(b"{\"id\":1,\"method\":\"server.ping\"}\n");
    v2.write_all(&header).unwrap();
    let mut local = connect_from(trusted, tcp);
    local
        .write_all(b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00{\"id\":1,\"method\":\"server.ping\"}\n")
        .unwrap();
    for s in [&mut v2, &mut local] {
        let mut got = [0u8; 10];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"{\"jsonrpc\"");
    }
    let peers = r.session_peers();
    let local_addr = local.local_addr().unwrap().to_string();
    for want in ["127.0.0.77:4321", "127.0.1.99:5555", local_addr.as_str()] {
        assert!(peers.iter().any(|p| p == want), "{want} not in {peers:?}");
    }

    // The admin service (used above) and the metrics listener never read a header.
    assert_eq!(r.health().map(|(s, _)| s), Some(200));
    let (status, metrics) = http_get(r.addr(r.ports.metrics), "/metrics").unwrap();
    assert_eq!(status, 200);
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("keva_electrum_proxy_refused_total 5\n"),
        "{metrics}"
    );
}

fn connect_from(from: IpAddr, to: SocketAddr) -> std::net::TcpStream {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::for_address(to), Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::new(from, 0).into()).unwrap();
    s.connect(&to.into()).unwrap();
    let s: std::net::TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn ws_upgrade() -> String {
    "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        .to_string()
}

fn wait_logged(r: &Replica, needles: &[&str]) {
    let start = Instant::now();
    while !r.proc.as_ref().unwrap().logged_all(needles) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no log line with {needles:?}:\n{}",
            r.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
