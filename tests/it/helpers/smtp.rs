//! A small SMTP server for tests: real sockets on 127.0.0.1, a thread per
//! connection, scripted replies (451, 550, dropped connections, slowness)
//! and scripted faults (a tarpit, 421 and 452 mid-session, a reset in the
//! middle of DATA, a drop after the final `.`, replies slower than the
//! client's timeout). The script can be changed while the server runs
//! (`SmtpServer::script`), e.g. to make a broken server recover.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
    /// The content's bytes as they arrived (after un-stuffing, for DATA).
    pub raw: Vec<u8>,
}

#[derive(Default)]
pub struct Script {
    /// Recipient → how many times to answer 451 before accepting.
    pub temp_fail: HashMap<String, u32>,
    /// Recipients always refused with 550.
    pub reject: Vec<String>,
    /// Drop the connection instead of answering the end of DATA for the
    /// message numbers in this list (1-based, counted over all connections).
    pub drop_at: Vec<usize>,
    /// Wait this long before accepting each message.
    pub delay: Duration,
    /// Accept connections but never greet (the client times out).
    pub tarpit: bool,
    /// Every Nth message (1-based, over all connections) arrives, then the
    /// connection drops before the reply: an ambiguous delivery.
    pub drop_after_dot_every: usize,
    /// Answer every Nth MAIL FROM with 421 and close the connection.
    pub reply_421_every: usize,
    /// Answer every Nth RCPT TO with 452 (too many recipients / no room).
    pub reply_452_every: usize,
    /// Close the connection in the middle of every Nth message's DATA
    /// (nothing arrives).
    pub reset_mid_data_every: usize,
    /// Every Nth message arrives, then the reply comes after `slow_reply`.
    pub slow_every: usize,
    pub slow_reply: Duration,
    /// Offer PIPELINING (RFC 2920) in the EHLO reply. Commands are read a
    /// line at a time either way; DATA is answered 354 even when every
    /// recipient was refused (the harder case for a pipelining client).
    pub pipelining: bool,
    /// Answer a message whose final `.` had more behind it, then say
    /// nothing more on that connection (a server that does not take
    /// commands written behind the dot).
    pub deaf_after_chained_dot: bool,
    /// Offer CHUNKING (RFC 3030): `BDAT <size> [LAST]` is taken, its
    /// bytes read exactly as declared.
    pub chunking: bool,
    /// Recipient → the reply to `BDAT … LAST` of a message to them instead
    /// of accepting it (e.g. "554 5.6.0 Message refused"), and how many
    /// times (0: always). The chunk is read either way.
    pub bdat_reply: HashMap<String, (String, u32)>,
}

fn nth(every: usize, n: usize) -> bool {
    every > 0 && n.is_multiple_of(every)
}

#[derive(Default)]
pub struct State {
    pub received: Vec<Received>,
    pub rcpt_attempts: HashMap<String, u32>,
    pub data_count: usize,
    pub connections: usize,
    /// Sessions that have ended (the client hung up or was dropped).
    pub closed: usize,
    pub mail_count: usize,
    pub rcpt_count: usize,
    /// MAIL FROM commands that arrived with the next command already behind
    /// them (the client pipelined).
    pub pipelined: usize,
    /// Messages whose final `.` (or last BDAT chunk) arrived with more
    /// behind it (the client opened the next transaction in the same write
    /// as this content).
    pub chained: usize,
    /// Messages that arrived by `BDAT … LAST`.
    pub chunked: usize,
    /// BDAT commands that arrived in the same write as their MAIL FROM.
    pub bdat_with_mail: usize,
}

pub struct SmtpServer {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
    pub script: Arc<Mutex<Script>>,
}

impl SmtpServer {
    pub fn start(script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Self::serve(listener, script)
    }

