//! Double opt-in: issue a confirmation token and send the confirmation
//! email, at most once per `[web] confirm_interval` for an address.

use chrono::{DateTime, Utc};

use crate::audience::{Source, Status, Subscriber, SubscriberEmail};
use crate::config::Settings;
use crate::delivery::mailer::Mailer;
use crate::error::{Error, Result};
use crate::render::{message, Prepared, Recipient};
use crate::store::{Added, Confirmed, Store};

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Added as active at once (`--confirmed`).
    Activated,
    AlreadyActive,
    ConfirmationSent,
    /// A confirmation email went out less than `[web] confirm_interval` ago.
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
    /// The welcome email (`None`: `[welcome] enabled = false`).
    pub welcome: Option<std::sync::Arc<Prepared>>,
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
        if source == Source::Web && !confirmed {
            return self
                .subscribe_web(email, name.as_deref(), now, background)
                .await;
        }
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
            .claim_confirmation(
                sub.id,
                now,
                self.settings.web.confirm_ttl,
                self.settings.web.confirm_interval,
            )
            .await?
        else {
            return Ok(Outcome::RecentlySent);
        };
        let recipient = self.recipient(sub, sub.name.clone(), &token);
        self.dispatch(sub.id, recipient, background).await?;
        Ok(Outcome::ConfirmationSent)
    }

    /// An unauthenticated subscription (the web): the store does the same
    /// work whatever the address's state and never changes an existing
    /// subscriber; the name waits for the confirmation.
    async fn subscribe_web(
        &self,
        email: &SubscriberEmail,
        name: Option<&str>,
        now: DateTime<Utc>,
        background: bool,
    ) -> Result<Outcome> {
        let ws = self
            .store
            .subscribe_web(
                email,
                name,
                now,
                self.settings.web.confirm_ttl,
                self.settings.web.confirm_interval,
            )
            .await?;
        let sub = &ws.subscriber;
        let Some(token) = &ws.token else {
            return Ok(match sub.status {
                Status::Active => Outcome::AlreadyActive,
                _ => Outcome::RecentlySent,
            });
        };
        // Not the name given with the request: nobody has proved the address
        // yet, so an attacker's text must not reach its owner's To: line.
        let recipient = self.recipient(sub, None, token);
        self.dispatch(sub.id, recipient, background).await?;
        Ok(Outcome::ConfirmationSent)
    }

    /// Use a confirmation link: the reader becomes active and, the first
    /// time ever, gets the welcome email.
    pub async fn confirm(
        &self,
        token: &str,
        now: DateTime<Utc>,
        background: bool,
    ) -> Result<Confirmed> {
        let confirmed = self.store.confirm(token, now).await?;
        if let Confirmed::Activated(email) = &confirmed {
            let email = SubscriberEmail::parse(email).map_err(Error::msg)?;
            self.welcome(&email, background).await?;
        }
        Ok(confirmed)
    }

    /// What [`Optin::confirm`] would answer for `token`, changing nothing:
    /// a GET of the link (a person, or a mail scanner fetching it) only
    /// looks; the page's button POSTs to confirm.
    pub async fn check(&self, token: &str, now: DateTime<Utc>) -> Result<Confirmed> {
        self.store.check_confirmation(token, now).await
    }

    /// Send the welcome email to an active reader unless they ever got one
    /// (or welcome emails are off). Returns whether one was sent.
    pub async fn welcome(&self, email: &SubscriberEmail, background: bool) -> Result<bool> {
        let Some(prepared) = self.welcome.clone() else {
            return Ok(false);
        };
        let Some(sub) = self.store.get(email).await? else {
            return Ok(false);
        };
        if !self.store.claim_welcome(sub.id, Utc::now()).await? {
            return Ok(false);
        }
        let nl = &self.settings.newsletter;
        let recipient = Recipient {
            email: sub.email.clone(),
            name: sub.name.clone(),
            unsubscribe_url: crate::render::slots::unsubscribe_url(nl, &sub.unsub_token),
            confirm_url: None,
            attributes: sub.attributes.as_object().cloned(),
        };
        let this = self.clone();
        let send = async move {
            let nl = &this.settings.newsletter;
            let msg = message::build(nl, &prepared, &recipient, message::new_message_id(nl))?;
            if let Err(e) = this.mailer.send(&msg).await {
                this.store.release_welcome(sub.id).await?;
                return Err(Error::msg(format!(
                    "sending the welcome email to {} through {}: {e}",
                    recipient.email,
                    this.mailer.describe()
                )));
            }
            Ok(())
        };
        if background {
            tokio::spawn(async move {
                if let Err(e) = send.await {
                    tracing::error!("{e}");
                }
            });
        } else {
            send.await?;
        }
        Ok(true)
    }

    fn recipient(&self, sub: &Subscriber, name: Option<String>, token: &str) -> Recipient {
        Recipient {
            email: sub.email.clone(),
            name,
            unsubscribe_url: String::new(),
            confirm_url: Some(format!(
                "{}/confirm/{token}",
                self.settings.newsletter.public_url
            )),
            attributes: sub.attributes.as_object().cloned(),
        }
    }

    async fn dispatch(&self, id: i64, recipient: Recipient, background: bool) -> Result<()> {
        if background {
            let this = self.clone();
            tokio::spawn(async move {
                if let Err(e) = this.send_confirmation(id, &recipient).await {
                    tracing::error!("{e}");
                }
            });
            Ok(())
        } else {
            self.send_confirmation(id, &recipient).await
        }
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
