//! The `[send]` section of gazette.toml (send-time safety: the circuit
//! breaker's limits and the canary), with `[bounces] blocked_alert`.

use std::time::Duration;

use serde::Deserialize;

use crate::util::time::parse_duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSend {
    max_bounce_rate: Option<String>,
    max_complaint_rate: Option<String>,
    min_sample: Option<u64>,
    canary: Option<u64>,
    canary_wait: Option<String>,
    growth_warning: Option<String>,
}

/// The limits a campaign is held to as it runs (fractions, 0.05 = 5 %).
#[derive(Debug, Clone, PartialEq)]
pub struct SendSafety {
    /// Hard bounces over recipients tried.
    pub max_bounce_rate: f64,
    /// Complaints over recipients tried.
    pub max_complaint_rate: f64,
    /// Blocked replies over attempts at one recipient domain.
    pub blocked_alert: f64,
    /// The limits hold once this many recipients were tried.
    pub min_sample: u64,
    /// Recipients of the canary (0: none).
    pub canary: u64,
    /// How long the canary's replies are awaited.
    pub canary_wait: Duration,
    /// `send --dry-run` warns when the audience grew by more than this
    /// since the last campaign that reached it.
    pub growth_warning: f64,
    /// `false`: a person resumed with `--force`; the limits do not stop
    /// this run.
    pub enforced: bool,
}

impl Default for SendSafety {
    fn default() -> Self {
        SendSafety {
            max_bounce_rate: 0.05,
            max_complaint_rate: 0.001,
            blocked_alert: 0.05,
            min_sample: 100,
            canary: 0,
            canary_wait: Duration::from_secs(600),
            growth_warning: 0.2,
            enforced: true,
        }
    }
}

impl SendSafety {
    /// The limits lifted (a run a person resumed with `--force` after the
    /// breaker paused it).
    pub fn off(self) -> Self {
        SendSafety {
            enforced: false,
            ..self
        }
    }
}

/// A percentage: "5%", "0.1%" (0 to 100).
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let bad = || format!("{s:?} is not a percentage like \"5%\" or \"0.1%\"");
    let n: f64 = s
        .trim()
        .strip_suffix('%')
        .ok_or_else(bad)?
        .trim()
        .parse()
        .map_err(|_| bad())?;
    if !(0.0..=100.0).contains(&n) || !n.is_finite() {
        return Err(format!("{s:?} must be between 0% and 100%"));
    }
    Ok(n / 100.0)
}

/// A growth: a percentage, which may be above 100 % ("250%").
fn parse_growth(s: &str) -> Result<f64, String> {
    let n: f64 = s
        .trim()
        .strip_suffix('%')
        .and_then(|n| n.trim().parse().ok())
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| format!("{s:?} is not a percentage like \"20%\""))?;
    Ok(n / 100.0)
}

/// Validate the section. Errors are `(section, key, message)`.
pub(super) fn resolve(
    raw: RawSend,
    blocked_alert: Option<String>,
) -> Result<SendSafety, (&'static str, &'static str, String)> {
    let d = SendSafety::default();
    let pct = |section, key, v: Option<String>, default| match v {
        None => Ok(default),
        Some(s) => parse_percent(&s).map_err(|m| (section, key, m)),
    };
    let canary_wait = match raw.canary_wait {
        None => d.canary_wait,
        Some(s) => parse_duration(&s).map_err(|m| ("send", "canary_wait", m))?,
    };
    if canary_wait > Duration::from_secs(7 * 86_400) {
        return Err(("send", "canary_wait", "must be at most 7d".into()));
    }
    Ok(SendSafety {
        max_bounce_rate: pct(
            "send",
            "max_bounce_rate",
            raw.max_bounce_rate,
            d.max_bounce_rate,
        )?,
        max_complaint_rate: pct(
            "send",
            "max_complaint_rate",
            raw.max_complaint_rate,
            d.max_complaint_rate,
        )?,
        blocked_alert: pct("bounces", "blocked_alert", blocked_alert, d.blocked_alert)?,
        min_sample: raw.min_sample.unwrap_or(d.min_sample).max(1),
        canary: raw.canary.unwrap_or(d.canary),
        canary_wait,
        growth_warning: match raw.growth_warning {
            None => d.growth_warning,
            Some(s) => parse_growth(&s).map_err(|m| ("send", "growth_warning", m))?,
        },
        enforced: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages() {
        assert_eq!(parse_percent("5%"), Ok(0.05));
        assert_eq!(parse_percent(" 0.1 %"), Ok(0.001));
        assert!(parse_percent("5").is_err());
        assert!(parse_percent("150%").is_err());
        assert!(parse_percent("-1%").is_err());
        assert!(parse_percent("NaN%").is_err());
    }

    #[test]
    fn defaults_and_errors_name_the_key() {
        let s = resolve(RawSend::default(), None).unwrap();
        assert_eq!(s, SendSafety::default());
        let e = resolve(RawSend::default(), Some("x".into())).unwrap_err();
        assert_eq!((e.0, e.1), ("bounces", "blocked_alert"));
    }
}
