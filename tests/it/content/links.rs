//! `gazette posts check --links`: every link and image of the posts
//! requested once (HEAD, GET where HEAD is refused), broken ones reported
//! at their line; a real HTTP server on 127.0.0.1 stands in for the web.

use std::time::Duration;

use crate::helpers::Project;

#[allow(unused_imports)]
pub use crate::helpers::sites::{Route, Web};

fn project(web: &Web) -> Project {
    let config = crate::helpers::CONFIG.replace(
        "base_url = \"https://example.com/blog\"",
        &format!("base_url = \"{}\"", web.url("/blog")),
    );
    Project::with_config(&config)
}

#[test]
fn broken_links_are_reported_at_their_line_and_each_url_asked_once() {
    let web = Web::start();
    web.route("/ok", Route::Status(200));
    web.route("/nohead", Route::NoHead);
    web.route("/moved", Route::Redirect("/target"));
    web.route("/target", Route::Status(200));
    web.route("/rel", Route::Status(200));
    web.route("/slow", Route::Slow(Duration::from_secs(4)));
    let p = project(&web);
    // The body starts on line 5 of the file.
    let body = format!(
        "Intro with [a link]({ok}).\n\
         \n\
         ![a picture]({missing})\n\
         Again [the same link]({ok}#part) and [refused HEAD]({nohead}).\n\
         [moved]({moved}) and [relative](/rel) and [mail](mailto:a@example.com).\n\
         <p><img src=\"{gone}\" alt=\"\"></p>\n\
         \n\
         [slow]({slow}) and [nobody]({closed})\n",
        ok = web.url("/ok"),
        missing = web.url("/missing.png"),
        nohead = web.url("/nohead"),
        moved = web.url("/moved"),
        gone = web.url("/gone.jpg"),
        slow = web.url("/slow"),
        closed = "http://127.0.0.1:9/closed",
    );
    p.post("links", "Links", "2026-11-01", &body);
    let run = p.run(&["posts", "check", "--links", "--timeout", "1s"]);
    run.fails_with("4 problems found");
    let err = run.stderr();
    let path = "posts/links.md";
    for want in [
        format!("{path}:7: 404 {}", web.url("/missing.png")),
        format!("{path}:10: 404 {}", web.url("/gone.jpg")),
        format!("{path}:12: unreachable {}: timed out", web.url("/slow")),
        format!("{path}:12: unreachable http://127.0.0.1:9/closed: cannot connect"),
    ] {
        assert!(err.contains(&want), "{want:?} not in:\n{err}");
    }
    for fine in ["/ok", "/nohead", "/moved", "/rel"] {
        assert!(
            !err.contains(&format!("{} ", web.url(fine)))
                && !err.contains(&format!("{}:", web.url(fine))),
            "{fine} reported:\n{err}"
        );
    }
    // One request per URL, however often it appears; GET only where HEAD
    // was refused; the redirect followed.
    assert_eq!(web.hits("HEAD", "/ok"), 1);
    assert_eq!(web.all_hits("/ok"), 1);
    assert_eq!(web.hits("HEAD", "/nohead"), 1);
    assert_eq!(web.hits("GET", "/nohead"), 1);
    assert_eq!(web.all_hits("/moved"), 1);
    assert_eq!(web.all_hits("/target"), 1);
    assert_eq!(web.all_hits("/rel"), 1);
    assert_eq!(web.all_hits("/missing.png"), 1);
}

#[test]
fn a_slug_checks_only_that_post_and_plain_check_requests_nothing() {
    let web = Web::start();
    web.route("/fine", Route::Status(200));
    let p = project(&web);
    p.post(
        "good",
        "Good",
        "2026-11-01",
        &format!("[x]({})\n", web.url("/fine")),
    );
    p.post(
        "bad",
        "Bad",
        "2026-11-02",
        &format!(
            "[y]({})\n\n{{{{< figure src=\"/fig.png\" caption=\"A figure\" >}}}}\n",
            web.url("/nope")
        ),
    );
    p.run(&["posts", "check"]).ok();
    assert_eq!(web.all_hits("/fine") + web.all_hits("/nope"), 0);
    let run = p.run(&["posts", "check", "--links", "good"]);
    run.ok();
    assert!(run.stderr().contains("1 link answers"), "{}", run.stderr());
    assert_eq!(web.all_hits("/nope"), 0);
    let run = p.run(&["posts", "check", "--links"]);
    run.fails_with(&format!("posts/bad.md:5: 404 {}", web.url("/nope")));
    // A shortcode's link argument, relative, made absolute as in the email.
    run.fails_with(&format!("posts/bad.md:7: 404 {}", web.url("/fig.png")));
    p.run(&["posts", "check", "--links", "nosuch"])
        .fails_with("no post with slug \"nosuch\"");
}
