//! The binary (version 2) header: signature, version and command, family and transport,
//! length, addresses, then TLVs whose CRC32C, when present, is verified.

use std::net::{IpAddr, SocketAddr};

use super::{invalid, Header, Parse, MAX_HEADER};

/// PP2_TYPE_CRC32C: a checksum of the whole header, verified when present.
pub(super) const TLV_CRC32C: u8 = 0x03;

/// The binary header: signature, version and command, family and transport, length, then the
/// addresses and TLVs.
pub(super) fn parse_v2(bytes: &[u8]) -> Parse {
    if let Some(&ver_cmd) = bytes.get(12) {
        if ver_cmd >> 4 != 2 {
            return invalid(format!(
                "PROXY v2: version {} (only 2 exists)",
                ver_cmd >> 4
            ));
        }
        if ver_cmd & 0x0F > 1 {
            return invalid(format!("PROXY v2: unknown command {}", ver_cmd & 0x0F));
        }
    }
    if let Some(&fam) = bytes.get(13) {
        if !matches!(fam, 0x00 | 0x11 | 0x12 | 0x21 | 0x22 | 0x31 | 0x32) {
            return invalid(format!("PROXY v2: unknown family and transport {fam:#04x}"));
        }
    }
    if bytes.len() < 16 {
        return Parse::NeedMore;
    }
    let total = 16 + usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    if total > MAX_HEADER {
        return invalid(format!(
            "PROXY v2: a header of {total} bytes (at most {MAX_HEADER} are accepted)"
        ));
    }
    if bytes.len() < total {
        return Parse::NeedMore;
    }
    let local = bytes[12] & 0x0F == 0;
    let fam = bytes[13];
    let body = &bytes[16..total];
    let addresses = match fam >> 4 {
        0 => 0,
        1 => 12,
        2 => 36,
        _ => 216,
    };
    if body.len() < addresses {
        return invalid(format!(
            "PROXY v2: {} address bytes where family {fam:#04x} needs {addresses}",
            body.len()
        ));
    }
    if let Err(why) = check_tlvs(&bytes[..total], 16 + addresses) {
        return invalid(format!("PROXY v2: {why}"));
    }
    let source = match fam {
        _ if local => None,
        0x11 => {
            let ip: [u8; 4] = body[0..4].try_into().unwrap_or_default();
            Some(SocketAddr::new(
                IpAddr::from(ip),
                u16::from_be_bytes([body[8], body[9]]),
            ))
        }
        0x21 => {
            let ip: [u8; 16] = body[0..16].try_into().unwrap_or_default();
            Some(SocketAddr::new(
                IpAddr::from(ip),
                u16::from_be_bytes([body[32], body[33]]),
            ))
        }
        0x12 | 0x22 | 0x32 => {
            return invalid("PROXY v2: a UDP (DGRAM) connection announced on a TCP one")
        }
        // UNSPEC and UNIX sockets carry no IP address: the connection's own is kept.
        _ => None,
    };
    Parse::Done(Header { version: 2, source }, total)
}

/// Walks the TLVs after the addresses (each whole, none past the end) and verifies a CRC32C.
fn check_tlvs(header: &[u8], start: usize) -> Result<(), String> {
    let mut at = start;
    while at < header.len() {
        if header.len() - at < 3 {
            return Err(format!(
                "{} stray bytes after the last TLV",
                header.len() - at
            ));
        }
        let kind = header[at];
        let len = usize::from(u16::from_be_bytes([header[at + 1], header[at + 2]]));
        let value = at + 3;
        if value + len > header.len() {
            return Err(format!(
                "TLV {kind:#04x} of {len} bytes runs past the header's end"
            ));
        }
        if kind == TLV_CRC32C {
            if len != 4 {
                return Err(format!("a CRC32C TLV of {len} bytes (4 expected)"));
            }
            let sent = u32::from_be_bytes(header[value..value + 4].try_into().unwrap_or_default());
            let crc = crc32c(
                crc32c(crc32c(!0, &header[..value]), &[0; 4]),
                &header[value + 4..],
            );
            if !crc != sent {
                return Err(format!(
                    "CRC32C {sent:08x} does not match the header ({:08x})",
                    !crc
                ));
            }
        }
        at = value + len;
    }
    Ok(())
}

/// Continues a CRC32C (Castagnoli, RFC 4960 appendix B) over `data`; start from `!0` and
/// invert the result.
pub(super) fn crc32c(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(!crc32c(!0, b"123456789"), 0xE306_9283);
    }
}
