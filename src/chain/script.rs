//! Output-script templates and Electrum scripthashes.

use super::encode::{Error, Result};
use super::hash::{hash_to_hex, sha256};
use super::Hash32;

/// OP_0 / OP_FALSE.
pub const OP_0: u8 = 0x00;
/// Push with a 1-byte length.
pub const OP_PUSHDATA1: u8 = 0x4c;
/// Push with a 2-byte length.
pub const OP_PUSHDATA2: u8 = 0x4d;
/// Push with a 4-byte length.
pub const OP_PUSHDATA4: u8 = 0x4e;
/// OP_1 / OP_TRUE (witness version 1).
pub const OP_1: u8 = 0x51;
/// OP_16 (highest witness version).
pub const OP_16: u8 = 0x60;
/// OP_NOP.
pub const OP_NOP: u8 = 0x61;
/// OP_RETURN (provably unspendable data carrier).
pub const OP_RETURN: u8 = 0x6a;
/// OP_2DROP (ends keva argument lists).
pub const OP_2DROP: u8 = 0x6d;
/// OP_DROP (ends keva PUT argument lists).
pub const OP_DROP: u8 = 0x75;
/// OP_DUP.
pub const OP_DUP: u8 = 0x76;
/// OP_EQUAL.
pub const OP_EQUAL: u8 = 0x87;
/// OP_EQUALVERIFY.
pub const OP_EQUALVERIFY: u8 = 0x88;
/// OP_HASH160.
pub const OP_HASH160: u8 = 0xa9;
/// OP_CHECKSIG.
pub const OP_CHECKSIG: u8 = 0xac;

/// The standard output forms an Electrum server needs to recognise.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ScriptKind {
    /// `OP_DUP OP_HASH160 <20> OP_EQUALVERIFY OP_CHECKSIG`.
    P2pkh([u8; 20]),
    /// `OP_HASH160 <20> OP_EQUAL`.
    P2sh([u8; 20]),
    /// Witness v0 key hash.
    P2wpkh([u8; 20]),
    /// Witness v0 script hash.
    P2wsh([u8; 32]),
    /// Witness v1 (taproot) output key.
    P2tr([u8; 32]),
    /// Starts with OP_RETURN: unspendable, never enters the UTXO set.
    OpReturn,
    /// Anything else (including keva scripts before their prefix is stripped).
    Other,
}

/// Recognises the standard templates by exact byte layout.
pub fn classify(script: &[u8]) -> ScriptKind {
    match script {
        [OP_DUP, OP_HASH160, 0x14, h @ .., OP_EQUALVERIFY, OP_CHECKSIG] if h.len() == 20 => {
            ScriptKind::P2pkh(h.try_into().unwrap_or([0; 20]))
        }
        [OP_HASH160, 0x14, h @ .., OP_EQUAL] if h.len() == 20 => {
            ScriptKind::P2sh(h.try_into().unwrap_or([0; 20]))
        }
        [OP_0, 0x14, h @ ..] if h.len() == 20 => {
            ScriptKind::P2wpkh(h.try_into().unwrap_or([0; 20]))
        }
        [OP_0, 0x20, h @ ..] if h.len() == 32 => ScriptKind::P2wsh(h.try_into().unwrap_or([0; 32])),
        [OP_1, 0x20, h @ ..] if h.len() == 32 => ScriptKind::P2tr(h.try_into().unwrap_or([0; 32])),
        [OP_RETURN, ..] => ScriptKind::OpReturn,
        _ => ScriptKind::Other,
    }
}

/// The witness version and program of a segwit output (any version), for bech32 encoding.
pub fn witness_program(script: &[u8]) -> Option<(u8, &[u8])> {
    if script.len() < 4 || script.len() > 42 {
        return None;
    }
    let version = match script[0] {
        OP_0 => 0,
        v @ OP_1..=OP_16 => v - OP_1 + 1,
        _ => return None,
    };
    let len = script[1] as usize;
    if len + 2 != script.len() || !(2..=40).contains(&len) {
        return None;
    }
    Some((version, &script[2..]))
}

