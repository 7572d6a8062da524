//! Subscribing, confirming, activating and unsubscribing: the rows the
//! opt-in flow and the web endpoints touch.
//!
//! Two rules hold here: an unauthenticated request (the web) never changes
//! an existing subscriber, and a name given with a web subscription is kept
//! aside (`confirm_name`) and applied only when the confirmation issued for
//! the row that very subscription created is used.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::db::{db, BeginWrite};
use super::{email_hash, Added, Confirmed, Store, SubscriberRow, Ts};
use crate::audience::tokens::{self, Lookup};
use crate::audience::{Source, Subscriber, SubscriberEmail};
use crate::error::{Error, Result};

/// What a web subscription did.
#[derive(Debug)]
pub struct WebSubscription {
    pub subscriber: Subscriber,
    /// The request created the row.
    pub created: bool,
    /// A confirmation token was issued: send it.
    pub token: Option<String>,
    /// The name to greet in the confirmation email (the one given with the
    /// subscription that created the row, if that is what this token
    /// confirms).
    pub confirm_name: Option<String>,
}

/// The row a token names: `(where clause, bound value)`.
fn lookup_clause(lookup: Lookup<'_>) -> (&'static str, LookupValue<'_>) {
    match lookup {
        Lookup::Selector(s) => ("selector = $1", LookupValue::Text(s)),
        Lookup::LegacyId(id) => ("id = $1", LookupValue::Id(id)),
    }
}

enum LookupValue<'a> {
    Text(&'a str),
    Id(i64),
}

impl Store {
    /// Add an address, or return the existing row unchanged (its status and
    /// data are kept). `active` adds it confirmed. Used by operators (CLI).
    pub async fn add(
        &self,
        email: &SubscriberEmail,
        name: Option<&str>,
        active: bool,
        source: Source,
        now: DateTime<Utc>,
    ) -> Result<Added> {
        let verifier = tokens::verifier();
        let status = if active { "active" } else { "pending" };
        let row: SubscriberRow = db!(&self.pool, p, pg => {
            sqlx::query_as(concat!(
                "INSERT INTO subscribers (email, email_key, name, status, source, created_at, confirmed_at, unsub_verifier, selector)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (email_key) DO UPDATE SET name = subscribers.name
                 RETURNING ",
                subscriber_columns!()
            ))
            .bind(email.as_str())
            .bind(email.key())
            .bind(name)
            .bind(status)
            .bind(source.as_str())
            .bind(Ts(now))
            .bind(active.then_some(Ts(now)))
            .bind(&verifier)
            .bind(tokens::selector())
            .fetch_one(p)
            .await?
        });
        let created = row.unsub_verifier == verifier;
        let s = row.into_domain();
        Ok(if created {
            Added::Created(s)
        } else {
            Added::Existing(s)
        })
    }

