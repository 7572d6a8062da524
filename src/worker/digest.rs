//! The digest scheduler: one idempotency key per period, so a restart
//! never sends a period twice and a missed period is caught up once.

use chrono::{DateTime, Utc};

use super::{DigestTick, Worker};
use crate::delivery::campaign;
use crate::error::Result;
use crate::store::ts;

impl Worker {
    /// The digest period handled last (or the baseline).
    pub async fn handled_until(&self) -> Result<DateTime<Utc>> {
        Ok(self
            .store
            .last_digest_period()
            .await?
            .map_or(self.baseline, |p| p.max(self.baseline)))
    }

    /// Send the digest if a period is due. One idempotency key per period:
    /// a restart never sends a period twice.
    pub async fn digest_tick(&self) -> Result<DigestTick> {
        let now = self.clock.now();
        let handled = self.handled_until().await?;
        let Some(period) = self.settings.digest.schedule.due(handled, now) else {
            return Ok(DigestTick::NotDue);
        };
        if !self.store.claim_digest_period(period, now).await? {
            return Ok(DigestTick::NotDue);
        }
        let catalog = self.catalog();
        let (posts, since) =
            campaign::default_digest(&self.store, &catalog.posts, &self.settings, now).await?;
        let posts = self.gate_digest(posts, &catalog.posts).await?;
        if posts.is_empty() {
            tracing::info!("digest for {}: no new posts, nothing sent", ts(period));
            return Ok(DigestTick::Empty { period });
        }
        let window = Some((since, now));
        let prepared = campaign::prepare(&self.templates, &self.settings, &posts, window)?;
        let default = crate::delivery::selections::default_frequency(self.settings.publish);
        let (id, total) = campaign::create_for(
            &self.store,
            &self.settings,
            &prepared,
            &posts,
            window,
            default,
        )
        .await?;
        self.store.set_digest_campaign(period, id).await?;
        tracing::info!(
            "campaign {id} started: digest of {} posts for {} to {total} subscribers",
            posts.len(),
            ts(period)
        );
        self.campaigns.spawn(id, total).await;
        // The digest's variants for readers of some topics.
        for (v, n) in self.store.variants_of(id).await? {
            self.campaigns.spawn(v, n).await;
        }
        Ok(DigestTick::Sent {
            period,
            campaign: id,
        })
    }

    /// When the next digest goes out (now, if a period is due).
    pub async fn next_digest(&self) -> Result<Option<DateTime<Utc>>> {
        let now = self.clock.now();
        let handled = self.handled_until().await?;
        if self.settings.digest.schedule.due(handled, now).is_some() {
            return Ok(Some(now));
        }
        Ok(self.settings.digest.schedule.next_after(now.max(handled)))
    }
}
