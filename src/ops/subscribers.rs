//! Adding an address as an operator (`subscribers add`, `POST
//! /api/v1/subscribers`): never an erased or opted-out address, with or
//! without double opt-in.

use chrono::{DateTime, Utc};

use super::OpError;
use crate::audience::prefs::{parse_topics, Frequency, Preferences};
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

/// A change of a reader's frequency and topics (`subscribers set`, `PATCH
/// /api/v1/subscribers/{id}`). `Some(None)` frequency: back to the
/// newsletter's default; an empty topic list: every post.
#[derive(Debug, Default)]
pub struct PrefsChange {
    pub frequency: Option<Option<String>>,
    pub topics: Option<Vec<String>>,
}

/// Check `change` against the settings (a known frequency; topics of
/// `[topics]`, when it lists any) and apply it to `current`. `names`: how
/// the refusals name the two (`--frequency`, `frequency`).
pub fn apply_preferences(
    settings: &crate::config::Settings,
    current: Preferences,
    change: &PrefsChange,
    names: (&str, &str),
) -> Result<Preferences, OpError> {
    let mut prefs = current;
    if let Some(f) = &change.frequency {
        prefs.frequency = match f {
            Some(f) => Some(
                Frequency::parse(f).map_err(|m| OpError::Invalid(format!("{}: {m}", names.0)))?,
            ),
            None => None,
        };
    }
    if let Some(topics) = &change.topics {
        let topics = parse_topics(&topics.join(","));
        let known = &settings.readers.topics;
        if let Some(bad) = topics.iter().find(|t| !known.iter().any(|(k, _)| k == *t)) {
            if !known.is_empty() {
                let list: Vec<&str> = known.iter().map(|(k, _)| k.as_str()).collect();
                return Err(OpError::Invalid(format!(
                    "{}: {bad:?} is not a topic of [topics] ({})",
                    names.1,
                    list.join(", ")
                )));
            }
        }
        prefs.topics = topics;
    }
    Ok(prefs)
}

/// Set subscriber `id`'s preferences after checking them.
pub async fn set_preferences(
    settings: &crate::config::Settings,
    store: &crate::store::Store,
    id: i64,
    change: &PrefsChange,
    names: (&str, &str),
) -> Result<Preferences, OpError> {
    let current = store.preferences(id).await?;
    let prefs = apply_preferences(settings, current, change, names)?;
    store.set_preferences(id, &prefs).await?;
    Ok(prefs)
}
