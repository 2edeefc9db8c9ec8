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
//!
//! The text (v1) header is read here, the binary one in `v2`; `trusted` holds the list of
//! balancers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

pub use trusted::TrustedProxies;
use v2::parse_v2;

mod trusted;
mod v2;

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
    use super::v2::{crc32c, TLV_CRC32C};
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
