//! Sign-up tokens: what tells a person's form from a bot's post without a
//! CAPTCHA service. A token is `TIME.KIND.NONCE.MAC`: when it was handed
//! out (milliseconds since 1970), where (`f` a form, `c` the one-more-click
//! page), 128 random bits, and an HMAC-SHA256 of the three under the
//! server's key (compared in constant time). It names no address and no
//! reader: it proves only that this server handed it out, and when. Each
//! is used once (the store remembers the nonces of used ones until they
//! expire).
//!
//! The optional proof of work: a number `POW` such that SHA-256 of
//! `TOKEN:POW` starts with [`POW_BITS`] zero bits, found by the browser's
//! script (`/subscribe/pow.js`) and checked here with one hash.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ring::hmac;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A token expires this long after it was handed out.
pub const TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);
/// The form field (and JSON member) a token travels in.
pub const TOKEN_FIELD: &str = "token";
/// The honeypot: a field people never see nor hear; a bot filling every
/// field fills it.
pub const HONEYPOT_FIELD: &str = "website";
/// The proof of work's field.
pub const POW_FIELD: &str = "pow";
/// Leading zero bits the proof of work must reach: about 2^18 hashes,
/// a few hundred milliseconds of a browser's script (docs/web.md).
pub const POW_BITS: u32 = 18;
/// The one-more-click page's button is quicker to press than an address
/// is to type: its tokens need at most this age.
pub const CLICK_FILL_TIME: Duration = Duration::from_secs(1);
/// What the HMAC covers before the token's parts: the key signs nothing else.
const DOMAIN: &str = "gazette-signup-v1";
/// Bytes of the HMAC a token carries.
const MAC_LEN: usize = 16;

/// Where a token was handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A form: Gazette's page, or `GET /subscribe/token` for the embed.
    Form,
    /// The one-more-click page, after a post without a valid token.
    Click,
}

impl Kind {
    fn letter(self) -> &'static str {
        match self {
            Kind::Form => "f",
            Kind::Click => "c",
        }
    }
}

/// What checking a token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Signed by this server, not expired and old enough: its nonce is
    /// what the store marks as used.
    Valid { nonce: String },
    /// Signed and unexpired, but younger than the fill time: a bot.
    TooYoung,
    /// Missing, malformed, forged or expired.
    Invalid,
}

/// The server's signing key.
pub struct SignupKey(hmac::Key);

impl SignupKey {
    /// The key from its stored hex form; `None` if it is not 32+ bytes of hex.
    pub fn from_hex(hex_key: &str) -> Option<SignupKey> {
        let bytes = hex::decode(hex_key.trim()).ok()?;
        (bytes.len() >= 32).then(|| SignupKey(hmac::Key::new(hmac::HMAC_SHA256, &bytes)))
    }

    /// A new random key, hex encoded (256 bits).
    pub fn generate_hex() -> String {
        crate::util::ids::random_hex(32)
    }

    /// The first 128 bits of the HMAC: short enough that a token and a
    /// proof of work's number fit SHA-256's second block (`pow.js` hashes
    /// the first block once), long enough that nobody forges one.
    fn mac(&self, body: &str) -> [u8; MAC_LEN] {
        let tag = hmac::sign(&self.0, format!("{DOMAIN}.{body}").as_bytes());
        tag.as_ref()[..MAC_LEN]
            .try_into()
            .expect("HMAC-SHA256 has 32 bytes")
    }

    /// A fresh token handed out at `now`.
    pub fn issue(&self, kind: Kind, now: DateTime<Utc>) -> String {
        let nonce = crate::util::ids::random_hex(16);
        let body = format!("{}.{}.{nonce}", now.timestamp_millis(), kind.letter());
        let mac = hex::encode(self.mac(&body));
        format!("{body}.{mac}")
    }

    /// Check `token` at `now`: a form's token must be at least `fill`
    /// old (a click's at least the smaller of `fill` and
    /// [`CLICK_FILL_TIME`]), none older than [`TOKEN_TTL`].
    pub fn check(&self, token: &str, now: DateTime<Utc>, fill: Duration) -> Verdict {
        let Some((body, mac)) = token.rsplit_once('.') else {
            return Verdict::Invalid;
        };
        let mut parts = body.split('.');
        let (Some(ts), Some(kind), Some(nonce), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Verdict::Invalid;
        };
        let Ok(mac) = hex::decode(mac) else {
            return Verdict::Invalid;
        };
        let signed = mac.len() == MAC_LEN && bool::from(self.mac(body).ct_eq(&mac[..]));
        let Ok(ts) = ts.parse::<i64>() else {
            return Verdict::Invalid;
        };
        let fill = match kind {
            "f" => fill,
            "c" => fill.min(CLICK_FILL_TIME),
            _ => return Verdict::Invalid,
        };
        if !signed || nonce.len() != 32 {
            return Verdict::Invalid;
        }
        let age = now.timestamp_millis() - ts;
        // A token from the future by more than a minute (the clocks of a
        // fleet differ by a little) is not one this fleet handed out.
        if age > TOKEN_TTL.as_millis() as i64 || age < -60_000 {
            return Verdict::Invalid;
        }
        if age < fill.as_millis() as i64 {
            return Verdict::TooYoung;
        }
        Verdict::Valid {
            nonce: nonce.to_string(),
        }
    }
}

