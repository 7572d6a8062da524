//! The retry policy: a pure function from what the server answered (or how
//! the connection failed) to what happens to the delivery. No I/O here, so
//! every case is a unit test over a scripted reply.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::store::campaigns::Recorded;

/// Deliveries read from the store at a time (at most: see [`lease_size`]).
pub const FETCH_BATCH: i64 = 500;
/// The lease: deliveries whose lease was not renewed for this long go to
/// whichever process takes them next.
pub const CLAIM_STALE: Duration = Duration::from_secs(5);

/// What one attempt to hand a message to the server came back with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The server answered with this code (the final reply of the
    /// transaction, or the first refusal on the way).
    Code(u16, String),
    /// No answer within `smtp.timeout` while the message was being sent:
    /// it may or may not have arrived.
    Timeout(String),
    /// The connection broke while the message was being sent.
    Reset(String),
    /// No connection could be made (refused, no greeting, TLS or login
    /// failed, the outbox folder cannot be written): nothing was sent.
    Refused(String),
    /// The message cannot be sent by this client at all (e.g. a non-ASCII
    /// address to a server without SMTPUTF8).
    Unsendable(String),
}

/// Whether `reply` says the sender is going too fast (rather than
/// something about this message or this recipient).
pub fn too_fast(reply: &Reply) -> bool {
    let Reply::Code(code, text) = reply else {
        return false;
    };
    if !matches!(code, 421 | 451 | 454) {
        return false;
    }
    let text = text.to_ascii_lowercase();
    let words: Vec<&str> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let phrase = |a: &str, b: &[&str]| {
        words
            .windows(3)
            .any(|w| w[0] == "too" && w[1] == a && b.contains(&w[2]))
    };
    words.iter().any(|w| {
        *w == "rate" || *w == "rates" || w.starts_with("throttl") || w.starts_with("ratelimit")
    }) || phrase(
        "many",
        &["connections", "messages", "recipients", "mails", "emails"],
    ) || phrase("many", &["concurrent", "simultaneous", "sessions"])
        || words
            .windows(2)
            .any(|w| w == ["too", "fast"] || w == ["slow", "down"])
}

/// The class of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: delivered.
    Sent,
    /// 4xx about this message (450, 451, 452): retry after `retry_delay`,
    /// doubling; failed after `max_attempts`.
    Temporary,
    /// 5xx: failed for good, never retried.
    Permanent,
    /// The server dropped the session (421, a reset, a timeout): reconnect
    /// and retry at once. After a timeout or a reset following the final
    /// `.` the message may have arrived: this is where duplicates come from.
    Dropped,
    /// The server cannot be reached: nothing was sent and nothing is
    /// recorded; enough of these in a row pause the campaign.
    Unreachable,
}

/// Classify a reply.
pub fn classify(reply: &Reply) -> Verdict {
    match reply {
        Reply::Code(code, _) => match code {
            200..=299 => Verdict::Sent,
            // "Service not available, closing transmission channel".
            421 => Verdict::Dropped,
            400..=499 => Verdict::Temporary,
            _ => Verdict::Permanent,
        },
        Reply::Timeout(_) | Reply::Reset(_) => Verdict::Dropped,
        Reply::Refused(_) => Verdict::Unreachable,
        Reply::Unsendable(_) => Verdict::Permanent,
    }
}

impl Reply {
    pub fn text(&self) -> String {
        match self {
            Reply::Code(code, text) if text.starts_with(&code.to_string()) => text.clone(),
            Reply::Code(code, text) => format!("{code} {text}"),
            Reply::Timeout(m) => format!("timed out: {m}"),
            Reply::Reset(m) => format!("connection lost: {m}"),
            Reply::Refused(m) => m.clone(),
            Reply::Unsendable(m) => m.clone(),
        }
    }
}

/// The retry settings the policy needs.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub retry_delay: Duration,
    pub max_attempts: u32,
}

/// Dropped sessions (timeouts, resets, 421) a delivery survives before it
/// fails, whatever `max_attempts` says.
pub const DROPPED_ATTEMPTS: i64 = 10;

/// What to record for a delivery after `reply`, given the attempts made
/// before this one. `None`: record nothing (the server was unreachable;
/// the delivery stays due).
pub fn decide(
    policy: RetryPolicy,
    reply: &Reply,
    attempts_before: i64,
    message_id: &str,
    now: DateTime<Utc>,
) -> Option<Recorded> {
    if too_fast(reply) {
        // About the sender's pace, not this recipient: requeued as if
        // never tried (the run slows down instead).
        return Some(Recorded::Retry {
            reply: reply.text(),
            attempts: attempts_before,
            next: now,
        });
    }
    decide_counted(policy, reply, attempts_before, message_id, now)
}

