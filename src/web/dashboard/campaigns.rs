//! `/admin/campaigns`: every campaign with its numbers; `/admin/campaigns/{id}`:
//! one campaign's delivery timeline (a chart), bounce verdicts by domain
//! and its links by clicks.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use chrono::NaiveDateTime;

use super::session::Session;
use super::svg::{bars, Series};
use super::{paging, Dashboard};

/// Campaigns per page of the list.
pub const PER_PAGE: i64 = 25;
/// Bars of a delivery timeline at most.
const MAX_BARS: i64 = 48;

pub(super) async fn list(
    State(dash): State<Arc<Dashboard>>,
    Extension(session): Extension<Session>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (page, offset) = paging(&query, PER_PAGE);
    let gathered = async {
        let total = dash.store.campaign_count().await?;
        let lines = dash.store.campaign_lines(PER_PAGE, offset).await?;
        Ok::<_, crate::error::Error>((total, lines))
    };
    let (total, lines) = match gathered.await {
        Ok(v) => v,
        Err(e) => return dash.failed(Some(&session), e),
    };
    let mut ctx = dash.context("campaigns", Some(&session));
    ctx.insert("campaigns", &lines);
    ctx.insert("page", &page);
    ctx.insert("pages", &((total + PER_PAGE - 1) / PER_PAGE).max(1));
    ctx.insert("total", &total);
    dash.render(StatusCode::OK, "campaigns.html", &ctx)
}

/// Minutes per bar so that a timeline has at most [`MAX_BARS`] bars.
fn bucket_minutes(span: i64) -> i64 {
    [1, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 10080]
        .into_iter()
        .find(|m| span / m < MAX_BARS)
        .unwrap_or(10080)
}

/// Messages sent per minute as bars of a few minutes each: (label of the
/// bar's first minute, messages), every bar from the first to the last.
pub fn timeline_bars(minutes: &[(String, i64)]) -> Vec<(String, i64)> {
    let parse = |m: &str| NaiveDateTime::parse_from_str(m, "%Y-%m-%dT%H:%M").ok();
    let points: Vec<(NaiveDateTime, i64)> = minutes
        .iter()
        .filter_map(|(m, n)| Some((parse(m)?, *n)))
        .collect();
    let (Some(&(first, _)), Some(&(last, _))) = (points.first(), points.last()) else {
        return Vec::new();
    };
    let span = (last - first).num_minutes();
    let size = bucket_minutes(span);
    let count = span / size + 1;
    let mut out: Vec<(String, i64)> = (0..count)
        .map(|i| {
            let t = first + chrono::Duration::minutes(i * size);
            (t.format("%Y-%m-%d %H:%M").to_string(), 0)
        })
        .collect();
    for (t, n) in points {
        let last = out.len() - 1;
        let i = ((t - first).num_minutes() / size) as usize;
        out[i.min(last)].1 += n;
    }
    out
}

pub(super) async fn one(
    State(dash): State<Arc<Dashboard>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return not_found(&dash, &session);
    };
    let store = &dash.store;
    let gathered = async {
        let Some(c) = store.campaign(id).await? else {
            return Ok(None);
        };
        let bounces = store.campaign_bounce_counts(id).await?;
        let timeline = store.timeline(id).await?;
        let domains = store.verdicts_by_domain(Some(id), None, false, 20).await?;
        let links = store.link_clicks(id).await?;
        let created = crate::store::parse_ts(&c.created_at);
        let unsubscribed = store.unsubscribed_after(created).await?.get(&id).copied();
        Ok::<_, crate::error::Error>(Some((c, bounces, timeline, domains, links, unsubscribed)))
    };
    let (c, bounces, timeline, domains, links, unsubscribed) = match gathered.await {
        Ok(Some(v)) => v,
        Ok(None) => return not_found(&dash, &session),
        Err(e) => return dash.failed(Some(&session), e),
    };
    let bars_ = timeline_bars(&timeline);
    let labels: Vec<String> = bars_.iter().map(|(l, _)| l.clone()).collect();
    let svg = bars(
        &dash.say("dash_timeline", &[]),
        &labels,
        &[Series {
            name: "sent",
            label: dash.say("dash_sent", &[]),
            values: bars_.iter().map(|(_, n)| *n as f64).collect(),
            down: false,
        }],
        &[],
        "",
    );
    let clicks: i64 = links.iter().map(|l| l.clicks).sum();
    let mut ctx = dash.context("campaigns", Some(&session));
    ctx.insert("c", &c);
    ctx.insert("bounces", &bounces);
    ctx.insert("timeline_svg", &svg);
    ctx.insert("has_timeline", &!bars_.is_empty());
    ctx.insert("domains", &domains);
    ctx.insert("links", &links.iter().take(20).collect::<Vec<_>>());
    ctx.insert("clicks", &clicks);
    ctx.insert("unsubscribed", &unsubscribed.unwrap_or(0));
    dash.render(StatusCode::OK, "campaign.html", &ctx)
}

fn not_found(dash: &Dashboard, session: &Session) -> Response {
    dash.message(
        StatusCode::NOT_FOUND,
        Some(session),
        &dash.say("dash_not_found_heading", &[]),
        &dash.say("dash_no_campaign", &[]),
        "/admin/campaigns",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeline_is_a_few_dozen_bars_with_every_message() {
        let minutes: Vec<(String, i64)> = vec![
            ("2026-12-01T10:00".into(), 5),
            ("2026-12-01T10:01".into(), 7),
            ("2026-12-01T13:59".into(), 3),
        ];
        let b = timeline_bars(&minutes);
        assert!(b.len() as i64 <= MAX_BARS && b.len() > 1, "{b:?}");
        assert_eq!(b.iter().map(|(_, n)| n).sum::<i64>(), 15);
        assert_eq!(b[0], ("2026-12-01 10:00".to_string(), 12));
        assert!(timeline_bars(&[]).is_empty());
        let one = timeline_bars(&[("2026-12-01T10:00".into(), 4)]);
        assert_eq!(one, vec![("2026-12-01 10:00".to_string(), 4)]);
    }
}
