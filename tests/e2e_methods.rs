//! End to end: the real `keva-electrum` binary against the stand-in node over real HTTP, talked
//! to over TCP and TLS: every Electrum 1.4 method, batches, every error code, framing limits,
//! garbage, stalled TLS handshakes and 1,000 concurrent connections.

mod e2e_util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use e2e_util::*;
use keva_electrum::chain::hash::{hash_from_hex, hash_to_hex, to_hex};
use keva_electrum::chain::merkle::root_from_branch;
use keva_electrum::chain::script::scripthash_to_hex;
use keva_electrum::chain::{Block, Hash32, Network, TxOut};
use keva_electrum::devnode::{DevNode, DevNodeConfig, Truth};
use serde_json::{json, Value};

fn node(blocks: u32, seed: u64) -> DevNode {
    DevNode::start(DevNodeConfig {
        blocks,
        seed,
        ..DevNodeConfig::default()
    })
    .expect("the stand-in starts")
}

/// A scripthash with a few confirmed entries, some spent and some unspent outputs.
fn busy_scripthash(truth: &Truth) -> Hash32 {
    let mut candidates: Vec<(&Hash32, usize)> = truth
        .histories
        .iter()
        .filter(|(sh, h)| h.len() >= 3 && h.len() <= 40 && truth.utxos.contains_key(*sh))
        .map(|(sh, h)| (sh, h.len()))
        .collect();
    candidates.sort();
    *candidates
        .first()
        .expect("the busy chain has a scripthash with 3 to 40 entries")
        .0
}

fn hex_hash(v: &Value) -> Hash32 {
    hash_from_hex(v.as_str().expect("a hex string")).expect("64 hex digits")
}

