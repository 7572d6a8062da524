//! MIME messages: multipart/alternative (text + HTML) with the headers a
//! newsletter needs, built by lettre (which encodes non-ASCII headers).

use lettre::address::Envelope;
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::Message;

use super::{Encoded, Prepared, Recipient};
use crate::config::Newsletter;
use crate::error::{Error, Result};
use crate::util::ids::random_hex;
use crate::util::text::clean_header_text;

/// A fresh Message-ID on the sender's domain: `<random@domain>`.
pub fn new_message_id(nl: &Newsletter) -> String {
    format!("<{}@{}>", random_hex(16), nl.from.email.domain())
}

/// The recipient's mailbox, with a display name cleaned of control characters.
pub fn recipient_mailbox(r: &Recipient) -> Result<Mailbox> {
    let email = r
        .email
        .parse()
        .map_err(|_| Error::msg(format!("invalid recipient address {:?}", r.email)))?;
    let name = r
        .name
        .as_deref()
        .map(clean_header_text)
        .filter(|n| !n.is_empty());
    Ok(Mailbox::new(name, email))
}

fn raw(name: &'static str, value: String) -> HeaderValue {
    HeaderValue::new(
        HeaderName::new_from_ascii_str(name),
        clean_header_text(&value),
    )
}

/// Build the complete message for one recipient.
pub fn build(
    nl: &Newsletter,
    prepared: &Prepared,
    r: &Recipient,
    message_id: String,
) -> Result<Message> {
    build_encoded(nl, prepared, &prepared.encode(), r, message_id)
}

