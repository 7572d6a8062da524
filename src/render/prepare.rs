//! Preparing emails: render a post, a digest or a confirmation once per
//! campaign (Tera, then the CSS inlined), and render web pages.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use tera::Context;

use super::i18n::Messages;
use super::shortcodes::TemplateExpander;
use super::size::Limit;
use super::slots::slot;
use super::{EmailKind, Templates};
use crate::config::Newsletter;
use crate::content::rich::{Rendered, Rich};
use crate::content::{highlight, markdown, Post};
use crate::error::{Error, Result};

/// An email rendered once for a whole campaign: CSS inlined, Markdown done,
/// with slots for the per-recipient values.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Prepared {
    pub subject: String,
    pub html: String,
    pub text: String,
    pub kind: EmailKind,
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
    /// The post, with its body (`Post::html`: sanitised unless `raw_html`)
    /// when `with_body`.
    pub fn new(post: &'a Post, with_body: bool) -> Self {
        Self::with_html(post, with_body.then(|| post.html()))
    }

    /// The post with `html` as its body's HTML (and the text part made
    /// from the Markdown), or without a body.
    pub fn with_html(post: &'a Post, html: Option<String>) -> Self {
        let text = html.as_ref().map(|_| post.text());
        Self::with_body(post, html, text)
    }

    /// The post with its body as `html` and `text`.
    pub fn with_body(post: &'a Post, html: Option<String>, text: Option<String>) -> Self {
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
    archive: bool,
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
            archive: nl.reading.archive,
        },
    );
    ctx
}

/// The catalogue of `[newsletter] language` as templates see it: `t`
/// (every sentence) and `lang`.
fn insert_messages(templates: &Templates, nl: &Newsletter, ctx: &mut Context) -> Result<Messages> {
    let t = templates.messages(&nl.reading.language)?;
    ctx.insert("t", &t.context(&nl.title));
    ctx.insert("lang", &t.lang());
    Ok(t)
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
    ctx.insert("preferences_url", &slot("preferences_url"));
    ctx.insert("archive_url", "");
    ctx.insert("preheader", "");
    ctx
}

/// Campaign mail links to its copy in the web archive when there is one.
fn archive_link(nl: &Newsletter, ctx: &mut Context) {
    if nl.reading.archive {
        ctx.insert("archive_url", &slot("archive_url"));
    }
}

/// A subject template (`[digest] subject`, `[welcome] subject`) rendered
/// with `ctx`.
fn subject_template(template: &str, ctx: &Context) -> Result<String> {
    tera::Tera::one_off(template, ctx, false).map_err(|e| {
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg = s.to_string();
            src = s.source();
        }
        Error::msg(format!("subject template: {msg}"))
    })
}

