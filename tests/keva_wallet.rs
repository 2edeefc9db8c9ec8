//! The keva requests exactly as the real wallets send them, over real TCP through the server:
//! every keva `c2s` line of the recorded wallet sessions replayed byte for byte, then again
//! with the recorded namespace, tag, post and heights swapped for ones on the stand-in's chain;
//! and the short code → namespace → profile sequence as keva_wallet performs it.

mod electrum_util;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use electrum_util::*;
use keva_electrum::chain::hash::{hash_to_hex, sha256};
use keva_electrum::chain::keva::{namespace_to_string, PROFILE_KEY};
use keva_electrum::chain::Hash32;
use keva_electrum::server::{self, Protocol, Service, Settings};
use serde_json::{json, Value};

/// Scripthash of the keva lookup pseudo-script `d1 <push x> 00 6d 75 6a` (short names only).
fn lookup_sh(x: &[u8]) -> Hash32 {
    assert!(x.len() < 0x4c);
    let mut s = vec![0xd1, x.len() as u8];
    s.extend_from_slice(x);
    s.extend([0x00, 0x6d, 0x75, 0x6a]);
    sha256(&s)
}

struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Client {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    /// Sends one line as is and returns the parsed reply line.
    fn exchange(&mut self, line: &str) -> Value {
        self.writer.write_all(line.as_bytes()).unwrap();
        self.writer.write_all(b"\n").unwrap();
        let mut reply = String::new();
        self.reader.read_line(&mut reply).unwrap();
        assert!(reply.ends_with('\n'), "a whole line: {reply:?}");
        serde_json::from_str(reply.trim_end()).unwrap()
    }

    fn call(&mut self, id: u64, method: &str, params: Value) -> Value {
        let r = self.exchange(
            &json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id}).to_string(),
        );
        assert_eq!(r["id"], json!(id));
        r.get("result")
            .cloned()
            .unwrap_or_else(|| panic!("{method} failed: {r}"))
    }
}

/// The recorded keva-related request lines: (file, exact line).
fn recorded_lines() -> Vec<(String, String)> {
    let dir = vectors_dir().join("wallet");
    let mut out = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    names.sort();
    for path in names {
        let text = std::fs::read_to_string(&path).unwrap();
        for l in text.lines() {
            let rec: Value = serde_json::from_str(l).unwrap();
            if rec["dir"] != json!("c2s") {
                continue;
            }
            let line = rec["line"].as_str().unwrap().to_string();
            let keva = [
                "blockchain.keva.",
                "blockchain.block.count",
                "blockchain.transaction.id_from_pos",
                "blockchain.transaction.get_merkle",
                "blockchain.scripthash.get_history",
            ];
            if keva.iter().any(|m| line.contains(m)) {
                out.push((path.file_name().unwrap().to_string_lossy().into(), line));
            }
        }
    }
    out
}

/// Checks a keva list item has exactly the reference's fields with the right types.
fn check_item(item: &Value, extra: &[&str]) {
    let m = item.as_object().expect("item is an object");
    let mut want: Vec<&str> = vec!["tx_hash", "height", "replies", "shares", "likes", "type"];
    want.extend_from_slice(extra);
    for k in &want {
        assert!(m.contains_key(*k), "{k} missing in {item}");
    }
    for k in m.keys() {
        assert!(
            want.contains(&k.as_str()) || ["key", "value", "time"].contains(&k.as_str()),
            "unexpected field {k} in {item}"
        );
    }
    assert_eq!(m["tx_hash"].as_str().unwrap().len(), 64);
    assert!(m["height"].is_i64());
    for k in ["replies", "shares", "likes"] {
        assert!(m[k].is_u64());
    }
    assert!(["REG", "PUT", "DEL"].contains(&m["type"].as_str().unwrap()));
    if m["height"].as_i64().unwrap() > 0 {
        assert!(m["time"].is_u64(), "confirmed items carry time: {item}");
    } else {
        assert!(m.get("time").is_none(), "unconfirmed items carry no time");
    }
}

