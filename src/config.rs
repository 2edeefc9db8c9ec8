//! Configuration from ElectrumX-compatible environment variables.
//!
//! An operator's existing ElectrumX environment file must work unchanged, so every variable keeps
//! ElectrumX's name, meaning and default. Parsing is a pure function of a variable map, so tests
//! can drive it without touching the process environment.
//!
//! `services` reads the `SERVICES` syntax, `env_file` the `--env-file` format, `variables` lists
//! the variables for `--help` and the warnings.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::chain::Network;

/// A configuration problem, always naming the variable and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

type Result<T> = std::result::Result<T, ConfigError>;

use crate::server::Discovery;
pub use crate::server::Protocol;
pub use env_file::read_env_file;
use services::{check_report_services, parse_services};
pub use services::{Host, Service};
pub use variables::VARIABLES;
use variables::{IGNORED, OBSOLETE};

mod env_file;
mod services;
mod variables;

/// Verbosity of the log, from `LOG_LEVEL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warning,
    Info,
    Debug,
}

/// Every setting the server runs with, after validation.
#[derive(Debug, Clone)]
pub struct Config {
    pub db_dir: PathBuf,
    pub daemon_urls: Vec<String>,
    pub network: Network,
    pub services: Vec<Service>,
    pub report_services: Vec<Service>,
    pub ssl_certfile: Option<PathBuf>,
    pub ssl_keyfile: Option<PathBuf>,
    pub peer_discovery: Discovery,
    pub peer_announce: bool,
    pub banner_file: Option<PathBuf>,
    pub donation_address: String,
    pub max_send: usize,
    pub max_recv: usize,
    pub max_sessions: usize,
    pub cost_soft_limit: u64,
    pub cost_hard_limit: u64,
    pub request_sleep_ms: u64,
    pub initial_concurrent: usize,
    pub request_timeout_s: u64,
    pub session_timeout_s: u64,
    pub bandwidth_unit_cost: u64,
    pub reorg_limit: u32,
    pub cache_mb: usize,
    pub log_level: LogLevel,
    pub anon_logs: bool,
    pub log_sessions_s: u64,
    pub drop_client: Option<crate::server::ClientFilter>,
    pub banned_hashtags: Vec<String>,
    pub workers: usize,
    pub mempool_poll_ms: u64,
    /// The node's data directory (`DAEMON_DIR`): its `.cookie` and `blocks/` are found under
    /// the network's subdirectory; `None` without `DAEMON_DIR` or `HOME`.
    pub daemon_dir: Option<PathBuf>,
    /// Whether the initial sync may read the node's block files (`BLOCK_FILES`).
    pub block_files: bool,
    /// Concurrent `getblock` calls when blocks come over RPC (`DAEMON_PARALLELISM`).
    pub daemon_parallelism: usize,
    /// Where the metrics and health endpoint (`GET /metrics`, `GET /health`) listens, if
    /// anywhere: `METRICS_PORT=PORT` on 127.0.0.1, or `METRICS_PORT=ADDRESS:PORT`.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// `PROXY_PROTOCOL_FROM`: load balancers whose connections begin with a PROXY header.
    pub proxy_from: crate::server::proxy::TrustedProxies,
    /// Notes for the operator found while parsing (obsolete or ignored variables).
    pub warnings: Vec<String>,
}

/// Reads variables from a map with ElectrumX's parsing rules.
struct Vars<'a> {
    map: &'a BTreeMap<String, String>,
}

impl Vars<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    fn string(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or(default).to_string()
    }

    fn required(&self, name: &str, hint: &str) -> Result<String> {
        match self.get(name) {
            Some(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
            _ => Err(ConfigError(format!("{name} is not set: {hint}"))),
        }
    }

    /// ElectrumX booleans: any non-blank value is true.
    fn boolean(&self, name: &str, default: bool) -> bool {
        match self.get(name) {
            Some(v) => !v.trim().is_empty(),
            None => default,
        }
    }

    fn integer(&self, name: &str, default: u64) -> Result<u64> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.trim().parse::<u64>().map_err(|_| {
                ConfigError(format!(
                    "{name}={v:?} is not a non-negative whole number (default {default})"
                ))
            }),
        }
    }
}

impl Config {
    /// The configuration from the process environment.
    pub fn from_env() -> Result<Config> {
        let map: BTreeMap<String, String> = std::env::vars().collect();
        Config::from_vars(&map)
    }

