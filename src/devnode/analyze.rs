//! The stand-in's own reading of transactions, written separately from the indexer's code paths
//! so that the ground truth it records is an independent second opinion.
//!
//! Keva prefixes are split the way kevacoind's `CKevaScript` does it; index keys and hashtags
//! follow the reference server's rules as documented in the chain reference.

use crate::chain::hash::sha256;
use crate::chain::{Hash32, OutPoint, Transaction};

/// Transaction version that may carry keva outputs (the Namecoin value).
pub const KEVA_TX_VERSION: i32 = 0x7100;

/// A keva operation as the stand-in reads it (its own type, independent of the indexer's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KevaOp {
    /// `d0`: register a namespace with a display name.
    Namespace {
        namespace: Vec<u8>,
        display_name: Vec<u8>,
    },
    /// `d1`: set a key.
    Put {
        namespace: Vec<u8>,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    /// `d2`: delete a key.
    Delete { namespace: Vec<u8>, key: Vec<u8> },
}

impl KevaOp {
    /// The 21-byte namespace id the operation acts on.
    pub fn namespace(&self) -> &[u8] {
        match self {
            KevaOp::Namespace { namespace, .. }
            | KevaOp::Put { namespace, .. }
            | KevaOp::Delete { namespace, .. } => namespace,
        }
    }

    /// The key of a put or delete.
    pub fn key(&self) -> Option<&[u8]> {
        match self {
            KevaOp::Namespace { .. } => None,
            KevaOp::Put { key, .. } | KevaOp::Delete { key, .. } => Some(key),
        }
    }

    /// The keva script: the operation's prefix followed by `address_script`.
    pub fn script(&self, address_script: &[u8]) -> Vec<u8> {
        let mut s = Vec::new();
        match self {
            KevaOp::Namespace {
                namespace,
                display_name,
            } => {
                s.push(0xd0);
                push(&mut s, namespace);
                push(&mut s, display_name);
                s.push(0x6d);
            }
            KevaOp::Put {
                namespace,
                key,
                value,
            } => {
                s.push(0xd1);
                push(&mut s, namespace);
                push(&mut s, key);
                push(&mut s, value);
                s.extend_from_slice(&[0x6d, 0x75]);
            }
            KevaOp::Delete { namespace, key } => {
                s.push(0xd2);
                push(&mut s, namespace);
                push(&mut s, key);
                s.push(0x6d);
            }
        }
        s.extend_from_slice(address_script);
        s
    }
}

/// Namespace id under the NSFIX rule: `0x35 ‖ HASH160(txid ‖ ascii(vout))` of the first input.
pub fn derive_namespace(prev: &OutPoint) -> Vec<u8> {
    let mut pre = prev.txid.to_vec();
    pre.extend_from_slice(prev.vout.to_string().as_bytes());
    let mut ns = vec![0x35];
    ns.extend_from_slice(&crate::chain::hash::hash160(&pre));
    ns
}

/// What one output contributes to the index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputMeta {
    /// Amount in satoshis.
    pub value: u64,
    /// sha256 of the address script (keva prefix removed); `None` for unspendable outputs.
    pub scripthash: Option<Hash32>,
}

/// A keva operation carried by a transaction and the pseudo-script keys it is indexed under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KevaMeta {
    /// Output index of the keva output.
    pub vout: u32,
    /// The operation as read from the script.
    pub op: KevaOp,
    /// Every X of `d1 <push X> 00 6d 75 6a` this output is indexed under, deduplicated.
    pub index_keys: Vec<Vec<u8>>,
}

/// Everything about a transaction the ground truth needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxMeta {
    /// The transaction id (internal order).
    pub txid: Hash32,
    /// Outputs spent (empty for a coinbase).
    pub inputs: Vec<OutPoint>,
    /// One entry per output.
    pub outputs: Vec<OutputMeta>,
    /// The first keva output, if any.
    pub keva: Option<KevaMeta>,
}

/// Reads a transaction into its ground-truth record.
pub fn analyze(tx: &Transaction) -> TxMeta {
    let txid = tx.txid();
    let inputs = if tx.is_coinbase() {
        Vec::new()
    } else {
        tx.inputs.iter().map(|i| i.prevout).collect()
    };
    let mut keva = None;
    let outputs = tx
        .outputs
        .iter()
        .enumerate()
        .map(|(vout, out)| {
            let script = &out.script_pubkey;
            if is_unspendable(script) {
                return OutputMeta {
                    value: out.value,
                    scripthash: None,
                };
            }
            let (op, addr) = match split_keva(script) {
                Some((op, addr)) => (Some(op), addr),
                None => (None, &script[..]),
            };
            if let (Some(op), None) = (op, &keva) {
                if tx.version == KEVA_TX_VERSION {
                    keva = Some(KevaMeta {
                        vout: vout as u32,
                        index_keys: index_keys(&op),
                        op,
                    });
                }
            }
            OutputMeta {
                value: out.value,
                scripthash: Some(sha256(addr)),
            }
        })
        .collect();
    TxMeta {
        txid,
        inputs,
        outputs,
        keva,
    }
}

