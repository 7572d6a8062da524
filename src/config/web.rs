//! `[web]`: the public listener, the admin listener, and the rules of the
//! subscribe form (`min_fill_time`, `subscribe_pow`, `confirm_interval`,
//! `return_url`).

use std::time::Duration;

use super::checks::{check_http_url, check_listen};
use super::keys::{Locator, Origin};
use super::raw::RawWeb;
use super::{AdminToken, Newsletter, Web};
use crate::error::Result;

const DAY: u64 = 86400;

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The environment's lookup, and GAZETTE_ADMIN_LISTEN as set, even empty
/// (empty turns the admin listener off, as `admin_listen = ""` does).
type WebEnv<'a> = (&'a dyn Fn(&str) -> Option<String>, Option<String>);

pub(super) fn resolve(
    loc: &Locator<'_>,
    w: RawWeb,
    (env_get, admin_env): WebEnv<'_>,
    nl: &Newsletter,
) -> Result<Web> {
    let listen = w.listen.unwrap_or_else(|| "127.0.0.1:8080".to_string());
    check_listen(&listen).map_err(|m| loc.at("web", "listen", m))?;
    let trust_proxy = w.trust_proxy.unwrap_or(false);
    let trusted_proxies = crate::util::net::parse_list(
        w.trusted_proxies.as_deref().unwrap_or_default(),
        trust_proxy,
    )
    .map_err(|m| loc.at("web", "trusted_proxies", m))?;
    let (admin_listen, origin) = match (admin_env, w.admin_listen) {
        (Some(e), _) => (e, Origin::Named("GAZETTE_ADMIN_LISTEN")),
        (None, Some(a)) => (a, Origin::File),
        (None, None) => ("127.0.0.1:8081".to_string(), Origin::File),
    };
    let admin_listen = Some(admin_listen).filter(|a| !a.trim().is_empty());
    if let Some(a) = &admin_listen {
        check_listen(a).map_err(|m| loc.origin(origin, "web", "admin_listen", m))?;
    }
    let return_url = match w.return_url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(u) => Some(return_url(u, nl).map_err(|m| loc.at("web", "return_url", m))?),
    };
    Ok(Web {
        listen,
        subscribe_limit: w.subscribe_limit.unwrap_or(10),
        trust_proxy,
        trusted_proxies,
        admin_listen,
        admin_token: env_get("GAZETTE_ADMIN_TOKEN").map(AdminToken::new),
        confirm_ttl: loc.duration(
            "web",
            "confirm_ttl",
            w.confirm_ttl.as_deref(),
            "7d",
            (secs(1), secs(365 * DAY)),
        )?,
        request_timeout: loc.duration(
            "web",
            "request_timeout",
            w.request_timeout.as_deref(),
            "10s",
            (secs(1), secs(3600)),
        )?,
        min_fill_time: loc.duration(
            "web",
            "min_fill_time",
            w.min_fill_time.as_deref(),
            "3s",
            (secs(0), secs(3600)),
        )?,
        subscribe_pow: w.subscribe_pow.unwrap_or(false),
        confirm_interval: loc.duration(
            "web",
            "confirm_interval",
            w.confirm_interval.as_deref(),
            "10m",
            (secs(1), secs(7 * DAY)),
        )?,
        return_url,
    })
}

/// Where a form's reader lands after subscribing: an absolute http(s) URL
/// on the blog (`base_url`'s origin) or on Gazette's own (`public_url`'s).
/// Set by the operator only, never taken from a request: no open redirect.
fn return_url(u: &str, nl: &Newsletter) -> std::result::Result<String, String> {
    let checked = check_http_url(u)?;
    let parsed = url::Url::parse(u).map_err(|e| format!("{u:?} is not a valid URL ({e})"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("{u:?} must not carry a user name or password"));
    }
    let origin = parsed.origin();
    let allowed = [&nl.base_url, &nl.public_url]
        .iter()
        .filter_map(|b| url::Url::parse(b).ok())
        .any(|b| b.origin() == origin);
    if !allowed {
        return Err(format!(
            "{u:?} must be on the blog ({}) or on Gazette's pages ({})",
            origin_of(&nl.base_url),
            origin_of(&nl.public_url)
        ));
    }
    // `check_http_url` trims a trailing slash, which a path may need.
    Ok(if u.trim().ends_with('/') {
        format!("{checked}/")
    } else {
        checked
    })
}

/// `scheme://host[:port]` of a URL (the URL itself if it has none).
pub fn origin_of(u: &str) -> String {
    url::Url::parse(u)
        .map(|p| p.origin().ascii_serialization())
        .unwrap_or_else(|_| u.to_string())
}
