//! End to end: `keva-electrum rpc COMMAND` against the real server binary, for every command
//! the chain side answers and the session listings the server answers itself.

mod e2e_util;

use std::process::Command;
use std::time::Duration;

use e2e_util::*;
use keva_electrum::chain::hash::hash_to_hex;
use keva_electrum::devnode::wallet::AddrKind;
use keva_electrum::devnode::{DevNode, DevNodeConfig};
use serde_json::json;

fn rpc(port: u16, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keva-electrum"))
        .arg("rpc")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("run keva-electrum rpc");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn the_admin_cli_runs_each_command_against_a_live_server() {
    let node = DevNode::start(DevNodeConfig {
        blocks: 120,
        seed: 21,
        ..DevNodeConfig::default()
    })
    .expect("stand-in");
    let (script, address) = node.new_address(AddrKind::P2pkh);
    let paid = node.pay(&script, 123_456_789).unwrap();
    node.mine(1);
    let (_, ns) = node.keva_namespace("admin").unwrap();
    node.mine(1);
    let post = node.keva_put(&ns, b"k", b"v").unwrap();
    node.mine(1);

    let mut server = start_server(
        &node.url(),
        ServerOpts {
            rpc: true,
            env: vec![("DROP_CLIENT", r"Electrum 3\.|ancient".to_string())],
            ..ServerOpts::default()
        },
    );
    let port = server.rpc.expect("rpc service");
    let mut client = tcp(server.tcp);
    client.result("server.version", json!(["admin-test", "1.4"]));
    client.result("blockchain.headers.subscribe", json!([]));

    // DROP_CLIENT: a matching wallet gets ElectrumX's error and is disconnected.
    let mut dropped = tcp(server.tcp);
    let refused = dropped.call("server.version", json!(["Electrum 3.3.8", "1.4"]));
    assert_eq!(
        refused["error"],
        json!({"code": 1, "message": "unsupported client: Electrum 3.3.8"})
    );
    assert!(dropped.closed_within(Duration::from_secs(5)));

    let (code, text) = rpc(port, &["getinfo"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("\"db height\": 123"), "{text}");
    assert!(text.contains("\"daemon height\": 123"), "{text}");

    let (code, text) = rpc(port, &["sessions"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("admin-test"),
        "the connected client is listed: {text}"
    );

    let (code, text) = rpc(port, &["query", &address]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&hash_to_hex(&paid)), "{text}");
    assert!(text.contains("balance: 123456789 sat"), "{text}");

    let (code, text) = rpc(port, &["query", "not-an-address"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("neither"), "{text}");

    let (code, text) = rpc(port, &["daemon_url"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        !text.contains("pass"),
        "no credentials in the answer: {text}"
    );

    let txid = hash_to_hex(&post);
    let (code, text) = rpc(port, &["keva_ban_tx", &txid]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = rpc(port, &["keva_unban_tx", &txid]);
    assert!(code == 0 && text.contains("unbanned"), "{text}");
    // Refused by the CLI itself, as a usage error, before anything is sent.
    let (code, text) = rpc(port, &["keva_ban_tx", "zz"]);
    assert!(code == 2 && text.contains("not a transaction id"), "{text}");

    // reorg: the last 3 blocks are undone and indexed again from the node; nothing changes
    // for wallets but the notifications a reorg sends.
    let (code, text) = rpc(port, &["reorg", "900"]);
    assert!(code == 1 && text.contains("REORG_LIMIT=800"), "{text}");
    let (code, text) = rpc(port, &["reorg", "3"]);
    assert_eq!(
        (code, text.as_str()),
        (0, "scheduled a reorg of 3 blocks\n")
    );
    server.proc.wait_for(
        "reorg forced by the admin command: rolling back 3 block(s) from 123",
        Duration::from_secs(20),
    );
    server
        .proc
        .wait_for("reorg of 3 block(s)", Duration::from_secs(20));
    let (code, text) = rpc(port, &["query", &address]);
    assert!(code == 0 && text.contains(&hash_to_hex(&paid)), "{text}");

    // daemon_url: a node that cannot be reached or is on another network is refused and the
    // old one kept; another node of the same network is switched to, and the index follows
    // its chain; no argument goes back to DAEMON_URL.
    let (code, text) = rpc(port, &["daemon_url", "http://user:pass@127.0.0.1:1/"]);
    assert!(
        code == 1 && text.contains("still using the node at"),
        "{text}"
    );
    let mainnet = DevNode::start(DevNodeConfig {
        network: keva_electrum::chain::Network::Mainnet,
        blocks: 3,
        ..DevNodeConfig::default()
    })
    .expect("mainnet stand-in");
    let (code, text) = rpc(port, &["daemon_url", &mainnet.url()]);
    assert!(code == 1 && text.contains("genesis"), "{text}");
    let other = DevNode::start(DevNodeConfig {
        blocks: 130,
        seed: 22,
        ..DevNodeConfig::default()
    })
    .expect("second stand-in");
    let (code, text) = rpc(port, &["daemon_url", &other.url()]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!(
            "now using daemon at {}",
            other.url_without_credentials()
        )),
        "{text}"
    );
    let tip = client
        .notification(
            "blockchain.headers.subscribe",
            Duration::from_secs(30),
            |p| p[0]["height"] == json!(130),
        )
        .expect("the index follows the new node's chain to 130");
    let theirs = node_rpc(
        &other.url(),
        "getblockheader",
        json!([hash_to_hex(&other.tip()), false]),
    )
    .unwrap();
    assert_eq!(tip[0]["hex"], theirs);
    let (code, text) = rpc(port, &["daemon_url"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!(
            "now using daemon at {}",
            node.url_without_credentials()
        )),
        "{text}"
    );

    let (code, text) = rpc(port, &["stop"]);
    assert_eq!(code, 0, "{text}");
    let status = server.proc.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "stop ends the server cleanly: {status}");
}

/// The environment file of the Kevacoin ElectrumX guide, line for line (only the directory,
/// ports, node address and certificate paths are this machine's), starts the server on
/// mainnet: `ssl` serves wallets, `keva-electrum rpc -p PORT` answers on the guide's `rpc`
/// port, and `DB_ENGINE=rocksdb` gets a note instead of an error.
#[test]
fn the_kevacoin_guide_environment_file_starts_the_server() {
    let node = DevNode::start(DevNodeConfig {
        network: keva_electrum::chain::Network::Mainnet,
        blocks: 20,
        seed: 5,
        rpcuser: "u".into(),
        rpcpassword: "p".into(),
        ..DevNodeConfig::default()
    })
    .expect("mainnet stand-in");
    let host = node
        .url()
        .trim_start_matches("http://u:p@")
        .trim_end_matches('/')
        .to_string();
    let ca = TestCa::new("guide", false);
    let db = TempDir::new("guide-db");
    let (rpc_port, ssl_port) = (free_port(), free_port());
    let env_file = ca.dir.path().join("electrumx.env");
    std::fs::write(
        &env_file,
        format!(
            "export DB_DIRECTORY={db}\n\
             export COIN=Kevacoin\n\
             export PEER_ANNOUNCE=on\n\
             export SERVICES=rpc://localhost:{rpc_port},ssl://:{ssl_port}\n\
             export REQUEST_SLEEP=1000\n\
             export INITIAL_CONCURRENT=20\n\
             export COST_HARD_LIMIT=1000000\n\
             export DAEMON_URL=http://u:p@{host}\n\
             export COST_SOFT_LIMIT=100000\n\
             export SSL_CERTFILE={cert}\n\
             export SSL_KEYFILE={key}\n\
             export DB_ENGINE=rocksdb\n",
            db = db.path().display(),
            cert = ca.files.cert.display(),
            key = ca.files.key.display(),
        ),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keva-electrum"));
    cmd.arg("--env-file")
        .arg(&env_file)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    let mut server = Proc::spawn(cmd);
    server.wait_for("serving ssl on", Duration::from_secs(60));
    assert!(
        server.logged("DB_ENGINE"),
        "DB_ENGINE gets a note: {}",
        server.log()
    );

    let mut wallet = tls(
        std::net::SocketAddr::from(([127, 0, 0, 1], ssl_port)),
        ca.client_config(),
    );
    let version = wallet.result("server.version", json!(["guide-wallet", "1.4"]));
    assert_eq!(version[1], json!("1.4"));
    let tip = wallet.result("blockchain.headers.subscribe", json!([]));
    assert_eq!(tip["height"], json!(20));

    let (code, text) = rpc(rpc_port, &["getinfo"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("\"network\": \"mainnet\""), "{text}");
    assert!(text.contains("\"db height\": 20"), "{text}");
    assert!(!text.contains("u:p@"), "no credentials: {text}");
    assert!(server.terminate(), "SIGTERM stops the server cleanly");
}