/// Checks every method on one connection (TCP or TLS) against the node's ground truth.
fn exercise<S: std::io::Read + std::io::Write + Timeout>(
    c: &mut Client<S>,
    node: &DevNode,
    url: &str,
) {
    let height = node.height() as u64;
    let truth = node.truth();

    // Session methods.
    let v = c.result("server.version", json!(["e2e", ["1.4", "1.4.2"]]));
    assert_eq!(v[1], "1.4.2");
    // keva_wallet stops batching (and spending) for servers named electrs…
    let name = v[0].as_str().unwrap();
    assert!(
        !name.starts_with("electrs") && !name.starts_with("ElectrumPersonalServer"),
        "{v}"
    );
    let again = c.call("server.version", json!(["e2e", "1.4"]));
    assert_eq!(again["error"]["code"], 1, "{again}");
    assert_eq!(c.result("server.ping", json!([])), Value::Null);
    assert!(c.result("server.banner", json!([])).is_string());
    assert!(c.result("server.donation_address", json!([])).is_string());
    let features = c.result("server.features", json!([]));
    assert_eq!(
        features["genesis_hash"],
        hash_to_hex(&Network::Regtest.genesis_hash())
    );
    assert_eq!(features["hash_function"], "sha256");
    assert_eq!(features["protocol_min"], "1.4");
    assert_eq!(features["protocol_max"], "1.4.2");
    assert!(c.result("server.peers.subscribe", json!([])).is_array());
    assert!(c
        .result("server.add_peer", json!([features.clone()]))
        .is_boolean());

    // Headers.
    let tip = c.result("blockchain.headers.subscribe", json!([]));
    assert_eq!(tip["height"], height);
    assert_eq!(tip["hex"], header_hex(node, height as u32));
    assert_eq!(c.result("blockchain.block.count", json!([])), height);
    for h in [0u32, 1, 57, height as u32] {
        let header = c.result("blockchain.block.header", json!([h]));
        assert_eq!(header, header_hex(node, h), "header {h}");
    }
    let past = c.call("blockchain.block.header", json!([height + 1]));
    assert_eq!(past["error"]["code"], 1, "{past}");
    // cp_height proof: keccak leaves, sha256d interior nodes.
    let (h, cp) = (5u32, height as u32 - 3);
    let proof = c.result("blockchain.block.header", json!([h, cp]));
    let branch: Vec<Hash32> = proof["branch"]
        .as_array()
        .unwrap()
        .iter()
        .map(hex_hash)
        .collect();
    assert_eq!(branch.len() as u32, 32 - cp.leading_zeros());
    let root = root_from_branch(node.block_hash(h).unwrap(), h as usize, &branch);
    assert_eq!(proof["root"], hash_to_hex(&root));
    assert_eq!(proof["header"], header_hex(node, h));
    let chunk = c.result("blockchain.block.headers", json!([0, 5000]));
    assert_eq!(chunk["max"], 2016);
    let count = chunk["count"].as_u64().unwrap();
    assert_eq!(count, (height + 1).min(2016));
    let concatenated: String = (0..count as u32).map(|h| header_hex(node, h)).collect();
    assert_eq!(chunk["hex"], concatenated);
    let tail = c.result("blockchain.block.headers", json!([height - 1, 10, height]));
    assert_eq!(tail["count"], 2);
    assert!(
        tail["root"].is_string() && tail["branch"].is_array(),
        "{tail}"
    );
    let beyond = c.result("blockchain.block.headers", json!([height + 5, 10]));
    assert_eq!(beyond, json!({"hex": "", "count": 0, "max": 2016}));

    // Fees.
    let fee = c.result("blockchain.estimatefee", json!([6]));
    assert!(fee.as_f64().unwrap() > 0.0, "{fee}");
    assert!(c.result("blockchain.relayfee", json!([])).as_f64().unwrap() > 0.0);
    let histogram = c.result("mempool.get_fee_histogram", json!([]));
    assert!(histogram.is_array());

    // Scripthash methods against the ground truth.
    let sh = busy_scripthash(&truth);
    let sh_hex = scripthash_to_hex(&sh);
    let history = c.result("blockchain.scripthash.get_history", json!([sh_hex]));
    let expected: Vec<Value> = truth
        .history(&sh)
        .iter()
        .map(|(t, h)| json!({"tx_hash": hash_to_hex(t), "height": h}))
        .collect();
    assert_eq!(history, json!(expected));
    let balance = c.result("blockchain.scripthash.get_balance", json!([sh_hex]));
    assert_eq!(
        balance,
        json!({"confirmed": truth.balance(&sh), "unconfirmed": 0})
    );
    let unspent = c.result("blockchain.scripthash.listunspent", json!([sh_hex]));
    assert_eq!(unspent.as_array().unwrap().len(), truth.utxos[&sh].len());
    let want: std::collections::BTreeSet<(String, u64, u64, u64)> = truth.utxos[&sh]
        .iter()
        .map(|u| {
            (
                hash_to_hex(&u.outpoint.txid),
                u.outpoint.vout as u64,
                u.value,
                u.height as u64,
            )
        })
        .collect();
    assert_eq!(unspent_set(&unspent), want);
    assert_eq!(
        c.result("blockchain.scripthash.get_mempool", json!([sh_hex])),
        json!([])
    );
    let status = c.result("blockchain.scripthash.subscribe", json!([sh_hex]));
    assert_eq!(status, status_of(&history));
    let empty = sh_hex_of_label("never used");
    assert_eq!(
        c.result("blockchain.scripthash.subscribe", json!([empty])),
        Value::Null
    );
    assert_eq!(
        c.result("blockchain.scripthash.unsubscribe", json!([sh_hex])),
        true
    );
    assert_eq!(
        c.result("blockchain.scripthash.unsubscribe", json!([sh_hex])),
        false
    );

    // Transactions.
    let (txid, tx_height) = truth.history(&sh)[1];
    let txid_hex = hash_to_hex(&txid);
    let raw = c.result("blockchain.transaction.get", json!([txid_hex]));
    let node_raw = node_rpc(url, "getrawtransaction", json!([txid_hex])).unwrap();
    assert_eq!(raw, node_raw);
    let verbose = c.result("blockchain.transaction.get", json!([txid_hex, true]));
    let node_verbose = node_rpc(url, "getrawtransaction", json!([txid_hex, 1])).unwrap();
    assert_eq!(verbose["txid"], txid_hex);
    assert_eq!(verbose["hex"], node_verbose["hex"]);
    assert_eq!(verbose["blockhash"], node_verbose["blockhash"]);
    let merkle = c.result(
        "blockchain.transaction.get_merkle",
        json!([txid_hex, tx_height]),
    );
    assert_eq!(merkle["block_height"], tx_height);
    let pos = merkle["pos"].as_u64().unwrap();
    let branch: Vec<Hash32> = merkle["merkle"]
        .as_array()
        .unwrap()
        .iter()
        .map(hex_hash)
        .collect();
    let header = node.block_bytes(tx_height).unwrap();
    let mut merkle_root = [0u8; 32];
    merkle_root.copy_from_slice(&header[36..68]);
    assert_eq!(root_from_branch(txid, pos as usize, &branch), merkle_root);
    assert_eq!(
        c.result(
            "blockchain.transaction.id_from_pos",
            json!([tx_height, pos])
        ),
        txid_hex
    );
    let with_proof = c.result(
        "blockchain.transaction.id_from_pos",
        json!([tx_height, pos, true]),
    );
    assert_eq!(
        with_proof,
        json!({"tx_hash": txid_hex, "merkle": merkle["merkle"]})
    );
    let genesis = c.call("blockchain.transaction.id_from_pos", json!([0, 0]));
    assert_eq!(genesis["error"]["code"], 1, "{genesis}");

    // Broadcast: accepted once, then the node's rejection as a code-1 error.
    let built = node
        .with_state(|s| {
            s.wallet.pay(vec![TxOut {
                value: 12_345_678,
                script_pubkey: test_script(&format!("broadcast {}", unique_label())),
            }])
        })
        .expect("the wallet can pay");
    let raw_tx = to_hex(&built.tx.serialize());
    let sent = c.result("blockchain.transaction.broadcast", json!([raw_tx]));
    assert_eq!(sent, hash_to_hex(&built.txid));
    assert!(node.mempool().contains(&built.txid));
    let twice = c.call("blockchain.transaction.broadcast", json!([raw_tx]));
    assert_eq!(twice["error"]["code"], 1, "{twice}");
    let msg = twice["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("the transaction was rejected by network rules."),
        "{msg}"
    );
    let mempool_tx = c.result("blockchain.transaction.get", json!([sent]));
    assert_eq!(mempool_tx, raw_tx);
}

