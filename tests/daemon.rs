//! The kevacoind client against the stand-in over loopback HTTP: every call, batches, auth,
//! cookie, failover, warm-up, timeouts and the start-up refusals.

use keva_electrum::chain::hash::{hash_to_hex, to_hex};
use keva_electrum::chain::{Block, Network, TxOut};
use keva_electrum::daemon::{Daemon, DaemonConfig, Error};
use keva_electrum::devnode::{AddrKind, DevNode, DevNodeConfig, Fault, Shape};
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn node(blocks: u32) -> DevNode {
    DevNode::start(DevNodeConfig {
        blocks,
        seed: 7,
        ..DevNodeConfig::default()
    })
    .expect("start stand-in")
}

fn daemon_for(urls: Vec<String>, timeout: Duration) -> Daemon {
    Daemon::new(DaemonConfig {
        urls,
        cookie_file: None,
        timeout,
        network: Network::Regtest,
    })
    .expect("daemon config")
}

fn client(n: &DevNode) -> Daemon {
    daemon_for(vec![n.url()], Duration::from_secs(10))
}

/// A loopback URL where nothing listens.
fn dead_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://user:deadsecret@127.0.0.1:{port}/")
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("keva-daemon-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn daemon_is_shareable() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Daemon>();
}

#[test]
fn every_call_matches_the_node() {
    let n = node(25);
    let d = client(&n);

    let info = d.startup_check().unwrap();
    assert_eq!(info.chain, "regtest");
    assert_eq!(info.height, 25);
    assert_eq!(info.version, 160_900);
    assert_eq!(info.subversion, "/KevacoinCore:0.16.9/");
    assert_eq!(info.txindex, Some(true));
    assert!(info.to_string().contains("txindex on"), "{info}");

    assert_eq!(d.block_count().unwrap(), 25);
    assert_eq!(d.best_block_hash().unwrap(), n.tip());
    let hashes = d.block_hashes(0, 26).unwrap();
    assert_eq!(hashes.len(), 26);
    assert_eq!(hashes[0], Network::Regtest.genesis_hash());
    for (h, hash) in hashes.iter().enumerate() {
        assert_eq!(Some(*hash), n.block_hash(h as u32));
    }
    let blocks = d.blocks(&hashes).unwrap();
    let mut txids = Vec::new();
    for (h, raw) in blocks.iter().enumerate() {
        assert_eq!(Some(raw.clone()), n.block_bytes(h as u32));
        let b = Block::from_bytes(raw).unwrap();
        let prev = if h == 0 { None } else { Some(hashes[h - 1]) };
        b.validate(Some(h as u32), prev).unwrap();
        if h > 0 {
            txids.extend(b.txids());
        }
    }

    // Transactions, by batch, with an unknown txid in the middle.
    let mut ask = txids[..10].to_vec();
    ask.insert(3, [0x42; 32]);
    let raws = d.raw_transactions(&ask).unwrap();
    assert_eq!(raws.len(), 11);
    assert!(raws[3].is_none());
    for (i, raw) in raws.iter().enumerate().filter(|(i, _)| *i != 3) {
        let tx = keva_electrum::chain::Transaction::from_bytes(raw.as_ref().unwrap()).unwrap();
        assert_eq!(tx.txid(), ask[i]);
    }
    let v = d.transaction_verbose(&txids[5]).unwrap();
    assert_eq!(v["txid"], hash_to_hex(&txids[5]));
    for field in [
        "hash",
        "version",
        "size",
        "vsize",
        "locktime",
        "vin",
        "vout",
        "hex",
        "blockhash",
        "confirmations",
        "time",
        "blocktime",
    ] {
        assert!(!v[field].is_null(), "verbose tx lacks {field}: {v}");
    }
    assert!(v["vout"][0]["scriptPubKey"]["hex"].is_string());

    // Mempool and broadcast.
    assert!(d.raw_mempool().unwrap().is_empty());
    let (script, _) = n.new_address(AddrKind::P2wpkh);
    let paid = n.pay(&script, 123_456).unwrap();
    assert_eq!(d.raw_mempool().unwrap(), vec![paid]);
    assert_eq!(d.mempool_info().unwrap()["size"], 1);
    let built = n
        .with_state(|s| {
            s.wallet.pay(vec![TxOut {
                value: 50_000,
                script_pubkey: script.clone(),
            }])
        })
        .unwrap();
    let hex = to_hex(&built.tx.serialize());
    assert_eq!(d.send_raw_transaction(&hex).unwrap(), Ok(built.txid));
    let again = d.send_raw_transaction(&hex).unwrap().unwrap_err();
    assert_eq!(again.code, -26, "{again}");
    let garbage = d.send_raw_transaction("00ff").unwrap().unwrap_err();
    assert_eq!(garbage.code, -22);
    let mut mempool = d.raw_mempool().unwrap();
    mempool.sort();
    let mut expected = vec![paid, built.txid];
    expected.sort();
    assert_eq!(mempool, expected);

    // Fees and node info.
    assert_eq!(d.estimate_smart_fee(6).unwrap(), Some(0.0002));
    n.set(|s| s.fee_estimate = None);
    assert_eq!(d.estimate_smart_fee(6).unwrap(), None);
    assert_eq!(d.relay_fee().unwrap(), 0.00001);
    assert_eq!(
        d.blockchain_info().unwrap()["bestblockhash"],
        hash_to_hex(&n.tip())
    );
    assert_eq!(d.network_info().unwrap()["protocolversion"], 70_015);

    // A node error on an ordinary call is an Error::Node naming the method.
    let e = d.blocks(&[[7; 32]]).unwrap_err();
    assert!(
        matches!(&e, Error::Node { method, error } if method == "getblock" && error.code == -5),
        "{e}"
    );
}

