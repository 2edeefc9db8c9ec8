//! The published chain and keva vectors, checked entry by entry against the `chain` module.

#[path = "support/mod.rs"]
mod support;

use keva_electrum::chain::address::{address_to_script, base58check_encode, script_to_address};
use keva_electrum::chain::hash::{from_hex, hash_from_hex, hash_to_hex, sha256, to_hex};
use keva_electrum::chain::keva::{
    address_script, address_scripthash, build_keva_script, derive_namespace, hashtags, index_keys,
    index_script, index_scripthash, index_scripthashes, namespace_from_string, namespace_to_string,
    parse_keva_script, KevaOp, PROFILE_KEY,
};
use keva_electrum::chain::script::{scripthash, scripthash_from_hex, scripthash_to_hex};
use keva_electrum::chain::{Block, Header, Network, Transaction};
use serde_json::Value;
use std::collections::BTreeSet;
use support::vectors_dir;

fn load(rel: &str) -> Value {
    let path = vectors_dir().join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("missing string field {key:?} in {v}"))
}

fn hex(v: &Value, key: &str) -> Vec<u8> {
    from_hex(s(v, key)).unwrap()
}

fn net_of(name: &str) -> Network {
    Network::from_name(name).unwrap_or_else(|| panic!("unknown network {name}"))
}

#[test]
fn genesis_blocks_parse_and_hash() {
    let v = load("chain/chain_vectors.json");
    let genesis = v["genesis"].as_object().unwrap();
    assert_eq!(genesis.len(), 3);
    for (name, g) in genesis {
        let net = net_of(name);
        let raw = hex(g, "block_hex");
        assert_eq!(raw.len() as u64, g["block_len"].as_u64().unwrap());
        let block = Block::from_bytes(&raw).unwrap();
        let h = &block.header;
        assert_eq!(h.as_bytes(), &hex(g, "header_hex")[..], "{name}");
        assert_eq!(h.len() as u64, g["header_len"].as_u64().unwrap());
        assert_eq!(h.cn_blob(), &hex(g, "cn_blob_hex")[..]);
        assert_eq!(h.cn_blob().len() as u64, g["cn_blob_len"].as_u64().unwrap());
        assert_eq!(hash_to_hex(&h.hash()), s(g, "block_hash"));
        assert_eq!(hash_to_hex(&h.hash()), s(g, "expected_block_hash"));
        assert_eq!(
            hash_to_hex(&h.original_hash()),
            s(g, "original_block_hash_sha256d")
        );
        assert_eq!(h.cn_fields().prev_id, h.original_hash());
        assert_eq!(hash_to_hex(&h.merkle_root()), s(g, "merkle_root"));
        assert_eq!(
            hash_to_hex(&block.compute_merkle_root()),
            s(g, "expected_merkle_root")
        );
        assert_eq!(h.height(), 0);
        assert_eq!(h.prev_hash(), [0; 32]);
        block.validate(Some(0), Some([0; 32])).unwrap();
        assert!(block.validate(Some(1), None).is_err());
        assert_eq!(block.serialize(), raw);

        assert_eq!(block.txs.len(), 1);
        let cb = &block.txs[0];
        assert!(cb.is_coinbase());
        assert_eq!(cb.serialize(), hex(g, "coinbase_tx_hex"));
        assert_eq!(hash_to_hex(&cb.txid()), s(g, "coinbase_txid"));
        assert_eq!(cb.inputs[0].script_sig, hex(g, "script_sig_hex"));
        assert_eq!(cb.outputs[0].script_pubkey, hex(g, "script_pubkey_hex"));

        assert_eq!(
            net.genesis_hash(),
            hash_from_hex(s(g, "block_hash")).unwrap()
        );
        assert_eq!(net.genesis_block_hex(), s(g, "block_hex"));
    }
}

