//! Kevacoin address text forms: Base58Check (P2PKH, P2SH) and bech32/bech32m (segwit).

use super::encode::{Error, Result};
use super::hash::sha256d;
use super::network::Network;
use super::script::{
    classify, p2pkh_script, p2sh_script, witness_program, witness_script, ScriptKind,
};

const BASE58_ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Plain Base58 (leading zero bytes become '1'), the building block of addresses and namespace ids.
pub fn base58_encode(b: &[u8]) -> String {
    let zeros = b.iter().take_while(|&&x| x == 0).count();
    // Base-58 digits, least significant first.
    let mut digits: Vec<u8> = Vec::with_capacity(b.len() * 138 / 100 + 1);
    for &byte in &b[zeros..] {
        let mut carry = byte as u32;
        for d in digits.iter_mut() {
            carry += (*d as u32) << 8;
            *d = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let mut s = String::with_capacity(zeros + digits.len());
    s.extend(std::iter::repeat('1').take(zeros));
    s.extend(
        digits
            .iter()
            .rev()
            .map(|&d| BASE58_ALPHABET[d as usize] as char),
    );
    s
}

/// Plain Base58 decoding; any character outside the alphabet is an error.
pub fn base58_decode(s: &str) -> Result<Vec<u8>> {
    let zeros = s.bytes().take_while(|&c| c == b'1').count();
    // Bytes, least significant first.
    let mut bytes: Vec<u8> = Vec::with_capacity(s.len());
    for (i, c) in s.bytes().enumerate().skip(zeros) {
        let value = BASE58_ALPHABET
            .iter()
            .position(|&a| a == c)
            .ok_or_else(|| Error::new(format!("invalid Base58 character at position {i}")))?;
        let mut carry = value as u32;
        for b in bytes.iter_mut() {
            carry += (*b as u32) * 58;
            *b = carry as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.push(carry as u8);
            carry >>= 8;
        }
    }
    let mut out = vec![0u8; zeros];
    out.extend(bytes.iter().rev());
    Ok(out)
}

/// Base58 of payload ‖ first 4 bytes of sha256d(payload).
pub fn base58check_encode(payload: &[u8]) -> String {
    let mut v = payload.to_vec();
    v.extend_from_slice(&sha256d(payload)[..4]);
    base58_encode(&v)
}

/// Decodes Base58Check and verifies the checksum; returns the payload (version byte included).
pub fn base58check_decode(s: &str) -> Result<Vec<u8>> {
    if s.len() > 200 {
        return Err(Error::new(format!(
            "Base58Check string too long ({} characters)",
            s.len()
        )));
    }
    let mut v = base58_decode(s)?;
    if v.len() < 4 {
        return Err(Error::new("Base58Check string too short for a checksum"));
    }
    let payload_len = v.len() - 4;
    if sha256d(&v[..payload_len])[..4] != v[payload_len..] {
        return Err(Error::new(
            "Base58Check checksum mismatch (mistyped address?)",
        ));
    }
    v.truncate(payload_len);
    Ok(v)
}

const BECH32_CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const BECH32_CONST: u32 = 1;
const BECH32M_CONST: u32 = 0x2bc8_30a3;

fn polymod(values: impl Iterator<Item = u8>) -> u32 {
    const GEN: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    let mut chk: u32 = 1;
    for v in values {
        let top = chk >> 25;
        chk = (chk & 0x01ff_ffff) << 5 ^ v as u32;
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

fn hrp_expand(hrp: &[u8]) -> impl Iterator<Item = u8> + '_ {
    hrp.iter()
        .map(|c| c >> 5)
        .chain(std::iter::once(0))
        .chain(hrp.iter().map(|c| c & 31))
}

/// Regroups bits (8→5 when encoding, 5→8 when decoding), as BIP173 specifies.
fn convert_bits(data: &[u8], from: u32, to: u32, pad: bool) -> Option<Vec<u8>> {
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    let maxv = (1u32 << to) - 1;
    let mut out = Vec::with_capacity(data.len() * from as usize / to as usize + 1);
    for &v in data {
        if (v as u32) >> from != 0 {
            return None;
        }
        acc = (acc << from) | v as u32;
        bits += from;
        while bits >= to {
            bits -= to;
            out.push(((acc >> bits) & maxv) as u8);
        }
    }
    if pad {
        if bits > 0 {
            out.push(((acc << (to - bits)) & maxv) as u8);
        }
    } else if bits >= from || ((acc << (to - bits)) & maxv) != 0 {
        return None;
    }
    Some(out)
}

/// Encodes a segwit address: bech32 for version 0, bech32m for versions 1..16 (BIP350).
pub fn segwit_encode(hrp: &str, version: u8, program: &[u8]) -> String {
    let mut data = vec![version];
    data.extend(convert_bits(program, 8, 5, true).unwrap_or_default());
    let constant = if version == 0 {
        BECH32_CONST
    } else {
        BECH32M_CONST
    };
    let checksum_input = hrp_expand(hrp.as_bytes())
        .chain(data.iter().copied())
        .chain([0u8; 6]);
    let pm = polymod(checksum_input) ^ constant;
    let mut s = String::with_capacity(hrp.len() + 1 + data.len() + 6);
    s.push_str(hrp);
    s.push('1');
    for d in data
        .iter()
        .copied()
        .chain((0..6).map(|i| ((pm >> (5 * (5 - i))) & 31) as u8))
    {
        s.push(BECH32_CHARSET[d as usize] as char);
    }
    s
}

/// Decodes a segwit address for `hrp`, enforcing BIP173/BIP350 rules; returns (version, program).
pub fn segwit_decode(hrp: &str, addr: &str) -> Result<(u8, Vec<u8>)> {
    let bad = |why: &str| Error::new(format!("invalid bech32 address {addr:?}: {why}"));
    if addr.len() > 90 {
        return Err(bad("longer than 90 characters"));
    }
    if !addr.bytes().all(|c| (33..=126).contains(&c)) {
        return Err(bad("contains characters outside printable ASCII"));
    }
    let has_lower = addr.bytes().any(|c| c.is_ascii_lowercase());
    let has_upper = addr.bytes().any(|c| c.is_ascii_uppercase());
    if has_lower && has_upper {
        return Err(bad("mixes upper and lower case"));
    }
    let lower = addr.to_ascii_lowercase();
    let sep = lower.rfind('1').ok_or_else(|| bad("no '1' separator"))?;
    let (got_hrp, rest) = (&lower[..sep], &lower[sep + 1..]);
    if got_hrp != hrp {
        return Err(bad(&format!(
            "prefix {got_hrp:?} is not this network's {hrp:?}"
        )));
    }
    if rest.len() < 6 {
        return Err(bad("checksum too short"));
    }
    let mut data = Vec::with_capacity(rest.len());
    for c in rest.bytes() {
        let v = BECH32_CHARSET
            .iter()
            .position(|&x| x == c)
            .ok_or_else(|| bad(&format!("invalid character {:?}", c as char)))?;
        data.push(v as u8);
    }
    let pm = polymod(hrp_expand(got_hrp.as_bytes()).chain(data.iter().copied()));
    let values = &data[..data.len() - 6];
    let (&version, program5) = values
        .split_first()
        .ok_or_else(|| bad("no witness version"))?;
    if version > 16 {
        return Err(bad("witness version above 16"));
    }
    let expected = if version == 0 {
        BECH32_CONST
    } else {
        BECH32M_CONST
    };
    if pm != expected {
        return Err(bad(if version == 0 {
            "bad bech32 checksum"
        } else {
            "bad bech32m checksum"
        }));
    }
    let program = convert_bits(program5, 5, 8, false).ok_or_else(|| bad("invalid padding"))?;
    if !(2..=40).contains(&program.len()) {
        return Err(bad("witness program must be 2..40 bytes"));
    }
    if version == 0 && program.len() != 20 && program.len() != 32 {
        return Err(bad("version 0 program must be 20 or 32 bytes"));
    }
    Ok((version, program))
}

/// The address an output pays to, for P2PKH, P2SH and any segwit version; `None` otherwise.
pub fn script_to_address(script: &[u8], net: Network) -> Option<String> {
    match classify(script) {
        ScriptKind::P2pkh(h) => Some(versioned(net.p2pkh_version(), &h)),
        ScriptKind::P2sh(h) => Some(versioned(net.p2sh_version(), &h)),
        _ => {
            let (version, program) = witness_program(script)?;
            if version == 0 && program.len() != 20 && program.len() != 32 {
                return None;
            }
            Some(segwit_encode(net.bech32_hrp(), version, program))
        }
    }
}

fn versioned(version: u8, h: &[u8; 20]) -> String {
    let mut payload = Vec::with_capacity(21);
    payload.push(version);
    payload.extend_from_slice(h);
    base58check_encode(&payload)
}

/// The output script an address pays to; accepts the legacy P2SH version byte as the node does.
pub fn address_to_script(addr: &str, net: Network) -> Result<Vec<u8>> {
    let hrp = net.bech32_hrp();
    let looks_bech32 = addr.len() > hrp.len()
        && addr.is_char_boundary(hrp.len() + 1)
        && addr[..hrp.len() + 1].eq_ignore_ascii_case(&format!("{hrp}1"));
    if looks_bech32 {
        let (version, program) = segwit_decode(hrp, addr)?;
        return Ok(witness_script(version, &program));
    }
    let payload = base58check_decode(addr)
        .map_err(|e| Error::new(format!("invalid address {addr:?}: {e}")))?;
    if payload.len() != 21 {
        return Err(Error::new(format!(
            "invalid address {addr:?}: payload is {} bytes, expected 21",
            payload.len()
        )));
    }
    let mut h = [0u8; 20];
    h.copy_from_slice(&payload[1..]);
    let v = payload[0];
    if v == net.p2pkh_version() {
        Ok(p2pkh_script(&h))
    } else if v == net.p2sh_version() || v == net.p2sh_legacy_version() {
        Ok(p2sh_script(&h))
    } else {
        Err(Error::new(format!(
            "address {addr:?} has version byte {v}, which is not a {} address",
            net.name()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::hash::{from_hex, to_hex};

    #[test]
    fn base58_known_vectors() {
        assert_eq!(base58_encode(b""), "");
        assert_eq!(base58_encode(&[0, 0, 1]), "112");
        assert_eq!(base58_encode(b"hello world"), "StV1DL6CwTryKyV");
        assert_eq!(base58_decode("StV1DL6CwTryKyV").unwrap(), b"hello world");
        assert_eq!(base58_decode("112").unwrap(), vec![0, 0, 1]);
        assert!(base58_decode("0OIl").is_err());
        // Bitcoin's genesis address.
        let p = base58check_decode("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa").unwrap();
        assert_eq!(to_hex(&p), "0062e907b15cbf27d5425399ebf6f0fb50ebb88f18");
        assert!(base58check_decode("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb").is_err());
    }

    #[test]
    fn bip173_bip350_vectors() {
        // BIP173: P2WPKH on Bitcoin mainnet.
        let (v, p) = segwit_decode("bc", "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4").unwrap();
        assert_eq!(
            (v, to_hex(&p)),
            (0, "751e76e8199196d454941c45d1b3a323f1433bd6".into())
        );
        assert_eq!(
            segwit_encode("bc", 0, &p),
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
        );
        // BIP350: a v1 program uses bech32m.
        let a = "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y";
        let (v, p) = segwit_decode("bc", a).unwrap();
        assert_eq!(v, 1);
        assert_eq!(segwit_encode("bc", 1, &p), a);
        // BIP350 invalid: v0 program with a bech32m checksum; v1 with a bech32 checksum.
        assert!(segwit_decode("bc", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh").is_err());
        assert!(segwit_decode(
            "bc",
            "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4"
        )
        .is_err());
        assert!(segwit_decode(
            "tb",
            "tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt5lp"
        )
        .is_err());
    }

    #[test]
    fn kevacoin_addresses() {
        let h = from_hex("2b117ad7b125e06a46a17235c0f5bc21afef1124").unwrap();
        let script = p2sh_script(&h.clone().try_into().unwrap());
        let addr = script_to_address(&script, Network::Mainnet).unwrap();
        assert_eq!(addr, "VEawvNYEo1tyaW586odALqfoY8UV33EUPz");
        assert_eq!(address_to_script(&addr, Network::Mainnet).unwrap(), script);
        // Legacy P2SH version 5 decodes to the same script.
        let mut legacy = vec![5u8];
        legacy.extend_from_slice(&h);
        let legacy = base58check_encode(&legacy);
        assert_eq!(
            address_to_script(&legacy, Network::Mainnet).unwrap(),
            script
        );
        // A mainnet address is not a regtest address.
        assert!(address_to_script(&addr, Network::Regtest).is_err());
        let program: Vec<u8> = (0..20).collect();
        let wpkh = witness_script(0, &program);
        assert_eq!(
            script_to_address(&wpkh, Network::Mainnet).unwrap(),
            "kva1qqqqsyqcyq5rqwzqfpg9scrgwpugpzysn4vjvlu"
        );
        assert_eq!(
            address_to_script(
                "KVA1QQQQSYQCYQ5RQWZQFPG9SCRGWPUGPZYSN4VJVLU",
                Network::Mainnet
            )
            .unwrap(),
            wpkh
        );
        assert!(address_to_script(
            "kva1qqqqsyqcyq5rqwzqfpg9scrgwpugpzysn4vjvlu",
            Network::Testnet
        )
        .is_err());
        assert_eq!(script_to_address(&[0x6a], Network::Mainnet), None);
    }
}
