//! Decoding one client frame (RFC 6455 §5.2): masking, lengths, and the checks that make a
//! frame from a hostile client harmless.

use super::{code, WsError};

/// One decoded client frame.
pub(super) struct Frame {
    pub(super) fin: bool,
    pub(super) opcode: u8,
    pub(super) payload: Vec<u8>,
    pub(super) consumed: usize,
}

/// Decodes the frame at the start of `buf`, `None` when it is incomplete.
pub(super) fn parse_frame(buf: &[u8], max: usize) -> Result<Option<Frame>, WsError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let fin = buf[0] & 0x80 != 0;
    if buf[0] & 0x70 != 0 {
        return Err(WsError::Protocol(
            code::PROTOCOL_ERROR,
            "reserved bits set without a negotiated extension".into(),
        ));
    }
    let opcode = buf[0] & 0x0F;
    let masked = buf[1] & 0x80 != 0;
    if !masked {
        return Err(WsError::Protocol(
            code::PROTOCOL_ERROR,
            "client frames must be masked".into(),
        ));
    }
    let (len, mut at) = match buf[1] & 0x7F {
        126 if buf.len() < 4 => return Ok(None),
        126 => (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() < 10 => return Ok(None),
        127 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b), 10)
        }
        n => (u64::from(n), 2),
    };
    if opcode >= 0x8 && (len > 125 || !fin) {
        return Err(WsError::Protocol(
            code::PROTOCOL_ERROR,
            "control frames must be whole and at most 125 bytes".into(),
        ));
    }
    if max != 0 && len > max as u64 {
        return Err(WsError::TooBig);
    }
    let Ok(len) = usize::try_from(len) else {
        return Err(WsError::TooBig);
    };
    // With no size limit a length near 2^64 must not wrap around.
    let Some(end) = len.checked_add(at + 4) else {
        return Err(WsError::TooBig);
    };
    if buf.len() < end {
        return Ok(None);
    }
    let mask = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
    at += 4;
    let payload: Vec<u8> = buf[at..at + len]
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % 4])
        .collect();
    Ok(Some(Frame {
        fin,
        opcode,
        payload,
        consumed: at + len,
    }))
}
