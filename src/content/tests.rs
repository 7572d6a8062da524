use super::*;
use crate::content::markdown::to_html;
use crate::content::sanitize::sanitize;
use crate::error::Result;
use crate::util::text::slugify;
use chrono::TimeZone;

const BASE: &str = "https://example.com/blog";

fn parse(name: &str, text: &str) -> Result<Post> {
    parse_post(Path::new(name), text, BASE)
}

#[test]
fn toml_front_matter_every_field() {
    let p = parse(
            "posts/2026-03-01-hello-world.md",
            "+++\ntitle = \"Hello\"\ndate = 2026-03-01\nsummary = \"Sum\"\ntags = [\"go\", \"rust\"]\ndraft = true\nseries = \"intro\"\n[extra]\nhero = \"a.png\"\n+++\nBody text.\n",
        )
        .unwrap();
    assert_eq!(p.title, "Hello");
    assert_eq!(p.slug, "hello-world");
    assert_eq!(p.date_string(), "2026-03-01");
    assert!(p.date_only);
    assert_eq!(p.summary, "Sum");
    assert_eq!(p.tags, vec!["go", "rust"]);
    assert!(p.draft);
    assert_eq!(p.url, "https://example.com/blog/hello-world/");
    assert_eq!(p.extra["series"], "intro");
    assert_eq!(p.extra["hero"], "a.png");
    assert_eq!(p.body, "Body text.\n");
}

#[test]
fn toml_datetime_value() {
    let p = parse(
        "a.md",
        "+++\ntitle = \"T\"\ndate = 2026-03-01T10:30:00+02:00\n+++\n",
    )
    .unwrap();
    assert_eq!(p.date.to_rfc3339(), "2026-03-01T10:30:00+02:00");
    assert!(!p.date_only);
}

#[test]
fn yaml_front_matter_every_field_and_aliases() {
    let p = parse(
            "posts/x.md",
            "---\ntitle: \"Yaml: post\"\ndate: 2026-03-02T08:00:00Z\ndescription: Desc here\nslug: Custom Slug\nurl: /elsewhere/page.html\ntags:\n  - a\n  - b\ndraft: false\nauthor: Ann\n---\nBody\n",
        )
        .unwrap();
    assert_eq!(p.title, "Yaml: post");
    assert_eq!(p.summary, "Desc here");
    assert_eq!(p.slug, "custom-slug");
    assert_eq!(p.url, "https://example.com/elsewhere/page.html");
    assert_eq!(p.tags, vec!["a", "b"]);
    assert!(!p.draft);
    assert_eq!(p.extra["author"], "Ann");
    let p = parse(
        "posts/y.md",
        "---\ntitle: T\ndate: 2026-03-02\nexcerpt: Ex\n---\n",
    )
    .unwrap();
    assert_eq!(p.summary, "Ex");
    assert_eq!(p.slug, "y");
}

#[test]
fn absolute_url_in_front_matter_is_kept() {
    let p = parse(
        "a.md",
        "+++\ntitle = \"T\"\ndate = 2026-01-01\nurl = \"https://other.org/p\"\n+++\n",
    )
    .unwrap();
    assert_eq!(p.url, "https://other.org/p");
}

#[test]
fn summary_fallback_from_body() {
    let p = parse(
        "a.md",
        "+++\ntitle = \"T\"\ndate = 2026-01-01\n+++\nIntro **bold**.\n\nMore.\n",
    )
    .unwrap();
    assert_eq!(p.summary, "Intro bold.");
}

#[test]
fn missing_title_and_date() {
    let e = parse("p.md", "+++\ndate = 2026-01-01\n+++\n")
        .unwrap_err()
        .to_string();
    assert_eq!(e, "p.md:1: missing required field `title`");
    let e = parse("p.md", "---\ntitle: T\n---\n")
        .unwrap_err()
        .to_string();
    assert_eq!(e, "p.md:1: missing required field `date`");
}

#[test]
fn invalid_date_names_its_line() {
    let e = parse("p.md", "+++\ntitle = \"T\"\ndate = \"yesterday\"\n+++\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("p.md:3: invalid date \"yesterday\""), "{e}");
    let e = parse("p.md", "---\ntitle: T\ndate: 2026-13-45\n---\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("p.md:3: invalid date"), "{e}");
}

#[test]
fn unterminated_front_matter() {
    let e = parse("p.md", "+++\ntitle = \"T\"\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "p.md:1: unterminated front matter: no closing `+++` line"
    );
    let e = parse("p.md", "---\ntitle: T\n").unwrap_err().to_string();
    assert!(e.contains("unterminated"), "{e}");
}

