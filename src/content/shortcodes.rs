//! Shortcodes as Hugo and Zola write them, found outside code spans and
//! fences: Hugo's `{{< name args >}}` and `{{% name args %}}` (alone or
//! paired with `{{< /name >}}`, self-closing `{{< name />}}`, escaped
//! `{{</* name */>}}`), Zola's `{{ name(k=v) }}` and `{% name(k=v) %}…{% end %}`.
//! [`split`] cuts a Markdown text into text and shortcodes; rendering them
//! is the caller's (`content::rich`).

use std::ops::Range;

use pulldown_cmark::{Event, Parser, Tag};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `{{< … >}}`: the output is HTML.
    Hugo,
    /// `{{% … %}}`: the output (and body) is Markdown.
    HugoMarkdown,
    /// `{{ name(…) }}` or `{% name(…) %}`.
    Zola,
}

/// One shortcode with its arguments and, when paired, its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Shortcode {
    pub name: String,
    pub positional: Vec<Value>,
    pub named: Map<String, Value>,
    /// The text between the opening and the closing tag, as written.
    pub body: Option<String>,
    pub flavor: Flavor,
    /// Byte offset of the opening tag in the text given to `split`.
    pub offset: usize,
    /// Alone on its line(s): rendered as a block, not inside a paragraph.
    pub block: bool,
}

/// A piece of a Markdown text.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece<'a> {
    Text(&'a str),
    /// An escaped shortcode (`{{</* x */>}}`), shown as written (`{{< x >}}`).
    Literal(String),
    Code(Shortcode),
}

/// A syntax error at a byte offset.
pub type SyntaxError = (usize, String);

#[derive(Debug)]
enum Kind {
    Open(Shortcode),
    /// A closing tag; Zola's `{% end %}` has no name.
    Close(Option<String>, Flavor),
    Literal(String),
}

#[derive(Debug)]
struct Found {
    kind: Kind,
    range: Range<usize>,
    /// Zola's `{% name() %}`: must be closed by `{% end %}`.
    needs_end: bool,
    /// Hugo's `{{< name />}}`: never paired.
    self_closing: bool,
}

/// Cut `md` into text and top-level shortcodes (those inside a paired
/// shortcode's body stay in its body).
pub fn split(md: &str) -> Result<Vec<Piece<'_>>, SyntaxError> {
    if !md.contains("{{") && !md.contains("{%") {
        return Ok(vec![Piece::Text(md)]);
    }
    let found = scan(md)?;
    let top = pair(md, found)?;
    let mut out = Vec::new();
    let mut at = 0;
    for (range, piece) in top {
        if range.start > at {
            out.push(Piece::Text(&md[at..range.start]));
        }
        out.push(piece);
        at = range.end;
    }
    if at < md.len() {
        out.push(Piece::Text(&md[at..]));
    }
    Ok(out)
}

/// `md` without its shortcodes (for summaries): their text is dropped,
/// escaped ones are shown as written.
pub fn strip(md: &str) -> String {
    match split(md) {
        Ok(pieces) => pieces
            .into_iter()
            .map(|p| match p {
                Piece::Text(t) => t.to_string(),
                Piece::Literal(l) => l,
                Piece::Code(_) => String::new(),
            })
            .collect(),
        Err(_) => md.to_string(),
    }
}

/// Byte ranges of code spans and code blocks.
fn code_ranges(md: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    for (event, range) in Parser::new_ext(md, super::markdown::options()).into_offset_iter() {
        match event {
            Event::Code(_) | Event::Start(Tag::CodeBlock(_)) => out.push(range),
            _ => {}
        }
    }
    out
}

fn scan(md: &str) -> Result<Vec<Found>, SyntaxError> {
    let code = code_ranges(md);
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(rel) = md[i..].find('{') {
        let at = i + rel;
        if let Some(r) = code.iter().find(|r| r.contains(&at)) {
            i = r.end.max(at + 1);
            continue;
        }
        let rest = &md[at..];
        let found = if rest.starts_with("{{<") || rest.starts_with("{{%") {
            Some(hugo(md, at)?)
        } else if rest.starts_with("{{") || rest.starts_with("{%") {
            zola(md, at)?
        } else {
            None
        };
        match found {
            Some(f) => {
                i = f.range.end;
                out.push(f);
            }
            None => i = at + 1,
        }
    }
    Ok(out)
}

