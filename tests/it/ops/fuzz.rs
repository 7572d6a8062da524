//! Property-based fuzzing of every parser that reads outside input: the
//! front-matter splitter and parser (whole posts), the CSV importer (and
//! its resynchronisation after stray quotes and over-long lines), the
//! token parser, the config duration and date parsers, and the Markdown →
//! text converter. Arbitrary (and nearly valid) input never panics, never
//! hangs, and every error names a line that exists; the CSV importer
//! accounts for every physical line.
//!
//! Cases per parser: `GAZETTE_FUZZ_CASES` or `PROPTEST_CASES` (default 500;
//! `scripts/test.sh`, hence `.ci/run`, sets `PROPTEST_CASES=10000`). A long
//! run: `GAZETTE_FUZZ_SECONDS=600` runs each parser for ten minutes, e.g.
//! `GAZETTE_FUZZ_SECONDS=600 cargo test --test it fuzz:: -- --test-threads=1 --nocapture`
//! (or one parser: `fuzz::tokens`).
//! An input that ever failed goes into that parser's `REGRESSIONS` list and
//! is checked first, every run.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// No single input may take this long (a hang or a blow-up).
const PER_CASE: Duration = Duration::from_secs(2);

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Run `check` on the regressions, then on generated inputs: a number of
/// cases, or batches until `GAZETTE_FUZZ_SECONDS` have passed. A watchdog
/// fails the test if the whole run stops making progress.
fn fuzz<S, F>(name: &'static str, regressions: &[&str], make: F, check: fn(&str))
where
    S: Strategy<Value = String>,
    F: FnOnce() -> S + Send + 'static,
{
    for r in regressions {
        timed(name, r, check);
    }
    let cases = env_u64("GAZETTE_FUZZ_CASES")
        .or_else(|| env_u64("PROPTEST_CASES"))
        .unwrap_or(500) as u32;
    let seconds = env_u64("GAZETTE_FUZZ_SECONDS");
    let (tx, rx) = mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        let strategy = make();
        let start = Instant::now();
        let mut total = 0u64;
        loop {
            let mut runner = TestRunner::new(Config {
                cases: if seconds.is_some() { 10_000 } else { cases },
                failure_persistence: None,
                ..Config::default()
            });
            let result = runner.run(&strategy, |input| {
                let _ = tx.send(());
                let t = Instant::now();
                let outcome = std::panic::catch_unwind(|| check(&input));
                if let Err(p) = outcome {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    return Err(TestCaseError::fail(msg));
                }
                if t.elapsed() > PER_CASE {
                    return Err(TestCaseError::fail(format!("took {:?}", t.elapsed())));
                }
                Ok(())
            });
            if let Err(e) = result {
                panic!("{name}: {e}");
            }
            total += u64::from(runner.config().cases);
            match seconds {
                Some(s) if start.elapsed() < Duration::from_secs(s) => continue,
                _ => break,
            }
        }
        eprintln!("{name}: {total} cases in {:?}", start.elapsed());
    });
    // The watchdog: some case must finish every few seconds.
    loop {
        match rx.recv_timeout(PER_CASE * 5) {
            Ok(()) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("{name}: an input hangs the parser")
            }
        }
    }
    if let Err(p) = worker.join() {
        std::panic::resume_unwind(p);
    }
}

fn timed(name: &str, input: &str, check: fn(&str)) {
    let t = Instant::now();
    check(input);
    assert!(
        t.elapsed() < PER_CASE,
        "{name}: {input:?} took {:?}",
        t.elapsed()
    );
}

/// Text made of fragments a parser cares about, plus arbitrary characters.
fn pieces(fragments: &'static [&'static str], max: usize) -> BoxedStrategy<String> {
    let piece = prop_oneof![
        3 => proptest::sample::select(fragments).prop_map(str::to_string),
        1 => any::<String>(),
        1 => "[ -~]{0,12}",
        1 => proptest::sample::select(&["\n", "\r\n", "\r", "\t", "\u{feff}", "\"", "'", "\0"][..])
            .prop_map(str::to_string),
    ];
    proptest::collection::vec(piece, 0..max)
        .prop_map(|v| v.concat())
        .boxed()
}

/// "path:LINE: message", with LINE between 1 and the input's line count + 1.
fn names_a_line(err: &str, path: &str, input: &str) {
    let lines = input.split('\n').count() + 1;
    let rest = err
        .strip_prefix(&format!("{path}:"))
        .unwrap_or_else(|| panic!("error without its file: {err}"));
    let (line, msg) = rest
        .split_once(": ")
        .unwrap_or_else(|| panic!("error without its line: {err}"));
    let line: usize = line
        .parse()
        .unwrap_or_else(|_| panic!("error without its line: {err}"));
    assert!((1..=lines).contains(&line), "line {line} of {lines}: {err}");
    assert!(!msg.trim().is_empty() && !msg.contains('\n'), "{err:?}");
}

