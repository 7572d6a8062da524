//! `/subscribe` takes the same time whatever the address's state: new,
//! pending, active or unsubscribed. Interleaved samples over one keep-alive
//! connection to the real binary, in blocks of one request per state; the
//! medians (of each time relative to its block's) must stay within 10 % of
//! each other.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::helpers::server::serve;
use crate::helpers::Project;

const STATES: [&str; 4] = ["new", "pending", "active", "unsubscribed"];
const PER_STATE: usize = 300;
const POOL: usize = 40;

struct Conn {
    w: TcpStream,
    r: BufReader<TcpStream>,
    addr: SocketAddr,
}

impl Conn {
    fn open(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect_timeout(&addr, crate::http::TIMEOUT).unwrap();
        s.set_read_timeout(Some(crate::http::TIMEOUT)).unwrap();
        s.set_nodelay(true).unwrap();
        Conn {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
            addr,
        }
    }

    /// POST /subscribe; returns the status and the time to the last byte.
    fn subscribe(&mut self, email: &str) -> (u16, Duration) {
        // A fresh token each time (each is good once), fetched untimed.
        let body =
            crate::http::with_token(self.addr, &format!("email={}", email.replace('@', "%40")));
        let req = format!(
            "POST /subscribe HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        let t = Instant::now();
        self.w.write_all(req.as_bytes()).unwrap();
        let mut status = 0;
        let mut len = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            self.r.read_line(&mut line).unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some(rest) = l.strip_prefix("HTTP/1.1 ") {
                status = rest[..3].parse().unwrap();
            } else if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; len];
        self.r.read_exact(&mut body).unwrap();
        (status, t.elapsed())
    }
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// One round: `PER_STATE` blocks, each one request per state in a shuffled
/// order. Returns per state the median time and the median of its time
/// relative to its block's (a load spike slows a whole block, so the
/// relative figure cancels it).
fn round(conn: &mut Conn, round_no: usize, seed: &mut u64) -> Vec<(Duration, f64)> {
    let mut samples = vec![Vec::new(); STATES.len()];
    let mut relative = vec![Vec::new(); STATES.len()];
    for n in 0..PER_STATE {
        let mut order: Vec<usize> = (0..STATES.len()).collect();
        for i in (1..order.len()).rev() {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            order.swap(i, (*seed >> 33) as usize % (i + 1));
        }
        let mut block = [Duration::ZERO; 4];
        for s in order {
            let email = match s {
                0 => format!("new{round_no}x{n}@example.org"),
                _ => format!("{}{}@example.org", STATES[s], n % POOL),
            };
            let (status, took) = conn.subscribe(&email);
            assert_eq!(status, 200, "{email}");
            block[s] = took;
        }
        let mut sorted = block;
        sorted.sort();
        let mid = (sorted[1] + sorted[2]).as_secs_f64() / 2.0;
        for s in 0..STATES.len() {
            samples[s].push(block[s]);
            relative[s].push(block[s].as_secs_f64() / mid);
        }
    }
    samples
        .iter_mut()
        .zip(relative.iter_mut())
        .map(|(t, r)| {
            r.sort_by(f64::total_cmp);
            (median(t), r[r.len() / 2])
        })
        .collect()
}

#[test]
fn subscribe_takes_the_same_time_for_every_state() {
    let p = Project::with_config(&format!(
        "{}\n[web]\nsubscribe_limit = 0\nmin_fill_time = \"0s\"\n",
        crate::helpers::CONFIG
    ));
    let mut csv = String::from("email,status\n");
    for i in 0..POOL {
        csv.push_str(&format!("active{i}@example.org,active\n"));
        csv.push_str(&format!("unsubscribed{i}@example.org,unsubscribed\n"));
    }
    p.write("states.csv", csv);
    p.run(&["subscribers", "import", "states.csv"]).ok();
    let s = serve(&p, &[]);
    let mut conn = Conn::open(s.addr);
    for i in 0..POOL {
        // Pending, with a confirmation sent a moment ago.
        assert_eq!(conn.subscribe(&format!("pending{i}@example.org")).0, 200);
    }
    for i in 0..50 {
        conn.subscribe(&format!("warmup{i}@example.org"));
    }
    // The subscriptions above are processed after their answers: wait for
    // their confirmations (one per new address).
    let outbox = p.path().join("outbox");
    crate::helpers::wait::wait_until("the confirmations", Duration::from_secs(30), || {
        std::fs::read_dir(&outbox).map_or(0, |d| d.count()) >= POOL + 50
    });
    // A loaded machine can spoil one round; the states must agree in at
    // least one of five (the old code never did: active answered ~0.3 ms
    // faster).
    let mut seed = 0x5eed;
    let mut report = Vec::new();
    for r in 0..5 {
        let medians = round(&mut conn, r, &mut seed);
        let rel: Vec<f64> = medians.iter().map(|m| m.1).collect();
        let lo = rel.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = rel.iter().copied().fold(0.0, f64::max);
        report.push(format!(
            "{:?}",
            STATES.iter().zip(&medians).collect::<Vec<_>>()
        ));
        eprintln!("round {r}: {}", report[r]);
        if hi <= lo * 1.10 {
            return;
        }
    }
    panic!("medians differ by more than 10 %:\n{}", report.join("\n"));
}
