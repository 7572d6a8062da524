//! VERP: each campaign message goes out with the envelope sender
//! `bounces+{id}@domain`, where `{id}` is the random part of the message's
//! own Message-ID (`<{id}@domain>`: 32 hex digits, a millisecond time and
//! 84 random bits, stored with the
//! delivery). A bounce comes back to that address, so it names the
//! delivery even when the report itself is mangled.

use mail_parser::Message;

use super::dsn::addresses_in;

/// The shortest token taken for an identifier (Gazette's are 32 hex digits).
const MIN_TOKEN: usize = 16;

fn is_token(s: &str) -> bool {
    s.len() >= MIN_TOKEN
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The id in a Message-ID `<id@domain>`.
pub fn message_id_token(message_id: &str) -> Option<String> {
    let inner = message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    let (local, _) = inner.split_once('@')?;
    is_token(local).then(|| local.to_string())
}

/// The VERP envelope sender for a message: `local+{id}@domain` from the
/// configured bounce address `local@domain`.
pub fn sender(bounce_address: &lettre::Address, message_id: &str) -> Option<lettre::Address> {
    let token = message_id_token(message_id)?;
    let user = format!("{}+{token}", bounce_address.user());
    lettre::Address::new(user, bounce_address.domain()).ok()
}

/// The envelope of a campaign message, with the VERP sender when a
/// bounce address is configured.
pub fn envelope(
    bounce_address: Option<&lettre::Address>,
    envelope: &lettre::address::Envelope,
    message_id: &str,
) -> lettre::address::Envelope {
    let from = bounce_address.and_then(|b| sender(b, message_id));
    match from {
        Some(from) => lettre::address::Envelope::new(Some(from), envelope.to().to_vec())
            .unwrap_or_else(|_| envelope.clone()),
        None => envelope.clone(),
    }
}

/// The token of a VERP address `local+{token}@domain`.
pub fn address_token(addr: &str) -> Option<String> {
    let (local, _) = addr.rsplit_once('@')?;
    let (_, token) = local.split_once('+')?;
    is_token(token).then(|| token.to_string())
}

/// Identifiers of the original message in a returned one: VERP tokens in
/// the addresses it was returned to (and in the copy's Return-Path), then
/// Message-IDs of the copy (message/rfc822, text/rfc822-headers or quoted
/// text) and the bounce's In-Reply-To/References.
pub fn references(msg: &Message, raw: &[u8]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |t: Option<String>| {
        if let Some(t) = t {
            if !out.contains(&t) {
                out.push(t);
            }
        }
    };
    for h in ["To", "Delivered-To", "X-Original-To", "Envelope-To"] {
        if let Some(v) = msg.header_raw(h) {
            for (_, a) in addresses_in(v) {
                push(address_token(&a));
            }
        }
    }
    let text = String::from_utf8_lossy(raw);
    let body = text
        .find("\r\n\r\n")
        .or_else(|| text.find("\n\n"))
        .map(|i| &text[i..])
        .unwrap_or_default();
    for line in body.lines() {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("return-path:") {
            for (_, a) in addresses_in(line) {
                push(address_token(&a));
            }
        }
    }
    for line in body.lines() {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("message-id:") || lower.starts_with("x-original-message-id:") {
            let value = line.split_once(':').map(|(_, v)| v).unwrap_or_default();
            push(message_id_token(value));
        }
    }
    for p in &msg.parts {
        if let Some(m) = p.message() {
            push(m.message_id().and_then(message_id_token));
        }
    }
    for h in ["In-Reply-To", "References"] {
        if let Some(v) = msg.header_raw(h) {
            for id in v.split_whitespace() {
                push(message_id_token(id));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_and_back() {
        let b: lettre::Address = "bounces@example.com".parse().unwrap();
        let id = "<0123456789abcdef0123456789abcdef@example.com>";
        let s = sender(&b, id).unwrap();
        assert_eq!(
            s.to_string(),
            "bounces+0123456789abcdef0123456789abcdef@example.com"
        );
        assert_eq!(
            address_token(s.as_ref()).as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(address_token("someone+tag@example.com"), None);
    }
}