/// The 157-byte header of the node's block at `height`, as hex.
fn header_hex(node: &DevNode, height: u32) -> String {
    let block = Block::from_bytes(&node.block_bytes(height).unwrap()).unwrap();
    to_hex(block.header.as_bytes())
}

fn sh_hex_of_label(label: &str) -> String {
    sh_hex(&test_script(label))
}

/// A label no other call in this run uses (for fresh scripts).
fn unique_label() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[test]
fn every_method_over_tcp_and_tls() {
    let node = node(120, 11);
    let ca = TestCa::new("methods", false);
    let server = start_server(
        &node.url(),
        ServerOpts {
            tls: Some(&ca),
            ..ServerOpts::default()
        },
    );
    let mut plain = tcp(server.tcp);
    exercise(&mut plain, &node, &node.url());
    let mut secure = tls(server.ssl.unwrap(), ca.client_config());
    exercise(&mut secure, &node, &node.url());
}

#[test]
fn batches_and_string_ids() {
    let node = node(60, 12);
    let server = start_server(&node.url(), ServerOpts::default());
    let mut c = tcp(server.tcp);
    let height = node.height();
    c.send_raw(
        br#"[{"jsonrpc":"2.0","method":"server.ping","params":[],"id":"a"},{"jsonrpc":"2.0","method":"blockchain.block.count","params":[],"id":7},{"jsonrpc":"2.0","method":"no.such","params":[],"id":"x"},{"jsonrpc":"2.0","method":"server.ping","params":[]},{"method":"blockchain.block.header","params":["3"],"id":"9"}]
"#,
    );
    let reply = c.expect();
    let items = reply.as_array().expect("a batch reply is one array");
    assert_eq!(items.len(), 4, "one entry per request with an id: {reply}");
    let by_id = |id: Value| {
        items
            .iter()
            .find(|i| i["id"] == id)
            .unwrap_or_else(|| panic!("no entry for id {id}: {reply}"))
            .clone()
    };
    assert_eq!(by_id(json!("a"))["result"], Value::Null);
    assert!(by_id(json!("a")).get("error").is_none());
    assert_eq!(by_id(json!(7))["result"], height);
    assert_eq!(by_id(json!("x"))["error"]["code"], -32601);
    assert_eq!(by_id(json!("9"))["result"], header_hex(&node, 3));
    for i in items {
        assert_eq!(i["jsonrpc"], "2.0");
    }

    // An empty batch is one error object; a batch of notifications gets no answer at all.
    c.send_raw(b"[]\n");
    let empty = c.expect();
    assert_eq!(empty["error"]["code"], -32600, "{empty}");
    assert_eq!(empty["id"], Value::Null);
    c.send_raw(br#"[{"jsonrpc":"2.0","method":"server.ping","params":[]},{"method":"server.ping","id":null}]
"#);
    let ping = c.call("server.ping", json!([]));
    assert_eq!(ping["result"], Value::Null);

    // A batch of 100 scripthash requests, as keva_wallet sends, answers every id.
    let batch: Vec<Value> = (0..100)
        .map(|i| json!({"jsonrpc":"2.0","method":"blockchain.scripthash.get_balance","params":[sh_hex_of_label(&format!("b{i}"))],"id":i+1}))
        .collect();
    c.send(&json!(batch));
    let reply = c.expect();
    let mut ids: Vec<u64> = reply
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            assert_eq!(i["result"], json!({"confirmed": 0, "unconfirmed": 0}));
            i["id"].as_u64().unwrap()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, (1..=100).collect::<Vec<_>>());
}

