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