/// Match opening and closing tags; returns the top-level pieces in order.
fn pair(md: &str, found: Vec<Found>) -> Result<Vec<(Range<usize>, Piece<'_>)>, SyntaxError> {
    // Pass 1: the closing tag of each opening one (an opening tag left
    // without one is standalone, which Zola's `{% name() %}` may not be).
    let mut close_of: Vec<Option<usize>> = vec![None; found.len()];
    let mut stack: Vec<usize> = Vec::new();
    for (i, f) in found.iter().enumerate() {
        match &f.kind {
            Kind::Open(_) if !f.self_closing => stack.push(i),
            Kind::Close(name, flavor) => {
                let pos = stack.iter().rposition(|&o| match (&found[o].kind, name) {
                    (Kind::Open(sc), Some(n)) => &sc.name == n && *flavor != Flavor::Zola,
                    (Kind::Open(sc), None) => sc.flavor == Flavor::Zola && found[o].needs_end,
                    _ => false,
                });
                let Some(pos) = pos else {
                    let shown = match name {
                        Some(n) => format!("closing shortcode \"{n}\" without an opening one"),
                        None => "`{% end %}` without an opening shortcode".to_string(),
                    };
                    return Err((f.range.start, shown));
                };
                for o in stack.drain(pos + 1..) {
                    unclosed_zola(&found[o])?;
                }
                let open = stack.pop().expect("found above");
                close_of[open] = Some(i);
            }
            _ => {}
        }
    }
    for &o in &stack {
        unclosed_zola(&found[o])?;
    }
    // Pass 2: the top-level pieces; what lies in a paired body stays there.
    let mut out = Vec::new();
    let mut skip_until = 0;
    for (i, f) in found.iter().enumerate() {
        if f.range.start < skip_until {
            continue;
        }
        match &f.kind {
            Kind::Literal(s) => out.push((f.range.clone(), Piece::Literal(s.clone()))),
            Kind::Open(sc) => match close_of[i] {
                Some(c) => {
                    let close = &found[c];
                    let mut sc = sc.clone();
                    sc.body = Some(md[f.range.end..close.range.start].to_string());
                    sc.block = is_block(md, f.range.start, close.range.end);
                    skip_until = close.range.end;
                    out.push((f.range.start..close.range.end, Piece::Code(sc)));
                }
                None => out.push((f.range.clone(), Piece::Code(sc.clone()))),
            },
            Kind::Close(..) => {}
        }
    }
    Ok(out)
}

fn unclosed_zola(o: &Found) -> Result<(), SyntaxError> {
    match &o.kind {
        Kind::Open(sc) if o.needs_end => Err((
            o.range.start,
            format!("shortcode \"{}\" has no `{{% end %}}`", sc.name),
        )),
        _ => Ok(()),
    }
}

