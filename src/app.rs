//! Wires the threads together: node client, index sync, mempool poller, server.
//!
//! Start-up order: the metrics and health endpoint, then wait for the node, open the index,
//! sync to the node's tip (nothing is served from a half-built index), then start the server,
//! the tip-following sync thread and the mempool poller. SIGINT/SIGTERM stop everything between
//! write transactions; SIGHUP re-reads the TLS certificate.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::chain::hash::{hash_to_hex, to_hex};
use crate::chain::Hash32;
use crate::chain::Network;
use crate::config::{Config, Host};
use crate::daemon::{BlockFiles, Daemon, DaemonConfig, Unusable};
use crate::index::read::Reader;
use crate::index::sync::{ChainEvent as IndexEvent, SourceCounts, SyncConfig, SyncError, Syncer};
use crate::index::writer::Writer;
use crate::mempool::{Mempool, Poller};
use crate::methods::{Methods, MethodsConfig};
use crate::server::{self, ChainEvent, Notifier};

/// Largest mempool view kept in memory, in bytes.
const MEMPOOL_CAP_BYTES: usize = 64 << 20;

/// Runs the server until SIGINT or SIGTERM.
pub fn run(config: Config) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    let reload = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| format!("cannot install the signal handler: {e}"))?;
    }
    signal_hook::flag::register(signal_hook::consts::SIGHUP, reload.clone())
        .map_err(|e| format!("cannot install the SIGHUP handler: {e}"))?;
    serve(config, stop, reload, |_| {})
}

/// The whole server; `on_ready` is told the bound addresses once clients can connect.
pub fn serve(
    config: Config,
    stop: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
    on_ready: impl FnOnce(&[SocketAddr]),
) -> Result<(), String> {
    for warning in &config.warnings {
        log(&format!("config: {warning}"));
    }
    let db_path = config.db_path();
    create_private_dir(&config.db_dir)?;

    let daemon = Daemon::new(DaemonConfig {
        urls: config.daemon_urls.clone(),
        cookie_file: config.cookie_file(),
        timeout: Duration::from_secs(60),
        network: config.network,
    })
    .map_err(|e| e.to_string())?;

    let forced_reorg = Arc::new(AtomicU32::new(0));
    let source_counts = Arc::new(SourceCounts::default());
    let admin: Arc<dyn server::Admin> = Arc::new(crate::app_admin::AppAdmin {
        network: config.network,
        db_path: db_path.clone(),
        daemon: daemon.clone(),
        stop: stop.clone(),
        daemon_urls: config.daemon_urls.join(","),
        forced_reorg: forced_reorg.clone(),
        reorg_limit: config.reorg_limit,
        source_counts: source_counts.clone(),
    });
    // Up before waiting for the node and before the start-up sync, so that a load balancer
    // gets 503 with the reason (node unreachable, warming up, syncing), not a refused connection.
    let endpoint = match config.metrics_addr {
        Some(addr) => {
            let board = server::health::HealthBoard::default();
            let endpoint = server::Endpoint::start(addr, board.clone(), Some(admin.clone()))
                .map_err(|e| e.0)?;
            log(&format!(
                "metrics on http://{0}/metrics, health check on http://{0}/health",
                endpoint.addr()
            ));
            crate::app_health::spawn(
                daemon.clone(),
                db_path.clone(),
                config.network,
                board,
                stop.clone(),
            )?;
            Some(endpoint)
        }
        None => None,
    };

    if daemon
        .wait_for_node(&stop)
        .map_err(|e| e.to_string())?
        .is_none()
    {
        log("stopped while waiting for the node");
        return Ok(());
    }

    let cache_mb = config.sqlite_cache_mb() as u32;
    let writer = Writer::open(&db_path, config.network, cache_mb).map_err(|e| e.to_string())?;
    restrict_permissions(&db_path);
    log(&format!(
        "index {} at height {}",
        db_path.display(),
        writer.state().height
    ));

    let mempool = Mempool::default();
    let (events_tx, events_rx) = crossbeam_channel::unbounded::<IndexEvent>();
    let sync_config = SyncConfig {
        reorg_limit: config.reorg_limit,
        prefetch_bytes: 8 << 20,
        block_files: block_files(&config),
        parallelism: config.daemon_parallelism,
        ..SyncConfig::default()
    };
    let mut syncer = Syncer::new(
        writer,
        daemon.clone(),
        sync_config,
        Some(events_tx),
        stop.clone(),
    )
    .with_mempool(mempool.clone())
    .with_controls(forced_reorg, source_counts);

    initial_sync(&mut syncer, &stop)?;
    if stop.load(Ordering::Relaxed) {
        log("stopped during initial sync; the next start resumes where it left off");
        return Ok(());
    }
    // Events of the initial sync are not notifications: nobody is connected yet.
    while events_rx.try_recv().is_ok() {}

    let methods = Methods::new(
        MethodsConfig {
            network: config.network,
            db_path: db_path.clone(),
            // Per worker. 4 MB serves as fast as 16 (bench/RESULTS.md) and keeps a worker
            // that answers a 100,000-entry history from holding much beside the answer.
            cache_mb: 4,
            max_send: config.max_send,
            banned_hashtags: config.banned_hashtags.iter().cloned().collect(),
        },
        daemon.clone(),
        mempool.clone(),
    );
    let settings = server_settings(&config, &daemon)?;
    let mut handle =
        server::start_with_admin(settings, Arc::new(methods), Some(admin)).map_err(|e| e.0)?;
    if let Some(endpoint) = &endpoint {
        endpoint.attach(handle.notifier());
    }
    let addrs = handle.local_addrs().to_vec();
    for (service, addr) in config.services.iter().zip(&addrs) {
        log(&format!("serving {} on {addr}", service.protocol.name()));
    }
    on_ready(&addrs);

    let sync_thread = syncer.spawn().map_err(|e| e.to_string())?;
    let forwarder = spawn_forwarder(events_rx, handle.notifier(), db_path.clone(), &config)?;
    let poller = spawn_mempool(
        daemon,
        mempool,
        handle.notifier(),
        db_path.clone(),
        &config,
        stop.clone(),
    )?;

    let mut result = Ok(());
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        if reload.swap(false, Ordering::Relaxed) {
            match handle.reload_tls() {
                server::Reload::Loaded => {
                    log("SIGHUP: new TLS certificate in use for new connections")
                }
                server::Reload::Unchanged => log("SIGHUP: TLS certificate files unchanged"),
                server::Reload::Kept(why) => {
                    log(&format!("SIGHUP: keeping the old TLS certificate: {why}"))
                }
            }
        }
        if sync_thread.is_finished() {
            stop.store(true, Ordering::Relaxed);
        }
    }
    log("shutting down");
    match sync_thread.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => result = Err(format!("sync stopped: {e}")),
        Err(_) => result = Err("the sync thread panicked".into()),
    }
    let _ = handle.shutdown();
    drop(handle);
    drop(endpoint);
    let _ = forwarder.join();
    let _ = poller.join();
    log("stopped");
    result
}

