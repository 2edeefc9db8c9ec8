//! The peer table: which servers are known, which are good, when each is checked next; the
//! rate limit of `server.add_peer`; what the loop lists in `server.peers.subscribe`.

use super::names::{bucket, parse_add_peer, parse_real_name, peer_key, port_of, usable_ip};
use super::{Check, Context, PeerMsg, PeerReport, Verdict, MAX_PEERS, MAX_TRIES};
use crate::jsonrpc::RpcError;
use crate::server::admin::{self, bad};
use crate::server::pool::Route;
use crate::server::settings::{Discovery, Level};
use crossbeam_channel::{Receiver, Sender};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

/// One row of the table.
struct Peer {
    host: String,
    tcp: Option<u16>,
    ssl: Option<u16>,
    ip: Option<IpAddr>,
    status: &'static str,
    error: String,
    source: String,
    protocol_max: String,
    last_good: Option<Instant>,
    last_try: Option<Instant>,
    next_check: Instant,
    tries: u32,
    checking: bool,
}

/// The peer table and its thread: learns peers, schedules their checks, takes the verdicts,
/// answers `add_peer` and publishes the table to the loop.
pub(super) struct Manager {
    ctx: Context,
    peers: HashMap<String, Peer>,
    checks: Sender<Check>,
    recent: HashMap<IpAddr, Instant>,
}

impl Manager {
    /// A table seeded from the settings (when discovery is on).
    pub(super) fn new(ctx: Context, checks: Sender<Check>) -> Self {
        let mut m = Manager {
            ctx,
            peers: HashMap::new(),
            checks,
            recent: HashMap::new(),
        };
        if m.ctx.settings.discovery == Discovery::On {
            for seed in m.ctx.settings.seeds.clone() {
                if let Ok((host, tcp, ssl)) = parse_real_name(&seed) {
                    m.learn(host, tcp, ssl, "seed".to_string());
                }
            }
        }
        m
    }

