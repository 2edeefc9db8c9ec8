//! The mio event loop: one thread owning every listener and connection. It moves bytes between
//! sockets and [`Session`]s, jobs to the worker pool and answers back, and chain events out as
//! notifications. It never blocks and never touches the index.

use super::admin::AdminJob;
use super::cost::{group_of, Retained};
use super::metrics::Counters;
use super::peers::{PeerMsg, PeerReport};
use super::pool::{Done, Job, Outcome, Route, Task, Wake};
use super::rpc::encode_notification;
use super::session::{Closing, Effects, Session, Shared};
use super::settings::{Level, Protocol, Settings};
use super::tls::{Reload, TlsReloader};
use super::transport::{ReadResult, Transport};
use super::ws::{WsCodec, WsError};
use crossbeam_channel::{Receiver, Sender};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use serde_json::{json, Value};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::io;
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod commands;

/// Token of the waker.
pub const WAKER: Token = Token(0);
/// First token of the listeners; connections start at [`CONN_BASE`].
const LISTENER_BASE: usize = 1;
const CONN_BASE: usize = 1 << 16;
/// Bytes read from one connection before others get their turn.
const READ_BUDGET: usize = 256 * 1024;
/// How long a closing connection waits for the client to hang up after the last byte.
const LINGER: Duration = Duration::from_secs(2);
/// WebSocket bytes framed ahead of the socket; the rest waits in the session (backpressure).
const WS_AHEAD: usize = 256 * 1024;

/// A change of the chain or mempool, sent by the sync and mempool threads after each commit.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainEvent {
    /// The tip `{"height": n, "hex": "<raw header>"}`; `null` when unchanged or unknown.
    pub tip: Value,
    /// Scripthashes (display byte order, as in [`super::Backend`]) whose history changed.
    pub touched: Vec<[u8; 32]>,
}

/// Messages to the loop from other threads.
pub enum Control {
    /// Notify subscribers.
    Event(ChainEvent),
    /// Stop serving.
    Shutdown,
    /// Re-read the certificate files now; the result goes back on the channel.
    ReloadTls(Sender<Reload>),
    /// Render the server's metrics (Prometheus text) and send them back.
    Metrics(Sender<String>),
    /// The peer table changed.
    Peers(Vec<PeerReport>),
}

/// One listening socket.
pub struct Listener {
    /// The socket.
    pub socket: TcpListener,
    /// What it serves.
    pub protocol: Protocol,
}

struct Conn {
    transport: Transport,
    ws: Option<WsCodec>,
    session: Session,
    protocol: Protocol,
    peer: SocketAddr,
    since: Instant,
    group: Option<(IpAddr, u8)>,
    readable: bool,
    queued_read: bool,
    timer_at: Option<Instant>,
    linger_until: Option<Instant>,
}

struct Group {
    members: Vec<usize>,
    retained: Retained,
}

/// The loop's state.
pub struct EventLoop {
    poll: Poll,
    listeners: Vec<Listener>,
    tls: Option<TlsReloader>,
    next_tls_poll: Instant,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    count: usize,
    next_serial: u64,
    settings: Settings,
    tip: Option<Value>,
    epoch: u64,
    subscribers: HashMap<[u8; 32], Vec<(usize, u64)>>,
    notify_running: HashSet<[u8; 32]>,
    notify_again: HashSet<[u8; 32]>,
    groups: HashMap<(IpAddr, u8), Group>,
    jobs: Sender<Job>,
    done: Receiver<Done>,
    control: Receiver<Control>,
    wake: Wake,
    ready: VecDeque<usize>,
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    scratch: Vec<u8>,
    tick_every: Duration,
    done_tx: Sender<Done>,
    admin: Option<Sender<AdminJob>>,
    peers: Option<Sender<PeerMsg>>,
    peer_reports: Vec<PeerReport>,
    static_peers: Value,
    counters: Counters,
    started: Instant,
    next_summary: Instant,
}

