//! Provider webhooks on the public listener (called by the provider):
//! `POST /webhooks/ses` (Amazon SNS, signature checked against the signing
//! certificate, subscription confirmation included), `/webhooks/postmark`
//! (basic auth), `/webhooks/mailgun` (HMAC-SHA256 with the signing key) and
//! `/webhooks/sendgrid` (signed event webhook, ECDSA P-256). Each maps the
//! provider's bounce and complaint events to hard/soft/complaint and records
//! them like returned mail. A request that is unsigned or badly signed is
//! refused with 401 and changes nothing; a provider without a configured
//! secret has no endpoint (404). Signed requests are fresh and used
//! once (`seal`).

mod seal;
mod sns;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use serde_json::Value;

use super::AppState;
use crate::bounce::provider::{self, ses_events, str_of, Event};
use crate::bounce::Kind;
use crate::store::bounces::Applied;
use seal::{unix_time, Refusal, Seal};

/// Providers batch events: their bodies may exceed the pages' limit.
const MAX_WEBHOOK_BODY: usize = 1 << 20;

/// The configured providers' routes only: a disabled provider's path is
/// 404 for every method, like any path that does not exist.
pub fn routes(settings: &crate::config::Settings) -> Router<Arc<AppState>> {
    let hooks = &settings.bounces.webhooks;
    let mut r = Router::new();
    if !hooks.ses_topics.is_empty() {
        r = r.route("/webhooks/ses", post(ses));
    }
    if hooks.postmark.is_some() {
        r = r.route("/webhooks/postmark", post(postmark));
    }
    if hooks.mailgun_key.is_some() {
        r = r.route("/webhooks/mailgun", post(mailgun));
    }
    if hooks.sendgrid_key.is_some() {
        r = r.route("/webhooks/sendgrid", post(sendgrid));
    }
    r.layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY))
}

fn text(status: StatusCode, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{body}\n"),
    )
        .into_response()
}

fn unauthorized(provider: &str, why: &str) -> Response {
    tracing::warn!("webhook {provider}: refused: {why}");
    text(StatusCode::UNAUTHORIZED, "unauthorized")
}

/// Admit a signed request once, while fresh: `Err` is the answer when it
/// is stale, replayed with other content (401), or a repeat (200, nothing
/// applied again).
async fn admit(state: &AppState, provider: &str, seal: &Seal) -> Result<(), Response> {
    match seal.admit(&state.optin.store, provider).await {
        Ok(()) => Ok(()),
        Err(Refusal::Unsigned(why)) => Err(unauthorized(provider, why)),
        Err(Refusal::Store(err)) => {
            tracing::error!("webhook {provider}: {err}");
            Err(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "database unavailable",
            ))
        }
    }
}

/// Record events; 200 with how many were recorded.
async fn apply(state: &AppState, provider: &str, events: Vec<Event>) -> Response {
    let store = &state.optin.store;
    let policy = &state.optin.settings.bounces.policy;
    let mut recorded = 0;
    for e in events {
        let (mut r, refs) = e.record(&format!("webhook:{provider}"));
        let outcome = async {
            let who = store.attribute(&refs, r.recipient.as_deref()).await?;
            r.campaign_id = who.campaign_id;
            r.subscriber_id = who.subscriber_id;
            if r.kind == Kind::None {
                return Ok(Applied::Recorded(None));
            }
            let key = format!("{provider}:{}", e.key);
            store
                .record_bounce(&key, &r, policy, chrono::Utc::now())
                .await
        };
        match outcome.await {
            Ok(Applied::Recorded(_)) if r.kind != Kind::None => recorded += 1,
            Ok(_) => {}
            Err(err) => {
                tracing::error!("webhook {provider}: {err}");
                return text(StatusCode::SERVICE_UNAVAILABLE, "database unavailable");
            }
        }
    }
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({ "recorded": recorded })),
    )
        .into_response()
}

// ---- Postmark: basic auth; Bounce and SpamComplaint records. ----

async fn postmark(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some((user, pass)) = state.optin.settings.bounces.webhooks.postmark.clone() else {
        return text(StatusCode::NOT_FOUND, "not found");
    };
    if !basic_auth_ok(&headers, &user, &pass) {
        return unauthorized("postmark", "bad or missing basic auth");
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return text(StatusCode::BAD_REQUEST, "body: not JSON");
    };
    let event = match provider::postmark_event(&v, &digest(&body)) {
        Ok(e) => e,
        Err(why) => return text(StatusCode::BAD_REQUEST, &format!("body: {why}")),
    };
    apply(&state, "postmark", vec![event]).await
}

fn basic_auth_ok(headers: &HeaderMap, user: &str, pass: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
    else {
        return false;
    };
    let want = format!("{user}:{pass}");
    subtle::ConstantTimeEq::ct_eq(given.as_slice(), want.as_bytes()).into()
}

fn digest(body: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, body))
}

// ---- Mailgun: HMAC-SHA256(key, timestamp + token); failed/complained. ----

