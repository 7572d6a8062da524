//! Front matter values that end up in links and schedules are held to what
//! makes sense: a post's URL is http(s) (relative values are resolved
//! against `base_url` first), and its date lies between 1900 and 2200.

use chrono::{DateTime, Datelike, FixedOffset};

/// The first year a post may carry.
pub const MIN_YEAR: i32 = 1900;
/// Posts must be dated before this year.
pub const MAX_YEAR: i32 = 2200;

/// `Err((front matter key, message))` when the resolved URL or the date is
/// out of bounds.
pub fn check(url: &str, date: &DateTime<FixedOffset>) -> Result<(), (&'static str, String)> {
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("http" | "https")) {
        return Err((
            "url",
            format!("`url` {url:?} must be an http(s) URL or a relative path"),
        ));
    }
    let year = date.year();
    if !(MIN_YEAR..MAX_YEAR).contains(&year) {
        return Err((
            "date",
            format!(
                "`date` {} is out of range (years {MIN_YEAR} to {})",
                date.format("%Y-%m-%d"),
                MAX_YEAR - 1
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn only_http_urls_and_sane_dates() {
        let ok = d("2026-01-01T00:00:00Z");
        assert!(check("https://example.com/p/", &ok).is_ok());
        assert!(check("HTTP://example.com/p/", &ok).is_ok());
        assert_eq!(check("javascript:alert(8)", &ok).unwrap_err().0, "url");
        assert_eq!(check("data:text/html,x", &ok).unwrap_err().0, "url");
        assert_eq!(
            check("https://e.com/", &d("1899-12-31T23:00:00Z"))
                .unwrap_err()
                .0,
            "date"
        );
        assert_eq!(
            check("https://e.com/", &d("2200-01-01T00:00:00Z"))
                .unwrap_err()
                .0,
            "date"
        );
        assert!(check("https://e.com/", &d("1999-12-31T23:00:00Z")).is_ok());
    }
}
