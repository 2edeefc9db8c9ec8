//! Hostile clients against the real `keva-electrum` binary on loopback. Every attack ends with
//! the server still answering an innocent client within `PROBE_LIMIT` and its memory bounded.

mod hostile_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hostile_common::*;
use serde_json::{json, Value};

/// Partial requests dribbled one byte per second on many connections: the server keeps them
/// as cheap partial lines, answers everyone else, and answers them once a line completes.
#[test]
fn slowloris_one_byte_per_second() {
    let (_node, mut server, _dir) = node_and_server("slowloris", &[]);
    let watch = RssWatch::start(server.pid());
    let request = b"{\"id\":7,\"method\":\"server.ping\",\"params\":[]}\n";
    let mut slow: Vec<Client> = (0..50)
        .map(|_| Client::connect(server.tcp).unwrap())
        .collect();
    let mut sent = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        for c in slow.iter_mut() {
            c.send_raw(&request[sent..sent + 1]).unwrap();
        }
        sent += 1;
        server.probe();
        std::thread::sleep(Duration::from_secs(1));
    }
    // The rest of the line arrives: every slow client is answered.
    for c in slow.iter_mut() {
        c.send_raw(&request[sent..]).unwrap();
    }
    for c in slow.iter_mut() {
        let v = c.recv().expect("the slow client is answered");
        assert_eq!(v["id"], json!(7), "{v}");
        assert!(v["error"].is_null(), "{v}");
    }
    server.probe();
    watch.assert_bounded("slowloris", 32 * MB);
}

/// Clients that pipeline requests and never read: the server stops reading from them (or cuts
/// them off) instead of buffering their answers without bound.
#[test]
fn never_reading_clients_do_not_grow_memory() {
    let (_node, mut server, _dir) = node_and_server("noread", &[("COST_HARD_LIMIT", "0")]);
    let watch = RssWatch::start(server.pid());
    let line = format!(
        "{}\n",
        json!({"id": 1, "method": "blockchain.block.headers", "params": [0, 2016]})
    );
    let mut attackers = Vec::new();
    let mut written = 0usize;
    for _ in 0..4 {
        let s = TcpStream::connect(server.tcp).unwrap();
        s.set_write_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        attackers.push(s);
    }
    let start = Instant::now();
    let mut blocked = vec![false; attackers.len()];
    while start.elapsed() < Duration::from_secs(4) && !blocked.iter().all(|b| *b) {
        for (i, s) in attackers.iter_mut().enumerate() {
            if blocked[i] {
                continue;
            }
            for _ in 0..200 {
                match s.write_all(line.as_bytes()) {
                    Ok(()) => written += line.len(),
                    Err(_) => {
                        blocked[i] = true;
                        break;
                    }
                }
            }
        }
        server.probe();
    }
    eprintln!(
        "never-reading: {} KB of requests written, {} of {} connections pushed back",
        written / 1024,
        blocked.iter().filter(|b| **b).count(),
        attackers.len()
    );
    assert!(
        blocked.iter().all(|b| *b),
        "the server kept reading requests whose answers nobody reads ({} KB written)",
        written / 1024
    );
    std::thread::sleep(Duration::from_millis(500));
    server.probe();
    watch.assert_bounded("never-reading", 24 * MB);
    drop(attackers);
    server.probe();
}