/// The channels and handles the loop is built from.
pub struct Wiring {
    /// Jobs to the pool.
    pub jobs: Sender<Job>,
    /// A sender of answers, for the admin commands the loop answers itself.
    pub done_tx: Sender<Done>,
    /// Admin commands for the admin thread, when the program provides an `Admin`.
    pub admin: Option<Sender<AdminJob>>,
    /// `server.add_peer` calls and admin `add_peer`, when peer discovery is on.
    pub peers: Option<Sender<PeerMsg>>,
    /// Answers from the pool.
    pub done: Receiver<Done>,
    /// Events and shutdown from other threads.
    pub control: Receiver<Control>,
    /// Coalesced wake-ups.
    pub wake: Wake,
}

impl EventLoop {
    /// Builds the loop around an existing `poll` (whose registry holds the waker).
    pub fn new(
        poll: Poll,
        mut listeners: Vec<Listener>,
        tls: Option<TlsReloader>,
        settings: Settings,
        wiring: Wiring,
    ) -> io::Result<Self> {
        for (i, l) in listeners.iter_mut().enumerate() {
            poll.registry().register(
                &mut l.socket,
                Token(LISTENER_BASE + i),
                Interest::READABLE,
            )?;
        }
        let limits = &settings.limits;
        let mut tick_every = Duration::from_secs(1);
        for t in [limits.session_timeout, limits.request_timeout] {
            if !t.is_zero() {
                tick_every = tick_every.min(t / 4);
            }
        }
        let tick_every = tick_every.max(Duration::from_millis(10));
        Ok(EventLoop {
            poll,
            listeners,
            tls,
            next_tls_poll: Instant::now() + settings.tls_poll,
            conns: Vec::new(),
            free: Vec::new(),
            count: 0,
            next_serial: 1,
            tip: None,
            epoch: 0,
            subscribers: HashMap::new(),
            notify_running: HashSet::new(),
            notify_again: HashSet::new(),
            groups: HashMap::new(),
            jobs: wiring.jobs,
            done: wiring.done,
            control: wiring.control,
            wake: wiring.wake,
            ready: VecDeque::new(),
            timers: BinaryHeap::new(),
            scratch: vec![0; 64 * 1024],
            tick_every,
            done_tx: wiring.done_tx,
            admin: wiring.admin,
            peers: wiring.peers,
            peer_reports: Vec::new(),
            static_peers: settings.peers.clone(),
            counters: Counters::default(),
            started: Instant::now(),
            next_summary: Instant::now() + settings.log_sessions,
            settings,
        })
    }

