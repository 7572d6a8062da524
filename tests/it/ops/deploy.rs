//! The deploy files stay true: every path the Dockerfile copies exists, the
//! commands the Dockerfile, compose.yaml and the systemd unit run are real
//! subcommands with real flags, and `systemd-analyze verify` accepts the
//! unit where systemd is installed. (No image registry is reachable here,
//! so the images themselves are not built.)

use std::path::Path;

use crate::helpers::Project;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The arguments of a JSON-array instruction such as `CMD ["a", "b"]`.
fn json_args(line: &str) -> Vec<String> {
    let start = line.find('[').expect("exec form");
    serde_json::from_str(&line[start..]).expect("a JSON array")
}

/// `gazette ARGS --help` succeeds: the subcommand and its flags exist.
fn assert_real_command(args: &[String]) {
    let p = Project::new();
    let mut with_help: Vec<&str> = args.iter().map(String::as_str).collect();
    with_help.push("--help");
    let out = p.run(&with_help);
    assert_eq!(out.code(), 0, "gazette {args:?}: {}", out.stderr());
}

#[test]
fn dockerfile_copies_what_exists_and_runs_a_real_command() {
    let docker = read("Dockerfile");
    let mut copied = 0;
    for line in docker
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().skip(1).collect();
        for src in &parts[..parts.len() - 1] {
            assert!(
                root().join(src).exists(),
                "Dockerfile copies {src}, which does not exist"
            );
            copied += 1;
        }
    }
    assert!(copied >= 5);
    let entry = json_args(
        docker
            .lines()
            .find(|l| l.starts_with("ENTRYPOINT"))
            .unwrap(),
    );
    assert_eq!(entry, ["gazette"]);
    let cmd = json_args(docker.lines().find(|l| l.starts_with("CMD")).unwrap());
    assert_real_command(&cmd);
}

#[test]
fn compose_runs_a_real_command_against_the_catcher() {
    let compose = read("compose.yaml");
    let cmd = json_args(
        compose
            .lines()
            .find(|l| l.trim_start().starts_with("command:"))
            .unwrap(),
    );
    assert_real_command(&cmd);
    assert!(compose.contains("GAZETTE_SMTP_URL: smtp://maildev:1025"));
}

#[test]
fn systemd_unit_runs_a_real_command_and_verifies() {
    let unit = read("deploy/gazette.service");
    for key in [
        "DynamicUser=yes",
        "StateDirectory=gazette",
        "ProtectSystem=strict",
        "Restart=on-failure",
        "KillSignal=SIGTERM",
    ] {
        assert!(
            unit.lines().any(|l| l == key),
            "gazette.service lacks {key}"
        );
    }
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/gazette"));
    let args: Vec<String> = words
        .map(String::from)
        .filter(|w| !w.starts_with('/'))
        .collect();
    // `--config PATH` takes a value that is not checked here.
    let args: Vec<String> = args.into_iter().filter(|a| a != "--config").collect();
    assert_real_command(&args);
    let Ok(analyze) = which("systemd-analyze") else {
        eprintln!("systemd-analyze not installed: unit syntax not verified");
        return;
    };
    // Verify a copy whose ExecStart points at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("gazette.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/gazette", env!("CARGO_BIN_EXE_gazette")),
    )
    .unwrap();
    let out = crate::helpers::run_with_timeout(
        std::process::Command::new(analyze)
            .args(["verify", "--man=no"])
            .arg(&copy),
        std::time::Duration::from_secs(60),
    );
    let err = out.stderr();
    let serious: Vec<&str> = err
        .lines()
        .filter(|l| {
            l.contains("gazette.service")
                && !l.contains("Failed to create")
                && !l.contains("Cannot add dependency")
        })
        .collect();
    assert!(serious.is_empty(), "systemd-analyze verify:\n{err}");
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}
