//! Highlighted code for email: syntect's built-in syntaxes (plus a small
//! TOML grammar) and themes, written as inline `style="color:…"` spans
//! (email clients keep no classes or `<style>` blocks). Unknown languages
//! give `None`: the caller keeps the code plain.

use std::fmt::Write as _;
use std::sync::OnceLock;

use crate::util::text::escape_html_into;
use syntect::easy::HighlightLines;
use syntect::highlighting::{Color, FontStyle, Style, Theme, ThemeSet};
use syntect::parsing::{SyntaxDefinition, SyntaxReference, SyntaxSet};
use syntect::util::LinesWithEndings;

/// The theme used when `[render] code_theme` is not set: dark text on a
/// light background, readable on white.
pub const DEFAULT_THEME: &str = "InspiredGitHub";

/// Code longer than this is left plain (highlighting is linear, but a
/// megabyte of code in an email is not worth the time).
const MAX_CODE: usize = 256 * 1024;

const TOML_SYNTAX: &str = include_str!("syntaxes/TOML.sublime-syntax");

fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(|| {
        let mut builder = SyntaxSet::load_defaults_newlines().into_builder();
        let toml = SyntaxDefinition::load_from_str(TOML_SYNTAX, true, Some("TOML"))
            .expect("the built-in TOML grammar parses");
        builder.add(toml);
        builder.build()
    })
}

fn themes() -> &'static ThemeSet {
    static SET: OnceLock<ThemeSet> = OnceLock::new();
    SET.get_or_init(ThemeSet::load_defaults)
}

/// The names `[render] code_theme` accepts.
pub fn theme_names() -> Vec<&'static str> {
    themes().themes.keys().map(String::as_str).collect()
}

pub fn theme_exists(name: &str) -> bool {
    themes().themes.contains_key(name)
}

/// The syntax of a fence's language (`rust`, `rs`, `go`, `py`, `sh`,
/// `shell`, `toml`, `yaml`, `json`…), if syntect knows it.
fn syntax_for(lang: &str) -> Option<&'static SyntaxReference> {
    let lang = lang.trim().to_ascii_lowercase();
    let token = match lang.as_str() {
        "" | "text" | "txt" | "plain" | "plaintext" | "none" => return None,
        "shell" | "console" | "zsh" | "sh" | "bash" | "shellscript" => "bash",
        "golang" => "go",
        "py3" | "python3" => "python",
        "jsonc" | "json5" => "json",
        "yml" => "yaml",
        "rs" => "rust",
        other => other,
    };
    let set = syntaxes();
    set.find_syntax_by_token(token)
        .or_else(|| set.find_syntax_by_extension(token))
}

/// Whether `lang` is highlighted.
pub fn knows(lang: &str) -> bool {
    syntax_for(lang).is_some()
}

/// `code` in `lang` as `<pre>` with inline-styled spans in `theme`, or
/// `None` when the language (or the theme) is unknown or the code too long.
/// Long lines wrap (`pre-wrap`): a 320 px screen shows them whole.
pub fn highlight(code: &str, lang: &str, theme: &str) -> Option<String> {
    if code.len() > MAX_CODE {
        return None;
    }
    let syntax = syntax_for(lang)?;
    let theme = themes().themes.get(theme)?;
    let mut h = HighlightLines::new(syntax, theme);
    let fg = theme.settings.foreground.unwrap_or(Color::BLACK);
    let bg = theme.settings.background.unwrap_or(Color::WHITE);
    let mut out = String::with_capacity(code.len() * 3);
    let _ = write!(out, "<pre style=\"{}\"><code>", pre_style(fg, bg));
    let mut pending: Option<(Style, String)> = None;
    for line in LinesWithEndings::from(code) {
        let regions = h.highlight_line(line, syntaxes()).ok()?;
        for (style, text) in regions {
            match &mut pending {
                Some((s, t)) if same_look(s, &style, text) => t.push_str(text),
                _ => {
                    if let Some((s, t)) = pending.take() {
                        span(&mut out, &s, &t, fg);
                    }
                    pending = Some((style, text.to_string()));
                }
            }
        }
    }
    if let Some((s, t)) = pending {
        span(&mut out, &s, &t, fg);
    }
    out.push_str("</code></pre>");
    Some(out)
}

