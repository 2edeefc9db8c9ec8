//! End to end, the `keva-electrum` binary against the `keva-devnode` binary charging a real
//! node's block-read cost: the start-up log names the block source and why, the metrics endpoint
//! counts blocks by source, and a node that is not up yet (not listening, then still loading)
//! is waited for with a log line every 10 s while misconfiguration stops the server with the fix.

mod e2e_util;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use e2e_util::*;
use keva_electrum::devnode::{DevNode, DevNodeConfig, Fault};

/// The Prometheus text of the server's metrics endpoint.
fn metrics(port: u16) -> String {
    ureq::get(&format!("http://127.0.0.1:{port}/metrics"))
        .call()
        .expect("metrics endpoint answers")
        .into_string()
        .unwrap()
}

fn counted(text: &str, source: &str) -> u64 {
    let key = format!("keva_electrum_sync_blocks_total{{source=\"{source}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key:?} in\n{text}"))
}

#[test]
fn the_log_and_the_metrics_say_where_blocks_came_from() {
    let datadir = TempDir::new("e2e-blockfiles-node");
    let dir = datadir.0.display().to_string();
    // A real node's cost per block (the files path must not pay it), 300 blocks in small files.
    let (_node, url) = start_devnode_binary_with(
        300,
        "busy",
        5,
        &[
            "--datadir",
            &dir,
            "--block-read-ms",
            "25",
            "--blockfile-size",
            "65536",
        ],
    );
    let blocks_dir = datadir.0.join("regtest/blocks");

    // From the block files.
    let port = free_port();
    let started = Instant::now();
    let server = start_server(
        &url,
        ServerOpts {
            env: vec![
                ("DAEMON_DIR", dir.clone()),
                ("METRICS_PORT", port.to_string()),
            ],
            ..ServerOpts::default()
        },
    );
    let took = started.elapsed();
    let shown = blocks_dir.display().to_string();
    assert!(
        server
            .proc
            .logged_all(&["block source:", "block files in", &shown]),
        "{}",
        server.proc.log()
    );
    assert!(
        server
            .proc
            .logged("sync: 301 block(s) read from the node's block files, 0 over RPC (4 parallel)"),
        "{}",
        server.proc.log()
    );
    // 301 blocks at 25 ms over RPC would take 7.5 s.
    assert!(took < Duration::from_secs(6), "{took:?}");
    let text = metrics(port);
    assert_eq!(counted(&text, "files"), 301);
    assert_eq!(counted(&text, "rpc"), 0);
    drop(server);

    // BLOCK_FILES=off: over RPC, in parallel, and the log says what that costs.
    let port = free_port();
    let server = start_server(
        &url,
        ServerOpts {
            env: vec![
                ("DAEMON_DIR", dir.clone()),
                ("BLOCK_FILES", "off".into()),
                ("DAEMON_PARALLELISM", "2".into()),
                ("METRICS_PORT", port.to_string()),
            ],
            ..ServerOpts::default()
        },
    );
    assert!(
        server.proc.logged_all(&[
            "block source: BLOCK_FILES=off",
            "re-hashes each block's proof of work",
            "(2 parallel getblock calls)"
        ]),
        "{}",
        server.proc.log()
    );
    assert!(
        server
            .proc
            .logged("sync: 0 block(s) read from the node's block files, 301 over RPC (2 parallel)"),
        "{}",
        server.proc.log()
    );
    let text = metrics(port);
    assert_eq!((counted(&text, "files"), counted(&text, "rpc")), (0, 301));
    drop(server);

    // A DAEMON_DIR without the node's blocks: the log names the directory and the fix.
    let empty = TempDir::new("e2e-blockfiles-empty");
    let server = spawn_server(
        &url,
        ServerOpts {
            env: vec![("DAEMON_DIR", empty.0.display().to_string())],
            ..ServerOpts::default()
        },
    );
    let missing = empty.0.join("regtest/blocks").display().to_string();
    let mut server = server;
    server
        .proc
        .wait_for("block source:", Duration::from_secs(30));
    assert!(
        server
            .proc
            .logged_all(&["no block files at", &missing, "set DAEMON_DIR"]),
        "{}",
        server.proc.log()
    );
}

#[test]
fn the_server_waits_for_a_node_that_is_not_up_yet() {
    let port = free_port();
    let url = format!("http://user:pass@127.0.0.1:{port}/");
    let mut server = spawn_server(&url, ServerOpts::default());
    let shown = format!("waiting for kevacoind at http://127.0.0.1:{port}/");
    server.proc.wait_for(&shown, Duration::from_secs(10));
    assert!(
        server.proc.logged_all(&[&shown, "cannot reach"]),
        "{}",
        server.proc.log()
    );

    // The node comes up but is still loading its block index (-28): still waited for.
    let node = DevNode::start(DevNodeConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], port)),
        blocks: 40,
        ..DevNodeConfig::default()
    })
    .expect("stand-in starts on the port");
    node.set_fault(Some(Fault::WarmingUp), 1_000_000);
    // The next line comes 10 s after the first.
    server.proc.wait_for(
        "it is still starting (Loading block index...)",
        Duration::from_secs(15),
    );
    let lines = server.proc.log().matches(&shown).count();
    assert!(lines >= 2, "a line every 10 s:\n{}", server.proc.log());
    server.proc.assert_alive();
    node.set_fault(None, 0);
    server.proc.wait_for(
        "index at the node's tip, height 40",
        Duration::from_secs(30),
    );
    server
        .proc
        .wait_for("serving tcp on", Duration::from_secs(10));
}

#[test]
fn misconfiguration_stops_the_server_with_the_fix() {
    let node = DevNode::start(DevNodeConfig {
        blocks: 5,
        ..DevNodeConfig::default()
    })
    .unwrap();
    let url = format!("http://user:wrong@{}/", node.addr());
    let mut server = spawn_server(&url, ServerOpts::default());
    let status = server.proc.wait_exit(Duration::from_secs(20));
    assert!(!status.success());
    assert!(
        server
            .proc
            .logged_all(&["refused the credentials", "rpcpassword"]),
        "{}",
        server.proc.log()
    );
}
