//! Amazon SNS message signatures (SignatureVersion 1: SHA1withRSA, 2:
//! SHA256withRSA) verified against the signing certificate, and the small
//! HTTPS client that downloads that certificate and confirms subscriptions.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use rustls::pki_types::{
    alg_id, AlgorithmIdentifier, CertificateDer, InvalidSignature, SignatureVerificationAlgorithm,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::util::net::is_loopback;

/// The fields signed for each message type, in order (AWS documentation,
/// "Verifying the signatures of Amazon SNS messages").
fn signed_fields(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "Notification" => &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ],
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ],
        _ => return None,
    })
}

/// The string SNS signs: "Name\nvalue\n" for each present field.
pub fn string_to_sign(msg: &Value) -> Option<String> {
    let fields = signed_fields(msg.get("Type")?.as_str()?)?;
    let mut out = String::new();
    for name in fields {
        match msg.get(*name).and_then(Value::as_str) {
            Some(v) => {
                out.push_str(name);
                out.push('\n');
                out.push_str(v);
                out.push('\n');
            }
            None if *name == "Subject" => {}
            None => return None,
        }
    }
    Some(out)
}

/// RSA PKCS#1 v1.5 with the digest SNS names, for webpki's
/// `verify_signature` (which hands over the certificate's public key).
#[derive(Debug)]
struct SnsRsa(&'static ring::signature::RsaParameters);

impl SignatureVerificationAlgorithm for SnsRsa {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        ring::signature::UnparsedPublicKey::new(self.0, public_key)
            .verify(message, signature)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_PKCS1_SHA256
    }
}

static SHA1: SnsRsa = SnsRsa(&ring::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY);
static SHA256: SnsRsa = SnsRsa(&ring::signature::RSA_PKCS1_2048_8192_SHA256);

/// The DER of the first certificate in a PEM text.
pub fn pem_certificate(pem: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(pem).map_err(|_| "certificate: not PEM text".to_string())?;
    let start = text
        .find("-----BEGIN CERTIFICATE-----")
        .ok_or("certificate: no BEGIN CERTIFICATE")?
        + "-----BEGIN CERTIFICATE-----".len();
    let end = start
        + text[start..]
            .find("-----END CERTIFICATE-----")
            .ok_or("certificate: no END CERTIFICATE")?;
    let b64: String = text[start..end].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("certificate: {e}"))
}

/// Verify an SNS message's signature with the certificate (PEM).
pub fn verify(msg: &Value, cert_pem: &[u8]) -> Result<(), String> {
    let text = string_to_sign(msg).ok_or("not a signed SNS message")?;
    let sig = msg
        .get("Signature")
        .and_then(Value::as_str)
        .ok_or("no Signature")?;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(sig)
        .map_err(|_| "Signature is not base64")?;
    let alg: &SnsRsa = match msg.get("SignatureVersion").and_then(Value::as_str) {
        Some("1") => &SHA1,
        Some("2") => &SHA256,
        other => return Err(format!("unsupported SignatureVersion {other:?}")),
    };
    let der = CertificateDer::from(pem_certificate(cert_pem)?);
    let cert = webpki::EndEntityCert::try_from(&der).map_err(|e| format!("certificate: {e}"))?;
    cert.verify_signature(alg, text.as_bytes(), &sig)
        .map_err(|_| "bad signature".to_string())
}

/// Whether `url` may be fetched: https on an SNS host, or (only with a
/// locally configured certificate, for tests) http on a loopback address.
pub fn allowed_url(url: &str, local_mode: bool) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    let host = u.host_str().unwrap_or_default();
    // Exactly `sns.<region>.amazonaws.com(.cn)`: one label between, so
    // that e.g. the S3 bucket host `sns.s3.amazonaws.com` is refused.
    let region = host.strip_prefix("sns.").and_then(|r| {
        r.strip_suffix(".amazonaws.com")
            .or_else(|| r.strip_suffix(".amazonaws.com.cn"))
    });
    // A region looks like `eu-west-1`: letters, dashes, a final digit.
    let sns_host = region.is_some_and(|r| {
        r.contains('-')
            && r.ends_with(|c: char| c.is_ascii_digit())
            && r.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    });
    // An SNS host is asked on its own port only.
    let default_port = u.port().is_none_or(|p| p == 443);
    match u.scheme() {
        "https" => (sns_host && default_port) || (local_mode && is_loopback(host)),
        "http" => local_mode && is_loopback(host),
        _ => false,
    }
}

/// Whether `url` names a signing certificate: an SNS address (https, port
/// 443) whose path ends in `.pem`, with no query, fragment or user.
pub fn cert_url_ok(url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    allowed_url(url, false)
        && u.path().ends_with(".pem")
        && u.query().is_none()
        && u.fragment().is_none()
        && u.username().is_empty()
        && u.password().is_none()
}

/// Downloaded signing certificates, by URL.
static CERTS: Mutex<Option<HashMap<String, Vec<u8>>>> = Mutex::new(None);

