//! Bitcoin-style binary encoding: a zero-copy reader and CompactSize helpers.

use super::Hash32;
use std::fmt;

/// A decoding error whose message says what is wrong and where, so bad input is diagnosable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    msg: String,
}

impl Error {
    /// Makes an error from a message that names the problem and its position.
    pub fn new(msg: impl Into<String>) -> Error {
        Error { msg: msg.into() }
    }

    /// Prefixes the message with the enclosing context (e.g. "tx 3: ").
    pub fn context(self, ctx: impl fmt::Display) -> Error {
        Error {
            msg: format!("{ctx}: {}", self.msg),
        }
    }

    /// The message alone, for callers that wrap it in their own error type.
    pub fn message(&self) -> &str {
        &self.msg
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

/// Result of every chain decoding function.
pub type Result<T> = std::result::Result<T, Error>;

/// Reads Bitcoin-serialized data from a borrowed slice without copying, tracking the offset for errors.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Starts reading at the beginning of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Cursor { data, pos: 0 }
    }

    /// Offset of the next byte to read, for error messages and slicing.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read, to bound allocations driven by untrusted counts.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// True when everything has been read, to detect trailing garbage.
    pub fn is_empty(&self) -> bool {
        self.pos == self.data.len()
    }

    /// The bytes from `start` up to the current position, to keep a raw copy of what was parsed.
    pub fn consumed_since(&self, start: usize) -> &'a [u8] {
        &self.data[start.min(self.pos)..self.pos]
    }

    /// Reads exactly `n` bytes as a borrowed slice.
    pub fn read_bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(Error::new(format!(
                "truncated: need {n} bytes at offset {}, only {} left",
                self.pos,
                self.remaining()
            )));
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn read_array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.read_bytes(N)?);
        Ok(out)
    }

    /// Reads one byte.
    pub fn read_u8(&mut self) -> Result<u8> {
        Ok(self.read_array::<1>()?[0])
    }

    /// Reads a little-endian u16.
    pub fn read_u16_le(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.read_array()?))
    }

    /// Reads a little-endian u32.
    pub fn read_u32_le(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.read_array()?))
    }

    /// Reads a little-endian i32.
    pub fn read_i32_le(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.read_array()?))
    }

    /// Reads a little-endian u64.
    pub fn read_u64_le(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.read_array()?))
    }

    /// Reads a 32-byte hash as stored (internal byte order).
    pub fn read_hash(&mut self) -> Result<Hash32> {
        self.read_array()
    }

    /// Reads a CompactSize; non-minimal encodings are accepted, as the node reads them.
    pub fn read_compact_size(&mut self) -> Result<u64> {
        let first = self.read_u8()?;
        Ok(match first {
            0xfd => self.read_u16_le()? as u64,
            0xfe => self.read_u32_le()? as u64,
            0xff => self.read_u64_le()?,
            n => n as u64,
        })
    }

    /// Reads a CompactSize length that must fit in the remaining bytes (for counts of items of
    /// at least `min_item_size` bytes), so a hostile length cannot trigger a huge allocation.
    pub fn read_count(&mut self, min_item_size: usize, what: &str) -> Result<usize> {
        let at = self.pos;
        let n = self.read_compact_size()?;
        let max = (self.remaining() / min_item_size.max(1)) as u64;
        if n > max {
            return Err(Error::new(format!(
                "{what} count {n} at offset {at} exceeds what the remaining {} bytes can hold",
                self.remaining()
            )));
        }
        Ok(n as usize)
    }

    /// Reads CompactSize-prefixed bytes (scripts, witness items, the CryptoNote blob).
    pub fn read_var_bytes(&mut self) -> Result<&'a [u8]> {
        let at = self.pos;
        let n = self.read_compact_size()?;
        if n > self.remaining() as u64 {
            return Err(Error::new(format!(
                "truncated: length {n} at offset {at} but only {} bytes left",
                self.remaining()
            )));
        }
        self.read_bytes(n as usize)
    }
}

/// Appends a minimal CompactSize.
pub fn write_compact_size(out: &mut Vec<u8>, n: u64) {
    if n < 0xfd {
        out.push(n as u8);
    } else if n <= 0xffff {
        out.push(0xfd);
        out.extend_from_slice(&(n as u16).to_le_bytes());
    } else if n <= 0xffff_ffff {
        out.push(0xfe);
        out.extend_from_slice(&(n as u32).to_le_bytes());
    } else {
        out.push(0xff);
        out.extend_from_slice(&n.to_le_bytes());
    }
}

/// Appends CompactSize(len) followed by the bytes.
pub fn write_var_bytes(out: &mut Vec<u8>, b: &[u8]) {
    write_compact_size(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Size of the minimal CompactSize encoding of `n`, for computing sizes without serializing.
pub fn compact_size_len(n: u64) -> usize {
    match n {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_size_round_trip() {
        for n in [
            0u64,
            1,
            0xfc,
            0xfd,
            0xffff,
            0x1_0000,
            0xffff_ffff,
            0x1_0000_0000,
            u64::MAX,
        ] {
            let mut v = Vec::new();
            write_compact_size(&mut v, n);
            assert_eq!(v.len(), compact_size_len(n));
            let mut c = Cursor::new(&v);
            assert_eq!(c.read_compact_size().unwrap(), n);
            assert!(c.is_empty());
        }
    }

    #[test]
    fn non_minimal_compact_size_is_accepted() {
        let mut c = Cursor::new(&[0xfd, 0x05, 0x00]);
        assert_eq!(c.read_compact_size().unwrap(), 5);
    }

    #[test]
    fn truncation_errors_name_the_offset() {
        let mut c = Cursor::new(&[1, 2, 3]);
        c.read_u8().unwrap();
        let e = c.read_u32_le().unwrap_err();
        assert!(e.to_string().contains("offset 1"), "{e}");
        let mut c = Cursor::new(&[0x05, 1, 2]);
        assert!(c.read_var_bytes().is_err());
        let mut c = Cursor::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert!(c.read_var_bytes().is_err());
        let mut c = Cursor::new(&[0xfe, 0xff, 0xff, 0xff, 0x7f]);
        assert!(c.read_count(1, "input").is_err());
    }
}
