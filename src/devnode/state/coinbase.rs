//! What a generated block pays its miner, and the coinbase transaction that pays it.

use super::COIN;
use crate::chain::hash::sha256d;
use crate::chain::{Hash32, OutPoint, Transaction, TxIn, TxOut};

/// Block subsidy at `height`: 500 KVA halving every 1,050,000 blocks, like mainnet.
pub fn subsidy(height: u32) -> u64 {
    let halvings = height / 1_050_000;
    if halvings >= 64 {
        0
    } else {
        (500 * COIN) >> halvings
    }
}

/// A coinbase: BIP34 height push and a tag in scriptSig; with a witness commitment output
/// (and the reserved-value witness) when the block carries witness transactions.
pub fn coinbase(
    height: u32,
    payee: &[u8],
    value: u64,
    tag: u32,
    witness_root: Option<Hash32>,
) -> Transaction {
    let mut script_sig = Vec::with_capacity(12);
    push_script_num(&mut script_sig, height as i64);
    crate::devnode::analyze::push(&mut script_sig, &tag.to_le_bytes());
    let mut outputs = vec![TxOut {
        value,
        script_pubkey: payee.to_vec(),
    }];
    let mut witness = Vec::new();
    if let Some(root) = witness_root {
        let reserved = [0u8; 32];
        let commitment = sha256d(&[root, reserved].concat());
        let mut script = vec![0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
        script.extend_from_slice(&commitment);
        outputs.push(TxOut {
            value: 0,
            script_pubkey: script,
        });
        witness.push(reserved.to_vec());
    }
    Transaction {
        version: 1,
        inputs: vec![TxIn {
            prevout: OutPoint {
                txid: [0; 32],
                vout: u32::MAX,
            },
            script_sig,
            sequence: u32::MAX,
            witness,
        }],
        outputs,
        lock_time: 0,
    }
}

/// `CScript() << n`: OP_0, OP_1..OP_16, or a minimal little-endian number push.
fn push_script_num(out: &mut Vec<u8>, n: i64) {
    if n == 0 {
        out.push(0x00);
        return;
    }
    if (1..=16).contains(&n) {
        out.push(0x50 + n as u8);
        return;
    }
    let neg = n < 0;
    let mut abs = n.unsigned_abs();
    let mut bytes = Vec::new();
    while abs > 0 {
        bytes.push((abs & 0xff) as u8);
        abs >>= 8;
    }
    if bytes.last().is_some_and(|b| b & 0x80 != 0) {
        bytes.push(if neg { 0x80 } else { 0 });
    } else if neg {
        if let Some(b) = bytes.last_mut() {
            *b |= 0x80;
        }
    }
    out.push(bytes.len() as u8);
    out.extend_from_slice(&bytes);
}
