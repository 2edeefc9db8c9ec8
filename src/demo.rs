//! `keva-electrum demo`: the stand-in node with a small generated chain and the real server
//! against it, on loopback. Everything it prints is labelled as a demo.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::chain::hash::hash_to_hex;
use crate::chain::keva::namespace_to_string;
use crate::chain::script::scripthash_to_hex;
use crate::config::Config;
use crate::devnode::wallet::AddrKind;
use crate::devnode::{DevNode, DevNodeConfig};

const USAGE: &str = "\
keva-electrum demo [--port PORT] [--blocks N] [--seed S] [--interval SECONDS] [--db DIR]

Starts a DEMO: a stand-in Kevacoin node (regtest) with a generated chain and the server on
127.0.0.1:PORT (default 50001). Every few seconds the demo node makes a payment and a keva post
and mines a block, so subscribed wallets see activity. Not connected to any real network.";

struct DemoArgs {
    port: u16,
    blocks: u32,
    seed: u64,
    interval: u64,
    db: Option<std::path::PathBuf>,
}

fn parse(args: &[String]) -> Result<DemoArgs, String> {
    let mut out = DemoArgs {
        port: 50001,
        blocks: 300,
        seed: 1,
        interval: 15,
        db: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = it
            .next()
            .ok_or_else(|| format!("demo: {flag} needs a value\n\n{USAGE}"))?;
        let bad = |_| format!("demo: {flag} {value}: not a number");
        match flag.as_str() {
            "--port" => out.port = value.parse().map_err(bad)?,
            "--blocks" => out.blocks = value.parse().map_err(bad)?,
            "--seed" => out.seed = value.parse().map_err(bad)?,
            "--interval" => out.interval = value.parse().map_err(bad)?,
            "--db" => out.db = Some(value.into()),
            _ => return Err(format!("demo: unknown option {flag}\n\n{USAGE}")),
        }
    }
    Ok(out)
}

/// Runs the demo until SIGINT or SIGTERM.
pub fn run(args: &[String]) -> Result<(), String> {
    let args = parse(args)?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| format!("cannot install the signal handler: {e}"))?;
    }
    let db_dir = args.db.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("keva-electrum-demo-{}", std::process::id()))
    });
    let fresh_db = args.db.is_none();

    println!(
        "DEMO: generating a {}-block regtest chain (seed {})",
        args.blocks, args.seed
    );
    // The stand-in costs what kevacoind costs per `getblock` and keeps its chain as block
    // files, which the server reads at start-up as it would beside a real node: the demo still
    // starts in a second, and new blocks come over RPC at the node's price.
    let node_dir =
        std::env::temp_dir().join(format!("keva-electrum-demo-node-{}", std::process::id()));
    let node = DevNode::start(DevNodeConfig {
        blocks: args.blocks,
        seed: args.seed,
        block_read_ms: 25,
        datadir: Some(node_dir.clone()),
        ..DevNodeConfig::default()
    })
    .map_err(|e| format!("demo node: {e}"))?;
    println!("DEMO: stand-in node listening on {}", node.addr());

    let vars: BTreeMap<String, String> = [
        ("COIN", "Kevacoin".to_string()),
        ("NET", "regtest".to_string()),
        ("DB_DIRECTORY", db_dir.display().to_string()),
        ("DAEMON_URL", node.url()),
        ("DAEMON_DIR", node_dir.display().to_string()),
        ("SERVICES", format!("tcp://127.0.0.1:{}", args.port)),
        ("PEER_DISCOVERY", "off".to_string()),
        ("MEMPOOL_POLL_MS", "500".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = Config::from_vars(&vars).map_err(|e| format!("demo: {e}"))?;

    let node = Arc::new(parking_lot::Mutex::new(node));
    let activity = {
        let node = node.clone();
        let stop = stop.clone();
        let interval = Duration::from_secs(args.interval.max(1));
        std::thread::spawn(move || demo_activity(&node, &stop, interval))
    };
    let ready = |addrs: &[SocketAddr]| print_welcome(addrs, &node.lock());
    let result = crate::app::serve(
        config,
        stop.clone(),
        Arc::new(AtomicBool::new(false)),
        ready,
    );
    stop.store(true, Ordering::Relaxed);
    let _ = activity.join();
    node.lock().shutdown();
    let _ = std::fs::remove_dir_all(&node_dir);
    if fresh_db {
        let _ = std::fs::remove_dir_all(&db_dir);
    }
    println!("DEMO: stopped");
    result
}

fn print_welcome(addrs: &[SocketAddr], node: &DevNode) {
    let (script, address) = node.new_address(AddrKind::P2shP2wpkh);
    let sh = scripthash_to_hex(&crate::chain::script::scripthash(&script));
    println!();
    println!("DEMO: keva-electrum is serving a generated regtest chain (not a real network).");
    for addr in addrs {
        println!("DEMO: connect a wallet or client to tcp://{addr}");
    }
    if let Some(addr) = addrs.first() {
        println!("DEMO: for example:");
        println!(
            "  printf '%s\\n' '{{\"id\":1,\"method\":\"server.version\",\"params\":[\"demo\",\"1.4\"]}}' \
             '{{\"id\":2,\"method\":\"blockchain.headers.subscribe\",\"params\":[]}}' \
             '{{\"id\":3,\"method\":\"blockchain.scripthash.get_balance\",\"params\":[\"{sh}\"]}}' \
             | nc -q 2 {} {}",
            addr.ip(),
            addr.port()
        );
    }
    println!("DEMO: a demo address is {address} (scripthash {sh})");
    println!("DEMO: press Ctrl-C to stop");
    println!();
}

/// Every `interval`: a payment, a keva post, a block.
fn demo_activity(node: &parking_lot::Mutex<DevNode>, stop: &AtomicBool, interval: Duration) {
    let mut namespace: Option<Vec<u8>> = None;
    let mut round = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let deadline = std::time::Instant::now() + interval;
        while std::time::Instant::now() < deadline {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        round += 1;
        let node = node.lock();
        let (script, address) = node.new_address(AddrKind::P2shP2wpkh);
        if let Ok(txid) = node.pay(&script, 100_000_000 + round) {
            println!("DEMO: paid 1 KVA to {address} in {}", hash_to_hex(&txid));
        }
        let ns = match &namespace {
            Some(ns) => Some(ns.clone()),
            None => node.keva_namespace("Demo namespace").ok().map(|(_, ns)| ns),
        };
        if let Some(ns) = ns {
            let key = format!("post {round}");
            let value = format!("Hello from the demo, round {round} #demo");
            if node.keva_put(&ns, key.as_bytes(), value.as_bytes()).is_ok() {
                println!("DEMO: keva post {key:?} in {}", namespace_to_string(&ns));
            }
            namespace = Some(ns);
        }
        std::thread::sleep(interval / 3);
        let hashes = node.mine(1);
        if let Some(h) = hashes.first() {
            println!(
                "DEMO: mined block {} at height {}",
                hash_to_hex(h),
                node.height()
            );
        }
    }
}