#[test]
fn build_regtest_reproduces_regtest_genesis_header() {
    let v = load("chain/chain_vectors.json");
    let g = &v["genesis"]["regtest"];
    let parsed = Header::from_bytes(&hex(g, "header_hex")).unwrap();
    let built = Header::build_regtest(
        parsed.version(),
        parsed.prev_hash(),
        hash_from_hex(s(g, "merkle_root")).unwrap(),
        parsed.time(),
        parsed.bits(),
        0,
    );
    assert_eq!(to_hex(built.as_bytes()), s(g, "header_hex"));
    assert_eq!(parsed.time(), 1582959692);
    assert_eq!(parsed.bits(), 0x207fffff);
    assert_eq!(parsed.cn_fields().major, 10);
}

#[test]
fn address_vectors_round_trip() {
    let v = load("chain/chain_vectors.json");
    let addrs = &v["addresses"];
    let fixture = &addrs["p2sh_fixture"];
    let mut payload = vec![fixture["version"].as_u64().unwrap() as u8];
    payload.extend(hex(fixture, "hash160"));
    assert_eq!(base58check_encode(&payload), s(fixture, "expected"));

    let mut checked = 0;
    for (name, a) in addrs.as_object().unwrap() {
        let (Some(addr), Some(script)) = (a["address"].as_str(), a["script_pubkey"].as_str())
        else {
            continue;
        };
        let script = from_hex(script).unwrap();
        assert_eq!(
            address_to_script(addr, Network::Mainnet).unwrap(),
            script,
            "{name}"
        );
        assert_eq!(
            script_to_address(&script, Network::Mainnet).unwrap(),
            addr,
            "{name}"
        );
        if let Some(h160) = a["hash160"].as_str() {
            assert_eq!(to_hex(&script[2..22]), h160);
        }
        if let Some(sh) = a["electrum_scripthash"].as_str() {
            assert_eq!(scripthash_to_hex(&scripthash(&script)), sh, "{name}");
        }
        checked += 1;
    }
    assert_eq!(checked, 6);

    let bech = &addrs["derived_bech32_examples"];
    let program: Vec<u8> = (0..20).collect();
    let script = [&[0x00, 0x14][..], &program].concat();
    for net in Network::all() {
        let addr = s(bech, net.name());
        assert_eq!(address_to_script(addr, net).unwrap(), script);
        assert_eq!(script_to_address(&script, net).unwrap(), addr);
    }
}

