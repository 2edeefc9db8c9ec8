//! Several `keva-electrum` servers (the real binary, each with its own index) behind a real
//! HAProxy configured from `contrib/haproxy.cfg`, wallets on tcp/ssl/ws/wss connecting from
//! chosen loopback addresses, and a real headless Chromium: the pieces of the load-balancer
//! tests. HAProxy and Chromium are Debian's packages; a test fails (never skips) without them.

#![allow(dead_code)]

#[path = "../support/mod.rs"]
mod support;
#[path = "../server_common/ws.rs"]
mod ws;
#[allow(unused_imports)]
pub use support::{
    closed_loop, free_port, percentile, trusting, Load, Proc, RssWatch, TempDir, TestCa, MB,
};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keva_electrum::devnode::{DevNode, DevNodeConfig};
use rustls::pki_types::ServerName;
use serde_json::{json, Value};

/// The address HAProxy connects to the servers from (the kernel picks 127.0.0.1 for a
/// loopback destination): the servers' `PROXY_PROTOCOL_FROM`.
pub const HAPROXY_SOURCE: &str = "127.0.0.1";

/// The full path of a Debian program the tests need; panics naming the package otherwise.
pub fn require(program: &str, package: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let p = Path::new(dir).join(program);
        if p.exists() {
            return p;
        }
    }
    panic!(
        "{program} is not installed: `apt-get install {package}` (.ci/run installs it); this \
         test runs the real {package} and does not skip"
    );
}

/// A stand-in node with `blocks` blocks on a free loopback port.
pub fn start_node(blocks: u32, seed: u64) -> DevNode {
    DevNode::start(DevNodeConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        blocks,
        seed,
        ..DevNodeConfig::default()
    })
    .expect("the stand-in node starts")
}

/// One server's listening ports.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    pub tcp: u16,
    pub ssl: u16,
    pub ws: u16,
    pub wss: u16,
    pub rpc: u16,
    pub metrics: u16,
}

impl Ports {
    fn free() -> Ports {
        Ports {
            tcp: free_port(),
            ssl: free_port(),
            ws: free_port(),
            wss: free_port(),
            rpc: free_port(),
            metrics: free_port(),
        }
    }
}

/// One `keva-electrum` process with its own index, on fixed ports so that it can be killed
/// and started again where HAProxy expects it. Its name is its `server.donation_address`, so
/// a wallet can tell which server answers.
pub struct Replica {
    pub name: String,
    pub ports: Ports,
    pub proc: Option<Proc>,
    pub dir: TempDir,
    daemon_url: String,
    tls: keva_electrum::server::TlsFiles,
    env: Vec<(String, String)>,
}

impl Replica {
    /// Starts a server trusting HAProxy's PROXY headers and waits until it serves.
    pub fn start(
        name: &str,
        daemon_url: &str,
        tls: &keva_electrum::server::TlsFiles,
        env: &[(&str, &str)],
    ) -> Replica {
        let mut r = Replica {
            name: name.to_string(),
            ports: Ports::free(),
            proc: None,
            dir: TempDir::new(&format!("lb-{name}")),
            daemon_url: daemon_url.to_string(),
            tls: tls.clone(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        r.spawn();
        r.wait_serving(Duration::from_secs(60));
        r.wait_healthy(Duration::from_secs(30));
        r
    }

    /// Starts the process (again), on the same ports and index; does not wait.
    pub fn spawn(&mut self) {
        let p = self.ports;
        let services = format!(
            "tcp://127.0.0.1:{},ssl://127.0.0.1:{},ws://127.0.0.1:{},wss://127.0.0.1:{},\
             rpc://127.0.0.1:{}",
            p.tcp, p.ssl, p.ws, p.wss, p.rpc
        );
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keva-electrum"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("NET", "regtest")
            .env("DB_DIRECTORY", self.dir.path())
            .env("DAEMON_URL", &self.daemon_url)
            .env("SERVICES", services)
            .env("SSL_CERTFILE", &self.tls.cert)
            .env("SSL_KEYFILE", &self.tls.key)
            .env("PROXY_PROTOCOL_FROM", HAPROXY_SOURCE)
            .env("METRICS_PORT", format!("127.0.0.1:{}", p.metrics))
            .env("DONATION_ADDRESS", &self.name)
            .env("PEER_DISCOVERY", "off")
            .env("WORKERS", "2")
            .env("MEMPOOL_POLL_MS", "200");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.proc = Some(Proc::spawn(cmd));
    }

    /// Waits until the log says the client services are open.
    pub fn wait_serving(&mut self, timeout: Duration) {
        self.proc_mut().wait_for("serving tcp on", timeout);
    }

    fn proc_mut(&mut self) -> &mut Proc {
        self.proc.as_mut().expect("the server runs")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        self.proc.as_ref().map(Proc::log).unwrap_or_default()
    }

    /// SIGKILL: no clean shutdown, connections reset.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.signal("KILL");
            p.wait_exit(Duration::from_secs(10));
        }
    }

