//! Bitcoin/SegWit transaction serialization (SegWit is active on Kevacoin from genesis).

use super::encode::{compact_size_len, write_compact_size, Cursor, Error, Result};
use super::Hash32;
use sha2::{Digest, Sha256};

/// Tx version that marks keva transactions (the Namecoin value).
pub const KEVA_TX_VERSION: i32 = 0x7100;

/// A reference to an output being spent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct OutPoint {
    /// Txid of the funding transaction, internal order.
    pub txid: Hash32,
    /// Output index in that transaction.
    pub vout: u32,
}

impl OutPoint {
    /// The coinbase marker (all-zero txid, index 0xffffffff), which spends nothing.
    pub fn is_null(&self) -> bool {
        self.vout == u32::MAX && self.txid == [0; 32]
    }
}

/// A transaction input with its (possibly empty) witness stack.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TxIn {
    /// The output spent.
    pub prevout: OutPoint,
    /// The unlocking script.
    pub script_sig: Vec<u8>,
    /// nSequence.
    pub sequence: u32,
    /// Witness stack items; empty for non-witness inputs.
    pub witness: Vec<Vec<u8>>,
}

/// A transaction output.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TxOut {
    /// Amount in satoshis.
    pub value: u64,
    /// The locking script (with a keva prefix on keva outputs).
    pub script_pubkey: Vec<u8>,
}

/// A decoded transaction.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Transaction {
    /// nVersion (0x7100 on keva transactions).
    pub version: i32,
    /// Inputs in order.
    pub inputs: Vec<TxIn>,
    /// Outputs in order.
    pub outputs: Vec<TxOut>,
    /// nLockTime.
    pub lock_time: u32,
}