#[test]
fn error_codes() {
    let node = node(40, 13);
    let server = start_server(&node.url(), ServerOpts::default());
    let mut c = tcp(server.tcp);
    let send_expect = |c: &mut TcpClient, line: &[u8]| {
        c.send_raw(line);
        c.expect()
    };
    // -32700: not JSON, not UTF-8, a blank line; the connection stays.
    let e = send_expect(&mut c, b"{\"id\": 1, \"method\": \n");
    assert_eq!(e["error"]["code"], -32700, "{e}");
    assert_eq!(e["id"], Value::Null);
    let e = send_expect(&mut c, b"\xff\xfe\"ping\"\n");
    assert_eq!(e["error"]["code"], -32700, "{e}");
    let e = send_expect(&mut c, b"\n");
    assert_eq!(e["error"]["code"], -32700, "{e}");
    // -32600: not an object; a bad id type.
    let e = send_expect(&mut c, b"42\n");
    assert_eq!(e["error"]["code"], -32600, "{e}");
    let e = send_expect(
        &mut c,
        br#"{"method":"server.ping","params":[],"id":{"a":1}}
"#,
    );
    assert_eq!(e["error"]["code"], -32600, "{e}");
    assert_eq!(e["id"], Value::Null);
    // -32601: unknown method, method not a string.
    let e = c.call("blockchain.nonexistent", json!([]));
    assert_eq!(e["error"]["code"], -32601);
    assert_eq!(
        e["error"]["message"],
        "unknown method \"blockchain.nonexistent\""
    );
    let e = send_expect(
        &mut c,
        br#"{"method":5,"params":[],"id":3}
"#,
    );
    assert_eq!(e["error"]["code"], -32601, "{e}");
    // -32602: argument count, params type.
    let e = c.call("blockchain.headers.subscribe", json!([false]));
    assert_eq!(e["error"]["code"], -32602, "{e}");
    let e = c.call("blockchain.scripthash.get_balance", json!([]));
    assert_eq!(e["error"]["code"], -32602, "{e}");
    let e = send_expect(
        &mut c,
        br#"{"method":"server.ping","params":"x","id":4}
"#,
    );
    assert_eq!(e["error"]["code"], -32602, "{e}");
    assert_eq!(e["id"], 4);
    // 1: ElectrumX's BAD_REQUEST for semantic errors.
    let e = c.call("blockchain.scripthash.get_balance", json!(["zz"]));
    assert_eq!(e["error"]["code"], 1, "{e}");
    assert_eq!(e["error"]["message"], "zz is not a valid script hash");
    let e = c.call("blockchain.block.header", json!([-1]));
    assert_eq!(e["error"]["code"], 1, "{e}");
    let e = c.call("blockchain.block.header", json!([1_000_000]));
    assert_eq!(e["error"]["message"], "height 1,000,000 out of range");
    let e = c.call("blockchain.transaction.get", json!(["xyz"]));
    assert_eq!(e["error"]["code"], 1, "{e}");
    let e = c.call(
        "blockchain.transaction.get_merkle",
        json!([hash_to_hex(&[7u8; 32]), 3]),
    );
    assert_eq!(e["error"]["code"], 1, "{e}");
    let e = c.call("blockchain.transaction.broadcast", json!(["00"]));
    assert_eq!(e["error"]["code"], 1, "{e}");
    // 2: the node's error passed through.
    let e = c.call(
        "blockchain.transaction.get",
        json!([hash_to_hex(&[9u8; 32])]),
    );
    assert_eq!(e["error"]["code"], 2, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("daemon error"),
        "{e}"
    );
    // Notifications (no id) never get an answer, even when wrong.
    c.send_raw(b"{\"method\":\"no.such\",\"params\":[]}\n");
    let after = c.call("server.ping", json!([]));
    assert_eq!(after["result"], Value::Null);
    // Requests without "jsonrpc" are accepted; numbers as strings too.
    c.send_raw(b"{\"method\":\"blockchain.block.header\",\"params\":[\"2\"],\"id\":\"s\"}\n");
    let loose = c.expect();
    assert_eq!(loose["id"], "s");
    assert_eq!(loose["jsonrpc"], "2.0");
    assert_eq!(loose["result"], header_hex(&node, 2));
}

