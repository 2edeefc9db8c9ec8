//! End to end: subscriptions against the `keva-devnode` binary driven through its `dev_*` RPCs:
//! notifications after a payment enters the mempool, after a block, after a reorg; unsubscribe.

mod e2e_util;

use std::time::Duration;

use e2e_util::*;
use keva_electrum::chain::address::script_to_address;
use keva_electrum::chain::Network;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(5);

fn header_hex(url: &str, height: u64) -> Value {
    let hash = node_rpc(url, "getblockhash", json!([height])).unwrap();
    node_rpc(url, "getblockheader", json!([hash, false])).unwrap()
}

/// An address outside the node's wallet (so the wallet never spends what it receives).
fn new_address(label: &str) -> (String, String) {
    let script = test_script(label);
    let addr = script_to_address(&script, Network::Regtest).unwrap();
    (addr, sh_hex(&script))
}

#[test]
fn notifications_after_mempool_blocks_and_reorgs() {
    let (_node, url) = start_devnode_binary(50, "busy", 21);
    let server = start_server(&url, ServerOpts::default());
    let mut c = tcp(server.tcp);
    let mut headers_only = tcp(server.tcp);
    let mut idle = tcp(server.tcp);
    c.result("server.version", json!(["e2e", "1.4.2"]));
    idle.result("server.ping", json!([]));

    let tip = c.result("blockchain.headers.subscribe", json!([]));
    let h0 = tip["height"].as_u64().unwrap();
    assert_eq!(h0, 50);
    assert_eq!(tip["hex"], header_hex(&url, h0));
    headers_only.result("blockchain.headers.subscribe", json!([]));

    let (addr, sh) = new_address("notify one");
    assert_eq!(
        c.result("blockchain.scripthash.subscribe", json!([sh])),
        Value::Null
    );
    // The same script subscribed in upper case: notifications echo the client's string.
    let (addr2, sh2) = new_address("notify two");
    let sh2_upper = sh2.to_uppercase();
    assert_eq!(
        c.result("blockchain.scripthash.subscribe", json!([sh2_upper])),
        Value::Null
    );

    // A payment in the mempool: one notification with the mempool status.
    let txid = node_rpc(&url, "dev_pay", json!([addr, 150_000_000]))
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    let note = c
        .notification("blockchain.scripthash.subscribe", WAIT, |p| p[0] == sh)
        .expect("a notification after the payment entered the mempool");
    let history = c.result("blockchain.scripthash.get_history", json!([sh]));
    assert_eq!(history.as_array().unwrap().len(), 1);
    assert_eq!(history[0]["tx_hash"], txid);
    assert_eq!(history[0]["height"], 0);
    assert!(history[0]["fee"].as_u64().unwrap() > 0);
    assert_eq!(note[1], status_of(&history));

    let txid2 = node_rpc(&url, "dev_pay", json!([addr2, 2_000_000]))
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    let note2 = c
        .notification("blockchain.scripthash.subscribe", WAIT, |p| {
            p[0] == sh2_upper
        })
        .expect("a notification carrying the upper-case scripthash");
    let history2 = c.result("blockchain.scripthash.get_history", json!([sh2]));
    assert_eq!(history2[0]["tx_hash"], txid2);
    assert_eq!(note2[1], status_of(&history2));

    // A block: the header first, then the new (confirmed) status.
    node_rpc(&url, "dev_mine", json!([1])).unwrap();
    let mut messages = c.drain(Duration::from_millis(100));
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline
        && !messages.iter().any(|m| {
            m["method"] == "blockchain.scripthash.subscribe" && m["params"][0] == sh2_upper
        })
    {
        messages.extend(c.drain(Duration::from_millis(200)));
    }
    let header_at = messages
        .iter()
        .position(|m| m["method"] == "blockchain.headers.subscribe")
        .expect("a header notification after the block");
    assert_eq!(
        messages[header_at]["params"][0],
        json!({"height": h0 + 1, "hex": header_hex(&url, h0 + 1)})
    );
    let sh_at = messages
        .iter()
        .position(|m| m["params"][0] == sh)
        .expect("a status notification after the block");
    assert!(header_at < sh_at, "the header comes first: {messages:?}");
    let confirmed = json!([{"tx_hash": txid, "height": h0 + 1}]);
    assert_eq!(
        c.result("blockchain.scripthash.get_history", json!([sh])),
        confirmed
    );
    assert_eq!(messages[sh_at]["params"][1], status_of(&confirmed));
    let sh_notes = messages.iter().filter(|m| m["params"][0] == sh).count();
    assert_eq!(sh_notes, 1, "the status changes exactly once: {messages:?}");
    let h = headers_only
        .notification("blockchain.headers.subscribe", WAIT, |_| true)
        .expect("the headers-only session is told too");
    assert_eq!(h[0]["height"], h0 + 1);

    // Several blocks at once: the last notified tip is the node's tip, never one twice.
    node_rpc(&url, "dev_mine", json!([3])).unwrap();
    let tip_height = h0 + 4;
    let mut heights = Vec::new();
    while heights.last() != Some(&tip_height) {
        let n = headers_only
            .notification("blockchain.headers.subscribe", WAIT, |_| true)
            .expect("header notifications up to the new tip");
        heights.push(n[0]["height"].as_u64().unwrap());
    }
    let mut dedup = heights.clone();
    dedup.dedup();
    assert_eq!(dedup, heights, "a tip notified twice: {heights:?}");

    // A reorg that drops the payment's block without returning it to the mempool.
    node_rpc(&url, "dev_reorg", json!([4, 5, false])).unwrap();
    let note = c
        .notification("blockchain.scripthash.subscribe", WAIT, |p| p[0] == sh)
        .expect("a notification after the reorg removed the payment");
    assert_eq!(note[1], Value::Null);
    assert_eq!(
        c.result("blockchain.scripthash.get_history", json!([sh])),
        json!([])
    );
    let mut last = Value::Null;
    while last["height"] != h0 + 5 {
        last = c
            .notification("blockchain.headers.subscribe", WAIT, |_| true)
            .expect("a header notification for the reorg's new tip")[0]
            .clone();
    }
    assert_eq!(last["hex"], header_hex(&url, h0 + 5));
    assert_eq!(
        c.result("blockchain.headers.subscribe", json!([])),
        json!({"height": h0 + 5, "hex": header_hex(&url, h0 + 5)})
    );

    // Unsubscribed: a new payment to the address brings nothing.
    assert_eq!(
        c.result("blockchain.scripthash.unsubscribe", json!([sh])),
        true
    );
    node_rpc(&url, "dev_pay", json!([addr, 3_000_000])).unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let late = c.drain(Duration::from_millis(500));
    assert!(
        late.iter().all(|m| m["params"][0] != sh),
        "notified after unsubscribe: {late:?}"
    );
    // A session that subscribed to nothing never hears anything.
    let heard = idle.drain(Duration::from_millis(200));
    assert!(heard.is_empty(), "{heard:?}");
}
