//! A scripted SMTP server for the bounce tests: real sockets on 127.0.0.1,
//! a thread per connection, a fixed reply per recipient (at RCPT TO), and
//! a record of every envelope sender (VERP) and accepted message.
//! Optionally a rate limit: above `per_second` recipients in any second,
//! RCPT TO is answered like Amazon SES at its account's rate.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Amazon SES's answer above the account's sending rate.
pub const SES_THROTTLED: &str = "454 4.7.0 Throttling failure: Maximum sending rate exceeded";

#[derive(Debug, Clone)]
pub struct Accepted {
    pub from: String,
    pub to: String,
    pub data: String,
}

#[derive(Default)]
pub struct Log {
    pub accepted: Vec<Accepted>,
    /// (envelope sender, recipient) for every RCPT TO, accepted or not.
    pub attempts: Vec<(String, String)>,
    /// RCPT TO answered with the throttling reply.
    pub throttled: usize,
    /// When the recipients of the last second were accepted (rate limit).
    recent: VecDeque<Instant>,
}

/// What the server answers.
#[derive(Default, Clone)]
pub struct Rules {
    /// Recipient → the full reply line to RCPT TO (e.g. "550 5.1.1 No
    /// such user"); everyone else is accepted.
    pub replies: HashMap<String, String>,
    /// At most this many recipients accepted in any second; the others
    /// get `SES_THROTTLED`.
    pub per_second: Option<usize>,
}

pub struct ScriptedSmtp {
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Log>>,
}

impl ScriptedSmtp {
    /// `replies`: recipient → the full reply line to RCPT TO (e.g.
    /// "550 5.1.1 No such user"); everyone else is accepted.
    pub fn start(replies: HashMap<String, String>) -> Self {
        Self::start_with(Rules {
            replies,
            ..Default::default()
        })
    }

    pub fn start_with(rules: Rules) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Log::default()));
        let replies = Arc::new(rules);
        let l = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (l, replies) = (l.clone(), replies.clone());
                std::thread::spawn(move || {
                    let _ = session(stream, &l, &replies);
                });
            }
        });
        ScriptedSmtp { addr, log }
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn accepted(&self) -> Vec<Accepted> {
        self.log.lock().unwrap().accepted.clone()
    }

    pub fn attempts(&self) -> Vec<(String, String)> {
        self.log.lock().unwrap().attempts.clone()
    }

    /// RCPT TO answered with the throttling reply so far.
    pub fn throttled(&self) -> usize {
        self.log.lock().unwrap().throttled
    }
}

fn session(stream: TcpStream, log: &Mutex<Log>, rules: &Rules) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut w = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    w.write_all(b"220 scripted.local ESMTP\r\n")?;
    let (mut from, mut to) = (String::new(), Vec::<String>::new());
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            w.write_all(b"250-scripted.local\r\n250 8BITMIME\r\n")?;
        } else if upper.starts_with("MAIL FROM:") {
            from = addr_of(&cmd[10..]);
            to.clear();
            w.write_all(b"250 OK\r\n")?;
        } else if upper.starts_with("RCPT TO:") {
            let rcpt = addr_of(&cmd[8..]);
            log.lock()
                .unwrap()
                .attempts
                .push((from.clone(), rcpt.clone()));
            match rules.replies.get(&rcpt) {
                Some(reply) => w.write_all(format!("{reply}\r\n").as_bytes())?,
                None if too_fast(log, rules.per_second) => {
                    w.write_all(format!("{SES_THROTTLED}\r\n").as_bytes())?
                }
                None => {
                    to.push(rcpt);
                    w.write_all(b"250 OK\r\n")?;
                }
            }
        } else if upper == "DATA" {
            w.write_all(b"354 go ahead\r\n")?;
            let mut data = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            let mut l = log.lock().unwrap();
            for t in &to {
                l.accepted.push(Accepted {
                    from: from.clone(),
                    to: t.clone(),
                    data: data.clone(),
                });
            }
            w.write_all(b"250 2.0.0 Queued\r\n")?;
        } else if upper == "RSET" || upper == "NOOP" {
            w.write_all(b"250 OK\r\n")?;
        } else if upper == "QUIT" {
            w.write_all(b"221 Bye\r\n")?;
            return Ok(());
        } else {
            w.write_all(b"502 Command not implemented\r\n")?;
        }
    }
}

/// Whether one more recipient now goes over `per_second` (counted when
/// not: the recipient is accepted).
fn too_fast(log: &Mutex<Log>, per_second: Option<usize>) -> bool {
    let Some(limit) = per_second else {
        return false;
    };
    let mut l = log.lock().unwrap();
    let now = Instant::now();
    while l
        .recent
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
    {
        l.recent.pop_front();
    }
    if l.recent.len() >= limit {
        l.throttled += 1;
        return true;
    }
    l.recent.push_back(now);
    false
}

fn addr_of(s: &str) -> String {
    let s = s.split_whitespace().next().unwrap_or("");
    s.trim_start_matches('<').trim_end_matches('>').to_string()
}
