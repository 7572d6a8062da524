//! Delivery: the mailer over lettre's transports (SMTP, or the outbox
//! folder when no SMTP server is configured).

pub mod campaign;
pub mod mailer;
pub mod queue;
