//! The mio event loop: one thread owning every listener and connection. It moves bytes between
//! sockets and [`Session`]s, jobs to the worker pool and answers back, and chain events out as
//! notifications. It never blocks and never touches the index.
//!
//! This file holds the loop's state, accepting and closing connections and the channels from
//! other threads; `bytes` moves data between sockets and sessions, `notify` keeps the
//! subscriptions, `groups` the subnet cost groups, `timers` the periodic work, and `commands`
//! the admin commands answered from the loop's own state.

use super::admin::AdminJob;
use super::cost::group_of;
use super::metrics::Counters;
use super::peers::{PeerMsg, PeerReport};
use super::pool::{Done, Job, Route, Task, Wake};
use super::proxy::Pending;
use super::session::{Effects, Session, Shared};
use super::settings::{Level, Protocol, Settings};
use super::tls::{Reload, TlsReloader};
use super::transport::Transport;
use super::ws::WsCodec;
use crossbeam_channel::{Receiver, Sender};
use groups::Group;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod bytes;
mod commands;
mod groups;
mod notify;
mod proxied;
mod timers;

/// Token of the waker.
pub const WAKER: Token = Token(0);
/// First token of the listeners; connections start at [`CONN_BASE`].
const LISTENER_BASE: usize = 1;
const CONN_BASE: usize = 1 << 16;

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
    /// Count the Electrum sessions (for `/health`) and send the number back.
    Sessions(Sender<u64>),
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
    /// Set while a connection from a trusted proxy waits for its PROXY header (`peer` is the
    /// proxy's address until then, and the connection is in no cost group).
    proxy: Option<Pending>,
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
            // A trusted proxy's connection waits for its header; nobody else's is read for one.
            let proxied = protocol != Protocol::Rpc && self.settings.proxy_from.contains(peer.ip());
            let pending = proxied.then(|| Pending::new(peer, Instant::now()));
            self.insert(transport, protocol, peer, pending);
        }
    }

    fn insert(
        &mut self,
        mut transport: Transport,
        protocol: Protocol,
        peer: SocketAddr,
        proxy: Option<Pending>,
    ) {
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
        let group = if admin || proxy.is_some() {
            None
        } else {
            group_of(peer.ip(), &self.settings.limits)
        };
        if let Some(g) = group {
            self.join_group(g, index, now);
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
            proxy,
        });
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
            self.subscribe(&sh, index, serial);
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
            self.leave_group(g, index, conn.session.cost(), Instant::now());
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
                Ok(Control::Sessions(answer)) => {
                    let sessions = self.conns.iter().flatten();
                    let n = sessions
                        .filter(|c| !c.session.is_admin() && c.proxy.is_none())
                        .count();
                    let _ = answer.send(n as u64);
                }
                Ok(Control::Peers(reports)) => self.set_peers(reports),
                Ok(Control::Event(ev)) => self.on_chain_event(ev),
                Err(crossbeam_channel::TryRecvError::Empty) => return true,
                Err(crossbeam_channel::TryRecvError::Disconnected) => return false,
            }
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
                Route::Notify { scripthash } => self.status_done(scripthash, &done.outcome, now),
            }
        }
    }
}
