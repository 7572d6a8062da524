//! Click counts that track nobody (`[tracking] clicks`): each link of a
//! campaign's HTML part is rewritten once per campaign, never per reader,
//! to `{public_url}/c/{campaign}/{link}`. Every recipient gets the same URL,
//! so a click says which link of which issue was followed, never by whom.
//!
//! Rendering marks each link with a slot that carries the original URL
//! ([`track`]); creating the campaign numbers them and fills in the
//! campaign's id ([`Prepared::with_clicks`]). Where no campaign fills them
//! (a test send, a preview) the slot is the original URL. Links a reader's
//! own slots make (unsubscribe, preferences, "View in browser", an
//! attribute) are never rewritten, nor are links to Gazette's own reader
//! pages, `mailto:` or anchors. The text part keeps the original links.

use super::slots::{slot, walk_slots, CLICK_PREFIX as PREFIX, CLICK_SEP as SEP};
use super::Prepared;

/// Paths of Gazette's reader pages: their links are never counted.
const OWN_PAGES: &[&str] = &["/unsubscribe/", "/preferences/", "/confirm/"];

/// The HTML with each countable `<a href>` (and `<area href>`) marked as a
/// click slot; `public_url` without a trailing slash.
pub fn track(html: &str, public_url: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let mut out = String::with_capacity(html.len() + 512);
    let mut done = 0;
    let mut from = 0;
    while let Some((start, end)) = next_href(&lower, from) {
        if let Some(url) = countable(&html[start..end], public_url) {
            out.push_str(&html[done..start]);
            out.push_str(&slot(&format!("{PREFIX}{public_url}/c/{SEP}{url}")));
            done = end;
        }
        from = end;
    }
    out.push_str(&html[done..]);
    out
}

/// Where the next `href` value of an `<a>` or `<area>` tag at or after
/// `from` is, in the lowercased HTML: (start, end) of the value.
fn next_href(lower: &str, from: usize) -> Option<(usize, usize)> {
    let b = lower.as_bytes();
    let mut from = from;
    while let Some(off) = lower[from..].find('<') {
        let i = from + off;
        let mut j = i + 1;
        while j < b.len() && b[j].is_ascii_alphanumeric() {
            j += 1;
        }
        let name = &lower[i + 1..j];
        // The tag ends at its `>` (the CSS inliner escapes `>` in values).
        let end = lower[j..].find('>').map_or(b.len(), |e| j + e);
        if name == "a" || name == "area" {
            if let Some(v) = href_in(lower, j, end) {
                return Some(v);
            }
        }
        from = i + 1;
    }
    None
}

/// The quoted `href` value among a tag's attributes (`lower[j..end]`).
fn href_in(lower: &str, j: usize, end: usize) -> Option<(usize, usize)> {
    let b = lower.as_bytes();
    let mut k = j;
    while let Some(h) = lower[k..end].find("href") {
        let at = k + h;
        k = at + 4;
        let mut m = at + 4;
        while m < end && b[m].is_ascii_whitespace() {
            m += 1;
        }
        if !b[at - 1].is_ascii_whitespace() || m >= end || b[m] != b'=' {
            continue;
        }
        m += 1;
        while m < end && b[m].is_ascii_whitespace() {
            m += 1;
        }
        if m < end && (b[m] == b'"' || b[m] == b'\'') {
            let start = m + 1;
            let len = lower[start..].find(b[m] as char)?;
            return Some((start, start + len));
        }
    }
    None
}

/// The original URL of an `href` value, when it is one to count.
fn countable(value: &str, public_url: &str) -> Option<String> {
    if value.contains(['\u{E000}', '\u{E001}', SEP]) {
        return None;
    }
    let url = unescape(value.trim());
    let parsed = url::Url::parse(&url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") || url.chars().any(char::is_control) {
        return None;
    }
    if OWN_PAGES
        .iter()
        .any(|p| url.starts_with(&format!("{public_url}{p}")))
    {
        return None;
    }
    Some(url)
}

