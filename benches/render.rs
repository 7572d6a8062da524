//! Rendering benchmark (run in release: `cargo bench --bench render`).
//! Prints a digest of 1,000 posts rendered once, and one prepared post
//! personalised and built into a MIME message per recipient.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use gazette::config::Newsletter;
use gazette::content::{parse_post, Post};
use gazette::render::{self, message, Recipient, Templates};

fn newsletter() -> Newsletter {
    Newsletter {
        title: "Systems Notes".into(),
        from: "Systems Notes <news@example.com>".parse().unwrap(),
        reply_to: None,
        base_url: "https://example.com/blog".into(),
        public_url: "https://news.example.com".into(),
        postal_address: "1 Example Street, Berlin".into(),
        unsubscribe_mailto: None,
        list_id: "systems-notes.example.com".into(),
        dkim: None,
        reading: Default::default(),
    }
}

fn post(i: usize) -> Post {
    let body = "A paragraph with **bold**, `code` and a [relative link](details/).\n\n".repeat(20)
        + "```go\nfunc main() { fmt.Println(\"hi\") }\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";
    let text = format!(
        "+++\ntitle = \"Post number {i}\"\ndate = 2026-{:02}-{:02}\n+++\n{body}",
        1 + (i % 12),
        1 + (i % 28)
    );
    parse_post(
        std::path::Path::new(&format!("posts/p{i}.md")),
        &text,
        "https://example.com/blog",
    )
    .unwrap()
}

/// The recipient number `n` of a benchmark campaign.
fn reader(n: u64) -> Recipient {
    Recipient {
        email: format!("reader{n}@example.org"),
        name: Some("Reader".into()),
        unsubscribe_url: format!(
            "https://news.example.com/unsubscribe/{n:x}.0123456789abcdef0123456789abcdef"
        ),
        confirm_url: None,
        attributes: None,
    }
}

fn time<T>(label: &str, iters: u32, mut f: impl FnMut() -> T) -> Duration {
    // Warm up once.
    black_box(f());
    let start = Instant::now();
    for _ in 0..iters {
        black_box(f());
    }
    let per = start.elapsed() / iters;
    println!(
        "{label:<58} {:>12.3?} per iteration ({iters} iterations)",
        per
    );
    per
}

fn main() {
    let templates = Templates::builtin().unwrap();
    let nl = newsletter();
    let posts: Vec<Post> = (0..1000).map(post).collect();
    let refs: Vec<&Post> = posts.iter().collect();
    let since = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let until = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();

    time("parse 1,000 posts (front matter + summary)", 5, || {
        (0..1000).map(post).count()
    });
    time(
        "digest of 1,000 posts: render + inline CSS (once)",
        5,
        || render::prepare_digest(&templates, &nl, &refs, since, until).unwrap(),
    );
    let one = &posts[0];
    time(
        "post email: Markdown + render + inline CSS (once)",
        50,
        || render::prepare_post(&templates, &nl, one).unwrap(),
    );
    let prepared = render::prepare_post(&templates, &nl, one).unwrap();
    let size = prepared.html.len() + prepared.text.len();
    let mut n = 0u64;
    time("per recipient: personalise HTML + text", 20_000, || {
        n += 1;
        prepared.personalize(&reader(n))
    });
    time(
        "per recipient: personalise + build MIME + format",
        20_000,
        || {
            n += 1;
            let r = reader(n);
            message::build(&nl, &prepared, &r, format!("<{n}@example.com>"))
                .unwrap()
                .formatted()
        },
    );
    let encoded = prepared.encode();
    time(
        "per recipient, as campaigns do: fill pre-encoded parts + MIME + format",
        20_000,
        || {
            n += 1;
            let r = reader(n);
            message::build_encoded(&nl, &prepared, &encoded, &r, format!("<{n}@example.com>"))
                .unwrap()
                .formatted()
        },
    );
    println!("(prepared post: {size} bytes of HTML + text)");
}
