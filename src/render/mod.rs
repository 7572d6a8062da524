//! Rendering: Tera templates (built-in, overridden file by file from the
//! `templates/` folder), CSS inlined once per campaign, then cheap
//! per-recipient substitution of placeholders.

pub mod headers;
pub mod message;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use tera::{Context, Tera};

use crate::config::Newsletter;
use crate::content::{markdown, Post};
use crate::error::{Error, Result};

/// Templates compiled into the binary, by name (their path under `templates/`).
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "email/base.html",
        include_str!("../../templates/email/base.html"),
    ),
    (
        "email/base.txt",
        include_str!("../../templates/email/base.txt"),
    ),
    (
        "email/post.html",
        include_str!("../../templates/email/post.html"),
    ),
    (
        "email/post.txt",
        include_str!("../../templates/email/post.txt"),
    ),
    (
        "email/digest.html",
        include_str!("../../templates/email/digest.html"),
    ),
    (
        "email/digest.txt",
        include_str!("../../templates/email/digest.txt"),
    ),
    (
        "email/confirm.html",
        include_str!("../../templates/email/confirm.html"),
    ),
    (
        "email/confirm.txt",
        include_str!("../../templates/email/confirm.txt"),
    ),
    (
        "web/base.html",
        include_str!("../../templates/web/base.html"),
    ),
    (
        "web/index.html",
        include_str!("../../templates/web/index.html"),
    ),
    (
        "web/message.html",
        include_str!("../../templates/web/message.html"),
    ),
    (
        "web/unsubscribe.html",
        include_str!("../../templates/web/unsubscribe.html"),
    ),
];

/// The kinds of email Gazette renders; each has an `.html` and a `.txt` template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailKind {
    Post,
    Digest,
    Confirm,
}

impl EmailKind {
    pub const ALL: [EmailKind; 3] = [EmailKind::Post, EmailKind::Digest, EmailKind::Confirm];

    pub fn name(self) -> &'static str {
        match self {
            EmailKind::Post => "post",
            EmailKind::Digest => "digest",
            EmailKind::Confirm => "confirm",
        }
    }

    /// Campaign mail (post, digest) carries List-* headers; confirm does not.
    pub fn is_campaign(self) -> bool {
        !matches!(self, EmailKind::Confirm)
    }
}

/// The loaded template set with where each template came from.
pub struct Templates {
    tera: Tera,
    /// name -> (file shown in errors, source)
    sources: BTreeMap<String, (PathBuf, String)>,
}

impl Templates {
    /// Built-in templates only.
    pub fn builtin() -> Result<Self> {
        Self::load(None)
    }

    /// Built-in templates overridden (and extended) by files under `dir`.
    pub fn load(dir: Option<&Path>) -> Result<Self> {
        let mut sources: BTreeMap<String, (PathBuf, String)> = BUILTIN
            .iter()
            .map(|(name, src)| {
                (
                    name.to_string(),
                    (
                        PathBuf::from(format!("(built-in) templates/{name}")),
                        src.to_string(),
                    ),
                )
            })
            .collect();
        if let Some(dir) = dir.filter(|d| d.is_dir()) {
            let mut files = Vec::new();
            collect(dir, dir, &mut files)?;
            for (name, path) in files {
                let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
                let src = String::from_utf8(bytes)
                    .map_err(|_| Error::at(&path, 1, "template is not valid UTF-8"))?;
                sources.insert(name, (path, src));
            }
        }
        let mut tera = Tera::default();
        tera.autoescape_on(vec![".html", ".htm", ".xml"]);
        tera.register_function("attribute", attribute_function);
        tera.add_raw_templates(sources.iter().map(|(n, (_, s))| (n.as_str(), s.as_str())))
            .map_err(|e| template_error(&sources, &e))?;
        Ok(Templates { tera, sources })
    }

    pub fn render(&self, name: &str, ctx: &Context) -> Result<String> {
        self.tera
            .render(name, ctx)
            .map_err(|e| template_error(&self.sources, &e))
    }

    /// Where a template came from (for messages).
    pub fn origin(&self, name: &str) -> Option<&Path> {
        self.sources.get(name).map(|(p, _)| p.as_path())
    }

    /// The built-in names plus any extra files, for `init` and checks.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.sources.keys().map(String::as_str)
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let fname = entry.file_name();
        if fname.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push((name, path));
        }
    }
    Ok(())
}