/// A flood of sessions from one /24 shares one cost budget: each session alone stays under
/// `COST_SOFT_LIMIT`, but together they pass `COST_HARD_LIMIT` and are all cut off, while a
/// client from another /24 doing the same is served. (127.0.0.1 is exempt as a proxy's address,
/// so the flood comes from 127.0.0.2 and up.)
#[test]
fn a_flooding_subnet_shares_one_cost_budget() {
    let (_node, mut server, _dir) = node_and_server(
        "subnet",
        &[("COST_SOFT_LIMIT", "1000"), ("COST_HARD_LIMIT", "5000")],
    );
    let watch = RssWatch::start(server.pid());
    let errors = "{\"id\":1,\"method\":\"no.such\"}\n".repeat(3);
    let mut flood = Vec::new();
    for i in 0..40u8 {
        let local = std::net::IpAddr::from([127, 0, 0, 2 + i]);
        let mut c = Client::connect_from(local, server.tcp).unwrap();
        c.send_raw(errors.as_bytes()).unwrap();
        flood.push(c);
    }
    let mut other = Client::connect_from([127, 0, 1, 2].into(), server.tcp).unwrap();
    other.send_raw(errors.as_bytes()).unwrap();
    for c in flood.iter_mut().chain(std::iter::once(&mut other)) {
        for _ in 0..3 {
            let v = c.recv().expect("an error answer");
            assert_eq!(v["error"]["code"], json!(-32601), "{v}");
        }
    }
    // Group costs are pooled at the loop's next recalculation (at most a second away).
    std::thread::sleep(Duration::from_millis(1500));
    let ping = b"{\"id\":2,\"method\":\"server.ping\"}\n";
    let mut cut = 0;
    for c in flood.iter_mut() {
        c.send_raw(ping).unwrap();
        if let Some(v) = c.recv() {
            if v["error"]["code"] == json!(-101) {
                cut += 1;
                assert!(c.recv().is_none(), "the session is closed after -101");
            }
        }
    }
    other.send_raw(ping).unwrap();
    let v = other.recv().expect("the other subnet is answered");
    eprintln!(
        "subnet flood: {cut} of {} sessions of 127.0.0.0/24 cut off; 127.0.1.2 got {v}",
        flood.len()
    );
    assert_eq!(
        cut,
        flood.len(),
        "every session of the flooding subnet is cut off"
    );
    assert!(v["error"].is_null() && v["id"] == json!(2), "{v}");
    // A newcomer from the flooding subnet inherits the bill the others left behind.
    let mut late = Client::connect_from([127, 0, 0, 200].into(), server.tcp).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    late.send_raw(ping).unwrap();
    let v = late.recv().expect("an answer");
    assert_eq!(v["error"]["code"], json!(-101), "{v}");
    server.probe();
    watch.assert_bounded("subnet", 32 * MB);
}

/// Hundreds of connections from one address at once: the server stays within MAX_SESSIONS,
/// refuses the excess quickly and lets a new client in once the flood ends.
#[test]
fn connection_flood_from_one_address() {
    let (_node, mut server, _dir) = node_and_server("flood", &[("MAX_SESSIONS", "200")]);
    let watch = RssWatch::start(server.pid());
    let mut held = Vec::new();
    for _ in 0..150 {
        let mut c = Client::connect(server.tcp).unwrap();
        c.send_raw(b"{\"id\":1,\"method\":\"server.ping\"}\n")
            .unwrap();
        held.push(c);
    }
    server.probe();
    // Past the limit: connections are accepted by the kernel but closed by the server.
    let mut refused = 0;
    let mut extra = Vec::new();
    for _ in 0..150 {
        match TcpStream::connect(server.tcp) {
            Ok(s) => extra.push(s),
            Err(_) => refused += 1,
        }
    }
    let mut closed = 0;
    for s in extra.iter_mut() {
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let _ = s.write_all(b"{\"id\":1,\"method\":\"server.ping\"}\n");
        let mut buf = [0u8; 256];
        match s.read(&mut buf) {
            Ok(0) | Err(_) => closed += 1,
            Ok(_) => {}
        }
    }
    eprintln!("flood: 150 held, 150 more: {refused} refused, {closed} closed by the server");
    assert!(
        refused + closed >= 100,
        "only {} of 150 connections past MAX_SESSIONS=200 were turned away",
        refused + closed
    );
    for c in held.iter_mut() {
        let v = c.recv().expect("a held session is answered");
        assert_eq!(v["id"], json!(1));
    }
    drop(extra);
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    server.probe();
    watch.assert_bounded("flood", 48 * MB);
}

/// Sends `payload` on a fresh connection; returns the lines answered before close or timeout.
fn answers_to(server: &Server, payload: &[u8]) -> Vec<Value> {
    let mut c = Client::connect(server.tcp).unwrap();
    c.reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    if c.send_raw(payload).is_err() {
        return Vec::new();
    }
    let _ = c.writer.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    while let Some(v) = c.recv() {
        out.push(v);
    }
    out
}

fn assert_error(answers: &[Value], what: &str) {
    assert!(
        answers.iter().any(|v| v["error"]["code"].is_i64()),
        "{what}: expected a JSON-RPC error, got {answers:?}"
    );
}

