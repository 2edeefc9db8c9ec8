//! Unconfirmed transactions in the scripthash methods, checked against the stand-in's own
//! mempool records; a block mined while the mempool snapshot is stale never lists a
//! transaction twice; checkpoint proofs across cached segments survive a reorg.

mod electrum_util;

use std::collections::{HashMap, HashSet};

use electrum_util::*;
use keva_electrum::chain::hash::{hash_to_hex, sha256d};
use keva_electrum::chain::merkle::merkle_root;
use keva_electrum::chain::{Hash32, OutPoint};
use keva_electrum::devnode::state::MempoolEntry;
use keva_electrum::devnode::{AddrKind, Shape, Truth};
use serde_json::{json, Value};

/// What every touched scripthash should answer, folded from the stand-in's records.
struct Expected {
    /// scripthash -> mempool entries (txid, height, fee) in Electrum order.
    mempool: HashMap<Hash32, Vec<(Hash32, i64, u64)>>,
    /// scripthash -> unconfirmed balance change.
    delta: HashMap<Hash32, i64>,
    /// scripthash -> unspent mempool outputs (txid, vout, value).
    outputs: HashMap<Hash32, Vec<(Hash32, u32, u64)>>,
    /// Outpoints spent by mempool transactions.
    spent: HashSet<OutPoint>,
}

fn expected(truth: &Truth, entries: &[MempoolEntry]) -> Expected {
    let in_pool: HashSet<Hash32> = entries.iter().map(|e| e.meta.txid).collect();
    let mut prevouts: HashMap<OutPoint, (Hash32, u64)> = HashMap::new();
    for (sh, utxos) in &truth.utxos {
        for u in utxos {
            prevouts.insert(u.outpoint, (*sh, u.value));
        }
    }
    for e in entries {
        for (vout, o) in e.meta.outputs.iter().enumerate() {
            if let Some(sh) = o.scripthash {
                let op = OutPoint {
                    txid: e.meta.txid,
                    vout: vout as u32,
                };
                prevouts.insert(op, (sh, o.value));
            }
        }
    }
    let spent: HashSet<OutPoint> = entries.iter().flat_map(|e| e.meta.inputs.clone()).collect();
    let mut out = Expected {
        mempool: HashMap::new(),
        delta: HashMap::new(),
        outputs: HashMap::new(),
        spent: spent.clone(),
    };
    for e in entries {
        let m = &e.meta;
        let height = if m.inputs.iter().any(|i| in_pool.contains(&i.txid)) {
            -1
        } else {
            0
        };
        let mut touched: HashSet<Hash32> = HashSet::new();
        for (vout, o) in m.outputs.iter().enumerate() {
            if let Some(sh) = o.scripthash {
                touched.insert(sh);
                *out.delta.entry(sh).or_default() += o.value as i64;
                let op = OutPoint {
                    txid: m.txid,
                    vout: vout as u32,
                };
                if !spent.contains(&op) {
                    out.outputs
                        .entry(sh)
                        .or_default()
                        .push((m.txid, vout as u32, o.value));
                }
            }
        }
        for i in &m.inputs {
            let (sh, value) = prevouts[i];
            touched.insert(sh);
            *out.delta.entry(sh).or_default() -= value as i64;
        }
        if let Some(k) = &m.keva {
            touched.extend(k.index_keys.iter().map(|x| Truth::index_scripthash(x)));
        }
        for sh in touched {
            out.mempool
                .entry(sh)
                .or_default()
                .push((m.txid, height, e.fee));
        }
    }
    for list in out.mempool.values_mut() {
        list.sort_by(|a, b| {
            b.1.cmp(&a.1)
                .then(hash_to_hex(&a.0).cmp(&hash_to_hex(&b.0)))
        });
    }
    out
}

fn mempool_json(list: &[(Hash32, i64, u64)]) -> Vec<Value> {
    list.iter()
        .map(|(t, h, fee)| json!({"tx_hash": hash_to_hex(t), "height": h, "fee": fee}))
        .collect()
}

