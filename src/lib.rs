//! keva-electrum: an Electrum-protocol index server for the Kevacoin blockchain.
//!
//! The layers, from the bottom up: `chain` (Kevacoin bytes, pure), `daemon` (the only code that
//! talks to kevacoind), `index` (the SQLite index and the sync thread that writes it), `server`
//! (the mio event loop and worker pool that serve wallets), `config` (ElectrumX-compatible
//! settings). `devnode` is the kevacoind stand-in used by tests and the demo; the serving path
//! never calls it.

pub mod admin;
pub mod app;
pub mod app_admin;
pub mod app_health;
pub mod chain;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod devnode;
pub mod index;
pub mod mempool;
pub mod methods;
pub mod server;