#[test]
fn oversized_lines_and_garbage() {
    let node = node(20, 14);
    let server = start_server(
        &node.url(),
        ServerOpts {
            env: vec![("MAX_RECV", "100000".into())],
            ..ServerOpts::default()
        },
    );
    // Garbage bytes with newlines: parse errors, the connection survives.
    let mut c = tcp(server.tcp);
    let mut garbage = Vec::new();
    let mut x: u32 = 12345;
    for _ in 0..5000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let b = (x >> 16) as u8;
        garbage.push(if b == b'\n' { b'x' } else { b });
    }
    for chunk in garbage.chunks(700) {
        c.send_raw(chunk);
        c.send_raw(b"\n");
        let e = c.expect();
        assert_eq!(e["error"]["code"], -32700, "{e}");
    }
    assert_eq!(c.result("server.ping", json!([])), Value::Null);

    // A line over MAX_RECV: an error, then the connection is closed; other clients unaffected.
    let mut big = tcp(server.tcp);
    let mut other = tcp(server.tcp);
    let line = format!(
        "{{\"id\":1,\"method\":\"server.ping\",\"params\":[\"{}\"]}}\n",
        "a".repeat(300_000)
    );
    big.try_send_raw(line.as_bytes());
    let mut saw_error = false;
    loop {
        match big.read_within(Duration::from_secs(10)) {
            Read1::Line(v) => {
                assert_eq!(v["error"]["code"], -32600, "{v}");
                saw_error = true;
            }
            Read1::Closed => break,
            Read1::Timeout => panic!("the oversized line neither answered nor closed"),
        }
    }
    assert!(
        saw_error,
        "an oversized line gets an error before the close"
    );
    assert_eq!(other.result("server.ping", json!([])), Value::Null);

    // Raw binary without any newline past the limit: closed, not buffered forever.
    let mut s = TcpStream::connect(server.tcp).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let blob: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8 | 1).collect();
    let blob: Vec<u8> = blob
        .into_iter()
        .map(|b| if b == b'\n' { 0 } else { b })
        .collect();
    let _ = s.write_all(&blob);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(
        buf.is_empty() || String::from_utf8_lossy(&buf).contains("-32600"),
        "{buf:?}"
    );
    assert_eq!(other.result("server.ping", json!([])), Value::Null);
    // Many requests in one write and one request split over many writes.
    let mut pipelined = String::new();
    for i in 0..50 {
        pipelined.push_str(&format!("{{\"id\":{i},\"method\":\"server.ping\"}}\n"));
    }
    other.send_raw(pipelined.as_bytes());
    let mut seen: Vec<u64> = (0..50)
        .map(|_| other.expect()["id"].as_u64().unwrap())
        .collect();
    seen.sort();
    assert_eq!(seen, (0..50).collect::<Vec<_>>());
    for b in b"{\"id\":\"slow\",\"method\":\"server.ping\"}\n" {
        other.send_raw(&[*b]);
    }
    assert_eq!(other.expect()["id"], "slow");
}

