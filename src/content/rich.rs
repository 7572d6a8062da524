//! A post body as an email shows it: shortcodes rendered (by the caller's
//! [`Expander`], the templates), fenced code highlighted, the author's HTML
//! sanitised. What Gazette generates itself (highlighted code, shortcode
//! output) is put in after the author's HTML was sanitised, through
//! placeholders the author cannot guess; shortcode output is sanitised on
//! its own with inline styles allowed (`sanitize::generated`).

use std::path::Path;

use serde_json::Value;
use url::Url;

use super::shortcodes::{self, Flavor, Piece, Shortcode};
use super::{highlight, markdown, sanitize, Post};
use crate::error::{Error, Result};
use crate::util::text::line_of_offset;

/// Paired shortcodes nested deeper than this are refused.
const MAX_DEPTH: usize = 8;

/// What a shortcode template is given besides the shortcode itself.
pub struct Call<'a> {
    pub code: &'a Shortcode,
    /// The body rendered as Markdown (shortcodes in it expanded), sanitised.
    pub body_html: Option<String>,
    /// `highlight`: the body as highlighted HTML.
    pub highlighted: Option<String>,
    /// `ref` and `relref`: the linked post's URL.
    pub url: Option<String>,
    /// The text part is being rendered (`shortcodes/NAME.txt`).
    pub text: bool,
}

/// Why a shortcode did not render.
pub enum Failure {
    /// No `templates/shortcodes/NAME.html`.
    Unknown,
    /// The template failed (the error names it).
    Template(Error),
}

/// Renders shortcodes (with the templates).
pub trait Expander {
    fn expand(&self, call: &Call<'_>) -> std::result::Result<String, Failure>;
}

/// How to render: the code theme, the blog's base URL (for `ref`), the
/// shortcode templates.
pub struct Rich<'a> {
    pub theme: &'a str,
    pub base_url: &'a str,
    pub expander: &'a dyn Expander,
}

/// The HTML and the text of a post body.
pub struct Rendered {
    pub html: String,
    pub text: String,
}

impl Post {
    /// The body with shortcodes and highlighted code, as HTML (sanitised
    /// unless `raw_html`) and as text; `Ok(None)` as soon as the Markdown's
    /// HTML passes `max` bytes. Errors name the post's file and line.
    pub fn render_rich(&self, rich: &Rich<'_>, max: usize) -> Result<Option<Rendered>> {
        // A feed item's HTML: rendered by its blog and sanitised when read
        // (no shortcodes or fences of ours in it).
        if self.format == super::BodyFormat::Html {
            return Ok((self.body.len() <= max).then(|| Rendered {
                html: self.body.clone(),
                text: self.text(),
            }));
        }
        let base = Url::parse(&self.url).expect("post URL validated on load");
        let job = Job {
            post: self,
            rich,
            base: &base,
            nonce: nonce(),
        };
        let Some(html) = job.html(&self.body, 0, 0, max)? else {
            return Ok(None);
        };
        if html.len() > max {
            return Ok(None);
        }
        let text = job.text(&self.body);
        Ok(Some(Rendered { html, text }))
    }
}

struct Job<'a> {
    post: &'a Post,
    rich: &'a Rich<'a>,
    base: &'a Url,
    nonce: String,
}

/// Generated HTML waiting for its placeholder.
struct Slot {
    token: String,
    html: String,
}

