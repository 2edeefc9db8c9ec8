//! The Kevacoin methods `blockchain.keva.get_keyvalues`, `get_hashtag`,
//! `get_keyvalue_reactions` and `get_transactions_info`, with the reference server's result
//! shapes (see the server specification §3).
//!
//! * [`view`]: per-transaction lookups shared by the lists (operation, counts, time, profile).
//! * [`profile`]: short codes and display names, and the profiles a worker keeps.
//! * [`reactions`]: one post with its replies.
//! * [`txinfo`]: input/output summaries.
//!
//! Lists page by `tx_num`, the chain position the index numbers transactions with: 25 items
//! per page, newest first, `min_tx_num` the smallest tx_num fetched (banned items included, so
//! paging always moves on) or -1 when the page is empty.

pub mod profile;
pub mod reactions;
pub mod text;
pub mod txinfo;
pub mod view;

use serde_json::Value;

use super::params::{python_int, scripthash, PyInt};
use super::{arg, index_failure, Ctx, Method};
use crate::chain::keva::{index_scripthash, KevaOp};
use crate::chain::Hash32;
use crate::index::read::KevaPageItem;
use crate::jsonrpc::py_str;
use crate::jsonrpc::RpcError;
use text::Text;
use view::{page_op, View};

/// The keva methods, looked up after the standard ones.
pub const METHODS: &[Method] = &[
    Method::text(
        "blockchain.keva.get_keyvalues",
        &["scripthash", "start_tx_num"],
        &[],
        get_keyvalues,
    ),
    Method::text(
        "blockchain.keva.get_hashtag",
        &["scripthash", "start_tx_num"],
        &[],
        get_hashtag,
    ),
    Method::new(
        "blockchain.keva.get_keyvalue_reactions",
        &["tx_hash", "start_tx_num"],
        &[],
        reactions::get_keyvalue_reactions,
    ),
    Method::new(
        "blockchain.keva.get_transactions_info",
        &["txs", "namespace_info"],
        &[],
        txinfo::get_transactions_info,
    ),
];

/// Confirmed items per page (the reference's `HASHTAG_LIMIT`).
pub const PAGE_SIZE: usize = 25;

/// Bytes of one page item, about (room reserved for a page).
const ITEM_BYTES: usize = 400;

/// `blockchain.keva.get_keyvalues(scripthash, start_tx_num)`: the history of a keva index
/// entry (usually a namespace), unconfirmed operations first on the first page.
pub fn get_keyvalues(ctx: &Ctx, args: &[Option<&Value>]) -> Result<String, RpcError> {
    let sh = scripthash(arg(args, 0))?;
    let below = start_tx_num(arg(args, 1))?;
    let page = Page::read(ctx, &sh, below, "keyvalues")?;
    let (mut t, view) = (page.text, page.view);
    let mut shown = 0;
    if below.is_none() {
        for tx in view.unconfirmed(&sh)? {
            let Some(op) = view::mempool_op(&tx) else {
                continue;
            };
            keyvalue(
                &mut t,
                &tx.txid,
                tx.height(),
                view.counts(&tx.txid)?,
                &op,
                None,
            );
            shown += 1;
        }
    }
    for p in &page.items {
        let Some(op) = page_op(p) else {
            continue;
        };
        let (txid, height) = (&p.item.txid, i64::from(p.item.height));
        keyvalue(&mut t, txid, height, view.item_counts(p)?, op, p.time);
        shown += 1;
    }
    ctx.bump_cost(0.2 + shown as f64 * 0.005);
    Page::finish(t, &page.items)
}

/// One `get_keyvalues` item, confirmed or not (unconfirmed ones have no `time`).
fn keyvalue(
    t: &mut Text,
    txid: &Hash32,
    height: i64,
    counts: [u64; 3],
    op: &KevaOp,
    time: Option<u32>,
) {
    t.open(b'{');
    t.txid("tx_hash", txid);
    t.num("height", height);
    t.counts(counts);
    t.op_fields(op);
    t.time(time);
    t.close(b'}');
}