#[test]
fn large_batches_are_split_and_ordered() {
    let n = DevNode::start(DevNodeConfig {
        blocks: 2600,
        seed: 3,
        shape: Some(Shape::Mainnet),
        ..DevNodeConfig::default()
    })
    .unwrap();
    let d = client(&n);
    let hashes = d.block_hashes(0, 2601).unwrap();
    assert_eq!(hashes.len(), 2601);
    for h in [0u32, 999, 1000, 1001, 2600] {
        assert_eq!(Some(hashes[h as usize]), n.block_hash(h));
    }
    let blocks = d.blocks(&hashes[1000..1300]).unwrap();
    for (i, raw) in blocks.iter().enumerate() {
        let b = Block::from_bytes(raw).unwrap();
        assert_eq!(b.header.height(), 1000 + i as u32);
        assert_eq!(b.header.hash(), hashes[1000 + i]);
    }
}

#[test]
fn threads_share_one_client() {
    let n = node(40);
    let d = client(&n);
    let expected: Vec<_> = (0..=40).map(|h| n.block_hash(h).unwrap()).collect();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let d = d.clone();
            std::thread::spawn(move || {
                let hs = d.block_hashes(0, 41).unwrap();
                let blocks = d.blocks(&hs).unwrap();
                (hs, blocks.len())
            })
        })
        .collect();
    for h in handles {
        let (hs, count) = h.join().unwrap();
        assert_eq!(hs, expected);
        assert_eq!(count, 41);
    }
}