/// Only whitespace before `start` and after `end` on their lines.
fn is_block(md: &str, start: usize, end: usize) -> bool {
    let line_start = md[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = md[end..].find('\n').map_or(md.len(), |i| end + i);
    md[line_start..start].trim().is_empty() && md[end..line_end].trim().is_empty()
}

/// A Hugo tag at `at` (`{{<` or `{{%`).
fn hugo(md: &str, at: usize) -> Result<Found, SyntaxError> {
    let markdown = md[at..].starts_with("{{%");
    let close = if markdown { "%}}" } else { ">}}" };
    let open = &md[at..at + 3];
    let inner_start = at + 3;
    let Some(len) = find_outside_quotes(&md[inner_start..], close) else {
        return Err((
            at,
            format!("unclosed shortcode: `{open}` without `{close}`"),
        ));
    };
    let end = inner_start + len + 3;
    let inner = md[inner_start..inner_start + len].trim();
    let flavor = if markdown {
        Flavor::HugoMarkdown
    } else {
        Flavor::Hugo
    };
    if let Some(escaped) = inner.strip_prefix("/*").and_then(|s| s.strip_suffix("*/")) {
        return Ok(Found {
            kind: Kind::Literal(format!("{open} {} {close}", escaped.trim())),
            range: at..end,
            needs_end: false,
            self_closing: false,
        });
    }
    if let Some(name) = inner.strip_prefix('/') {
        return Ok(Found {
            kind: Kind::Close(Some(name.trim().to_string()), flavor),
            range: at..end,
            needs_end: false,
            self_closing: false,
        });
    }
    let (inner, self_closing) = match inner.strip_suffix('/') {
        Some(s) => (s.trim_end(), true),
        None => (inner, false),
    };
    let tokens = hugo_tokens(inner).map_err(|m| (at, m))?;
    let mut tokens = tokens.into_iter();
    let name = match tokens.next() {
        Some((None, Value::String(n))) if valid_name(&n) => n,
        _ => {
            return Err((
                at,
                format!("shortcode `{open} {inner} {close}` has no name"),
            ))
        }
    };
    let mut sc = Shortcode {
        name,
        positional: Vec::new(),
        named: Map::new(),
        body: None,
        flavor,
        offset: at,
        block: is_block(md, at, end),
    };
    for (key, value) in tokens {
        match key {
            Some(k) => {
                sc.named.insert(k, value);
            }
            None => sc.positional.push(value),
        }
    }
    Ok(Found {
        kind: Kind::Open(sc),
        range: at..end,
        needs_end: false,
        self_closing,
    })
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && !n.contains("..")
        && !n.starts_with(['/', '.'])
}

/// Hugo's arguments: words, `"quoted"` (with `\"`), `` `raw` ``, and
/// `key=value` pairs.
fn hugo_tokens(s: &str) -> Result<Vec<(Option<String>, Value)>, String> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(_, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut key = None;
        let mut word = String::new();
        loop {
            match chars.peek().copied() {
                None => break,
                Some((_, c)) if c.is_whitespace() => break,
                Some((_, '=')) if key.is_none() && !word.is_empty() => {
                    chars.next();
                    key = Some(std::mem::take(&mut word));
                }
                Some((_, q @ ('"' | '`'))) if word.is_empty() => {
                    chars.next();
                    let mut closed = false;
                    while let Some((_, c)) = chars.next() {
                        if c == q {
                            closed = true;
                            break;
                        }
                        if c == '\\' && q == '"' {
                            if let Some((_, n)) = chars.next() {
                                word.push(n);
                            }
                            continue;
                        }
                        word.push(c);
                    }
                    if !closed {
                        return Err(format!("unterminated {q} in shortcode arguments"));
                    }
                    break;
                }
                Some((_, c)) => {
                    chars.next();
                    word.push(c);
                }
            }
        }
        out.push((key, Value::String(word)));
    }
    Ok(out)
}

/// A Zola shortcode at `at` (`{{ name(` or `{% name(`), or `{% end %}`;
/// `None` when the text there is not one.
fn zola(md: &str, at: usize) -> Result<Option<Found>, SyntaxError> {
    let block = md[at..].starts_with("{%");
    let close = if block { "%}" } else { "}}" };
    let rest = &md[at + 2..];
    let trimmed = rest.trim_start_matches([' ', '\t']);
    let name_len = trimmed
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(trimmed.len());
    let name = &trimmed[..name_len];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Ok(None);
    }
    let after = trimmed[name_len..].trim_start_matches([' ', '\t']);
    if block && name == "end" && after.starts_with(close) {
        let end = md.len() - after.len() + close.len();
        return Ok(Some(Found {
            kind: Kind::Close(None, Flavor::Zola),
            range: at..end,
            needs_end: false,
            self_closing: false,
        }));
    }
    let Some(args) = after.strip_prefix('(') else {
        return Ok(None);
    };
    let args_start = md.len() - args.len();
    let Some(len) = find_outside_quotes(args, ")") else {
        return Err((at, format!("shortcode \"{name}\": no closing `)`")));
    };
    let tail = args[len + 1..].trim_start_matches([' ', '\t']);
    if !tail.starts_with(close) {
        return Err((
            at,
            format!("shortcode \"{name}\": expected `{close}` after its arguments"),
        ));
    }
    let end = md.len() - tail.len() + close.len();
    let named = zola_args(&md[args_start..args_start + len])
        .map_err(|m| (at, format!("shortcode \"{name}\": {m}")))?;
    Ok(Some(Found {
        kind: Kind::Open(Shortcode {
            name: name.to_string(),
            positional: Vec::new(),
            named,
            body: None,
            flavor: Flavor::Zola,
            offset: at,
            block: is_block(md, at, end),
        }),
        range: at..end,
        needs_end: block,
        self_closing: !block,
    }))
}

