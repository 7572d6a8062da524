//! Scheduled sends in the worker: start each campaign waiting as
//! `scheduled` once its time has come (exactly once, even with several
//! workers: the store starts it with a conditional UPDATE).

use super::Worker;
use crate::error::Result;
use crate::store::ts;

impl Worker {
    /// Start the scheduled campaigns that are due; returns their ids.
    pub async fn scheduled_tick(&self) -> Result<Vec<i64>> {
        let now = self.schedule_clock.now();
        let started = crate::ops::sends::start_due(&self.store, now).await?;
        let mut ids = Vec::with_capacity(started.len());
        for (id, total) in started {
            tracing::info!(
                "campaign {id} started: scheduled for {}, to {total} subscribers",
                self.store
                    .campaign(id)
                    .await?
                    .and_then(|c| c.scheduled_at)
                    .unwrap_or_else(|| ts(now))
            );
            self.campaigns.spawn(id, total).await;
            ids.push(id);
        }
        Ok(ids)
    }
}
