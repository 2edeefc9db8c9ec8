//! Shared pieces of the end-to-end tests: the real `keva-electrum` binary as a child process
//! against a stand-in node (in-process `DevNode` over real HTTP, or the `keva-devnode` binary),
//! line clients over TCP and TLS, a throwaway CA, and small helpers for statuses and hashes.

#![allow(dead_code)]

#[path = "../support/mod.rs"]
mod support;
#[allow(unused_imports)]
pub use support::*;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keva_electrum::chain::hash::{hash_to_hex, sha256};
use keva_electrum::chain::script::{scripthash, scripthash_to_hex};
use keva_electrum::chain::Hash32;
use rustls::pki_types::ServerName;
use serde_json::{json, Value};

/// The soft open-file limit of this process (from /proc), so tests can scale down with a note.
pub fn open_file_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_string))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

/// One JSON-RPC call to the node over HTTP (`dev_*` controls included): result or error object.
pub fn node_rpc(url: &str, method: &str, params: Value) -> Result<Value, Value> {
    let body = json!({"jsonrpc": "1.0", "id": "e2e", "method": method, "params": params});
    let reply: Value = match ureq::post(url).send_json(body) {
        Ok(r) => r.into_json().expect("node replies with JSON"),
        Err(ureq::Error::Status(_, r)) => r.into_json().expect("node error body is JSON"),
        Err(e) => panic!("cannot reach the node at {url}: {e}"),
    };
    if reply["error"].is_null() {
        Ok(reply["result"].clone())
    } else {
        Err(reply["error"].clone())
    }
}

/// How to start the server.
#[derive(Default)]
pub struct ServerOpts<'a> {
    pub tls: Option<&'a TestCa>,
    pub env: Vec<(&'a str, String)>,
    /// Open-file limit set with `ulimit -n` before the binary starts.
    pub nofile: Option<u64>,
    /// Reuse this index directory (a restart); a fresh one otherwise.
    pub db: Option<PathBuf>,
    /// Also run the admin `rpc` service on a free loopback port.
    pub rpc: bool,
}

/// The server under test.
pub struct Server {
    pub proc: Proc,
    pub tcp: SocketAddr,
    pub ssl: Option<SocketAddr>,
    pub rpc: Option<u16>,
    pub db: PathBuf,
    _owned_db: Option<TempDir>,
}

/// Spawns `keva-electrum` against `daemon_url` without waiting for it.
pub fn spawn_server(daemon_url: &str, opts: ServerOpts) -> Server {
    let tcp = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let ssl = opts
        .tls
        .map(|_| SocketAddr::from(([127, 0, 0, 1], free_port())));
    let (db, owned) = match &opts.db {
        Some(d) => (d.clone(), None),
        None => {
            let t = TempDir::new("db");
            (t.0.clone(), Some(t))
        }
    };
    let mut services = format!("tcp://{tcp}");
    if let Some(s) = ssl {
        services.push_str(&format!(",ssl://{s}"));
    }
    let rpc = opts.rpc.then(free_port);
    if let Some(port) = rpc {
        services.push_str(&format!(",rpc://127.0.0.1:{port}"));
    }
    let nofile = opts.nofile.unwrap_or(4096);
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "ulimit -n {nofile} 2>/dev/null || ulimit -n $(ulimit -Hn); exec \"$0\""
        ))
        .arg(env!("CARGO_BIN_EXE_keva-electrum"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("COIN", "Kevacoin")
        .env("NET", "regtest")
        .env("DB_DIRECTORY", &db)
        .env("DAEMON_URL", daemon_url)
        .env("SERVICES", &services)
        .env("PEER_DISCOVERY", "off")
        .env("MEMPOOL_POLL_MS", "200")
        .env("WORKERS", "2");
    if let Some(ca) = opts.tls {
        cmd.env("SSL_CERTFILE", &ca.files.cert)
            .env("SSL_KEYFILE", &ca.files.key);
    }
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    Server {
        proc: Proc::spawn(cmd),
        tcp,
        ssl,
        rpc,
        db,
        _owned_db: owned,
    }
}

/// Starts `keva-electrum` and waits until it serves.
pub fn start_server(daemon_url: &str, opts: ServerOpts) -> Server {
    let mut server = spawn_server(daemon_url, opts);
    server
        .proc
        .wait_for("serving tcp on", Duration::from_secs(120));
    if server.ssl.is_some() {
        server
            .proc
            .wait_for("serving ssl on", Duration::from_secs(10));
    }
    server
}

/// Streams whose read timeout can be changed (plain TCP and TLS over TCP).
pub trait Timeout {
    fn set_timeout(&self, d: Duration);
}

impl Timeout for TcpStream {
    fn set_timeout(&self, d: Duration) {
        self.set_read_timeout(Some(d)).unwrap();
    }
}

impl Timeout for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    fn set_timeout(&self, d: Duration) {
        self.sock.set_read_timeout(Some(d)).unwrap();
    }
}

