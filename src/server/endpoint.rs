//! The optional Prometheus endpoint: a loopback HTTP listener answering `GET /metrics` with
//! the server's counters and the program's own lines ([`Admin::metrics`]). It runs on its own
//! thread with blocking sockets, so a slow scraper never touches the event loop.

use super::admin::Admin;
use super::Notifier;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the idle listener checks whether the server stopped.
const IDLE: Duration = Duration::from_millis(100);

/// Starts the endpoint thread; it ends when `stop` is set.
pub fn spawn(
    listener: TcpListener,
    notifier: Notifier,
    admin: Option<Arc<dyn Admin>>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name("metrics".to_string())
        .spawn(move || {
            while !stop.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, &notifier, admin.as_deref()),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(IDLE)
                    }
                    Err(_) => std::thread::sleep(IDLE),
                }
            }
        })?;
    Ok(())
}

fn serve(mut stream: TcpStream, notifier: &Notifier, admin: Option<&dyn Admin>) {
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
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, body) = if method != "GET" {
        ("405 Method Not Allowed", "only GET is served\n".to_string())
    } else if path != "/metrics" && path != "/" {
        ("404 Not Found", "the metrics are at /metrics\n".to_string())
    } else {
        match notifier.metrics() {
            Some(mut text) => {
                if let Some(a) = admin {
                    text.push_str(&a.metrics());
                }
                ("200 OK", text)
            }
            None => (
                "503 Service Unavailable",
                "the server is stopping\n".to_string(),
            ),
        }
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}
