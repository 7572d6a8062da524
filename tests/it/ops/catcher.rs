//! Runs the end-to-end suite against a real SMTP catcher (MailDev) when it
//! is installed; `scripts/test.sh` installs it. Without it, says so and
//! passes, unless GAZETTE_REQUIRE_ALL is set (scripts/test.sh, CI): then a
//! missing catcher fails the test.

use std::io::Write;
use std::path::PathBuf;

#[test]
fn catcher_end_to_end_suite() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let maildev = std::env::var_os("MAILDEV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".tools/maildev/node_modules/.bin/maildev"));
    if !maildev.exists() {
        assert!(
            std::env::var_os("GAZETTE_REQUIRE_ALL").is_none(),
            "MailDev not found at {} (scripts/setup/maildev.sh installs it)",
            maildev.display()
        );
        // Written past the test harness's capture, so it shows in `cargo test`.
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED: the end-to-end suite against a real SMTP catcher (MailDev not found at {}).\n\
             Run it with: scripts/test.sh (which installs it)\n",
            maildev.display()
        );
        return;
    }
    let out = crate::helpers::run_with_timeout(
        std::process::Command::new("python3")
            .arg(root.join("tests/e2e/catcher.py"))
            .env("GAZETTE_BIN", env!("CARGO_BIN_EXE_gazette"))
            .env("MAILDEV", &maildev),
        std::time::Duration::from_secs(600),
    )
    .0;
    assert!(
        out.status.success(),
        "end-to-end suite failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