/// Checks the shape of one reply to a keva-related request; `nonempty` when the request is
/// about objects that exist on the chain.
fn check_reply(request: &Value, reply: &Value, tip: u32, nonempty: bool) {
    assert_eq!(reply["id"], request["id"], "id echoed unchanged");
    let method = request["method"].as_str().unwrap();
    let result = &reply["result"];
    assert!(
        reply.get("error").is_none() || !nonempty,
        "{method}: {reply}"
    );
    match method {
        "blockchain.block.count" => assert_eq!(result, &json!(tip)),
        "blockchain.keva.get_keyvalues" | "blockchain.keva.get_hashtag" => {
            let list = if method.ends_with("get_keyvalues") {
                "keyvalues"
            } else {
                "hashtags"
            };
            let items = result[list].as_array().expect("list");
            let min = result["min_tx_num"].as_i64().expect("min_tx_num");
            assert_eq!(result.as_object().unwrap().len(), 2);
            if items.is_empty() {
                assert_eq!(min, -1);
            }
            let extra: &[&str] = if list == "hashtags" {
                &["displayName", "shortCode", "namespace"]
            } else {
                &[]
            };
            for item in items {
                check_item(item, extra);
            }
            if nonempty && request["params"][1] == json!(-1) {
                assert!(!items.is_empty(), "{method} finds the swapped-in data");
            }
        }
        "blockchain.keva.get_keyvalue_reactions" => {
            let r = result["result"].as_object().expect("wrapped in result");
            if nonempty {
                for k in [
                    "tx_hash",
                    "replies",
                    "shares",
                    "likes",
                    "type",
                    "displayName",
                    "shortCode",
                    "height",
                    "time",
                ] {
                    assert!(r.contains_key(k), "{k} in {result}");
                }
                for reply in r["replies"].as_array().unwrap() {
                    assert!(reply["sender"]["displayName"].is_string());
                    assert!(reply["sender"]["shortCode"].is_string());
                }
            } else {
                assert!(r.is_empty());
            }
        }
        "blockchain.keva.get_transactions_info" => {
            let asked = request["params"][0].as_array().unwrap();
            let got = result.as_array().expect("array");
            assert_eq!(got.len(), asked.len(), "one entry per txid");
            for e in got {
                if nonempty {
                    for k in ["o", "i", "t", "h", "n", "kv"] {
                        assert!(e.get(k).is_some(), "{k} in {e}");
                    }
                } else {
                    assert_eq!(e, &json!({}));
                }
            }
        }
        "blockchain.scripthash.get_history" => {
            let h = result.as_array().expect("history");
            assert_eq!(h.is_empty(), !nonempty, "{request}");
        }
        "blockchain.transaction.id_from_pos" | "blockchain.transaction.get_merkle" => {
            if nonempty {
                assert!(result.is_string() || result["pos"].is_u64(), "{reply}");
            } else {
                // Height 210 is beyond the stand-in's chain: an error object, not a crash.
                assert!(reply["error"]["code"].is_i64(), "{reply}");
            }
        }
        other => panic!("unexpected method {other}"),
    }
}