/// Turn a Tera error into `file:line: message`.
fn template_error(sources: &BTreeMap<String, (PathBuf, String)>, e: &tera::Error) -> Error {
    let mut chain = vec![e.to_string()];
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        chain.push(s.to_string());
        src = s.source();
    }
    let full = chain.join("\n");
    // Which template: the innermost quoted name that we know.
    let mut name: Option<&str> = None;
    for part in full.split('\'').skip(1).step_by(2) {
        if sources.contains_key(part) {
            name = Some(part);
        }
    }
    let detail = chain.last().cloned().unwrap_or_default();
    let Some(name) = name else {
        return Error::msg(format!("template error: {}", flatten(&full)));
    };
    let (path, _) = &sources[name];
    // Parse errors carry "--> line:col".
    if let Some(i) = full.find("--> ") {
        let rest = &full[i + 4..];
        let line: usize = rest
            .split(':')
            .next()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(1);
        let msg = full
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with("= "))
            .map(|l| l.trim_start_matches("= ").to_string())
            .unwrap_or_else(|| "syntax error".into());
        return Error::at(path, line, format!("template syntax error: {msg}"));
    }
    // Undefined variables: "Variable `x.y` not found in context while rendering ...".
    if let Some(var) = detail
        .strip_prefix("Variable `")
        .and_then(|r| r.split('`').next())
    {
        let (path, line) = find_variable(sources, name, var).unwrap_or((path.clone(), 1));
        return Error::at(
            path,
            line,
            format!("template uses undefined variable `{var}`"),
        );
    }
    Error::at(path, 1, format!("template error: {}", flatten(&detail)))
}

/// Find the line using `var`, in `name` or the templates it extends.
fn find_variable(
    sources: &BTreeMap<String, (PathBuf, String)>,
    name: &str,
    var: &str,
) -> Option<(PathBuf, usize)> {
    let mut current = Some(name.to_string());
    let mut seen = 0;
    while let Some(n) = current.take() {
        let (path, src) = sources.get(&n)?;
        for (i, line) in src.lines().enumerate() {
            if line.contains(var) && (line.contains("{{") || line.contains("{%")) {
                return Some((path.clone(), i + 1));
            }
        }
        current = src
            .split("{% extends \"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map(String::from);
        seen += 1;
        if seen > 16 {
            break;
        }
    }
    None
}

fn flatten(s: &str) -> String {
    s.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Private-use characters that mark a per-recipient slot in rendered output.
const SLOT_OPEN: char = '\u{E000}';
const SLOT_CLOSE: char = '\u{E001}';

/// Per-recipient values a template may use. They are filled in after the
/// campaign is rendered once, so they are values, not conditions: `{% if
/// recipient.name %}` sees the slot, not the name.
pub const RECIPIENT_SLOTS: &[&str] = &["email", "name", "unsubscribe_url", "confirm_url"];

fn slot(key: &str) -> String {
    format!("{SLOT_OPEN}{key}{SLOT_CLOSE}")
}

/// The values for one recipient.
#[derive(Debug, Clone, Default)]
pub struct Recipient {
    pub email: String,
    pub name: Option<String>,
    pub unsubscribe_url: String,
    pub confirm_url: Option<String>,
    /// The subscriber's free-form attributes (for `attribute(name=...)`).
    pub attributes: Option<Map<String, Value>>,
}

/// Separates an attribute slot's name from its default.
const ATTR_DEFAULT: char = '\u{1F}';

/// `{{ attribute(name="city", default="there") }}` in a template: the
/// recipient's attribute, filled in per recipient like the other slots.
fn attribute_function(args: &std::collections::HashMap<String, Value>) -> tera::Result<Value> {
    let name = args
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| tera::Error::msg("attribute() needs name=\"...\""))?;
    let default = match args.get("default") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    if name.contains([SLOT_OPEN, SLOT_CLOSE, ATTR_DEFAULT])
        || default.contains([SLOT_OPEN, SLOT_CLOSE])
    {
        return Err(tera::Error::msg("attribute(): invalid characters"));
    }
    Ok(Value::String(slot(&format!(
        "attr:{name}{ATTR_DEFAULT}{default}"
    ))))
}

impl Recipient {
    fn value(&self, key: &str) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match key {
            "email" => Cow::Borrowed(&self.email),
            "name" => Cow::Borrowed(self.name.as_deref().unwrap_or("")),
            "unsubscribe_url" => Cow::Borrowed(&self.unsubscribe_url),
            "confirm_url" => Cow::Borrowed(self.confirm_url.as_deref().unwrap_or("")),
            _ => {
                let Some((name, default)) = key
                    .strip_prefix("attr:")
                    .and_then(|k| k.split_once(ATTR_DEFAULT))
                else {
                    return Cow::Borrowed("");
                };
                match self.attributes.as_ref().and_then(|a| a.get(name)) {
                    Some(Value::String(s)) if !s.is_empty() => Cow::Owned(s.clone()),
                    Some(Value::Null) | Some(Value::String(_)) | None => {
                        Cow::Owned(default.to_string())
                    }
                    Some(v) => Cow::Owned(v.to_string()),
                }
            }
        }
    }
}

