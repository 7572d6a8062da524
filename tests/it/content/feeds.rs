//! Feeds as a post source (issue 29), part one: every generator's feed,
//! as it writes it (tests/fixtures/feeds/, README there), read into posts;
//! their HTML sanitised with links made absolute.

use gazette::content::feed::{parse, FeedItem};
use url::Url;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/feeds/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn items(name: &str, feed_url: &str) -> (Vec<FeedItem>, Vec<String>) {
    parse(&fixture(name), &Url::parse(feed_url).unwrap(), feed_url).unwrap()
}

/// No script, style, iframe, form, event handler or javascript: URL.
pub fn assert_safe(html: &str) {
    let lower = html.to_ascii_lowercase();
    for bad in [
        "<script",
        "<style",
        "<iframe",
        "<form",
        "<input type=\"email\"",
        "onerror",
        "onclick",
        "javascript:",
        "track()",
        "steal()",
    ] {
        assert!(!lower.contains(bad), "{bad:?} survived in {html}");
    }
}

#[test]
fn hugo_rss_items_become_posts_with_absolute_links() {
    let (it, errors) = items("hugo-rss.xml", "https://hugo.example/posts/index.xml");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(it.len(), 2);
    let p = &it[0];
    assert_eq!(p.title, "Pruning the Apple Trees");
    assert_eq!(p.slug, "pruning-apple-trees");
    assert_eq!(p.url, "https://hugo.example/posts/pruning-apple-trees/");
    assert_eq!(p.date.to_rfc3339(), "2026-11-03T09:00:00+00:00");
    assert!(
        p.html
            .contains("href=\"https://hugo.example/posts/tools/\""),
        "{}",
        p.html
    );
    assert!(
        p.html
            .contains("src=\"https://hugo.example/images/apple.jpg\""),
        "{}",
        p.html
    );
    assert_eq!(
        p.summary,
        "Winter is the time to prune. Cut with clean tools."
    );
}

#[test]
fn zola_atom_and_rss() {
    let (it, errors) = items("zola-atom.xml", "https://zola.example/atom.xml");
    assert!(errors.is_empty(), "{errors:?}");
    let p = &it[0];
    assert_eq!(p.title, "Compost & Worms");
    assert_eq!(p.slug, "compost-and-worms");
    assert_eq!(p.tags, ["soil", "compost"]);
    assert!(
        p.html
            .contains("href=\"https://zola.example/blog/compost-and-worms/bin.png\""),
        "{}",
        p.html
    );
    // Summary given: it is the summary; the body is the full content.
    assert_eq!(it[1].summary, "Why mulch matters.");
    assert!(it[1].html.contains("wood chips"), "{}", it[1].html);
    assert_eq!(it[1].date.to_rfc3339(), "2026-10-20T00:00:00+00:00");
    let (rss, errors) = items("zola-rss.xml", "https://zola.example/rss.xml");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(rss[0].slug, "compost-and-worms");
    assert_eq!(rss[0].title, "Compost & Worms");
}

#[test]
fn jekyll_feed_atom_keeps_code_and_strips_the_date_from_the_slug() {
    let (it, errors) = items("jekyll-feed-atom.xml", "https://jekyll.example/feed.xml");
    assert!(errors.is_empty(), "{errors:?}");
    let p = &it[0];
    assert_eq!(p.title, "Welcome to Jekyll!");
    assert_eq!(p.slug, "welcome-to-jekyll");
    assert_eq!(p.tags, ["jekyll", "update"]);
    assert!(p.html.contains("<pre"), "{}", p.html);
    assert!(p.html.contains("print_hi"), "{}", p.html);
    assert_eq!(p.summary, "You’ll find this post in your _posts directory.");
}

#[test]
fn wordpress_content_encoded_is_the_body_and_is_sanitised() {
    let (it, errors) = items("wordpress-rss2.xml", "https://wp.example/feed/");
    assert!(errors.is_empty(), "{errors:?}");
    let p = &it[0];
    assert_eq!(p.slug, "hello-print-shop");
    assert_eq!(p.tags, ["News", "Printing"]);
    // description is the summary; content:encoded the body.
    assert_eq!(
        p.summary,
        "The presses are running again after the summer break. […]"
    );
    assert!(p.html.contains("press.jpg"), "{}", p.html);
    assert!(
        p.html.contains("href=\"https://wp.example/about/\""),
        "{}",
        p.html
    );
    assert!(!p.html.contains("<!--"), "{}", p.html);
    assert_safe(&p.html);
}

#[test]
fn ghost_substack_and_medium() {
    let (g, errors) = items("ghost-rss.xml", "https://ghost.example/rss/");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(g[0].slug, "coming-soon");
    assert_eq!(g[0].title, "Coming soon");
    assert_eq!(g[0].tags, ["News"]);
    assert_safe(&g[0].html);
    let (s, errors) = items("substack-rss.xml", "https://weekly.substack.example/feed");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(s[0].slug, "issue-12-rivers");
    assert!(s[0].html.contains("Rivers shape towns."));
    assert_safe(&s[0].html);
    let (m, errors) = items("medium-rss.xml", "https://medium.example/@pat/feed");
    assert!(errors.is_empty(), "{errors:?}");
    // The query string is not part of the slug.
    assert_eq!(m[0].slug, "why-i-write-slowly-3f2a1b");
    assert_eq!(m[0].tags, ["writing", "craft"]);
    assert_eq!(m[0].summary, "Why I Write Slowly Good sentences take time.");
}