/// Builds `OP_n <program>` for a witness output.
pub fn witness_script(version: u8, program: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(program.len() + 2);
    out.push(if version == 0 {
        OP_0
    } else {
        OP_1 + version - 1
    });
    push_data(&mut out, program);
    out
}

/// Electrum scripthash: sha256(script) in internal order (the protocol's hex is reversed).
pub fn scripthash(script: &[u8]) -> Hash32 {
    sha256(script)
}

/// Electrum display hex of a scripthash (reversed), as clients send it.
pub fn scripthash_to_hex(sh: &Hash32) -> String {
    hash_to_hex(sh)
}

/// Parses a client-supplied scripthash (64 hex chars, reversed) into internal order.
pub fn scripthash_from_hex(s: &str) -> Result<Hash32> {
    super::hash::hash_from_hex(s).map_err(|e| Error::new(format!("invalid scripthash {s:?}: {e}")))
}

/// `OP_DUP OP_HASH160 <h> OP_EQUALVERIFY OP_CHECKSIG`.
pub fn p2pkh_script(h: &[u8; 20]) -> Vec<u8> {
    let mut out = vec![OP_DUP, OP_HASH160, 0x14];
    out.extend_from_slice(h);
    out.extend_from_slice(&[OP_EQUALVERIFY, OP_CHECKSIG]);
    out
}

/// `OP_HASH160 <h> OP_EQUAL`.
pub fn p2sh_script(h: &[u8; 20]) -> Vec<u8> {
    let mut out = vec![OP_HASH160, 0x14];
    out.extend_from_slice(h);
    out.push(OP_EQUAL);
    out
}

/// `OP_0 <h20>`.
pub fn p2wpkh_script(h: &[u8; 20]) -> Vec<u8> {
    witness_script(0, h)
}

/// `OP_0 <h32>`.
pub fn p2wsh_script(h: &[u8; 32]) -> Vec<u8> {
    witness_script(0, h)
}

/// `OP_RETURN <push data>`.
pub fn op_return_script(data: &[u8]) -> Vec<u8> {
    let mut out = vec![OP_RETURN];
    push_data(&mut out, data);
    out
}

/// Appends a minimal CScript push (OP_0 / direct / PUSHDATA1/2/4), as `CScript << vector` writes it.
pub fn push_data(out: &mut Vec<u8>, data: &[u8]) {
    let n = data.len();
    if n < OP_PUSHDATA1 as usize {
        out.push(n as u8);
    } else if n <= 0xff {
        out.push(OP_PUSHDATA1);
        out.push(n as u8);
    } else if n <= 0xffff {
        out.push(OP_PUSHDATA2);
        out.extend_from_slice(&(n as u16).to_le_bytes());
    } else {
        out.push(OP_PUSHDATA4);
        out.extend_from_slice(&(n as u32).to_le_bytes());
    }
    out.extend_from_slice(data);
}

/// One script element: an opcode, with its data when it is a push (0x00..=0x4e).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Op<'a> {
    /// The opcode byte.
    pub code: u8,
    /// Pushed bytes for push opcodes, `None` for all others.
    pub data: Option<&'a [u8]>,
    /// Offset just past this element in the script.
    pub end: usize,
}

/// Iterates over script elements; yields `Err` once (then stops) on a truncated push.
pub struct Ops<'a> {
    script: &'a [u8],
    pos: usize,
    failed: bool,
}

/// Walks a script op by op without copying, the way ElectrumX's `Script.get_ops` does.
pub fn ops(script: &[u8]) -> Ops<'_> {
    Ops {
        script,
        pos: 0,
        failed: false,
    }
}

