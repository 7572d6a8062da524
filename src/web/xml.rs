//! XML text as the feed writes it: the five special characters escaped and
//! the characters XML 1.0 forbids (controls other than tab, line feed and
//! carriage return; U+FFFE, U+FFFF) left out, so that any title or summary
//! makes a well-formed document.

/// Whether XML 1.0 allows `c` in a document (its `Char` production;
/// Rust's `char` has no surrogates).
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `s` as XML text or attribute value: escaped, forbidden characters
/// dropped.
pub fn escape_text(s: &str) -> String {
    let kept: String = s.chars().filter(|c| is_xml_char(*c)).collect();
    let mut out = String::with_capacity(kept.len());
    crate::util::text::escape_html_into(&kept, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_characters_are_dropped_and_specials_escaped() {
        assert_eq!(escape_text("a\u{FFFE}b\u{8}c\u{0}"), "abc");
        assert_eq!(escape_text("<&>\"'"), "&lt;&amp;&gt;&quot;&#39;");
        assert_eq!(
            escape_text("tab\tline\ncr\r😀\u{FFFD}"),
            "tab\tline\ncr\r😀\u{FFFD}"
        );
        assert_eq!(escape_text("]]>"), "]]&gt;");
    }
}
