//! A deterministic wallet inside the stand-in, so tests and the generator can make payments and
//! keva operations and know exactly what they made.
//!
//! Keys are derived from the seed; signatures are well-formed dummies (the stand-in, like the
//! indexer, never verifies scripts).

use super::analyze::{derive_namespace, KevaOp, TxMeta, KEVA_TX_VERSION};
use super::state::Chain;
use crate::chain::hash::{hash160, sha256};
use crate::chain::{Hash32, Network, OutPoint, Transaction, TxIn, TxOut};
use std::collections::{BTreeMap, HashMap};

/// Amount locked in every keva output (0.01 KVA, the consensus minimum).
pub const KEVA_LOCK: u64 = 1_000_000;

/// The kinds of address the wallet can receive on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddrKind {
    /// Legacy pay-to-pubkey-hash ("K…" on mainnet).
    P2pkh,
    /// Pay-to-script-hash of a 1-of-1 multisig.
    P2sh,
    /// P2SH-wrapped P2WPKH, the Kevacoin wallets' default ("V…").
    P2shP2wpkh,
    /// Native segwit v0 key hash (bech32).
    P2wpkh,
}

impl AddrKind {
    /// Every kind, for round-robin use.
    pub const ALL: [AddrKind; 4] = [
        AddrKind::P2pkh,
        AddrKind::P2sh,
        AddrKind::P2shP2wpkh,
        AddrKind::P2wpkh,
    ];
}

/// One wallet key and the address kind it receives on.
#[derive(Clone, Debug)]
pub struct Key {
    /// Compressed public key (deterministic bytes, not on any curve check).
    pub pubkey: [u8; 33],
    /// The address kind.
    pub kind: AddrKind,
}

impl Key {
    fn redeem_script(&self) -> Vec<u8> {
        match self.kind {
            AddrKind::P2sh => {
                let mut s = vec![0x51, 0x21];
                s.extend_from_slice(&self.pubkey);
                s.extend_from_slice(&[0x51, 0xae]);
                s
            }
            _ => {
                let mut s = vec![0x00, 0x14];
                s.extend_from_slice(&hash160(&self.pubkey));
                s
            }
        }
    }

    /// The output script paying this key.
    pub fn script(&self) -> Vec<u8> {
        let h = hash160(&self.pubkey);
        match self.kind {
            AddrKind::P2pkh => [&[0x76, 0xa9, 0x14][..], &h, &[0x88, 0xac]].concat(),
            AddrKind::P2wpkh => [&[0x00, 0x14][..], &h].concat(),
            AddrKind::P2sh | AddrKind::P2shP2wpkh => {
                [&[0xa9, 0x14][..], &hash160(&self.redeem_script()), &[0x87]].concat()
            }
        }
    }

    fn signature(&self, prevout: &OutPoint) -> Vec<u8> {
        let mut r =
            sha256(&[&self.pubkey[..], &prevout.txid, &prevout.vout.to_le_bytes()].concat());
        r[0] = (r[0] & 0x7f) | 0x01;
        let mut s = sha256(&r);
        s[0] = (s[0] & 0x3f) | 0x01;
        let mut sig = vec![0x30, 0x44, 0x02, 0x20];
        sig.extend_from_slice(&r);
        sig.extend_from_slice(&[0x02, 0x20]);
        sig.extend_from_slice(&s);
        sig.push(0x01);
        sig
    }

    /// An input spending `prevout`, with the scriptSig/witness shape of this key's kind.
    fn input(&self, prevout: OutPoint) -> TxIn {
        let sig = self.signature(&prevout);
        let mut script_sig = Vec::new();
        let mut witness = Vec::new();
        match self.kind {
            AddrKind::P2pkh => {
                super::analyze::push(&mut script_sig, &sig);
                super::analyze::push(&mut script_sig, &self.pubkey);
            }
            AddrKind::P2wpkh => witness = vec![sig, self.pubkey.to_vec()],
            AddrKind::P2shP2wpkh => {
                super::analyze::push(&mut script_sig, &self.redeem_script());
                witness = vec![sig, self.pubkey.to_vec()];
            }
            AddrKind::P2sh => {
                script_sig.push(0x00);
                super::analyze::push(&mut script_sig, &sig);
                super::analyze::push(&mut script_sig, &self.redeem_script());
            }
        }
        TxIn {
            prevout,
            script_sig,
            sequence: 0xffff_fffe,
            witness,
        }
    }
}

/// A wallet output that can be spent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coin {
    /// Amount in satoshis.
    pub value: u64,
    /// Index of the owning key.
    pub key: usize,
    /// Whether a block confirms it.
    pub confirmed: bool,
}

/// A payment or keva transaction the wallet built, with what it means.
#[derive(Clone, Debug)]
pub struct Built {
    /// The transaction, ready for the mempool.
    pub tx: Transaction,
    /// Its txid.
    pub txid: Hash32,
    /// The namespace id a registration created (or the namespace acted on).
    pub namespace: Option<Vec<u8>>,
}

