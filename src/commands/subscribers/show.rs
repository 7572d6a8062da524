//! `gazette subscribers show EMAIL [--json]`: everything kept about one
//! person (GDPR article 15).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::audience::{format_time, Status, SubscriberEmail};
use crate::error::{Error, Result};
use crate::store::people::{DeliveryRecord, Person};
use crate::store::Store;

#[derive(Serialize)]
struct Event {
    at: Option<String>,
    how: String,
}

#[derive(Serialize)]
struct Delivery<'a> {
    campaign_id: i64,
    kind: &'a str,
    subject: &'a str,
    campaign_created_at: &'a str,
    status: &'a str,
    attempts: i64,
    sent_at: Option<&'a str>,
    message_id: Option<&'a str>,
    last_reply: Option<&'a str>,
}

#[derive(Serialize)]
struct PersonJson<'a> {
    email: &'a str,
    name: Option<&'a str>,
    status: Status,
    source: &'a str,
    created_at: String,
    confirmed_at: Option<String>,
    unsubscribed_at: Option<String>,
    attributes: &'a Value,
    subscribed: Event,
    confirmed: Option<Event>,
    left: Option<Event>,
    confirmation_sent_at: Option<String>,
    confirmation_expires_at: Option<String>,
    erased_before: bool,
    /// The stored row, every column but the token secrets.
    row: &'a Map<String, Value>,
    deliveries: Vec<Delivery<'a>>,
    /// The bounce log's rows for this person; null when the database keeps
    /// no bounce log.
    bounces: Option<&'a Vec<Map<String, Value>>>,
    /// Every other table's rows that point at this person, by table.
    linked: &'a std::collections::BTreeMap<String, Vec<Map<String, Value>>>,
}

fn how_subscribed(source: &str) -> &'static str {
    match source {
        "web" => "entered on the subscribe page",
        "cli" => "added by an operator (gazette subscribers add)",
        _ => "imported from another tool's export (gazette subscribers import)",
    }
}

fn how_confirmed(source: &str) -> &'static str {
    match source {
        "web" => "opened the confirmation link",
        "cli" => "confirmation link, or added with --confirmed by an operator",
        _ => "confirmed in the earlier tool (the time it recorded), or by the confirmation link",
    }
}

fn json<'a>(p: &'a Person) -> PersonJson<'a> {
    let s = &p.subscriber;
    let left = s.status.is_opted_out().then(|| Event {
        at: s.unsubscribed_at.as_ref().map(format_time),
        how: s.status.as_str().to_string(),
    });
    PersonJson {
        email: &s.email,
        name: s.name.as_deref(),
        status: s.status,
        source: &s.source,
        created_at: format_time(&s.created_at),
        confirmed_at: s.confirmed_at.as_ref().map(format_time),
        unsubscribed_at: s.unsubscribed_at.as_ref().map(format_time),
        attributes: &s.attributes,
        subscribed: Event {
            at: Some(format_time(&s.created_at)),
            how: how_subscribed(&s.source).into(),
        },
        confirmed: s.confirmed_at.as_ref().map(|t| Event {
            at: Some(format_time(t)),
            how: how_confirmed(&s.source).into(),
        }),
        left,
        confirmation_sent_at: p.confirm_sent_at.as_ref().map(format_time),
        confirmation_expires_at: p.confirm_expires_at.as_ref().map(format_time),
        erased_before: p.erased_before,
        row: &p.stored,
        deliveries: p.deliveries.iter().map(delivery).collect(),
        bounces: p.linked.get("bounces"),
        linked: &p.linked,
    }
}

fn delivery(d: &DeliveryRecord) -> Delivery<'_> {
    Delivery {
        campaign_id: d.campaign_id,
        kind: &d.kind,
        subject: &d.subject,
        campaign_created_at: &d.campaign_created_at,
        status: &d.status,
        attempts: d.attempts,
        sent_at: d.sent_at.as_deref(),
        message_id: d.message_id.as_deref(),
        last_reply: d.last_reply.as_deref(),
    }
}

pub async fn run(store: &Store, email: &SubscriberEmail, as_json: bool) -> Result<()> {
    let Some(person) = store.person(email).await? else {
        return erased_or_unknown(store, email, as_json).await;
    };
    let j = json(&person);
    if as_json {
        let text = serde_json::to_string_pretty(&j)
            .map_err(|e| Error::msg(format!("writing JSON: {e}")))?;
        crate::commands::write_output(None, format!("{text}\n").as_bytes())?;
        return Ok(());
    }
    print_text(&j);
    Ok(())
}

/// An address not on the list: erased (only a hash of it is kept, so that
/// nobody adds it again) or never known.
async fn erased_or_unknown(store: &Store, email: &SubscriberEmail, as_json: bool) -> Result<()> {
    if !store.is_suppressed(email).await? {
        return Err(Error::msg(format!(
            "no subscriber {email}: nothing is kept about it"
        )));
    }
    let kept = "a SHA-256 hash of the address, so that no import or operator adds it again";
    if as_json {
        let v = serde_json::json!({ "email": email.as_str(), "erased": true, "kept": kept });
        println!("{v:#}");
    } else {
        println!("{email}: erased; all that is kept is {kept}");
    }
    Ok(())
}

fn print_text(j: &PersonJson<'_>) {
    let or_dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
    println!("email:        {}", j.email);
    println!("name:         {}", j.name.unwrap_or("-"));
    println!("status:       {}", j.status.as_str());
    println!("subscribed:   {}, {}", j.created_at, j.subscribed.how);
    match &j.confirmed {
        Some(c) => println!("confirmed:    {}, {}", or_dash(&c.at), c.how),
        None => println!("confirmed:    never"),
    }
    match &j.left {
        Some(l) => println!("left:         {} ({})", or_dash(&l.at), l.how),
        None => println!("left:         -"),
    }
    if j.confirmation_sent_at.is_some() {
        println!(
            "confirmation: email sent {}, link valid until {}",
            or_dash(&j.confirmation_sent_at),
            or_dash(&j.confirmation_expires_at)
        );
    }
    if j.erased_before {
        println!("erased once:  yes (came back through the subscribe page)");
    }
    println!("attributes:   {}", j.attributes);
    println!("stored row:   {}", Value::Object(j.row.clone()));
    println!("deliveries:   {}", j.deliveries.len());
    for d in &j.deliveries {
        println!(
            "  campaign {} ({}, {:?}, created {}): {}, {} attempt{}{}{}{}",
            d.campaign_id,
            d.kind,
            d.subject,
            d.campaign_created_at,
            d.status,
            d.attempts,
            if d.attempts == 1 { "" } else { "s" },
            d.sent_at.map(|t| format!(", sent {t}")).unwrap_or_default(),
            d.message_id.map(|m| format!(", {m}")).unwrap_or_default(),
            d.last_reply
                .map(|r| format!(", reply: {r}"))
                .unwrap_or_default(),
        );
    }
    match j.bounces {
        None => println!("bounces:      none (this database keeps no bounce log)"),
        Some(b) => println!("bounces:      {}", b.len()),
    }
    for (table, rows) in j.linked {
        if table != "bounces" {
            println!("{table}: {}", rows.len());
        }
        for r in rows {
            println!("  {}", Value::Object(r.clone()));
        }
    }
}
