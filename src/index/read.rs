//! The read API the rest of the server uses: one [`Reader`] per worker thread, each a read-only
//! connection whose queries are prepared once and cached.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use super::writer::{keva_op_from_parts, keva_op_from_row, stored_namespace};
use super::{db, from_display, to_display, Result};
use crate::chain::keva::{index_scripthash, namespace_to_string, KevaOp, PROFILE_KEY};
use crate::chain::{Hash32, Network};

/// One confirmed history entry of a scripthash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryItem {
    /// Global chain position (the keva methods page by it).
    pub tx_num: i64,
    /// Transaction id (internal order).
    pub txid: Hash32,
    /// Block height.
    pub height: u32,
}

/// One confirmed unspent output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utxo {
    /// Creating transaction (internal order).
    pub txid: Hash32,
    /// Output index.
    pub vout: u32,
    /// Amount in satoshis.
    pub value: u64,
    /// Height of the creating block.
    pub height: u32,
    /// tx_num of the creating transaction (chain order).
    pub tx_num: i64,
}

/// Where a transaction sits in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLocation {
    /// Global chain position.
    pub tx_num: i64,
    /// Block height.
    pub height: u32,
    /// Position in the block (0 = coinbase).
    pub position: u32,
}

/// A keva operation with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KevaRow {
    /// The transaction's chain position.
    pub tx_num: i64,
    /// The output carrying it.
    pub vout: u32,
    /// The operation (namespace, key/display name, value).
    pub op: KevaOp,
}

/// Reaction counts of a post: confirmed history lengths of its reply/share/like index entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReactionCounts {
    /// Replies (`00 01 ‖ txid`).
    pub replies: u64,
    /// Shares (`00 02 ‖ txid`).
    pub shares: u64,
    /// Likes (`00 03 ‖ txid`).
    pub likes: u64,
}

/// A history entry of a keva page with everything the page shows about it, read together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KevaPageItem {
    /// The history entry.
    pub item: HistoryItem,
    /// Header time of its block.
    pub time: Option<u32>,
    /// Position in its block (0 = coinbase).
    pub position: u32,
    /// An operator banned its keva content.
    pub banned: bool,
    /// Its keva operation (the first, should a tx carry several); `None` when it has none.
    pub op: Option<KevaOp>,
    /// The namespace id of `op` as clients see it (Base58Check, `N…`); empty without `op`.
    pub namespace_id: String,
    /// Its confirmed replies, shares and likes.
    pub reactions: ReactionCounts,
}

/// What hashtag and reaction items show about a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceProfile {
    /// `len(str(height)) ‖ height ‖ position` of the first entry of namespace ‖ `\x01_KEVA_NS_`.
    pub short_code: String,
    /// displayName of the latest profile put when it is JSON with one, else the registered name.
    pub display_name: Vec<u8>,
}

/// One output as get_transactions_info and the mempool need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputInfo {
    /// The creating transaction's chain position.
    pub tx_num: i64,
    /// Amount in satoshis.
    pub value: u64,
    /// Scripthash (internal order) of the keva-stripped script; `None` for OP_RETURN.
    pub scripthash: Option<Hash32>,
    /// Address text (`K…`/`V…`/`kva1…`, `unh…`, or `ret`).
    pub address: String,
    /// Height of the creating block.
    pub height: u32,
    /// tx_num of the spending transaction, if spent in the chain.
    pub spent_by: Option<i64>,
}

/// Inputs and outputs of a confirmed transaction (get_transactions_info).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxSummary {
    /// Where it is.
    pub location: TxLocation,
    /// Block time (header nTime).
    pub time: u32,
    /// Outputs in order: (address text, satoshis).
    pub outputs: Vec<(String, u64)>,
    /// Spent outputs in input order: (address text, satoshis); empty for a coinbase.
    pub inputs: Vec<(String, u64)>,
    /// The keva operation it carries, if any.
    pub keva: Option<KevaRow>,
}

