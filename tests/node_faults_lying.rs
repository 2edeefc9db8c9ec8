//! A lying or failing node under the real binary: bad blocks are refused with a log line naming
//! them, the last good state stays served, and the sync resumes once the node is sane again.

mod hostile_common;

use std::time::{Duration, Instant};

use hostile_common::*;
use keva_electrum::chain::hash::hash_to_hex;
use keva_electrum::devnode::{Fault, Lie};

/// Holds for `d` that the server keeps announcing `height` and answering innocent clients.
fn holds_height(server: &mut Server, height: u64, d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        assert_eq!(
            server.height(),
            height,
            "the server moved past the bad block"
        );
        server.probe();
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn lying_blocks_are_refused_and_sync_resumes() {
    let node = start_node(30, 11);
    let dir = TempDir::new("lying");
    let mut server = Server::start(ServerOpts::new(node.url(), dir.path()));
    let mut audits = Audit::default();
    for lie in [Lie::BadMerkleRoot, Lie::WrongHash, Lie::BadPrevHash] {
        let good = node.height();
        node.mine(2);
        let bad = good + 1;
        let named = node
            .set_lie(Some((bad, lie)))
            .expect("the stand-in forges the block")
            .expect("a hash is announced");
        let named = hash_to_hex(&named);
        server.wait_for(&named, Duration::from_secs(10));
        let line = server
            .proc
            .lines
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains(&named))
            .cloned()
            .unwrap();
        eprintln!("{lie:?}: {line}");
        holds_height(&mut server, u64::from(good), Duration::from_secs(1));
        node.set_lie(None).unwrap();
        server.wait_height(u64::from(node.height()), Duration::from_secs(10));
        let a = audit(&mut server, &node);
        audits.cases += a.cases;
        audits.lost += a.lost;
        server.wait_for("sync resumed", Duration::from_secs(5));
    }
    assert!(integrity_ok(&dir.path().join("index.db")));
    eprintln!(
        "lying node: 3 lies refused, {} cases audited, {} lost",
        audits.cases, audits.lost
    );
}

#[test]
fn http_errors_truncation_and_closed_connections_pause_the_sync() {
    let node = start_node(30, 12);
    let dir = TempDir::new("faults");
    let mut server = Server::start(ServerOpts::new(node.url(), dir.path()));
    for fault in [
        Fault::Http500,
        Fault::Truncate,
        Fault::Close,
        Fault::WarmingUp,
    ] {
        let good = node.height();
        let before = server.proc.lines.lock().unwrap().len();
        node.set_fault(Some(fault.clone()), 1_000_000);
        node.mine(3);
        // Every node call fails now: the tip stays, clients are served, the log says why.
        holds_height(&mut server, u64::from(good), Duration::from_millis(1500));
        let said = server.proc.lines.lock().unwrap()[before..]
            .iter()
            .any(|l| l.contains("retrying") || l.contains("warming up") || l.contains("Loading"));
        assert!(said, "{fault:?}: nothing logged:\n{}", server.log());
        node.set_fault(None, 0);
        server.wait_height(u64::from(node.height()), Duration::from_secs(15));
    }
    let a = audit(&mut server, &node);
    eprintln!(
        "failing node: 4 faults, {} cases audited, {} lost",
        a.cases, a.lost
    );
    assert!(integrity_ok(&dir.path().join("index.db")));
}

#[test]
fn node_restarts_mid_sync() {
    let seed = 13;
    let node = start_node(1500, seed);
    let port = node.addr().port();
    let tip = node.tip();
    let dir = TempDir::new("restart");
    // Slow the node down so the initial sync is still running when it goes away.
    node.set_fault(Some(Fault::Delay(Duration::from_millis(150))), 1_000_000);
    let mut server = Server::spawn(ServerOpts::new(node.url(), dir.path()));
    std::thread::sleep(Duration::from_millis(1200));
    drop(node);
    std::thread::sleep(Duration::from_millis(1500));
    server.assert_alive();
    // The same chain comes back on the same port.
    let node = start_node_on(1500, seed, port);
    assert_eq!(
        node.tip(),
        tip,
        "the restarted stand-in serves the same chain"
    );
    server.wait_for("serving tcp on", Duration::from_secs(60));
    server.wait_height(1500, Duration::from_secs(20));
    // At the tip: the node goes away and comes back with more blocks.
    drop(node);
    std::thread::sleep(Duration::from_millis(1000));
    server.probe();
    let node = start_node_on(1500, seed, port);
    node.mine(5);
    server.wait_height(1505, Duration::from_secs(20));
    let a = audit(&mut server, &node);
    eprintln!(
        "restarting node: {} cases audited, {} lost",
        a.cases, a.lost
    );
    assert!(integrity_ok(&dir.path().join("index.db")));
}

#[test]
fn node_goes_back_in_height() {
    let node = start_node(40, 14);
    let dir = TempDir::new("back");
    let mut server = Server::start(ServerOpts::new(node.url(), dir.path()));
    node.rewind(33);
    server.wait_height(33, Duration::from_secs(10));
    server.probe();
    let a1 = audit(&mut server, &node);
    node.mine(4);
    server.wait_height(37, Duration::from_secs(10));
    let a2 = audit(&mut server, &node);
    eprintln!(
        "node going back 7 blocks: {} cases audited, {} lost",
        a1.cases + a2.cases,
        a1.lost + a2.lost
    );
    assert!(integrity_ok(&dir.path().join("index.db")));
}
