//! The admin interface end to end: `keva-electrum rpc` commands against a live server whose
//! chain commands are answered by a test `Admin` implementation.

mod server_common;

use keva_electrum::admin::{cli, parse_args, render, send};
use keva_electrum::jsonrpc::RpcError;
use keva_electrum::server::{self, Admin, Level, Logger, Protocol, Settings};
use parking_lot::Mutex;
use serde_json::{json, Value};
use server_common::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Records each call and answers like a small chain would.
#[derive(Default)]
struct TestAdmin {
    calls: Mutex<Vec<String>>,
    banned: Mutex<Vec<String>>,
}

impl Admin for TestAdmin {
    fn getinfo(&self) -> Value {
        json!({"coin": "Kevacoin", "daemon height": 120, "db height": 118})
    }
    fn daemon_url(&self, url: Option<&str>) -> Result<Value, RpcError> {
        self.calls.lock().push(format!("daemon_url {url:?}"));
        Ok(json!(format!(
            "now using daemon at {}",
            url.unwrap_or("http://127.0.0.1:9337/")
        )))
    }
    fn stop(&self) -> Result<Value, RpcError> {
        self.calls.lock().push("stop".into());
        Ok(json!("stopping"))
    }
    fn reorg(&self, count: u32) -> Result<Value, RpcError> {
        self.calls.lock().push(format!("reorg {count}"));
        Ok(json!(format!("scheduled a reorg of {count} blocks")))
    }
    fn query(&self, items: &[String], limit: usize) -> Result<Value, RpcError> {
        if items.iter().any(|i| i == "slow") {
            std::thread::sleep(Duration::from_millis(800));
        }
        self.calls.lock().push(format!("query {items:?} {limit}"));
        Ok(json!(items
            .iter()
            .map(|i| format!("{i}: balance 0 KVA"))
            .collect::<Vec<_>>()))
    }
    fn keva_ban_tx(&self, txid: &str) -> Result<Value, RpcError> {
        let mut b = self.banned.lock();
        if b.iter().any(|t| t == txid) {
            return Err(RpcError::bad_request(format!("{txid} is already banned")));
        }
        b.push(txid.to_string());
        Ok(json!(format!("banned {txid}")))
    }
    fn keva_unban_tx(&self, txid: &str) -> Result<Value, RpcError> {
        self.banned.lock().retain(|t| t != txid);
        Ok(json!(format!("unbanned {txid}")))
    }
    fn metrics(&self) -> String {
        "keva_electrum_tip_height 120\n".to_string()
    }
}

