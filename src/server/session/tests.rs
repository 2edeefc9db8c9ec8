//! Unit tests of the session state machine, driven without sockets or threads: the worker side
//! is played by running each emitted job through `pool::run` with a small in-memory backend.

use super::requests::parse_scripthash;
use super::*;
use crate::jsonrpc::{Answer, Backend};
use crate::server::pool;
use crate::server::pool::{Route, Task};
use crate::server::{ClientFilter, SERVER_VERSION};
use std::time::Duration;

/// In-memory backend: `echo` returns its params, `big` a string of N bytes, `fail` a code-1
/// error; statuses come from a fixed table.
struct Fixture {
    status: std::collections::HashMap<[u8; 32], Option<String>>,
}

impl Backend for Fixture {
    type Worker = ();
    fn new_worker(&self) {}
    fn call(&self, _: &mut (), method: &str, params: &Value) -> Answer {
        match method {
            "echo" => Answer::ok(params.clone()),
            "big" => {
                let n = params[0].as_u64().unwrap_or(0) as usize;
                Answer::ok(Value::String("x".repeat(n)))
            }
            "fail" => Answer::err(RpcError::bad_request("nope")),
            other => Answer::err(RpcError::unknown_method(other)),
        }
    }
    fn scripthash_status(&self, _: &mut (), sh: &[u8; 32]) -> Result<Option<String>, RpcError> {
        match self.status.get(sh) {
            Some(s) => Ok(s.clone()),
            None => Err(RpcError::bad_request("history too large")),
        }
    }
    fn tip(&self, _: &mut ()) -> Result<Value, RpcError> {
        Ok(json!({"height": 7, "hex": "00"}))
    }
}

struct Harness {
    session: Session,
    settings: Settings,
    tip: Option<Value>,
    epoch: u64,
    now: Instant,
    backend: Fixture,
    jobs: Vec<Job>,
    last: Effects,
}

const SH: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn sh_bytes() -> [u8; 32] {
    parse_scripthash(Some(&json!(SH))).unwrap().0
}

impl Harness {
    fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    fn with_limits(limits: Limits) -> Self {
        let now = Instant::now();
        let mut status = std::collections::HashMap::new();
        status.insert(sh_bytes(), Some("aa".repeat(32)));
        Harness {
            session: Session::new(3, 42, now),
            settings: Settings {
                limits,
                banner: "hello".into(),
                ..Settings::default()
            },
            tip: None,
            epoch: 0,
            now,
            backend: Fixture { status },
            jobs: Vec::new(),
            last: Effects::default(),
        }
    }

    fn tick(&mut self) {
        let mut eff = Effects::default();
        let shared = Shared {
            settings: &self.settings,
            tip: self.tip.as_ref(),
            epoch: self.epoch,
        };
        self.session.tick(self.now, &shared, &mut eff);
        self.absorb(eff);
    }

    fn absorb(&mut self, eff: Effects) {
        self.jobs.extend(eff.jobs.iter().cloned());
        self.last = eff;
    }

    fn send(&mut self, bytes: &[u8]) {
        let mut eff = Effects::default();
        let shared = Shared {
            settings: &self.settings,
            tip: self.tip.as_ref(),
            epoch: self.epoch,
        };
        self.session.receive(bytes, self.now, &shared, &mut eff);
        self.absorb(eff);
    }

    /// Runs the oldest pending job on the fixture backend and delivers the answer.
    fn work_one(&mut self) -> bool {
        if self.jobs.is_empty() {
            return false;
        }
        let job = self.jobs.remove(0);
        let (outcome, cost) = pool::run(&self.backend, &mut (), job.task);
        let Route::Session { tag, serial, token } = job.route else {
            panic!("session jobs only");
        };
        assert_eq!((token, serial), (3, 42));
        let mut eff = Effects::default();
        let shared = Shared {
            settings: &self.settings,
            tip: self.tip.as_ref(),
            epoch: self.epoch,
        };
        self.session
            .complete(tag, outcome, cost, self.now, &shared, &mut eff);
        self.absorb(eff);
        true
    }

    fn work_all(&mut self) {
        while self.work_one() {}
    }

