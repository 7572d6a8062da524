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
