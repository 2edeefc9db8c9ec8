//! `PROXY_PROTOCOL_FROM`: which peers are load balancers whose connections begin with a PROXY
//! header.

use std::net::IpAddr;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
