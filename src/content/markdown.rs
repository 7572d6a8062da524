//! Markdown to HTML (links made absolute) and plain-text summaries.

use pulldown_cmark::{CodeBlockKind, CowStr, Event, Options, Parser, Tag, TagEnd};
use url::Url;

use crate::util::text::{collapse_whitespace, squeeze_blank_lines};

pub const MORE_MARKER: &str = "<!-- more -->";
/// Summaries are cut on a word boundary at about this many characters.
pub const SUMMARY_CHARS: usize = 300;

pub(crate) fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_TASKLISTS
}

/// Render Markdown to HTML, resolving relative link and image targets
/// against `base` (the post's own URL): an email has no base URL.
pub fn to_html(markdown: &str, base: &Url) -> String {
    to_html_within(markdown, base, usize::MAX).expect("no limit")
}

/// `to_html`, or `None` as soon as the HTML passes `max` bytes: the rest
/// is not rendered, so a huge post costs at most `max` bytes of memory.
pub fn to_html_within(markdown: &str, base: &Url, max: usize) -> Option<String> {
    to_html_with(markdown, base, max, &mut |_, _| None)
}

/// `to_html_within`, where `code(language, text)` may replace a fenced
/// code block with a language by raw HTML of its own.
pub fn to_html_with(
    markdown: &str,
    base: &Url,
    max: usize,
    code: &mut dyn FnMut(&str, &str) -> Option<String>,
) -> Option<String> {
    let mut fence: Option<(String, String)> = None;
    let parser = Parser::new_ext(markdown, options()).filter_map(|event| match event {
        Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(ref info)))
            if !info.trim().is_empty() =>
        {
            let lang = info.split([' ', ',', '{']).next().unwrap_or("").to_string();
            fence = Some((lang, String::new()));
            None
        }
        Event::Text(t) if fence.is_some() => {
            if let Some((_, text)) = fence.as_mut() {
                text.push_str(&t);
            }
            None
        }
        Event::End(TagEnd::CodeBlock) if fence.is_some() => {
            let (lang, text) = fence.take().expect("checked");
            Some(match code(&lang, &text) {
                Some(html) => Event::Html(CowStr::from(html)),
                None => Event::Html(CowStr::from(plain_code(&lang, &text))),
            })
        }
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Some(Event::Start(Tag::Link {
            link_type,
            dest_url: absolutize(dest_url, base),
            title,
            id,
        })),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Some(Event::Start(Tag::Image {
            link_type,
            dest_url: absolutize(dest_url, base),
            title,
            id,
        })),
        other => Some(other),
    });
    let mut out = Capped {
        out: String::with_capacity((markdown.len() * 3 / 2).min(max.saturating_add(1))),
        max,
    };
    pulldown_cmark::html::write_html_fmt(&mut out, parser).ok()?;
    Some(out.out)
}

/// A fenced code block as pulldown-cmark writes it.
fn plain_code(lang: &str, text: &str) -> String {
    let mut out = String::from("<pre><code class=\"language-");
    crate::util::text::escape_html_into(lang, &mut out);
    out.push_str("\">");
    crate::util::text::escape_html_into(text, &mut out);
    out.push_str("</code></pre>\n");
    out
}

/// A `String` that refuses to grow past `max` bytes.
struct Capped {
    out: String,
    max: usize,
}

impl std::fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.out.len().saturating_add(s.len()) > self.max {
            return Err(std::fmt::Error);
        }
        self.out.push_str(s);
        Ok(())
    }
}

/// Render Markdown to readable plain text for the text/plain part: links
/// as `text <url>`, lists with dashes, code blocks indented, footnotes last.
pub fn to_text(markdown: &str, base: &Url) -> String {
    let mut w = TextWriter {
        out: String::with_capacity(markdown.len()),
        base,
        links: Vec::new(),
        list_stack: Vec::new(),
        in_code: false,
        quote: 0,
    };
    for event in Parser::new_ext(markdown, options()) {
        match event {
            Event::Start(tag) => w.start(tag),
            Event::End(tag) => w.end(tag),
            other => w.inline(other),
        }
    }
    // At most one blank line in a row, no trailing spaces.
    squeeze_blank_lines(&w.out, &[">"]).trim().to_string()
}

