//! Campaign supervision shared by `gazette send` (in the foreground) and
//! the worker: run a campaign with progress reports, and turn how it ended
//! into one message.

use std::sync::Arc;
use std::time::Instant;

use super::progress::{Progress, Reporter, Style};
use super::queue::{self, Finish, RunSpec};
use crate::error::{Error, Result};
use crate::store::campaigns::CampaignInfo;

/// A finished run: how it ended and the campaign as stored afterwards.
pub struct Ran {
    pub finish: Finish,
    pub campaign: Option<CampaignInfo>,
}

/// Run campaign `id` (`total` deliveries to go) with progress in `style`;
/// the last progress line is logged at the end.
pub async fn run(spec: &RunSpec, id: i64, total: i64, style: Style) -> Result<Ran> {
    let progress = Arc::new(Progress::default());
    let start = Instant::now();
    let reporter = Reporter::start(id, total, progress.clone(), style);
    let finish = queue::run(spec, id, progress.clone()).await;
    drop(reporter);
    let finish = finish?;
    tracing::info!("{}", progress.line(id, total, start, true));
    // The counts for the report (after a database stall, skip it).
    let campaign = match finish {
        Finish::Store(_) | Finish::LostClaim(_) => None,
        _ => spec.store.campaign(id).await?,
    };
    Ok(Ran { finish, campaign })
}

impl Ran {
    /// `Ok(line)` when the campaign is done; otherwise the error to report
    /// (exit code 75 for "try again later").
    pub fn outcome(&self, id: i64) -> Result<String> {
        match &self.finish {
            Finish::Done => Ok(match &self.campaign {
                Some(c) => format!(
                    "campaign {id} done: {} sent, {} failed, {} skipped (unsubscribed meanwhile)",
                    c.sent, c.failed, c.skipped
                ),
                None => format!("campaign {id} done"),
            }),
            Finish::Interrupted => Err(Error::msg(format!(
                "campaign {id} interrupted after the messages in flight; `gazette campaigns resume {id}` (or the worker) continues it"
            ))),
            Finish::Paused => Err(Error::msg(format!(
                "campaign {id} paused; `gazette campaigns resume {id}` continues it"
            ))),
            Finish::Cancelled => Err(Error::msg(format!("campaign {id} was cancelled"))),
            Finish::Unreachable { error, retry_in } => Err(Error::TryLater(format!(
                "campaign {id} paused, {error}; nothing more was marked sent. A running worker retries it in {}; or fix the server or smtp.url, then `gazette campaigns resume {id}`",
                super::transport::humantime(*retry_in)
            ))),
            Finish::Store(e) => Err(Error::TryLater(format!(
                "campaign {id} stopped: database: {e}; `gazette campaigns resume {id}` (or the worker) continues it"
            ))),
            Finish::Breaker(why) => Err(Error::TryLater(format!(
                "campaign {id} paused by the circuit breaker: {why}; nothing more is sent until a person looked: `gazette campaigns show {id}`, `gazette bounces list`, then `gazette campaigns resume {id} --force`"
            ))),
            Finish::LostClaim(e) => Err(Error::msg(format!(
                "campaign {id}: stopped sending: {e}"
            ))),
        }
    }

    /// Log how the run ended (the worker's report).
    pub fn log(&self, id: i64) {
        match (&self.finish, self.outcome(id)) {
            (_, Ok(line)) => tracing::info!("{line}"),
            (Finish::Interrupted, _) => {
                tracing::info!("campaign {id}: stopped; it continues at the next start")
            }
            (Finish::Paused | Finish::Cancelled, Err(e)) => tracing::info!("{e}"),
            (Finish::Breaker(_), Err(e)) => tracing::warn!("{e}"),
            (_, Err(e)) => tracing::error!("{e}"),
        }
    }
}