    pub fn addr(&self, port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// `GET /health` on the metrics listener: status and JSON body; `None` when nothing
    /// listens or answers.
    pub fn health(&self) -> Option<(u16, Value)> {
        let (status, body) = http_get(self.addr(self.ports.metrics), "/health")?;
        Some((status, serde_json::from_slice(&body).ok()?))
    }

    /// Waits until `/health` answers 200.
    pub fn wait_healthy(&self, timeout: Duration) -> Value {
        let start = Instant::now();
        loop {
            let h = self.health();
            if let Some((200, body)) = &h {
                return body.clone();
            }
            assert!(
                start.elapsed() < timeout,
                "{}: /health is {h:?} after {timeout:?}\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One admin command over the `rpc` service (which reads no PROXY header).
    pub fn admin(&self, method: &str, params: Value) -> Value {
        let s = TcpStream::connect(self.addr(self.ports.rpc)).expect("admin port");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut w = s.try_clone().unwrap();
        let line = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        w.write_all(format!("{line}\n").as_bytes()).unwrap();
        let mut answer = String::new();
        BufReader::new(s).read_line(&mut answer).unwrap();
        let v: Value = serde_json::from_str(&answer).expect("an admin answer");
        v["result"].clone()
    }

    /// The `peer` column of `rpc sessions`: the addresses the server believes its wallets have.
    pub fn session_peers(&self) -> Vec<String> {
        self.admin("sessions", json!([]))
            .as_array()
            .expect("a session list")
            .iter()
            .map(|s| s["peer"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(p) = &self.proc {
                eprintln!("--- log of {} ---\n{}", self.name, p.log());
            }
        }
    }
}

/// A plain HTTP/1.1 GET; status and body.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut all = Vec::new();
    s.read_to_end(&mut all).ok()?;
    let end = all.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&all[..end]);
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, all[end + 4..].to_vec()))
}

/// Which of `contrib/haproxy.cfg`'s two variants runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// Variant A: TLS passes through to the servers' ssl and wss ports.
    Passthrough,
    /// Variant B: HAProxy decrypts and forwards to the servers' tcp and ws ports.
    Termination,
}

/// HAProxy (Debian's `haproxy`, in the foreground) running `contrib/haproxy.cfg` with the test's
/// addresses in place of the example ones, and an admin socket to read its view of the servers.
pub struct HaProxy {
    pub proc: Proc,
    pub tcp: SocketAddr,
    pub ssl: SocketAddr,
    pub wss: SocketAddr,
    dir: TempDir,
}

