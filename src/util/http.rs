//! The HTTP client of the outgoing requests (a blog's feed, link checks,
//! the publish gate's live checks): rustls on ring, the native root
//! certificates, a bounded number of redirects and a timeout.

use std::sync::Arc;
use std::time::Duration;

/// A client sending `user_agent`, following at most `max_redirects`
/// redirects, giving up after `timeout` (to connect, and for the whole
/// request); `gzip`: ask for and decode compressed bodies.
pub fn client(
    user_agent: &'static str,
    max_redirects: usize,
    timeout: Duration,
    gzip: bool,
) -> Result<reqwest::Client, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .user_agent(user_agent)
        .redirect(reqwest::redirect::Policy::limited(max_redirects))
        .timeout(timeout)
        .connect_timeout(timeout)
        .gzip(gzip)
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(|e| format!("HTTP client set-up: {e}"))
}

/// The words of a request's error (its sources included, each once), on
/// one line; `otherwise` names a failure that is none of the kinds below.
pub fn describe(e: &reqwest::Error, otherwise: &str) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_redirect() {
        "too many redirects"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        otherwise
    };
    let mut words = vec![kind.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let w = s.to_string();
        if !words.contains(&w) {
            words.push(w);
        }
        source = s.source();
    }
    crate::util::text::collapse_whitespace(&words.join(": "))
}
