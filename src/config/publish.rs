//! `[publish]`: how new posts go out (`mode`) and the publish gate they
//! pass first (`settle`, `wait_until_live`, `live_timeout`, `live_retry`).

use std::time::Duration;

use super::keys::Locator;
use super::raw::RawPublish;
use super::PublishMode;
use crate::error::Result;

const DAY: u64 = 86400;

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub(super) fn mode(loc: &Locator<'_>, p: RawPublish) -> Result<PublishMode> {
    match p.mode.as_deref().unwrap_or("digest") {
        "digest" => Ok(PublishMode::Digest),
        "email" => Ok(PublishMode::Email),
        "both" => Ok(PublishMode::Both),
        other => Err(loc.at(
            "publish",
            "mode",
            format!("{other:?} is not one of \"digest\", \"email\", \"both\""),
        )),
    }
}

pub(super) fn gate(loc: &Locator<'_>, p: &RawPublish) -> Result<super::PublishGate> {
    let d = |key: &str, v: &Option<String>, default: &str, min: Duration| {
        loc.duration("publish", key, v.as_deref(), default, (min, secs(30 * DAY)))
    };
    Ok(super::PublishGate {
        wait_until_live: p.wait_until_live,
        settle: d("settle", &p.settle, "10m", ms(0))?,
        live_timeout: d("live_timeout", &p.live_timeout, "6h", ms(0))?,
        live_retry: d("live_retry", &p.live_retry, "1m", ms(100))?,
    })
}
