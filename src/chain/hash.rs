//! The hash functions Kevacoin uses and the hex conventions for showing them.

use super::encode::{Error, Result};
use super::Hash32;
use ripemd::Ripemd160;
use sha2::{Digest, Sha256};
use tiny_keccak::{Hasher, Keccak};

/// Single SHA-256: Electrum scripthashes and the first half of HASH160.
pub fn sha256(data: &[u8]) -> Hash32 {
    Sha256::digest(data).into()
}

/// Double SHA-256: txids, merkle nodes and the CryptoNote `prev_id`.
pub fn sha256d(data: &[u8]) -> Hash32 {
    Sha256::digest(Sha256::digest(data)).into()
}

/// Original Keccak-256 (0x01 padding, not FIPS SHA3): the Kevacoin block hash of the CryptoNote blob.
pub fn keccak256(data: &[u8]) -> Hash32 {
    let mut k = Keccak::v256();
    k.update(data);
    let mut out = [0u8; 32];
    k.finalize(&mut out);
    out
}

/// RIPEMD-160 of SHA-256: P2PKH/P2SH payloads and namespace ids.
pub fn hash160(data: &[u8]) -> [u8; 20] {
    Ripemd160::digest(Sha256::digest(data)).into()
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex of bytes as they are (no reversal).
pub fn to_hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(HEX[(x >> 4) as usize] as char);
        s.push(HEX[(x & 0xf) as usize] as char);
    }
    s
}

/// The value of one hex digit, either case.
pub fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn nibble(c: u8, pos: usize) -> Result<u8> {
    hex_digit(c).ok_or_else(|| {
        Error::new(format!(
            "invalid hex character {:?} at position {pos}",
            c as char
        ))
    })
}

/// Parses hex (either case) into bytes; odd length or a non-hex character is an error.
pub fn from_hex(s: &str) -> Result<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() % 2 != 0 {
        return Err(Error::new(format!("hex string has odd length {}", b.len())));
    }
    let mut out = Vec::with_capacity(b.len() / 2);
    for (i, pair) in b.chunks_exact(2).enumerate() {
        out.push(nibble(pair[0], 2 * i)? << 4 | nibble(pair[1], 2 * i + 1)?);
    }
    Ok(out)
}

/// Display hex of a hash (reversed), as the node and Electrum clients show block hashes and txids.
pub fn hash_to_hex(h: &Hash32) -> String {
    let mut r = *h;
    r.reverse();
    to_hex(&r)
}

/// Parses a display-order hash (exactly 64 hex chars) into internal byte order.
pub fn hash_from_hex(s: &str) -> Result<Hash32> {
    if s.len() != 64 {
        return Err(Error::new(format!(
            "a hash must be 64 hex characters, got {}",
            s.len()
        )));
    }
    let v = from_hex(s)?;
    let mut h = [0u8; 32];
    h.copy_from_slice(&v);
    h.reverse();
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak_is_original_not_sha3() {
        // Keccak-256("") is the well-known Ethereum empty hash; SHA3-256("") starts a7ffc6f8.
        assert_eq!(
            to_hex(&keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }

    #[test]
    fn sha_and_hash160_known_values() {
        assert_eq!(
            to_hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            to_hex(&sha256d(b"")),
            "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456"
        );
        assert_eq!(
            to_hex(&hash160(b"")),
            "b472a266d0bd89c13706a4132ccfb16f7c3b9fcb"
        );
    }

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        assert_eq!(from_hex("00ffAB").unwrap(), vec![0, 0xff, 0xab]);
        assert!(from_hex("abc").is_err());
        assert!(from_hex("zz").is_err());
        assert!(from_hex("é0").is_err());
        let h = hash_from_hex("70bd30ae775c691fc8a2b7d27f37279a4f505f877e3234105f22e963a618597c")
            .unwrap();
        assert_eq!(h[0], 0x7c);
        assert_eq!(
            hash_to_hex(&h),
            "70bd30ae775c691fc8a2b7d27f37279a4f505f877e3234105f22e963a618597c"
        );
        assert!(hash_from_hex("00").is_err());
    }
}