const POST_FRAGMENTS: &[&str] = &[
    "+++\n",
    "---\n",
    "...\n",
    "title = \"T\"\n",
    "date = 2026-01-01\n",
    "date = 2026-01-01T10:00:00+02:00\n",
    "title: T\n",
    "date: 2026-01-01\n",
    "date: -0001-01-01\n",
    "date: \"2026-13-45\"\n",
    "url: \"javascript:alert(8)\"\n",
    "url = \"/rel/\"\n",
    "url: //evil.example/x\n",
    "slug = \"\"\n",
    "tags = [\"a\"]\n",
    "tags:\n  - a\n",
    "draft = true\n",
    "[extra]\n",
    "[taxonomies]\ntags = [1]\n",
    "summary: |\n  x\n",
    "key: &a [*a]\n",
    "x: !!binary aGk=\n",
    "= = =\n",
    "[[[\n",
    "\"\"\"\n",
    "<!-- more -->\n",
    "# H\n",
    "[l](javascript:x)\n",
];

fn check_post(input: &str) {
    let path = Path::new("posts/fuzz.md");
    match gazette::content::frontmatter::split(path, input) {
        Err(e) => names_a_line(&e.to_string(), "posts/fuzz.md", input),
        Ok(split) => {
            if let Err(e) = gazette::content::frontmatter::parse(path, &split) {
                names_a_line(&e.to_string(), "posts/fuzz.md", input);
            }
        }
    }
    match gazette::content::parse_post(path, input, "https://example.com/blog") {
        Err(e) => names_a_line(&e.to_string(), "posts/fuzz.md", input),
        Ok(post) => {
            assert!(
                post.url.starts_with("http://") || post.url.starts_with("https://"),
                "{}",
                post.url
            );
            let _ = post.html();
        }
    }
}

#[test]
fn front_matter_and_posts() {
    fuzz(
        "front matter",
        &[
            "---\ntitle: T\ndate: -0001-01-01\n---\n",
            "+++\ntitle = \"T\"\ndate = 2026-01-01\nurl = \"javascript:alert(8)\"\n+++\n",
        ],
        || pieces(POST_FRAGMENTS, 24),
        check_post,
    );
}

const CSV_FRAGMENTS: &[&str] = &[
    "email",
    "Email Address",
    "name",
    "First Name",
    "Last Name",
    "status",
    "attributes",
    "blocklisted",
    "subscriber_type",
    "created_at",
    ",",
    "\"",
    "\"\"",
    "a@example.org",
    "\"b@example.org\"",
    "{\"k\": 1}",
    "{\"k\":",
    "[]",
    "unsubscribed",
    "active",
    "bounced",
    "2026-01-01T00:00:00Z",
    "not-a-date",
    "=HYPERLINK(\"x\")",
    "\n",
    "\r\n",
    "\u{feff}",
];

/// Physical lines as the importer counts them: ended by LF, CRLF or a
/// lone CR, the last one also without a break.
fn physical_lines(input: &str) -> u64 {
    let b = input.as_bytes();
    let mut n = 0;
    let mut last = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\n' || b[i] == b'\r' {
            n += 1;
            if b[i] == b'\r' && b.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
            last = i + 1;
        }
        i += 1;
    }
    n + u64::from(last < b.len())
}

/// Rows and problems read from `input` (lines and records capped at `max`
/// bytes): every error names a line of the file, and every physical line
/// is accounted for: header + valid + invalid + blank + continued = lines.
/// Returns (valid, the invalid rows' lines, the line counts).
fn read_csv(
    input: &str,
    max: usize,
) -> Option<(u64, Vec<u64>, gazette::audience::import::LineCounts)> {
    let lines = physical_lines(input);
    let reader =
        gazette::audience::csvio::ImportReader::with_max_line(input.as_bytes(), false, max);
    let mut reader = match reader {
        Ok(r) => r,
        Err(m) => {
            let (line, _) = m.strip_prefix("line ").unwrap().split_once(": ").unwrap();
            let line: u64 = line.parse().unwrap();
            assert!((1..=lines.max(1)).contains(&line), "{m}");
            return None;
        }
    };
    let (mut valid, mut invalid) = (0u64, Vec::new());
    while let Some(row) = reader.next_row() {
        assert!(
            valid + invalid.len() as u64 <= lines,
            "more rows than lines"
        );
        match row {
            Ok(_) => valid += 1,
            Err(bad) => {
                assert!(
                    (1..=lines).contains(&bad.line),
                    "line {}: {}",
                    bad.line,
                    bad.reason
                );
                assert!(!bad.reason.is_empty());
                invalid.push(bad.line);
            }
        }
    }
    let n = reader.line_counts();
    assert_eq!(n.lines, lines, "{n:?}");
    assert_eq!(
        1 + valid + invalid.len() as u64 + n.blank + n.continued,
        n.lines,
        "{valid} valid, {invalid:?} invalid, {n:?}"
    );
    Some((valid, invalid, n))
}

