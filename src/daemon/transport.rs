//! HTTP transport to kevacoind: endpoint parsing, basic auth (URL or cookie file), failover.
//!
//! Credentials never leave this module except inside the `Authorization` header: the URL handed
//! to ureq and every URL in an error or log line has its user information removed.

use super::error::Error;
use crate::chain::Network;
use base64::Engine as _;
use parking_lot::Mutex;
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// One node URL with its credentials split off.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `http://host:port/path` without user information: safe to log, used for requests.
    pub url: String,
    /// `Basic …` header value from the URL's user information, when it had any.
    auth: Option<String>,
}

impl Endpoint {
    /// Parses `[http://][user:pass@]host[:port][/path]`; a missing port is the network's RPC port.
    pub fn parse(raw: &str, network: Network) -> Result<Endpoint, Error> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(Error::Config(
                "DAEMON_URL contains an empty URL: write e.g. http://user:pass@127.0.0.1:9337/"
                    .into(),
            ));
        }
        let rest = if let Some(r) = raw.strip_prefix("http://") {
            r
        } else if raw.starts_with("https://") {
            return Err(Error::Config(format!(
                "DAEMON_URL {} uses https, which kevacoind does not serve: use http://",
                redact(raw)
            )));
        } else if raw.contains("://") {
            return Err(Error::Config(format!(
                "DAEMON_URL {} has an unknown scheme: use http://user:pass@host:port/",
                redact(raw)
            )));
        } else {
            raw
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        if hostport.is_empty() {
            return Err(Error::Config(format!(
                "DAEMON_URL {} has no host: write e.g. http://user:pass@127.0.0.1:{}/",
                redact(raw),
                network.rpc_port()
            )));
        }
        let has_port = if let Some(v6) = hostport.strip_prefix('[') {
            v6.contains("]:")
        } else {
            hostport.contains(':')
        };
        let hostport = if has_port {
            let port = hostport.rsplit(':').next().unwrap_or("");
            if port.parse::<u16>().is_err() {
                return Err(Error::Config(format!(
                    "DAEMON_URL {} has a bad port {port:?}: write a number, e.g. {}",
                    redact(raw),
                    network.rpc_port()
                )));
            }
            hostport.to_string()
        } else {
            format!("{hostport}:{}", network.rpc_port())
        };
        let auth = match userinfo {
            None => None,
            Some(ui) => {
                let (user, pass) = ui.split_once(':').unwrap_or((ui, ""));
                let plain = format!("{}:{}", percent_decode(user), percent_decode(pass));
                Some(basic_header(&plain))
            }
        };
        Ok(Endpoint {
            url: format!("http://{hostport}{path}"),
            auth,
        })
    }
}

/// Removes `user:pass@` from a URL so it can be shown.
pub fn redact(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn basic_header(user_pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    )
}

/// How a request failed at the transport level, before any JSON-RPC meaning.
pub enum Failure {
    /// Connection refused / DNS: try the next URL.
    Connect(String),
    /// The connection closed before an answer (often a stale keep-alive connection the node
    /// timed out): worth one more try on the same URL.
    Dropped(String),
    /// Any other error that ends the call.
    Fatal(Error),
}

/// The set of node URLs, the current one, and the shared HTTP agent (keep-alive pool).
pub struct Transport {
    endpoints: Vec<Endpoint>,
    current: AtomicUsize,
    agent: ureq::Agent,
    timeout: Duration,
    cookie_file: Option<PathBuf>,
    /// `Basic …` header from the cookie file, re-read when the node answers 401.
    cookie: Mutex<Option<String>>,
}

