//! Unguessable tokens. A token is `selector.verifier`: the selector finds the
//! row, the verifier (128 bits) is stored only as a SHA-256 hash and compared
//! in constant time. Neither part contains the email address.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// `n` random bytes from the OS, hex encoded.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    hex::encode(buf)
}

/// A newly issued token: what goes into the link and what the store keeps.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub selector: String,
    pub verifier_hash: String,
}

pub fn issue() -> Issued {
    let selector = random_hex(9);
    let verifier = random_hex(16);
    Issued {
        token: format!("{selector}.{verifier}"),
        verifier_hash: hash(&verifier),
        selector,
    }
}

/// A token whose verifier the store keeps in clear, because it goes into
/// every email (unsubscribe links): `(selector, verifier)`.
pub fn issue_plain() -> (String, String) {
    (random_hex(9), random_hex(16))
}

/// Constant-time comparison of two verifiers.
pub fn verify_plain(given: &str, stored: &str) -> bool {
    given.len() == stored.len() && bool::from(given.as_bytes().ct_eq(stored.as_bytes()))
}

pub fn hash(verifier: &str) -> String {
    hex::encode(Sha256::digest(verifier.as_bytes()))
}

/// Split a token from a URL into (selector, verifier) if well-formed.
pub fn split(token: &str) -> Option<(&str, &str)> {
    let (s, v) = token.split_once('.')?;
    let ok = |x: &str, len: usize| x.len() == len && x.bytes().all(|b| b.is_ascii_hexdigit());
    (ok(s, 18) && ok(v, 32)).then_some((s, v))
}

/// Constant-time check of `verifier` against a stored hash.
pub fn verify(verifier: &str, stored_hash: &str) -> bool {
    let computed = hash(verifier);
    computed.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_tampering_fails() {
        let t = issue();
        let (s, v) = split(&t.token).unwrap();
        assert_eq!(s, t.selector);
        assert!(verify(v, &t.verifier_hash));
        let mut bad = v.to_string();
        bad.replace_range(0..1, if &v[0..1] == "0" { "1" } else { "0" });
        assert!(!verify(&bad, &t.verifier_hash));
        assert!(split("nodot").is_none());
        assert!(split("zz.zz").is_none());
        assert_ne!(issue().token, t.token);
    }
}
