//! Checks of single values that several sections' validators share (the
//! listen addresses, http(s) URLs). They know nothing of where a value
//! came from: the caller names the key.

use std::net::SocketAddr;

/// `host:port` as a listener takes it (an IP address or a host name).
pub fn check_listen(s: &str) -> std::result::Result<(), String> {
    if s.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let bad = || format!("{s:?} is not an address to listen on (e.g. 127.0.0.1:8080)");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>().map_err(|_| bad())?;
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.".contains(c))
    {
        return Err(bad());
    }
    Ok(())
}

/// An http(s) URL that may go into headers and pages as is; without a
/// trailing slash.
pub(super) fn check_http_url(s: &str) -> std::result::Result<String, String> {
    // The URL goes into headers (List-Unsubscribe: <URL>) and pages as is.
    if s.trim()
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "\"<>\\`{}|^".contains(c))
    {
        return Err(format!(
            "{s:?} must not contain spaces, quotes, angle brackets or other characters URLs encode"
        ));
    }
    let u = url::Url::parse(s.trim()).map_err(|e| format!("{s:?} is not a valid URL ({e})"))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(format!("{s:?} must start with http:// or https://"));
    }
    Ok(s.trim().trim_end_matches('/').to_string())
}
