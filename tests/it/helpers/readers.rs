//! A reader's side of the in-process application: links in the emails it
//! wrote, a subscription confirmed the way a reader confirms it, and sent
//! issues in the archive.

use super::app::App;
use super::http;

/// The path of the first `https://news.example.com{prefix}…` link.
pub fn link(email: &str, prefix: &str) -> String {
    let full = format!("https://news.example.com{prefix}");
    let start = email
        .find(&full)
        .unwrap_or_else(|| panic!("no {prefix} link in:\n{email}"));
    let rest = &email[start + "https://news.example.com".len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || "./:-_".contains(c)))
        .unwrap_or(rest.len());
    rest[..end].to_string()
}

/// Subscribe on the page, open the confirmation link and press its
/// button (a POST to the same path); returns its path.
pub fn subscribe_and_confirm(app: &App, email: &str, n: usize) -> String {
    let r = http::subscribe(app.addr, &format!("email={email}"));
    assert_eq!(r.status, 200, "{}", r.body);
    let mail = app.wait_for_email(n);
    let confirm = link(&mail, "/confirm/");
    let r = http::get(app.addr, &confirm);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<form method=\"post\""), "{}", r.body);
    let r = http::post_form(app.addr, &confirm, "");
    assert_eq!(r.status, 200, "{}", r.body);
    confirm
}

fn mark_done(app: &App, rt: &tokio::runtime::Runtime, id: i64) {
    use gazette::store::campaigns::CampaignStatus;
    rt.block_on(app.store.set_campaign_status(
        id,
        CampaignStatus::Done,
        &[CampaignStatus::Queued],
        None,
        chrono::Utc::now(),
    ))
    .unwrap();
}

/// A sent digest of two posts in the archive.
pub fn sent_digest(app: &App) -> i64 {
    use gazette::render;
    let posts: Vec<gazette::content::Post> = [("Rust tips", "rust"), ("Go notes", "go")]
        .iter()
        .map(|(title, tag)| {
            let text = format!(
                "+++\ntitle = \"{title}\"\ndate = 2026-11-21\ntags = [\"{tag}\"]\nsummary = \"All about {tag}.\"\n+++\nBody.\n"
            );
            gazette::content::parse_post(
                std::path::Path::new(&format!("posts/{tag}.md")),
                &text,
                "https://example.com/blog",
            )
            .unwrap()
        })
        .collect();
    let refs: Vec<&gazette::content::Post> = posts.iter().collect();
    let until = chrono::Utc::now();
    let since = until - chrono::Duration::days(7);
    let t = render::Templates::builtin().unwrap();
    let prepared =
        render::prepare_digest(&t, &app.settings.newsletter, &refs, since, until).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (id, _) = rt
        .block_on(gazette::delivery::selections::create_digest(
            &app.store,
            &app.settings,
            &prepared,
            &refs,
            None,
            gazette::audience::prefs::Frequency::Both,
        ))
        .unwrap();
    mark_done(app, &rt, id);
    id
}

/// A sent post campaign in the archive, made as `send` makes it.
pub fn sent_campaign(app: &App, title: &str, summary: &str) -> i64 {
    sent_campaign_dated(app, title, summary, "2026-11-20")
}

pub fn sent_campaign_dated(app: &App, title: &str, summary: &str, date: &str) -> i64 {
    use gazette::render;
    let text = format!(
        "+++\ntitle = \"{title}\"\ndate = {date}\nsummary = \"{summary}\"\n+++\nHello readers.\n"
    );
    // One post per title (a slug of its own): the same title again is the
    // same post sent again.
    let slug: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let post = gazette::content::parse_post(
        std::path::Path::new(&format!("posts/{slug}.md")),
        &text,
        "https://example.com/blog",
    )
    .unwrap();
    let settings = app.settings.clone();
    let prepared = render::prepare_post(
        &render::Templates::builtin().unwrap(),
        &settings.newsletter,
        &post,
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (id, _) = gazette::delivery::selections::create_post(
            &app.store,
            &settings,
            &prepared,
            &post,
            gazette::audience::prefs::Frequency::Both,
        )
        .await
        .unwrap();
        use gazette::store::campaigns::CampaignStatus;
        app.store
            .set_campaign_status(
                id,
                CampaignStatus::Done,
                &[CampaignStatus::Queued],
                None,
                chrono::Utc::now(),
            )
            .await
            .unwrap();
        id
    })
}
