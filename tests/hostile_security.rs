//! Security checks against the real binary: which node methods client requests can reach,
//! whether the node's credentials ever reach the log, and the index's file permissions.

mod hostile_common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hostile_common::*;
use keva_electrum::chain::hash::{hash_to_hex, to_hex};
use serde_json::{json, Value};

/// Node methods a client request may cause (the documented pass-through set).
const PASS_THROUGH: &[&str] = &[
    "getrawtransaction",
    "sendrawtransaction",
    "estimatesmartfee",
    "getnetworkinfo",
];
/// Node methods the sync thread and the mempool poller use on their own.
const BACKGROUND: &[&str] = &[
    "getblockchaininfo",
    "getnetworkinfo",
    "getblockcount",
    "getbestblockhash",
    "getblockhash",
    "getblock",
    "getrawmempool",
    "getrawtransaction",
];

/// Reads one HTTP message (head and Content-Length body) from `r`.
fn read_message(r: &mut BufReader<TcpStream>) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut head = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line).ok()? == 0 {
            return None;
        }
        let text = String::from_utf8_lossy(&line).to_ascii_lowercase();
        if let Some(v) = text.strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
        head.extend_from_slice(&line);
        if line == b"\r\n" {
            break;
        }
    }
    let mut body = vec![0u8; length];
    r.read_exact(&mut body).ok()?;
    Some((head, body))
}

