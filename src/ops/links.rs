//! The links of posts, and asking the web about them: `posts check
//! --links` (every link and image of a post answers) and the publish gate
//! (the post's own page is live).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use pulldown_cmark::{Event, Parser, Tag};
use url::Url;

use crate::content::{markdown, shortcodes, Post};

/// How many requests run at once.
pub const CONCURRENCY: usize = 8;
/// How long one request may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 5;

const USER_AGENT: &str = concat!("Gazette/", env!("CARGO_PKG_VERSION"), " (link check)");

/// One http(s) link or image of a post, at the line of the Markdown file
/// it is written on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub url: String,
    pub line: usize,
}

/// The http(s) links and images of `post` (relative ones made absolute
/// against the post's URL, as the email has them), in the order written;
/// `file` is the post's file text, for line numbers (the body is its tail).
pub fn links_of(post: &Post, file: &str) -> Vec<Link> {
    let body = &post.body;
    let first = if file.ends_with(body.as_str()) {
        crate::util::text::line_of_offset(file, file.len() - body.len())
    } else {
        1
    };
    let base = Url::parse(&post.url).ok();
    let mut out = Vec::new();
    let mut push = |dest: &str, offset: usize| {
        if let Some(url) = absolute(dest, base.as_ref()) {
            let line = first + crate::util::text::line_of_offset(body, offset) - 1;
            out.push(Link { url, line });
        }
    };
    for (event, range) in Parser::new_ext(body, markdown::options()).into_offset_iter() {
        match event {
            Event::Start(Tag::Link { dest_url, .. })
            | Event::Start(Tag::Image { dest_url, .. }) => push(&dest_url, range.start),
            Event::Html(html) | Event::InlineHtml(html) => {
                for (at, dest) in html_targets(&html) {
                    push(&dest, range.start + at)
                }
            }
            _ => {}
        }
    }
    // Shortcode arguments that are links: `{{< figure src="…" >}}`,
    // `{{ gist(url="…") }}`.
    for piece in shortcodes::split(body).unwrap_or_default() {
        if let shortcodes::Piece::Code(sc) = piece {
            for (key, value) in shortcode_args(&sc) {
                let linky = matches!(key, Some("src" | "link" | "href" | "url" | "image"));
                if linky || value.starts_with("http://") || value.starts_with("https://") {
                    push(value, sc.offset);
                }
            }
        }
    }
    out.sort_by_key(|l| l.line);
    out
}

/// A shortcode's string arguments, with their names (`None`: positional).
fn shortcode_args(sc: &shortcodes::Shortcode) -> Vec<(Option<&str>, &str)> {
    let named = sc.named.iter().map(|(k, v)| (Some(k.as_str()), v));
    let positional = sc.positional.iter().map(|v| (None, v));
    positional
        .chain(named)
        .filter_map(|(k, v)| Some((k, v.as_str()?)))
        .collect()
}

/// `dest` as an absolute http(s) URL without its fragment; `None` for other
/// schemes (mailto:, tel:) and same-page anchors.
fn absolute(dest: &str, base: Option<&Url>) -> Option<String> {
    let dest = dest.trim();
    if dest.is_empty() || dest.starts_with('#') {
        return None;
    }
    let mut url = match Url::parse(dest) {
        Ok(u) => u,
        Err(url::ParseError::RelativeUrlWithoutBase) => base?.join(dest).ok()?,
        Err(_) => return None,
    };
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.set_fragment(None);
    Some(url.to_string())
}

/// The `href` and `src` values of raw HTML, with their byte offsets.
fn html_targets(html: &str) -> Vec<(usize, String)> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    for attr in ["href", "src"] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(attr) {
            let at = from + i;
            from = at + attr.len();
            let before_ok = at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace();
            let rest = lower[from..].trim_start();
            if !before_ok || !rest.starts_with('=') {
                continue;
            }
            let start = html.len() - rest.len() + 1;
            let value = html[start..].trim_start();
            let vstart = html.len() - value.len();
            let (quote, value) = match value.chars().next() {
                Some(q @ ('"' | '\'')) => (Some(q), &value[1..]),
                _ => (None, value),
            };
            let end = value
                .find(|c: char| match quote {
                    Some(q) => c == q,
                    None => c.is_ascii_whitespace() || c == '>',
                })
                .unwrap_or(value.len());
            out.push((vstart, value[..end].to_string()));
        }
    }
    out
}

