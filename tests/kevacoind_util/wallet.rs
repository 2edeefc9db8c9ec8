//! What the tests ask of the node's wallet: addresses, payments, keva operations through the
//! wallet RPCs, and reactions (replies, shares, likes), which need binary keys the wallet RPCs
//! cannot carry, as transactions built here and signed by the wallet (`signrawtransaction`).

use std::collections::BTreeMap;

use keva_electrum::chain::hash::{from_hex, hash_from_hex, to_hex};
use keva_electrum::chain::keva::{
    address_script, build_keva_script, namespace_from_string, parse_keva_script, KevaOp,
};
use keva_electrum::chain::tx::{OutPoint, Transaction, TxIn, TxOut, KEVA_TX_VERSION};
use serde_json::{json, Value};

use super::node::{bytes_of, Kevacoind};

/// Satoshis per KVA.
pub const COIN: u64 = 100_000_000;
/// The amount a keva output locks (`KEVA_LOCKED_AMOUNT`).
pub const KEVA_LOCKED: u64 = COIN / 100;
/// Fee of the transactions built here (well above the relay minimum for their size).
pub const FEE: u64 = 100_000;

/// A reaction to a post: its key is `00 0k ‖ the post's txid bytes (display order)`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Reaction {
    Reply = 1,
    Share = 2,
    Like = 3,
}

impl Reaction {
    /// The reaction key for `post` (a txid in display hex).
    pub fn key(self, post: &str) -> Vec<u8> {
        let mut key = vec![0, self as u8];
        key.extend(from_hex(post).expect("a txid"));
        key
    }
}

/// One unspent output as the wallet's `listunspent` reports it.
#[derive(Clone, Debug)]
pub struct Unspent {
    pub txid: String,
    pub vout: u32,
    pub sats: u64,
    pub script: Vec<u8>,
    pub confirmations: u64,
    pub spendable: bool,
}

/// KVA amount (a JSON number) in satoshis.
pub fn sats(v: &Value) -> u64 {
    (v.as_f64().expect("an amount") * COIN as f64).round() as u64
}

/// Satoshis as the KVA amount the wallet RPCs take.
pub fn kva(sats: u64) -> Value {
    json!(sats as f64 / COIN as f64)
}

