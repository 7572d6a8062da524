//! The layers of `src/lib.rs` hold: every `crate::` path in `src/` reaches
//! only modules of lower layers (or a documented exception).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Layer of each top-level module, and the allowed exceptions, read from
/// the module documentation of `src/lib.rs`.
fn layers(lib: &str) -> (HashMap<String, usize>, Vec<(String, String)>) {
    let mut layer = HashMap::new();
    let mut exceptions = Vec::new();
    for line in lib.lines().filter_map(|l| l.strip_prefix("//! ")) {
        if let Some((n, rest)) = line.split_once(". ") {
            if let Ok(n) = n.trim().parse::<usize>() {
                let names = rest.split(':').next().unwrap_or("");
                for name in names.split('`').skip(1).step_by(2) {
                    layer.insert(name.to_string(), n);
                }
            }
        }
        if let Some(rest) = line.strip_prefix("- `") {
            if let Some((from, to)) = rest.split('`').next().and_then(|e| e.split_once(" -> ")) {
                exceptions.push((from.trim().to_string(), to.trim().to_string()));
            }
        }
    }
    (layer, exceptions)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file belongs to: `src/config/validate.rs` → `config`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// Every module a file reaches through `crate::`, with its line:
/// `crate::a::b`, `crate::{a, b::c}`, and the root's re-exports
/// (`crate::Error`, `crate::Result` are `error`'s).
fn targets(text: &str) -> Vec<(String, usize)> {
    let code: String = text
        .lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("//") {
                String::new()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let line_of = |i: usize| code[..i].matches('\n').count() + 1;
    for (i, _) in code.match_indices("crate::") {
        if i > 0 && code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `gazette_crate::`
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            let mut items = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => items.push(std::mem::take(&mut item)),
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if depth == 1 && c != ',' {
                    item.push(c);
                }
            }
            items.push(item);
            for it in items {
                let name: String = it
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push((name, line_of(i)));
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.push((name, line_of(i)));
        }
    }
    for (name, _) in out.iter_mut() {
        if name == "Error" || name == "Result" {
            *name = "error".into();
        }
    }
    out
}

#[test]
fn modules_reach_only_lower_layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let (layer, exceptions) = layers(&lib);
    assert!(
        layer.len() >= 10,
        "the layer list in src/lib.rs was not found: {layer:?}"
    );
    let mut problems = Vec::new();
    // Every module lib.rs declares has a layer.
    for line in lib.lines() {
        if let Some(m) = line
            .strip_prefix("pub mod ")
            .or_else(|| line.strip_prefix("mod "))
        {
            let m = m.trim_end_matches(';').trim();
            if !layer.contains_key(m) {
                problems.push(format!("src/lib.rs: module `{m}` is in no layer"));
            }
        }
    }
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    for file in files {
        let from = module_of(&src, &file);
        if from == "lib" || from == "main" {
            continue;
        }
        let shown = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        let Some(&from_layer) = layer.get(&from) else {
            problems.push(format!("{}: module `{from}` is in no layer", shown));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (to, line) in targets(&text) {
            if to == from {
                continue;
            }
            let Some(&to_layer) = layer.get(&to) else {
                problems.push(format!("{}:{line}: `crate::{to}` is in no layer", shown));
                continue;
            };
            let allowed =
                to_layer < from_layer || exceptions.iter().any(|(a, b)| *a == from && *b == to);
            if !allowed {
                let how = if to_layer == from_layer {
                    "beside it"
                } else {
                    "above it"
                };
                problems.push(format!(
                    "{}:{line}: `{from}` (layer {from_layer}) uses `{to}` (layer {to_layer}), {how}",
                    shown
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "layering broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_path_reader_understands_groups_and_reexports() {
    let t = targets("use crate::{config::Settings, store::{self, Store}};\nfn f() -> crate::Result<()> { crate::util::x() }\n// crate::web\n");
    let names: Vec<&str> = t.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["config", "store", "error", "util"]);
    assert_eq!(t[3].1, 2);
}

/// `text` with string and character literals and comments blanked out
/// (newlines kept), so that braces can be counted.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |s: &[u8], out: &mut String| {
        for &c in s {
            out.push(if c == b'\n' { '\n' } else { ' ' });
        }
    };
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
            blank(&rest[..end], &mut out);
            i += end;
        } else if rest.starts_with(b"/*") {
            let end = text[i + 2..]
                .find("*/")
                .map(|e| e + 4)
                .unwrap_or(rest.len());
            blank(&rest[..end], &mut out);
            i += end;
        } else if rest.starts_with(b"r#")
            || rest.starts_with(b"r\"")
            || rest.starts_with(b"br#")
            || rest.starts_with(b"br\"")
        {
            let start = rest.iter().position(|&c| c == b'"').unwrap();
            let hashes = rest[..start].iter().filter(|&&c| c == b'#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let end = text[i + start + 1..]
                .find(&close)
                .map(|e| start + 1 + e + close.len())
                .unwrap_or(rest.len());
            blank(&rest[..end], &mut out);
            i += end;
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(rest.len());
            blank(&rest[..end], &mut out);
            i += end;
        } else if rest[0] == b'\'' && (rest.get(2) == Some(&b'\'') || (rest.get(1) == Some(&b'\\')))
        {
            // A character literal ('x', '\n', '\u{..}'), not a lifetime.
            let end = rest[1..]
                .iter()
                .position(|&c| c == b'\'')
                .map(|e| e + 2)
                .unwrap_or(1);
            blank(&rest[..end], &mut out);
            i += end;
        } else {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Functions longer than `max` lines: (name, first line, length), except
/// those with a comment just above saying why they are one piece.
fn long_functions(text: &str, max: usize) -> Vec<(String, usize, usize)> {
    let code = code_only(text);
    let lines: Vec<&str> = code.lines().collect();
    let raw: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let Some(pos) = t.find("fn ") else { continue };
        let before = &t[..pos];
        if !before.split_whitespace().all(|w| {
            matches!(w, "pub" | "async" | "const" | "unsafe" | "extern") || w.starts_with("pub(")
        }) {
            continue;
        }
        let name: String = t[pos + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // Find the body's opening brace (or a `;`: a declaration).
        let (mut depth, mut started, mut end) = (0i32, false, None);
        'scan: for (j, l) in lines.iter().enumerate().skip(i) {
            for c in l.chars() {
                match c {
                    ';' if !started => break 'scan,
                    '{' => {
                        depth += 1;
                        started = true;
                    }
                    '}' => {
                        depth -= 1;
                        if started && depth == 0 {
                            end = Some(j);
                            break 'scan;
                        }
                    }
                    _ => {}
                }
            }
        }
        let Some(end) = end else { continue };
        let len = end - i + 1;
        if len <= max {
            continue;
        }
        // The comment above (past attributes) that says why.
        let mut k = i;
        while k > 0 && raw[k - 1].trim_start().starts_with("#[") {
            k -= 1;
        }
        let justified = k > 0
            && raw[k - 1]
                .trim_start()
                .to_lowercase()
                .starts_with("// one piece");
        if !justified {
            out.push((name, i + 1, len));
        }
    }
    out
}

#[test]
fn files_and_functions_stay_small() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let shown = file
            .strip_prefix(src.parent().unwrap())
            .unwrap()
            .display()
            .to_string();
        let n = text.lines().count();
        if n > 600 {
            problems.push(format!("{shown}: {n} lines (at most 600)"));
        }
        for (name, line, len) in long_functions(&text, 80) {
            problems.push(format!(
                "{shown}:{line}: fn {name} is {len} lines (at most 80, or a `// One piece: why` comment above it)"
            ));
        }
    }
    assert!(problems.is_empty(), "too large:\n{}", problems.join("\n"));
}

#[test]
fn the_function_measure_sees_through_strings_and_comments() {
    let text =
        "fn a() {\n    let s = \"}}}\";\n    // }\n    let c = '}';\n}\nfn b() -> u8 {\n    1\n}\n";
    assert!(long_functions(text, 5).is_empty());
    assert_eq!(long_functions(text, 4), vec![("a".to_string(), 1, 5)]);
    let justified = "// One piece: a table\nfn t() {\n\n\n\n}\n";
    assert!(long_functions(justified, 2).is_empty());
}

/// The module path of a file: `src/config/dkim.rs` → `["config", "dkim"]`,
/// `src/config/mod.rs` → `["config"]`, `src/lib.rs` → `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The file that holds the item a module path names: the longest prefix
/// of the path that is a file of its own (`crate::config::validate::Locator`
/// → `src/config/validate.rs`; `crate::Error` → `src/lib.rs`).
fn file_of(src: &Path, path: &[String]) -> PathBuf {
    for k in (1..=path.len()).rev() {
        let dir: PathBuf = path[..k].iter().collect();
        let file = src.join(&dir).with_extension("rs");
        if file.is_file() {
            return file;
        }
        let module = src.join(&dir).join("mod.rs");
        if module.is_file() {
            return module;
        }
    }
    src.join("lib.rs")
}

/// Every `crate::…` and `super::…` path in `code` (comments and strings
/// blanked), groups expanded, as (absolute path, offset). Paths written
/// inside an inline module (`mod tests { … }`) start from that module.
fn full_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    // Inline modules: the byte ranges of their bodies.
    let mut inline = Vec::new();
    for (i, _) in code.match_indices("mod ") {
        if i > 0 && code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[i + 4..];
        let name_len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if !rest[name_len..].trim_start().starts_with('{') {
            continue;
        }
        let open = i + 4 + name_len + rest[name_len..].find('{').unwrap();
        let mut depth = 0;
        for (j, c) in code[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                inline.push((open, open + j, rest[..name_len].to_string()));
                break;
            }
        }
    }
    let ident = |s: &str| -> usize {
        s.find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(s.len())
    };
    let mut out = Vec::new();
    let starts = code
        .match_indices("crate::")
        .chain(code.match_indices("super::"));
    for (i, word) in starts {
        let before = &code[..i];
        if before.ends_with(|c: char| c.is_alphanumeric() || c == '_') || before.ends_with("::") {
            continue;
        }
        let mut base: Vec<String> = module.to_vec();
        for (start, end, name) in &inline {
            if *start < i && i < *end {
                base.push(name.clone());
            }
        }
        let mut rest = &code[i..];
        if word == "crate::" {
            base.clear();
            rest = &rest["crate::".len()..];
        } else {
            while let Some(r) = rest.strip_prefix("super::") {
                base.pop();
                rest = r;
            }
        }
        expand(rest, base, &ident, &mut out);
    }
    out
}

