//! Times as export tools write them.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// RFC 3339 (`2024-01-15T10:00:00.000Z`), Go's `Time.String()` as listmonk
/// writes it (`2024-01-02 10:00:00.123456 +0000 UTC`), `2023-03-24 10:23:10
/// UTC` (beehiiv), `2013-06-25 17:38:27` (Mailchimp, UTC), `YYYY-MM-DD HH:MM
/// +ZZZZ`, and a bare date. A time without an offset is UTC.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    let t = parse(s).ok_or_else(|| format!("invalid date {s:?}"))?;
    let earliest = Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).single();
    let latest = Utc::now() + chrono::Duration::days(1);
    if earliest.is_some_and(|e| t < e) || t > latest {
        return Err(format!(
            "date {s:?} is out of range (expected 1900-01-01 to tomorrow)"
        ));
    }
    Ok(t)
}

fn parse(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(Utc.from_utc_datetime(&d));
    }
    let mut tokens = s.split_ascii_whitespace();
    let date = NaiveDate::parse_from_str(tokens.next()?, "%Y-%m-%d").ok()?;
    let Some(time) = tokens.next() else {
        return Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?));
    };
    let time = NaiveTime::parse_from_str(time, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(time, "%H:%M"))
        .ok()?;
    let local = date.and_time(time);
    let offset = match tokens.next() {
        None => FixedOffset::east_opt(0)?,
        Some(z) if is_utc_name(z) => FixedOffset::east_opt(0)?,
        Some(o) => {
            let offset = parse_offset(o)?;
            // Go adds the zone's abbreviation and, for a time read from the
            // clock, the monotonic reading (`m=+0.001`); both say nothing more.
            match tokens.next() {
                Some(abbr)
                    if abbr
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-') => {}
                None => {}
                Some(_) => return None,
            }
            offset
        }
    };
    if let Some(rest) = tokens.next() {
        if !rest.starts_with("m=") {
            return None;
        }
    }
    offset
        .from_local_datetime(&local)
        .single()
        .map(|d| d.with_timezone(&Utc))
}

fn is_utc_name(z: &str) -> bool {
    z.eq_ignore_ascii_case("UTC") || z.eq_ignore_ascii_case("GMT") || z == "Z"
}

/// `+0000`, `-0530`, `+05:30`.
fn parse_offset(o: &str) -> Option<FixedOffset> {
    let (sign, rest) = match o.as_bytes().first()? {
        b'+' => (1, &o[1..]),
        b'-' => (-1, &o[1..]),
        _ => return None,
    };
    let b = rest.as_bytes();
    let (hh, mm) = match b.len() {
        4 => (&b[..2], &b[2..]),
        5 if b[2] == b':' => (&b[..2], &b[3..]),
        _ => return None,
    };
    let num = |d: &[u8]| -> Option<i32> {
        d.iter().try_fold(0i32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i32::from(c - b'0'))
        })
    };
    FixedOffset::east_opt(sign * (num(hh)? * 3600 + num(mm)? * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(s: &str) -> String {
        parse_time(s)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    }

    #[test]
    fn the_forms_tools_write() {
        assert_eq!(
            iso("2024-01-02 10:00:00.123456 +0000 UTC"),
            "2024-01-02T10:00:00.123456Z"
        );
        assert_eq!(
            iso("2024-01-02 15:30:00 +0530 IST"),
            "2024-01-02T10:00:00.000000Z"
        );
        assert_eq!(
            iso("2024-01-02 10:00:00.5 +0000 UTC m=+0.000123"),
            "2024-01-02T10:00:00.500000Z"
        );
        assert_eq!(
            iso("2023-03-24 10:23:10 UTC"),
            "2023-03-24T10:23:10.000000Z"
        );
        assert_eq!(iso("2013-06-25 17:38:27"), "2013-06-25T17:38:27.000000Z");
        assert_eq!(
            iso("2024-01-15T10:00:00.000Z"),
            "2024-01-15T10:00:00.000000Z"
        );
        assert_eq!(iso("2024-01-15"), "2024-01-15T00:00:00.000000Z");
        assert_eq!(iso("2024-01-15 08:00 +0100"), "2024-01-15T07:00:00.000000Z");
        for bad in [
            "yesterday",
            "2024-13-01",
            "2024-01-02 10:00:00 +0000 UTC extra",
            "2024-01-02 10:00 EST",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