    fn lines(&mut self) -> Vec<Value> {
        let out = self.session.output().to_vec();
        self.session.consume_output(out.len());
        assert!(
            out.is_empty() || out.ends_with(b"\n"),
            "every message ends with a newline"
        );
        out.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("server output is JSON"))
            .collect()
    }

    fn one(&mut self) -> Value {
        let mut lines = self.lines();
        assert_eq!(lines.len(), 1, "expected one message, got {lines:?}");
        lines.remove(0)
    }
}

fn err(code: i64, message: &str, id: Value) -> Value {
    json!({"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": id})
}

#[test]
fn ids_are_echoed_with_their_type_and_notifications_get_nothing() {
    let mut h = Harness::new();
    h.send(b"{\"method\":\"server.ping\",\"id\":\"7\"}\n{\"jsonrpc\":\"2.0\",\"method\":\"server.ping\",\"params\":[],\"id\":8}\n");
    assert_eq!(
        h.lines(),
        vec![
            json!({"jsonrpc": "2.0", "result": null, "id": "7"}),
            json!({"jsonrpc": "2.0", "result": null, "id": 8})
        ]
    );
    h.send(b"{\"method\":\"server.ping\"}\n{\"method\":\"server.ping\",\"id\":null}\n");
    h.send(b"{\"method\":\"echo\",\"params\":[1]}\n");
    h.work_all();
    assert!(h.lines().is_empty());
}

#[test]
fn lines_may_be_split_and_pipelined_across_reads() {
    let mut h = Harness::new();
    h.send(b"{\"method\":\"echo\",\"para");
    assert!(h.jobs.is_empty());
    h.send(b"ms\":[1],\"id\":1}\n{\"method\":\"echo\",\"params\":[2],\"id\":2}\n{\"meth");
    assert_eq!(h.jobs.len(), 2);
    h.send(b"od\":\"echo\",\"params\":[3],\"id\":3}\r\n");
    h.work_all();
    let mut ids: Vec<i64> = h
        .lines()
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, vec![1, 2, 3]);
}

#[test]
fn a_batch_is_one_array_holding_every_id_once_all_parts_are_done() {
    let mut h = Harness::new();
    h.send(
        br#"[{"method":"echo","params":["a"],"id":1},{"method":"server.ping","id":"2"},{"method":"echo","params":[]},{"method":"fail","id":3},5]"#,
    );
    h.send(b"\n");
    assert!(h.lines().is_empty(), "nothing before every member is done");
    h.work_all();
    let reply = h.one();
    let items = reply.as_array().expect("an array");
    assert_eq!(items.len(), 4);
    let find = |id: Value| items.iter().find(|i| i["id"] == id).cloned();
    assert_eq!(find(json!(1)).unwrap()["result"], json!(["a"]));
    assert_eq!(find(json!("2")).unwrap()["result"], Value::Null);
    assert_eq!(find(json!(3)).unwrap(), err(1, "nope", json!(3)));
    assert_eq!(
        find(Value::Null).unwrap(),
        err(-32600, "request object must be a dictionary", Value::Null)
    );
    // Only notifications: no output at all.
    h.send(b"[{\"method\":\"server.ping\"},{\"method\":\"echo\"}]\n");
    h.work_all();
    assert!(h.lines().is_empty());
}

