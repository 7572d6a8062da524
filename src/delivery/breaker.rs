//! The circuit breaker: once `[send] min_sample` recipients were tried in
//! a run, hard bounces above `max_bounce_rate`, complaints above
//! `max_complaint_rate`, or blocked replies above `[bounces]
//! blocked_alert` of the attempts at one recipient domain pause the
//! campaign with the reason (`campaigns resume ID --force` goes on).
//!
//! Counted from this run's own outcomes (a synchronous 5xx classified by
//! `bounce::classify`: at once, whatever the speed) and, at each
//! heartbeat, the bounces and complaints recorded for the campaign since
//! the run started (asynchronous ones: DSNs, feedback reports, webhooks).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::bounce::Class;
use crate::config::SendSafety;
use crate::store::campaigns::{QueueItem, Recorded};

/// What a run counts for the breaker.
pub struct Breaker {
    pub limits: SendSafety,
    /// When the run started: later asynchronous reports count.
    pub since: DateTime<Utc>,
    tried: AtomicU64,
    hard: AtomicU64,
    /// Asynchronous hard bounces and complaints (from the store).
    late_hard: AtomicU64,
    complaints: AtomicU64,
    /// Recipient domain → (tried, blocked).
    domains: Mutex<HashMap<String, (u64, u64)>>,
    /// Recipient domain → blocked reply → how often (this run's replies;
    /// a few distinct ones per domain), to name the most common one.
    replies: Mutex<HashMap<String, HashMap<String, u64>>>,
}

/// Distinct blocked replies remembered per domain.
const REPLIES_PER_DOMAIN: usize = 16;

/// A domain's blocked replies count once it had this share of the sample.
const DOMAIN_SAMPLE_PART: u64 = 5;

fn pct(x: f64) -> String {
    match x * 100.0 {
        p if p < 1.0 => format!("{p:.2}%"),
        p => format!("{p:.1}%"),
    }
}

impl Breaker {
    pub fn new(limits: SendSafety, since: DateTime<Utc>) -> Self {
        Breaker {
            limits,
            since,
            tried: 0.into(),
            hard: 0.into(),
            late_hard: 0.into(),
            complaints: 0.into(),
            domains: Default::default(),
            replies: Default::default(),
        }
    }

    /// Count a delivery's outcome (sent or failed: tried). Returns the
    /// domain when the reply was a block (to check that domain alone).
    pub fn count(&self, item: &QueueItem, recorded: &Recorded) -> Option<String> {
        let reply = match recorded {
            Recorded::Sent { .. } => None,
            Recorded::Failed { reply, .. } => Some(reply),
            Recorded::Retry { .. } | Recorded::Skipped => return None,
        };
        self.tried.fetch_add(1, Ordering::Relaxed);
        let class = reply
            .and_then(|r| crate::bounce::classify_reply(r))
            .map(|(v, _)| v.class);
        if class == Some(Class::Hard) {
            self.hard.fetch_add(1, Ordering::Relaxed);
        }
        let domain = item
            .recipient
            .as_ref()
            .and_then(|r| r.email.rsplit_once('@'))
            .map(|(_, d)| d.to_ascii_lowercase())?;
        let blocked = class == Some(Class::Blocked);
        let mut domains = self.domains.lock().unwrap_or_else(|p| p.into_inner());
        let d = domains.entry(domain.clone()).or_default();
        d.0 += 1;
        d.1 += blocked as u64;
        drop(domains);
        if let (true, Some(reply)) = (blocked, reply) {
            let text: String = reply.split_whitespace().collect::<Vec<_>>().join(" ");
            let text: String = text.chars().take(160).collect();
            let mut replies = self.replies.lock().unwrap_or_else(|p| p.into_inner());
            let seen = replies.entry(domain.clone()).or_default();
            if seen.len() < REPLIES_PER_DOMAIN || seen.contains_key(&text) {
                *seen.entry(text).or_default() += 1;
            }
        }
        blocked.then_some(domain)
    }

    /// The asynchronous reports recorded since the run started.
    pub fn reported(&self, hard: u64, complaints: u64) {
        self.late_hard.store(hard, Ordering::Relaxed);
        self.complaints.store(complaints, Ordering::Relaxed);
    }

    /// A breaker holding a campaign's stored totals (the canary's check).
    pub fn from_totals(limits: SendSafety, t: crate::store::safety::Totals) -> Self {
        let b = Breaker::new(limits, Utc::now());
        b.tried.store(t.tried, Ordering::Relaxed);
        b.hard.store(t.hard, Ordering::Relaxed);
        b.complaints.store(t.complaints, Ordering::Relaxed);
        *b.domains.lock().unwrap_or_else(|p| p.into_inner()) = t
            .domains
            .into_iter()
            .map(|(d, n, blocked)| (d, (n, blocked)))
            .collect();
        b
    }

    /// The limit crossed, if one is (once `min_sample` were tried).
    pub fn tripped(&self) -> Option<String> {
        self.tripped_at(None)
    }

