//! A reader's own choices: how often (`Frequency`) and which topics.

use serde::Serialize;

/// How often a reader gets mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Frequency {
    /// Each post as its own email.
    Each,
    /// The regular digest.
    Digest,
    Both,
}

impl Frequency {
    pub const ALL: [Frequency; 3] = [Frequency::Each, Frequency::Digest, Frequency::Both];

    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Each => "each",
            Frequency::Digest => "digest",
            Frequency::Both => "both",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        Frequency::ALL
            .into_iter()
            .find(|f| f.as_str() == s.trim().to_lowercase())
            .ok_or_else(|| format!("{s:?} is not one of \"each\", \"digest\", \"both\""))
    }
}

/// A reader's preferences as stored: `None` frequency follows the
/// newsletter's `[publish] mode`; no topics means every post.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    pub frequency: Option<Frequency>,
    pub topics: Vec<String>,
}

/// Topics from a comma-separated list (`rust,go`): trimmed, lowercase,
/// without duplicates; an empty list means every post.
pub fn parse_topics(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in s.split(',').map(|t| t.trim().to_lowercase()) {
        if !t.is_empty() && !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// Whether a post with `tags` is for a reader of `topics`.
pub fn wants(topics: &[String], tags: &[String]) -> bool {
    topics.is_empty() || tags.iter().any(|t| topics.contains(&t.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_parse_and_match() {
        assert_eq!(parse_topics(" Rust, go,,rust "), ["rust", "go"]);
        assert!(wants(&[], &["x".into()]));
        assert!(wants(&["rust".into()], &["Rust".into(), "go".into()]));
        assert!(!wants(&["rust".into()], &["go".into()]));
        assert!(!wants(&["rust".into()], &[]));
        assert_eq!(Frequency::parse("Digest"), Ok(Frequency::Digest));
        assert!(Frequency::parse("weekly").is_err());
    }
}
