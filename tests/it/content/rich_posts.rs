//! Emails that look like the post (issue 28), through the real binary:
//! Hugo and Zola shortcodes, highlighted code, the preheader. The fixtures
//! in tests/fixtures/rich are written as real Hugo and Zola posts are.

use crate::helpers::{Project, CONFIG};

const HUGO: &str = include_str!("../../fixtures/rich/hugo-shortcodes.md");
const ZOLA: &str = include_str!("../../fixtures/rich/zola-shortcodes.md");
const CODE: &str = include_str!("../../fixtures/rich/code-languages.md");

/// A shortcode of the blog's own, as an operator adds one.
const NOTE: &str = "<div class=\"note\" style=\"border-left:4px solid #d4a72c;padding:8px 12px\">\
{% if title %}<strong>{{ title }}</strong> {% endif %}{% if kind %}[{{ kind }}] {% endif %}{{ body_html | safe }}</div>\n";

fn project() -> Project {
    let p = Project::new();
    p.write("posts/2026-11-20-build-cache.md", HUGO);
    p.write("posts/zola-video.md", ZOLA);
    p.write("posts/eight-languages.md", CODE);
    p.write("templates/shortcodes/note.html", NOTE);
    p
}

fn html_of(p: &Project, slug: &str) -> String {
    let out = p.run(&["preview", "post", slug, "--format", "html"]);
    out.ok();
    out.stdout()
}

fn text_of(p: &Project, slug: &str) -> String {
    let out = p.run(&["preview", "post", slug, "--format", "text"]);
    out.ok();
    out.stdout()
}

/// What was left of shortcode syntax outside `<pre>` and `<code>`.
fn leftovers(html: &str) -> Vec<&'static str> {
    let mut outside = String::new();
    let mut rest = html;
    while let Some(i) = rest.find("<code") {
        outside.push_str(&rest[..i]);
        rest = match rest[i..].find("</code>") {
            Some(j) => &rest[i + j..],
            None => "",
        };
    }
    outside.push_str(rest);
    ["{{<", "{{%", "{{ ", "{%", "%}", ">}}"]
        .into_iter()
        .filter(|n| outside.contains(n))
        .collect()
}

