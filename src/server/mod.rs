//! The Electrum server: one mio event loop owning every socket, and a worker pool running requests.
//!
//! ```text
//!  clients ─TCP/TLS/WS─▶ event loop ──Job──▶ worker pool ──▶ Backend (index reads)
//!  admin ──rpc──────────▶ (framing,    ◀─Done── (channel + mio::Waker)
//!                          JSON-RPC,   ──AdminJob─▶ admin thread ──▶ Admin (app)
//!                          sessions,   ──PeerMsg──▶ peer manager + verifier threads
//!                          limits)     ◀─Control── sync / mempool threads, peers, handle
//! ```
//!
//! * [`session`] is the protocol state machine of one connection (no sockets; unit-tested).
//!   Nothing here reads the index: the methods behind [`Backend`] do, on the workers.
//! * [`event_loop`] is the thin mio shell around it; [`transport`] hides TCP vs TLS and
//!   [`ws`] adds WebSocket framing for `ws://` and `wss://`; [`tls`] reloads renewed certificates.
//! * [`pool`] runs [`Backend`] calls on worker threads.
//! * [`framing`] splits lines, [`cost`] accounts costs, [`settings`] holds what the operator
//!   configured. The JSON-RPC vocabulary itself (errors, [`Backend`], message parsing and
//!   encoding) is [`crate::jsonrpc`], shared with the methods.
//! * [`admin`] is the `rpc` service (`electrumx_rpc` commands), [`peers`] peer discovery,
//!   [`metrics`] the counters behind the Prometheus endpoint and the session summary.
//! * [`proxy`] reads the PROXY protocol header of connections from trusted load balancers;
//!   [`endpoint`] is the metrics and health listener, started by the program before the
//!   server, and [`health`] its verdict on whether this server should get wallets.
//!
//! Start with [`start`] or [`start_with_admin`]; stop with [`ServerHandle::shutdown`] (or by
//! dropping the handle).

pub mod admin;
pub mod cost;
pub mod endpoint;
pub mod event_loop;
pub mod framing;
pub mod health;
pub mod metrics;
pub mod peers;
pub mod pool;
pub mod proxy;
pub mod session;
pub mod settings;
pub mod tls;
pub mod transport;
pub mod ws;

pub use admin::Admin;
pub use endpoint::Endpoint;
pub use event_loop::ChainEvent;
pub use peers::{PeerReport, MAINNET_SEEDS};
pub use settings::{
    ClientFilter, Discovery, Level, Limits, Logger, PeerSettings, Protocol, Service, Settings,
    TlsFiles, SERVER_VERSION,
};
pub use tls::Reload;

use crate::jsonrpc::Backend;
use event_loop::{Control, EventLoop, Listener, Wiring, WAKER};
use mio::net::TcpListener;
use mio::{Poll, Waker};
use pool::Wake;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

/// Why the server could not start; the text names the setting to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartError(pub String);

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// Sends chain events to the running server; cloned into the sync and mempool threads.
#[derive(Clone)]
pub struct Notifier {
    control: crossbeam_channel::Sender<Control>,
    wake: Wake,
}

impl Notifier {
    /// Asks the loop for its metrics text; `None` when the server has stopped.
    pub(crate) fn metrics(&self) -> Option<String> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.control.send(Control::Metrics(tx)).ok()?;
        self.wake.wake();
        rx.recv_timeout(std::time::Duration::from_secs(10)).ok()
    }

    /// Asks the loop how many Electrum sessions it serves; `None` when the server has stopped.
    pub(crate) fn sessions(&self) -> Option<u64> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.control.send(Control::Sessions(tx)).ok()?;
        self.wake.wake();
        rx.recv_timeout(std::time::Duration::from_secs(10)).ok()
    }

    /// Queues an event for the event loop; returns false when the server has stopped.
    pub fn notify(&self, event: ChainEvent) -> bool {
        let sent = self.control.send(Control::Event(event)).is_ok();
        self.wake.wake();
        sent
    }
}

/// The running server: its addresses, a way to notify it, and a way to stop it.
pub struct ServerHandle {
    notifier: Notifier,
    addrs: Vec<SocketAddr>,
    event_loop: Option<JoinHandle<std::io::Result<()>>>,
    workers: Vec<JoinHandle<()>>,
}

impl ServerHandle {
    /// The bound address of each service, in the order of `Settings::services`.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The server's own metrics (sessions, requests by method, errors, costs) in the
    /// Prometheus text format, without the program's [`Admin::metrics`] lines.
    pub fn metrics(&self) -> String {
        self.notifier.metrics().unwrap_or_default()
    }

    /// A cloneable sender of chain events.
    pub fn notifier(&self) -> Notifier {
        self.notifier.clone()
    }

    /// Sends one chain event (see [`Notifier::notify`]).
    pub fn notify(&self, event: ChainEvent) -> bool {
        self.notifier.notify(event)
    }

    /// Re-reads `SSL_CERTFILE` / `SSL_KEYFILE` now (call it on SIGHUP).
    ///
    /// New connections use the new certificate; open sessions keep theirs. When the new files
    /// are unusable the old certificate stays and the answer says why. `Reload::Unchanged`
    /// means no TLS service is configured.
    pub fn reload_tls(&self) -> Reload {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if self.notifier.control.send(Control::ReloadTls(tx)).is_err() {
            return Reload::Kept("the server has stopped".to_string());
        }
        self.notifier.wake.wake();
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .unwrap_or_else(|_| Reload::Kept("the server did not answer".to_string()))
    }

