//! End to end: every client line of the recorded wallet sessions
//! (`tests/vectors/wallet/*.jsonl`) is sent to the real server exactly as the wallet sent it, and
//! every reply must be well formed: a result shaped like the recorded one, or, where the line
//! names a transaction or height the test chain lacks, the error ElectrumX gives for that. Never
//! a dropped connection, a parse error or an invalid-params error.

mod e2e_util;

use std::collections::BTreeSet;

use e2e_util::*;
use serde_json::Value;

/// The recorded session lines of one file: (direction, parsed line, raw line). Long recorded
/// replies are cut at 2,000 characters; those parse as [`truncated`] stand-ins.
fn transcript(path: &std::path::Path) -> Vec<(String, Value, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let o: Value = serde_json::from_str(l).expect("a transcript line is JSON");
            let line = o["line"].as_str().expect("line").to_string();
            let parsed: Value = serde_json::from_str(&line).unwrap_or_else(|_| truncated(&line));
            (o["dir"].as_str().unwrap().to_string(), parsed, line)
        })
        .collect()
}

/// What can be read from a recorded reply cut short: its id and the first key of an object
/// result, as `{"id": …, "truncated_result_key": "…"}`.
fn truncated(line: &str) -> Value {
    let id = line
        .split_once("\"id\":")
        .and_then(|(_, rest)| rest.split(',').next())
        .and_then(|v| serde_json::from_str::<Value>(v).ok())
        .unwrap_or(Value::Null);
    let key = line
        .split_once("\"result\":{\"")
        .and_then(|(_, rest)| rest.split('"').next())
        .unwrap_or("");
    serde_json::json!({"id": id, "truncated_result_key": key})
}