/// Build the message for one recipient from parts encoded once per campaign.
pub fn build_encoded(
    nl: &Newsletter,
    prepared: &Prepared,
    encoded: &Encoded,
    r: &Recipient,
    message_id: String,
) -> Result<Message> {
    let (html, text) = encoded.personalize(r);
    let to = recipient_mailbox(r)?;
    // Given, lettre does not parse the From and To headers back into one.
    let envelope = Envelope::new(Some(nl.from.email.clone()), vec![to.email.clone()])
        .map_err(|e| Error::msg(format!("envelope: {e}")))?;
    let mut b = Message::builder()
        .envelope(envelope)
        .from(nl.from.clone())
        .to(to)
        .subject(clean_header_text(&prepared.subject))
        .date_now()
        .message_id(Some(message_id));
    if let Some(reply_to) = &nl.reply_to {
        b = b.reply_to(reply_to.clone());
    }
    if prepared.email_kind().is_campaign() {
        let mut unsub = format!("<{}>", r.unsubscribe_url);
        if let Some(mailto) = &nl.unsubscribe_mailto {
            let addr = mailto
                .parse::<Mailbox>()
                .map(|m| m.email.to_string())
                .unwrap_or_else(|_| mailto.clone());
            unsub.push_str(&format!(", <mailto:{addr}?subject=unsubscribe>"));
        }
        b = b
            .raw_header(raw("List-Unsubscribe", unsub))
            .raw_header(raw(
                "List-Unsubscribe-Post",
                "List-Unsubscribe=One-Click".into(),
            ))
            .raw_header(raw("List-Id", format!("{} <{}>", nl.title, nl.list_id)))
            .raw_header(raw("Precedence", "bulk".into()));
    }
    let part = |ct: ContentType, body: String| {
        SinglePart::builder()
            .header(ct)
            .body(Body::dangerous_pre_encoded(
                body.into_bytes(),
                ContentTransferEncoding::QuotedPrintable,
            ))
    };
    let mut message = b.multipart(
        MultiPart::alternative()
            .singlepart(part(ContentType::TEXT_PLAIN, text))
            .singlepart(part(ContentType::TEXT_HTML, html)),
    )?;
    if let Some(dkim) = &nl.dkim {
        message.sign(dkim);
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::EmailKind;

    fn newsletter(title: &str) -> Newsletter {
        Newsletter {
            title: title.into(),
            from: "Ann <news@example.com>".parse().unwrap(),
            reply_to: Some("ann@example.com".parse().unwrap()),
            base_url: "https://example.com/blog".into(),
            public_url: "https://news.example.com".into(),
            postal_address: "1 Main St".into(),
            unsubscribe_mailto: Some("unsub@example.com".into()),
            list_id: "notes.example.com".into(),
            dkim: None,
            reading: Default::default(),
        }
    }

    fn prepared(subject: &str) -> Prepared {
        Prepared {
            subject: subject.into(),
            html: "<p>Hi \u{E000}name\u{E001}</p>".into(),
            text: "Hi \u{E000}name\u{E001}".into(),
            kind: EmailKind::Post,
        }
    }

    fn recipient(name: &str) -> Recipient {
        Recipient {
            email: "reader@example.org".into(),
            name: Some(name.into()),
            unsubscribe_url: "https://news.example.com/unsubscribe/tok".into(),
            confirm_url: None,
            attributes: None,
        }
    }

    fn headers_of(raw: &str) -> &str {
        raw.split("\r\n\r\n").next().unwrap()
    }

    #[test]
    fn header_injection_in_subject_and_name_is_neutralised() {
        let nl = newsletter("Notes");
        let p = prepared("Hello\r\nBcc: victim@example.net");
        let r = recipient("Eve\r\nBcc: x@example.net");
        let msg = build(&nl, &p, &r, "<id@example.com>".into()).unwrap();
        let raw = String::from_utf8(msg.formatted()).unwrap();
        let headers = headers_of(&raw);
        assert!(!headers.lines().any(|l| l.starts_with("Bcc:")), "{headers}");
        assert!(
            headers.contains("Subject: Hello Bcc: victim@example.net"),
            "{headers}"
        );
        // Every header line is a header or a folded continuation.
        for line in headers.split("\r\n") {
            assert!(
                line.starts_with(' ') || line.starts_with('\t') || line.contains(": "),
                "{line:?}"
            );
        }
    }

    #[test]
    fn non_ascii_subject_and_name_are_encoded() {
        let nl = newsletter("Grüße");
        let p = prepared("Über café ☕");
        let r = recipient("Zoë");
        let msg = build(&nl, &p, &r, "<id@example.com>".into()).unwrap();
        let raw = String::from_utf8(msg.formatted()).unwrap();
        let headers = headers_of(&raw);
        assert!(headers.is_ascii(), "{headers}");
        assert!(headers.contains("Subject: =?utf-8?"), "{headers}");
        assert!(headers.contains("To: =?utf-8?"), "{headers}");
    }

    #[test]
    fn campaign_headers_present() {
        let nl = newsletter("Notes");
        let msg = build(
            &nl,
            &prepared("S"),
            &recipient("R"),
            "<id@example.com>".into(),
        )
        .unwrap();
        let raw = String::from_utf8(msg.formatted()).unwrap();
        let h = headers_of(&raw).replace("\r\n ", " ");
        for needle in [
            "From: Ann <news@example.com>",
            "Reply-To: ann@example.com",
            "To: R <reader@example.org>",
            "Message-ID: <id@example.com>",
            "MIME-Version: 1.0",
            "Date: ",
            "List-Unsubscribe: <https://news.example.com/unsubscribe/tok>, <mailto:unsub@example.com?subject=unsubscribe>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "List-Id: Notes <notes.example.com>",
            "Precedence: bulk",
            "Content-Type: multipart/alternative",
        ] {
            assert!(h.contains(needle), "missing {needle:?} in\n{h}");
        }
        assert!(raw.contains("Hi=20=\r\nR=\r\n"), "{raw}");
    }

    #[test]
    fn encoded_parts_decode_to_the_personalised_text() {
        let long = "x".repeat(200);
        let p = Prepared {
            subject: "S".into(),
            html: format!("<p>{long} caf\u{e9} \u{E000}name\u{E001}</p>\n<a href=\"\u{E000}unsubscribe_url\u{E001}\">u</a>\n"),
            text: format!("Hi \u{E000}name\u{E001},\n{long}\n"),
            kind: EmailKind::Post,
        };
        let r = Recipient {
            name: Some(format!("Zo\u{eb} <{long}>")),
            ..recipient("x")
        };
        let (html, text) = p.encode().personalize(&r);
        for part in [&html, &text] {
            assert!(part.is_ascii());
            assert!(part.split("\r\n").all(|l| l.len() <= 76), "{part}");
        }
        let decode = |s: &str| {
            String::from_utf8(
                quoted_printable::decode(s, quoted_printable::ParseMode::Strict).unwrap(),
            )
            .unwrap()
        };
        let want = p.personalize(&r);
        assert_eq!(decode(&html), want.html.replace('\n', "\r\n"));
        assert_eq!(decode(&text), want.text.replace('\n', "\r\n"));
    }

    #[test]
    fn personal_values_are_escaped_in_html_only() {
        let p = prepared("S");
        let out = p.personalize(&recipient("<b>Bob</b>"));
        assert_eq!(out.html, "<p>Hi &lt;b&gt;Bob&lt;/b&gt;</p>");
        assert_eq!(out.text, "Hi <b>Bob</b>");
    }
}
