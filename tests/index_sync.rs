//! Initial sync of a stand-in chain with every kind of transaction, over real HTTP, compared
//! with the generator's ground truth; the read API and the operator views on the result.

mod index_util;

use index_util::*;
use keva_electrum::chain::keva::{index_scripthash, namespace_to_string, KevaOp, PROFILE_KEY};
use keva_electrum::chain::{Block, Hash32, Network};
use keva_electrum::index::read::{reaction_scripthash, ReactionCounts};
use keva_electrum::index::Reader;
use keva_electrum::methods::keva::profile::profile_display_name;
use keva_electrum::methods::keva::view::page_op;
use rusqlite::{Connection, OpenFlags};

/// The index scripthash of namespace `ns`'s profile history (`ns ‖ \x01_KEVA_NS_`).
fn profile_sh(ns: &[u8]) -> Hash32 {
    index_scripthash(&[ns, PROFILE_KEY].concat())
}

/// The display name the keva methods show for `ns`, read as they read it: the latest profile
/// put's JSON `displayName`, else the name it was registered with.
fn shown_display_name(reader: &Reader, ns: &[u8]) -> String {
    let (registration, latest) = reader.profile_entries(&profile_sh(ns)).unwrap();
    let from_profile = match latest.as_ref().and_then(page_op) {
        Some(KevaOp::Put { key, value, .. }) if key == PROFILE_KEY => profile_display_name(value),
        _ => None,
    };
    from_profile.unwrap_or_else(|| match registration.as_ref().and_then(page_op) {
        Some(KevaOp::Namespace { display_name, .. }) => {
            String::from_utf8_lossy(display_name).into_owned()
        }
        _ => String::new(),
    })
}