/// As `decide`, but a "too fast" reply counts as an attempt like any
/// other temporary failure (the run already goes at its slowest).
pub fn decide_counted(
    policy: RetryPolicy,
    reply: &Reply,
    attempts_before: i64,
    message_id: &str,
    now: DateTime<Utc>,
) -> Option<Recorded> {
    let attempts = attempts_before + 1;
    let out_of_attempts = attempts >= policy.max_attempts.max(1) as i64;
    Some(match classify(reply) {
        Verdict::Sent => Recorded::Sent {
            message_id: message_id.to_string(),
            at: now,
        },
        Verdict::Unreachable => return None,
        Verdict::Permanent => Recorded::Failed {
            reply: reply.text(),
            attempts,
        },
        Verdict::Temporary if out_of_attempts => Recorded::Failed {
            reply: reply.text(),
            attempts,
        },
        // A dropped session says more about the server than about this
        // message: it fails the delivery only after `DROPPED_ATTEMPTS`
        // (a message that breaks every session it is in), however small
        // `max_attempts` is, so a server that stalls pauses the campaign
        // (the run's trouble count) instead of failing its recipients.
        Verdict::Dropped if out_of_attempts && attempts >= DROPPED_ATTEMPTS => Recorded::Failed {
            reply: reply.text(),
            attempts,
        },
        Verdict::Temporary => {
            // retry_delay, doubling with each attempt.
            let factor = 1u32 << (attempts - 1).clamp(0, 16) as u32;
            let delay = policy.retry_delay.saturating_mul(factor);
            Recorded::Retry {
                reply: reply.text(),
                attempts,
                next: now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1)),
            }
        }
        Verdict::Dropped => Recorded::Retry {
            reply: reply.text(),
            attempts,
            next: now,
        },
    })
}

/// Whether the connection must be dropped and a new one opened.
pub fn reconnect(reply: &Reply) -> bool {
    !matches!(classify(reply), Verdict::Sent)
}

/// Whether the reply says something about the server as a whole (counted
/// towards "the server is unreachable") rather than about one message.
pub fn server_trouble(reply: &Reply) -> bool {
    matches!(classify(reply), Verdict::Dropped | Verdict::Unreachable) && !too_fast(reply)
}

/// Deliveries a claim takes at least (while as many are pending).
pub const MIN_LEASE: i64 = 8;

