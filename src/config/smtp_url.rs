//! The SMTP URL: `smtp://[USER@]HOST[:PORT][?tls=required|opportunistic|none]`
//! or `smtps://…`, parsed once when the settings are loaded.

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    None,
    /// STARTTLS if offered.
    Opportunistic,
    /// STARTTLS or fail.
    Required,
    /// TLS from the first byte (smtps://).
    Implicit,
}

/// Where and how to connect for SMTP.
#[derive(Debug, Clone)]
pub struct SmtpEndpoint {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// User name and password, when the server wants AUTH.
    pub credentials: Option<(String, String)>,
    /// The URL without its password, for messages.
    pub display: String,
}

impl SmtpEndpoint {
    /// Parse `url`; the password comes only from `env_password`
    /// (GAZETTE_SMTP_PASSWORD), never from the URL. Credentials over an unencrypted connection are refused
    /// unless the server is on this machine (loopback) or the URL says
    /// `insecure_auth=true`.
    pub fn parse(url: &str, env_password: Option<String>) -> Result<Self, String> {
        // The URL as given may hold a password: never repeat it.
        let u = url::Url::parse(url).map_err(|e| format!("not a valid URL ({e})"))?;
        let mut display = u.clone();
        let _ = display.set_password(None);
        let display = display.to_string();
        let bad = |m: &str| format!("{display}: {m}");
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let query = |key: &str| {
            u.query_pairs()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.into_owned())
        };
        let tls = match (u.scheme(), query("tls").as_deref()) {
            ("smtps", _) => SmtpTls::Implicit,
            ("smtp", Some("required")) => SmtpTls::Required,
            ("smtp", Some("opportunistic")) => SmtpTls::Opportunistic,
            ("smtp", None | Some("none")) => SmtpTls::None,
            ("smtp", Some(other)) => {
                return Err(bad(&format!(
                    "tls={other} (expected required, opportunistic or none)"
                )))
            }
            _ => return Err(bad("not an smtp:// or smtps:// URL")),
        };
        let port = u.port().unwrap_or(match tls {
            SmtpTls::Implicit => 465,
            SmtpTls::Required => 587,
            _ => 25,
        });
        if u.password().is_some() {
            return Err(bad(
                "a password in the URL is not accepted (URLs end up in files, shell histories and process lists): use smtp://USER@host and set GAZETTE_SMTP_PASSWORD",
            ));
        }
        let user = percent_decode(u.username());
        let password = env_password;
        let credentials = match (user.is_empty(), password) {
            (true, None) => None,
            (false, Some(p)) => Some((user, p)),
            (false, None) => {
                return Err(bad(
                    "a user name but no password: set GAZETTE_SMTP_PASSWORD",
                ))
            }
            (true, Some(_)) => return Err(bad(
                "GAZETTE_SMTP_PASSWORD is set but the URL has no user name (smtp://USER@host:port)",
            )),
        };
        let encrypted = matches!(tls, SmtpTls::Required | SmtpTls::Implicit);
        let insecure_ok = insecure_auth(query("insecure_auth").as_deref()).map_err(|m| bad(&m))?;
        if credentials.is_some() && !encrypted && !is_loopback(&host) && !insecure_ok {
            return Err(bad(&cleartext_refused("smtps")));
        }
        Ok(SmtpEndpoint {
            host,
            port,
            tls,
            credentials,
            display,
        })
    }
}

pub use crate::util::net::is_loopback;
use crate::util::net::percent_decode;

/// `?insecure_auth=` of an SMTP or IMAP URL: absent or `false`, `true`.
pub(super) fn insecure_auth(value: Option<&str>) -> Result<bool, String> {
    match value {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(format!("insecure_auth={other} (expected true or false)")),
    }
}

/// Why a password is not sent in clear (`secure`: the scheme with TLS).
pub(super) fn cleartext_refused(secure: &str) -> String {
    format!(
        "refusing to send the password over an unencrypted connection: use {secure}:// or ?tls=required (or ?insecure_auth=true if you must)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_ports_and_tls() {
        let e = SmtpEndpoint::parse("smtp://localhost:1025", None).unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.tls),
            ("localhost", 1025, SmtpTls::None)
        );
        let e = SmtpEndpoint::parse("smtps://mail.example.com", None).unwrap();
        assert_eq!((e.port, e.tls), (465, SmtpTls::Implicit));
        let e = SmtpEndpoint::parse("smtp://mail.example.com?tls=required", None).unwrap();
        assert_eq!((e.port, e.tls), (587, SmtpTls::Required));
        assert!(SmtpEndpoint::parse("http://x", None).is_err());
        assert!(SmtpEndpoint::parse("smtp://x?tls=maybe", None).is_err());
    }

    #[test]
    fn passwords_never_travel_in_clear_to_other_hosts() {
        let e = SmtpEndpoint::parse("smtp://alice:secret@mail.example.com", None).unwrap_err();
        assert!(e.contains("GAZETTE_SMTP_PASSWORD"), "{e}");
        assert!(!e.contains("secret"), "{e}");
        let e = SmtpEndpoint::parse("smtp://alice@mail.example.com", Some("p".into())).unwrap_err();
        assert!(e.contains("unencrypted"), "{e}");
        assert!(SmtpEndpoint::parse(
            "smtp://alice@mail.example.com?tls=opportunistic",
            Some("p".into())
        )
        .is_err());
        assert!(SmtpEndpoint::parse("smtp://alice@127.0.0.1:25", Some("p".into())).is_ok());
        assert!(SmtpEndpoint::parse(
            "smtp://alice@mail.example.com?tls=required",
            Some("p".into())
        )
        .is_ok());
        assert!(SmtpEndpoint::parse(
            "smtp://alice@mail.example.com?insecure_auth=true",
            Some("p".into())
        )
        .is_ok());
        let e = SmtpEndpoint::parse("smtp://a%40b@localhost", Some("pw".into())).unwrap();
        assert_eq!(e.credentials, Some(("a@b".into(), "pw".into())));
    }
}