/// The state of `to_text` while it walks the events.
struct TextWriter<'a> {
    out: String,
    base: &'a Url,
    /// Targets of the links and images being written.
    links: Vec<String>,
    /// Open lists: the next number of an ordered list, `None` for bullets.
    list_stack: Vec<Option<u64>>,
    in_code: bool,
    /// Block quote depth: every new line starts with this many `> `.
    quote: usize,
}

impl TextWriter<'_> {
    fn newline(&mut self) {
        self.out.push('\n');
        for _ in 0..self.quote {
            self.out.push_str("> ");
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::BlockQuote(_) => {
                self.quote += 1;
                self.out.push_str("> ");
            }
            Tag::CodeBlock(_) => self.in_code = true,
            Tag::List(start) => self.list_stack.push(start),
            Tag::Item => self.item(),
            Tag::Link { dest_url, .. } => {
                self.links.push(text_target(dest_url, self.base));
            }
            Tag::Image { dest_url, .. } => {
                self.out.push_str("[image: ");
                self.links.push(text_target(dest_url, self.base));
            }
            Tag::FootnoteDefinition(label) => self.out.push_str(&format!("[{label}]: ")),
            Tag::TableCell => self.out.push_str("| "),
            _ => {}
        }
    }

    fn item(&mut self) {
        let depth = self.list_stack.len().saturating_sub(1);
        if !self.out.ends_with('\n') {
            self.newline();
        }
        self.out.push_str(&"  ".repeat(depth));
        match self.list_stack.last_mut() {
            Some(Some(n)) => {
                let marker = format!("{n}. ");
                *n += 1;
                self.out.push_str(&marker);
            }
            _ => self.out.push_str("- "),
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Heading(_) | TagEnd::Paragraph => {
                self.newline();
                self.newline();
            }
            TagEnd::BlockQuote(_) => {
                self.quote = self.quote.saturating_sub(1);
                self.newline();
            }
            TagEnd::CodeBlock => {
                self.in_code = false;
                self.newline();
            }
            TagEnd::List(_) => {
                self.list_stack.pop();
                if self.list_stack.is_empty() {
                    self.newline();
                }
            }
            TagEnd::Item if !self.out.ends_with('\n') => self.newline(),
            TagEnd::Link => match self.links.pop() {
                Some(url) if !url.is_empty() => self.out.push_str(&format!(" <{url}>")),
                _ => {}
            },
            TagEnd::Image => match self.links.pop() {
                Some(url) if !url.is_empty() => self.out.push_str(&format!("] <{url}>")),
                _ => self.out.push(']'),
            },
            TagEnd::TableCell => self.out.push(' '),
            TagEnd::TableHead | TagEnd::TableRow => {
                self.out.push('|');
                self.newline();
            }
            TagEnd::Table => self.newline(),
            _ => {}
        }
    }

    fn inline(&mut self, event: Event<'_>) {
        match event {
            Event::FootnoteReference(label) => self.out.push_str(&format!("[{label}]")),
            Event::TaskListMarker(done) => self.out.push_str(if done { "[x] " } else { "[ ] " }),
            Event::Rule => {
                self.out.push_str("----");
                self.newline();
                self.newline();
            }
            Event::Text(t) if self.in_code => {
                for line in t.split_inclusive('\n') {
                    self.out.push_str("    ");
                    self.out.push_str(line);
                }
            }
            Event::Text(t) | Event::Code(t) => self.out.push_str(&t),
            Event::SoftBreak => self.out.push(' '),
            Event::HardBreak => self.newline(),
            _ => {}
        }
    }
}

/// Elements nested deeper than this are refused: renderers downstream
/// (the CSS inliner) recurse once per level.
pub const MAX_NESTING: usize = 64;

/// The byte offset of the first element nested deeper than `max` levels
/// (Markdown blocks and inlines, and tags of raw HTML), if any.
pub fn too_deep(markdown: &str, max: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (event, range) in Parser::new_ext(markdown, options()).into_offset_iter() {
        match event {
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Html(h) | Event::InlineHtml(h) => {
                let (opened, closed) = html_tags(&h);
                if depth + opened > max {
                    return Some(range.start);
                }
                depth = (depth + opened).saturating_sub(closed);
            }
            _ => {}
        }
        if depth > max {
            return Some(range.start);
        }
    }
    None
}

