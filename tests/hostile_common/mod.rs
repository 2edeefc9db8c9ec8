//! Shared pieces of the hardening tests: the real `keva-electrum` binary as a child process
//! against an in-process stand-in node, its log, its memory, and a probe client that measures
//! how fast an innocent client is answered.

#![allow(dead_code)]

#[path = "../support/mod.rs"]
mod support;
#[allow(unused_imports)]
pub use support::{as_nobody, free_port, rss, trusting, Proc, RssWatch, TempDir, MB};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use keva_electrum::devnode::{DevNode, DevNodeConfig};
use serde_json::{json, Value};

/// Latency an innocent client must see while an attack runs (generous for a loaded CI box).
pub const PROBE_LIMIT: Duration = Duration::from_secs(1);

/// A stand-in node with `blocks` blocks, on a free loopback port.
pub fn start_node(blocks: u32, seed: u64) -> DevNode {
    start_node_on(blocks, seed, 0)
}

/// A stand-in node bound to `port` (0: any), e.g. to restart one where it was.
pub fn start_node_on(blocks: u32, seed: u64, port: u16) -> DevNode {
    DevNode::start(DevNodeConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], port)),
        blocks,
        seed,
        rpcpassword: "s3cret-Pa55word".into(),
        ..DevNodeConfig::default()
    })
    .expect("the stand-in node starts")
}

/// The real server binary as a child process; killed when dropped.
pub struct Server {
    pub proc: Proc,
    pub tcp: SocketAddr,
    pub ssl: Option<SocketAddr>,
}

/// How to start a server.
pub struct ServerOpts<'a> {
    pub daemon_url: String,
    pub db_dir: &'a Path,
    pub env: Vec<(&'a str, String)>,
    pub tls: Option<(&'a Path, &'a Path)>,
    /// Wrap the binary in `sh -c '<prefix> exec …'` (e.g. `ulimit -f N;`).
    pub shell_prefix: Option<String>,
    /// Run the binary through this command line (e.g. `setpriv --reuid=…`).
    pub runner: Vec<String>,
}

impl<'a> ServerOpts<'a> {
    pub fn new(daemon_url: String, db_dir: &'a Path) -> ServerOpts<'a> {
        ServerOpts {
            daemon_url,
            db_dir,
            env: Vec::new(),
            tls: None,
            shell_prefix: None,
            runner: Vec::new(),
        }
    }

    pub fn shell(mut self, prefix: Option<String>) -> Self {
        self.shell_prefix = prefix;
        self
    }

    pub fn env(mut self, k: &'a str, v: impl ToString) -> Self {
        self.env.push((k, v.to_string()));
        self
    }
}

impl Server {
    /// Starts the server and waits until it serves (the log says `serving tcp on`).
    pub fn start(opts: ServerOpts) -> Server {
        let mut server = Server::spawn(opts);
        server.wait_for("serving tcp on", Duration::from_secs(60));
        server
    }

