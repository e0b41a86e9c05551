//! TLS for Patron's outgoing HTTP (the identity provider's keys): rustls with
//! the ring provider, which sqlx's TLS already brings, and the web's root
//! certificates. reqwest is built without a provider of its own, so every
//! HTTP client of the suite is made here.

use std::sync::Arc;
use std::time::Duration;

/// An HTTP client that speaks https (the web's roots) and http.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    // reqwest asks for the process's default provider when it builds any
    // client; make ring that default once (a second install is a no-op).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let builder = reqwest::Client::builder().timeout(timeout);
    let builder = match rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    {
        Ok(tls) => builder
            .tls_backend_preconfigured(tls.with_root_certificates(roots).with_no_client_auth()),
        Err(e) => {
            tracing::error!(error = %e, "no TLS for outgoing HTTP; only http:// works");
            builder
        }
    };
    builder.build().unwrap_or_else(|e| {
        tracing::error!(error = %e, "the HTTP client could not be built as configured");
        reqwest::Client::new()
    })
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_client_is_built_without_panicking() {
        let client = super::http_client(std::time::Duration::from_secs(1));
        // Nothing listens on port 1: an error, not a panic.
        assert!(client.get("http://127.0.0.1:1/").send().await.is_err());
    }
}