struct Live {
    server: server::ServerHandle,
    admin: Arc<TestAdmin>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Live {
    fn tcp(&self) -> std::net::SocketAddr {
        self.server.local_addrs()[0]
    }
    fn port(&self) -> u16 {
        self.server.local_addrs()[1].port()
    }
    /// Runs a command line through the CLI's parser and sender; the rendered text or the
    /// error (the parser's own, or the server's).
    fn run(&self, line: &str) -> Result<String, String> {
        let mut args = vec!["-p".to_string(), self.port().to_string()];
        args.extend(line.split_whitespace().map(str::to_string));
        let req = parse_args(&args)?.expect("a command, not --help");
        match send(req.port, &req.method, &req.params).unwrap() {
            Ok(v) => Ok(render(&req.method, &v)),
            Err(e) => Err(e["message"].as_str().unwrap_or_default().to_string()),
        }
    }
    fn exit_code(&self, line: &str) -> i32 {
        let mut args = vec!["--port".to_string(), self.port().to_string()];
        args.extend(line.split_whitespace().map(str::to_string));
        cli(&args)
    }
}

fn live(with_admin: bool) -> Live {
    let mut s: Settings = settings(&[Protocol::Tcp, Protocol::Rpc]);
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    s.logger = Logger(Arc::new(move |l: Level, m: &str| {
        sink.lock().push(format!("{}: {m}", l.name()))
    }));
    let admin = Arc::new(TestAdmin::default());
    let dyn_admin: Option<Arc<dyn Admin>> =
        with_admin.then(|| Arc::clone(&admin) as Arc<dyn Admin>);
    let server = server::start_with_admin(s, TestBackend::new(), dyn_admin).unwrap();
    Live { server, admin, log }
}

#[test]
fn session_commands_list_log_and_disconnect_clients() {
    let l = live(true);
    let mut a = tcp(l.tcp());
    a.call("server.version", json!(["Electrum 4.5.8", "1.4"]), json!(1));
    a.call(
        "blockchain.scripthash.subscribe",
        json!(["ab".repeat(32)]),
        json!(2),
    );
    let mut b = tcp(l.tcp());
    b.call("server.ping", json!([]), json!(1));

    let table = l.run("sessions").unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ID  "), "{table}");
    assert_eq!(
        lines.len(),
        3,
        "a header and two sessions, not the admin one: {table}"
    );
    let row_a = lines
        .iter()
        .find(|r| r.contains("Electrum 4.5.8"))
        .expect("client name shown");
    assert!(
        row_a.contains("TCP") && row_a.contains("1.4") && row_a.contains("127.0.0.1:"),
        "{row_a}"
    );
    let id_a: u64 = row_a.split_whitespace().next().unwrap().parse().unwrap();

    // Loopback clients form no subnet group.
    assert_eq!(l.run("groups").unwrap(), "(none)\n");

    assert_eq!(
        l.run(&format!("log {id_a}")).unwrap(),
        format!("log {id_a}: true\n")
    );
    assert!(l.run("sessions").unwrap().contains("TCPL"));
    a.call("echo", json!(["logged"]), json!(3));
    assert!(
        l.log
            .lock()
            .iter()
            .any(|m| m.contains(&format!("[{id_a}] echo ['logged']"))),
        "{:?}",
        l.log.lock()
    );

    assert_eq!(
        l.run(&format!("disconnect {id_a} 99999")).unwrap(),
        format!("disconnected {id_a}\nunknown session: 99999\n")
    );
    assert!(a.closed());
    assert_eq!(b.call("server.ping", json!([]), json!(2))["id"], json!(2));
    assert_eq!(l.run("sessions").unwrap().lines().count(), 2);
}

#[test]
fn chain_commands_reach_the_admin_implementation() {
    let l = live(true);
    let _c = tcp(l.tcp());
    std::thread::sleep(Duration::from_millis(50));
    let info: Value = serde_json::from_str(&l.run("getinfo").unwrap()).unwrap();
    assert_eq!(info["daemon height"], json!(120));
    assert_eq!(info["sessions"]["count"], json!(1));
    assert_eq!(info["pid"], json!(std::process::id()));

    assert_eq!(
        l.run("daemon_url").unwrap(),
        "now using daemon at http://127.0.0.1:9337/\n"
    );
    assert_eq!(
        l.run("daemon_url http://u:p@10.0.0.2:9337/").unwrap(),
        "now using daemon at http://u:p@10.0.0.2:9337/\n"
    );
    assert_eq!(l.run("reorg").unwrap(), "scheduled a reorg of 3 blocks\n");
    assert_eq!(l.run("reorg 5").unwrap(), "scheduled a reorg of 5 blocks\n");
    assert_eq!(
        l.run("query --limit 10 KaddrOne 76a914").unwrap(),
        "KaddrOne: balance 0 KVA\n76a914: balance 0 KVA\n"
    );
    let txid = "ab".repeat(32);
    assert_eq!(
        l.run(&format!("keva_ban_tx {txid}")).unwrap(),
        format!("banned {txid}\n")
    );
    assert_eq!(
        l.run(&format!("keva_ban_tx {txid}")).unwrap_err(),
        format!("{txid} is already banned")
    );
    assert_eq!(
        l.run(&format!("keva_unban_tx {txid}")).unwrap(),
        format!("unbanned {txid}\n")
    );
    assert!(l
        .run("keva_ban_tx nothex")
        .unwrap_err()
        .contains("not a transaction id"));
    assert_eq!(l.run("stop").unwrap(), "stopping\n");
    assert_eq!(
        *l.admin.calls.lock(),
        vec![
            "daemon_url None".to_string(),
            "daemon_url Some(\"http://u:p@10.0.0.2:9337/\")".to_string(),
            "reorg 3".to_string(),
            "reorg 5".to_string(),
            "query [\"KaddrOne\", \"76a914\"] 10".to_string(),
            "stop".to_string(),
        ]
    );
    // Exit codes as a script sees them.
    assert_eq!(l.exit_code("getinfo"), 0);
    assert_eq!(l.exit_code("keva_unban_tx zz"), 2);
    assert_eq!(l.exit_code("reorg many"), 2);
    assert_eq!(cli(&["-p".into(), "1".into(), "getinfo".into()]), 1);
}

#[test]
fn slow_admin_commands_do_not_hold_up_clients() {
    let l = live(true);
    let port = l.port();
    let slow = std::thread::spawn(move || {
        send(port, "query", &json!({"items": ["slow"]}))
            .unwrap()
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(100));
    let mut c = tcp(l.tcp());
    let t0 = Instant::now();
    assert_eq!(c.call("server.ping", json!([]), json!(1))["id"], json!(1));
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(slow.join().unwrap(), json!(["slow: balance 0 KVA"]));
}

#[test]
fn without_an_admin_backend_chain_commands_say_so() {
    let l = live(false);
    assert!(l.run("stop").unwrap_err().contains("not available"));
    let info: Value = serde_json::from_str(&l.run("getinfo").unwrap()).unwrap();
    assert_eq!(info["sessions"]["count"], json!(0));
    assert_eq!(l.run("sessions").unwrap(), "(none)\n");
}

#[test]
fn the_admin_service_refuses_non_loopback_addresses_unless_forced() {
    let mut s = settings(&[Protocol::Rpc]);
    s.services[0].addr = "0.0.0.0:0".parse().unwrap();
    let e = server::start(s.clone(), TestBackend::new())
        .err()
        .expect("refused");
    assert!(
        e.0.contains("loopback") && e.0.contains("rpc://127.0.0.1:8000"),
        "{e}"
    );
    s.rpc_allow_remote = true;
    let server = server::start(s, TestBackend::new()).expect("forced");
    let port = server.local_addrs()[0].port();
    assert_eq!(send(port, "sessions", &json!({})).unwrap(), Ok(json!([])));
}

#[test]
fn unknown_commands_and_bad_arguments_are_errors_not_disconnects() {
    let l = live(true);
    let port = l.port();
    let e = send(port, "frobnicate", &json!([])).unwrap().unwrap_err();
    assert_eq!(e["code"], json!(-32601));
    let e = send(port, "reorg", &json!({"count": "x"}))
        .unwrap()
        .unwrap_err();
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("positive whole number"));
    // Electrum methods are not served on the admin port.
    let e = send(port, "server.version", &json!([]))
        .unwrap()
        .unwrap_err();
    assert_eq!(e["code"], json!(-32601));
}