#[test]
fn wallet_scripthash_vectors() {
    let v = load("wallet/scripthash-vectors.json");
    let ns = namespace_from_string(s(&v, "namespaceId")).unwrap();
    assert_eq!(to_hex(&ns), s(&v, "namespaceIdHex"));
    let vectors = v["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 8);
    for e in vectors {
        let name = hex(e, "name_hex");
        assert_eq!(
            to_hex(&index_script(&name)),
            s(e, "script_hex"),
            "{}",
            s(e, "what")
        );
        assert_eq!(
            scripthash_to_hex(&index_scripthash(&name)),
            s(e, "scripthash")
        );
    }
    let addresses = v["address_vectors"].as_array().unwrap();
    assert!(!addresses.is_empty());
    for a in addresses {
        let script = hex(a, "output_script_hex");
        assert_eq!(
            address_to_script(s(a, "address"), Network::Mainnet).unwrap(),
            script
        );
        assert_eq!(
            script_to_address(&script, Network::Mainnet).unwrap(),
            s(a, "address")
        );
        assert_eq!(scripthash_to_hex(&scripthash(&script)), s(a, "scripthash"));
        assert_eq!(
            scripthash_from_hex(s(a, "scripthash")).unwrap(),
            sha256(&script)
        );
    }
}

/// The script of a vector entry; the 3072-byte value one is rebuilt from its parse and checked
/// against the published length, sha256 and prefix.
fn keva_script_of(name: &str, e: &Value) -> Vec<u8> {
    if let Some(h) = e["script_hex"].as_str() {
        return from_hex(h).unwrap();
    }
    let p = &e["electrumx_parse"];
    let op = KevaOp::Put {
        namespace: hex(p, "name"),
        key: hex(p, "key"),
        value: hex(p, "value"),
    };
    let script = build_keva_script(&op, &hex(e, "address_script_hex"));
    assert_eq!(
        script.len() as u64,
        e["script_len"].as_u64().unwrap(),
        "{name}"
    );
    assert_eq!(to_hex(&sha256(&script)), s(e, "script_sha256"), "{name}");
    assert!(to_hex(&script).starts_with(s(e, "script_hex_prefix")));
    script
}

#[test]
fn keva_scripts_yield_listed_scripthashes() {
    let v = load("chain/keva_vectors.json");
    let scripts = v["scripts"].as_object().unwrap();
    assert_eq!(scripts.len(), 13);
    for (name, e) in scripts {
        let script = keva_script_of(name, e);
        if let Some(len) = e["script_len"].as_u64() {
            assert_eq!(script.len() as u64, len, "{name}");
        }
        if let Some(sha) = e["script_sha256"].as_str() {
            assert_eq!(to_hex(&sha256(&script)), sha, "{name}");
        }

        // The parse ElectrumX reports.
        let (op, rest) = parse_keva_script(&script).unwrap_or_else(|| panic!("{name}: not keva"));
        let p = &e["electrumx_parse"];
        assert_eq!(op.code() as u64, p["op"].as_u64().unwrap(), "{name}");
        assert_eq!(to_hex(op.namespace()), s(p, "name"), "{name}");
        let second = match &op {
            KevaOp::Namespace { display_name, .. } => display_name.clone(),
            KevaOp::Put { key, .. } | KevaOp::Delete { key, .. } => key.clone(),
        };
        assert_eq!(to_hex(&second), s(p, "key"), "{name}");
        match (&op, p["value"].as_str()) {
            (KevaOp::Put { value, .. }, Some(expected)) => assert_eq!(to_hex(value), expected),
            (KevaOp::Put { .. }, None) => panic!("{name}: PUT without a value in the vector"),
            (_, v) => assert!(v.is_none(), "{name}: value listed for a non-PUT"),
        }

        // Address part, keva prefix stripped the ElectrumX way.
        assert_eq!(to_hex(rest), s(e, "address_script_hex"), "{name}");
        assert_eq!(to_hex(address_script(&script)), s(e, "address_script_hex"));
        assert_eq!(
            scripthash_to_hex(&address_scripthash(&script)),
            s(e, "address_scripthash"),
            "{name}"
        );

        // Index entries: fixed ones in order, hashtags as a set (ElectrumX iterates a Python set).
        let idx = &e["index_scripthashes"];
        let mut ordered: Vec<(String, String)> = Vec::new();
        for slot in ["namespace", "key_0x00", "namespace_key"] {
            if let Some(x) = idx.get(slot) {
                ordered.push((s(x, "index_script_hex").into(), s(x, "scripthash").into()));
            }
        }
        let tags: BTreeSet<(String, String)> = idx
            .get("hashtags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|x| (s(x, "index_script_hex").into(), s(x, "scripthash").into()))
                    .collect()
            })
            .unwrap_or_default();
        let ours: Vec<(String, String)> = index_keys(&op)
            .iter()
            .map(|k| {
                (
                    to_hex(&index_script(k)),
                    scripthash_to_hex(&index_scripthash(k)),
                )
            })
            .collect();
        assert_eq!(&ours[..ordered.len()], &ordered[..], "{name}");
        let our_tags: BTreeSet<(String, String)> = ours[ordered.len()..].iter().cloned().collect();
        assert_eq!(
            our_tags.len(),
            ours.len() - ordered.len(),
            "{name}: duplicates"
        );
        assert_eq!(our_tags, tags, "{name}");
        let hashes: Vec<String> = index_scripthashes(&op)
            .iter()
            .map(scripthash_to_hex)
            .collect();
        assert_eq!(
            hashes,
            ours.iter().map(|(_, h)| h.clone()).collect::<Vec<_>>()
        );

        // The node's builder reproduces the script (except the OP_NOP edge case).
        if name != "edge_put_with_extra_OP_NOP" {
            assert_eq!(build_keva_script(&op, rest), script, "{name}");
        }
    }
}

#[test]
fn op_nop_edge_case_keeps_the_nop_in_the_address_script() {
    let v = load("chain/keva_vectors.json");
    let e = &v["scripts"]["edge_put_with_extra_OP_NOP"];
    let script = hex(e, "script_hex");
    let rest = address_script(&script);
    assert_eq!(rest[0], 0x61);
    assert_eq!(rest, &hex(e, "address_script_hex")[..]);
}