impl<'a> Ops<'a> {
    fn read_push(&mut self, code: u8) -> Option<&'a [u8]> {
        let s = self.script;
        let mut n = self.pos;
        let len_bytes = match code {
            OP_PUSHDATA1 => 1,
            OP_PUSHDATA2 => 2,
            OP_PUSHDATA4 => 4,
            _ => 0,
        };
        let len = if len_bytes == 0 {
            code as usize
        } else {
            let lb = s.get(n..n + len_bytes)?;
            n += len_bytes;
            lb.iter()
                .rev()
                .fold(0usize, |acc, &b| acc << 8 | b as usize)
        };
        let data = s.get(n..n.checked_add(len)?)?;
        self.pos = n + len;
        Some(data)
    }
}

impl<'a> Iterator for Ops<'a> {
    type Item = Result<Op<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.script.len() {
            return None;
        }
        let at = self.pos;
        let code = self.script[at];
        self.pos += 1;
        if code > OP_PUSHDATA4 {
            return Some(Ok(Op {
                code,
                data: None,
                end: self.pos,
            }));
        }
        match self.read_push(code) {
            Some(data) => Some(Ok(Op {
                code,
                data: Some(data),
                end: self.pos,
            })),
            None => {
                self.failed = true;
                Some(Err(Error::new(format!(
                    "script truncated inside the push at offset {at}"
                ))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::hash::from_hex;

    #[test]
    fn classifies_templates() {
        let h = [7u8; 20];
        assert_eq!(classify(&p2pkh_script(&h)), ScriptKind::P2pkh(h));
        assert_eq!(classify(&p2sh_script(&h)), ScriptKind::P2sh(h));
        assert_eq!(classify(&p2wpkh_script(&h)), ScriptKind::P2wpkh(h));
        assert_eq!(
            classify(&p2wsh_script(&[9; 32])),
            ScriptKind::P2wsh([9; 32])
        );
        assert_eq!(
            classify(&witness_script(1, &[9; 32])),
            ScriptKind::P2tr([9; 32])
        );
        assert_eq!(classify(&op_return_script(b"hi")), ScriptKind::OpReturn);
        // The genesis output pushes a P2SH script instead of being one.
        let genesis = from_hex("17a914676a24ba4bfadd458e5245b26fa57f9a62ca185087").unwrap();
        assert_eq!(classify(&genesis), ScriptKind::Other);
        assert_eq!(classify(&[]), ScriptKind::Other);
    }

    #[test]
    fn scripthash_is_reversed_sha256() {
        let script = from_hex("a9147a802221bda90ba044246c8ae9b3ff99ae21683e87").unwrap();
        let sh = scripthash(&script);
        assert_eq!(
            scripthash_to_hex(&sh),
            "cc2463ea09daf6acfffb80d8a72756ebdf92840ace4c5025b7b0ed035900d0c3"
        );
        assert_eq!(scripthash_from_hex(&scripthash_to_hex(&sh)).unwrap(), sh);
        assert!(scripthash_from_hex("xyz").is_err());
    }

    #[test]
    fn push_data_sizes() {
        for (n, prefix) in [
            (0usize, vec![0x00]),
            (1, vec![0x01]),
            (75, vec![75]),
            (76, vec![0x4c, 76]),
            (255, vec![0x4c, 0xff]),
            (256, vec![0x4d, 0x00, 0x01]),
            (3072, vec![0x4d, 0x00, 0x0c]),
            (65536, vec![0x4e, 0x00, 0x00, 0x01, 0x00]),
        ] {
            let data = vec![0xab; n];
            let mut out = Vec::new();
            push_data(&mut out, &data);
            assert_eq!(&out[..prefix.len()], &prefix[..], "n={n}");
            let op = ops(&out).next().unwrap().unwrap();
            assert_eq!(op.data, Some(&data[..]));
            assert_eq!(op.end, out.len());
        }
    }

    #[test]
    fn truncated_push_is_reported_once() {
        let mut it = ops(&[0x51, 0x4d, 0x05]);
        assert_eq!(it.next().unwrap().unwrap().code, 0x51);
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
        assert!(ops(&[0x4e, 0xff, 0xff, 0xff, 0xff])
            .next()
            .unwrap()
            .is_err());
    }
}
