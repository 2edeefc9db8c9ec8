//! The seeded chain generator: from a handful of busy blocks to a mainnet-shaped chain of a
//! million mostly coinbase-only blocks with bursts of payments and keva activity.
//!
//! The same seed and shape always give the same chain, byte for byte.

use super::analyze::PROFILE_KEY;
use super::node::NodeState;
use super::wallet::{AddrKind, KEVA_LOCK};
use crate::chain::hash::{hash160, sha256};
use crate::chain::{Hash32, TxOut};

/// How the generated chain looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Every block after the first few carries transactions: small chains for tests.
    Busy,
    /// Mostly coinbase-only blocks paid to four pools, with occasional bursts of activity.
    Mainnet,
}

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct GenConfig {
    /// Blocks after genesis.
    pub blocks: u32,
    /// Seed for every random choice.
    pub seed: u64,
    /// Chain shape.
    pub shape: Shape,
}

impl GenConfig {
    /// Busy shape up to 10,000 blocks, mainnet shape above.
    pub fn auto(blocks: u32, seed: u64) -> GenConfig {
        GenConfig {
            blocks,
            seed,
            shape: if blocks > 10_000 {
                Shape::Mainnet
            } else {
                Shape::Busy
            },
        }
    }
}

/// splitmix64: tiny, fast and good enough for choosing test data.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x6b65_7661_636f_696e)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// A random element.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The pool payout scripts of the mainnet shape (not wallet keys), with their share in %.
pub fn pool_scripts(seed: u64) -> Vec<(Vec<u8>, u32)> {
    let shares = [35, 30, 20, 15];
    shares
        .iter()
        .enumerate()
        .map(|(i, share)| {
            let h = hash160(&sha256(format!("pool {i} {seed}").as_bytes()));
            let script = if i % 2 == 0 {
                [&[0x76, 0xa9, 0x14][..], &h, &[0x88, 0xac]].concat()
            } else {
                [&[0xa9, 0x14][..], &h, &[0x87]].concat()
            };
            (script, *share)
        })
        .collect()
}

const WORDS: &[&str] = &[
    "kevacoin",
    "hello",
    "world",
    "moon",
    "blockchain",
    "keva",
    "post",
    "news",
    "art",
    "music",
];
const TAGS: &[&str] = &[
    "#Kevacoin",
    "#hello",
    "#KEVA",
    "#news",
    "#\u{00fc}ber",
    "#art_2020",
    "#moon",
];

/// A confirmed-or-pending post the generator can react to.
#[derive(Clone)]
struct Post {
    txid: Hash32,
    owner: Vec<u8>,
}

struct Gen {
    rng: Rng,
    posts: Vec<Post>,
    /// Keys each held namespace currently has (generator's view, for deletes).
    keys: Vec<(Vec<u8>, Vec<Vec<u8>>)>,
    counter: u64,
}

/// Extends `node` by `cfg.blocks` generated blocks.
pub fn generate(node: &mut NodeState, cfg: &GenConfig) -> Result<(), String> {
    let mut g = Gen {
        rng: Rng::new(cfg.seed),
        posts: Vec::new(),
        keys: Vec::new(),
        counter: 0,
    };
    let pools = pool_scripts(cfg.seed);
    let funding = match cfg.shape {
        Shape::Busy => 3.min(cfg.blocks),
        Shape::Mainnet => 200.min(cfg.blocks),
    };
    let mut burst_left = 0u32;
    for i in 0..cfg.blocks {
        if i < funding {
            let k = node.wallet.new_key(AddrKind::ALL[i as usize % 4]);
            let payee = node.wallet.key(k).script();
            node.mine(1, Some(&payee), false);
            continue;
        }
        let (busy, max_txs) = match cfg.shape {
            Shape::Busy => (true, 6),
            Shape::Mainnet => {
                if burst_left == 0 && g.rng.chance(1.0 / 5000.0) {
                    burst_left = 20 + g.rng.below(180) as u32;
                }
                let busy = burst_left > 0 && g.rng.chance(0.5);
                burst_left = burst_left.saturating_sub(1);
                (busy, 8)
            }
        };
        let payee = match cfg.shape {
            Shape::Busy => None,
            Shape::Mainnet => {
                let roll = g.rng.below(100) as u32;
                let mut acc = 0;
                pools
                    .iter()
                    .find(|(_, share)| {
                        acc += share;
                        roll < acc
                    })
                    .map(|(s, _)| s.clone())
            }
        };
        if busy {
            let n = 1 + g.rng.below(max_txs) as usize;
            for _ in 0..n {
                g.activity(node)?;
            }
        }
        node.mine(1, payee.as_deref(), true);
    }
    Ok(())
}

