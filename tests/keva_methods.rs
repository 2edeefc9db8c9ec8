//! The keva methods end to end: a small social graph made with the stand-in node's wallet
//! (namespaces with profiles, posts with hashtags in keys and values, replies, shares, likes,
//! a delete, a profile rename, unconfirmed posts and reactions), indexed into a real SQLite
//! file, and every method's full JSON compared with values the test computes from what it
//! created and from the node's own blocks and mempool — never from the index.

mod electrum_util;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use base64::Engine as _;
use electrum_util::*;
use keva_electrum::chain::address::{base58check_encode, script_to_address};
use keva_electrum::chain::hash::{hash_to_hex, sha256};
use keva_electrum::chain::keva::{namespace_to_string, KevaOp, PROFILE_KEY};
use keva_electrum::chain::{Hash32, Network, Transaction};
use keva_electrum::index::writer::set_ban;
use keva_electrum::jsonrpc::{Backend, Reply};
use keva_electrum::methods::Methods;
use serde_json::{json, Value};

const PAGE: usize = 25;

/// The pseudo-script scripthash a wallet computes for a keva lookup (`d1 <push x> 00 6d 75 6a`),
/// built here byte by byte.
fn lookup_sh(x: &[u8]) -> Hash32 {
    let mut s = vec![0xd1];
    match x.len() {
        n if n < 0x4c => s.push(n as u8),
        n if n <= 0xff => s.extend([0x4c, n as u8]),
        n => s.extend([0x4d, (n & 0xff) as u8, (n >> 8) as u8]),
    }
    s.extend_from_slice(x);
    s.extend([0x00, 0x6d, 0x75, 0x6a]);
    sha256(&s)
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// One keva transaction the test made, with what the test knows about it.
#[derive(Clone, Debug)]
struct Rec {
    txid: Hash32,
    op: KevaOp,
    /// Hashtags the author put in it (lower-cased, as clients look them up).
    tags: Vec<&'static str>,
    /// (kind, target) for replies, shares and likes.
    reaction: Option<(u8, Hash32)>,
    /// For a profile put: the display name it should give (None: not usable JSON).
    profile_name: Option<String>,
}

/// Where the node's chain put each transaction, and the node's mempool.
struct Facts {
    /// txid -> (height, position, tx_num).
    loc: HashMap<Hash32, (u32, u32, i64)>,
    /// Header time per height.
    time: Vec<u32>,
    /// Every confirmed transaction.
    txs: HashMap<Hash32, Transaction>,
    /// Unconfirmed txid -> (Electrum height 0/-1, tx).
    mempool: HashMap<Hash32, (i64, Transaction)>,
}

struct World {
    f: Fixture,
    /// (registered name, namespace id) per namespace.
    ns: Vec<(String, Vec<u8>)>,
    recs: Vec<Rec>,
    banned: HashSet<Hash32>,
}

impl World {
    fn new(tag: &str) -> World {
        World {
            f: Fixture::new(tag, 3, 77),
            ns: Vec::new(),
            recs: Vec::new(),
            banned: HashSet::new(),
        }
    }

    fn register(&mut self, name: &str) -> usize {
        let (txid, id) = self.f.node.keva_namespace(name).expect("register");
        self.recs.push(Rec {
            txid,
            op: KevaOp::Namespace {
                namespace: id.clone(),
                display_name: name.as_bytes().to_vec(),
            },
            tags: vec![],
            reaction: None,
            profile_name: None,
        });
        self.ns.push((name.to_string(), id));
        self.ns.len() - 1
    }

    fn id(&self, ns: usize) -> Vec<u8> {
        self.ns[ns].1.clone()
    }

    fn put(&mut self, ns: usize, key: &[u8], value: &[u8], tags: &[&'static str]) -> Hash32 {
        let id = self.id(ns);
        let txid = self.f.node.keva_put(&id, key, value).expect("put");
        self.recs.push(Rec {
            txid,
            op: KevaOp::Put {
                namespace: id,
                key: key.to_vec(),
                value: value.to_vec(),
            },
            tags: tags.to_vec(),
            reaction: None,
            profile_name: None,
        });
        txid
    }

    fn profile(&mut self, ns: usize, value: &str, expect: Option<&str>) -> Hash32 {
        let txid = self.put(ns, PROFILE_KEY, value.as_bytes(), &[]);
        self.recs.last_mut().unwrap().profile_name = expect.map(str::to_string);
        txid
    }

    fn delete(&mut self, ns: usize, key: &[u8]) -> Hash32 {
        let id = self.id(ns);
        let txid = self.f.node.keva_delete(&id, key).expect("delete");
        self.recs.push(Rec {
            txid,
            op: KevaOp::Delete {
                namespace: id,
                key: key.to_vec(),
            },
            tags: vec![],
            reaction: None,
            profile_name: None,
        });
        txid
    }

    fn react(&mut self, ns: usize, kind: u8, target: Hash32, text: &[u8], reward: bool) -> Hash32 {
        let id = self.id(ns);
        let reward = reward.then(|| {
            (
                self.f
                    .node
                    .new_address(keva_electrum::devnode::AddrKind::P2pkh)
                    .0,
                50_000,
            )
        });
        let txid = self
            .f
            .node
            .keva_react(&id, kind, &target, text, reward)
            .expect("react");
        let mut key = vec![0, kind];
        key.extend(target.iter().rev());
        self.recs.push(Rec {
            txid,
            op: KevaOp::Put {
                namespace: id,
                key,
                value: text.to_vec(),
            },
            tags: vec![],
            reaction: Some((kind, target)),
            profile_name: None,
        });
        txid
    }

    fn mine(&mut self) {
        self.f.node.mine(1);
        self.f.catch_up();
    }

    fn ban(&mut self, txid: Hash32) {
        assert!(set_ban(&self.f.db, Network::Regtest, &txid, Some(1)).unwrap());
        self.banned.insert(txid);
    }

    /// Chain and mempool facts straight from the node.
    fn facts(&self) -> Facts {
        let blocks = self.f.blocks();
        let mut loc = HashMap::new();
        let mut txs = HashMap::new();
        let mut time = Vec::new();
        let mut tx_num = 0i64;
        for (h, b) in blocks.iter().enumerate() {
            time.push(b.header.time());
            for (pos, tx) in b.txs.iter().enumerate() {
                loc.insert(tx.txid(), (h as u32, pos as u32, tx_num));
                txs.insert(tx.txid(), tx.clone());
                tx_num += 1;
            }
        }
        let ids = self.f.node.mempool();
        let raws = self.f.daemon.raw_transactions(&ids).unwrap();
        let in_pool: HashSet<Hash32> = ids.iter().copied().collect();
        let mut mempool = HashMap::new();
        for (id, raw) in ids.iter().zip(raws) {
            let tx = Transaction::from_bytes(&raw.expect("mempool tx")).unwrap();
            let h = if tx.inputs.iter().any(|i| in_pool.contains(&i.prevout.txid)) {
                -1
            } else {
                0
            };
            mempool.insert(*id, (h, tx));
        }
        Facts {
            loc,
            time,
            txs,
            mempool,
        }
    }
}

/// Expected answers, from the records and the node's facts.
struct Expect<'a> {
    w: &'a World,
    facts: &'a Facts,
}

impl Expect<'_> {
    fn confirmed(&self, r: &Rec) -> Option<(u32, u32, i64)> {
        self.facts.loc.get(&r.txid).copied()
    }

    fn height(&self, r: &Rec) -> i64 {
        match self.confirmed(r) {
            Some((h, _, _)) => i64::from(h),
            None => self.facts.mempool[&r.txid].0,
        }
    }

    fn counts(&self, target: &Hash32) -> [usize; 3] {
        let mut c = [0; 3];
        for r in &self.w.recs {
            if let Some((kind, t)) = r.reaction {
                if t == *target {
                    c[kind as usize - 1] += 1;
                }
            }
        }
        c
    }

    fn op_fields(item: &mut serde_json::Map<String, Value>, op: &KevaOp) {
        let (ty, key, value) = match op {
            KevaOp::Namespace { display_name, .. } => ("REG", display_name.clone(), None),
            KevaOp::Put { key, value, .. } => ("PUT", key.clone(), Some(value.clone())),
            KevaOp::Delete { key, .. } => ("DEL", key.clone(), None),
        };
        item.insert("type".into(), json!(ty));
        item.insert("key".into(), json!(b64(&key)));
        if let Some(v) = value {
            item.insert("value".into(), json!(b64(&v)));
        }
    }

    fn time(&self, r: &Rec) -> Option<u32> {
        self.confirmed(r)
            .map(|(h, _, _)| self.facts.time[h as usize])
    }

    /// A get_keyvalues item.
    fn kv_item(&self, r: &Rec) -> Value {
        let c = self.counts(&r.txid);
        let mut m = serde_json::Map::new();
        m.insert("tx_hash".into(), json!(hash_to_hex(&r.txid)));
        m.insert("height".into(), json!(self.height(r)));
        m.insert("replies".into(), json!(c[0]));
        m.insert("shares".into(), json!(c[1]));
        m.insert("likes".into(), json!(c[2]));
        Self::op_fields(&mut m, &r.op);
        if let Some(t) = self.time(r) {
            m.insert("time".into(), json!(t));
        }
        Value::Object(m)
    }

    /// (shortCode, displayName) of a namespace.
    fn profile(&self, ns: &[u8]) -> (Value, Value) {
        let mut entries: Vec<&Rec> = self
            .w
            .recs
            .iter()
            .filter(|r| {
                r.op.namespace() == ns
                    && match &r.op {
                        KevaOp::Namespace { .. } => true,
                        _ => r.op.key() == Some(PROFILE_KEY),
                    }
            })
            .collect();
        // Confirmed in chain order, then unconfirmed.
        entries.sort_by_key(|r| self.confirmed(r).map_or(i64::MAX, |l| l.2));
        let first = entries.iter().find(|r| self.confirmed(r).is_some());
        let short = match first.and_then(|r| self.confirmed(r)) {
            Some((h, pos, _)) => json!(format!("{}{h}{pos}", h.to_string().len())),
            None => json!(-1),
        };
        let latest = entries.last().expect("namespace has entries");
        if self.confirmed(latest).is_some() && self.w.banned.contains(&latest.txid) {
            return (json!(-1), json!(""));
        }
        let name = match (&latest.op, &latest.profile_name) {
            (KevaOp::Put { .. }, Some(n)) => n.clone(),
            _ => {
                let reg = entries
                    .iter()
                    .find(|r| matches!(r.op, KevaOp::Namespace { .. }))
                    .expect("registration");
                if self.confirmed(reg).is_some() && self.w.banned.contains(&reg.txid) {
                    String::new()
                } else {
                    match &reg.op {
                        KevaOp::Namespace { display_name, .. } => {
                            String::from_utf8(display_name.clone()).unwrap()
                        }
                        _ => unreachable!(),
                    }
                }
            }
        };
        (short, json!(name))
    }

    fn tag_item(&self, r: &Rec) -> Value {
        let (short, name) = self.profile(r.op.namespace());
        let mut v = self.kv_item(r);
        let m = v.as_object_mut().unwrap();
        m.insert("displayName".into(), name);
        m.insert("shortCode".into(), short);
        m.insert(
            "namespace".into(),
            json!(namespace_to_string(r.op.namespace())),
        );
        v
    }

    /// Confirmed records matching `pred`, newest first, as (tx_num, rec).
    fn newest_first(&self, pred: impl Fn(&Rec) -> bool) -> Vec<(i64, &Rec)> {
        let mut v: Vec<(i64, &Rec)> = self
            .w
            .recs
            .iter()
            .filter(|r| pred(r))
            .filter_map(|r| self.confirmed(r).map(|l| (l.2, r)))
            .collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.0));
        v
    }

    /// Pages of a list: (visible items, min_tx_num) per page of 25 fetched entries.
    fn pages(&self, all: &[(i64, &Rec)], item: impl Fn(&Rec) -> Value) -> Vec<(Vec<Value>, i64)> {
        all.chunks(PAGE)
            .map(|chunk| {
                let items = chunk
                    .iter()
                    .filter(|(_, r)| !self.w.banned.contains(&r.txid))
                    .map(|(_, r)| item(r))
                    .collect();
                (items, chunk.last().unwrap().0)
            })
            .collect()
    }

    fn reply_item(&self, r: &Rec) -> Value {
        let (short, name) = self.profile(r.op.namespace());
        let mut m = serde_json::Map::new();
        m.insert("tx_hash".into(), json!(hash_to_hex(&r.txid)));
        m.insert("height".into(), json!(self.height(r)));
        m.insert(
            "sender".into(),
            json!({"shortCode": short, "displayName": name}),
        );
        Self::op_fields(&mut m, &r.op);
        if let Some(t) = self.time(r) {
            m.insert("time".into(), json!(t));
        }
        Value::Object(m)
    }

    /// get_keyvalue_reactions of `post`: (full result with confirmed replies only, the
    /// unconfirmed replies in any order).
    fn reactions(&self, post: &Rec) -> (Value, Vec<Value>) {
        let replies: Vec<Value> = self
            .newest_first(|r| r.reaction == Some((1, post.txid)))
            .iter()
            .filter(|(_, r)| !self.w.banned.contains(&r.txid))
            .map(|(_, r)| self.reply_item(r))
            .collect();
        let pending: Vec<Value> = self
            .w
            .recs
            .iter()
            .filter(|r| r.reaction == Some((1, post.txid)) && self.confirmed(r).is_none())
            .map(|r| self.reply_item(r))
            .collect();
        let c = self.counts(&post.txid);
        let (short, name) = self.profile(post.op.namespace());
        let mut m = serde_json::Map::new();
        m.insert("tx_hash".into(), json!(hash_to_hex(&post.txid)));
        m.insert("replies".into(), json!(replies));
        m.insert("shares".into(), json!(c[1]));
        m.insert("likes".into(), json!(c[2]));
        Self::op_fields(&mut m, &post.op);
        m.insert("displayName".into(), name);
        m.insert("shortCode".into(), short);
        m.insert("height".into(), json!(self.height(post)));
        if let Some(t) = self.time(post) {
            m.insert("time".into(), json!(t));
        }
        (json!({ "result": m }), pending)
    }

    /// Address text of an output script: keva prefix stripped, then K…/V…/kva1…, `ret` for
    /// OP_RETURN, `unh` + Base58Check otherwise.
    fn label(script: &[u8]) -> String {
        let addr = keva_electrum::chain::keva::address_script(script);
        if let Some(a) = script_to_address(addr, Network::Regtest) {
            a
        } else if addr.first() == Some(&0x6a) {
            "ret".into()
        } else {
            format!("unh{}", base58check_encode(addr))
        }
    }

    fn output(&self, txid: &Hash32, vout: u32) -> Option<(String, u64)> {
        let tx = self
            .facts
            .txs
            .get(txid)
            .or_else(|| self.facts.mempool.get(txid).map(|(_, t)| t))?;
        let o = &tx.outputs[vout as usize];
        Some((Self::label(&o.script_pubkey), o.value))
    }

    /// A get_transactions_info entry.
    fn tx_info(&self, txid: &Hash32, namespace_info: bool) -> Value {
        let (tx, t, h) = match self.facts.loc.get(txid) {
            Some((h, _, _)) => (
                &self.facts.txs[txid],
                i64::from(self.facts.time[*h as usize]),
                i64::from(*h),
            ),
            None => match self.facts.mempool.get(txid) {
                Some((_, tx)) => (tx, -1, -1),
                None => return json!({}),
            },
        };
        let mut o = Vec::new();
        for out in &tx.outputs {
            o.push(json!(Self::label(&out.script_pubkey)));
            o.push(json!(out.value));
        }
        let mut ins: Vec<(String, u64)> = Vec::new();
        if !tx.is_coinbase() {
            for i in &tx.inputs {
                let (a, v) = self
                    .output(&i.prevout.txid, i.prevout.vout)
                    .expect("prevout known");
                match ins.iter_mut().find(|(x, _)| *x == a) {
                    Some((_, total)) => *total += v,
                    None => ins.push((a, v)),
                }
            }
        }
        let i: Vec<Value> = ins.iter().flat_map(|(a, v)| [json!(a), json!(v)]).collect();
        let mut m = serde_json::Map::new();
        m.insert("o".into(), json!(o));
        m.insert("i".into(), json!(i));
        m.insert("t".into(), json!(t));
        m.insert("h".into(), json!(h));
        if let Some(r) = self.w.recs.iter().find(|r| r.txid == *txid) {
            let vout = tx
                .outputs
                .iter()
                .position(|o| {
                    o.script_pubkey
                        .first()
                        .is_some_and(|b| (0xd0..=0xd2).contains(b))
                })
                .expect("keva output");
            m.insert(
                "n".into(),
                json!([namespace_to_string(r.op.namespace()), vout]),
            );
            if namespace_info {
                let mut kv = serde_json::Map::new();
                Self::op_fields(&mut kv, &r.op);
                let ty = kv.remove("type").unwrap();
                let code = match ty.as_str().unwrap() {
                    "REG" => 208,
                    "PUT" => 209,
                    _ => 210,
                };
                kv.insert("op".into(), json!(code));
                m.insert("kv".into(), Value::Object(kv));
            }
        }
        Value::Object(m)
    }
}

