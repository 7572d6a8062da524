//! Feed HTML (foreign HTML) made safe, and its plain text. The body of a
//! feed item is sanitised once, when it is read (`sanitize::sanitize`: no
//! script, style, iframe, form, event handler or `javascript:` URL; its
//! relative URLs resolved against the item's `xml:base` or link). The
//! text part of an email is derived from that sanitised HTML here:
//! ammonia's output is well-formed (attributes double-quoted, `<`, `>`,
//! `&` and quotes escaped in text), so a small scanner reads it exactly.

use url::Url;

use crate::util::text::squeeze_blank_lines;

/// Sanitise a feed item's HTML against `base`.
pub fn sanitize(html: &str, base: &Url) -> String {
    super::sanitize::sanitize(html, base)
}

/// Plain text (HTML a feed gave as a title or summary): tags dropped,
/// entities decoded, whitespace collapsed.
pub fn plain(html: &str) -> String {
    let clean = ammonia::Builder::empty().clean(html).to_string();
    crate::util::text::collapse_whitespace(&decode(&clean))
}

/// Text for the text/plain part: paragraphs and headings apart, list
/// items with dashes, links as `text <url>`, images as `[image: alt] <url>`,
/// preformatted text kept, indented.
pub fn to_text(html: &str) -> String {
    text_with(html, false)
}

/// The prose of HTML on one line (no link targets, no images): for a
/// summary derived from the content.
pub fn prose(html: &str) -> String {
    crate::util::text::collapse_whitespace(&text_with(html, true))
}

fn text_with(html: &str, bare: bool) -> String {
    let mut w = Writer {
        bare,
        ..Writer::default()
    };
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        w.text(&rest[..lt]);
        let Some(gt) = rest[lt..].find('>') else {
            rest = &rest[lt..];
            break;
        };
        w.tag(&rest[lt + 1..lt + gt]);
        rest = &rest[lt + gt + 1..];
    }
    w.text(rest);
    squeeze_blank_lines(&w.out, &[]).trim().to_string()
}

#[derive(Default)]
struct Writer {
    out: String,
    /// `href`s of the open links.
    links: Vec<Option<String>>,
    /// Inside `<pre>`.
    pre: usize,
    /// Open `<ol>` counters (`None`: `<ul>`).
    lists: Vec<Option<u64>>,
    /// Prose only: no link targets, no images.
    bare: bool,
}

impl Writer {
    fn text(&mut self, raw: &str) {
        let t = decode(raw);
        if self.pre > 0 {
            self.out.push_str(&t.replace('\n', "\n    "));
            return;
        }
        let mut space = self.out.ends_with([' ', '\n']) || self.out.is_empty();
        for c in t.chars() {
            if c.is_whitespace() {
                if !space {
                    self.out.push(' ');
                    space = true;
                }
            } else {
                self.out.push(c);
                space = false;
            }
        }
    }

    fn block(&mut self) {
        while self.out.ends_with(' ') {
            self.out.pop();
        }
        self.out.push_str("\n\n");
    }

    fn tag(&mut self, inner: &str) {
        let closing = inner.starts_with('/');
        let inner = inner.trim_start_matches('/');
        let name: String = inner
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match (name.as_str(), closing) {
            ("p" | "div" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "blockquote" | "table", _)
            | ("figure" | "ul" | "ol" | "hr" | "tr", _) => {
                self.block();
                if name == "hr" {
                    self.out.push_str("----\n\n");
                }
                match (name.as_str(), closing) {
                    ("ul", false) => self.lists.push(None),
                    ("ol", false) => self.lists.push(Some(1)),
                    ("ul" | "ol", true) => {
                        self.lists.pop();
                    }
                    _ => {}
                }
            }
            ("br", _) => self.out.push('\n'),
            ("li", false) => {
                while self.out.ends_with(' ') {
                    self.out.pop();
                }
                if !self.out.is_empty() && !self.out.ends_with('\n') {
                    self.out.push('\n');
                }
                self.out
                    .push_str(&"  ".repeat(self.lists.len().saturating_sub(1)));
                match self.lists.last_mut() {
                    Some(Some(n)) => {
                        self.out.push_str(&format!("{n}. "));
                        *n += 1;
                    }
                    _ => self.out.push_str("- "),
                }
            }
            ("pre", false) => {
                self.block();
                self.out.push_str("    ");
                self.pre += 1;
            }
            ("pre", true) => {
                self.pre = self.pre.saturating_sub(1);
                self.block();
            }
            ("a", false) => self.links.push(attr(inner, "href")),
            ("a", true) => {
                if let Some(Some(href)) = self.links.pop() {
                    if !href.starts_with('#') && !self.bare {
                        self.out.push_str(&format!(" <{href}>"));
                    }
                }
            }
            ("img", _) if !self.bare => {
                let alt = attr(inner, "alt").unwrap_or_default();
                self.out.push_str(&format!("[image: {alt}]"));
                if let Some(src) = attr(inner, "src") {
                    self.out.push_str(&format!(" <{src}>"));
                }
            }
            ("td" | "th", true) => self.out.push_str(" | "),
            _ => {}
        }
    }
}

/// The decoded value of attribute `name` in a tag's inside (as ammonia
/// writes it: `name="value"`).
fn attr(inner: &str, name: &str) -> Option<String> {
    let pat = format!(" {name}=\"");
    let start = inner.find(&pat)? + pat.len();
    let end = start + inner[start..].find('"')?;
    Some(decode(&inner[start..end]))
}

/// Decode the entities of text (named ones ammonia writes, and numeric).
fn decode(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| entity(&rest[1..e]));
        match (end, decoded) {
            (Some(e), Some(c)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        _ => {
            let n = name.strip_prefix('#')?;
            let code = match n.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => n.parse().ok()?,
            };
            return char::from_u32(code);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_of_sanitised_html() {
        let base = Url::parse("https://blog.example/posts/one/").unwrap();
        let html = sanitize(
            "<h2>Head &amp; more</h2><p>A <a href=\"../two/\">link</a> and<br>a break.</p>\
             <ul><li>one</li><li>two</li></ul><ol><li>first</li></ol>\
             <pre><code>fn x() {\n  y &lt; 1\n}</code></pre><p><img src=\"pic.png\" alt=\"A pic\"></p>",
            &base,
        );
        let text = to_text(&html);
        assert_eq!(
            text,
            "Head & more\n\nA link <https://blog.example/posts/two/> and\na break.\n\n\
             - one\n- two\n\n1. first\n\n    fn x() {\n      y < 1\n    }\n\n\
             [image: A pic] <https://blog.example/posts/one/pic.png>"
        );
    }

    #[test]
    fn plain_decodes_and_strips() {
        assert_eq!(
            plain("Caf&eacute;? <b>Fish</b> &amp; &#8220;chips&#x201D;"),
            "Café? Fish & “chips”"
        );
    }
}
