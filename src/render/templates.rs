//! The template set: built-in templates compiled into the binary,
//! overridden file by file from the `templates/` folder, with errors turned
//! into `file:line: message`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tera::{Context, Tera};

use super::slots::attribute_function;
use crate::error::{Error, Result};

/// Templates compiled into the binary, by name (their path under `templates/`).
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "email/base.html",
        include_str!("../../templates/email/base.html"),
    ),
    (
        "email/base.txt",
        include_str!("../../templates/email/base.txt"),
    ),
    (
        "email/post.html",
        include_str!("../../templates/email/post.html"),
    ),
    (
        "email/post.txt",
        include_str!("../../templates/email/post.txt"),
    ),
    (
        "email/digest.html",
        include_str!("../../templates/email/digest.html"),
    ),
    (
        "email/digest.txt",
        include_str!("../../templates/email/digest.txt"),
    ),
    (
        "email/confirm.html",
        include_str!("../../templates/email/confirm.html"),
    ),
    (
        "email/confirm.txt",
        include_str!("../../templates/email/confirm.txt"),
    ),
    (
        "email/welcome.html",
        include_str!("../../templates/email/welcome.html"),
    ),
    (
        "email/welcome.txt",
        include_str!("../../templates/email/welcome.txt"),
    ),
    (
        "shortcodes/figure.html",
        include_str!("../../templates/shortcodes/figure.html"),
    ),
    (
        "shortcodes/figure.txt",
        include_str!("../../templates/shortcodes/figure.txt"),
    ),
    (
        "shortcodes/gist.html",
        include_str!("../../templates/shortcodes/gist.html"),
    ),
    (
        "shortcodes/gist.txt",
        include_str!("../../templates/shortcodes/gist.txt"),
    ),
    (
        "shortcodes/highlight.html",
        include_str!("../../templates/shortcodes/highlight.html"),
    ),
    (
        "shortcodes/highlight.txt",
        include_str!("../../templates/shortcodes/highlight.txt"),
    ),
    (
        "shortcodes/ref.html",
        include_str!("../../templates/shortcodes/ref.html"),
    ),
    (
        "shortcodes/ref.txt",
        include_str!("../../templates/shortcodes/ref.txt"),
    ),
    (
        "shortcodes/relref.html",
        include_str!("../../templates/shortcodes/relref.html"),
    ),
    (
        "shortcodes/relref.txt",
        include_str!("../../templates/shortcodes/relref.txt"),
    ),
    (
        "shortcodes/tweet.html",
        include_str!("../../templates/shortcodes/tweet.html"),
    ),
    (
        "shortcodes/tweet.txt",
        include_str!("../../templates/shortcodes/tweet.txt"),
    ),
    (
        "shortcodes/vimeo.html",
        include_str!("../../templates/shortcodes/vimeo.html"),
    ),
    (
        "shortcodes/vimeo.txt",
        include_str!("../../templates/shortcodes/vimeo.txt"),
    ),
    (
        "shortcodes/x.html",
        include_str!("../../templates/shortcodes/x.html"),
    ),
    (
        "shortcodes/x.txt",
        include_str!("../../templates/shortcodes/x.txt"),
    ),
    (
        "shortcodes/youtube.html",
        include_str!("../../templates/shortcodes/youtube.html"),
    ),
    (
        "shortcodes/youtube.txt",
        include_str!("../../templates/shortcodes/youtube.txt"),
    ),
    ("i18n/en.toml", include_str!("../../templates/i18n/en.toml")),
    ("i18n/de.toml", include_str!("../../templates/i18n/de.toml")),
    (
        "web/base.html",
        include_str!("../../templates/web/base.html"),
    ),
    (
        "web/index.html",
        include_str!("../../templates/web/index.html"),
    ),
    (
        "web/message.html",
        include_str!("../../templates/web/message.html"),
    ),
    (
        "web/preferences.html",
        include_str!("../../templates/web/preferences.html"),
    ),
    (
        "web/archive.html",
        include_str!("../../templates/web/archive.html"),
    ),
    (
        "web/unsubscribe.html",
        include_str!("../../templates/web/unsubscribe.html"),
    ),
    (
        "web/confirm.html",
        include_str!("../../templates/web/confirm.html"),
    ),
    (
        "web/again.html",
        include_str!("../../templates/web/again.html"),
    ),
    (
        "web/signup_fields.html",
        include_str!("../../templates/web/signup_fields.html"),
    ),
];

/// The loaded template set with where each template came from.
pub struct Templates {
    tera: Tera,
    /// name -> (file shown in errors, source)
    sources: BTreeMap<String, (PathBuf, String)>,
    /// language -> (file, text) of `i18n/{lang}.toml`
    catalogues: BTreeMap<String, (PathBuf, String)>,
}

impl Templates {
    /// Built-in templates only.
    pub fn builtin() -> Result<Self> {
        Self::load(None)
    }

