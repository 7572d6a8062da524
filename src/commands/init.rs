//! `gazette init [DIR]`: a commented config, an example post and copies of
//! the built-in templates. Existing files are never overwritten.

use std::path::Path;

use crate::error::{Error, Result};
use crate::render::BUILTIN;

pub const CONFIG_TEMPLATE: &str = r#"# Gazette configuration. Environment variables override this file and
# command-line flags override both.

[newsletter]
# Shown in subjects, headers and page titles.
title = "My Newsletter"
# The sender. Use an address on a domain you control.
from = "My Newsletter <news@example.com>"
# Where replies go (optional).
# reply_to = "me@example.com"
# A post's link is {base_url}/{slug}/ unless its front matter sets `url`.
base_url = "https://example.com/blog"
# Where Gazette's own pages (confirm, unsubscribe) are reachable. Use https
# in production: one-click unsubscribe (RFC 8058) needs it.
public_url = "http://127.0.0.1:8080"
# Printed in every footer (CAN-SPAM requires a postal address).
postal_address = "My Newsletter, 1 Example Street, Springfield"
# Adds a mailto: to List-Unsubscribe (optional).
# unsubscribe_mailto = "unsubscribe@example.com"
# List-Id header; default: derived from the title and the sender's domain.
# list_id = "my-newsletter.example.com"
# language = "en"     # fixed sentences from templates/i18n/{language}.toml (en, de built in)

[database]
# Created and migrated on first use. Env: GAZETTE_DATABASE_URL
# PostgreSQL (several workers on several hosts): postgres://user@host/db
url = "sqlite://gazette.db"

[smtp]
# Unset: messages are written as .eml files to ./outbox/.
# A local catcher (Mailpit, MailHog, MailDev): smtp://localhost:1025
# STARTTLS: smtp://user@host:587?tls=required   Implicit TLS: smtps://user@host:465
# Env: GAZETTE_SMTP_URL; the password from GAZETTE_SMTP_PASSWORD.
# url = "smtp://localhost:1025"
# concurrency = 4        # parallel connections
# rate = 0               # messages per second, 0 = unlimited
# retry_delay = "30s"    # doubles with each attempt
# max_attempts = 5
# timeout = "30s"

[web]
# listen = "127.0.0.1:8080"
# subscribe_limit = 10   # subscribe requests per minute per IP, 0 = off
# trusted_proxies = []   # CIDR blocks of reverse proxies whose X-Forwarded-For is believed
# trust_proxy = false    # true: also trust a proxy on this host (127.0.0.0/8, ::1)
# admin_listen = "127.0.0.1:8081"  # /metrics; "" = off; GAZETTE_ADMIN_TOKEN required beyond loopback
# confirm_ttl = "7d"     # how long confirmation links work
# request_timeout = "10s"  # time a client has to send a request's headers and body
# min_fill_time = "3s"   # a subscribe form's token must be this old (faster: a bot)
# subscribe_pow = false  # true: the form's script proves a few hundred ms of work (needs JavaScript)
# confirm_interval = "10m"  # at most one confirmation email per address per this interval
# return_url = "https://example.com/blog/thanks/"  # where a form's reader lands (on the blog); default: Gazette's page

[digest]
# first_window_days = 7  # the first digest covers this many days
# schedule = "0 9 * * MON"   # when the worker sends the digest (five-field cron)
# timezone = "UTC"       # IANA name the schedule is read in, e.g. "Europe/Berlin"
# subject = "{{ newsletter.title }}: {{ count }} new posts"  # a Tera template (posts, count, window, newsletter)
# preheader = "{{ count }} new: {{ posts | map(attribute='title') | join(sep=', ') }}"  # inbox preview text; default: the titles

[render]
# code_theme = "InspiredGitHub"  # fenced code colours; also "Solarized (light)", "base16-ocean.light", dark ones

[publish]
# What the worker does with a new post: "digest" (wait for the next digest),
# "email" (send it as its own email) or "both".
# mode = "digest"       # also the default of readers who never chose on their preferences page
# The publish gate: the worker sends a new post once it has settled and its
# URL answers 200 (a digest leaves it out until then; the next one carries it).
# wait_until_live = true # default: true when the post URL is http(s); false: no URL check
# settle = "10m"         # wait after a post is first seen; a change to the file restarts it; "0s": none
# live_timeout = "6h"    # then report it and leave it for a hand-run `gazette send post SLUG`
# live_retry = "1m"      # how often the URL is checked while the post waits

