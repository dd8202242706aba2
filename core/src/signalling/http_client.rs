//! The HTTP client of the WHIP/WHEP signallers: hyper over rustls, trusting
//! the system's roots plus configured CA files, one request at a time with a
//! timeout and a bounded body. No redirects are followed here: the session
//! state machine decides (307/308 for POST only).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::whip::{Method, Request, Response};
use crate::error::{Error, Result};

/// Largest response body read (an SDP answer is a few KiB).
const MAX_BODY: usize = 1 << 20;

/// An HTTP(S) client for signalling requests.
#[derive(Clone)]
pub(crate) struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A rustls client configuration trusting the system's roots and `ca_files`.
pub(crate) fn tls_client_config(ca_files: &[PathBuf]) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!(%error, "loading the system's CA certificates");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, ignored, "system CA certificates");
    for file in ca_files {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
            .map_err(|e| Error::invalid_argument(format!("tls-ca {}: {e}", file.display())))?
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::invalid_argument(format!("tls-ca {}: {e}", file.display())))?;
        if certs.is_empty() {
            return Err(Error::invalid_argument(format!(
                "tls-ca {}: no PEM certificate in it",
                file.display()
            )));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| Error::invalid_argument(format!("tls-ca {}: {e}", file.display())))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::invalid_argument(format!("TLS configuration: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(config)
}

impl HttpClient {
    /// A client trusting the system's roots and `ca_files`; each request may
    /// take `timeout`.
    pub(crate) fn new(ca_files: &[PathBuf], timeout: Duration) -> Result<Self> {
        let tls = tls_client_config(ca_files)?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self { client, timeout })
    }

    /// Makes `request`; any status is a response, only failing to get one is an error.
    pub(crate) async fn send(&self, request: &Request) -> Result<Response> {
        let method = match request.method {
            Method::Post => hyper::Method::POST,
            Method::Patch => hyper::Method::PATCH,
            Method::Delete => hyper::Method::DELETE,
        };
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(request.url.as_str());
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let http_request = builder
            .body(Full::new(Bytes::from(request.body.clone())))
            .map_err(|e| {
                Error::invalid_argument(format!("{} {}: {e}", request.method.as_str(), request.url))
            })?;
        let what = || format!("{} {}", request.method.as_str(), request.url);
        let exchange = async {
            let response = self
                .client
                .request(http_request)
                .await
                .map_err(|e| Error::signalling(format!("{}: {}", what(), error_chain(&e))))?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .filter_map(|(name, value)| {
                    Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
                })
                .collect();
            let body = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| Error::signalling(format!("{}: reading the body: {e}", what())))?
                .to_bytes()
                .to_vec();
            Ok(Response {
                status,
                headers,
                body,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                Error::timeout(format!("{}: no response within {:?}", what(), self.timeout))
            })?
    }
}

/// An error and its causes on one line (hyper's own message says little).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
