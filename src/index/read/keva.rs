//! Keva operations, pages of keva histories with everything an item shows (time, ban,
//! operation, reaction counts), namespace profiles and moderation.

use rusqlite::{params, OptionalExtension};

use super::super::keva_rows::{keva_op_from_parts, keva_op_from_row, stored_namespace};
use super::super::{from_display, to_display, Result};
use super::history::HistoryItem;
use super::Reader;
use crate::chain::keva::{index_scripthash, KevaOp};
use crate::chain::Hash32;

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

/// The oldest and the newest entry of a namespace's profile history.
pub type ProfileEntries = (Option<KevaPageItem>, Option<KevaPageItem>);

/// keva_ops columns: vout, op, namespace, key, value.
type KevaRowRaw = (u32, u8, String, Vec<u8>, Option<Vec<u8>>);

/// Decoded namespace ids one connection keeps (under 1 MB).
const NAMESPACE_CACHE: usize = 4096;

impl Reader {
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

    /// [`Reader::keva_first`] and the newest entry of a namespace's profile history
    /// (`ns ‖ \x01_KEVA_NS_`).
    pub fn profile_entries(&self, scripthash: &Hash32) -> Result<ProfileEntries> {
        Ok((
            self.keva_first(scripthash)?,
            self.keva_page(scripthash, None, 1)?.pop(),
        ))
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