/// Where serialized bytes go: a buffer, or straight into a hasher (txids without a copy).
trait Sink {
    fn put(&mut self, b: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

impl Sink for Sha256 {
    fn put(&mut self, b: &[u8]) {
        self.update(b);
    }
}

fn put_compact_size(out: &mut impl Sink, n: u64) {
    let mut buf = Vec::new();
    if n < 0xfd {
        out.put(&[n as u8]);
    } else {
        write_compact_size(&mut buf, n);
        out.put(&buf);
    }
}

fn put_var_bytes(out: &mut impl Sink, b: &[u8]) {
    put_compact_size(out, b.len() as u64);
    out.put(b);
}

/// Smallest possible serialized input (outpoint, empty script, sequence).
const MIN_INPUT_LEN: usize = 41;
/// Smallest possible serialized output (value, empty script).
const MIN_OUTPUT_LEN: usize = 9;

fn read_inputs(cur: &mut Cursor, count: usize) -> Result<Vec<TxIn>> {
    let mut inputs = Vec::with_capacity(count);
    for i in 0..count {
        let input = (|| {
            let txid = cur.read_hash()?;
            let vout = cur.read_u32_le()?;
            let script_sig = cur.read_var_bytes()?.to_vec();
            let sequence = cur.read_u32_le()?;
            Ok(TxIn {
                prevout: OutPoint { txid, vout },
                script_sig,
                sequence,
                witness: Vec::new(),
            })
        })()
        .map_err(|e: Error| e.context(format!("input {i}")))?;
        inputs.push(input);
    }
    Ok(inputs)
}

fn read_outputs(cur: &mut Cursor) -> Result<Vec<TxOut>> {
    let count = cur.read_count(MIN_OUTPUT_LEN, "output")?;
    let mut outputs = Vec::with_capacity(count);
    for i in 0..count {
        let output = (|| {
            let value = cur.read_u64_le()?;
            let script_pubkey = cur.read_var_bytes()?.to_vec();
            Ok(TxOut {
                value,
                script_pubkey,
            })
        })()
        .map_err(|e: Error| e.context(format!("output {i}")))?;
        outputs.push(output);
    }
    Ok(outputs)
}

impl Transaction {
    /// Reads one transaction (witness form accepted) from the cursor.
    pub fn parse(cur: &mut Cursor) -> Result<Transaction> {
        let start = cur.position();
        Self::parse_inner(cur).map_err(|e| e.context(format!("transaction at offset {start}")))
    }

    fn parse_inner(cur: &mut Cursor) -> Result<Transaction> {
        let version = cur.read_i32_le()?;
        let mut count = cur.read_count(MIN_INPUT_LEN, "input")?;
        let mut flags = 0u8;
        if count == 0 {
            // Either a witness marker or a genuinely empty input list (BIP144 rules).
            flags = cur.read_u8()?;
            if flags != 0 {
                count = cur.read_count(MIN_INPUT_LEN, "input")?;
            }
        }
        let mut inputs = read_inputs(cur, count)?;
        let outputs = if count == 0 && flags == 0 {
            // The byte read as a flag was a zero output count (no inputs, no outputs).
            Vec::new()
        } else {
            read_outputs(cur)?
        };
        if flags & 1 != 0 {
            flags ^= 1;
            for (i, input) in inputs.iter_mut().enumerate() {
                let n = cur.read_count(1, "witness item")?;
                let mut items = Vec::with_capacity(n);
                for j in 0..n {
                    let item = cur
                        .read_var_bytes()
                        .map_err(|e| e.context(format!("witness {i} item {j}")))?;
                    items.push(item.to_vec());
                }
                input.witness = items;
            }
            if inputs.iter().all(|i| i.witness.is_empty()) {
                return Err(Error::new(
                    "witness flag set but every witness is empty (superfluous witness record)",
                ));
            }
        }
        if flags != 0 {
            return Err(Error::new(format!(
                "unknown transaction flag byte 0x{flags:02x}"
            )));
        }
        let lock_time = cur.read_u32_le()?;
        Ok(Transaction {
            version,
            inputs,
            outputs,
            lock_time,
        })
    }

    /// Parses a slice that must hold exactly one transaction (e.g. `getrawtransaction` hex).
    pub fn from_bytes(b: &[u8]) -> Result<Transaction> {
        let mut cur = Cursor::new(b);
        let tx = Transaction::parse(&mut cur)?;
        if !cur.is_empty() {
            return Err(Error::new(format!(
                "{} trailing bytes after the transaction",
                cur.remaining()
            )));
        }
        Ok(tx)
    }

    /// True when any input carries witness data, which selects the BIP144 serialization.
    pub fn has_witness(&self) -> bool {
        self.inputs.iter().any(|i| !i.witness.is_empty())
    }

    fn write(&self, out: &mut impl Sink, witness: bool) {
        out.put(&self.version.to_le_bytes());
        if witness {
            out.put(&[0x00, 0x01]);
        }
        put_compact_size(out, self.inputs.len() as u64);
        for i in &self.inputs {
            out.put(&i.prevout.txid);
            out.put(&i.prevout.vout.to_le_bytes());
            put_var_bytes(out, &i.script_sig);
            out.put(&i.sequence.to_le_bytes());
        }
        put_compact_size(out, self.outputs.len() as u64);
        for o in &self.outputs {
            out.put(&o.value.to_le_bytes());
            put_var_bytes(out, &o.script_pubkey);
        }
        if witness {
            for i in &self.inputs {
                put_compact_size(out, i.witness.len() as u64);
                for item in &i.witness {
                    put_var_bytes(out, item);
                }
            }
        }
        out.put(&self.lock_time.to_le_bytes());
    }

    fn hash(&self, witness: bool) -> Hash32 {
        let mut h = Sha256::new();
        self.write(&mut h, witness);
        Sha256::digest(h.finalize()).into()
    }

    /// Network serialization: witness form when any input has a witness.
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.total_size());
        self.write(&mut out, self.has_witness());
        out
    }

