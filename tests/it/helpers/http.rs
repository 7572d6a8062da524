//! A tiny HTTP/1.1 client over a real TCP socket on 127.0.0.1 (tests only).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// No request may hang a test.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let s = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap();
    request_on(s, addr, method, path, headers, body)
}

/// A connected socket from `from` (any 127/8 address: Linux routes them
/// all to the loopback interface) to `addr`, blocking, with timeouts.
pub fn connect_from(from: IpAddr, addr: SocketAddr) -> TcpStream {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    let rt = RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    });
    let s = rt.block_on(async {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind(SocketAddr::new(from, 0)).unwrap();
        let s = tokio::time::timeout(TIMEOUT, s.connect(addr)).await;
        s.expect("connect timed out").unwrap().into_std().unwrap()
    });
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    s
}

/// `request` from the address `from` (see `connect_from`).
pub fn request_from(from: IpAddr, addr: SocketAddr, method: &str, path: &str) -> Response {
    request_on(connect_from(from, addr), addr, method, path, &[], b"")
}

/// `post_form` from the address `from` (see `connect_from`).
pub fn post_form_from(from: IpAddr, addr: SocketAddr, path: &str, body: &str) -> Response {
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    request_on(
        connect_from(from, addr),
        addr,
        "POST",
        path,
        &[form],
        body.as_bytes(),
    )
}

pub fn request_on(
    mut s: TcpStream,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, &[("Accept", "text/html")], b"")
}

pub fn post_form(addr: SocketAddr, path: &str, body: &str) -> Response {
    request(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
}

pub fn post_json(addr: SocketAddr, path: &str, body: &str) -> Response {
    request(
        addr,
        "POST",
        path,
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ],
        body.as_bytes(),
    )
}

/// Decode a quoted-printable body (soft line breaks and =XX escapes).
pub fn decode_qp(s: &str) -> String {
    let s = s.replace("=\r\n", "").replace("=\n", "");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A fresh sign-up token from `GET /subscribe/token`, as a form's script
/// gets one. Good at once where `[web] min_fill_time` is 0s (`spawn_app`
/// sets it unless a test gives its own); each is good once.
pub fn signup_token(addr: SocketAddr) -> String {
    let r = request(
        addr,
        "GET",
        "/subscribe/token",
        &[("Accept", "application/json")],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["token"].as_str().unwrap().to_string()
}

/// A form's body with a fresh sign-up token added (tokens are made of
/// digits, letters a-f and dots: nothing to encode).
pub fn with_token(addr: SocketAddr, body: &str) -> String {
    format!("{body}&token={}", signup_token(addr))
}

/// `POST /subscribe` as the form does it: `body` and a fresh token.
pub fn subscribe(addr: SocketAddr, body: &str) -> Response {
    post_form(addr, "/subscribe", &with_token(addr, body))
}

/// `subscribe` from the address `from` (see `connect_from`), its token
/// fetched from there too.
pub fn subscribe_from(from: IpAddr, addr: SocketAddr, body: &str) -> Response {
    let t = request_on(
        connect_from(from, addr),
        addr,
        "GET",
        "/subscribe/token",
        &[],
        b"",
    );
    assert_eq!(t.status, 200, "{}", t.body);
    let body = format!("{body}&token={}", t.json()["token"].as_str().unwrap());
    post_form_from(from, addr, "/subscribe", &body)
}

/// A JSON subscription (`{"email", …}`) with a fresh token added.
pub fn subscribe_json(addr: SocketAddr, json: &str) -> Response {
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["token"] = signup_token(addr).into();
    post_json(addr, "/subscribe", &v.to_string())
}
