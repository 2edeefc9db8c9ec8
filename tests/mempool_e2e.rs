//! End to end, the mempool: the real server polling the stand-in node (in-process, over real
//! HTTP) every 200 ms. Payments appear unconfirmed on both sides with their fee, subscribers are
//! told, mining confirms them with exactly one status change, chains of unconfirmed
//! transactions resolve, dropped and replaced transactions disappear, and the fee histogram
//! has ElectrumX's shape.

mod e2e_util;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e_util::*;
use keva_electrum::chain::hash::to_hex;
use keva_electrum::chain::script::op_return_script;
use keva_electrum::chain::{Hash32, OutPoint, Transaction, TxIn, TxOut};
use keva_electrum::devnode::{DevNode, DevNodeConfig};
use serde_json::{json, Value};

const SOON: Duration = Duration::from_secs(2);
const COIN: u64 = 100_000_000;

fn node(seed: u64) -> DevNode {
    DevNode::start(DevNodeConfig {
        blocks: 110,
        seed,
        ..DevNodeConfig::default()
    })
    .expect("the stand-in starts")
}

/// Pays `value` to `script` from the node's wallet into its mempool; the payment is output 0.
fn fund(node: &DevNode, script: &[u8], value: u64) -> OutPoint {
    let txid = node.pay(script, value).expect("the wallet pays");
    OutPoint { txid, vout: 0 }
}

/// A transaction spending `inputs` (scripts are not checked by the stand-in or the index).
fn spend(inputs: &[OutPoint], outputs: Vec<(Vec<u8>, u64)>) -> Transaction {
    Transaction {
        version: 2,
        inputs: inputs
            .iter()
            .map(|prevout| TxIn {
                prevout: *prevout,
                script_sig: vec![0x51],
                sequence: 0xffff_ffff,
                witness: Vec::new(),
            })
            .collect(),
        outputs: outputs
            .into_iter()
            .map(|(script_pubkey, value)| TxOut {
                value,
                script_pubkey,
            })
            .collect(),
        lock_time: 0,
    }
}

fn wait_height(c: &mut TcpClient, height: u32) {
    eventually(
        Duration::from_secs(10),
        "the server reaches the tip",
        || (c.result("blockchain.block.count", json!([])) == height).then_some(()),
    );
}

fn history(c: &mut TcpClient, sh: &str) -> Value {
    c.result("blockchain.scripthash.get_history", json!([sh]))
}

/// Polls `get_history` until it equals `want`; returns how long that took.
fn until_history(c: &mut TcpClient, sh: &str, want: &Value, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let got = history(c, sh);
        if &got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "history of {sh} is {got}, not {want} after {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn txid_hex(txid: &Hash32) -> String {
    hex(txid)
}

