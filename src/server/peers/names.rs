//! Peers' names and addresses: ElectrumX "real names" (`host tPORT sPORT`), the entries of
//! `server.peers.subscribe`, and which addresses may be contacted or listed.

use super::{DEFAULT_SSL, DEFAULT_TCP};
use crate::jsonrpc::RpcError;
use crate::server::admin::bad;
use serde_json::Value;
use std::net::IpAddr;

/// The table key of a peer: one entry per host and ports.
pub(super) fn peer_key(host: &str, tcp: Option<u16>, ssl: Option<u16>) -> String {
    format!("{} {tcp:?} {ssl:?}", host.to_ascii_lowercase())
}

/// The peer of an admin `add_peer` request (`["host s50002"]` or `{"real_name": …}`).
pub fn parse_add_peer(params: &Value) -> Result<(String, Option<u16>, Option<u16>), RpcError> {
    let name = match params {
        Value::Array(a) => a.first().and_then(Value::as_str),
        Value::Object(o) => o.get("real_name").and_then(Value::as_str),
        _ => None,
    }
    .ok_or_else(|| bad("add_peer: give the peer as \"host t50001 s50002\""))?;
    parse_real_name(name).map_err(bad)
}

/// Parses ElectrumX's "real name" `host [tPORT|t] [sPORT|s] [vX]`.
pub(super) fn parse_real_name(name: &str) -> Result<(String, Option<u16>, Option<u16>), String> {
    let mut parts = name.split_whitespace();
    let host = parts
        .next()
        .ok_or_else(|| "add_peer: empty peer name".to_string())?;
    let (mut tcp, mut ssl) = (None, None);
    for p in parts {
        let (letter, port) = p.split_at(p.chars().next().map_or(0, char::len_utf8));
        if letter == "v" || letter == "p" {
            continue; // Protocol version and pruning: not needed to reach the peer.
        }
        let port = if port.is_empty() {
            None
        } else {
            Some(
                port.parse::<u16>()
                    .map_err(|_| format!("add_peer: bad port in {p:?}"))?,
            )
        };
        match letter {
            "t" => tcp = Some(port.unwrap_or(DEFAULT_TCP)),
            "s" => ssl = Some(port.unwrap_or(DEFAULT_SSL)),
            _ => {
                return Err(format!(
                    "add_peer: unknown feature {p:?} (use tPORT or sPORT)"
                ))
            }
        }
    }
    if tcp.is_none() && ssl.is_none() {
        return Err(format!(
            "add_peer: {host} needs a port, e.g. \"{host} s50002\""
        ));
    }
    Ok((host.to_string(), tcp, ssl))
}

/// Reads one `server.peers.subscribe` entry `[ip, host, [features]]`.
pub(super) fn parse_subscribe_entry(entry: &Value) -> Option<(String, Option<u16>, Option<u16>)> {
    let host = entry.get(1)?.as_str()?;
    let features: Vec<&str> = entry
        .get(2)?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let name = std::iter::once(host)
        .chain(features)
        .collect::<Vec<_>>()
        .join(" ");
    parse_real_name(&name).ok()
}

/// A port as a peer's features give it (number or text).
pub(super) fn port_of(v: &Value) -> Option<u16> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The rate-limit bucket of a caller: its /24 (IPv4) or /64 (IPv6).
pub(super) fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4((u32::from(v4) & 0xFFFF_FF00).into()),
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
    }
}

/// Public addresses only; loopback when allowed (tests).
pub(super) fn usable_ip(ip: IpAddr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || v4.octets()[0] == 0
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xC0) == 64))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return usable_ip(IpAddr::V4(v4), allow_loopback);
            }
            let seg0 = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_multicast()
                || (seg0 & 0xfe00) == 0xfc00
                || (seg0 & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::peers::PeerReport;
    use serde_json::json;

    #[test]
    fn real_names_and_subscribe_entries() {
        assert_eq!(
            parse_real_name("ec0.kevacoin.org s50002").unwrap(),
            ("ec0.kevacoin.org".to_string(), None, Some(50002))
        );
        assert_eq!(
            parse_real_name("h t s60002 v1.4").unwrap(),
            ("h".to_string(), Some(50001), Some(60002))
        );
        assert!(parse_real_name("h").unwrap_err().contains("needs a port"));
        assert!(parse_real_name("h x1").is_err());
        let r = PeerReport {
            host: "h.example".into(),
            ip: Some("1.2.3.4".parse().unwrap()),
            tcp_port: Some(50011),
            ssl_port: Some(50002),
            status: "good",
            error: String::new(),
            source: "seed".into(),
            protocol_max: "1.4.2".into(),
            last_good: None,
            last_try: None,
            tries: 0,
        };
        let e = r.subscribe_entry();
        assert_eq!(
            e,
            json!(["1.2.3.4", "h.example", ["v1.4.2", "s", "t50011"]])
        );
        assert_eq!(
            parse_subscribe_entry(&e),
            Some(("h.example".to_string(), Some(50011), Some(50002)))
        );
    }

    #[test]
    fn private_and_loopback_addresses_are_not_usable() {
        for ip in [
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.5",
            "169.254.1.1",
            "100.64.0.1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!usable_ip(ip.parse().unwrap(), true), "{ip}");
        }
        assert!(!usable_ip("127.0.0.1".parse().unwrap(), false));
        assert!(usable_ip("127.0.0.1".parse().unwrap(), true));
        assert!(usable_ip("8.8.8.8".parse().unwrap(), false));
        assert!(usable_ip("2001:4860::8888".parse().unwrap(), false));
        assert_eq!(
            bucket("1.2.3.4".parse().unwrap()),
            "1.2.3.0".parse::<IpAddr>().unwrap()
        );
    }
}
