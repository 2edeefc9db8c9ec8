//! Properties of the chain codecs: serialization round-trips, and no input makes a parser panic.

use keva_electrum::chain::address::{address_to_script, base58check_decode, script_to_address};
use keva_electrum::chain::hash::{from_hex, hash_from_hex};
use keva_electrum::chain::header::CnFields;
use keva_electrum::chain::keva::{
    address_script, build_keva_script, hashtags, index_keys, namespace_from_string,
    parse_keva_script, KevaOp,
};
use keva_electrum::chain::script::{classify, scripthash_from_hex};
use keva_electrum::chain::{Block, Cursor, Header, Network, OutPoint, Transaction, TxIn, TxOut};
use proptest::prelude::*;

fn hash32() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

fn cn_fields() -> impl Strategy<Value = CnFields> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        hash32(),
        any::<u64>(),
    )
        .prop_map(
            |(major, minor, timestamp, nonce, merkle_root, n_txes)| CnFields {
                major,
                minor,
                timestamp,
                prev_id: [0; 32],
                nonce,
                merkle_root,
                n_txes,
            },
        )
}

fn header() -> impl Strategy<Value = Header> {
    (
        any::<i32>(),
        hash32(),
        hash32(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        cn_fields(),
    )
        .prop_map(|(version, prev, merkle, time, bits, height, cn)| {
            Header::build(version, prev, merkle, time, bits, height, cn)
        })
}

fn tx_in(with_witness: bool) -> impl Strategy<Value = TxIn> {
    let witness = if with_witness {
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..80), 0..4).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (
        hash32(),
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 0..120),
        any::<u32>(),
        witness,
    )
        .prop_map(|(txid, vout, script_sig, sequence, witness)| TxIn {
            prevout: OutPoint { txid, vout },
            script_sig,
            sequence,
            witness,
        })
}

fn tx_out() -> impl Strategy<Value = TxOut> {
    (any::<u64>(), prop::collection::vec(any::<u8>(), 0..300)).prop_map(|(value, script_pubkey)| {
        TxOut {
            value,
            script_pubkey,
        }
    })
}

/// Transactions with at least one input (a zero-input legacy tx is ambiguous with the
/// segwit marker, as in Bitcoin).
fn transaction(with_witness: bool) -> impl Strategy<Value = Transaction> {
    (
        any::<i32>(),
        prop::collection::vec(tx_in(with_witness), 1..5),
        prop::collection::vec(tx_out(), 0..5),
        any::<u32>(),
    )
        .prop_map(|(version, inputs, outputs, lock_time)| Transaction {
            version,
            inputs,
            outputs,
            lock_time,
        })
}

fn keva_op() -> impl Strategy<Value = KevaOp> {
    let bytes = |max| prop::collection::vec(any::<u8>(), 0..max);
    prop_oneof![
        (bytes(30), bytes(300)).prop_map(|(namespace, display_name)| KevaOp::Namespace {
            namespace,
            display_name
        }),
        (bytes(30), bytes(300), bytes(3100)).prop_map(|(namespace, key, value)| KevaOp::Put {
            namespace,
            key,
            value
        }),
        (bytes(30), bytes(300)).prop_map(|(namespace, key)| KevaOp::Delete { namespace, key }),
    ]
}

