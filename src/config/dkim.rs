//! `[dkim]`: the signing key and the headers every signature covers.

use std::path::Path;

use super::keys::Locator;
use super::raw::RawDkim;
use crate::error::{Error, Result};

/// Headers every DKIM signature covers (absent ones are signed as absent,
/// so they cannot be added later). Not Content-Type: lettre writes the
/// multipart's Content-Type after signing, so its hash would not cover it
/// while a verifier's would (the MailDev suite verifies signatures).
const DKIM_HEADERS: &[&str] = &[
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "MIME-Version",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Id",
];

pub(super) fn config(
    d: RawDkim,
    root: &Path,
    loc: &Locator<'_>,
) -> Result<lettre::message::dkim::DkimConfig> {
    use lettre::message::dkim::{
        DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
        DkimSigningKey,
    };
    use lettre::message::header::HeaderName;
    let need = |v: Option<String>, key: &str| {
        v.filter(|s| !s.trim().is_empty())
            .ok_or_else(|| loc.at("dkim", key, "missing (required when [dkim] is present)"))
    };
    let domain = need(d.domain, "domain")?;
    let selector = need(d.selector, "selector")?;
    let key_path = root.join(need(d.private_key_path, "private_key_path")?);
    let key = std::fs::read_to_string(&key_path).map_err(|e| Error::io(&key_path, e))?;
    let algorithm = match d.algorithm.as_deref() {
        Some("rsa") => DkimSigningAlgorithm::Rsa,
        Some("ed25519") => DkimSigningAlgorithm::Ed25519,
        Some(other) => {
            return Err(loc.at(
                "dkim",
                "algorithm",
                format!("{other:?} is not \"rsa\" or \"ed25519\""),
            ))
        }
        None if key.contains("-----BEGIN") => DkimSigningAlgorithm::Rsa,
        None => DkimSigningAlgorithm::Ed25519,
    };
    let signing = DkimSigningKey::new(key.trim(), algorithm).map_err(|e| {
        Error::file(
            &key_path,
            format!("not a usable DKIM key ({e}): RSA keys must be PKCS#1 PEM (BEGIN RSA PRIVATE KEY), Ed25519 keys the base64 of the 32-byte seed"),
        )
    })?;
    Ok(DkimConfig::new(
        selector,
        domain,
        signing,
        DKIM_HEADERS
            .iter()
            .map(|h| HeaderName::new_from_ascii_str(h))
            .collect(),
        DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        },
    ))
}
