use serde::Serialize;

use super::{load_posts, Ctx};
use crate::cli::PostsCommand;
use crate::content::PostStatus;
use crate::error::{Error, Result};
use crate::render::{self, Templates};

#[derive(Serialize)]
struct PostJson<'a> {
    slug: &'a str,
    title: &'a str,
    date: String,
    status: PostStatus,
    draft: bool,
    url: &'a str,
    summary: &'a str,
    tags: &'a [String],
    path: String,
    /// Why the worker has not sent it yet (the publish gate), if it waits.
    #[serde(skip_serializing_if = "Option::is_none")]
    gate: Option<String>,
}

pub fn run(ctx: &Ctx, cmd: PostsCommand) -> Result<()> {
    let settings = ctx.settings()?;
    let now = ctx.now()?;
    match cmd {
        PostsCommand::List { json } => {
            let catalog = load_posts(&settings);
            let gate = gate_waits(&settings);
            if json {
                let rows: Vec<PostJson<'_>> = catalog
                    .posts
                    .iter()
                    .map(|p| PostJson {
                        slug: &p.slug,
                        title: &p.title,
                        date: p.date_string(),
                        status: p.status(now),
                        draft: p.draft,
                        url: &p.url,
                        summary: &p.summary,
                        tags: &p.tags,
                        path: p.path.display().to_string(),
                        gate: gate.get(&p.slug).cloned(),
                    })
                    .collect();
                let mut s = serde_json::to_string_pretty(&rows).expect("serialisable");
                s.push('\n');
                super::write_output(None, s.as_bytes())?;
            } else {
                let mut s = String::new();
                for p in &catalog.posts {
                    s.push_str(&format!(
                        "{:<10} {}  {:<40} {}\n",
                        p.status(now).as_str(),
                        p.date.format("%Y-%m-%d"),
                        p.slug,
                        p.title
                    ));
                    if let Some(why) = gate.get(&p.slug) {
                        s.push_str(&format!("{:<10} waiting to send: {why}\n", ""));
                    }
                }
                super::write_output(None, s.as_bytes())?;
            }
            Ok(())
        }
        PostsCommand::Check {
            links,
            slug,
            timeout,
        } => check(ctx, &settings, links.then_some((slug, timeout))),
        PostsCommand::Hold { slug } => hold(ctx, &settings, &slug, true),
        PostsCommand::Release { slug } => hold(ctx, &settings, &slug, false),
    }
}

/// `posts check`, and with `links` (only this post's, if a slug is given)
/// every link and image requested.
fn check(
    ctx: &Ctx,
    settings: &crate::config::Settings,
    links: Option<(Option<String>, std::time::Duration)>,
) -> Result<()> {
    let catalog = load_posts(settings);
    let mut problems = catalog.errors.len();
    match Templates::load(Some(&settings.templates_dir)) {
        Ok(t) => {
            for e in render::check(&t, &settings.newsletter, &catalog.posts) {
                eprintln!("{e}");
                problems += 1;
            }
        }
        Err(e) => {
            eprintln!("{e}");
            problems += 1;
        }
    }
    let mut asked = None;
    if let Some((slug, timeout)) = links {
        let (broken, n) = check_links(&catalog, slug.as_deref(), timeout)?;
        for line in &broken {
            eprintln!("{line}");
        }
        problems += broken.len();
        asked = Some(n);
    }
    if problems > 0 {
        return Err(Error::msg(format!(
            "{problems} problem{} found",
            if problems == 1 { "" } else { "s" }
        )));
    }
    if !ctx.quiet {
        let n = catalog.posts.len();
        let noun = if n == 1 { "post" } else { "posts" };
        eprintln!("{n} {noun} and all templates are valid");
        if let Some(n) = asked {
            let noun = if n == 1 {
                "link answers"
            } else {
                "links answer"
            };
            eprintln!("{n} {noun}");
        }
    }
    Ok(())
}

/// The broken links of the catalog's posts (or of the one with `slug`)
/// and how many distinct URLs were requested.
fn check_links(
    catalog: &crate::content::Catalog,
    slug: Option<&str>,
    timeout: std::time::Duration,
) -> Result<(Vec<String>, usize)> {
    let posts: Vec<&crate::content::Post> = match slug {
        Some(s) => vec![catalog.find(s).ok_or_else(|| {
            Error::msg(format!(
                "no post with slug {s:?} (see `gazette posts list`)"
            ))
        })?],
        None => catalog.posts.iter().collect(),
    };
    let mut with_text = Vec::with_capacity(posts.len());
    for p in posts {
        let text = std::fs::read_to_string(&p.path)
            .map_err(|e| Error::file(&p.path, format!("cannot read: {e}")))?;
        with_text.push((p, text));
    }
    current_thread()?
        .block_on(crate::ops::links::check(&with_text, timeout))
        .map_err(Error::msg)
}

/// The posts waiting at the publish gate and why, by slug; empty when
/// there is no database yet (listing posts never creates one) or it cannot
/// be read.
fn gate_waits(settings: &crate::config::Settings) -> std::collections::HashMap<String, String> {
    let url = &settings.database_url;
    if let Some(file) = url
        .strip_prefix("sqlite://")
        .or(url.strip_prefix("sqlite:"))
    {
        let file = file.split('?').next().unwrap_or(file);
        if !std::path::Path::new(file).exists() {
            return Default::default();
        }
    }
    let read = async {
        let store = crate::store::Store::open(url).await?;
        let r = crate::ops::posts::waiting(&store).await;
        store.close().await;
        r
    };
    match current_thread().and_then(|rt| rt.block_on(read)) {
        Ok(w) => w.into_iter().map(|w| (w.slug, w.why)).collect(),
        Err(e) => {
            tracing::debug!("publish gate state not read: {e}");
            Default::default()
        }
    }
}

fn current_thread() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::msg(format!("starting the async runtime: {e}")))
}

/// `posts hold SLUG` (`on`) and `posts release SLUG`.
fn hold(ctx: &Ctx, settings: &crate::config::Settings, slug: &str, on: bool) -> Result<()> {
    let catalog = load_posts(settings);
    if catalog.find(slug).is_none() {
        return Err(Error::msg(format!(
            "no post with slug {slug:?} (see `gazette posts list`)"
        )));
    }
    let now = ctx.now()?;
    current_thread()?.block_on(async {
        let store = ctx.store(settings).await?;
        let r = crate::ops::posts::hold(&store, slug, on, now).await;
        store.close().await;
        r
    })?;
    if !ctx.quiet {
        let what = if on {
            "held: the worker will not send it until `gazette posts release`"
        } else {
            "released: the worker sends it once it settles and is live"
        };
        eprintln!("{slug} {what}");
    }
    Ok(())
}
