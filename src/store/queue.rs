//! The delivery queue (SQL only), shared by every process that sends a
//! campaign: a process leases a batch of pending deliveries
//! (`claim_batch`), records their outcomes fenced by its lease (`record`),
//! and whoever empties the queue marks the campaign done
//! (`claims::finish_claim` with `Ending::Done`).
//!
//! PostgreSQL takes a batch with `FOR UPDATE SKIP LOCKED`, so processes on
//! several hosts never wait for each other nor take the same row; SQLite
//! gets the same effect from its single writer (one write transaction).

use chrono::{DateTime, Utc};

use super::campaigns::{QueueItem, QueueRecipient, Recorded};
use super::db::{db, BeginWrite, Pool};
use super::dialect::Dialect;
use super::{postgres, sqlite};
use super::{JsonText, Store, Ts};
use crate::audience::{tokens, Status};
use crate::error::Result;

#[derive(sqlx::FromRow)]
struct QueueRow {
    id: i64,
    attempts: i64,
    sid: Option<i64>,
    email: Option<String>,
    name: Option<String>,
    status: Option<Status>,
    unsub_verifier: Option<String>,
    selector: Option<String>,
    attributes: Option<JsonText>,
}

impl QueueRow {
    fn into_item(self) -> QueueItem {
        let recipient = match (self.sid, self.email, self.unsub_verifier, self.status) {
            (Some(sid), Some(email), Some(verifier), Some(status)) => Some(QueueRecipient {
                subscriber_id: sid,
                email,
                name: self.name,
                status,
                unsub_token: tokens::row_token(sid, self.selector.as_deref(), &verifier),
                attributes: self.attributes.map(|a| a.0),
            }),
            _ => None,
        };
        QueueItem {
            delivery_id: self.id,
            attempts: self.attempts,
            recipient,
        }
    }
}

/// The rows a lease takes: pending, due, and not leased by a live holder,
/// of a campaign that is `sending` (checked in the claiming statement
/// itself: a campaign paused or cancelled an instant before, say just
/// after a worker decided to retry it, gives nothing more to anyone).
const CLAIMABLE: &str = "campaign_id = $1 AND status = 'pending'
    AND (next_attempt_at IS NULL OR next_attempt_at <= $3)
    AND (lease_until IS NULL OR lease_until < $3)
    AND EXISTS (SELECT 1 FROM campaigns c WHERE c.id = $1 AND c.status = 'sending')";

const SELECT_LEASED: &str = "SELECT d.id, d.attempts, s.id AS sid, s.email, s.name, s.status,
        s.unsub_verifier, s.selector, s.attributes
     FROM deliveries d LEFT JOIN subscribers s ON s.id = d.subscriber_id";

/// The same columns, of the rows a PostgreSQL claim just leased.
const SELECT_CLAIMED: &str = "SELECT d.id, d.attempts, s.id AS sid, s.email, s.name, s.status,
        s.unsub_verifier, s.selector, s.attributes
     FROM claimed d LEFT JOIN subscribers s ON s.id = d.subscriber_id";

/// A PostgreSQL deadlock or serialization failure: the transaction was
/// rolled back and may simply be run again.
fn is_conflict(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("40P01" | "40001")))
}

/// Run `once` again (up to five more times) while PostgreSQL aborts it as
/// a deadlock victim or a serialization failure: it wrote nothing.
async fn retry_conflicts<T, F, Fut>(mut once: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut tries = 0;
    loop {
        match once().await {
            Err(crate::error::Error::Database(e)) if tries < 5 && is_conflict(&e) => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(10 * tries)).await;
            }
            other => return other,
        }
    }
}

/// The sent outcomes among `o` as JSON objects `{id, m, t}`.
fn sent_json(o: &[(i64, Recorded)]) -> Vec<serde_json::Value> {
    o.iter()
        .filter_map(|(id, o)| match o {
            Recorded::Sent { message_id, at } => {
                Some(serde_json::json!({ "id": id, "m": message_id, "t": super::ts(*at) }))
            }
            _ => None,
        })
        .collect()
}

