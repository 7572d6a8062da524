//! Unguessable tokens. A token is `SELECTOR.VERIFIER`: a random selector
//! (18 hex digits, stored in the row: 72 random bits, or for rows added by
//! an import a 40-bit prefix random per batch and 32 random bits of its
//! own) finds the subscriber, the 128-bit random verifier is compared in
//! constant time (confirmation verifiers are stored only as SHA-256
//! hashes); an unknown selector and a wrong verifier get the same answer.
//! Neither part contains the email address or the row id.
//!
//! Links sent before selectors existed carry the row id in hex instead
//! (`ID.VERIFIER`); they keep working, in their exact canonical form only
//! (`0512.…` is not an alias of `512.…`).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Hex digits in a selector (72 bits).
pub const SELECTOR_LEN: usize = 18;
/// Hex digits in a verifier (128 bits).
pub const VERIFIER_LEN: usize = 32;

/// A new random verifier (128 bits, hex).
pub fn verifier() -> String {
    crate::util::ids::random_hex(16)
}

/// A new random selector (72 bits, hex).
pub fn selector() -> String {
    crate::util::ids::random_hex(SELECTOR_LEN / 2)
}

/// `n` verifiers from one read of the OS random source.
pub fn verifiers(n: usize) -> Vec<String> {
    let mut buf = vec![0u8; n * 16];
    crate::util::ids::fill(&mut buf);
    buf.chunks_exact(16).map(hex::encode).collect()
}

/// `n` distinct random selectors for one batch of an import, from one read
/// of the OS random source. They share a random 40-bit prefix and differ
/// in a random 32-bit suffix: each still names its row unguessably (the
/// verifier is what proves a link), and the batch's rows land next to each
/// other in the selector index instead of at random places all over it (a
/// million-row import spent half its time on those random inserts).
pub fn selectors(n: usize) -> Vec<String> {
    let mut buf = vec![0u8; 5 + n * 4];
    crate::util::ids::fill(&mut buf);
    let (prefix, rest) = buf.split_at(5);
    let prefix = hex::encode(prefix);
    let mut seen = std::collections::HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    for chunk in rest.chunks_exact(4) {
        let mut suffix = u32::from_le_bytes(chunk.try_into().expect("4 bytes"));
        // A repeat within the batch (rare) takes a fresh random suffix.
        while !seen.insert(suffix) {
            let mut b = [0u8; 4];
            crate::util::ids::fill(&mut b);
            suffix = u32::from_le_bytes(b);
        }
        out.push(format!("{prefix}{suffix:08x}"));
    }
    out
}

/// The token for a selector and a verifier.
pub fn token(selector: &str, verifier: &str) -> String {
    format!("{selector}.{verifier}")
}

/// The token of a row: by its selector, or in the old id form for a row
/// that has none (only possible before the selector migration ran).
pub fn row_token(id: i64, selector: Option<&str>, verifier: &str) -> String {
    match selector {
        Some(s) => token(s, verifier),
        None => format!("{id:x}.{verifier}"),
    }
}

pub fn hash(verifier: &str) -> String {
    hex::encode(Sha256::digest(verifier.as_bytes()))
}

/// How a token names its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// A random selector (every token issued now).
    Selector(&'a str),
    /// The row id, in links sent before selectors existed.
    LegacyId(i64),
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Split a token from a URL into (lookup, verifier) if well-formed. Only
/// the exact forms Gazette writes are accepted: lowercase hex, a selector of
/// 18 digits, or a legacy id without leading zeros.
pub fn split(token: &str) -> Option<(Lookup<'_>, &str)> {
    let (sel, v) = token.split_once('.')?;
    if v.len() != VERIFIER_LEN || !is_lower_hex(v) || sel.is_empty() || !is_lower_hex(sel) {
        return None;
    }
    if sel.len() == SELECTOR_LEN {
        return Some((Lookup::Selector(sel), v));
    }
    // Legacy ids were written as `{id:x}`: at most 15 digits, no leading 0.
    if sel.len() > 15 || sel.starts_with('0') {
        return None;
    }
    let id = i64::from_str_radix(sel, 16).ok()?;
    Some((Lookup::LegacyId(id), v))
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
        let s = selector();
        let t = token(&s, &v);
        let (lookup, got) = split(&t).unwrap();
        assert_eq!((lookup, got), (Lookup::Selector(&s), v.as_str()));
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
        assert_ne!(selector(), s);
        assert_eq!(verifiers(3).len(), 3);
    }

    #[test]
    fn an_import_batch_gets_distinct_well_formed_selectors() {
        let batch = selectors(500);
        let distinct: std::collections::HashSet<_> = batch.iter().collect();
        assert_eq!(distinct.len(), 500);
        let v = verifier();
        for s in &batch {
            assert_eq!(split(&token(s, &v)).unwrap().0, Lookup::Selector(s));
        }
        assert_ne!(selectors(1)[0][..10], selectors(1)[0][..10]);
    }

    #[test]
    fn legacy_ids_only_in_their_canonical_form() {
        let v = verifier();
        assert_eq!(
            split(&format!("512.{v}")).unwrap().0,
            Lookup::LegacyId(0x512)
        );
        assert_eq!(row_token(0x512, None, &v), format!("512.{v}"));
        assert!(split(&format!("0512.{v}")).is_none());
        assert!(split(&format!("0.{v}")).is_none());
        assert!(split(&format!("ABC.{v}")).is_none());
        assert!(split(&format!("abc.{}", v.to_uppercase())).is_none());
        assert!(split(&format!("{}.{v}", "f".repeat(16))).is_none());
    }
}