fn check_csv(input: &str) {
    read_csv(input, gazette::audience::import::MAX_LINE);
    // The same with a cap the fragments reach.
    read_csv(input, 24);
}

#[test]
fn csv_importer() {
    fuzz(
        "csv",
        &[
            "email\n\"a@example.org",
            "\u{feff}email,name\r\na@example.org,\"x\r\n",
            // Found by a ten-minute run: rows ended by bare CRs.
            "email\r\"\"\remail\remail",
        ],
        || pieces(CSV_FRAGMENTS, 30),
        check_csv,
    );
}

fn check_token(input: &str) {
    use gazette::audience::tokens::{self, Lookup};
    if let Some((lookup, verifier)) = tokens::split(input) {
        assert_eq!(verifier.len(), tokens::VERIFIER_LEN);
        match lookup {
            Lookup::Selector(s) => assert_eq!(tokens::token(s, verifier), input),
            // The only accepted form of an id is the one Gazette wrote.
            Lookup::LegacyId(id) => assert_eq!(format!("{id:x}.{verifier}"), input),
        }
    }
}

#[test]
fn tokens() {
    let shaped = "[0-9a-fA-F]{0,20}\\.[0-9a-fA-F]{30,34}";
    fuzz(
        "tokens",
        &[
            "0512.0123456789abcdef0123456789abcdef",
            "0.0123456789abcdef0123456789abcdef",
        ],
        move || prop_oneof![shaped.prop_map(|s| s), any::<String>()],
        check_token,
    );
}

fn check_duration_and_date(input: &str) {
    if let Err(m) = gazette::util::time::parse_duration(input) {
        assert!(!m.is_empty());
    }
    let _ = gazette::util::time::parse_date(input);
}

#[test]
fn config_durations_and_dates() {
    let shaped = "[0-9]{0,25} ?(ms|s|m|h|d|w|)";
    let date = "-?[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2})?( ?[+-][0-9]{2}:?[0-9]{2}|Z)?)?";
    fuzz(
        "durations and dates",
        &[
            "99999999999999999999d",
            "18446744073709551615d",
            "-0001-01-01",
        ],
        move || {
            prop_oneof![
                shaped.prop_map(|s| s),
                date.prop_map(|s| s),
                any::<String>()
            ]
        },
        check_duration_and_date,
    );
}

const MD_FRAGMENTS: &[&str] = &[
    "# ",
    "## ",
    "> ",
    ">> ",
    "- ",
    "1. ",
    "* ",
    "```",
    "~~~",
    "    ",
    "[x](",
    ")",
    "![i](",
    "<",
    ">",
    "[^1]",
    "[^1]: note\n",
    "| a | b |\n|---|---|\n",
    "- [ ] ",
    "~~",
    "**",
    "_",
    "`",
    "<!-- more -->",
    "&amp;",
    "\\",
    "javascript:",
    "http://e.x/",
];

fn check_markdown(input: &str) {
    let base = url::Url::parse("https://example.com/blog/post/").unwrap();
    let _ = gazette::content::markdown::to_text(input, &base);
    let _ = gazette::content::markdown::to_html(input, &base);
    let _ = gazette::content::markdown::summary(input);
}

#[test]
fn markdown_to_text() {
    fuzz(
        "markdown",
        &["> - ```\n> x\n", "[^1]\n\n[^1]: [^1]\n"],
        || pieces(MD_FRAGMENTS, 40),
        check_markdown,
    );
}

/// The cap of the resynchronisation fuzz: rows are shorter, some lines and
/// the stray quotes' runs longer.
const RESYNC_CAP: usize = 64;