/// Keys, coins and namespaces of the stand-in's wallet.
pub struct Wallet {
    seed: u64,
    keys: Vec<Key>,
    owned: HashMap<Hash32, usize>,
    /// Keyed by (txid, vout) for a deterministic spending order.
    coins: BTreeMap<(Hash32, u32), Coin>,
    /// Namespace id → the keva output that currently holds it.
    keva_coins: BTreeMap<Vec<u8>, (OutPoint, Coin)>,
    /// Fee rate used for built transactions, satoshis per vbyte.
    pub fee_rate: u64,
}

impl Wallet {
    /// An empty wallet whose keys derive from `seed`.
    pub fn new(seed: u64) -> Wallet {
        Wallet {
            seed,
            keys: Vec::new(),
            owned: HashMap::new(),
            coins: BTreeMap::new(),
            keva_coins: BTreeMap::new(),
            fee_rate: 10,
        }
    }

    /// Makes a new key of `kind` and returns its index.
    pub fn new_key(&mut self, kind: AddrKind) -> usize {
        let index = self.keys.len();
        let d = sha256(
            &[
                b"keva-devnode key".as_slice(),
                &self.seed.to_le_bytes(),
                &(index as u64).to_le_bytes(),
            ]
            .concat(),
        );
        let mut pubkey = [0u8; 33];
        pubkey[0] = 0x02 | (d[31] & 1);
        pubkey[1..].copy_from_slice(&d);
        let key = Key { pubkey, kind };
        self.owned.insert(sha256(&key.script()), index);
        self.keys.push(key);
        index
    }

    /// The key at `index`.
    pub fn key(&self, index: usize) -> &Key {
        &self.keys[index]
    }

    /// Whether an output script (address part) belongs to the wallet.
    pub fn owns_script(&self, script: &[u8]) -> bool {
        self.owned.contains_key(&sha256(script))
    }

    /// Sum of spendable (non-keva) coins.
    pub fn balance(&self) -> u64 {
        self.coins.values().map(|c| c.value).sum()
    }

    /// Number of spendable (non-keva) coins.
    pub fn coin_count(&self) -> usize {
        self.coins.len()
    }

    /// Namespaces the wallet currently holds.
    pub fn namespaces(&self) -> Vec<Vec<u8>> {
        self.keva_coins.keys().cloned().collect()
    }

    /// The address script that holds namespace `ns`.
    pub fn namespace_owner_script(&self, ns: &[u8]) -> Option<Vec<u8>> {
        self.keva_coins
            .get(ns)
            .map(|(_, c)| self.keys[c.key].script())
    }

    /// Updates coins from a transaction that entered the mempool or a block.
    pub fn observe(&mut self, meta: &TxMeta, confirmed: bool) {
        for op in &meta.inputs {
            if self.coins.remove(&(op.txid, op.vout)).is_none() {
                self.keva_coins.retain(|_, (o, _)| o != op);
            }
        }
        for (vout, out) in meta.outputs.iter().enumerate() {
            let Some(sh) = out.scripthash else { continue };
            let Some(&key) = self.owned.get(&sh) else {
                continue;
            };
            let op = OutPoint {
                txid: meta.txid,
                vout: vout as u32,
            };
            let coin = Coin {
                value: out.value,
                key,
                confirmed,
            };
            match &meta.keva {
                Some(k) if k.vout == vout as u32 => {
                    self.keva_coins
                        .insert(k.op.namespace().to_vec(), (op, coin));
                }
                _ => {
                    self.coins.insert((op.txid, op.vout), coin);
                }
            }
        }
    }

    /// Rebuilds the coins from the chain and mempool (after a reorg or a mempool drop).
    pub fn rescan(&mut self, chain: &Chain) {
        self.coins.clear();
        self.keva_coins.clear();
        let owned = &self.owned;
        let want = |script: &[u8]| owned.contains_key(&sha256(script));
        let mut metas = Vec::new();
        for h in 0..=chain.height() {
            metas.extend(
                chain
                    .block_metas_if(h, &want)
                    .into_iter()
                    .map(|m| (m, true)),
            );
        }
        metas.extend(
            chain
                .mempool_entries()
                .into_iter()
                .map(|e| (e.meta.clone(), false)),
        );
        for (m, confirmed) in metas {
            self.observe(&m, confirmed);
        }
    }

    /// Builds a transaction paying `outputs` from spendable coins, change to a fresh key.
    pub fn pay(&mut self, outputs: Vec<TxOut>) -> Result<Built, String> {
        let tx = self.fund(1, Vec::new(), outputs, None)?;
        let txid = tx.txid();
        Ok(Built {
            tx,
            txid,
            namespace: None,
        })
    }

    /// Registers a namespace with `display_name`, held by a fresh P2SH-P2WPKH key.
    pub fn keva_namespace(&mut self, display_name: &[u8]) -> Result<Built, String> {
        let holder = self.new_key(AddrKind::P2shP2wpkh);
        let first = self
            .coins
            .iter()
            .find(|(_, c)| c.value > KEVA_LOCK + 100_000)
            .map(|((txid, vout), _)| OutPoint {
                txid: *txid,
                vout: *vout,
            })
            .ok_or(
                "the wallet has no coin to register a namespace with: mine blocks to it first",
            )?;
        let namespace = derive_namespace(&first);
        let op = KevaOp::Namespace {
            namespace: namespace.clone(),
            display_name: display_name.to_vec(),
        };
        let keva_out = TxOut {
            value: KEVA_LOCK,
            script_pubkey: op.script(&self.keys[holder].script()),
        };
        let tx = self.fund(KEVA_TX_VERSION, vec![first], vec![keva_out], None)?;
        let txid = tx.txid();
        Ok(Built {
            tx,
            txid,
            namespace: Some(namespace),
        })
    }

