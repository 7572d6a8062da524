//! Header safety: values that go into headers are one line of text.

/// Replace CR, LF and every other control character with a space and
/// collapse runs of whitespace, so a value can never start a new header.
pub fn clean_header_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_control() || c.is_whitespace() {
            space = true;
        } else {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_spaces() {
        assert_eq!(clean_header_text("a\r\nBcc: x@y.z"), "a Bcc: x@y.z");
        assert_eq!(clean_header_text("  tab\there\0 "), "tab here");
        assert_eq!(clean_header_text("Grüße"), "Grüße");
    }
}