    /// A subscription from the web, in one transaction whose statements are
    /// the same, and write one row each, whatever the address's state (new,
    /// pending, active, opted out): the answer's timing tells nothing.
    /// An existing row keeps its data; `name` is kept aside for the
    /// confirmation of a row this request creates.
    pub async fn subscribe_web(
        &self,
        email: &SubscriberEmail,
        name: Option<&str>,
        now: DateTime<Utc>,
        ttl: Duration,
        min_interval: Duration,
    ) -> Result<WebSubscription> {
        let unsub = tokens::verifier();
        let confirm = tokens::verifier();
        let hash = tokens::hash(&confirm);
        let expires = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(7));
        let threshold = now - chrono::Duration::from_std(min_interval).unwrap_or_default();
        let (row, created, claimed, confirm_name) = db!(&self.pool, p, pg => {
            let mut tx = p.begin_write().await?;
            let row: SubscriberRow = sqlx::query_as(concat!(
                "INSERT INTO subscribers (email, email_key, name, status, source, created_at, unsub_verifier, selector, confirm_name)
                 VALUES ($1, $2, NULL, 'pending', 'web', $3, $4, $5, $6)
                 ON CONFLICT (email_key) DO UPDATE SET name = subscribers.name
                 RETURNING ",
                subscriber_columns!()
            ))
            .bind(email.as_str())
            .bind(email.key())
            .bind(Ts(now))
            .bind(&unsub)
            .bind(tokens::selector())
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
            let created = row.unsub_verifier == unsub;
            // Always one row written; the CASEs decide whether a new
            // confirmation is issued: pending or unsubscribed (a person may
            // come back), none sent recently. Bounced and complained
            // addresses get nothing from a web request (`subscribers
            // reactivate` is the way back), and the answer is the same as
            // for every other state.
            let claim = sqlx::query(
                "UPDATE subscribers SET
                   confirm_name = CASE WHEN c THEN (CASE WHEN $6 THEN confirm_name ELSE NULL END) ELSE confirm_name END,
                   confirm_hash = CASE WHEN c THEN $2 ELSE confirm_hash END,
                   confirm_expires_at = CASE WHEN c THEN $3 ELSE confirm_expires_at END,
                   confirm_sent_at = CASE WHEN c THEN $4 ELSE confirm_sent_at END
                 FROM (SELECT (status IN ('pending', 'unsubscribed') AND (confirm_sent_at IS NULL OR confirm_sent_at <= $5)) AS c
                       FROM subscribers WHERE id = $1) AS due
                 WHERE id = $1
                 RETURNING confirm_hash = $2 AS claimed, confirm_name",
            )
            .bind(row.id)
            .bind(&hash)
            .bind(Ts(expires))
            .bind(Ts(now))
            .bind(Ts(threshold))
            .bind(created)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            let claimed: bool = claim.try_get("claimed")?;
            let confirm_name: Option<String> = claim.try_get("confirm_name")?;
            (row, created, claimed, confirm_name)
        });
        let subscriber = row.into_domain();
        let token = claimed.then(|| {
            let (sel, _) = subscriber.unsub_token.split_once('.').unwrap_or_default();
            tokens::token(sel, &confirm)
        });
        Ok(WebSubscription {
            subscriber,
            created,
            token,
            confirm_name: if claimed { confirm_name } else { None },
        })
    }

    /// Make a pending (or opted-out) subscriber active without a
    /// confirmation email: an explicit operator decision. A name waiting
    /// for a confirmation is dropped.
    pub async fn activate(
        &self,
        id: i64,
        email: &SubscriberEmail,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.activate_with(id, email, now, None).await.map(|_| ())
    }

    /// Activate `id`. `by_link`: the confirmation hash the link matched;
    /// then the row must still carry it and still be pending or
    /// unsubscribed (a bounce, a complaint or an erasure in between wins),
    /// checked in the same statement. Returns whether the row changed.
    async fn activate_with(
        &self,
        id: i64,
        email: &SubscriberEmail,
        now: DateTime<Utc>,
        by_link: Option<&str>,
    ) -> Result<bool> {
        let old_key = email.unicode_key().map(|k| super::key_hash(&k));
        db!(&self.pool, p, pg => {
            let mut tx = p.begin_write().await?;
            let changed = sqlx::query(
                "UPDATE subscribers SET status = 'active', confirmed_at = $2, unsubscribed_at = NULL,
                 name = CASE WHEN $3 IS NOT NULL THEN COALESCE(name, confirm_name) ELSE name END,
                 confirm_name = NULL, confirm_hash = NULL, confirm_expires_at = NULL
                 WHERE id = $1 AND ($3 IS NULL
                     OR (confirm_hash = $3 AND status IN ('pending', 'unsubscribed')))",
            )
            .bind(id)
            .bind(Ts(now))
            .bind(by_link)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query("DELETE FROM suppressions WHERE email_hash = $1 OR email_hash = $2")
                .bind(email_hash(email))
                .bind(old_key)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Claim the right to send a confirmation email (an operator's
    /// `subscribers add`): store a fresh token unless one was sent less than
    /// `min_interval` ago or the subscriber is already active. Returns the
    /// token to put in the link. A name waiting for an earlier confirmation
    /// does not ride along with the new one.
    pub async fn claim_confirmation(
        &self,
        id: i64,
        now: DateTime<Utc>,
        ttl: Duration,
        min_interval: Duration,
    ) -> Result<Option<String>> {
        let verifier = tokens::verifier();
        let expires = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(7));
        let threshold = now - chrono::Duration::from_std(min_interval).unwrap_or_default();
        let selector: Option<Option<String>> = db!(&self.pool, p, pg => {
            sqlx::query_scalar(
                "UPDATE subscribers SET confirm_hash = $2, confirm_expires_at = $3, confirm_sent_at = $4,
                 confirm_name = NULL
                 WHERE id = $1 AND status <> 'active' AND (confirm_sent_at IS NULL OR confirm_sent_at <= $5)
                 RETURNING selector",
            )
            .bind(id)
            .bind(tokens::hash(&verifier))
            .bind(Ts(expires))
            .bind(Ts(now))
            .bind(Ts(threshold))
            .fetch_optional(p)
            .await?
        });
        Ok(selector.map(|sel| tokens::row_token(id, sel.as_deref(), &verifier)))
    }

    /// The confirmation email could not be sent: allow a new one at once.
    pub async fn release_confirmation(&self, id: i64) -> Result<()> {
        db!(&self.pool, p, pg => {
            sqlx::query("UPDATE subscribers SET confirm_sent_at = NULL WHERE id = $1")
                .bind(id)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Confirm a double opt-in token: the subscriber becomes active and, if
    /// the token confirms the subscription that created the row, gets the
    /// name given with it.
    pub async fn confirm(&self, token: &str, now: DateTime<Utc>) -> Result<Confirmed> {
        let (id, email, hash) = match self.pending_confirmation(token, now).await? {
            Ok(found) => found,
            Err(answer) => return Ok(answer),
        };
        let parsed = SubscriberEmail::parse(&email).map_err(Error::msg)?;
        if !self.activate_with(id, &parsed, now, Some(&hash)).await? {
            return Ok(Confirmed::Unknown);
        }
        Ok(Confirmed::Activated(email))
    }

    /// What [`Store::confirm`] would answer for `token`, changing nothing:
    /// `Activated(email)` means the link is good and would activate
    /// `email` (the page a GET of the link shows before its button).
    pub async fn check_confirmation(&self, token: &str, now: DateTime<Utc>) -> Result<Confirmed> {
        Ok(match self.pending_confirmation(token, now).await? {
            Ok((_, email, _)) => Confirmed::Activated(email),
            Err(answer) => answer,
        })
    }

    /// The pending subscriber (id, email, hash) a good, unexpired
    /// confirmation token belongs to, or the answer for any other token.
    async fn pending_confirmation(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<(i64, String, String), Confirmed>> {
        let Some((lookup, verifier)) = tokens::split(token) else {
            return Ok(Err(Confirmed::Unknown));
        };
        let (clause, value) = lookup_clause(lookup);
        let sql = format!(
            "SELECT id, email, confirm_hash, confirm_expires_at FROM subscribers WHERE {clause} AND confirm_hash IS NOT NULL"
        );
        let found: Option<(i64, String, String, Option<Ts>)> = db!(&self.pool, p, pg => {
            let q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            let q = match value {
                LookupValue::Text(s) => q.bind(s),
                LookupValue::Id(id) => q.bind(id),
            };
            q.fetch_optional(p).await?
        });
        let Some((id, email, hash, expires)) = found else {
            return Ok(Err(Confirmed::Unknown));
        };
        if !tokens::verify(verifier, &hash) {
            return Ok(Err(Confirmed::Unknown));
        }
        if expires.is_none_or(|e| e.0 <= now) {
            return Ok(Err(Confirmed::Expired));
        }
        Ok(Ok((id, email, hash)))
    }

    /// The subscriber an unsubscribe token belongs to.
    pub async fn by_unsubscribe_token(&self, token: &str) -> Result<Option<Subscriber>> {
        let Some((lookup, verifier)) = tokens::split(token) else {
            return Ok(None);
        };
        let (clause, value) = lookup_clause(lookup);
        let sql = format!(
            "SELECT {} FROM subscribers WHERE {clause}",
            subscriber_columns!()
        );
        let row: Option<SubscriberRow> = db!(&self.pool, p, pg => {
            let q = sqlx::query_as::<_, SubscriberRow>(sqlx::AssertSqlSafe(sql));
            let q = match value {
                LookupValue::Text(s) => q.bind(s),
                LookupValue::Id(id) => q.bind(id),
            };
            q.fetch_optional(p).await?
        });
        if let Some(row) = row.filter(|r| tokens::verify_plain(verifier, &r.unsub_verifier)) {
            return Ok(Some(row.into_domain()));
        }
        // A link of a row merged into another (`idn::merge`) names that one.
        let Lookup::Selector(selector) = lookup else {
            return Ok(None);
        };
        let alias: Option<(i64, String)> = db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT subscriber_id, unsub_verifier FROM subscriber_aliases WHERE selector = $1",
            )
            .bind(selector)
            .fetch_optional(p)
            .await?
        });
        let Some((id, _)) = alias.filter(|(_, v)| tokens::verify_plain(verifier, v)) else {
            return Ok(None);
        };
        let row: Option<SubscriberRow> = db!(&self.pool, p, pg => {
            sqlx::query_as(concat!("SELECT ", subscriber_columns!(), " FROM subscribers WHERE id = $1"))
                .bind(id)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(SubscriberRow::into_domain))
    }

    /// Unsubscribe by id; idempotent. Bounced and complained stay as they are.
    pub async fn unsubscribe(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
        db!(&self.pool, p, pg => {
            sqlx::query(
                "UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = $2,
                 confirm_hash = NULL, confirm_expires_at = NULL, confirm_name = NULL
                 WHERE id = $1 AND status IN ('pending', 'active')",
            )
            .bind(id)
            .bind(Ts(now))
            .execute(p)
            .await?;
        });
        Ok(())
    }
}