impl Gen {
    fn text(&mut self) -> String {
        self.counter += 1;
        let mut words: Vec<String> = (0..1 + self.rng.below(6))
            .map(|_| self.rng.pick(WORDS).to_string())
            .collect();
        if self.rng.chance(0.4) {
            words.push(self.rng.pick(TAGS).to_string());
        }
        if self.rng.chance(0.1) {
            words.push(self.rng.pick(TAGS).to_string());
        }
        words.push(format!("n{}", self.counter));
        words.join(" ")
    }

    /// One random transaction into the mempool.
    fn activity(&mut self, node: &mut NodeState) -> Result<(), String> {
        let held = node.wallet.namespaces();
        let roll = self.rng.below(100);
        let result = if roll < 40 || (held.is_empty() && roll >= 50) {
            self.payment(node)
        } else if roll < 50 {
            let name = format!("{} {}", self.rng.pick(WORDS), self.counter);
            self.counter += 1;
            let built = node.wallet.keva_namespace(name.as_bytes());
            node.submit_built(built).map(|b| {
                if let Some(ns) = b.namespace {
                    self.keys.push((ns, Vec::new()));
                }
            })
        } else {
            let ns = self.rng.pick(&held).clone();
            self.keva(node, &ns, roll)
        };
        result
    }

    fn payment(&mut self, node: &mut NodeState) -> Result<(), String> {
        let mut outputs = Vec::new();
        for _ in 0..1 + self.rng.below(3) {
            let kind = *self.rng.pick(&AddrKind::ALL);
            let k = node.wallet.new_key(kind);
            outputs.push(TxOut {
                value: 10_000 + self.rng.below(50 * 100_000_000),
                script_pubkey: node.wallet.key(k).script(),
            });
        }
        if self.rng.chance(0.15) {
            let mut script = vec![0x6a];
            super::analyze::push(&mut script, format!("memo {}", self.counter).as_bytes());
            outputs.push(TxOut {
                value: 0,
                script_pubkey: script,
            });
        }
        let built = node.wallet.pay(outputs);
        node.submit_built(built).map(|_| ())
    }

    fn keva(&mut self, node: &mut NodeState, ns: &[u8], roll: u64) -> Result<(), String> {
        let slot = self.keys.iter().position(|(n, _)| n == ns);
        let (key, value, extra): (Vec<u8>, Vec<u8>, Vec<TxOut>) =
            if roll < 70 || self.posts.is_empty() {
                // A plain post, sometimes the profile.
                if self.rng.chance(0.1) {
                    let word = self.rng.pick(WORDS).to_string();
                    let bio = self.text();
                    let v = format!(
                        "{{\"displayName\":\"{word} {}\",\"bio\":\"{bio}\"}}",
                        self.counter
                    );
                    (PROFILE_KEY.to_vec(), v.into_bytes(), Vec::new())
                } else {
                    let key = format!("{} {}", self.rng.pick(WORDS), self.counter);
                    self.counter += 1;
                    (key.into_bytes(), self.text().into_bytes(), Vec::new())
                }
            } else if roll < 80 {
                // Delete one of the namespace's keys, if it has any.
                if let Some(i) = slot {
                    let list = &self.keys[i].1;
                    if !list.is_empty() {
                        let k = list[self.rng.below(list.len() as u64) as usize].clone();
                        self.keys[i].1.retain(|x| x != &k);
                        let built = node.wallet.keva_delete(ns, &k);
                        return node.submit_built(built).map(|_| ());
                    }
                }
                return self.payment(node);
            } else {
                // Reply (00 01), share (00 02) or like (00 03, pays the author).
                let post = self.posts[self.rng.below(self.posts.len() as u64) as usize].clone();
                let kind = 1 + self.rng.below(3) as u8;
                let mut key = vec![0x00, kind];
                key.extend(post.txid.iter().rev());
                let (value, extra) = match kind {
                    1 => (self.text().into_bytes(), Vec::new()),
                    2 => (Vec::new(), Vec::new()),
                    _ => (
                        Vec::new(),
                        vec![TxOut {
                            value: 10 * KEVA_LOCK,
                            script_pubkey: post.owner.clone(),
                        }],
                    ),
                };
                (key, value, extra)
            };
        let owner = node.wallet.namespace_owner_script(ns).unwrap_or_default();
        let built = node.wallet.keva_put(ns, &key, &value, extra);
        let built = node.submit_built(built)?;
        if key.first() != Some(&0) {
            self.posts.push(Post {
                txid: built.txid,
                owner,
            });
            if self.posts.len() > 500 {
                self.posts.remove(0);
            }
        }
        if let Some(i) = slot {
            if !self.keys[i].1.contains(&key) {
                self.keys[i].1.push(key);
            }
        }
        Ok(())
    }
}
