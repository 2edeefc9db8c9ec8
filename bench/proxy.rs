//! What HAProxy in front costs: the same server loaded by 100 closed-loop clients straight and
//! through HAProxy (`contrib/haproxy.cfg`, variant B: PROXY v2 headers, TLS terminated at the
//! proxy), in the same run, phases interleaved so that machine noise hits both alike.
//!
//! `cargo bench --bench proxy`. Per phase: requests/s, p50/p99 latency, server peak RSS, and
//! the CPU time the server and HAProxy spent per 1,000 requests. Phases: direct tcp, tcp
//! through HAProxy, direct ssl (the server decrypts), ssl through HAProxy (HAProxy decrypts).
//! Knobs: KEVA_BENCH_SECONDS per phase (default 8), KEVA_BENCH_ROUNDS (default 2),
//! KEVA_BENCH_CLIENTS (default 100). Needs Debian's `haproxy`. Client and servers share the
//! machine's cores, so the client's own cost is included.

#[path = "../tests/lb_common/mod.rs"]
mod lb_common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use keva_electrum::chain::hash::hash160;
use keva_electrum::chain::script::{scripthash, scripthash_to_hex};
use lb_common::*;
use rustls::pki_types::ServerName;

const METHODS: [&str; 4] = [
    "blockchain.scripthash.get_balance",
    "blockchain.scripthash.get_history",
    "blockchain.scripthash.listunspent",
    "blockchain.scripthash.subscribe",
];

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let seconds = env_u64("KEVA_BENCH_SECONDS", 8);
    let rounds = env_u64("KEVA_BENCH_ROUNDS", 2);
    let clients = env_u64("KEVA_BENCH_CLIENTS", 100) as usize;
    println!("proxy benchmark: {clients} clients, {seconds}s per phase, {rounds} rounds");
    println!("  load before: {}", loadavg());

    let node = start_node(2000, 7);
    let mut small = Vec::new();
    for i in 0..200 {
        let h = hash160(format!("proxy bench {i}").as_bytes());
        let script = [&[0x76, 0xa9, 0x14][..], &h, &[0x88, 0xac]].concat();
        node.pay(&script, 100_000_000).expect("a payment");
        small.push(scripthash_to_hex(&scripthash(&script)));
    }
    node.mine(1);
    let ca = TestCa::new("bench-proxy", false);
    let server = Replica::start(
        "bench",
        &node.url(),
        &ca.files,
        &[
            ("COST_SOFT_LIMIT", "0"),
            ("COST_HARD_LIMIT", "0"),
            ("MAX_SESSIONS", "20000"),
        ],
    );
    server.wait_healthy(Duration::from_secs(60));
    let cert = ProxyCert::new();
    let proxy = HaProxy::start(Variant::Termination, &[&server], Some(&cert.pem));
    proxy.wait_state("keva_tcp", "keva1", "UP", Duration::from_secs(20));
    let server_pid = server.proc.as_ref().unwrap().pid();
    let proxy_pid = proxy.proc.pid();

    let phases: [(&str, SocketAddr, Option<Arc<rustls::ClientConfig>>); 4] = [
        ("direct tcp", server.addr(server.ports.tcp), None),
        ("tcp through haproxy", proxy.tcp, None),
        (
            "direct ssl",
            server.addr(server.ports.ssl),
            Some(ca.client_config()),
        ),
        ("ssl through haproxy", proxy.ssl, Some(cert.client.clone())),
    ];
    let duration = Duration::from_secs(seconds);
    for round in 1..=rounds {
        for (name, addr, tls) in &phases {
            let watch = RssWatch::start(server_pid);
            let cpu = (cpu_ms(server_pid), cpu_ms(proxy_pid));
            let r = run(*addr, tls.clone(), clients, &small, duration);
            let server_cpu = cpu_ms(server_pid) - cpu.0;
            let proxy_cpu = cpu_ms(proxy_pid) - cpu.1;
            let per_k = |ms: u64| ms as f64 * 1000.0 / r.requests.max(1) as f64;
            println!(
                "  round {round}, {name}: {} requests in {:.1}s: {:.0} req/s; p50 {:.2} ms, \
                 p99 {:.2} ms; errors {}; CPU per 1,000 requests: server {:.0} ms, haproxy {:.0} \
                 ms; server peak RSS {:.1} MB",
                r.requests,
                r.elapsed.as_secs_f64(),
                r.requests as f64 / r.elapsed.as_secs_f64(),
                ms(percentile(&r.latencies, 50.0)),
                ms(percentile(&r.latencies, 99.0)),
                r.errors,
                per_k(server_cpu),
                per_k(proxy_cpu),
                watch.peak() as f64 / MB as f64,
            );
        }
    }
    println!("  load after: {}", loadavg());
}

trait Stream: std::io::Read + Write + Send {}
impl<S: std::io::Read + Write + Send> Stream for S {}

fn connect(addr: SocketAddr, tls: Option<Arc<rustls::ClientConfig>>) -> BufReader<Box<dyn Stream>> {
    // From 127.0.0.5: not HAProxy's address, so the server expects no PROXY header from it.
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 5], 0)).into())
        .expect("bind 127.0.0.5");
    socket.connect(&addr.into()).expect("connect");
    let tcp: TcpStream = socket.into();
    tcp.set_nodelay(true).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let stream: Box<dyn Stream> = match tls {
        None => Box::new(tcp),
        Some(config) => {
            let name = ServerName::try_from("localhost").unwrap();
            let conn = rustls::ClientConnection::new(config, name).unwrap();
            Box::new(rustls::StreamOwned::new(conn, tcp))
        }
    };
    BufReader::new(stream)
}

/// `clients` closed-loop connections cycling through the four methods over `targets`; the
/// replies are checked for an error without being parsed.
fn run(
    addr: SocketAddr,
    tls: Option<Arc<rustls::ClientConfig>>,
    clients: usize,
    targets: &[String],
    duration: Duration,
) -> Load {
    let targets = targets.to_vec();
    closed_loop(
        clients,
        duration,
        move || (connect(addr, tls.clone()), String::new()),
        move |(c, line), n| {
            let request = format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{n},\"method\":\"{}\",\"params\":[\"{}\"]}}\n",
                METHODS[n % METHODS.len()],
                targets[n % targets.len()]
            );
            c.get_mut().write_all(request.as_bytes()).expect("send");
            c.get_mut().flush().expect("send");
            line.clear();
            c.read_line(line).expect("a reply");
            !line.is_empty() && !line.contains("\"error\"")
        },
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// User + system CPU time of a process, in milliseconds.
fn cpu_ms(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    ticks * 10 // USER_HZ is 100 on Linux
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}
