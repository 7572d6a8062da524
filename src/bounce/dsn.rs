//! The machine-readable parts of reports: `message/delivery-status`
//! (RFC 3464) and `message/feedback-report` (RFC 5965). Both are blocks
//! of header-like fields separated by blank lines.

/// One block of fields, names lowercased, folded lines unfolded.
pub type Fields = Vec<(String, String)>;

/// Split a report body into its field blocks.
pub fn blocks(text: &str) -> Vec<Fields> {
    let mut out = Vec::new();
    let mut current: Fields = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            current.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The first value of a field.
pub fn field<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// The address of a typed field (`rfc822; user@example.com`).
pub fn typed_address(value: &str) -> Option<String> {
    let addr = value.split_once(';').map(|(_, a)| a).unwrap_or(value);
    clean_address(addr)
}

/// The value of a typed field without its type (`smtp; 550 …` → `550 …`).
pub fn typed_text(value: &str) -> String {
    match value.split_once(';') {
        Some((kind, rest)) if !kind.contains(' ') => rest.trim().to_string(),
        _ => value.trim().to_string(),
    }
}

/// A bare, lowercase address from `<user@example.com>` or similar;
/// `None` when it does not look like one.
pub fn clean_address(s: &str) -> Option<String> {
    let s = s
        .trim()
        .trim_matches(|c: char| c == '<' || c == '>' || c == '"' || c == '\'' || c.is_whitespace())
        .trim_end_matches(['.', ',', ':', ';', ')']);
    let s = s.trim_start_matches(['(', '<']).trim_end_matches('>');
    let (local, domain) = s.rsplit_once('@')?;
    let ok_local = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let ok_domain = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    (ok_local && ok_domain).then(|| format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// At most this many distinct addresses are read from one text: a real
/// bounce names a few; a crafted one must not make the work grow.
pub const MAX_ADDRESSES: usize = 200;

/// Every address in a text, in order of appearance, without repeats (at
/// most `MAX_ADDRESSES`).
pub fn addresses_in(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let is_part = |c: char| c.is_ascii_alphanumeric() || "!#$%&*+-/=?^_`{|}~.@".contains(c);
    let mut start = None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        match (is_part(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                start = None;
                let word = &text[s..i];
                if word.contains('@') {
                    if let Some(a) = clean_address(word) {
                        if seen.insert(a.to_ascii_lowercase()) {
                            out.push((s, a));
                            if out.len() == MAX_ADDRESSES {
                                break;
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// One recipient of a delivery status notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnRecipient {
    pub address: String,
    pub action: String,
    pub status: Option<String>,
    pub diagnostic: Option<String>,
}

/// The recipients a `message/delivery-status` body reports on.
pub fn recipients(text: &str) -> Vec<DsnRecipient> {
    blocks(text)
        .iter()
        .filter_map(|b| {
            let address = field(b, "final-recipient")
                .or_else(|| field(b, "original-recipient"))
                .and_then(typed_address)?;
            Some(DsnRecipient {
                address,
                action: field(b, "action")
                    .unwrap_or("failed")
                    .to_ascii_lowercase()
                    .split_whitespace()
                    .next()
                    .unwrap_or("failed")
                    .to_string(),
                status: field(b, "status")
                    .map(|s| s.split_whitespace().next().unwrap_or_default().to_string()),
                diagnostic: field(b, "diagnostic-code").map(typed_text),
            })
        })
        .collect()
}

/// What a feedback report says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Feedback {
    pub feedback_type: String,
    /// Every `Original-Rcpt-To` (a report may name several), else the
    /// `Removal-Recipient`s.
    pub recipients: Vec<String>,
    pub original_mail_from: Option<String>,
}

pub fn feedback(text: &str) -> Feedback {
    let all: Fields = blocks(text).into_iter().flatten().collect();
    let every = |name: &str| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, v) in all.iter().filter(|(n, _)| n == name) {
            if let Some(a) = clean_address(v) {
                if !out.contains(&a) && out.len() < MAX_ADDRESSES {
                    out.push(a);
                }
            }
        }
        out
    };
    let mut recipients = every("original-rcpt-to");
    if recipients.is_empty() {
        recipients = every("removal-recipient");
    }
    Feedback {
        feedback_type: field(&all, "feedback-type")
            .unwrap_or("abuse")
            .to_ascii_lowercase(),
        recipients,
        original_mail_from: field(&all, "original-mail-from").and_then(clean_address),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_crafted_list_of_addresses_stays_cheap() {
        let text: String = (0..20_000)
            .map(|i| format!("user{i}@example.org: 550 5.1.1\n"))
            .collect();
        let started = std::time::Instant::now();
        let found = addresses_in(&text);
        assert_eq!(found.len(), MAX_ADDRESSES);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    use super::*;

    #[test]
    fn fields_unfold_and_split() {
        let text = "Reporting-MTA: dns; a\n\nFinal-Recipient: rfc822; X@Example.COM\nAction: failed\nStatus: 5.0.0 (permanent failure)\nDiagnostic-Code: smtp; 550 no\n  such user\n";
        let r = recipients(text);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].address, "X@example.com");
        assert_eq!(r[0].status.as_deref(), Some("5.0.0"));
        assert_eq!(r[0].diagnostic.as_deref(), Some("550 no such user"));
    }

    #[test]
    fn addresses() {
        let found =
            addresses_in("<a@b.example>: host mx[192.0.2.1] said 550 <c.d@e.example>... x@y");
        let list: Vec<&str> = found.iter().map(|(_, a)| a.as_str()).collect();
        assert_eq!(list, ["a@b.example", "c.d@e.example"]);
        assert_eq!(clean_address("(reason"), None);
    }
}