/// An HTTP proxy in front of the node that records every JSON-RPC method passing through.
fn recording_proxy(upstream: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            let record = record.clone();
            std::thread::spawn(move || {
                let mut from_client = BufReader::new(client.try_clone().unwrap());
                let mut to_client = client;
                while let Some((head, body)) = read_message(&mut from_client) {
                    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                        let items = match v {
                            Value::Array(items) => items,
                            one => vec![one],
                        };
                        let mut r = record.lock().unwrap();
                        for item in items {
                            r.push(item["method"].as_str().unwrap_or("<none>").to_string());
                        }
                    }
                    let Ok(up) = TcpStream::connect(upstream) else {
                        return;
                    };
                    let mut up_reader = BufReader::new(up.try_clone().unwrap());
                    let mut up_writer = up;
                    if up_writer.write_all(&head).is_err() || up_writer.write_all(&body).is_err() {
                        return;
                    }
                    let Some((h, b)) = read_message(&mut up_reader) else {
                        return;
                    };
                    if to_client.write_all(&h).is_err() || to_client.write_all(&b).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// Every protocol method with plausible params, node method names, and unknown names.
fn requests(node: &keva_electrum::devnode::DevNode) -> Vec<(String, Value)> {
    let tip = node.height();
    let block = keva_electrum::chain::Block::from_bytes(&node.block_bytes(tip).unwrap()).unwrap();
    let txid = hash_to_hex(&block.txs[0].txid());
    let raw = to_hex(&block.txs[0].serialize());
    let sh = "a".repeat(64);
    let mut out: Vec<(String, Value)> = vec![
        ("server.version".into(), json!(["sec", "1.4"])),
        ("server.banner".into(), json!([])),
        ("server.donation_address".into(), json!([])),
        ("server.features".into(), json!([])),
        ("server.peers.subscribe".into(), json!([])),
        ("server.add_peer".into(), json!([{}])),
        ("server.ping".into(), json!([])),
        ("blockchain.block.count".into(), json!([])),
        ("blockchain.block.header".into(), json!([1, tip])),
        ("blockchain.block.headers".into(), json!([0, 10, tip])),
        ("blockchain.estimatefee".into(), json!([2])),
        ("blockchain.relayfee".into(), json!([])),
        ("blockchain.headers.subscribe".into(), json!([])),
        ("blockchain.scripthash.get_balance".into(), json!([sh])),
        ("blockchain.scripthash.get_history".into(), json!([sh])),
        ("blockchain.scripthash.get_mempool".into(), json!([sh])),
        ("blockchain.scripthash.listunspent".into(), json!([sh])),
        ("blockchain.scripthash.subscribe".into(), json!([sh])),
        ("blockchain.scripthash.unsubscribe".into(), json!([sh])),
        ("blockchain.transaction.broadcast".into(), json!([raw])),
        ("blockchain.transaction.broadcast".into(), json!(["00"])),
        ("blockchain.transaction.get".into(), json!([txid, false])),
        ("blockchain.transaction.get".into(), json!([txid, true])),
        (
            "blockchain.transaction.get_merkle".into(),
            json!([txid, tip]),
        ),
        (
            "blockchain.transaction.id_from_pos".into(),
            json!([tip, 0, true]),
        ),
        ("mempool.get_fee_histogram".into(), json!([])),
        ("blockchain.keva.get_keyvalues".into(), json!([sh, 0])),
    ];
    for name in [
        "stop",
        "getblock",
        "getblockcount",
        "dumpprivkey",
        "sendtoaddress",
        "getbalance",
        "walletpassphrase",
        "importprivkey",
        "invalidateblock",
        "generate",
        "dev_mine",
        "dev_fail",
        "daemon.stop",
        "blockchain.daemon.stop",
        "server.stop",
        "blockchain.getblock",
        "blockchain.transaction.get_raw",
        "blockchain.keva.get_transactions_info",
        "blockchain.address.get_balance",
        "__proto__",
        "",
    ] {
        out.push((name.to_string(), json!([])));
        out.push((name.to_string(), json!(["x", 1, true])));
    }
    out
}

#[test]
fn client_requests_reach_only_the_pass_through_node_methods() {
    let node = start_node(30, 31);
    let (proxy, seen) = recording_proxy(node.addr());
    let dir = TempDir::new("methods");
    let url = format!("http://user:s3cret-Pa55word@{proxy}/");
    let mut server = Server::start(
        ServerOpts::new(url, dir.path())
            .env("COST_SOFT_LIMIT", "0")
            .env("COST_HARD_LIMIT", "0"),
    );
    std::thread::sleep(Duration::from_millis(500));
    let background: BTreeSet<String> = seen.lock().unwrap().drain(..).collect();
    let mut c = Client::connect(server.tcp).unwrap();
    let reqs = requests(&node);
    for (method, params) in &reqs {
        let v = c.call(method, params.clone());
        assert!(!v.is_null(), "{method}: the session was closed");
        // Named params too, where the protocol allows them.
        let v = c.call(method, json!({"txid": "00", "verbose": true}));
        assert!(!v.is_null(), "{method}: the session was closed");
    }
    // A batch of everything as well.
    let batch: Vec<Value> = reqs
        .iter()
        .enumerate()
        .map(|(i, (m, p))| json!({"jsonrpc": "2.0", "id": i, "method": m, "params": p}))
        .collect();
    c.send_raw(format!("{}\n", Value::Array(batch)).as_bytes())
        .unwrap();
    assert!(c.recv().is_some());
    let during: BTreeSet<String> = seen.lock().unwrap().iter().cloned().collect();
    let allowed: BTreeSet<String> = PASS_THROUGH
        .iter()
        .chain(BACKGROUND)
        .map(|s| s.to_string())
        .collect();
    let outside: Vec<&String> = during.difference(&allowed).collect();
    eprintln!(
        "node methods: background {background:?}; while {} client requests ran: {during:?}",
        reqs.len() * 3
    );
    assert!(
        outside.is_empty(),
        "client requests reached node methods outside the pass-through set: {outside:?}"
    );
    assert!(
        background.iter().all(|m| allowed.contains(m)),
        "{background:?}"
    );
    // The proxy saw the pass-through calls, so it really sits on the path.
    for m in [
        "sendrawtransaction",
        "estimatesmartfee",
        "getrawtransaction",
    ] {
        assert!(during.contains(m), "{m} never reached the node: {during:?}");
    }
    server.probe();
}

#[test]
fn node_credentials_never_reach_the_log() {
    let password = "s3cret-Pa55word";
    let node = start_node(30, 32);
    let dir = TempDir::new("creds");
    let mut server =
        Server::start(ServerOpts::new(node.url(), dir.path()).env("LOG_LEVEL", "debug"));
    // Make the node fail in every way while clients use the pass-through calls.
    let mut c = Client::connect(server.tcp).unwrap();
    for fault in [
        keva_electrum::devnode::Fault::Http500,
        keva_electrum::devnode::Fault::Close,
        keva_electrum::devnode::Fault::Truncate,
    ] {
        node.set_fault(Some(fault), 1000);
        node.mine(1);
        c.call("blockchain.estimatefee", json!([2]));
        c.call("blockchain.transaction.get", json!(["00".repeat(32)]));
        c.call("blockchain.transaction.broadcast", json!(["00"]));
        std::thread::sleep(Duration::from_millis(700));
    }
    node.set_fault(None, 0);
    let port = node.addr().port();
    drop(node);
    c.call("blockchain.estimatefee", json!([2]));
    std::thread::sleep(Duration::from_millis(1000));
    let node = start_node_on(30, 32, port);
    node.mine(1);
    server.wait_height(31, Duration::from_secs(15));
    assert!(server.terminate());
    // A wrong password and an unreachable node at start-up.
    let wrong = format!("http://user:Wr0ng-{password}@{}/", node.addr());
    let mut bad = Server::spawn(ServerOpts::new(wrong, dir.path()));
    std::thread::sleep(Duration::from_millis(1500));
    let _ = bad.terminate();
    let gone = format!("http://user:{password}@127.0.0.1:{}/", free_port());
    let mut down = Server::spawn(ServerOpts::new(gone, dir.path()));
    std::thread::sleep(Duration::from_millis(1500));
    let _ = down.terminate();
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("user:{password}"));
    let logs = [server.log(), bad.log(), down.log()].join("\n");
    let lines = logs.lines().count();
    assert!(
        lines > 10,
        "too little was logged to prove anything:\n{logs}"
    );
    for secret in [password, basic.as_str(), "user:"] {
        assert!(
            !logs.contains(secret),
            "the log contains {secret:?}:\n{logs}"
        );
    }
    eprintln!("credentials: {lines} log lines checked, none holds the password");
}

#[test]
fn index_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let node = start_node(30, 33);
    let top = TempDir::new("perms");
    let dir = top.path().join("db");
    let mut server = Server::start(ServerOpts::new(node.url(), &dir));
    node.mine(2);
    server.wait_height(32, Duration::from_secs(10));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "DB_DIRECTORY is not private");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        assert_eq!(
            mode(&p) & 0o077,
            0,
            "{} is readable by others ({:o})",
            p.display(),
            mode(&p)
        );
        checked += 1;
    }
    assert!(checked >= 2, "index.db and its WAL files exist");
    eprintln!("permissions: directory 0700 and {checked} files owner-only");
}
