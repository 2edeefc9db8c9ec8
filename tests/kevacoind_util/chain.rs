//! Test chains mined by the real node once, not per test: a recipe runs against a fresh
//! regtest node, the stopped node's data directory is kept under `target/tmp/kevacoind-chains/`
//! with the facts the tests need (`facts.json`), and every test starts its own node on a copy.
//! The cache is keyed by the chain's name, its recipe version and the node's version, so
//! changing a recipe means bumping its version.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use serde_json::{json, Value};

use super::node::{kevacoind_version, Auth, Kevacoind};
use super::wallet::{Reaction, COIN};

/// A mined chain: a stopped node's data directory and what its recipe made.
pub struct Chain {
    /// The data directory (copied, never used in place).
    pub datadir: PathBuf,
    /// What the recipe recorded (see [`base_recipe`]), plus `tip` and `node_version`.
    pub facts: Value,
}

impl Chain {
    /// A node of its own on a copy of the chain.
    pub fn node(&self, auth: Auth) -> Kevacoind {
        Kevacoind::start(Some(&self.datadir), auth, &[])
    }

    /// The same with extra command-line arguments.
    pub fn node_with(&self, auth: Auth, args: &[&str]) -> Kevacoind {
        Kevacoind::start(Some(&self.datadir), auth, args)
    }

    /// The chain's height.
    pub fn tip(&self) -> u64 {
        self.facts["tip"].as_u64().unwrap()
    }
}

