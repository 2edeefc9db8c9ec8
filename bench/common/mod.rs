//! Shared pieces of the benchmarks: the server binary against a node, JSON-RPC over TCP,
//! percentiles and index sizes (processes, directories and RSS come from `tests/support`).

#![allow(dead_code)]

#[path = "../../tests/support/mod.rs"]
mod support;
#[allow(unused_imports)]
pub use support::*;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Starts the server against `daemon_url`, serving TCP on a free port.
pub fn start_server(daemon_url: &str, db: &Path, extra: &[(&str, &str)]) -> (Proc, SocketAddr) {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keva-electrum"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("COIN", "Kevacoin")
        .env("NET", "regtest")
        .env("DB_DIRECTORY", db)
        .env("DAEMON_URL", daemon_url)
        .env("SERVICES", format!("tcp://127.0.0.1:{port}"))
        .env("PEER_DISCOVERY", "off");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let proc = Proc::spawn(cmd);
    (proc, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// A blocking newline-JSON-RPC client.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_id: u64,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> std::io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Client {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            next_id: 1,
        })
    }

    /// Sends one request and returns the next line unparsed: for load loops whose clients
    /// subscribe to nothing (so the next line is the reply), leaving the CPU to the server.
    pub fn call_raw(&mut self, method: &str, params: serde_json::Value) -> String {
        self.send(method, params);
        let mut buf = String::new();
        let n = self.reader.read_line(&mut buf).expect("read from server");
        assert!(n > 0, "server closed the connection");
        buf
    }

    /// Writes one request; returns its id.
    fn send(&mut self, method: &str, params: serde_json::Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let line =
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .expect("write to server");
        id
    }

    /// Sends one request and reads until its reply (notifications are skipped).
    pub fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let id = self.send(method, params);
        loop {
            let mut buf = String::new();
            let n = self.reader.read_line(&mut buf).expect("read from server");
            assert!(n > 0, "server closed the connection");
            let v: serde_json::Value = serde_json::from_str(&buf).expect("server sent JSON");
            if v["id"] == id {
                return v;
            }
        }
    }
}

/// What closed-loop clients measured.
pub struct Load {
    pub requests: usize,
    pub errors: usize,
    pub elapsed: Duration,
    /// Every request's latency, sorted.
    pub latencies: Vec<Duration>,
}

/// `clients` threads, each with its own connection from `connect`, calling `call(connection,
/// n)` back to back for `duration` (`n` counts up from the thread's number); `call` says
/// whether the answer was not an error. Timing starts once every client is connected.
pub fn closed_loop<C: 'static>(
    clients: usize,
    duration: Duration,
    connect: impl Fn() -> C + Send + Sync + 'static,
    call: impl Fn(&mut C, usize) -> bool + Send + Sync + 'static,
) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(Barrier::new(clients + 1));
    let (connect, call) = (Arc::new(connect), Arc::new(call));
    let handles: Vec<_> = (0..clients)
        .map(|i| {
            let (stop, ready) = (stop.clone(), ready.clone());
            let (connect, call) = (connect.clone(), call.clone());
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut c = connect();
                    ready.wait();
                    let mut lat = Vec::with_capacity(4096);
                    let mut errors = 0;
                    let mut n = i;
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        let ok = call(&mut c, n);
                        lat.push(t.elapsed());
                        errors += usize::from(!ok);
                        n += 1;
                    }
                    (lat, errors)
                })
                .expect("spawn a client thread")
        })
        .collect();
    ready.wait();
    let start = Instant::now();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (l, e) = h.join().expect("client thread");
        latencies.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed();
    latencies.sort();
    Load {
        requests: latencies.len(),
        errors,
        elapsed,
        latencies,
    }
}

/// The p-th percentile of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Blocks and transactions in the index file (`sync_state`).
pub fn index_counts(db: &Path) -> (i64, i64) {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the index read-only");
    conn.query_row("SELECT height, next_tx_num FROM sync_state", [], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .expect("read sync_state")
}

/// Size of the index with its WAL, in bytes.
pub fn db_size(dir: &Path) -> u64 {
    ["index.db", "index.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

pub fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