/// OP_RETURN (or OP_FALSE OP_RETURN) outputs can never be spent and are not indexed.
pub fn is_unspendable(script: &[u8]) -> bool {
    script.first() == Some(&0x6a) || script.starts_with(&[0x00, 0x6a])
}

/// Reads one script element: `Some((opcode, push data))`, advancing `pos`.
pub fn next_op<'a>(script: &'a [u8], pos: &mut usize) -> Option<(u8, Option<&'a [u8]>)> {
    let op = *script.get(*pos)?;
    *pos += 1;
    let len = match op {
        0x01..=0x4b => op as usize,
        0x4c => {
            let n = *script.get(*pos)? as usize;
            *pos += 1;
            n
        }
        0x4d => {
            let b = script.get(*pos..*pos + 2)?;
            *pos += 2;
            u16::from_le_bytes([b[0], b[1]]) as usize
        }
        0x4e => {
            let b = script.get(*pos..*pos + 4)?;
            *pos += 4;
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
        }
        0x00 => return Some((op, Some(&[]))),
        _ => return Some((op, None)),
    };
    let data = script.get(*pos..pos.checked_add(len)?)?;
    *pos += len;
    Some((op, Some(data)))
}

/// Splits a keva script like kevacoind's `CKevaScript`: opcode, pushes up to the first
/// DROP/2DROP/NOP, every following DROP/2DROP/NOP skipped, the rest is the address.
pub fn split_keva(script: &[u8]) -> Option<(KevaOp, &[u8])> {
    let mut pos = 0;
    let (code, _) = next_op(script, &mut pos)?;
    if !(0xd0..=0xd2).contains(&code) {
        return None;
    }
    let mut args: Vec<&[u8]> = Vec::new();
    loop {
        let before = pos;
        let (op, data) = next_op(script, &mut pos)?;
        match (op, data) {
            (0x75 | 0x6d | 0x61, _) => {
                pos = before;
                break;
            }
            (0x00..=0x4e, Some(d)) => args.push(d),
            _ => return None,
        }
    }
    while matches!(script.get(pos), Some(0x75 | 0x6d | 0x61)) {
        pos += 1;
    }
    let op = match (code, args.as_slice()) {
        (0xd0, [ns, name]) => KevaOp::Namespace {
            namespace: ns.to_vec(),
            display_name: name.to_vec(),
        },
        (0xd1, [ns, key, value]) => KevaOp::Put {
            namespace: ns.to_vec(),
            key: key.to_vec(),
            value: value.to_vec(),
        },
        (0xd2, [ns, key]) => KevaOp::Delete {
            namespace: ns.to_vec(),
            key: key.to_vec(),
        },
        _ => return None,
    };
    Some((op, &script[pos..]))
}

/// The profile key `0x01 "_KEVA_NS_"` that holds a namespace's profile JSON.
pub const PROFILE_KEY: &[u8] = b"\x01_KEVA_NS_";

/// The keys a keva output is indexed under (reference server rules), deduplicated.
pub fn index_keys(op: &KevaOp) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut add = |k: Vec<u8>| {
        if !keys.contains(&k) {
            keys.push(k);
        }
    };
    match op {
        KevaOp::Namespace {
            namespace,
            display_name,
        } => {
            add(namespace.clone());
            if display_name.first() == Some(&0) {
                add(display_name.clone());
            }
            add([namespace.as_slice(), PROFILE_KEY].concat());
        }
        KevaOp::Put {
            namespace,
            key,
            value,
        } => {
            add(namespace.clone());
            if key.first() == Some(&0) {
                add(key.clone());
            }
            add([namespace.as_slice(), key.as_slice()].concat());
            for tag in hashtags(key, value) {
                add(tag.into_bytes());
            }
        }
        KevaOp::Delete { namespace, key } => {
            add(namespace.clone());
            if key.first() == Some(&0) {
                add(key.clone());
            }
            add([namespace.as_slice(), key.as_slice()].concat());
        }
    }
    keys
}