/// Whether a rendered email uses attribute slots (so recipients' attributes
/// need to be read at all).
pub fn uses_attributes(prepared: &Prepared) -> bool {
    let needle = format!("{SLOT_OPEN}attr:");
    prepared.html.contains(&needle) || prepared.text.contains(&needle)
}

/// An email rendered once for a whole campaign: CSS inlined, Markdown done,
/// with slots for the per-recipient values.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Prepared {
    pub subject: String,
    pub html: String,
    pub text: String,
    /// "post", "digest" or "confirm".
    pub kind: String,
}

/// One recipient's copy of a prepared email.
#[derive(Debug, Clone)]
pub struct Personal {
    pub subject: String,
    pub html: String,
    pub text: String,
}

impl Prepared {
    pub fn personalize(&self, r: &Recipient) -> Personal {
        Personal {
            subject: self.subject.clone(),
            html: fill(&self.html, r, true),
            text: fill(&self.text, r, false),
        }
    }

    pub fn email_kind(&self) -> EmailKind {
        match self.kind.as_str() {
            "post" => EmailKind::Post,
            "digest" => EmailKind::Digest,
            _ => EmailKind::Confirm,
        }
    }
}

/// A prepared email with both parts already quoted-printable encoded, once
/// per campaign; slots sit on lines of their own (between soft line breaks)
/// so a recipient's values can be encoded and dropped in without
/// re-encoding the whole body.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub html: String,
    pub text: String,
}

impl Prepared {
    pub fn encode(&self) -> Encoded {
        Encoded {
            html: qp_template(&self.html),
            text: qp_template(&self.text),
        }
    }
}

impl Encoded {
    /// The transfer-encoded (HTML, text) parts for one recipient.
    pub fn personalize(&self, r: &Recipient) -> (String, String) {
        (
            fill_encoded(&self.html, r, true),
            fill_encoded(&self.text, r, false),
        )
    }
}

fn qp(s: &str) -> String {
    let crlf;
    let s = if s.contains('\n') && !s.contains("\r\n") {
        crlf = s.replace('\n', "\r\n");
        &crlf
    } else {
        s
    };
    quoted_printable::encode_to_str(s)
}

/// Walk `s`: text between slots goes through `text`, each slot's key
/// through `slot`. A slot opener without a closer is text.
fn walk_slots(
    s: &str,
    out: &mut String,
    mut text: impl FnMut(&str, &mut String),
    mut slot: impl FnMut(&str, &mut String),
) {
    let mut rest = s;
    while let Some(i) = rest.find(SLOT_OPEN) {
        let after = &rest[i + SLOT_OPEN.len_utf8()..];
        let Some(j) = after.find(SLOT_CLOSE) else {
            break;
        };
        text(&rest[..i], out);
        slot(&after[..j], out);
        rest = &after[j + SLOT_CLOSE.len_utf8()..];
    }
    text(rest, out);
}

/// Quoted-printable encode a template, each slot on a line of its own.
fn qp_template(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 11 / 10);
    walk_slots(
        s,
        &mut out,
        |t, out| out.push_str(&qp(t)),
        |key, out| {
            out.push_str("=\r\n");
            out.push(SLOT_OPEN);
            out.push_str(key);
            out.push(SLOT_CLOSE);
            out.push_str("=\r\n");
        },
    );
    out
}

/// Fill the slots of an encoded template with encoded values.
fn fill_encoded(s: &str, r: &Recipient, html: bool) -> String {
    let mut out = String::with_capacity(s.len() + 256);
    walk_slots(
        s,
        &mut out,
        |t, out| out.push_str(t),
        |key, out| {
            let value = r.value(key);
            out.push_str(&qp(&if html {
                escape_html(&value)
            } else {
                value.into_owned()
            }));
        },
    );
    out
}

