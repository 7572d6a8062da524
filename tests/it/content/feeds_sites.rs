//! Feeds as a post source (issue 29), part four: real sites built in the
//! test by Hugo and by Jekyll with jekyll-feed (scripts/setup/generators.sh
//! installs them from Debian), their own feed served on 127.0.0.1 and read
//! by the real binary. Skipped with a SKIPPED line when the generator is
//! missing, a failure under GAZETTE_REQUIRE_ALL.

use std::process::Command;

use crate::helpers::feeds::{project, FeedServer};
use crate::helpers::{run_with_timeout, skip_or_fail, RUN_TIMEOUT};

fn available(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The `.eml` of `slug`, quoted-printable soft breaks undone.
fn eml(p: &crate::helpers::Project, slug: &str) -> String {
    let out = p.run(&["preview", "post", slug, "--format", "eml"]);
    out.ok().stdout().replace("=\r\n", "").replace("=3D", "=")
}

fn assert_clean(eml: &str) {
    let lower = eml.to_ascii_lowercase();
    for bad in ["<script", "onerror", "href=\"/", "src=\"/", "src=\"ice"] {
        assert!(!lower.contains(bad), "{bad} in\n{eml}");
    }
}

#[test]
fn a_real_hugo_site_feed() {
    if !available("hugo", &["version"]) {
        return skip_or_fail("hugo not installed", "run scripts/setup/generators.sh");
    }
    let site = tempfile::tempdir().unwrap();
    let s = site.path();
    std::fs::create_dir_all(s.join("content/posts")).unwrap();
    std::fs::write(
        s.join("config.toml"),
        "baseURL = \"https://hugo.example/\"\ntitle = \"Field Notes\"\n\
         [markup.goldmark.renderer]\nunsafe = true\n",
    )
    .unwrap();
    std::fs::write(
        s.join("content/posts/first-frost.md"),
        "+++\ntitle = \"First Frost\"\ndate = 2026-11-10T08:00:00Z\ntags = [\"weather\"]\n+++\n\
         The first frost came early. See [the photos](/photos/frost/).\n\n<script>alert(1)</script>\n",
    )
    .unwrap();
    run_with_timeout(
        Command::new("hugo").args(["--quiet", "-s"]).arg(s),
        RUN_TIMEOUT,
    )
    .ok();
    let feed = std::fs::read_to_string(s.join("public/index.xml")).unwrap();
    let srv = FeedServer::start(&feed);
    let p = project(&srv.url("/feed.xml"), "");
    let out = p.run(&["posts", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&out.ok().stdout()).unwrap();
    assert_eq!(rows[0]["slug"], "first-frost", "{rows}");
    assert_eq!(rows[0]["url"], "https://hugo.example/posts/first-frost/");
    assert_eq!(rows[0]["date"], "2026-11-10T08:00:00+00:00");
    let eml = eml(&p, "first-frost");
    assert!(eml.contains("The first frost came early."), "{eml}");
    assert!(
        eml.contains("https://hugo.example/posts/first-frost/"),
        "{eml}"
    );
    assert_clean(&eml);
    // The same output as a file Hugo wrote.
    let q = project(s.join("public/index.xml").to_str().unwrap(), "");
    assert!(q
        .run(&["posts", "list"])
        .ok()
        .stdout()
        .contains("first-frost"));
}

#[test]
fn a_real_jekyll_site_with_jekyll_feed() {
    let feed_gem = Command::new("ruby")
        .args(["-e", "require 'jekyll-feed'"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available("jekyll", &["--version"]) || !feed_gem {
        return skip_or_fail(
            "jekyll or jekyll-feed not installed",
            "run scripts/setup/generators.sh",
        );
    }
    let site = tempfile::tempdir().unwrap();
    let s = site.path();
    std::fs::create_dir_all(s.join("_posts")).unwrap();
    std::fs::write(
        s.join("_config.yml"),
        "title: Jekyll Journal\nurl: \"https://jekyll.example\"\nplugins:\n  - jekyll-feed\n",
    )
    .unwrap();
    std::fs::write(
        s.join("_posts/2026-11-12-thaw.md"),
        "---\ntitle: \"Thaw\"\ndate: 2026-11-12 09:00:00 +0000\ncategories: [weather]\ntags: [spring]\n---\n\
         The ice is going. [More](/more/) <img src=\"ice.png\" alt=\"ice\" onerror=\"x()\">\n",
    )
    .unwrap();
    run_with_timeout(
        Command::new("jekyll")
            .args(["build", "--quiet", "-s"])
            .arg(s)
            .arg("-d")
            .arg(s.join("_site")),
        RUN_TIMEOUT,
    )
    .ok();
    let feed = std::fs::read_to_string(s.join("_site/feed.xml")).unwrap();
    let srv = FeedServer::start(&feed);
    let p = project(&srv.url("/feed.xml"), "");
    let out = p.run(&["posts", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&out.ok().stdout()).unwrap();
    assert_eq!(rows[0]["slug"], "thaw", "{rows}");
    assert_eq!(
        rows[0]["url"],
        "https://jekyll.example/weather/2026/11/12/thaw.html"
    );
    assert_eq!(rows[0]["tags"], serde_json::json!(["weather", "spring"]));
    let eml = eml(&p, "thaw");
    assert!(
        eml.contains("href=\"https://jekyll.example/more/\""),
        "{eml}"
    );
    assert!(
        eml.contains("src=\"https://jekyll.example/weather/2026/11/12/ice.png\""),
        "{eml}"
    );
    assert_clean(&eml);
}
