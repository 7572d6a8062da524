//! The bounce mailbox against a real Dovecot (scripts/setup/dovecot.sh),
//! started here on a loopback port with a temporary mail store: the worker
//! processes a bounce dropped into the mailbox within one poll and moves it
//! to the processed folder.

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::bounces::{corpus, gz};
use crate::helpers::Project;

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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Dovecot {
    _child: Guard,
    port: u16,
    maildir: PathBuf,
    owner: (u32, u32),
    _dir: tempfile::TempDir,
}

impl Dovecot {
    fn start() -> Dovecot {
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
        let conf = format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {r}/run\nstate_dir = {r}/state\n\
             log_path = {r}/dovecot.log\nssl = no\ndisable_plaintext_auth = no\n\
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
            _dir: dir,
        }
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

#[test]
fn worker_processes_the_bounce_mailbox_within_one_poll() {
    if !Path::new(DOVECOT).exists() {
        assert!(
            std::env::var_os("GAZETTE_REQUIRE_ALL").is_none(),
            "Dovecot is missing: run scripts/setup/dovecot.sh"
        );
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED: the bounce mailbox test against Dovecot ({DOVECOT} not found; scripts/setup/dovecot.sh installs it)\n"
        );
        return;
    }
    let dovecot = Dovecot::start();
    let p = Project::with_config(&format!(
        "{}\n[bounces]\nimap_url = \"imap://bounce@127.0.0.1:{}/INBOX\"\npoll = \"2s\"\n",
        crate::helpers::CONFIG,
        dovecot.port
    ));
    p.write(
        "list.csv",
        "email\nuserunknown@example.co.jp\nuser@example.com\nbystander@example.org\n",
    );
    gz(&p, &["subscribers", "import", "list.csv", "--confirmed"]).ok();
    dovecot.deliver(1, &corpus().join("postfix-01.eml"));

    // Without the password the worker refuses to start, naming the variable.
    let refused = crate::bounces::run_timeout(&p, &["worker", "--listen", "127.0.0.1:0"], 30);
    refused.fails_with("GAZETTE_BOUNCES_PASSWORD");

    let worker = p
        .cmd()
        .env("GAZETTE_BOUNCES_PASSWORD", "imap-test-pw")
        .args(["worker", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(p.path().join("worker.log")).unwrap())
        .spawn()
        .unwrap();
    let _worker = Guard(worker);
    let log = || std::fs::read_to_string(p.path().join("worker.log")).unwrap_or_default();
    // The first poll runs at start; one poll interval is 2 s.
    wait_until("the bounce processed", 8, log, || {
        status_of(&p, "userunknown@example.co.jp") == "bounced"
    });
    wait_until("the message moved", 8, log, || {
        dovecot.count("Gazette/Processed") == 1
    });
    assert_eq!(dovecot.count(""), 0, "the INBOX is empty");
    // A complaint arriving while the worker runs is handled by the next poll.
    dovecot.deliver(2, &corpus().join("arf-01.eml"));
    wait_until("the complaint processed", 8, log, || {
        status_of(&p, "user@example.com") == "complained"
    });
    wait_until("both moved", 8, log, || {
        dovecot.count("Gazette/Processed") == 2
    });
    assert_eq!(status_of(&p, "bystander@example.org"), "active");
}
