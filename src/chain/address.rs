//! Kevacoin address text forms: Base58Check (P2PKH, P2SH) and bech32/bech32m (segwit).

use super::encode::{Error, Result};
use super::network::Network;
use super::script::{
    classify, p2pkh_script, p2sh_script, witness_program, witness_script, ScriptKind,
};

/// Base58 of payload ‖ first 4 bytes of sha256d(payload).
pub fn base58check_encode(payload: &[u8]) -> String {
    bs58::encode(payload).with_check().into_string()
}

/// Decodes Base58Check and verifies the checksum; returns the payload (version byte included).
pub fn base58check_decode(s: &str) -> Result<Vec<u8>> {
    // Decoding is quadratic in the length; no address or namespace id comes near this.
    if s.len() > 200 {
        return Err(Error::new(format!(
            "Base58Check string too long ({} characters)",
            s.len()
        )));
    }
    bs58::decode(s)
        .with_check(None)
        .into_vec()
        .map_err(|e| match e {
            bs58::decode::Error::InvalidCharacter { index, .. }
            | bs58::decode::Error::NonAsciiCharacter { index } => {
                Error::new(format!("invalid Base58 character at position {index}"))
            }
            bs58::decode::Error::NoChecksum => {
                Error::new("Base58Check string too short for a checksum")
            }
            bs58::decode::Error::InvalidChecksum { .. } => {
                Error::new("Base58Check checksum mismatch (mistyped address?)")
            }
            other => Error::new(format!("invalid Base58Check string: {other}")),
        })
}

/// Encodes a segwit address: bech32 for version 0, bech32m for versions 1..16 (BIP350);
/// `None` for a version or program length no address can have.
pub fn segwit_encode(hrp: &str, version: u8, program: &[u8]) -> Option<String> {
    let hrp = bech32::Hrp::parse(hrp).ok()?;
    let version = bech32::Fe32::try_from(version).ok()?;
    bech32::segwit::encode(hrp, version, program).ok()
}

/// Decodes a segwit address for `hrp`, enforcing BIP173/BIP350 rules; returns (version, program).
pub fn segwit_decode(hrp: &str, addr: &str) -> Result<(u8, Vec<u8>)> {
    let bad = |why: &str| Error::new(format!("invalid bech32 address {addr:?}: {why}"));
    let (got_hrp, version, program) =
        bech32::segwit::decode(addr).map_err(|e| bad(&e.to_string()))?;
    if got_hrp.to_lowercase() != hrp {
        return Err(bad(&format!(
            "prefix {:?} is not this network's {hrp:?}",
            got_hrp.to_lowercase()
        )));
    }
    Ok((version.to_u8(), program))
}

/// The address an output pays to, for P2PKH, P2SH and any segwit version; `None` otherwise.
pub fn script_to_address(script: &[u8], net: Network) -> Option<String> {
    match classify(script) {
        ScriptKind::P2pkh(h) => Some(versioned(net.p2pkh_version(), &h)),
        ScriptKind::P2sh(h) => Some(versioned(net.p2sh_version(), &h)),
        _ => {
            let (version, program) = witness_program(script)?;
            segwit_encode(net.bech32_hrp(), version, program)
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
    fn base58check_known_vectors() {
        // Bitcoin's genesis address.
        let p = base58check_decode("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa").unwrap();
        assert_eq!(to_hex(&p), "0062e907b15cbf27d5425399ebf6f0fb50ebb88f18");
        assert_eq!(base58check_encode(&p), "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa");
        let error = |s: &str| base58check_decode(s).unwrap_err().to_string();
        assert!(error("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb").contains("checksum mismatch"));
        assert!(error("1A1z0OIl").contains("invalid Base58 character at position 4"));
        assert!(error("111").contains("too short for a checksum"));
        assert!(error(&"1".repeat(201)).contains("too long"));
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
            segwit_encode("bc", 0, &p).unwrap(),
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
        );
        // BIP350: a v1 program uses bech32m.
        let a = "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y";
        let (v, p) = segwit_decode("bc", a).unwrap();
        assert_eq!(v, 1);
        assert_eq!(segwit_encode("bc", 1, &p).unwrap(), a);
        // No address has a version 0 program of 21 bytes.
        assert_eq!(segwit_encode("bc", 0, &[0; 21]), None);
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
