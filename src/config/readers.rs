//! What readers choose and see: `[welcome]`, `[topics]`, `[archive]` and
//! `[digest] subject`.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWelcome {
    enabled: Option<bool>,
    subject: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawArchive {
    enabled: Option<bool>,
    per_page: Option<u32>,
}

/// The settings of the reader-facing features.
#[derive(Debug, Clone)]
pub struct Readers {
    /// `[welcome] enabled` (default true).
    pub welcome: bool,
    /// `[topics]`: tag → label, sorted by tag.
    pub topics: Vec<(String, String)>,
    /// `[archive] per_page` (default 20).
    pub archive_per_page: u32,
}

impl Default for Readers {
    fn default() -> Self {
        Readers {
            welcome: true,
            topics: Vec::new(),
            archive_per_page: 20,
        }
    }
}

/// What rendering needs of those settings (part of `Newsletter`).
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// `[newsletter] language` (default "en"): the catalogue
    /// `templates/i18n/{language}.toml` of every fixed sentence.
    pub language: String,
    /// `[archive] enabled` (default false): emails link to their web copy.
    pub archive: bool,
    /// `[welcome] subject`: a Tera template with `newsletter`.
    pub welcome_subject: Option<String>,
    /// `[digest] subject`: a Tera template with `posts`, `count`,
    /// `window` and `newsletter`.
    pub digest_subject: Option<String>,
    /// `[paths] max_email_size` (default 2MB): a rendered email larger than
    /// this is refused. 0 (the `Default`) is no limit.
    pub max_email_size: u64,
    /// `[render] code_theme`: the highlighting theme of fenced code; empty
    /// (the `Default`) is the built-in light theme.
    pub code_theme: String,
    /// `[digest] preheader`: a Tera template (as `[digest] subject`) for
    /// the inbox preview text of digests.
    pub digest_preheader: Option<String>,
    /// `[tracking] clicks` (default false): each link of a campaign's HTML
    /// part counted per campaign and link, never per reader.
    pub track_clicks: bool,
}

/// The themes `[render] code_theme` accepts (syntect's built-in set).
pub const CODE_THEMES: &[&str] = &[
    "InspiredGitHub",
    "Solarized (dark)",
    "Solarized (light)",
    "base16-eighties.dark",
    "base16-mocha.dark",
    "base16-ocean.dark",
    "base16-ocean.light",
];

/// The sections validated; an error is `(section, key, message)`.
pub(super) fn resolve(
    welcome: RawWelcome,
    topics: toml::Table,
    archive: RawArchive,
    digest_subject: Option<String>,
    language: Option<String>,
) -> Result<(Readers, Reading), (&'static str, String, String)> {
    let language = language
        .unwrap_or_else(|| "en".into())
        .trim()
        .to_lowercase();
    if language.is_empty()
        || language.len() > 16
        || !language
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err((
            "newsletter",
            "language".into(),
            "must be a language code such as \"en\" or \"de\"".into(),
        ));
    }
    let mut list = Vec::new();
    for (tag, label) in topics {
        let Some(label) = label.as_str().map(str::trim).filter(|l| !l.is_empty()) else {
            return Err(("topics", tag, "must be a label (a non-empty string)".into()));
        };
        if tag.is_empty() || tag.contains([',', ' ']) {
            return Err(("topics", tag, "a tag has no commas or spaces".into()));
        }
        list.push((tag.to_lowercase(), label.to_string()));
    }
    let per_page = archive.per_page.unwrap_or(20);
    if !(1..=200).contains(&per_page) {
        return Err((
            "archive",
            "per_page".into(),
            "must be between 1 and 200".into(),
        ));
    }
    for (section, key, t) in [
        ("welcome", "subject", &welcome.subject),
        ("digest", "subject", &digest_subject),
    ] {
        if let Some(t) = t {
            if t.trim().is_empty() {
                return Err((section, key.into(), "must not be empty".into()));
            }
            if let Err(e) = tera::Tera::default().add_raw_template(key, t) {
                let detail = std::error::Error::source(&e).map_or(e.to_string(), |s| s.to_string());
                let detail = detail.split_whitespace().collect::<Vec<_>>().join(" ");
                return Err((
                    section,
                    key.into(),
                    format!("not a valid template: {detail}"),
                ));
            }
        }
    }
    Ok((
        Readers {
            welcome: welcome.enabled.unwrap_or(true),
            topics: list,
            archive_per_page: per_page,
        },
        Reading {
            language,
            archive: archive.enabled.unwrap_or(false),
            welcome_subject: welcome.subject,
            digest_subject,
            max_email_size: 0,         // set from `[paths]` by `validate`
            code_theme: String::new(), // set from `[render]` by `validate`
            digest_preheader: None,    // set by `validate`
            track_clicks: false,       // `[tracking] clicks`, set by `validate`
        },
    ))
}

/// `[render] code_theme`: one of the built-in themes (default: the light
/// "InspiredGitHub").
pub(super) fn code_theme(
    loc: &super::keys::Locator<'_>,
    v: Option<String>,
) -> crate::error::Result<String> {
    let name = v.unwrap_or_else(|| "InspiredGitHub".into());
    if !CODE_THEMES.contains(&name.as_str()) {
        return Err(loc.at(
            "render",
            "code_theme",
            format!(
                "unknown theme {name:?} (one of: {})",
                CODE_THEMES.join(", ")
            ),
        ));
    }
    Ok(name)
}

/// `[digest] preheader`: a Tera template.
pub(super) fn digest_preheader(
    loc: &super::keys::Locator<'_>,
    v: Option<String>,
) -> crate::error::Result<Option<String>> {
    if let Some(t) = &v {
        if let Err(e) = tera::Tera::default().add_raw_template("preheader", t) {
            let detail = std::error::Error::source(&e).map_or(e.to_string(), |s| s.to_string());
            let detail = detail.split_whitespace().collect::<Vec<_>>().join(" ");
            return Err(loc.at(
                "digest",
                "preheader",
                format!("not a valid template: {detail}"),
            ));
        }
    }
    Ok(v.filter(|t| !t.trim().is_empty()))
}
