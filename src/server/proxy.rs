//! The PROXY protocol (HAProxy's `proxy-protocol.txt`, versions 1 and 2): the header a load
//! balancer puts before a connection's first byte to say which client it carries, so that cost
//! groups, exemptions, logs and the admin listings see the wallet, not the balancer.
//!
//! Only connections from `PROXY_PROTOCOL_FROM` ([`TrustedProxies`]) are read for a header, and
//! they must carry one; anyone else's bytes go to the session as they are, so a wallet cannot
//! claim another address. Pure: [`parse`] judges the bytes received so far, [`Pending`] is the
//! state of a connection until its header is complete. The event loop peeks at the socket, asks
//! [`Pending::offer`], and reads exactly the header's bytes once it is complete, so whatever
//! follows (a TLS handshake, an HTTP upgrade, JSON-RPC lines) stays in the socket for the
//! usual path.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

/// The first 12 bytes of a version 2 header.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest version 1 line, CRLF included (the specification's worst case).
pub const V1_MAX: usize = 107;
/// The longest version 2 header accepted (16 fixed bytes, addresses and TLVs). The protocol
/// allows 65,551; a balancer sends a few hundred, and this bounds what a connection may hold
/// back before it is judged.
pub const MAX_HEADER: usize = 4096;
/// How long a trusted proxy has to send its header (the specification asks for at least 3 s,
/// to cover one TCP retransmission).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// PP2_TYPE_CRC32C: a checksum of the whole header, verified when present.
const TLV_CRC32C: u8 = 0x03;

/// A complete, valid PROXY header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// 1 (text) or 2 (binary).
    pub version: u8,
    /// The client the proxy relays; `None` keeps the connection's own address (v1 `UNKNOWN`,
    /// v2 `LOCAL`, or a v2 address family without an IP address).
    pub source: Option<SocketAddr>,
}

/// What the bytes received so far amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parse {
    /// A valid beginning: more bytes are needed to decide.
    NeedMore,
    /// A complete header, and its length in bytes.
    Done(Header, usize),
    /// Not a valid header; why, for the log.
    Invalid(String),
}

/// Judges the first bytes of a connection (all of them so far, from the first one).
///
/// The verdict only ever moves forward as bytes are added: `NeedMore` until a header is
/// complete or impossible, then the same `Done` or `Invalid` whatever follows.
pub fn parse(bytes: &[u8]) -> Parse {
    if bytes.is_empty() {
        return Parse::NeedMore;
    }
    let n = bytes.len().min(V2_SIGNATURE.len());
    if bytes[..n] == V2_SIGNATURE[..n] {
        return parse_v2(bytes);
    }
    let n = bytes.len().min(6);
    if bytes[..n] == b"PROXY "[..n] {
        return parse_v1(bytes);
    }
    Parse::Invalid(format!(
        "expected a PROXY protocol header, got \"{}\"",
        shown(bytes)
    ))
}

/// The first bytes of `bytes`, escaped, for a log line.
fn shown(bytes: &[u8]) -> String {
    let mut out = bytes[..bytes.len().min(24)].escape_ascii().to_string();
    if bytes.len() > 24 {
        out.push('…');
    }
    out
}

fn invalid(why: impl Into<String>) -> Parse {
    Parse::Invalid(why.into())
}

