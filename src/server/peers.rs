//! Peer discovery as ElectrumX does it: other servers of the same chain are learnt from seeds,
//! from `server.add_peer` calls and from verified peers' own lists, verified (reachable, same
//! genesis, serving headers) before they are listed in `server.peers.subscribe`, and
//! re-verified periodically. This server announces itself to the peers it verifies.
//!
//! Two threads, both off the event loop: the manager keeps the table and answers
//! `add_peer` at once; the verifier makes the blocking client connections (std::net, rustls).

use super::admin::bad;
use super::pool::{Done, Route, Wake};
use super::rpc::RpcError;
use super::settings::{Level, Logger};
use crossbeam_channel::{Receiver, Sender};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The Kevacoin mainnet servers every mainnet server starts from (ElectrumX `PEERS`).
pub const MAINNET_SEEDS: &[&str] = &["ec0.kevacoin.org s50002", "ec1.kevacoin.org s50002"];
/// Kevacoin's default ports (`PEER_DEFAULT_PORTS`): a port equal to these is not spelled out.
const DEFAULT_TCP: u16 = 50001;
const DEFAULT_SSL: u16 = 50002;
/// Most peers remembered; more are ignored (a hostile peer could list thousands).
const MAX_PEERS: usize = 200;
/// A peer that failed this many checks in a row is forgotten.
const MAX_TRIES: u32 = 10;

/// `PEER_DISCOVERY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discovery {
    /// No outgoing connections; `server.add_peer` answers false.
    Off,
    /// Only this server's own announcement; no other servers are contacted or listed.
    SelfOnly,
    /// Discover, verify and list peers.
    On,
}

/// Peer discovery settings.
#[derive(Clone, Debug)]
pub struct PeerSettings {
    /// `PEER_DISCOVERY`.
    pub discovery: Discovery,
    /// `PEER_ANNOUNCE`: call `server.add_peer` with our features on each verified peer.
    pub announce: bool,
    /// Servers to start from, as ElectrumX "real names": `host [tPORT] [sPORT]`.
    pub seeds: Vec<String>,
    /// List loopback peers (tests only: private and loopback addresses are never listed).
    pub allow_loopback: bool,
    /// How often listed peers are checked again.
    pub reverify: Duration,
    /// One `server.add_peer` per source address (IPv4 /24, IPv6 /64) per this interval.
    pub add_peer_interval: Duration,
    /// Timeout of each connection and answer while verifying.
    pub timeout: Duration,
}

impl Default for PeerSettings {
    fn default() -> Self {
        PeerSettings {
            discovery: Discovery::Off,
            announce: true,
            seeds: Vec::new(),
            allow_loopback: false,
            reverify: Duration::from_secs(3600),
            add_peer_interval: Duration::from_secs(600),
            timeout: Duration::from_secs(20),
        }
    }
}

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

struct Peer {
    host: String,
    tcp: Option<u16>,
    ssl: Option<u16>,
    ip: Option<IpAddr>,
    status: &'static str,
    error: String,
    source: String,
    protocol_max: String,
    last_good: Option<Instant>,
    last_try: Option<Instant>,
    next_check: Instant,
    tries: u32,
    checking: bool,
}

struct Check {
    key: String,
    host: String,
    tcp: Option<u16>,
    ssl: Option<u16>,
}