[welcome]
# enabled = true         # one welcome email after a confirmation, once per person
# subject = "Welcome to {{ newsletter.title }}"

# Tags readers may choose on their preferences page, with labels.
[topics]
# rust = "Rust"

[archive]
# enabled = false        # /archive, /archive/{id}/{slug} and the Atom feed /feed.xml
# per_page = 20

[worker]
# poll_interval = "5s"   # how often posts/ is scanned besides file notifications
# grace = "10s"          # on SIGTERM, how long messages in flight may take
# unreachable_retry = "1m"  # retry a campaign paused on an unreachable server (doubles up to 1h)

# Send-time safety: past min_sample recipients tried, a campaign above a limit is paused.
[send]
# max_bounce_rate = "5%"        # hard bounces over recipients tried
# max_complaint_rate = "0.1%"   # complaints over recipients tried
# min_sample = 100
canary = 200             # first send to 200 random recipients (audiences of 2,000 or more), then wait
# canary_wait = "10m"    # for bounces and complaints before the rest is sent
# growth_warning = "20%" # send --dry-run warns when the audience grew more since the last campaign

# Click counts that track nobody: each link of a campaign's HTML part goes
# through public_url/c/{campaign}/{link}, the same URL for every reader;
# only a count per campaign and link is kept. Opens are never tracked.
[tracking]
# clicks = false

# Sign every message with DKIM (optional; uncomment the section to enable).
# [dkim]
# domain = "example.com"
# selector = "news2026"
# private_key_path = "dkim.key"  # RSA: PKCS#1 PEM; Ed25519: base64 of the 32-byte seed
# algorithm = "rsa"      # or "ed25519"; default: from the key file

[paths]
# Relative to this file.
# posts = "posts"
# templates = "templates"
# outbox = "outbox"
# max_post_size = "5MB"  # larger post files are refused
# max_email_size = "2MB" # a larger rendered email is refused; past 102 KB Gmail clips it

# Posts from a blog's feed (RSS, Atom or JSON Feed), besides posts/ (optional).
# [source]
# feed = "https://example.com/index.xml"  # or GAZETTE_FEED_URL; also file:// or a path
# timeout = "30s"        # the whole fetch
# max_size = "10MB"      # a larger feed is refused
# poll = "15m"           # how often the worker fetches it (at least 1s)

# Bounces and complaints (optional; uncomment to enable VERP and the mailbox).
# [bounces]
# address = "bounces@example.com"  # envelope sender bounces+{id}@example.com
# soft_limit = 3         # soft bounces within soft_window that stop mail to an address
# soft_window = "30d"
# imap_url = "imaps://user@mail.example.com/INBOX"  # password: GAZETTE_BOUNCES_PASSWORD
#                        # imap:// needs ?tls=required (STARTTLS), unless loopback or ?insecure_auth=true
# allow_unverified_mailbox = false  # true: imap_url without address (no VERP check), warned at start
# poll = "5m"
# processed_folder = "Gazette/Processed"
# blocked_alert = "5%"   # blocked replies at one recipient domain that pause a campaign
"#;

pub const EXAMPLE_POST: &str = r#"+++
title = "Hello, subscribers"
date = 2026-01-01
summary = "The first post of this newsletter: what it is about and how often it arrives."
tags = ["meta"]
+++

This is an example post. Write posts as Markdown files in `posts/`, with
front matter in TOML (between `+++` lines) or YAML (between `---` lines).

<!-- more -->

Run `gazette posts list` to see every post, and `gazette preview post
hello-subscribers` to see this one as an email.
"#;

pub fn run(dir: Option<&Path>) -> Result<()> {
    let dir = dir.unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut files: Vec<(String, &str)> = vec![
        ("gazette.toml".into(), CONFIG_TEMPLATE),
        ("posts/hello-subscribers.md".into(), EXAMPLE_POST),
    ];
    for (name, src) in BUILTIN {
        files.push((format!("templates/{name}"), src));
    }
    for (rel, content) in files {
        let path = dir.join(&rel);
        if path.exists() {
            eprintln!("kept     {} (exists)", path.display());
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        crate::util::fs::write_atomic(&path, content.as_bytes())
            .map_err(|e| Error::io(&path, e))?;
        eprintln!("created  {}", path.display());
    }
    Ok(())
}
