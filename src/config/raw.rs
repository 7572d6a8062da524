//! The configuration file as written: serde structs with every key optional
//! and unknown keys refused. `validate` turns them into `Settings`.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub newsletter: RawNewsletter,
    #[serde(default)]
    pub database: RawDatabase,
    #[serde(default)]
    pub smtp: RawSmtp,
    #[serde(default)]
    pub web: RawWeb,
    #[serde(default)]
    pub digest: RawDigest,
    #[serde(default)]
    pub paths: RawPaths,
    #[serde(default)]
    pub publish: RawPublish,
    pub dkim: Option<RawDkim>,
    #[serde(default)]
    pub worker: RawWorker,
    #[serde(default)]
    pub bounces: super::bounces::RawBounces,
    #[serde(default)]
    pub welcome: super::readers::RawWelcome,
    #[serde(default)]
    pub topics: toml::Table,
    #[serde(default)]
    pub archive: super::readers::RawArchive,
    #[serde(default)]
    pub render: RawRender,
    #[serde(default)]
    pub source: super::source::RawSource,
    #[serde(default)]
    pub send: super::send::RawSend,
    #[serde(default)]
    pub tracking: RawTracking,
}

/// `[tracking]`: what is counted (issue 31; opens never are).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTracking {
    pub clicks: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRender {
    pub code_theme: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDkim {
    pub domain: Option<String>,
    pub selector: Option<String>,
    pub private_key_path: Option<String>,
    /// "rsa" (PKCS#1 PEM) or "ed25519" (base64 of the 32-byte seed);
    /// default: from the key file.
    pub algorithm: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPublish {
    pub mode: Option<String>,
    /// The publish gate: a new post goes out once its URL answers 200.
    pub wait_until_live: Option<bool>,
    pub settle: Option<String>,
    pub live_timeout: Option<String>,
    pub live_retry: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorker {
    pub poll_interval: Option<String>,
    pub grace: Option<String>,
    pub unreachable_retry: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNewsletter {
    pub title: Option<String>,
    pub from: Option<String>,
    pub reply_to: Option<String>,
    pub base_url: Option<String>,
    pub public_url: Option<String>,
    pub postal_address: Option<String>,
    pub unsubscribe_mailto: Option<String>,
    pub list_id: Option<String>,
    pub language: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDatabase {
    pub url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSmtp {
    pub url: Option<String>,
    pub concurrency: Option<u32>,
    pub rate: Option<f64>,
    pub retry_delay: Option<String>,
    pub max_attempts: Option<u32>,
    pub timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWeb {
    pub listen: Option<String>,
    pub subscribe_limit: Option<u32>,
    pub trust_proxy: Option<bool>,
    pub trusted_proxies: Option<Vec<String>>,
    pub admin_listen: Option<String>,
    pub confirm_ttl: Option<String>,
    pub request_timeout: Option<String>,
    pub min_fill_time: Option<String>,
    pub subscribe_pow: Option<bool>,
    pub confirm_interval: Option<String>,
    pub return_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDigest {
    pub first_window_days: Option<u32>,
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub subject: Option<String>,
    pub preheader: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPaths {
    pub posts: Option<String>,
    pub templates: Option<String>,
    pub outbox: Option<String>,
    pub max_post_size: Option<super::keys::RawSize>,
    pub max_email_size: Option<super::keys::RawSize>,
}