/// Fill the slots of a rendered (not encoded) email.
fn fill(s: &str, r: &Recipient, html: bool) -> String {
    let mut out = String::with_capacity(s.len() + 256);
    walk_slots(
        s,
        &mut out,
        |t, out| out.push_str(t),
        |key, out| {
            if html {
                escape_html_into(&r.value(key), out)
            } else {
                out.push_str(&r.value(key))
            }
        },
    );
    out
}

pub fn escape_html_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_html_into(s, &mut out);
    out
}

/// What templates see of a post.
#[derive(Debug, Serialize)]
pub struct PostView<'a> {
    pub title: &'a str,
    pub date: String,
    pub date_display: String,
    pub summary: &'a str,
    pub slug: &'a str,
    pub url: &'a str,
    pub tags: &'a [String],
    pub draft: bool,
    pub extra: &'a Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl<'a> PostView<'a> {
    pub fn new(post: &'a Post, with_body: bool) -> Self {
        let (html, text) = if with_body {
            let base = url::Url::parse(&post.url).expect("post URL validated on load");
            (
                Some(markdown::to_html(&post.body, &base)),
                Some(markdown::to_text(&post.body, &base)),
            )
        } else {
            (None, None)
        };
        PostView {
            title: &post.title,
            date: post.date_string(),
            date_display: post.date_display(),
            summary: &post.summary,
            slug: &post.slug,
            url: &post.url,
            tags: &post.tags,
            draft: post.draft,
            extra: &post.extra,
            html,
            text,
        }
    }
}

#[derive(Serialize)]
struct NewsletterView<'a> {
    title: &'a str,
    base_url: &'a str,
    public_url: &'a str,
    postal_address: &'a str,
    from_name: &'a str,
}

/// The context every email and page shares.
pub fn base_context(nl: &Newsletter) -> Context {
    let mut ctx = Context::new();
    ctx.insert(
        "newsletter",
        &NewsletterView {
            title: &nl.title,
            base_url: &nl.base_url,
            public_url: &nl.public_url,
            postal_address: &nl.postal_address,
            from_name: nl.from.name.as_deref().unwrap_or(&nl.title),
        },
    );
    ctx
}

fn email_context(nl: &Newsletter, subject: &str) -> Context {
    let mut ctx = base_context(nl);
    ctx.insert("subject", subject);
    let mut recipient = Map::new();
    for key in ["email", "name"] {
        recipient.insert(key.into(), Value::String(slot(key)));
    }
    ctx.insert("recipient", &recipient);
    ctx.insert("unsubscribe_url", &slot("unsubscribe_url"));
    ctx.insert("confirm_url", &slot("confirm_url"));
    ctx
}

/// Render `email/{kind}.html` and `.txt` once and inline the CSS.
fn prepare(
    templates: &Templates,
    kind: EmailKind,
    subject: String,
    ctx: &Context,
) -> Result<Prepared> {
    let html = templates.render(&format!("email/{}.html", kind.name()), ctx)?;
    let text = templates.render(&format!("email/{}.txt", kind.name()), ctx)?;
    let html = inline_css(&html).map_err(|e| {
        let path = templates
            .origin(&format!("email/{}.html", kind.name()))
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Error::file(path, format!("inlining CSS: {e}"))
    })?;
    Ok(Prepared {
        subject: crate::util::text::clean_header_text(&subject),
        html,
        // Trim trailing spaces and runs of blank lines that template tags leave.
        text: crate::util::text::squeeze_blank_lines(&text, &[]),
        kind: kind.name().to_string(),
    })
}

/// Move the `<style>` rules into `style=` attributes (Gmail and Outlook
/// drop `<style>` blocks).
pub fn inline_css(html: &str) -> std::result::Result<String, String> {
    let inliner = css_inline::CSSInliner::options()
        .load_remote_stylesheets(false)
        .build();
    inliner.inline(html).map_err(|e| e.to_string())
}

pub fn post_subject(nl: &Newsletter, post: &Post) -> String {
    format!("{}: {}", nl.title, post.title)
}

/// Render the email for one post.
pub fn prepare_post(templates: &Templates, nl: &Newsletter, post: &Post) -> Result<Prepared> {
    let subject = post_subject(nl, post);
    let mut ctx = email_context(nl, &subject);
    ctx.insert("post", &PostView::new(post, true));
    prepare(templates, EmailKind::Post, subject, &ctx)
}

