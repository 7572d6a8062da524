//! `gazette completions SHELL` and `gazette man DIR`: generated from the
//! clap definitions, so they never drift from the real flags.

use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{Error, Result};

/// Print the completion script for `shell` to standard output.
pub fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "gazette", &mut out);
    super::write_output(None, &out)
}

/// Write one manual page per command and subcommand into `dir`:
/// `gazette.1`, `gazette-send.1`, `gazette-send-post.1`, ….
pub fn man(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for (name, page) in man_pages()? {
        let path = dir.join(name);
        crate::util::fs::write_atomic(&path, &page).map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

/// Every manual page as (file name, roff source).
pub fn man_pages() -> Result<Vec<(String, Vec<u8>)>> {
    let mut pages = Vec::new();
    let mut cmd = Cli::command();
    cmd.build();
    collect(&cmd, "gazette", &mut pages)?;
    Ok(pages)
}

fn collect(cmd: &clap::Command, name: &str, pages: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
    let cmd = cmd
        .clone()
        .name(name.to_string())
        .bin_name(name.replace('-', " "));
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .date("2026-11-25")
        .render(&mut page)
        .map_err(|e| Error::msg(format!("rendering the manual page of {name}: {e}")))?;
    pages.push((format!("{name}.1"), page));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        collect(sub, &format!("{name}-{}", sub.get_name()), pages)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subcommand, argument and flag says what it is for.
    #[test]
    fn every_flag_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            if cmd.get_about().is_none() && path != "gazette" {
                missing.push(format!("{path} (the command)"));
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{id}"));
                }
            }
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut cmd = Cli::command();
        cmd.build();
        let mut missing = Vec::new();
        walk(&cmd, "gazette", &mut missing);
        assert!(
            missing.is_empty(),
            "without help text:\n{}",
            missing.join("\n")
        );
    }

    /// `docs/man/` holds the pages `gazette man` writes today (regenerate
    /// with `cargo run -- man docs/man`).
    #[test]
    fn man_pages_in_docs_are_current() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/man");
        let pages = man_pages().unwrap();
        let mut stale = Vec::new();
        for (name, page) in &pages {
            match std::fs::read(dir.join(name)) {
                Ok(old) if &old == page => {}
                _ => stale.push(name.clone()),
            }
        }
        let known: Vec<&String> = pages.iter().map(|(n, _)| n).collect();
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !known.contains(&&name) {
                stale.push(format!("{name} (no such command any more)"));
            }
        }
        assert!(
            stale.is_empty(),
            "docs/man is stale; run `cargo run -- man docs/man` (and delete pages of removed commands):\n{}",
            stale.join("\n")
        );
    }

    #[test]
    fn completions_name_the_subcommands() {
        let mut cmd = Cli::command();
        let mut out = Vec::new();
        clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "gazette", &mut out);
        let script = String::from_utf8(out).unwrap();
        for sub in ["send", "subscribers", "campaigns", "worker", "completions"] {
            assert!(script.contains(sub), "{sub}");
        }
    }
}