/// The offset of `needle` in `s` outside `"…"`, `'…'` and `` `…` ``.
fn find_outside_quotes(s: &str, needle: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => {
                if s[i..].starts_with(needle) {
                    return Some(i);
                }
                if matches!(c, '"' | '\'' | '`') {
                    quote = Some(c);
                }
            }
        }
    }
    None
}

/// Zola's `k=v, k2=v2`: strings (`"`, `'`, `` ` ``), numbers, booleans and
/// arrays of those.
fn zola_args(s: &str) -> Result<Map<String, Value>, String> {
    let mut p = ZolaArgs {
        chars: s.chars().collect(),
        i: 0,
    };
    let mut out = Map::new();
    loop {
        p.ws();
        if p.i >= p.chars.len() {
            return Ok(out);
        }
        let key = p.ident();
        if key.is_empty() {
            return Err(format!("expected an argument name in ({s})"));
        }
        p.ws();
        if !p.eat('=') {
            return Err(format!("argument `{key}` has no `=value`"));
        }
        p.ws();
        let v = p.value()?;
        out.insert(key, v);
        p.ws();
        if !p.eat(',') && p.i < p.chars.len() {
            return Err(format!("expected `,` between arguments in ({s})"));
        }
    }
}

struct ZolaArgs {
    chars: Vec<char>,
    i: usize,
}

impl ZolaArgs {
    fn ws(&mut self) {
        while self.chars.get(self.i).is_some_and(|c| c.is_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        let hit = self.chars.get(self.i) == Some(&c);
        self.i += usize::from(hit);
        hit
    }

    fn ident(&mut self) -> String {
        let start = self.i;
        while self
            .chars
            .get(self.i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
        {
            self.i += 1;
        }
        self.chars[start..self.i].iter().collect()
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.chars.get(self.i).copied() {
            Some(q @ ('"' | '\'' | '`')) => {
                self.i += 1;
                let mut s = String::new();
                while let Some(&c) = self.chars.get(self.i) {
                    self.i += 1;
                    if c == q {
                        return Ok(Value::String(s));
                    }
                    if c == '\\' && q == '"' {
                        if let Some(&n) = self.chars.get(self.i) {
                            self.i += 1;
                            s.push(match n {
                                'n' => '\n',
                                't' => '\t',
                                other => other,
                            });
                        }
                        continue;
                    }
                    s.push(c);
                }
                Err("unterminated string".into())
            }
            Some('[') => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.ws();
                    if self.eat(']') {
                        return Ok(Value::Array(items));
                    }
                    items.push(self.value()?);
                    self.ws();
                    if !self.eat(',') {
                        self.ws();
                        if self.eat(']') {
                            return Ok(Value::Array(items));
                        }
                        return Err("expected `,` or `]` in an array".into());
                    }
                }
            }
            Some(_) => {
                let start = self.i;
                while self
                    .chars
                    .get(self.i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
                {
                    self.i += 1;
                }
                let word: String = self.chars[start..self.i].iter().collect();
                match word.as_str() {
                    "true" => Ok(Value::Bool(true)),
                    "false" => Ok(Value::Bool(false)),
                    w => {
                        if let Ok(n) = w.parse::<i64>() {
                            Ok(Value::from(n))
                        } else if let Some(n) =
                            w.parse::<f64>().ok().and_then(serde_json::Number::from_f64)
                        {
                            Ok(Value::Number(n))
                        } else {
                            Err(format!("invalid value {w:?} (quote strings)"))
                        }
                    }
                }
            }
            None => Err("missing value".into()),
        }
    }
}

#[cfg(test)]
#[path = "shortcodes_tests.rs"]
mod tests;
