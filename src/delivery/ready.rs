//! A delivery taken from the queue, built into the message the
//! transport sends (or the outcome to record when there is nothing to send).

use super::shared::Shared;
use crate::audience::Status;
use crate::render::{message, Recipient};
use crate::store::campaigns::{QueueItem, QueueRecipient, Recorded};

/// A delivery taken from the queue and built, ready for the transport.
pub struct Ready {
    pub item: QueueItem,
    /// With the VERP sender when `[bounces] address` is set.
    pub envelope: lettre::address::Envelope,
    pub bytes: Vec<u8>,
    pub message_id: String,
}

/// Build a recipient's message; `Err` is recorded as a failure.
fn build(
    shared: &Shared,
    r: &QueueRecipient,
) -> Result<(lettre::address::Envelope, Vec<u8>, String), String> {
    let nl = &shared.newsletter;
    let recipient = Recipient {
        attributes: if shared.uses_attributes {
            r.attributes
                .as_deref()
                .and_then(|a| serde_json::from_str(a).ok())
        } else {
            None
        },
        ..Recipient::new(nl, r.email.clone(), r.name.clone(), &r.unsub_token)
    };
    let message_id = message::new_message_id(nl);
    let built = match &shared.skeleton {
        Some(skeleton) => skeleton.assemble(nl, &shared.encoded, &recipient, message_id.clone()),
        None => message::build_encoded(
            nl,
            &shared.prepared,
            &shared.encoded,
            &recipient,
            message_id.clone(),
        )
        .map(|m| (m.envelope().clone(), m.formatted())),
    };
    built
        .map(|(envelope, bytes)| (envelope, bytes, message_id))
        .map_err(|e| e.to_string())
}

/// A delivery after `prepare`.
pub enum Prep {
    Ready(Ready),
    /// Nothing to send; record this (skipped: the reader left; failed: the
    /// message cannot be built).
    Done(QueueItem, Recorded),
}

/// Build a delivery's message.
pub fn prepare(shared: &Shared, item: QueueItem) -> Prep {
    let Some(r) = item
        .recipient
        .as_ref()
        .filter(|r| r.status == Status::Active)
    else {
        return Prep::Done(item, Recorded::Skipped);
    };
    if shared.left(r) {
        return Prep::Done(item, Recorded::Skipped);
    }
    let (envelope, bytes, message_id) = match build(shared, r) {
        Ok(m) => m,
        Err(reply) => {
            let attempts = item.attempts + 1;
            return Prep::Done(item, Recorded::Failed { reply, attempts });
        }
    };
    // bounces: VERP envelope sender when `[bounces] address` is set.
    let envelope =
        crate::bounce::verp::envelope(shared.bounces.address.as_ref(), &envelope, &message_id);
    Prep::Ready(Ready {
        item,
        envelope,
        bytes,
        message_id,
    })
}