/// `a::b::{c, d::e}` after `prefix`: every full path it names.
fn expand(
    text: &str,
    mut prefix: Vec<String>,
    ident: &dyn Fn(&str) -> usize,
    out: &mut Vec<Vec<String>>,
) {
    let mut rest = text.trim_start();
    loop {
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item_start = 0;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => {
                        expand(&group[item_start..j], prefix.clone(), ident, out);
                        item_start = j + 1;
                    }
                    _ => {}
                }
                if depth == 0 {
                    expand(&group[item_start..j], prefix.clone(), ident, out);
                    break;
                }
            }
            return;
        }
        let n = ident(rest);
        if n == 0 {
            break;
        }
        let name = &rest[..n];
        if name != "self" {
            prefix.push(name.to_string());
        }
        match rest[n..].strip_prefix("::") {
            Some(r) => rest = r.trim_start(),
            None => break,
        }
    }
    if !prefix.is_empty() {
        out.push(prefix);
    }
}

/// The file-level import graph of `src/`: X → Y when X names an item of Y
/// through a `crate::` or `super::` path.
fn file_graph(src: &Path) -> HashMap<PathBuf, Vec<PathBuf>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph = HashMap::new();
    for file in files {
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        let module = module_path(src, &file);
        let mut to: Vec<PathBuf> = full_paths(&code, &module)
            .iter()
            .map(|p| file_of(src, p))
            .filter(|f| *f != file)
            .collect();
        to.sort();
        to.dedup();
        graph.insert(file, to);
    }
    graph
}