struct Verdict {
    key: String,
    result: Result<Verified, String>,
}

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
    let genesis = ctx.features["genesis_hash"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let verifier = Verifier {
        genesis,
        announce: ctx.settings.announce && has_hosts(&ctx.features),
        features: ctx.features.clone(),
        discover: ctx.settings.discovery == Discovery::On,
        allow_loopback: ctx.settings.allow_loopback,
        timeout: ctx.settings.timeout,
        tls: Arc::new(no_verify_client().map_err(std::io::Error::other)?),
    };
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

struct Manager {
    ctx: Context,
    peers: HashMap<String, Peer>,
    checks: Sender<Check>,
    recent: HashMap<IpAddr, Instant>,
}

impl Manager {
    fn new(ctx: Context, checks: Sender<Check>) -> Self {
        let mut m = Manager {
            ctx,
            peers: HashMap::new(),
            checks,
            recent: HashMap::new(),
        };
        if m.ctx.settings.discovery == Discovery::On {
            for seed in m.ctx.settings.seeds.clone() {
                if let Ok((host, tcp, ssl)) = parse_real_name(&seed) {
                    m.learn(host, tcp, ssl, "seed".to_string());
                }
            }
        }
        m
    }

    fn run(mut self, msgs: &Receiver<PeerMsg>, verdicts: &Receiver<Verdict>) {
        self.publish();
        loop {
            self.schedule();
            crossbeam_channel::select! {
                recv(msgs) -> msg => match msg {
                    Ok(m) => self.on_msg(m),
                    Err(_) => return,
                },
                recv(verdicts) -> v => match v {
                    Ok(v) => self.on_verdict(v),
                    Err(_) => return,
                },
                default(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Sends due peers to the verifier.
    fn schedule(&mut self) {
        let now = Instant::now();
        for (key, p) in self.peers.iter_mut() {
            if !p.checking && p.status != "refused" && now >= p.next_check {
                p.checking = true;
                let _ = self.checks.send(Check {
                    key: key.clone(),
                    host: p.host.clone(),
                    tcp: p.tcp,
                    ssl: p.ssl,
                });
            }
        }
    }

    fn learn(&mut self, host: String, tcp: Option<u16>, ssl: Option<u16>, source: String) -> bool {
        if self.is_self(&host, tcp, ssl) {
            return false;
        }
        let key = peer_key(&host, tcp, ssl);
        if let Some(p) = self.peers.get_mut(&key) {
            // Known: check it again soon unless it is fine.
            if p.status != "good" {
                p.next_check = Instant::now();
                if p.status == "refused" {
                    p.status = "new";
                }
            }
            return true;
        }
        if self.peers.len() >= MAX_PEERS || (tcp.is_none() && ssl.is_none()) {
            return false;
        }
        self.peers.insert(
            key,
            Peer {
                host,
                tcp,
                ssl,
                ip: None,
                status: "new",
                error: String::new(),
                source,
                protocol_max: String::new(),
                last_good: None,
                last_try: None,
                next_check: Instant::now(),
                tries: 0,
                checking: false,
            },
        );
        true
    }

    fn on_msg(&mut self, msg: PeerMsg) {
        match msg {
            PeerMsg::AddPeer {
                route,
                id,
                params,
                caller,
            } => {
                let accepted = self.add_peer(&params, caller);
                if let Err(why) = &accepted {
                    self.ctx.logger.log(
                        Level::Info,
                        &format!("add_peer from {caller} rejected: {why}"),
                    );
                }
                self.answer(route, id, Ok(json!(accepted.is_ok())));
            }
            PeerMsg::AdminAdd { route, id, params } => {
                let result = self.admin_add(&params);
                self.answer(route, id, result);
            }
        }
        self.publish();
    }

    fn answer(&self, route: Route, id: Option<Value>, result: Result<Value, RpcError>) {
        let _ = self.ctx.done.send(super::admin::answer(route, id, &result));
        self.ctx.wake.wake();
    }

    /// ElectrumX's checks before accepting a peer for verification.
    fn add_peer(&mut self, params: &Value, caller: IpAddr) -> Result<(), String> {
        if self.ctx.settings.discovery != Discovery::On {
            return Err("peer discovery is off".into());
        }
        let features = match params {
            Value::Array(a) => a.first().cloned().unwrap_or(Value::Null),
            Value::Object(o) => o.get("features").cloned().unwrap_or(Value::Null),
            _ => Value::Null,
        };
        if features["genesis_hash"] != self.ctx.features["genesis_hash"] {
            return Err("different genesis hash".into());
        }
        let Some(hosts) = features["hosts"].as_object() else {
            return Err("no hosts in the features".into());
        };
        let now = Instant::now();
        let bucket = bucket(caller);
        let interval = self.ctx.settings.add_peer_interval;
        self.recent
            .retain(|_, t| now.saturating_duration_since(*t) < interval);
        if self.recent.contains_key(&bucket) {
            return Err("rate limited".into());
        }
        for (host, ports) in hosts {
            let tcp = port_of(&ports["tcp_port"]);
            let ssl = port_of(&ports["ssl_port"]);
            let resolves_to_caller = (host.as_str(), 0)
                .to_socket_addrs()
                .map(|mut a| a.any(|a| a.ip() == caller))
                .unwrap_or(false);
            if !resolves_to_caller {
                continue;
            }
            if !self.usable(caller) {
                return Err(format!("{caller} is a private or loopback address"));
            }
            self.recent.insert(bucket, now);
            self.learn(host.clone(), tcp, ssl, "add_peer".to_string());
            return Ok(());
        }
        Err("no host resolves to the caller's address".into())
    }

    fn admin_add(&mut self, params: &Value) -> Result<Value, RpcError> {
        let (host, tcp, ssl) = parse_add_peer(params)?;
        if self.ctx.settings.discovery != Discovery::On {
            return Err(bad("add_peer: PEER_DISCOVERY is not on"));
        }
        if !self.learn(host.clone(), tcp, ssl, "admin".to_string()) {
            return Err(bad(format!(
                "add_peer: {MAX_PEERS} peers are known already"
            )));
        }
        Ok(json!(format!(
            "peer {host} added; it is listed once verified"
        )))
    }

    /// True for one of this server's own announced services (found in a peer's list).
    fn is_self(&self, host: &str, tcp: Option<u16>, ssl: Option<u16>) -> bool {
        let Some(hosts) = self.ctx.features["hosts"].as_object() else {
            return false;
        };
        hosts.iter().any(|(h, ports)| {
            h.eq_ignore_ascii_case(host)
                && ((tcp.is_some() && port_of(&ports["tcp_port"]) == tcp)
                    || (ssl.is_some() && port_of(&ports["ssl_port"]) == ssl))
        })
    }

    fn usable(&self, ip: IpAddr) -> bool {
        usable_ip(ip, self.ctx.settings.allow_loopback)
    }

    fn on_verdict(&mut self, v: Verdict) {
        let now = Instant::now();
        let reverify = self.ctx.settings.reverify;
        let mut discovered = Vec::new();
        let key = v.key;
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        p.checking = false;
        p.last_try = Some(now);
        match v.result {
            Ok(ok) => {
                if p.status != "good" {
                    self.ctx.logger.log(
                        Level::Info,
                        &format!("peer {} verified at {}", p.host, ok.ip),
                    );
                }
                p.status = "good";
                p.ip = Some(ok.ip);
                p.error.clear();
                p.protocol_max = ok.protocol_max;
                p.last_good = Some(now);
                p.tries = 0;
                p.next_check = now + reverify;
                let source = format!("peer {}", p.host);
                discovered = ok
                    .peers
                    .into_iter()
                    .map(|(h, t, s)| (h, t, s, source.clone()))
                    .collect();
            }
            Err(e) => {
                p.tries += 1;
                p.status = if e.starts_with("refused:") {
                    "refused"
                } else {
                    "bad"
                };
                p.error = e;
                // Back off: 1, 2, 4 … minutes, at most the re-verification period.
                let backoff = Duration::from_secs(60 << p.tries.min(10)).min(reverify);
                p.next_check = now + backoff;
                if p.tries >= MAX_TRIES {
                    self.peers.remove(&key);
                }
            }
        }
        for (h, t, s, source) in discovered {
            self.learn(h, t, s, source);
        }
        self.publish();
    }

    fn publish(&self) {
        let now = Instant::now();
        let ago = |t: Option<Instant>| t.map(|t| now.saturating_duration_since(t).as_secs());
        let mut reports: Vec<PeerReport> = self
            .peers
            .values()
            .map(|p| PeerReport {
                host: p.host.clone(),
                ip: p.ip,
                tcp_port: p.tcp,
                ssl_port: p.ssl,
                status: p.status,
                error: p.error.clone(),
                source: p.source.clone(),
                protocol_max: p.protocol_max.clone(),
                last_good: ago(p.last_good),
                last_try: ago(p.last_try),
                tries: p.tries,
            })
            .collect();
        reports.sort_by(|a, b| a.host.cmp(&b.host));
        (self.ctx.publish)(reports);
    }
}

struct Verifier {
    genesis: String,
    features: Value,
    announce: bool,
    discover: bool,
    allow_loopback: bool,
    timeout: Duration,
    tls: Arc<rustls::ClientConfig>,
}

impl Verifier {
    /// Connects to the peer and checks it serves the same chain; "refused:" errors are final.
    fn verify(&self, check: &Check) -> Result<Verified, String> {
        let (port, tls) = match (check.tcp, check.ssl) {
            (Some(p), _) => (p, false),
            (None, Some(p)) => (p, true),
            (None, None) => return Err("refused: no port".into()),
        };
        let addr = (check.host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", check.host))?
            .next()
            .ok_or_else(|| format!("{} has no address", check.host))?;
        if !usable_ip(addr.ip(), self.allow_loopback) {
            return Err(format!(
                "refused: {} is a private or loopback address",
                addr.ip()
            ));
        }
        let sock = TcpStream::connect_timeout(&addr, self.timeout)
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let _ = sock.set_read_timeout(Some(self.timeout));
        let _ = sock.set_write_timeout(Some(self.timeout));
        if tls {
            let name = rustls::pki_types::ServerName::try_from(check.host.clone())
                .map_err(|e| format!("refused: bad host name {}: {e}", check.host))?;
            let conn = rustls::ClientConnection::new(Arc::clone(&self.tls), name)
                .map_err(|e| format!("TLS setup failed: {e}"))?;
            self.session(addr, rustls::StreamOwned::new(conn, sock))
        } else {
            self.session(addr, sock)
        }
    }

    fn session<S: Read + Write>(&self, addr: SocketAddr, stream: S) -> Result<Verified, String> {
        let mut c = LineClient {
            reader: BufReader::new(stream),
            next_id: 0,
        };
        c.call("server.version", json!([super::SERVER_VERSION, "1.4"]))?;
        let features = c.call("server.features", json!([]))?;
        if features["genesis_hash"].as_str() != Some(self.genesis.as_str()) {
            return Err(format!(
                "refused: genesis {} is not ours",
                features["genesis_hash"]
            ));
        }
        let tip = c.call("blockchain.headers.subscribe", json!([]))?;
        let height = tip["height"]
            .as_u64()
            .ok_or("blockchain.headers.subscribe gave no height")?;
        let header = c.call("blockchain.block.header", json!([height]))?;
        if !header
            .as_str()
            .is_some_and(|h| h.len() >= 160 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(format!("no header served at height {height}"));
        }
        let mut peers = Vec::new();
        if self.discover {
            if let Ok(Value::Array(list)) = c.call("server.peers.subscribe", json!([])) {
                for entry in list.iter().take(MAX_PEERS) {
                    if let Some(p) = parse_subscribe_entry(entry) {
                        peers.push(p);
                    }
                }
            }
        }
        if self.announce {
            let _ = c.call("server.add_peer", json!([self.features]));
        }
        let protocol_max = features["protocol_max"]
            .as_str()
            .unwrap_or("1.4")
            .to_string();
        Ok(Verified {
            ip: addr.ip(),
            protocol_max,
            peers,
        })
    }
}

/// A blocking newline JSON-RPC client for talking to a peer.
struct LineClient<S: Read + Write> {
    reader: BufReader<S>,
    next_id: u64,
}

impl<S: Read + Write> LineClient<S> {
    fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut line = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id})
            .to_string()
            .into_bytes();
        line.push(b'\n');
        let s = self.reader.get_mut();
        s.write_all(&line)
            .and_then(|_| s.flush())
            .map_err(|e| format!("{method}: cannot send: {e}"))?;
        loop {
            let mut reply = String::new();
            let n = (&mut self.reader)
                .take(2_000_000)
                .read_line(&mut reply)
                .map_err(|e| format!("{method}: no answer: {e}"))?;
            if n == 0 {
                return Err(format!("{method}: the peer closed the connection"));
            }
            let v: Value =
                serde_json::from_str(&reply).map_err(|e| format!("{method}: bad JSON: {e}"))?;
            if v["id"] != json!(id) {
                continue; // A notification.
            }
            if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
                return Err(format!("{method}: {e}"));
            }
            return Ok(v["result"].clone());
        }
    }
}

/// The table key of a peer: one entry per host and ports.
fn peer_key(host: &str, tcp: Option<u16>, ssl: Option<u16>) -> String {
    format!("{} {tcp:?} {ssl:?}", host.to_ascii_lowercase())
}

/// The peer of an admin `add_peer` request (`["host s50002"]` or `{"real_name": …}`).
pub fn parse_add_peer(params: &Value) -> Result<(String, Option<u16>, Option<u16>), RpcError> {
    let name = match params {
        Value::Array(a) => a.first().and_then(Value::as_str),
        Value::Object(o) => o.get("real_name").and_then(Value::as_str),
        _ => None,
    }
    .ok_or_else(|| bad("add_peer: give the peer as \"host t50001 s50002\""))?;
    parse_real_name(name).map_err(bad)
}

/// Parses ElectrumX's "real name" `host [tPORT|t] [sPORT|s] [vX]`.
pub fn parse_real_name(name: &str) -> Result<(String, Option<u16>, Option<u16>), String> {
    let mut parts = name.split_whitespace();
    let host = parts
        .next()
        .ok_or_else(|| "add_peer: empty peer name".to_string())?;
    let (mut tcp, mut ssl) = (None, None);
    for p in parts {
        let (letter, port) = p.split_at(p.chars().next().map_or(0, char::len_utf8));
        if letter == "v" || letter == "p" {
            continue; // Protocol version and pruning: not needed to reach the peer.
        }
        let port = if port.is_empty() {
            None
        } else {
            Some(
                port.parse::<u16>()
                    .map_err(|_| format!("add_peer: bad port in {p:?}"))?,
            )
        };
        match letter {
            "t" => tcp = Some(port.unwrap_or(DEFAULT_TCP)),
            "s" => ssl = Some(port.unwrap_or(DEFAULT_SSL)),
            _ => {
                return Err(format!(
                    "add_peer: unknown feature {p:?} (use tPORT or sPORT)"
                ))
            }
        }
    }
    if tcp.is_none() && ssl.is_none() {
        return Err(format!(
            "add_peer: {host} needs a port, e.g. \"{host} s50002\""
        ));
    }
    Ok((host.to_string(), tcp, ssl))
}

/// Reads one `server.peers.subscribe` entry `[ip, host, [features]]`.
fn parse_subscribe_entry(entry: &Value) -> Option<(String, Option<u16>, Option<u16>)> {
    let host = entry.get(1)?.as_str()?;
    let features: Vec<&str> = entry
        .get(2)?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let name = std::iter::once(host)
        .chain(features)
        .collect::<Vec<_>>()
        .join(" ");
    parse_real_name(&name).ok()
}

fn port_of(v: &Value) -> Option<u16> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn has_hosts(features: &Value) -> bool {
    features["hosts"].as_object().is_some_and(|h| !h.is_empty())
}

/// The rate-limit bucket of a caller: its /24 (IPv4) or /64 (IPv6).
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4((u32::from(v4) & 0xFFFF_FF00).into()),
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
    }
}

