//! `/admin/health`: each recent campaign's bounce and complaint rates
//! against the limits mailbox providers publish, and blocked replies by
//! recipient domain.
//!
//! The published limits: Gmail's and Yahoo's sender guidelines (2024) ask
//! bulk senders to keep spam complaints under 0.1% and never reach 0.3%;
//! Amazon SES reviews an account whose bounce rate passes 5% (and asks to
//! stay under 2%); the common advice of mailbox providers and ESPs is to
//! keep hard bounces under 2%.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use chrono::{Duration, Utc};
use serde::Serialize;

use super::session::Session;
use super::svg::{bars, num, Rule, Series};
use super::Dashboard;

/// Campaigns the page covers (the most recent that sent something).
pub const CAMPAIGNS: i64 = 30;
/// Days of blocked replies by domain.
pub const BLOCKED_DAYS: i64 = 30;
/// Hard bounces over messages sent, in percent: keep under, never reach.
pub const BOUNCE_LIMITS: (f64, f64) = (2.0, 5.0);
/// Complaints over messages sent, in percent: keep under, never reach.
pub const COMPLAINT_LIMITS: (f64, f64) = (0.1, 0.3);

#[derive(Serialize)]
struct Rates {
    id: i64,
    subject: String,
    sent: i64,
    bounced: i64,
    complained: i64,
    bounce_rate: String,
    complaint_rate: String,
    /// "ok", "warn" or "bad" against the published limits.
    bounce_level: &'static str,
    complaint_level: &'static str,
}

/// `n` over `of` in percent (0 when nothing was sent).
pub fn percent(n: i64, of: i64) -> f64 {
    if of <= 0 {
        0.0
    } else {
        (n as f64 * 100.0 / of as f64 * 10000.0).round() / 10000.0
    }
}

fn level(rate: f64, (warn, bad): (f64, f64)) -> &'static str {
    if rate >= bad {
        "bad"
    } else if rate >= warn {
        "warn"
    } else {
        "ok"
    }
}

fn rules(dash: &Dashboard, (warn, bad): (f64, f64)) -> Vec<Rule> {
    vec![
        Rule {
            value: warn,
            label: dash.say("dash_keep_under", &[("limit", &num(warn))]),
            class: "warn",
        },
        Rule {
            value: bad,
            label: dash.say("dash_never_reach", &[("limit", &num(bad))]),
            class: "bad",
        },
    ]
}

pub(super) async fn page(
    State(dash): State<Arc<Dashboard>>,
    Extension(session): Extension<Session>,
) -> Response {
    let since = Utc::now() - Duration::days(BLOCKED_DAYS);
    let gathered = async {
        let lines = dash.store.campaign_lines(CAMPAIGNS, 0).await?;
        let blocked = dash
            .store
            .verdicts_by_domain(None, Some(since), true, 20)
            .await?;
        Ok::<_, crate::error::Error>((lines, blocked))
    };
    let (lines, blocked) = match gathered.await {
        Ok(v) => v,
        Err(e) => return dash.failed(Some(&session), e),
    };
    // Oldest first, as the charts read.
    let rates: Vec<Rates> = lines
        .into_iter()
        .rev()
        .filter(|c| c.counts.sent > 0)
        .map(|c| {
            let b = percent(c.bounced, c.counts.sent);
            let k = percent(c.complained, c.counts.sent);
            Rates {
                id: c.id,
                subject: c.subject,
                sent: c.counts.sent,
                bounced: c.bounced,
                complained: c.complained,
                bounce_rate: num(b),
                complaint_rate: num(k),
                bounce_level: level(b, BOUNCE_LIMITS),
                complaint_level: level(k, COMPLAINT_LIMITS),
            }
        })
        .collect();
    let labels: Vec<String> = rates.iter().map(|r| format!("#{}", r.id)).collect();
    let chart = |name: &'static str, key: &str, f: fn(&Rates) -> f64, limits| {
        bars(
            &dash.say(key, &[]),
            &labels,
            &[Series {
                name,
                label: dash.say(key, &[]),
                values: rates.iter().map(f).collect(),
                down: false,
            }],
            &rules(&dash, limits),
            "%",
        )
    };
    let bounce_svg = chart(
        "bounce-rate",
        "dash_bounce_rate",
        |r| percent(r.bounced, r.sent),
        BOUNCE_LIMITS,
    );
    let complaint_svg = chart(
        "complaint-rate",
        "dash_complaint_rate",
        |r| percent(r.complained, r.sent),
        COMPLAINT_LIMITS,
    );
    let send = &dash.settings.send;
    let mut ctx = dash.context("health", Some(&session));
    ctx.insert("rates", &rates);
    ctx.insert("bounce_svg", &bounce_svg);
    ctx.insert("complaint_svg", &complaint_svg);
    ctx.insert("blocked", &blocked);
    ctx.insert("blocked_days", &BLOCKED_DAYS.to_string());
    ctx.insert("breaker_bounce", &num(send.max_bounce_rate * 100.0));
    ctx.insert("breaker_complaint", &num(send.max_complaint_rate * 100.0));
    dash.render(StatusCode::OK, "health.html", &ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_against_the_published_limits() {
        assert_eq!(percent(1, 1000), 0.1);
        assert_eq!(percent(0, 0), 0.0);
        assert_eq!(level(0.05, COMPLAINT_LIMITS), "ok");
        assert_eq!(level(0.1, COMPLAINT_LIMITS), "warn");
        assert_eq!(level(0.3, COMPLAINT_LIMITS), "bad");
        assert_eq!(level(6.0, BOUNCE_LIMITS), "bad");
    }
}
