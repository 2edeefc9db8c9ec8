//! keva-devnode: the kevacoind stand-in for tests and demos.

use keva_electrum::chain::hash::hash_to_hex;
use keva_electrum::chain::Network;
use keva_electrum::devnode::{DevNode, DevNodeConfig, Shape};
use std::time::{Duration, Instant};

const HELP: &str = "\
keva-devnode: a kevacoind stand-in serving a generated regtest chain over HTTP JSON-RPC.

USAGE:
    keva-devnode [OPTIONS]

OPTIONS:
    --rpcbind ADDR:PORT     listen address (default 127.0.0.1:19443, regtest's RPC port)
    --rpcuser USER          RPC user (default: user)
    --rpcpassword PASS      RPC password (default: pass)
    --cookie-dir DIR        also write DIR/.cookie and accept its credentials
    --blocks N              blocks to generate after genesis (default 100)
    --seed S                generator seed (default 1); same seed, same chain
    --shape busy|mainnet    chain shape (default: busy up to 10,000 blocks, mainnet above)
    --network NET           genesis to start from: regtest (default), testnet, mainnet
    --no-txindex            behave like a node without -txindex
    --block-read-ms MS      cost of reading one block for getblock, in ms of one core, under a
                            node-wide lock like kevacoind's (default 25: the real node re-hashes
                            each block's proof of work, ~27 ms; 0 for fast tests)
    --datadir DIR           also keep the chain as real block files in DIR/<net>/blocks/blk*.dat
                            (headers-first order, pre-allocated tail) and the .cookie beside them
    --blockfile-size BYTES  largest block file (default 134217728, kevacoind's 128 MiB)
    --help                  print this help

Besides kevacoind's calls (getblockchaininfo, getnetworkinfo, getblockcount, getbestblockhash,
getblockhash, getblock, getblockheader, getrawtransaction, getrawmempool, getmempoolinfo,
sendrawtransaction, estimatesmartfee, generate, generatetoaddress, invalidateblock, stop) it
answers dev_* control calls: dev_mine, dev_pay, dev_addmempool, dev_dropmempool, dev_reorg,
dev_rewind, dev_fail, dev_set, dev_newaddress, dev_wallet, dev_keva_namespace, dev_keva_put,
dev_keva_delete, dev_truth (see `help`).";

fn parse_args() -> Result<DevNodeConfig, String> {
    let mut cfg = DevNodeConfig {
        bind: "127.0.0.1:19443".parse().map_err(|e| format!("{e}"))?,
        blocks: 100,
        block_read_ms: 25,
        ..DevNodeConfig::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value (see --help)"))
        };
        match arg.as_str() {
            "--help" | "-h" => {
                println!("{HELP}");
                std::process::exit(0);
            }
            "--rpcbind" => {
                let v = value("--rpcbind")?;
                cfg.bind = v.parse().map_err(|_| {
                    format!("--rpcbind {v:?} is not ADDR:PORT, e.g. 127.0.0.1:19443")
                })?;
            }
            "--rpcuser" => cfg.rpcuser = value("--rpcuser")?,
            "--rpcpassword" => cfg.rpcpassword = value("--rpcpassword")?,
            "--cookie-dir" => cfg.cookie_dir = Some(value("--cookie-dir")?.into()),
            "--blocks" => {
                let v = value("--blocks")?;
                cfg.blocks = v
                    .parse()
                    .map_err(|_| format!("--blocks {v:?} is not a block count"))?;
            }
            "--seed" => {
                let v = value("--seed")?;
                cfg.seed = v
                    .parse()
                    .map_err(|_| format!("--seed {v:?} is not a number"))?;
            }
            "--shape" => {
                cfg.shape = Some(match value("--shape")?.as_str() {
                    "busy" => Shape::Busy,
                    "mainnet" => Shape::Mainnet,
                    other => return Err(format!("--shape {other:?}: use busy or mainnet")),
                })
            }
            "--network" => {
                let v = value("--network")?;
                cfg.network = Network::from_name(&v)
                    .ok_or_else(|| format!("--network {v:?}: use regtest, testnet or mainnet"))?;
            }
            "--no-txindex" => cfg.txindex = false,
            "--block-read-ms" => {
                let v = value("--block-read-ms")?;
                cfg.block_read_ms = v.parse().map_err(|_| {
                    format!("--block-read-ms {v:?} is not a number of milliseconds")
                })?;
            }
            "--datadir" => cfg.datadir = Some(value("--datadir")?.into()),
            "--blockfile-size" => {
                let v = value("--blockfile-size")?;
                cfg.blockfile_size = v.parse().ok().filter(|n| *n >= 1024).ok_or_else(|| {
                    format!("--blockfile-size {v:?}: give a size in bytes, at least 1024")
                })?;
            }
            other => return Err(format!("unknown option {other:?} (see --help)")),
        }
    }
    Ok(cfg)
}

fn main() {
    let cfg = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("keva-devnode: {e}");
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    let blocks = cfg.blocks;
    let node = match DevNode::start(cfg) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("keva-devnode: {e}");
            std::process::exit(1);
        }
    };
    eprintln!(
        "keva-devnode: {} chain of {} blocks generated in {:.1} s; tip {} ",
        node.network().name(),
        blocks,
        started.elapsed().as_secs_f64(),
        hash_to_hex(&node.tip())
    );
    if let Some(dir) = node.blocks_dir() {
        eprintln!("keva-devnode: block files in {}", dir.display());
    }
    match node.cookie_file() {
        Some(c) => eprintln!(
            "keva-devnode: listening on http://{}/ (user/password or cookie {})",
            node.addr(),
            c.display()
        ),
        None => eprintln!("keva-devnode: listening on http://{}/", node.addr()),
    }
    while !node.stop_requested() {
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("keva-devnode: stopping");
}