#[test]
fn invalid_toml_and_yaml_name_lines() {
    let e = parse(
        "p.md",
        "+++\ntitle = \"T\"\ndate = 2026-01-01\noops = = 3\n+++\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("p.md:4: invalid TOML front matter"), "{e}");
    let e = parse(
        "p.md",
        "---\ntitle: T\ndate: 2026-01-01\ntags: [a, b\n---\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("p.md:") && e.contains("invalid YAML front matter"),
        "{e}"
    );
}

#[test]
fn no_front_matter() {
    let e = parse("p.md", "# Just markdown\n").unwrap_err().to_string();
    assert!(e.starts_with("p.md:1: missing front matter"), "{e}");
}

#[test]
fn bom_is_accepted() {
    let p = parse(
        "a.md",
        "\u{feff}+++\ntitle = \"T\"\ndate = 2026-01-01\n+++\n",
    )
    .unwrap();
    assert_eq!(p.title, "T");
}

#[test]
fn slugs() {
    assert_eq!(slugify("Hello, World!  Again"), "hello-world-again");
    assert_eq!(slugify("Rust's C"), "rusts-c");
    assert_eq!(
        slug_from_path(Path::new("posts/2026-01-02-my-post.md")),
        "my-post"
    );
    assert_eq!(slug_from_path(Path::new("posts/My Post.md")), "my-post");
    assert_eq!(slug_from_path(Path::new("posts/bundle/index.md")), "bundle");
}

#[test]
fn status_draft_scheduled_published() {
    let now = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
    let p = parse("a.md", "+++\ntitle = \"T\"\ndate = 2026-07-01\n+++\n").unwrap();
    assert_eq!(p.status(now), PostStatus::Scheduled);
    let p = parse("a.md", "+++\ntitle = \"T\"\ndate = 2026-05-01\n+++\n").unwrap();
    assert_eq!(p.status(now), PostStatus::Published);
    let p = parse(
        "a.md",
        "+++\ntitle = \"T\"\ndate = 2026-05-01\ndraft = true\n+++\n",
    )
    .unwrap();
    assert_eq!(p.status(now), PostStatus::Draft);
}

#[test]
fn directory_loading_reports_bad_posts_and_duplicate_slugs() {
    let dir = tempfile::tempdir().unwrap();
    let w = |n: &str, t: &[u8]| std::fs::write(dir.path().join(n), t).unwrap();
    w(
        "a.md",
        b"+++\ntitle = \"A\"\ndate = 2026-01-01\nslug = \"same\"\n+++\n",
    );
    w(
        "b.md",
        b"+++\ntitle = \"B\"\ndate = 2026-01-02\nslug = \"same\"\n+++\n",
    );
    w("c.md", b"+++\ntitle = \"C\"\ndate = 2026-01-03\n+++\n");
    w(
        "bad.md",
        b"+++\ntitle = \"Bad\"\ndate = 2026-01-03\n+++\nok line\n\xff\xfe\n",
    );
    w("notes.txt", b"ignored");
    let cat = load_dir(dir.path(), BASE, 1 << 20);
    assert_eq!(cat.posts.len(), 1);
    assert_eq!(cat.posts[0].slug, "c");
    let errs: Vec<String> = cat.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(
        errs.iter().any(|e| e.contains("bad.md:6: not valid UTF-8")),
        "{errs:?}"
    );
    assert_eq!(
        errs.iter()
            .filter(|e| e.contains("duplicate slug \"same\""))
            .count(),
        2
    );
}

#[test]
fn special_and_oversized_files_are_refused_and_hide_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ok.md"),
        "+++\ntitle = \"OK\"\ndate = 2026-01-01\n+++\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("big.md"), vec![b'a'; 5000]).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.md")).unwrap();
    let fifo = dir.path().join("fifo.md");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    let cat = load_dir(dir.path(), BASE, 4096);
    assert_eq!(cat.posts.len(), 1);
    let errs: Vec<String> = cat.errors.iter().map(|e| e.to_string()).collect();
    assert!(
        errs.iter().any(|e| e.contains("big.md: too large")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("zero.md: not a regular file")),
        "{errs:?}"
    );
    if made.map(|s| s.success()).unwrap_or(false) {
        assert!(
            errs.iter()
                .any(|e| e.contains("fifo.md: not a regular file")),
            "{errs:?}"
        );
    }
}

