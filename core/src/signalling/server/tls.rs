//! TLS for the embedded server: a certificate chain and key in PEM, served
//! with rustls (ring), HTTP/1.1 only.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result};

/// The server's certificate and key: with it, the server speaks `https://`
/// and `wss://` only ([`ServerConfig::with_tls`](super::ServerConfig::with_tls)).
#[derive(Clone)]
pub struct TlsConfig {
    pub(crate) rustls: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Reads a certificate chain (leaf first, as PEM `CERTIFICATE` blocks)
    /// and its private key (PKCS#8, PKCS#1 or SEC1 PEM) from two files.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)
    /// error naming the file when a file cannot be read or parsed, or when
    /// the key does not fit the certificate.
    pub fn from_pem_files(cert_chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self> {
        let (cert_path, key_path) = (cert_chain.as_ref(), key.as_ref());
        let read = |path: &Path| {
            std::fs::read(path)
                .map_err(|e| Error::invalid_argument(format!("tls: {}: {e}", path.display())))
        };
        let (cert_pem, key_pem) = (read(cert_path)?, read(key_path)?);
        Self::from_pem(&cert_pem, &key_pem).map_err(|e| {
            Error::invalid_argument(format!(
                "tls: {} / {}: {}",
                cert_path.display(),
                key_path.display(),
                e.message()
            ))
        })
    }

    /// Like [`from_pem_files`](Self::from_pem_files), from PEM text in memory.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)
    /// error when the PEM cannot be parsed or the key does not fit.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<Self> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::invalid_argument(format!("certificate chain: {e}")))?;
        if certs.is_empty() {
            return Err(Error::invalid_argument(
                "certificate chain: no PEM CERTIFICATE block",
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| Error::invalid_argument(format!("private key: {e}")))?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::invalid_argument(format!("TLS configuration: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::invalid_argument(format!("certificate and key: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            rustls: Arc::new(config),
        })
    }

    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(Arc::clone(&self.rustls))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pem_is_an_invalid_argument_naming_what() {
        let err = TlsConfig::from_pem(b"not pem", b"not pem").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
        assert!(err.message().contains("no PEM CERTIFICATE"), "{err}");
        let err =
            TlsConfig::from_pem_files("/nonexistent/cert.pem", "/nonexistent/key.pem").unwrap_err();
        assert!(err.message().contains("/nonexistent/cert.pem"), "{err}");
    }
}
