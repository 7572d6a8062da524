//! Markdown to HTML (links made absolute) and plain-text summaries.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd};
use url::Url;

pub const MORE_MARKER: &str = "<!-- more -->";
/// Summaries are cut on a word boundary at about this many characters.
pub const SUMMARY_CHARS: usize = 300;

fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_TASKLISTS
}

/// Render Markdown to HTML, resolving relative link and image targets
/// against `base` (the post's own URL): an email has no base URL.
pub fn to_html(markdown: &str, base: &Url) -> String {
    let parser = Parser::new_ext(markdown, options()).map(|event| match event {
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: absolutize(dest_url, base),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: absolutize(dest_url, base),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut out, parser);
    out
}

/// Render Markdown to readable plain text for the text/plain part: links
/// as `text <url>`, lists with dashes, code blocks indented, footnotes last.
pub fn to_text(markdown: &str, base: &Url) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut links: Vec<String> = Vec::new();
    let mut list_stack: Vec<Option<u64>> = Vec::new();
    let mut in_code = false;
    let mut quote = 0usize;
    let newline = |out: &mut String, quote: usize| {
        out.push('\n');
        for _ in 0..quote {
            out.push_str("> ");
        }
    };
    for event in Parser::new_ext(markdown, options()) {
        match event {
            Event::Start(Tag::Heading { .. }) => {}
            Event::End(TagEnd::Heading(_)) | Event::End(TagEnd::Paragraph) => {
                newline(&mut out, quote);
                newline(&mut out, quote);
            }
            Event::Start(Tag::BlockQuote(_)) => {
                quote += 1;
                out.push_str("> ");
            }
            Event::End(TagEnd::BlockQuote(_)) => {
                quote = quote.saturating_sub(1);
                newline(&mut out, quote);
            }
            Event::Start(Tag::CodeBlock(_)) => in_code = true,
            Event::End(TagEnd::CodeBlock) => {
                in_code = false;
                newline(&mut out, quote);
            }
            Event::Start(Tag::List(start)) => list_stack.push(start),
            Event::End(TagEnd::List(_)) => {
                list_stack.pop();
                if list_stack.is_empty() {
                    newline(&mut out, quote);
                }
            }
            Event::Start(Tag::Item) => {
                let depth = list_stack.len().saturating_sub(1);
                if !out.ends_with('\n') {
                    newline(&mut out, quote);
                }
                out.push_str(&"  ".repeat(depth));
                match list_stack.last_mut() {
                    Some(Some(n)) => {
                        out.push_str(&format!("{n}. "));
                        *n += 1;
                    }
                    _ => out.push_str("- "),
                }
            }
            Event::End(TagEnd::Item) if !out.ends_with('\n') => newline(&mut out, quote),
            Event::Start(Tag::Link { dest_url, .. }) => {
                links.push(absolutize(dest_url, base).to_string());
            }
            Event::End(TagEnd::Link) => {
                if let Some(url) = links.pop() {
                    out.push_str(&format!(" <{url}>"));
                }
            }
            Event::Start(Tag::Image { dest_url, .. }) => {
                out.push_str("[image: ");
                links.push(absolutize(dest_url, base).to_string());
            }
            Event::End(TagEnd::Image) => {
                if let Some(url) = links.pop() {
                    out.push_str(&format!("] <{url}>"));
                }
            }
            Event::Start(Tag::FootnoteDefinition(label)) => out.push_str(&format!("[{label}]: ")),
            Event::FootnoteReference(label) => out.push_str(&format!("[{label}]")),
            Event::TaskListMarker(done) => out.push_str(if done { "[x] " } else { "[ ] " }),
            Event::Start(Tag::TableCell) => out.push_str("| "),
            Event::End(TagEnd::TableCell) => out.push(' '),
            Event::End(TagEnd::TableHead) | Event::End(TagEnd::TableRow) => {
                out.push('|');
                newline(&mut out, quote);
            }
            Event::End(TagEnd::Table) => newline(&mut out, quote),
            Event::Rule => {
                out.push_str("----");
                newline(&mut out, quote);
                newline(&mut out, quote);
            }
            Event::Text(t) => {
                if in_code {
                    for line in t.split_inclusive('\n') {
                        out.push_str("    ");
                        out.push_str(line);
                    }
                } else {
                    out.push_str(&t);
                }
            }
            Event::Code(t) => out.push_str(&t),
            Event::SoftBreak => out.push(' '),
            Event::HardBreak => newline(&mut out, quote),
            _ => {}
        }
    }
    // At most one blank line in a row, no trailing spaces.
    let mut clean = String::with_capacity(out.len());
    let mut blank = 0;
    for line in out.lines() {
        let line = line.trim_end();
        if line.is_empty() || line == ">" {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        clean.push_str(line);
        clean.push('\n');
    }
    clean.trim().to_string()
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

pub fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
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
    fn truncate_keeps_short_text() {
        assert_eq!(truncate_words("short text", 300), "short text");
    }
}
