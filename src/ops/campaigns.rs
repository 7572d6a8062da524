//! Campaign controls: pause, cancel, resume by the worker, and a test of a
//! campaign's email to one address.

use chrono::{DateTime, Utc};

use super::OpError;
use crate::audience::SubscriberEmail;
use crate::config::Settings;
use crate::delivery::mailer::Mailer;
use crate::render::{message, Prepared, Recipient};
use crate::store::campaigns::{CampaignInfo, CampaignStatus as S};
use crate::store::Store;

/// Campaign `id`, or the "no campaign" refusal.
pub async fn get(store: &Store, id: i64) -> Result<CampaignInfo, OpError> {
    store.campaign(id).await?.ok_or_else(|| {
        OpError::NotFound(format!("no campaign {id} (see `gazette campaigns list`)"))
    })
}

/// Move campaign `id` to `to` from one of `from`; refused with its state.
async fn transition(
    store: &Store,
    id: i64,
    to: S,
    from: &[S],
    verb: &str,
    now: DateTime<Utc>,
) -> Result<CampaignInfo, OpError> {
    let c = get(store, id).await?;
    if !store.set_campaign_status(id, to, from, None, now).await? {
        let st = store.campaign_status(id).await?.unwrap_or(c.status);
        return Err(OpError::Conflict(format!(
            "campaign {id} is {} and cannot be {verb}",
            st.as_str()
        )));
    }
    get(store, id).await
}

/// Pause: a process sending it notices within a second and stops after the
/// messages in flight; the worker no longer retries it on its own.
pub async fn pause(store: &Store, id: i64, now: DateTime<Utc>) -> Result<CampaignInfo, OpError> {
    transition(
        store,
        id,
        S::Paused,
        &[S::Queued, S::Sending, S::Paused],
        "paused",
        now,
    )
    .await
}

/// Cancel: nothing more is sent (a scheduled campaign never starts).
/// Returns the campaign as it was before (its pending count) and after.
pub async fn cancel(
    store: &Store,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(CampaignInfo, CampaignInfo), OpError> {
    let before = get(store, id).await?;
    let after = transition(
        store,
        id,
        S::Cancelled,
        &[S::Scheduled, S::Queued, S::Sending, S::Paused],
        "cancelled",
        now,
    )
    .await?;
    Ok((before, after))
}

/// Hand a paused campaign back to the worker (status `queued`: the next
/// worker pass takes it). A queued or sending campaign is left as it is.
pub async fn resume_by_worker(
    store: &Store,
    id: i64,
    now: DateTime<Utc>,
) -> Result<CampaignInfo, OpError> {
    let c = get(store, id).await?;
    breaker_gate(store, &c, false).await?;
    match c.status {
        S::Queued | S::Sending => Ok(c),
        S::Paused => transition(store, id, S::Queued, &[S::Paused], "resumed", now).await,
        st => Err(OpError::Conflict(format!(
            "campaign {id} is {} and cannot be resumed",
            st.as_str()
        ))),
    }
}

/// A campaign the circuit breaker paused is resumed only by a person who
/// looked (`force`), which clears the breaker's reason.
pub async fn breaker_gate(store: &Store, c: &CampaignInfo, force: bool) -> Result<(), OpError> {
    let Some(why) = c.breaker.as_deref().filter(|_| c.status == S::Paused) else {
        return Ok(());
    };
    if !force {
        return Err(OpError::Conflict(format!(
            "campaign {} was paused by the circuit breaker ({why}); look at why (`gazette campaigns show {}`, `gazette bounces list`), then add --force: `gazette campaigns resume {} --force`",
            c.id, c.id, c.id
        )));
    }
    store.clear_breaker(c.id).await?;
    Ok(())
}

/// Campaigns the circuit breaker paused, for `/metrics`: one gauge per
/// campaign, the reason as a label.
pub async fn breaker_metrics(store: &Store) -> crate::error::Result<String> {
    let mut out = String::from(
        "# HELP gazette_campaign_paused_by_breaker A campaign the circuit breaker paused (1), with the reason.\n# TYPE gazette_campaign_paused_by_breaker gauge\n",
    );
    for id in store.campaigns_in(S::Paused).await? {
        let Some(why) = store.campaign(id).await?.and_then(|c| c.breaker) else {
            continue;
        };
        let label: String = why
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        out.push_str(&format!(
            "gazette_campaign_paused_by_breaker{{campaign=\"{id}\",reason=\"{label}\"}} 1\n"
        ));
    }
    Ok(out)
}

/// Nobody who left gets mail, not even a test: refuse an address that
/// unsubscribed, bounced, complained or was erased.
async fn refuse_left(
    store: &Store,
    email: &SubscriberEmail,
    subscriber: Option<&crate::audience::Subscriber>,
) -> Result<(), OpError> {
    use crate::audience::Status;
    if let Some(s) = subscriber {
        if matches!(
            s.status,
            Status::Unsubscribed | Status::Bounced | Status::Complained
        ) {
            return Err(OpError::Conflict(format!(
                "refusing to send to {email}: the address is {} (nobody who left gets mail)",
                s.status.as_str()
            )));
        }
    } else if store.is_suppressed(email).await? {
        return Err(OpError::Conflict(format!(
            "refusing to send to {email}: the address was removed (nobody who left gets mail)"
        )));
    }
    Ok(())
}

/// The prefix of a test send's token in its links (a reader's token is
/// two hex parts around a dot, never this).
pub const TEST_TOKEN_PREFIX: &str = "test-";

/// Send exactly the email `prepared` to one address (not recorded as a
/// delivery). Its links work: "View in browser" opens this very email
/// (`/archive/test/TOKEN`); an address on the list gets its own data and
/// its own unsubscribe and preferences links; an address that is not gets
/// links that answer "this was a test send" and change nothing. The test
/// is recorded (`test_sends`) for those links, for 30 days.
pub async fn test_send(
    settings: &Settings,
    store: &Store,
    mailer: &Mailer,
    prepared: &Prepared,
    email: &SubscriberEmail,
) -> Result<(), OpError> {
    let nl = &settings.newsletter;
    let subscriber = store.get(email).await?;
    refuse_left(store, email, subscriber.as_ref()).await?;
    let token = format!("{TEST_TOKEN_PREFIX}{}", crate::util::ids::random_hex(16));
    let view = format!("{}/archive/test/{token}", nl.public_url);
    let prepared = prepared.with_archive_link(&view);
    let recipient = match subscriber {
        Some(s) => Recipient {
            attributes: s.attributes.as_object().cloned(),
            ..Recipient::new(nl, s.email, s.name, &s.unsub_token)
        },
        None => Recipient::new(nl, email.to_string(), None, &token),
    };
    let html = prepared.public_html();
    store
        .record_test_send(&token, email.as_str(), &prepared.subject, &html, Utc::now())
        .await?;
    let msg = message::build(nl, &prepared, &recipient, message::new_message_id(nl))?;
    mailer.send(&msg).await.map_err(|e| {
        OpError::Unavailable(format!(
            "test send to {email} through {}: {e}",
            mailer.describe()
        ))
    })?;
    Ok(())
}
