//! TLS server configuration from the operator's PEM files (`SSL_CERTFILE`, `SSL_KEYFILE`).

use super::settings::TlsFiles;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::sync::Arc;

/// Reads the certificate chain and key and builds a rustls configuration (ring provider).
///
/// RSA (PKCS#1 or PKCS#8) and ECDSA (SEC1 or PKCS#8) keys are accepted.
pub fn load(files: &TlsFiles) -> Result<Arc<ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| {
            format!(
                "cannot read SSL_CERTFILE {}: {e}; is the path right and readable?",
                files.cert.display()
            )
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| {
            format!(
                "SSL_CERTFILE {} is not a PEM certificate chain: {e}",
                files.cert.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "SSL_CERTFILE {} holds no certificate; it must be a PEM file with \
             '-----BEGIN CERTIFICATE-----' blocks, leaf first",
            files.cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        format!(
            "cannot read a private key from SSL_KEYFILE {}: {e}; it must be a PEM RSA, EC or \
             PKCS#8 key",
            files.key.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "SSL_CERTFILE {} and SSL_KEYFILE {} do not form a usable pair: {e}",
                files.cert.display(),
                files.key.display()
            )
        })?;
    Ok(Arc::new(config))
}

/// What identifies a version of a file without reading it: modification time and size.
type Stamp = Option<(std::time::SystemTime, u64)>;

fn stamp(path: &std::path::Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// The current TLS configuration and the state of its files, for reloads after a renewal.
///
/// New connections take [`TlsReloader::config`]; connections already open keep the
/// configuration they started with, so a reload never drops a session.
pub struct TlsReloader {
    files: TlsFiles,
    config: Arc<ServerConfig>,
    seen: (Stamp, Stamp),
}

/// The result of a reload attempt, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The files did not change since the last look.
    Unchanged,
    /// A new certificate is in use for new connections.
    Loaded,
    /// The new files are unusable; the previous certificate stays in use. The text says why.
    Kept(String),
}

impl TlsReloader {
    /// Loads the files for the first time; an error here stops start-up.
    pub fn new(files: &TlsFiles) -> Result<Self, String> {
        let seen = (stamp(&files.cert), stamp(&files.key));
        let config = load(files)?;
        Ok(TlsReloader {
            files: files.clone(),
            config,
            seen,
        })
    }

    /// The configuration for new connections.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// Reloads when either file's modification time or size changed since the last attempt.
    ///
    /// A half-written pair (certbot replaces the certificate and key one after the other) fails
    /// to load and is retried at the next change of either file.
    pub fn poll(&mut self) -> Reload {
        let now = (stamp(&self.files.cert), stamp(&self.files.key));
        if now == self.seen {
            return Reload::Unchanged;
        }
        self.seen = now;
        self.reload()
    }

    /// Reloads now, whatever the files' stamps say (SIGHUP, the admin interface).
    pub fn reload(&mut self) -> Reload {
        self.seen = (stamp(&self.files.cert), stamp(&self.files.key));
        match load(&self.files) {
            Ok(config) => {
                self.config = config;
                Reload::Loaded
            }
            Err(why) => Reload::Kept(why),
        }
    }
}
