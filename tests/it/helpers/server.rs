//! The real binary serving: `gazette serve` (or `worker`) as a child
//! process on ephemeral ports of 127.0.0.1, killed when dropped.

use std::net::SocketAddr;
use std::process::Child;
use std::time::{Duration, Instant};

use super::net::free_addr;
use super::Project;

/// A `gazette serve` process with its public and admin addresses.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
}

impl Server {
    /// SIGTERM, and wait (at most 30 s) for the process to exit: `serve`
    /// first lets the work it answered for (subscriptions processed in the
    /// background) finish, so after this that work is done.
    #[track_caller]
    pub fn stop(&mut self) -> std::process::ExitStatus {
        super::procs::sigterm(&self.child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(super::wait::POLL);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `gazette serve` in `p` and wait (at most 30 s) until it answers.
pub fn serve(p: &Project, env: &[(&str, &str)]) -> Server {
    start(p, "serve", env)
}

/// Start `gazette COMMAND --listen …` (serve or worker).
pub fn start(p: &Project, command: &str, env: &[(&str, &str)]) -> Server {
    let addr = free_addr();
    let admin = free_addr();
    let mut cmd = p.cmd();
    cmd.args([command, "--listen", &addr.to_string()])
        .env("GAZETTE_ADMIN_LISTEN", admin.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    // Both listeners: the admin one is bound after the public one.
    for a in [addr, admin] {
        while std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("gazette {command} exited early: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "gazette {command} did not listen on {a}"
            );
            std::thread::sleep(super::wait::POLL);
        }
    }
    Server { child, addr, admin }
}
