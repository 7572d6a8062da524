//! MIME messages: multipart/alternative (text + HTML) with the headers a
//! newsletter needs, built by lettre (which encodes non-ASCII headers).

use lettre::address::Envelope;
use lettre::message::header::{
    self, ContentTransferEncoding, ContentType, HeaderName, HeaderValue, Headers,
};
use lettre::message::{Body, Mailbox, Mailboxes, MultiPart, SinglePart};
use lettre::Message;

use super::{Encoded, Prepared, Recipient};
use crate::config::Newsletter;
use crate::error::{Error, Result};
use crate::util::ids::{random_hex, time_ordered_hex};
use crate::util::text::clean_header_text;

/// A fresh Message-ID on the sender's domain: `<id@domain>`, the id
/// 32 hex digits that sort by time with 84 random bits (`time_ordered_hex`).
pub fn new_message_id(nl: &Newsletter) -> String {
    format!("<{}@{}>", time_ordered_hex(), nl.from.email.domain())
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
    let envelope = envelope_to(nl, &to)?;
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
        let mailto = unsubscribe_mailto(nl);
        b = b.raw_header(list_unsubscribe(&r.unsubscribe_url, mailto.as_deref()));
    }
    let mut message = shared_part(nl, prepared, b, text, html)?;
    if let Some(dkim) = &nl.dkim {
        message.sign(dkim);
    }
    Ok(message)
}

/// The envelope: from the newsletter's address to the recipient's. (Given,
/// lettre does not parse the From and To headers back into one.)
fn envelope_to(nl: &Newsletter, to: &Mailbox) -> Result<Envelope> {
    Envelope::new(Some(nl.from.email.clone()), vec![to.email.clone()])
        .map_err(|e| Error::msg(format!("envelope: {e}")))
}

/// The mailto part of `List-Unsubscribe`, if the newsletter has one (the
/// same for every recipient).
fn unsubscribe_mailto(nl: &Newsletter) -> Option<String> {
    nl.unsubscribe_mailto.as_ref().map(|mailto| {
        let addr = mailto
            .parse::<Mailbox>()
            .map(|m| m.email.to_string())
            .unwrap_or_else(|_| mailto.clone());
        format!(", <mailto:{addr}?subject=unsubscribe>")
    })
}

/// `List-Unsubscribe` (RFC 2369/8058): the one-click URL, and the mailto
/// part from `unsubscribe_mailto`.
fn list_unsubscribe(url: &str, mailto: Option<&str>) -> HeaderValue {
    raw(
        "List-Unsubscribe",
        format!("<{url}>{}", mailto.unwrap_or_default()),
    )
}

