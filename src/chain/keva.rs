//! Keva operations: the script prefix that stores key/value data, and the pseudo-scripts under
//! which ElectrumX indexes it (reproduced bit for bit, because wallets compute the same hashes).

use super::address::{base58check_decode, base58check_encode};
use super::encode::{Error, Result};
use super::hash::hash160;
use super::script::{ops, push_data, scripthash, OP_0, OP_2DROP, OP_DROP, OP_PUSHDATA4, OP_RETURN};
use super::unicode::is_python_word_char;
use super::Hash32;

pub use super::tx::KEVA_TX_VERSION;

/// OP_KEVA_NAMESPACE: registers a namespace.
pub const OP_KEVA_NAMESPACE: u8 = 0xd0;
/// OP_KEVA_PUT: sets a key.
pub const OP_KEVA_PUT: u8 = 0xd1;
/// OP_KEVA_DELETE: removes a key.
pub const OP_KEVA_DELETE: u8 = 0xd2;
/// Version byte that starts every namespace id ('N' in Base58Check).
pub const NAMESPACE_VERSION: u8 = 0x35;
/// Length of a namespace id (version byte + HASH160).
pub const NAMESPACE_LEN: usize = 21;
/// Key suffix under which namespace registrations and profile updates are indexed.
pub const PROFILE_KEY: &[u8] = b"\x01_KEVA_NS_";

/// One keva operation decoded from an output script.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum KevaOp {
    /// Namespace registration with its display name.
    Namespace {
        /// The namespace id as pushed (normally 21 bytes).
        namespace: Vec<u8>,
        /// Human-readable name (ElectrumX calls it "key").
        display_name: Vec<u8>,
    },
    /// Key/value write.
    Put {
        /// The namespace id as pushed.
        namespace: Vec<u8>,
        /// The key (at most 255 bytes by consensus).
        key: Vec<u8>,
        /// The value (at most 3072 bytes by consensus).
        value: Vec<u8>,
    },
    /// Key removal.
    Delete {
        /// The namespace id as pushed.
        namespace: Vec<u8>,
        /// The key removed.
        key: Vec<u8>,
    },
}

impl KevaOp {
    /// The namespace every operation belongs to.
    pub fn namespace(&self) -> &[u8] {
        match self {
            KevaOp::Namespace { namespace, .. }
            | KevaOp::Put { namespace, .. }
            | KevaOp::Delete { namespace, .. } => namespace,
        }
    }

    /// The opcode (0xd0/0xd1/0xd2), which the keva RPCs report as `op` 208/209/210.
    pub fn code(&self) -> u8 {
        match self {
            KevaOp::Namespace { .. } => OP_KEVA_NAMESPACE,
            KevaOp::Put { .. } => OP_KEVA_PUT,
            KevaOp::Delete { .. } => OP_KEVA_DELETE,
        }
    }

    /// The key of a PUT or DELETE (`None` for a registration).
    pub fn key(&self) -> Option<&[u8]> {
        match self {
            KevaOp::Put { key, .. } | KevaOp::Delete { key, .. } => Some(key),
            KevaOp::Namespace { .. } => None,
        }
    }

    /// The value of a PUT.
    pub fn value(&self) -> Option<&[u8]> {
        match self {
            KevaOp::Put { value, .. } => Some(value),
            _ => None,
        }
    }

    /// ElectrumX's second template slot: the key, or the display name of a registration (what
    /// the keva methods show as `key`).
    pub fn second_arg(&self) -> &[u8] {
        match self {
            KevaOp::Namespace { display_name, .. } => display_name,
            KevaOp::Put { key, .. } | KevaOp::Delete { key, .. } => key,
        }
    }
}