    /// Starts the server without waiting for it to serve.
    pub fn spawn(opts: ServerOpts) -> Server {
        let tcp = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let ssl = opts
            .tls
            .map(|_| SocketAddr::from(([127, 0, 0, 1], free_port())));
        let bin = env!("CARGO_BIN_EXE_keva-electrum");
        let mut cmd = match &opts.shell_prefix {
            Some(prefix) => {
                let mut c = Command::new("sh");
                c.args(["-c", &format!("{prefix} exec \"$0\""), bin]);
                c
            }
            None if !opts.runner.is_empty() => {
                let mut c = Command::new(&opts.runner[0]);
                c.args(&opts.runner[1..]).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let mut services = format!("tcp://{tcp}");
        if let Some(ssl) = ssl {
            services.push_str(&format!(",ssl://{ssl}"));
        }
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("NET", "regtest")
            .env("DB_DIRECTORY", opts.db_dir)
            .env("DAEMON_URL", &opts.daemon_url)
            .env("SERVICES", services)
            .env("PEER_DISCOVERY", "off")
            .env("WORKERS", "2")
            .env("MEMPOOL_POLL_MS", "200");
        if let Some((cert, key)) = opts.tls {
            cmd.env("SSL_CERTFILE", cert).env("SSL_KEYFILE", key);
        }
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        Server {
            proc: Proc::spawn(cmd),
            tcp,
            ssl,
        }
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    pub fn log(&self) -> String {
        self.proc.log()
    }

    /// Whether a log line contains every one of `needles`.
    pub fn logged(&self, needles: &[&str]) -> bool {
        self.proc.logged_all(needles)
    }

    /// Waits until a log line contains `needle`; panics with the log after `timeout`.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) {
        self.proc.wait_for(needle, timeout);
    }

    /// Panics with the log if the process has exited.
    pub fn assert_alive(&mut self) {
        self.proc.assert_alive();
    }

    /// Checks that an innocent client is answered quickly; returns the worst latency seen.
    pub fn probe(&mut self) -> Duration {
        self.assert_alive();
        let t = Instant::now();
        let mut c = Client::connect(self.tcp).expect("the probe connects");
        let v = c.call("server.version", json!(["probe", "1.4"]));
        assert!(v["result"].is_array(), "probe got {v}\n{}", self.log());
        let v = c.call("blockchain.headers.subscribe", json!([]));
        assert!(v["result"]["height"].is_u64(), "probe got {v}");
        let took = t.elapsed();
        assert!(
            took < PROBE_LIMIT,
            "an innocent client waited {took:?} (limit {PROBE_LIMIT:?})\n{}",
            self.log()
        );
        took
    }

    /// The tip height the server announces.
    pub fn height(&mut self) -> u64 {
        let mut c = Client::connect(self.tcp).expect("connect");
        c.call("blockchain.headers.subscribe", json!([]))["result"]["height"]
            .as_u64()
            .expect("a height")
    }

    /// Waits until the server announces `height`.
    pub fn wait_height(&mut self, height: u64, timeout: Duration) {
        let start = Instant::now();
        loop {
            let h = self.height();
            if h == height {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "server at height {h}, not {height}, after {timeout:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Asks the server to stop and waits for it; returns whether it exited cleanly.
    pub fn terminate(&mut self) -> bool {
        self.proc.terminate()
    }
}

/// A blocking newline-JSON-RPC client over plain TCP.
pub struct Client {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
    next_id: u64,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> std::io::Result<Client> {
        Client::from_stream(TcpStream::connect_timeout(&addr, Duration::from_secs(5))?)
    }

    /// Connects from `local` (on Linux any address of 127.0.0.0/8 is local), so that a test
    /// can play clients of different subnets.
    pub fn connect_from(local: std::net::IpAddr, addr: SocketAddr) -> std::io::Result<Client> {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        socket.bind(&SocketAddr::new(local, 0).into())?;
        socket.connect_timeout(&addr.into(), Duration::from_secs(5))?;
        Client::from_stream(socket.into())
    }

    fn from_stream(stream: TcpStream) -> std::io::Result<Client> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        Ok(Client {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            next_id: 1,
        })
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// The next line as JSON; `None` at end of stream or on reset.
    pub fn recv(&mut self) -> Option<Value> {
        let mut line = Vec::new();
        match self.reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(serde_json::from_slice(&line).unwrap_or_else(|e| {
                panic!(
                    "server sent a line that is not JSON ({e}): {:?}",
                    String::from_utf8_lossy(&line)
                )
            })),
        }
    }

    /// Sends one request and reads until its reply (notifications skipped); `Null` when closed.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        if self.send_raw(format!("{line}\n").as_bytes()).is_err() {
            return Value::Null;
        }
        loop {
            match self.recv() {
                None => return Value::Null,
                Some(v) if v["id"] == id => return v,
                Some(_) => {}
            }
        }
    }

    /// True when the server closed the connection (EOF or reset) without sending more.
    pub fn closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        match self.reader.read(&mut buf) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }
}

/// Starts a node with a short chain and a server on it, in `dir`.
pub fn node_and_server(name: &str, env: &[(&'static str, &str)]) -> (DevNode, Server, TempDir) {
    let node = start_node(30, 7);
    let dir = TempDir::new(name);
    let mut opts = ServerOpts::new(node.url(), dir.path());
    for (k, v) in env {
        opts = opts.env(k, v);
    }
    let server = Server::start(opts);
    (node, server, dir)
}

/// What a comparison of the server's answers with the node's ground truth found.
#[derive(Debug, Default)]
pub struct Audit {
    /// Headers and history entries compared.
    pub cases: usize,
    /// Entries that differ or are missing: must be zero.
    pub lost: usize,
}

/// Compares every header and every scripthash history the server serves with the node's
/// chain; panics with the differences.
pub fn audit(server: &mut Server, node: &DevNode) -> Audit {
    use keva_electrum::chain::hash::{hash_to_hex, to_hex};
    use keva_electrum::chain::Block;
    let truth = node.truth();
    let height = u64::from(truth.height);
    assert_eq!(server.height(), height, "server and node tips differ");
    let mut c = Client::connect(server.tcp).expect("connect");
    let mut audit = Audit::default();
    let mut expected = String::new();
    for h in 0..=truth.height {
        let bytes = node.block_bytes(h).expect("the node has the block");
        let block = Block::from_bytes(&bytes).expect("the node's block parses");
        expected.push_str(&to_hex(block.header.as_bytes()));
    }
    let mut served = String::new();
    let mut from = 0u64;
    while from <= height {
        let v = c.call("blockchain.block.headers", json!([from, 2016]));
        let hex = v["result"]["hex"].as_str().unwrap_or_else(|| panic!("{v}"));
        let count = v["result"]["count"].as_u64().unwrap();
        served.push_str(hex);
        from += count.max(1);
    }
    audit.cases += truth.height as usize + 1;
    if served != expected {
        audit.lost += 1;
    }
    let mut differences = Vec::new();
    // A sample of at most 300 scripthashes (all of them on short chains), each batch of 50 on
    // a fresh session so the audit stays under the per-session cost limits.
    let mut keys: Vec<_> = truth.histories.keys().collect();
    keys.sort();
    let step = keys.len().div_ceil(300).max(1);
    for (i, sh) in keys.into_iter().step_by(step).enumerate() {
        let history = &truth.histories[sh];
        if i % 50 == 49 {
            c = Client::connect(server.tcp).expect("connect");
        }
        let mut want: Vec<(String, i64)> = history
            .iter()
            .filter(|(_, h)| *h > 0) // the genesis coinbase is not spendable nor indexed
            .map(|(txid, h)| (hash_to_hex(txid), i64::from(*h)))
            .collect();
        if want.is_empty() {
            continue;
        }
        want.sort();
        want.dedup();
        let v = c.call(
            "blockchain.scripthash.get_history",
            json!([hash_to_hex(sh)]),
        );
        let mut got: Vec<(String, i64)> = v["result"]
            .as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .iter()
            .filter(|e| e["height"].as_i64().unwrap_or(0) > 0)
            .map(|e| {
                (
                    e["tx_hash"].as_str().unwrap().to_string(),
                    e["height"].as_i64().unwrap(),
                )
            })
            .collect();
        got.sort();
        audit.cases += want.len();
        if got != want {
            audit.lost += want.iter().filter(|w| !got.contains(w)).count().max(1);
            differences.push(format!("{}: want {want:?}, got {got:?}", hash_to_hex(sh)));
        }
    }
    assert!(
        audit.lost == 0,
        "the server's index differs from the node's chain ({} of {} cases): headers equal: {}; {}",
        audit.lost,
        audit.cases,
        served == expected,
        differences
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ")
    );
    audit
}

/// `PRAGMA integrity_check` of an index file, read-only (safe while the server runs).
pub fn integrity_ok(db: &Path) -> bool {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the index read-only");
    let r: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check runs");
    r == "ok"
}