    /// Serve on an already bound listener (to start a server on a port
    /// that clients were told about earlier).
    pub fn serve(listener: TcpListener, script: Script) -> Self {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let script = Arc::new(Mutex::new(script));
        let (st, sc) = (state.clone(), script.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                // Counted on accept, so that `settle` never misses a session
                // whose thread has not started yet.
                st.lock().unwrap().connections += 1;
                let (st, script) = (st.clone(), sc.clone());
                std::thread::spawn(move || {
                    let _ = session(stream, &st, &script);
                    st.lock().unwrap().closed += 1;
                });
            }
        });
        SmtpServer {
            addr,
            state,
            script,
        }
    }

    /// Change the script while the server runs.
    pub fn set(&self, change: impl FnOnce(&mut Script)) {
        change(&mut self.script.lock().unwrap());
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// How many messages arrived.
    pub fn count(&self) -> usize {
        self.state.lock().unwrap().received.len()
    }

    /// Wait until at least `n` messages arrived (30 s at most).
    #[track_caller]
    pub fn wait_for(&self, n: usize) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self.count() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "only {} of {n} messages arrived",
                self.count()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// How many messages each recipient received.
    pub fn per_recipient(&self) -> HashMap<String, usize> {
        tally(&self.state.lock().unwrap().received)
    }

    /// Once every session has ended (a killed client's last bytes can
    /// still sit in the socket and arrive after it died), the messages
    /// received and the distinct recipients, from one look (10 s at most).
    #[track_caller]
    pub fn settle(&self) -> (usize, usize) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let st = self.state.lock().unwrap();
            if st.closed == st.connections {
                return (st.received.len(), tally(&st.received).len());
            }
            let open = st.connections - st.closed;
            drop(st);
            assert!(
                std::time::Instant::now() < deadline,
                "{open} sessions still open"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn tally(received: &[Received]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in received {
        for t in &r.to {
            *m.entry(t.clone()).or_insert(0) += 1;
        }
    }
    m
}

fn session(stream: TcpStream, state: &Mutex<State>, script: &Mutex<Script>) -> std::io::Result<()> {
    let mut w = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    if script.lock().unwrap().tarpit {
        // Hold the connection, say nothing, until the client gives up.
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut r, &mut sink);
        return Ok(());
    }
    w.write_all(b"220 test.local ESMTP test server\r\n")?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut deaf = false;
    let mut chunks: Vec<u8> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            let sc = script.lock().unwrap();
            let mut reply = String::from("250-test.local\r\n");
            if sc.pipelining {
                reply.push_str("250-PIPELINING\r\n");
            }
            if sc.chunking {
                reply.push_str("250-CHUNKING\r\n");
            }
            reply.push_str("250 8BITMIME\r\n");
            w.write_all(reply.as_bytes())?;
        } else if upper.starts_with("BDAT ") {
            let last = bdat(&mut r, &mut w, &cmd, &mut chunks)?;
            if last && !r.buffer().is_empty() {
                state.lock().unwrap().chained += 1;
            }
            if last {
                let content = std::mem::take(&mut chunks);
                if let Some(reply) = bdat_refusal(script, &to) {
                    w.write_all(format!("{reply}\r\n").as_bytes())?;
                    continue;
                }
                let mut st = state.lock().unwrap();
                st.data_count += 1;
                st.chunked += 1;
                st.received.push(Received {
                    from: from.clone(),
                    to: to.clone(),
                    data: String::from_utf8_lossy(&content).into_owned(),
                    raw: content,
                });
                w.write_all(b"250 2.0.0 Queued\r\n")?;
            }
        } else if upper.starts_with("MAIL FROM:") {
            if !r.buffer().is_empty() {
                let mut st = state.lock().unwrap();
                st.pipelined += 1;
                if r.buffer()
                    .windows(5)
                    .any(|w| w.eq_ignore_ascii_case(b"BDAT "))
                {
                    st.bdat_with_mail += 1;
                }
            }
            let closing = {
                let mut st = state.lock().unwrap();
                st.mail_count += 1;
                nth(script.lock().unwrap().reply_421_every, st.mail_count)
            };
            if closing {
                w.write_all(b"421 4.3.2 Service shutting down, closing channel\r\n")?;
                return Ok(());
            }
            from = addr_of(&cmd[10..]);
            to.clear();
            w.write_all(b"250 OK\r\n")?;
        } else if upper.starts_with("RCPT TO:") {
            let rcpt = addr_of(&cmd[8..]);
            let reply: &[u8] = {
                let mut st = state.lock().unwrap();
                *st.rcpt_attempts.entry(rcpt.clone()).or_insert(0) += 1;
                st.rcpt_count += 1;
                let mut sc = script.lock().unwrap();
                if nth(sc.reply_452_every, st.rcpt_count) {
                    b"452 4.5.3 Too many recipients\r\n"
                } else if sc.reject.contains(&rcpt) {
                    b"550 5.1.1 No such user\r\n"
                } else if let Some(n) = sc.temp_fail.get_mut(&rcpt).filter(|n| **n > 0) {
                    *n -= 1;
                    b"451 4.7.1 Try again later\r\n"
                } else {
                    to.push(rcpt);
                    b"250 OK\r\n"
                }
            };
            w.write_all(reply)?;
        } else if upper == "DATA" {
            w.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")?;
            let reset = {
                let st = state.lock().unwrap();
                nth(
                    script.lock().unwrap().reset_mid_data_every,
                    st.data_count + 1,
                )
            };
            let mut data = String::new();
            let mut lines = 0;
            loop {
                line.clear();
                if r.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                lines += 1;
                if reset && lines == 5 {
                    // Counted as an attempt, never as a message.
                    state.lock().unwrap().data_count += 1;
                    let _ = w.shutdown(std::net::Shutdown::Both);
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    if !r.buffer().is_empty() {
                        state.lock().unwrap().chained += 1;
                        deaf = script.lock().unwrap().deaf_after_chained_dot;
                    }
                    break;
                }
                let l = line.strip_prefix('.').unwrap_or(&line);
                data.push_str(l);
            }
            let (delay, drop, drop_after, slow) = {
                let mut st = state.lock().unwrap();
                st.data_count += 1;
                let n = st.data_count;
                let sc = script.lock().unwrap();
                let slow = (nth(sc.slow_every, n)).then_some(sc.slow_reply);
                (
                    sc.delay,
                    sc.drop_at.contains(&n),
                    nth(sc.drop_after_dot_every, n),
                    slow,
                )
            };
            if drop {
                // Vanish without answering: the client cannot know.
                return Ok(());
            }
            std::thread::sleep(delay);
            state.lock().unwrap().received.push(Received {
                from: from.clone(),
                to: to.clone(),
                raw: data.clone().into_bytes(),
                data,
            });
            if drop_after {
                // It arrived, but the client never hears so.
                let _ = w.shutdown(std::net::Shutdown::Both);
                return Ok(());
            }
            if let Some(slow) = slow {
                std::thread::sleep(slow);
            }
            w.write_all(b"250 2.0.0 Queued\r\n")?;
            if deaf {
                let mut rest = Vec::new();
                let _ = std::io::Read::read_to_end(&mut r, &mut rest);
                return Ok(());
            }
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

/// The scripted reply to a message's `BDAT … LAST` (counted down).
fn bdat_refusal(script: &Mutex<Script>, to: &[String]) -> Option<String> {
    let mut sc = script.lock().unwrap();
    let key = to.iter().find(|t| sc.bdat_reply.contains_key(*t))?.clone();
    let (reply, times) = sc.bdat_reply.get_mut(&key)?;
    let reply = reply.clone();
    match *times {
        0 => {}
        1 => {
            sc.bdat_reply.remove(&key);
        }
        _ => *times -= 1,
    }
    Some(reply)
}

/// Read the chunk of `BDAT <size> [LAST]` (exactly `size` bytes, whatever
/// they are) onto `chunks`; a chunk that is not the last is answered here.
/// `true`: it was the last. A size that is not a number is refused (the
/// session cannot go on: its bytes are unknown).
fn bdat(
    r: &mut BufReader<TcpStream>,
    w: &mut TcpStream,
    cmd: &str,
    chunks: &mut Vec<u8>,
) -> std::io::Result<bool> {
    let mut words = cmd.split_whitespace().skip(1);
    let Some(size) = words.next().and_then(|n| n.parse::<usize>().ok()) else {
        w.write_all(b"501 5.5.4 Syntax: BDAT size [LAST]\r\n")?;
        return Err(std::io::Error::other("bad BDAT"));
    };
    let last = words.next().is_some_and(|l| l.eq_ignore_ascii_case("LAST"));
    let mut chunk = vec![0; size];
    std::io::Read::read_exact(r, &mut chunk)?;
    chunks.extend_from_slice(&chunk);
    if !last {
        w.write_all(format!("250 2.0.0 {size} octets received\r\n").as_bytes())?;
    }
    Ok(last)
}

fn addr_of(s: &str) -> String {
    let s = s.trim();
    let s = s.split_whitespace().next().unwrap_or("");
    s.trim_start_matches('<').trim_end_matches('>').to_string()
}
