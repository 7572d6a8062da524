//! Send-time safety (issue 27): throttling that adapts to a server that
//! says "too fast", the circuit breaker, the canary. The real binary
//! against the scripted SMTP server (`smtp_script`) on 127.0.0.1.

use std::collections::HashMap;
use std::time::Duration;

use crate::faults::{campaign, project, run_within};
use crate::smtp_script::{Rules, ScriptedSmtp};

/// Amazon SES at an account's rate of 50 a second: 400 recipients at the
/// default settings (4 connections, 5 attempts) all arrive, nobody fails,
/// and after the first "454 Throttling failure" few attempts are refused.
#[test]
fn a_server_that_says_too_fast_slows_the_run_down_and_nobody_fails() {
    let p = project(400, "");
    let smtp = ScriptedSmtp::start_with(Rules {
        per_second: Some(50),
        ..Default::default()
    });
    let args = ["--smtp-url", &smtp.url(), "send", "digest", "--yes"];
    let (out, took) = run_within(&p, &args, Duration::from_secs(120));
    out.ok();
    let c = campaign(&p, 1);
    assert_eq!(c["status"], "done", "{c}");
    assert_eq!(c["sent"].as_u64(), Some(400), "{c}");
    assert_eq!(c["failed"].as_u64(), Some(0), "{c}");
    let accepted: HashMap<String, usize> =
        smtp.accepted()
            .into_iter()
            .fold(HashMap::new(), |mut m, a| {
                *m.entry(a.to).or_default() += 1;
                m
            });
    assert_eq!(accepted.len(), 400, "everyone got it");
    let attempts = smtp.attempts().len();
    let refused = smtp.throttled();
    assert!(refused >= 1, "the server never said too fast: the test tests nothing");
    assert!(
        ((refused - 1) as f64) < 0.05 * attempts as f64,
        "{refused} of {attempts} attempts refused"
    );
    let rate = c["settled_rate"].as_f64().expect("settled_rate");
    assert!(rate > 0.0 && rate <= 50.0, "{c}");
    let err = out.stderr();
    assert!(err.contains("settled at"), "{err}");
    assert!(err.contains("4.7.0 Throttling failure"), "{err}");
    let show = p.run(&["campaigns", "show", "1"]).stdout();
    assert!(show.contains("settled at:"), "{show}");
    eprintln!("400 at 50/s: {took:?}, {refused} of {attempts} refused, settled at {rate} msg/s");
}
