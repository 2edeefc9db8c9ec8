//! The Kevacoin methods `blockchain.keva.get_keyvalues`, `get_hashtag`,
//! `get_keyvalue_reactions` and `get_transactions_info` (see the server specification §3).
//!
//! Each method plugs into dispatch with one line in [`METHODS`], e.g.
//! `Method::new("blockchain.keva.get_keyvalues", &["scripthash", "start_tx_num"], &[], get_keyvalues)`,
//! with a handler of the [`super::Handler`] shape reading `ctx.reader`, `ctx.mempool` and
//! `ctx.config.banned_hashtags`.

use super::Method;

/// The keva methods, looked up after the standard ones.
pub const METHODS: &[Method] = &[];