/// Tags opened and closed in a fragment of raw HTML (void and
/// self-closing elements count as neither).
fn html_tags(html: &str) -> (usize, usize) {
    const VOID: &[&str] = &[
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr",
    ];
    let (mut opened, mut closed) = (0, 0);
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        if rest.starts_with('/') {
            closed += 1;
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        let end = rest.find('>').unwrap_or(rest.len());
        if !name.is_empty() && !VOID.contains(&name.as_str()) && !rest[..end].ends_with('/') {
            opened += 1;
        }
    }
    (opened, closed)
}

/// A link target as the text part shows it: absolute, and only with a
/// scheme `sanitize` allows (empty otherwise: `javascript:` is not shown).
fn text_target(dest: CowStr<'_>, base: &Url) -> String {
    let url = absolutize(dest, base);
    match url.split_once(':') {
        Some((scheme, _)) if has_scheme(&url) => {
            let scheme = scheme.to_ascii_lowercase();
            if super::sanitize::URL_SCHEMES.contains(&scheme.as_str()) {
                url.to_string()
            } else {
                String::new()
            }
        }
        _ => url.to_string(),
    }
}

/// Make `dest` absolute against `base`; absolute URLs (any scheme) stay.
pub fn absolutize<'a>(dest: CowStr<'a>, base: &Url) -> CowStr<'a> {
    if dest.is_empty() || has_scheme(&dest) {
        return dest;
    }
    match base.join(&dest) {
        Ok(u) => CowStr::from(u.to_string()),
        Err(_) => dest,
    }
}

fn has_scheme(s: &str) -> bool {
    match s.find(':') {
        Some(i) if i > 0 => {
            let scheme = &s[..i];
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && !s[..i].contains('/')
        }
        _ => false,
    }
}

/// The summary of a post body when the front matter gives none: the text
/// before `<!-- more -->`, else the first paragraph, as plain text, cut on a
/// word boundary at about `SUMMARY_CHARS` characters.
pub fn summary(markdown: &str) -> String {
    let text = match markdown.find(MORE_MARKER) {
        Some(i) => plain_text(&markdown[..i], false),
        None => plain_text(markdown, true),
    };
    truncate_words(&text, SUMMARY_CHARS)
}

/// Plain text of Markdown; with `first_paragraph`, only the first paragraph.
pub fn plain_text(markdown: &str, first_paragraph: bool) -> String {
    let mut out = String::new();
    let mut in_paragraph = false;
    let mut skip_depth = 0usize;
    for event in Parser::new_ext(markdown, options()) {
        match event {
            Event::Start(Tag::Paragraph) => in_paragraph = true,
            Event::End(TagEnd::Paragraph) => {
                in_paragraph = false;
                if first_paragraph && !out.trim().is_empty() {
                    break;
                }
                out.push(' ');
            }
            Event::End(TagEnd::Heading(_)) | Event::End(TagEnd::Item) => out.push(' '),
            Event::Start(Tag::FootnoteDefinition(_)) | Event::Start(Tag::CodeBlock(_)) => {
                skip_depth += 1
            }
            Event::End(TagEnd::FootnoteDefinition) | Event::End(TagEnd::CodeBlock) => {
                skip_depth = skip_depth.saturating_sub(1)
            }
            Event::Text(t) | Event::Code(t)
                if skip_depth == 0 && (!first_paragraph || in_paragraph) =>
            {
                out.push_str(&t)
            }
            Event::SoftBreak | Event::HardBreak if skip_depth == 0 => out.push(' '),
            _ => {}
        }
    }
    collapse_whitespace(&out)
}