/// The node's block files, when `BLOCK_FILES` allows it and they are readable; the log says
/// which source the sync uses and why.
fn block_files(config: &Config) -> Option<BlockFiles> {
    let opened = match (&config.daemon_dir, config.block_files) {
        (_, false) => Err(Unusable::Off),
        (None, true) => Err(Unusable::Missing {
            dir: Path::new("~/.kevacoin")
                .join(config.network.data_subdir())
                .join("blocks"),
            detail: "neither DAEMON_DIR nor HOME is set".into(),
        }),
        (Some(dir), true) => BlockFiles::open(dir, config.network),
    };
    let parallel = config.daemon_parallelism;
    match opened {
        Ok(files) => {
            log(&format!(
                "block source: long ranges (the initial sync, a restart far behind) are read from \
                 the node's block files in {} and checked against the node's hashes; the rest \
                 over RPC ({parallel} parallel getblock calls)",
                files.dir().display()
            ));
            Some(files)
        }
        Err(why) => {
            log(&format!(
                "block source: {why} ({parallel} parallel getblock calls)"
            ));
            None
        }
    }
}

/// Syncs to the node's tip before serving, retrying while the node is unreachable.
fn initial_sync(syncer: &mut Syncer, stop: &AtomicBool) -> Result<(), String> {
    let started = Instant::now();
    let mut last_error: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        match syncer.sync_once() {
            Ok(report) if report.at_tip => {
                log(&format!(
                    "index at the node's tip, height {} ({:.1}s)",
                    syncer.writer().state().height,
                    started.elapsed().as_secs_f64()
                ));
                return Ok(());
            }
            Ok(_) => {}
            Err(SyncError::Storage(e)) if syncer.writer().state().caught_up => {
                // A complete index on a full or read-only disk is still worth serving.
                let fix = if syncer.writer().is_read_only() {
                    "make DB_DIRECTORY and its files writable by this user and restart the server"
                } else {
                    "the sync resumes once the disk has space"
                };
                log(&format!(
                    "cannot write the index {}: {e}. Serving the indexed chain at height {}; {fix}",
                    syncer.writer().path().display(),
                    syncer.writer().state().height
                ));
                return Ok(());
            }
            Err(SyncError::Storage(e)) => {
                if last_error.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    log(&format!(
                        "cannot write the index {}: {e}. The initial sync is incomplete, so \
                         nothing is served yet: free disk space or make DB_DIRECTORY writable; \
                         retrying",
                        syncer.writer().path().display()
                    ));
                    last_error = Some(Instant::now());
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(SyncError::Node(e)) => {
                if last_error.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    log(&format!("{e}; retrying"));
                    last_error = Some(Instant::now());
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(SyncError::Fatal(e)) => return Err(e.to_string()),
        }
    }
    Ok(())
}

/// Turns index commits into server notifications (scripthashes in the client's byte order).
fn spawn_forwarder(
    events: crossbeam_channel::Receiver<IndexEvent>,
    notifier: Notifier,
    db_path: std::path::PathBuf,
    config: &Config,
) -> Result<std::thread::JoinHandle<()>, String> {
    let network = config.network;
    std::thread::Builder::new()
        .name("notify".into())
        .spawn(move || {
            let reader = match Reader::open(&db_path, network, 2) {
                Ok(r) => r,
                Err(e) => {
                    log(&format!("cannot open the index for notifications: {e}"));
                    return;
                }
            };
            for event in events {
                let header = match reader.header(event.height) {
                    Ok(Some(h)) => h,
                    _ => continue,
                };
                if event.reorg_depth > 0 {
                    log(&format!(
                        "reorg of {} block(s); new tip {} at height {}",
                        event.reorg_depth,
                        hash_to_hex(&event.hash),
                        event.height
                    ));
                }
                let touched = if event.touched.all {
                    Vec::new()
                } else {
                    event.touched.scripthashes.iter().map(display).collect()
                };
                let delivered = notifier.notify(ChainEvent {
                    tip: json!({"height": event.height, "hex": to_hex(&header)}),
                    touched,
                });
                if !delivered {
                    return;
                }
            }
        })
        .map_err(|e| format!("cannot start the notification thread: {e}"))
}

/// Polls the node's mempool and notifies the scripthashes it touched.
fn spawn_mempool(
    daemon: Daemon,
    mempool: Mempool,
    notifier: Notifier,
    db_path: std::path::PathBuf,
    config: &Config,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, String> {
    let network = config.network;
    let interval = Duration::from_millis(config.mempool_poll_ms);
    std::thread::Builder::new()
        .name("mempool".into())
        .spawn(move || {
            let mut lookup = match Reader::open(&db_path, network, 4) {
                Ok(reader) => reader,
                Err(e) => {
                    log(&format!("cannot open the index for the mempool: {e}"));
                    return;
                }
            };
            let mut poller = Poller::new(daemon, mempool, MEMPOOL_CAP_BYTES);
            let mut last_error: Option<Instant> = None;
            while !stop.load(Ordering::Relaxed) {
                match poller.poll_once(&mut lookup) {
                    Ok(touched) if !touched.is_empty() => {
                        let touched: HashSet<Hash32> = touched.iter().map(display).collect();
                        notifier.notify(ChainEvent {
                            tip: Value::Null,
                            touched: touched.into_iter().collect(),
                        });
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if last_error.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                            log(&format!("mempool: {e}; retrying"));
                            last_error = Some(Instant::now());
                        }
                    }
                }
                let until = Instant::now() + interval;
                while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20).min(interval));
                }
            }
        })
        .map_err(|e| format!("cannot start the mempool thread: {e}"))
}