/// What a URL answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A success status (2xx) after redirects.
    Fine,
    /// Any other final status.
    Status(u16),
    /// No answer: the reason.
    Unreachable(String),
}

/// An HTTP client on the rustls and ring already in the binary, with the
/// native root certificates; redirects followed up to `MAX_REDIRECTS`.
pub fn client(timeout: Duration) -> std::result::Result<reqwest::Client, String> {
    crate::util::http::client(USER_AGENT, MAX_REDIRECTS, timeout, false)
}

/// The words of a reqwest error, on one line.
fn describe(e: &reqwest::Error) -> String {
    crate::util::http::describe(e, "request failed")
}

/// Statuses by which a server refuses HEAD rather than the page.
fn head_refused(status: u16) -> bool {
    matches!(status, 400 | 403 | 405 | 501)
}

/// Ask `url`: HEAD, then GET where HEAD is refused.
pub async fn ask(client: &reqwest::Client, url: &str, timeout: Duration) -> Answer {
    let once = |method: reqwest::Method| async {
        // reqwest's timeout covers the request; this is the belt to its
        // braces.
        match tokio::time::timeout(timeout + Duration::from_secs(1), async {
            client.request(method, url).send().await
        })
        .await
        {
            Ok(Ok(r)) => Ok(r.status().as_u16()),
            Ok(Err(e)) => Err(describe(&e)),
            Err(_) => Err(format!("timed out after {timeout:?}")),
        }
    };
    let status = match once(reqwest::Method::HEAD).await {
        Ok(s) if head_refused(s) => once(reqwest::Method::GET).await,
        other => other,
    };
    match status {
        Ok(s) if (200..300).contains(&s) => Answer::Fine,
        Ok(s) => Answer::Status(s),
        Err(why) => Answer::Unreachable(why),
    }
}

/// Whether the page at `url` is live: a GET (redirects followed) answers
/// 200. `Err` says what it answered instead.
pub async fn live(client: &reqwest::Client, url: &str) -> std::result::Result<(), String> {
    match client.get(url).send().await {
        Ok(r) if r.status().as_u16() == 200 => Ok(()),
        Ok(r) => Err(format!("{url} answers {}", r.status().as_u16())),
        Err(e) => Err(format!("{url} unreachable: {}", describe(&e))),
    }
}

/// Ask every URL once, at most `CONCURRENCY` at a time.
pub async fn ask_all(
    urls: Vec<String>,
    timeout: Duration,
) -> Result<HashMap<String, Answer>, String> {
    let client = client(timeout)?;
    let gate = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for url in urls {
        let (client, gate) = (client.clone(), gate.clone());
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let answer = ask(&client, &url, timeout).await;
            (url, answer)
        });
    }
    let mut out = HashMap::new();
    while let Some(r) = set.join_next().await {
        let (url, answer) = r.map_err(|e| format!("link check task: {e}"))?;
        out.insert(url, answer);
    }
    Ok(out)
}

/// Check the links of `posts` (each with its file text): one line per
/// broken link (`path:line: 404 URL`, `path:line: unreachable URL: why`),
/// in file and line order, and how many distinct URLs were asked.
pub async fn check(
    posts: &[(&Post, String)],
    timeout: Duration,
) -> Result<(Vec<String>, usize), String> {
    let mut places: BTreeMap<(String, usize), Vec<String>> = BTreeMap::new();
    let mut urls: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (post, file) in posts {
        for link in links_of(post, file) {
            if seen.insert(link.url.clone()) {
                urls.push(link.url.clone());
            }
            places
                .entry((post.path.display().to_string(), link.line))
                .or_default()
                .push(link.url);
        }
    }
    let asked = urls.len();
    let answers = ask_all(urls, timeout).await?;
    let mut lines = Vec::new();
    for ((path, line), urls) in places {
        for url in urls {
            match answers.get(&url) {
                Some(Answer::Status(s)) => lines.push(format!("{path}:{line}: {s} {url}")),
                Some(Answer::Unreachable(why)) => {
                    lines.push(format!("{path}:{line}: unreachable {url}: {why}"))
                }
                _ => {}
            }
        }
    }
    Ok((lines, asked))
}
