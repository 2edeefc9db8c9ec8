//! keva-electrum: an Electrum-protocol index server for the Kevacoin blockchain.
//!
//! The layers, from the bottom up; each uses only those below it:
//!
//! * `chain`: Kevacoin bytes (headers, transactions, scripts, addresses, keva), pure.
//! * `daemon`: the only code that talks to kevacoind; `index`: the SQLite index and the sync
//!   thread that writes it; `mempool`: the node's mempool as a snapshot.
//! * `jsonrpc`: the JSON-RPC vocabulary (errors, the `Backend` boundary, parameter binding,
//!   message parsing and encoding, Python-style texts), shared by the two layers above it.
//! * `methods`: the protocol methods over the index, the mempool and the node (a `Backend`);
//!   `server`: the mio event loop and worker pool that serve wallets. Neither uses the other.
//! * `config`: ElectrumX-compatible settings; `app` and `app_admin` wire the threads together
//!   and serve the admin commands; `demo` runs the server against the stand-in; `admin` is the
//!   `keva-electrum rpc` client.
//!
//! `devnode` is the kevacoind stand-in used by tests and the demo; the serving path never
//! calls it.

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
pub mod jsonrpc;
pub mod mempool;
pub mod methods;
pub mod server;
