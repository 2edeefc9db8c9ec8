//! JSON-RPC methods of the stand-in: kevacoind's shapes and error codes, plus `dev_*` controls
//! (in `dev`).

use super::analyze::{script_asm, split_keva};
use super::node::NodeState;
use super::state::{Found, Reject, COIN};
use super::Fault;
use crate::chain::hash::{from_hex, hash_from_hex, hash_to_hex, to_hex};
use crate::chain::script::{classify, ScriptKind};
use crate::chain::{Block, Hash32, Network, Transaction};
use dev::dev;
use serde_json::{json, Map, Value};

mod dev;

/// Difficulty of a block at regtest's minimum work (nBits 0x207fffff).
const REGTEST_DIFFICULTY: f64 = 4.656_542_373_906_925e-10;

/// What a `dev_fail` call asks the HTTP layer to do.
pub struct FaultRequest {
    /// The fault (or `None` to clear).
    pub fault: Option<Fault>,
    /// How many requests it applies to.
    pub count: u32,
}

/// Results of a dispatched call that the server layer must act on.
pub enum Effect {
    /// Nothing beyond the answer.
    None,
    /// Install or clear a fault.
    Fault(FaultRequest),
    /// Stop the server (the `stop` RPC).
    Stop,
}

fn invalid(msg: impl Into<String>) -> Reject {
    Reject::new(-8, msg)
}

fn param(params: &[Value], i: usize) -> Option<&Value> {
    params.get(i).filter(|v| !v.is_null())
}

fn need_u64(params: &[Value], i: usize, name: &str) -> Result<u64, Reject> {
    param(params, i)
        .ok_or_else(|| Reject::new(-1, format!("missing argument {} ({name})", i + 1)))?
        .as_u64()
        .ok_or_else(|| {
            Reject::new(
                -1,
                format!("JSON value is not an integer as expected ({name})"),
            )
        })
}

fn need_str<'a>(params: &'a [Value], i: usize, name: &str) -> Result<&'a str, Reject> {
    param(params, i)
        .ok_or_else(|| Reject::new(-1, format!("missing argument {} ({name})", i + 1)))?
        .as_str()
        .ok_or_else(|| {
            Reject::new(
                -1,
                format!("JSON value is not a string as expected ({name})"),
            )
        })
}

fn need_hash(params: &[Value], i: usize, name: &str) -> Result<Hash32, Reject> {
    let s = need_str(params, i, name)?;
    if s.len() != 64 {
        return Err(invalid(format!(
            "{name} must be of length 64 (not {}, for '{s}')",
            s.len()
        )));
    }
    hash_from_hex(s).map_err(|_| invalid(format!("{name} must be hexadecimal string (not '{s}')")))
}

fn flag(params: &[Value], i: usize, default: bool) -> bool {
    match param(params, i) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0) != 0,
        _ => default,
    }
}

fn kva(sat: u64) -> Value {
    json!(sat as f64 / COIN as f64)
}

fn chainwork(height: u32) -> String {
    format!("{:064x}", (height as u128 + 1) * 2)
}