proptest! {
    #[test]
    fn header_round_trips(h in header(), tail in prop::collection::vec(any::<u8>(), 0..8)) {
        let parsed = Header::from_bytes(h.as_bytes()).unwrap();
        prop_assert_eq!(&parsed, &h);
        prop_assert_eq!(parsed.cn_fields().prev_id, parsed.original_hash());
        // parse() consumes exactly the header and leaves what follows.
        let mut buf = h.as_bytes().to_vec();
        buf.extend_from_slice(&tail);
        let mut cur = Cursor::new(&buf);
        prop_assert_eq!(Header::parse(&mut cur).unwrap(), h);
        prop_assert_eq!(cur.remaining(), tail.len());
    }

    #[test]
    fn regtest_headers_round_trip(prev in hash32(), merkle in hash32(), time in any::<u32>(), height in any::<u32>()) {
        let h = Header::build_regtest(0x2000_0000, prev, merkle, time, 0x207fffff, height);
        prop_assert_eq!(h.len(), 153);
        prop_assert_eq!(Header::from_bytes(h.as_bytes()).unwrap(), h.clone());
        prop_assert_eq!((h.prev_hash(), h.merkle_root(), h.time(), h.height()), (prev, merkle, time, height));
    }

    #[test]
    fn transactions_round_trip_without_witness(tx in transaction(false)) {
        let raw = tx.serialize();
        prop_assert_eq!(&raw, &tx.serialize_no_witness());
        prop_assert_eq!(raw.len(), tx.total_size());
        let parsed = Transaction::from_bytes(&raw).unwrap();
        prop_assert_eq!(&parsed, &tx);
        prop_assert_eq!(parsed.txid(), parsed.wtxid());
        prop_assert_eq!(tx.vsize(), raw.len());
    }

    #[test]
    fn transactions_round_trip_with_witness(tx in transaction(true)) {
        let raw = tx.serialize();
        prop_assert_eq!(raw.len(), tx.total_size());
        let parsed = Transaction::from_bytes(&raw).unwrap();
        prop_assert_eq!(&parsed, &tx);
        // The txid ignores witnesses.
        let mut stripped = tx.clone();
        for i in &mut stripped.inputs {
            i.witness.clear();
        }
        prop_assert_eq!(stripped.txid(), tx.txid());
        prop_assert_eq!(Transaction::from_bytes(&tx.serialize_no_witness()).unwrap(), stripped);
        prop_assert!(tx.vsize() <= raw.len());
    }

    #[test]
    fn blocks_round_trip(h in header(), txs in prop::collection::vec(transaction(true), 1..4)) {
        let block = Block { header: h, txs };
        let raw = block.serialize();
        prop_assert_eq!(Block::from_bytes(&raw).unwrap(), block);
    }

    #[test]
    fn keva_scripts_round_trip(op in keva_op(), p2pkh in any::<bool>()) {
        let addr: Vec<u8> = if p2pkh {
            [&[0x76, 0xa9, 0x14][..], &[7; 20], &[0x88, 0xac]].concat()
        } else {
            [&[0xa9, 0x14][..], &[9; 20], &[0x87]].concat()
        };
        let script = build_keva_script(&op, &addr);
        let (parsed, rest) = parse_keva_script(&script).unwrap();
        prop_assert_eq!(&parsed, &op);
        prop_assert_eq!(rest, &addr[..]);
        prop_assert_eq!(address_script(&script), &addr[..]);
        let keys = index_keys(&op);
        prop_assert_eq!(&keys[0][..], op.namespace());
    }

    #[test]
    fn byte_parsers_never_panic(data in prop::collection::vec(any::<u8>(), 0..700)) {
        let _ = Header::from_bytes(&data);
        let _ = Transaction::from_bytes(&data);
        let _ = Block::from_bytes(&data);
        let _ = parse_keva_script(&data);
        let _ = address_script(&data);
        let _ = classify(&data);
        let _ = CnFields::parse(&data);
        for net in Network::all() {
            let _ = script_to_address(&data, net);
        }
        let split = data.len() / 2;
        let _ = hashtags(&data[..split], &data[split..]);
        if let Some((op, _)) = parse_keva_script(&data) {
            let _ = index_keys(&op);
        }
    }

    #[test]
    fn keva_like_scripts_never_panic(code in 0xd0u8..=0xd2, body in prop::collection::vec(any::<u8>(), 0..80)) {
        let script = [&[code][..], &body].concat();
        if let Some((op, rest)) = parse_keva_script(&script) {
            prop_assert_eq!(op.code(), code);
            prop_assert!(rest.len() < script.len());
        }
    }

    #[test]
    fn mutated_blocks_never_panic(idx in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut raw = from_hex(Network::Mainnet.genesis_block_hex()).unwrap();
        let i = idx.index(raw.len());
        raw[i] = byte;
        let _ = Block::from_bytes(&raw);
        let _ = Block::from_bytes(&raw[..cut.index(raw.len())]);
    }

    #[test]
    fn text_parsers_never_panic(s in any::<String>(), ascii in "[0-9a-zA-Z]{0,120}") {
        for t in [&s, &ascii] {
            let _ = from_hex(t);
            let _ = hash_from_hex(t);
            let _ = scripthash_from_hex(t);
            let _ = base58check_decode(t);
            let _ = namespace_from_string(t);
            for net in Network::all() {
                let _ = address_to_script(t, net);
                let _ = address_to_script(&format!("{}1{t}", net.bech32_hrp()), net);
            }
            let _ = Network::from_name(t);
            let _ = hashtags(t.as_bytes(), b"");
            let _ = hashtags(format!("#{t}").as_bytes(), b"");
        }
    }
}