/// Tags of `#(\w+)` over utf8(key) + utf8(value) (invalid UTF-8 reads as ""), lower-cased.
pub fn hashtags(key: &[u8], value: &[u8]) -> Vec<String> {
    let text = format!(
        "{}{}",
        std::str::from_utf8(key).unwrap_or(""),
        std::str::from_utf8(value).unwrap_or("")
    );
    let word = |c: char| c == '_' || c.is_alphanumeric();
    let mut tags: Vec<String> = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '#' && i + 1 < chars.len() && word(chars[i + 1]) {
            let start = i + 1;
            let mut end = start;
            while end < chars.len() && word(chars[end]) {
                end += 1;
            }
            let tag: String = chars[start..end].iter().collect::<String>().to_lowercase();
            if !tags.contains(&tag) {
                tags.push(tag);
            }
            i = end;
        } else {
            i += 1;
        }
    }
    tags
}

/// `d1 <push X> 00 6d 75 6a`: the pseudo-script a keva index entry is filed under.
pub fn index_script(x: &[u8]) -> Vec<u8> {
    let mut s = vec![0xd1];
    push(&mut s, x);
    s.extend_from_slice(&[0x00, 0x6d, 0x75, 0x6a]);
    s
}

/// Minimal push of `data` onto a script.
pub fn push(out: &mut Vec<u8>, data: &[u8]) {
    match data.len() {
        0 => out.push(0x00),
        n @ 1..=0x4b => {
            out.push(n as u8);
            out.extend_from_slice(data);
        }
        n @ 0x4c..=0xff => {
            out.extend_from_slice(&[0x4c, n as u8]);
            out.extend_from_slice(data);
        }
        n @ 0x100..=0xffff => {
            out.push(0x4d);
            out.extend_from_slice(&(n as u16).to_le_bytes());
            out.extend_from_slice(data);
        }
        n => {
            out.push(0x4e);
            out.extend_from_slice(&(n as u32).to_le_bytes());
            out.extend_from_slice(data);
        }
    }
}

/// A script in the node's `asm` notation (pushes as hex; keva opcodes by name).
pub fn script_asm(script: &[u8]) -> String {
    let mut pos = 0;
    let mut parts = Vec::new();
    while pos < script.len() {
        match next_op(script, &mut pos) {
            Some((0x00, _)) => parts.push("0".to_string()),
            Some((_, Some(d))) => parts.push(crate::chain::hash::to_hex(d)),
            Some((op, None)) => parts.push(opcode_name(op)),
            None => {
                parts.push("[error]".to_string());
                break;
            }
        }
    }
    parts.join(" ")
}

fn opcode_name(op: u8) -> String {
    let name = match op {
        0x4f => "-1",
        0x51..=0x60 => return format!("{}", op - 0x50),
        0x61 => "OP_NOP",
        0x6a => "OP_RETURN",
        0x6d => "OP_2DROP",
        0x75 => "OP_DROP",
        0x76 => "OP_DUP",
        0x87 => "OP_EQUAL",
        0x88 => "OP_EQUALVERIFY",
        0xa9 => "OP_HASH160",
        0xac => "OP_CHECKSIG",
        0xae => "OP_CHECKMULTISIG",
        0xd0 => "OP_KEVA_NAMESPACE",
        0xd1 => "OP_KEVA_PUT",
        0xd2 => "OP_KEVA_DELETE",
        _ => return format!("OP_UNKNOWN_{op:02x}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashtags_follow_python_rules() {
        assert_eq!(
            hashtags(b"Hello #World", b"text #Two #two"),
            vec!["worldtext", "two"]
        );
        assert_eq!(
            hashtags(b"", "#\u{00dc}ber".as_bytes()),
            vec!["\u{00fc}ber"]
        );
        assert_eq!(hashtags(&[0xff, b'#'], b"#a"), vec!["a"]);
        assert!(hashtags(b"# no", b"#").is_empty());
    }

    #[test]
    fn splits_keva_like_the_node() {
        let mut s = vec![0xd1];
        push(&mut s, &[0x35; 21]);
        push(&mut s, b"k");
        push(&mut s, b"");
        s.extend_from_slice(&[0x6d, 0x75, 0x61, 0xa9, 0x14]);
        let (op, addr) = split_keva(&s).unwrap();
        assert_eq!(addr, &[0xa9, 0x14]);
        assert_eq!(op.key(), Some(&b"k"[..]));
        assert!(split_keva(&[0xd1, 0x51, 0x6d]).is_none());
    }
}