/// Runs one call against the node state.
pub fn dispatch(
    state: &mut NodeState,
    method: &str,
    params: &[Value],
) -> Result<(Value, Effect), Reject> {
    let v = match method {
        "getblockchaininfo" => blockchain_info(state),
        "getnetworkinfo" => network_info(state),
        "getblockcount" => json!(state.chain.height()),
        "getbestblockhash" => json!(hash_to_hex(&state.chain.tip_hash())),
        "getblockhash" => {
            let h = param(params, 0)
                .and_then(Value::as_i64)
                .ok_or_else(|| Reject::new(-1, "JSON value is not an integer as expected"))?;
            if h < 0 || h > state.chain.height() as i64 {
                return Err(invalid("Block height out of range"));
            }
            json!(hash_to_hex(
                &state.chain.hash_at(h as u32).unwrap_or_default()
            ))
        }
        "getblock" => {
            let hash = need_hash(params, 0, "blockhash")?;
            let height = state
                .chain
                .height_of(&hash)
                .ok_or_else(|| Reject::new(-5, "Block not found"))?;
            let verbosity = match param(params, 1) {
                Some(Value::Bool(b)) => u64::from(*b),
                Some(v) => v.as_u64().unwrap_or(1),
                None => 1,
            };
            if verbosity == 0 {
                json!(to_hex(&state.chain.block_bytes(height).unwrap_or_default()))
            } else {
                block_json(state, height, verbosity >= 2)
            }
        }
        "getblockheader" => {
            let hash = need_hash(params, 0, "hash")?;
            let height = state
                .chain
                .height_of(&hash)
                .ok_or_else(|| Reject::new(-5, "Block not found"))?;
            let block = state
                .chain
                .block(height)
                .ok_or_else(|| Reject::new(-5, "Block not found"))?;
            if flag(params, 1, true) {
                header_json(state, height, &block)
            } else {
                json!(to_hex(block.header.as_bytes()))
            }
        }
        "getrawtransaction" => {
            let txid = need_hash(params, 0, "parameter 1")?;
            let verbose = flag(params, 1, false);
            raw_transaction(state, &txid, verbose)?
        }
        "getrawmempool" => {
            if flag(params, 0, false) {
                let mut m = Map::new();
                for e in state.chain.mempool_entries() {
                    m.insert(
                        hash_to_hex(&e.meta.txid),
                        json!({
                            "size": e.tx.vsize(), "fee": kva(e.fee), "modifiedfee": kva(e.fee),
                            "time": e.time, "height": state.chain.height(),
                            "descendantcount": 1, "ancestorcount": 1,
                            "wtxid": hash_to_hex(&e.tx.wtxid()),
                            "depends": e.tx.inputs.iter()
                                .filter(|i| state.chain.mempool_entry(&i.prevout.txid).is_some())
                                .map(|i| hash_to_hex(&i.prevout.txid)).collect::<Vec<_>>(),
                        }),
                    );
                }
                Value::Object(m)
            } else {
                json!(state
                    .chain
                    .mempool_txids()
                    .iter()
                    .map(hash_to_hex)
                    .collect::<Vec<_>>())
            }
        }
        "getmempoolinfo" => {
            let entries = state.chain.mempool_entries();
            let bytes: usize = entries.iter().map(|e| e.tx.vsize()).sum();
            let relay = state.settings.relay_fee_per_kb;
            json!({
                "size": entries.len(), "bytes": bytes, "usage": bytes * 3,
                "maxmempool": 300_000_000u64, "mempoolminfee": kva(relay), "minrelaytxfee": kva(relay),
            })
        }
        "sendrawtransaction" | "dev_addmempool" => {
            let hex = need_str(params, 0, "hexstring")?;
            let tx = from_hex(hex)
                .ok()
                .and_then(|b| Transaction::from_bytes(&b).ok())
                .ok_or_else(|| Reject::new(-22, "TX decode failed"))?;
            let txid = state.submit(tx)?;
            json!(hash_to_hex(&txid))
        }
        "estimatesmartfee" => {
            let target = need_u64(params, 0, "conf_target")?;
            if !(1..=1008).contains(&target) {
                return Err(invalid("Invalid conf_target, must be between 1 - 1008"));
            }
            match state.settings.fee_estimate {
                Some(rate) => json!({"feerate": rate, "blocks": target.max(2)}),
                None => json!({"errors": ["Insufficient data or no feerate found"], "blocks": 0}),
            }
        }
        "generate" => {
            let n = need_u64(params, 0, "nblocks")? as u32;
            hashes_json(&state.mine(n, None, true))
        }
        "generatetoaddress" => {
            let n = need_u64(params, 0, "nblocks")? as u32;
            let addr = need_str(params, 1, "address")?;
            let script = crate::chain::address::address_to_script(addr, state.chain.network())
                .map_err(|_| Reject::new(-5, "Invalid address"))?;
            hashes_json(&state.mine(n, Some(&script), true))
        }
        "invalidateblock" => {
            let hash = need_hash(params, 0, "blockhash")?;
            let height = state
                .chain
                .height_of(&hash)
                .ok_or_else(|| Reject::new(-5, "Block not found"))?;
            if height == 0 {
                return Err(invalid("cannot invalidate the genesis block"));
            }
            state.rewind(height - 1, true);
            Value::Null
        }
        "getconnectioncount" => json!(0),
        "uptime" => json!(1),
        "help" => json!(METHODS.join("\n")),
        "stop" => return Ok((json!("Kevacoin server stopping"), Effect::Stop)),
        m if m.starts_with("dev_") => return dev(state, m, params),
        _ => return Err(Reject::new(-32601, "Method not found")),
    };
    Ok((v, Effect::None))
}