#[test]
fn hugo_post_shortcodes_render_email_safe() {
    let p = project();
    let html = html_of(&p, "build-cache");
    assert!(
        leftovers(&html).is_empty(),
        "{:?}\n{html}",
        leftovers(&html)
    );
    // youtube: a linked thumbnail and a play label, no iframe.
    assert!(
        html.contains("href=\"https://www.youtube.com/watch?v=dQw4w9WgXcQ\""),
        "{html}"
    );
    assert!(
        html.contains("src=\"https://img.youtube.com/vi/dQw4w9WgXcQ/hqdefault.jpg\""),
        "{html}"
    );
    assert!(
        !html.contains("<iframe") && !html.contains("<script"),
        "{html}"
    );
    // figure: the image (made absolute), its link and caption.
    assert!(
        html.contains("src=\"https://example.com/blog/build-cache/pipeline.png\""),
        "{html}"
    );
    assert!(html.contains("<figcaption"), "{html}");
    assert!(
        html.contains("href=\"https://example.com/big.png\""),
        "{html}"
    );
    // highlight: Go, inline-styled.
    let go = html.split("package").nth(1).expect("the Go code is there");
    assert!(go.contains("style=\"color:#"), "{html}");
    // The paired shortcode of the blog's own, its body as Markdown.
    assert!(html.contains("<strong>Heads up</strong>"), "{html}");
    assert!(html.contains("<strong>lock file</strong>"), "{html}");
    // ref: the linked post's URL in a Markdown link.
    assert!(
        html.contains("href=\"https://example.com/blog/caching/\""),
        "{html}"
    );
    // gist and x: link cards.
    assert!(
        html.contains("https://gist.github.com/spf13/7896402"),
        "{html}"
    );
    assert!(
        html.contains("https://x.com/SanDiegoZoo/status/1453110110599868418"),
        "{html}"
    );
    // An escaped shortcode is shown as written; code keeps its braces.
    assert!(html.contains("{{&lt; youtube abc &gt;}}") || html.contains("{{< youtube abc >}}"));
    assert!(html.contains("not a shortcode"), "{html}");
    assert!(html.contains("in-a-fence"), "{html}");
    assert!(!html.contains("in-a-fence/hqdefault"), "{html}");

    let text = text_of(&p, "build-cache");
    assert!(
        text.contains("https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
        "{text}"
    );
    assert!(text.contains("fmt.Println(\"cache hit\")"), "{text}");
    assert!(
        text.contains("Heads up") || text.contains("lock file"),
        "{text}"
    );
    assert!(!text.contains("{{< youtube dQw4w9WgXcQ"), "{text}");
    assert!(!text.contains("{{< highlight"), "{text}");
}

#[test]
fn zola_post_shortcodes_render() {
    let p = project();
    let html = html_of(&p, "zola-video");
    assert!(
        leftovers(&html).is_empty(),
        "{:?}\n{html}",
        leftovers(&html)
    );
    assert!(
        html.contains("href=\"https://www.youtube.com/watch?v=aqz-KE-bpKQ\""),
        "{html}"
    );
    assert!(html.contains("The talk"), "{html}");
    assert!(html.contains("[warning]"), "{html}");
    assert!(html.contains("<strong>before</strong>"), "{html}");
    assert!(
        html.contains("href=\"https://vimeo.com/76979871\""),
        "{html}"
    );
    assert!(
        html.contains("src=\"https://example.com/images/stage.jpg\""),
        "{html}"
    );
}

#[test]
fn every_known_language_is_highlighted_and_the_email_stays_small() {
    let p = project();
    let html = html_of(&p, "eight-languages");
    let blocks: Vec<&str> = html.split("<pre").skip(1).collect();
    assert_eq!(blocks.len(), 9, "{html}");
    let mut plain = 0;
    for b in &blocks {
        let b = &b[..b.find("</pre>").unwrap()];
        if b.contains("++++[") {
            // The unknown language stays plain (escaped, no colours).
            assert!(!b.contains("<span"), "{b}");
            plain += 1;
        } else {
            assert!(b.contains("<span style=\"color:#"), "not highlighted: {b}");
        }
        // Long lines wrap instead of widening the email.
        assert!(b.contains("pre-wrap"), "{b}");
    }
    assert_eq!(plain, 1);
    assert!(!html.contains("class=\"language-rust\""), "{html}");
    // Gmail clips HTML parts over 102 KB.
    assert!(html.len() < 102 * 1024, "{} bytes", html.len());
    // The text part keeps the code as written.
    let text = text_of(&p, "eight-languages");
    assert!(text.contains("*m.entry(w).or_insert(0) += 1;"), "{text}");
    assert!(
        text.contains("title = \"My blog\" # shown in the masthead"),
        "{text}"
    );
    assert!(!text.contains("<span"), "{text}");
}

#[test]
fn code_theme_is_configurable_and_checked() {
    let p = Project::with_config(&format!(
        "{CONFIG}\n[render]\ncode_theme = \"Solarized (dark)\"\n"
    ));
    p.write("posts/eight-languages.md", CODE);
    let dark = html_of(&p, "eight-languages");
    // Solarized (dark)'s background.
    assert!(
        dark.replace(": ", ":").contains("background-color:#002b36"),
        "{dark}"
    );
    let bad = Project::with_config(&format!("{CONFIG}\n[render]\ncode_theme = \"Neon\"\n"));
    bad.write("posts/eight-languages.md", CODE);
    bad.run(&["posts", "check"])
        .fails_with("gazette.toml:10: render.code_theme: unknown theme \"Neon\"");
}

#[test]
fn unknown_shortcode_fails_check_with_path_and_line() {
    let p = Project::new();
    p.write(
        "posts/mystery.md",
        "+++\ntitle = \"Mystery\"\ndate = 2026-11-20\n+++\n\nIntro.\n\n{{< mastodon id=\"1\" >}}\n",
    );
    let out = p.run(&["posts", "check"]);
    out.fails_with(
        "mystery.md:8: unknown shortcode \"mastodon\" (add templates/shortcodes/mastodon.html)",
    );
    // Adding the template is the fix.
    p.write(
        "templates/shortcodes/mastodon.html",
        "<a href=\"https://mastodon.social/{{ id }}\">toot</a>",
    );
    p.run(&["posts", "check"]).ok();
    let html = html_of(&p, "mystery");
    assert!(html.contains("https://mastodon.social/1"), "{html}");
}

#[test]
fn broken_shortcode_syntax_is_a_located_error() {
    let p = Project::new();
    p.write(
        "posts/open.md",
        "---\ntitle: Open\ndate: 2026-11-20\n---\nLine one.\n\n{{< youtube abc\n",
    );
    p.write(
        "posts/noend.md",
        "+++\ntitle = \"No end\"\ndate = 2026-11-20\n+++\n{% note() %}\nbody\n",
    );
    let out = p.run(&["posts", "check"]);
    out.fails_with("open.md:7: unclosed shortcode");
    out.fails_with("noend.md:5: shortcode \"note\" has no `{% end %}`");
}

#[test]
fn shortcode_arguments_are_escaped_and_urls_checked() {
    let p = Project::new();
    p.write(
        "posts/evil.md",
        "+++\ntitle = \"Evil\"\ndate = 2026-11-20\n+++\n\n\
         {{< figure src=\"javascript:alert(1)\" caption=\"<script>alert(2)</script>\" link=\"javascript:alert(3)\" >}}\n\n\
         {{< youtube id=\"x\\\" onerror=\\\"alert(4)\" >}}\n",
    );
    let html = html_of(&p, "evil");
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("javascript:"), "{html}");
    assert!(!lower.contains("<script"), "{html}");
    assert!(!lower.contains(" onerror=\""), "{html}");
}