/// `PROXY TCP4|TCP6 src dst sport dport\r\n` or `PROXY UNKNOWN …\r\n`.
fn parse_v1(bytes: &[u8]) -> Parse {
    let window = &bytes[..bytes.len().min(V1_MAX)];
    if let Some(cr) = window.iter().position(|&b| b == b'\r') {
        if window.get(cr + 1).is_some_and(|&b| b != b'\n') {
            return invalid("PROXY v1: a CR not followed by LF");
        }
    }
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        if bytes.len() >= V1_MAX {
            return invalid(format!("PROXY v1: no CRLF within {V1_MAX} bytes"));
        }
        return Parse::NeedMore;
    };
    if lf == 0 || window[lf - 1] != b'\r' {
        return invalid("PROXY v1: the line ends with LF without CR");
    }
    let line = &window[..lf - 1];
    let Ok(text) = std::str::from_utf8(line) else {
        return invalid("PROXY v1: the line is not ASCII");
    };
    if !text.is_ascii() {
        return invalid("PROXY v1: the line is not ASCII");
    }
    let fields: Vec<&str> = text.split(' ').collect();
    let header = |source| Parse::Done(Header { version: 1, source }, lf + 1);
    let v4 = match fields.get(1).copied() {
        // Anything may follow UNKNOWN; the receiver ignores it.
        Some("UNKNOWN") => return header(None),
        Some("TCP4") => true,
        Some("TCP6") => false,
        Some(other) => return invalid(format!("PROXY v1: unknown protocol {other:?}")),
        None => return invalid("PROXY v1: no protocol"),
    };
    let [_, _, src, dst, sport, dport] = fields[..] else {
        return invalid(format!(
            "PROXY v1: {} fields where 6 were expected (PROXY {} SRC DST SPORT DPORT)",
            fields.len(),
            fields[1]
        ));
    };
    let ip = |s: &str| -> Option<IpAddr> {
        if v4 {
            s.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
        } else {
            s.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
        }
    };
    let (Some(src), Some(_)) = (ip(src), ip(dst)) else {
        return invalid(format!(
            "PROXY v1: {src:?} or {dst:?} is not an {} address",
            fields[1]
        ));
    };
    let (Some(sport), Some(_)) = (port(sport), port(dport)) else {
        return invalid(format!("PROXY v1: {sport:?} or {dport:?} is not a port"));
    };
    header(Some(SocketAddr::new(src, sport)))
}

/// A decimal port without leading zeros.
fn port(s: &str) -> Option<u16> {
    let digits = !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

/// The binary header: signature, version and command, family and transport, length, then the
/// addresses and TLVs.
fn parse_v2(bytes: &[u8]) -> Parse {
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
fn crc32c(mut crc: u32, data: &[u8]) -> u32 {
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

/// `PROXY_PROTOCOL_FROM`: addresses and CIDR ranges of the proxies whose connections begin with
/// a PROXY header (and must).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Reads a comma- or space-separated list such as `10.0.0.5, 192.168.1.0/24, fd00::/8`;
    /// the error names the entry and how to write it.
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        let mut ranges = Vec::new();
        for entry in list
            .split([',', ' '])
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let (ip, bits) = match entry.split_once('/') {
                Some((ip, bits)) => (ip, Some(bits)),
                None => (entry, None),
            };
            let ip: IpAddr = ip.parse().map_err(|_| {
                format!(
                    "{entry:?} is not an IP address or CIDR range (e.g. 10.0.0.5 or 10.0.0.0/24)"
                )
            })?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => max,
                Some(b) => b.parse::<u8>().ok().filter(|b| *b <= max).ok_or_else(|| {
                    format!("{entry:?}: the prefix length must be a number from 0 to {max}")
                })?,
            };
            // An IPv4 range written in IPv6's mapped form matches as IPv4, as peers do.
            let (ip, bits) = match ip {
                IpAddr::V6(v6) if bits >= 96 => v6
                    .to_ipv4_mapped()
                    .map_or((ip, bits), |v4| (IpAddr::V4(v4), bits - 96)),
                _ => (ip, bits),
            };
            let network = masked(ip, bits);
            if network != ip {
                return Err(format!(
                    "{entry:?} has bits set beyond its /{bits} prefix; did you mean {network}/{bits}?"
                ));
            }
            ranges.push((ip, bits));
        }
        Ok(TrustedProxies(ranges))
    }

    /// True when nothing is trusted (the PROXY protocol is off).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a connection from `ip` must begin with a PROXY header. IPv4 peers of a
    /// dual-stack listener (`::ffff:a.b.c.d`) match IPv4 entries.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0
            .iter()
            .any(|&(net, bits)| net.is_ipv4() == ip.is_ipv4() && masked(ip, bits) == net)
    }
}

/// `ip` with every bit past the first `bits` cleared.
fn masked(ip: IpAddr, bits: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

/// A connection from a trusted proxy whose header is not complete yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    proxy: SocketAddr,
    deadline: Instant,
}