const METHODS: &[&str] = &[
    "getblockchaininfo",
    "getnetworkinfo",
    "getblockcount",
    "getbestblockhash",
    "getblockhash height",
    "getblock \"blockhash\" ( verbosity )",
    "getblockheader \"hash\" ( verbose )",
    "getrawtransaction \"txid\" ( verbose )",
    "getrawmempool ( verbose )",
    "getmempoolinfo",
    "sendrawtransaction \"hexstring\"",
    "estimatesmartfee conf_target",
    "generate nblocks",
    "generatetoaddress nblocks \"address\"",
    "invalidateblock \"blockhash\"",
    "stop",
    "dev_mine n ( with_mempool \"address\" )",
    "dev_pay \"address\" satoshis",
    "dev_addmempool \"hex\"",
    "dev_dropmempool ( [txids] )",
    "dev_reorg depth ( new_blocks resubmit )",
    "dev_rewind height",
    "dev_fail \"none|http500|delay|warmup|truncate|close\" ( count ms )",
    "dev_set {\"txindex\":bool,\"fee_estimate\":x|null,\"relay_fee\":sat_per_kb}",
    "dev_newaddress ( \"p2pkh|p2sh|p2sh-p2wpkh|p2wpkh\" )",
    "dev_wallet",
    "dev_keva_namespace \"name\"",
    "dev_keva_put \"namespace\" \"key\" \"value\"",
    "dev_keva_delete \"namespace\" \"key\"",
    "dev_truth ( \"scripthash\" )",
];

fn hashes_json(hashes: &[Hash32]) -> Value {
    json!(hashes.iter().map(hash_to_hex).collect::<Vec<_>>())
}

fn blockchain_info(state: &NodeState) -> Value {
    let h = state.chain.height();
    let fork =
        |id: &str, version: u32| json!({"id": id, "version": version, "reject": {"status": true}});
    let bip9 = json!({"status": "active", "startTime": -1, "timeout": 9_223_372_036_854_775_807i64, "since": 0});
    json!({
        "chain": state.chain.network().node_chain_name(),
        "blocks": h,
        "headers": h,
        "bestblockhash": hash_to_hex(&state.chain.tip_hash()),
        "difficulty": REGTEST_DIFFICULTY,
        "mediantime": median_time(state, h),
        "verificationprogress": 1.0,
        "initialblockdownload": false,
        "chainwork": chainwork(h),
        "size_on_disk": 0,
        "pruned": false,
        "softforks": [fork("bip34", 2), fork("bip66", 3), fork("bip65", 4)],
        "bip9_softforks": {"csv": bip9, "segwit": bip9, "nsfix": bip9},
        "warnings": "",
    })
}

fn network_info(state: &NodeState) -> Value {
    json!({
        "version": 160_900,
        "subversion": "/KevacoinCore:0.16.9/",
        "protocolversion": 70_015,
        "localservices": "000000000000040d",
        "localrelay": true,
        "timeoffset": 0,
        "networkactive": true,
        "connections": 0,
        "networks": [],
        "relayfee": kva(state.settings.relay_fee_per_kb),
        "incrementalfee": kva(1000),
        "localaddresses": [],
        "warnings": "",
    })
}

fn median_time(state: &NodeState, height: u32) -> u32 {
    let mut times: Vec<u32> = (height.saturating_sub(10)..=height)
        .filter_map(|h| state.chain.time_at(h))
        .collect();
    times.sort_unstable();
    times.get(times.len() / 2).copied().unwrap_or(0)
}

fn header_json(state: &NodeState, height: u32, block: &Block) -> Value {
    let tip = state.chain.height();
    let hd = &block.header;
    let mut v = json!({
        "hash": hash_to_hex(&hd.hash()),
        "confirmations": tip - height + 1,
        "height": height,
        "version": hd.version(),
        "versionHex": format!("{:08x}", hd.version()),
        "merkleroot": hash_to_hex(&hd.merkle_root()),
        "time": hd.time(),
        "mediantime": median_time(state, height),
        "nonce": hd.height(),
        "bits": format!("{:08x}", hd.bits()),
        "difficulty": REGTEST_DIFFICULTY,
        "chainwork": chainwork(height),
        "nTx": block.txs.len(),
    });
    if height > 0 {
        v["previousblockhash"] = json!(hash_to_hex(&hd.prev_hash()));
    }
    if let Some(next) = state.chain.hash_at(height + 1) {
        v["nextblockhash"] = json!(hash_to_hex(&next));
    }
    v
}

fn block_json(state: &NodeState, height: u32, full_txs: bool) -> Value {
    let Some(block) = state.chain.block(height) else {
        return Value::Null;
    };
    let mut v = header_json(state, height, &block);
    let size = block.serialize().len();
    let stripped = block.header.len()
        + 9
        + block
            .txs
            .iter()
            .map(|t| t.serialize_no_witness().len())
            .sum::<usize>();
    v["size"] = json!(size);
    v["strippedsize"] = json!(stripped);
    v["weight"] = json!(stripped * 3 + size);
    // getblock reports the CryptoNote nonce, which the regtest generate path leaves at 0.
    v["nonce"] = json!(0);
    let hash = block.header.hash();
    v["tx"] = if full_txs {
        Value::Array(
            block
                .txs
                .iter()
                .map(|t| {
                    tx_json(
                        state.chain.network(),
                        t,
                        Some((hash, height, block.header.time())),
                        state.chain.height(),
                    )
                })
                .collect(),
        )
    } else {
        json!(block
            .txs
            .iter()
            .map(|t| hash_to_hex(&t.txid()))
            .collect::<Vec<_>>())
    };
    v
}