#[test]
fn every_protocol_error_has_electrumx_code_and_text() {
    let mut h = Harness::with_limits(Limits {
        cost_hard_limit: 0,
        ..Limits::default()
    });
    h.send(b"\n");
    assert_eq!(h.one(), err(-32700, "invalid JSON", Value::Null));
    h.send(b"garbage{\n");
    assert_eq!(h.one(), err(-32700, "invalid JSON", Value::Null));
    h.send(b"\"\xff\"\n");
    assert_eq!(
        h.one(),
        err(-32700, "messages must be encoded in UTF-8", Value::Null)
    );
    h.send(b"[]\n");
    assert_eq!(h.one(), err(-32600, "batch is empty", Value::Null));
    h.send(b"3\n");
    assert_eq!(
        h.one(),
        err(-32600, "request object must be a dictionary", Value::Null)
    );
    h.send(b"{\"method\":\"nope\",\"id\":1}\n");
    h.work_all();
    assert_eq!(h.one(), err(-32601, "unknown method \"nope\"", json!(1)));
    h.send(b"{\"method\":\"server.ping\",\"params\":[1],\"id\":2}\n");
    assert_eq!(
        h.one(),
        err(
            -32602,
            "1 argument passed to method server.ping taking at most 0",
            json!(2)
        )
    );
    h.send(b"{\"method\":\"blockchain.scripthash.subscribe\",\"params\":[\"zz\"],\"id\":3}\n");
    assert_eq!(h.one(), err(1, "zz is not a valid script hash", json!(3)));
    assert_eq!(h.session.closing(), None, "errors keep the connection");
}

#[test]
fn version_negotiation_follows_electrumx() {
    let mut h = Harness::new();
    h.send(b"{\"method\":\"server.version\",\"params\":[\"bluewallet\",\"1.4\"],\"id\":0}\n");
    assert_eq!(h.one()["result"], json!([SERVER_VERSION, "1.4"]));
    h.send(b"{\"method\":\"server.version\",\"params\":[\"x\",\"1.4\"],\"id\":1}\n");
    assert_eq!(h.one(), err(1, "server.version already sent", json!(1)));
    // 1.4 sessions have no unsubscribe.
    h.send(
        format!(
            "{{\"method\":\"blockchain.scripthash.unsubscribe\",\"params\":[\"{SH}\"],\"id\":2}}\n"
        )
        .as_bytes(),
    );
    assert_eq!(
        h.one(),
        err(
            -32601,
            "unknown method \"blockchain.scripthash.unsubscribe\"",
            json!(2)
        )
    );

    let mut h = Harness::new();
    h.send(b"{\"method\":\"server.version\",\"params\":[\"e\",[\"1.4\",\"1.6\"]],\"id\":0}\n");
    assert_eq!(h.one()["result"][1], json!("1.4.2"));
    assert_eq!(h.session.negotiated(), [1, 4, 2]);

    let mut h = Harness::new();
    h.send(b"{\"method\":\"server.version\",\"params\":[\"e\",[\"1.2\",\"1.3\"]],\"id\":0}\n");
    assert_eq!(
        h.one(),
        err(1, "unsupported protocol version: ['1.2', '1.3']", json!(0))
    );
    assert_eq!(h.session.closing(), Some(Closing::Flush));
    assert!(h.session.finished());

    let mut h = Harness::new();
    h.send(b"{\"method\":\"server.version\",\"params\":[],\"id\":0}\n");
    assert_eq!(h.one()["result"][1], json!("1.4"));
}

#[test]
fn subscriptions_store_status_and_notify_only_changes_with_the_clients_spelling() {
    let mut h = Harness::new();
    h.send(b"{\"method\":\"server.version\",\"params\":[\"t\",\"1.4.2\"],\"id\":0}\n");
    h.lines();
    let upper = SH.to_uppercase();
    h.send(format!("{{\"method\":\"blockchain.scripthash.subscribe\",\"params\":[\"{upper}\"],\"id\":1}}\n").as_bytes());
    h.work_all();
    assert_eq!(h.one()["result"], json!("aa".repeat(32)));
    assert_eq!(h.last.subscribed, vec![sh_bytes()]);
    let limits = h.settings.limits.clone();
    let mut eff = Effects::default();
    h.session
        .notify_status(&sh_bytes(), &Ok(Some("aa".repeat(32))), &limits, &mut eff);
    assert!(h.lines().is_empty(), "unchanged status is not notified");
    h.session
        .notify_status(&sh_bytes(), &Ok(Some("bb".repeat(32))), &limits, &mut eff);
    assert_eq!(
        h.one(),
        json!({"jsonrpc": "2.0", "method": "blockchain.scripthash.subscribe", "params": [upper, "bb".repeat(32)]})
    );
    h.send(
        format!(
            "{{\"method\":\"blockchain.scripthash.unsubscribe\",\"params\":[\"{SH}\"],\"id\":2}}\n"
        )
        .as_bytes(),
    );
    assert_eq!(h.one()["result"], json!(true));
    assert_eq!(h.last.unsubscribed, vec![sh_bytes()]);
    h.session
        .notify_status(&sh_bytes(), &Ok(Some("cc".repeat(32))), &limits, &mut eff);
    assert!(h.lines().is_empty(), "no notification after unsubscribe");
    h.send(
        format!(
            "{{\"method\":\"blockchain.scripthash.unsubscribe\",\"params\":[\"{SH}\"],\"id\":3}}\n"
        )
        .as_bytes(),
    );
    assert_eq!(h.one()["result"], json!(false));
}