#[test]
fn payment_unconfirmed_on_both_sides_then_confirmed_once() {
    let node = node(51);
    let server = start_server(&node.url(), ServerOpts::default());
    let mut c = tcp(server.tcp);
    let mut sub = tcp(server.tcp);

    let sender = test_script("mempool sender");
    let receiver = test_script("mempool receiver");
    let (s_sh, r_sh) = (sh_hex(&sender), sh_hex(&receiver));
    let coin = fund(&node, &sender, 5 * COIN);
    node.mine(1);
    let funded_at = node.height();
    wait_height(&mut c, funded_at);
    let funding = json!({"tx_hash": txid_hex(&coin.txid), "height": funded_at});
    until_history(&mut c, &s_sh, &json!([funding]), SOON);

    assert_eq!(
        sub.result("blockchain.scripthash.subscribe", json!([r_sh])),
        Value::Null
    );
    let s_status = sub.result("blockchain.scripthash.subscribe", json!([s_sh]));
    assert_eq!(s_status, status_of(&json!([funding])));

    // A watcher reads the receiver's history all along: never a duplicate, never a gap.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        let addr = server.tcp;
        let r_sh = r_sh.clone();
        std::thread::spawn(move || {
            let mut w = tcp(addr);
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                seen.push(history(&mut w, &r_sh));
            }
            seen
        })
    };

    // The payment: 1 KVA to the receiver, 3.9999 KVA change, a fee of 10,000 satoshis.
    let change = 5 * COIN - COIN - 10_000;
    let tx = spend(
        &[coin],
        vec![(receiver.clone(), COIN), (sender.clone(), change)],
    );
    let t = txid_hex(&tx.txid());
    let sent = Instant::now();
    let answer = c.result(
        "blockchain.transaction.broadcast",
        json!([to_hex(&tx.serialize())]),
    );
    assert_eq!(answer, t);
    let unconfirmed = json!({"tx_hash": t, "height": 0, "fee": 10_000});
    let took = until_history(&mut c, &r_sh, &json!([unconfirmed]), SOON);
    eprintln!("payment visible after {took:?}");
    assert_eq!(history(&mut c, &s_sh), json!([funding, unconfirmed]));
    assert_eq!(
        c.result("blockchain.scripthash.get_mempool", json!([r_sh])),
        json!([unconfirmed])
    );
    assert_eq!(
        c.result("blockchain.scripthash.get_balance", json!([r_sh])),
        json!({"confirmed": 0, "unconfirmed": COIN})
    );
    assert_eq!(
        c.result("blockchain.scripthash.get_balance", json!([s_sh])),
        json!({"confirmed": 5 * COIN, "unconfirmed": change as i64 - (5 * COIN) as i64})
    );
    assert_eq!(
        c.result("blockchain.scripthash.listunspent", json!([r_sh])),
        json!([{"tx_hash": t, "tx_pos": 0, "height": 0, "value": COIN}])
    );
    assert_eq!(
        c.result("blockchain.scripthash.listunspent", json!([s_sh])),
        json!([{"tx_hash": t, "tx_pos": 1, "height": 0, "value": change}])
    );
    // The subscriber hears about both sides.
    for (sh, want) in [
        (&r_sh, json!([unconfirmed])),
        (&s_sh, json!([funding, unconfirmed])),
    ] {
        let left = (sent + SOON).saturating_duration_since(Instant::now());
        let note = sub
            .notification("blockchain.scripthash.subscribe", left, |p| &p[0] == sh)
            .unwrap_or_else(|| panic!("no notification for {sh} within 2 s of the broadcast"));
        assert_eq!(note[1], status_of(&want));
    }

    // Mined: confirmed, and each status changes exactly once.
    node.mine(1);
    let mined_at = node.height();
    let confirmed = json!({"tx_hash": t, "height": mined_at});
    until_history(&mut c, &r_sh, &json!([confirmed]), SOON);
    let messages = sub.drain(Duration::from_millis(1500));
    for (sh, want) in [
        (&r_sh, json!([confirmed])),
        (&s_sh, json!([funding, confirmed])),
    ] {
        let notes: Vec<&Value> = messages
            .iter()
            .filter(|m| m["method"] == "blockchain.scripthash.subscribe" && &m["params"][0] == sh)
            .collect();
        assert_eq!(
            notes.len(),
            1,
            "status of {sh} changed {} times: {notes:?}",
            notes.len()
        );
        assert_eq!(notes[0]["params"][1], status_of(&want));
    }
    assert_eq!(
        c.result("blockchain.scripthash.get_mempool", json!([r_sh])),
        json!([])
    );
    assert_eq!(
        c.result("blockchain.scripthash.get_balance", json!([s_sh])),
        json!({"confirmed": change, "unconfirmed": 0})
    );
    stop.store(true, Ordering::Relaxed);
    let seen = watcher.join().unwrap();
    let mut phase = 0;
    for h in &seen {
        let now = if h == &json!([]) {
            0
        } else if h == &json!([unconfirmed]) {
            1
        } else if h == &json!([confirmed]) {
            2
        } else {
            panic!("an inconsistent history during the block: {h}");
        };
        assert!(now >= phase, "the history went back from {phase} to {now}");
        phase = now;
    }
    assert_eq!(phase, 2);
    eprintln!("{} histories read during the payment", seen.len());
}

