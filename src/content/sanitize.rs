//! A post's HTML made safe for email and the public archive (ammonia):
//! what Markdown produces stays (tables and their alignment, code, footnotes,
//! images, task-list boxes); scripts, frames, forms, `<meta>`, `<style>`,
//! event handlers, comments and URLs other than http(s) and mailto go.
//! Relative URLs (raw HTML's; Markdown's are already absolute) are made
//! absolute against the post's URL, `#fragment` links stay as they are.

use std::borrow::Cow;
use std::collections::HashSet;

use ammonia::{Builder, UrlRelative, UrlRelativeEvaluate};
use url::Url;

/// The schemes a link or an image may have.
pub const URL_SCHEMES: [&str; 3] = ["http", "https", "mailto"];

/// Sanitise `html` (a post body rendered from Markdown) whose relative
/// URLs are relative to `base`.
pub fn sanitize(html: &str, base: &Url) -> String {
    let mut b = Builder::default();
    b.url_schemes(HashSet::from(URL_SCHEMES))
        .url_relative(UrlRelative::Custom(Box::new(Relative(base.clone()))))
        .link_rel(None)
        // Footnotes (`footnote-reference`, `footnote-definition`) and code
        // blocks (`language-*`) carry classes; a definition carries the id
        // its reference links to.
        .add_generic_attributes(["class"])
        .add_tag_attributes("div", ["id"])
        // Table column alignment is a style attribute.
        .add_tag_attributes("td", ["style"])
        .add_tag_attributes("th", ["style"])
        .filter_style_properties(HashSet::from(["text-align"]))
        // Task lists: a disabled checkbox and nothing else.
        .add_tags(["input"])
        .add_tag_attributes("input", ["checked"])
        .set_tag_attribute_value("input", "type", "checkbox")
        .set_tag_attribute_value("input", "disabled", "");
    b.clean(html).to_string()
}

/// CSS properties shortcode templates may set in `style` attributes.
const GENERATED_STYLES: &[&str] = &[
    "background",
    "background-color",
    "border",
    "border-bottom",
    "border-collapse",
    "border-left",
    "border-radius",
    "border-right",
    "border-top",
    "color",
    "display",
    "font-family",
    "font-size",
    "font-style",
    "font-weight",
    "height",
    "line-height",
    "margin",
    "margin-bottom",
    "margin-left",
    "margin-right",
    "margin-top",
    "max-width",
    "min-width",
    "overflow",
    "overflow-wrap",
    "overflow-x",
    "padding",
    "padding-bottom",
    "padding-left",
    "padding-right",
    "padding-top",
    "text-align",
    "text-decoration",
    "vertical-align",
    "white-space",
    "width",
    "word-break",
    "word-wrap",
];

/// Sanitise HTML that shortcode templates produced: the same tags and URL
/// rules as `sanitize`, plus layout attributes and inline styles (limited
/// to `GENERATED_STYLES`), so that a template cannot put a script, a form
/// or a `javascript:` link into an email whatever its arguments say.
pub fn generated(html: &str, base: &Url) -> String {
    let mut b = Builder::default();
    b.url_schemes(HashSet::from(URL_SCHEMES))
        .url_relative(UrlRelative::Custom(Box::new(Relative(base.clone()))))
        .link_rel(None)
        .add_generic_attributes([
            "class",
            "style",
            "width",
            "height",
            "align",
            "valign",
            "bgcolor",
            "border",
            "cellpadding",
            "cellspacing",
            "role",
        ])
        .add_tag_attributes("div", ["id"])
        .filter_style_properties(GENERATED_STYLES.iter().copied().collect());
    b.clean(html).to_string()
}

/// Relative URLs joined to the post's URL; `#fragment` links kept.
struct Relative(Url);

impl<'a> UrlRelativeEvaluate<'a> for Relative {
    fn evaluate<'url>(&self, u: &'url str) -> Option<Cow<'url, str>> {
        if u.starts_with('#') {
            return Some(Cow::Borrowed(u));
        }
        let joined = self.0.join(u).ok()?;
        URL_SCHEMES
            .contains(&joined.scheme())
            .then(|| Cow::Owned(joined.to_string()))
    }
}

/// `html` without its `<meta http-equiv=…>` tags (a refresh redirects the
/// page elsewhere; CSP does not stop it). For HTML stored before posts were
/// sanitised (archived issues), served as it is otherwise.
pub fn without_http_equiv(html: &str) -> std::borrow::Cow<'_, str> {
    let lower = html.to_ascii_lowercase();
    if !lower.contains("http-equiv") {
        return std::borrow::Cow::Borrowed(html);
    }
    let mut out = String::with_capacity(html.len());
    let mut at = 0;
    while let Some(i) = lower[at..].find("<meta").map(|i| at + i) {
        let end = lower[i..].find('>').map_or(lower.len(), |j| i + j + 1);
        out.push_str(&html[at..i]);
        if !lower[i..end].contains("http-equiv") {
            out.push_str(&html[i..end]);
        }
        at = end;
    }
    out.push_str(&html[at..]);
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod http_equiv_tests {
    use super::without_http_equiv;

    #[test]
    fn refreshes_go_and_the_rest_stays() {
        let page = "<head><meta charset=utf-8><META HTTP-EQUIV=\"refresh\" content=\"0;url=https://evil.example/\">\
                    <meta name=viewport content=\"width=device-width\"></head><p>é</p><meta http-equiv=x";
        assert_eq!(
            without_http_equiv(page),
            "<head><meta charset=utf-8><meta name=viewport content=\"width=device-width\"></head><p>é</p>"
        );
        assert!(matches!(
            without_http_equiv("<p>plain</p>"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