#[test]
fn a_status_computed_across_a_chain_event_is_rechecked() {
    let mut h = Harness::new();
    h.send(
        format!(
            "{{\"method\":\"blockchain.scripthash.subscribe\",\"params\":[\"{SH}\"],\"id\":1}}\n"
        )
        .as_bytes(),
    );
    h.epoch += 1;
    h.work_all();
    assert_eq!(h.last.recheck, vec![sh_bytes()]);
}

#[test]
fn a_failed_status_refuses_the_subscription() {
    let mut h = Harness::new();
    let other = "ff".repeat(32);
    h.send(format!("{{\"method\":\"blockchain.scripthash.subscribe\",\"params\":[\"{other}\"],\"id\":1}}\n").as_bytes());
    h.work_all();
    assert_eq!(h.one(), err(1, "history too large", json!(1)));
    assert!(h.last.subscribed.is_empty());
    assert_eq!(h.session.subscriptions().count(), 0);
}

#[test]
fn headers_subscribe_uses_the_known_tip_or_asks_a_worker() {
    let mut h = Harness::new();
    h.send(b"{\"method\":\"blockchain.headers.subscribe\",\"id\":1}\n");
    assert_eq!(h.jobs.len(), 1);
    h.work_all();
    assert_eq!(h.one()["result"], json!({"height": 7, "hex": "00"}));
    assert_eq!(h.last.tip, Some(json!({"height": 7, "hex": "00"})));
    let limits = h.settings.limits.clone();
    h.session.notify_headers(b"{\"n\":1}", &limits);
    assert_eq!(h.one(), json!({"n": 1}));

    let mut h = Harness::new();
    h.tip = Some(json!({"height": 9, "hex": "11"}));
    h.send(b"{\"method\":\"blockchain.headers.subscribe\",\"params\":[],\"id\":1}\n");
    assert!(h.jobs.is_empty());
    assert_eq!(h.one()["result"], json!({"height": 9, "hex": "11"}));
}

#[test]
fn responses_over_max_send_become_errors() {
    let mut h = Harness::with_limits(Limits {
        max_send: 1000,
        ..Limits::default()
    });
    h.send(b"{\"method\":\"big\",\"params\":[2000],\"id\":1}\n");
    h.work_all();
    assert_eq!(
        h.one(),
        err(-32600, "response too large (over 1,000 bytes", json!(1))
    );
    h.send(b"[{\"method\":\"big\",\"params\":[600],\"id\":1},{\"method\":\"big\",\"params\":[600],\"id\":2}]\n");
    h.work_all();
    let reply = h.one();
    let items = reply.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["result"].as_str().map(str::len), Some(600));
    assert_eq!(
        items[1],
        err(-32600, "response too large (over 1,000 bytes", json!(2))
    );
}

#[test]
fn an_oversized_line_gets_an_error_and_closes() {
    let mut h = Harness::with_limits(Limits {
        max_recv: 100,
        ..Limits::default()
    });
    h.send(&[b'x'; 60]);
    assert_eq!(h.session.closing(), None);
    h.send(&[b'x'; 60]);
    assert_eq!(
        h.one(),
        err(-32600, "request too large (over 100 bytes)", Value::Null)
    );
    assert_eq!(h.session.closing(), Some(Closing::Flush));
    assert!(!h.session.wants_input());
}

