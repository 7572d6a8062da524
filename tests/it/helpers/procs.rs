//! The real binary as a child process: spawned with its output piped,
//! waited for with a deadline (a hang fails the test), signalled.

use std::io::Read;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::{Project, Run};

fn reader(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// Wait for `child` at most `limit`; a hung command fails the test.
#[track_caller]
pub fn finish_within(mut child: Child, limit: Duration) -> (Run, Duration) {
    let start = Instant::now();
    let out = reader(child.stdout.take().unwrap());
    let err = reader(child.stderr.take().unwrap());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "still running after {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&err.join().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = std::process::Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    (Run(output), start.elapsed())
}

pub fn spawn(p: &Project, args: &[&str]) -> Child {
    p.cmd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Run the binary, at most `limit`.
#[track_caller]
pub fn run_within(p: &Project, args: &[&str], limit: Duration) -> (Run, Duration) {
    finish_within(spawn(p, args), limit)
}

/// `gazette ARGS` to completion within `secs` seconds.
#[track_caller]
pub fn run_timeout(p: &Project, args: &[&str], secs: u64) -> Run {
    super::run_with_timeout(p.cmd().args(args), Duration::from_secs(secs))
}

/// Send `sig` ("-TERM", "-STOP", "-CONT", ...) to `child`.
pub fn signal(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

pub fn sigterm(child: &Child) {
    signal(child, "-TERM")
}

/// The filter that shows the worker's end-of-pass line
/// (`gazette::worker::PASS_TARGET`) and the campaigns it resumes as well
/// as the usual log.
pub const PASS_LOG: &str =
    "gazette=info,gazette::worker::pass=debug,gazette::worker::campaigns=debug,sqlx::query=error,warn";

/// A `gazette worker` whose log is read while it runs: each pass of its
/// loop ends with a line, so a test waits for passes, not for a clock.
/// Killed if the test fails before it stops.
pub struct Watched {
    child: Option<Child>,
    log: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Watched {
    /// Start `gazette ARGS` (a worker) in `p` with the pass line on.
    pub fn spawn(p: &Project, args: &[&str]) -> Watched {
        Self::start(p.cmd().args(args))
    }

    /// Start `cmd` (a worker) with the pass line on.
    pub fn start(cmd: &mut std::process::Command) -> Watched {
        let mut child = cmd
            .env("GAZETTE_LOG", PASS_LOG)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (mut err, sink) = (child.stderr.take().unwrap(), log.clone());
        let reader = std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = err.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        Watched {
            child: Some(child),
            log,
            reader: Some(reader),
        }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }

    /// How many passes of its loop the worker has finished.
    pub fn passes(&self) -> usize {
        self.log().matches("worker pass done").count()
    }

    /// Wait (at most 60 s) until the worker has finished `n` more passes.
    #[track_caller]
    pub fn wait_passes(&self, n: usize) {
        let target = self.passes() + n;
        super::wait::wait_until(
            &format!("{n} more passes of the worker"),
            Duration::from_secs(60),
            || self.passes() >= target,
        );
    }

    /// SIGTERM, then wait at most `limit` for it to exit; its run (the
    /// log as stderr) and how long the stop took.
    #[track_caller]
    pub fn stop(mut self, limit: Duration) -> (Run, Duration) {
        let mut child = self.child.take().unwrap();
        sigterm(&child);
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("still running after {limit:?}; stderr:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        let output = std::process::Output {
            status,
            stdout: Vec::new(),
            stderr: self.log.lock().unwrap().clone(),
        };
        (Run(output), start.elapsed())
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