/// How many deliveries one claim takes when `pending` are free to take
/// and `processes` may send them: a part of the campaign small enough that
/// each of them gets a share (a half of an even split, so that one that
/// joins late still finds some), within `MIN_LEASE..=FETCH_BATCH`: of 100
/// free, a process alone takes 50, then 25 of the 50 left, ...; each of
/// two takes 25. (Once a claim took 500 whatever the audience, and the
/// next was leased ahead: a second worker helped only above 500
/// recipients.)
pub fn lease_size(pending: i64, processes: i64) -> i64 {
    let parts = 2 * processes.max(1);
    let most = FETCH_BATCH;
    ((pending.max(0) + parts - 1) / parts).clamp(MIN_LEASE, most)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        retry_delay: Duration::from_secs(30),
        max_attempts: 3,
    };

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn code(c: u16) -> Reply {
        Reply::Code(c, format!("{c} scripted"))
    }

    fn after(reply: &Reply, before: i64) -> Option<Recorded> {
        decide(POLICY, reply, before, "<m@x>", now())
    }

    #[test]
    fn replies_are_classified() {
        let cases = [
            (code(250), Verdict::Sent),
            (code(421), Verdict::Dropped),
            (code(450), Verdict::Temporary),
            (code(451), Verdict::Temporary),
            (code(452), Verdict::Temporary),
            (code(550), Verdict::Permanent),
            (code(552), Verdict::Permanent),
            (code(554), Verdict::Permanent),
            (Reply::Timeout("read".into()), Verdict::Dropped),
            (Reply::Reset("broken pipe".into()), Verdict::Dropped),
            (
                Reply::Refused("connection refused".into()),
                Verdict::Unreachable,
            ),
            (Reply::Unsendable("no SMTPUTF8".into()), Verdict::Permanent),
        ];
        for (reply, verdict) in cases {
            assert_eq!(classify(&reply), verdict, "{reply:?}");
        }
    }

    #[test]
    fn sent_is_recorded_with_its_message_id() {
        assert_eq!(
            after(&code(250), 0),
            Some(Recorded::Sent {
                message_id: "<m@x>".into(),
                at: now()
            })
        );
        assert!(!reconnect(&code(250)));
    }

    #[test]
    fn temporary_replies_back_off_then_fail() {
        for c in [450, 451, 452] {
            let Some(Recorded::Retry {
                attempts,
                next,
                reply,
            }) = after(&code(c), 0)
            else {
                panic!("{c} not retried")
            };
            assert_eq!((attempts, next), (1, now() + chrono::Duration::seconds(30)));
            assert!(reply.starts_with(&c.to_string()), "{reply}");
            let Some(Recorded::Retry { next, .. }) = after(&code(c), 1) else {
                panic!()
            };
            assert_eq!(next, now() + chrono::Duration::seconds(60), "doubles");
            assert!(
                matches!(
                    after(&code(c), 2),
                    Some(Recorded::Failed { attempts: 3, .. })
                ),
                "{c}: failed after max_attempts"
            );
            assert!(reconnect(&code(c)) && !server_trouble(&code(c)));
        }
    }

    #[test]
    fn permanent_replies_fail_at_once() {
        for c in [550, 552, 554] {
            assert_eq!(
                after(&code(c), 0),
                Some(Recorded::Failed {
                    reply: format!("{c} scripted"),
                    attempts: 1
                })
            );
        }
    }

    #[test]
    fn dropped_sessions_retry_at_once_on_a_new_connection() {
        for r in [
            code(421),
            Reply::Timeout("no reply".into()),
            Reply::Reset("reset by peer".into()),
        ] {
            assert_eq!(
                after(&r, 0),
                Some(Recorded::Retry {
                    reply: r.text(),
                    attempts: 1,
                    next: now()
                }),
                "{r:?}"
            );
            assert!(reconnect(&r) && server_trouble(&r));
            // Past max_attempts (3) a dropped session still retries: a
            // stalling server must not fail every recipient…
            assert!(
                matches!(after(&r, 2), Some(Recorded::Retry { .. })),
                "{r:?}"
            );
            // …but a message that breaks every session fails in the end.
            let last = DROPPED_ATTEMPTS - 1;
            assert!(
                matches!(after(&r, last), Some(Recorded::Failed { .. })),
                "{r:?}"
            );
        }
    }

    #[test]
    fn too_fast_is_requeued_as_if_never_tried() {
        for r in [
            Reply::Code(
                454,
                "454 4.7.0 Throttling failure: Maximum sending rate exceeded".into(),
            ),
            Reply::Code(421, "421 too many connections".into()),
            Reply::Code(451, "451 4.7.1 too many messages".into()),
        ] {
            assert_eq!(
                after(&r, 4),
                Some(Recorded::Retry {
                    reply: r.text(),
                    attempts: 4,
                    next: now()
                }),
                "{r:?}"
            );
            assert!(!server_trouble(&r), "{r:?}");
            // At the slowest pace it counts: a server that never accepts
            // does not hold the campaign forever.
            assert!(
                matches!(
                    decide_counted(POLICY, &r, 2, "<m@x>", now()),
                    Some(
                        Recorded::Failed { attempts: 3, .. } | Recorded::Retry { attempts: 3, .. }
                    )
                ),
                "{r:?}"
            );
        }
    }

    #[test]
    fn refused_records_nothing() {
        let r = Reply::Refused("127.0.0.1:9: connection refused".into());
        assert_eq!(after(&r, 0), None);
        assert_eq!(after(&r, 10), None, "never fails a recipient");
        assert!(server_trouble(&r));
        assert_eq!(
            r.text(),
            "127.0.0.1:9: connection refused",
            "names the server"
        );
    }

    #[test]
    fn a_lease_is_a_share_of_the_audience() {
        // Two processes on 100: 25 a claim, so both get some.
        assert_eq!(lease_size(100, 2), 25);
        assert_eq!(lease_size(100, 1), 50);
        assert_eq!(lease_size(1_000_000, 3), 500);
        assert_eq!(lease_size(10, 4), MIN_LEASE);
        assert_eq!(lease_size(0, 0), MIN_LEASE);
    }
}
