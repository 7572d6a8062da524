//! Configuration: `gazette.toml` + `GAZETTE_*` environment + flags, layered
//! (flags > environment > file > defaults) and validated once into `Settings`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::Mailbox;
use serde::Deserialize;

use crate::error::{Error, Result};

pub const CONFIG_FILE: &str = "gazette.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    newsletter: RawNewsletter,
    #[serde(default)]
    database: RawDatabase,
    #[serde(default)]
    smtp: RawSmtp,
    #[serde(default)]
    web: RawWeb,
    #[serde(default)]
    digest: RawDigest,
    #[serde(default)]
    paths: RawPaths,
    #[serde(default)]
    publish: RawPublish,
    dkim: Option<RawDkim>,
    #[serde(default)]
    worker: RawWorker,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDkim {
    domain: Option<String>,
    selector: Option<String>,
    private_key_path: Option<String>,
    /// "rsa" (PKCS#1 PEM) or "ed25519" (base64 of the 32-byte seed);
    /// default: from the key file.
    algorithm: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPublish {
    mode: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorker {
    poll_interval: Option<String>,
    grace: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNewsletter {
    title: Option<String>,
    from: Option<String>,
    reply_to: Option<String>,
    base_url: Option<String>,
    public_url: Option<String>,
    postal_address: Option<String>,
    unsubscribe_mailto: Option<String>,
    list_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    url: Option<String>,
    concurrency: Option<u32>,
    rate: Option<f64>,
    retry_delay: Option<String>,
    max_attempts: Option<u32>,
    timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWeb {
    listen: Option<String>,
    subscribe_limit: Option<u32>,
    trust_proxy: Option<bool>,
    trusted_proxies: Option<Vec<String>>,
    admin_listen: Option<String>,
    confirm_ttl: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDigest {
    first_window_days: Option<u32>,
    schedule: Option<String>,
    timezone: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPaths {
    posts: Option<String>,
    templates: Option<String>,
    outbox: Option<String>,
}

/// Fully validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file the settings came from.
    pub config_path: PathBuf,
    /// Directory that relative paths are resolved against.
    pub root: PathBuf,
    pub newsletter: Newsletter,
    pub database_url: String,
    pub smtp: Smtp,
    pub web: Web,
    pub digest: Digest,
    pub publish: PublishMode,
    pub worker: WorkerSettings,
    pub posts_dir: PathBuf,
    pub templates_dir: PathBuf,
    pub outbox_dir: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Newsletter {
    pub title: String,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    /// Without a trailing slash.
    pub base_url: String,
    /// Without a trailing slash.
    pub public_url: String,
    pub postal_address: String,
    pub unsubscribe_mailto: Option<String>,
    pub list_id: String,
    /// DKIM signing of every message, when `[dkim]` is configured.
    pub dkim: Option<std::sync::Arc<lettre::message::dkim::DkimConfig>>,
}

#[derive(Debug, Clone)]
pub struct Smtp {
    /// `None`: write `.eml` files to the outbox folder.
    pub url: Option<String>,
    pub password: Option<String>,
    pub concurrency: u32,
    /// Messages per second; `None` is unlimited.
    pub rate: Option<f64>,
    pub retry_delay: Duration,
    pub max_attempts: u32,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Web {
    pub listen: String,
    pub subscribe_limit: u32,
    /// `trust_proxy = true`: an alias for trusting loopback proxies (it
    /// adds them to `trusted_proxies`).
    pub trust_proxy: bool,
    /// Peers whose `X-Forwarded-For` is believed (`trusted_proxies`).
    pub trusted_proxies: Vec<crate::web::proxies::Cidr>,
    /// The operators' listener (`/metrics`); `None` when set to "".
    pub admin_listen: Option<String>,
    /// `GAZETTE_ADMIN_TOKEN`: the bearer token of the admin listener.
    pub admin_token: Option<crate::web::admin::AdminToken>,
    pub confirm_ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct Digest {
    pub first_window_days: u32,
    /// When the worker sends the digest.
    pub schedule: crate::schedule::Schedule,
}

/// What the worker does when a post is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishMode {
    /// The post waits for the next digest.
    Digest,
    /// Each new post is sent as its own campaign.
    Email,
    Both,
}

impl PublishMode {
    pub fn emails_posts(self) -> bool {
        matches!(self, PublishMode::Email | PublishMode::Both)
    }
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// How often the posts folder is scanned (besides file notifications).
    pub poll_interval: Duration,
    /// How long messages in flight may take to finish on SIGTERM.
    pub grace: Duration,
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub database_url: Option<String>,
    pub smtp_url: Option<String>,
}

/// Where the configuration is read from.
pub fn resolve_config_path(flag: Option<&Path>, env: &HashMap<String, String>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(p) = env.get("GAZETTE_CONFIG").filter(|s| !s.is_empty()) {
        return PathBuf::from(p);
    }
    PathBuf::from(CONFIG_FILE)
}

/// The process environment as a map (the only place env vars are read).
pub fn process_env() -> HashMap<String, String> {
    std::env::vars().collect()
}

/// Load and validate settings from `path`, the environment and overrides.
pub fn load(path: &Path, env: &HashMap<String, String>, flags: &Overrides) -> Result<Settings> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::file(
                path,
                "configuration file not found (run `gazette init` to create one, or pass --config PATH)",
            ))
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    let raw: RawConfig = toml::from_str(&text).map_err(|e| toml_error(path, &text, &e))?;
    validate(path, &text, raw, env, flags)
}

/// Turn a TOML error into `path:line: message`.
pub fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> Error {
    let line = e.span().map(|s| line_of_offset(text, s.start)).unwrap_or(1);
    Error::at(path, line, e.message().trim().to_string())
}

/// 1-based line number of a byte offset.
pub fn line_of_offset(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Line of `key = ` inside `[section]` in a TOML text (1 when not found).
fn key_line(text: &str, section: &str, key: &str) -> usize {
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            current = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            if current == section && key.is_empty() {
                return i + 1;
            }
            continue;
        }
        if current == section {
            if let Some(rest) = t.strip_prefix(key) {
                if rest.trim_start().starts_with('=') {
                    return i + 1;
                }
            }
        }
    }
    1
}

fn validate(
    path: &Path,
    text: &str,
    raw: RawConfig,
    env: &HashMap<String, String>,
    flags: &Overrides,
) -> Result<Settings> {
    let at = |section: &str, key: &str, msg: String| {
        Error::at(
            path,
            key_line(text, section, key),
            format!("{section}.{key}: {msg}"),
        )
    };
    let missing = |key: &str| {
        Error::at(
            path,
            key_line(text, "newsletter", ""),
            format!("newsletter.{key}: missing (required)"),
        )
    };
    let env_get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();

    let n = raw.newsletter;
    let title = n.title.ok_or_else(|| missing("title"))?;
    let title = crate::render::headers::clean_header_text(&title);
    if title.is_empty() {
        return Err(at("newsletter", "title", "must not be empty".into()));
    }
    let from_s = n.from.ok_or_else(|| missing("from"))?;
    let from: Mailbox = parse_mailbox(&from_s).map_err(|m| at("newsletter", "from", m))?;
    let reply_to = match n.reply_to.filter(|s| !s.trim().is_empty()) {
        Some(s) => Some(parse_mailbox(&s).map_err(|m| at("newsletter", "reply_to", m))?),
        None => None,
    };
    let base_url = n.base_url.ok_or_else(|| missing("base_url"))?;
    let base_url = check_http_url(&base_url).map_err(|m| at("newsletter", "base_url", m))?;
    let public_url = n
        .public_url
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_string());
    let public_url = check_http_url(&public_url).map_err(|m| at("newsletter", "public_url", m))?;
    let postal_address = n.postal_address.ok_or_else(|| missing("postal_address"))?;
    if postal_address.trim().is_empty() {
        return Err(at(
            "newsletter",
            "postal_address",
            "must not be empty (CAN-SPAM requires a postal address in every email)".into(),
        ));
    }
    let unsubscribe_mailto = n.unsubscribe_mailto.filter(|s| !s.trim().is_empty());
    if let Some(m) = &unsubscribe_mailto {
        parse_mailbox(m).map_err(|e| at("newsletter", "unsubscribe_mailto", e))?;
    }
    let list_id = match n.list_id {
        Some(l) => {
            if l.is_empty()
                || !l
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
            {
                return Err(at(
                    "newsletter",
                    "list_id",
                    "must be a dotted name of letters, digits and '-'".into(),
                ));
            }
            l
        }
        None => default_list_id(&title, from.email.domain()),
    };

    let database_url = flags
        .database_url
        .clone()
        .or_else(|| env_get("GAZETTE_DATABASE_URL"))
        .or(raw.database.url)
        .unwrap_or_else(|| "sqlite://gazette.db".to_string());
    if !database_url.starts_with("sqlite:") {
        return Err(at(
            "database",
            "url",
            format!("unsupported database URL {database_url:?} (only sqlite: is supported so far)"),
        ));
    }

    let root = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let database_url = resolve_sqlite_url(&database_url, &root);

    let s = raw.smtp;
    let smtp_url = flags
        .smtp_url
        .clone()
        .or_else(|| env_get("GAZETTE_SMTP_URL"))
        .or(s.url)
        .filter(|u| !u.trim().is_empty());
    if let Some(u) = &smtp_url {
        if !(u.starts_with("smtp://") || u.starts_with("smtps://")) {
            return Err(at(
                "smtp",
                "url",
                format!("{u:?} is not an smtp:// or smtps:// URL"),
            ));
        }
        check_smtp_auth(u, env_get("GAZETTE_SMTP_PASSWORD").is_some())
            .map_err(|m| at("smtp", "url", m))?;
    }
    let concurrency = s.concurrency.unwrap_or(4);
    if concurrency == 0 {
        return Err(at("smtp", "concurrency", "must be at least 1".into()));
    }
    let rate = match s.rate {
        Some(r) if r < 0.0 || !r.is_finite() => {
            return Err(at("smtp", "rate", "must be a positive number".into()))
        }
        Some(0.0) => None,
        other => other,
    };
    let retry_delay = parse_duration(s.retry_delay.as_deref().unwrap_or("30s"))
        .map_err(|m| at("smtp", "retry_delay", m))?;
    let timeout = parse_duration(s.timeout.as_deref().unwrap_or("30s"))
        .map_err(|m| at("smtp", "timeout", m))?;
    let max_attempts = s.max_attempts.unwrap_or(5).max(1);

    let w = raw.web;
    let confirm_ttl = parse_duration(w.confirm_ttl.as_deref().unwrap_or("7d"))
        .map_err(|m| at("web", "confirm_ttl", m))?;
    let trust_proxy = w.trust_proxy.unwrap_or(false);
    let trusted_proxies = crate::web::proxies::parse_list(
        w.trusted_proxies.as_deref().unwrap_or_default(),
        trust_proxy,
    )
    .map_err(|m| at("web", "trusted_proxies", m))?;
    let admin_listen = env_get("GAZETTE_ADMIN_LISTEN")
        .or(w.admin_listen)
        .unwrap_or_else(|| "127.0.0.1:8081".to_string());

    let schedule = crate::schedule::Schedule::parse(
        raw.digest.schedule.as_deref().unwrap_or("0 9 * * MON"),
        raw.digest.timezone.as_deref().unwrap_or("UTC"),
    )
    .map_err(|(key, m)| at("digest", key, m))?;
    let publish = match raw.publish.mode.as_deref().unwrap_or("digest") {
        "digest" => PublishMode::Digest,
        "email" => PublishMode::Email,
        "both" => PublishMode::Both,
        other => {
            return Err(at(
                "publish",
                "mode",
                format!("{other:?} is not one of \"digest\", \"email\", \"both\""),
            ))
        }
    };
    let poll_interval = parse_duration(raw.worker.poll_interval.as_deref().unwrap_or("5s"))
        .map_err(|m| at("worker", "poll_interval", m))?
        .max(std::time::Duration::from_millis(100));
    let grace = parse_duration(raw.worker.grace.as_deref().unwrap_or("10s"))
        .map_err(|m| at("worker", "grace", m))?;

    let root_for_key = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let dkim = match raw.dkim {
        None => None,
        Some(d) => Some(std::sync::Arc::new(dkim_config(d, &root_for_key, &at)?)),
    };

    let p = raw.paths;
    let join = |p: Option<String>, d: &str| root.join(p.unwrap_or_else(|| d.to_string()));

    Ok(Settings {
        config_path: path.to_path_buf(),
        newsletter: Newsletter {
            title,
            from,
            reply_to,
            base_url,
            public_url,
            postal_address: postal_address.trim().to_string(),
            unsubscribe_mailto,
            list_id,
            dkim,
        },
        database_url,
        smtp: Smtp {
            url: smtp_url,
            password: env_get("GAZETTE_SMTP_PASSWORD"),
            concurrency,
            rate,
            retry_delay,
            max_attempts,
            timeout,
        },
        web: Web {
            listen: w.listen.unwrap_or_else(|| "127.0.0.1:8080".to_string()),
            subscribe_limit: w.subscribe_limit.unwrap_or(10),
            trust_proxy,
            trusted_proxies,
            admin_listen: Some(admin_listen).filter(|a| !a.trim().is_empty()),
            admin_token: env_get("GAZETTE_ADMIN_TOKEN").map(crate::web::admin::AdminToken::new),
            confirm_ttl,
        },
        digest: Digest {
            first_window_days: raw.digest.first_window_days.unwrap_or(7),
            schedule,
        },
        publish,
        worker: WorkerSettings {
            poll_interval,
            grace,
        },
        posts_dir: join(p.posts, "posts"),
        templates_dir: join(p.templates, "templates"),
        outbox_dir: join(p.outbox, "outbox"),
        root,
    })
}

/// Headers every DKIM signature covers (absent ones are signed as absent,
/// so they cannot be added later). Not Content-Type: lettre writes the
/// multipart's Content-Type after signing, so its hash would not cover it
/// while a verifier's would (the MailDev suite verifies signatures).
const DKIM_HEADERS: &[&str] = &[
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "MIME-Version",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Id",
];

fn dkim_config(
    d: RawDkim,
    root: &Path,
    at: &dyn Fn(&str, &str, String) -> Error,
) -> Result<lettre::message::dkim::DkimConfig> {
    use lettre::message::dkim::{
        DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
        DkimSigningKey,
    };
    use lettre::message::header::HeaderName;
    let need = |v: Option<String>, key: &str| {
        v.filter(|s| !s.trim().is_empty()).ok_or_else(|| {
            at(
                "dkim",
                key,
                "missing (required when [dkim] is present)".into(),
            )
        })
    };
    let domain = need(d.domain, "domain")?;
    let selector = need(d.selector, "selector")?;
    let key_path = root.join(need(d.private_key_path, "private_key_path")?);
    let key = std::fs::read_to_string(&key_path).map_err(|e| Error::io(&key_path, e))?;
    let algorithm = match d.algorithm.as_deref() {
        Some("rsa") => DkimSigningAlgorithm::Rsa,
        Some("ed25519") => DkimSigningAlgorithm::Ed25519,
        Some(other) => {
            return Err(at(
                "dkim",
                "algorithm",
                format!("{other:?} is not \"rsa\" or \"ed25519\""),
            ))
        }
        None if key.contains("-----BEGIN") => DkimSigningAlgorithm::Rsa,
        None => DkimSigningAlgorithm::Ed25519,
    };
    let signing = DkimSigningKey::new(key.trim(), algorithm).map_err(|e| {
        Error::file(
            &key_path,
            format!("not a usable DKIM key ({e}): RSA keys must be PKCS#1 PEM (BEGIN RSA PRIVATE KEY), Ed25519 keys the base64 of the 32-byte seed"),
        )
    })?;
    Ok(DkimConfig::new(
        selector,
        domain,
        signing,
        DKIM_HEADERS
            .iter()
            .map(|h| HeaderName::new_from_ascii_str(h))
            .collect(),
        DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        },
    ))
}

fn parse_mailbox(s: &str) -> std::result::Result<Mailbox, String> {
    if s.contains(['\r', '\n']) {
        return Err("must be on one line".into());
    }
    s.trim()
        .parse::<Mailbox>()
        .map_err(|_| format!("{s:?} is not a valid address (expected \"Name <user@example.com>\")"))
}

fn check_http_url(s: &str) -> std::result::Result<String, String> {
    let u = url::Url::parse(s.trim()).map_err(|e| format!("{s:?} is not a valid URL ({e})"))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(format!("{s:?} must start with http:// or https://"));
    }
    Ok(s.trim().trim_end_matches('/').to_string())
}

fn default_list_id(title: &str, domain: &str) -> String {
    let slug = crate::content::slugify(title);
    let slug = if slug.is_empty() {
        "newsletter".into()
    } else {
        slug
    };
    let slug: String = slug
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{slug}.{domain}")
}

/// `sqlite://rel.db` is resolved against the config directory, so the CLI and
/// the worker started elsewhere find the same file.
fn resolve_sqlite_url(url: &str, root: &Path) -> String {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if rest.starts_with('/') || rest.starts_with(":memory:") || root == Path::new(".") {
        return url.to_string();
    }
    format!("sqlite://{}", root.join(rest).display())
}

/// `30s`, `10m`, `2h`, `7d`, or a plain number of seconds.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 30s, 10m, 2h, 7d)"))?;
    let per = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("{s:?} is not a duration (e.g. 30s, 10m, 2h, 7d)")),
    };
    // Found by fuzzing: a huge number of days overflowed (a panic).
    n.checked_mul(per)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is too long a duration"))
}