/// ElectrumX semantics (template match of the first N ops; the rest is the address script).
///
/// The whole script must tokenize (a truncated push anywhere means "not keva", as in
/// ElectrumX's `Script.get_ops`); then the first ops must be exactly
/// `d0 <push> <push> 2DROP`, `d1 <push> <push> <push> 2DROP DROP` or `d2 <push> <push> 2DROP`,
/// where a push is any opcode 0x00..=0x4e. Unlike the node, nothing after the template is
/// skipped: a following OP_NOP stays in the address script.
pub fn parse_keva_script(script: &[u8]) -> Option<(KevaOp, &[u8])> {
    let code = *script.first()?;
    let n = match code {
        OP_KEVA_NAMESPACE | OP_KEVA_DELETE => 4,
        OP_KEVA_PUT => 6,
        _ => return None,
    };
    let mut args: [&[u8]; 3] = [&[]; 3];
    let mut prefix_end = 0;
    let mut matched = 0;
    for op in ops(script) {
        // Tokenize to the end: ElectrumX rejects the script if any later push is truncated.
        let op = op.ok()?;
        let i = matched;
        if i >= n {
            continue;
        }
        let fits = match (i, code) {
            (0, _) => true,
            (1 | 2, _) | (3, OP_KEVA_PUT) => {
                args[i - 1] = op.data.unwrap_or(&[]);
                op.code <= OP_PUSHDATA4
            }
            (3, _) | (4, OP_KEVA_PUT) => op.code == OP_2DROP,
            _ => op.code == OP_DROP,
        };
        if !fits {
            return None;
        }
        matched += 1;
        prefix_end = op.end;
    }
    if matched < n {
        return None;
    }
    let [a, b, c] = args;
    let op = match code {
        OP_KEVA_NAMESPACE => KevaOp::Namespace {
            namespace: a.to_vec(),
            display_name: b.to_vec(),
        },
        OP_KEVA_PUT => KevaOp::Put {
            namespace: a.to_vec(),
            key: b.to_vec(),
            value: c.to_vec(),
        },
        _ => KevaOp::Delete {
            namespace: a.to_vec(),
            key: b.to_vec(),
        },
    };
    Some((op, &script[prefix_end..]))
}

/// The script that identifies the output's owner: the keva prefix stripped if there is one.
pub fn address_script(script: &[u8]) -> &[u8] {
    match parse_keva_script(script) {
        Some((_, rest)) => rest,
        None => script,
    }
}

/// The Electrum scripthash of an output's owner (keva prefix stripped), as ElectrumX indexes it.
pub fn address_scripthash(script: &[u8]) -> Hash32 {
    scripthash(address_script(script))
}

/// Builds a keva output script the way the node's `CKevaScript::build*` does.
pub fn build_keva_script(op: &KevaOp, address_script: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(address_script.len() + 64);
    out.push(op.code());
    match op {
        KevaOp::Namespace {
            namespace,
            display_name,
        } => {
            push_data(&mut out, namespace);
            push_data(&mut out, display_name);
            out.push(OP_2DROP);
        }
        KevaOp::Put {
            namespace,
            key,
            value,
        } => {
            push_data(&mut out, namespace);
            push_data(&mut out, key);
            push_data(&mut out, value);
            out.extend_from_slice(&[OP_2DROP, OP_DROP]);
        }
        KevaOp::Delete { namespace, key } => {
            push_data(&mut out, namespace);
            push_data(&mut out, key);
            out.push(OP_2DROP);
        }
    }
    out.extend_from_slice(address_script);
    out
}

/// ElectrumX's index pseudo-script `d1 <push x> 00 6d 75 6a` (OP_KEVA_PUT x OP_0 OP_2DROP OP_DROP OP_RETURN).
pub fn index_script(x: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() + 10);
    out.push(OP_KEVA_PUT);
    push_data(&mut out, x);
    out.extend_from_slice(&[OP_0, OP_2DROP, OP_DROP, OP_RETURN]);
    out
}

/// The scripthash wallets query for index entry `x`.
pub fn index_scripthash(x: &[u8]) -> Hash32 {
    scripthash(&index_script(x))
}

/// Every index entry X for an operation, deduplicated, in ElectrumX's order: the namespace;
/// the key (display name for a registration) when it starts with 0x00; namespace ‖ key
/// (namespace ‖ `\x01_KEVA_NS_` for a registration); then each lower-cased hashtag of a PUT.
pub fn index_keys(op: &KevaOp) -> Vec<Vec<u8>> {
    let ns = op.namespace();
    let mut keys: Vec<Vec<u8>> = Vec::with_capacity(4);
    let mut add = |k: Vec<u8>| {
        if !keys.contains(&k) {
            keys.push(k);
        }
    };
    add(ns.to_vec());
    if op.second_arg().first() == Some(&0) {
        add(op.second_arg().to_vec());
    }
    let suffix = match op {
        KevaOp::Namespace { .. } => PROFILE_KEY,
        _ => op.second_arg(),
    };
    add([ns, suffix].concat());
    if let KevaOp::Put { key, value, .. } = op {
        for tag in hashtags(key, value) {
            add(tag.into_bytes());
        }
    }
    keys
}

