//! What only PostgreSQL runs: connecting (one connection first, for an
//! error that says why), the delivery queue's lease statements (rows found
//! by id whatever the statistics say, locked rows skipped), and the
//! import's upsert of a batch as arrays (`import`).

pub(super) mod import;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::Connection;

use crate::error::{Error, Result};
use crate::util::net::without_password;

/// Sent outcomes of a batch, given as a JSON array of `{id, m, t}`: one
/// statement (inside the transaction of a batch with other outcomes).
/// `= ANY(ARRAY(…))` finds the rows by id whatever the statistics say (a
/// queue just filled has none, and a semi-join scanned the whole table per
/// batch).
pub(super) const SENT: &str =
    "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = NULL,
     status = CASE WHEN subscriber_id IS NULL THEN status ELSE 'sent' END,
     message_id = CASE WHEN subscriber_id IS NULL THEN NULL ELSE v.value ->> 'm' END,
     sent_at = CASE WHEN subscriber_id IS NULL THEN NULL ELSE (v.value ->> 't')::timestamptz END,
     lease_owner = NULL, lease_until = NULL
     FROM jsonb_array_elements($1) AS v
     WHERE deliveries.id = (v.value ->> 'id')::bigint AND lease_owner = $2
       AND deliveries.id = ANY(ARRAY(SELECT (jsonb_array_elements($1) ->> 'id')::bigint))";

/// A batch of sent outcomes alone (the common case) as three arrays of one
/// length: ids `$1`, Message-IDs `$2`, times `$3`; `$4` the lease owner.
/// One statement, its own transaction; `= ANY($1)` finds the rows through
/// the primary key.
pub(super) const SENT_ARRAYS: &str =
    "UPDATE deliveries SET attempts = deliveries.attempts + 1, next_attempt_at = NULL,
     status = CASE WHEN deliveries.subscriber_id IS NULL THEN deliveries.status ELSE 'sent' END,
     message_id = CASE WHEN deliveries.subscriber_id IS NULL THEN NULL ELSE v.m END,
     sent_at = CASE WHEN deliveries.subscriber_id IS NULL THEN NULL ELSE v.t END,
     lease_owner = NULL, lease_until = NULL
     FROM UNNEST($1::bigint[], $2::text[], $3::timestamptz[]) AS v(id, m, t)
     WHERE deliveries.id = v.id AND deliveries.lease_owner = $4 AND deliveries.id = ANY($1)";

/// Lease a batch and return its rows with their recipients, in one
/// statement (its own transaction): `$1` campaign, `$2` owner, `$3` now,
/// `$4` lease end, `$5` how many. Rows another transaction holds are
/// skipped, never waited for. `{claimable}` and `{select}` are the queue's
/// (`store::queue`).
pub(super) fn claim(claimable: &str, select_from_claimed: &str) -> String {
    format!(
        "WITH claimed AS (
             UPDATE deliveries SET lease_owner = $2, lease_until = $4
             WHERE id IN (SELECT id FROM deliveries WHERE {claimable}
                          ORDER BY id LIMIT $5 FOR UPDATE SKIP LOCKED)
             RETURNING id, attempts, subscriber_id)
         {select_from_claimed} ORDER BY d.id"
    )
}

/// Renew `$1`'s leases until `$2` where they end before `$3` (a lease
/// taken since ends late enough: rewriting it would only cost), skipping
/// rows locked right now (their outcome is being written, which ends the
/// lease anyway): the renewal and the outcome writer cannot deadlock.
pub(super) const RENEW_LEASES: &str = "UPDATE deliveries SET lease_until = $2 WHERE id = ANY(ARRAY(
     SELECT id FROM deliveries WHERE lease_owner = $1 AND status = 'pending' AND lease_until < $3
     FOR UPDATE SKIP LOCKED))";

/// A pool on the server `url` names.
pub(super) async fn connect(url: &str) -> Result<sqlx::PgPool> {
    let opts = PgConnectOptions::from_str(url)
        .map_err(|e| Error::msg(format!("database URL {}: {e}", without_password(url))))?;
    // One connection first: its error says why (refused, no such
    // database, authentication), where the pool would only time out.
    let first = tokio::time::timeout(
        Duration::from_secs(10),
        sqlx::PgConnection::connect_with(&opts),
    )
    .await
    .map_err(|_| {
        Error::TryLater(format!(
            "opening database {}: no answer within 10 s",
            without_password(url)
        ))
    })?;
    if let Err(e) = first {
        let why = match &e {
            sqlx::Error::Database(d) => d.message().to_string(),
            sqlx::Error::Io(io) => crate::error::io_reason(io),
            other => other.to_string(),
        };
        let line = format!("opening database {}: {why}", without_password(url));
        return Err(if crate::error::is_busy(&e) {
            Error::TryLater(line)
        } else {
            Error::msg(line)
        });
    }
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(opts)
        .await
        .map_err(|e| Error::TryLater(format!("opening database {}: {e}", without_password(url))))?;
    Ok(pool)
}
