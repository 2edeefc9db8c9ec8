//! The Electrum methods against a stand-in node and a real index: every result compared with
//! values computed independently from the node's blocks and the generator's ground truth, and
//! every error text checked.

mod electrum_util;

use electrum_util::*;
use keva_electrum::chain::hash::{hash_from_hex, hash_to_hex, sha256d, to_hex};
use keva_electrum::chain::merkle::merkle_root;
use keva_electrum::chain::Hash32;
use keva_electrum::devnode::AddrKind;
use serde_json::{json, Value};

/// Folds a display-hex branch from `leaf` at `index` (sha256d interior nodes).
fn fold(leaf: Hash32, mut index: u64, branch: &Value) -> Hash32 {
    let mut h = leaf;
    for e in branch.as_array().expect("branch is an array") {
        let sibling = hash_from_hex(e.as_str().unwrap()).unwrap();
        let mut buf = Vec::with_capacity(64);
        if index & 1 == 1 {
            buf.extend_from_slice(&sibling);
            buf.extend_from_slice(&h);
        } else {
            buf.extend_from_slice(&h);
            buf.extend_from_slice(&sibling);
        }
        h = sha256d(&buf);
        index >>= 1;
    }
    assert_eq!(index, 0, "branch reaches the root");
    h
}

#[test]
fn headers_counts_and_checkpoint_proofs() {
    let mut f = Fixture::new("headers", 40, 11);
    let blocks = f.blocks();
    let tip = blocks.len() as u64 - 1;
    let hashes: Vec<Hash32> = blocks.iter().map(|b| b.header.hash()).collect();

    for (h, b) in blocks.iter().enumerate() {
        let got = f.ok("blockchain.block.header", json!([h]));
        assert_eq!(got, json!(to_hex(b.header.as_bytes())), "header {h}");
    }
    // Heights as decimal strings, as wallets send them.
    assert_eq!(
        f.ok("blockchain.block.header", json!(["3"])),
        json!(to_hex(blocks[3].header.as_bytes()))
    );
    assert_eq!(f.ok("blockchain.block.count", json!([])), json!(tip));

    let all: String = blocks.iter().map(|b| to_hex(b.header.as_bytes())).collect();
    assert_eq!(
        f.ok("blockchain.block.headers", json!([0, 2016])),
        json!({"hex": all, "count": tip + 1, "max": 2016})
    );
    let last3: String = blocks[tip as usize - 2..]
        .iter()
        .map(|b| to_hex(b.header.as_bytes()))
        .collect();
    assert_eq!(
        f.ok("blockchain.block.headers", json!([tip - 2, 10])),
        json!({"hex": last3, "count": 3, "max": 2016})
    );
    assert_eq!(
        f.ok("blockchain.block.headers", json!([tip + 1, 5])),
        json!({"hex": "", "count": 0, "max": 2016})
    );
    // count 0 never errors and never carries a proof, whatever cp_height.
    assert_eq!(
        f.ok("blockchain.block.headers", json!([2, 0, tip + 100])),
        json!({"hex": "", "count": 0, "max": 2016})
    );

    // cp_height proofs for every (height, cp) pair up to the tip.
    for cp in [1u64, 2, 3, 7, 8, 9, tip] {
        let root = merkle_root(&hashes[..=cp as usize]);
        for height in 0..=cp {
            let got = f.ok("blockchain.block.header", json!([height, cp]));
            assert_eq!(
                got["header"],
                json!(to_hex(blocks[height as usize].header.as_bytes()))
            );
            assert_eq!(
                got["root"],
                json!(hash_to_hex(&root)),
                "root h={height} cp={cp}"
            );
            let folded = fold(hashes[height as usize], height, &got["branch"]);
            assert_eq!(folded, root, "branch h={height} cp={cp}");
            assert_eq!(
                got["branch"].as_array().unwrap().len(),
                (64 - cp.leading_zeros()) as usize,
                "branch length is cp.bit_length()"
            );
        }
    }
    // headers with a proof prove the last returned header.
    let got = f.ok("blockchain.block.headers", json!([4, 3, 20]));
    assert_eq!(got["count"], json!(3));
    let root = merkle_root(&hashes[..=20]);
    assert_eq!(got["root"], json!(hash_to_hex(&root)));
    assert_eq!(fold(hashes[6], 6, &got["branch"]), root);

    // Errors, with ElectrumX's texts.
    let bad = |code: i64, msg: &str| (code, msg.to_string());
    assert_eq!(
        f.err("blockchain.block.header", json!([tip + 1])),
        bad(1, &format!("height {} out of range", tip + 1))
    );
    assert_eq!(
        f.err("blockchain.block.header", json!([1_000_000])),
        bad(1, "height 1,000,000 out of range")
    );
    assert_eq!(
        f.err("blockchain.block.header", json!([5, 3])),
        bad(
            1,
            &format!("require header height 5 <= cp_height 3 <= chain height {tip}")
        )
    );
    assert_eq!(
        f.err("blockchain.block.header", json!([1, tip + 1])),
        bad(
            1,
            &format!(
                "require header height 1 <= cp_height {} <= chain height {tip}",
                tip + 1
            )
        )
    );
    assert_eq!(
        f.err("blockchain.block.headers", json!([tip - 1, 5, 3])),
        bad(
            1,
            &format!("require header height {tip} <= cp_height 3 <= chain height {tip}")
        )
    );
    assert_eq!(
        f.err("blockchain.block.header", json!([-1])),
        bad(1, "-1 should be a non-negative integer")
    );
    assert_eq!(
        f.err("blockchain.block.header", json!(["abc"])),
        bad(1, "abc should be a non-negative integer")
    );
    assert_eq!(
        f.err("blockchain.block.headers", json!([0, null])),
        bad(1, "None should be a non-negative integer")
    );
    assert_eq!(
        f.err("blockchain.block.header", json!([])),
        bad(
            -32602,
            "0 arguments passed to method \"blockchain.block.header\" but it requires 1"
        )
    );
    assert_eq!(
        f.err("blockchain.block.headers", json!([1, 2, 3, 4])),
        bad(
            -32602,
            "4 arguments passed to method blockchain.block.headers taking at most 3"
        )
    );
    assert_eq!(
        f.err("blockchain.block.count", json!([true])),
        bad(
            -32602,
            "1 argument passed to method blockchain.block.count taking at most 0"
        )
    );
    // Named parameters.
    assert_eq!(
        f.ok("blockchain.block.header", json!({"height": 2})),
        json!(to_hex(blocks[2].header.as_bytes()))
    );
    assert_eq!(
        f.err("blockchain.block.header", json!({"cp_height": 2})),
        bad(
            -32602,
            "method \"blockchain.block.header\" requires parameter \"height\""
        )
    );
    assert_eq!(
        f.err("blockchain.block.header", json!({"height": 2, "h": 1})),
        bad(
            -32602,
            "method \"blockchain.block.header\" does not take parameter \"h\""
        )
    );

    // The tip for headers.subscribe.
    let mut worker = keva_electrum::jsonrpc::Backend::new_worker(&*f.methods);
    let tip_value = keva_electrum::jsonrpc::Backend::tip(&*f.methods, &mut worker).unwrap();
    assert_eq!(
        tip_value,
        json!({"height": tip, "hex": to_hex(blocks[tip as usize].header.as_bytes())})
    );
}

