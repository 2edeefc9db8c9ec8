//! The Electrum server: one mio event loop owning every socket, and a worker pool running requests.
//!
//! ```text
//!  clients ─TCP/TLS─▶ event loop ──Job──▶ worker pool ──▶ Backend (index reads)
//!                     (framing, JSON-RPC,  ◀─Done── (channel + mio::Waker)
//!                      sessions, limits)   ◀─ChainEvent── sync / mempool threads (Notifier)
//! ```
//!
//! * [`session`] is the protocol state machine of one connection (no sockets; unit-tested).
//! * [`event_loop`] is the thin mio shell around it; [`transport`] hides TCP vs TLS.
//! * [`pool`] runs [`Backend`] calls on worker threads.
//! * [`rpc`], [`framing`], [`cost`] hold the JSON-RPC dialect, line framing and cost accounting.
//!
//! Start with [`start`]; stop with [`ServerHandle::shutdown`] (or by dropping the handle).

pub mod backend;
pub mod cost;
pub mod event_loop;
pub mod framing;
pub mod pool;
pub mod rpc;
pub mod session;
pub mod settings;
pub mod tls;
pub mod transport;
pub mod ws;

pub use backend::{Answer, Backend};
pub use event_loop::ChainEvent;
pub use rpc::RpcError;
pub use settings::{Level, Limits, Logger, Protocol, Service, Settings, TlsFiles, SERVER_VERSION};
pub use tls::Reload;

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

/// Binds every service, starts the worker pool and the event loop thread.
pub fn start<B: Backend>(settings: Settings, backend: Arc<B>) -> Result<ServerHandle, StartError> {
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
                "cannot listen on {} ({:?}): {e}; is another server using the port, or is the \
                 address in SERVICES wrong?",
                service.addr, service.protocol
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
    let workers = pool::spawn(settings.workers, backend, jobs_rx, done_tx, wake.clone())
        .map_err(|e| StartError(format!("cannot start worker threads: {e}")))?;
    let wiring = Wiring {
        jobs: jobs_tx,
        done: done_rx,
        control: control_rx,
        wake: wake.clone(),
    };
    let event_loop = EventLoop::new(poll, listeners, tls_config, settings, wiring)
        .map_err(|e| StartError(format!("cannot register the listeners: {e}")))?;
    let handle = std::thread::Builder::new()
        .name("event-loop".to_string())
        .spawn(move || event_loop.run())
        .map_err(|e| StartError(format!("cannot start the event loop thread: {e}")))?;
    Ok(ServerHandle {
        notifier: Notifier {
            control: control_tx,
            wake,
        },
        addrs,
        event_loop: Some(handle),
        workers,
    })
}