#[test]
fn json_feed_1_1_with_an_untitled_item_and_a_text_one() {
    let (it, errors) = items("jsonfeed-1.1.json", "https://micro.example/feed.json");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(it.len(), 2);
    let note = &it[0];
    assert_eq!(note.slug, "a-short-note");
    assert!(
        note.title.starts_with("Saw the first frost"),
        "{}",
        note.title
    );
    assert_eq!(note.tags, ["weather"]);
    assert!(
        note.html
            .contains("href=\"https://micro.example/photos/frost.jpg\""),
        "{}",
        note.html
    );
    let text = &it[1];
    assert_eq!(text.title, "Plain text item");
    assert_eq!(text.summary, "A plain one.");
    assert!(
        text.html
            .contains("<p>Line one &amp; &lt;two&gt;.</p><p>Second paragraph.</p>"),
        "{}",
        text.html
    );
}

#[test]
fn xml_base_resolves_links_and_the_item_url() {
    let (it, errors) = items(
        "xml-base-relative.xml",
        "https://base.example/blog/atom.xml",
    );
    assert!(errors.is_empty(), "{errors:?}");
    let p = &it[0];
    assert_eq!(p.url, "https://base.example/blog/posts/relative/");
    assert_eq!(p.slug, "relative");
    assert!(
        p.html
            .contains("href=\"https://base.example/blog/posts/other/\""),
        "{}",
        p.html
    );
    assert!(
        p.html
            .contains("src=\"https://base.example/blog/posts/relative/img/pic.png\""),
        "{}",
        p.html
    );
    assert!(p.html.contains("href=\"#notes\""), "{}", p.html);
    // No content: the summary is the body; the date is `updated`.
    let q = &it[1];
    assert_eq!(q.url, "https://base.example/blog/posts/second/");
    assert!(q.html.contains("Just a summary"), "{}", q.html);
    assert_eq!(q.date.to_rfc3339(), "2026-11-08T12:00:00+00:00");
}

#[test]
fn entities_and_cdata_decode_once_and_a_bad_item_is_named_alone() {
    let (it, errors) = items("entities-cdata.xml", "https://ent.example/feed.xml");
    assert_eq!(it.len(), 1, "{it:?}");
    let p = &it[0];
    assert_eq!(p.title, "Fish &amp; Chips — \"Quoted\"");
    assert_eq!(p.slug, "fish-chips");
    assert_eq!(p.summary, "Café & bar <3");
    assert!(p.html.contains("Café &amp; bar &lt;3"), "{}", p.html);
    assert!(p.html.contains("]]&gt; done"), "{}", p.html);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0],
        "https://ent.example/feed.xml: item 2 \"No date here\": no date (neither published nor updated)"
    );
}

#[test]
fn a_malformed_feed_is_one_line_naming_it() {
    let e = parse(
        &fixture("malformed.xml"),
        &Url::parse("https://broken.example/feed.xml").unwrap(),
        "https://broken.example/feed.xml",
    )
    .unwrap_err();
    assert!(
        e.starts_with("https://broken.example/feed.xml: not a readable"),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn rss_1_0_rdf() {
    let (it, errors) = items("rss-1.0.rdf", "https://rdf.example/index.rdf");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(it.len(), 1);
    assert_eq!(it[0].slug, "old-format");
    assert_eq!(it[0].title, "Still RDF");
    assert_eq!(it[0].date.to_rfc3339(), "2026-11-05T01:00:00+00:00");
    assert!(
        it[0].html.contains("Some sites still publish RSS 1.0."),
        "{}",
        it[0].html
    );
}

/// The CSS inliner recurses once per level: an item nested deeper than
/// files may be is refused alone, as a file would be.
#[test]
fn an_item_nested_too_deep_is_refused_alone() {
    let deep = format!("{}x{}", "<div>".repeat(200), "</div>".repeat(200));
    let feed = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title><link>https://d.example/</link>\
         <item><title>Deep</title><link>https://d.example/deep/</link><pubDate>Mon, 09 Nov 2026 10:00:00 GMT</pubDate>\
         <description><![CDATA[{deep}]]></description></item>\
         <item><title>Fine</title><link>https://d.example/fine/</link><pubDate>Mon, 09 Nov 2026 10:00:00 GMT</pubDate>\
         <description>ok</description></item></channel></rss>"
    );
    let url = Url::parse("https://d.example/feed.xml").unwrap();
    let (it, errors) = parse(feed.as_bytes(), &url, "feed").unwrap();
    assert_eq!(it.len(), 1);
    assert_eq!(it[0].slug, "fine");
    assert_eq!(
        errors,
        ["feed: item 1 \"Deep\": content nested more than 64 levels deep"]
    );
}