/// Whether `pow` proves the work for `token`: SHA-256 of `token:pow`
/// starts with [`POW_BITS`] zero bits.
pub fn pow_ok(token: &str, pow: &str) -> bool {
    if pow.is_empty() || pow.len() > 20 || !pow.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let digest = Sha256::digest(format!("{token}:{pow}").as_bytes());
    leading_zero_bits(&digest) >= POW_BITS
}

fn leading_zero_bits(bytes: &[u8]) -> u32 {
    let mut n = 0;
    for b in bytes {
        if *b == 0 {
            n += 8;
            continue;
        }
        n += b.leading_zeros();
        break;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn key() -> SignupKey {
        SignupKey::from_hex(&SignupKey::generate_hex()).unwrap()
    }

    #[test]
    fn a_token_is_valid_once_old_enough_and_until_it_expires() {
        let k = key();
        let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let fill = Duration::from_secs(3);
        let t = k.issue(Kind::Form, t0);
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        assert_eq!(k.check(&t, at(0), fill), Verdict::TooYoung);
        assert_eq!(
            k.check(&t, at(3) - chrono::Duration::milliseconds(1), fill),
            Verdict::TooYoung
        );
        assert!(matches!(k.check(&t, at(3), fill), Verdict::Valid { .. }));
        assert!(matches!(
            k.check(&t, at(86400), fill),
            Verdict::Valid { .. }
        ));
        assert_eq!(k.check(&t, at(86401), fill), Verdict::Invalid);
        // A click's token waits at most CLICK_FILL_TIME.
        let c = k.issue(Kind::Click, t0);
        assert!(matches!(k.check(&c, at(1), fill), Verdict::Valid { .. }));
        assert_eq!(k.check(&c, at(0), fill), Verdict::TooYoung);
        // With no fill time, a token is good at once.
        assert!(matches!(
            k.check(&t, at(0), Duration::ZERO),
            Verdict::Valid { .. }
        ));
    }

    #[test]
    fn forged_and_foreign_tokens_are_invalid() {
        let k = key();
        let now = Utc::now();
        let t = k.issue(Kind::Form, now - chrono::Duration::seconds(60));
        let fill = Duration::from_secs(3);
        let Verdict::Valid { nonce } = k.check(&t, now, fill) else {
            panic!("valid")
        };
        assert_eq!(nonce.len(), 32);
        // Another server's key, a changed time, a changed kind, garbage.
        assert_eq!(key().check(&t, now, fill), Verdict::Invalid);
        let (ts, rest) = t.split_once('.').unwrap();
        let older = format!("{}.{rest}", ts.parse::<i64>().unwrap() - 10);
        assert_eq!(k.check(&older, now, fill), Verdict::Invalid);
        assert_eq!(
            k.check(&t.replacen(".f.", ".c.", 1), now, fill),
            Verdict::Invalid
        );
        for bad in ["", "x", "1.f.a.b", "a.b.c.d.e", &t[..t.len() - 1]] {
            assert_eq!(k.check(bad, now, fill), Verdict::Invalid, "{bad}");
        }
        assert!(SignupKey::from_hex("abcd").is_none());
        assert_ne!(k.issue(Kind::Form, now), k.issue(Kind::Form, now));
    }

    #[test]
    fn the_proof_of_work_is_checked_with_one_hash() {
        // Found by pow.js's way of counting (ten digits) for this token.
        let (t, pow) = ("1.f.00.ff", "0000218473");
        assert!(pow_ok(t, pow));
        let d = Sha256::digest(format!("{t}:{pow}").as_bytes());
        assert!(leading_zero_bits(&d) >= POW_BITS);
        // The work is for its token only; no number is no work.
        assert!(!pow_ok("1.f.00.fe", pow));
        assert!(!pow_ok(t, "0000218472"));
        assert!(!pow_ok(t, ""));
        assert!(!pow_ok(t, "-1"));
        assert_eq!(leading_zero_bits(&[0, 0x10]), 11);
    }
}
