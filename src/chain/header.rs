//! Variable-length Kevacoin block headers: the 80-byte Bitcoin header, then a CryptoNote blob.
//!
//! Layout: `version | prev | merkle | time | bits | nonce(=height) | CompactSize(len) | blob`,
//! where the blob is `varint major | varint minor | varint timestamp | prev_id(32) | nonce u32 |
//! cn_merkle(32) | varint n_txes`. The block hash is Keccak-256 of the blob only, and `prev_id`
//! must equal sha256d of the first 80 bytes (the node hashes an inconsistent header to all 0xff).

use super::encode::{write_compact_size, Cursor, Error, Result};
use super::hash::{hash_to_hex, keccak256, sha256d};
use super::Hash32;

/// Size of the Bitcoin part of the header, before the CryptoNote blob.
pub const BITCOIN_HEADER_LEN: usize = 80;

/// Regtest's RandomX switch height: blocks at or above it carry CryptoNote major version 12.
const REGTEST_RANDOMX_HEIGHT: u32 = 2_000_000;

/// A serialized header, kept as raw bytes because clients are served exactly these bytes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Header {
    raw: Vec<u8>,
}

/// The CryptoNote blob's fields, for building headers and for diagnostics.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CnFields {
    /// 10 in the CryptoNight-R era, 12 once RandomX is active.
    pub major: u64,
    /// Always 0 in practice.
    pub minor: u64,
    /// The miner's timestamp (0 on blocks made by `generate`).
    pub timestamp: u64,
    /// sha256d of the 80-byte Bitcoin header.
    pub prev_id: Hash32,
    /// The real proof-of-work nonce.
    pub nonce: u32,
    /// CryptoNote tx-tree hash (not used by an indexer).
    pub merkle_root: Hash32,
    /// 1 on mined mainnet blocks, 0 on `generate` blocks.
    pub n_txes: u64,
}

/// Reads a Monero LEB128 varint as the node's binary_archive does: overflow and redundant
/// trailing zero groups are rejected, so the raw blob always re-serializes to itself.
fn read_varint(cur: &mut Cursor, what: &str) -> Result<u64> {
    let at = cur.position();
    let mut value: u64 = 0;
    let mut shift = 0u32;
    loop {
        let byte = cur.read_u8().map_err(|_| {
            Error::new(format!(
                "CryptoNote blob truncated inside {what} varint at blob offset {at}"
            ))
        })?;
        if shift == 63 && byte > 1 {
            return Err(Error::new(format!(
                "CryptoNote {what} varint at blob offset {at} overflows 64 bits"
            )));
        }
        if byte == 0 && shift != 0 {
            return Err(Error::new(format!(
                "CryptoNote {what} varint at blob offset {at} is not canonical"
            )));
        }
        value |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
    }
}

fn write_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

impl CnFields {
    /// Parses a whole CryptoNote blob; trailing bytes are an error because the node would not
    /// reproduce them when hashing.
    pub fn parse(blob: &[u8]) -> Result<CnFields> {
        let mut cur = Cursor::new(blob);
        let major = read_varint(&mut cur, "major_version")?;
        let minor = read_varint(&mut cur, "minor_version")?;
        let timestamp = read_varint(&mut cur, "timestamp")?;
        let fixed = |e: Error| e.context("CryptoNote blob (prev_id/nonce/merkle_root)");
        let prev_id = cur.read_hash().map_err(fixed)?;
        let nonce = cur.read_u32_le().map_err(fixed)?;
        let merkle_root = cur.read_hash().map_err(fixed)?;
        let n_txes = read_varint(&mut cur, "nTxes")?;
        if !cur.is_empty() {
            return Err(Error::new(format!(
                "CryptoNote blob has {} unexpected trailing bytes after nTxes (blob length {})",
                cur.remaining(),
                blob.len()
            )));
        }
        Ok(CnFields {
            major,
            minor,
            timestamp,
            prev_id,
            nonce,
            merkle_root,
            n_txes,
        })
    }

    /// Serializes the blob as binary_archive does.
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(76);
        write_varint(&mut out, self.major);
        write_varint(&mut out, self.minor);
        write_varint(&mut out, self.timestamp);
        out.extend_from_slice(&self.prev_id);
        out.extend_from_slice(&self.nonce.to_le_bytes());
        out.extend_from_slice(&self.merkle_root);
        write_varint(&mut out, self.n_txes);
        out
    }
}

