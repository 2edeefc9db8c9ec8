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
            ..ServerOpts::default()
        },
    );
    let port = server.rpc.expect("rpc service");
    let mut client = tcp(server.tcp);
    client.result("server.version", json!(["admin-test", "1.4"]));

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

    let (code, text) = rpc(port, &["stop"]);
    assert_eq!(code, 0, "{text}");
    let status = server.proc.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "stop ends the server cleanly: {status}");
}