    /// Serves until a [`Control::Shutdown`] arrives or its sender is dropped.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut next_tick = Instant::now() + self.tick_every;
        loop {
            let now = Instant::now();
            let mut deadline = next_tick;
            if let Some(Reverse((t, _, _))) = self.timers.peek() {
                deadline = deadline.min(*t);
            }
            let timeout = if self.ready.is_empty() {
                deadline.saturating_duration_since(now)
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            for event in events.iter() {
                match event.token() {
                    WAKER => {}
                    Token(t) if t >= CONN_BASE => {
                        let index = t - CONN_BASE;
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.mark_readable(index);
                        }
                        if event.is_writable() {
                            self.flush(index);
                        }
                    }
                    Token(t) => self.accept(t - LISTENER_BASE),
                }
            }
            self.wake.clear();
            if !self.drain_control() {
                return Ok(());
            }
            self.drain_done();
            self.read_ready();
            self.run_timers();
            let now = Instant::now();
            if now >= next_tick {
                self.tick(now);
                next_tick = now + self.tick_every;
            }
        }
    }

    fn accept(&mut self, listener: usize) {
        loop {
            let Some(l) = self.listeners.get(listener) else {
                return;
            };
            let (stream, peer) = match l.socket.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Out of file descriptors and the like: keep serving, try again on the next event.
                Err(_) => return,
            };
            let limits = &self.settings.limits;
            let protocol = l.protocol;
            if protocol != Protocol::Rpc
                && limits.max_sessions != 0
                && self.count >= limits.max_sessions
            {
                drop(stream); // MAX_SESSIONS reached: refuse by closing at once.
                self.counters.refused += 1;
                continue;
            }
            let _ = stream.set_nodelay(true);
            let transport = match (&self.tls, protocol.is_tls()) {
                (_, false) => Transport::plain(stream),
                (Some(tls), true) => match Transport::tls(stream, Arc::clone(tls.config())) {
                    Ok(t) => t,
                    Err(_) => continue,
                },
                (None, true) => continue, // start() refuses TLS services without a certificate.
            };
            self.insert(transport, protocol, peer);
        }
    }

    fn insert(&mut self, mut transport: Transport, protocol: Protocol, peer: SocketAddr) {
        let index = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let interest = Interest::READABLE | Interest::WRITABLE;
        if self
            .poll
            .registry()
            .register(transport.socket(), Token(CONN_BASE + index), interest)
            .is_err()
        {
            self.free.push(index);
            return;
        }
        let now = Instant::now();
        let serial = self.next_serial;
        self.next_serial += 1;
        let admin = protocol == Protocol::Rpc;
        let group = if admin {
            None
        } else {
            group_of(peer.ip(), &self.settings.limits)
        };
        if let Some(g) = group {
            self.groups
                .entry(g)
                .or_insert_with(|| Group {
                    members: Vec::new(),
                    retained: Retained::new(now),
                })
                .members
                .push(index);
        }
        let session = if admin {
            Session::new_admin(index, serial, now)
        } else {
            *self.counters.accepted.entry(protocol.name()).or_default() += 1;
            self.count += 1;
            Session::new(index, serial, now)
        };
        self.conns[index] = Some(Conn {
            transport,
            ws: protocol.is_ws().then(WsCodec::new),
            session,
            protocol,
            peer,
            since: now,
            group,
            readable: false,
            queued_read: false,
            timer_at: None,
            linger_until: None,
        });
    }

    fn mark_readable(&mut self, index: usize) {
        if let Some(Some(conn)) = self.conns.get_mut(index) {
            conn.readable = true;
            if !conn.queued_read {
                conn.queued_read = true;
                self.ready.push_back(index);
            }
        }
    }

    fn read_ready(&mut self) {
        for _ in 0..self.ready.len() {
            let Some(index) = self.ready.pop_front() else {
                break;
            };
            if let Some(Some(conn)) = self.conns.get_mut(index) {
                conn.queued_read = false;
                self.read(index);
            }
        }
    }

    fn read(&mut self, index: usize) {
        let now = Instant::now();
        let mut eff = Effects::default();
        let shared = Shared {
            settings: &self.settings,
            tip: self.tip.as_ref(),
            epoch: self.epoch,
        };
        let Some(Some(conn)) = self.conns.get_mut(index) else {
            return;
        };
        let mut used = 0;
        let mut again = false;
        loop {
            let lingering = conn.linger_until.is_some();
            if !lingering && !conn.session.wants_input() {
                break;
            }
            if used >= READ_BUDGET {
                again = true;
                break;
            }
            match conn.transport.read(&mut self.scratch) {
                Ok(ReadResult::Data(n)) => {
                    used += n;
                    if lingering {
                        continue;
                    }
                    let data = &self.scratch[..n];
                    match &mut conn.ws {
                        None => conn.session.receive(data, now, &shared, &mut eff),
                        Some(ws) => {
                            let session = &mut conn.session;
                            let max = shared.settings.limits.max_recv;
                            let result = ws.receive(data, max, |message| {
                                session.receive_message(message, now, &shared, &mut eff);
                                session.closing().is_none()
                            });
                            match result {
                                Ok(()) if ws.peer_closed() => session.finish(),
                                Ok(()) => {}
                                Err(WsError::TooBig) => {
                                    session.receive_oversized(now, &shared, &mut eff)
                                }
                                Err(WsError::Handshake(_) | WsError::Protocol(..)) => {
                                    session.finish()
                                }
                            }
                        }
                    }
                }
                Ok(ReadResult::WouldBlock) => {
                    conn.readable = false;
                    break;
                }
                Ok(ReadResult::Eof) => {
                    conn.readable = false;
                    if lingering {
                        conn.session.abort();
                    } else {
                        conn.session.on_eof();
                    }
                    break;
                }
                Err(_) => {
                    conn.readable = false;
                    conn.session.abort();
                    break;
                }
            }
        }
        if again && !conn.queued_read {
            conn.queued_read = true;
            self.ready.push_back(index);
        }
        self.apply(index, eff, now);
    }

    /// Carries out a session's effects, writes its output and closes it when it is done.
    fn apply(&mut self, index: usize, eff: Effects, now: Instant) {
        let admin = matches!(self.conns.get(index), Some(Some(c)) if c.session.is_admin());
        for job in eff.jobs {
            if admin {
                self.admin_request(index, job);
            } else if matches!(&job.task, Task::Call { method, .. } if method == "server.add_peer")
            {
                self.add_peer_request(index, job);
            } else {
                // The pool outlives the loop; a send error means shutdown is under way.
                let _ = self.jobs.send(job);
            }
        }
        for label in eff.calls {
            *self.counters.requests.entry(label).or_default() += 1;
        }
        for line in eff.log {
            self.settings.logger.log(Level::Info, &line);
        }
        let serial = match self.conns.get(index) {
            Some(Some(c)) => c.session.serial(),
            _ => return,
        };
        for sh in eff.subscribed {
            self.subscribers
                .entry(sh)
                .or_default()
                .push((index, serial));
        }
        for sh in eff.unsubscribed {
            self.unindex(&sh, index, serial);
        }
        for sh in eff.recheck {
            self.request_notify(sh);
        }
        if self.tip.is_none() {
            self.tip = eff.tip;
        }
        if eff.recalc {
            self.recalc_group_member(index, now);
        }
        self.flush(index);
    }

    fn flush(&mut self, index: usize) {
        let now = Instant::now();
        let Some(Some(conn)) = self.conns.get_mut(index) else {
            return;
        };
        if conn.linger_until.is_none() {
            if let Some(ws) = &mut conn.ws {
                if write_ws(ws, &mut conn.session, &mut conn.transport).is_err() {
                    conn.session.abort();
                }
            } else {
                let out = conn.session.output();
                if !out.is_empty() || conn.transport.has_unsent() {
                    match conn.transport.write(out) {
                        Ok(n) => conn.session.consume_output(n),
                        Err(_) => conn.session.abort(),
                    }
                }
            }
        } else if conn.transport.has_unsent() && conn.transport.write(&[]).is_err() {
            conn.session.abort();
        }
        if conn.session.closing() == Some(Closing::Now) {
            self.close(index);
            return;
        }
        let ws_unsent = conn.ws.as_ref().is_some_and(|ws| ws.pending() > 0);
        if conn.linger_until.is_none()
            && conn.session.finished()
            && !ws_unsent
            && !conn.transport.has_unsent()
        {
            // All sent: half-close and wait briefly for the client to hang up, so that the
            // last reply is not lost to a reset caused by unread input.
            conn.transport.close_notify();
            let _ = conn.transport.socket().shutdown(Shutdown::Write);
            conn.linger_until = Some(now + LINGER);
            if conn.readable && !conn.queued_read {
                conn.queued_read = true;
                self.ready.push_back(index);
            }
            return;
        }
        if conn.linger_until.is_none() {
            if conn.readable && !conn.queued_read && conn.session.wants_input() {
                conn.queued_read = true;
                self.ready.push_back(index);
            }
            if let Some(t) = conn.session.next_wakeup() {
                if conn.timer_at.is_none_or(|old| t < old) {
                    conn.timer_at = Some(t);
                    self.timers.push(Reverse((t, index, conn.session.serial())));
                }
            }
        }
    }

    fn close(&mut self, index: usize) {
        let Some(slot) = self.conns.get_mut(index) else {
            return;
        };
        let Some(mut conn) = slot.take() else {
            return;
        };
        let _ = self.poll.registry().deregister(conn.transport.socket());
        let serial = conn.session.serial();
        let subs: Vec<[u8; 32]> = conn.session.subscriptions().copied().collect();
        for sh in subs {
            self.unindex(&sh, index, serial);
        }
        if let Some(g) = conn.group {
            let now = Instant::now();
            let limits = &self.settings.limits;
            if let Some(group) = self.groups.get_mut(&g) {
                group.members.retain(|m| *m != index);
                group.retained.add(now, conn.session.cost(), limits);
                if group.members.is_empty() && group.retained.value(now, limits) == 0.0 {
                    self.groups.remove(&g);
                }
            }
        }
        self.free.push(index);
        if !conn.session.is_admin() {
            self.count -= 1;
            let stats = conn.session.stats();
            self.counters.closed_errors += stats.errors;
            self.counters.closed_bytes_in += stats.bytes_in;
            self.counters.closed_bytes_out += stats.bytes_out;
            self.counters.closed_cost += conn.session.cost();
        }
    }

    fn unindex(&mut self, sh: &[u8; 32], index: usize, serial: u64) {
        if let Some(list) = self.subscribers.get_mut(sh) {
            list.retain(|&(i, s)| !(i == index && s == serial));
            if list.is_empty() {
                self.subscribers.remove(sh);
            }
        }
    }

    fn request_notify(&mut self, sh: [u8; 32]) {
        if !self.subscribers.contains_key(&sh) {
            return;
        }
        if self.notify_running.contains(&sh) {
            self.notify_again.insert(sh);
            return;
        }
        self.notify_running.insert(sh);
        let _ = self.jobs.send(Job {
            route: Route::Notify { scripthash: sh },
            task: Task::Status { scripthash: sh },
        });
    }

    fn drain_control(&mut self) -> bool {
        loop {
            match self.control.try_recv() {
                Ok(Control::Shutdown) => return false,
                Ok(Control::ReloadTls(answer)) => {
                    let result = match &mut self.tls {
                        Some(tls) => tls.reload(),
                        None => Reload::Unchanged,
                    };
                    self.log_reload(&result, "on request");
                    let _ = answer.send(result);
                }
                Ok(Control::Metrics(answer)) => {
                    let _ = answer.send(self.render_metrics());
                }
                Ok(Control::Peers(reports)) => self.set_peers(reports),
                Ok(Control::Event(ev)) => self.on_chain_event(ev),
                Err(crossbeam_channel::TryRecvError::Empty) => return true,
                Err(crossbeam_channel::TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn on_chain_event(&mut self, ev: ChainEvent) {
        self.epoch += 1;
        if !ev.tip.is_null() && self.tip.as_ref() != Some(&ev.tip) {
            let message = encode_notification("blockchain.headers.subscribe", &json!([ev.tip]));
            self.tip = Some(ev.tip);
            for index in 0..self.conns.len() {
                if let Some(Some(conn)) = self.conns.get_mut(index) {
                    conn.session.notify_headers(&message, &self.settings.limits);
                    self.flush(index);
                }
            }
        }
        for sh in ev.touched {
            self.request_notify(sh);
        }
    }

    fn drain_done(&mut self) {
        while let Ok(done) = self.done.try_recv() {
            let now = Instant::now();
            match done.route {
                Route::Session { token, serial, tag } => {
                    let mut eff = Effects::default();
                    let shared = Shared {
                        settings: &self.settings,
                        tip: self.tip.as_ref(),
                        epoch: self.epoch,
                    };
                    match self.conns.get_mut(token) {
                        Some(Some(conn)) if conn.session.serial() == serial => {
                            conn.session.complete(
                                tag,
                                done.outcome,
                                done.cost,
                                now,
                                &shared,
                                &mut eff,
                            );
                        }
                        _ => continue,
                    }
                    self.apply(token, eff, now);
                }
                Route::Notify { scripthash } => {
                    self.notify_running.remove(&scripthash);
                    if let Outcome::Status(status) = &done.outcome {
                        let targets = self
                            .subscribers
                            .get(&scripthash)
                            .cloned()
                            .unwrap_or_default();
                        for (index, serial) in targets {
                            let mut eff = Effects::default();
                            match self.conns.get_mut(index) {
                                Some(Some(conn)) if conn.session.serial() == serial => {
                                    let limits = &self.settings.limits;
                                    conn.session.notify_status(
                                        &scripthash,
                                        status,
                                        limits,
                                        &mut eff,
                                    );
                                }
                                _ => continue,
                            }
                            self.apply(index, eff, now);
                        }
                    }
                    if self.notify_again.remove(&scripthash) {
                        self.request_notify(scripthash);
                    }
                }
            }
        }
    }

    fn run_timers(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((t, index, serial))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            let mut eff = Effects::default();
            let shared = Shared {
                settings: &self.settings,
                tip: self.tip.as_ref(),
                epoch: self.epoch,
            };
            match self.conns.get_mut(index) {
                Some(Some(conn)) if conn.session.serial() == serial && conn.timer_at == Some(t) => {
                    conn.timer_at = None;
                    conn.session.tick(now, &shared, &mut eff);
                }
                _ => continue,
            }
            self.apply(index, eff, now);
        }
    }

    fn log_reload(&mut self, result: &Reload, why: &str) {
        match result {
            Reload::Unchanged => {}
            Reload::Loaded => self.counters.tls_reloads += 1,
            Reload::Kept(_) => self.counters.tls_reload_failures += 1,
        }
        let log = &self.settings.logger;
        match result {
            Reload::Unchanged => {}
            Reload::Loaded => log.log(
                Level::Info,
                &format!("TLS certificate reloaded ({why}); new connections use it"),
            ),
            Reload::Kept(e) => log.log(
                Level::Error,
                &format!("TLS certificate not reloaded ({why}), keeping the previous one: {e}"),
            ),
        }
    }

    /// Periodic work on every connection: timeouts, cost decay, lingering closes.
    fn tick(&mut self, now: Instant) {
        if !self.settings.tls_poll.is_zero() && now >= self.next_tls_poll {
            self.next_tls_poll = now + self.settings.tls_poll;
            if let Some(tls) = &mut self.tls {
                let result = tls.poll();
                self.log_reload(&result, "the files changed");
            }
        }
        if !self.settings.log_sessions.is_zero() && now >= self.next_summary {
            self.next_summary = now + self.settings.log_sessions;
            self.log_summary(now);
        }
        self.recalc_all(now);
        for index in 0..self.conns.len() {
            let mut eff = Effects::default();
            let shared = Shared {
                settings: &self.settings,
                tip: self.tip.as_ref(),
                epoch: self.epoch,
            };
            let Some(Some(conn)) = self.conns.get_mut(index) else {
                continue;
            };
            if let Some(until) = conn.linger_until {
                if now >= until {
                    self.close(index);
                }
                continue;
            }
            conn.session.tick(now, &shared, &mut eff);
            self.apply(index, eff, now);
        }
    }

    /// Recomputes every session's throttle, adding the cost of the rest of its subnet group.
    fn recalc_all(&mut self, now: Instant) {
        let keys: Vec<(IpAddr, u8)> = self.groups.keys().copied().collect();
        let totals: HashMap<(IpAddr, u8), f64> = keys
            .into_iter()
            .map(|g| (g, self.group_total(g, now)))
            .collect();
        let limits = &self.settings.limits;
        for conn in self.conns.iter_mut().flatten() {
            let extra = conn
                .group
                .and_then(|g| totals.get(&g))
                .map_or(0.0, |t| t - conn.session.cost());
            conn.session.recalc_cost(now, extra, limits);
        }
    }

    /// Recomputes one session's throttle after its cost moved.
    fn recalc_group_member(&mut self, index: usize, now: Instant) {
        let Some(g) = self.conns.get(index).and_then(|c| c.as_ref()?.group) else {
            return;
        };
        let total = self.group_total(g, now);
        if let Some(Some(conn)) = self.conns.get_mut(index) {
            let extra = total - conn.session.cost();
            conn.session.recalc_cost(now, extra, &self.settings.limits);
        }
    }

    /// A group's cost: its members' costs plus what departed members left behind.
    fn group_total(&mut self, g: (IpAddr, u8), now: Instant) -> f64 {
        let Some(group) = self.groups.get_mut(&g) else {
            return 0.0;
        };
        let mut total = group.retained.value(now, &self.settings.limits);
        for m in &group.members {
            if let Some(Some(c)) = self.conns.get(*m) {
                total += c.session.cost();
            }
        }
        total
    }
}

/// Frames the session's output as WebSocket text frames and writes them.
///
/// At most [`WS_AHEAD`] framed bytes wait for the socket; the rest stays in the session, whose
/// own limits then pause reading or drop a client that does not read.
fn write_ws(ws: &mut WsCodec, session: &mut Session, transport: &mut Transport) -> io::Result<()> {
    loop {
        if ws.pending() < WS_AHEAD {
            let used = ws.frame_lines(session.output());
            session.consume_output(used);
        }
        if session.finished() {
            ws.finish();
        }
        if ws.pending() == 0 && !transport.has_unsent() {
            return Ok(());
        }
        let written = transport.write(ws.output())?;
        ws.consume_output(written);
        if ws.pending() > 0 || session.output().is_empty() {
            return Ok(());
        }
    }
}