/// AUTH never goes over a plain connection: credentials (a user name in the
/// URL) need `smtps://` or `?tls=required`, unless the host is loopback or
/// the URL says `insecure_auth=true`. The password comes only from
/// `GAZETTE_SMTP_PASSWORD`, never from the URL (which lands in files,
/// shell histories and process lists).
fn check_smtp_auth(raw: &str, password_in_env: bool) -> std::result::Result<(), String> {
    let u = url::Url::parse(raw).map_err(|e| format!("not a valid URL ({e})"))?;
    if u.password().is_some() {
        return Err(
            "a password in the URL is not accepted: use smtp://USER@host and set GAZETTE_SMTP_PASSWORD"
                .into(),
        );
    }
    if u.username().is_empty() && !password_in_env {
        return Ok(());
    }
    let query = |k: &str| {
        u.query_pairs()
            .find(|(q, _)| q == k)
            .map(|(_, v)| v.into_owned())
    };
    let insecure = match query("insecure_auth").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(format!("insecure_auth={other} (expected true or false)")),
    };
    let tls = u.scheme() == "smtps" || query("tls").as_deref() == Some("required");
    let loopback = match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        // smtp:// is not a "special" scheme: the url crate leaves IPv4
        // hosts as text.
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost")
                || d.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        None => false,
    };
    if tls || loopback || insecure {
        return Ok(());
    }
    let host = u.host_str().unwrap_or("");
    Err(format!(
        "credentials would be sent in clear to {host}: use smtps:// or ?tls=required \
         (or ?insecure_auth=true if you accept that)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[newsletter]
title = "Notes"
from = "Ann <news@example.com>"
base_url = "https://example.com/blog/"
postal_address = "1 Main St"
"#;

    fn load_str(text: &str, env: &[(&str, &str)], flags: Overrides) -> Result<Settings> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gazette.toml");
        std::fs::write(&path, text).unwrap();
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load(&path, &env, &flags)
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let s = load_str(MINIMAL, &[], Overrides::default()).unwrap();
        assert_eq!(s.newsletter.base_url, "https://example.com/blog");
        assert_eq!(s.newsletter.public_url, "http://127.0.0.1:8080");
        assert!(s.database_url.ends_with("gazette.db"));
        assert!(s.smtp.url.is_none());
        assert_eq!(s.smtp.concurrency, 4);
        assert_eq!(s.newsletter.list_id, "notes.example.com");
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let text = format!("{MINIMAL}\n[smtp]\nurl = \"smtp://file:25\"\n");
        let s = load_str(&text, &[], Overrides::default()).unwrap();
        assert_eq!(s.smtp.url.as_deref(), Some("smtp://file:25"));
        let s = load_str(
            &text,
            &[("GAZETTE_SMTP_URL", "smtp://env:25")],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(s.smtp.url.as_deref(), Some("smtp://env:25"));
        let flags = Overrides {
            smtp_url: Some("smtp://flag:25".into()),
            ..Default::default()
        };
        let s = load_str(&text, &[("GAZETTE_SMTP_URL", "smtp://env:25")], flags).unwrap();
        assert_eq!(s.smtp.url.as_deref(), Some("smtp://flag:25"));
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let text = format!("{MINIMAL}\n[smtp]\nurll = \"x\"\n");
        let e = load_str(&text, &[], Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("gazette.toml:9:"), "{e}");
        assert!(e.contains("urll"), "{e}");
    }

    #[test]
    fn invalid_value_names_line_and_key() {
        let text = MINIMAL.replace("Ann <news@example.com>", "not an address");
        let e = load_str(&text, &[], Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("gazette.toml:4: newsletter.from:"), "{e}");
    }

    #[test]
    fn missing_required_key() {
        let text = MINIMAL.replace("title = \"Notes\"\n", "");
        let e = load_str(&text, &[], Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("newsletter.title: missing"), "{e}");
    }

    #[test]
    fn missing_file_is_clear() {
        let e = load(
            Path::new("/nonexistent/gazette.toml"),
            &HashMap::new(),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("/nonexistent/gazette.toml: configuration file not found"),
            "{e}"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86400)
        );
        assert_eq!(parse_duration("15").unwrap(), Duration::from_secs(15));
        assert!(parse_duration("soon").is_err());
    }
}
