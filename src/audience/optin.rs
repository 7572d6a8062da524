//! Double opt-in: issue a confirmation token and send the confirmation
//! email, at most once per `RESEND_INTERVAL` for an address.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Source, Status, SubscriberEmail};
use crate::config::Settings;
use crate::delivery::mailer::Mailer;
use crate::error::{Error, Result};
use crate::render::{message, Prepared, Recipient};
use crate::store::{Added, Store};

/// A pending address asking again gets at most one email per this interval.
pub const RESEND_INTERVAL: Duration = Duration::from_secs(600);

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Added as active at once (`--confirmed`).
    Activated,
    AlreadyActive,
    ConfirmationSent,
    /// A confirmation email went out less than `RESEND_INTERVAL` ago.
    RecentlySent,
    /// The address opted out and an operator may not re-activate it.
    OptedOut(Status),
}

/// Everything the opt-in flow needs, shared by the CLI and the web server.
#[derive(Clone)]
pub struct Optin {
    pub store: Store,
    pub mailer: Mailer,
    pub settings: std::sync::Arc<Settings>,
    /// The confirmation email, rendered once.
    pub confirm: std::sync::Arc<Prepared>,
}

impl Optin {
    /// Add `email` and, unless `confirmed`, send it a confirmation email.
    /// With `background`, the email is sent by a spawned task so that the
    /// caller answers equally fast whatever the address's state (no
    /// enumeration by timing); a failed send is logged and retried on the
    /// next request.
    pub async fn subscribe(
        &self,
        email: &SubscriberEmail,
        name: Option<&str>,
        confirmed: bool,
        source: Source,
        now: DateTime<Utc>,
        background: bool,
    ) -> Result<Outcome> {
        let name = name
            .map(crate::util::text::clean_header_text)
            .filter(|n| !n.is_empty());
        let added = self
            .store
            .add(email, name.as_deref(), confirmed, source, now)
            .await?;
        let sub = added.subscriber();
        if sub.status == Status::Active {
            return Ok(match added {
                Added::Created(_) => Outcome::Activated,
                Added::Existing(_) => Outcome::AlreadyActive,
            });
        }
        if confirmed {
            if sub.status.is_opted_out() {
                return Ok(Outcome::OptedOut(sub.status));
            }
            self.store.activate(sub.id, email, now).await?;
            return Ok(Outcome::Activated);
        }
        let Some(token) = self
            .store
            .claim_confirmation(sub.id, now, self.settings.web.confirm_ttl, RESEND_INTERVAL)
            .await?
        else {
            return Ok(Outcome::RecentlySent);
        };
        let recipient = Recipient {
            email: sub.email.clone(),
            name: sub.name.clone(),
            unsubscribe_url: String::new(),
            confirm_url: Some(format!(
                "{}/confirm/{token}",
                self.settings.newsletter.public_url
            )),
            attributes: sub.attributes.as_object().cloned(),
        };
        if background {
            let this = self.clone();
            let id = sub.id;
            tokio::spawn(async move {
                if let Err(e) = this.send_confirmation(id, &recipient).await {
                    tracing::error!("{e}");
                }
            });
        } else {
            self.send_confirmation(sub.id, &recipient).await?;
        }
        Ok(Outcome::ConfirmationSent)
    }

    async fn send_confirmation(&self, id: i64, recipient: &Recipient) -> Result<()> {
        let nl = &self.settings.newsletter;
        let msg = message::build(nl, &self.confirm, recipient, message::new_message_id(nl))?;
        if let Err(e) = self.mailer.send(&msg).await {
            // Let the next request try again at once.
            self.store.release_confirmation(id).await?;
            return Err(Error::msg(format!(
                "sending the confirmation email to {} through {}: {e}",
                recipient.email,
                self.mailer.describe()
            )));
        }
        Ok(())
    }
}
