//! Dashboard sessions: a random session id in an `HttpOnly`,
//! `SameSite=Strict`, `Path=/admin` cookie (`Secure` when `public_url` is
//! https), never the admin token itself. Sessions live in this process's
//! memory (a restart signs everyone out), expire [`SESSION_TTL`] after the
//! sign-in, and each carries the CSRF token its forms post back.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::util::ids::random_hex;

/// How long a session lasts after the sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// The session cookie.
pub const COOKIE: &str = "gazette_session";
/// The sign-in form's own CSRF cookie (before there is a session).
pub const LOGIN_COOKIE: &str = "gazette_login";
/// Sessions kept at most (the oldest go first).
const MAX_SESSIONS: usize = 1000;

#[derive(Clone)]
pub struct Session {
    /// The token every POST form of this session carries.
    pub csrf: String,
    expires: Instant,
}

/// The signed-in sessions, by the SHA-256 of their id (a lookup's timing
/// says nothing about the ids kept).
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// A new session: its id (for the cookie) and the session.
    pub fn create(&self) -> (String, Session) {
        let id = random_hex(32);
        let session = Session {
            csrf: random_hex(32),
            expires: Instant::now() + SESSION_TTL,
        };
        let mut map = self.map.lock().expect("sessions");
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| *k) {
                map.remove(&oldest);
            }
        }
        map.insert(key(&id), session.clone());
        (id, session)
    }

    /// The live session of a request's cookie.
    pub fn get(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie(headers, COOKIE)?;
        let mut map = self.map.lock().expect("sessions");
        let k = key(&id);
        match map.get(&k) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                map.remove(&k);
                None
            }
            None => None,
        }
    }

    /// Sign out the session of a request's cookie.
    pub fn remove(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers, COOKIE) {
            self.map.lock().expect("sessions").remove(&key(&id));
        }
    }
}

/// The value of cookie `name` of a request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// A `Set-Cookie` value for `/admin`; `None` as value clears it.
pub fn set_cookie(name: &str, value: Option<&str>, secure: bool, max_age: Duration) -> String {
    let (value, age) = match value {
        Some(v) => (v, max_age.as_secs()),
        None => ("", 0),
    };
    format!(
        "{name}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={age}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Whether a form's CSRF token is the expected one (constant time).
pub fn same_token(expected: &str, given: &str) -> bool {
    let a = Sha256::digest(expected.as_bytes());
    let b = Sha256::digest(given.as_bytes());
    !expected.is_empty() && bool::from(a.ct_eq(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_session_is_found_by_its_cookie_and_gone_after_sign_out() {
        let s = Sessions::default();
        let (id, session) = s.create();
        assert_eq!(id.len(), 64);
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {COOKIE}={id}")).unwrap(),
        );
        assert_eq!(s.get(&h).map(|x| x.csrf), Some(session.csrf.clone()));
        s.remove(&h);
        assert!(s.get(&h).is_none());
        let mut wrong = HeaderMap::new();
        wrong.insert(
            header::COOKIE,
            HeaderValue::from_static("gazette_session=nope"),
        );
        assert!(s.get(&wrong).is_none());
    }

    #[test]
    fn cookies_have_the_flags() {
        let c = set_cookie(COOKIE, Some("abc"), true, SESSION_TTL);
        assert_eq!(
            c,
            "gazette_session=abc; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=43200; Secure"
        );
        assert!(set_cookie(COOKIE, None, false, SESSION_TTL).contains("Max-Age=0"));
        assert!(same_token("abc", "abc") && !same_token("abc", "abd") && !same_token("", ""));
    }
}
