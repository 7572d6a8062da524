use super::*;

/// Every event, with a record's fields, and the line counts.
fn read(input: &[u8]) -> (Vec<(Event, Vec<String>)>, LineCounts) {
    let mut r = Records::new(input, MAX_LINE);
    let mut out = Vec::new();
    loop {
        match r.next_record() {
            Event::End => return (out, r.counts()),
            e @ Event::Record(_) => {
                out.push((e, r.fields().map(str::to_string).collect()));
            }
            e => out.push((e, Vec::new())),
        }
    }
}

fn rec(line: u64, fields: &[&str]) -> (Event, Vec<String>) {
    (
        Event::Record(line),
        fields.iter().map(|f| f.to_string()).collect(),
    )
}

fn bad(line: u64, reason: &str) -> (Event, Vec<String>) {
    (Event::Bad(line, reason.into()), Vec::new())
}

#[test]
fn a_stray_quote_is_reported_and_the_next_line_read() {
    let (ev, n) = read(b"email,name\na@x.org,\"unterminated\nb@x.org,Bob\n\nc@x.org,\"Cy\"\n");
    assert_eq!(
        ev,
        [
            rec(1, &["email", "name"]),
            bad(2, UNTERMINATED),
            rec(3, &["b@x.org", "Bob"]),
            rec(5, &["c@x.org", "Cy"]),
        ]
    );
    let want = LineCounts {
        lines: 5,
        blank: 1,
        continued: 0,
    };
    assert_eq!(n, want);
}

#[test]
fn quoted_line_breaks_are_one_record() {
    let (ev, n) =
        read(b"email,note\r\nb@x.org,\"two\r\nlines, \"\"quoted\"\"\",x\rc@x.org,\"a\"\"\"");
    assert_eq!(
        ev,
        [
            rec(1, &["email", "note"]),
            rec(2, &["b@x.org", "two\nlines, \"quoted\"", "x"]),
            rec(4, &["c@x.org", "a\""]),
        ]
    );
    assert_eq!((n.lines, n.continued), (4, 1));
}

#[test]
fn a_quote_that_cannot_close_the_field_makes_it_stray() {
    // The stray quote would pair with the one before Bob.
    let (ev, _) = read(b"email,name\na@x.org,\"oops\nb@x.org,\"Bob\"\nc@x.org,say \"hi\"\n");
    assert_eq!(
        ev,
        [
            rec(1, &["email", "name"]),
            bad(2, UNTERMINATED),
            rec(3, &["b@x.org", "Bob"]),
            rec(4, &["c@x.org", "say \"hi\""]),
        ]
    );
    // Lenient on one line, as the csv crate: text after a closing quote.
    let (ev, _) = read(b"a\n\"x\"y,z\n");
    assert_eq!(ev[1], rec(2, &["xy", "z"]));
}

#[test]
fn a_line_over_the_cap_is_skipped_whatever_its_quotes() {
    let mut f = b"email,name\na@x.org,\"".to_vec();
    f.resize(f.len() + MAX_LINE + 10, b'x');
    f.extend_from_slice(b"\"\nb@x.org,B\n");
    let (ev, n) = read(&f);
    assert_eq!(
        ev,
        [
            rec(1, &["email", "name"]),
            bad(2, "line longer than 2 MB"),
            rec(3, &["b@x.org", "B"]),
        ]
    );
    assert_eq!(n.lines, 3);
}

#[test]
fn a_stray_quote_before_megabytes_of_rows_loses_none() {
    let mut f = b"email,name\na@x.org,\"open\n".to_vec();
    let rows = 200_000;
    for i in 0..rows {
        f.extend_from_slice(format!("r{i}@x.org,R\n").as_bytes());
    }
    let (ev, n) = read(&f);
    assert_eq!(ev[1], bad(2, UNTERMINATED));
    assert_eq!(ev.len(), 2 + rows);
    assert!(ev[2..].iter().all(|e| matches!(e.0, Event::Record(_))));
    assert_eq!(ev.last().unwrap().0, Event::Record(rows as u64 + 2));
    assert_eq!(n.lines, rows as u64 + 2);
}

#[test]
fn lines_that_each_reopen_a_quote_are_read_in_linear_time() {
    // Each line closes the quote the one before opened, and opens
    // another: as stray quotes, every line is reported once.
    let mut f = b"email,name\n".to_vec();
    let rows = 100_000u64;
    for _ in 0..rows {
        f.extend_from_slice(b"x\",\"y\n");
    }
    let t = std::time::Instant::now();
    let (ev, n) = read(&f);
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(ev.len() as u64, 1 + rows);
    assert_eq!(n.lines, 1 + rows);
}

#[test]
fn bytes_that_are_not_utf8_are_a_bad_record() {
    let (ev, n) = read(b"email\n\xff@x.org\na@x.org\n\"\xc3\",\xa9\n");
    assert_eq!(
        ev,
        [
            rec(1, &["email"]),
            bad(2, "not valid UTF-8"),
            rec(3, &["a@x.org"]),
            bad(4, "not valid UTF-8"),
        ]
    );
    assert_eq!(n.lines, 4);
}

#[test]
fn a_read_that_fails_is_reported_after_the_lines_before_it() {
    struct Failing(&'static [u8]);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other("the disk went away"));
            }
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let mut r = Records::new(
        Failing(b"email,name\na@x.org,\"open\nb@x.org,B\n"),
        MAX_LINE,
    );
    let mut ev = Vec::new();
    loop {
        match r.next_record() {
            Event::End => break,
            e => ev.push(e),
        }
    }
    assert_eq!(
        ev,
        [
            Event::Record(1),
            Event::Bad(2, UNTERMINATED.into()),
            Event::Record(3),
            Event::Bad(4, "the disk went away".into()),
        ]
    );
}
