//! The bounce mailbox against a real Dovecot (scripts/setup/dovecot.sh),
//! started here on a loopback port with a temporary mail store: the worker
//! processes a bounce dropped into the mailbox within one poll and moves it
//! to the processed folder; with `?tls=required` it logs in only after
//! STARTTLS (and never when the server does not offer it); a message
//! larger than the cap is left unread, reported once.

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::bounces::{corpus, gz};
use crate::helpers::net::free_port;
use crate::helpers::{OutputWithin, Project};

const DOVECOT: &str = "/usr/sbin/dovecot";

/// A child process killed (by its own pid) when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn id(args: &[&str]) -> u32 {
    let out = Command::new("id").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

struct Dovecot {
    _child: Guard,
    port: u16,
    maildir: PathBuf,
    owner: (u32, u32),
    /// With `start_tls`: the self-signed certificate (for SSL_CERT_FILE).
    cert: PathBuf,
    dir: tempfile::TempDir,
}

/// Dovecot, or `None` (the test skipped) when it is not installed.
fn dovecot(tls: bool) -> Option<Dovecot> {
    if !Path::new(DOVECOT).exists() {
        assert!(
            std::env::var_os("GAZETTE_REQUIRE_ALL").is_none(),
            "Dovecot is missing: run scripts/setup/dovecot.sh"
        );
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED: the bounce mailbox test against Dovecot ({DOVECOT} not found; scripts/setup/dovecot.sh installs it)\n"
        );
        return None;
    }
    Some(Dovecot::start(tls))
}

/// A self-signed certificate for 127.0.0.1 and its key, made by openssl.
fn self_signed(dir: &Path) -> String {
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stdin(Stdio::null())
        .output_within();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = dir.display();
    format!("ssl = yes\nssl_cert = <{d}/cert.pem\nssl_key = <{d}/key.pem\ndisable_plaintext_auth = yes\n")
}

impl Dovecot {
    /// `tls`: STARTTLS offered (a self-signed certificate); else no TLS.
    fn start(tls: bool) -> Dovecot {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let as_root = id(&["-u"]) == 0;
        // As root, Dovecot runs its logins as dovenull and mail as dovecot.
        let (internal, login, owner) = if as_root {
            (
                "dovecot".to_string(),
                "dovenull".to_string(),
                (id(&["-u", "dovecot"]), id(&["-g", "dovecot"])),
            )
        } else {
            let me =
                String::from_utf8_lossy(&Command::new("id").arg("-un").output().unwrap().stdout)
                    .trim()
                    .to_string();
            (me.clone(), me, (id(&["-u"]), id(&["-g"])))
        };
        let port = free_port();
        for d in [
            "run",
            "state",
            "mail/bounce/new",
            "mail/bounce/cur",
            "mail/bounce/tmp",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for d in [
            "mail",
            "mail/bounce",
            "mail/bounce/new",
            "mail/bounce/cur",
            "mail/bounce/tmp",
        ] {
            chown(root.join(d), Some(owner.0), Some(owner.1)).unwrap();
        }
        std::fs::write(root.join("passwd"), "bounce:{PLAIN}imap-test-pw\n").unwrap();
        let r = root.display();
        let ssl = if tls {
            self_signed(root)
        } else {
            "ssl = no\ndisable_plaintext_auth = no\n".to_string()
        };
        let conf = format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {r}/run\nstate_dir = {r}/state\n\
             log_path = {r}/dovecot.log\n{ssl}\
             auth_mechanisms = plain login\nmail_location = maildir:{r}/mail/%u:LAYOUT=fs\nfirst_valid_uid = {}\nfirst_valid_gid = {}\n\
             default_internal_user = {internal}\ndefault_login_user = {login}\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service anvil {{\n  chroot =\n}}\nservice imap-login {{\n  chroot =\n}}\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {r}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid={} gid={} home={r}/mail/%u\n}}\n",
            owner.0, owner.1, owner.0, owner.1
        );
        std::fs::write(root.join("dovecot.conf"), conf).unwrap();
        let child = Command::new(DOVECOT)
            .arg("-c")
            .arg(root.join("dovecot.conf"))
            .arg("-F")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let child = Guard(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "Dovecot did not listen on {port}: {}",
                std::fs::read_to_string(root.join("dovecot.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Dovecot {
            _child: child,
            port,
            maildir: root.join("mail/bounce"),
            owner,
            cert: root.join("cert.pem"),
            dir,
        }
    }

    /// Dovecot's log: logins, with `TLS` when the session was encrypted.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// Deliver a message into the INBOX the way an MDA does (Maildir new/).
    fn deliver(&self, n: usize, message: &Path) {
        let tmp = self.maildir.join(format!("tmp/{n}.test"));
        std::fs::copy(message, &tmp).unwrap();
        chown(&tmp, Some(self.owner.0), Some(self.owner.1)).unwrap();
        std::fs::rename(&tmp, self.maildir.join(format!("new/{n}.test"))).unwrap();
    }

    fn count(&self, folder: &str) -> usize {
        ["new", "cur"]
            .iter()
            .map(|s| {
                std::fs::read_dir(self.maildir.join(folder).join(s))
                    .map(|d| d.count())
                    .unwrap_or(0)
            })
            .sum()
    }
}

