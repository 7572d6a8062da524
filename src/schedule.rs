//! The digest schedule: a five-field cron expression in an IANA time zone.
//! Pure functions of the time they are given, so they are tested without
//! sleeping.

use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;
use croner::Cron;

#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    tz: Tz,
    expr: String,
}

impl Schedule {
    /// Parse; errors name the config key (`schedule` or `timezone`).
    pub fn parse(expr: &str, tz: &str) -> Result<Self, (&'static str, String)> {
        if expr.split_whitespace().count() != 5 {
            return Err((
                "schedule",
                format!(
                    "{expr:?} is not a five-field cron expression (minute hour day month weekday)"
                ),
            ));
        }
        let cron: Cron = expr.parse().map_err(|e| {
            (
                "schedule",
                format!("{expr:?} is not a cron expression: {e}"),
            )
        })?;
        let tz: Tz = tz
            .parse()
            .map_err(|_| ("timezone", format!("{tz:?} is not an IANA time zone name")))?;
        Ok(Schedule {
            cron,
            tz,
            expr: expr.to_string(),
        })
    }

    /// The time zone of the schedule (`[digest] timezone`).
    pub fn tz(&self) -> Tz {
        self.tz
    }

    pub fn describe(&self) -> String {
        format!("{} ({})", self.expr, self.tz)
    }

    /// The first scheduled time strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let t = whole_seconds(t);
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.tz), false)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The latest scheduled time at or before `now`.
    pub fn last_at_or_before(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let now = whole_seconds(now);
        self.cron
            .find_previous_occurrence(&now.with_timezone(&self.tz), true)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The period whose digest is due at `now`: the latest scheduled time
    /// in `(handled, now]`. Only ever one: a worker that was down for
    /// several periods sends one digest, not a backlog.
    pub fn due(&self, handled: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.last_at_or_before(now).filter(|p| *p > handled)
    }
}

/// Scheduled times are whole minutes; drop sub-seconds so they stay so.
fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(0).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn fires_exactly_at_the_local_time_across_a_dst_change() {
        // Mondays 09:00 in Berlin: 07:00 UTC in summer time (CEST), 08:00
        // UTC after the change on Sunday 2026-10-25 (CET).
        let s = Schedule::parse("0 9 * * MON", "Europe/Berlin").unwrap();
        let before = utc(2026, 10, 19, 6, 59);
        assert_eq!(s.next_after(before), Some(utc(2026, 10, 19, 7, 0)));
        assert_eq!(s.due(before - chrono::Duration::days(1), before), None);
        assert_eq!(
            s.due(before, utc(2026, 10, 19, 7, 0)),
            Some(utc(2026, 10, 19, 7, 0))
        );
        // After the DST change the same local time is an hour later in UTC.
        assert_eq!(
            s.next_after(utc(2026, 10, 19, 7, 0)),
            Some(utc(2026, 10, 26, 8, 0))
        );
        assert_eq!(
            s.due(utc(2026, 10, 19, 7, 0), utc(2026, 10, 26, 7, 59)),
            None
        );
        assert_eq!(
            s.due(utc(2026, 10, 19, 7, 0), utc(2026, 10, 26, 8, 0)),
            Some(utc(2026, 10, 26, 8, 0))
        );
        // And back to summer time in spring (2027-03-28).
        assert_eq!(
            s.next_after(utc(2027, 3, 23, 0, 0)),
            Some(utc(2027, 3, 29, 7, 0))
        );
        assert_eq!(
            s.next_after(utc(2027, 3, 16, 0, 0)),
            Some(utc(2027, 3, 22, 8, 0))
        );
        // Sub-seconds do not leak into scheduled times.
        let t = utc(2027, 3, 16, 0, 0) + chrono::Duration::milliseconds(385);
        assert_eq!(s.next_after(t), Some(utc(2027, 3, 22, 8, 0)));
    }

    #[test]
    fn a_missed_period_is_caught_up_once_never_a_backlog() {
        let s = Schedule::parse("0 9 * * MON", "UTC").unwrap();
        let handled = utc(2026, 11, 2, 9, 0);
        // Down for three weeks: only the latest period is due.
        let now = utc(2026, 11, 25, 12, 0);
        assert_eq!(s.due(handled, now), Some(utc(2026, 11, 23, 9, 0)));
        // Once handled, nothing more until the next Monday.
        assert_eq!(s.due(utc(2026, 11, 23, 9, 0), now), None);
        assert_eq!(
            s.due(utc(2026, 11, 23, 9, 0), utc(2026, 11, 30, 9, 0)),
            Some(utc(2026, 11, 30, 9, 0))
        );
    }

    #[test]
    fn bad_expressions_and_zones_name_their_key() {
        assert_eq!(Schedule::parse("0 9 * *", "UTC").unwrap_err().0, "schedule");
        assert_eq!(
            Schedule::parse("0 99 * * MON", "UTC").unwrap_err().0,
            "schedule"
        );
        assert_eq!(
            Schedule::parse("0 9 * * MON", "Mars/Olympus")
                .unwrap_err()
                .0,
            "timezone"
        );
    }
}
