//! ElectrumX's `SERVICES` / `REPORT_SERVICES` syntax: `protocol://host:port`, comma-separated,
//! with its defaults and its rules for what may be announced.

use super::{ConfigError, Result};
use crate::server::Protocol;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Where a service listens or is reported: an IP, a host name, or every interface.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// Empty host in `SERVICES`: listen on every interface (IPv4 and IPv6).
    AllInterfaces,
    Ip(IpAddr),
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::AllInterfaces => Ok(()),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(name) => f.write_str(name),
        }
    }
}

/// One entry of `SERVICES` or `REPORT_SERVICES`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Service {
    pub protocol: Protocol,
    pub host: Host,
    pub port: u16,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.protocol.name(), self.host, self.port)
    }
}

impl Service {
    /// The socket addresses to bind: an empty host means every IPv4 and IPv6 interface.
    pub fn bind_addrs(&self) -> Vec<SocketAddr> {
        match &self.host {
            Host::AllInterfaces => vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), self.port),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), self.port),
            ],
            Host::Ip(ip) => vec![SocketAddr::new(*ip, self.port)],
            Host::Name(name) if name.eq_ignore_ascii_case("localhost") => vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.port),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), self.port),
            ],
            Host::Name(name) => {
                use std::net::ToSocketAddrs;
                (name.as_str(), self.port)
                    .to_socket_addrs()
                    .map(|a| a.collect())
                    .unwrap_or_default()
            }
        }
    }

    /// Whether the service only accepts connections from this machine.
    pub fn is_loopback(&self) -> bool {
        match &self.host {
            Host::Ip(ip) => ip.is_loopback(),
            Host::Name(name) => name.eq_ignore_ascii_case("localhost"),
            Host::AllInterfaces => false,
        }
    }
}

/// A scheme of ElectrumX's `SERVICES` syntax.
fn parse_protocol(s: &str) -> Option<Protocol> {
    match s.to_ascii_lowercase().as_str() {
        "tcp" => Some(Protocol::Tcp),
        "ssl" => Some(Protocol::Ssl),
        "ws" => Some(Protocol::Ws),
        "wss" => Some(Protocol::Wss),
        "rpc" => Some(Protocol::Rpc),
        _ => None,
    }
}

/// Parses ElectrumX service syntax: `proto://host:port`, empty host, `[ipv6]`, rpc defaults.
pub(super) fn parse_services(var: &str, value: &str, defaults: bool) -> Result<Vec<Service>> {
    let mut out: Vec<Service> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = |why: &str| ConfigError(format!("{var}: \"{item}\" invalid: {why}"));
        let (proto, rest) = item
            .split_once("://")
            .ok_or_else(|| bad("expected protocol://host:port"))?;
        let protocol = parse_protocol(proto).ok_or_else(|| bad("unknown protocol"))?;
        let (host_str, port_str) = split_host_port(rest).map_err(|e| bad(&e))?;
        let host = if host_str.is_empty() {
            if defaults && protocol == Protocol::Rpc {
                Host::Name("localhost".into())
            } else if defaults {
                Host::AllInterfaces
            } else {
                return Err(bad("a host is required"));
            }
        } else if let Ok(ip) = host_str.parse::<IpAddr>() {
            Host::Ip(ip)
        } else if host_str
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            if host_str.ends_with(".onion") {
                return Err(bad("onion hosts are not supported"));
            }
            Host::Name(host_str.to_string())
        } else {
            return Err(bad("invalid host"));
        };
        let port = match port_str {
            Some(p) => p.parse::<u16>().map_err(|_| bad("invalid port"))?,
            None if defaults && protocol == Protocol::Rpc => 8000,
            None => return Err(bad("a port is required")),
        };
        let service = Service {
            protocol,
            host,
            port,
        };
        if out
            .iter()
            .any(|s| s.host == service.host && s.port == service.port)
        {
            return Err(ConfigError(format!(
                "{var}: address {}:{} has multiple services",
                service.host, service.port
            )));
        }
        out.push(service);
    }
    Ok(out)
}

/// Splits `host:port`, `[v6]:port`, `:port`, `host` into parts.
fn split_host_port(s: &str) -> std::result::Result<(&str, Option<&str>), String> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| "unclosed [ in IPv6 address".to_string())?;
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err("expected :port after ]".into()),
            },
        };
    }
    match s.rsplit_once(':') {
        Some((host, _)) if host.contains(':') => {
            Err("IPv6 addresses must be written in brackets, e.g. [::1]:50001".into())
        }
        Some((host, port)) => Ok((host, Some(port))),
        None => Ok((s, None)),
    }
}

/// ElectrumX's rules for what may be announced to the world.
pub(super) fn check_report_services(services: &[Service], peer_announce: bool) -> Result<()> {
    for service in services {
        if service.protocol == Protocol::Rpc {
            return Err(ConfigError(
                "REPORT_SERVICES: bad protocol rpc: the admin interface is never announced".into(),
            ));
        }
        match &service.host {
            Host::Ip(ip) => {
                let private = match ip {
                    IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
                    IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
                };
                if ip.is_multicast() || ip.is_unspecified() || (private && peer_announce) {
                    return Err(ConfigError(format!(
                        "REPORT_SERVICES: bad IP address {ip}: announce a public address or name"
                    )));
                }
            }
            Host::Name(name) if name.eq_ignore_ascii_case("localhost") => {
                return Err(ConfigError(
                    "REPORT_SERVICES: bad host localhost: announce a public address or name".into(),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}
