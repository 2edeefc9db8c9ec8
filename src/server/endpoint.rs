//! The metrics and health listener (`METRICS_PORT`): `GET /metrics` answers the server's
//! counters and the program's own lines ([`Admin::metrics`]) in the Prometheus text format;
//! `GET /health` answers a load balancer whether this server should get wallets (see
//! [`health`](super::health)). It runs on its own thread with blocking sockets, so a slow
//! scraper never touches the event loop, and it starts before the server: a balancer sees a
//! server that is still syncing as such. It never reads a PROXY header.

use super::admin::Admin;
use super::health::{assess, HealthBoard};
use super::{Notifier, StartError};
use parking_lot::Mutex;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the idle listener checks whether it should stop.
const IDLE: Duration = Duration::from_millis(100);

/// The running listener; it stops when dropped.
pub struct Endpoint {
    addr: SocketAddr,
    server: Arc<Mutex<Option<Notifier>>>,
    stop: Arc<AtomicBool>,
}

/// What the listener's thread answers from.
struct Sources {
    server: Arc<Mutex<Option<Notifier>>>,
    health: HealthBoard,
    admin: Option<Arc<dyn Admin>>,
}

impl Endpoint {
    /// Listens on `addr`: `/health` from `health` (and the server once [`Endpoint::attach`]ed),
    /// `/metrics` from `admin` and the attached server.
    pub fn start(
        addr: SocketAddr,
        health: HealthBoard,
        admin: Option<Arc<dyn Admin>>,
    ) -> Result<Endpoint, StartError> {
        let listener = TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| {
                StartError(format!(
                    "cannot listen on {addr} for the metrics and health endpoint \
                     (METRICS_PORT): {e}; is the port in use, or the address not this host's?"
                ))
            })?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartError(format!("cannot read the bound address: {e}")))?;
        let server = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let sources = Sources {
            server: Arc::clone(&server),
            health,
            admin,
        };
        let halt = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("metrics".to_string())
            .spawn(move || {
                while !halt.load(Ordering::Acquire) {
                    match listener.accept() {
                        Ok((stream, _)) => serve(stream, &sources),
                        Err(_) => std::thread::sleep(IDLE),
                    }
                }
            })
            .map_err(|e| StartError(format!("cannot start the metrics thread: {e}")))?;
        Ok(Endpoint { addr, server, stop })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// From now on the server's counters and sessions are part of the answers, and `/health`
    /// may say 200.
    pub fn attach(&self, server: Notifier) {
        *self.server.lock() = Some(server);
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn serve(mut stream: TcpStream, sources: &Sources) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let server = sources.server.lock().clone();
    let text = "text/plain; version=0.0.4; charset=utf-8";
    let (status, kind, body) = if method != "GET" && method != "HEAD" {
        (
            "405 Method Not Allowed",
            text,
            "only GET is served\n".to_string(),
        )
    } else if path == "/health" {
        let sessions = server.as_ref().and_then(Notifier::sessions);
        let verdict = assess(
            &sources.health.get(),
            sessions.is_some(),
            sessions.unwrap_or(0),
            Instant::now(),
        );
        let status = if verdict.status == 200 {
            "200 OK"
        } else {
            "503 Service Unavailable"
        };
        (status, "application/json", format!("{}\n", verdict.body))
    } else if path == "/metrics" || path == "/" {
        let own = sources
            .admin
            .as_ref()
            .map(|a| a.metrics())
            .unwrap_or_default();
        match server.map(|s| s.metrics()) {
            Some(Some(counters)) => ("200 OK", text, counters + &own),
            // Not serving yet (the start-up sync): the program's lines say how far it got.
            None => ("200 OK", text, own),
            Some(None) => (
                "503 Service Unavailable",
                text,
                "the server is stopping\n".into(),
            ),
        }
    } else {
        (
            "404 Not Found",
            text,
            "the metrics are at /metrics, the health check at /health\n".to_string(),
        )
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        response.push_str(&body);
    }
    let _ = stream.write_all(response.as_bytes());
}