fn status_of(p: &Project, email: &str) -> String {
    let out = gz(p, &["subscribers", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&out.ok().stdout()).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .find(|s| s["email"] == email)
        .map(|s| s["status"].as_str().unwrap().to_string())
        .unwrap()
}

#[track_caller]
fn wait_until(what: &str, secs: u64, log: impl Fn() -> String, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {secs} s\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A project whose bounce mailbox is `dovecot`'s INBOX at `url_tail`
/// (`?tls=required`…), without VERP (opted in), polled every 1 s; three
/// confirmed subscribers.
fn project(dovecot: &Dovecot, url_tail: &str) -> Project {
    let p = Project::with_config(&format!(
        "{}\n[bounces]\nimap_url = \"imap://bounce@127.0.0.1:{}/INBOX{url_tail}\"\npoll = \"1s\"\n\
         allow_unverified_mailbox = true\n",
        crate::helpers::CONFIG,
        dovecot.port
    ));
    p.write(
        "list.csv",
        "email\nuserunknown@example.co.jp\nuser@example.com\nbystander@example.org\n",
    );
    gz(&p, &["subscribers", "import", "list.csv", "--confirmed"]).ok();
    p
}

/// `gazette worker` with the mailbox password (and `env`), its log in
/// worker.log; killed when the guard is dropped.
fn worker<'a>(p: &'a Project, env: &[(&str, &Path)]) -> (Guard, impl Fn() -> String + 'a) {
    let mut cmd = p.cmd();
    cmd.env("GAZETTE_BOUNCES_PASSWORD", "imap-test-pw");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .args(["worker", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(p.path().join("worker.log")).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(p.path().join("worker.log")).unwrap_or_default();
    (Guard(child), log)
}

#[test]
fn worker_processes_the_bounce_mailbox_within_one_poll() {
    let Some(dovecot) = dovecot(false) else {
        return;
    };
    let p = project(&dovecot, "");
    dovecot.deliver(1, &corpus().join("postfix-01.eml"));

    // Without the password the worker refuses to start, naming the variable.
    let refused =
        crate::helpers::procs::run_timeout(&p, &["worker", "--listen", "127.0.0.1:0"], 30);
    refused.fails_with("GAZETTE_BOUNCES_PASSWORD");

    let (_worker, log) = worker(&p, &[]);
    // The first poll runs at start; one poll interval is 1 s.
    wait_until("the bounce processed", 8, &log, || {
        status_of(&p, "userunknown@example.co.jp") == "bounced"
    });
    wait_until("the message moved", 8, &log, || {
        dovecot.count("Gazette/Processed") == 1
    });
    assert_eq!(dovecot.count(""), 0, "the INBOX is empty");
    // A complaint arriving while the worker runs is handled by the next poll.
    dovecot.deliver(2, &corpus().join("arf-01.eml"));
    wait_until("the complaint processed", 8, &log, || {
        status_of(&p, "user@example.com") == "complained"
    });
    wait_until("both moved", 8, &log, || {
        dovecot.count("Gazette/Processed") == 2
    });
    assert_eq!(status_of(&p, "bystander@example.org"), "active");
    // Without VERP (allowed explicitly), said at start.
    assert!(
        log().contains("without [bounces] address (allow_unverified_mailbox = true)"),
        "{}",
        log()
    );
}

/// `?tls=required` against a server that offers no STARTTLS: the worker
/// says so and never sends LOGIN (the password stays off the wire).
#[test]
fn tls_required_never_logs_in_without_starttls() {
    let Some(dovecot) = dovecot(false) else {
        return;
    };
    let p = project(&dovecot, "?tls=required");
    dovecot.deliver(1, &corpus().join("postfix-01.eml"));
    let (_worker, log) = worker(&p, &[]);
    wait_until("STARTTLS refused, said", 10, &log, || {
        log().contains("STARTTLS refused") && log().contains("not sent in clear")
    });
    assert!(
        !dovecot.log().contains("Login: user=<bounce>"),
        "{}",
        dovecot.log()
    );
    assert_eq!(status_of(&p, "userunknown@example.co.jp"), "active");
    assert_eq!(dovecot.count(""), 1, "the message is still in the INBOX");
}

/// `?tls=required` against a server that offers STARTTLS: the session is
/// encrypted before LOGIN (Dovecot logs the login with `TLS`), the
/// certificate checked against SSL_CERT_FILE.
#[test]
fn tls_required_logs_in_after_starttls() {
    let Some(dovecot) = dovecot(true) else {
        return;
    };
    let p = project(&dovecot, "?tls=required");
    dovecot.deliver(1, &corpus().join("postfix-01.eml"));
    // The certificate is checked: not trusted, no login.
    let (untrusting, log) = worker(&p, &[("SSL_CERT_FILE", Path::new("/nonexistent.pem"))]);
    wait_until("the certificate refused", 10, &log, || {
        log().contains("TLS: invalid peer certificate")
    });
    drop(untrusting);
    assert!(
        !dovecot.log().contains("Login: user=<bounce>"),
        "{}",
        dovecot.log()
    );
    assert_eq!(status_of(&p, "userunknown@example.co.jp"), "active");
    let (_worker, log) = worker(&p, &[("SSL_CERT_FILE", &dovecot.cert)]);
    wait_until("the bounce processed", 10, &log, || {
        status_of(&p, "userunknown@example.co.jp") == "bounced"
    });
    let logins: Vec<String> = dovecot
        .log()
        .lines()
        .filter(|l| l.contains("Login: user=<bounce>"))
        .map(str::to_string)
        .collect();
    assert!(!logins.is_empty(), "{}", dovecot.log());
    for l in &logins {
        assert!(l.contains("TLS"), "a login in clear: {l}");
    }
}

/// A message above the cap the bounce parser reads (25 MB) is not fetched:
/// its RFC822.SIZE is asked first; it stays unread in the INBOX, reported
/// once, and the messages around it are processed.
#[test]
fn a_message_above_the_cap_is_left_in_the_mailbox_and_reported_once() {
    let Some(dovecot) = dovecot(false) else {
        return;
    };
    let p = project(&dovecot, "");
    let big = p.path().join("big.eml");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        f.write_all(
            b"From: MAILER-DAEMON@example.net\r\nTo: news@example.com\r\n\
              Subject: Undelivered Mail Returned to Sender\r\n\r\n\
              <user@example.com>: host said: 550 5.1.1 user unknown\r\n",
        )
        .unwrap();
        let line = [b'x'; 998];
        for _ in 0..(26 << 20) / 1000 {
            f.write_all(&line).unwrap();
            f.write_all(b"\r\n").unwrap();
        }
    }
    dovecot.deliver(1, &big);
    dovecot.deliver(2, &corpus().join("postfix-01.eml"));
    let (_worker, log) = worker(&p, &[]);
    wait_until("the small bounce processed", 10, &log, || {
        status_of(&p, "userunknown@example.co.jp") == "bounced"
    });
    wait_until("the small one moved", 8, &log, || {
        dovecot.count("Gazette/Processed") == 1
    });
    // Three more polls (each a login Dovecot logs): still there, still
    // reported once.
    let logins = || dovecot.log().matches("Login: user=").count();
    let before = logins();
    wait_until("three more polls", 10, &log, || logins() >= before + 3);
    assert_eq!(dovecot.count(""), 1, "the large message stays in the INBOX");
    let reports = log().matches("is larger than 25 MB: skipped").count();
    assert_eq!(reports, 1, "{}", log());
    assert_eq!(status_of(&p, "user@example.com"), "active");
}

/// The TLS rule and the VERP rule, checked with the settings: the real
/// binary refuses to start, in one line naming the key(s).
#[test]
fn cleartext_or_unverified_mailboxes_are_refused_at_start() {
    let base = crate::helpers::CONFIG;
    let p = Project::new();
    // The imap_url line: after [bounces] (and address).
    let line = |n: usize| {
        format!(
            "gazette.toml:{}: bounces.imap_url: ",
            base.lines().count() + n
        )
    };
    for (bounces, at, needles) in [
        (
            "address = \"bounces@example.com\"\nimap_url = \"imap://bounce@mail.example.com/INBOX\"",
            line(3),
            &[
                "bounces.imap_url",
                "refusing to send the password over an unencrypted connection: use imaps:// or ?tls=required (or ?insecure_auth=true if you must)",
            ][..],
        ),
        (
            "imap_url = \"imaps://bounce@mail.example.com/INBOX\"",
            line(2),
            &["bounces.imap_url", "bounces.address", "allow_unverified_mailbox = true"][..],
        ),
    ] {
        p.write("gazette.toml", format!("{base}[bounces]\n{bounces}\n"));
        let out = p
            .cmd()
            .env("GAZETTE_BOUNCES_PASSWORD", "pw")
            .args(["worker", "--listen", "127.0.0.1:0"])
            .output_within();
        let out = crate::helpers::Run(out);
        for n in needles {
            out.fails_with(n);
        }
        let err = out.stderr();
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(&at), "{err}");
    }
}