/// The chain `name` as `recipe` (version `version`) makes it: from the cache, or mined now.
pub fn cached(name: &str, version: u32, recipe: fn(&Kevacoind) -> Value) -> Chain {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kevacoind-chains");
    let dir = root.join(format!("{name}-v{version}"));
    let node_version = kevacoind_version();
    if let Some(chain) = load(&dir, &node_version) {
        return chain;
    }
    let _ = std::fs::remove_dir_all(&dir);
    // Built aside and renamed into place, so a chain in the cache is always complete.
    let building = root.join(format!("{name}-v{version}.building-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    let started = Instant::now();
    let mut node = Kevacoind::start_in(building.join("datadir"), None, Auth::Password, &[]);
    let mut facts = recipe(&node);
    facts["tip"] = json!(node.height());
    facts["node_version"] = json!(node_version);
    node.stop();
    drop(node);
    std::fs::write(building.join("facts.json"), facts.to_string()).expect("write facts.json");
    eprintln!(
        "mined the {name} chain ({} blocks) with kevacoind in {:.1}s; cached in {}",
        facts["tip"],
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    if std::fs::rename(&building, &dir).is_err() {
        // Another test process cached the same chain meanwhile: use that one.
        let _ = std::fs::remove_dir_all(&building);
    }
    load(&dir, &node_version).expect("the chain just cached can be read")
}

fn load(dir: &Path, node_version: &str) -> Option<Chain> {
    let facts: Value = serde_json::from_slice(&std::fs::read(dir.join("facts.json")).ok()?).ok()?;
    (facts["node_version"] == node_version && dir.join("datadir/regtest").is_dir()).then(|| Chain {
        datadir: dir.join("datadir"),
        facts,
    })
}

/// The chain most real-node tests share (built once per test process at most).
pub fn base_chain() -> &'static Chain {
    static CHAIN: OnceLock<Chain> = OnceLock::new();
    CHAIN.get_or_init(|| cached("base", 2, base_recipe))
}

/// ~120 blocks: 110 mined to the wallet (coinbases mature), payments to legacy, P2SH-segwit
/// and bech32 addresses (single and `sendmany`), three namespaces (one display name in
/// multi-byte UTF-8), a JSON profile, posts with hashtags (mixed case, `ß`, repeated tags), a
/// 3,000-byte value, an updated and a deleted key, and replies, a share and a like (with its
/// reward payment) to a post.
///
/// Facts: `addresses` [address], `namespaces` {who: id}, `names` {who: display name as shown},
/// `posts` {"who/key": txid of its first put}, `tags` {tag: [txid]}, `reactions`
/// [{kind 1|2|3, post, txid, from}], `payments` [txid].
pub fn base_recipe(node: &Kevacoind) -> Value {
    node.mine(110);
    let addresses: Vec<String> = [
        "legacy",
        "legacy",
        "p2sh-segwit",
        "p2sh-segwit",
        "bech32",
        "bech32",
    ]
    .iter()
    .map(|kind| node.new_address(kind))
    .collect();
    let mut payments = Vec::new();
    for (i, a) in addresses.iter().enumerate() {
        payments.push(node.pay(a, (i as u64 + 1) * COIN + 12_345));
    }
    node.mine(1);
    let many: serde_json::Map<String, Value> = addresses[1..4]
        .iter()
        .enumerate()
        .map(|(i, a)| (a.clone(), json!(0.25 * (i + 1) as f64)))
        .collect();
    payments.push(
        node.call("sendmany", json!(["", many]))
            .as_str()
            .unwrap()
            .to_string(),
    );
    node.mine(1);

    let (_, alice) = node.keva_namespace("Alice");
    let (_, bob) = node.keva_namespace("Bob's blog");
    let (_, carol) = node.keva_namespace("Carol ✓ ünïcode");
    assert!(
        alice != bob && bob != carol && alice != carol,
        "three namespaces"
    );
    node.mine(1);
    node.keva_put(
        &alice,
        "\u{1}_KEVA_NS_",
        r#"{"displayName":"Alice A.","bio":"posts"}"#,
    );
    let post1 = node.keva_put(&alice, "post-1", "Hello #Kevacoin world, #rust is fun");
    let post2 = node.keva_put(&alice, "post-2", "Über #Straße and #kevacoin again");
    node.mine(1);
    let big = format!("#big {}", "x".repeat(2_995));
    let post3 = node.keva_put(&alice, "post-3", &big);
    let edit1 = node.keva_put(&alice, "post-1", "Edited: #rust #Rust");
    node.keva_delete(&alice, "post-2");
    node.mine(1);

    let reply1 =
        node.send_raw(&node.keva_react_tx(&bob, Reaction::Reply, &post1, "Nice post #kevacoin", 0));
    let bob1 = node.keva_put(&bob, "bob-1", "#Rust from bob");
    let reply2 =
        node.send_raw(&node.keva_react_tx(&bob, Reaction::Reply, &post1, "second reply", 0));
    let like = node.send_raw(&node.keva_react_tx(&carol, Reaction::Like, &post1, "", COIN / 2));
    let share = node.send_raw(&node.keva_react_tx(
        &carol,
        Reaction::Share,
        &post1,
        "Look at this #Kevacoin",
        0,
    ));
    let carol1 = node.keva_put(&carol, "carol-1", "✓ #kevacoin ✓");
    node.mine(1);

    for (i, a) in addresses.iter().enumerate().step_by(2) {
        payments.push(node.pay(a, COIN / 10 * (i as u64 + 1)));
    }
    node.mine(3);

    json!({
        "addresses": addresses,
        "namespaces": {"alice": alice, "bob": bob, "carol": carol},
        "names": {"alice": "Alice A.", "bob": "Bob's blog", "carol": "Carol ✓ ünïcode"},
        "posts": {"alice/post-1": post1, "alice/post-2": post2, "alice/post-3": post3,
                  "alice/post-1 edit": edit1, "bob/bob-1": bob1, "carol/carol-1": carol1},
        "tags": {
            "kevacoin": [post1, post2, reply1, share, carol1],
            "rust": [post1, edit1, bob1],
            "straße": [post2],
            "big": [post3],
        },
        "reactions": [
            {"kind": 1, "post": post1, "txid": reply1, "from": "bob"},
            {"kind": 1, "post": post1, "txid": reply2, "from": "bob"},
            {"kind": 3, "post": post1, "txid": like, "from": "carol"},
            {"kind": 2, "post": post1, "txid": share, "from": "carol"},
        ],
        "payments": payments,
    })
}