#[test]
fn recorded_requests_and_the_short_code_sequence() {
    let mut f = Fixture::new("kevawallet", 12, 5);
    // A namespace with a profile, a tagged post and a reply, on top of the generated chain.
    let (reg, ns) = f.node.keva_namespace("My Namespace").unwrap();
    f.node.mine(1);
    f.node
        .keva_put(&ns, PROFILE_KEY, br#"{"displayName":"Shown Name"}"#)
        .unwrap();
    let post = f
        .node
        .keva_put(&ns, b"key 1029", b"value #Kevacoin 1029")
        .unwrap();
    f.node.mine(1);
    f.node
        .keva_react(&ns, 1, &post, b"nice post", None)
        .unwrap();
    f.node.mine(1);
    f.catch_up();
    let blocks = f.blocks();
    let tip = blocks.len() as u32 - 1;
    let positions = chain_positions(&blocks);
    let (reg_height, reg_pos) = positions[&reg];

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

    // 1. Every recorded line as sent (one connection per file, like the wallets).
    let lines = recorded_lines();
    assert!(lines.len() >= 20, "the recordings hold the keva requests");
    let mut replayed = 0;
    let mut files: Vec<String> = lines.iter().map(|(f, _)| f.clone()).collect();
    files.dedup();
    for file in &files {
        let mut c = Client::connect(addr);
        for (_, line) in lines.iter().filter(|(f, _)| f == file) {
            let request: Value = serde_json::from_str(line).unwrap();
            let reply = c.exchange(line);
            match (&request, &reply) {
                (Value::Array(reqs), Value::Array(reps)) => {
                    assert_eq!(reqs.len(), reps.len());
                    for req in reqs {
                        let rep = reps.iter().find(|r| r["id"] == req["id"]).unwrap();
                        check_reply(req, rep, tip, false);
                    }
                }
                (Value::Object(_), Value::Object(_)) => check_reply(&request, &reply, tip, false),
                _ => panic!("batch shape mismatch: {line} -> {reply}"),
            }
            replayed += 1;
        }
    }
    assert_eq!(replayed, lines.len());

    // 2. The same lines with the recorded objects swapped for ones on this chain.
    let root_sh = lookup_sh(&[ns.as_slice(), PROFILE_KEY].concat());
    let swaps = [
        (
            "6f67f7e6b133431e95d8d4f679b1277fbf7b1537c414dd7cb245b6dfd56adf14",
            sh_hex(&lookup_sh(&ns)),
        ),
        (
            "ec2cd4813ecbdf0200c63473eb83a266463d3f92c0baedd0bda02334b154f9c7",
            sh_hex(&root_sh),
        ),
        (
            "28c9c1b2c63b292318ef5821db3c66a8e0524abbe2cfdac3a801d3afa24819f6",
            sh_hex(&lookup_sh(b"kevacoin")),
        ),
        (
            "d0c7eeed0499d2892c08105ed56f44a6563cd5aa48c19528289a5b8b6c15d188",
            hash_to_hex(&post),
        ),
        (
            "e98c0762842edcab97e2e2e8f2844fdc35c8a78d7dc20a519e7fe7292e402683",
            hash_to_hex(&reg),
        ),
        ("\"210\",\"1\"", format!("\"{reg_height}\",\"{reg_pos}\"")),
        (",210]", format!(",{reg_height}]")),
    ];
    let mut c = Client::connect(addr);
    for (_, line) in &lines {
        // Wallet-address histories are not about keva objects; the rest all are.
        if line.contains("e19f9e648c") {
            continue;
        }
        let mut swapped = line.clone();
        for (from, to) in &swaps {
            swapped = swapped.replace(from, to);
        }
        let request: Value = serde_json::from_str(&swapped).unwrap();
        let reply = c.exchange(&swapped);
        check_reply(&request, &reply, tip, true);
    }

    // 3. Short code -> namespace -> profile, as keva_wallet does it (ids 11-15 of the
    // recording), from the short code a hashtag item shows.
    let tag = c.call(
        100,
        "blockchain.keva.get_hashtag",
        json!([sh_hex(&lookup_sh(b"kevacoin")), -1]),
    );
    let item = tag["hashtags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["tx_hash"] == json!(hash_to_hex(&post)))
        .expect("the post is under #kevacoin")
        .clone();
    let code = item["shortCode"].as_str().unwrap().to_string();
    assert_eq!(
        code,
        format!("{}{reg_height}{reg_pos}", reg_height.to_string().len())
    );
    assert_eq!(item["displayName"], json!("Shown Name"));
    let digits: usize = code[..1].parse().unwrap();
    let (height, pos) = (&code[1..1 + digits], &code[1 + digits..]);
    let txid = c.call(
        101,
        "blockchain.transaction.id_from_pos",
        json!([height, pos, false]),
    );
    assert_eq!(txid, json!(hash_to_hex(&reg)));
    let info = c.call(
        102,
        "blockchain.keva.get_transactions_info",
        json!([[txid], true]),
    );
    let namespace = info[0]["n"][0].as_str().unwrap().to_string();
    assert_eq!(namespace, namespace_to_string(&ns));
    assert_eq!(info[0]["kv"]["op"], json!(208));
    let history = c.call(
        103,
        "blockchain.scripthash.get_history",
        json!([sh_hex(&root_sh)]),
    );
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 2, "registration and profile");
    assert_eq!(history[0]["tx_hash"], json!(hash_to_hex(&reg)));
    let mut name = None;
    for (i, h) in history.iter().enumerate() {
        let info = c.call(
            104 + i as u64,
            "blockchain.keva.get_transactions_info",
            json!([[h["tx_hash"]], true]),
        );
        let kv = &info[0]["kv"];
        let b64 = |v: &Value| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap())
                .unwrap()
        };
        match kv["op"].as_u64().unwrap() {
            208 => name = Some(String::from_utf8(b64(&kv["key"])).unwrap()),
            209 if b64(&kv["key"]) == PROFILE_KEY => {
                let profile: Value = serde_json::from_slice(&b64(&kv["value"])).unwrap();
                name = Some(profile["displayName"].as_str().unwrap().to_string());
            }
            _ => {}
        }
    }
    assert_eq!(name.as_deref(), Some("Shown Name"));
    let merkle = c.call(
        110,
        "blockchain.transaction.get_merkle",
        json!([history[0]["tx_hash"], history[0]["height"]]),
    );
    let h = merkle["block_height"].as_u64().unwrap();
    let again = format!("{}{h}{}", h.to_string().len(), merkle["pos"]);
    assert_eq!(again, code, "the short code round-trips");

    handle.shutdown().expect("server stops");
}