/// The block's own style: the theme's colours, wrapping, monospace.
fn pre_style(fg: Color, bg: Color) -> String {
    format!(
        "background-color:{};color:{};padding:12px;border-radius:4px;overflow-x:auto;\
         white-space:pre-wrap;word-wrap:break-word;overflow-wrap:anywhere;\
         font-family:Menlo,Consolas,'Courier New',monospace;font-size:13px;line-height:1.45;margin:0 0 16px 0",
        hex(bg),
        hex(fg)
    )
}

/// Two regions look alike (whitespace looks like anything).
fn same_look(a: &Style, b: &Style, text: &str) -> bool {
    text.trim().is_empty() || (a.foreground == b.foreground && a.font_style == b.font_style)
}

/// One run of text, in a span unless it has the block's own colour and no
/// font style.
fn span(out: &mut String, style: &Style, text: &str, fg: Color) {
    let plain = style.foreground == fg && style.font_style.is_empty();
    if plain || text.trim().is_empty() {
        escape_html_into(text, out);
        return;
    }
    let _ = write!(out, "<span style=\"color:{}", hex(style.foreground));
    if style.font_style.contains(FontStyle::BOLD) {
        out.push_str(";font-weight:bold");
    }
    if style.font_style.contains(FontStyle::ITALIC) {
        out.push_str(";font-style:italic");
    }
    if style.font_style.contains(FontStyle::UNDERLINE) {
        out.push_str(";text-decoration:underline");
    }
    out.push_str("\">");
    escape_html_into(text, out);
    out.push_str("</span>");
}

fn hex(c: Color) -> String {
    format!("#{:02x}{:02x}{:02x}", c.r, c.g, c.b)
}

/// Plain code in the same block style as highlighted code (for unknown
/// languages inside a `highlight` shortcode).
pub fn plain(code: &str, theme: &str) -> String {
    let (fg, bg) = match themes().themes.get(theme) {
        Some(Theme { settings, .. }) => (
            settings.foreground.unwrap_or(Color::BLACK),
            settings.background.unwrap_or(Color::WHITE),
        ),
        None => (Color::BLACK, Color::WHITE),
    };
    let mut out = format!("<pre style=\"{}\"><code>", pre_style(fg, bg));
    escape_html_into(code, &mut out);
    out.push_str("</code></pre>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_promised_language_is_highlighted_inline() {
        for (lang, code) in [
            ("rust", "fn main() { let x = 1; println!(\"{x}\"); }\n"),
            ("go", "package main\nfunc main() { fmt.Println(\"hi\") }\n"),
            ("python", "def f(x):\n    return x + 1  # one\n"),
            ("sh", "for f in *.md; do echo \"$f\"; done\n"),
            ("shell", "export A=1 && ls -la\n"),
            ("toml", "[package]\nname = \"gazette\" # n\nversion = 1\n"),
            ("yaml", "key: value\nlist:\n  - 1\n"),
            ("json", "{\"a\": [1, true, null]}\n"),
        ] {
            let html = highlight(code, lang, DEFAULT_THEME)
                .unwrap_or_else(|| panic!("{lang} not highlighted"));
            assert!(html.contains("<span style=\"color:#"), "{lang}: {html}");
            assert!(!html.contains("class="), "{lang}: {html}");
        }
    }

    #[test]
    fn unknown_languages_and_themes_stay_plain() {
        assert!(highlight("x", "klingon", DEFAULT_THEME).is_none());
        assert!(highlight("x", "text", DEFAULT_THEME).is_none());
        assert!(highlight("fn x() {}", "rust", "No Such Theme").is_none());
        assert!(theme_exists(DEFAULT_THEME));
    }

    #[test]
    fn the_config_lists_exactly_the_built_in_themes() {
        let mut names = theme_names();
        names.sort_unstable();
        let mut listed = crate::config::CODE_THEMES.to_vec();
        listed.sort_unstable();
        assert_eq!(names, listed);
    }

    #[test]
    fn code_is_escaped() {
        let html = highlight("let s = \"<script>&\";\n", "rust", DEFAULT_THEME).unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;&amp;"), "{html}");
        let p = plain("<b>", DEFAULT_THEME);
        assert!(p.contains("&lt;b&gt;"), "{p}");
    }
}