impl HaProxy {
    /// Starts HAProxy in front of `replicas` (at most two: `keva1`, `keva2` of the file);
    /// `pem` is the certificate and key HAProxy presents in the termination variant.
    pub fn start(variant: Variant, replicas: &[&Replica], pem: Option<&Path>) -> HaProxy {
        let haproxy = require("haproxy", "haproxy");
        let dir = TempDir::new("haproxy");
        let tcp = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let ssl = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let wss = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let cfg = config(replicas, [tcp, ssl, wss], pem, &dir.0.join("admin.sock"));
        let path = dir.0.join("haproxy.cfg");
        std::fs::write(&path, cfg).unwrap();
        let mut cmd = Command::new(haproxy);
        cmd.arg("-db").arg("-f").arg(&path);
        cmd.env_remove("TLS_AT_PROXY");
        if variant == Variant::Termination {
            cmd.env("TLS_AT_PROXY", "1");
        }
        let mut proc = Proc::spawn(cmd);
        let start = Instant::now();
        // HAProxy opens its listeners one by one and creates the admin socket under a
        // temporary name before renaming it: the frontends may accept before it exists.
        let socket = dir.0.join("admin.sock");
        let ready = || {
            [tcp, ssl, wss]
                .iter()
                .all(|a| TcpStream::connect(a).is_ok())
                && std::os::unix::net::UnixStream::connect(&socket).is_ok()
        };
        while !ready() {
            proc.assert_alive();
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "haproxy does not listen:\n{}",
                proc.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        HaProxy {
            proc,
            tcp,
            ssl,
            wss,
            dir,
        }
    }

    /// One command on HAProxy's admin socket.
    pub fn command(&self, line: &str) -> String {
        let mut s = std::os::unix::net::UnixStream::connect(self.dir.0.join("admin.sock"))
            .expect("haproxy's admin socket");
        s.write_all(format!("{line}\n").as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// HAProxy's view of server `name` in `backend`: its state ("UP", "DOWN", …) and the
    /// result of its last health check ("L7OK", "L7STS", "L4CON", …).
    pub fn server(&self, backend: &str, name: &str) -> (String, String) {
        let csv = self.command("show stat");
        let mut lines = csv.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or("")
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let col = |n: &str| header.iter().position(|h| *h == n).expect("a stats column");
        let (status, check) = (col("status"), col("check_status"));
        lines
            .map(|l| l.split(',').collect::<Vec<&str>>())
            .find(|f| f.first() == Some(&backend) && f.get(1) == Some(&name))
            .map(|f| (f[status].to_string(), f[check].to_string()))
            .unwrap_or_default()
    }

    /// HAProxy's state of server `name` in `backend` ("UP", "DOWN", …).
    pub fn state(&self, backend: &str, name: &str) -> String {
        self.server(backend, name).0
    }

    /// Waits until HAProxy sees server `name` of `backend` in `state` ("UP", "DOWN") as the
    /// result of its health checks (at start-up HAProxy calls every server UP before checking
    /// it); returns how long that took.
    pub fn wait_state(
        &self,
        backend: &str,
        name: &str,
        state: &str,
        timeout: Duration,
    ) -> Duration {
        let start = Instant::now();
        loop {
            let s = self.server(backend, name);
            let checked = if state == "UP" {
                s.1 == "L7OK"
            } else {
                !s.1.is_empty()
            };
            if s.0.starts_with(state) && checked {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < timeout,
                "haproxy: {backend}/{name} is {s:?}, not {state}, after {timeout:?}:\n{}",
                self.proc.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- haproxy log ---\n{}", self.proc.log());
        }
    }
}

/// `contrib/haproxy.cfg` with the test's addresses: frontends on `binds` (tcp, ssl, wss), the
/// example servers `keva1`/`keva2` replaced by `replicas`, the certificate path by `pem`, logs
/// to stderr, an admin socket, and `maxconn` within the test machine's open-file limit. Everything else (timeouts, checks, balance, PROXY headers)
/// is the file's; every replacement must find its target, so the test follows the file.
pub fn config(
    replicas: &[&Replica],
    binds: [SocketAddr; 3],
    pem: Option<&Path>,
    socket: &Path,
) -> String {
    let contrib = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/haproxy.cfg");
    let text = std::fs::read_to_string(&contrib).expect("contrib/haproxy.cfg");
    let mut out = Vec::new();
    let mut servers = 0;
    let mut binds_done = 0;
    for line in text.lines() {
        let mut line = line.to_string();
        let t = line.trim_start();
        if t.starts_with("log /dev/log") {
            line = "    log stderr format short local0".to_string();
        } else if t.starts_with("maxconn") {
            // Two descriptors per connection: what this machine's open-file limit allows.
            out.push("    maxconn 4000".to_string());
            line = format!("    stats socket {} mode 600 level admin", socket.display());
        } else if let Some(rest) = t.strip_prefix("bind :") {
            let (port, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            let addr = match port {
                "50001" => binds[0],
                "50002" => binds[1],
                "50004" => binds[2],
                other => panic!("contrib/haproxy.cfg binds an unexpected port {other}"),
            };
            let tail = match pem {
                Some(p) => tail.replace("/etc/haproxy/electrum.pem", &p.display().to_string()),
                None => tail.to_string(),
            };
            line = format!("    bind {addr} {tail}");
            binds_done += 1;
        } else if let Some(rest) = t.strip_prefix("server keva") {
            let index: usize = rest[..1].parse().expect("server keva<N>");
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let (host_port, options) = (fields[1], &fields[2..]);
            let port = host_port.rsplit(':').next().unwrap();
            match replicas.get(index - 1) {
                Some(r) => {
                    let p = match port {
                        "50001" => r.ports.tcp,
                        "50002" => r.ports.ssl,
                        "50003" => r.ports.ws,
                        "50004" => r.ports.wss,
                        other => panic!("contrib/haproxy.cfg uses an unexpected port {other}"),
                    };
                    let options = options
                        .join(" ")
                        .replace("port 9100", &format!("port {}", r.ports.metrics));
                    assert!(options.contains("send-proxy-v2") && options.contains("check"));
                    line = format!("    server keva{index} 127.0.0.1:{p} {options}");
                    servers += 1;
                }
                None => continue,
            }
        }
        out.push(line);
    }
    let expected_binds = 3 * 2; // three frontends in each variant
    assert_eq!(
        binds_done, expected_binds,
        "contrib/haproxy.cfg changed its frontends"
    );
    assert!(
        servers >= 2 * replicas.len(),
        "contrib/haproxy.cfg has too few servers"
    );
    out.join("\n") + "\n"
}

/// The relay's "delay" that means: no node at all.
const CUT: u64 = u64::MAX;

/// A TCP relay to the node whose requests can be slowed down or cut: a server behind it
/// catches up slowly, or loses its node, so a test can watch what happens meanwhile.
pub struct Relay {
    pub port: u16,
    delay_ms: Arc<AtomicU64>,
}

impl Relay {
    pub fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let delay_ms = Arc::new(AtomicU64::new(0));
        let delay = delay_ms.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let Ok(node) = TcpStream::connect(target) else {
                    continue;
                };
                if delay.load(Ordering::Relaxed) == CUT {
                    continue; // dropped: the node is unreachable
                }
                let delay = delay.clone();
                let (mut c_read, mut n_write) =
                    (client.try_clone().unwrap(), node.try_clone().unwrap());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n) = c_read.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let ms = delay.load(Ordering::Relaxed);
                        if ms == CUT {
                            break;
                        }
                        if ms > 0 {
                            std::thread::sleep(Duration::from_millis(ms));
                        }
                        if n_write.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = n_write.shutdown(std::net::Shutdown::Write);
                });
                let (mut n_read, mut c_write) = (node, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut n_read, &mut c_write);
                    let _ = c_write.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Relay { port, delay_ms }
    }

    /// Holds each request for `ms` before passing it on.
    pub fn set_delay(&self, ms: u64) {
        self.delay_ms.store(ms, Ordering::Relaxed);
    }

    /// Closes every connection to the node, now and until [`Relay::set_delay`] is called.
    pub fn cut(&self) {
        self.delay_ms.store(CUT, Ordering::Relaxed);
    }

    /// The node's URL through the relay.
    pub fn url(&self, node: &DevNode) -> String {
        let direct = node.url();
        let port = direct
            .rsplit(':')
            .next()
            .unwrap()
            .trim_end_matches('/')
            .to_string();
        direct.replace(&format!(":{port}"), &format!(":{}", self.port))
    }
}

/// How a wallet talks to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Tcp,
    Ssl,
    Ws,
    Wss,
}