#[test]
fn preheader_is_the_hidden_first_text() {
    let p = project();
    let html = html_of(&p, "build-cache");
    let body = &html[html.find("<body").unwrap()..];
    let pre = body
        .find("Why our CI got four times faster, with the numbers.")
        .expect("the front matter's preheader");
    let masthead = body.find("Test Notes").unwrap();
    assert!(pre < masthead, "{body}");
    let hidden = &body[..pre];
    assert!(hidden.contains("display:none"), "{hidden}");
    // The padding after it keeps clients from pulling body text in.
    let after = &body[pre..masthead];
    assert!(
        after.matches('\u{200c}').count() + after.matches("&zwnj;").count() >= 50,
        "{after}"
    );
    // Without `preheader`, the summary.
    let html = html_of(&p, "zola-video");
    let body = &html[html.find("<body").unwrap()..];
    let pre = body.find("A talk worth watching:").expect("the summary");
    assert!(pre < body.find("Test Notes").unwrap(), "{body}");
}

#[test]
fn digest_preheader_is_a_template() {
    let p = Project::with_config(&format!(
        "{CONFIG}\n[digest]\npreheader = \"{{{{ count }}}} new: {{{{ posts | map(attribute='title') | join(sep=', ') }}}}\"\n"
    ));
    p.write("posts/2026-11-20-build-cache.md", HUGO);
    p.write("posts/zola-video.md", ZOLA);
    p.write("templates/shortcodes/note.html", NOTE);
    let out = p.run(&[
        "preview",
        "digest",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-23",
    ]);
    out.ok();
    let html = out.stdout();
    assert!(
        html.contains("2 new: Zola and video, Rebuilding the build cache"),
        "{html}"
    );
}

/// A shortcode where Markdown puts text into an attribute (an image's alt
/// text, a link's title) gives its text there, and the markup stays whole.
#[test]
fn shortcode_in_alt_text_or_title_keeps_the_markup_whole() {
    let p = Project::new();
    p.write(
        "posts/alt.md",
        "+++\ntitle = \"Alt\"\ndate = 2026-11-20\n+++\n\n\
         Look: ![A {{< youtube id=\"abc\" title=\"clip \\\"one\\\"\" >}} here](https://example.com/a.png) \
         and [a link](https://example.com/ \"{{< youtube xyz >}}\").\n",
    );
    let html = html_of(&p, "alt");
    let img = &html[html
        .find("<img src=\"https://example.com/a.png\"")
        .expect(&html)..];
    let img = &img[..img.find('>').unwrap() + 1];
    assert!(
        img.contains("alt=\"A ▶ clip &quot;one&quot; here\""),
        "{img}"
    );
    assert_eq!(img.matches('"').count() % 2, 0, "{img}");
    assert!(!img[4..].contains('<'), "{img}");
    let a = &html[html.find("<a href=\"https://example.com/\"").expect(&html)..];
    let a = &a[..a.find('>').unwrap() + 1];
    assert!(!a[2..].contains('<'), "{a}");
    assert!(a.contains("title=\""), "{a}");
    assert!(leftovers(&html).is_empty(), "{html}");
}