/// The cycles of a graph: its strongly connected components of more than
/// one node (Tarjan), each sorted.
fn cycles(graph: &HashMap<PathBuf, Vec<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct State<'g> {
        graph: &'g HashMap<PathBuf, Vec<PathBuf>>,
        index: HashMap<&'g PathBuf, (usize, usize)>,
        stack: Vec<&'g PathBuf>,
        on_stack: std::collections::HashSet<&'g PathBuf>,
        out: Vec<Vec<PathBuf>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g PathBuf) {
        let n = s.index.len();
        s.index.insert(v, (n, n));
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.index[w].1.min(s.index[v].1);
                s.index.get_mut(v).unwrap().1 = low;
            } else if s.on_stack.contains(w) {
                let low = s.index[w].0.min(s.index[v].1);
                s.index.get_mut(v).unwrap().1 = low;
            }
        }
        if s.index[v].0 == s.index[v].1 {
            let mut scc = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                scc.push(w.clone());
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                s.out.push(scc);
            }
        }
    }
    let mut s = State {
        graph,
        index: HashMap::new(),
        stack: Vec::new(),
        on_stack: Default::default(),
        out: Vec::new(),
    };
    let mut nodes: Vec<&PathBuf> = graph.keys().collect();
    nodes.sort();
    for v in nodes {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out.sort();
    s.out
}

