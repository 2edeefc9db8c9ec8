//! Checking one peer: connect (TCP or TLS), and see that it answers `server.version`, has our
//! genesis, serves headers; collect the peers it lists and announce ourselves to it.

use super::names::{parse_subscribe_entry, usable_ip};
use super::{Check, Context, Verified, MAX_PEERS};
use crate::server::settings::{Discovery, SERVER_VERSION};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// Makes the blocking connections that check a peer.
pub(super) struct Verifier {
    genesis: String,
    features: Value,
    announce: bool,
    discover: bool,
    allow_loopback: bool,
    timeout: Duration,
    tls: Arc<rustls::ClientConfig>,
}

impl Verifier {
    /// A verifier comparing peers with our own features.
    pub(super) fn new(ctx: &Context) -> Result<Self, rustls::Error> {
        Ok(Verifier {
            genesis: ctx.features["genesis_hash"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            announce: ctx.settings.announce && has_hosts(&ctx.features),
            features: ctx.features.clone(),
            discover: ctx.settings.discovery == Discovery::On,
            allow_loopback: ctx.settings.allow_loopback,
            timeout: ctx.settings.timeout,
            tls: Arc::new(no_verify_client()?),
        })
    }

    /// Connects to the peer and checks it serves the same chain; "refused:" errors are final.
    pub(super) fn verify(&self, check: &Check) -> Result<Verified, String> {
        let (port, tls) = match (check.tcp, check.ssl) {
            (Some(p), _) => (p, false),
            (None, Some(p)) => (p, true),
            (None, None) => return Err("refused: no port".into()),
        };
        let addr = (check.host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", check.host))?
            .next()
            .ok_or_else(|| format!("{} has no address", check.host))?;
        if !usable_ip(addr.ip(), self.allow_loopback) {
            return Err(format!(
                "refused: {} is a private or loopback address",
                addr.ip()
            ));
        }
        let sock = TcpStream::connect_timeout(&addr, self.timeout)
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let _ = sock.set_read_timeout(Some(self.timeout));
        let _ = sock.set_write_timeout(Some(self.timeout));
        if tls {
            let name = rustls::pki_types::ServerName::try_from(check.host.clone())
                .map_err(|e| format!("refused: bad host name {}: {e}", check.host))?;
            let conn = rustls::ClientConnection::new(Arc::clone(&self.tls), name)
                .map_err(|e| format!("TLS setup failed: {e}"))?;
            self.session(addr, rustls::StreamOwned::new(conn, sock))
        } else {
            self.session(addr, sock)
        }
    }

    fn session<S: Read + Write>(&self, addr: SocketAddr, stream: S) -> Result<Verified, String> {
        let mut c = LineClient {
            reader: BufReader::new(stream),
            next_id: 0,
        };
        c.call("server.version", json!([SERVER_VERSION, "1.4"]))?;
        let features = c.call("server.features", json!([]))?;
        if features["genesis_hash"].as_str() != Some(self.genesis.as_str()) {
            return Err(format!(
                "refused: genesis {} is not ours",
                features["genesis_hash"]
            ));
        }
        let tip = c.call("blockchain.headers.subscribe", json!([]))?;
        let height = tip["height"]
            .as_u64()
            .ok_or("blockchain.headers.subscribe gave no height")?;
        let header = c.call("blockchain.block.header", json!([height]))?;
        if !header
            .as_str()
            .is_some_and(|h| h.len() >= 160 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(format!("no header served at height {height}"));
        }
        let mut peers = Vec::new();
        if self.discover {
            if let Ok(Value::Array(list)) = c.call("server.peers.subscribe", json!([])) {
                for entry in list.iter().take(MAX_PEERS) {
                    if let Some(p) = parse_subscribe_entry(entry) {
                        peers.push(p);
                    }
                }
            }
        }
        if self.announce {
            let _ = c.call("server.add_peer", json!([self.features]));
        }
        let protocol_max = features["protocol_max"]
            .as_str()
            .unwrap_or("1.4")
            .to_string();
        Ok(Verified {
            ip: addr.ip(),
            protocol_max,
            peers,
        })
    }
}

/// A blocking newline JSON-RPC client for talking to a peer.
struct LineClient<S: Read + Write> {
    reader: BufReader<S>,
    next_id: u64,
}

impl<S: Read + Write> LineClient<S> {
    fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut line = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id})
            .to_string()
            .into_bytes();
        line.push(b'\n');
        let s = self.reader.get_mut();
        s.write_all(&line)
            .and_then(|_| s.flush())
            .map_err(|e| format!("{method}: cannot send: {e}"))?;
        loop {
            let mut reply = String::new();
            let n = (&mut self.reader)
                .take(2_000_000)
                .read_line(&mut reply)
                .map_err(|e| format!("{method}: no answer: {e}"))?;
            if n == 0 {
                return Err(format!("{method}: the peer closed the connection"));
            }
            let v: Value =
                serde_json::from_str(&reply).map_err(|e| format!("{method}: bad JSON: {e}"))?;
            if v["id"] != json!(id) {
                continue; // A notification.
            }
            if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
                return Err(format!("{method}: {e}"));
            }
            return Ok(v["result"].clone());
        }
    }
}

/// True when our features name a host to announce.
fn has_hosts(features: &Value) -> bool {
    features["hosts"].as_object().is_some_and(|h| !h.is_empty())
}

/// A TLS client that accepts any certificate.
///
/// Verifying a peer establishes that it serves the same chain (genesis, headers), not who
/// runs it; many Electrum servers use self-signed certificates, and ElectrumX connects to its
/// peers without certificate checks too. Nothing secret travels on these connections.
fn no_verify_client() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AnyCertificate(Arc::clone(&provider)));
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