#[test]
fn hashtags_follow_electrumx() {
    let v = load("chain/keva_vectors.json");
    let e = &v["scripts"]["put_hashtags_note_dup_case_variants"];
    let p = &e["electrumx_parse"];
    let tags = hashtags(&hex(p, "key"), &hex(p, "value"));
    assert_eq!(tags, vec!["worldtext", "keva", "kevacoin", "über"]);
    let k = &v["hashtag_kevacoin"];
    assert_eq!(hashtags(b"", b"#Kevacoin"), vec!["kevacoin"]);
    assert_eq!(to_hex(&index_script(b"kevacoin")), s(k, "index_script_hex"));
    assert_eq!(
        scripthash_to_hex(&index_scripthash(b"kevacoin")),
        s(k, "scripthash")
    );
}

#[test]
fn namespace_ids() {
    let v = load("chain/keva_vectors.json");
    let d = &v["namespace_derivation"];
    let txid = hash_from_hex(s(d, "prevout_txid")).unwrap();
    let n = d["prevout_n"].as_u64().unwrap() as u32;
    let nsfix = derive_namespace(&txid, n, true);
    assert_eq!(to_hex(&nsfix), s(d, "namespace_nsfix_hex"));
    assert_eq!(namespace_to_string(&nsfix), s(d, "namespace_nsfix_base58"));
    let legacy = derive_namespace(&txid, n, false);
    assert_eq!(to_hex(&legacy), s(d, "namespace_legacy_hex"));
    assert_eq!(
        namespace_to_string(&legacy),
        s(d, "namespace_legacy_base58")
    );
    assert_eq!(to_hex(&txid), s(d, "preimage_legacy_hex"));
    assert!(s(d, "preimage_nsfix_hex").starts_with(s(d, "preimage_legacy_hex")));

    let ext = v["external_namespace_ids"].as_object().unwrap();
    assert_eq!(ext.len(), 2);
    for (id, e) in ext {
        let ns = namespace_from_string(id).unwrap();
        assert_eq!(to_hex(&ns), s(e, "namespace_hex"));
        assert_eq!(&namespace_to_string(&ns), id);
        assert_eq!(
            to_hex(&index_script(&ns)),
            s(e, "namespace_index_script_hex")
        );
        assert_eq!(
            scripthash_to_hex(&index_scripthash(&ns)),
            s(e, "namespace_scripthash")
        );
        let root = [&ns[..], PROFILE_KEY].concat();
        assert_eq!(to_hex(&index_script(&root)), s(e, "root_index_script_hex"));
        assert_eq!(
            scripthash_to_hex(&index_scripthash(&root)),
            s(e, "root_scripthash")
        );
        let nk = [&ns[..], s(e, "key_example").as_bytes()].concat();
        assert_eq!(
            scripthash_to_hex(&index_scripthash(&nk)),
            s(e, "namespace_key_scripthash")
        );
    }
    assert!(namespace_from_string("NekNSpxG9rqquovuv2ergamu5oM7EFfweR").is_err());
}

#[test]
fn synthetic_keva_transactions() {
    let v = load("chain/keva_vectors.json");
    let txs = v["synthetic_txs"].as_object().unwrap();
    assert_eq!(txs.len(), 3);
    for (name, e) in txs {
        let raw = hex(e, "hex");
        let tx = Transaction::from_bytes(&raw).unwrap();
        assert_eq!(hash_to_hex(&tx.txid()), s(e, "txid"), "{name}");
        assert_eq!(tx.serialize(), raw);
        assert!(tx.has_witness());
        assert_eq!(tx.is_coinbase(), name == "coinbase");
        assert_eq!(tx.is_keva(), name != "coinbase");
    }
    let ns_tx = Transaction::from_bytes(&hex(&txs["namespace_tx"], "hex")).unwrap();
    let prev = ns_tx.inputs[0].prevout;
    let derived = derive_namespace(&prev.txid, prev.vout, true);
    assert_eq!(
        namespace_to_string(&derived),
        s(&txs["namespace_tx"], "namespace_base58")
    );
    let keva_outputs: Vec<KevaOp> = ns_tx
        .outputs
        .iter()
        .filter_map(|o| parse_keva_script(&o.script_pubkey).map(|(op, _)| op))
        .collect();
    assert_eq!(keva_outputs.len(), 1);
    assert_eq!(keva_outputs[0].namespace(), &derived[..]);
    assert!(matches!(keva_outputs[0], KevaOp::Namespace { .. }));

    let put_tx = Transaction::from_bytes(&hex(&txs["put_tx"], "hex")).unwrap();
    let (op, _) = parse_keva_script(&put_tx.outputs[0].script_pubkey).unwrap();
    assert_eq!(op.namespace(), &derived[..]);
    assert_eq!(op.key(), Some(PROFILE_KEY));
}

