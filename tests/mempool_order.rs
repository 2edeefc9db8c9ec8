//! The mempool builder against a real index: a chain of three unconfirmed transactions that
//! arrives child first, one transaction per poll, resolves once the parent arrives. (A node
//! never lists a child before its parent, so this order is driven through the builder.)

mod e2e_util;

use std::time::Duration;

use e2e_util::*;
use keva_electrum::chain::script::scripthash;
use keva_electrum::chain::{Network, OutPoint, Transaction, TxIn, TxOut};
use keva_electrum::devnode::{DevNode, DevNodeConfig};
use keva_electrum::index::read::Reader;
use keva_electrum::mempool::{Builder, OutputLookup, Snapshot};

fn spend(prevout: OutPoint, script: &[u8], value: u64) -> Transaction {
    Transaction {
        version: 2,
        inputs: vec![TxIn {
            prevout,
            script_sig: vec![0x51],
            sequence: 0xffff_ffff,
            witness: Vec::new(),
        }],
        outputs: vec![TxOut {
            value,
            script_pubkey: script.to_vec(),
        }],
        lock_time: 0,
    }
}

#[test]
fn chain_arriving_child_first_resolves_when_the_parent_arrives() {
    let node = DevNode::start(DevNodeConfig {
        blocks: 60,
        seed: 61,
        ..DevNodeConfig::default()
    })
    .unwrap();
    let owner = test_script("order owner");
    let payee = test_script("order payee");
    let funding = node.pay(&owner, 100_000_000).unwrap();
    node.mine(1);
    // Let the real server build the index, then read it.
    let mut server = start_server(&node.url(), ServerOpts::default());
    let mut c = tcp(server.tcp);
    eventually(Duration::from_secs(10), "indexed", || {
        (c.result("blockchain.block.count", serde_json::json!([])) == node.height()).then_some(())
    });
    server.proc.signal("TERM");
    assert!(server.proc.wait_exit(Duration::from_secs(20)).success());
    let reader = Reader::open(&server.db.join("index.db"), Network::Regtest, 4).unwrap();
    let mut lookup = reader;
    assert_eq!(lookup.indexed_tip(), Some(node.tip()));

    let a = spend(
        OutPoint {
            txid: funding,
            vout: 0,
        },
        &owner,
        99_999_000,
    );
    let b = spend(
        OutPoint {
            txid: a.txid(),
            vout: 0,
        },
        &owner,
        99_997_000,
    );
    let d = spend(
        OutPoint {
            txid: b.txid(),
            vout: 0,
        },
        &payee,
        99_994_000,
    );
    let mut builder = Builder::new(64 << 20);
    let empty = Snapshot::default();

    // Poll 1: only the grandchild.
    let listed = vec![d.txid()];
    assert_eq!(builder.missing(&empty, &listed), listed);
    let s1 = builder.build(&empty, &listed, vec![d.clone()], &mut lookup);
    assert!(s1.is_empty(), "a child without its parents is deferred");
    // Poll 2: the child; the deferred grandchild is not fetched again.
    let listed = vec![d.txid(), b.txid()];
    assert_eq!(builder.missing(&s1, &listed), vec![b.txid()]);
    let s2 = builder.build(&s1, &listed, vec![b.clone()], &mut lookup);
    assert!(s2.is_empty());
    // Poll 3: the parent: all three resolve.
    let listed = vec![d.txid(), b.txid(), a.txid()];
    assert_eq!(builder.missing(&s2, &listed), vec![a.txid()]);
    let s3 = builder.build(&s2, &listed, vec![a.clone()], &mut lookup);
    assert_eq!(s3.len(), 3);
    let fees: Vec<(u64, i64)> = [&a, &b, &d]
        .iter()
        .map(|t| {
            let e = s3.get(&t.txid()).expect("resolved");
            (e.fee, e.height())
        })
        .collect();
    assert_eq!(fees, vec![(1_000, 0), (2_000, -1), (3_000, -1)]);
    let owner_sh = scripthash(&owner);
    let payee_sh = scripthash(&payee);
    assert_eq!(s3.history(&owner_sh).len(), 3);
    assert_eq!(s3.balance_delta(&owner_sh), -100_000_000);
    assert_eq!(s3.balance_delta(&payee_sh), 99_994_000);
    assert!(s3.unspent_outputs(&owner_sh).is_empty());
    assert_eq!(s3.unspent_outputs(&payee_sh).len(), 1);

    // The node drops the parent (and so its descendants): the view empties.
    let s4 = builder.build(&s3, &[], Vec::new(), &mut lookup);
    assert!(s4.is_empty());
}
