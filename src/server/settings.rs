//! What the server needs to know from the operator: listeners, TLS files, limits and the
//! static answers of the session-level methods. Filled from the environment by `config`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The software name and protocol range the server announces.
///
/// The name must not start with `electrs` or `ElectrumPersonalServer`: wallets disable batching
/// for those and can then no longer spend.
pub const SERVER_VERSION: &str = concat!("keva-electrum ", env!("CARGO_PKG_VERSION"));

/// Lowest protocol version served (`server.version` negotiation).
pub const PROTOCOL_MIN: &[u32] = &[1, 4];

/// Highest protocol version served; 1.6 semantics are not implemented, so it is not advertised.
pub const PROTOCOL_MAX: &[u32] = &[1, 4, 2];

/// The transport of one listening service (ElectrumX `SERVICES` syntax `tcp://`, `ssl://`,
/// `ws://`, `wss://`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Newline-delimited JSON-RPC over plain TCP.
    Tcp,
    /// Newline-delimited JSON-RPC over TLS.
    Ssl,
    /// One JSON-RPC message per WebSocket text frame, plain (web wallets).
    Ws,
    /// One JSON-RPC message per WebSocket text frame, over TLS.
    Wss,
    /// The admin interface (`electrumx_rpc` commands), loopback only.
    Rpc,
}

impl Protocol {
    /// True for the services that need `SSL_CERTFILE` / `SSL_KEYFILE`.
    pub fn is_tls(self) -> bool {
        matches!(self, Protocol::Ssl | Protocol::Wss)
    }

    /// True for the WebSocket services.
    pub fn is_ws(self) -> bool {
        matches!(self, Protocol::Ws | Protocol::Wss)
    }

    /// The ElectrumX name of the service (`tcp`, `ssl`, `ws`, `wss`).
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Ssl => "ssl",
            Protocol::Ws => "ws",
            Protocol::Wss => "wss",
            Protocol::Rpc => "rpc",
        }
    }
}

/// One listening socket to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// The transport spoken on this socket.
    pub protocol: Protocol,
    /// Where to listen; port 0 picks a free port (see `ServerHandle::local_addrs`).
    pub addr: SocketAddr,
}

/// PEM files of the TLS certificate chain and its private key (`SSL_CERTFILE`, `SSL_KEYFILE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    pub key: PathBuf,
}

/// Resource limits with ElectrumX's names, defaults and meanings; a value of 0 disables a limit.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// `MAX_SESSIONS`: connections beyond this are accepted and closed at once.
    pub max_sessions: usize,
    /// `MAX_SEND`: a response larger than this (bytes) is replaced by a -32600 error.
    pub max_send: usize,
    /// `MAX_RECV`: a request line larger than this (bytes) gets an error and the connection closes.
    pub max_recv: usize,
    /// `COST_SOFT_LIMIT`: above this cost requests are delayed and concurrency reduced.
    pub cost_soft_limit: u64,
    /// `COST_HARD_LIMIT`: at this cost the session gets -101 and is closed; 0 turns cost control off.
    pub cost_hard_limit: u64,
    /// `REQUEST_SLEEP`: the delay a request gets at the hard limit (scaled from the soft limit).
    pub request_sleep: Duration,
    /// `INITIAL_CONCURRENT`: requests of one session run at once while under the soft limit.
    pub initial_concurrent: u32,
    /// `BANDWIDTH_UNIT_COST`: bytes sent or received that cost one unit.
    pub bandwidth_unit_cost: u64,
    /// `REQUEST_TIMEOUT`: a request unanswered after this gets -102 "server busy".
    pub request_timeout: Duration,
    /// `SESSION_TIMEOUT`: a session that sent nothing for this long is closed.
    pub session_timeout: Duration,
    /// Prefix length grouping IPv4 peers whose costs are pooled (`SESSION_GROUP_BY_SUBNET_IPV4`).
    pub subnet_ipv4: u8,
    /// Prefix length grouping IPv6 peers whose costs are pooled (`SESSION_GROUP_BY_SUBNET_IPV6`).
    pub subnet_ipv6: u8,
    /// Bytes queued for one client that cannot keep up before it is disconnected.
    pub max_write_backlog: usize,
}

/// Kevacoin's `DEFAULT_MAX_SEND` in the ElectrumX fork (AuxPoW-sized coins).
pub const DEFAULT_MAX_SEND: usize = 10_000_000;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sessions: 1000,
            max_send: DEFAULT_MAX_SEND,
            max_recv: 1_000_000,
            cost_soft_limit: 1000,
            cost_hard_limit: 10_000,
            request_sleep: Duration::from_millis(2500),
            initial_concurrent: 10,
            bandwidth_unit_cost: 5000,
            request_timeout: Duration::from_secs(30),
            session_timeout: Duration::from_secs(600),
            subnet_ipv4: 24,
            subnet_ipv6: 48,
            max_write_backlog: 3 * DEFAULT_MAX_SEND,
        }
    }
}

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

