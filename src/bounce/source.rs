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

/// The largest single message read (a returned message carries at most
/// the original and a report); a larger one is skipped with a warning.
pub const MAX_MESSAGE: u64 = 25 << 20;

fn io_err(path: &Path, e: &std::io::Error) -> String {
    format!("{}: {}", path.display(), crate::error::io_reason(e))
}

fn skip_large(source: &str) {
    eprintln!(
        "warning: {source}: message larger than {} MB: skipped",
        MAX_MESSAGE >> 20
    );
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
    let meta = std::fs::metadata(path).map_err(|e| io_err(path, &e))?;
    if !meta.is_dir() && !meta.is_file() {
        // A FIFO or device is never opened: it could hang or never end.
        return Err(format!("{}: not a regular file", path.display()));
    }
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

/// One regular file: an mbox (split into its messages) or one message.
fn read_file(path: &Path, out: &mut Vec<RawMessage>) -> Result<(), String> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|e| io_err(path, &e))?;
    let meta = file.metadata().map_err(|e| io_err(path, &e))?;
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    let mut r = std::io::BufReader::with_capacity(1 << 16, file);
    let head = r.fill_buf().map_err(|e| io_err(path, &e))?;
    if head.starts_with(b"From ") {
        return read_mbox(path, r, out);
    }
    let source = path.display().to_string();
    let mut bytes = Vec::new();
    // The file may grow after the check: read one byte past the cap at most.
    std::io::Read::read_to_end(&mut std::io::Read::take(r, MAX_MESSAGE + 1), &mut bytes)
        .map_err(|e| io_err(path, &e))?;
    if bytes.len() as u64 > MAX_MESSAGE {
        skip_large(&source);
        return Ok(());
    }
    out.push(RawMessage { source, bytes });
    Ok(())
}

/// An mbox, line by line (mboxrd: `>From ` unquoted), no line and no
/// message held beyond `MAX_MESSAGE` bytes.
fn read_mbox(
    path: &Path,
    mut r: impl std::io::BufRead,
    out: &mut Vec<RawMessage>,
) -> Result<(), String> {
    use std::io::{BufRead, Read};
    let mut n = 0;
    // The message being read, and whether it grew past the cap.
    let mut cur: Option<(Vec<u8>, bool)> = None;
    let mut finish = |cur: Option<(Vec<u8>, bool)>, n: usize| {
        let source = format!("{}#{n}", path.display());
        match cur {
            Some((_, true)) => skip_large(&source),
            Some((bytes, false)) => out.push(RawMessage { source, bytes }),
            None => {}
        }
    };
    let mut line = Vec::new();
    let mut at_start = true;
    loop {
        line.clear();
        let got = (&mut r)
            .take(MAX_MESSAGE + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| io_err(path, &e))?;
        if got == 0 {
            break;
        }
        let starts = at_start;
        at_start = line.ends_with(b"\n");
        if starts && line.starts_with(b"From ") {
            finish(cur.take(), n);
            n += 1;
            cur = Some((Vec::new(), false));
            continue;
        }
        let Some((buf, big)) = cur.as_mut() else {
            continue;
        };
        if *big {
            continue;
        }
        let quoted = starts
            && line.first() == Some(&b'>')
            && line[line.iter().position(|&c| c != b'>').unwrap_or(line.len())..]
                .starts_with(b"From ");
        let body = if quoted { &line[1..] } else { &line[..] };
        if (buf.len() + body.len()) as u64 > MAX_MESSAGE {
            *big = true;
            *buf = Vec::new();
        } else {
            buf.extend_from_slice(body);
        }
    }
    finish(cur, n);
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

#[cfg(test)]
mod limits {
    use super::*;
    use std::io::Write;

    #[test]
    fn devices_and_fifos_are_refused_unopened() {
        let mut out = Vec::new();
        let e = read_path(Path::new("/dev/zero"), &mut out).err().unwrap();
        assert_eq!(e, "/dev/zero: not a regular file");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // No writer: opening it for reading would block forever.
        let e = read_path(&fifo, &mut out).err().unwrap();
        assert!(e.ends_with(": not a regular file"), "{e}");
        // In a folder, the FIFO is passed over.
        std::fs::write(dir.path().join("one.eml"), "Subject: x\n\nbody\n").unwrap();
        read_path(dir.path(), &mut out).unwrap();
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn a_message_over_the_cap_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        // Sparse files: no disk space taken by the zeros.
        let big = dir.path().join("big.eml");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(MAX_MESSAGE + 10)
            .unwrap();
        let mbox = dir.path().join("box");
        let mut f = std::fs::File::create(&mbox).unwrap();
        f.write_all(b"From a@example.com Mon Jan  1 00:00:00 2024\nSubject: huge\n")
            .unwrap();
        f.set_len(MAX_MESSAGE + 100).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&mbox)
            .unwrap();
        f.write_all(
            b"\nFrom b@example.com Mon Jan  1 00:00:00 2024\nSubject: two\n\n>From quoted\n",
        )
        .unwrap();
        drop(f);
        let mut out = Vec::new();
        read_path(&big, &mut out).unwrap();
        assert!(out.is_empty());
        read_path(&mbox, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert!(out[0].source.ends_with("box#2"), "{}", out[0].source);
        assert_eq!(out[0].bytes, b"Subject: two\n\nFrom quoted\n");
    }
}