    /// Puts `key` = `value` into a namespace the wallet holds; `extra` outputs ride along
    /// (a like's reward to the post's author).
    pub fn keva_put(
        &mut self,
        ns: &[u8],
        key: &[u8],
        value: &[u8],
        extra: Vec<TxOut>,
    ) -> Result<Built, String> {
        let op = KevaOp::Put {
            namespace: ns.to_vec(),
            key: key.to_vec(),
            value: value.to_vec(),
        };
        self.keva_op(ns, op, extra)
    }

    /// Deletes `key` from a namespace the wallet holds.
    pub fn keva_delete(&mut self, ns: &[u8], key: &[u8]) -> Result<Built, String> {
        let op = KevaOp::Delete {
            namespace: ns.to_vec(),
            key: key.to_vec(),
        };
        self.keva_op(ns, op, Vec::new())
    }

    fn keva_op(&mut self, ns: &[u8], op: KevaOp, extra: Vec<TxOut>) -> Result<Built, String> {
        let (prev, coin) = self.keva_coins.get(ns).cloned().ok_or_else(|| {
            format!(
                "the wallet does not hold namespace {}",
                crate::chain::hash::to_hex(ns)
            )
        })?;
        let keva_out = TxOut {
            value: coin.value,
            script_pubkey: op.script(&self.keys[coin.key].script()),
        };
        let mut outputs = vec![keva_out];
        outputs.extend(extra);
        let tx = self.fund(KEVA_TX_VERSION, Vec::new(), outputs, Some((prev, coin)))?;
        let txid = tx.txid();
        Ok(Built {
            tx,
            txid,
            namespace: Some(ns.to_vec()),
        })
    }

    /// Adds inputs until `outputs` and the fee are covered; change goes to a fresh key.
    /// `first` coins are spent before any other (in order); `keva` is spent as the first input.
    fn fund(
        &mut self,
        version: i32,
        first: Vec<OutPoint>,
        outputs: Vec<TxOut>,
        keva: Option<(OutPoint, Coin)>,
    ) -> Result<Transaction, String> {
        let target: u64 = outputs.iter().map(|o| o.value).sum();
        let mut inputs: Vec<(OutPoint, Coin)> = Vec::new();
        let mut have = 0u64;
        if let Some((op, c)) = &keva {
            inputs.push((*op, c.clone()));
            have += c.value;
        }
        for op in &first {
            let c = self
                .coins
                .get(&(op.txid, op.vout))
                .cloned()
                .ok_or("coin to spend first is gone")?;
            have += c.value;
            inputs.push((*op, c));
        }
        let change_key = self.new_key(AddrKind::ALL[self.keys.len() % 4]);
        let change_script = self.keys[change_key].script();
        let mut iter = self.coins.iter();
        loop {
            let tx = self.assemble(version, &inputs, &outputs, Some((&change_script, 0)));
            let fee = tx.vsize() as u64 * self.fee_rate;
            if have >= target + fee + 1000 {
                let change = have - target - fee;
                let tx = self.assemble(version, &inputs, &outputs, Some((&change_script, change)));
                return Ok(tx);
            }
            if have >= target + fee {
                return Ok(self.assemble(version, &inputs, &outputs, None));
            }
            match iter.next() {
                Some(((txid, vout), c)) => {
                    let op = OutPoint {
                        txid: *txid,
                        vout: *vout,
                    };
                    if !inputs.iter().any(|(o, _)| *o == op) {
                        have += c.value;
                        inputs.push((op, c.clone()));
                    }
                }
                None => {
                    return Err(format!(
                        "the wallet cannot pay {target} sat plus fee: it holds {} sat in {} coins; \
                         mine blocks to it first",
                        self.balance(),
                        self.coins.len()
                    ))
                }
            }
        }
    }

    fn assemble(
        &self,
        version: i32,
        inputs: &[(OutPoint, Coin)],
        outputs: &[TxOut],
        change: Option<(&Vec<u8>, u64)>,
    ) -> Transaction {
        let mut outs = outputs.to_vec();
        if let Some((script, value)) = change {
            outs.push(TxOut {
                value,
                script_pubkey: script.clone(),
            });
        }
        Transaction {
            version,
            inputs: inputs
                .iter()
                .map(|(op, c)| self.keys[c.key].input(*op))
                .collect(),
            outputs: outs,
            lock_time: 0,
        }
    }

    /// The address string of key `index` on `net`.
    pub fn address(&self, index: usize, net: Network) -> Option<String> {
        crate::chain::address::script_to_address(&self.keys[index].script(), net)
    }
}