#[test]
fn confirmed_scripthash_methods_match_ground_truth() {
    let mut f = Fixture::new("scripthash", 60, 12);
    let truth = f.node.truth();
    let blocks = f.blocks();
    let positions = chain_positions(&blocks);
    let mut checked = 0;
    for sh in truth.histories.keys() {
        let want = truth_history(&truth, sh);
        let hex = sh_hex(sh);
        let got = f.ok("blockchain.scripthash.get_history", json!([hex]));
        assert_eq!(got, Value::Array(history_json(&want)), "history of {hex}");
        let entries: Vec<(Hash32, i64)> = want.iter().map(|(t, h)| (*t, i64::from(*h))).collect();
        assert_eq!(
            f.status(sh).unwrap(),
            expected_status(&entries),
            "status {hex}"
        );

        let mut utxos: Vec<_> = truth
            .utxos
            .get(sh)
            .map(|v| v.iter().filter(|u| u.height > 0).cloned().collect())
            .unwrap_or_default();
        utxos.sort_by_key(|u| (positions[&u.outpoint.txid], u.outpoint.vout));
        let want_utxos: Vec<Value> = utxos
            .iter()
            .map(|u| {
                json!({"tx_hash": hash_to_hex(&u.outpoint.txid), "tx_pos": u.outpoint.vout,
                       "height": u.height, "value": u.value})
            })
            .collect();
        assert_eq!(
            f.ok("blockchain.scripthash.listunspent", json!([hex])),
            Value::Array(want_utxos),
            "listunspent {hex}"
        );
        let confirmed: u64 = utxos.iter().map(|u| u.value).sum();
        assert_eq!(
            f.ok("blockchain.scripthash.get_balance", json!([hex])),
            json!({"confirmed": confirmed, "unconfirmed": 0}),
            "balance {hex}"
        );
        assert_eq!(
            f.ok("blockchain.scripthash.get_mempool", json!([hex])),
            json!([])
        );
        checked += 1;
    }
    assert!(checked > 20, "the chain has many scripts ({checked})");

    // An unknown script: empty everything, null status.
    let unknown = [7u8; 32];
    let hex = sh_hex(&unknown);
    assert_eq!(
        f.ok("blockchain.scripthash.get_history", json!([hex])),
        json!([])
    );
    assert_eq!(f.status(&unknown).unwrap(), None);
    assert_eq!(
        f.ok(
            "blockchain.scripthash.get_balance",
            json!({"scripthash": hex})
        ),
        json!({"confirmed": 0, "unconfirmed": 0})
    );
    // Upper-case hex is accepted.
    assert_eq!(
        f.ok(
            "blockchain.scripthash.listunspent",
            json!([hex.to_uppercase()])
        ),
        json!([])
    );

    for method in [
        "blockchain.scripthash.get_balance",
        "blockchain.scripthash.get_history",
        "blockchain.scripthash.get_mempool",
        "blockchain.scripthash.listunspent",
    ] {
        assert_eq!(
            f.err(method, json!(["abcd"])),
            (1, "abcd is not a valid script hash".to_string())
        );
        assert_eq!(
            f.err(method, json!([12])),
            (1, "12 is not a valid script hash".to_string())
        );
        assert_eq!(
            f.err(method, json!([])),
            (
                -32602,
                format!("0 arguments passed to method \"{method}\" but it requires 1")
            )
        );
    }
}