#[test]
fn unconfirmed_history_balance_and_utxos() {
    let mut f = Fixture::new("mempool", 30, 21);
    let (a, _) = f.node.new_address(AddrKind::P2pkh);
    let (b, _) = f.node.new_address(AddrKind::P2wpkh);
    f.node.pay(&a, 3_000_000).unwrap();
    f.node.pay(&a, 2_000_000).unwrap();
    f.node.pay(&b, 1_000_000).unwrap();
    let (_, ns) = f.node.keva_namespace("mempool test").unwrap();
    f.node.keva_put(&ns, b"greeting", b"hello #World").unwrap();
    f.refresh_mempool();

    let truth = f.node.truth();
    let entries: Vec<MempoolEntry> = f
        .node
        .with_state(|s| s.chain.mempool_entries().into_iter().cloned().collect());
    assert_eq!(entries.len(), 5);
    let exp = expected(&truth, &entries);
    assert!(
        exp.mempool.values().flatten().any(|(_, h, _)| *h == -1),
        "the keva put spends the unconfirmed registration: height -1"
    );
    let positions = chain_positions(&f.blocks());

    let mut negative = false;
    for (sh, pool) in &exp.mempool {
        let hex = sh_hex(sh);
        let confirmed = truth_history(&truth, sh);
        assert_eq!(
            f.ok("blockchain.scripthash.get_mempool", json!([hex])),
            Value::Array(mempool_json(pool)),
            "get_mempool {hex}"
        );
        let mut history = history_json(&confirmed);
        history.extend(mempool_json(pool));
        assert_eq!(
            f.ok("blockchain.scripthash.get_history", json!([hex])),
            Value::Array(history),
            "get_history {hex}"
        );
        let mut entries: Vec<(Hash32, i64)> =
            confirmed.iter().map(|(t, h)| (*t, i64::from(*h))).collect();
        entries.extend(pool.iter().map(|(t, h, _)| (*t, *h)));
        assert_eq!(
            f.status(sh).unwrap(),
            expected_status(&entries),
            "status {hex}"
        );

        let delta = exp.delta.get(sh).copied().unwrap_or(0);
        negative |= delta < 0;
        let confirmed_balance: u64 = truth.utxos.get(sh).map_or(0, |u| {
            u.iter().filter(|u| u.height > 0).map(|u| u.value).sum()
        });
        assert_eq!(
            f.ok("blockchain.scripthash.get_balance", json!([hex])),
            json!({"confirmed": confirmed_balance, "unconfirmed": delta}),
            "balance {hex}"
        );

        let mut conf_utxos: Vec<_> = truth
            .utxos
            .get(sh)
            .map(|v| {
                v.iter()
                    .filter(|u| u.height > 0 && !exp.spent.contains(&u.outpoint))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        conf_utxos.sort_by_key(|u| (positions[&u.outpoint.txid], u.outpoint.vout));
        let got = f.ok("blockchain.scripthash.listunspent", json!([hex]));
        let got = got.as_array().unwrap();
        let want_conf: Vec<Value> = conf_utxos
            .iter()
            .map(|u| {
                json!({"tx_hash": hash_to_hex(&u.outpoint.txid), "tx_pos": u.outpoint.vout,
                       "height": u.height, "value": u.value})
            })
            .collect();
        assert_eq!(
            &got[..want_conf.len()],
            &want_conf[..],
            "confirmed utxos {hex}"
        );
        let mut want_pool: Vec<String> = exp
            .outputs
            .get(sh)
            .into_iter()
            .flatten()
            .map(|(t, v, value)| {
                json!({"tx_hash": hash_to_hex(t), "tx_pos": v, "height": 0, "value": value})
                    .to_string()
            })
            .collect();
        let mut got_pool: Vec<String> = got[want_conf.len()..]
            .iter()
            .map(Value::to_string)
            .collect();
        want_pool.sort();
        got_pool.sort();
        assert_eq!(got_pool, want_pool, "mempool utxos {hex}");
    }
    assert!(
        negative,
        "a wallet script spends confirmed coins: negative unconfirmed"
    );

    // Mined while the mempool snapshot is stale: each transaction is listed once, confirmed.
    f.node.mine(1);
    f.sync();
    let truth = f.node.truth();
    for sh in exp.mempool.keys() {
        let hex = sh_hex(sh);
        let confirmed = truth_history(&truth, sh);
        assert_eq!(
            f.ok("blockchain.scripthash.get_history", json!([hex])),
            Value::Array(history_json(&confirmed)),
            "stale snapshot, history {hex}"
        );
        assert_eq!(
            f.ok("blockchain.scripthash.get_balance", json!([hex]))["unconfirmed"],
            json!(0)
        );
        let unspent = f.ok("blockchain.scripthash.listunspent", json!([hex]));
        let count = truth.utxos.get(sh).map_or(0, |u| u.len());
        assert_eq!(
            unspent.as_array().unwrap().len(),
            count,
            "stale snapshot, utxos {hex}"
        );
    }
    f.refresh_mempool();
    assert_eq!(f.ok("mempool.get_fee_histogram", json!([])), json!([]));
}

/// Block hashes (Keccak) of the node's chain.
fn block_hashes(f: &Fixture) -> Vec<Hash32> {
    f.blocks().iter().map(|b| b.header.hash()).collect()
}

fn fold(leaf: Hash32, mut index: u64, branch: &Value) -> Hash32 {
    let mut h = leaf;
    for e in branch.as_array().unwrap() {
        let s = keva_electrum::chain::hash::hash_from_hex(e.as_str().unwrap()).unwrap();
        let buf = if index & 1 == 1 {
            [s, h].concat()
        } else {
            [h, s].concat()
        };
        h = sha256d(&buf);
        index >>= 1;
    }
    assert_eq!(index, 0);
    h
}

fn check_proofs(f: &mut Fixture, cp: u64, heights: &[u64]) {
    let hashes = block_hashes(f);
    let root = merkle_root(&hashes[..=cp as usize]);
    for &h in heights {
        let got = f.ok("blockchain.block.header", json!([h, cp]));
        assert_eq!(got["root"], json!(hash_to_hex(&root)), "root h={h} cp={cp}");
        assert_eq!(
            fold(hashes[h as usize], h, &got["branch"]),
            root,
            "h={h} cp={cp}"
        );
    }
}

#[test]
fn checkpoint_proofs_across_segments_and_reorgs() {
    // More than 2,048 blocks: complete segments are cached.
    let mut f = Fixture::with_shape("proofs", 2070, 22, Some(Shape::Mainnet), 10_000_000);
    check_proofs(&mut f, 2069, &[0, 1, 1000, 2047, 2048, 2049, 2068, 2069]);
    check_proofs(&mut f, 2048, &[0, 2047, 2048]);
    check_proofs(&mut f, 2047, &[0, 1, 2046, 2047]);
    check_proofs(&mut f, 4, &[0, 3, 4]);
    // A reorg replacing blocks inside the cached first segment.
    f.node.reorg(30, 32);
    f.catch_up();
    let tip = f.node.height() as u64;
    check_proofs(&mut f, tip, &[0, 2030, 2047, 2048, tip]);
    check_proofs(&mut f, 2060, &[5, 2045, 2060]);
}
