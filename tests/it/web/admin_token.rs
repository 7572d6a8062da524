//! The admin token over real HTTP and the real binary: the `Bearer` scheme
//! in any case (RFC 7235), a blank token refused at startup, a short
//! one refused when the admin listener is reachable beyond loopback, and
//! whitespace around the token (a CRLF env file) trimmed.

use crate::helpers::{net::free_addr, server::serve};
use crate::helpers::{run_with_timeout, Project};
use crate::http;

const TOKEN: &str = "0123456789abcdef-admin";

#[test]
fn the_bearer_scheme_is_case_insensitive_on_metrics_and_the_api() {
    let p = Project::new();
    let s = serve(&p, &[("GAZETTE_ADMIN_TOKEN", TOKEN)]);
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let auth = format!("{scheme} {TOKEN}");
        let h = [("Authorization", auth.as_str())];
        let m = http::request(s.admin, "GET", "/metrics", &h, b"");
        assert_eq!(m.status, 200, "{scheme}: {}", m.body);
        let a = http::request(s.admin, "GET", "/api/v1/subscribers", &h, b"");
        assert_eq!(a.status, 200, "{scheme}: {}", a.body);
    }
    // Still refused: another scheme, the wrong token, no scheme.
    for auth in [
        format!("Basic {TOKEN}"),
        "bearer wrong-token-0123456789".to_string(),
        TOKEN.to_string(),
        format!("bearer{TOKEN}"),
    ] {
        let h = [("Authorization", auth.as_str())];
        assert_eq!(
            http::request(s.admin, "GET", "/metrics", &h, b"").status,
            401,
            "{auth}"
        );
        let a = http::request(s.admin, "GET", "/api/v1/subscribers", &h, b"");
        assert_eq!(a.status, 401, "{auth}");
    }
}

/// `gazette serve` with `env`: its exit code and stderr.
fn refused(p: &Project, env: &[(&str, String)]) -> (Option<i32>, String) {
    let mut cmd = p.cmd();
    cmd.args(["serve", "--listen", &free_addr().to_string()]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run_with_timeout(&mut cmd, std::time::Duration::from_secs(30)).0;
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

#[test]
fn a_blank_token_is_refused_at_startup() {
    let p = Project::new();
    // (An empty value is unset, as for every GAZETTE_ variable.)
    for blank in ["   ", "\t", " \t "] {
        let (code, err) = refused(
            &p,
            &[
                ("GAZETTE_ADMIN_LISTEN", free_addr().to_string()),
                ("GAZETTE_ADMIN_TOKEN", blank.to_string()),
            ],
        );
        assert_eq!(code, Some(1), "{blank:?}: {err}");
        assert!(err.contains("GAZETTE_ADMIN_TOKEN is blank"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn a_short_token_is_refused_beyond_loopback() {
    let p = Project::new();
    let (code, err) = refused(
        &p,
        &[
            (
                "GAZETTE_ADMIN_LISTEN",
                format!("0.0.0.0:{}", free_addr().port()),
            ),
            ("GAZETTE_ADMIN_TOKEN", "short-token".to_string()),
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("at least 16"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// `GAZETTE_ADMIN_TOKEN=" token\r"` started fine and then refused every
/// request: no client can send the whitespace. It is trimmed.
#[test]
fn whitespace_around_the_token_is_trimmed() {
    let p = Project::new();
    for padded in [
        format!(" {TOKEN} "),
        format!("{TOKEN}\r"),
        format!("\t{TOKEN}\r\n"),
    ] {
        let s = serve(&p, &[("GAZETTE_ADMIN_TOKEN", &padded)]);
        let auth = format!("Bearer {TOKEN}");
        let h = [("Authorization", auth.as_str())];
        let m = http::request(s.admin, "GET", "/metrics", &h, b"");
        assert_eq!(m.status, 200, "{padded:?}: {}", m.body);
        let a = http::request(s.admin, "GET", "/api/v1/subscribers", &h, b"");
        assert_eq!(a.status, 200, "{padded:?}: {}", a.body);
        let wrong = [("Authorization", "Bearer 0123456789abcdef-admi")];
        let w = http::request(s.admin, "GET", "/metrics", &wrong, b"");
        assert_eq!(w.status, 401, "{padded:?}");
    }
}