/// A blocking newline-JSON client that keeps notifications aside while waiting for replies.
pub struct Client<S: Read + Write + Timeout> {
    reader: BufReader<S>,
    partial: Vec<u8>,
    next_id: u64,
    pub notifications: VecDeque<Value>,
}

pub type TcpClient = Client<TcpStream>;
pub type TlsClient = Client<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>;

pub fn tcp(addr: SocketAddr) -> TcpClient {
    let s = TcpStream::connect(addr).expect("connect to the server");
    s.set_nodelay(true).unwrap();
    Client::new(s)
}

pub fn tls(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> TlsClient {
    let s = TcpStream::connect(addr).expect("connect to the server");
    s.set_nodelay(true).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    Client::new(rustls::StreamOwned::new(conn, s))
}

/// What a read gave.
pub enum Read1 {
    Line(Value),
    Timeout,
    Closed,
}

impl<S: Read + Write + Timeout> Client<S> {
    pub fn new(stream: S) -> Client<S> {
        stream.set_timeout(Duration::from_secs(30));
        Client {
            reader: BufReader::new(stream),
            partial: Vec::new(),
            next_id: 1000,
            notifications: VecDeque::new(),
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        let s = self.reader.get_mut();
        s.write_all(bytes).expect("write to the server");
        s.flush().expect("flush to the server");
    }

    /// Writes, tolerating a connection the server already closed.
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> bool {
        let s = self.reader.get_mut();
        s.write_all(bytes).and_then(|_| s.flush()).is_ok()
    }

    pub fn send(&mut self, v: &Value) {
        let mut line = serde_json::to_vec(v).unwrap();
        line.push(b'\n');
        self.send_raw(&line);
    }

    /// The next line within `timeout`: parsed JSON, a timeout, or the end of the stream.
    pub fn read_within(&mut self, timeout: Duration) -> Read1 {
        self.reader.get_ref().set_timeout(timeout);
        match self.reader.read_until(b'\n', &mut self.partial) {
            Ok(0) => Read1::Closed,
            Ok(_) if !self.partial.ends_with(b"\n") => Read1::Closed,
            Ok(_) => {
                let line = std::mem::take(&mut self.partial);
                let v = serde_json::from_slice(&line).unwrap_or_else(|e| {
                    panic!("server sent a line that is not JSON ({e}): {line:?}")
                });
                Read1::Line(v)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Read1::Timeout
            }
            Err(_) => Read1::Closed,
        }
    }

    /// The next line; panics on timeout (30 s) or end of stream.
    pub fn expect(&mut self) -> Value {
        match self.read_within(Duration::from_secs(30)) {
            Read1::Line(v) => v,
            Read1::Timeout => panic!("no reply within 30 s"),
            Read1::Closed => panic!("the server closed the connection"),
        }
    }

    /// Next non-notification message; notifications are queued.
    pub fn expect_reply(&mut self) -> Value {
        loop {
            let v = self.expect();
            if v.get("method").is_some() && v.get("id").is_none() {
                self.notifications.push_back(v);
            } else {
                return v;
            }
        }
    }

    /// Sends a request with a fresh numeric id and returns the whole reply object.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id}));
        let reply = self.expect_reply();
        assert_eq!(reply["id"], json!(id), "reply to another request: {reply}");
        assert_eq!(
            reply["jsonrpc"], "2.0",
            "reply without jsonrpc 2.0: {reply}"
        );
        reply
    }

    /// `call` that must succeed: the result.
    pub fn result(&mut self, method: &str, params: Value) -> Value {
        let reply = self.call(method, params.clone());
        assert!(
            reply.get("error").is_none(),
            "{method} {params} failed: {reply}"
        );
        reply["result"].clone()
    }

    /// The first queued or arriving notification for `method` matching `pred`, within `timeout`.
    pub fn notification(
        &mut self,
        method: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        if let Some(i) = self
            .notifications
            .iter()
            .position(|n| n["method"] == method && pred(&n["params"]))
        {
            return self.notifications.remove(i).map(|n| n["params"].clone());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            match self.read_within(left.max(Duration::from_millis(1))) {
                Read1::Line(v) => {
                    if v["method"] == method && pred(&v["params"]) {
                        return Some(v["params"].clone());
                    }
                    self.notifications.push_back(v);
                }
                Read1::Timeout => return None,
                Read1::Closed => panic!("the server closed the connection"),
            }
        }
    }

    /// Every message arriving within `window` (appended to the queued notifications).
    pub fn drain(&mut self, window: Duration) -> Vec<Value> {
        let deadline = Instant::now() + window;
        let mut out: Vec<Value> = self.notifications.drain(..).collect();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return out;
            }
            match self.read_within(left) {
                Read1::Line(v) => out.push(v),
                Read1::Timeout | Read1::Closed => return out,
            }
        }
    }

    /// True when the server closes the connection within `timeout`.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match self.read_within(left) {
                Read1::Closed => return true,
                Read1::Timeout => return false,
                Read1::Line(_) => {}
            }
        }
    }
}