#[test]
fn sync_matches_ground_truth_and_read_api_agrees() {
    let node = start_node(2500, 7);
    let dir = TempDir::new("sync");
    let db = dir.db("index.db");
    let report = sync_to_tip(&db, &node.url(), quiet_config(5_000));
    assert_eq!(report.blocks, 2501, "genesis and every generated block");
    let truth = node.truth();
    assert_matches_truth(&db, &truth);
    assert_consistent(&db);

    let reader = Reader::open(&db, Network::Regtest, 8).unwrap();
    // Headers, block hashes and txids equal the node's blocks.
    for height in [0u32, 1, 2, 100, 1234, 2500] {
        let raw = node.block_bytes(height).unwrap();
        let block = Block::from_bytes(&raw).unwrap();
        assert_eq!(
            reader.header(height).unwrap().unwrap(),
            block.header.as_bytes()
        );
        assert_eq!(
            reader.block_hash(height).unwrap().unwrap(),
            block.header.hash()
        );
        let txids = block.txids();
        if height == 0 {
            assert_eq!(
                reader.block_txids(0).unwrap(),
                None,
                "genesis txs are not indexed"
            );
            assert_eq!(reader.txid_at(0, 0).unwrap(), None);
            continue;
        }
        assert_eq!(reader.block_txids(height).unwrap().unwrap(), txids);
        for (pos, txid) in txids.iter().enumerate() {
            let loc = reader.tx_location(txid).unwrap().unwrap();
            assert_eq!((loc.height, loc.position), (height, pos as u32));
            assert_eq!(reader.txid(loc.tx_num).unwrap(), Some(*txid));
            assert_eq!(reader.txid_at(height, pos as u32).unwrap(), Some(*txid));
            let summary = reader.tx_summary(txid).unwrap().unwrap();
            let tx = &block.txs[pos];
            assert_eq!(summary.outputs.len(), tx.outputs.len());
            for (o, (_, v)) in tx.outputs.iter().zip(&summary.outputs) {
                assert_eq!(o.value, *v);
            }
            let n_inputs = if tx.is_coinbase() { 0 } else { tx.inputs.len() };
            assert_eq!(
                summary.inputs.len(),
                n_inputs,
                "inputs of {}",
                display_hex(txid)
            );
            for (i, input) in tx.inputs.iter().enumerate().take(n_inputs) {
                let prev = reader
                    .output(&input.prevout.txid, input.prevout.vout)
                    .unwrap()
                    .unwrap();
                assert_eq!(prev.value, summary.inputs[i].1);
                assert_eq!(prev.address, summary.inputs[i].0);
                assert_eq!(prev.spent_by, Some(loc.tx_num));
            }
        }
        assert_eq!(reader.txid_at(height, txids.len() as u32).unwrap(), None);
    }
    let headers = reader.headers(10, 5).unwrap();
    assert_eq!(headers.len(), 5);
    assert_eq!(headers[2], reader.header(12).unwrap().unwrap());
    assert_eq!(
        reader.headers(2499, 10).unwrap().len(),
        2,
        "clamped to the tip"
    );

    // Keva: every namespace has a profile, reactions count like the truth's histories, pages
    // are newest first below the start.
    assert!(truth.namespaces.len() >= 3, "the chain has keva activity");
    let mut seen_reactions = 0;
    for (ns, nt) in &truth.namespaces {
        // The profile history's first entry (the short code's height and position) is the
        // registration, and it names the namespace.
        let (registration, _) = reader.profile_entries(&profile_sh(ns)).unwrap();
        let registration = registration.expect("registered");
        let first = &nt.events[0];
        let loc = reader.tx_location(&first.txid).unwrap().unwrap();
        assert_eq!(
            (registration.item.height, registration.position),
            (loc.height, loc.position)
        );
        assert!(
            matches!(page_op(&registration), Some(KevaOp::Namespace { display_name, .. }) if !display_name.is_empty())
        );
        let sh = index_scripthash(ns);
        let all = reader.history(&sh, 1 << 20).unwrap();
        assert_eq!(
            all.len(),
            nt.events.len(),
            "namespace history = its operations"
        );
        let page = reader.history_page(&sh, None, 3).unwrap();
        let newest: Vec<_> = all.iter().rev().take(3).cloned().collect();
        assert_eq!(page, newest);
        if let Some(last) = page.last() {
            let next = reader.history_page(&sh, Some(last.tx_num), 3).unwrap();
            let want: Vec<_> = all.iter().rev().skip(3).take(3).cloned().collect();
            assert_eq!(next, want);
        }
        // The one-query page agrees with the lookups one by one.
        let keva_page = reader.keva_page(&sh, None, 1 << 20).unwrap();
        assert_eq!(keva_page.len(), all.len());
        for (p, h) in keva_page.iter().zip(all.iter().rev()) {
            assert_eq!(&p.item, h);
            assert_eq!(p.time, reader.block_time(h.height).unwrap());
            let loc = reader.tx_location_of(h.tx_num).unwrap().unwrap();
            assert_eq!(p.position, loc.position);
            assert_eq!(p.banned, reader.is_banned(&h.txid).unwrap());
            assert_eq!(p.op, reader.keva_op(h.tx_num).unwrap().map(|r| r.op));
            assert_eq!(p.reactions, reader.reaction_counts(&h.txid).unwrap());
            let id = p.op.as_ref().map(|op| namespace_to_string(op.namespace()));
            assert_eq!(p.namespace_id, id.unwrap_or_default());
        }
        assert_eq!(reader.keva_first(&sh).unwrap().as_ref(), keva_page.last());
        for e in &nt.events {
            let loc = reader.tx_location(&e.txid).unwrap().unwrap();
            let row = reader.keva_op(loc.tx_num).unwrap().expect("keva op row");
            assert_eq!(row.op.namespace(), e.op.namespace());
            assert_eq!(row.op.key(), e.op.key());
            let counts = reader.reaction_counts(&e.txid).unwrap();
            let want = |k: u8| truth.history(&reaction_scripthash(&e.txid, k)).len() as u64;
            assert_eq!(
                (counts.replies, counts.shares, counts.likes),
                (want(1), want(2), want(3))
            );
            seen_reactions += counts.replies + counts.shares + counts.likes;
        }
        let profile_sh = index_scripthash(&[ns.as_slice(), PROFILE_KEY].concat());
        assert!(!reader.history(&profile_sh, 10).unwrap().is_empty());
    }
    assert!(seen_reactions > 0, "the chain has replies, shares or likes");
    assert_eq!(
        reader.reaction_counts(&[7; 32]).unwrap(),
        ReactionCounts::default(),
        "a txid nobody reacted to"
    );
}

