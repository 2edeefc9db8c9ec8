//! End to end: `keva-electrum ban` / `unban` / `banned` against a running server. A banned post
//! disappears from the keva methods at once, stays hidden across a restart, and comes back when
//! unbanned; bad input changes nothing.

mod e2e_util;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use e2e_util::*;
use keva_electrum::chain::hash::hash_to_hex;
use keva_electrum::chain::keva::index_scripthash;
use keva_electrum::chain::script::scripthash_to_hex;
use keva_electrum::devnode::{DevNode, DevNodeConfig};
use serde_json::{json, Value};

fn cli(db: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keva-electrum"))
        .args(args)
        .env_clear()
        .env("DB_DIRECTORY", db)
        .env("NET", "regtest")
        .output()
        .expect("run keva-electrum");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn keys(reply: &Value) -> Vec<String> {
    reply["keyvalues"]
        .as_array()
        .expect("keyvalues")
        .iter()
        .map(|kv| kv["tx_hash"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn ban_hides_keva_content_across_restarts_and_unban_restores_it() {
    let node = DevNode::start(DevNodeConfig {
        blocks: 110,
        seed: 11,
        ..DevNodeConfig::default()
    })
    .expect("stand-in");
    let (_, ns) = node.keva_namespace("moderated").unwrap();
    node.mine(1);
    let good = node.keva_put(&ns, b"fine", b"a good post").unwrap();
    node.mine(1);
    let bad = node.keva_put(&ns, b"spam", b"buy #now").unwrap();
    node.mine(1);
    let ns_sh = scripthash_to_hex(&index_scripthash(&ns));
    let tag_sh = scripthash_to_hex(&index_scripthash(b"now"));
    let (good, bad) = (hash_to_hex(&good), hash_to_hex(&bad));

    let server = start_server(&node.url(), ServerOpts::default());
    let db = server.db.clone();
    let mut client = tcp(server.tcp);
    let page = client.result("blockchain.keva.get_keyvalues", json!([ns_sh, -1]));
    assert!(keys(&page).contains(&bad) && keys(&page).contains(&good));
    let tag = client.result("blockchain.keva.get_hashtag", json!([tag_sh, -1]));
    assert_eq!(tag["hashtags"].as_array().unwrap().len(), 1);

    // Bad input: a clear error, nothing written.
    let (ok, text) = cli(&db, &["ban", "not-a-txid"]);
    assert!(!ok && text.contains("not a transaction id"), "{text}");
    let (ok, text) = cli(&db, &["ban", &bad, "spam"]);
    assert!(!ok && text.contains("whole number"), "{text}");
    let (ok, text) = cli(&db, &["banned"]);
    assert!(ok && text.contains("0 banned"), "{text}");

    let (ok, text) = cli(&db, &["ban", &bad, "1"]);
    assert!(ok, "{text}");
    let page = client.result("blockchain.keva.get_keyvalues", json!([ns_sh, -1]));
    assert!(
        !keys(&page).contains(&bad),
        "banned post still listed: {page}"
    );
    assert!(keys(&page).contains(&good));
    let tag = client.result("blockchain.keva.get_hashtag", json!([tag_sh, -1]));
    assert!(tag["hashtags"].as_array().unwrap().is_empty(), "{tag}");
    let reactions = client.result("blockchain.keva.get_keyvalue_reactions", json!([bad, -1]));
    assert_eq!(reactions, json!({"result": {}}));
    let (ok, text) = cli(&db, &["banned"]);
    assert!(
        ok && text.contains(&bad) && text.contains("1 banned"),
        "{text}"
    );

    // A restart keeps the ban.
    drop(client);
    let mut server = server;
    server.proc.signal("TERM");
    server.proc.wait_exit(Duration::from_secs(20));
    let server = start_server(
        &node.url(),
        ServerOpts {
            db: Some(db.clone()),
            ..ServerOpts::default()
        },
    );
    let mut client = tcp(server.tcp);
    let page = client.result("blockchain.keva.get_keyvalues", json!([ns_sh, -1]));
    assert!(
        !keys(&page).contains(&bad),
        "the ban must survive a restart"
    );

    let (ok, text) = cli(&db, &["unban", &bad]);
    assert!(ok && text.contains("unbanned"), "{text}");
    let page = client.result("blockchain.keva.get_keyvalues", json!([ns_sh, -1]));
    assert!(keys(&page).contains(&bad), "unbanned post is back");
    let (ok, text) = cli(&db, &["unban", &bad]);
    assert!(ok && text.contains("was not banned"), "{text}");
}
