//! Amazon SES notifications delivered by mail (an SNS topic with an email
//! subscription): the same JSON the SES webhook receives, read with the
//! same mapping (`provider::ses_events`).

use mail_parser::Message;
use serde_json::Value;

use super::provider::{self, str_of};
use super::Record;

/// The records of an SES notification mail (`notificationType` Bounce or
/// Complaint, bare or inside an SNS `Notification`); `None` when the
/// message is not one. A `Delivery` notification gives no record.
pub fn ses(msg: &Message, source: &str) -> Option<Vec<Record>> {
    let body = msg.body_text(0)?;
    let json = body.trim_start();
    let end = json.rfind('}')?;
    if !json.starts_with('{') || !json.contains("notificationType") {
        return None;
    }
    let outer: Value = serde_json::from_str(&json[..=end]).ok()?;
    let inner = match str_of(&outer, &["Message"]) {
        Some(m) if str_of(&outer, &["Type"]) == Some("Notification") => {
            serde_json::from_str(m).ok()?
        }
        _ => outer,
    };
    str_of(&inner, &["notificationType"])?;
    let id = msg.message_id().unwrap_or(source);
    let records = provider::ses_events(&inner, id)
        .iter()
        .map(|e| e.record(source).0)
        .collect();
    Some(records)
}
