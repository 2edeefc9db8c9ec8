//! Shared pieces of the benchmarks: the server binary against a node, JSON-RPC over TCP and
//! index sizes (processes, directories, RSS, closed-loop load and percentiles come from
//! `tests/support`).

#![allow(dead_code)]

#[path = "../../tests/support/mod.rs"]
mod support;
#[allow(unused_imports)]
pub use support::*;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

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

/// CPU seconds (user + system) the process has used.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