#[test]
fn wrong_password_says_what_to_check() {
    let n = node(2);
    let url = format!("http://user:wrongsecret@{}/", n.addr());
    let d = daemon_for(vec![url], Duration::from_secs(5));
    let e = d.block_count().unwrap_err();
    assert!(matches!(e, Error::Auth { cookie: false, .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("rpcuser") && msg.contains("rpcpassword"),
        "{msg}"
    );
    assert!(!msg.contains("wrongsecret"), "{msg}");
}

#[test]
fn cookie_file_authenticates() {
    let dir = temp_dir("cookie");
    let n = DevNode::start(DevNodeConfig {
        blocks: 3,
        cookie_dir: Some(dir.clone()),
        ..DevNodeConfig::default()
    })
    .unwrap();
    let cookie = n.cookie_file().unwrap();
    assert!(std::fs::read_to_string(&cookie)
        .unwrap()
        .starts_with("__cookie__:"));
    let d = Daemon::new(DaemonConfig {
        urls: vec![n.url_without_credentials()],
        cookie_file: Some(cookie),
        timeout: Duration::from_secs(5),
        network: Network::Regtest,
    })
    .unwrap();
    assert_eq!(d.block_count().unwrap(), 3);

    // Without credentials and without a cookie file the configuration is refused up front.
    let e = Daemon::new(DaemonConfig {
        urls: vec![n.url_without_credentials()],
        cookie_file: None,
        timeout: Duration::from_secs(5),
        network: Network::Regtest,
    })
    .err()
    .unwrap();
    assert!(e.to_string().contains("cookie"), "{e}");
    // A cookie file not there yet is read once the node answers (the node writes it when it
    // starts); when the node answers and there is still none, the error names the file.
    let d = Daemon::new(DaemonConfig {
        urls: vec![n.url_without_credentials()],
        cookie_file: Some(dir.join("missing/.cookie")),
        timeout: Duration::from_secs(5),
        network: Network::Regtest,
    })
    .unwrap();
    let e = d.block_count().unwrap_err();
    assert!(!e.is_transient(), "{e}");
    assert!(e.to_string().contains("missing/.cookie"), "{e}");
    std::fs::create_dir_all(dir.join("missing")).unwrap();
    std::fs::copy(n.cookie_file().unwrap(), dir.join("missing/.cookie")).unwrap();
    assert_eq!(d.block_count().unwrap(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fails_over_to_the_next_url() {
    let n = node(4);
    let d = daemon_for(
        vec![format!("{},{}", dead_url(), n.url())],
        Duration::from_secs(5),
    );
    assert_eq!(d.block_count().unwrap(), 4);
    assert_eq!(d.current_url(), format!("http://{}/", n.addr()));
    // Stays on the working URL afterwards.
    assert_eq!(d.best_block_hash().unwrap(), n.tip());
}

#[test]
fn unreachable_names_the_fix_without_credentials() {
    let d = daemon_for(vec![dead_url(), dead_url()], Duration::from_secs(2));
    let e = d.block_count().unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("is kevacoind running, is `rpcport` right?"),
        "{msg}"
    );
    assert!(msg.contains("http://127.0.0.1:"), "{msg}");
    assert!(
        !msg.contains("deadsecret") && !msg.contains("user:"),
        "{msg}"
    );
}

#[test]
fn waits_while_the_node_warms_up() {
    let n = node(5);
    let d = client(&n);
    n.set_fault(Some(Fault::WarmingUp), 3);
    let start = Instant::now();
    assert_eq!(d.block_count().unwrap(), 5);
    // Three -28 answers were waited out with growing pauses (50 + 100 + 200 ms).
    assert!(
        start.elapsed() >= Duration::from_millis(340),
        "{:?}",
        start.elapsed()
    );
    // Batches too.
    n.set_fault(Some(Fault::WarmingUp), 2);
    assert_eq!(d.block_hashes(0, 6).unwrap().len(), 6);
    // The start-up check reports it as something to wait for, and the start-up wait does.
    n.set_fault(Some(Fault::WarmingUp), 1);
    let e = d.startup_check().unwrap_err();
    assert!(e.is_transient(), "{e}");
    n.set_fault(Some(Fault::WarmingUp), 2);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let info = d.wait_for_node(&stop).unwrap().expect("not stopped");
    assert_eq!(info.height, 5);
}

#[test]
fn slow_node_times_out() {
    let n = node(2);
    let d = daemon_for(vec![n.url()], Duration::from_millis(400));
    n.set_fault(Some(Fault::Delay(Duration::from_millis(1500))), 1);
    let e = d.block_count().unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    assert!(e.to_string().contains("did not answer within 0.4 s"), "{e}");
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(d.block_count().unwrap(), 2);
}

#[test]
fn broken_answers_are_bad_responses() {
    let n = node(2);
    let d = client(&n);
    n.set_fault(Some(Fault::Http500), 1);
    let e = d.block_count().unwrap_err();
    assert!(
        matches!(&e, Error::BadResponse { detail, .. } if detail.contains("HTTP 500")),
        "{e:?}"
    );
    n.set_fault(Some(Fault::Truncate), 1);
    let e = d.block_hashes(0, 3).unwrap_err();
    assert!(matches!(e, Error::BadResponse { .. }), "{e:?}");
    assert_eq!(d.block_count().unwrap(), 2);
    // A connection closed without an answer is retried once on the same URL...
    n.set_fault(Some(Fault::Close), 1);
    assert_eq!(d.block_count().unwrap(), 2);
    // ...and a node that keeps doing it is reported as unreachable.
    n.set_fault(Some(Fault::Close), 2);
    let e = d.block_count().unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");
    assert_eq!(d.block_count().unwrap(), 2);
}

#[test]
fn refuses_a_node_without_txindex() {
    let n = DevNode::start(DevNodeConfig {
        blocks: 3,
        txindex: false,
        ..DevNodeConfig::default()
    })
    .unwrap();
    let e = client(&n).startup_check().unwrap_err();
    assert!(matches!(e, Error::NoTxindex { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("txindex=1") && msg.contains("-reindex"),
        "{msg}"
    );
}

#[test]
fn refuses_a_node_on_another_network() {
    let n = node(3);
    let d = Daemon::new(DaemonConfig {
        urls: vec![n.url()],
        cookie_file: None,
        timeout: Duration::from_secs(5),
        network: Network::Mainnet,
    })
    .unwrap();
    let e = d.startup_check().unwrap_err();
    assert!(matches!(e, Error::WrongNetwork { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("mainnet") && msg.contains("regtest"), "{msg}");
    assert!(
        msg.contains(&hash_to_hex(&Network::Regtest.genesis_hash())),
        "{msg}"
    );
}

#[test]
fn genesis_only_chain_reports_txindex_unknown() {
    let n = node(0);
    let info = client(&n).startup_check().unwrap();
    assert_eq!(info.height, 0);
    assert_eq!(info.txindex, None);
}