#[derive(Serialize)]
struct WindowView {
    since: String,
    until: String,
    since_display: String,
    until_display: String,
}

/// Render a digest of `posts` (newest first) covering `[since, until)`.
pub fn prepare_digest(
    templates: &Templates,
    nl: &Newsletter,
    posts: &[&Post],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Prepared> {
    let subject = match posts.len() {
        1 => format!("{}: {}", nl.title, posts[0].title),
        n => format!("{}: {n} new posts", nl.title),
    };
    let mut ctx = email_context(nl, &subject);
    let views: Vec<PostView<'_>> = posts.iter().map(|p| PostView::new(p, false)).collect();
    ctx.insert("posts", &views);
    // `until` is exclusive; show the last day it covers.
    let last_day = until - chrono::Duration::seconds(1);
    ctx.insert(
        "window",
        &WindowView {
            since: since.to_rfc3339(),
            until: until.to_rfc3339(),
            since_display: since.format("%B %-d, %Y").to_string(),
            until_display: last_day.format("%B %-d, %Y").to_string(),
        },
    );
    prepare(templates, EmailKind::Digest, subject, &ctx)
}

/// How an address came to be asked for confirmation: the template's
/// `origin` ("web" or "added") picks the words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmOrigin {
    /// Entered on the subscribe page.
    Web,
    /// Added by an operator (`subscribers add`, or an imported pending row).
    Added,
}

/// Render the double opt-in confirmation email for a web sign-up.
pub fn prepare_confirm(templates: &Templates, nl: &Newsletter, ttl_days: u64) -> Result<Prepared> {
    prepare_confirm_for(templates, nl, ttl_days, ConfirmOrigin::Web)
}

/// Render the double opt-in confirmation email for `origin`.
pub fn prepare_confirm_for(
    templates: &Templates,
    nl: &Newsletter,
    ttl_days: u64,
    origin: ConfirmOrigin,
) -> Result<Prepared> {
    let subject = format!("Confirm your subscription to {}", nl.title);
    let mut ctx = email_context(nl, &subject);
    ctx.insert("confirm_ttl_days", &ttl_days);
    let origin = match origin {
        ConfirmOrigin::Web => "web",
        ConfirmOrigin::Added => "added",
    };
    ctx.insert("origin", origin);
    prepare(templates, EmailKind::Confirm, subject, &ctx)
}

/// Render a web page template with the shared context plus `extra`.
pub fn render_page(
    templates: &Templates,
    nl: &Newsletter,
    name: &str,
    extra: &Context,
) -> Result<String> {
    let mut ctx = base_context(nl);
    ctx.extend(extra.clone());
    templates.render(&format!("web/{name}"), &ctx)
}

/// Render every template with sample data, so that syntax errors and
/// undefined variables show up before anything is sent.
pub fn check(templates: &Templates, nl: &Newsletter, sample: Option<&Post>) -> Vec<Error> {
    let mut errors = Vec::new();
    let fallback;
    let post = match sample {
        Some(p) => p,
        None => {
            fallback = sample_post(nl);
            &fallback
        }
    };
    let now = Utc::now();
    if let Err(e) = prepare_post(templates, nl, post) {
        errors.push(e);
    }
    if let Err(e) = prepare_digest(templates, nl, &[post], now - chrono::Duration::days(7), now) {
        errors.push(e);
    }
    for origin in [ConfirmOrigin::Web, ConfirmOrigin::Added] {
        if let Err(e) = prepare_confirm_for(templates, nl, 7, origin) {
            errors.push(e);
        }
    }
    let mut ctx = Context::new();
    ctx.insert("heading", "Heading");
    ctx.insert("message", "Message");
    ctx.insert("email", "reader@example.com");
    ctx.insert("action", "/unsubscribe/token");
    for page in ["index.html", "message.html", "unsubscribe.html"] {
        if let Err(e) = render_page(templates, nl, page, &ctx) {
            errors.push(e);
        }
    }
    errors
}

fn sample_post(nl: &Newsletter) -> Post {
    Post {
        path: PathBuf::from("sample.md"),
        title: "Sample post".into(),
        date: Utc::now().fixed_offset(),
        date_only: false,
        summary: "A sample summary.".into(),
        slug: "sample-post".into(),
        url: format!("{}/sample-post/", nl.base_url),
        tags: vec!["sample".into()],
        draft: false,
        extra: Map::new(),
        body: "A sample body with [a link](more/).".into(),
    }
}