#[test]
fn no_file_imports_itself_through_others() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let graph = file_graph(&src);
    let shown: Vec<String> = cycles(&graph)
        .iter()
        .map(|c| {
            c.iter()
                .map(|f| f.strip_prefix(root).unwrap().display().to_string())
                .collect::<Vec<_>>()
                .join(" <-> ")
        })
        .collect();
    assert!(
        shown.is_empty(),
        "files that import each other (directly or through others):\n{}",
        shown.join("\n")
    );
}

#[test]
fn the_file_graph_reads_super_groups_and_inline_modules() {
    let module = vec!["config".to_string(), "dkim".to_string()];
    let code = "use super::validate::Locator;\nuse crate::{error::{Error, Result}, util::text};\n\
                fn f() -> crate::Result<()> { super::super::x() }\n\
                mod tests { use super::config; }\n";
    let paths: Vec<String> = full_paths(code, &module)
        .iter()
        .map(|p| p.join("::"))
        .collect();
    assert_eq!(
        paths,
        [
            "error::Error",
            "error::Result",
            "util::text",
            "Result",
            "config::validate::Locator",
            "x",
            "config::dkim::config",
        ]
    );
    let node = |n: &str| PathBuf::from(n);
    let mut g = HashMap::new();
    g.insert(node("a"), vec![node("b")]);
    g.insert(node("b"), vec![node("c")]);
    g.insert(node("c"), vec![node("a"), node("d")]);
    g.insert(node("d"), vec![]);
    assert_eq!(cycles(&g), vec![vec![node("a"), node("b"), node("c")]]);
}

/// `crate::Error` and `crate::Result` are the root's re-exports of
/// `error`'s: inside the crate the path names the module (`crate::error::`),
/// so that the file graph shows where the item lives.
#[test]
fn paths_name_the_module_not_the_root_reexport() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    let mut problems = Vec::new();
    for file in files {
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        let module = module_path(&root.join("src"), &file);
        for path in full_paths(&code, &module) {
            if path.len() == 1 && (path[0] == "Error" || path[0] == "Result") {
                let shown = file.strip_prefix(root).unwrap().display();
                problems.push(format!(
                    "{shown}: crate::{} (write crate::error::{})",
                    path[0], path[0]
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