/// The few entities an attribute value holds after serialisation.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl Prepared {
    /// The email of campaign `id` with its click slots filled in: each
    /// distinct URL numbered from 1 in the order it first appears, pointing
    /// at `{public_url}/c/{id}/{n}`. Returns the numbered URLs too (none
    /// when the email has no click slot).
    pub fn with_clicks(&self, id: i64) -> (Prepared, Vec<(i64, String)>) {
        let needle = format!("\u{E000}{PREFIX}");
        if !self.html.contains(&needle) {
            return (self.clone(), Vec::new());
        }
        let mut links: Vec<(i64, String)> = Vec::new();
        let mut html = String::with_capacity(self.html.len());
        walk_slots(
            &self.html,
            &mut html,
            |t, out| out.push_str(t),
            |key, out| {
                let parts = key
                    .strip_prefix(PREFIX)
                    .and_then(|rest| rest.split_once(SEP));
                let Some((base, url)) = parts else {
                    out.push_str(&slot(key));
                    return;
                };
                let n = match links.iter().find(|(_, u)| u == url) {
                    Some((n, _)) => *n,
                    None => {
                        let n = links.len() as i64 + 1;
                        links.push((n, url.to_string()));
                        n
                    }
                };
                super::escape_html_into(&format!("{base}{id}/{n}"), out);
            },
        );
        let prepared = Prepared {
            html,
            ..self.clone()
        };
        (prepared, links)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{EmailKind, Recipient};

    const PUBLIC: &str = "https://news.example.com";

    fn prepared(html: &str) -> Prepared {
        Prepared {
            subject: "s".into(),
            html: html.into(),
            text: "See https://example.com/a".into(),
            kind: EmailKind::Post,
        }
    }

    #[test]
    fn links_are_numbered_per_campaign_and_the_same_for_everyone() {
        let unsub = slot("unsubscribe_url");
        let html = format!(
            "<p><a href=\"https://example.com/a?x=1&amp;y=2\">A</a> \
             <A class=\"b\" HREF='https://example.com/b'>B</A> \
             <a href=\"https://example.com/a?x=1&amp;y=2\">A again</a> \
             <a href=\"{unsub}\">Unsubscribe</a> \
             <a href=\"mailto:me@example.com\">mail</a> <a href=\"#top\">top</a> \
             <a href=\"{PUBLIC}/preferences/abc\">prefs</a> \
             <link href=\"https://example.com/style.css\"> \
             <abbr title=\"x\">y</abbr></p>"
        );
        let tracked = track(&html, PUBLIC);
        let p = prepared(&tracked);
        let (campaign, links) = p.with_clicks(42);
        assert_eq!(
            links,
            vec![
                (1, "https://example.com/a?x=1&y=2".to_string()),
                (2, "https://example.com/b".to_string()),
            ]
        );
        let h = &campaign.html;
        assert_eq!(
            h.matches("https://news.example.com/c/42/1").count(),
            2,
            "{h}"
        );
        assert!(h.contains("HREF='https://news.example.com/c/42/2'"), "{h}");
        assert!(h.contains("mailto:me@example.com") && h.contains("href=\"#top\""));
        assert!(h.contains("https://example.com/style.css"));
        assert!(h.contains(&format!("{PUBLIC}/preferences/abc")));
        assert!(h.contains(&unsub), "the reader's own slot stays a slot");
        assert_eq!(campaign.text, "See https://example.com/a");
        // Two readers get the same links: only the unsubscribe slot differs.
        let r = |t: &str| Recipient {
            unsubscribe_url: format!("{PUBLIC}/unsubscribe/{t}"),
            ..Default::default()
        };
        let a = campaign.personalize(&r("one")).html;
        let b = campaign.personalize(&r("two")).html;
        assert_eq!(a.replace("one", "two"), b);
    }

    #[test]
    fn without_a_campaign_a_link_is_the_original() {
        let p = prepared(&track(
            "<a href=\"https://example.com/x?a=1&amp;b=2\">x</a>",
            PUBLIC,
        ));
        let html = p.personalize(&Recipient::default()).html;
        assert_eq!(html, "<a href=\"https://example.com/x?a=1&amp;b=2\">x</a>");
        assert_eq!(p.public_html(), html);
    }

    #[test]
    fn nothing_to_count_changes_nothing() {
        let html =
            "<p>No links. <a name=\"x\">anchor</a> <a href=\"javascript:alert(1)\">j</a></p>";
        assert_eq!(track(html, PUBLIC), html);
        let (p, links) = prepared(html).with_clicks(1);
        assert!(links.is_empty());
        assert_eq!(p.html, html);
    }
}