/// What the test builds: the world plus handles on notable transactions.
struct Graph {
    w: World,
    alice: usize,
    bob: usize,
    carol: usize,
    dave: usize,
    eve: usize,
    /// Alice's post everyone reacts to.
    post: Hash32,
    /// Alice's posts in order.
    alice_posts: Vec<Hash32>,
    bob_profile: Hash32,
    carol_reply: Hash32,
}

fn build(tag: &str) -> Graph {
    let mut w = World::new(tag);
    let alice = w.register("Alice");
    let bob = w.register("Bob");
    let carol = w.register("Carol");
    let dave = w.register("Dave");
    w.mine();
    w.profile(
        alice,
        r#"{"displayName":"Alice W","bio":"hi"}"#,
        Some("Alice W"),
    );
    let bob_profile = w.profile(bob, "not json at all", None);
    w.profile(
        carol,
        "{'displayName': 'Caz', 'bio': 'quoted'}",
        Some("Caz"),
    );
    w.mine();
    let mut alice_posts = Vec::new();
    for i in 0..50 {
        let key = format!("post {i}");
        let (value, tags) = if i % 2 == 0 {
            (format!("hello #KevaTest {i}"), vec!["kevatest"])
        } else {
            (format!("plain {i}"), vec![])
        };
        alice_posts.push(w.put(alice, key.as_bytes(), value.as_bytes(), &tags));
        if i % 10 == 9 {
            w.mine();
        }
    }
    for i in 0..20 {
        w.put(
            bob,
            format!("#kevatest from bob {i}").as_bytes(),
            b"x",
            &["kevatest"],
        );
        if i % 10 == 9 {
            w.mine();
        }
    }
    // A tag straddling key and value: "Hello #World" + "wide" is #worldwide.
    w.put(carol, b"Hello #World", b"wide", &["worldwide"]);
    for i in 0..10 {
        w.put(
            carol,
            format!("carol {i}").as_bytes(),
            format!("#KEVATEST {i}").as_bytes(),
            &["kevatest"],
        );
    }
    w.mine();
    let post = alice_posts[7];
    w.react(bob, 1, post, b"nice post", false);
    let carol_reply = w.react(carol, 1, post, b"agreed", false);
    w.react(bob, 1, post, b"second thought", false);
    w.react(carol, 2, post, b"", false);
    w.react(dave, 3, post, b"", true);
    w.react(bob, 3, post, b"", false);
    w.delete(alice, b"post 3");
    w.mine();
    w.profile(
        alice,
        r#"{"displayName":"Alice Wonder"}"#,
        Some("Alice Wonder"),
    );
    w.mine();
    // Unconfirmed: a draft, a reply and a like, and a namespace registered and replying
    // within the mempool.
    w.put(alice, b"draft", b"unconfirmed #kevatest", &["kevatest"]);
    w.react(dave, 1, post, b"pending reply", false);
    w.react(carol, 3, post, b"", false);
    w.profile(dave, r#"{"displayName":"Dave M"}"#, Some("Dave M"));
    let eve = w.register("Eve");
    w.react(eve, 1, post, b"hello from eve", false);
    w.f.refresh_mempool();
    Graph {
        w,
        alice,
        bob,
        carol,
        dave,
        eve,
        post,
        alice_posts,
        bob_profile,
        carol_reply,
    }
}

/// Pages through `method` on `sh_hex` and compares each page; the second page's start is sent
/// as a string, as narwhallet sends it. Returns the number of non-empty pages.
fn check_pages(
    w: &mut World,
    method: &str,
    list: &str,
    sh_hex: &str,
    expected: &[(Vec<Value>, i64)],
    first_page_extra: &[Value],
) -> usize {
    let mut start = json!(-1);
    for (i, (items, min)) in expected.iter().enumerate() {
        let got = w.f.ok(method, json!([sh_hex, start]));
        let mut want: Vec<Value> = if i == 0 {
            first_page_extra.to_vec()
        } else {
            vec![]
        };
        want.extend(items.iter().cloned());
        assert_eq!(
            got,
            json!({list: want, "min_tx_num": min}),
            "{method} page {i}"
        );
        start = if i == 0 {
            json!(min.to_string())
        } else {
            json!(min)
        };
    }
    let last = w.f.ok(method, json!([sh_hex, start]));
    assert_eq!(
        last,
        json!({list: [], "min_tx_num": -1}),
        "{method} after the last page"
    );
    expected.len()
}

fn check_all(g: &mut Graph) {
    let facts = g.w.facts();
    // Expectations are computed first (they borrow the world immutably).
    let (ns_pages, draft_items, tag_pages, wide_pages, reactions, infos, dave_pages, dave_pending) = {
        let e = Expect {
            w: &g.w,
            facts: &facts,
        };
        let alice_id = g.w.id(g.alice);
        let ns_all = e.newest_first(|r| r.op.namespace() == alice_id.as_slice());
        let ns_pages = e.pages(&ns_all, |r| e.kv_item(r));
        let draft_items: Vec<Value> =
            g.w.recs
                .iter()
                .filter(|r| r.op.namespace() == alice_id.as_slice() && e.confirmed(r).is_none())
                .map(|r| e.kv_item(r))
                .collect();
        let tag_all = e.newest_first(|r| r.tags.contains(&"kevatest"));
        let tag_pages = e.pages(&tag_all, |r| e.tag_item(r));
        let wide_all = e.newest_first(|r| r.tags.contains(&"worldwide"));
        let wide_pages = e.pages(&wide_all, |r| e.tag_item(r));
        let post = g.w.recs.iter().find(|r| r.txid == g.post).unwrap();
        let reactions = e.reactions(post);
        let mut ids: Vec<Hash32> = g.w.recs.iter().map(|r| r.txid).collect();
        ids.push([0x42; 32]);
        let infos: Vec<(Hash32, Value, Value)> = ids
            .iter()
            .map(|t| (*t, e.tx_info(t, true), e.tx_info(t, false)))
            .collect();
        let dave_id = g.w.id(g.dave);
        let dave_all = e.newest_first(|r| r.op.namespace() == dave_id.as_slice());
        let dave_pages = e.pages(&dave_all, |r| e.kv_item(r));
        let dave_pending: Vec<Value> =
            g.w.recs
                .iter()
                .filter(|r| r.op.namespace() == dave_id.as_slice() && e.confirmed(r).is_none())
                .rev()
                .map(|r| e.kv_item(r))
                .collect();
        (
            ns_pages,
            draft_items,
            tag_pages,
            wide_pages,
            reactions,
            infos,
            dave_pages,
            dave_pending,
        )
    };

    // get_keyvalues on Alice's namespace: three pages, the draft leading the first only.
    assert_eq!(draft_items.len(), 1);
    let alice_sh = sh_hex(&lookup_sh(&g.w.id(g.alice)));
    let n = check_pages(
        &mut g.w,
        "blockchain.keva.get_keyvalues",
        "keyvalues",
        &alice_sh,
        &ns_pages,
        &draft_items,
    );
    assert_eq!(n, 3, "Alice's namespace spans three pages");
    // Any falsy or negative start is the first page.
    for start in [json!(0), json!(null), json!("-1"), json!("")] {
        let got =
            g.w.f
                .ok("blockchain.keva.get_keyvalues", json!([alice_sh, start]));
        let mut want = draft_items.clone();
        want.extend(ns_pages[0].0.iter().cloned());
        assert_eq!(
            got,
            json!({"keyvalues": want, "min_tx_num": ns_pages[0].1}),
            "start {start}"
        );
    }
    let dave_sh = sh_hex(&lookup_sh(&g.w.id(g.dave)));
    // A namespace's unconfirmed operations spend each other: newest first is well defined.
    assert_eq!(dave_pending.len(), 2);
    check_pages(
        &mut g.w,
        "blockchain.keva.get_keyvalues",
        "keyvalues",
        &dave_sh,
        &dave_pages,
        &dave_pending,
    );

    // get_hashtag: three pages of #kevatest (confirmed only), and the straddling tag.
    let tag_sh = sh_hex(&lookup_sh(b"kevatest"));
    let n = check_pages(
        &mut g.w,
        "blockchain.keva.get_hashtag",
        "hashtags",
        &tag_sh,
        &tag_pages,
        &[],
    );
    assert_eq!(n, 3, "#kevatest spans three pages");
    let wide_sh = sh_hex(&lookup_sh(b"worldwide"));
    check_pages(
        &mut g.w,
        "blockchain.keva.get_hashtag",
        "hashtags",
        &wide_sh,
        &wide_pages,
        &[],
    );
    // Nothing under the halves of the straddling tag.
    let got = g.w.f.ok(
        "blockchain.keva.get_hashtag",
        json!([sh_hex(&lookup_sh(b"world")), -1]),
    );
    assert_eq!(got, json!({"hashtags": [], "min_tx_num": -1}));

    // get_keyvalue_reactions: confirmed replies newest first, then the unconfirmed ones.
    let (want, pending) = reactions;
    let post_banned = g.w.banned.contains(&g.post);
    for start in [json!(-1), json!("-1")] {
        let mut got = g.w.f.ok(
            "blockchain.keva.get_keyvalue_reactions",
            json!([hash_to_hex(&g.post), start]),
        );
        if post_banned {
            assert_eq!(got, json!({"result": {}}), "banned post");
            continue;
        }
        let replies = got["result"]["replies"].as_array_mut().unwrap();
        let confirmed_len = want["result"]["replies"].as_array().unwrap().len();
        assert_eq!(replies.len(), confirmed_len + pending.len());
        let mut tail: Vec<Value> = replies.split_off(confirmed_len);
        let mut pending_sorted = pending.clone();
        let key = |v: &Value| v["tx_hash"].as_str().unwrap().to_string();
        tail.sort_by_key(key);
        pending_sorted.sort_by_key(key);
        assert_eq!(tail, pending_sorted, "unconfirmed replies");
        assert_eq!(got, want, "reactions");
    }
    assert_eq!(
        g.w.f.ok(
            "blockchain.keva.get_keyvalue_reactions",
            json!([hash_to_hex(&[0x42; 32]), -1])
        ),
        json!({"result": {}})
    );

    // get_transactions_info: every keva tx in one request each way, plus an unknown one.
    for chunk in infos.chunks(40) {
        let ids: Vec<String> = chunk.iter().map(|(t, _, _)| hash_to_hex(t)).collect();
        let with: Vec<Value> = chunk.iter().map(|(_, a, _)| a.clone()).collect();
        let without: Vec<Value> = chunk.iter().map(|(_, _, b)| b.clone()).collect();
        assert_eq!(
            g.w.f
                .ok("blockchain.keva.get_transactions_info", json!([ids, true])),
            json!(with)
        );
        assert_eq!(
            g.w.f
                .ok("blockchain.keva.get_transactions_info", json!([ids, false])),
            json!(without)
        );
    }
}

#[test]
fn social_graph_pages_counts_profiles_and_bans() {
    let mut g = build("kevagraph");
    // Profiles as built: rename applied, non-JSON and single-quoted values, no profile, and
    // a namespace that exists only in the mempool.
    {
        let facts = g.w.facts();
        let e = Expect {
            w: &g.w,
            facts: &facts,
        };
        assert_eq!(e.profile(&g.w.id(g.alice)).1, json!("Alice Wonder"));
        assert_eq!(e.profile(&g.w.id(g.bob)).1, json!("Bob"));
        assert_eq!(e.profile(&g.w.id(g.carol)).1, json!("Caz"));
        assert_eq!(e.profile(&g.w.id(g.dave)).1, json!("Dave M"));
        assert_eq!(e.profile(&g.w.id(g.eve)), (json!(-1), json!("Eve")));
        assert!(g
            .w
            .recs
            .iter()
            .any(|r| r.reaction.is_some() && e.confirmed(r).is_none()));
    }
    check_all(&mut g);

    // Bans: a post in Alice's pages and the tag pages, a reply, and Bob's latest profile
    // entry (his items then show ('', -1)).
    let banned_post = g.alice_posts[10];
    g.w.ban(banned_post);
    g.w.ban(g.carol_reply);
    g.w.ban(g.bob_profile);
    check_all(&mut g);
    // A banned post has no reactions page, whatever its replies.
    let post = g.post;
    g.w.ban(post);
    assert_eq!(
        g.w.f.ok(
            "blockchain.keva.get_keyvalue_reactions",
            json!([hash_to_hex(&post), -1])
        ),
        json!({"result": {}})
    );
    check_all(&mut g);
    // Unbanning brings content back.
    for t in [banned_post, g.carol_reply, g.bob_profile, post] {
        assert!(set_ban(&g.w.f.db, Network::Regtest, &t, None).unwrap());
        g.w.banned.remove(&t);
    }
    check_all(&mut g);
}

#[test]
fn banned_hashtags_are_empty_and_bad_params_are_errors() {
    let mut g = build("kevabantag");
    let mut config = config(g.w.f.db.clone(), 10_000_000);
    config.banned_hashtags = ["kevatest".to_string()].into_iter().collect();
    let methods = Arc::new(Methods::new(
        config,
        g.w.f.daemon.clone(),
        g.w.f.mempool.clone(),
    ));
    let mut worker = methods.new_worker();
    let mut call = |m: &str, p: Value| {
        methods
            .call(&mut worker, m, &p)
            .result
            .map(Reply::into_value)
    };
    let tag_sh = sh_hex(&lookup_sh(b"kevatest"));
    for start in [json!(-1), json!(5000), json!("abc")] {
        assert_eq!(
            call("blockchain.keva.get_hashtag", json!([tag_sh, start])).unwrap(),
            json!({"hashtags": [], "min_tx_num": -1})
        );
    }
    let wide = call(
        "blockchain.keva.get_hashtag",
        json!([sh_hex(&lookup_sh(b"worldwide")), -1]),
    )
    .unwrap();
    assert_eq!(wide["hashtags"].as_array().unwrap().len(), 1);
    // On the wire, fields come in the reference's order.
    let raw = |m: &str, p: Value| match methods.call(&mut methods.new_worker(), m, &p).result {
        Ok(Reply::Text(t)) => t,
        other => panic!("{m}: not a text answer: {other:?}"),
    };
    let text = raw(
        "blockchain.keva.get_hashtag",
        json!([sh_hex(&lookup_sh(b"worldwide")), -1]),
    );
    let order = [
        "{\"hashtags\":[{\"tx_hash\"",
        "\"displayName\"",
        "\"height\"",
        "\"shortCode\"",
        "\"replies\"",
        "\"shares\"",
        "\"likes\"",
        "\"type\"",
        "\"namespace\"",
        "\"key\"",
        "\"time\"",
        "\"min_tx_num\"",
    ];
    let at: Vec<usize> = order.iter().map(|k| text.find(k).expect(k)).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
    let alice = sh_hex(&lookup_sh(&g.w.id(g.alice)));
    let text = raw("blockchain.keva.get_keyvalues", json!([alice, -1]));
    let order = [
        "{\"keyvalues\":[{\"tx_hash\"",
        "\"height\"",
        "\"replies\"",
        "\"shares\"",
        "\"likes\"",
        "\"type\"",
        "\"key\"",
        "\"min_tx_num\"",
    ];
    let at: Vec<usize> = order.iter().map(|k| text.find(k).expect(k)).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
    // The same tag is not banned on the default configuration.
    let open = g.w.f.ok("blockchain.keva.get_hashtag", json!([tag_sh, -1]));
    assert_eq!(open["hashtags"].as_array().unwrap().len(), PAGE);

    // Argument errors, with the reference's texts.
    let f = &mut g.w.f;
    assert_eq!(
        f.err("blockchain.keva.get_keyvalues", json!([tag_sh, "abc"])),
        (1, "abc should be an integer".to_string())
    );
    assert_eq!(
        f.err("blockchain.keva.get_keyvalues", json!(["zz", -1])),
        (1, "zz is not a valid script hash".to_string())
    );
    assert_eq!(
        f.err("blockchain.keva.get_keyvalue_reactions", json!(["xyz", -1])),
        (1, "xyz should be a transaction hash".to_string())
    );
    assert_eq!(
        f.err("blockchain.keva.get_transactions_info", json!([[], 1])),
        (1, "\"namespace_info\" must be a boolean".to_string())
    );
    assert_eq!(
        f.err("blockchain.keva.get_transactions_info", json!(["ab", true])),
        (1, "expected a list of transaction hashes".to_string())
    );
    let many: Vec<String> = (0..201).map(|i| format!("{i:064x}")).collect();
    assert_eq!(
        f.err("blockchain.keva.get_transactions_info", json!([many, true])),
        (1, "too many transactions, max: 200".to_string())
    );
    let two_hundred: Vec<String> = (0..200).map(|i| format!("{i:064x}")).collect();
    let got = f.ok(
        "blockchain.keva.get_transactions_info",
        json!([two_hundred, false]),
    );
    assert_eq!(got, json!(vec![json!({}); 200]));
    assert_eq!(
        f.err("blockchain.keva.get_keyvalues", json!([tag_sh])).0,
        -32602,
        "start_tx_num is required"
    );
}
