//! A small web site on 127.0.0.1 for the link checker and the publish
//! gate: one answer per path, every request counted.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How a path of the test server answers.
#[derive(Clone, Debug)]
pub enum Route {
    Status(u16),
    /// 405 to HEAD, 200 to GET.
    NoHead,
    /// 301 to another path.
    Redirect(&'static str),
    /// 200, after a pause.
    Slow(Duration),
}

/// A small HTTP/1.1 server on 127.0.0.1: one answer per path (unknown
/// paths answer 404), every request counted by method and path.
#[derive(Clone)]
pub struct Web {
    pub port: u16,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    hits: Arc<Mutex<HashMap<(String, String), usize>>>,
}

impl Web {
    pub fn start() -> Web {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let web = Web {
            port: listener.local_addr().unwrap().port(),
            routes: Default::default(),
            hits: Default::default(),
        };
        let w = web.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let w = w.clone();
                std::thread::spawn(move || w.serve(stream));
            }
        });
        web
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn route(&self, path: &str, r: Route) {
        self.routes.lock().unwrap().insert(path.to_string(), r);
    }

    /// How often `method` asked for `path`.
    pub fn hits(&self, method: &str, path: &str) -> usize {
        let h = self.hits.lock().unwrap();
        h.get(&(method.to_string(), path.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Every request to `path`, whatever the method.
    pub fn all_hits(&self, path: &str) -> usize {
        let h = self.hits.lock().unwrap();
        h.iter()
            .filter(|((_, p), _)| p == path)
            .map(|(_, n)| n)
            .sum()
    }

    fn serve(&self, mut s: TcpStream) {
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let head = String::from_utf8_lossy(&buf).to_string();
        let mut parts = head.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        *self
            .hits
            .lock()
            .unwrap()
            .entry((method.clone(), path.clone()))
            .or_default() += 1;
        let route = self.routes.lock().unwrap().get(&path).cloned();
        let (status, extra) = match route {
            None => (404, String::new()),
            Some(Route::Status(s)) => (s, String::new()),
            Some(Route::NoHead) if method == "HEAD" => (405, String::new()),
            Some(Route::NoHead) => (200, String::new()),
            Some(Route::Redirect(to)) => (301, format!("Location: {to}\r\n")),
            Some(Route::Slow(d)) => {
                std::thread::sleep(d);
                (200, String::new())
            }
        };
        let body = if method == "HEAD" { "" } else { "page" };
        let _ = write!(
            s,
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
            if method == "HEAD" { 4 } else { body.len() }
        );
    }
}
