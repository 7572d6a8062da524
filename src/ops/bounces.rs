//! Returned mail and bounce counts where the store meets the classifier:
//! reading, attributing and recording returned messages (`bounces scan`,
//! `bounces process` and the bounce mailbox all go through here, so what
//! `scan` names is what `process` changes), and the bounce metrics that
//! `/metrics` exports.

use chrono::{DateTime, Utc};

use crate::bounce::{self, Kind, Record};
use crate::config::BouncePolicy as Policy;
use crate::error::Result;
use crate::store::bounces::Applied;
use crate::store::Store;

/// Parse and attribute one returned message (no change to the database;
/// without a store, nothing is attributed). `verp`: `[bounces] address`
/// is set. Then every real bounce names its delivery, and one that names
/// only an address may be forged by anyone who can mail the bounce
/// address: it is attributed to no subscriber.
pub async fn examine(
    store: Option<&Store>,
    raw: &[u8],
    source: &str,
    verp: bool,
) -> Result<Vec<Record>> {
    let mut records = bounce::analyze(raw, source);
    if let Some(store) = store {
        for r in &mut records {
            let who = store.attribute(&r.refs, r.recipient.as_deref()).await?;
            r.campaign_id = who.campaign_id;
            r.subscriber_id = who.subscriber_id;
            if r.recipient.is_none() {
                r.recipient = who.email;
            }
            if verp && r.campaign_id.is_none() {
                r.subscriber_id = None;
            }
        }
    }
    Ok(records)
}

/// Parse, attribute and record one returned message, once per message
/// and recipient; what each record did.
pub async fn process_returned(
    store: &Store,
    policy: &Policy,
    raw: &[u8],
    source: &str,
    now: DateTime<Utc>,
) -> Result<Vec<(Record, Applied)>> {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(raw));
    let mut out = Vec::new();
    let verp = policy.address.is_some();
    for r in examine(Some(store), raw, source, verp).await? {
        let applied = if r.kind == Kind::None {
            Applied::Recorded(None)
        } else {
            let rcpt = r
                .recipient
                .as_deref()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let key = format!("msg:{digest}:{rcpt}");
            store.record_bounce(&key, &r, policy, now).await?
        };
        out.push((r, applied));
    }
    Ok(out)
}

/// Bounces and complaints per campaign, in Prometheus text format (for
/// the admin listener's `/metrics`).
pub async fn metrics(store: &Store) -> Result<String> {
    use std::fmt::Write;
    let mut out = String::from(
        "# HELP gazette_bounces_total Bounces recorded per campaign (blocked: refusals of the sender).\n\
         # TYPE gazette_bounces_total counter\n",
    );
    let counts = store.bounce_counts().await?;
    for (id, c) in &counts {
        for (kind, n) in [("hard", c.hard), ("soft", c.soft), ("blocked", c.blocked)] {
            let _ = writeln!(
                out,
                "gazette_bounces_total{{campaign=\"{id}\",kind=\"{kind}\"}} {n}"
            );
        }
    }
    out.push_str(
        "# HELP gazette_complaints_total Spam complaints recorded per campaign.\n\
         # TYPE gazette_complaints_total counter\n",
    );
    for (id, c) in &counts {
        let _ = writeln!(
            out,
            "gazette_complaints_total{{campaign=\"{id}\"}} {}",
            c.complaints
        );
    }
    Ok(out)
}