/// How important a log line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Something is broken and needs the operator.
    Error,
    /// Something unusual that the server handled.
    Warning,
    /// Normal operation (session summaries, reloads).
    Info,
}

impl Level {
    /// The ElectrumX-style prefix (`ERROR`, `WARNING`, `INFO`).
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warning => "WARNING",
            Level::Info => "INFO",
        }
    }
}

/// A function receiving log lines.
pub type LogFn = dyn Fn(Level, &str) + Send + Sync;

/// Where the server's log lines go; the program decides the format and the level filter.
#[derive(Clone)]
pub struct Logger(pub Arc<LogFn>);

impl Logger {
    /// Writes one line.
    pub fn log(&self, level: Level, message: &str) {
        (self.0)(level, message)
    }
}

impl Default for Logger {
    fn default() -> Self {
        Logger(Arc::new(|level, message| {
            eprintln!("{}:server: {message}", level.name())
        }))
    }
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Logger")
    }
}

/// Everything `server::start` needs besides the backend.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Sockets to listen on.
    pub services: Vec<Service>,
    /// Certificate and key; required when any service is `ssl`.
    pub tls: Option<TlsFiles>,
    /// Resource limits.
    pub limits: Limits,
    /// Worker threads running requests (`WORKERS`, default: number of cores).
    pub workers: usize,
    /// First element of the `server.version` result.
    pub server_version: String,
    /// `server.banner` text, already substituted.
    pub banner: String,
    /// `server.donation_address` result.
    pub donation_address: String,
    /// `server.features` result (hosts, genesis hash, …), built by the caller.
    pub features: serde_json::Value,
    /// `server.peers.subscribe` result: `[[ip, host, [features…]], …]`.
    pub peers: serde_json::Value,
    /// How often the certificate files are checked for a renewal (0 = only on `reload_tls`).
    pub tls_poll: Duration,
    /// `LOG_SESSIONS`: interval of the session summary in the log (0 = never).
    pub log_sessions: Duration,
    /// `ANON_LOGS`: hide client addresses in the log and in the admin interface's listings.
    pub anon_logs: bool,
    /// Where log lines go.
    pub logger: Logger,
    /// Allow the `rpc` service on a non-loopback address. It has no authentication: only for
    /// a host whose firewall already restricts the port.
    pub rpc_allow_remote: bool,
    /// `PROXY_PROTOCOL_FROM`: connections from these load balancers begin with a PROXY
    /// header naming the wallet, whose address the session then takes.
    pub proxy_from: super::proxy::TrustedProxies,
    /// Peer discovery (`PEER_DISCOVERY`, `PEER_ANNOUNCE`, seeds); off by default.
    pub discovery: PeerSettings,
    /// `DROP_CLIENT`: wallets whose `server.version` name this matches are refused.
    pub drop_client: Option<ClientFilter>,
}

/// A `DROP_CLIENT` pattern, matched like Python's `re.match`: from the start of the client's
/// name, not necessarily to its end.
#[derive(Clone, Debug)]
pub struct ClientFilter(regex::Regex);

/// Two filters are the same when their patterns are (configurations compare equal).
impl PartialEq for ClientFilter {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for ClientFilter {}

impl ClientFilter {
    /// Compiles `pattern`; the error says what is wrong with it.
    pub fn new(pattern: &str) -> Result<ClientFilter, String> {
        regex::Regex::new(&format!("^(?:{pattern})"))
            .map(ClientFilter)
            .map_err(|e| e.to_string())
    }

    /// True when a client calling itself `name` is to be refused.
    pub fn matches(&self, name: &str) -> bool {
        self.0.is_match(name)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            services: Vec::new(),
            tls: None,
            limits: Limits::default(),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            server_version: SERVER_VERSION.to_string(),
            banner: format!("You are connected to a {SERVER_VERSION} server."),
            donation_address: String::new(),
            features: serde_json::json!({}),
            peers: serde_json::json!([]),
            tls_poll: Duration::from_secs(5),
            log_sessions: Duration::from_secs(3600),
            anon_logs: false,
            logger: Logger::default(),
            rpc_allow_remote: false,
            proxy_from: super::proxy::TrustedProxies::default(),
            discovery: PeerSettings::default(),
            drop_client: None,
        }
    }
}