#[test]
fn chain_of_three_unconfirmed_resolves() {
    let node = node(52);
    let server = start_server(&node.url(), ServerOpts::default());
    let mut c = tcp(server.tcp);
    let owner = test_script("chain owner");
    let payee = test_script("chain payee");
    let (o_sh, p_sh) = (sh_hex(&owner), sh_hex(&payee));
    let value = 2 * COIN;
    let coin = fund(&node, &owner, value);
    node.mine(1);
    let funded_at = node.height();
    wait_height(&mut c, funded_at);

    let a = spend(&[coin], vec![(owner.clone(), value - 1_000)]);
    let b = spend(
        &[OutPoint {
            txid: a.txid(),
            vout: 0,
        }],
        vec![(owner.clone(), value - 3_000)],
    );
    let d = spend(
        &[OutPoint {
            txid: b.txid(),
            vout: 0,
        }],
        vec![(payee.clone(), value - 6_000)],
    );
    // All three reach the node between two polls.
    node.with_state(|s| {
        for tx in [&a, &b, &d] {
            s.submit(tx.clone()).expect("the node accepts the chain");
        }
    });
    let entry = |tx: &Transaction, height: i64, fee: u64| json!({"tx_hash": txid_hex(&tx.txid()), "height": height, "fee": fee});
    let mut unconfirmed = [entry(&b, -1, 2_000), entry(&d, -1, 3_000)];
    unconfirmed.sort_by_key(|e| e["tx_hash"].as_str().unwrap().to_string());
    let want_owner = json!([
        {"tx_hash": txid_hex(&coin.txid), "height": funded_at},
        entry(&a, 0, 1_000),
        unconfirmed[0],
        unconfirmed[1],
    ]);
    until_history(&mut c, &o_sh, &want_owner, SOON);
    assert_eq!(history(&mut c, &p_sh), json!([entry(&d, -1, 3_000)]));
    assert_eq!(
        c.result("blockchain.scripthash.get_balance", json!([o_sh])),
        json!({"confirmed": value, "unconfirmed": -(value as i64)})
    );
    assert_eq!(
        c.result("blockchain.scripthash.listunspent", json!([o_sh])),
        json!([])
    );
    // listunspent shows mempool outputs at height 0 even when their inputs are unconfirmed.
    assert_eq!(
        c.result("blockchain.scripthash.listunspent", json!([p_sh])),
        json!([{"tx_hash": txid_hex(&d.txid()), "tx_pos": 0, "height": 0, "value": value - 6_000}])
    );

    // Only the first two are mined: the third's parent is now confirmed, so its height is 0.
    node.with_state(|s| s.mine_txs(None, &[a.txid(), b.txid()]));
    let h = node.height();
    until_history(&mut c, &p_sh, &json!([entry(&d, 0, 3_000)]), SOON);
    assert_eq!(
        history(&mut c, &o_sh),
        json!([
            {"tx_hash": txid_hex(&coin.txid), "height": funded_at},
            {"tx_hash": txid_hex(&a.txid()), "height": h},
            {"tx_hash": txid_hex(&b.txid()), "height": h},
            entry(&d, 0, 3_000),
        ])
    );
    node.mine(1);
    until_history(
        &mut c,
        &p_sh,
        &json!([{"tx_hash": txid_hex(&d.txid()), "height": h + 1}]),
        SOON,
    );
}

#[test]
fn dropped_and_replaced_transactions_disappear() {
    let node = node(53);
    let server = start_server(&node.url(), ServerOpts::default());
    let mut c = tcp(server.tcp);
    let mut sub = tcp(server.tcp);
    let owner = test_script("replace owner");
    let first_payee = test_script("replace first");
    let second_payee = test_script("replace second");
    let (o_sh, f_sh, s_sh) = (sh_hex(&owner), sh_hex(&first_payee), sh_hex(&second_payee));
    let coin = fund(&node, &owner, COIN);
    let coin2 = fund(&node, &owner, COIN);
    node.mine(1);
    let funded_at = node.height();
    wait_height(&mut c, funded_at);
    sub.result("blockchain.scripthash.subscribe", json!([f_sh]));

    // Dropped from the node's mempool: gone from every answer, and the subscriber is told.
    let t1 = spend(&[coin], vec![(first_payee.clone(), COIN - 1_000)]);
    node.submit(t1.clone()).unwrap();
    let t1_entry = json!({"tx_hash": txid_hex(&t1.txid()), "height": 0, "fee": 1_000});
    until_history(&mut c, &f_sh, &json!([t1_entry]), SOON);
    sub.notification("blockchain.scripthash.subscribe", SOON, |p| p[0] == f_sh)
        .expect("notified of the payment");
    assert_eq!(node.drop_mempool(Some(&[t1.txid()])), vec![t1.txid()]);
    until_history(&mut c, &f_sh, &json!([]), SOON);
    let note = sub
        .notification("blockchain.scripthash.subscribe", SOON, |p| p[0] == f_sh)
        .expect("notified of the drop");
    assert_eq!(note[1], Value::Null);
    assert_eq!(
        c.result("blockchain.scripthash.get_balance", json!([f_sh])),
        json!({"confirmed": 0, "unconfirmed": 0})
    );

    // Replaced in the mempool by a double spend: the first payee loses it, the second gets it.
    node.submit(t1.clone()).unwrap();
    until_history(&mut c, &f_sh, &json!([t1_entry]), SOON);
    let t2 = spend(&[coin], vec![(second_payee.clone(), COIN - 5_000)]);
    node.with_state(|s| {
        s.drop_mempool(Some(&[t1.txid()]));
        s.submit(t2.clone()).expect("the replacement is accepted");
    });
    let t2_entry = json!({"tx_hash": txid_hex(&t2.txid()), "height": 0, "fee": 5_000});
    until_history(&mut c, &s_sh, &json!([t2_entry]), SOON);
    assert_eq!(history(&mut c, &f_sh), json!([]));
    let owner_history = history(&mut c, &o_sh);
    let hashes: Vec<&str> = owner_history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["tx_hash"].as_str().unwrap())
        .collect();
    assert!(hashes.contains(&txid_hex(&t2.txid()).as_str()));
    assert!(!hashes.contains(&txid_hex(&t1.txid()).as_str()));

    // Replaced by a block: a conflicting spend mined before the server polls again.
    let t3 = spend(&[coin2], vec![(first_payee.clone(), COIN - 2_000)]);
    node.submit(t3.clone()).unwrap();
    let t3_entry = json!({"tx_hash": txid_hex(&t3.txid()), "height": 0, "fee": 2_000});
    until_history(&mut c, &f_sh, &json!([t3_entry]), SOON);
    let t4 = spend(&[coin2], vec![(second_payee.clone(), COIN - 3_000)]);
    node.with_state(|s| {
        s.drop_mempool(Some(&[t3.txid()]));
        s.submit(t4.clone())
            .expect("the conflicting spend is accepted");
        s.mine_txs(None, &[t4.txid()]);
    });
    let h = node.height();
    wait_height(&mut c, h);
    assert_eq!(history(&mut c, &f_sh), json!([]));
    let second = history(&mut c, &s_sh);
    assert!(
        second
            .as_array()
            .unwrap()
            .contains(&json!({"tx_hash": txid_hex(&t4.txid()), "height": h})),
        "{second}"
    );
    assert_eq!(
        c.result("blockchain.scripthash.listunspent", json!([o_sh])),
        json!([])
    );
}

