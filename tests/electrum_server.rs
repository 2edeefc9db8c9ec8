//! End to end over real TCP: the server with the `Methods` backend over a synced index and the
//! stand-in node; a wallet-style session with batches, string params, subscriptions and the
//! notifications that follow a mempool change and a new block.

mod electrum_util;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use electrum_util::*;
use keva_electrum::chain::hash::{hash_to_hex, sha256, to_hex};
use keva_electrum::devnode::AddrKind;
use keva_electrum::server::{self, ChainEvent, Protocol, Service, Settings};
use serde_json::{json, Value};

struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    /// Notifications received while waiting for replies.
    notifications: Vec<Value>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Client {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
            notifications: Vec::new(),
        }
    }

    fn send(&mut self, line: &str) {
        self.writer.write_all(line.as_bytes()).unwrap();
        self.writer.write_all(b"\n").unwrap();
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        assert!(line.ends_with('\n'), "a whole line: {line:?}");
        serde_json::from_str(&line).unwrap()
    }

    /// The next message that is not a notification.
    fn reply(&mut self) -> Value {
        loop {
            let v = self.read();
            if v.get("method").is_some() {
                self.notifications.push(v);
            } else {
                return v;
            }
        }
    }

    fn call(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(
            &json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id}).to_string(),
        );
        let r = self.reply();
        assert_eq!(r["id"], json!(id), "reply to {method}");
        assert_eq!(r["jsonrpc"], json!("2.0"));
        r
    }

    /// Waits for a notification of `method`.
    fn notification(&mut self, method: &str) -> Value {
        if let Some(i) = self
            .notifications
            .iter()
            .position(|n| n["method"] == json!(method))
        {
            return self.notifications.remove(i);
        }
        loop {
            let v = self.read();
            if v["method"] == json!(method) {
                return v;
            }
            self.notifications.push(v);
        }
    }
}

#[test]
fn wallet_session_over_tcp() {
    let mut f = Fixture::new("e2e", 25, 31);
    let settings = Settings {
        services: vec![Service {
            protocol: Protocol::Tcp,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        }],
        workers: 2,
        ..Settings::default()
    };
    let mut handle = server::start(settings, f.methods.clone()).expect("server starts");
    let addr = handle.local_addrs()[0];
    let mut c = Client::connect(addr);

    let v = c.call(1, "server.version", json!(["bluewallet", "1.4"]));
    assert_eq!(v["result"][1], json!("1.4"));

    let blocks = f.blocks();
    let tip = blocks.len() - 1;
    let r = c.call(2, "blockchain.headers.subscribe", json!([]));
    assert_eq!(
        r["result"],
        json!({"height": tip, "hex": to_hex(blocks[tip].header.as_bytes())})
    );
    let r = c.call(3, "blockchain.block.count", json!([]));
    assert_eq!(r["result"], json!(tip));
    let txid = blocks[2].txids()[0];
    let r = c.call(
        4,
        "blockchain.transaction.id_from_pos",
        json!(["2", "0", false]),
    );
    assert_eq!(r["result"], json!(hash_to_hex(&txid)));

    // A batch of balances, string id included; one reply array with every id.
    let truth = f.node.truth();
    let shs: Vec<_> = truth
        .histories
        .keys()
        .filter(|sh| !truth_history(&truth, sh).is_empty())
        .take(5)
        .copied()
        .collect();
    let batch: Vec<Value> = shs
        .iter()
        .enumerate()
        .map(|(i, sh)| {
            json!({"jsonrpc": "2.0", "method": "blockchain.scripthash.get_balance",
                   "params": [sh_hex(sh)], "id": format!("b{i}")})
        })
        .collect();
    c.send(&Value::Array(batch).to_string());
    let replies = c.reply();
    let replies = replies.as_array().expect("a batch reply");
    assert_eq!(replies.len(), shs.len());
    for (i, sh) in shs.iter().enumerate() {
        let r = replies
            .iter()
            .find(|r| r["id"] == json!(format!("b{i}")))
            .expect("every id answered");
        let confirmed: u64 = truth.utxos.get(sh).map_or(0, |u| {
            u.iter().filter(|u| u.height > 0).map(|u| u.value).sum()
        });
        assert_eq!(
            r["result"],
            json!({"confirmed": confirmed, "unconfirmed": 0})
        );
    }

    // Subscribe to a fresh address, then pay it: the status notification follows.
    let (script, _) = f.node.new_address(AddrKind::P2wpkh);
    let sh = sha256(&script);
    let hex = sh_hex(&sh);
    let r = c.call(5, "blockchain.scripthash.subscribe", json!([hex]));
    assert_eq!(r["result"], Value::Null);
    let paid = f.node.pay(&script, 1_234_567).unwrap();
    f.refresh_mempool();
    let mut display = sh;
    display.reverse();
    assert!(handle.notify(ChainEvent {
        tip: Value::Null,
        touched: vec![display],
    }));
    let n = c.notification("blockchain.scripthash.subscribe");
    let status = expected_status(&[(paid, 0)]).unwrap();
    assert_eq!(n["params"], json!([hex, status]));
    let r = c.call(6, "blockchain.scripthash.get_mempool", json!([hex]));
    assert_eq!(r["result"][0]["tx_hash"], json!(hash_to_hex(&paid)));

    // A new block: header first, then the status with the confirmed height.
    f.node.mine(1);
    f.catch_up();
    let new_tip = f.node.height();
    let header = f.blocks()[new_tip as usize].header.clone();
    assert!(handle.notify(ChainEvent {
        tip: json!({"height": new_tip, "hex": to_hex(header.as_bytes())}),
        touched: vec![display],
    }));
    let n = c.notification("blockchain.headers.subscribe");
    assert_eq!(n["params"][0]["height"], json!(new_tip));
    let n = c.notification("blockchain.scripthash.subscribe");
    let status = expected_status(&[(paid, i64::from(new_tip))]).unwrap();
    assert_eq!(n["params"], json!([hex, status]));

    // Errors travel with their codes.
    let r = c.call(7, "blockchain.transaction.id_from_pos", json!([0, 0]));
    assert_eq!(
        r["error"],
        json!({"code": 1, "message": "no tx at position 0 in block at height 0"})
    );
    let r = c.call(8, "blockchain.nothing", json!([]));
    assert_eq!(r["error"]["code"], json!(-32601));
    handle.shutdown().unwrap();
}
