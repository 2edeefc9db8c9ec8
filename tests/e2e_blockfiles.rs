//! End to end, the `keva-electrum` binary against the `keva-devnode` binary charging a real
//! node's block-read cost: the start-up log names the block source and why, the metrics endpoint
//! counts blocks by source, and a node that is not up yet (not listening, then still loading)
//! is waited for with a log line every 10 s, `/health` saying why meanwhile, while
//! misconfiguration stops the server with the fix.

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
            .logged("sync: 301 block(s) read from the node's block files, 0 over RPC (2 parallel)"),
        "{}",
        server.proc.log()
    );
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
                ("DAEMON_PARALLELISM", "3".into()),
                ("METRICS_PORT", port.to_string()),
            ],
            ..ServerOpts::default()
        },
    );
    assert!(
        server.proc.logged_all(&[
            "block source: BLOCK_FILES=off",
            "re-hashes each block's proof of work",
            "(3 parallel getblock calls)"
        ]),
        "{}",
        server.proc.log()
    );
    assert!(
        server
            .proc
            .logged("sync: 0 block(s) read from the node's block files, 301 over RPC (3 parallel)"),
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

/// `/health`'s status and reason (connection refused is `None`).
fn health(port: u16) -> Option<(u16, String)> {
    let answer = match ureq::get(&format!("http://127.0.0.1:{port}/health")).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(_) => return None,
    };
    let status = answer.status();
    let body: serde_json::Value = answer.into_json().expect("/health answers JSON");
    Some((status, body["reason"].as_str().unwrap_or("").to_string()))
}

/// Polls `/health` until its reason starts with `prefix`; the answers seen say why not.
fn wait_health(port: u16, status: u16, prefix: &str, within: Duration) {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let answer = health(port);
        if answer
            .as_ref()
            .is_some_and(|(s, r)| *s == status && r.starts_with(prefix))
        {
            return;
        }
        if seen.last() != Some(&answer) {
            seen.push(answer);
        }
        assert!(
            Instant::now() < deadline,
            "/health never said {status} {prefix:?}; it said {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_server_waits_for_a_node_that_is_not_up_yet() {
    let port = free_port();
    let metrics_port = free_port();
    let url = format!("http://user:pass@127.0.0.1:{port}/");
    let mut server = spawn_server(
        &url,
        ServerOpts {
            env: vec![("METRICS_PORT", metrics_port.to_string())],
            ..ServerOpts::default()
        },
    );
    let shown = format!("waiting for kevacoind at http://127.0.0.1:{port}/");
    server.proc.wait_for(&shown, Duration::from_secs(10));
    assert!(
        server.proc.logged_all(&[&shown, "cannot reach"]),
        "{}",
        server.proc.log()
    );
    // A load balancer gets an answer with the reason, not a refused connection.
    wait_health(
        metrics_port,
        503,
        "node unreachable: cannot reach kevacoind at",
        Duration::from_secs(10),
    );

    // The node comes up but is still loading its block index (-28): still waited for.
    let node = DevNode::start(DevNodeConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], port)),
        blocks: 40,
        ..DevNodeConfig::default()
    })
    .expect("stand-in starts on the port");
    node.set_fault(Some(Fault::WarmingUp), 1_000_000);
    wait_health(
        metrics_port,
        503,
        "node warming up: Loading block index... (code -28)",
        Duration::from_secs(10),
    );
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
    wait_health(metrics_port, 200, "", Duration::from_secs(10));
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

/// The server as user `nobody` with the node's data directory in `DAEMON_DIR`.
fn spawn_as_nobody(url: &str, daemon_dir: &std::path::Path, db: &std::path::Path) -> Proc {
    let runner = as_nobody();
    let mut cmd = std::process::Command::new(&runner[0]);
    cmd.args(&runner[1..])
        .arg(env!("CARGO_BIN_EXE_keva-electrum"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NET", "regtest")
        .env("DB_DIRECTORY", db)
        .env("DAEMON_URL", url)
        .env("DAEMON_DIR", daemon_dir)
        .env("SERVICES", format!("tcp://127.0.0.1:{}", free_port()))
        .env("PEER_DISCOVERY", "off");
    Proc::spawn(cmd)
}

#[test]
fn unreadable_block_files_fall_back_to_rpc_and_say_how_to_fix_it() {
    use std::os::unix::fs::{chown, PermissionsExt};
    assert!(
        !as_nobody().is_empty(),
        "this test needs root to run the server as another user (CI runs as root)"
    );
    let datadir = TempDir::new("e2e-blockfiles-private");
    let node = DevNode::start(DevNodeConfig {
        blocks: 120,
        datadir: Some(datadir.0.clone()),
        block_read_ms: 2,
        ..DevNodeConfig::default()
    })
    .unwrap();
    let blocks = node.blocks_dir().unwrap();
    let db_top = TempDir::new("e2e-blockfiles-private-db");
    let db = db_top.0.join("db");
    std::fs::create_dir_all(&db).unwrap();
    chown(&db, Some(65534), Some(65534)).unwrap();

    // As the node leaves them: a 0700 data directory, 0600 files.
    let mut server = spawn_as_nobody(&node.url(), &datadir.0, &db);
    server.wait_for("index at the node's tip", Duration::from_secs(60));
    assert!(
        server.logged_all(&[
            "block source:",
            &blocks.display().to_string(),
            "is not readable by this user",
            "give this user read access",
        ]),
        "{}",
        server.log()
    );
    assert!(
        server.logged("sync: 0 block(s) read from the node's block files, 121 over RPC"),
        "{}",
        server.log()
    );
    // Every block, and the start-up check's look at block 1 (txindex).
    assert_eq!(node.getblock_calls(), 121 + 1);
    server.terminate();

    // Read access (here plain modes; README gives the ACL recipe that survives new files) and a
    // restart: a far-behind index is caught up from the files.
    for dir in [datadir.0.clone(), datadir.0.join("regtest"), blocks.clone()] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    std::fs::set_permissions(&blocks, std::fs::Permissions::from_mode(0o755)).unwrap();
    for entry in std::fs::read_dir(&blocks).unwrap() {
        let path = entry.unwrap().path();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    node.mine(150);
    let mut server = spawn_as_nobody(&node.url(), &datadir.0, &db);
    server.wait_for(
        "index at the node's tip, height 270",
        Duration::from_secs(60),
    );
    assert!(
        server.logged("sync: 150 block(s) read from the node's block files, 0 over RPC"),
        "{}",
        server.log()
    );
    assert_eq!(
        node.getblock_calls(),
        121 + 2,
        "only the start-up check's getblock"
    );
    server.terminate();
}
