//! `blockchain.keva.get_keyvalue_reactions(tx_hash, start_tx_num)`: one post with its replies
//! (each with its sender's profile), share and like counts, wrapped in `{"result": …}` as the
//! wallets read it.

use serde_json::{json, Map, Value};

use super::super::params::tx_hash;
use super::super::{arg, index_failure, Ctx};
use super::view::{self, put_op_fields, txid_json, View, REPLY};
use crate::chain::keva::KevaOp;
use crate::chain::Hash32;
use crate::index::read::reaction_scripthash;
use crate::jsonrpc::RpcError;

/// Confirmed replies listed, newest first (the reference's limit).
pub const MAX_REPLIES: usize = 2000;

/// The handler. `start_tx_num` is accepted and ignored, as the reference ignores it. Unknown,
/// non-keva and banned transactions give `{"result": {}}`.
pub fn get_keyvalue_reactions(ctx: &Ctx, args: &[Option<&Value>]) -> Result<Value, RpcError> {
    let txid = tx_hash(arg(args, 0))?;
    let mut view = View::new(ctx);
    let Some(post) = find_post(&view, &txid)? else {
        return Ok(json!({"result": {}}));
    };

    let reply_sh = reaction_scripthash(&txid, REPLY);
    let confirmed = ctx
        .reader
        .keva_page(&reply_sh, None, MAX_REPLIES)
        .map_err(index_failure)?;
    let mut replies = Vec::with_capacity(confirmed.len());
    for p in &confirmed {
        let Some(op) = view::page_op(p) else {
            continue;
        };
        replies.push(reply_item(
            &mut view,
            &p.item.txid,
            i64::from(p.item.height),
            op,
            p.time,
        )?);
    }
    for tx in view.unconfirmed(&reply_sh)? {
        if let Some(op) = view::mempool_op(&tx) {
            replies.push(reply_item(&mut view, &tx.txid, tx.height(), &op, None)?);
        }
    }

    let counts = view.counts(&txid)?;
    let profile = view.profile(post.op.namespace())?;
    let mut item = Map::new();
    item.insert("tx_hash".into(), txid_json(&txid));
    item.insert("replies".into(), Value::Array(replies));
    item.insert("shares".into(), json!(counts[1]));
    item.insert("likes".into(), json!(counts[2]));
    put_op_fields(&mut item, &post.op);
    item.insert("displayName".into(), profile.display_name_json());
    item.insert("shortCode".into(), profile.short_code_json());
    item.insert("height".into(), json!(post.height));
    if let Some(t) = post.time {
        item.insert("time".into(), json!(t));
    }
    ctx.bump_cost(0.5 + confirmed.len() as f64 * 0.005);
    Ok(json!({ "result": item }))
}

/// The post being reacted to.
struct Post {
    op: KevaOp,
    height: i64,
    time: Option<u32>,
}

/// The post `txid`: confirmed (unless banned) or unconfirmed; `None` when it is neither or
/// carries no keva operation.
fn find_post(view: &View, txid: &Hash32) -> Result<Option<Post>, RpcError> {
    let reader = view.ctx().reader;
    if let Some(loc) = reader.tx_location(txid).map_err(index_failure)? {
        if reader.is_banned(txid).map_err(index_failure)? {
            return Ok(None);
        }
        let Some(row) = reader.keva_op(loc.tx_num).map_err(index_failure)? else {
            return Ok(None);
        };
        let time = reader.block_time(loc.height).map_err(index_failure)?;
        return Ok(Some(Post {
            op: row.op,
            height: i64::from(loc.height),
            time,
        }));
    }
    Ok(view.ctx().mempool.get(txid).and_then(|tx| {
        view::mempool_op(tx).map(|op| Post {
            op,
            height: tx.height(),
            time: None,
        })
    }))
}

/// One reply: `{tx_hash, height, type, sender: {shortCode, displayName}, key, value, time?}`.
fn reply_item(
    view: &mut View,
    txid: &Hash32,
    height: i64,
    op: &KevaOp,
    time: Option<u32>,
) -> Result<Value, RpcError> {
    let profile = view.profile(op.namespace())?;
    let mut item = Map::new();
    item.insert("tx_hash".into(), txid_json(txid));
    item.insert("height".into(), json!(height));
    item.insert(
        "sender".into(),
        json!({
            "shortCode": profile.short_code_json(),
            "displayName": profile.display_name_json(),
        }),
    );
    put_op_fields(&mut item, op);
    if let Some(t) = time {
        item.insert("time".into(), json!(t));
    }
    Ok(Value::Object(item))
}
