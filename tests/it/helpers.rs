use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const CONFIG: &str = r#"
[newsletter]
title = "Test Notes"
from = "Test Notes <news@example.com>"
base_url = "https://example.com/blog"
public_url = "http://127.0.0.1:9"
postal_address = "1 Test Street, Testville"
"#;

/// A temporary Gazette project: a folder with gazette.toml and posts/.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Self {
        Self::with_config(CONFIG)
    }

    pub fn with_config(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gazette.toml"), config).unwrap();
        std::fs::create_dir(dir.path().join("posts")).unwrap();
        Project { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn post(&self, name: &str, title: &str, date: &str, body: &str) {
        self.write(
            &format!("posts/{name}.md"),
            format!("+++\ntitle = \"{title}\"\ndate = {date}\n+++\n{body}"),
        );
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gazette"));
        c.current_dir(self.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("GAZETTE_") {
                c.env_remove(k);
            }
        }
        c.env("GAZETTE_NOW", "2026-11-23T12:00:00Z");
        // Tests run in parallel: no fixed admin port.
        c.env("GAZETTE_ADMIN_LISTEN", "127.0.0.1:0");
        c
    }

    /// Start the binary in the background, output discarded.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.cmd()
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run(self.cmd().args(args).output().unwrap())
    }
}

pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code(),
            0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
    /// Exit 1 with one clear line and never a panic or backtrace.
    #[track_caller]
    pub fn fails_with(&self, needle: &str) -> &Self {
        let err = self.stderr();
        assert_eq!(self.code(), 1, "stdout:\n{}\nstderr:\n{err}", self.stdout());
        assert!(
            err.contains(needle),
            "expected {needle:?} in stderr:\n{err}"
        );
        assert!(
            !err.contains("panicked") && !err.contains("backtrace"),
            "{err}"
        );
        self
    }
}
