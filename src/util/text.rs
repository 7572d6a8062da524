//! Text helpers shared by content, config, render and the store.

/// A URL slug: lowercase letters and digits separated by single dashes.
pub fn slugify(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut dash = false;
    for c in s.chars() {
        if c.is_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.extend(c.to_lowercase());
        } else if c != '\'' && c != '’' {
            dash = true;
        }
    }
    out
}

/// 1-based line number of a byte offset in `bytes` (clamped to its end).
pub fn line_of_byte(bytes: &[u8], offset: usize) -> usize {
    let offset = offset.min(bytes.len());
    bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1
}

/// 1-based line number of a byte offset in `text`.
pub fn line_of_offset(text: &str, offset: usize) -> usize {
    line_of_byte(text.as_bytes(), offset)
}

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

/// Runs of whitespace become one space; no leading or trailing space.
pub fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Trim trailing spaces from every line and keep at most one blank line in
/// a row. Lines equal to one of `blank_like` (e.g. a lone `>`) count as
/// blank. Every kept line ends with `\n`; leading and trailing blank lines
/// are dropped.
pub fn squeeze_blank_lines(s: &str, blank_like: &[&str]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blanks = 0;
    for line in s.trim().lines() {
        let line = line.trim_end();
        if line.is_empty() || blank_like.contains(&line) {
            blanks += 1;
            if blanks > 1 {
                continue;
            }
        } else {
            blanks = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// At most `max` characters of `s` (on a character boundary).
pub fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A size in bytes: `5000`, `512KB`, `5MB`, `1GB` (binary multiples; `KiB`,
/// `MiB`, `GiB` and a space before the unit are accepted too).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let bad = || format!("{s:?} is not a size (e.g. 5MB, 512KB, 100000)");
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: u64 = t[..split].parse().map_err(|_| bad())?;
    let unit = t[split..].trim().to_ascii_uppercase();
    let mult: u64 = match unit.as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(bad()),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// Append `s` escaped for HTML element content and attribute values.
pub fn escape_html_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(parse_size("5MB").unwrap(), 5 << 20);
        assert_eq!(parse_size("512 KiB").unwrap(), 512 << 10);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("99999999999999GB").is_err());
    }

    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("Hello, World!  Again"), "hello-world-again");
        assert_eq!(slugify("Rust's C"), "rusts-c");
    }

    #[test]
    fn lines_of_offsets() {
        assert_eq!(line_of_offset("a\nb\nc", 0), 1);
        assert_eq!(line_of_offset("a\nb\nc", 2), 2);
        assert_eq!(line_of_offset("a\nb\nc", 99), 3);
    }

    #[test]
    fn control_characters_become_spaces() {
        assert_eq!(clean_header_text("a\r\nBcc: x@y.z"), "a Bcc: x@y.z");
        assert_eq!(clean_header_text("  tab\there\0 "), "tab here");
        assert_eq!(clean_header_text("Grüße"), "Grüße");
    }

    #[test]
    fn blank_lines_are_squeezed() {
        assert_eq!(
            squeeze_blank_lines("\n a  \n\n\n\nb\n>\n\nc  ", &[">"]),
            "a\n\nb\n>\nc\n"
        );
        assert_eq!(squeeze_blank_lines("x\n\n\ny", &[]), "x\n\ny\n");
    }

    #[test]
    fn truncation_is_on_char_boundaries() {
        assert_eq!(truncate_chars("Grüße", 3), "Grü");
        assert_eq!(truncate_chars("ab", 5), "ab");
    }
}