/// Electrum's byte order for a scripthash (the reverse of sha256(script)).
fn display(h: &Hash32) -> [u8; 32] {
    let mut d = *h;
    d.reverse();
    d
}

/// The server's settings from the configuration: listeners, TLS, limits, static answers.
fn server_settings(config: &Config, daemon: &Daemon) -> Result<server::Settings, String> {
    let mut services = Vec::new();
    for service in &config.services {
        let addr = bind_addr(service.host.clone(), service.port)?;
        services.push(server::Service {
            protocol: service.protocol,
            addr,
        });
    }
    if services.is_empty() {
        return Err(
            "SERVICES lists no client service: set e.g. SERVICES=tcp://:50001,ssl://:50002".into(),
        );
    }
    let tls = match (&config.ssl_certfile, &config.ssl_keyfile) {
        (Some(cert), Some(key)) => Some(server::TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    };
    let limits = server::Limits {
        max_sessions: config.max_sessions,
        max_send: config.max_send,
        max_recv: config.max_recv,
        cost_soft_limit: config.cost_soft_limit,
        cost_hard_limit: config.cost_hard_limit,
        request_sleep: Duration::from_millis(config.request_sleep_ms),
        initial_concurrent: config.initial_concurrent as u32,
        bandwidth_unit_cost: config.bandwidth_unit_cost,
        request_timeout: Duration::from_secs(config.request_timeout_s),
        session_timeout: Duration::from_secs(config.session_timeout_s),
        // Room for one largest reply and the pause threshold: a client that stops reading is
        // cut off before its unsent replies cost more than that.
        max_write_backlog: config.max_send + (2 << 20),
        ..server::Limits::default()
    };
    let defaults = server::Settings::default();
    Ok(server::Settings {
        services,
        tls,
        limits,
        workers: config.workers,
        banner: banner(config, daemon, &defaults.banner),
        donation_address: config.donation_address.clone(),
        features: features(config),
        log_sessions: Duration::from_secs(config.log_sessions_s),
        anon_logs: config.anon_logs,
        discovery: server::PeerSettings {
            discovery: config.peer_discovery,
            announce: config.peer_announce,
            seeds: match config.network {
                Network::Mainnet => server::MAINNET_SEEDS
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                _ => Vec::new(),
            },
            ..server::PeerSettings::default()
        },
        drop_client: config.drop_client.clone(),
        proxy_from: config.proxy_from.clone(),
        ..defaults
    })
}

/// The address to bind: an empty host means every interface (IPv6 dual-stack where available).
fn bind_addr(host: Host, port: u16) -> Result<SocketAddr, String> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    match host {
        Host::AllInterfaces => {
            let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0);
            if std::net::UdpSocket::bind(v6).is_ok() {
                Ok(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port))
            } else {
                Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port))
            }
        }
        Host::Ip(ip) => Ok(SocketAddr::new(ip, port)),
        Host::Name(name) => {
            use std::net::ToSocketAddrs;
            (name.as_str(), port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or_else(|| format!("SERVICES: cannot resolve host {name}"))
        }
    }
}

