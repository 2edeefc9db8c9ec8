//! Peer discovery as ElectrumX does it: other servers of the same chain are learnt from seeds,
//! from `server.add_peer` calls and from verified peers' own lists, verified (reachable, same
//! genesis, serving headers) before they are listed in `server.peers.subscribe`, and
//! re-verified periodically. This server announces itself to the peers it verifies.
//!
//! Two threads, both off the event loop: the manager keeps the table and answers
//! `add_peer` at once ([`manager`]); the verifier makes the blocking client connections
//! (std::net, rustls; [`verify`]). [`names`] reads peers' names and judges their addresses.

use super::pool::{Done, Route, Wake};
use super::settings::{Logger, PeerSettings};
use crossbeam_channel::{Receiver, Sender};
use manager::Manager;
use serde_json::{json, Value};
use std::net::IpAddr;
use verify::Verifier;

mod manager;
mod names;
mod verify;

pub use names::parse_add_peer;

/// The Kevacoin mainnet servers every mainnet server starts from (ElectrumX `PEERS`).
pub const MAINNET_SEEDS: &[&str] = &["ec0.kevacoin.org s50002", "ec1.kevacoin.org s50002"];
/// Kevacoin's default ports (`PEER_DEFAULT_PORTS`): a port equal to these is not spelled out.
const DEFAULT_TCP: u16 = 50001;
const DEFAULT_SSL: u16 = 50002;
/// Most peers remembered; more are ignored (a hostile peer could list thousands).
const MAX_PEERS: usize = 200;
/// A peer that failed this many checks in a row is forgotten.
const MAX_TRIES: u32 = 10;

/// One peer as the admin `peers` command and the loop see it.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerReport {
    /// Host name or address as announced.
    pub host: String,
    /// The address it was reached at.
    pub ip: Option<IpAddr>,
    /// Plain TCP port.
    pub tcp_port: Option<u16>,
    /// TLS port.
    pub ssl_port: Option<u16>,
    /// `good` (listed), `bad` (last check failed), `new` (not checked yet), `refused`.
    pub status: &'static str,
    /// Why the last check failed.
    pub error: String,
    /// Where the peer came from: `seed`, `add_peer`, `admin` or `peer HOST`.
    pub source: String,
    /// Its `protocol_max`, once verified.
    pub protocol_max: String,
    /// Seconds since the last good check.
    pub last_good: Option<u64>,
    /// Seconds since the last check.
    pub last_try: Option<u64>,
    /// Failed checks in a row.
    pub tries: u32,
}

impl PeerReport {
    /// The `server.peers.subscribe` entry `[ip, host, ["v1.4.2", "s", "t50011"]]`.
    pub fn subscribe_entry(&self) -> Value {
        let mut features = vec![format!("v{}", self.protocol_max)];
        for (letter, port, default) in [
            ("s", self.ssl_port, DEFAULT_SSL),
            ("t", self.tcp_port, DEFAULT_TCP),
        ] {
            match port {
                Some(p) if p == default => features.push(letter.to_string()),
                Some(p) => features.push(format!("{letter}{p}")),
                None => {}
            }
        }
        let ip = self.ip.map_or_else(|| self.host.clone(), |i| i.to_string());
        json!([ip, self.host, features])
    }

    /// The admin `peers` row.
    pub fn row(&self) -> Value {
        json!({
            "host": self.host,
            "status": self.status,
            "tcp_port": self.tcp_port,
            "ssl_port": self.ssl_port,
            "last_good": self.last_good,
            "last_try": self.last_try,
            "tries": self.tries,
            "source": self.source,
            "ip": self.ip.map(|i| i.to_string()),
            "error": self.error,
        })
    }
}

/// Messages to the peer manager.
#[derive(Debug)]
pub enum PeerMsg {
    /// `server.add_peer(features)` from a client at `caller`.
    AddPeer {
        /// Where the answer goes.
        route: Route,
        /// Request id, `None` for a notification.
        id: Option<Value>,
        /// The call's params.
        params: Value,
        /// The client's address.
        caller: IpAddr,
    },
    /// Admin `add_peer "host t50001 s50002"`.
    AdminAdd {
        /// Where the answer goes.
        route: Route,
        /// Request id.
        id: Option<Value>,
        /// The params (`real_name`).
        params: Value,
    },
}

/// Where the manager publishes the table: the loop's control channel.
pub type Publish = Box<dyn Fn(Vec<PeerReport>) + Send>;

/// A peer to check, from the manager to the verifier.
struct Check {
    key: String,
    host: String,
    tcp: Option<u16>,
    ssl: Option<u16>,
}

/// The outcome of a check, from the verifier to the manager.
struct Verdict {
    key: String,
    result: Result<Verified, String>,
}

/// What a good peer told us.
struct Verified {
    ip: IpAddr,
    protocol_max: String,
    peers: Vec<(String, Option<u16>, Option<u16>)>,
}

/// What the manager and verifier need besides their channels.
pub struct Context {
    /// Discovery settings.
    pub settings: PeerSettings,
    /// Our own `server.features` (genesis to compare, and what we announce).
    pub features: Value,
    /// Answers to `add_peer` calls go here.
    pub done: Sender<Done>,
    /// Wakes the loop after an answer.
    pub wake: Wake,
    /// Publishes the table to the loop.
    pub publish: Publish,
    /// Log lines.
    pub logger: Logger,
}

/// Starts the manager and verifier threads; they end when `msgs` is closed.
pub fn spawn(ctx: Context, msgs: Receiver<PeerMsg>) -> std::io::Result<()> {
    let (check_tx, check_rx) = crossbeam_channel::unbounded::<Check>();
    let (verdict_tx, verdict_rx) = crossbeam_channel::unbounded::<Verdict>();
    let verifier = Verifier::new(&ctx).map_err(std::io::Error::other)?;
    std::thread::Builder::new()
        .name("peer-verify".to_string())
        .spawn(move || {
            for check in check_rx.iter() {
                let result = verifier.verify(&check);
                let verdict = Verdict {
                    key: check.key,
                    result,
                };
                if verdict_tx.send(verdict).is_err() {
                    return;
                }
            }
        })?;
    std::thread::Builder::new()
        .name("peers".to_string())
        .spawn(move || Manager::new(ctx, check_tx).run(&msgs, &verdict_rx))?;
    Ok(())
}