/// `blockchain.keva.get_hashtag(scripthash, start_tx_num)`: confirmed posts carrying a tag,
/// with their namespace's profile; tags in `BANNED_HASHTAGS` have none.
pub fn get_hashtag(ctx: &Ctx, args: &[Option<&Value>]) -> Result<String, RpcError> {
    let sh = scripthash(arg(args, 0))?;
    if is_banned_hashtag(ctx, &sh) {
        return Ok(r#"{"hashtags":[],"min_tx_num":-1}"#.to_string());
    }
    let below = start_tx_num(arg(args, 1))?;
    let page = Page::read(ctx, &sh, below, "hashtags")?;
    let (mut t, mut view) = (page.text, page.view);
    let mut shown = 0;
    for p in &page.items {
        let Some(op) = page_op(p) else {
            continue;
        };
        let profile = view.profile(op.namespace())?;
        t.open(b'{');
        t.txid("tx_hash", &p.item.txid);
        t.str("displayName", profile.display_name());
        t.num("height", p.item.height);
        match profile.short_code() {
            Some(code) => t.str("shortCode", code),
            None => t.num("shortCode", -1),
        }
        t.counts(view.item_counts(p)?);
        t.str("type", view::op_type(op));
        t.str("namespace", &p.namespace_id);
        t.key_value(op);
        t.time(p.time);
        t.close(b'}');
        shown += 1;
    }
    ctx.bump_cost(0.2 + shown as f64 * 0.01);
    Page::finish(t, &page.items)
}

/// A page of a list method: its confirmed entries and the answer's text up to the opening of
/// the list named `list`.
struct Page<'a, 'c> {
    items: Vec<KevaPageItem>,
    view: View<'a, 'c>,
    text: Text,
}

impl<'a, 'c> Page<'a, 'c> {
    fn read(
        ctx: &'a Ctx<'c>,
        sh: &Hash32,
        below: Option<i64>,
        list: &str,
    ) -> Result<Self, RpcError> {
        let items = ctx
            .reader
            .keva_page(sh, below, PAGE_SIZE)
            .map_err(index_failure)?;
        let view = View::new(ctx);
        let mut text = Text::with_capacity(64 + items.len() * ITEM_BYTES);
        text.open(b'{');
        text.key(list);
        text.open(b'[');
        Ok(Page { items, view, text })
    }

    /// Closes the list and adds `min_tx_num`.
    fn finish(mut text: Text, items: &[KevaPageItem]) -> Result<String, RpcError> {
        text.close(b']');
        text.num("min_tx_num", min_tx_num(items));
        text.close(b'}');
        text.finish()
    }
}

/// Whether `sh` is the index scripthash of a tag listed in `BANNED_HASHTAGS`.
fn is_banned_hashtag(ctx: &Ctx, sh: &Hash32) -> bool {
    ctx.config
        .banned_hashtags
        .iter()
        .any(|tag| index_scripthash(tag.as_bytes()) == *sh)
}

/// The paging parameter as the reference reads it (`-1 if not x else int(x)`): `None` for the
/// first page (any falsy or negative value; tx_num 0 is the never-indexed genesis coinbase,
/// so "below 0" could only ever be empty), else only items with a smaller tx_num.
pub fn start_tx_num(value: &Value) -> Result<Option<i64>, RpcError> {
    let falsy = match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    if falsy {
        return Ok(None);
    }
    match python_int(value) {
        Some(PyInt::NonNegative(n)) => Ok((n > 0).then(|| i64::try_from(n).unwrap_or(i64::MAX))),
        Some(PyInt::Negative(_)) => Ok(None),
        None => Err(RpcError::bad_request(format!(
            "{} should be an integer",
            py_str(value)
        ))),
    }
}

/// The smallest tx_num of a fetched page (newest first), or -1 when it is empty.
fn min_tx_num(page: &[KevaPageItem]) -> i64 {
    page.last().map_or(-1, |p| p.item.tx_num)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paging_parameter_accepts_what_wallets_send() {
        for first in [
            json!(-1),
            json!(0),
            json!(null),
            json!("-1"),
            json!(""),
            json!(false),
            json!("0"),
            json!(-7),
            json!([]),
        ] {
            assert_eq!(start_tx_num(&first).unwrap(), None, "{first}");
        }
        assert_eq!(start_tx_num(&json!(1005)).unwrap(), Some(1005));
        assert_eq!(start_tx_num(&json!("1005")).unwrap(), Some(1005));
        assert_eq!(start_tx_num(&json!(" 1_005 ")).unwrap(), Some(1005));
        assert_eq!(start_tx_num(&json!(12.9)).unwrap(), Some(12));
        assert_eq!(start_tx_num(&json!(true)).unwrap(), Some(1));
        assert_eq!(
            start_tx_num(&json!("abc")).unwrap_err().message,
            "abc should be an integer"
        );
        assert_eq!(
            start_tx_num(&json!([1])).unwrap_err().message,
            "[1] should be an integer"
        );
        assert_eq!(start_tx_num(&json!("1.5")).unwrap_err().code, 1);
    }
}