/// A `blockchain.scripthash.listunspent` reply as a set of (txid, vout, value, height).
pub fn unspent_set(reply: &Value) -> std::collections::BTreeSet<(String, u64, u64, u64)> {
    reply
        .as_array()
        .expect("listunspent returns a list")
        .iter()
        .map(|u| {
            (
                u["tx_hash"].as_str().unwrap().to_string(),
                u["tx_pos"].as_u64().unwrap(),
                u["value"].as_u64().unwrap(),
                u["height"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The Electrum scripthash (display hex) of an output script.
pub fn sh_hex(script: &[u8]) -> String {
    scripthash_to_hex(&scripthash(script))
}

/// A P2PKH script of a key hash made from `label` (nobody's wallet: the test controls it).
pub fn test_script(label: &str) -> Vec<u8> {
    let h = keva_electrum::chain::hash::hash160(label.as_bytes());
    [&[0x76, 0xa9, 0x14][..], &h, &[0x88, 0xac]].concat()
}

/// The Electrum status of a history reply: sha256 of "txid:height:" joined, or null if empty.
pub fn status_of(history: &Value) -> Value {
    let entries = history.as_array().expect("history is a list");
    if entries.is_empty() {
        return Value::Null;
    }
    let mut s = String::new();
    for e in entries {
        s.push_str(&format!(
            "{}:{}:",
            e["tx_hash"].as_str().unwrap(),
            e["height"].as_i64().unwrap()
        ));
    }
    json!(keva_electrum::chain::hash::to_hex(&sha256(s.as_bytes())))
}

pub fn hex(h: &Hash32) -> String {
    hash_to_hex(h)
}

/// Waits until `f` returns `Some`, polling every 50 ms; panics with `what` after `timeout`.
pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