/// keva_ops columns: vout, op, namespace, key, value.
type KevaRowRaw = (u32, u8, String, Vec<u8>, Option<Vec<u8>>);
/// outputs ⋈ scripts columns: tx_num, value, scripthash, address, height, spent_tx_num.
type OutputRowRaw = (i64, i64, Option<Vec<u8>>, Option<String>, u32, Option<i64>);

/// A read-only view of the index for one thread.
pub struct Reader {
    conn: Connection,
    /// Namespace ids decoded from their stored text: pages show the same few namespaces
    /// again and again, and decoding checks a double SHA-256.
    namespaces: RefCell<HashMap<String, Vec<u8>>>,
}

/// The oldest and the newest entry of a namespace's profile history.
pub type ProfileEntries = (Option<KevaPageItem>, Option<KevaPageItem>);

/// Decoded namespace ids one connection keeps (under 1 MB).
const NAMESPACE_CACHE: usize = 4096;

impl Reader {
    /// Opens the index read-only; `cache_mb` bounds this connection's page cache.
    pub fn open(path: &Path, network: Network, cache_mb: u32) -> Result<Reader> {
        Ok(Reader {
            conn: db::open_reader(path, network, cache_mb)?,
            namespaces: RefCell::default(),
        })
    }

    /// A number that changes with every commit of the index (a block, a reorg, a ban), for
    /// answers kept between calls (`PRAGMA data_version`).
    pub fn data_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?)
    }

    /// [`Reader::keva_first`] and the newest entry of a namespace's profile history
    /// (`ns ‖ \x01_KEVA_NS_`).
    pub fn profile_entries(&self, scripthash: &Hash32) -> Result<ProfileEntries> {
        Ok((
            self.keva_first(scripthash)?,
            self.keva_page(scripthash, None, 1)?.pop(),
        ))
    }

    /// Height and hash (internal order) of the indexed tip; `None` for an empty index.
    pub fn tip(&self) -> Result<Option<(u32, Hash32)>> {
        let row: (i64, Option<Vec<u8>>) = self
            .conn
            .prepare_cached("SELECT height, block_hash FROM sync_state WHERE id = 0")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        match row {
            (h, Some(hash)) if h >= 0 => Ok(Some((h as u32, from_display(&hash)?))),
            _ => Ok(None),
        }
    }

    /// The raw header at `height`.
    pub fn header(&self, height: u32) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .prepare_cached("SELECT header FROM blocks WHERE height = ?1")?
            .query_row([height], |r| r.get(0))
            .optional()?)
    }

    /// Raw headers of heights `start..start+count` that exist, in order.
    pub fn headers(&self, start: u32, count: u32) -> Result<Vec<Vec<u8>>> {
        let mut st = self.conn.prepare_cached(
            "SELECT header FROM blocks WHERE height >= ?1 AND height < ?2 ORDER BY height",
        )?;
        let end = i64::from(start) + i64::from(count);
        let rows = st.query_map(params![start, end], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The block hash (internal order) at `height`.
    pub fn block_hash(&self, height: u32) -> Result<Option<Hash32>> {
        let h: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT hash FROM blocks WHERE height = ?1")?
            .query_row([height], |r| r.get(0))
            .optional()?;
        h.map(|b| from_display(&b)).transpose()
    }

    /// Txids (internal order) of the block at `height`, in block order. `None` for an unknown
    /// height and for genesis, whose transactions are not indexed.
    pub fn block_txids(&self, height: u32) -> Result<Option<Vec<Hash32>>> {
        let Some((first, count)) = self.block_range(height)? else {
            return Ok(None);
        };
        if height == 0 {
            return Ok(None);
        }
        let mut st = self.conn.prepare_cached(
            "SELECT txid FROM txs WHERE tx_num >= ?1 AND tx_num < ?2 ORDER BY tx_num",
        )?;
        let rows = st.query_map([first, first + count], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::with_capacity(count as usize);
        for r in rows {
            out.push(from_display(&r?)?);
        }
        Ok(Some(out))
    }

    fn block_range(&self, height: u32) -> Result<Option<(i64, i64)>> {
        Ok(self
            .conn
            .prepare_cached("SELECT first_tx_num, tx_count FROM blocks WHERE height = ?1")?
            .query_row([height], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    /// Up to `limit` history entries of `scripthash` in chain order (pass max + 1 to detect a
    /// history that is too large).
    pub fn history(&self, scripthash: &Hash32, limit: usize) -> Result<Vec<HistoryItem>> {
        let mut st = self.conn.prepare_cached(
            "SELECT h.tx_num, t.txid, t.height FROM scripts s
             JOIN history h ON h.script_id = s.id JOIN txs t ON t.tx_num = h.tx_num
             WHERE s.scripthash = ?1 ORDER BY h.tx_num LIMIT ?2",
        )?;
        let rows = st.query(params![to_display(scripthash).as_slice(), limit as i64])?;
        collect_history(rows)
    }

    /// A page of `scripthash`'s history newest first: entries with tx_num < `below` (all when
    /// `None`), at most `limit` (the keva methods' paging).
    pub fn history_page(
        &self,
        scripthash: &Hash32,
        below: Option<i64>,
        limit: usize,
    ) -> Result<Vec<HistoryItem>> {
        let mut st = self.conn.prepare_cached(
            "SELECT h.tx_num, t.txid, t.height FROM scripts s
             JOIN history h ON h.script_id = s.id JOIN txs t ON t.tx_num = h.tx_num
             WHERE s.scripthash = ?1 AND h.tx_num < ?2 ORDER BY h.tx_num DESC LIMIT ?3",
        )?;
        let below = below.unwrap_or(i64::MAX);
        let rows = st.query(params![
            to_display(scripthash).as_slice(),
            below,
            limit as i64
        ])?;
        collect_history(rows)
    }

    /// Number of confirmed history entries of `scripthash`.
    pub fn history_len(&self, scripthash: &Hash32) -> Result<u64> {
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM scripts s JOIN history h ON h.script_id = s.id
                 WHERE s.scripthash = ?1",
            )?
            .query_row([to_display(scripthash).as_slice()], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Frees this connection's page cache: after a very long answer it would otherwise hold
    /// pages that no other request needs, beside the answer's own buffers.
    pub fn release_memory(&self) -> Result<()> {
        self.conn.execute_batch("PRAGMA shrink_memory")?;
        Ok(())
    }

    /// Confirmed unspent outputs of `scripthash`, in chain order.
    pub fn utxos(&self, scripthash: &Hash32) -> Result<Vec<Utxo>> {
        let mut st = self.conn.prepare_cached(
            "SELECT o.tx_num, o.vout, o.value, t.txid, t.height FROM scripts s
             JOIN outputs o ON o.script_id = s.id AND o.spent_tx_num IS NULL
             JOIN txs t ON t.tx_num = o.tx_num
             WHERE s.scripthash = ?1 ORDER BY o.tx_num, o.vout",
        )?;
        let mut rows = st.query([to_display(scripthash).as_slice()])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(Utxo {
                tx_num: r.get(0)?,
                vout: r.get(1)?,
                value: r.get::<_, i64>(2)? as u64,
                txid: from_display(&r.get::<_, Vec<u8>>(3)?)?,
                height: r.get(4)?,
            });
        }
        Ok(out)
    }

    /// Confirmed balance of `scripthash` in satoshis.
    pub fn balance(&self, scripthash: &Hash32) -> Result<u64> {
        let v: i64 = self
            .conn
            .prepare_cached(
                "SELECT coalesce(sum(o.value), 0) FROM scripts s
                 JOIN outputs o ON o.script_id = s.id AND o.spent_tx_num IS NULL
                 WHERE s.scripthash = ?1",
            )?
            .query_row([to_display(scripthash).as_slice()], |r| r.get(0))?;
        Ok(v as u64)
    }

    /// Where a confirmed transaction is.
    pub fn tx_location(&self, txid: &Hash32) -> Result<Option<TxLocation>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT t.tx_num, t.height, t.tx_num - b.first_tx_num FROM txs t
                 JOIN blocks b ON b.height = t.height
                 WHERE t.txid = ?1 ORDER BY t.tx_num DESC LIMIT 1",
            )?
            .query_row([to_display(txid).as_slice()], |r| {
                Ok(TxLocation {
                    tx_num: r.get(0)?,
                    height: r.get(1)?,
                    position: r.get(2)?,
                })
            })
            .optional()?)
    }

    /// The txid (internal order) of a tx_num.
    pub fn txid(&self, tx_num: i64) -> Result<Option<Hash32>> {
        let b: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT txid FROM txs WHERE tx_num = ?1")?
            .query_row([tx_num], |r| r.get(0))
            .optional()?;
        b.map(|b| from_display(&b)).transpose()
    }

    /// The txid at a block position (`blockchain.transaction.id_from_pos`).
    pub fn txid_at(&self, height: u32, position: u32) -> Result<Option<Hash32>> {
        match self.block_range(height)? {
            Some((first, count)) if height > 0 && i64::from(position) < count => {
                self.txid(first + i64::from(position))
            }
            _ => Ok(None),
        }
    }

    /// Location of a tx_num.
    pub fn tx_location_of(&self, tx_num: i64) -> Result<Option<TxLocation>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT t.height, t.tx_num - b.first_tx_num FROM txs t
                 JOIN blocks b ON b.height = t.height WHERE t.tx_num = ?1",
            )?
            .query_row([tx_num], |r| {
                Ok(TxLocation {
                    tx_num,
                    height: r.get(0)?,
                    position: r.get(1)?,
                })
            })
            .optional()?)
    }

    /// Block time (header nTime) at `height`.
    pub fn block_time(&self, height: u32) -> Result<Option<u32>> {
        Ok(self
            .conn
            .prepare_cached("SELECT time FROM blocks WHERE height = ?1")?
            .query_row([height], |r| r.get(0))
            .optional()?)
    }

    /// The keva operation of a transaction (the first, should a tx carry several).
    pub fn keva_op(&self, tx_num: i64) -> Result<Option<KevaRow>> {
        let row: Option<KevaRowRaw> = self
            .conn
            .prepare_cached(
                "SELECT vout, op, namespace, key, value FROM keva_ops WHERE tx_num = ?1
                 ORDER BY vout LIMIT 1",
            )?
            .query_row([tx_num], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?;
        row.map(|(vout, code, ns, key, value)| {
            Ok(KevaRow {
                tx_num,
                vout,
                op: keva_op_from_row(code, &ns, key, value)?,
            })
        })
        .transpose()
    }

    /// Confirmed reply, share and like counts of the post `txid` (internal order).
    pub fn reaction_counts(&self, txid: &Hash32) -> Result<ReactionCounts> {
        Ok(self
            .conn
            .prepare_cached("SELECT replies, shares, likes FROM reaction_counts WHERE txid = ?1")?
            .query_row([to_display(txid).as_slice()], |r| {
                Ok(ReactionCounts {
                    replies: r.get(0)?,
                    shares: r.get(1)?,
                    likes: r.get(2)?,
                })
            })
            .optional()?
            .unwrap_or_default())
    }

    /// A page of `scripthash`'s history as [`Reader::history_page`] pages it, each entry with
    /// its block time, ban, keva operation and reaction counts: one query for the whole page.
    pub fn keva_page(
        &self,
        scripthash: &Hash32,
        below: Option<i64>,
        limit: usize,
    ) -> Result<Vec<KevaPageItem>> {
        self.keva_entries(scripthash, below, limit, "DESC")
    }

    /// The oldest entry of `scripthash`'s history as [`Reader::keva_page`] reads entries (a
    /// namespace's registration, from which its short code comes).
    pub fn keva_first(&self, scripthash: &Hash32) -> Result<Option<KevaPageItem>> {
        Ok(self.keva_entries(scripthash, None, 1, "ASC")?.pop())
    }

    fn keva_entries(
        &self,
        scripthash: &Hash32,
        below: Option<i64>,
        limit: usize,
        order: &str,
    ) -> Result<Vec<KevaPageItem>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT h.tx_num, t.txid, t.height, b.time,
                    EXISTS (SELECT 1 FROM banned_txs WHERE txid = t.txid),
                    k.vout, k.op, k.namespace, k.key, k.value, h.tx_num - b.first_tx_num,
                    rc.replies, rc.shares, rc.likes
             FROM scripts s
             JOIN history h ON h.script_id = s.id
             JOIN txs t ON t.tx_num = h.tx_num
             LEFT JOIN blocks b ON b.height = t.height
             LEFT JOIN keva_ops k ON k.tx_num = h.tx_num
                 AND k.vout = (SELECT min(vout) FROM keva_ops WHERE tx_num = h.tx_num)
             LEFT JOIN reaction_counts rc ON rc.txid = t.txid
             WHERE s.scripthash = ?1 AND h.tx_num < ?2
             ORDER BY h.tx_num {order} LIMIT ?3"
        ))?;
        let mut rows = st.query(params![
            to_display(scripthash).as_slice(),
            below.unwrap_or(i64::MAX),
            limit as i64
        ])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let code: Option<u8> = r.get(6)?;
            let (op, namespace_id) = match code {
                Some(code) => {
                    let ns: String = r.get(7)?;
                    let namespace = self.namespace_bytes(&ns)?;
                    let op = keva_op_from_parts(code, namespace, r.get(8)?, r.get(9)?)?;
                    (Some(op), ns)
                }
                None => (None, String::new()),
            };
            out.push(KevaPageItem {
                item: HistoryItem {
                    tx_num: r.get(0)?,
                    txid: from_display(r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?)?,
                    height: r.get(2)?,
                },
                time: r.get(3)?,
                position: r.get::<_, Option<u32>>(10)?.unwrap_or(0),
                banned: r.get(4)?,
                op,
                namespace_id,
                reactions: ReactionCounts {
                    replies: r.get::<_, Option<u64>>(11)?.unwrap_or(0),
                    shares: r.get::<_, Option<u64>>(12)?.unwrap_or(0),
                    likes: r.get::<_, Option<u64>>(13)?.unwrap_or(0),
                },
            });
        }
        Ok(out)
    }

    /// The bytes of a stored namespace id, decoded once per connection.
    fn namespace_bytes(&self, text: &str) -> Result<Vec<u8>> {
        let mut known = self.namespaces.borrow_mut();
        if let Some(ns) = known.get(text) {
            return Ok(ns.clone());
        }
        if known.len() >= NAMESPACE_CACHE {
            known.clear();
        }
        let ns = stored_namespace(text)?;
        known.insert(text.to_string(), ns.clone());
        Ok(ns)
    }

    /// Short code and display name of namespace `ns` (raw bytes); `None` when never registered.
    pub fn namespace_profile(&self, ns: &[u8]) -> Result<Option<NamespaceProfile>> {
        let sh = index_scripthash(&[ns, PROFILE_KEY].concat());
        let Some(first) = self.history(&sh, 1)?.into_iter().next() else {
            return Ok(None);
        };
        let position = self
            .tx_location_of(first.tx_num)?
            .map(|l| l.position)
            .unwrap_or(0);
        let height = first.height.to_string();
        let short_code = format!("{}{height}{position}", height.len());
        let registered: Option<Vec<u8>> = self
            .conn
            .prepare_cached(
                "SELECT key FROM keva_ops WHERE namespace = ?1 AND op = 208
                 ORDER BY tx_num, vout LIMIT 1",
            )?
            .query_row([namespace_to_string(ns)], |r| r.get(0))
            .optional()?;
        let latest = self.history_page(&sh, None, 1)?;
        let from_profile = match latest.first() {
            Some(item) => match self.keva_op(item.tx_num)? {
                Some(KevaRow {
                    op: KevaOp::Put { key, value, .. },
                    ..
                }) if key == PROFILE_KEY => profile_display_name(&value),
                _ => None,
            },
            None => None,
        };
        let display_name = from_profile.or(registered).unwrap_or_default();
        Ok(Some(NamespaceProfile {
            short_code,
            display_name,
        }))
    }

    /// One confirmed output (spent or not).
    pub fn output(&self, txid: &Hash32, vout: u32) -> Result<Option<OutputInfo>> {
        let row: Option<OutputRowRaw> = self
            .conn
            .prepare_cached(
                "SELECT o.tx_num, o.value, s.scripthash, s.address, t.height, o.spent_tx_num
                 FROM txs t JOIN outputs o ON o.tx_num = t.tx_num AND o.vout = ?2
                 LEFT JOIN scripts s ON s.id = o.script_id
                 WHERE t.txid = ?1 ORDER BY t.tx_num DESC LIMIT 1",
            )?
            .query_row(params![to_display(txid).as_slice(), vout], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .optional()?;
        row.map(|(tx_num, value, sh, address, height, spent_by)| {
            Ok(OutputInfo {
                tx_num,
                value: value as u64,
                scripthash: sh.map(|b| from_display(&b)).transpose()?,
                address: address.unwrap_or_else(|| "ret".to_string()),
                height,
                spent_by,
            })
        })
        .transpose()
    }

    /// Inputs, outputs, time and keva operation of a confirmed transaction.
    pub fn tx_summary(&self, txid: &Hash32) -> Result<Option<TxSummary>> {
        let Some(location) = self.tx_location(txid)? else {
            return Ok(None);
        };
        let time = self.block_time(location.height)?.unwrap_or(0);
        let pairs = |sql: &str| -> Result<Vec<(String, u64)>> {
            let mut st = self.conn.prepare_cached(sql)?;
            let rows = st.query_map([location.tx_num], |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?
                        .unwrap_or_else(|| "ret".to_string()),
                    r.get::<_, i64>(1)? as u64,
                ))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        };
        let outputs = pairs(
            "SELECT s.address, o.value FROM outputs o LEFT JOIN scripts s ON s.id = o.script_id
             WHERE o.tx_num = ?1 ORDER BY o.vout",
        )?;
        let inputs = pairs(
            "SELECT s.address, o.value FROM outputs o LEFT JOIN scripts s ON s.id = o.script_id
             WHERE o.spent_tx_num = ?1 ORDER BY o.spent_vin",
        )?;
        let keva = self.keva_op(location.tx_num)?;
        Ok(Some(TxSummary {
            location,
            time,
            outputs,
            inputs,
            keva,
        }))
    }

    /// Whether an operator banned the keva content of `txid`.
    pub fn is_banned(&self, txid: &Hash32) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM banned_txs WHERE txid = ?1")?
            .query_row([to_display(txid).as_slice()], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Every banned txid (internal order) with its reason code.
    pub fn banned(&self) -> Result<Vec<(Hash32, u32)>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT txid, reason FROM banned_txs ORDER BY txid")?;
        let mut rows = st.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push((from_display(&r.get::<_, Vec<u8>>(0)?)?, r.get(1)?));
        }
        Ok(out)
    }
}

