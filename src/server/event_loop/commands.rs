//! The admin commands the event loop answers from its own state (sessions, groups, logging),
//! the routing of the others to the admin thread, and the loop's metrics and log summary.

use super::super::admin::{self, AdminJob, APP_COMMANDS};
use super::super::metrics::{self, Live};
use super::super::peers::{PeerMsg, PeerReport};
use super::super::pool::{Job, Route, Task};
use super::super::settings::Level;
use super::EventLoop;
use crate::jsonrpc::{bind_params, RpcError};
use serde_json::{json, Value};
use std::time::Instant;

impl EventLoop {
    /// Answers or forwards one request of an admin session.
    pub(super) fn admin_request(&mut self, index: usize, job: Job) {
        let Task::Call { id, method, params } = job.task else {
            return;
        };
        let route = job.route;
        let local = match method.as_str() {
            "sessions" => bind_params(&method, &params, &[], &[]).map(|_| self.session_table()),
            "groups" => bind_params(&method, &params, &[], &[]).map(|_| self.group_table()),
            "disconnect" => admin::session_ids(&method, &params)
                .map(|ids: Vec<u64>| self.disconnect(index, &ids)),
            "peers" => bind_params(&method, &params, &[], &[])
                .map(|_| Value::Array(self.peer_reports.iter().map(PeerReport::row).collect())),
            "add_peer" => match &self.peers {
                Some(tx) => {
                    let _ = tx.send(PeerMsg::AdminAdd { route, id, params });
                    return;
                }
                None => Err(RpcError::bad_request(
                    "add_peer: peer discovery is off (PEER_DISCOVERY)",
                )),
            },
            "log" => {
                admin::session_ids(&method, &params).map(|ids: Vec<u64>| self.toggle_log(&ids))
            }
            "getinfo" if self.admin.is_some() => {
                let local = self.getinfo_local();
                return self.forward(route, id, method, params, local);
            }
            "getinfo" => bind_params(&method, &params, &[], &[]).map(|_| self.getinfo_local()),
            m if APP_COMMANDS.contains(&m) => {
                if self.admin.is_some() {
                    return self.forward(route, id, method, params, Value::Null);
                }
                Err(RpcError::bad_request(format!(
                    "{m} is not available: this server runs without the chain admin interface"
                )))
            }
            other => Err(RpcError::unknown_method(other)),
        };
        self.answer_locally(route, id, &local);
    }

    /// Sends an answer computed on the loop back through the done channel.
    fn answer_locally(
        &mut self,
        route: Route,
        id: Option<Value>,
        result: &Result<Value, RpcError>,
    ) {
        let _ = self.done_tx.send(admin::answer(route, id, result));
        self.wake.wake();
    }

    fn forward(
        &mut self,
        route: Route,
        id: Option<Value>,
        command: String,
        params: Value,
        local: Value,
    ) {
        let job = AdminJob {
            route,
            id: id.clone(),
            command,
            params,
            local,
        };
        let sent = self.admin.as_ref().is_some_and(|a| a.send(job).is_ok());
        if !sent {
            let e = RpcError::internal();
            self.answer_locally(route, id, &Err(e));
        }
    }

    /// One row per Electrum session, as `electrumx_rpc sessions` shows them.
    fn session_table(&self) -> Value {
        let now = Instant::now();
        let anon = self.settings.anon_logs;
        let rows: Vec<Value> = self
            .conns
            .iter()
            .flatten()
            .filter(|c| !c.session.is_admin() && c.proxy.is_none())
            .map(|c| {
                let s = &c.session;
                let st = s.stats();
                let mut flags = c.protocol.name().to_uppercase();
                if s.logging() {
                    flags.push('L');
                }
                json!({
                    "id": s.serial(),
                    "flags": flags,
                    "client": s.client_name(),
                    "proto": s.protocol_version(),
                    "cost": (s.cost() * 10.0).round() / 10.0,
                    "reqs": s.pending_requests(),
                    "requests": st.requests,
                    "errors": st.errors,
                    "subs": s.subscription_count(),
                    "recv_kb": st.bytes_in / 1024,
                    "sent_kb": st.bytes_out / 1024,
                    "time": now.saturating_duration_since(c.since).as_secs(),
                    "peer": admin::show_addr(c.peer, anon),
                })
            })
            .collect();
        Value::Array(rows)
    }

    /// One row per subnet group with cost.
    fn group_table(&mut self) -> Value {
        let now = Instant::now();
        let keys: Vec<_> = self.groups.keys().copied().collect();
        let mut rows = Vec::new();
        for g in keys {
            let total = self.group_total(g, now);
            let Some(group) = self.groups.get_mut(&g) else {
                continue;
            };
            let retained = group.retained.value(now, &self.settings.limits);
            let members: Vec<usize> = group.members.clone();
            let (mut subs, mut recv, mut sent, mut reqs) = (0, 0, 0, 0);
            for m in &members {
                if let Some(Some(c)) = self.conns.get(*m) {
                    subs += c.session.subscription_count();
                    reqs += c.session.pending_requests();
                    recv += c.session.stats().bytes_in;
                    sent += c.session.stats().bytes_out;
                }
            }
            let name = if self.settings.anon_logs {
                format!("xx.xx.xx.xx/{}", g.1)
            } else {
                format!("{}/{}", g.0, g.1)
            };
            rows.push(json!({
                "name": name,
                "sessions": members.len(),
                "cost": (total * 10.0).round() / 10.0,
                "retained_cost": (retained * 10.0).round() / 10.0,
                "reqs": reqs,
                "subs": subs,
                "recv_kb": recv / 1024,
                "sent_kb": sent / 1024,
            }));
        }
        Value::Array(rows)
    }