fn bitcoin_part(
    version: i32,
    prev: &Hash32,
    merkle_root: &Hash32,
    time: u32,
    bits: u32,
    height: u32,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(prev);
    out.extend_from_slice(merkle_root);
    out.extend_from_slice(&time.to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out
}

impl Header {
    /// Reads one header (80 bytes, CompactSize, blob) and checks the blob is well formed and
    /// consistent with the Bitcoin part.
    pub fn parse(cur: &mut Cursor) -> Result<Header> {
        let start = cur.position();
        let ctx = |e: Error| e.context(format!("block header at offset {start}"));
        let h80 = cur.read_bytes(BITCOIN_HEADER_LEN).map_err(ctx)?;
        let blob = cur
            .read_var_bytes()
            .map_err(|e| ctx(e.context("CryptoNote blob")))?;
        let cn = CnFields::parse(blob).map_err(ctx)?;
        let expected = sha256d(h80);
        if cn.prev_id != expected {
            return Err(ctx(Error::new(format!(
                "inconsistent CryptoNote blob: prev_id {} != sha256d(80-byte header) {} (the node would hash this header to all 0xff)",
                hash_to_hex(&cn.prev_id),
                hash_to_hex(&expected)
            ))));
        }
        Ok(Header {
            raw: cur.consumed_since(start).to_vec(),
        })
    }

    /// Parses a slice that must hold exactly one header (e.g. `getblockheader <hash> false`).
    pub fn from_bytes(b: &[u8]) -> Result<Header> {
        let mut cur = Cursor::new(b);
        let h = Header::parse(&mut cur)?;
        if !cur.is_empty() {
            return Err(Error::new(format!(
                "{} trailing bytes after the {}-byte block header",
                cur.remaining(),
                h.len()
            )));
        }
        Ok(h)
    }

    /// The serialized header, as served to Electrum clients.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// Serialized length (157 on mainnet, 153 on regtest `generate` blocks).
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Never true for a parsed header; present because `len` is.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The block id: Keccak-256 of the CryptoNote blob, internal order.
    pub fn hash(&self) -> Hash32 {
        keccak256(self.cn_blob())
    }

    /// sha256d of the 80-byte part: the CryptoNote `prev_id`, never the block id.
    pub fn original_hash(&self) -> Hash32 {
        sha256d(&self.raw[..BITCOIN_HEADER_LEN])
    }

    fn u32_at(&self, at: usize) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.raw[at..at + 4]);
        u32::from_le_bytes(b)
    }

    fn hash_at(&self, at: usize) -> Hash32 {
        let mut h = [0u8; 32];
        h.copy_from_slice(&self.raw[at..at + 32]);
        h
    }

    /// Block version (nVersion).
    pub fn version(&self) -> i32 {
        self.u32_at(0) as i32
    }

    /// Hash of the previous block (its Keccak id), internal order.
    pub fn prev_hash(&self) -> Hash32 {
        self.hash_at(4)
    }

    /// Bitcoin sha256d merkle root over the txids.
    pub fn merkle_root(&self) -> Hash32 {
        self.hash_at(36)
    }

    /// Block time (nTime).
    pub fn time(&self) -> u32 {
        self.u32_at(68)
    }

    /// Compact difficulty target (nBits).
    pub fn bits(&self) -> u32 {
        self.u32_at(72)
    }

    /// The block height, which Kevacoin stores in nNonce.
    pub fn height(&self) -> u32 {
        self.u32_at(76)
    }

    /// The CryptoNote blob without its length prefix (what the block hash covers).
    pub fn cn_blob(&self) -> &[u8] {
        let len_size = match self.raw[BITCOIN_HEADER_LEN] {
            0xfd => 3,
            0xfe => 5,
            0xff => 9,
            _ => 1,
        };
        &self.raw[BITCOIN_HEADER_LEN + len_size..]
    }

    /// The decoded CryptoNote fields (validated at parse time).
    pub fn cn_fields(&self) -> CnFields {
        CnFields::parse(self.cn_blob()).expect("blob validated when the header was parsed")
    }

    /// Builds a header from its Bitcoin fields and a CryptoNote blob; `prev_id` is filled in.
    pub fn build(
        version: i32,
        prev: Hash32,
        merkle_root: Hash32,
        time: u32,
        bits: u32,
        height: u32,
        cn: CnFields,
    ) -> Header {
        let mut raw = bitcoin_part(version, &prev, &merkle_root, time, bits, height);
        let cn = CnFields {
            prev_id: sha256d(&raw),
            ..cn
        };
        let blob = cn.serialize();
        write_compact_size(&mut raw, blob.len() as u64);
        raw.extend_from_slice(&blob);
        Header { raw }
    }

    /// Build a regtest-style header (`generate` path: 72-byte blob: major varint, minor 0, timestamp 0,
    /// prev_id = sha256d(header80), nonce 0, merkle 0, nTxes 0) — used by the stand-in node.
    /// The major version follows regtest's rule: 10 below height 2,000,000, else 12.
    pub fn build_regtest(
        version: i32,
        prev: Hash32,
        merkle_root: Hash32,
        time: u32,
        bits: u32,
        height: u32,
    ) -> Header {
        let major = if height >= REGTEST_RANDOMX_HEIGHT {
            12
        } else {
            10
        };
        let cn = CnFields {
            major,
            minor: 0,
            timestamp: 0,
            prev_id: [0; 32],
            nonce: 0,
            merkle_root: [0; 32],
            n_txes: 0,
        };
        Header::build(version, prev, merkle_root, time, bits, height, cn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::hash::{from_hex, hash_from_hex};

    const REGTEST_GENESIS: &str = "010000000000000000000000000000000000000000000000000000000000000000000000b9f5ab4b24e2ec6acbb332e916cfb4bc0c4694ba4dd1b79653cec9c5fb37dbb44c0c5a5effff7f2000000000480a000080c69b262d7ef8a4b296c9c38ce680ab0588cd57492224798a2a4e1955a96d1f00000000000000000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn build_regtest_reproduces_regtest_genesis() {
        let merkle =
            hash_from_hex("b4db37fbc5c9ce5396b7d14dba94460cbcb4cf16e932b3cb6aece2244babf5b9")
                .unwrap();
        let h = Header::build_regtest(1, [0; 32], merkle, 1582959692, 0x207fffff, 0);
        assert_eq!(h.as_bytes(), &from_hex(REGTEST_GENESIS).unwrap()[..]);
        assert_eq!(h.len(), 153);
        assert_eq!(
            hash_to_hex(&h.hash()),
            "913ef11843ce0d4905bfdbd73c8e57bc9b35619dfada60474e64040b351b9941"
        );
        assert_eq!(Header::from_bytes(h.as_bytes()).unwrap(), h);
    }

    #[test]
    fn inconsistent_prev_id_is_rejected() {
        let mut raw = from_hex(REGTEST_GENESIS).unwrap();
        raw[70] ^= 1; // change nTime without updating prev_id
        let e = Header::from_bytes(&raw).unwrap_err();
        assert!(e.to_string().contains("prev_id"), "{e}");
    }

    #[test]
    fn malformed_blobs_are_rejected() {
        let raw = from_hex(REGTEST_GENESIS).unwrap();
        for cut in [0, 79, 80, 81, 100, 152] {
            assert!(Header::from_bytes(&raw[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = raw.clone();
        long.push(0);
        assert!(Header::from_bytes(&long)
            .unwrap_err()
            .to_string()
            .contains("trailing"));
        // A blob with an extra byte inside (length 73) is rejected as trailing data.
        let mut extra = raw[..80].to_vec();
        extra.push(73);
        extra.extend_from_slice(&raw[81..]);
        extra.push(0);
        assert!(Header::from_bytes(&extra).is_err());
    }

    #[test]
    fn varints_follow_binary_archive() {
        let mut v = Vec::new();
        write_varint(&mut v, 1579143600);
        assert_eq!(v, from_hex("b0a3fff005").unwrap());
        assert!(read_varint(&mut Cursor::new(&[0x80, 0x00]), "x").is_err());
        assert!(read_varint(&mut Cursor::new(&[0xff; 10]), "x").is_err());
        let mut max = Vec::new();
        write_varint(&mut max, u64::MAX);
        assert_eq!(read_varint(&mut Cursor::new(&max), "x").unwrap(), u64::MAX);
    }
}