/// What to do with a pending connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Keep the bytes where they are and wait for more.
    Wait,
    /// Read and drop `consume` bytes (the header); the connection is `client`'s from now on.
    Accept {
        /// The session's address: the header's source, or the proxy's own.
        client: SocketAddr,
        /// The header's length.
        consume: usize,
    },
    /// Close the connection; the text is the log line.
    Refuse(String),
}

impl Pending {
    /// A connection accepted from the trusted `proxy` at `now`.
    pub fn new(proxy: SocketAddr, now: Instant) -> Pending {
        Pending {
            proxy,
            deadline: now + HEADER_TIMEOUT,
        }
    }

    /// Judges the connection's first bytes (all of them so far, still unread in the socket);
    /// `closed` when the proxy has closed its side, so no more will come.
    pub fn offer(&self, first: &[u8], closed: bool) -> Step {
        match parse(first) {
            Parse::Done(header, consume) => Step::Accept {
                client: header.source.unwrap_or(self.proxy),
                consume,
            },
            Parse::Invalid(why) => Step::Refuse(self.refusal(&why)),
            Parse::NeedMore if closed && first.is_empty() => {
                Step::Refuse(self.refusal("it closed the connection without a PROXY header"))
            }
            Parse::NeedMore if closed => Step::Refuse(self.refusal(&format!(
                "it closed the connection within a PROXY header (\"{}\")",
                shown(first)
            ))),
            Parse::NeedMore => Step::Wait,
        }
    }

    /// The log line to close with once the header is overdue at `now`.
    pub fn expired(&self, now: Instant) -> Option<String> {
        (now >= self.deadline).then(|| {
            self.refusal(&format!(
                "no complete PROXY header within {} s",
                HEADER_TIMEOUT.as_secs()
            ))
        })
    }

    /// When [`Pending::expired`] becomes due.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The log line for closing this connection because of `why`.
    pub fn refusal(&self, why: &str) -> String {
        format!(
            "closed a connection from {} (PROXY_PROTOCOL_FROM): {why}",
            self.proxy
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | cmd);
        h.push(fam);
        h.extend_from_slice(&(body.len() as u16).to_be_bytes());
        h.extend_from_slice(body);
        h
    }

    fn v4_body(src: [u8; 4], sport: u16) -> Vec<u8> {
        let mut b = src.to_vec();
        b.extend_from_slice(&[10, 0, 0, 1]);
        b.extend_from_slice(&sport.to_be_bytes());
        b.extend_from_slice(&50001u16.to_be_bytes());
        b
    }

    fn done(bytes: &[u8]) -> (Header, usize) {
        match parse(bytes) {
            Parse::Done(h, n) => (h, n),
            other => panic!("{:?}: {other:?}", bytes.escape_ascii().to_string()),
        }
    }

    fn refused(bytes: &[u8]) -> String {
        match parse(bytes) {
            Parse::Invalid(why) => why,
            other => panic!("{:?}: {other:?}", bytes.escape_ascii().to_string()),
        }
    }

    /// Every strict prefix of a complete header asks for more.
    fn prefixes_need_more(bytes: &[u8], len: usize) {
        for i in 0..len {
            assert_eq!(parse(&bytes[..i]), Parse::NeedMore, "prefix of {i} bytes");
        }
    }

    #[test]
    fn v1_tcp4_and_tcp6_give_the_source_and_the_header_length() {
        let line = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n";
        let (h, n) = done(line);
        assert_eq!(n, 47);
        assert_eq!(h.version, 1);
        assert_eq!(h.source, Some("192.168.0.1:56324".parse().unwrap()));
        prefixes_need_more(line, n);

        let line = b"PROXY TCP6 2001:db8::7 ::1 65535 0\r\n{\"id\":1}";
        let (h, n) = done(line);
        assert_eq!(n, 36);
        assert_eq!(h.source, Some("[2001:db8::7]:65535".parse().unwrap()));

        let worst = b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
        assert_eq!(done(worst).1, 104);
    }

    #[test]
    fn v1_unknown_keeps_the_connections_address_and_ignores_the_rest() {
        let (h, n) = done(b"PROXY UNKNOWN\r\n");
        assert_eq!((h.source, n), (None, 15));
        let long = b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
        assert_eq!(long.len(), V1_MAX);
        assert_eq!(
            done(long),
            (
                Header {
                    version: 1,
                    source: None
                },
                V1_MAX
            )
        );
    }