#[test]
fn concurrency_is_limited_per_session() {
    let mut h = Harness::with_limits(Limits {
        initial_concurrent: 2,
        ..Limits::default()
    });
    for id in 0..5 {
        h.send(format!("{{\"method\":\"echo\",\"id\":{id}}}\n").as_bytes());
    }
    assert_eq!(h.jobs.len(), 2);
    h.work_one();
    assert_eq!(h.jobs.len(), 2, "one finished, one more started");
    h.work_all();
    assert_eq!(h.lines().len(), 5);
}

#[test]
fn excessive_cost_gets_101_and_closes() {
    let mut h = Harness::with_limits(Limits {
        cost_soft_limit: 100,
        cost_hard_limit: 3000,
        ..Limits::default()
    });
    for _ in 0..4 {
        h.send(b"not json\n");
    }
    assert_eq!(h.session.closing(), Some(Closing::Flush));
    let lines = h.lines();
    assert_eq!(
        lines.last().unwrap(),
        &err(-101, "excessive resource usage", Value::Null)
    );
}

#[test]
fn over_the_soft_limit_requests_are_delayed() {
    let mut h = Harness::with_limits(Limits {
        cost_soft_limit: 100,
        cost_hard_limit: 100_000,
        ..Limits::default()
    });
    h.send(b"x\nx\n"); // 2000 cost
    h.lines();
    h.send(b"{\"method\":\"echo\",\"id\":1}\n");
    assert!(h.jobs.is_empty(), "delayed, not started");
    let wake = h.session.next_wakeup().expect("a wake-up is scheduled");
    assert!(wake > h.now);
    h.now = wake;
    h.tick();
    assert_eq!(h.jobs.len(), 1);
}

#[test]
fn slow_requests_time_out_with_102_and_idle_sessions_close() {
    let mut h = Harness::with_limits(Limits {
        request_timeout: Duration::from_secs(5),
        session_timeout: Duration::from_secs(60),
        ..Limits::default()
    });
    h.send(b"{\"method\":\"echo\",\"id\":1}\n");
    assert_eq!(h.jobs.len(), 1);
    h.now += Duration::from_secs(6);
    h.tick();
    assert_eq!(
        h.one(),
        err(-102, "server busy - request timed out", json!(1))
    );
    h.work_all(); // The late answer is dropped.
    assert!(h.lines().is_empty());
    h.now += Duration::from_secs(60);
    h.tick();
    assert_eq!(h.session.closing(), Some(Closing::Now));
}

#[test]
fn dribbled_bytes_do_not_keep_a_session_alive() {
    let mut h = Harness::with_limits(Limits {
        session_timeout: Duration::from_secs(60),
        ..Limits::default()
    });
    for byte in b"{\"method\":\"echo\"," {
        h.now += Duration::from_secs(5);
        h.send(&[*byte]);
        h.tick();
    }
    assert_eq!(
        h.session.closing(),
        Some(Closing::Now),
        "a partial line is not activity"
    );
}

#[test]
fn eof_drains_pending_work_before_closing() {
    let mut h = Harness::new();
    h.send(b"{\"method\":\"echo\",\"id\":1}\n");
    h.session.on_eof();
    assert!(!h.session.finished());
    h.work_all();
    assert_eq!(h.one()["id"], json!(1));
    assert!(h.session.finished());
}

#[test]
fn the_write_backlog_is_bounded() {
    let mut h = Harness::with_limits(Limits {
        max_write_backlog: 5000,
        ..Limits::default()
    });
    h.send(b"{\"method\":\"big\",\"params\":[3000],\"id\":1}\n{\"method\":\"big\",\"params\":[3000],\"id\":2}\n");
    h.work_one();
    assert_eq!(h.session.closing(), None);
    h.work_one();
    assert_eq!(h.session.closing(), Some(Closing::Now));
}

#[test]
fn settings_answer_the_static_server_methods() {
    let mut h = Harness::new();
    h.send(b"{\"method\":\"server.banner\",\"id\":1}\n{\"method\":\"server.peers.subscribe\",\"id\":3}\n");
    let lines = h.lines();
    assert_eq!(lines[0]["result"], json!("hello"));
    assert_eq!(lines[1]["result"], json!([]));
}

