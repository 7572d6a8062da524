//! The admin listener's one token check, for `/metrics` and the admin API
//! alike: `Authorization: Bearer TOKEN` (the scheme in any case, RFC 7235),
//! the token compared in constant time ([`AdminToken::matches`]). Each
//! caller only words the refusal (plain text or the API's JSON).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use crate::config::AdminToken;

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No token is configured (`GAZETTE_ADMIN_TOKEN` unset).
    Off,
    /// The request has no bearer token.
    Missing,
    /// The request's token is not the configured one.
    Wrong,
}

/// Whether a request with `headers` may pass, with `token` configured.
pub fn authorize(token: Option<&AdminToken>, headers: &HeaderMap) -> Result<(), Refused> {
    let Some(token) = token else {
        return Err(Refused::Off);
    };
    match bearer(headers) {
        None => Err(Refused::Missing),
        Some(given) if token.matches(given) => Ok(()),
        Some(_) => Err(Refused::Wrong),
    }
}

/// `response` as a 401 with the challenge that names the admin realm.
pub fn unauthorized(mut response: Response) -> Response {
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"gazette-admin\""),
    );
    response
}

/// The token of an `Authorization: Bearer TOKEN` header; the scheme in any
/// case (RFC 7235).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once([' ', '\t'])?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_in_any_case() {
        let mut h = HeaderMap::new();
        for (v, want) in [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("BEARER  abc ", Some("abc")),
            ("Basic abc", None),
            ("Bearerabc", None),
            ("abc", None),
        ] {
            h.insert(header::AUTHORIZATION, HeaderValue::from_static(v));
            assert_eq!(bearer(&h), want, "{v}");
        }
    }

    #[test]
    fn one_check_for_every_caller() {
        let token = AdminToken::new("sixteen-chars-xy".to_string());
        let mut h = HeaderMap::new();
        assert_eq!(authorize(None, &h), Err(Refused::Off));
        assert_eq!(authorize(Some(&token), &h), Err(Refused::Missing));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer nope"),
        );
        assert_eq!(authorize(Some(&token), &h), Err(Refused::Wrong));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer sixteen-chars-xy"),
        );
        assert_eq!(authorize(Some(&token), &h), Ok(()));
    }
}
