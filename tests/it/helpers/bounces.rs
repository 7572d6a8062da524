//! The bounce suites' fixtures: the corpus of returned messages and its
//! manifest, and the binary run with the bounce suites' deadline.

use std::path::{Path, PathBuf};

use super::procs::run_timeout;
use super::{Project, Run};

pub fn gz(p: &Project, args: &[&str]) -> Run {
    run_timeout(p, args, 60)
}

/// The folder of returned messages (README.md and expected.tsv beside it).
pub fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bounces/corpus")
}

/// (file, recipient, kind, origin) from the corpus manifest.
pub fn expected() -> Vec<(String, String, String, String)> {
    std::fs::read_to_string(corpus().join("../expected.tsv"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].into(), f[1].into(), f[2].into(), f[3].into())
        })
        .collect()
}

pub fn scan_json(p: &Project, paths: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["bounces", "scan", "--json"];
    args.extend(paths);
    let out = gz(p, &args);
    out.ok();
    serde_json::from_str::<serde_json::Value>(&out.stdout())
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}