#[test]
fn add_peer_becomes_a_job_for_the_loop_after_its_params_are_checked() {
    let mut h = Harness::new();
    h.send(b"{\"method\":\"server.add_peer\",\"params\":[],\"id\":1}\n");
    assert_eq!(h.lines()[0]["error"]["code"], json!(-32602));
    h.send(b"{\"method\":\"server.add_peer\",\"params\":[{\"hosts\":{}}],\"id\":2}\n");
    let job = h.jobs.last().expect("a job");
    match &job.task {
        Task::Call { method, params, .. } => {
            assert_eq!(method, "server.add_peer");
            assert_eq!(params, &json!([{"hosts": {}}]));
        }
        other => panic!("unexpected task {other:?}"),
    }
}

#[test]
fn messages_never_end_on_a_multiple_of_1024_bytes() {
    let mut h = Harness::new();
    // {"jsonrpc":"2.0","result":"xxx…","id":1} is 36 bytes plus the string, plus the newline.
    let n = 1024 - 37;
    h.send(format!("{{\"method\":\"big\",\"params\":[{n}],\"id\":1}}\n").as_bytes());
    h.work_all();
    let out = h.session.output().to_vec();
    assert_eq!(out.len(), 1025);
    assert!(out.ends_with(b" }\n"));
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["result"].as_str().map(str::len), Some(n));
}

#[test]
fn requests_wait_while_the_client_leaves_its_output_unread() {
    let mut h = Harness::new();
    let big = PAUSE_OUTPUT + 10;
    h.send(format!("{{\"method\":\"big\",\"params\":[{big}],\"id\":1}}\n").as_bytes());
    h.work_all();
    assert!(h.session.output().len() > PAUSE_OUTPUT);
    // Requests that were already read arrive while the reply is unread: they are queued, not
    // handed to the workers, and no wake-up is scheduled for them.
    h.send(b"{\"method\":\"echo\",\"id\":2}\n{\"method\":\"echo\",\"id\":3}\n");
    assert!(h.jobs.is_empty(), "nothing starts while output is paused");
    assert!(!h.session.wants_input());
    assert_eq!(h.session.next_wakeup(), None);
    h.tick();
    assert!(h.jobs.is_empty(), "a tick does not start them either");
    // The client reads: a wake-up is due at once and the tick starts both requests.
    let first = h.lines();
    assert_eq!(first.len(), 1);
    let wake = h
        .session
        .next_wakeup()
        .expect("held requests ask for a wake-up");
    assert!(wake <= h.now);
    h.tick();
    assert_eq!(h.jobs.len(), 2);
    assert_eq!(h.session.next_wakeup(), None, "nothing held any more");
    h.work_all();
    let ids: Vec<Value> = h.lines().iter().map(|l| l["id"].clone()).collect();
    assert_eq!(ids, vec![json!(2), json!(3)]);
}

#[test]
fn drop_client_refuses_matching_wallets_as_electrumx_does() {
    let mut h = Harness::new();
    h.settings.drop_client = Some(ClientFilter::new(r"Electrum 3\.|ancient").unwrap());
    h.send(b"{\"id\":1,\"method\":\"server.version\",\"params\":[\"Electrum 3.3.8\",\"1.4\"]}\n");
    assert_eq!(
        h.one(),
        err(1, "unsupported client: Electrum 3.3.8", json!(1))
    );
    assert_eq!(h.session.closing(), Some(Closing::Flush));
    // Matched from the start of the name, like Python's re.match: "ancient" inside a name is
    // not a match, another version is not either.
    for name in ["Electrum 4.1.5", "not ancient", "Electrum 30"] {
        let mut h = Harness::new();
        h.settings.drop_client = Some(ClientFilter::new(r"Electrum 3\.|ancient").unwrap());
        let line = json!({"id": 2, "method": "server.version", "params": [name, "1.4"]});
        h.send(format!("{line}\n").as_bytes());
        assert_eq!(h.one()["result"][1], json!("1.4"), "{name}");
        assert_eq!(h.session.closing(), None);
        assert_eq!(h.session.client_name(), name);
    }
}