    /// Stops the loop (closing every connection) and the workers, and waits for them.
    ///
    /// Returns the loop's I/O error if it died of one.
    pub fn shutdown(&mut self) -> std::io::Result<()> {
        let _ = self.notifier.control.send(Control::Shutdown);
        self.notifier.wake.wake();
        let mut result = Ok(());
        if let Some(handle) = self.event_loop.take() {
            result = handle
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("event loop panicked")));
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        result
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Binds every service, starts the worker pool and the event loop thread (no admin backend:
/// the `rpc` service then answers only the session and peer commands).
pub fn start<B: Backend>(settings: Settings, backend: Arc<B>) -> Result<ServerHandle, StartError> {
    start_with_admin(settings, backend, None)
}

/// [`start`] with the program's [`Admin`] implementation for the chain admin commands.
pub fn start_with_admin<B: Backend>(
    settings: Settings,
    backend: Arc<B>,
    admin: Option<Arc<dyn Admin>>,
) -> Result<ServerHandle, StartError> {
    check_loopback(&settings)?;
    let needs_tls = settings.services.iter().any(|s| s.protocol.is_tls());
    let tls_config = match (&settings.tls, needs_tls) {
        (Some(files), true) => Some(tls::TlsReloader::new(files).map_err(StartError)?),
        (None, true) => {
            return Err(StartError(
                "an ssl:// or wss:// service is configured but SSL_CERTFILE / SSL_KEYFILE are \
                 not set"
                    .to_string(),
            ))
        }
        (_, false) => None,
    };
    let mut listeners = Vec::with_capacity(settings.services.len());
    let mut addrs = Vec::with_capacity(settings.services.len());
    for service in &settings.services {
        let socket = TcpListener::bind(service.addr).map_err(|e| {
            StartError(format!(
                "cannot listen on {} ({}): {e}; is another server using the port, or is the \
                 address in SERVICES wrong?",
                service.addr,
                service.protocol.name()
            ))
        })?;
        addrs.push(
            socket
                .local_addr()
                .map_err(|e| StartError(format!("cannot read the bound address: {e}")))?,
        );
        listeners.push(Listener {
            socket,
            protocol: service.protocol,
        });
    }
    let poll = Poll::new().map_err(|e| StartError(format!("cannot create the event loop: {e}")))?;
    let waker = Arc::new(
        Waker::new(poll.registry(), WAKER)
            .map_err(|e| StartError(format!("cannot create the event loop waker: {e}")))?,
    );
    let wake = Wake::new(waker);
    let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded();
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    let (control_tx, control_rx) = crossbeam_channel::unbounded();
    let workers = pool::spawn(
        settings.workers,
        backend,
        jobs_rx,
        done_tx.clone(),
        wake.clone(),
    )
    .map_err(|e| StartError(format!("cannot start worker threads: {e}")))?;
    let admin_tx = match &admin {
        Some(a) => {
            let (tx, rx) = crossbeam_channel::unbounded();
            // Not joined on shutdown: `Admin::stop` may itself be what shuts the server down.
            admin::spawn(Arc::clone(a), rx, done_tx.clone(), wake.clone())
                .map_err(|e| StartError(format!("cannot start the admin thread: {e}")))?;
            Some(tx)
        }
        None => None,
    };
    let notifier = Notifier {
        control: control_tx,
        wake: wake.clone(),
    };
    let peers_tx = if settings.discovery.discovery == Discovery::Off {
        None
    } else {
        let (tx, rx) = crossbeam_channel::unbounded();
        let publisher = notifier.clone();
        let ctx = peers::Context {
            settings: settings.discovery.clone(),
            features: settings.features.clone(),
            done: done_tx.clone(),
            wake: notifier.wake.clone(),
            publish: Box::new(move |reports| {
                let _ = publisher.control.send(Control::Peers(reports));
                publisher.wake.wake();
            }),
            logger: settings.logger.clone(),
        };
        peers::spawn(ctx, rx)
            .map_err(|e| StartError(format!("cannot start the peer threads: {e}")))?;
        Some(tx)
    };
    let wiring = Wiring {
        peers: peers_tx,
        jobs: jobs_tx,
        done: done_rx,
        control: control_rx,
        wake,
        done_tx,
        admin: admin_tx,
    };
    let event_loop = EventLoop::new(poll, listeners, tls_config, settings, wiring)
        .map_err(|e| StartError(format!("cannot register the listeners: {e}")))?;
    let handle = std::thread::Builder::new()
        .name("event-loop".to_string())
        .spawn(move || event_loop.run())
        .map_err(|e| StartError(format!("cannot start the event loop thread: {e}")))?;
    Ok(ServerHandle {
        notifier,
        addrs,
        event_loop: Some(handle),
        workers,
    })
}

/// The admin listener has no authentication: loopback only unless forced.
fn check_loopback(settings: &Settings) -> Result<(), StartError> {
    if settings.rpc_allow_remote {
        return Ok(());
    }
    for s in &settings.services {
        if s.protocol == Protocol::Rpc && !s.addr.ip().is_loopback() {
            return Err(StartError(format!(
                "SERVICES: rpc://{} is not a loopback address; the admin interface has no \
                 authentication, so it only listens on 127.0.0.1 or [::1] (e.g. \
                 rpc://127.0.0.1:8000). Forcing another address is possible but exposes \
                 stop/disconnect/ban to the network",
                s.addr
            )));
        }
    }
    Ok(())
}
