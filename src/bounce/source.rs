//! Where returned messages come from on disk: single `.eml` files, Maildir
//! folders (`cur/` and `new/`), mbox files, or folders of `.eml` files.

use std::path::{Path, PathBuf};

/// One message read from disk, with the name of where it came from.
pub struct RawMessage {
    pub source: String,
    pub bytes: Vec<u8>,
}

fn is_maildir(p: &Path) -> bool {
    p.join("cur").is_dir() || p.join("new").is_dir()
}

fn is_mbox(bytes: &[u8]) -> bool {
    bytes.starts_with(b"From ")
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {}", path.display(), crate::error::io_reason(&e)))
}

/// Files of a directory, sorted by name (hidden files skipped).
fn files_in(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {}", dir.display(), crate::error::io_reason(&e)))?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.'))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Every message under `path`, in a stable order. A path that does not
/// exist or cannot be read is an error naming it.
pub fn read_path(path: &Path, out: &mut Vec<RawMessage>) -> Result<(), String> {
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("{}: {}", path.display(), crate::error::io_reason(&e)))?;
    if meta.is_dir() {
        if is_maildir(path) {
            for sub in ["new", "cur"] {
                let dir = path.join(sub);
                if dir.is_dir() {
                    for f in files_in(&dir)? {
                        read_file(&f, out)?;
                    }
                }
            }
        } else {
            for f in files_in(path)? {
                read_file(&f, out)?;
            }
        }
        return Ok(());
    }
    read_file(path, out)
}

fn read_file(path: &Path, out: &mut Vec<RawMessage>) -> Result<(), String> {
    let bytes = read(path)?;
    if is_mbox(&bytes) {
        let it = mail_parser::mailbox::mbox::MessageIterator::new(std::io::Cursor::new(bytes));
        for (i, m) in it.enumerate() {
            let m = m.map_err(|e| format!("{}: {e}", path.display()))?;
            out.push(RawMessage {
                source: format!("{}#{}", path.display(), i + 1),
                bytes: m.unwrap_contents(),
            });
        }
        return Ok(());
    }
    out.push(RawMessage {
        source: path.display().to_string(),
        bytes,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_maildir_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let mbox = dir.path().join("box");
        std::fs::write(
            &mbox,
            "From a@example.com Mon Jan  1 00:00:00 2024\nSubject: one\n\nbody\n\nFrom b@example.com Mon Jan  1 00:00:00 2024\nSubject: two\n\n>From quoted\n",
        )
        .unwrap();
        let md = dir.path().join("md");
        std::fs::create_dir_all(md.join("new")).unwrap();
        std::fs::create_dir_all(md.join("cur")).unwrap();
        std::fs::write(md.join("new/1"), "Subject: three\n\nx\n").unwrap();
        std::fs::write(md.join("cur/2:2,S"), "Subject: four\n\nx\n").unwrap();
        let mut out = Vec::new();
        read_path(&mbox, &mut out).unwrap();
        read_path(&md, &mut out).unwrap();
        assert_eq!(out.len(), 4);
        assert!(out[0].source.ends_with("box#1"));
        assert!(String::from_utf8_lossy(&out[1].bytes).contains("Subject: two"));
        assert!(out[2].source.contains("new"));
        assert!(read_path(&dir.path().join("missing"), &mut out).is_err());
    }
}