/// What every recipient's message has in common, added to `b`: the list
/// headers of a campaign, and the two parts around the given bodies.
fn shared_part(
    nl: &Newsletter,
    prepared: &Prepared,
    mut b: lettre::message::MessageBuilder,
    text: String,
    html: String,
) -> Result<Message> {
    if prepared.email_kind().is_campaign() {
        b = b
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
    Ok(b.multipart(
        MultiPart::alternative()
            .singlepart(part(ContentType::TEXT_PLAIN, text))
            .singlepart(part(ContentType::TEXT_HTML, html)),
    )?)
}

/// A campaign's message formatted once by lettre without its personal
/// headers and bodies; per recipient only those are formatted (by lettre's
/// header encoder too) and put around the shared bytes. The same message
/// as `build_encoded` gives, up to header order and the multipart boundary
/// (one per campaign); lettre assembling each whole message was 14% of a
/// send's CPU. Not used with DKIM, which signs each whole message.
pub struct Skeleton {
    /// Shared headers through the text part's own headers.
    head: Vec<u8>,
    /// From the end of the text part to the HTML part's body.
    middle: Vec<u8>,
    /// After the HTML part's body.
    tail: Vec<u8>,
    campaign: bool,
    /// The mailto part of `List-Unsubscribe`, formatted once.
    mailto: Option<String>,
}

impl Skeleton {
    /// `None` when the messages are DKIM-signed.
    pub fn new(nl: &Newsletter, prepared: &Prepared) -> Result<Option<Skeleton>> {
        if nl.dkim.is_some() {
            return Ok(None);
        }
        let marker = format!("gazette-part-{}", random_hex(16));
        let (text_mark, html_mark) = (format!("{marker}-text"), format!("{marker}-html"));
        let b = Message::builder()
            .envelope(envelope_to(nl, &nl.from)?)
            .from(nl.from.clone())
            .subject(clean_header_text(&prepared.subject));
        let b = match &nl.reply_to {
            Some(reply_to) => b.reply_to(reply_to.clone()),
            None => b,
        };
        let mut message = shared_part(nl, prepared, b, text_mark.clone(), html_mark.clone())?;
        message.headers_mut().remove::<header::Date>();
        let all = message.formatted();
        let find = |mark: &str| {
            all.windows(mark.len())
                .position(|w| w == mark.as_bytes())
                .ok_or_else(|| Error::msg("formatting the message: a part went missing"))
        };
        let (t, h) = (find(&text_mark)?, find(&html_mark)?);
        Ok(Some(Skeleton {
            head: all[..t].to_vec(),
            middle: all[t + text_mark.len()..h].to_vec(),
            tail: all[h + html_mark.len()..].to_vec(),
            campaign: prepared.email_kind().is_campaign(),
            mailto: unsubscribe_mailto(nl),
        }))
    }

    /// The envelope and the formatted message for one recipient.
    pub fn assemble(
        &self,
        nl: &Newsletter,
        encoded: &Encoded,
        r: &Recipient,
        message_id: String,
    ) -> Result<(Envelope, Vec<u8>)> {
        let (html, text) = encoded.personalize(r);
        let to = recipient_mailbox(r)?;
        let envelope = envelope_to(nl, &to)?;
        let mut personal = Headers::new();
        personal.set(header::Date::now());
        personal.set(header::MessageId::from(message_id));
        personal.set(header::To::from(Mailboxes::from(to)));
        if self.campaign {
            personal.insert_raw(list_unsubscribe(&r.unsubscribe_url, self.mailto.as_deref()));
        }
        let personal = personal.to_string();
        let mut out = Vec::with_capacity(
            personal.len()
                + self.head.len()
                + text.len()
                + self.middle.len()
                + html.len()
                + self.tail.len(),
        );
        for piece in [
            personal.as_bytes(),
            &self.head,
            text.as_bytes(),
            &self.middle,
            html.as_bytes(),
            &self.tail,
        ] {
            out.extend_from_slice(piece);
        }
        Ok((envelope, out))
    }
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

    /// Header lines unfolded, without Date, sorted; the body with the
    /// multipart boundary replaced.
    fn normalised(raw: &[u8]) -> (Vec<String>, String) {
        let raw = String::from_utf8(raw.to_vec()).unwrap();
        let boundary = raw
            .split("boundary=\"")
            .nth(1)
            .and_then(|b| b.split('"').next())
            .unwrap()
            .to_string();
        let raw = raw.replace(&boundary, "BOUNDARY");
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let mut headers: Vec<String> = head
            .replace("\r\n ", " ")
            .replace("\r\n\t", "\t")
            .split("\r\n")
            .filter(|l| !l.starts_with("Date: "))
            .map(String::from)
            .collect();
        headers.sort();
        (headers, body.to_string())
    }

    #[test]
    fn the_skeleton_gives_lettres_message() {
        let long = "x".repeat(120);
        for (nl, p, r) in [
            (newsletter("Notes"), prepared("S"), recipient("R")),
            (
                newsletter("Grüße"),
                prepared("Über café ☕ a subject long enough to be folded by the encoder"),
                Recipient {
                    name: Some(format!("Zoë \"Q\" <{long}>\r\nBcc: x@example.net")),
                    unsubscribe_url: format!("https://news.example.com/unsubscribe/{long}"),
                    ..recipient("x")
                },
            ),
            (
                Newsletter {
                    reply_to: None,
                    unsubscribe_mailto: None,
                    ..newsletter("N")
                },
                Prepared {
                    kind: EmailKind::Confirm,
                    ..prepared("Confirm")
                },
                recipient("plain"),
            ),
        ] {
            let encoded = p.encode();
            let want = build_encoded(&nl, &p, &encoded, &r, "<id@example.com>".into()).unwrap();
            let skeleton = Skeleton::new(&nl, &p).unwrap().unwrap();
            let (envelope, got) = skeleton
                .assemble(&nl, &encoded, &r, "<id@example.com>".into())
                .unwrap();
            assert_eq!(&envelope, want.envelope());
            assert_eq!(normalised(&got), normalised(&want.formatted()));
            let text = String::from_utf8(got).unwrap();
            assert!(
                text.contains("\r\nDate: ") || text.starts_with("Date: "),
                "{text}"
            );
            assert!(!text.contains("gazette-part-"), "{text}");
        }
    }

    #[test]
    fn personal_values_are_escaped_in_html_only() {
        let p = prepared("S");
        let out = p.personalize(&recipient("<b>Bob</b>"));
        assert_eq!(out.html, "<p>Hi &lt;b&gt;Bob&lt;/b&gt;</p>");
        assert_eq!(out.text, "Hi <b>Bob</b>");
    }
}