impl Kevacoind {
    /// A new wallet address: `legacy`, `p2sh-segwit` or `bech32`.
    pub fn new_address(&self, kind: &str) -> String {
        self.call("getnewaddress", json!(["", kind]))
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The output script of an address (the node's own encoding).
    pub fn script_of(&self, address: &str) -> Vec<u8> {
        let info = self.call("validateaddress", json!([address]));
        from_hex(info["scriptPubKey"].as_str().unwrap()).unwrap()
    }

    /// Pays `amount` satoshis to `address` from the wallet; the txid.
    pub fn pay(&self, address: &str, amount: u64) -> String {
        self.call("sendtoaddress", json!([address, kva(amount)]))
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The wallet's unspent outputs, unconfirmed ones included.
    pub fn unspent(&self) -> Vec<Unspent> {
        self.call("listunspent", json!([0]))
            .as_array()
            .unwrap()
            .iter()
            .map(|u| Unspent {
                txid: u["txid"].as_str().unwrap().to_string(),
                vout: u["vout"].as_u64().unwrap() as u32,
                sats: sats(&u["amount"]),
                script: from_hex(u["scriptPubKey"].as_str().unwrap()).unwrap(),
                confirmations: u["confirmations"].as_u64().unwrap(),
                spendable: u["spendable"].as_bool().unwrap(),
            })
            .collect()
    }

    /// `keva_namespace`, funded by a mature coinbase of its own: (txid, namespace id).
    ///
    /// Until NSFIX activates (block 432 in regtest) a namespace id is the hash of the first
    /// input's txid alone, so two registrations spending outputs of one transaction (say a
    /// `sendmany` to the wallet's own addresses) would get the same id. A coinbase has one
    /// spendable output, so its txid is never used twice: every other coin is locked
    /// (`lockunspent`) while the wallet builds the registration.
    pub fn keva_namespace(&self, display_name: &str) -> (String, String) {
        let coins = self.unspent();
        let is_coinbase = |u: &Unspent| {
            // `generate` pays its coinbases to P2PK scripts, which nothing else here uses.
            u.script.len() == 35 && u.script[0] == 0x21 && u.script[34] == 0xac
        };
        let own = coins
            .iter()
            .find(|u| u.spendable && u.confirmations > 100 && is_coinbase(u))
            .expect("a mature coinbase to fund the namespace");
        let others: Vec<Value> = coins
            .iter()
            .filter(|u| u.spendable && (u.txid != own.txid || u.vout != own.vout))
            .map(|u| json!({"txid": u.txid, "vout": u.vout}))
            .collect();
        self.call("lockunspent", json!([false, others]));
        let r = self.rpc("keva_namespace", json!([display_name]));
        self.call("lockunspent", json!([true]));
        let r = r.unwrap_or_else(|e| panic!("keva_namespace {display_name:?} failed: {e}"));
        (
            r["txid"].as_str().unwrap().to_string(),
            r["namespaceId"].as_str().unwrap().to_string(),
        )
    }

    /// `keva_put`: the txid.
    pub fn keva_put(&self, ns: &str, key: &str, value: &str) -> String {
        self.call("keva_put", json!([ns, key, value]))["txid"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// `keva_delete`: the txid.
    pub fn keva_delete(&self, ns: &str, key: &str) -> String {
        self.call("keva_delete", json!([ns, key]))["txid"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The namespace's key/value state as the node holds it (`keva_filter` over all ages):
    /// key bytes → (value bytes, txid, height).
    pub fn keva_state(&self, ns: &str) -> BTreeMap<Vec<u8>, (Vec<u8>, String, i64)> {
        let entries = self.call_bytes("keva_filter", json!([ns, "", 0]));
        entries
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    bytes_of(&e["key"]),
                    (
                        bytes_of(&e["value"]),
                        e["txid"].as_str().unwrap().to_string(),
                        e["height"].as_i64().unwrap(),
                    ),
                )
            })
            .collect()
    }

    /// A reaction from namespace `ns` to `post`, built and signed by the wallet but not sent;
    /// `tip` satoshis (a like's reward) go to the post's address. The signed hex.
    pub fn keva_react_tx(
        &self,
        ns: &str,
        kind: Reaction,
        post: &str,
        text: &str,
        tip: u64,
    ) -> String {
        let mut outputs = Vec::new();
        if tip > 0 {
            outputs.push(TxOut {
                value: tip,
                script_pubkey: self.post_address_script(post),
            });
        }
        self.keva_tx(ns, kind.key(post), text.as_bytes().to_vec(), outputs)
    }

    /// A keva PUT of raw `key`/`value` bytes in `ns`, spending the namespace's current keva
    /// output and a wallet coin, plus `extra` outputs; signed, not sent. The signed hex.
    pub fn keva_tx(&self, ns: &str, key: Vec<u8>, value: Vec<u8>, extra: Vec<TxOut>) -> String {
        let ns_bytes = namespace_from_string(ns).expect("a namespace id");
        let unspent = self.unspent();
        let keva_coin = unspent
            .iter()
            .find(|u| {
                parse_keva_script(&u.script).is_some_and(|(op, _)| op.namespace() == ns_bytes)
            })
            .unwrap_or_else(|| panic!("the wallet holds no keva output of {ns}"));
        let extra_total: u64 = extra.iter().map(|o| o.value).sum();
        let funding = unspent
            .iter()
            .filter(|u| u.spendable && parse_keva_script(&u.script).is_none())
            .filter(|u| u.sats >= extra_total + FEE + COIN)
            .max_by_key(|u| (u.confirmations > 0, u.sats))
            .expect("the wallet has a coin to pay the fee");
        let change = self
            .call("getrawchangeaddress", json!([]))
            .as_str()
            .unwrap()
            .to_string();
        let op = KevaOp::Put {
            namespace: ns_bytes,
            key,
            value,
        };
        let mut outputs = vec![TxOut {
            value: KEVA_LOCKED,
            script_pubkey: build_keva_script(&op, address_script(&keva_coin.script)),
        }];
        outputs.extend(extra);
        outputs.push(TxOut {
            value: keva_coin.sats + funding.sats - KEVA_LOCKED - extra_total - FEE,
            script_pubkey: self.script_of(&change),
        });
        let tx = Transaction {
            version: KEVA_TX_VERSION,
            inputs: [keva_coin, funding]
                .iter()
                .map(|u| TxIn {
                    prevout: OutPoint {
                        txid: hash_from_hex(&u.txid).unwrap(),
                        vout: u.vout,
                    },
                    script_sig: Vec::new(),
                    sequence: u32::MAX,
                    witness: Vec::new(),
                })
                .collect(),
            outputs,
            lock_time: 0,
        };
        self.sign(&to_hex(&tx.serialize()))
    }

    /// Signs a raw transaction with the wallet's keys (`signrawtransaction`); the signed hex.
    pub fn sign(&self, hex: &str) -> String {
        let signed = self.call("signrawtransaction", json!([hex]));
        assert_eq!(
            signed["complete"], true,
            "the wallet could not sign: {signed}"
        );
        signed["hex"].as_str().unwrap().to_string()
    }

    /// Sends a signed transaction to the node; the txid.
    pub fn send_raw(&self, hex: &str) -> String {
        self.call("sendrawtransaction", json!([hex]))
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The address script of a post's keva output (where a like's tip goes).
    fn post_address_script(&self, post: &str) -> Vec<u8> {
        let tx = self.call("getrawtransaction", json!([post, 1]));
        tx["vout"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| from_hex(o["scriptPubKey"]["hex"].as_str().unwrap()).unwrap())
            .find_map(|s| parse_keva_script(&s).map(|(_, addr)| addr.to_vec()))
            .expect("the post has a keva output")
    }
}