trait Stream: Read + Write + Send {}
impl<S: Read + Write + Send> Stream for S {}

enum Io {
    Lines(BufReader<Box<dyn Stream>>),
    Frames(ws::WsClient<Box<dyn Stream>>),
}

/// A wallet: one Electrum session over tcp, ssl, ws or wss, from a chosen local address (any
/// address of 127.0.0.0/8 is local on Linux, so tests can play wallets of different subnets).
pub struct Wallet {
    io: Io,
    next_id: u64,
    /// The wallet's own address and port: what the server should show for it.
    pub local: SocketAddr,
}

impl Wallet {
    /// Connects from `from` to `to`; TLS kinds trust `tls`.
    pub fn connect(
        kind: Kind,
        from: IpAddr,
        to: SocketAddr,
        tls: Option<&Arc<rustls::ClientConfig>>,
    ) -> std::io::Result<Wallet> {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::for_address(to), Type::STREAM, None)?;
        socket.bind(&SocketAddr::new(from, 0).into())?;
        socket.connect_timeout(&to.into(), Duration::from_secs(5))?;
        let tcp: TcpStream = socket.into();
        let local = tcp.local_addr()?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        tcp.set_write_timeout(Some(Duration::from_secs(10)))?;
        let stream: Box<dyn Stream> = match kind {
            Kind::Tcp | Kind::Ws => Box::new(tcp),
            Kind::Ssl | Kind::Wss => {
                let config = tls.expect("a TLS client configuration").clone();
                let name = ServerName::try_from("localhost").unwrap();
                let conn =
                    rustls::ClientConnection::new(config, name).map_err(std::io::Error::other)?;
                Box::new(rustls::StreamOwned::new(conn, tcp))
            }
        };
        let io = match kind {
            Kind::Tcp | Kind::Ssl => Io::Lines(BufReader::new(stream)),
            Kind::Ws | Kind::Wss => {
                let (c, head) =
                    ws::WsClient::handshake(stream, &ws::chromium_request("localhost", "/"));
                if !head.starts_with("HTTP/1.1 101 ") {
                    return Err(std::io::Error::other(format!("upgrade refused: {head:?}")));
                }
                Io::Frames(c)
            }
        };
        Ok(Wallet {
            io,
            next_id: 1,
            local,
        })
    }

    /// Sends bytes as they are (lines only).
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match &mut self.io {
            Io::Lines(r) => {
                r.get_mut().write_all(bytes)?;
                r.get_mut().flush()
            }
            Io::Frames(_) => Err(std::io::Error::other("raw bytes on a WebSocket")),
        }
    }

    /// The next message; `None` when the connection ended (or stayed silent 10 s).
    pub fn recv(&mut self) -> Option<Value> {
        match &mut self.io {
            Io::Lines(r) => {
                let mut line = Vec::new();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => None,
                    Ok(_) => serde_json::from_slice(&line).ok(),
                }
            }
            Io::Frames(c) => {
                let f = c.recv_frame()?;
                (f.opcode == 1).then(|| serde_json::from_slice(&f.payload).ok())?
            }
        }
    }

    /// One request; its reply (notifications before it are skipped), or `Null` when the
    /// connection ended first.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let sent = match &mut self.io {
            Io::Lines(_) => self.send_raw(format!("{request}\n").as_bytes()).is_ok(),
            Io::Frames(c) => {
                c.send_text(&request);
                true
            }
        };
        if !sent {
            return Value::Null;
        }
        std::iter::from_fn(|| self.recv())
            .find(|v| v["id"] == id)
            .unwrap_or(Value::Null)
    }

    /// Which server answers: its `server.donation_address` (the replica's name); `None` when
    /// the connection ended.
    pub fn server_name(&mut self) -> Option<String> {
        self.call("server.donation_address", json!([]))["result"]
            .as_str()
            .map(str::to_string)
    }
}