/// Render `email/{kind}.html` and `.txt` once and inline the CSS; the
/// size is checked before inlining (which costs the most) and after.
fn prepare(
    templates: &Templates,
    subject: String,
    ctx: &Context,
    limit: &Limit<'_>,
) -> Result<Prepared> {
    let kind = limit.kind();
    let html = templates.render(&format!("email/{}.html", kind.name()), ctx)?;
    let text = templates.render(&format!("email/{}.txt", kind.name()), ctx)?;
    limit.check_rendered(&html, &text)?;
    let html = inline_css(&html).map_err(|e| {
        let path = templates
            .origin(&format!("email/{}.html", kind.name()))
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Error::file(path, format!("inlining CSS: {e}"))
    })?;
    // Trim trailing spaces and runs of blank lines that template tags leave.
    let text = crate::util::text::squeeze_blank_lines(&text, &[]);
    limit.check_email(&html, &text)?;
    Ok(Prepared {
        subject: crate::util::text::clean_header_text(&subject),
        html,
        text,
        kind,
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

/// A post email's subject: the front matter's `subject`, or
/// "{newsletter}: {title}" (`post_subject` of the catalogue).
pub fn post_subject(nl: &Newsletter, t: &Messages, post: &Post) -> String {
    match post.extra.get("subject").and_then(Value::as_str) {
        Some(s) if !s.trim().is_empty() => s.trim().to_string(),
        _ => t.fill(
            "post_subject",
            &[("title", &nl.title), ("post", &post.title)],
        ),
    }
}

/// A post as templates see it (with `body` as its HTML and text, if any),
/// its date in the catalogue's language.
fn post_view<'a>(post: &'a Post, body: Option<Rendered>, t: &Messages) -> PostView<'a> {
    let (html, text) = match body {
        Some(b) => (Some(b.html), Some(b.text)),
        None => (None, None),
    };
    PostView {
        date_display: t.date(&post.date),
        ..PostView::with_body(post, html, text)
    }
}

/// A post's body for email: shortcodes rendered by the templates, fenced
/// code highlighted in `[render] code_theme`, as HTML and text; `None` when
/// the HTML passes `max` bytes. Errors (an unknown shortcode, a template
/// failing) name the post's file and line.
pub fn post_body(
    templates: &Templates,
    nl: &Newsletter,
    post: &Post,
    max: usize,
) -> Result<Option<Rendered>> {
    let expander = TemplateExpander { templates, post };
    let theme = match nl.reading.code_theme.as_str() {
        "" => highlight::DEFAULT_THEME,
        t => t,
    };
    let rich = Rich {
        theme,
        base_url: &nl.base_url,
        expander: &expander,
    };
    post.render_rich(&rich, max)
}

/// The hidden preview text of a post: the front matter's `preheader`, else
/// the summary.
fn post_preheader(post: &Post) -> String {
    let text = match post.extra.get("preheader").and_then(Value::as_str) {
        Some(s) if !s.trim().is_empty() => s,
        _ => &post.summary,
    };
    preheader_text(text)
}

/// Preview text on one line, at most about 200 characters.
fn preheader_text(s: &str) -> String {
    markdown::truncate_words(&crate::util::text::collapse_whitespace(s), 200)
}

/// Render the email for one post. A post whose HTML alone passes `[paths]
/// max_email_size` is refused before the rest of it is rendered.
pub fn prepare_post(templates: &Templates, nl: &Newsletter, post: &Post) -> Result<Prepared> {
    let limit = Limit::new(nl, EmailKind::Post, Some(&post.path));
    let body =
        post_body(templates, nl, post, limit.max())?.ok_or_else(|| limit.body_too_large())?;
    let mut ctx = email_context(nl, "");
    let t = insert_messages(templates, nl, &mut ctx)?;
    let subject = post_subject(nl, &t, post);
    ctx.insert("subject", &subject);
    ctx.insert("preheader", &post_preheader(post));
    ctx.insert("post", &post_view(post, Some(body), &t));
    archive_link(nl, &mut ctx);
    prepare(templates, subject, &ctx, &limit).map(|p| counted(nl, p))
}

/// A campaign's email with its links marked for counting when `[tracking]
/// clicks` is on (`clicks`: numbered when the campaign is created).
fn counted(nl: &Newsletter, p: Prepared) -> Prepared {
    if !nl.reading.track_clicks {
        return p;
    }
    Prepared {
        html: super::clicks::track(&p.html, &nl.public_url),
        ..p
    }
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
    let mut ctx = email_context(nl, "");
    let t = insert_messages(templates, nl, &mut ctx)?;
    let views: Vec<PostView<'_>> = posts.iter().map(|p| post_view(p, None, &t)).collect();
    ctx.insert("posts", &views);
    ctx.insert("count", &posts.len());
    // `until` is exclusive; show the last day it covers.
    let last_day = until - chrono::Duration::seconds(1);
    ctx.insert(
        "window",
        &WindowView {
            since: since.to_rfc3339(),
            until: until.to_rfc3339(),
            since_display: t.date(&since),
            until_display: t.date(&last_day),
        },
    );
    let subject = match (&nl.reading.digest_subject, posts.len()) {
        (Some(t), _) => subject_template(t, &ctx)?,
        (None, 1) => t.fill(
            "digest_subject_one",
            &[("title", &nl.title), ("post", &posts[0].title)],
        ),
        (None, n) => t.fill(
            "digest_subject_many",
            &[("title", &nl.title), ("count", &n.to_string())],
        ),
    };
    ctx.insert("subject", &subject);
    let preheader = match &nl.reading.digest_preheader {
        Some(t) => subject_template(t, &ctx)?,
        None => posts
            .iter()
            .map(|p| p.title.as_str())
            .collect::<Vec<_>>()
            .join(" · "),
    };
    ctx.insert("preheader", &preheader_text(&preheader));
    archive_link(nl, &mut ctx);
    let limit = Limit::new(nl, EmailKind::Digest, None);
    prepare(templates, subject, &ctx, &limit).map(|p| counted(nl, p))
}

/// Render the double opt-in confirmation email.
pub fn prepare_confirm(templates: &Templates, nl: &Newsletter, ttl_days: u64) -> Result<Prepared> {
    prepare_confirm_for(templates, nl, ttl_days, ConfirmOrigin::Web)
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

/// Render the double opt-in confirmation email for `origin`.
pub fn prepare_confirm_for(
    templates: &Templates,
    nl: &Newsletter,
    ttl_days: u64,
    origin: ConfirmOrigin,
) -> Result<Prepared> {
    let mut ctx = email_context(nl, "");
    let t = insert_messages(templates, nl, &mut ctx)?;
    let subject = t.fill("confirm_subject", &[("title", &nl.title)]);
    ctx.insert("subject", &subject);
    ctx.insert("confirm_ttl_days", &ttl_days);
    let origin = match origin {
        ConfirmOrigin::Web => "web",
        ConfirmOrigin::Added => "added",
    };
    ctx.insert("origin", origin);
    let limit = Limit::new(nl, EmailKind::Confirm, None);
    prepare(templates, subject, &ctx, &limit)
}

/// Render the welcome email sent once after a confirmation.
pub fn prepare_welcome(templates: &Templates, nl: &Newsletter) -> Result<Prepared> {
    let mut ctx = email_context(nl, "");
    let t = insert_messages(templates, nl, &mut ctx)?;
    let subject = match &nl.reading.welcome_subject {
        Some(s) => subject_template(s, &ctx)?,
        None => t.fill("welcome_subject", &[("title", &nl.title)]),
    };
    ctx.insert("subject", &subject);
    let limit = Limit::new(nl, EmailKind::Welcome, None);
    prepare(templates, subject, &ctx, &limit)
}

/// Render a web page template with the shared context plus `extra`.
pub fn render_page(
    templates: &Templates,
    nl: &Newsletter,
    name: &str,
    extra: &Context,
) -> Result<String> {
    let mut ctx = base_context(nl);
    insert_messages(templates, nl, &mut ctx)?;
    ctx.extend(extra.clone());
    templates.render(&format!("web/{name}"), &ctx)
}

/// Render every template with sample data, so that syntax errors and
/// undefined variables show up before anything is sent; and refuse each of
/// `posts` (newest first) whose HTML alone passes `[paths] max_email_size`.
/// The sample post is the newest of the others.
pub fn check(templates: &Templates, nl: &Newsletter, posts: &[Post]) -> Vec<Error> {
    let mut errors = Vec::new();
    let sample = check_sizes(templates, nl, posts, &mut errors);
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
    if let Err(e) = prepare_welcome(templates, nl) {
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
    ctx.insert("frequency", "both");
    ctx.insert(
        "topics",
        &[serde_json::json!({"tag": "rust", "label": "Rust", "checked": true})],
    );
    ctx.insert("notice", "Notice");
    ctx.insert("status", "active");
    ctx.insert("unsubscribe_url", "/unsubscribe/token");
    ctx.insert(
        "entries",
        &[serde_json::json!({"url": "/archive/1/x", "subject": "S", "summary": "", "date": "2026-01-01"})],
    );
    ctx.insert("page", &1);
    ctx.insert("token", "1.f.0.0");
    ctx.insert("pow", &true);
    ctx.insert("name", "Reader");
    ctx.insert("newer", "/archive?page=1");
    ctx.insert("older", "/archive?page=3");
    for page in [
        "index.html",
        "message.html",
        "unsubscribe.html",
        "confirm.html",
        "preferences.html",
        "archive.html",
        "again.html",
    ] {
        if let Err(e) = render_page(templates, nl, page, &ctx) {
            errors.push(e);
        }
    }
    errors
}

/// The posts whose HTML alone passes the email size limit or that do not
/// render (an unknown shortcode, a shortcode template failing), as errors
/// (each rendered up to the limit only); the first post that fits.
fn check_sizes<'a>(
    templates: &Templates,
    nl: &Newsletter,
    posts: &'a [Post],
    errors: &mut Vec<Error>,
) -> Option<&'a Post> {
    let mut fits = None;
    for post in posts {
        let limit = Limit::new(nl, EmailKind::Post, Some(&post.path));
        match post_body(templates, nl, post, limit.max()) {
            Ok(Some(_)) => {
                fits.get_or_insert(post);
            }
            Ok(None) => errors.push(limit.body_too_large()),
            Err(e) => errors.push(e),
        }
    }
    fits
}

fn sample_post(nl: &Newsletter) -> Post {
    Post {
        path: PathBuf::from("sample.md"),
        title: "Sample post".into(),
        date: Utc::now().fixed_offset(),
        date_only: false,
        summary: "A sample summary.".into(), // not shown to readers
        slug: "sample-post".into(),
        url: format!("{}/sample-post/", nl.base_url),
        tags: vec!["sample".into()],
        draft: false,
        extra: Map::new(),
        body: "A sample body with [a link](more/).".into(),
        format: Default::default(),
    }
}