/// A file described by `spec`: its line break (`n` LF, `c` CRLF, `r` CR),
/// whether the last line has one (`t`/`f`), then one letter per line:
/// `v` a plain row, `q` a row with quoted fields, `m` a row whose quoted
/// field holds a line break (two lines), `s` a row with a stray quote,
/// `o` a line over the cap (with a quoted field), `b` a blank line.
/// Checks that the rows are exactly the v, q and m lines, the problems
/// exactly the s and o lines, at their numbers.
fn check_csv_resync(spec: &str) {
    let (brk, rest) = spec.split_at(1);
    let (last, kinds) = rest.split_at(1);
    let brk = match brk {
        "c" => "\r\n",
        "r" => "\r",
        _ => "\n",
    };
    let mut csv = format!("email,name,note{brk}");
    let (mut line, mut bad, mut blank, mut continued) = (1u64, Vec::new(), 0, 0);
    for (i, k) in kinds.chars().enumerate() {
        line += 1;
        match k {
            'v' => csv.push_str(&format!("v{i}@example.org,Vee,plain")),
            'q' => csv.push_str(&format!(
                "\"q{i}@example.org\",\"Lee, Q\",\"say \"\"hi\"\"\""
            )),
            'm' => {
                csv.push_str(&format!("m{i}@example.org,Em,\"two{brk}lines\""));
                line += 1;
                continued += 1;
            }
            's' => {
                csv.push_str(&format!("s{i}@example.org,\"unterminated"));
                bad.push(line);
            }
            'o' => {
                let long = "x".repeat(RESYNC_CAP);
                csv.push_str(&format!("o{i}@example.org,\"{long}\",\"{long}"));
                bad.push(line);
            }
            _ => blank += 1,
        }
        let end = i + 1 == kinds.len();
        // A blank line is its break.
        if !end || last == "t" || k == 'b' {
            csv.push_str(brk);
        }
    }
    let (v, invalid, n) = read_csv(&csv, RESYNC_CAP).expect("the header reads");
    assert_eq!(v, valid_count(kinds), "{csv:?}");
    assert_eq!(invalid, bad, "{csv:?}");
    assert_eq!(
        (n.blank, n.continued, n.lines),
        (blank, continued, line),
        "{csv:?}"
    );
}

fn valid_count(kinds: &str) -> u64 {
    kinds
        .chars()
        .filter(|k| matches!(k, 'v' | 'q' | 'm'))
        .count() as u64
}

#[test]
fn csv_resynchronisation() {
    fuzz(
        "csv resync",
        &[
            "nf",
            "nts",
            "rfsv",
            "cfvsb",
            "ntsvvvvvvvvvvvvvvvvvvvvm",
            "nfosqmv",
            "rtsbbms",
            "ctmsqo",
        ],
        || "[ncr][tf][vqmsob]{0,40}",
        check_csv_resync,
    );
}

/// XML 1.0's `Char` production, written out here rather than taken from
/// the code under test.
fn xml_char(c: char) -> bool {
    let n = c as u32;
    matches!(n, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// The feed's XML text writer: whatever goes in, what comes out is
/// well-formed XML 1.0 character data (and attribute value): only allowed
/// characters, no markup, every `&` a complete reference to an allowed
/// character; read back, it is the input less what XML forbids.
fn check_xml_text(input: &str) {
    let out = gazette::web::xml::escape_text(input);
    let mut read = String::new();
    let mut rest = out.as_str();
    while let Some(c) = rest.chars().next() {
        assert!(xml_char(c), "{c:?} in {out:?}");
        assert!(!matches!(c, '<' | '>' | '"' | '\''), "raw {c:?} in {out:?}");
        if c != '&' {
            read.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let end = rest
            .find(';')
            .unwrap_or_else(|| panic!("unended & in {out:?}"));
        let name = &rest[1..end];
        let ch = match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let n = match name.strip_prefix("#x") {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => name.strip_prefix('#').and_then(|d| d.parse().ok()),
                };
                n.and_then(char::from_u32)
                    .unwrap_or_else(|| panic!("&{name}; in {out:?}"))
            }
        };
        assert!(xml_char(ch), "&{name}; in {out:?}");
        read.push(ch);
        rest = &rest[end + 1..];
    }
    let kept: String = input.chars().filter(|&c| xml_char(c)).collect();
    assert_eq!(read, kept, "{input:?} -> {out:?}");
}

const XML_FRAGMENTS: &[&str] = &[
    "&",
    "<",
    ">",
    "]]>",
    "\"",
    "'",
    "&amp;",
    "&#0;",
    "&#xFFFE;",
    "<![CDATA[",
    "\u{0}",
    "\u{8}",
    "\u{B}",
    "\u{C}",
    "\u{1F}",
    "\t",
    "\r\n",
    "\u{7F}",
    "\u{85}",
    "\u{D7FF}",
    "\u{E000}",
    "\u{FFFD}",
    "\u{FFFE}",
    "\u{FFFF}",
    "\u{10000}",
    "\u{10FFFF}",
    "\u{FEFF}",
    "é",
];

#[test]
fn xml_text_writer() {
    fuzz(
        "xml text",
        &["Odd\u{FFFE}title", "A back\u{8}space", "]]>&lt;\u{0}"],
        || pieces(XML_FRAGMENTS, 40),
        check_xml_text,
    );
}