#[test]
fn history_limit_follows_max_send() {
    // MAX_SEND 495 allows histories below 495 // 99 = 5 entries.
    let mut f = Fixture::with_shape("limit", 40, 13, None, 495);
    let truth = f.node.truth();
    let mut saw_large = false;
    let mut saw_small = false;
    for sh in truth.histories.keys() {
        let n = truth_history(&truth, sh).len();
        let hex = sh_hex(sh);
        if n >= 5 {
            assert_eq!(
                f.err("blockchain.scripthash.get_history", json!([hex])),
                (1, "history too large".to_string())
            );
            let e = f.status(sh).unwrap_err();
            assert_eq!((e.code, e.message.as_str()), (1, "history too large"));
            // Balance and listunspent are not limited.
            f.ok("blockchain.scripthash.get_balance", json!([hex]));
            f.ok("blockchain.scripthash.listunspent", json!([hex]));
            saw_large = true;
        } else if n > 0 {
            assert_eq!(
                f.ok("blockchain.scripthash.get_history", json!([hex]))
                    .as_array()
                    .unwrap()
                    .len(),
                n
            );
            saw_small = true;
        }
    }
    assert!(saw_large && saw_small, "both kinds of scripts exist");
}

#[test]
fn transactions_merkle_and_positions() {
    let mut f = Fixture::new("transactions", 30, 14);
    let blocks = f.blocks();
    let tip = blocks.len() as u64 - 1;
    let mut multi = false;
    for (h, b) in blocks.iter().enumerate().skip(1) {
        let txids = b.txids();
        multi |= txids.len() > 2;
        for (pos, t) in txids.iter().enumerate() {
            let got = f.ok(
                "blockchain.transaction.get_merkle",
                json!([hash_to_hex(t), h]),
            );
            assert_eq!(got["block_height"], json!(h));
            assert_eq!(got["pos"], json!(pos));
            assert_eq!(fold(*t, pos as u64, &got["merkle"]), b.header.merkle_root());
            if txids.len() == 1 {
                assert_eq!(got["merkle"], json!([]));
            }
            // Strings for height and position, as keva_wallet sends them.
            assert_eq!(
                f.ok(
                    "blockchain.transaction.id_from_pos",
                    json!([h.to_string(), pos.to_string(), false])
                ),
                json!(hash_to_hex(t))
            );
            let with = f.ok("blockchain.transaction.id_from_pos", json!([h, pos, true]));
            assert_eq!(with["tx_hash"], json!(hash_to_hex(t)));
            assert_eq!(with["merkle"], got["merkle"]);
        }
        let n = txids.len();
        assert_eq!(
            f.err("blockchain.transaction.id_from_pos", json!([h, n])),
            (1, format!("no tx at position {n} in block at height {h}"))
        );
    }
    assert!(multi, "some blocks carry several transactions");

    // Genesis transactions are not indexed.
    assert_eq!(
        f.err("blockchain.transaction.id_from_pos", json!([0, 0])),
        (1, "no tx at position 0 in block at height 0".to_string())
    );
    let genesis_cb = blocks[0].txids()[0];
    assert_eq!(
        f.err(
            "blockchain.transaction.get_merkle",
            json!([hash_to_hex(&genesis_cb), 0])
        ),
        (
            1,
            format!("tx {} not in block at height 0", hash_to_hex(&genesis_cb))
        )
    );
    let t = blocks[2].txids()[0];
    assert_eq!(
        f.err(
            "blockchain.transaction.get_merkle",
            json!([hash_to_hex(&t), 3])
        ),
        (
            1,
            format!("tx {} not in block at height 3", hash_to_hex(&t))
        )
    );
    assert_eq!(
        f.err(
            "blockchain.transaction.get_merkle",
            json!([hash_to_hex(&t), 1_000_000])
        ),
        (
            1,
            format!("db error: DBError('block 1,000,000 not on disk (>{tip})')")
        )
    );
    assert_eq!(
        f.err("blockchain.transaction.id_from_pos", json!([tip + 1, 0])),
        (
            1,
            format!(
                "db error: DBError('block {} not on disk (>{tip})')",
                tip + 1
            )
        )
    );
    assert_eq!(
        f.err("blockchain.transaction.id_from_pos", json!([1, 0, 1])),
        (1, "\"merkle\" must be a boolean".to_string())
    );
    assert_eq!(
        f.err("blockchain.transaction.id_from_pos", json!([1, "x"])),
        (1, "x should be a non-negative integer".to_string())
    );
    assert_eq!(
        f.err("blockchain.transaction.get_merkle", json!(["00", 1])),
        (1, "00 should be a transaction hash".to_string())
    );

    // transaction.get: raw bytes as the node serializes them; verbose is the node's object.
    let tx = &blocks[5].txs[blocks[5].txs.len() - 1];
    let txid = hash_to_hex(&tx.txid());
    assert_eq!(
        f.ok("blockchain.transaction.get", json!([txid])),
        json!(to_hex(&tx.serialize()))
    );
    assert_eq!(
        f.ok("blockchain.transaction.get", json!([txid, false])),
        json!(to_hex(&tx.serialize()))
    );
    let verbose = f.ok("blockchain.transaction.get", json!([txid, true]));
    assert_eq!(verbose, f.daemon.transaction_verbose(&tx.txid()).unwrap());
    assert_eq!(verbose["txid"], json!(txid));
    assert_eq!(
        f.err("blockchain.transaction.get", json!([txid, "yes"])),
        (1, "\"verbose\" must be a boolean".to_string())
    );
    assert_eq!(
        f.err("blockchain.transaction.get", json!(["nothex"])),
        (1, "nothex should be a transaction hash".to_string())
    );
    assert_eq!(
        f.err("blockchain.transaction.get", json!(["ab".repeat(32)])),
        (
            2,
            "daemon error: DaemonError({'code': -5, 'message': 'No such mempool or blockchain \
             transaction. Use gettransaction for wallet transactions.'})"
                .to_string()
        )
    );
}