    fn disconnect(&mut self, asking: usize, ids: &[u64]) -> Value {
        let mut out = Vec::new();
        for id in ids {
            let found = (0..self.conns.len()).find(|i| {
                *i != asking
                    && matches!(&self.conns[*i], Some(c) if c.session.serial() == *id && !c.session.is_admin())
            });
            match found {
                Some(i) => {
                    if let Some(Some(c)) = self.conns.get_mut(i) {
                        c.session.abort();
                    }
                    self.close(i);
                    out.push(format!("disconnected {id}"));
                }
                None => out.push(format!("unknown session: {id}")),
            }
        }
        json!(out)
    }

    fn toggle_log(&mut self, ids: &[u64]) -> Value {
        let mut out = Vec::new();
        for id in ids {
            let conn = self
                .conns
                .iter_mut()
                .flatten()
                .find(|c| c.session.serial() == *id && !c.session.is_admin());
            match conn {
                Some(c) => {
                    let on = !c.session.logging();
                    c.session.set_logging(on);
                    out.push(format!("log {id}: {on}"));
                }
                None => out.push(format!("unknown session: {id}")),
            }
        }
        json!(out)
    }

    /// Live figures over the open sessions.
    fn live(&mut self) -> Live {
        let now = Instant::now();
        let mut live = Live {
            uptime: now.saturating_duration_since(self.started).as_secs(),
            groups: self.groups.len() as u64,
            ..Live::default()
        };
        for c in self
            .conns
            .iter()
            .flatten()
            .filter(|c| !c.session.is_admin())
        {
            let st = c.session.stats();
            *live.sessions.entry(c.protocol.name()).or_default() += 1;
            let subs = c.session.subscription_count() as u64;
            live.subscriptions += subs;
            live.subscribed += u64::from(subs > 0);
            live.errors += st.errors;
            live.bytes_in += st.bytes_in;
            live.bytes_out += st.bytes_out;
            live.cost += c.session.cost();
            live.pending += c.session.pending_requests() as u64;
        }
        self.peer_counts(&mut live);
        live
    }

    /// The server's part of `getinfo`.
    fn getinfo_local(&mut self) -> Value {
        let live = self.live();
        let logged = self
            .conns
            .iter()
            .flatten()
            .filter(|c| c.session.logging())
            .count() as u64;
        let total: u64 = self.counters.requests.values().sum();
        json!({
            "version": self.settings.server_version,
            "pid": std::process::id(),
            "uptime": live.uptime,
            "sessions": admin::sessions_info(
                self.count as u64,
                live.subscribed,
                live.errors + self.counters.closed_errors,
                logged,
                live.pending,
                live.subscriptions,
            ),
            "groups": live.groups,
            "peers": {"good": live.peers_good, "known": live.peers_known},
            "request total": total,
            "request counts": self.counters.requests,
        })
    }

    /// The server's metrics in the Prometheus text format.
    pub(super) fn render_metrics(&mut self) -> String {
        let live = self.live();
        metrics::render(&self.counters, &live)
    }

    /// The periodic `LOG_SESSIONS` line.
    pub(super) fn log_summary(&mut self, _now: Instant) {
        let live = self.live();
        let total: u64 = self.counters.requests.values().sum();
        let by_service: Vec<String> = live
            .sessions
            .iter()
            .map(|(p, n)| format!("{p} {n}"))
            .collect();
        let line = format!(
            "sessions: {} ({}), with subscriptions {}, subscriptions {}, groups {}, \
             requests {total}, errors {}, pending {}, peers {}",
            self.count,
            if by_service.is_empty() {
                "none".to_string()
            } else {
                by_service.join(", ")
            },
            live.subscribed,
            live.subscriptions,
            live.groups,
            live.errors + self.counters.closed_errors,
            live.pending,
            live.peers_good,
        );
        self.settings.logger.log(Level::Info, &line);
    }

    fn peer_counts(&self, live: &mut Live) {
        live.peers_known = self.peer_reports.len() as u64;
        live.peers_good = self
            .peer_reports
            .iter()
            .filter(|p| p.status == "good")
            .count() as u64;
    }

    /// Routes a client's `server.add_peer` to the peer manager (false when discovery is off).
    pub(super) fn add_peer_request(&mut self, index: usize, job: Job) {
        let Task::Call { id, params, .. } = job.task else {
            return;
        };
        let caller = match self.conns.get(index) {
            Some(Some(c)) => c.peer.ip(),
            _ => return,
        };
        match &self.peers {
            Some(tx) => {
                let msg = PeerMsg::AddPeer {
                    route: job.route,
                    id,
                    params,
                    caller,
                };
                let _ = tx.send(msg);
            }
            None => self.answer_locally(job.route, id, &Ok(Value::Bool(false))),
        }
    }

    /// Takes a new peer table: verified peers join `server.peers.subscribe`.
    pub(super) fn set_peers(&mut self, reports: Vec<PeerReport>) {
        let mut list: Vec<Value> = self.static_peers.as_array().cloned().unwrap_or_default();
        list.extend(
            reports
                .iter()
                .filter(|p| p.status == "good")
                .map(PeerReport::subscribe_entry),
        );
        self.settings.peers = Value::Array(list);
        self.peer_reports = reports;
    }
}
