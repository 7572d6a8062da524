//! Adding an address as an operator (`subscribers add`, `POST
//! /api/v1/subscribers`): never an erased or opted-out address, with or
//! without double opt-in.

use chrono::{DateTime, Utc};

use super::OpError;
use crate::audience::{Source, SubscriberEmail};
use crate::optin::{Optin, Outcome};

/// Add `email` through the opt-in flow (`confirmed`: active at once, no
/// email). Erased and opted-out addresses are refused: only the person can
/// come back, through the subscribe page.
pub async fn add(
    optin: &Optin,
    email: &SubscriberEmail,
    name: Option<&str>,
    confirmed: bool,
    source: Source,
    now: DateTime<Utc>,
) -> Result<Outcome, OpError> {
    if optin.store.is_suppressed(email).await? {
        return Err(OpError::Conflict(format!(
            "{email} was erased with `subscribers remove` and is not added again by an operator; they can subscribe again on the subscribe page"
        )));
    }
    match optin.subscribe(email, name, confirmed, source, now, false).await? {
        Outcome::OptedOut(st) => Err(OpError::Conflict(format!(
            "{email} is {} and is not re-activated by an operator; they can subscribe again on the subscribe page",
            st.as_str()
        ))),
        o => Ok(o),
    }
}