/// Public addresses only; loopback when allowed (tests).
pub fn usable_ip(ip: IpAddr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || v4.octets()[0] == 0
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xC0) == 64))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return usable_ip(IpAddr::V4(v4), allow_loopback);
            }
            let seg0 = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_multicast()
                || (seg0 & 0xfe00) == 0xfc00
                || (seg0 & 0xffc0) == 0xfe80)
        }
    }
}

/// A TLS client that accepts any certificate.
///
/// Verifying a peer establishes that it serves the same chain (genesis, headers), not who
/// runs it; many Electrum servers use self-signed certificates, and ElectrumX connects to its
/// peers without certificate checks too. Nothing secret travels on these connections.
fn no_verify_client() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AnyCertificate(Arc::clone(&provider)));
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_names_and_subscribe_entries() {
        assert_eq!(
            parse_real_name("ec0.kevacoin.org s50002").unwrap(),
            ("ec0.kevacoin.org".to_string(), None, Some(50002))
        );
        assert_eq!(
            parse_real_name("h t s60002 v1.4").unwrap(),
            ("h".to_string(), Some(50001), Some(60002))
        );
        assert!(parse_real_name("h").unwrap_err().contains("needs a port"));
        assert!(parse_real_name("h x1").is_err());
        let r = PeerReport {
            host: "h.example".into(),
            ip: Some("1.2.3.4".parse().unwrap()),
            tcp_port: Some(50011),
            ssl_port: Some(50002),
            status: "good",
            error: String::new(),
            source: "seed".into(),
            protocol_max: "1.4.2".into(),
            last_good: None,
            last_try: None,
            tries: 0,
        };
        let e = r.subscribe_entry();
        assert_eq!(
            e,
            json!(["1.2.3.4", "h.example", ["v1.4.2", "s", "t50011"]])
        );
        assert_eq!(
            parse_subscribe_entry(&e),
            Some(("h.example".to_string(), Some(50011), Some(50002)))
        );
    }

    #[test]
    fn private_and_loopback_addresses_are_not_usable() {
        for ip in [
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.5",
            "169.254.1.1",
            "100.64.0.1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!usable_ip(ip.parse().unwrap(), true), "{ip}");
        }
        assert!(!usable_ip("127.0.0.1".parse().unwrap(), false));
        assert!(usable_ip("127.0.0.1".parse().unwrap(), true));
        assert!(usable_ip("8.8.8.8".parse().unwrap(), false));
        assert!(usable_ip("2001:4860::8888".parse().unwrap(), false));
        assert_eq!(
            bucket("1.2.3.4".parse().unwrap()),
            "1.2.3.0".parse::<IpAddr>().unwrap()
        );
    }
}