#[test]
fn broadcast_passes_node_verdicts() {
    let mut f = Fixture::new("broadcast", 20, 15);
    let (script, _) = f.node.new_address(AddrKind::P2pkh);
    let built = f
        .node
        .with_state(|s| {
            s.wallet.pay(vec![keva_electrum::chain::TxOut {
                value: 1_000_000,
                script_pubkey: script.clone(),
            }])
        })
        .unwrap();
    let raw = to_hex(&built.tx.serialize());
    assert_eq!(
        f.ok("blockchain.transaction.broadcast", json!([raw])),
        json!(hash_to_hex(&built.txid))
    );
    assert!(f.node.mempool().contains(&built.txid), "the node has it");
    assert_eq!(
        f.err("blockchain.transaction.broadcast", json!(["00"])),
        (
            1,
            "the transaction was rejected by network rules.\n\nTX decode failed\n[00]".to_string()
        )
    );
    assert_eq!(
        f.err("blockchain.transaction.broadcast", json!(["zz"])),
        (1, "zz should be a hex string".to_string())
    );
    assert_eq!(
        f.err("blockchain.transaction.broadcast", json!([5])),
        (1, "5 should be a hex string".to_string())
    );
}

#[test]
fn fees_are_cached_per_tip_and_unknown_methods_refused() {
    let mut f = Fixture::new("fees", 10, 16);
    f.node.set(|s| s.fee_estimate = Some(0.0002));
    assert_eq!(f.ok("blockchain.estimatefee", json!([6])), json!(0.0002));
    assert_eq!(f.ok("blockchain.estimatefee", json!(["2"])), json!(0.0002));
    assert_eq!(f.ok("blockchain.relayfee", json!([])), json!(0.00001));
    // Same tip: the cached answer, the node is not asked again.
    f.node.set(|s| s.fee_estimate = None);
    assert_eq!(f.ok("blockchain.estimatefee", json!([6])), json!(0.0002));
    // A new block: the node's new answer (none: -1).
    f.node.mine(1);
    f.catch_up();
    assert_eq!(f.ok("blockchain.estimatefee", json!([6])), json!(-1));
    assert_eq!(
        f.err("blockchain.estimatefee", json!(["x"])),
        (1, "x should be a non-negative integer".to_string())
    );
    assert_eq!(
        f.err("blockchain.estimatefee", json!([6, "ECONOMICAL"])),
        (
            -32602,
            "2 arguments passed to method blockchain.estimatefee taking at most 1".to_string()
        )
    );
    assert_eq!(
        f.err("blockchain.estimatefee", json!([0])),
        (
            2,
            "daemon error: DaemonError({'code': -8, 'message': 'Invalid conf_target, must be \
             between 1 - 1008'})"
                .to_string()
        )
    );
    // Empty mempool: empty histogram.
    assert_eq!(f.ok("mempool.get_fee_histogram", json!([])), json!([]));
    assert_eq!(
        f.err("blockchain.foo", json!([])),
        (-32601, "unknown method \"blockchain.foo\"".to_string())
    );
    // The server answers these itself; the backend does not serve them.
    assert_eq!(f.err("server.version", json!([])).0, -32601);
}