fn raw_transaction(state: &NodeState, txid: &Hash32, verbose: bool) -> Result<Value, Reject> {
    let genesis_cb = state
        .chain
        .block_metas(0)
        .first()
        .map(|m| m.txid)
        .unwrap_or_default();
    if txid == &genesis_cb {
        return Err(Reject::new(
            -5,
            "The genesis block coinbase is not considered an ordinary transaction and cannot be retrieved",
        ));
    }
    let txindex = state.settings.txindex;
    let found = state.chain.find_tx(txid, txindex).ok_or_else(|| {
        Reject::new(
            -5,
            if txindex {
                "No such mempool or blockchain transaction. Use gettransaction for wallet transactions."
            } else {
                "No such mempool transaction. Use -txindex to enable blockchain transaction queries. Use gettransaction for wallet transactions."
            },
        )
    })?;
    let net = state.chain.network();
    let (tx, place) = match found {
        Found::Mempool(e) => (e.tx, None),
        Found::Confirmed {
            tx,
            height,
            block_hash,
            time,
        } => (tx, Some((block_hash, height, time))),
    };
    if !verbose {
        return Ok(json!(to_hex(&tx.serialize())));
    }
    Ok(tx_json(net, &tx, place, state.chain.height()))
}

/// The node's verbose transaction object.
pub fn tx_json(
    net: Network,
    tx: &Transaction,
    place: Option<(Hash32, u32, u32)>,
    tip: u32,
) -> Value {
    let bytes = tx.serialize();
    let vin: Vec<Value> = tx
        .inputs
        .iter()
        .map(|i| {
            let mut v = if tx.is_coinbase() {
                json!({"coinbase": to_hex(&i.script_sig)})
            } else {
                json!({
                    "txid": hash_to_hex(&i.prevout.txid),
                    "vout": i.prevout.vout,
                    "scriptSig": {"asm": script_asm(&i.script_sig), "hex": to_hex(&i.script_sig)},
                })
            };
            if !i.witness.is_empty() {
                v["txinwitness"] = json!(i.witness.iter().map(|w| to_hex(w)).collect::<Vec<_>>());
            }
            v["sequence"] = json!(i.sequence);
            v
        })
        .collect();
    let vout: Vec<Value> = tx
        .outputs
        .iter()
        .enumerate()
        .map(|(n, o)| {
            let script = &o.script_pubkey;
            let addr_script = split_keva(script).map_or(&script[..], |(_, a)| a);
            let kind = match classify(addr_script) {
                ScriptKind::P2pkh(_) => "pubkeyhash",
                ScriptKind::P2sh(_) => "scripthash",
                ScriptKind::P2wpkh(_) => "witness_v0_keyhash",
                ScriptKind::P2wsh(_) => "witness_v0_scripthash",
                ScriptKind::P2tr(_) => "witness_unknown",
                ScriptKind::OpReturn => "nulldata",
                ScriptKind::Other => "nonstandard",
            };
            let mut spk = json!({"asm": script_asm(script), "hex": to_hex(script), "type": kind});
            if kind != "nulldata" && kind != "nonstandard" && kind != "witness_unknown" {
                if let Some(a) = crate::chain::address::script_to_address(addr_script, net) {
                    spk["reqSigs"] = json!(1);
                    spk["addresses"] = json!([a]);
                }
            }
            json!({"value": kva(o.value), "n": n, "scriptPubKey": spk})
        })
        .collect();
    let mut v = json!({
        "txid": hash_to_hex(&tx.txid()),
        "hash": hash_to_hex(&tx.wtxid()),
        "version": tx.version,
        "size": bytes.len(),
        "vsize": tx.vsize(),
        "locktime": tx.lock_time,
        "vin": vin,
        "vout": vout,
        "hex": to_hex(&bytes),
    });
    if let Some((hash, height, time)) = place {
        v["blockhash"] = json!(hash_to_hex(&hash));
        v["confirmations"] = json!(tip - height + 1);
        v["time"] = json!(time);
        v["blocktime"] = json!(time);
    }
    v
}
