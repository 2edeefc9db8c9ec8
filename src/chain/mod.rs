//! Kevacoin chain encoding: headers, transactions, scripts, addresses and keva operations (pure, no I/O).
//!
//! Hashes are `[u8; 32]` in internal byte order everywhere; only text meant for people (hex in
//! JSON, logs) is reversed. Every parser here takes untrusted bytes and returns a `Result` whose
//! error says what is wrong and where, never a panic.

pub mod address;
pub mod block;
pub mod encode;
pub mod hash;
pub mod header;
pub mod keva;
pub mod merkle;
pub mod network;
pub mod script;
pub mod tx;
mod unicode;

pub use block::Block;
pub use encode::{Cursor, Error};
pub use header::Header;
pub use network::Network;
pub use tx::{OutPoint, Transaction, TxIn, TxOut};

/// A 32-byte hash (block hash, txid, scripthash) in internal byte order.
pub type Hash32 = [u8; 32];