    /// The configuration from a variable map: validates everything, names the culprit.
    pub fn from_vars(map: &BTreeMap<String, String>) -> Result<Config> {
        let v = Vars { map };
        let mut warnings = Vec::new();

        let obsolete: Vec<&str> = OBSOLETE
            .iter()
            .copied()
            .filter(|name| v.get(name).is_some_and(|s| !s.is_empty()))
            .collect();
        if !obsolete.is_empty() {
            warnings.push(format!(
                "obsolete ElectrumX variables ignored: {}; use SERVICES and REPORT_SERVICES instead",
                obsolete.join(", ")
            ));
        }
        for name in IGNORED {
            if v.get(name).is_some() {
                warnings.push(format!(
                    "{name} is an ElectrumX setting with no effect here"
                ));
            }
        }
        if let Some(engine) = v.get("DB_ENGINE") {
            warnings.push(format!(
                "DB_ENGINE={engine} ignored: the index is always SQLite (index.db in DB_DIRECTORY)"
            ));
        }

        let db_dir = PathBuf::from(v.required(
            "DB_DIRECTORY",
            "set it to the directory that holds the index, e.g. DB_DIRECTORY=/var/lib/keva-electrum",
        )?);
        let daemon_url = v.required(
            "DAEMON_URL",
            "set it to kevacoind's RPC address, e.g. DAEMON_URL=http://user:pass@127.0.0.1:9337/",
        )?;

        let coin = v.string("COIN", "Kevacoin");
        if !coin.trim().eq_ignore_ascii_case("kevacoin") {
            return Err(ConfigError(format!(
                "COIN={coin:?} is not supported: this server serves Kevacoin only (COIN=Kevacoin)"
            )));
        }
        let net = v.string("NET", "mainnet");
        let network = Network::from_name(net.trim()).ok_or_else(|| {
            ConfigError(format!(
                "NET={net:?} is not a Kevacoin network: use mainnet, testnet or regtest"
            ))
        })?;

        let daemon_urls = parse_daemon_urls(&daemon_url, network)?;

        let services = parse_services("SERVICES", &v.string("SERVICES", ""), true)?;
        let report_services =
            parse_services("REPORT_SERVICES", &v.string("REPORT_SERVICES", ""), false)?;
        let peer_announce = v.boolean("PEER_ANNOUNCE", true);
        check_report_services(&report_services, peer_announce)?;

        let needs_tls = services.iter().any(|s| s.protocol.is_tls());
        let ssl_certfile = v
            .get("SSL_CERTFILE")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
        let ssl_keyfile = v
            .get("SSL_KEYFILE")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
        if needs_tls && (ssl_certfile.is_none() || ssl_keyfile.is_none()) {
            return Err(ConfigError(
                "SSL_CERTFILE and SSL_KEYFILE must be set for ssl:// and wss:// services \
                 (PEM certificate chain and private key)"
                    .into(),
            ));
        }

        let peer_discovery = match v
            .string("PEER_DISCOVERY", "on")
            .trim()
            .to_lowercase()
            .as_str()
        {
            "off" | "" => Discovery::Off,
            "self" => Discovery::SelfOnly,
            _ => Discovery::On,
        };

        let log_level = match v.string("LOG_LEVEL", "info").trim().to_lowercase().as_str() {
            "error" | "critical" => LogLevel::Error,
            "warning" | "warn" => LogLevel::Warning,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            other => {
                return Err(ConfigError(format!(
                    "LOG_LEVEL={other:?} is not a level: use error, warning, info or debug"
                )))
            }
        };

        // ElectrumX forces at least 350,000 bytes so headers and histories still fit.
        let max_send = v.integer("MAX_SEND", 10_000_000)?.max(350_000) as usize;
        let max_recv = v.integer("MAX_RECV", 1_000_000)? as usize;
        // Two per core: a long request (a 100k-entry history) then never leaves the small ones
        // queued behind it (measured by bench/serve.rs).
        let workers_default = 2 * std::thread::available_parallelism()
            .map(|n| n.get() as u64)
            .unwrap_or(2);
        let workers = v.integer("WORKERS", workers_default)?;
        if workers == 0 {
            return Err(ConfigError(
                "WORKERS=0: at least one worker thread is needed".into(),
            ));
        }
        let reorg_limit = v.integer("REORG_LIMIT", 800)?;
        let banned_hashtags = v
            .string("BANNED_HASHTAGS", "")
            .split(',')
            .map(|t| t.trim().trim_start_matches('#').to_lowercase())
            .filter(|t| !t.is_empty())
            .collect();
        let drop_client = match v.get("DROP_CLIENT").filter(|s| !s.is_empty()) {
            Some(pattern) => Some(crate::server::ClientFilter::new(pattern).map_err(|e| {
                ConfigError(format!(
                    "DROP_CLIENT={pattern} is not a regular expression: {e}"
                ))
            })?),
            None => None,
        };

        let block_files = match v.string("BLOCK_FILES", "on").trim().to_lowercase().as_str() {
            "on" | "yes" | "true" | "1" => true,
            "off" | "no" | "false" | "0" => false,
            other => {
                return Err(ConfigError(format!(
                    "BLOCK_FILES={other:?}: use on (read the node's block files) or off (RPC only)"
                )))
            }
        };
        let daemon_parallelism = v.integer("DAEMON_PARALLELISM", 2)?;
        if !(1..=64).contains(&daemon_parallelism) {
            return Err(ConfigError(format!(
                "DAEMON_PARALLELISM={daemon_parallelism}: use 1 to 64 (2 by default: the node \
                 reads one block at a time)"
            )));
        }
        let daemon_dir = v
            .get("DAEMON_DIR")
            .filter(|d| !d.trim().is_empty())
            .map(|d| PathBuf::from(d.trim()))
            .or_else(|| v.get("HOME").map(|h| PathBuf::from(h).join(".kevacoin")));

        Ok(Config {
            db_dir,
            daemon_urls,
            network,
            services,
            report_services,
            ssl_certfile,
            ssl_keyfile,
            peer_discovery,
            peer_announce,
            banner_file: v
                .get("BANNER_FILE")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            donation_address: v.string("DONATION_ADDRESS", ""),
            max_send,
            max_recv,
            max_sessions: v.integer("MAX_SESSIONS", 1000)? as usize,
            cost_soft_limit: v.integer("COST_SOFT_LIMIT", 1000)?,
            cost_hard_limit: v.integer("COST_HARD_LIMIT", 10_000)?,
            request_sleep_ms: v.integer("REQUEST_SLEEP", 2500)?,
            initial_concurrent: v.integer("INITIAL_CONCURRENT", 10)? as usize,
            request_timeout_s: v.integer("REQUEST_TIMEOUT", 30)?,
            session_timeout_s: v.integer("SESSION_TIMEOUT", 600)?,
            bandwidth_unit_cost: v.integer("BANDWIDTH_UNIT_COST", 5000)?,
            reorg_limit: u32::try_from(reorg_limit)
                .map_err(|_| ConfigError(format!("REORG_LIMIT={reorg_limit} is too large")))?,
            cache_mb: v.integer("CACHE_MB", 1200)? as usize,
            log_level,
            anon_logs: v.boolean("ANON_LOGS", false),
            log_sessions_s: v.integer("LOG_SESSIONS", 3600)?,
            drop_client,
            banned_hashtags,
            workers: workers as usize,
            mempool_poll_ms: v.integer("MEMPOOL_POLL_MS", 1000)?.max(50),
            daemon_dir,
            block_files,
            daemon_parallelism: daemon_parallelism as usize,
            metrics_addr: match v
                .get("METRICS_PORT")
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                None => None,
                Some(p) => Some(metrics_addr(p)?),
            },
            proxy_from: crate::server::proxy::TrustedProxies::parse(
                &v.string("PROXY_PROTOCOL_FROM", ""),
            )
            .map_err(|e| ConfigError(format!("PROXY_PROTOCOL_FROM: {e}")))?,
            warnings,
        })
    }

    /// The SQLite index file inside `DB_DIRECTORY`.
    pub fn db_path(&self) -> PathBuf {
        self.db_dir.join("index.db")
    }

    /// The node's cookie file, used when `DAEMON_URL` carries no credentials.
    pub fn cookie_file(&self) -> Option<PathBuf> {
        let dir = self.daemon_dir.as_ref()?;
        Some(dir.join(self.network.data_subdir()).join(".cookie"))
    }

    /// SQLite page cache in MiB: `CACHE_MB` is sized for LevelDB, so cap it to the memory budget.
    pub fn sqlite_cache_mb(&self) -> usize {
        self.cache_mb.clamp(4, 16)
    }
}