/// Which server a new tcp connection through `to` from `from` reaches; `None` when the
/// connection fails or is closed unanswered.
pub fn answering_server(from: IpAddr, to: SocketAddr) -> Option<String> {
    Wallet::connect(Kind::Tcp, from, to, None)
        .ok()?
        .server_name()
}

/// The certificate HAProxy presents (TLS termination): a test CA's certificate for
/// `localhost`/127.0.0.1 and its key in one PEM file (HAProxy's `crt` format), a client
/// configuration trusting the CA, and the SHA-256 of the key (base64) for Chromium's
/// `--ignore-certificate-errors-spki-list`.
pub struct ProxyCert {
    pub pem: PathBuf,
    pub spki_sha256: String,
    pub client: Arc<rustls::ClientConfig>,
    _ca: TestCa,
}

impl ProxyCert {
    pub fn new() -> ProxyCert {
        use base64::Engine;
        let ca = TestCa::new("haproxy", false);
        let key_pem = std::fs::read_to_string(&ca.files.key).unwrap();
        let cert_pem = std::fs::read_to_string(&ca.files.cert).unwrap();
        let pem = ca.dir.0.join("electrum.pem");
        std::fs::write(&pem, format!("{cert_pem}{key_pem}")).unwrap();
        let key = rcgen::KeyPair::from_pem(&key_pem).unwrap();
        let spki = keva_electrum::chain::hash::sha256(&key.public_key_der());
        ProxyCert {
            pem,
            spki_sha256: base64::engine::general_purpose::STANDARD.encode(spki),
            client: ca.client_config(),
            _ca: ca,
        }
    }
}