/// 100,000 and 900,000 nested brackets, alone and as params: a parse error, no stack overflow.
#[test]
fn deep_json_nesting() {
    let (_node, mut server, _dir) = node_and_server("nesting", &[]);
    let watch = RssWatch::start(server.pid());
    for depth in [100_000usize, 900_000] {
        let mut line = "[".repeat(depth);
        line.push('\n');
        assert_error(&answers_to(&server, line.as_bytes()), "bare nesting");
        let line = format!(
            "{{\"id\":1,\"method\":\"blockchain.scripthash.get_history\",\"params\":{}{}}}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        // Over MAX_RECV at 900,000: then the answer is "request too large".
        assert_error(&answers_to(&server, line.as_bytes()), "nested params");
        let line = format!("{}{}\n", "{\"a\":".repeat(depth / 5), "}".repeat(depth / 5));
        assert_error(&answers_to(&server, line.as_bytes()), "nested objects");
        server.probe();
    }
    watch.assert_bounded("nesting", 32 * MB);
}

/// Batches of ~25,000 requests (the most that fits MAX_RECV) and one over MAX_RECV.
#[test]
fn huge_batches() {
    let (_node, mut server, _dir) = node_and_server(
        "batches",
        &[("COST_HARD_LIMIT", "0"), ("MAX_SEND", "2000000")],
    );
    let watch = RssWatch::start(server.pid());
    let one = "{\"id\":1,\"method\":\"server.ping\"},";
    let n = 990_000 / one.len();
    let batch = format!("[{}]\n", one.repeat(n).trim_end_matches(','));
    let t = Instant::now();
    let answers = answers_to(&server, batch.as_bytes());
    let answered = answers
        .first()
        .and_then(|v| v.as_array().map(Vec::len))
        .unwrap_or(0);
    eprintln!(
        "batch of {n} pings: {answered} answers in one reply, {:?} ({} lines)",
        t.elapsed(),
        answers.len()
    );
    assert!(
        answered == n || answers.iter().any(|v| v["error"].is_object()),
        "a batch of {n} was neither answered in full nor refused: {}",
        serde_json::to_string(&answers)
            .unwrap()
            .chars()
            .take(300)
            .collect::<String>()
    );
    server.probe();
    // Costly items: every element asks for 2016 headers.
    let one = "{\"id\":1,\"method\":\"blockchain.block.headers\",\"params\":[0,2016]},";
    let n = 990_000 / one.len();
    let batch = format!("[{}]\n", one.repeat(n).trim_end_matches(','));
    let answers = answers_to(&server, batch.as_bytes());
    assert!(!answers.is_empty(), "a costly batch got no answer at all");
    server.probe();
    let over = format!("[{}]\n", one.repeat(2 * n).trim_end_matches(','));
    assert_error(&answers_to(&server, over.as_bytes()), "batch over MAX_RECV");
    server.probe();
    watch.assert_bounded("batches", 96 * MB);
}

/// Ids, heights and params as numbers far outside any integer type.
#[test]
fn huge_numbers() {
    let (_node, mut server, _dir) = node_and_server("numbers", &[]);
    let watch = RssWatch::start(server.pid());
    let big = "9".repeat(5000);
    let lines = [
        format!("{{\"id\":{big},\"method\":\"server.ping\"}}\n"),
        "{\"id\":1e999999,\"method\":\"server.ping\"}\n".to_string(),
        format!("{{\"id\":1,\"method\":\"blockchain.block.header\",\"params\":[{big}]}}\n"),
        "{\"id\":1,\"method\":\"blockchain.block.header\",\"params\":[18446744073709551616]}\n"
            .to_string(),
        "{\"id\":1,\"method\":\"blockchain.block.header\",\"params\":[-1]}\n".to_string(),
        "{\"id\":1,\"method\":\"blockchain.block.header\",\"params\":[1e308]}\n".to_string(),
        "{\"id\":1,\"method\":\"blockchain.block.header\",\"params\":[4294967296]}\n".to_string(),
        "{\"id\":1,\"method\":\"blockchain.block.headers\",\"params\":[0,4294967295]}\n"
            .to_string(),
        "{\"id\":1,\"method\":\"blockchain.block.headers\",\"params\":[4294967295,4294967295]}\n"
            .to_string(),
        "{\"id\":1,\"method\":\"blockchain.estimatefee\",\"params\":[-99999999999999999999]}\n"
            .to_string(),
        "{\"id\":1,\"method\":\"blockchain.transaction.get_merkle\",\"params\":[\"00\",1e20]}\n"
            .to_string(),
        "{\"id\":1,\"method\":\"blockchain.block.header\",\"params\":[5,99999999999]}\n"
            .to_string(),
    ];
    for line in &lines {
        let answers = answers_to(&server, line.as_bytes());
        assert!(
            !answers.is_empty(),
            "no answer to {}",
            &line[..line.len().min(120)]
        );
        assert!(
            answers
                .iter()
                .all(|v| v["error"].is_object() || v.get("result").is_some()),
            "unexpected answer to {}: {answers:?}",
            &line[..line.len().min(120)]
        );
    }
    server.probe();
    watch.assert_bounded("numbers", 32 * MB);
}

/// Bytes that are not UTF-8, inside and outside JSON strings, and lone surrogates.
#[test]
fn invalid_utf8() {
    let (_node, mut server, _dir) = node_and_server("utf8", &[]);
    let watch = RssWatch::start(server.pid());
    let payloads: Vec<Vec<u8>> = vec![
        b"\xff\xfe\xfd\n".to_vec(),
        b"{\"id\":1,\"method\":\"server.version\",\"params\":[\"\xc0\xaf\",\"1.4\"]}\n".to_vec(),
        b"{\"id\":1,\"method\":\"server.\xed\xa0\x80\"}\n".to_vec(),
        b"{\"id\":1,\"method\":\"server.version\",\"params\":[\"\\ud800\",\"1.4\"]}\n".to_vec(),
        b"{\"id\":\"\\udfff\\ud800\",\"method\":\"server.ping\"}\n".to_vec(),
        b"{\"id\":1,\"method\":\"blockchain.keva.get_keyvalues\",\"params\":[\"\xf4\x90\x80\x80\",0]}\n"
            .to_vec(),
        b"\x00\x00\x00\x00\n".to_vec(),
    ];
    for p in &payloads {
        let answers = answers_to(&server, p);
        assert!(
            !answers.is_empty(),
            "no answer to {:?}",
            String::from_utf8_lossy(p)
        );
    }
    // A session survives a bad line and keeps answering good ones.
    let mut c = Client::connect(server.tcp).unwrap();
    c.send_raw(b"\xff\xff\n").unwrap();
    let v = c.recv().expect("an error for the bad line");
    assert!(v["error"].is_object(), "{v}");
    let v = c.call("server.ping", json!([]));
    assert!(v["error"].is_null() && !v.is_null(), "{v}");
    server.probe();
    watch.assert_bounded("utf8", 32 * MB);
}

/// After the server cuts a session off for cost, the cut socket gets nothing more and a new
/// connection is served normally.
#[test]
fn requests_after_a_cost_limit_disconnect() {
    let (_node, mut server, _dir) = node_and_server(
        "cost",
        &[("COST_SOFT_LIMIT", "50"), ("COST_HARD_LIMIT", "500")],
    );
    let watch = RssWatch::start(server.pid());
    let mut c = Client::connect(server.tcp).unwrap();
    // Parse errors cost 1000 each: over the hard limit at once.
    let _ = c.send_raw(b"x\nx\nx\n");
    let mut last = Value::Null;
    let t = Instant::now();
    while let Some(v) = c.recv() {
        last = v;
        assert!(t.elapsed() < Duration::from_secs(10), "never cut off");
    }
    assert_eq!(last["error"]["code"], json!(-101), "{last}");
    // Writing more to the cut socket is ignored or refused; nothing comes back.
    for _ in 0..20 {
        if c.send_raw(b"{\"id\":9,\"method\":\"server.ping\"}\n")
            .is_err()
        {
            break;
        }
    }
    assert!(c.recv().is_none(), "a cut-off session was answered");
    // A new session from the same address is served.
    let mut fresh = Client::connect(server.tcp).unwrap();
    let t = Instant::now();
    let v = fresh.call("server.ping", json!([]));
    assert!(v["error"].is_null() && !v.is_null(), "{v}");
    assert!(t.elapsed() < PROBE_LIMIT, "{:?}", t.elapsed());
    server.probe();
    watch.assert_bounded("cost", 32 * MB);
}

/// On a chain long enough for 600 KB answers, a client that never reads is cut off once its
/// unsent answers pass the per-session write backlog; memory comes back down. The server stops
/// starting requests once 1 MB waits unread, so only the answers already being computed can
/// pass the backlog: `MAX_SEND=1000000` makes it 3 MB, less than ten 600 KB answers in flight.
#[test]
fn never_reading_client_is_cut_off_past_its_backlog() {
    let node = start_node(2100, 3);
    let dir = TempDir::new("backlog");
    let mut server = Server::start(
        ServerOpts::new(node.url(), dir.path())
            .env("COST_HARD_LIMIT", "0")
            .env("MAX_SEND", "1000000"),
    );
    let watch = RssWatch::start(server.pid());
    let line = format!(
        "{}\n",
        json!({"id": 1, "method": "blockchain.block.headers", "params": [0, 2016]})
    );
    let mut s = TcpStream::connect(server.tcp).unwrap();
    s.set_write_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut sent = 0usize;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if s.write_all(line.as_bytes()).is_err() {
            break;
        }
        sent += 1;
    }
    server.probe();
    // Drain: the server must have closed the session before answering everything.
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
            Err(_) => break true,
        }
    };
    let answer_size = 2016 * 153 * 2;
    eprintln!(
        "backlog: {sent} requests sent ({} MB of answers due), {} MB received, closed: {closed}",
        sent * answer_size / MB as usize,
        got / MB as usize
    );
    assert!(closed, "the server kept a never-reading session open");
    assert!(
        got < sent * answer_size,
        "everything was answered: no cut-off happened"
    );
    server.probe();
    watch.assert_bounded("backlog", 160 * MB);
}
