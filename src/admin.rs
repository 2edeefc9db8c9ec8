//! `keva-electrum rpc [-p|--port PORT] COMMAND [ARGS]`: the operator's side of the admin
//! interface, a drop-in for ElectrumX's `electrumx_rpc` (same commands, same default port),
//! printing readable tables instead of raw JSON.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// The port `electrumx_rpc` uses when none is given.
pub const DEFAULT_PORT: u16 = 8000;

const USAGE: &str = "\
usage: keva-electrum rpc [-p|--port PORT] COMMAND [ARGS]

commands:
    getinfo                      summary of the server, the node and the index
    sessions                     connected sessions
    groups                       sessions grouped by subnet, with their shared cost
    peers                        peer servers, verified or not
    add_peer \"HOST t50001 s50002\" ask the server to verify and list a peer
    disconnect ID...             disconnect sessions
    log ID...                    toggle logging of each request of sessions
    daemon_url [URL]             show, or switch to, the kevacoind RPC URL(s)
    stop                         shut the server down cleanly
    reorg [COUNT]                undo the last COUNT blocks (default 3) to re-index them
    query [-l|--limit N] ITEM... history, UTXOs and balance of addresses or scripts (hex)
    keva_ban_tx TXID             hide a transaction's keva content
    keva_unban_tx TXID           show it again

The server must list rpc://127.0.0.1:PORT in SERVICES (default port 8000).";

/// Runs the CLI with the arguments after `rpc`; returns the process exit code
/// (0 success, 1 the command failed, 2 bad usage).
pub fn cli(args: &[String]) -> i32 {
    let request = match parse_args(args) {
        Ok(Some(r)) => r,
        Ok(None) => {
            println!("{USAGE}");
            return 0;
        }
        Err(e) => {
            eprintln!("keva-electrum rpc: {e}\n\n{USAGE}");
            return 2;
        }
    };
    match send(request.port, &request.method, &request.params) {
        Ok(Ok(result)) => {
            print!("{}", render(&request.method, &result));
            0
        }
        Ok(Err(error)) => {
            let message = error["message"]
                .as_str()
                .map_or_else(|| error.to_string(), str::to_string);
            eprintln!("{}: {message}", request.method);
            1
        }
        Err(e) => {
            eprintln!("keva-electrum rpc: {e}");
            1
        }
    }
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Admin port on localhost.
    pub port: u16,
    /// The command.
    pub method: String,
    /// Named params, as `electrumx_rpc` sends them.
    pub params: Value,
}