    /// Serialization without witness data, which the txid commits to.
    pub fn serialize_no_witness(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.base_size());
        self.write(&mut out, false);
        out
    }

    /// Transaction id (sha256d of the non-witness form), internal order.
    pub fn txid(&self) -> Hash32 {
        self.hash(false)
    }

    /// Witness id (sha256d of the full form); equals the txid without witness.
    pub fn wtxid(&self) -> Hash32 {
        self.hash(self.has_witness())
    }

    /// A coinbase has exactly one input, spending the null outpoint.
    pub fn is_coinbase(&self) -> bool {
        self.inputs.len() == 1 && self.inputs[0].prevout.is_null()
    }

    /// Only version 0x7100 transactions may carry keva operations.
    pub fn is_keva(&self) -> bool {
        self.version == KEVA_TX_VERSION
    }

    /// Size of the non-witness serialization.
    pub fn base_size(&self) -> usize {
        let mut n = 4 + compact_size_len(self.inputs.len() as u64);
        for i in &self.inputs {
            n += 36 + compact_size_len(i.script_sig.len() as u64) + i.script_sig.len() + 4;
        }
        n += compact_size_len(self.outputs.len() as u64);
        for o in &self.outputs {
            n += 8 + compact_size_len(o.script_pubkey.len() as u64) + o.script_pubkey.len();
        }
        n + 4
    }

    /// Size of the network serialization (with witness when present).
    pub fn total_size(&self) -> usize {
        let mut n = self.base_size();
        if self.has_witness() {
            n += 2;
            for i in &self.inputs {
                n += compact_size_len(i.witness.len() as u64);
                for item in &i.witness {
                    n += compact_size_len(item.len() as u64) + item.len();
                }
            }
        }
        n
    }

    /// BIP141 weight: base size × 3 + total size.
    pub fn weight(&self) -> usize {
        self.base_size() * 3 + self.total_size()
    }

    /// Virtual size (weight / 4, rounded up), which fee rates are quoted against.
    pub fn vsize(&self) -> usize {
        self.weight().div_ceil(4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::hash::{from_hex, hash_to_hex};

    const KEVA_NS_TX: &str = "00710000000101111111111111111111111111111111111111111111111111111111111111111101000000171600146465666768696a6b6c6d6e6f7071727374757677ffffffff0240420f00000000003cd0153596ad7823edac385af221b196dc3906e8f14b52e70c53796e746865746963204e536da9142b117ad7b125e06a46a17235c0f5bc21afef11248715cd5b07000000001976a914000102030405060708090a0b0c0d0e0f1011121388ac024730000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000002102000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00000000";

    #[test]
    fn segwit_keva_tx_round_trips() {
        let raw = from_hex(KEVA_NS_TX).unwrap();
        let tx = Transaction::from_bytes(&raw).unwrap();
        assert!(tx.is_keva());
        assert!(tx.has_witness());
        assert!(!tx.is_coinbase());
        assert_eq!(tx.serialize(), raw);
        assert_eq!(tx.total_size(), raw.len());
        assert_eq!(
            hash_to_hex(&tx.txid()),
            "5a37d5cf62a1338f76fae383721a151a9d049f55e0a1144106ced1a1f338f661"
        );
        assert!(tx.vsize() < raw.len());
        assert_eq!(tx.base_size(), tx.serialize_no_witness().len());
    }

    #[test]
    fn bad_flags_and_truncation_are_errors() {
        let raw = from_hex(KEVA_NS_TX).unwrap();
        for cut in [0, 3, 5, 6, 50, raw.len() - 1] {
            assert!(Transaction::from_bytes(&raw[..cut]).is_err(), "cut {cut}");
        }
        let mut bad = raw.clone();
        bad[5] = 0x02;
        assert!(Transaction::from_bytes(&bad)
            .unwrap_err()
            .to_string()
            .contains("flag"));
    }

    #[test]
    fn empty_tx_parses() {
        let raw = from_hex("01000000000000000000").unwrap();
        let tx = Transaction::from_bytes(&raw).unwrap();
        assert!(tx.inputs.is_empty() && tx.outputs.is_empty());
        assert_eq!(tx.serialize(), raw);
    }
}