#[test]
fn tls_client_stopping_mid_handshake_does_not_block_others() {
    let node = node(20, 15);
    let ca = TestCa::new("stall", false);
    let server = start_server(
        &node.url(),
        ServerOpts {
            tls: Some(&ca),
            env: vec![("SESSION_TIMEOUT", "3".into())],
            ..ServerOpts::default()
        },
    );
    let ssl = server.ssl.unwrap();
    // A real ClientHello, cut in half, from 20 clients that then go silent.
    let mut hello = Vec::new();
    {
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut conn = rustls::ClientConnection::new(ca.client_config(), name).unwrap();
        conn.write_tls(&mut hello).unwrap();
    }
    assert!(hello.len() > 40);
    let mut stalled: Vec<TcpStream> = (0..20)
        .map(|i| {
            let mut s = TcpStream::connect(ssl).unwrap();
            let cut = if i % 2 == 0 { hello.len() / 2 } else { 3 };
            s.write_all(&hello[..cut]).unwrap();
            s
        })
        .collect();
    // A full ClientHello with nothing after it.
    let mut silent = TcpStream::connect(ssl).unwrap();
    silent.write_all(&hello).unwrap();
    // Everyone else is served meanwhile, over TLS and TCP.
    let started = std::time::Instant::now();
    for _ in 0..5 {
        let mut c = tls(ssl, ca.client_config());
        assert_eq!(c.result("server.ping", json!([])), Value::Null);
        let mut t = tcp(server.tcp);
        assert_eq!(t.result("blockchain.block.count", json!([])), 20);
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // The stalled handshakes are dropped by the session timeout.
    for s in stalled.iter_mut().chain(std::iter::once(&mut silent)) {
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut buf = [0u8; 4096];
        let closed = loop {
            match s.read(&mut buf) {
                Ok(0) => break true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
                Err(_) => break false,
            }
        };
        assert!(closed, "a stalled handshake was never closed");
    }
    let mut c = tls(ssl, ca.client_config());
    assert_eq!(c.result("server.ping", json!([])), Value::Null);
}

#[test]
fn a_thousand_concurrent_connections() {
    let wanted = 1000usize;
    let limit = open_file_limit() as usize;
    let n = if limit >= wanted + 200 {
        wanted
    } else {
        eprintln!(
            "NOTE: open-file limit {limit} is too low for {wanted} connections; \
             using {} (raise it with `ulimit -n 4096`)",
            limit.saturating_sub(200)
        );
        limit.saturating_sub(200)
    };
    let node = node(30, 16);
    let ca = TestCa::new("thousand", false);
    let server = start_server(
        &node.url(),
        ServerOpts {
            tls: Some(&ca),
            env: vec![("MAX_SESSIONS", "2000".into())],
            nofile: Some(8192),
            ..ServerOpts::default()
        },
    );
    let sh = sh_hex_of_label("thousand");
    let tls_share = n / 10;
    let mut plain: Vec<TcpClient> = Vec::new();
    let mut secure: Vec<TlsClient> = Vec::new();
    for i in 0..n {
        if i < tls_share {
            secure.push(tls(server.ssl.unwrap(), ca.client_config()));
        } else {
            plain.push(tcp(server.tcp));
        }
    }
    // Every connection is open at once; each sends, then each reads its own answer.
    let request = |i: usize| json!({"jsonrpc":"2.0","method":"blockchain.scripthash.get_balance","params":[sh],"id":i});
    for (i, c) in plain.iter_mut().enumerate() {
        c.send(&request(i));
    }
    for (i, c) in secure.iter_mut().enumerate() {
        c.send(&request(i));
    }
    for (i, c) in plain.iter_mut().enumerate() {
        let r = c.expect();
        assert_eq!(r["id"], i);
        assert_eq!(r["result"], json!({"confirmed": 0, "unconfirmed": 0}));
    }
    for (i, c) in secure.iter_mut().enumerate() {
        let r = c.expect();
        assert_eq!(r["id"], i);
    }
    // A second round on the same connections still works.
    for c in plain.iter_mut().step_by(37) {
        assert_eq!(c.result("server.ping", json!([])), Value::Null);
    }
    assert_eq!(plain.len() + secure.len(), n);
}