/// Parses `[-p PORT] COMMAND [ARGS]`; `None` for `--help`.
pub fn parse_args(args: &[String]) -> Result<Option<Request>, String> {
    let mut port = DEFAULT_PORT;
    let mut rest = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "-h" | "--help" | "help" if rest.is_empty() => return Ok(None),
            "-p" | "--port" => {
                i += 1;
                let v = args.get(i).ok_or("-p/--port needs a port number")?;
                port = parse_port(v)?;
            }
            _ if a.starts_with("--port=") => port = parse_port(&a["--port=".len()..])?,
            _ => rest.push(a.to_string()),
        }
        i += 1;
    }
    let Some((method, args)) = rest.split_first() else {
        return Err("no command given".to_string());
    };
    let params =
        match method.as_str() {
            "getinfo" | "sessions" | "groups" | "peers" | "stop" => {
                no_args(method, args)?;
                json!({})
            }
            "add_peer" => {
                if args.is_empty() {
                    return Err(
                        "add_peer needs the peer, e.g. \"ec1.example.org s50002 t50001\"".into(),
                    );
                }
                json!({"real_name": args.join(" ")})
            }
            "disconnect" | "log" => {
                if args.is_empty() {
                    return Err(format!(
                        "{method} needs at least one session id (see `sessions`)"
                    ));
                }
                json!({"session_ids": args})
            }
            "daemon_url" => match args {
                [] => json!({}),
                [url] => json!({"daemon_url": url}),
                _ => return Err("daemon_url takes one URL (comma-separate several)".into()),
            },
            "reorg" => match args {
                [] => json!({}),
                [n] => {
                    let count: u32 = n.parse().ok().filter(|c| *c > 0).ok_or_else(|| {
                        format!("reorg: {n:?} is not a number of blocks (1 or more)")
                    })?;
                    json!({"count": count})
                }
                _ => return Err("reorg takes one count".into()),
            },
            "query" => {
                let mut limit = None;
                let mut items = Vec::new();
                let mut j = 0;
                while j < args.len() {
                    match args[j].as_str() {
                        "-l" | "--limit" => {
                            j += 1;
                            let v = args.get(j).ok_or("query: --limit needs a number")?;
                            // The server takes limits up to i64::MAX (a JSON integer it reads).
                            limit =
                                Some(v.parse::<i64>().ok().filter(|l| *l >= 0).ok_or_else(
                                    || format!("query: --limit {v:?} is not a number"),
                                )?);
                        }
                        item => items.push(item.to_string()),
                    }
                    j += 1;
                }
                if items.is_empty() {
                    return Err("query needs at least one address or script".into());
                }
                match limit {
                    Some(l) => json!({"items": items, "limit": l}),
                    None => json!({"items": items}),
                }
            }
            "keva_ban_tx" | "keva_unban_tx" => match args {
                [txid] if txid.len() == 64 && txid.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    json!({"txid": txid})
                }
                [txid] => {
                    return Err(format!(
                        "{method}: {txid:?} is not a transaction id (64 hex digits)"
                    ))
                }
                _ => return Err(format!("{method} takes one transaction id")),
            },
            other => return Err(format!("unknown command {other:?}")),
        };
    Ok(Some(Request {
        port,
        method: method.clone(),
        params,
    }))
}

fn no_args(method: &str, args: &[String]) -> Result<(), String> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(format!("{method} takes no arguments"))
    }
}

fn parse_port(v: &str) -> Result<u16, String> {
    v.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("{v:?} is not a port number"))
}

/// Sends one request to the admin service on localhost; the outer error is a connection
/// problem, the inner one the server's error object.
pub fn send(port: u16, method: &str, params: &Value) -> Result<Result<Value, Value>, String> {
    let addrs = [
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
    ];
    let stream = addrs
        .iter()
        .find_map(|a| TcpStream::connect_timeout(a, Duration::from_secs(5)).ok())
        .ok_or_else(|| {
            format!(
                "cannot connect to the admin interface on localhost:{port}: is keva-electrum \
                 running with rpc://127.0.0.1:{port} in SERVICES, and is -p/--port right?"
            )
        })?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(600)));
    let mut line =
        serde_json::to_vec(&json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 0}))
            .map_err(|e| e.to_string())?;
    line.push(b'\n');
    (&stream)
        .write_all(&line)
        .map_err(|e| format!("cannot send the command: {e}"))?;
    let mut reply = String::new();
    BufReader::new(&stream)
        .read_line(&mut reply)
        .map_err(|e| format!("no answer from the server: {e}"))?;
    if reply.is_empty() {
        return Err("the server closed the connection without answering".into());
    }
    let v: Value =
        serde_json::from_str(&reply).map_err(|e| format!("unreadable answer ({e}): {reply}"))?;
    match (v.get("error"), v.get("result")) {
        (Some(e), _) if !e.is_null() => Ok(Err(e.clone())),
        (_, Some(r)) => Ok(Ok(r.clone())),
        _ => Err(format!("unexpected answer: {reply}")),
    }
}