/// The signing certificate at `url` (downloaded once per process).
pub async fn certificate(url: &str) -> Result<Vec<u8>, String> {
    if let Some(c) = CERTS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashMap::new)
        .get(url)
    {
        return Ok(c.clone());
    }
    if !cert_url_ok(url) {
        return Err(format!("SigningCertURL {url:?} is not an SNS certificate"));
    }
    let pem = get(url).await?;
    CERTS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(url.to_string(), pem.clone());
    Ok(pem)
}

/// The largest response read.
const MAX_RESPONSE: u64 = 1 << 20;

/// GET `url` (http or https), 10 s at most; the body of a 2xx answer.
pub async fn get(url: &str) -> Result<Vec<u8>, String> {
    tokio::time::timeout(Duration::from_secs(10), get_inner(url))
        .await
        .map_err(|_| format!("{url}: timed out"))?
}

async fn get_inner(url: &str) -> Result<Vec<u8>, String> {
    let u = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    let host = u.host_str().ok_or("no host")?.to_string();
    let port = u.port_or_known_default().ok_or("no port")?;
    let mut target = u.path().to_string();
    if let Some(q) = u.query() {
        target.push('?');
        target.push_str(q);
    }
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: gazette\r\nConnection: close\r\n\r\n"
    );
    let tcp = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let mut raw = Vec::new();
    if u.scheme() == "https" {
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(c);
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| format!("{url}: {e}"))?;
        let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        tls.write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let _ = (&mut tls).take(MAX_RESPONSE).read_to_end(&mut raw).await;
    } else {
        let mut tcp = tcp;
        tcp.write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        (&mut tcp)
            .take(MAX_RESPONSE)
            .read_to_end(&mut raw)
            .await
            .map_err(|e| e.to_string())?;
    }
    parse_response(&raw).map_err(|e| format!("{url}: {e}"))
}

/// The body of an HTTP/1.1 response (Content-Length, chunked or to EOF).
fn parse_response(raw: &[u8]) -> Result<Vec<u8>, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no HTTP response")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let body = &raw[split + 4..];
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no HTTP status")?;
    if !(200..300).contains(&status) {
        return Err(format!("HTTP {status}"));
    }
    if head.contains("transfer-encoding: chunked") {
        let mut out = Vec::new();
        let mut rest = body;
        loop {
            let line_end = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or("bad chunk")?;
            let size_text = String::from_utf8_lossy(&rest[..line_end]);
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| "bad chunk size")?;
            rest = &rest[line_end + 2..];
            if size == 0 {
                return Ok(out);
            }
            out.extend_from_slice(rest.get(..size).ok_or("short chunk")?);
            rest = rest.get(size + 2..).ok_or("short chunk")?;
        }
    }
    Ok(body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_responses() {
        assert!(allowed_url(
            "https://sns.eu-west-1.amazonaws.com/x.pem",
            false
        ));
        assert!(!allowed_url("https://sns.evil.example/x.pem", false));
        assert!(
            !allowed_url("https://sns.s3.amazonaws.com/x.pem", false),
            "an S3 bucket"
        );
        assert!(allowed_url(
            "https://sns.cn-north-1.amazonaws.com.cn/x.pem",
            false
        ));
        assert!(!allowed_url(
            "http://sns.eu-west-1.amazonaws.com/x.pem",
            false
        ));
        assert!(!allowed_url("http://127.0.0.1:9/confirm", false));
        assert!(!allowed_url(
            "https://sns.eu-west-1.amazonaws.com:8443/x.pem",
            false
        ));
        assert!(cert_url_ok(
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem"
        ));
        assert!(cert_url_ok(
            "https://sns.us-east-1.amazonaws.com:443/SimpleNotificationService-abc.pem"
        ));
        for bad in [
            "https://sns.us-east-1.amazonaws.com/?x=.pem",
            "https://sns.us-east-1.amazonaws.com/x.pem?y=1",
            "https://sns.us-east-1.amazonaws.com/x.pem#.pem",
            "https://sns.us-east-1.amazonaws.com:444/x.pem",
            "https://user@sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com/x.pem/",
            "https://sns.us-east-1.amazonaws.com/x.txt",
        ] {
            assert!(!cert_url_ok(bad), "{bad}");
        }
        assert!(allowed_url("http://127.0.0.1:9/confirm", true));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), b"abcde");
        assert!(parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n").is_err());
    }

    #[test]
    fn string_to_sign_follows_the_field_order() {
        let msg = serde_json::json!({
            "Type": "Notification", "MessageId": "m", "TopicArn": "t",
            "Message": "hello", "Timestamp": "2026-01-01T00:00:00Z"
        });
        assert_eq!(
            string_to_sign(&msg).unwrap(),
            "Message\nhello\nMessageId\nm\nTimestamp\n2026-01-01T00:00:00Z\nTopicArn\nt\nType\nNotification\n"
        );
    }
}