impl Store {
    /// Lease up to `limit` deliveries of campaign `campaign` that are due
    /// at `now` to `owner` until `until`, lowest ids first, and return them
    /// with their recipients. Rows another live process holds are skipped,
    /// never waited for.
    pub async fn claim_batch(
        &self,
        campaign: i64,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<QueueItem>> {
        let rows: Vec<QueueRow> = match &self.queue_pool {
            // One statement leases the batch and returns its rows: one
            // round trip, no transaction around it.
            Pool::Postgres(p) => {
                sqlx::query_as(sqlx::AssertSqlSafe(postgres::claim(
                    CLAIMABLE,
                    SELECT_CLAIMED,
                )))
                .bind(campaign)
                .bind(owner)
                .bind(Ts(now))
                .bind(Ts(until))
                .bind(limit)
                .fetch_all(p)
                .await?
            }
            // The lease, then the rows, in one write transaction.
            Pool::Sqlite(p) => {
                let mut tx = p.begin_write().await?;
                let ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "UPDATE deliveries SET lease_owner = $2, lease_until = $4
                     WHERE id IN (SELECT id FROM deliveries WHERE {CLAIMABLE} ORDER BY id LIMIT $5)
                     RETURNING id"
                )))
                .bind(campaign)
                .bind(owner)
                .bind(Ts(now))
                .bind(Ts(until))
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                let rows = if ids.is_empty() {
                    Vec::new()
                } else {
                    sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "{SELECT_LEASED} WHERE d.id {} ORDER BY d.id",
                        Dialect::SQLITE.in_ids("$1")
                    )))
                    .bind(JsonText(serde_json::to_string(&ids).expect("JSON")))
                    .fetch_all(&mut *tx)
                    .await?
                };
                tx.commit().await?;
                rows
            }
        };
        Ok(rows.into_iter().map(QueueRow::into_item).collect())
    }

    /// How many deliveries of `campaign` a claim could take at `now`
    /// (pending, due, leased by nobody live), counted up to `cap` only: the
    /// count sizes a claim, and must not cost more than the claim does.
    pub async fn claimable(&self, campaign: i64, now: DateTime<Utc>, cap: i64) -> Result<i64> {
        Ok(db!(&self.pool, p, pg => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM (SELECT 1 FROM deliveries
                     WHERE campaign_id = $1 AND status = 'pending'
                       AND (next_attempt_at IS NULL OR next_attempt_at <= $2)
                       AND (lease_until IS NULL OR lease_until < $2)
                     LIMIT $3) AS free",
            )
            .bind(campaign)
            .bind(Ts(now))
            .bind(cap)
            .fetch_one(p)
            .await?
        }))
    }

    /// Renew `owner`'s leases that end before `before` until `until` (all
    /// of them when `before` is `until`): a lease taken a moment ago ends
    /// late enough already, and rewriting its row would only cost (a new
    /// row version, its index entries and their WAL, row locks the outcome
    /// writer would wait for). On PostgreSQL rows locked right now (their
    /// outcome is being written, which ends the lease anyway) are skipped,
    /// never waited for: the renewal and the outcome writer cannot deadlock.
    pub async fn renew_leases_before(
        &self,
        owner: &str,
        until: DateTime<Utc>,
        before: DateTime<Utc>,
    ) -> Result<u64> {
        Ok(db!(&self.pool, p, d => {
            sqlx::query(d.either(sqlite::RENEW_LEASES, postgres::RENEW_LEASES))
            .bind(owner)
            .bind(Ts(until))
            .bind(Ts(before))
            .execute(p)
            .await?
            .rows_affected()
        }))
    }

    /// Give up `owner`'s leases (what it took but did not send goes back
    /// to the queue at once).
    /// (Retried when PostgreSQL picks it as a deadlock victim against an
    /// outcome write that locks rows in another order.)
    pub async fn release_leases(&self, owner: &str) -> Result<u64> {
        retry_conflicts(|| async {
            Ok(db!(&self.pool, p, pg => {
                sqlx::query(
                    "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
                )
                .bind(owner)
                .execute(p)
                .await?
                .rows_affected()
            }))
        })
        .await
    }

    /// Subscribers who left at or after `since`: unsubscribed, bounced or
    /// complained (their bounce logged since), or erased.
    pub async fn unsubscribed_since(&self, since: DateTime<Utc>) -> Result<Vec<i64>> {
        Ok(db!(&self.pool, p, pg => {
            sqlx::query_scalar(
                "SELECT id FROM subscribers WHERE unsubscribed_at >= $1
                 UNION SELECT id FROM subscribers WHERE status IN ('bounced', 'complained')
                   AND id IN (SELECT subscriber_id FROM bounces WHERE created_at >= $1)
                 UNION SELECT row_id FROM erased_ids WHERE erased_at >= $1",
            )
            .bind(Ts(since))
            .fetch_all(p)
            .await?
        }))
    }

    /// How many deliveries of `campaign` are pending, and when the next of
    /// them can be taken: at once (`now`) when one is due and free, else
    /// the earliest retry time or the earliest end of another's lease.
    pub async fn pending_summary(
        &self,
        campaign: i64,
        now: DateTime<Utc>,
    ) -> Result<(i64, Option<DateTime<Utc>>)> {
        let (n, next): (i64, Option<Ts>) = db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT COUNT(*), MIN(CASE
                     WHEN lease_until IS NOT NULL AND lease_until >= $2
                          AND (next_attempt_at IS NULL OR next_attempt_at < lease_until) THEN lease_until
                     WHEN next_attempt_at IS NOT NULL AND next_attempt_at > $2 THEN next_attempt_at
                     ELSE $2 END)
                 FROM deliveries WHERE campaign_id = $1 AND status = 'pending'",
            )
            .bind(campaign)
            .bind(Ts(now))
            .fetch_one(p)
            .await?
        });
        Ok((n, next.map(|t| t.0)))
    }

    /// Record a batch of outcomes of campaign `campaign` in one
    /// transaction, fenced by the leases: only rows `owner` still holds
    /// change (and lose their lease). Returns `false` when some row was no
    /// longer `owner`'s (its lease expired and another process took it).
    /// Only the lease holder writes an outcome, so the lease alone fences;
    /// a row an erasure scrubbed under the lease stays as the erasure left
    /// it (skipped, no Message-ID, no reply).
    /// Sent messages (the common case) are written by one statement. (The
    /// campaign is named for the reader; a lease identifies its rows.)
    pub async fn record(
        &self,
        campaign: i64,
        owner: &str,
        outcomes: &[(i64, Recorded)],
    ) -> Result<bool> {
        retry_conflicts(|| self.record_once(campaign, owner, outcomes)).await
    }

    // The statements of one transaction share the lease fence and the count.
    // One piece: one transaction, one fence.
    async fn record_once(
        &self,
        _campaign: i64,
        owner: &str,
        outcomes: &[(i64, Recorded)],
    ) -> Result<bool> {
        // A batch of sent messages (the common case) is one statement,
        // a transaction of its own: no BEGIN, lock and COMMIT round trips.
        // (On PostgreSQL its row locks are taken in scan order, not id
        // order: a deadlock with another outcome write or a lease release
        // (rows overlap only after a lease was lost) aborts one of them,
        // which is retried; the lease renewal and claims skip locked rows.
        // An erasure that loses such a deadlock fails with its error.)
        if outcomes
            .iter()
            .all(|(_, o)| matches!(o, Recorded::Sent { .. }))
        {
            let n = self.record_sent(owner, outcomes).await?;
            return Ok(n == outcomes.len() as u64);
        }
        let mut changed = 0u64;
        db!(&self.queue_pool, p, d => {
            let mut tx = p.begin_write().await?;
            if d.is_postgres() {
                // Lock the batch's rows in id order first: two writers that
                // touch overlapping rows then wait instead of deadlocking.
                let ids: Vec<i64> = outcomes.iter().map(|(id, _)| *id).collect();
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT id FROM deliveries WHERE id {} ORDER BY id{}",
                    d.in_ids("$1"),
                    d.for_update()
                )))
                .bind(JsonText(serde_json::to_string(&ids).expect("JSON")))
                .fetch_all(&mut *tx)
                .await?;
            }
            for (id, o) in outcomes {
                let q = match o {
                    Recorded::Sent { .. } => continue,
                    Recorded::Retry { reply, attempts, next } => sqlx::query(
                        "UPDATE deliveries SET attempts = $3, next_attempt_at = $5,
                             last_reply = CASE WHEN subscriber_id IS NULL THEN NULL ELSE $4 END,
                             lease_owner = NULL, lease_until = NULL
                         WHERE id = $1 AND lease_owner = $2",
                    )
                    .bind(id)
                    .bind(owner)
                    .bind(attempts)
                    .bind(reply)
                    .bind(Ts(*next)),
                    Recorded::Failed { reply, attempts } => sqlx::query(
                        "UPDATE deliveries SET attempts = $3, next_attempt_at = NULL,
                             status = CASE WHEN subscriber_id IS NULL THEN status ELSE 'failed' END,
                             last_reply = CASE WHEN subscriber_id IS NULL THEN NULL ELSE $4 END,
                             lease_owner = NULL, lease_until = NULL
                         WHERE id = $1 AND lease_owner = $2",
                    )
                    .bind(id)
                    .bind(owner)
                    .bind(attempts)
                    .bind(reply),
                    Recorded::Skipped => sqlx::query(
                        "UPDATE deliveries SET status = 'skipped', lease_owner = NULL, lease_until = NULL
                         WHERE id = $1 AND lease_owner = $2",
                    )
                    .bind(id)
                    .bind(owner),
                };
                changed += q.execute(&mut *tx).await?.rows_affected();
            }
            let sent = sent_json(outcomes);
            if !sent.is_empty() {
                changed += sqlx::query(d.either(sqlite::SENT, postgres::SENT))
                    .bind(JsonText(serde_json::Value::Array(sent).to_string()))
                    .bind(owner)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
            Ok(changed == outcomes.len() as u64)
        })
    }

    /// A batch of sent outcomes alone, in one statement; how many rows
    /// `owner` still held.
    async fn record_sent(&self, owner: &str, outcomes: &[(i64, Recorded)]) -> Result<u64> {
        Ok(match &self.queue_pool {
            // As three arrays (ids, Message-IDs, times): no JSON to
            // build here nor to take apart in the server.
            Pool::Postgres(p) => {
                let mut ids = Vec::with_capacity(outcomes.len());
                let mut mids = Vec::with_capacity(outcomes.len());
                let mut times = Vec::with_capacity(outcomes.len());
                for (id, o) in outcomes {
                    if let Recorded::Sent { message_id, at } = o {
                        ids.push(*id);
                        mids.push(message_id.as_str());
                        times.push(*at);
                    }
                }
                sqlx::query(postgres::SENT_ARRAYS)
                    .bind(ids)
                    .bind(mids)
                    .bind(times)
                    .bind(owner)
                    .execute(p)
                    .await?
                    .rows_affected()
            }
            Pool::Sqlite(p) => {
                let batch = serde_json::Value::Array(sent_json(outcomes)).to_string();
                sqlx::query(sqlite::SENT)
                    .bind(JsonText(batch))
                    .bind(owner)
                    .execute(p)
                    .await?
                    .rows_affected()
            }
        })
    }
}