/// Replies (`00 01 ‖ txid`), shares (`00 02`) and likes (`00 03`): the kinds of reaction.
pub const REACTION_KINDS: std::ops::RangeInclusive<u8> = 1..=3;

/// The post `op` reacts to, when one of its [`index_keys`] is `00 kind ‖ txid` (the key, or a
/// registration's display name): (kind, txid in display order).
pub fn reaction_target(op: &KevaOp) -> Option<(u8, [u8; 32])> {
    match op.second_arg() {
        [0, kind, txid @ ..] if REACTION_KINDS.contains(kind) => {
            Some((*kind, txid.try_into().ok()?))
        }
        _ => None,
    }
}

/// Index scripthashes of `index_keys(op)`, same order.
pub fn index_scripthashes(op: &KevaOp) -> Vec<Hash32> {
    index_keys(op).iter().map(|k| index_scripthash(k)).collect()
}

/// Hashtags as ElectrumX finds them: key and value decoded as UTF-8 separately (invalid → ""),
/// concatenated, scanned with Python's `#(\w+)`, then lower-cased; returned deduplicated in
/// order of first appearance (ElectrumX's own order is that of a Python set, i.e. arbitrary).
pub fn hashtags(key: &[u8], value: &[u8]) -> Vec<String> {
    let text = [key, value]
        .map(|b| std::str::from_utf8(b).unwrap_or(""))
        .concat();
    let mut tags: Vec<String> = Vec::new();
    let mut rest = text.as_str();
    while let Some(hash_pos) = rest.find('#') {
        let after = &rest[hash_pos + 1..];
        let word_len: usize = after
            .chars()
            .take_while(|&c| is_python_word_char(c))
            .map(char::len_utf8)
            .sum();
        if word_len == 0 {
            rest = after;
            continue;
        }
        let tag = after[..word_len].to_lowercase();
        if !tags.contains(&tag) {
            tags.push(tag);
        }
        rest = &after[word_len..];
    }
    tags
}

/// Display form of a namespace id: Base58Check of its 21 bytes ("N…").
pub fn namespace_to_string(ns: &[u8]) -> String {
    base58check_encode(ns)
}

/// Parses an "N…" namespace id; the checksum, length and version byte must all be right.
pub fn namespace_from_string(s: &str) -> Result<Vec<u8>> {
    let ns = base58check_decode(s)
        .map_err(|e| Error::new(format!("invalid namespace id {s:?}: {e}")))?;
    if ns.len() != NAMESPACE_LEN || ns[0] != NAMESPACE_VERSION {
        return Err(Error::new(format!(
            "invalid namespace id {s:?}: expected {NAMESPACE_LEN} bytes starting with 0x35"
        )));
    }
    Ok(ns)
}