impl Transport {
    /// Builds the transport; URLs without credentials need a readable cookie file.
    pub fn new(
        urls: &[String],
        cookie_file: Option<PathBuf>,
        timeout: Duration,
        network: Network,
    ) -> Result<Transport, Error> {
        let mut endpoints = Vec::new();
        for raw in urls.iter().flat_map(|u| u.split(',')) {
            if raw.trim().is_empty() {
                continue;
            }
            endpoints.push(Endpoint::parse(raw, network)?);
        }
        if endpoints.is_empty() {
            return Err(Error::Config(format!(
                "DAEMON_URL is empty: set it to the node's RPC URL, e.g. http://user:pass@127.0.0.1:{}/",
                network.rpc_port()
            )));
        }
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            .max_idle_connections_per_host(8)
            .user_agent("keva-electrum")
            .build();
        let t = Transport {
            endpoints,
            current: AtomicUsize::new(0),
            agent,
            timeout,
            cookie_file,
            cookie: Mutex::new(None),
        };
        if t.endpoints.iter().any(|e| e.auth.is_none()) {
            match &t.cookie_file {
                // The node writes its cookie when it starts: one not there yet is read when the
                // node first answers (a node that is not running is waited for).
                Some(path) => match read_cookie(path) {
                    Ok(c) => *t.cookie.lock() = Some(c),
                    Err(_) if !path.exists() => {}
                    Err(e) => return Err(e),
                },
                None => {
                    return Err(Error::Config(format!(
                        "DAEMON_URL {} has no user and password and no cookie file is known: \
                         write http://rpcuser:rpcpassword@host:port/ or point at the node's .cookie file",
                        t.endpoints[0].url
                    )))
                }
            }
        }
        Ok(t)
    }

    /// The URL in use now (no credentials).
    pub fn current_url(&self) -> String {
        self.endpoints[self.current.load(Ordering::Relaxed) % self.endpoints.len()]
            .url
            .clone()
    }

    /// All configured URLs (no credentials).
    pub fn urls(&self) -> Vec<String> {
        self.endpoints.iter().map(|e| e.url.clone()).collect()
    }

    /// POSTs a JSON body, failing over to the next URL when a node cannot be reached.
    /// Returns the parsed JSON body and the URL that answered.
    pub fn post(&self, body: &[u8]) -> Result<(Value, String), Error> {
        let n = self.endpoints.len();
        let start = self.current.load(Ordering::Relaxed);
        let mut details = Vec::new();
        for k in 0..n {
            let idx = (start + k) % n;
            let ep = &self.endpoints[idx];
            let mut result = self.post_one(ep, body);
            if matches!(result, Err(Failure::Dropped(_))) {
                result = self.post_one(ep, body);
            }
            match result {
                Ok(v) => {
                    if idx != start % n {
                        self.current.store(idx, Ordering::Relaxed);
                        super::log(&format!("now using kevacoind at {}", ep.url));
                    }
                    return Ok((v, ep.url.clone()));
                }
                Err(Failure::Connect(detail) | Failure::Dropped(detail)) => {
                    if n > 1 {
                        super::log(&format!(
                            "cannot reach kevacoind at {} ({detail}); trying the next URL",
                            ep.url
                        ));
                    }
                    details.push(detail);
                }
                Err(Failure::Fatal(e)) => return Err(e),
            }
        }
        details.dedup();
        Err(Error::Unreachable {
            urls: self.urls(),
            detail: details.join("; "),
        })
    }

    fn auth_for(&self, ep: &Endpoint) -> Option<String> {
        ep.auth.clone().or_else(|| self.cookie.lock().clone())
    }

    fn post_one(&self, ep: &Endpoint, body: &[u8]) -> Result<Value, Failure> {
        let mut retried_cookie = false;
        loop {
            let mut req = self
                .agent
                .post(&ep.url)
                .set("Content-Type", "application/json");
            if let Some(a) = self.auth_for(ep) {
                req = req.set("Authorization", &a);
            }
            let resp = match req.send_bytes(body) {
                Ok(r) => r,
                Err(ureq::Error::Status(401, _)) => {
                    let cookie = ep.auth.is_none();
                    if cookie && !retried_cookie {
                        // The node writes a new cookie each start: read it again once.
                        if let Some(path) = &self.cookie_file {
                            match read_cookie(path) {
                                Ok(c) => {
                                    *self.cookie.lock() = Some(c);
                                    retried_cookie = true;
                                    continue;
                                }
                                Err(e) => return Err(Failure::Fatal(e)),
                            }
                        }
                    }
                    return Err(Failure::Fatal(Error::Auth {
                        url: ep.url.clone(),
                        cookie,
                    }));
                }
                // kevacoind answers JSON-RPC errors with 404/500 and a JSON body.
                Err(ureq::Error::Status(code, r)) => {
                    return self.read_json(ep, r).map_err(|e| match e {
                        Failure::Fatal(Error::BadResponse { url, detail }) => {
                            Failure::Fatal(Error::BadResponse {
                                url,
                                detail: format!("HTTP {code} with {detail}"),
                            })
                        }
                        other => other,
                    })
                }
                Err(ureq::Error::Transport(t)) => return Err(self.classify(ep, &t)),
            };
            return self.read_json(ep, resp);
        }
    }

