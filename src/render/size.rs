//! The size of a rendered email, measured once per campaign or preview:
//! refused past `[paths] max_email_size` (before the costly CSS inlining
//! where possible), a warning past the size Gmail shows unclipped.

use std::path::Path;

use super::EmailKind;
use crate::config::Newsletter;
use crate::error::{Error, Result};

/// Gmail shows "[Message clipped]" for HTML larger than about 102 KB.
pub const GMAIL_CLIP: usize = 102 * 1024;

/// The limit of one email, and what its messages name: the post file, or
/// the kind of email.
pub(super) struct Limit<'a> {
    max: usize,
    kind: EmailKind,
    file: Option<&'a Path>,
}

impl<'a> Limit<'a> {
    pub(super) fn new(nl: &Newsletter, kind: EmailKind, file: Option<&'a Path>) -> Self {
        let max = match nl.reading.max_email_size {
            0 => usize::MAX,
            n => usize::try_from(n).unwrap_or(usize::MAX),
        };
        Limit { max, kind, file }
    }

    pub(super) fn kind(&self) -> EmailKind {
        self.kind
    }

    /// The most bytes a post's HTML may have.
    pub(super) fn max(&self) -> usize {
        self.max
    }

    fn error(&self, message: String) -> Error {
        match self.file {
            Some(path) => Error::file(path, message),
            None => Error::msg(format!("the {} email: {message}", self.kind.name())),
        }
    }

    fn largest(&self) -> String {
        format!(
            "the largest allowed ({}, `[paths] max_email_size`)",
            human(self.max)
        )
    }

    /// The post's HTML alone passed the limit (it was not rendered whole).
    pub(super) fn body_too_large(&self) -> Error {
        self.error(format!(
            "the post's HTML alone is over {}; shorten the post or raise the limit",
            self.largest()
        ))
    }

    /// The templates' HTML, before its CSS is inlined (which only adds).
    pub(super) fn check_rendered(&self, html: &str, text: &str) -> Result<()> {
        let size = html.len().saturating_add(text.len());
        if size > self.max {
            return Err(self.error(format!(
                "the email would be at least {}, over {}",
                human(size),
                self.largest()
            )));
        }
        Ok(())
    }

    /// The finished email: refused past the limit, a warning past Gmail's
    /// clipping size.
    pub(super) fn check_email(&self, html: &str, text: &str) -> Result<()> {
        let size = html.len().saturating_add(text.len());
        if size > self.max {
            return Err(self.error(format!(
                "the email would be {}, over {}",
                human(size),
                self.largest()
            )));
        }
        if html.len() > GMAIL_CLIP {
            let what = match self.file {
                Some(path) => path.display().to_string(),
                None => format!("the {} email", self.kind.name()),
            };
            tracing::warn!(
                "{what}: the email's HTML is {}: Gmail clips messages over {} (\"[Message clipped]\")",
                human(html.len()),
                human(GMAIL_CLIP)
            );
        }
        Ok(())
    }
}

/// A size for people: "900 bytes", "102 KB", "2.5 MB" (1 KB = 1024 bytes,
/// as `parse_size` reads them).
pub fn human(n: usize) -> String {
    const KB: usize = 1 << 10;
    const MB: usize = 1 << 20;
    match n {
        n if n < KB => format!("{n} bytes"),
        n if n < MB => format!("{} KB", n / KB),
        n => {
            let tenths = (n as u128 * 10 / MB as u128) as u64;
            format!("{}.{} MB", tenths / 10, tenths % 10)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human(900), "900 bytes");
        assert_eq!(human(GMAIL_CLIP), "102 KB");
        assert_eq!(human(2 << 20), "2.0 MB");
        assert_eq!(human(158 * (1 << 20) + (1 << 19)), "158.5 MB");
        assert!(human(usize::MAX).ends_with(" MB"));
    }
}