#[test]
fn deep_nesting_is_refused_with_its_line() {
    let text = format!(
        "+++\ntitle = \"T\"\ndate = 2026-01-01\n+++\nfine\n\n{} deep\n",
        ">".repeat(10_000)
    );
    let e = parse("p.md", &text).unwrap_err().to_string();
    assert!(e.starts_with("p.md:7: nested more than"), "{e}");
}

#[test]
fn urls_and_dates_are_kept_sane() {
    let e = parse(
        "p.md",
        "---\ntitle: T\ndate: 2026-01-01\nurl: \"javascript:alert(8)\"\n---\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("p.md:4: `url`"), "{e}");
    let e = parse("p.md", "---\ntitle: T\ndate: -0001-01-01\n---\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("p.md:3:"), "{e}");
    assert!(parse("p.md", "---\ntitle: T\ndate: 2026-01-01\nurl: /a/b\n---\n").is_ok());
    assert!(slug_from_path(Path::new("posts/2026-01-0é-x.md")).contains('x'));
}

// Markdown, then the sanitiser: what the post pipeline does.

fn md_base() -> url::Url {
    url::Url::parse("https://example.com/blog/my-post/").unwrap()
}

fn clean_md(md: &str) -> String {
    sanitize(&to_html(md, &md_base()), &md_base())
}

#[test]
fn markdown_output_survives() {
    let md = "# Title\n\n| a | b |\n|:--|--:|\n| 1 | 2 |\n\n~~gone~~ **b** *i* `c`\n\n\
              ```rust\nfn main() {}\n```\n\n- [x] done\n- [ ] todo\n\nNote[^1].\n\n\
              [^1]: The note.\n\n![alt](pic.png \"t\")\n\n> quote\n\n1. one\n\n---\n";
    let raw = to_html(md, &md_base());
    let html = clean_md(md);
    for needle in [
        "<h1>Title</h1>",
        "<table>",
        "<th style=\"text-align:left\">a</th>",
        "<td style=\"text-align:right\">2</td>",
        "<del>gone</del>",
        "<strong>b</strong>",
        "<em>i</em>",
        "<code>c</code>",
        "<code class=\"language-rust\">",
        "type=\"checkbox\"",
        "checked",
        "<sup class=\"footnote-reference\"><a href=\"#1\">1</a></sup>",
        "<div class=\"footnote-definition\" id=\"1\">",
        "src=\"https://example.com/blog/my-post/pic.png\"",
        "alt=\"alt\"",
        "title=\"t\"",
        "<blockquote>",
        "<ol>",
        "<hr>",
    ] {
        assert!(
            html.contains(needle),
            "missing {needle:?} in\n{html}\nfrom\n{raw}"
        );
    }
    assert_eq!(html.matches("checkbox").count(), 2, "{html}");
    assert_eq!(html.matches("checked").count(), 1, "{html}");
}

#[test]
fn dangerous_html_goes() {
    let md = "<script>alert(1)</script>\n\n<meta http-equiv=\"refresh\" content=\"0;url=https://evil.example/\">\n\n\
              <iframe src=\"https://evil.example/\"></iframe>\n\n<form action=\"https://evil.example/\"><input type=\"text\" name=\"q\"></form>\n\n\
              <style>body{display:none}</style>\n\n<p onclick=\"alert(2)\" style=\"position:fixed\">p</p>\n\n\
              [x](javascript:alert(3)) [y](data:text/html,hi) <a href=\"vbscript:x\">v</a> <img src=\"javascript:alert(4)\" onerror=\"alert(5)\">\n\n\
              <a href=\"  JaVa\tScRiPt:alert(6)\">w</a> [ok](https://ok.example/) [m](mailto:a@example.com) <a href=\"rel/x\">r</a>\n";
    let html = clean_md(md);
    let lower = html.to_ascii_lowercase();
    for bad in [
        "<script",
        "alert",
        "<meta",
        "refresh",
        "<iframe",
        "<form",
        "name=",
        "<style",
        "display:none",
        "onclick",
        "onerror",
        "position",
        "javascript",
        "vbscript",
        "data:",
        "evil",
    ] {
        assert!(!lower.contains(bad), "{bad:?} survived in\n{html}");
    }
    assert!(html.contains("href=\"https://ok.example/\""), "{html}");
    assert!(html.contains("href=\"mailto:a@example.com\""), "{html}");
    assert!(
        html.contains("href=\"https://example.com/blog/my-post/rel/x\""),
        "{html}"
    );
    // The form's input is at most a disabled checkbox.
    assert!(!html.contains("type=\"text\""), "{html}");
}