/// `server.features`: ElectrumX's shape with this network's genesis and reported services.
fn features(config: &Config) -> Value {
    let mut hosts = serde_json::Map::new();
    for service in &config.report_services {
        let host = match &service.host {
            Host::Name(n) => n.clone(),
            Host::Ip(ip) => ip.to_string(),
            Host::AllInterfaces => continue,
        };
        let entry = hosts.entry(host).or_insert_with(|| json!({}));
        entry[format!("{}_port", service.protocol.name())] = json!(service.port);
    }
    json!({
        "hosts": hosts,
        "pruning": null,
        "server_version": server::SERVER_VERSION,
        "protocol_min": "1.4",
        "protocol_max": "1.4.2",
        "genesis_hash": hash_to_hex(&config.network.genesis_hash()),
        "hash_function": "sha256",
        "services": config.report_services.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    })
}

/// `server.banner`: BANNER_FILE with ElectrumX's substitutions, or the default greeting.
fn banner(config: &Config, daemon: &Daemon, default: &str) -> String {
    let Some(path) = &config.banner_file else {
        return default.to_string();
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            log(&format!(
                "BANNER_FILE {}: {e}; using the default banner",
                path.display()
            ));
            return default.to_string();
        }
    };
    let info = daemon.network_info().unwrap_or(Value::Null);
    let version = info["version"].as_u64().unwrap_or(0);
    let daemon_version = format!(
        "{}.{}.{}",
        version / 1_000_000,
        (version / 10_000) % 100,
        (version / 100) % 100
    );
    text.replace("$SERVER_VERSION", env!("CARGO_PKG_VERSION"))
        .replace("$SERVER_SUBVERSION", server::SERVER_VERSION)
        .replace("$DAEMON_VERSION", &daemon_version)
        .replace(
            "$DAEMON_SUBVERSION",
            info["subversion"].as_str().unwrap_or(""),
        )
        .replace("$DONATION_ADDRESS", &config.donation_address)
}

/// The index directory, created readable by the server's user only.
fn create_private_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| {
        format!(
            "cannot create DB_DIRECTORY {}: {e} (check the path and the permissions)",
            dir.display()
        )
    })?;
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    Ok(())
}

/// The index and SQLite's `-wal`/`-shm` files (created with the umask's mode) readable by the
/// server's user only; files SQLite creates later copy the index's mode.
fn restrict_permissions(db_path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut wal = db_path.as_os_str().to_owned();
    wal.push("-wal");
    let mut shm = db_path.as_os_str().to_owned();
    shm.push("-shm");
    for path in [db_path.as_os_str(), wal.as_os_str(), shm.as_os_str()] {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}

fn log(msg: &str) {
    eprintln!("INFO:keva-electrum: {msg}");
}
