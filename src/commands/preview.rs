use super::{load_posts, write_output, Ctx};
use crate::cli::{Format, OutputArgs, PreviewCommand};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::ops::send::{digest_posts, preview_recipient, Names};
use crate::render::{self, message, Prepared, Templates};

pub async fn run(ctx: &Ctx, cmd: PreviewCommand) -> Result<()> {
    let settings = ctx.settings()?;
    let now = ctx.now()?;
    let templates = Templates::load(Some(&settings.templates_dir))?;
    let catalog = load_posts(&settings);
    let (prepared, out) = match cmd {
        PreviewCommand::Post { slug, out } => {
            let post = catalog.find(&slug).ok_or_else(|| {
                Error::msg(format!(
                    "no post with slug {slug:?} in {} (see `gazette posts list`)",
                    settings.posts_dir.display()
                ))
            })?;
            if !post.is_published(now) {
                eprintln!(
                    "note: {} is {} and would not be sent",
                    post.slug,
                    post.status(now).as_str()
                );
            }
            (
                render::prepare_post(&templates, &settings.newsletter, post)?,
                out,
            )
        }
        PreviewCommand::Digest { window: w, out } => {
            let store = crate::store::Store::open(&settings.database_url).await?;
            let window = (w.since.as_deref(), w.until.as_deref());
            let (mut posts, since, until) =
                digest_posts(&store, &catalog, &settings, now, window, Names::CLI).await?;
            store.close().await;
            if w.since.is_some() || w.until.is_some() {
                // A window reaching past now shows its scheduled posts, as
                // the digest will carry them once they are published.
                posts = catalog.window_ahead(since, until);
            }
            scheduled_notes(&catalog, &posts, now, (w.until.is_none()).then_some(until));
            if posts.is_empty() {
                eprintln!(
                    "no published posts from {} to {}: nothing to preview (set --since/--until)",
                    since.format("%Y-%m-%d %H:%M UTC"),
                    until.format("%Y-%m-%d %H:%M UTC")
                );
                return Ok(());
            }
            (
                render::prepare_digest(&templates, &settings.newsletter, &posts, since, until)?,
                out,
            )
        }
    };
    emit(&settings, &prepared, &out)
}

/// A note for each scheduled post in the preview, and (for the default
/// window, ending `after`) for each scheduled after it.
fn scheduled_notes(
    catalog: &crate::content::Catalog,
    shown: &[&crate::content::Post],
    now: chrono::DateTime<chrono::Utc>,
    after: Option<chrono::DateTime<chrono::Utc>>,
) {
    for p in shown.iter().filter(|p| !p.is_published(now)) {
        eprintln!(
            "note: {} is scheduled ({}) and would not be in a digest sent now",
            p.slug,
            p.date_string()
        );
    }
    let Some(end) = after else { return };
    for p in catalog.posts.iter().rev() {
        if !p.draft && p.date.with_timezone(&chrono::Utc) >= end {
            eprintln!(
                "note: {} is scheduled ({}), after this window: see it with --until {}",
                p.slug,
                p.date_string(),
                p.date.format("%Y-%m-%d")
            );
        }
    }
}

/// A preview has no archive page: no "View in browser" link.
fn emit(settings: &Settings, prepared: &Prepared, out: &OutputArgs) -> Result<()> {
    let r = preview_recipient(settings);
    let prepared = &prepared.without_archive_link();
    let bytes = match out.format {
        Format::Html => prepared.personalize(&r).html.into_bytes(),
        Format::Text => prepared.personalize(&r).text.into_bytes(),
        Format::Eml => {
            let id = message::new_message_id(&settings.newsletter);
            message::build(&settings.newsletter, prepared, &r, id)?.formatted()
        }
    };
    write_output(out.output.as_deref(), &bytes)
}