async fn mailgun(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let Some(key) = state.optin.settings.bounces.webhooks.mailgun_key.clone() else {
        return text(StatusCode::NOT_FOUND, "not found");
    };
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return unauthorized("mailgun", "body: not JSON");
    };
    let (Some(ts), Some(token), Some(sig)) = (
        str_of(&v, &["signature", "timestamp"]),
        str_of(&v, &["signature", "token"]),
        str_of(&v, &["signature", "signature"]),
    ) else {
        return unauthorized("mailgun", "no signature");
    };
    let mac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    let Ok(sig) = hex::decode(sig) else {
        return unauthorized("mailgun", "signature: not hex");
    };
    if ring::hmac::verify(&mac, format!("{ts}{token}").as_bytes(), &sig).is_err() {
        return unauthorized("mailgun", "bad signature");
    }
    // Mailgun signs the timestamp and token only: the token is bound to
    // this body on first use, so it cannot carry another event later.
    let seal = Seal {
        signed_at: unix_time(ts),
        nonce: token.to_string(),
        digest: digest(&body),
    };
    if let Err(answer) = admit(&state, "mailgun", &seal).await {
        return answer;
    }
    let event = match provider::mailgun_event(&v["event-data"], &digest(&body)) {
        Ok(e) => e,
        Err(why) => return text(StatusCode::BAD_REQUEST, &format!("event-data: {why}")),
    };
    apply(&state, "mailgun", vec![event]).await
}

// ---- SendGrid: ECDSA P-256 over timestamp + body; an array of events. ----

/// DER prefix of a P-256 SubjectPublicKeyInfo; the 65-byte point follows.
const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The seal of a correctly signed SendGrid request (the signature covers
/// the timestamp and the whole body).
fn sendgrid_signature_ok(
    key_b64: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Seal, &'static str> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let spki = b64
        .decode(key_b64.trim())
        .map_err(|_| "verification key is not base64")?;
    let point = spki
        .strip_prefix(P256_SPKI_PREFIX)
        .ok_or("verification key is not P-256")?;
    let header = |n: &str| headers.get(n).and_then(|h| h.to_str().ok());
    let sig = header("x-twilio-email-event-webhook-signature").ok_or("no signature header")?;
    let ts = header("x-twilio-email-event-webhook-timestamp").ok_or("no timestamp header")?;
    let sig = b64
        .decode(sig.trim())
        .map_err(|_| "signature is not base64")?;
    let mut signed = ts.as_bytes().to_vec();
    signed.extend_from_slice(body);
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, point)
        .verify(&signed, &sig)
        .map_err(|_| "bad signature")?;
    let signed_digest = digest(&signed);
    Ok(Seal {
        signed_at: unix_time(ts),
        nonce: signed_digest.clone(),
        digest: signed_digest,
    })
}

async fn sendgrid(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(key) = state.optin.settings.bounces.webhooks.sendgrid_key.clone() else {
        return text(StatusCode::NOT_FOUND, "not found");
    };
    let seal = match sendgrid_signature_ok(&key, &headers, &body) {
        Ok(seal) => seal,
        Err(why) => return unauthorized("sendgrid", why),
    };
    if let Err(answer) = admit(&state, "sendgrid", &seal).await {
        return answer;
    }
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&body) else {
        return text(StatusCode::BAD_REQUEST, "body: not a JSON array");
    };
    let events = items
        .iter()
        .filter_map(|e| provider::sendgrid_event(e, |e| digest(e.to_string().as_bytes())))
        .collect();
    apply(&state, "sendgrid", events).await
}

// ---- Amazon SES through SNS. ----

async fn ses(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let hooks = &state.optin.settings.bounces.webhooks;
    if hooks.ses_topics.is_empty() {
        return text(StatusCode::NOT_FOUND, "not found");
    }
    let Ok(msg) = serde_json::from_slice::<Value>(&body) else {
        return unauthorized("ses", "body: not JSON");
    };
    let topic = str_of(&msg, &["TopicArn"]).unwrap_or_default();
    if !hooks.ses_topics.iter().any(|t| t == topic) {
        return unauthorized("ses", "unknown TopicArn");
    }
    let local = hooks.ses_cert.is_some();
    let cert = match &hooks.ses_cert {
        Some(path) => std::fs::read(path).map_err(|e| format!("{}: {e}", path.display())),
        None => sns::certificate(str_of(&msg, &["SigningCertURL"]).unwrap_or_default()).await,
    };
    let verified = cert.and_then(|c| sns::verify(&msg, &c));
    if let Err(why) = verified {
        return unauthorized("ses", &why);
    }
    // The signature covers MessageId and Timestamp: the message id is the
    // nonce, the signed text what it is bound to.
    let seal = Seal {
        signed_at: str_of(&msg, &["Timestamp"])
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc)),
        nonce: str_of(&msg, &["MessageId"]).unwrap_or_default().to_string(),
        digest: digest(sns::string_to_sign(&msg).unwrap_or_default().as_bytes()),
    };
    if let Err(answer) = admit(&state, "ses", &seal).await {
        return answer;
    }
    match str_of(&msg, &["Type"]) {
        Some("SubscriptionConfirmation") => {
            let url = str_of(&msg, &["SubscribeURL"]).unwrap_or_default();
            if !sns::allowed_url(url, local) {
                return unauthorized("ses", "SubscribeURL is not an SNS address");
            }
            match sns::get(url).await {
                Ok(_) => {
                    tracing::info!("webhook ses: subscribed to {topic}");
                    text(StatusCode::OK, "subscribed")
                }
                Err(e) => {
                    tracing::error!("webhook ses: confirming the subscription: {e}");
                    text(StatusCode::BAD_GATEWAY, "subscription not confirmed")
                }
            }
        }
        Some("Notification") => {
            let inner: Value = str_of(&msg, &["Message"])
                .and_then(|m| serde_json::from_str(m).ok())
                .unwrap_or(Value::Null);
            let id = str_of(&msg, &["MessageId"]).unwrap_or_default();
            apply(&state, "ses", ses_events(&inner, id)).await
        }
        _ => text(StatusCode::OK, "ok"),
    }
}