/// Cut `text` to at most about `max` characters on a word boundary, adding
/// an ellipsis when something was cut.
pub fn truncate_words(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut = text
        .char_indices()
        .nth(max)
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    let head = &text[..cut];
    let head = match head.rfind(char::is_whitespace) {
        Some(i) if i > max / 2 => &head[..i],
        _ => head,
    };
    let head = head.trim_end_matches(|c: char| c.is_whitespace() || ",;:-–—".contains(c));
    format!("{head}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://example.com/blog/my-post/").unwrap()
    }

    #[test]
    fn relative_links_and_images_become_absolute() {
        let html = to_html(
            "[a](other/) [b](/about) [c](../x/) [d](#top) ![i](img/p.png) [e](https://x.org/) [m](mailto:a@b.c) [p](//cdn.example.net/x.js)",
            &base(),
        );
        assert!(
            html.contains(r#"href="https://example.com/blog/my-post/other/""#),
            "{html}"
        );
        assert!(
            html.contains(r#"href="https://example.com/about""#),
            "{html}"
        );
        assert!(
            html.contains(r#"href="https://example.com/blog/x/""#),
            "{html}"
        );
        assert!(
            html.contains(r#"href="https://example.com/blog/my-post/#top""#),
            "{html}"
        );
        assert!(
            html.contains(r#"src="https://example.com/blog/my-post/img/p.png""#),
            "{html}"
        );
        assert!(html.contains(r#"href="https://x.org/""#));
        assert!(html.contains(r#"href="mailto:a@b.c""#));
        assert!(
            html.contains(r#"href="https://cdn.example.net/x.js""#),
            "{html}"
        );
    }

    #[test]
    fn extensions_are_on() {
        let html = to_html(
            "| a | b |\n|---|---|\n| 1 | 2 |\n\n~~gone~~\n\n- [x] done\n\nNote[^1].\n\n[^1]: The note.\n",
            &base(),
        );
        assert!(html.contains("<table>"), "{html}");
        assert!(html.contains("<del>gone</del>"), "{html}");
        assert!(html.contains(r#"type="checkbox""#), "{html}");
        assert!(html.contains("footnote"), "{html}");
    }

    #[test]
    fn text_rendering_is_readable() {
        let t = to_text(
            "# Title\n\nSee [docs](guide/) now.\n\n- one\n- two\n\n```go\nfunc main() {}\n```\n\n> quoted\n",
            &base(),
        );
        assert!(
            t.contains("Title\n\nSee docs <https://example.com/blog/my-post/guide/> now."),
            "{t}"
        );
        assert!(t.contains("- one\n- two"), "{t}");
        assert!(t.contains("    func main() {}"), "{t}");
        assert!(t.contains("> quoted"), "{t}");
        let t = to_text(
            "[a](javascript:alert(1)) [b](JavaScript:x) ![c](data:image/png;base64,AA) [d](mailto:a@b.c)",
            &base(),
        );
        assert_eq!(t, "a b [image: c] d <mailto:a@b.c>");
    }

    #[test]
    fn summary_uses_more_marker() {
        let md = "First *part*.\n\nSecond part.\n\n<!-- more -->\n\nHidden.";
        assert_eq!(summary(md), "First part. Second part.");
    }

    #[test]
    fn summary_falls_back_to_first_paragraph() {
        let md = "# Heading\n\nThe `first` [paragraph](x)\nwraps here.\n\nThe second.";
        assert_eq!(summary(md), "The first paragraph wraps here.");
    }

    #[test]
    fn summary_cuts_on_word_boundary() {
        let word = "lorem ";
        let md = word.repeat(100);
        let s = summary(&md);
        assert!(s.ends_with("lorem…"), "{s}");
        assert!(s.chars().count() <= SUMMARY_CHARS + 1);
        assert!(s.chars().count() > SUMMARY_CHARS - 10);
    }

    #[test]
    fn deep_nesting_is_found() {
        let deep = ">".repeat(10_000) + " x\n";
        assert!(too_deep(&deep, MAX_NESTING).is_some());
        let html = "<div>".repeat(500) + "x" + &"</div>".repeat(500);
        assert!(too_deep(&html, MAX_NESTING).is_some());
        let fine = "> quote\n>> deeper\n\n- a\n  - b\n    - c <br> <img src=x>\n";
        assert_eq!(too_deep(fine, MAX_NESTING), None);
        // Bounded depth also bounds to_text's work.
        let ok = ">".repeat(MAX_NESTING / 2) + " x\n";
        assert!(to_text(&ok, &base()).contains('x'));
    }

    #[test]
    fn truncate_keeps_short_text() {
        assert_eq!(truncate_words("short text", 300), "short text");
    }
}
