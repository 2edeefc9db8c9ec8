//! A small blocking HTTP/1.1 server on std::net: keep-alive, one thread per connection.
//! Enough of HTTP for JSON-RPC clients (Content-Length bodies, no chunked uploads).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Largest request body accepted (a batch of big sendrawtransaction calls fits).
const MAX_BODY: usize = 64 << 20;

/// One parsed request.
pub struct Request {
    /// HTTP method, e.g. "POST".
    pub method: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// What to send back.
pub enum Response {
    /// A complete answer.
    Full {
        status: u16,
        body: Vec<u8>,
        extra_headers: Vec<(&'static str, String)>,
    },
    /// Headers announcing the full body, then only its first half, then the connection closes.
    Truncated { status: u16, body: Vec<u8> },
    /// Close the connection without answering.
    Close,
}

/// Handles one request.
pub type Handler = dyn Fn(&Request) -> Response + Send + Sync;

/// Accepts connections until `stop` is set; returns the accept thread.
pub fn serve(
    listener: TcpListener,
    handler: Arc<Handler>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("devnode-accept".into())
        .spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = conn else { continue };
                let handler = Arc::clone(&handler);
                let stop = Arc::clone(&stop);
                let _ = std::thread::Builder::new()
                    .name("devnode-conn".into())
                    .spawn(move || connection(stream, &*handler, &stop));
            }
        })
}

/// Wakes the accept loop so it sees the stop flag.
pub fn wake(addr: SocketAddr) {
    let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(200));
}

fn connection(stream: TcpStream, handler: &Handler, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(250)));
    let _ = stream.set_nodelay(true);
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut out = write_half;
    let mut reader = BufReader::new(stream);
    loop {
        let req = match read_request(&mut reader, stop) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(msg) => {
                let _ = write_response(&mut out, 400, msg.as_bytes(), &[], false);
                return;
            }
        };
        let keep_alive = req.1;
        match handler(&req.0) {
            Response::Full {
                status,
                body,
                extra_headers,
            } => {
                if write_response(&mut out, status, &body, &extra_headers, keep_alive).is_err()
                    || !keep_alive
                {
                    return;
                }
            }
            Response::Truncated { status, body } => {
                let head = format!(
                    "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    reason(status),
                    body.len()
                );
                let _ = out.write_all(head.as_bytes());
                let _ = out.write_all(&body[..body.len() / 2]);
                let _ = out.flush();
                return;
            }
            Response::Close => return,
        }
    }
}

/// Reads one request; `Ok(None)` when the peer closed or the server stops.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    stop: &AtomicBool,
) -> Result<Option<(Request, bool)>, String> {
    let mut line = String::new();
    // Wait for the request line, checking the stop flag between read timeouts.
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(None);
        }
        match reader.read_line(&mut line) {
            Ok(0) => return Ok(None),
            Ok(_) => break,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if !line.is_empty() {
                    continue;
                }
            }
            Err(_) => return Ok(None),
        }
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let version = parts.nth(1).unwrap_or("HTTP/1.0").to_string();
    let mut content_length = 0usize;
    let mut authorization = None;
    let mut keep_alive = version == "HTTP/1.1";
    loop {
        let mut h = String::new();
        match reader.read_line(&mut h) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if stop.load(Ordering::SeqCst) {
                    return Ok(None);
                }
                continue;
            }
            Err(_) => return Ok(None),
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let Some((name, value)) = h.split_once(':') else {
            return Err(format!("bad header line {h:?}"));
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                content_length = value
                    .parse()
                    .map_err(|_| format!("bad Content-Length {value:?}"))?;
                if content_length > MAX_BODY {
                    return Err("request body too large".into());
                }
            }
            "authorization" => authorization = Some(value.to_string()),
            "connection" => {
                let v = value.to_ascii_lowercase();
                if v.contains("close") {
                    keep_alive = false;
                } else if v.contains("keep-alive") {
                    keep_alive = true;
                }
            }
            "transfer-encoding" if !value.eq_ignore_ascii_case("identity") => {
                return Err("chunked request bodies are not supported".into())
            }
            _ => {}
        }
    }
    let mut body = vec![0u8; content_length];
    let mut got = 0;
    while got < content_length {
        match reader.read(&mut body[got..]) {
            Ok(0) => return Ok(None),
            Ok(n) => got += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if stop.load(Ordering::SeqCst) {
                    return Ok(None);
                }
            }
            Err(_) => return Ok(None),
        }
    }
    Ok(Some((
        Request {
            method,
            authorization,
            body,
        },
        keep_alive,
    )))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

fn write_response(
    out: &mut TcpStream,
    status: u16,
    body: &[u8],
    extra: &[(&'static str, String)],
    keep_alive: bool,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: {}\r\n",
        reason(status),
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut buf = head.into_bytes();
    buf.extend_from_slice(body);
    out.write_all(&buf)?;
    out.flush()
}