/// True when `ours` has the JSON shape of `reference`: same types, same object keys, and the
/// first elements of non-empty arrays alike.
fn same_shape(ours: &Value, reference: &Value, path: &str) -> Result<(), String> {
    match (ours, reference) {
        (Value::Object(a), Value::Object(b)) => {
            let ka: BTreeSet<&String> = a.keys().collect();
            let kb: BTreeSet<&String> = b.keys().collect();
            if ka != kb {
                return Err(format!("{path}: keys {ka:?} != reference {kb:?}"));
            }
            for (k, v) in a {
                same_shape(v, &b[k], &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(a), Value::Array(b)) => match (a.first(), b.first()) {
            (Some(x), Some(y)) => same_shape(x, y, &format!("{path}[0]")),
            _ => Ok(()),
        },
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Null, Value::Null) => Ok(()),
        _ => Err(format!("{path}: {ours} is not shaped like {reference}")),
    }
}

/// Whether the request names a transaction or a block height the test chain does not have.
fn names_missing_data(url: &str, height: u64, request: &Value) -> bool {
    let params = request["params"].as_array().cloned().unwrap_or_default();
    let method = request["method"].as_str().unwrap_or("");
    let missing_tx = |v: &Value| {
        v.as_str().is_some_and(|s| {
            s.len() == 64 && node_rpc(url, "getrawtransaction", serde_json::json!([s])).is_err()
        })
    };
    let missing_height = |v: &Value| {
        let h = match v {
            Value::String(s) => s.parse::<u64>().ok(),
            other => other.as_u64(),
        };
        h.is_some_and(|h| h > height)
    };
    match method {
        "blockchain.transaction.get" => params.first().is_some_and(missing_tx),
        "blockchain.transaction.get_merkle" => {
            params.first().is_some_and(missing_tx) || params.get(1).is_some_and(missing_height)
        }
        "blockchain.transaction.id_from_pos" => params.first().is_some_and(missing_height),
        _ => false,
    }
}

/// What the keva methods must answer when every transaction the line names is absent from the
/// test chain; `None` when the line names one the chain has.
fn keva_answer_for_missing(url: &str, request: &Value) -> Option<Value> {
    let params = request["params"].as_array()?;
    let absent = |v: &Value| {
        v.as_str().is_some_and(|s| {
            s.len() == 64 && node_rpc(url, "getrawtransaction", serde_json::json!([s])).is_err()
        })
    };
    match request["method"].as_str()? {
        "blockchain.keva.get_keyvalue_reactions" if params.first().is_some_and(absent) => {
            Some(serde_json::json!({"result": {}}))
        }
        "blockchain.keva.get_transactions_info" => {
            let txs = params.first()?.as_array()?;
            txs.iter()
                .all(absent)
                .then(|| Value::Array(txs.iter().map(|_| serde_json::json!({})).collect()))
        }
        _ => None,
    }
}

/// The recorded reply to `id` after position `from`.
fn recorded_reply(lines: &[(String, Value, String)], from: usize, id: &Value) -> Option<Value> {
    lines[from..].iter().find_map(|(dir, v, _)| {
        if dir != "s2c" {
            return None;
        }
        match v {
            Value::Array(items) => items.iter().find(|i| &i["id"] == id).cloned(),
            single if &single["id"] == id => Some(single.clone()),
            _ => None,
        }
    })
}

/// Checks one reply item against the request and the recorded reply.
fn check_item(
    file: &str,
    url: &str,
    height: u64,
    request: &Value,
    ours: &Value,
    reference: Option<&Value>,
) -> Result<(), String> {
    let method = request["method"].as_str().unwrap_or("");
    let context = format!("{file}: {request} -> {ours}");
    if ours["id"] != request["id"] {
        return Err(format!("{context}: id not echoed exactly"));
    }
    if ours["jsonrpc"] != "2.0" {
        return Err(format!("{context}: no \"jsonrpc\": \"2.0\""));
    }
    if let Some(error) = ours.get("error") {
        let code = error["code"].as_i64().unwrap_or(0);
        if code == -32700 || code == -32602 {
            return Err(format!("{context}: parse or invalid-params error"));
        }
        if names_missing_data(url, height, request) {
            // ElectrumX: the node's error (code 2) for an unknown transaction, code 1 for a
            // height or position that does not exist.
            let expected: &[i64] = match method {
                "blockchain.transaction.get" => &[2],
                "blockchain.transaction.get_merkle" | "blockchain.transaction.id_from_pos" => &[1],
                _ => &[1, 2],
            };
            return if expected.contains(&code) {
                Ok(())
            } else {
                Err(format!("{context}: expected error code {expected:?}"))
            };
        }
        return Err(format!(
            "{context}: an error where the reference has a result"
        ));
    }
    if let Some(unknown) = keva_answer_for_missing(url, request) {
        // The reference answers `{}` for a transaction it does not know (per entry in
        // get_transactions_info, wrapped in `{"result": …}` in get_keyvalue_reactions).
        return if ours["result"] == unknown {
            Ok(())
        } else {
            Err(format!(
                "{context}: expected {unknown} for transactions the chain lacks"
            ))
        };
    }
    if let Some(key) = reference.and_then(|r| r["truncated_result_key"].as_str()) {
        return if ours["result"].get(key).is_some() {
            Ok(())
        } else {
            Err(format!(
                "{context}: the result lacks the recorded key {key:?}"
            ))
        };
    }
    match reference.and_then(|r| r.get("result")) {
        Some(expected) => {
            same_shape(&ours["result"], expected, "result").map_err(|e| format!("{context}: {e}"))
        }
        None => Err(format!("{context}: no recorded reply to compare with")),
    }
}

#[test]
fn every_recorded_wallet_line_gets_a_well_formed_reply() {
    // Heights up to 300 so the recorded `id_from_pos 210` and `get_merkle … 210` lines resolve.
    let (_node, url) = start_devnode_binary(300, "busy", 31);
    let height = node_rpc(&url, "getblockcount", serde_json::json!([]))
        .unwrap()
        .as_u64()
        .unwrap();
    let server = start_server(&url, ServerOpts::default());
    let dir = vectors_dir().join("wallet");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "the wallet vectors are missing in {}",
        dir.display()
    );

    let mut failures = Vec::new();
    let mut sent = 0;
    for path in &files {
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let lines = transcript(path);
        let mut client: Option<TcpClient> = None;
        for (i, (dir, request, raw)) in lines.iter().enumerate() {
            if dir != "c2s" {
                continue;
            }
            // A wallet opens a new session for each `server.version` (its second socket).
            if request["method"] == "server.version" || client.is_none() {
                client = Some(tcp(server.tcp));
            }
            let c = client.as_mut().unwrap();
            c.send_raw(format!("{raw}\n").as_bytes());
            sent += 1;
            let reply = match c.read_within(std::time::Duration::from_secs(20)) {
                Read1::Line(v) => v,
                Read1::Timeout => {
                    failures.push(format!("{file}: no reply to {raw}"));
                    client = None;
                    continue;
                }
                Read1::Closed => {
                    failures.push(format!("{file}: connection dropped after {raw}"));
                    client = None;
                    continue;
                }
            };
            match (request, &reply) {
                (Value::Array(reqs), Value::Array(items)) => {
                    let want: BTreeSet<String> = reqs.iter().map(|r| r["id"].to_string()).collect();
                    let got: BTreeSet<String> = items.iter().map(|r| r["id"].to_string()).collect();
                    if want != got {
                        failures.push(format!("{file}: batch ids {got:?} != {want:?}"));
                    }
                    for r in reqs {
                        let Some(item) = items.iter().find(|x| x["id"] == r["id"]) else {
                            continue;
                        };
                        let reference = recorded_reply(&lines, i, &r["id"]);
                        if let Err(e) = check_item(&file, &url, height, r, item, reference.as_ref())
                        {
                            failures.push(e);
                        }
                    }
                }
                (Value::Array(_), other) => {
                    failures.push(format!("{file}: a batch answered by {other}"));
                }
                (single, _) => {
                    let reference = recorded_reply(&lines, i, &single["id"]);
                    if let Err(e) =
                        check_item(&file, &url, height, single, &reply, reference.as_ref())
                    {
                        failures.push(e);
                    }
                }
            }
        }
    }
    assert!(sent >= 60, "only {sent} lines sent");
    assert!(
        failures.is_empty(),
        "{} of {sent} lines failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
