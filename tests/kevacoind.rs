//! End to end against the real node: the `keva-electrum` binary following `kevacoind` (Kevacoin
//! Core, regtest), every expectation taken from the node's own answers (`getblockheader`,
//! `listunspent`, `gettxout`, `keva_filter`, `keva_get`, …) or from what the node's wallet was
//! asked to make. The chain is mined once and cached (`kevacoind_util::chain`); each test runs
//! its own node on a copy. The node is found as README's "Testing against the real node" says;
//! without it these tests fail.

mod kevacoind_util;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use keva_electrum::chain::hash::from_hex;
use keva_electrum::chain::keva::address_script;
use kevacoind_util::*;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

/// Where the node put a transaction: (height, position in its block), from `getblock`.
struct Places<'a> {
    node: &'a Kevacoind,
    blocks: HashMap<String, (u64, Vec<String>)>,
}

impl<'a> Places<'a> {
    fn new(node: &'a Kevacoind) -> Places<'a> {
        Places {
            node,
            blocks: HashMap::new(),
        }
    }

    fn of(&mut self, txid: &str) -> (u64, usize) {
        let tx = self.node.call("getrawtransaction", json!([txid, 1]));
        let hash = tx["blockhash"]
            .as_str()
            .unwrap_or_else(|| panic!("{txid} is not confirmed"))
            .to_string();
        let node = self.node;
        let (height, txids) = self.blocks.entry(hash.clone()).or_insert_with(|| {
            let b = node.call("getblock", json!([hash, 1]));
            let txids = b["tx"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect();
            (b["height"].as_u64().unwrap(), txids)
        });
        (*height, txids.iter().position(|t| t == txid).unwrap())
    }

    fn time(&self, height: u64) -> u64 {
        let hash = self.node.call("getblockhash", json!([height]));
        self.node.call("getblockheader", json!([hash]))["time"]
            .as_u64()
            .unwrap()
    }

    /// The short code of a confirmed transaction: len(str(height)) ‖ height ‖ position.
    fn short_code(&mut self, txid: &str) -> String {
        let (h, pos) = self.of(txid);
        format!("{}{h}{pos}", h.to_string().len())
    }
}

/// One test's world: its own node on the shared chain and the server synced to it. (Fields
/// drop in order: the server, then the node.)
struct Synced {
    server: Server,
    node: Kevacoind,
    chain: &'static Chain,
}

/// [`Synced`] with extra node command-line `args`.
fn synced(args: &[&str]) -> Synced {
    let chain = base_chain();
    let node = chain.node_with(Auth::Password, args);
    let server = start_server_for(&node, &[]);
    wait_for_tip(&mut tcp(server.tcp), &node, chain.tip());
    Synced {
        server,
        node,
        chain,
    }
}

/// UTXOs as (txid, vout, value, height), the way both sides are compared.
type Utxo = (String, u64, u64, u64);

fn server_utxos(c: &mut TcpClient, sh: &str) -> BTreeSet<Utxo> {
    unspent_set(&c.result("blockchain.scripthash.listunspent", json!([sh])))
}

#[test]
fn headers_utxos_balances_and_histories_equal_the_nodes() {
    let s = synced(&[]);
    let (node, chain, mut c) = (&s.node, s.chain, tcp(s.server.tcp));
    let tip = chain.tip();

    // Every header, byte for byte.
    let headers = node.headers();
    let got = c.result("blockchain.block.headers", json!([0, tip + 1]));
    assert_eq!(got["count"], json!(tip + 1));
    assert_eq!(got["hex"].as_str().unwrap(), headers.concat());
    for h in [0, 1, tip / 2, tip] {
        assert_eq!(
            c.result("blockchain.block.header", json!([h])),
            json!(headers[h as usize])
        );
    }

    // The wallet's unspent outputs, by script (keva prefix stripped, as Electrum indexes).
    let mut by_script: BTreeMap<Vec<u8>, BTreeSet<Utxo>> = BTreeMap::new();
    for u in node.unspent() {
        assert!(u.confirmations > 0, "the chain's mempool is empty");
        by_script
            .entry(address_script(&u.script).to_vec())
            .or_default()
            .insert((u.txid, u64::from(u.vout), u.sats, tip + 1 - u.confirmations));
    }
    assert!(by_script.len() >= 8, "payments, keva outputs and coinbases");
    let mut checked = 0;
    for (script, wallet) in &by_script {
        let sh = sh_hex(script);
        let served = server_utxos(&mut c, &sh);
        // The wallet omits immature coinbases; each UTXO the server adds must be in the node's
        // UTXO set (`gettxout`) with the same value and height.
        assert!(
            wallet.is_subset(&served),
            "{sh}: wallet {wallet:?} vs server {served:?}"
        );
        for (txid, vout, value, height) in served.difference(wallet) {
            let out = node.call("gettxout", json!([txid, vout, false]));
            assert!(
                !out.is_null(),
                "{txid}:{vout} is spent or unknown to the node"
            );
            assert_eq!(wallet::sats(&out["value"]), *value);
            assert_eq!(tip + 1 - out["confirmations"].as_u64().unwrap(), *height);
            assert_eq!(
                address_script(&from_hex(out["scriptPubKey"]["hex"].as_str().unwrap()).unwrap()),
                &script[..]
            );
            checked += 1;
        }
        let total: u64 = served.iter().map(|u| u.2).sum();
        assert_eq!(
            c.result("blockchain.scripthash.get_balance", json!([sh])),
            json!({"confirmed": total, "unconfirmed": 0})
        );
    }
    assert!(checked > 0, "immature coinbases were checked with gettxout");

    // Histories of the paid addresses: complete (every payment the node's wallet received)
    // and each entry at the node's height, with the node's raw transaction.
    let received: Vec<Value> = node
        .call("listreceivedbyaddress", json!([1, false]))
        .as_array()
        .unwrap()
        .clone();
    let mut places = Places::new(node);
    for address in chain.facts["addresses"].as_array().unwrap() {
        let address = address.as_str().unwrap();
        let sh = sh_hex(&node.script_of(address));
        let history = c.result("blockchain.scripthash.get_history", json!([sh]));
        let txids: BTreeSet<&str> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["tx_hash"].as_str().unwrap())
            .collect();
        let paid = received
            .iter()
            .find(|r| r["address"] == address)
            .unwrap_or_else(|| panic!("the node's wallet received nothing at {address}"));
        for txid in paid["txids"].as_array().unwrap() {
            assert!(
                txids.contains(txid.as_str().unwrap()),
                "{address}: {txid} missing from the server's history"
            );
        }
        let mut last = (0, 0);
        for e in history.as_array().unwrap() {
            let txid = e["tx_hash"].as_str().unwrap();
            let (h, pos) = places.of(txid);
            assert_eq!(e["height"], json!(h), "{txid}");
            assert!((h, pos) > last, "history in chain order");
            last = (h, pos);
            assert_eq!(
                c.result("blockchain.transaction.get", json!([txid])),
                node.call("getrawtransaction", json!([txid]))
            );
            assert_eq!(
                c.result("blockchain.transaction.id_from_pos", json!([h, pos])),
                json!(txid)
            );
        }
        let utxos = server_utxos(&mut c, &sh);
        let status = c.result("blockchain.scripthash.subscribe", json!([sh]));
        assert_eq!(status, status_of(&history));
        assert!(!utxos.is_empty() || history.as_array().unwrap().len() >= 2);
    }
}

#[test]
fn keva_answers_equal_the_nodes() {
    let s = synced(&[]);
    let (node, chain, mut c) = (&s.node, s.chain, tcp(s.server.tcp));
    let facts = &chain.facts;
    let mut places = Places::new(node);
    let ns_of = |who: &str| facts["namespaces"][who].as_str().unwrap().to_string();

    // Each namespace's key/values replayed from get_keyvalues = the node's keva_filter; each
    // text key's value = keva_get.
    let mut latest_puts = Vec::new();
    for who in ["alice", "bob", "carol"] {
        let ns = ns_of(who);
        let node_state = node.keva_state(&ns);
        assert_eq!(
            server_keva_state(&mut c, &ns),
            node_state,
            "{who}'s namespace"
        );
        for (key, (value, txid, _)) in &node_state {
            latest_puts.push((txid.clone(), ns.clone(), key.clone(), value.clone()));
            if let Ok(key) = std::str::from_utf8(key) {
                let got = node.call_bytes("keva_get", json!([ns, key]));
                assert_eq!(&bytes_of(&got["value"]), value, "keva_get {key}");
            }
        }
    }
    assert!(latest_puts.len() >= 10, "{latest_puts:?}");

    // get_transactions_info of every transaction behind a current key: its namespace, op, key
    // and value as the node holds them.
    let txids: Vec<&str> = latest_puts.iter().map(|p| p.0.as_str()).collect();
    let infos = c.result(
        "blockchain.keva.get_transactions_info",
        json!([txids, true]),
    );
    for ((txid, ns, key, value), info) in latest_puts.iter().zip(infos.as_array().unwrap()) {
        assert_eq!(info["n"][0], json!(ns), "{txid}: {info}");
        assert_eq!(info["h"], json!(places.of(txid).0), "{txid}");
        if key.as_slice() != b"_KEVA_NS_" {
            assert_eq!(info["kv"]["op"], json!(209), "{txid}");
            assert_eq!(&b64(&info["kv"]["key"]), key, "{txid}");
            assert_eq!(&b64(&info["kv"]["value"]), value, "{txid}");
        }
    }

    // A namespace's short code is its registration's place in the chain.
    let short_codes: HashMap<&str, String> = ["alice", "bob", "carol"]
        .iter()
        .map(|who| {
            let reg = node.call_bytes("keva_get", json!([ns_of(who), "_KEVA_NS_"]))["txid"]
                .as_str()
                .unwrap()
                .to_string();
            (*who, places.short_code(&reg))
        })
        .collect();

    // Hashtags: exactly the posts made with each tag, newest first, each with its author.
    let author_of: HashMap<String, &str> = ["alice", "bob", "carol"]
        .iter()
        .flat_map(|who| {
            let sh = namespace_sh(&ns_of(who));
            all_pages(&mut c, "blockchain.keva.get_keyvalues", &sh, "keyvalues")
                .into_iter()
                .map(move |i| (i["tx_hash"].as_str().unwrap().to_string(), *who))
        })
        .collect();
    for (tag, want) in facts["tags"].as_object().unwrap() {
        let items = all_pages(
            &mut c,
            "blockchain.keva.get_hashtag",
            &hashtag_sh(tag),
            "hashtags",
        );
        let got: BTreeSet<&str> = items
            .iter()
            .map(|i| i["tx_hash"].as_str().unwrap())
            .collect();
        let want: BTreeSet<&str> = want
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(got, want, "#{tag}");
        let mut last = (u64::MAX, usize::MAX);
        for item in &items {
            let txid = item["tx_hash"].as_str().unwrap();
            let who = author_of[txid];
            let place = places.of(txid);
            assert!(place < last, "#{tag}: newest first");
            last = place;
            assert_eq!(item["namespace"], json!(ns_of(who)), "{txid}");
            assert_eq!(item["displayName"], facts["names"][who], "{txid}");
            assert_eq!(item["height"], json!(place.0), "{txid}");
            assert_eq!(item["time"], json!(places.time(place.0)), "{txid}");
            assert_eq!(item["shortCode"], json!(short_codes[who]), "{txid}");
        }
    }

    // Reactions to the post: the two replies with their sender, one share, one like.
    let post = facts["posts"]["alice/post-1"].as_str().unwrap();
    let r = c.result("blockchain.keva.get_keyvalue_reactions", json!([post, -1]));
    let r = &r["result"];
    assert_eq!(r["tx_hash"], json!(post));
    assert_eq!(r["displayName"], json!("Alice A."));
    assert_eq!(r["shortCode"], json!(short_codes["alice"]));
    assert_eq!(b64(&r["key"]), b"post-1");
    assert_eq!(r["height"], json!(places.of(post).0));
    let reactions = facts["reactions"].as_array().unwrap();
    let count = |kind: u64| reactions.iter().filter(|x| x["kind"] == kind).count();
    assert_eq!(r["shares"], json!(count(2)));
    assert_eq!(r["likes"], json!(count(3)));
    let replies: BTreeSet<&str> = r["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["tx_hash"].as_str().unwrap())
        .collect();
    let want: BTreeSet<&str> = reactions
        .iter()
        .filter(|x| x["kind"] == 1)
        .map(|x| x["txid"].as_str().unwrap())
        .collect();
    assert_eq!(replies, want);
    for reply in r["replies"].as_array().unwrap() {
        assert_eq!(reply["sender"]["displayName"], json!("Bob's blog"));
        assert_eq!(reply["sender"]["shortCode"], json!(short_codes["bob"]));
        assert_eq!(reply["type"], json!("PUT"));
    }
    // The counts on the post's own item in its namespace.
    let alice = all_pages(
        &mut c,
        "blockchain.keva.get_keyvalues",
        &namespace_sh(&ns_of("alice")),
        "keyvalues",
    );
    let item = alice.iter().find(|i| i["tx_hash"] == post).unwrap();
    assert_eq!(
        (&item["replies"], &item["shares"], &item["likes"]),
        (&json!(2), &json!(1), &json!(1))
    );
}

#[test]
fn a_payment_and_a_keva_put_unconfirmed_then_confirmed_with_notifications() {
    let s = synced(&[]);
    let (node, chain, mut c) = (&s.node, s.chain, tcp(s.server.tcp));
    let tip = chain.tip();
    let alice = chain.facts["namespaces"]["alice"].as_str().unwrap();

    let address = node.new_address("bech32");
    let sh = sh_hex(&node.script_of(&address));
    let ns_sh = namespace_sh(alice);
    let tag_sh = hashtag_sh("live");
    c.result("blockchain.headers.subscribe", json!([]));
    assert_eq!(
        c.result("blockchain.scripthash.subscribe", json!([sh])),
        Value::Null
    );
    let ns_status = c.result("blockchain.scripthash.subscribe", json!([ns_sh]));
    assert!(!ns_status.is_null());

    // The payment: notified with its mempool status.
    let t = Instant::now();
    let pay = node.pay(&address, 3 * COIN);
    let note = c
        .notification("blockchain.scripthash.subscribe", WAIT, |p| p[0] == sh)
        .expect("a notification for the unconfirmed payment");
    let pay_latency = t.elapsed();
    let history = c.result("blockchain.scripthash.get_history", json!([sh]));
    assert_eq!(history[0]["tx_hash"], json!(pay));
    assert_eq!(history[0]["height"], json!(0));
    assert_eq!(note[1], status_of(&history));
    let balance = c.result("blockchain.scripthash.get_balance", json!([sh]));
    assert_eq!(balance, json!({"confirmed": 0, "unconfirmed": 3 * COIN}));

    // The keva put: the namespace's lookup is notified; the item leads get_keyvalues with no
    // time, as keva_get reports it unconfirmed; get_hashtag shows no mempool items.
    let t = Instant::now();
    let put = node.keva_put(alice, "live", "unconfirmed #Live");
    c.notification("blockchain.scripthash.subscribe", WAIT, |p| p[0] == ns_sh)
        .expect("a notification for the namespace");
    let put_latency = t.elapsed();
    let got = node.call_bytes("keva_get", json!([alice, "live"]));
    assert_eq!(got["height"], json!(-1));
    let page = c.result("blockchain.keva.get_keyvalues", json!([ns_sh, -1]));
    let first = &page["keyvalues"][0];
    assert_eq!(first["tx_hash"], json!(put));
    assert!(first["height"].as_i64().unwrap() <= 0, "{first}");
    assert!(first.get("time").is_none(), "{first}");
    assert_eq!(b64(&first["value"]), bytes_of(&got["value"]));
    assert_eq!(
        c.result("blockchain.keva.get_hashtag", json!([tag_sh, -1]))["hashtags"],
        json!([])
    );

    // A block: the header, then both confirmed.
    let t = Instant::now();
    let hash = node.mine(1).remove(0);
    let header = c
        .notification("blockchain.headers.subscribe", WAIT, |_| true)
        .expect("a header notification");
    let block_latency = t.elapsed();
    assert_eq!(header[0]["height"], json!(tip + 1));
    assert_eq!(
        header[0]["hex"],
        node.call("getblockheader", json!([hash, false]))
    );
    let note = c
        .notification("blockchain.scripthash.subscribe", WAIT, |p| p[0] == sh)
        .expect("a notification for the confirmed payment");
    let history = c.result("blockchain.scripthash.get_history", json!([sh]));
    assert_eq!(history, json!([{"tx_hash": pay, "height": tip + 1}]));
    assert_eq!(note[1], status_of(&history));
    c.notification("blockchain.scripthash.subscribe", WAIT, |p| p[0] == ns_sh)
        .expect("a notification for the namespace");
    let page = c.result("blockchain.keva.get_keyvalues", json!([ns_sh, -1]));
    let first = &page["keyvalues"][0];
    assert_eq!(first["tx_hash"], json!(put));
    assert_eq!(first["height"], json!(tip + 1));
    let time = node.call("getblockheader", json!([hash]))["time"].clone();
    assert_eq!(first["time"], time);
    let tagged = c.result("blockchain.keva.get_hashtag", json!([tag_sh, -1]));
    assert_eq!(tagged["hashtags"][0]["tx_hash"], json!(put));
    assert_eq!(
        server_keva_state(&mut c, alice),
        node.keva_state(alice),
        "alice's namespace after the block"
    );
    eprintln!(
        "notified: payment {:.0} ms, keva put {:.0} ms, block {:.0} ms after the node accepted them",
        pay_latency.as_secs_f64() * 1e3,
        put_latency.as_secs_f64() * 1e3,
        block_latency.as_secs_f64() * 1e3
    );
}

#[test]
fn a_reorg_made_with_invalidateblock_is_followed() {
    // Kevacoin Core leaves replacement off by default; the test replaces a payment.
    let s = synced(&["-mempoolreplacement=1"]);
    let (node, chain, mut c) = (&s.node, s.chain, tcp(s.server.tcp));
    let tip = chain.tip();
    let alice = chain.facts["namespaces"]["alice"].as_str().unwrap();
    let address = node.new_address("p2sh-segwit");
    let sh = sh_hex(&node.script_of(&address));
    c.result("blockchain.headers.subscribe", json!([]));

    // Two blocks: a keva put and a replaceable payment in the first.
    let put = node.keva_put(alice, "reorg", "before #reorg");
    let pay = node
        .call("sendtoaddress", json!([address, 2.0, "", "", false, true]))
        .as_str()
        .unwrap()
        .to_string();
    let old = node.mine(2);
    wait_for_tip(&mut c, node, tip + 2);
    assert_eq!(server_keva_state(&mut c, alice), node.keva_state(alice));
    let history = c.result("blockchain.scripthash.get_history", json!([sh]));
    assert_eq!(history, json!([{"tx_hash": pay, "height": tip + 1}]));

    // Both blocks undone; back in the mempool, the payment is replaced (bumpfee) and the key
    // written again; three new blocks.
    node.call("invalidateblock", json!([old[0]]));
    assert_eq!(node.height(), tip);
    let bumped = node.call("bumpfee", json!([pay]))["txid"]
        .as_str()
        .unwrap()
        .to_string();
    let put2 = node.keva_put(alice, "reorg", "after");
    let new = node.mine(3);
    let header = c
        .notification("blockchain.headers.subscribe", WAIT, |h| {
            h[0]["height"] == json!(tip + 3)
        })
        .expect("a header notification for the new tip");
    assert_eq!(
        header[0]["hex"],
        node.call("getblockheader", json!([new[2], false]))
    );
    wait_for_tip(&mut c, node, tip + 3);

    // Headers, keva state, histories: the new branch only.
    let headers = node.headers();
    let got = c.result("blockchain.block.headers", json!([0, tip + 4]));
    assert_eq!(got["hex"].as_str().unwrap(), headers.concat());
    let state = node.keva_state(alice);
    assert_eq!(state[&b"reorg".to_vec()].0, b"after");
    assert_eq!(server_keva_state(&mut c, alice), state);
    let items = all_pages(
        &mut c,
        "blockchain.keva.get_keyvalues",
        &namespace_sh(alice),
        "keyvalues",
    );
    let heights: HashMap<&str, &Value> = items
        .iter()
        .map(|i| (i["tx_hash"].as_str().unwrap(), &i["height"]))
        .collect();
    assert_eq!(
        heights[put.as_str()],
        &json!(tip + 1),
        "re-mined in the new branch"
    );
    assert_eq!(heights[put2.as_str()], &json!(tip + 1));
    let history = c.result("blockchain.scripthash.get_history", json!([sh]));
    assert_eq!(
        history,
        json!([{"tx_hash": bumped, "height": tip + 1}]),
        "the replaced payment is gone"
    );
    let tagged = all_pages(
        &mut c,
        "blockchain.keva.get_hashtag",
        &hashtag_sh("reorg"),
        "hashtags",
    );
    assert_eq!(tagged.len(), 1);
    assert_eq!(tagged[0]["height"], json!(tip + 1));
    assert!(
        s.server.proc.logged("reorg:"),
        "the log names the reorg:\n{}",
        s.server.proc.log()
    );
}

#[test]
fn transactions_broadcast_through_the_server_reach_the_node() {
    let s = synced(&[]);
    let (node, chain, mut c) = (&s.node, s.chain, tcp(s.server.tcp));

    // A payment made with createrawtransaction and signed by the wallet.
    let coin = node
        .unspent()
        .into_iter()
        .find(|u| u.spendable && u.sats > 2 * COIN && u.confirmations > 100)
        .expect("a mature coin");
    let to = node.new_address("legacy");
    let raw = |amount: u64| {
        let unsigned = node.call(
            "createrawtransaction",
            json!([[{"txid": coin.txid, "vout": coin.vout}], {to.clone(): wallet::kva(amount)}]),
        );
        node.sign(unsigned.as_str().unwrap())
    };
    let hex = raw(coin.sats - 100_000);
    let txid = node.call("decoderawtransaction", json!([hex]))["txid"].clone();
    assert_eq!(
        c.result("blockchain.transaction.broadcast", json!([hex])),
        txid
    );
    let mempool = node.call("getrawmempool", json!([]));
    assert!(mempool.as_array().unwrap().contains(&txid), "{mempool}");
    let sh = sh_hex(&node.script_of(&to));
    let history = eventually(WAIT, "the server's mempool has it", || {
        let h = c.result("blockchain.scripthash.get_history", json!([sh]));
        (h.as_array().unwrap().len() == 1).then_some(h)
    });
    assert_eq!(
        history,
        json!([{"tx_hash": txid, "height": 0, "fee": 100_000}])
    );

    // A double spend of the same coin: refused with the node's own reason.
    let conflict = raw(coin.sats - 200_000);
    let reply = c.call("blockchain.transaction.broadcast", json!([conflict]));
    let node_error = node
        .rpc("sendrawtransaction", json!([conflict]))
        .expect_err("the node refuses the double spend");
    let message = reply["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{reply}"));
    let reason = node_error["message"].as_str().unwrap();
    assert!(reason.contains("txn-mempool-conflict"), "{node_error}");
    assert!(
        message.contains(reason) && message.contains(&conflict),
        "server: {message:?}, node: {reason:?}"
    );
    assert_eq!(node.call("getrawmempool", json!([])), mempool);

    // A reply built here, signed by the wallet, broadcast through the server and mined.
    let bob = chain.facts["namespaces"]["bob"].as_str().unwrap();
    let post = chain.facts["posts"]["alice/post-3"].as_str().unwrap();
    let reply_hex = node.keva_react_tx(bob, Reaction::Reply, post, "via the server", 0);
    let reply_txid = c.result("blockchain.transaction.broadcast", json!([reply_hex]));
    node.mine(1);
    wait_for_tip(&mut c, node, chain.tip() + 1);
    let r = c.result("blockchain.keva.get_keyvalue_reactions", json!([post, -1]));
    assert_eq!(r["result"]["replies"][0]["tx_hash"], reply_txid);
    assert_eq!(b64(&r["result"]["replies"][0]["value"]), b"via the server");
}

#[test]
fn sync_by_block_files_and_by_rpc_give_the_same_index() {
    let chain = base_chain();
    let node = chain.node(Auth::Password);
    let mut by_files = spawn_server_for(&node, &[]);
    let mut by_rpc = spawn_server_for(&node, &[("BLOCK_FILES", "off")]);
    for server in [&mut by_files, &mut by_rpc] {
        server
            .proc
            .wait_for("serving tcp on", Duration::from_secs(300));
        wait_for_tip(&mut tcp(server.tcp), &node, chain.tip());
    }
    let blocks = chain.tip() + 1;
    let (files, rpc) = block_sources(&by_files);
    assert_eq!(files + rpc, blocks, "{}", by_files.proc.log());
    assert!(
        files >= blocks - 10,
        "the initial sync read its blocks from the files:\n{}",
        by_files.proc.log()
    );
    assert!(by_files
        .proc
        .logged(&node.blocks_dir().display().to_string()));
    assert_eq!(block_sources(&by_rpc), (0, blocks), "{}", by_rpc.proc.log());
    assert_same_index_of(&mut by_files, &mut by_rpc);
}

#[test]
fn the_node_killed_and_restarted_mid_sync() {
    let chain = base_chain();
    let mut node = chain.node(Auth::Password);
    // The block files would finish the sync before the node could be stopped.
    let mut server = spawn_server_for(&node, &[("BLOCK_FILES", "off")]);
    server.proc.wait_for("at height", Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(500));
    // Killed, not asked to stop: a node that stops cleanly first answers the requests it has
    // (a batch of many `getblock`s can take it seconds), so the sync could end meanwhile.
    node.kill();
    assert!(
        !server.proc.logged("index at the node's tip"),
        "the sync ended before the node was killed:\n{}",
        server.proc.log()
    );
    server.proc.wait_for("retrying", Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    server.proc.assert_alive();

    node.restart();
    server
        .proc
        .wait_for("serving tcp on", Duration::from_secs(120));
    let mut c = tcp(server.tcp);
    wait_for_tip(&mut c, &node, chain.tip());
    let got = c.result("blockchain.block.headers", json!([0, chain.tip() + 1]));
    assert_eq!(got["hex"].as_str().unwrap(), node.headers().concat());

    // Nothing lost or doubled: the same index as a sync that was never interrupted.
    let mut clean = start_server_for(&node, &[("BLOCK_FILES", "off")]);
    wait_for_tip(&mut tcp(clean.tcp), &node, chain.tip());
    drop(c);
    assert_same_index_of(&mut server, &mut clean);
}

#[test]
fn cookie_authentication_with_the_server_started_before_the_node() {
    let chain = base_chain();
    let mut node = chain.node(Auth::Cookie);
    let cookie = node.datadir.join("regtest/.cookie");
    assert!(!node.url().contains('@'), "no credentials in DAEMON_URL");
    // The server starts first, as it may at boot: no node answering, no cookie yet.
    node.stop();
    assert!(
        !cookie.exists(),
        "the node removes its cookie when it stops"
    );
    let mut server = spawn_server_for(&node, &[]);
    server.proc.wait_for(
        &format!("waiting for kevacoind at {}", node.url()),
        Duration::from_secs(30),
    );
    node.restart();
    let first = std::fs::read_to_string(&cookie).unwrap();
    server
        .proc
        .wait_for("serving tcp on", Duration::from_secs(120));
    let mut c = tcp(server.tcp);
    wait_for_tip(&mut c, &node, chain.tip());

    // A restarted node writes a new cookie; the server reads it again and follows.
    node.stop();
    node.restart();
    let second = std::fs::read_to_string(&cookie).unwrap();
    assert_ne!(first, second, "a new cookie");
    c.result("blockchain.headers.subscribe", json!([]));
    node.mine(1);
    let header = c
        .notification(
            "blockchain.headers.subscribe",
            Duration::from_secs(30),
            |_| true,
        )
        .expect("the new block, read with the new cookie");
    assert_eq!(header[0]["height"], json!(chain.tip() + 1));
}