impl Job<'_> {
    fn token(&self, depth: usize, n: usize) -> String {
        format!("gz{}d{depth}n{n}e", self.nonce)
    }

    /// `md` (found at byte `at` of the body) as HTML.
    fn html(&self, md: &str, at: usize, depth: usize, max: usize) -> Result<Option<String>> {
        if depth > MAX_DEPTH {
            return Err(self.err(at, format!("shortcodes nested more than {MAX_DEPTH} deep")));
        }
        let pieces = shortcodes::split(md).map_err(|(o, m)| self.err(at + o, m))?;
        let mut source = String::with_capacity(md.len());
        let mut slots = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Text(t) => source.push_str(t),
                Piece::Literal(l) => source.push_str(&l),
                Piece::Code(sc) if is_ref(&sc.name) => {
                    let out = self.expand(&sc, at, depth, false)?;
                    source.push_str(out.trim());
                }
                Piece::Code(sc) => {
                    let token = self.token(depth, slots.len());
                    let out = self.expand(&sc, at, depth, false)?;
                    let out = match sc.flavor {
                        Flavor::HugoMarkdown => markdown::to_html(&out, self.base),
                        _ => out,
                    };
                    slots.push(Slot {
                        token: token.clone(),
                        html: sanitize::generated(&out, self.base),
                    });
                    if sc.block {
                        source.push_str(&format!("\n\n{token}\n\n"));
                    } else {
                        source.push_str(&token);
                    }
                }
            }
        }
        let theme = self.rich.theme;
        let mut code = |lang: &str, text: &str| {
            let html = highlight::highlight(text, lang, theme)?;
            let token = self.token(depth, slots.len());
            slots.push(Slot {
                token: token.clone(),
                html,
            });
            Some(format!("{token}\n"))
        };
        let Some(html) = markdown::to_html_with(&source, self.base, max, &mut code) else {
            return Ok(None);
        };
        let mut html = if self.post.raw_html() {
            html
        } else {
            sanitize::sanitize(&html, self.base)
        };
        for slot in slots.iter().rev() {
            let para = format!("<p>{}</p>", slot.token);
            if html.contains(&para) {
                html = html.replacen(&para, &slot.html, 1);
            } else {
                html = put_inline(&html, &slot.token, &slot.html);
            }
        }
        Ok(Some(html))
    }

    /// The text part: shortcodes as their `.txt` templates give them (the
    /// body's text when there is none), code as written.
    fn text(&self, md: &str) -> String {
        let Ok(pieces) = shortcodes::split(md) else {
            return markdown::to_text(md, self.base);
        };
        let mut source = String::with_capacity(md.len());
        let mut slots = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Text(t) => source.push_str(t),
                Piece::Literal(l) => source.push_str(&l),
                Piece::Code(sc) => {
                    let out = self.expand(&sc, 0, 0, true).unwrap_or_default();
                    if is_ref(&sc.name) {
                        source.push_str(out.trim());
                        continue;
                    }
                    let token = self.token(0, slots.len());
                    if sc.block {
                        source.push_str(&format!("\n\n{token}\n\n"));
                    } else {
                        source.push_str(&token);
                    }
                    slots.push((token, out.trim().to_string()));
                }
            }
        }
        let mut text = markdown::to_text(&source, self.base);
        for (token, out) in slots.iter().rev() {
            text = text.replacen(token, out, 1);
        }
        text
    }

    fn expand(&self, sc: &Shortcode, at: usize, depth: usize, text: bool) -> Result<String> {
        let body_at = at + sc.offset;
        let body_html = match (&sc.body, text) {
            (Some(b), false) => self.html(b, body_at, depth + 1, usize::MAX)?,
            _ => None,
        };
        let highlighted = match (&sc.body, sc.name.as_str(), text) {
            (Some(b), "highlight", false) => {
                let lang = sc
                    .named
                    .get("lang")
                    .or_else(|| sc.positional.first())
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let code = b.trim_start_matches(['\r', '\n']).trim_end();
                Some(
                    highlight::highlight(code, lang, self.rich.theme)
                        .unwrap_or_else(|| highlight::plain(code, self.rich.theme)),
                )
            }
            _ => None,
        };
        let url = is_ref(&sc.name).then(|| self.ref_url(sc));
        let call = Call {
            code: sc,
            body_html,
            highlighted,
            url,
            text,
        };
        match self.rich.expander.expand(&call) {
            Ok(s) => Ok(s),
            Err(Failure::Unknown) if text => Ok(sc.body.clone().unwrap_or_default()),
            Err(Failure::Unknown) => Err(self.err(
                at + sc.offset,
                format!(
                    "unknown shortcode \"{0}\" (add templates/shortcodes/{0}.html)",
                    sc.name
                ),
            )),
            Err(Failure::Template(e)) => {
                Err(self.err(at + sc.offset, format!("shortcode \"{}\": {e}", sc.name)))
            }
        }
    }

    /// `ref "other.md"`, `ref "/posts/other#part"`, `ref "#part"`: the
    /// linked post's URL (`{base_url}/{slug}/`, the slug taken from the
    /// file name as for every post).
    fn ref_url(&self, sc: &Shortcode) -> String {
        let target = sc
            .positional
            .first()
            .or_else(|| sc.named.get("path"))
            .or_else(|| sc.named.get("page"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let (path, anchor) = match target.split_once('#') {
            Some((p, a)) => (p, format!("#{a}")),
            None => (target, String::new()),
        };
        if path.trim().is_empty() {
            return format!("{}{anchor}", self.post.url);
        }
        let slug = super::slug_from_path(Path::new(path.trim_end_matches('/')));
        format!(
            "{}/{slug}/{anchor}",
            self.rich.base_url.trim_end_matches('/')
        )
    }

    /// An error at byte `offset` of the body, located in the post's file.
    fn err(&self, offset: usize, msg: String) -> Error {
        let body = &self.post.body;
        let in_body = line_of_offset(body, offset.min(body.len()));
        Error::at(
            &self.post.path,
            body_first_line(self.post) + in_body - 1,
            msg,
        )
    }
}

/// `html` with `token` replaced by `out`; where the token stands inside a
/// tag (a shortcode in an image's alt text or a link's title), by `out`'s
/// text alone, so the markup stays whole.
fn put_inline(html: &str, token: &str, out: &str) -> String {
    let Some(at) = html.find(token) else {
        return html.to_string();
    };
    let before = &html[..at];
    let in_tag = before
        .rfind('<')
        .is_some_and(|lt| before.rfind('>').is_none_or(|gt| gt < lt));
    if !in_tag {
        return html.replacen(token, out, 1);
    }
    let mut text = String::with_capacity(out.len());
    let mut depth = 0usize;
    for c in out.chars() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            _ if depth == 0 => text.push(c),
            _ => {}
        }
    }
    let text = crate::util::text::collapse_whitespace(&text).replace('"', "&quot;");
    format!("{before}{text}{}", &html[at + token.len()..])
}

fn is_ref(name: &str) -> bool {
    matches!(name, "ref" | "relref")
}

/// The file line where the body starts (1 when the file cannot be read).
fn body_first_line(post: &Post) -> usize {
    match std::fs::read_to_string(&post.path) {
        Ok(text) if text.ends_with(post.body.as_str()) => {
            line_of_offset(&text, text.len() - post.body.len())
        }
        _ => 1,
    }
}

/// Sixteen random hex digits: placeholders a post cannot contain.
fn nonce() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7);
        bytes = t.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
