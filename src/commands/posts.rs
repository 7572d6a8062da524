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
}

pub fn run(ctx: &Ctx, cmd: PostsCommand) -> Result<()> {
    let settings = ctx.settings()?;
    let now = ctx.now()?;
    match cmd {
        PostsCommand::List { json } => {
            let catalog = load_posts(&settings);
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
                }
                super::write_output(None, s.as_bytes())?;
            }
            Ok(())
        }
        PostsCommand::Check => {
            let catalog = load_posts(&settings);
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
            }
            Ok(())
        }
    }
}
