//! Shared fixtures of the server tests: an in-memory backend, a test CA and line clients.
#![allow(dead_code)]

#[path = "../support/mod.rs"]
mod support;
#[allow(unused_imports)]
pub use support::{free_port, TestCa};

pub mod ws;

use keva_electrum::jsonrpc::{Answer, Backend, RpcError};
use keva_electrum::server::{self, ChainEvent, Protocol, ServerHandle, Service, Settings};
use parking_lot::Mutex;
use rustls::pki_types::ServerName;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// A small in-memory backend: the server's test fixture, not a stand-in for the node.
///
/// `echo` returns its params, `big [n]` a string of n bytes, `fail` a code-1 error, `daemon` a
/// code-2 error, `sleep [ms]` sleeps then returns ms, `panic` panics; statuses and the tip
/// live in shared maps the test changes before calling `notify`.
pub struct TestBackend {
    pub statuses: Mutex<HashMap<[u8; 32], Option<String>>>,
    pub tip: Mutex<Value>,
}

impl TestBackend {
    pub fn new() -> Arc<Self> {
        Arc::new(TestBackend {
            statuses: Mutex::new(HashMap::new()),
            tip: Mutex::new(json!({"height": 100, "hex": "ab".repeat(157)})),
        })
    }
}

impl Backend for TestBackend {
    type Worker = u64;

    fn new_worker(&self) -> u64 {
        0
    }

    fn call(&self, calls: &mut u64, method: &str, params: &Value) -> Answer {
        *calls += 1;
        match method {
            "echo" => Answer::ok(params.clone()),
            "big" => {
                let n = params[0].as_u64().unwrap_or(0) as usize;
                Answer::ok(Value::String("x".repeat(n)))
            }
            "fail" => Answer::err(RpcError::bad_request("bad value")),
            "daemon" => Answer::err(RpcError::daemon_error(
                "daemon error: DaemonError({'code': -5, 'message': 'No such mempool or blockchain transaction.'})",
            )),
            "sleep" => {
                let ms = params[0].as_u64().unwrap_or(0);
                std::thread::sleep(Duration::from_millis(ms));
                Answer::ok(json!(ms))
            }
            "panic" => panic!("backend failure requested by the test"),
            "blockchain.block.header" => Answer::ok(json!("ab".repeat(157))),
            other => Answer::err(RpcError::unknown_method(other)),
        }
    }

    fn scripthash_status(&self, _: &mut u64, sh: &[u8; 32]) -> Result<Option<String>, RpcError> {
        match self.statuses.lock().get(sh) {
            Some(s) => Ok(s.clone()),
            None => Ok(None),
        }
    }

    fn tip(&self, _: &mut u64) -> Result<Value, RpcError> {
        Ok(self.tip.lock().clone())
    }
}

/// Decodes a scripthash hex string the way the server does (bytes in string order).
pub fn sh(hex: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for i in 0..32 {
        out[i] = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

pub fn event(tip: Value, touched: Vec<[u8; 32]>) -> ChainEvent {
    ChainEvent { tip, touched }
}

/// Settings for a test server on 127.0.0.1 with the given services.
pub fn settings(protocols: &[Protocol]) -> Settings {
    Settings {
        services: protocols
            .iter()
            .map(|p| Service {
                protocol: *p,
                addr: "127.0.0.1:0".parse().unwrap(),
            })
            .collect(),
        workers: 2,
        banner: "test banner".into(),
        features: json!({"genesis_hash": "00", "hash_function": "sha256"}),
        ..Settings::default()
    }
}

pub fn start(settings: Settings) -> (ServerHandle, Arc<TestBackend>) {
    let backend = TestBackend::new();
    let handle = server::start(settings, Arc::clone(&backend)).expect("server starts");
    (handle, backend)
}

/// A blocking line client over any stream.
pub struct Client<S: Read + Write> {
    reader: BufReader<S>,
}

pub type TcpClient = Client<TcpStream>;
pub type TlsClient = Client<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>;

pub fn tcp(addr: SocketAddr) -> TcpClient {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    Client {
        reader: BufReader::new(s),
    }
}

pub fn tls(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> TlsClient {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    Client {
        reader: BufReader::new(rustls::StreamOwned::new(conn, s)),
    }
}

impl<S: Read + Write> Client<S> {
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let s = self.reader.get_mut();
        s.write_all(bytes).unwrap();
        s.flush().unwrap();
    }

    pub fn send(&mut self, v: &Value) {
        let mut line = serde_json::to_vec(v).unwrap();
        line.push(b'\n');
        self.send_raw(&line);
    }

    /// The next line, parsed; `None` at end of stream.
    pub fn recv(&mut self) -> Option<Value> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(serde_json::from_str(&line).expect("a JSON line")),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
            Err(e) => panic!("read failed: {e}"),
        }
    }

    pub fn expect(&mut self) -> Value {
        self.recv().expect("a reply before end of stream")
    }

    pub fn call(&mut self, method: &str, params: Value, id: Value) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id}));
        self.expect()
    }

    /// True when the server closed the connection (EOF or reset) without sending more.
    pub fn closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        match self.reader.read(&mut buf) {
            Ok(0) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
            Ok(_) => false,
        }
    }
}

pub fn err(code: i64, message: &str, id: Value) -> Value {
    json!({"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": id})
}
