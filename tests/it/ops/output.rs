//! Standard output that goes away (a closed pipe, a full disk) ends a
//! command cleanly: `| head` is exit 0, a full disk one line and exit 1.

use std::process::Stdio;
use std::time::Duration;

use crate::helpers::Project;

fn project_with_subscribers() -> Project {
    let p = Project::new();
    let mut csv = String::from("email,name\n");
    for i in 0..3000 {
        csv.push_str(&format!("reader{i}@example.org,Reader {i}\n"));
    }
    p.write("list.csv", csv);
    p.run(&["subscribers", "import", "list.csv", "--confirmed"])
        .ok();
    p
}

/// Run with stdout a pipe whose reader is already closed.
fn closed_pipe(p: &Project, args: &[&str]) -> (i32, String) {
    let mut child = p
        .cmd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "{args:?} hung");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status.code().unwrap_or(-1), err)
}

#[test]
fn a_closed_pipe_is_a_clean_exit() {
    let p = project_with_subscribers();
    for args in [
        &["subscribers", "list"][..],
        &["subscribers", "count"],
        &["campaigns", "list"],
        &["status"],
        &["posts", "list"],
    ] {
        let (code, err) = closed_pipe(&p, args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn a_full_disk_is_one_line_and_exit_1() {
    let p = project_with_subscribers();
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("SKIPPED: no /dev/full on this system");
        return;
    };
    let mut cmd = p.cmd();
    cmd.args(["subscribers", "list"]).stdout(full);
    let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "the command hung");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(
        err.trim(),
        "error: writing to standard output: No space left on device"
    );
}