    /// Built-in templates overridden (and extended) by files under `dir`.
    pub fn load(dir: Option<&Path>) -> Result<Self> {
        let mut sources: BTreeMap<String, (PathBuf, String)> = BUILTIN
            .iter()
            .map(|(name, src)| {
                (
                    name.to_string(),
                    (
                        PathBuf::from(format!("(built-in) templates/{name}")),
                        src.to_string(),
                    ),
                )
            })
            .collect();
        if let Some(dir) = dir.filter(|d| d.is_dir()) {
            let mut files = Vec::new();
            collect(dir, dir, &mut files)?;
            for (name, path) in files {
                let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
                let src = String::from_utf8(bytes)
                    .map_err(|_| Error::at(&path, 1, "template is not valid UTF-8"))?;
                sources.insert(name, (path, src));
            }
        }
        let catalogues: BTreeMap<String, (PathBuf, String)> = sources
            .iter()
            .filter_map(|(name, v)| {
                let lang = name.strip_prefix("i18n/")?.strip_suffix(".toml")?;
                Some((lang.to_string(), v.clone()))
            })
            .collect();
        sources.retain(|name, _| !name.starts_with("i18n/"));
        let mut tera = Tera::default();
        tera.autoescape_on(vec![".html", ".htm", ".xml"]);
        tera.register_function("attribute", attribute_function);
        tera.add_raw_templates(sources.iter().map(|(n, (_, s))| (n.as_str(), s.as_str())))
            .map_err(|e| template_error(&sources, &e))?;
        Ok(Templates {
            tera,
            sources,
            catalogues,
        })
    }

    /// The message catalogue of `lang` (English filling what it lacks).
    pub fn messages(&self, lang: &str) -> Result<super::i18n::Messages> {
        super::i18n::Messages::load(&self.catalogues, lang)
    }

    pub fn render(&self, name: &str, ctx: &Context) -> Result<String> {
        self.tera
            .render(name, ctx)
            .map_err(|e| template_error(&self.sources, &e))
    }

    /// Whether a template of that name exists (built in or in the folder).
    pub fn has(&self, name: &str) -> bool {
        self.sources.contains_key(name)
    }

    /// Where a template came from (for messages).
    pub fn origin(&self, name: &str) -> Option<&Path> {
        self.sources.get(name).map(|(p, _)| p.as_path())
    }

    /// The built-in names plus any extra files, for `init` and checks.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.sources.keys().map(String::as_str)
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let fname = entry.file_name();
        if fname.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push((name, path));
        }
    }
    Ok(())
}

/// Turn a Tera error into `file:line: message`.
fn template_error(sources: &BTreeMap<String, (PathBuf, String)>, e: &tera::Error) -> Error {
    let mut chain = vec![e.to_string()];
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        chain.push(s.to_string());
        src = s.source();
    }
    let full = chain.join("\n");
    // Which template: the innermost quoted name that we know.
    let mut name: Option<&str> = None;
    for part in full.split('\'').skip(1).step_by(2) {
        if sources.contains_key(part) {
            name = Some(part);
        }
    }
    let detail = chain.last().cloned().unwrap_or_default();
    let Some(name) = name else {
        return Error::msg(format!("template error: {}", flatten(&full)));
    };
    let (path, _) = &sources[name];
    // Parse errors carry "--> line:col".
    if let Some(i) = full.find("--> ") {
        let rest = &full[i + 4..];
        let line: usize = rest
            .split(':')
            .next()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(1);
        let msg = full
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with("= "))
            .map(|l| l.trim_start_matches("= ").to_string())
            .unwrap_or_else(|| "syntax error".into());
        return Error::at(path, line, format!("template syntax error: {msg}"));
    }
    // Undefined variables: "Variable `x.y` not found in context while rendering ...".
    if let Some(var) = detail
        .strip_prefix("Variable `")
        .and_then(|r| r.split('`').next())
    {
        let (path, line) = find_variable(sources, name, var).unwrap_or((path.clone(), 1));
        return Error::at(
            path,
            line,
            format!("template uses undefined variable `{var}`"),
        );
    }
    Error::at(path, 1, format!("template error: {}", flatten(&detail)))
}

/// Find the line using `var`, in `name` or the templates it extends.
fn find_variable(
    sources: &BTreeMap<String, (PathBuf, String)>,
    name: &str,
    var: &str,
) -> Option<(PathBuf, usize)> {
    let mut current = Some(name.to_string());
    let mut seen = 0;
    while let Some(n) = current.take() {
        let (path, src) = sources.get(&n)?;
        for (i, line) in src.lines().enumerate() {
            if line.contains(var) && (line.contains("{{") || line.contains("{%")) {
                return Some((path.clone(), i + 1));
            }
        }
        current = src
            .split("{% extends \"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map(String::from);
        seen += 1;
        if seen > 16 {
            break;
        }
    }
    None
}

fn flatten(s: &str) -> String {
    s.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}