    #[test]
    fn v1_lines_that_do_not_match_exactly_are_refused() {
        for bad in [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
            b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 ::1 ::1 1 2\r\n",
            b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY \r\n",
            b"PROXY TCP4 1.2.3.\xc3\xa9 5.6.7.8 1 2\r\n",
        ] {
            let why = refused(bad);
            assert!(why.starts_with("PROXY v1: "), "{why}");
        }
        // No CRLF within 107 bytes.
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(V1_MAX, b'a');
        assert!(refused(&long).contains("no CRLF within 107 bytes"));
        assert_eq!(parse(&long[..V1_MAX - 1]), Parse::NeedMore);
    }

    #[test]
    fn anything_else_is_refused_from_its_first_byte() {
        let why = refused(b"{\"id\":1,\"method\":\"server.version\"}\n");
        assert!(
            why.ends_with(r#"got "{\"id\":1,\"method\":\"server…""#),
            "{why}"
        );
        assert!(refused(b"PROXY\r\n").contains("expected a PROXY protocol header"));
        assert!(refused(&[0x16, 3, 1]).contains(r#""\x16\x03\x01""#));
        assert!(!matches!(parse(b"G"), Parse::NeedMore));
        assert!(!matches!(parse(b"PROXX"), Parse::NeedMore));
        assert!(!matches!(parse(b"\r\n\r\n\0\r\nQUIX"), Parse::NeedMore));
        assert_eq!(parse(b"PROX"), Parse::NeedMore);
        assert_eq!(parse(b"\r\n\r\n\0"), Parse::NeedMore);
    }

    #[test]
    fn v2_proxy_commands_give_the_source() {
        let mut bytes = v2(1, 0x11, &v4_body([203, 0, 113, 9], 40000));
        let header_len = bytes.len();
        bytes.extend_from_slice(b"\x16\x03\x01");
        assert_eq!(
            done(&bytes),
            (
                Header {
                    version: 2,
                    source: Some("203.0.113.9:40000".parse().unwrap())
                },
                28
            )
        );
        prefixes_need_more(&bytes, header_len);

        let mut body = vec![0x20, 0x01, 0x0d, 0xb8];
        body.resize(16, 0);
        body[15] = 9;
        body.extend_from_slice(&[0; 16]);
        body.extend_from_slice(&443u16.to_be_bytes());
        body.extend_from_slice(&50002u16.to_be_bytes());
        let (h, n) = done(&v2(1, 0x21, &body));
        assert_eq!(h.source, Some("[2001:db8::9]:443".parse().unwrap()));
        assert_eq!(n, 52);
    }

    #[test]
    fn v2_local_unspec_and_unix_keep_the_connections_address() {
        assert_eq!(done(&v2(0, 0x00, &[])).0.source, None);
        // LOCAL ignores the addresses even when they are present.
        assert_eq!(done(&v2(0, 0x11, &v4_body([1, 2, 3, 4], 5))).0.source, None);
        assert_eq!(done(&v2(1, 0x00, &[])).0.source, None);
        assert_eq!(done(&v2(1, 0x31, &[0; 216])).0.source, None);
    }

    #[test]
    fn v2_headers_that_break_the_rules_are_refused() {
        let mut bad_version = v2(1, 0x11, &v4_body([1, 2, 3, 4], 5));
        bad_version[12] = 0x11;
        assert!(refused(&bad_version[..13]).contains("version 1"));
        assert!(refused(&v2(2, 0x11, &[])[..13]).contains("unknown command 2"));
        assert!(refused(&v2(1, 0x13, &[])[..14]).contains("0x13"));
        assert!(refused(&v2(1, 0x41, &[])).contains("0x41"));
        assert!(refused(&v2(1, 0x11, &[0; 11])).contains("11 address bytes"));
        assert!(refused(&v2(1, 0x12, &[0; 12])).contains("UDP"));
        let mut huge = v2(1, 0x11, &[]);
        huge[14..16].copy_from_slice(&4081u16.to_be_bytes());
        assert!(refused(&huge).contains("4097 bytes"));
        huge[14..16].copy_from_slice(&4080u16.to_be_bytes());
        assert_eq!(parse(&huge), Parse::NeedMore);
    }

    #[test]
    fn v2_tlvs_are_walked_and_a_crc32c_is_checked() {
        let mut body = v4_body([198, 51, 100, 7], 1234);
        body.extend_from_slice(&[0x04, 0, 2, 0, 0]); // NOOP
        body.extend_from_slice(&[0x02, 0, 3, b'a', b'.', b'b']); // AUTHORITY
        assert!(matches!(parse(&v2(1, 0x11, &body)), Parse::Done(..)));
        let mut stray = body.clone();
        stray.extend_from_slice(&[0x04, 0]);
        assert!(refused(&v2(1, 0x11, &stray)).contains("2 stray bytes"));
        let mut long = body.clone();
        long.extend_from_slice(&[0x05, 0, 9, 1]);
        assert!(refused(&v2(1, 0x11, &long)).contains("runs past"));

        body.extend_from_slice(&[TLV_CRC32C, 0, 4, 0, 0, 0, 0]);
        let mut header = v2(1, 0x11, &body);
        let crc = !crc32c(!0, &header);
        let at = header.len() - 4;
        header[at..].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(done(&header).1, header.len());
        header[at] ^= 1;
        assert!(refused(&header).contains("CRC32C"));
    }

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(!crc32c(!0, b"123456789"), 0xE306_9283);
    }

    #[test]
    fn trusted_ranges_match_addresses_and_refuse_bad_entries() {
        let t = TrustedProxies::parse("10.0.0.5, 192.168.1.0/24 fd00::/8,::1").unwrap();
        for yes in [
            "10.0.0.5",
            "192.168.1.77",
            "fd12::3",
            "::1",
            "::ffff:192.168.1.2",
        ] {
            assert!(t.contains(yes.parse().unwrap()), "{yes}");
        }
        for no in ["10.0.0.6", "192.168.2.1", "fe80::1", "127.0.0.1", "::2"] {
            assert!(!t.contains(no.parse().unwrap()), "{no}");
        }
        assert!(TrustedProxies::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(TrustedProxies::parse(" , ").unwrap().is_empty());
        let e = TrustedProxies::parse("10.0.0.5/24").unwrap_err();
        assert!(e.contains("did you mean 10.0.0.0/24"), "{e}");
        assert!(TrustedProxies::parse("10.0.0.0/33")
            .unwrap_err()
            .contains("0 to 32"));
        assert!(TrustedProxies::parse("haproxy")
            .unwrap_err()
            .contains("\"haproxy\""));
    }

    #[test]
    fn a_pending_connection_accepts_refuses_or_times_out() {
        let proxy: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let start = Instant::now();
        let p = Pending::new(proxy, start);
        assert_eq!(p.offer(b"", false), Step::Wait);
        assert_eq!(p.offer(b"PROXY TCP4 127.0.0", false), Step::Wait);
        assert_eq!(
            p.offer(
                b"PROXY TCP4 127.0.0.2 127.0.0.1 5000 50001\r\n{\"id\"",
                false
            ),
            Step::Accept {
                client: "127.0.0.2:5000".parse().unwrap(),
                consume: 43
            }
        );
        assert_eq!(
            p.offer(&v2(0, 0, &[]), false),
            Step::Accept {
                client: proxy,
                consume: 16
            }
        );
        let Step::Refuse(line) = p.offer(b"{\"id\":1}\n", false) else {
            panic!("a trusted source without a header is accepted");
        };
        assert!(
            line.contains("127.0.0.1:40000") && line.contains("expected a PROXY"),
            "{line}"
        );
        let Step::Refuse(line) = p.offer(b"PROXY TCP4", true) else {
            panic!("a cut header is waited for");
        };
        assert!(line.contains("within a PROXY header"), "{line}");
        assert!(matches!(p.offer(b"", true), Step::Refuse(_)));
        assert_eq!(p.expired(start + Duration::from_secs(4)), None);
        let line = p.expired(start + HEADER_TIMEOUT).unwrap();
        assert!(line.contains("within 5 s"), "{line}");
        assert_eq!(p.deadline(), start + HEADER_TIMEOUT);
    }
}