#[test]
fn operator_views_answer_what_the_operator_types() {
    let node = start_node(600, 11);
    let dir = TempDir::new("views");
    let db = dir.db("index.db");
    sync_to_tip(&db, &node.url(), quiet_config(50_000));
    let reader = Reader::open(&db, Network::Regtest, 8).unwrap();
    let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    // Pick the address with the longest history.
    let (address, sh_blob): (String, Vec<u8>) = conn
        .query_row(
            "SELECT s.address, s.scripthash FROM scripts s JOIN history h ON h.script_id = s.id
             WHERE s.address NOT LIKE 'unh%' AND s.address IS NOT NULL
             GROUP BY s.id ORDER BY count(*) DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let mut sh: [u8; 32] = sh_blob.try_into().unwrap();
    sh.reverse();
    let history: Vec<String> = conn
        .prepare("SELECT txid_hex FROM address_history WHERE address = ?1 ORDER BY tx_num")
        .unwrap()
        .query_map([&address], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let want: Vec<String> = reader
        .history(&sh, 1 << 20)
        .unwrap()
        .iter()
        .map(|i| display_hex(&i.txid))
        .collect();
    assert!(history.len() > 1);
    assert_eq!(history, want);
    let balance: i64 = conn
        .query_row(
            "SELECT balance_sat FROM address_balance WHERE address = ?1",
            [&address],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(balance as u64, reader.balance(&sh).unwrap());
    let utxos: i64 = conn
        .query_row(
            "SELECT count(*) FROM address_utxos WHERE address = ?1",
            [&address],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(utxos as usize, reader.utxos(&sh).unwrap().len());
    // The address is what the chain code renders for the script's history.
    let plan: String = conn
        .query_row(
            "EXPLAIN QUERY PLAN SELECT * FROM address_history WHERE address = 'x'",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(
        plan.contains("scripts_by_address"),
        "address lookups use the index: {plan}"
    );
    // A transaction by the hex an operator copies from an explorer.
    let txid = want.last().unwrap();
    let (height, outputs): (u32, i64) = conn
        .query_row(
            &format!("SELECT height, outputs FROM tx_info WHERE txid = x'{txid}'"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(height > 0 && outputs > 0);
    let n_out: i64 = conn
        .query_row(
            &format!("SELECT count(*) FROM tx_outputs WHERE txid = x'{txid}'"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n_out, outputs);
    // Namespaces with display names, and the latest operations.
    let truth = node.truth();
    let names: i64 = conn
        .query_row("SELECT count(*) FROM keva_namespaces", [], |r| r.get(0))
        .unwrap();
    assert_eq!(names as usize, truth.namespaces.len());
    let (ns, nt) = truth.namespaces.iter().next().unwrap();
    let id = keva_electrum::chain::keva::namespace_to_string(ns);
    let (registered, display): (String, String) = conn
        .query_row(
            "SELECT registered_name, display_name FROM keva_namespaces WHERE namespace = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(registered.as_bytes(), nt.display_name.as_slice());
    assert_eq!(display, shown_display_name(&reader, ns));
    let latest: Vec<(i64, String)> = conn
        .prepare("SELECT tx_num, op FROM keva_latest LIMIT 5")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!latest.is_empty());
    assert!(latest.windows(2).all(|w| w[0].0 > w[1].0), "newest first");
    assert!(latest
        .iter()
        .all(|(_, op)| ["REG", "PUT", "DEL"].contains(&op.as_str())));
}