    fn read_json(&self, ep: &Endpoint, resp: ureq::Response) -> Result<Value, Failure> {
        let mut buf = Vec::new();
        if let Err(e) = resp.into_reader().read_to_end(&mut buf) {
            return Err(if is_timeout(&e) {
                Failure::Fatal(Error::Timeout {
                    url: ep.url.clone(),
                    after: self.timeout,
                })
            } else {
                Failure::Fatal(Error::BadResponse {
                    url: ep.url.clone(),
                    detail: format!("the connection broke while reading the answer: {e}"),
                })
            });
        }
        serde_json::from_slice(&buf).map_err(|e| {
            let shown = String::from_utf8_lossy(&buf[..buf.len().min(120)]).into_owned();
            Failure::Fatal(Error::BadResponse {
                url: ep.url.clone(),
                detail: format!(
                    "a body that is not JSON ({e}; {} bytes, starting {shown:?})",
                    buf.len()
                ),
            })
        })
    }

    fn classify(&self, ep: &Endpoint, t: &ureq::Transport) -> Failure {
        use std::error::Error as _;
        let io_kind = t
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .map(|e| e.kind());
        let timed_out = matches!(
            io_kind,
            Some(std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock)
        );
        if timed_out && t.kind() != ureq::ErrorKind::ConnectionFailed {
            return Failure::Fatal(Error::Timeout {
                url: ep.url.clone(),
                after: self.timeout,
            });
        }
        let detail = match io_kind {
            Some(k) => format!("{k}"),
            None => t.kind().to_string(),
        };
        match t.kind() {
            ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::Dns => Failure::Connect(detail),
            // A reset or EOF before any answer: a stale connection, or the node went away.
            ureq::ErrorKind::Io | ureq::ErrorKind::BadStatus
                if matches!(
                    io_kind,
                    Some(
                        std::io::ErrorKind::ConnectionReset
                            | std::io::ErrorKind::ConnectionAborted
                            | std::io::ErrorKind::BrokenPipe
                            | std::io::ErrorKind::UnexpectedEof
                    )
                ) =>
            {
                Failure::Dropped(detail)
            }
            _ => Failure::Fatal(Error::BadResponse {
                url: ep.url.clone(),
                detail: format!("HTTP transport error: {detail}"),
            }),
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

/// Reads the node's `.cookie` file (`__cookie__:<hex>`) into a basic-auth header value.
fn read_cookie(path: &Path) -> Result<String, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Config(format!(
            "cannot read the node's cookie file {}: {e}; is kevacoind running with this datadir, \
             and may this user read it? (or put rpcuser/rpcpassword into DAEMON_URL)",
            path.display()
        ))
    })?;
    let line = text.lines().next().unwrap_or("").trim();
    if !line.contains(':') {
        return Err(Error::Config(format!(
            "the cookie file {} does not hold `user:password`: is it kevacoind's .cookie?",
            path.display()
        )));
    }
    Ok(basic_header(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_strips_credentials() {
        let ep = Endpoint::parse("http://u:p%40ss@127.0.0.1:9337/", Network::Mainnet).unwrap();
        assert_eq!(ep.url, "http://127.0.0.1:9337/");
        assert_eq!(ep.auth.as_deref(), Some(basic_header("u:p@ss").as_str()));
        let ep = Endpoint::parse("user:pw@localhost", Network::Regtest).unwrap();
        assert_eq!(ep.url, "http://localhost:19443/");
        let ep = Endpoint::parse("http://[::1]:1234", Network::Regtest).unwrap();
        assert_eq!(ep.url, "http://[::1]:1234/");
        assert!(ep.auth.is_none());
        let e = Endpoint::parse("http://u:secret@host:99999/", Network::Mainnet).unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
        assert!(Endpoint::parse("https://h:1/", Network::Mainnet).is_err());
    }

    #[test]
    fn redacts() {
        assert_eq!(redact("http://a:b@h:1/x"), "http://h:1/x");
        assert_eq!(redact("a:b@h:1"), "h:1");
        assert_eq!(redact("http://h:1/a@b"), "http://h:1/a@b");
    }
}