/// Index scripthash of reactions to `txid`: kind 1 = replies, 2 = shares, 3 = likes.
pub fn reaction_scripthash(txid: &Hash32, kind: u8) -> Hash32 {
    let mut x = Vec::with_capacity(34);
    x.extend_from_slice(&[0, kind]);
    x.extend_from_slice(&to_display(txid));
    index_scripthash(&x)
}

/// displayName of a profile value, if it is JSON with a string displayName.
fn profile_display_name(value: &[u8]) -> Option<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_slice(value).ok()?;
    v.get("displayName")?
        .as_str()
        .map(|s| s.as_bytes().to_vec())
}

fn collect_history(mut rows: rusqlite::Rows<'_>) -> Result<Vec<HistoryItem>> {
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(HistoryItem {
            tx_num: r.get(0)?,
            txid: from_display(&r.get::<_, Vec<u8>>(1)?)?,
            height: r.get(2)?,
        });
    }
    Ok(out)
}

/// The mempool resolves spent outputs and checks the indexed tip through the same reader.
impl crate::mempool::OutputLookup for Reader {
    fn confirmed_output(
        &mut self,
        outpoint: &crate::chain::OutPoint,
    ) -> Option<crate::mempool::PrevOut> {
        let out = self.output(&outpoint.txid, outpoint.vout).ok()??;
        Some(crate::mempool::PrevOut {
            scripthash: out.scripthash?,
            value: out.value,
        })
    }

    fn indexed_tip(&mut self) -> Option<Hash32> {
        self.tip().ok().flatten().map(|(_, hash)| hash)
    }
}
