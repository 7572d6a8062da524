//! Shortcodes rendered by `templates/shortcodes/NAME.html` (and `.txt` for
//! the text part), built in or the operator's own. A template gets:
//! `args` (positional arguments), `named` (named ones, each also as a
//! variable of its own unless the name is taken), `body` (the paired body
//! as written), `body_html` (the body rendered as Markdown), `highlighted`
//! (`highlight`: the body as highlighted code), `url` (`ref`/`relref`: the
//! linked post's URL) and `post` (`title`, `url`, `slug`).

use serde_json::{Map, Value};
use tera::Context;

use super::Templates;
use crate::content::rich::{Call, Expander, Failure};
use crate::content::Post;

/// Variables a named argument cannot shadow.
const RESERVED: &[&str] = &[
    "args",
    "named",
    "body",
    "body_html",
    "highlighted",
    "url",
    "post",
    "name",
];

/// The templates as a shortcode renderer for one post.
pub struct TemplateExpander<'a> {
    pub templates: &'a Templates,
    pub post: &'a Post,
}

impl Expander for TemplateExpander<'_> {
    fn expand(&self, call: &Call<'_>) -> Result<String, Failure> {
        let sc = call.code;
        let ext = if call.text { "txt" } else { "html" };
        let name = format!("shortcodes/{}.{ext}", sc.name);
        if !self.templates.has(&name) {
            return Err(Failure::Unknown);
        }
        let mut ctx = Context::new();
        for (k, v) in &sc.named {
            if !RESERVED.contains(&k.as_str()) {
                ctx.insert(k.as_str(), v);
            }
        }
        ctx.insert("name", &sc.name);
        ctx.insert("args", &sc.positional);
        ctx.insert("named", &sc.named);
        ctx.insert("body", sc.body.as_deref().unwrap_or(""));
        ctx.insert("body_html", call.body_html.as_deref().unwrap_or(""));
        ctx.insert("highlighted", call.highlighted.as_deref().unwrap_or(""));
        ctx.insert("url", call.url.as_deref().unwrap_or(""));
        let mut post = Map::new();
        post.insert("title".into(), Value::from(self.post.title.as_str()));
        post.insert("url".into(), Value::from(self.post.url.as_str()));
        post.insert("slug".into(), Value::from(self.post.slug.as_str()));
        ctx.insert("post", &post);
        self.templates
            .render(&name, &ctx)
            .map_err(Failure::Template)
    }
}