/// A headless Chromium that ran a page, and what the page reported; the browser (and the
/// page's connections) lives until this is dropped.
pub struct Browser {
    pub report: Value,
    pub proc: Proc,
    _profile: TempDir,
}

/// Runs headless Chromium (Debian's `chromium`) on `page` (served by the test over HTTP on
/// loopback) until the page POSTs its JSON to `/report`; panics after `timeout`.
/// The browser trusts exactly the certificate whose public key hash is `spki`.
pub fn chromium_run(page: &str, spki: &str, timeout: Duration) -> Browser {
    let chromium = require("chromium", "chromium");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let http = listener.local_addr().unwrap();
    let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(1);
    let page = page.to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            let (path, body) = match read_request(&conn) {
                Some(r) => r,
                None => continue,
            };
            let mut conn = conn;
            if path == "/report" {
                let _ = tx.try_send(body);
                let _ = conn.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
            } else if path == "/" {
                let _ = conn.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{page}",
                        page.len()
                    )
                    .as_bytes(),
                );
            } else {
                let _ = conn.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        }
    });
    let profile = TempDir::new("chromium-profile");
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .arg(format!("--ignore-certificate-errors-spki-list={spki}"))
    .arg(format!("http://{http}/"));
    let mut browser = Proc::spawn(cmd);
    let report = rx.recv_timeout(timeout);
    browser.assert_alive();
    let report = report.unwrap_or_else(|_| {
        panic!(
            "Chromium reported nothing within {timeout:?}:\n{}",
            browser.log()
        )
    });
    Browser {
        report: serde_json::from_slice(&report).expect("the page reports JSON"),
        proc: browser,
        _profile: profile,
    }
}

/// Path and body of one HTTP request (body by Content-Length).
fn read_request(conn: &TcpStream) -> Option<(String, Vec<u8>)> {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut r = BufReader::new(conn);
    let mut first = String::new();
    r.read_line(&mut first).ok()?;
    let path = first.split(' ').nth(1)?.to_string();
    let mut len = 0;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some((path, body))
}
