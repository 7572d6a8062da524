//! `/admin/`: active readers now, growth per week for a year as a chart,
//! the next digest and the posts waiting for it.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use chrono::Utc;

use super::session::Session;
use super::svg::{bars, Series};
use super::Dashboard;
use crate::store::stats::Week;

/// Weeks the growth chart covers.
pub const WEEKS: usize = 52;

/// The growth chart: confirmations up, readers lost (unsubscribes,
/// bounces, complaints) stacked below the line.
pub(super) fn growth_chart(dash: &Dashboard, weeks: &[Week]) -> String {
    let labels: Vec<String> = weeks.iter().map(|w| w.week.clone()).collect();
    let series = |name: &'static str, key: &str, f: fn(&Week) -> i64, down: bool| Series {
        name,
        label: dash.say(key, &[]),
        values: weeks.iter().map(|w| f(w) as f64).collect(),
        down,
    };
    bars(
        &dash.say("dash_growth", &[]),
        &labels,
        &[
            series(
                "confirmations",
                "dash_confirmations",
                |w| w.confirmations,
                false,
            ),
            series(
                "unsubscribes",
                "dash_unsubscribes",
                |w| w.unsubscribes,
                true,
            ),
            series("bounces", "dash_bounces", |w| w.bounces, true),
            series("complaints", "dash_complaints", |w| w.complaints, true),
        ],
        &[],
        "",
    )
}

pub(super) async fn page(
    State(dash): State<Arc<Dashboard>>,
    Extension(session): Extension<Session>,
) -> Response {
    let now = Utc::now();
    let store = &dash.store;
    let gathered = async {
        let counts = store.counts().await?;
        let weeks = store.growth(WEEKS, now).await?;
        let catalog = crate::content::catalog(&dash.settings);
        let report = crate::ops::status::report(&dash.settings, store, &catalog.posts, now).await?;
        Ok::<_, crate::error::Error>((counts, weeks, report))
    };
    let (counts, weeks, report) = match gathered.await {
        Ok(v) => v,
        Err(e) => return dash.failed(Some(&session), e),
    };
    let mut ctx = dash.context("overview", Some(&session));
    let statuses: Vec<(String, i64)> = counts
        .iter()
        .map(|(s, n)| (s.as_str().to_string(), *n))
        .collect();
    let active = counts
        .iter()
        .find(|(s, _)| s.as_str() == "active")
        .map(|(_, n)| *n)
        .unwrap_or(0);
    let sum = |f: fn(&Week) -> i64| weeks.iter().map(f).sum::<i64>();
    ctx.insert("active", &active);
    ctx.insert("statuses", &statuses);
    ctx.insert("year_confirmations", &sum(|w| w.confirmations));
    ctx.insert(
        "year_lost",
        &sum(|w| w.unsubscribes + w.bounces + w.complaints),
    );
    ctx.insert("growth_svg", &growth_chart(&dash, &weeks));
    ctx.insert("weeks", &weeks);
    ctx.insert("next_digest", &report.next_digest_at);
    ctx.insert("digest_schedule", &report.digest_schedule);
    ctx.insert("waiting", &report.posts_waiting_for_digest);
    ctx.insert("at_gate", &report.posts_at_gate);
    ctx.insert("in_progress", &report.campaigns_in_progress);
    ctx.insert("scheduled", &report.campaigns_scheduled);
    dash.render(StatusCode::OK, "overview.html", &ctx)
}