/// The namespace id the node derives from the first input's outpoint: `0x35 ‖ HASH160(txid ‖
/// decimal vout)` under NSFIX, `0x35 ‖ HASH160(txid)` before it (txid in internal order).
/// Only for creating namespaces; indexed namespaces are read from the script.
pub fn derive_namespace(prev_txid: &Hash32, prev_vout: u32, nsfix: bool) -> [u8; 21] {
    let mut preimage = prev_txid.to_vec();
    if nsfix {
        preimage.extend_from_slice(prev_vout.to_string().as_bytes());
    }
    let mut out = [0u8; NAMESPACE_LEN];
    out[0] = NAMESPACE_VERSION;
    out[1..].copy_from_slice(&hash160(&preimage));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::hash::{from_hex, to_hex};

    fn ns() -> Vec<u8> {
        from_hex("35ce99a5892209f3d8c933730f1e8660260b9c5a73").unwrap()
    }

    #[test]
    fn reactions_are_index_keys_of_34_bytes() {
        let post = [0xab; 32];
        let key = |kind: u8, extra: &[u8]| [&[0, kind][..], &post, extra].concat();
        let put = |key: Vec<u8>| KevaOp::Put {
            namespace: ns(),
            key,
            value: b"nice".to_vec(),
        };
        for kind in REACTION_KINDS {
            let op = put(key(kind, b""));
            assert_eq!(reaction_target(&op), Some((kind, post)));
            assert!(index_keys(&op).contains(&key(kind, b"")), "an index key");
        }
        let delete = KevaOp::Delete {
            namespace: ns(),
            key: key(2, b""),
        };
        assert_eq!(reaction_target(&delete), Some((2, post)));
        let named = KevaOp::Namespace {
            namespace: ns(),
            display_name: key(3, b""),
        };
        assert_eq!(reaction_target(&named), Some((3, post)));
        for not in [
            key(4, b""),
            key(0, b""),
            key(1, b"x"),
            key(1, b"")[..33].to_vec(),
        ] {
            assert_eq!(reaction_target(&put(not.clone())), None, "{}", to_hex(&not));
        }
    }

    #[test]
    fn build_then_parse_each_op() {
        let addr = from_hex("a9142b117ad7b125e06a46a17235c0f5bc21afef112487").unwrap();
        for op in [
            KevaOp::Namespace {
                namespace: ns(),
                display_name: b"My Namespace".to_vec(),
            },
            KevaOp::Put {
                namespace: ns(),
                key: b"k".to_vec(),
                value: vec![],
            },
            KevaOp::Delete {
                namespace: ns(),
                key: vec![0; 300],
            },
        ] {
            let script = build_keva_script(&op, &addr);
            let (parsed, rest) = parse_keva_script(&script).unwrap();
            assert_eq!(parsed, op);
            assert_eq!(rest, &addr[..]);
            assert_eq!(address_script(&script), &addr[..]);
        }
    }

    #[test]
    fn non_templates_are_not_keva() {
        let addr = from_hex("a9142b117ad7b125e06a46a17235c0f5bc21afef112487").unwrap();
        // OP_1 is not a data push.
        let s = [&[0xd0, 0x51, 0x01, 0x41, 0x6d][..], &addr].concat();
        assert!(parse_keva_script(&s).is_none());
        // Too few ops.
        assert!(parse_keva_script(&[0xd2, 0x01, 0x41, 0x01, 0x42]).is_none());
        assert!(parse_keva_script(&[0xd1]).is_none());
        assert!(parse_keva_script(&[]).is_none());
        // Truncated push in the address part: ElectrumX gives up on the whole script.
        let s = [
            &[0xd2, 0x01, 0x41, 0x01, 0x42, 0x6d][..],
            &[0x4c, 0x05, 0x00],
        ]
        .concat();
        assert!(parse_keva_script(&s).is_none());
        assert_eq!(address_script(&s), &s[..]);
        // Empty address script is fine.
        let s = [0xd2, 0x00, 0x00, 0x6d];
        let (op, rest) = parse_keva_script(&s).unwrap();
        assert_eq!(op.namespace(), b"");
        assert!(rest.is_empty());
    }

    #[test]
    fn hashtag_semantics() {
        assert_eq!(
            hashtags(
                b"Hello #World",
                "text with #Keva and #kevacoin #KEVA #über".as_bytes()
            ),
            vec!["worldtext", "keva", "kevacoin", "über"]
        );
        assert_eq!(hashtags(b"##a#b c#_x #", b""), vec!["a", "b", "_x"]);
        assert_eq!(hashtags(b"\xff#bad", b"#good"), vec!["good"]);
        assert_eq!(hashtags(b"#a-b #1\xc2\xb2", b""), vec!["a", "1\u{b2}"]);
        assert!(hashtags(b"", b"").is_empty());
    }

    #[test]
    fn namespace_derivation_vector() {
        let mut txid =
            from_hex("78f49add562dc33e4cd61aa45c54012509ed4a53308908dd07f5634437939273").unwrap();
        txid.reverse();
        let txid: Hash32 = txid.try_into().unwrap();
        let nsfix = derive_namespace(&txid, 99999, true);
        assert_eq!(to_hex(&nsfix), "35ce99a5892209f3d8c933730f1e8660260b9c5a73");
        assert_eq!(
            namespace_to_string(&nsfix),
            "NekNSpxG9rqquovuv2ergamu5oM7EFfwer"
        );
        let legacy = derive_namespace(&txid, 99999, false);
        assert_eq!(
            namespace_to_string(&legacy),
            "NbNw68wcaGR9PVUhjWGokM8G7DhApNzV9a"
        );
        assert_eq!(
            namespace_from_string("NbNw68wcaGR9PVUhjWGokM8G7DhApNzV9a").unwrap(),
            legacy
        );
        assert!(namespace_from_string("VEawvNYEo1tyaW586odALqfoY8UV33EUPz").is_err());
    }
}