#[test]
fn synthetic_blocks_parse_and_validate() {
    let v = load("chain/keva_vectors.json");
    let blocks = v["synthetic_blocks"].as_object().unwrap();
    let mut lens = BTreeSet::new();
    for (name, e) in blocks {
        let raw = hex(e, "block_hex");
        let block = Block::from_bytes(&raw).unwrap();
        assert_eq!(block.header.as_bytes(), &hex(e, "header_hex")[..], "{name}");
        assert_eq!(block.header.len() as u64, e["header_len"].as_u64().unwrap());
        lens.insert(block.header.len());
        assert_eq!(
            hash_to_hex(&block.header.hash()),
            s(e, "block_hash"),
            "{name}"
        );
        let height = block.header.height();
        block
            .validate(Some(height), Some(block.header.prev_hash()))
            .unwrap();
        let prev_err = block.validate(None, Some([0; 32])).unwrap_err();
        assert!(
            prev_err.to_string().contains(s(e, "block_hash")),
            "{prev_err}"
        );
        let txids: Vec<String> = block.txids().iter().map(hash_to_hex).collect();
        let expected: Vec<&str> = e["txids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        assert_eq!(txids, expected, "{name}");
        let wtxids: Vec<String> = block.txs.iter().map(|t| hash_to_hex(&t.wtxid())).collect();
        let expected: Vec<&str> = e["wtxids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        assert_eq!(wtxids, expected, "{name}");
        assert_eq!(block.serialize(), raw);
        if name.contains("nTxes300") {
            assert_eq!(block.header.cn_fields().n_txes, 300);
        }
    }
    assert_eq!(lens, BTreeSet::from([153, 157, 158]));
}

#[test]
fn truncated_inputs_are_errors() {
    let chain = load("chain/chain_vectors.json");
    let keva = load("chain/keva_vectors.json");
    let mut blocks: Vec<Vec<u8>> = chain["genesis"]
        .as_object()
        .unwrap()
        .values()
        .map(|g| hex(g, "block_hex"))
        .collect();
    blocks.extend(
        keva["synthetic_blocks"]
            .as_object()
            .unwrap()
            .values()
            .map(|b| hex(b, "block_hex")),
    );
    for raw in &blocks {
        for cut in 0..raw.len() {
            let err = Block::from_bytes(&raw[..cut]);
            assert!(err.is_err(), "block cut at {cut} of {} parsed", raw.len());
        }
        let mut longer = raw.clone();
        longer.push(0);
        assert!(Block::from_bytes(&longer)
            .unwrap_err()
            .to_string()
            .contains("trailing"));
        let header = Block::from_bytes(raw).unwrap().header;
        for cut in 0..header.len() {
            assert!(Header::from_bytes(&header.as_bytes()[..cut]).is_err());
        }
    }
    for e in keva["synthetic_txs"].as_object().unwrap().values() {
        let raw = hex(e, "hex");
        for cut in 0..raw.len() {
            assert!(
                Transaction::from_bytes(&raw[..cut]).is_err(),
                "tx cut at {cut}"
            );
        }
    }
    let e = Block::from_bytes(&blocks[0][..100]).unwrap_err();
    assert!(e.to_string().contains("offset"), "{e}");
}
