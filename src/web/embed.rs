//! The embeddable subscribe form (`gazette form`): an HTML snippet a blog
//! pastes into its templates. It posts to `public_url/subscribe` with the
//! honeypot; where scripts run, a few lines fetch a token from
//! `GET /subscribe/token` (CORS from `base_url`'s origin) and, with
//! `[web] subscribe_pow`, `pow.js` does the work; without scripts the post
//! goes through the one-more-click page. Either way the reader lands on
//! Gazette's thank-you page or `[web] return_url`.

use crate::audience::signup::{HONEYPOT_FIELD, POW_FIELD, TOKEN_FIELD};
use crate::config::Settings;
use crate::render::i18n::Messages;
use crate::util::text::escape_html_into;

/// How the snippet looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// The fields and the button, styled by the blog's own CSS.
    Minimal,
    /// A box with a heading, a sentence, the fields and a note, styled by
    /// a `<style>` block of its own (classes `gazette-*`).
    Card,
}

/// The card's styles: every rule under `.gazette-card`, so the blog's
/// other elements are left alone.
const CARD_CSS: &str = "<style>
.gazette-card { max-width: 28rem; padding: 1.25rem 1.5rem; border: 1px solid #d0d7de; border-radius: 8px; background: #fff; color: #1f2328; }
.gazette-card h2 { margin: 0 0 .5rem; font-size: 1.25rem; }
.gazette-card p { margin: 0 0 .5rem; }
.gazette-card label { display: block; font-weight: 600; margin: .75rem 0 .25rem; }
.gazette-card input[type=email], .gazette-card input[type=text] { width: 100%; box-sizing: border-box; padding: .6rem; font-size: 1rem; border: 1px solid #8c959f; border-radius: 5px; }
.gazette-card button { margin-top: 1rem; background: #0b62c4; color: #fff; border: 0; padding: .7rem 1.2rem; font-size: 1rem; border-radius: 5px; cursor: pointer; }
.gazette-card button:focus, .gazette-card input:focus { outline: 3px solid #f0b429; outline-offset: 2px; }
.gazette-card .gazette-note { color: #57606a; font-size: .85rem; margin-top: .75rem; }
</style>
";

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_html_into(s, &mut out);
    out
}

/// The snippet for `settings`, its words from `t` (`[newsletter] language`).
pub fn snippet(settings: &Settings, t: &Messages, style: Style) -> String {
    let nl = &settings.newsletter;
    let say = |key: &str| esc(&t.fill(key, &[("title", &nl.title)]));
    let public = &nl.public_url;
    let pow = settings.web.subscribe_pow;
    let mut s = format!(
        "<!-- The subscribe form of {} (gazette form): docs/web.md, \"The embeddable form\". -->\n",
        esc(&nl.title).replace("--", "- -")
    );
    if style == Style::Card {
        s.push_str(CARD_CSS);
        s.push_str("<div class=\"gazette-card\">\n");
        s.push_str(&format!("<h2>{}</h2>\n", say("subscribe_heading")));
        s.push_str(&format!("<p>{}</p>\n", say("subscribe_intro")));
    }
    s.push_str(&format!(
        "<form id=\"gazette-subscribe\" class=\"gazette-subscribe\" method=\"post\" action=\"{}/subscribe\" accept-charset=\"utf-8\"{}>\n",
        esc(public),
        if pow { " data-gazette-pow" } else { "" }
    ));
    s.push_str(&format!(
        "  <label for=\"gazette-email\">{}</label>\n  <input id=\"gazette-email\" name=\"email\" type=\"email\" required autocomplete=\"email\" maxlength=\"254\">\n",
        say("email_label")
    ));
    if style == Style::Card {
        s.push_str(&format!(
            "  <label for=\"gazette-name\">{} <span class=\"gazette-note\">{}</span></label>\n  <input id=\"gazette-name\" name=\"name\" type=\"text\" autocomplete=\"name\" maxlength=\"200\">\n",
            say("name_label"),
            say("optional")
        ));
    }
    s.push_str(&format!(
        "  <input type=\"hidden\" name=\"{TOKEN_FIELD}\" value=\"\">\n"
    ));
    // People neither see nor hear it; a bot filling every field fills it.
    s.push_str(&format!(
        "  <div aria-hidden=\"true\" style=\"position:absolute;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden\"><label for=\"gazette-website\">Website</label><input id=\"gazette-website\" name=\"{HONEYPOT_FIELD}\" type=\"text\" tabindex=\"-1\" autocomplete=\"off\" value=\"\"></div>\n"
    ));
    if pow {
        s.push_str(&format!(
            "  <input type=\"hidden\" name=\"{POW_FIELD}\" value=\"\">\n"
        ));
    }
    s.push_str(&format!(
        "  <button type=\"submit\">{}</button>\n</form>\n",
        say("subscribe_button")
    ));
    if style == Style::Card {
        s.push_str(&format!(
            "<p class=\"gazette-note\">{}</p>\n</div>\n",
            say("subscribe_note")
        ));
    }
    if pow {
        s.push_str(&format!(
            "<script src=\"{}/subscribe/pow.js\" async></script>\n",
            esc(public)
        ));
    }
    // The token URL as a JavaScript string (public_url has no quotes,
    // angle brackets or backslashes: config checks it).
    let token_url = serde_json::to_string(&format!("{public}/subscribe/token")).expect("a string");
    s.push_str(&format!(
        "<script>
(function (f) {{
  if (!f || !window.fetch) return;
  fetch({token_url}, {{ credentials: \"omit\" }})
    .then(function (r) {{ return r.json(); }})
    .then(function (d) {{ f.elements.{TOKEN_FIELD}.value = d.token; if (window.gazettePow) window.gazettePow(f); }})
    .catch(function () {{}});
}})(document.getElementById(\"gazette-subscribe\"));
</script>
"
    ));
    s
}
