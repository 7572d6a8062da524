//! Reading the posts folder: regular Markdown files only, each at most
//! `max_size` bytes, and no two posts with one slug.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{parse_post, Catalog, Post};
use crate::error::{Error, Result};
use crate::util::text::line_of_byte;

pub(super) fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "_index.md" {
            continue;
        }
        let ft = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if ft.is_dir() {
            collect_files(&path, out)?;
        } else if name.ends_with(".md") || name.ends_with(".markdown") {
            out.push(path);
        }
    }
    Ok(())
}

pub(super) fn reject_duplicate_slugs(catalog: &mut Catalog) {
    let mut by_slug: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in catalog.posts.iter().enumerate() {
        by_slug.entry(p.slug.as_str()).or_default().push(i);
    }
    let mut bad: Vec<usize> = Vec::new();
    for idx in by_slug.values().filter(|v| v.len() > 1) {
        for &i in idx {
            let others: Vec<String> = idx
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| catalog.posts[j].path.display().to_string())
                .collect();
            let p = &catalog.posts[i];
            catalog.errors.push(Error::at(
                &p.path,
                1,
                format!(
                    "duplicate slug {:?} (also used by {})",
                    p.slug,
                    others.join(", ")
                ),
            ));
            bad.push(i);
        }
    }
    bad.sort_unstable();
    for i in bad.into_iter().rev() {
        catalog.posts.remove(i);
    }
}

/// Read and validate one post file: a regular file of at most `max_size`
/// bytes (a FIFO or a device is refused without blocking or reading it).
pub fn load_file(path: &Path, base_url: &str, max_size: u64) -> Result<Post> {
    let bytes = crate::util::fs::read_regular(path, max_size).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = line_of_byte(e.as_bytes(), e.utf8_error().valid_up_to());
        Error::at(path, line, "not valid UTF-8 (posts must be UTF-8 text)")
    })?;
    parse_post(path, &text, base_url)
}