    /// Serves messages and verdicts until either channel closes.
    pub(super) fn run(mut self, msgs: &Receiver<PeerMsg>, verdicts: &Receiver<Verdict>) {
        self.publish();
        loop {
            self.schedule();
            crossbeam_channel::select! {
                recv(msgs) -> msg => match msg {
                    Ok(m) => self.on_msg(m),
                    Err(_) => return,
                },
                recv(verdicts) -> v => match v {
                    Ok(v) => self.on_verdict(v),
                    Err(_) => return,
                },
                default(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Sends due peers to the verifier.
    fn schedule(&mut self) {
        let now = Instant::now();
        for (key, p) in self.peers.iter_mut() {
            if !p.checking && p.status != "refused" && now >= p.next_check {
                p.checking = true;
                let _ = self.checks.send(Check {
                    key: key.clone(),
                    host: p.host.clone(),
                    tcp: p.tcp,
                    ssl: p.ssl,
                });
            }
        }
    }

    fn learn(&mut self, host: String, tcp: Option<u16>, ssl: Option<u16>, source: String) -> bool {
        if self.is_self(&host, tcp, ssl) {
            return false;
        }
        let key = peer_key(&host, tcp, ssl);
        if let Some(p) = self.peers.get_mut(&key) {
            // Known: check it again soon unless it is fine.
            if p.status != "good" {
                p.next_check = Instant::now();
                if p.status == "refused" {
                    p.status = "new";
                }
            }
            return true;
        }
        if self.peers.len() >= MAX_PEERS || (tcp.is_none() && ssl.is_none()) {
            return false;
        }
        self.peers.insert(
            key,
            Peer {
                host,
                tcp,
                ssl,
                ip: None,
                status: "new",
                error: String::new(),
                source,
                protocol_max: String::new(),
                last_good: None,
                last_try: None,
                next_check: Instant::now(),
                tries: 0,
                checking: false,
            },
        );
        true
    }

    fn on_msg(&mut self, msg: PeerMsg) {
        match msg {
            PeerMsg::AddPeer {
                route,
                id,
                params,
                caller,
            } => {
                let accepted = self.add_peer(&params, caller);
                if let Err(why) = &accepted {
                    self.ctx.logger.log(
                        Level::Info,
                        &format!("add_peer from {caller} rejected: {why}"),
                    );
                }
                self.answer(route, id, Ok(json!(accepted.is_ok())));
            }
            PeerMsg::AdminAdd { route, id, params } => {
                let result = self.admin_add(&params);
                self.answer(route, id, result);
            }
        }
        self.publish();
    }

    fn answer(&self, route: Route, id: Option<Value>, result: Result<Value, RpcError>) {
        let _ = self.ctx.done.send(admin::answer(route, id, &result));
        self.ctx.wake.wake();
    }

    /// ElectrumX's checks before accepting a peer for verification.
    fn add_peer(&mut self, params: &Value, caller: IpAddr) -> Result<(), String> {
        if self.ctx.settings.discovery != Discovery::On {
            return Err("peer discovery is off".into());
        }
        let features = match params {
            Value::Array(a) => a.first().cloned().unwrap_or(Value::Null),
            Value::Object(o) => o.get("features").cloned().unwrap_or(Value::Null),
            _ => Value::Null,
        };
        if features["genesis_hash"] != self.ctx.features["genesis_hash"] {
            return Err("different genesis hash".into());
        }
        let Some(hosts) = features["hosts"].as_object() else {
            return Err("no hosts in the features".into());
        };
        let now = Instant::now();
        let bucket = bucket(caller);
        let interval = self.ctx.settings.add_peer_interval;
        self.recent
            .retain(|_, t| now.saturating_duration_since(*t) < interval);
        if self.recent.contains_key(&bucket) {
            return Err("rate limited".into());
        }
        for (host, ports) in hosts {
            let tcp = port_of(&ports["tcp_port"]);
            let ssl = port_of(&ports["ssl_port"]);
            let resolves_to_caller = (host.as_str(), 0)
                .to_socket_addrs()
                .map(|mut a| a.any(|a| a.ip() == caller))
                .unwrap_or(false);
            if !resolves_to_caller {
                continue;
            }
            if !self.usable(caller) {
                return Err(format!("{caller} is a private or loopback address"));
            }
            self.recent.insert(bucket, now);
            self.learn(host.clone(), tcp, ssl, "add_peer".to_string());
            return Ok(());
        }
        Err("no host resolves to the caller's address".into())
    }

    fn admin_add(&mut self, params: &Value) -> Result<Value, RpcError> {
        let (host, tcp, ssl) = parse_add_peer(params)?;
        if self.ctx.settings.discovery != Discovery::On {
            return Err(bad("add_peer: PEER_DISCOVERY is not on"));
        }
        if !self.learn(host.clone(), tcp, ssl, "admin".to_string()) {
            return Err(bad(format!(
                "add_peer: {MAX_PEERS} peers are known already"
            )));
        }
        Ok(json!(format!(
            "peer {host} added; it is listed once verified"
        )))
    }

    /// True for one of this server's own announced services (found in a peer's list).
    fn is_self(&self, host: &str, tcp: Option<u16>, ssl: Option<u16>) -> bool {
        let Some(hosts) = self.ctx.features["hosts"].as_object() else {
            return false;
        };
        hosts.iter().any(|(h, ports)| {
            h.eq_ignore_ascii_case(host)
                && ((tcp.is_some() && port_of(&ports["tcp_port"]) == tcp)
                    || (ssl.is_some() && port_of(&ports["ssl_port"]) == ssl))
        })
    }

    fn usable(&self, ip: IpAddr) -> bool {
        usable_ip(ip, self.ctx.settings.allow_loopback)
    }

    fn on_verdict(&mut self, v: Verdict) {
        let now = Instant::now();
        let reverify = self.ctx.settings.reverify;
        let mut discovered = Vec::new();
        let key = v.key;
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        p.checking = false;
        p.last_try = Some(now);
        match v.result {
            Ok(ok) => {
                if p.status != "good" {
                    self.ctx.logger.log(
                        Level::Info,
                        &format!("peer {} verified at {}", p.host, ok.ip),
                    );
                }
                p.status = "good";
                p.ip = Some(ok.ip);
                p.error.clear();
                p.protocol_max = ok.protocol_max;
                p.last_good = Some(now);
                p.tries = 0;
                p.next_check = now + reverify;
                let source = format!("peer {}", p.host);
                discovered = ok
                    .peers
                    .into_iter()
                    .map(|(h, t, s)| (h, t, s, source.clone()))
                    .collect();
            }
            Err(e) => {
                p.tries += 1;
                p.status = if e.starts_with("refused:") {
                    "refused"
                } else {
                    "bad"
                };
                p.error = e;
                // Back off: 1, 2, 4 … minutes, at most the re-verification period.
                let backoff = Duration::from_secs(60 << p.tries.min(10)).min(reverify);
                p.next_check = now + backoff;
                if p.tries >= MAX_TRIES {
                    self.peers.remove(&key);
                }
            }
        }
        for (h, t, s, source) in discovered {
            self.learn(h, t, s, source);
        }
        self.publish();
    }

    fn publish(&self) {
        let now = Instant::now();
        let ago = |t: Option<Instant>| t.map(|t| now.saturating_duration_since(t).as_secs());
        let mut reports: Vec<PeerReport> = self
            .peers
            .values()
            .map(|p| PeerReport {
                host: p.host.clone(),
                ip: p.ip,
                tcp_port: p.tcp,
                ssl_port: p.ssl,
                status: p.status,
                error: p.error.clone(),
                source: p.source.clone(),
                protocol_max: p.protocol_max.clone(),
                last_good: ago(p.last_good),
                last_try: ago(p.last_try),
                tries: p.tries,
            })
            .collect();
        reports.sort_by(|a, b| a.host.cmp(&b.host));
        (self.ctx.publish)(reports);
    }
}