/// Splits `DAEMON_URL` into URLs, adding ElectrumX's defaults (http scheme, node RPC port).
fn parse_daemon_urls(value: &str, network: Network) -> Result<Vec<String>> {
    let mut urls = Vec::new();
    for part in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (scheme, rest) = match part.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None => ("http".to_string(), part),
        };
        if scheme != "http" {
            return Err(ConfigError(format!(
                "DAEMON_URL: unsupported scheme {scheme:?} in one of its URLs: kevacoind speaks plain http"
            )));
        }
        let authority = rest.split('/').next().unwrap_or("");
        let hostport = authority.rsplit('@').next().unwrap_or("");
        if hostport.is_empty() {
            return Err(ConfigError(
                "DAEMON_URL: a URL has no host: use http://user:pass@host:port/".into(),
            ));
        }
        let has_port = if let Some(end) = hostport.rfind(']') {
            hostport[end..].contains(':')
        } else {
            hostport.contains(':')
        };
        let path = &rest[authority.len()..];
        let path = if path.is_empty() { "/" } else { path };
        let url = if has_port {
            format!("http://{authority}{path}")
        } else {
            format!("http://{authority}:{}{path}", network.rpc_port())
        };
        urls.push(url);
    }
    if urls.is_empty() {
        return Err(ConfigError(
            "DAEMON_URL is empty: set it to http://user:pass@host:port/".into(),
        ));
    }
    Ok(urls)
}

/// `METRICS_PORT`: a port on 127.0.0.1, or an address and port a load balancer can reach.
fn metrics_addr(value: &str) -> Result<std::net::SocketAddr> {
    if let Ok(port) = value.parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    value.parse().map_err(|_| {
        ConfigError(format!(
            "METRICS_PORT={value:?} is neither a port (9100) nor an address and port \
             (10.0.0.11:9100, [fd00::11]:9100)"
        ))
    })
}

#[cfg(test)]
mod tests;