/// Formats a command's result for the terminal.
pub fn render(method: &str, result: &Value) -> String {
    match (method, result) {
        ("sessions", Value::Array(rows)) => table(
            rows,
            &[
                ("ID", "id"),
                ("Flags", "flags"),
                ("Client", "client"),
                ("Proto", "proto"),
                ("Cost", "cost"),
                ("Reqs", "reqs"),
                ("Requests", "requests"),
                ("Errors", "errors"),
                ("Subs", "subs"),
                ("Recv KB", "recv_kb"),
                ("Sent KB", "sent_kb"),
                ("Time", "time"),
                ("Peer", "peer"),
            ],
        ),
        ("groups", Value::Array(rows)) => table(
            rows,
            &[
                ("Name", "name"),
                ("Sessions", "sessions"),
                ("Cost", "cost"),
                ("Retained", "retained_cost"),
                ("Reqs", "reqs"),
                ("Subs", "subs"),
                ("Recv KB", "recv_kb"),
                ("Sent KB", "sent_kb"),
            ],
        ),
        ("peers", Value::Array(rows)) => table(
            rows,
            &[
                ("Host", "host"),
                ("Status", "status"),
                ("TCP", "tcp_port"),
                ("SSL", "ssl_port"),
                ("Last Good", "last_good"),
                ("Last Try", "last_try"),
                ("Tries", "tries"),
                ("Source", "source"),
                ("IP Address", "ip"),
            ],
        ),
        (_, Value::String(s)) => format!("{s}\n"),
        (_, Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .map(|s| format!("{}\n", s.as_str().unwrap_or_default()))
            .collect(),
        (_, other) => format!(
            "{}\n",
            serde_json::to_string_pretty(other).unwrap_or_else(|_| other.to_string())
        ),
    }
}

/// A left-aligned text table; `time` columns in seconds are shown as durations.
fn table(rows: &[Value], columns: &[(&str, &str)]) -> String {
    if rows.is_empty() {
        return "(none)\n".to_string();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|(_, key)| cell(key, &row[*key]))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (title, _))| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([title.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let line = |out: &mut String, values: Vec<&str>| {
        let text: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        out.push_str(text.join("  ").trim_end());
        out.push('\n');
    };
    line(&mut out, columns.iter().map(|(t, _)| *t).collect());
    for r in &cells {
        line(&mut out, r.iter().map(String::as_str).collect());
    }
    out
}

fn cell(key: &str, v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) if key == "time" || key.starts_with("last_") => {
            n.as_u64().map_or_else(|| n.to_string(), duration)
        }
        other => other.to_string(),
    }
}

/// Seconds as `1d 02h`, `3h 04m`, `5m 06s` or `7s`.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h:02}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn parses_electrumx_rpc_command_lines() {
        let r = parse_args(&args("-p 8001 query -l 5 Kaddr 76a914"))
            .unwrap()
            .unwrap();
        assert_eq!(r.port, 8001);
        assert_eq!(r.params, json!({"items": ["Kaddr", "76a914"], "limit": 5}));
        let r = parse_args(&args("disconnect 3 4")).unwrap().unwrap();
        assert_eq!(
            (r.port, r.params),
            (8000, json!({"session_ids": ["3", "4"]}))
        );
        assert!(parse_args(&args("reorg x"))
            .unwrap_err()
            .contains("not a number"));
        // What the server would refuse is refused here, before connecting.
        assert!(parse_args(&args("reorg 0")).is_err());
        assert!(parse_args(&args("query -l 18446744073709551615 x")).is_err());
        assert!(parse_args(&args("keva_ban_tx abc")).is_err());
        assert!(parse_args(&args("frobnicate"))
            .unwrap_err()
            .contains("unknown command"));
        assert!(parse_args(&args("--port 0 getinfo")).is_err());
        assert_eq!(parse_args(&args("--help")).unwrap(), None);
    }

    #[test]
    fn tables_align_and_durations_read_well() {
        let rows = vec![json!({"id": 12, "peer": "1.2.3.4:5", "time": 3725})];
        let t = table(&rows, &[("ID", "id"), ("Time", "time"), ("Peer", "peer")]);
        assert_eq!(t, "ID  Time    Peer\n12  1h 02m  1.2.3.4:5\n");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(90_000), "1d 01h");
    }
}
