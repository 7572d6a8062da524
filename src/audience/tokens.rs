//! Unguessable tokens. A token is `ID.VERIFIER`: the subscriber's id (hex)
//! finds the row, the 128-bit random verifier is compared in constant time
//! (confirmation verifiers are stored only as SHA-256 hashes). Neither part
//! contains the email address.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A new random verifier (128 bits, hex).
pub fn verifier() -> String {
    crate::util::ids::random_hex(16)
}

/// `n` verifiers from one read of the OS random source.
pub fn verifiers(n: usize) -> Vec<String> {
    let mut buf = vec![0u8; n * 16];
    crate::util::ids::fill(&mut buf);
    buf.chunks_exact(16).map(hex::encode).collect()
}

/// The token for a subscriber id and a verifier.
pub fn token(id: i64, verifier: &str) -> String {
    format!("{id:x}.{verifier}")
}

pub fn hash(verifier: &str) -> String {
    hex::encode(Sha256::digest(verifier.as_bytes()))
}

/// Split a token from a URL into (id, verifier) if well-formed.
pub fn split(token: &str) -> Option<(i64, &str)> {
    let (id, v) = token.split_once('.')?;
    if id.is_empty()
        || id.len() > 15
        || !id.bytes().all(|b| b.is_ascii_hexdigit())
        || v.len() != 32
        || !v.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    let id = i64::from_str_radix(id, 16).ok()?;
    Some((id, v))
}

/// Constant-time check of `verifier` against a stored hash.
pub fn verify(verifier: &str, stored_hash: &str) -> bool {
    let computed = hash(verifier);
    computed.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

/// Constant-time comparison of two verifiers.
pub fn verify_plain(given: &str, stored: &str) -> bool {
    given.len() == stored.len() && bool::from(given.as_bytes().ct_eq(stored.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_and_tampering_fails() {
        let v = verifier();
        let t = token(42, &v);
        let (id, got) = split(&t).unwrap();
        assert_eq!((id, got), (42, v.as_str()));
        assert!(verify(got, &hash(&v)));
        assert!(verify_plain(got, &v));
        let mut bad = v.clone();
        bad.replace_range(0..1, if &v[0..1] == "0" { "1" } else { "0" });
        assert!(!verify(&bad, &hash(&v)));
        assert!(!verify_plain(&bad, &v));
        assert!(split("nodot").is_none());
        assert!(split("zz.zz").is_none());
        assert!(split(&format!("-1.{v}")).is_none());
        assert_ne!(verifier(), v);
        assert_eq!(verifiers(3).len(), 3);
    }
}