    /// As `tripped`, looking at recipient domain `only` alone when given
    /// (the one a block was just counted at: no scan of every domain at
    /// each failure).
    pub fn tripped_at(&self, only: Option<&str>) -> Option<String> {
        let l = &self.limits;
        let tried = self.tried.load(Ordering::Relaxed);
        if tried < l.min_sample || !l.enforced {
            return None;
        }
        let rate = |n: u64| n as f64 / tried as f64;
        let hard = self.hard.load(Ordering::Relaxed) + self.late_hard.load(Ordering::Relaxed);
        if rate(hard) > l.max_bounce_rate {
            return Some(format!(
                "hard bounces at {} of {tried} recipients tried ({hard}), above [send] max_bounce_rate {}",
                pct(rate(hard)),
                pct(l.max_bounce_rate)
            ));
        }
        let complaints = self.complaints.load(Ordering::Relaxed);
        if rate(complaints) > l.max_complaint_rate {
            return Some(format!(
                "complaints at {} of {tried} recipients tried ({complaints}), above [send] max_complaint_rate {}",
                pct(rate(complaints)),
                pct(l.max_complaint_rate)
            ));
        }
        let least = (l.min_sample / DOMAIN_SAMPLE_PART).max(1);
        let domains = self.domains.lock().unwrap_or_else(|p| p.into_inner());
        let over = |(d, (n, b)): &(&String, &(u64, u64))| {
            only.is_none_or(|o| o == d.as_str())
                && *n >= least
                && *b as f64 / *n as f64 > l.blocked_alert
        };
        let mut worst: Vec<_> = match only {
            Some(o) => domains.get_key_value(o).into_iter().filter(over).collect(),
            None => domains.iter().filter(over).collect(),
        };
        worst.sort_by(|a, b| a.0.cmp(b.0));
        worst.first().map(|(domain, (n, b))| {
            format!(
                "blocked replies at {} of {n} attempts at {domain} ({b}), above [bounces] blocked_alert {}{}",
                pct(*b as f64 / *n as f64),
                pct(l.blocked_alert),
                self.most_common_reply(domain)
                    .map(|r| format!("; most common reply: {r:?}"))
                    .unwrap_or_default()
            )
        })
    }

    /// The blocked reply heard most often at `domain` in this run.
    fn most_common_reply(&self, domain: &str) -> Option<String> {
        let replies = self.replies.lock().unwrap_or_else(|p| p.into_inner());
        replies
            .get(domain)?
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(r, _)| r.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audience::Status;
    use crate::store::campaigns::QueueRecipient;

    fn item(email: &str) -> QueueItem {
        QueueItem {
            delivery_id: 1,
            attempts: 0,
            recipient: Some(QueueRecipient {
                subscriber_id: 1,
                email: email.into(),
                name: None,
                status: Status::Active,
                unsub_token: "t".into(),
                attributes: None,
            }),
        }
    }

    fn failed(reply: &str) -> Recorded {
        Recorded::Failed {
            reply: reply.into(),
            attempts: 1,
        }
    }

    fn sent() -> Recorded {
        Recorded::Sent {
            message_id: "<m@x>".into(),
            at: Utc::now(),
        }
    }

    #[test]
    fn hard_bounces_trip_only_past_the_sample() {
        let b = Breaker::new(SendSafety::default(), Utc::now());
        let user_unknown = "permanent error (550): 5.1.1 No such user";
        for i in 0..99 {
            let r = if i % 10 == 0 {
                failed(user_unknown)
            } else {
                sent()
            };
            b.count(&item("a@example.org"), &r);
        }
        assert_eq!(b.tripped(), None, "99 < min_sample");
        b.count(&item("a@example.org"), &sent());
        let why = b.tripped().expect("10% > 5%");
        assert!(why.contains("max_bounce_rate 5.0%"), "{why}");
        assert!(why.contains("10.0% of 100"), "{why}");
    }

    #[test]
    fn complaints_and_blocked_domains_trip() {
        let b = Breaker::new(SendSafety::default(), Utc::now());
        for _ in 0..2000 {
            b.count(&item("a@example.org"), &sent());
        }
        assert_eq!(b.tripped(), None);
        b.reported(0, 2);
        assert_eq!(b.tripped(), None, "2 in 2000 is 0.1%, not above");
        b.reported(0, 3);
        let why = b.tripped().unwrap();
        assert!(why.contains("complaints at 0.15% of 2000 recipients tried (3), above [send] max_complaint_rate 0.10%"), "{why}");
        let b = Breaker::new(SendSafety::default(), Utc::now());
        let blocked = "permanent error (554): 5.7.1 Message rejected as spam";
        for i in 0..100 {
            b.count(&item("a@example.org"), &sent());
            let r = if i % 5 == 0 { failed(blocked) } else { sent() };
            b.count(&item("b@blocked.example"), &r);
        }
        let why = b.tripped().expect("20% blocked at one domain");
        assert!(why.contains("at blocked.example"), "{why}");
        assert!(
            why.ends_with(&format!("; most common reply: {blocked:?}")),
            "{why}"
        );
        // After a failure only that failure's domain is looked at.
        assert_eq!(b.tripped_at(Some("example.org")), None);
        assert_eq!(b.tripped_at(Some("")), None);
        assert_eq!(b.tripped_at(Some("blocked.example")), Some(why));
    }
}