/// ElectrumX 1.16's compact histogram, written from the protocol reference for comparison.
fn reference_histogram(entries: &[(u64, u64)]) -> Vec<(f64, u64)> {
    let mut by_rate: std::collections::BTreeMap<u64, u64> = Default::default();
    for (fee, vsize) in entries {
        *by_rate.entry(10 * fee / vsize).or_default() += vsize;
    }
    let mut out = Vec::new();
    let (mut bin_size, mut cum, mut r) = (100_000.0f64, 0u64, 0f64);
    for (rate10, size) in by_rate.iter().rev() {
        cum += size;
        if cum as f64 + r > bin_size {
            out.push((*rate10 as f64 / 10.0, cum));
            r += cum as f64 - bin_size;
            cum = 0;
            bin_size *= 1.1;
        }
    }
    out
}

#[test]
fn fee_histogram_has_electrumx_shape() {
    let node = node(54);
    let server = start_server(&node.url(), ServerOpts::default());
    let mut c = tcp(server.tcp);
    assert_eq!(c.result("mempool.get_fee_histogram", json!([])), json!([]));
    let owner = test_script("histogram owner");
    let n = 1200usize;
    // One transaction with `n` outputs, mined; then `n` spends at varied fee rates.
    let funding = node
        .with_state(|s| {
            let outputs = (0..n)
                .map(|_| TxOut {
                    value: 1_000_000,
                    script_pubkey: owner.clone(),
                })
                .collect();
            let built = s.wallet.pay(outputs)?;
            s.submit(built.tx.clone()).map_err(|r| r.message)?;
            Ok::<_, String>(built.txid)
        })
        .expect("the wallet funds the spends");
    node.mine(1);
    wait_height(&mut c, node.height());
    let mut entries = Vec::new();
    let txs: Vec<Transaction> = (0..n)
        .map(|i| {
            let pad = op_return_script(&[i as u8; 200]);
            let probe = spend(
                &[OutPoint {
                    txid: funding,
                    vout: i as u32,
                }],
                vec![(owner.clone(), 0), (pad.clone(), 0)],
            );
            let vsize = probe.vsize() as u64;
            let fee = vsize * (1 + (i as u64 * 7) % 40) + (i as u64 % 3);
            entries.push((fee, vsize));
            spend(
                &[OutPoint {
                    txid: funding,
                    vout: i as u32,
                }],
                vec![(owner.clone(), 1_000_000 - fee), (pad, 0)],
            )
        })
        .collect();
    node.with_state(|s| {
        for tx in &txs {
            s.submit(tx.clone()).expect("accepted");
        }
    });
    let total: u64 = entries.iter().map(|e| e.1).sum();
    assert!(total > 250_000, "{total} vbytes is too small for two bins");
    let want = reference_histogram(&entries);
    assert!(want.len() >= 2);
    let got = eventually(Duration::from_secs(10), "the histogram fills", || {
        let h = c.result("mempool.get_fee_histogram", json!([]));
        (h.as_array().unwrap().len() == want.len()).then_some(h)
    });
    let got: Vec<(f64, u64)> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_f64().unwrap(), p[1].as_u64().unwrap()))
        .collect();
    for pair in got.windows(2) {
        assert!(
            pair[0].0 > pair[1].0,
            "rates must strictly descend: {got:?}"
        );
    }
    assert_eq!(got, want, "the compact histogram differs from ElectrumX's");
    assert!(got.iter().map(|p| p.1).sum::<u64>() <= total);
}
