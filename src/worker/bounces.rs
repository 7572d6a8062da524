//! The bounce mailbox: with `[bounces] imap_url`, the worker logs in every
//! `poll` (password from GAZETTE_BOUNCES_PASSWORD), reads the unseen
//! messages of the folder, records them like `gazette bounces process`, and
//! moves each processed message to `processed_folder` (or, when the server
//! cannot move it, marks it seen). The password is sent over TLS only
//! (`imaps://`, or STARTTLS with `?tls=required`), unless the URL allows
//! it in clear (loopback, `?insecure_auth=true`: checked with the
//! settings). A message larger than `MAX_MESSAGE` is left where it is.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::bounce::source::MAX_MESSAGE;
use crate::config::{ImapTls, Settings};
use crate::error::{Error, Result};
use crate::store::Store;

/// Where and how to log in.
#[derive(Clone)]
struct Mailbox {
    tls: ImapTls,
    host: String,
    port: u16,
    user: String,
    password: String,
    folder: String,
    processed: String,
    display: String,
}

/// Every IMAP exchange of one poll must finish within this.
const SESSION_TIMEOUT: Duration = Duration::from_secs(60);

fn mailbox(settings: &Settings) -> Result<Option<Mailbox>> {
    let b = &settings.bounces;
    let Some(url) = &b.imap_url else {
        return Ok(None);
    };
    let u = url::Url::parse(url)
        .map_err(|e| Error::msg(format!("bounces.imap_url: not a valid URL ({e})")))?;
    // Shown without any password it may carry.
    let mut shown = u.clone();
    let _ = shown.set_password(None);
    let bad = |m: &str| Error::msg(format!("bounces.imap_url {shown}: {m}"));
    if u.password().is_some() {
        return Err(bad(
            "put the password in GAZETTE_BOUNCES_PASSWORD, not in the URL",
        ));
    }
    let user = crate::util::net::percent_decode(u.username());
    if user.is_empty() {
        return Err(bad("no user name (imaps://USER@host/INBOX)"));
    }
    let password = b
        .imap_password
        .clone()
        .ok_or_else(|| bad("GAZETTE_BOUNCES_PASSWORD is not set"))?;
    let tls = b.imap_tls;
    let folder = u.path().trim_start_matches('/');
    let mut display = u.clone();
    let _ = display.set_password(None);
    Ok(Some(Mailbox {
        tls,
        host: u.host_str().unwrap_or_default().to_string(),
        port: u
            .port()
            .unwrap_or(if tls == ImapTls::Implicit { 993 } else { 143 }),
        user,
        password,
        folder: if folder.is_empty() {
            "INBOX".into()
        } else {
            folder.to_string()
        },
        processed: b.processed_folder.clone(),
        display: display.to_string(),
    }))
}

/// Start polling the bounce mailbox, if one is configured; the task ends
/// when `stop` turns true.
pub fn spawn(
    settings: Arc<Settings>,
    store: Store,
    mut stop: watch::Receiver<bool>,
) -> Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(mb) = mailbox(&settings)? else {
        return Ok(None);
    };
    tracing::info!(
        "bounce mailbox {} polled every {:?}",
        mb.display,
        settings.bounces.poll
    );
    if settings.bounces.policy.address.is_none() {
        // Only with allow_unverified_mailbox = true (checked with the
        // settings): said at every start.
        tracing::warn!(
            "bounce mailbox {} without [bounces] address (allow_unverified_mailbox = true): \
             with no VERP address to check, anyone who can mail it can bounce any subscriber",
            mb.display
        );
    }
    Ok(Some(tokio::spawn(async move {
        // Messages skipped as too large, reported once per run.
        let mut skipped = HashSet::new();
        loop {
            let poll = poll_once(&mb, &settings, &store, &mut skipped);
            let poll = tokio::time::timeout(SESSION_TIMEOUT, poll);
            tokio::select! {
                r = poll => match r {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::info!("bounce mailbox: {n} messages processed"),
                    Ok(Err(e)) => tracing::warn!("bounce mailbox {}: {e}", mb.display),
                    Err(_) => tracing::warn!("bounce mailbox {}: timed out", mb.display),
                },
                _ = stop.wait_for(|s| *s) => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(settings.bounces.poll) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    })))
}

/// One poll: connect, process the unseen messages, log out.
async fn poll_once(
    mb: &Mailbox,
    settings: &Settings,
    store: &Store,
    skipped: &mut HashSet<u32>,
) -> Result<usize> {
    let tcp = tokio::net::TcpStream::connect((mb.host.as_str(), mb.port))
        .await
        .map_err(|e| Error::msg(format!("connect: {}", crate::error::io_reason(&e))))?;
    let run = Run {
        mb,
        settings,
        store,
        skipped,
    };
    match mb.tls {
        ImapTls::Implicit => {
            let mut client = async_imap::Client::new(tls_connect(mb, tcp).await?);
            greeting(&mut client).await?;
            session(client, run).await
        }
        ImapTls::None => {
            let mut client = async_imap::Client::new(tcp);
            greeting(&mut client).await?;
            session(client, run).await
        }
        ImapTls::Required => {
            let mut client = async_imap::Client::new(tcp);
            greeting(&mut client).await?;
            // Nothing but STARTTLS is sent in clear: a server that refuses
            // it never sees the LOGIN.
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| {
                    Error::msg(format!(
                        "STARTTLS refused ({e}): tls=required, so the password is not sent in clear"
                    ))
                })?;
            let tls = tls_connect(mb, client.into_inner()).await?;
            session(async_imap::Client::new(tls), run).await
        }
    }
}

async fn greeting<T>(client: &mut async_imap::Client<T>) -> Result<()>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    client
        .read_response()
        .await
        .map_err(|e| Error::msg(format!("greeting: {e}")))?
        .ok_or_else(|| Error::msg("no greeting"))?;
    Ok(())
}

/// The TLS handshake over `tcp`, the server's certificate checked against
/// the system's roots (or `SSL_CERT_FILE`).
async fn tls_connect(
    mb: &Mailbox,
    tcp: tokio::net::TcpStream,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::msg(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let host = mb.host.trim_start_matches('[').trim_end_matches(']');
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| Error::msg(format!("TLS name: {e}")))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| Error::msg(format!("TLS: {e}")))
}

/// What one poll works with.
struct Run<'a> {
    mb: &'a Mailbox,
    settings: &'a Settings,
    store: &'a Store,
    skipped: &'a mut HashSet<u32>,
}

fn imap_err(what: &str) -> impl Fn(async_imap::error::Error) -> Error + '_ {
    move |e| Error::msg(format!("{what}: {e}"))
}

async fn session<T>(client: async_imap::Client<T>, run: Run<'_>) -> Result<usize>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let Run {
        mb,
        settings,
        store,
        skipped,
    } = run;
    let mut s = client
        .login(&mb.user, &mb.password)
        .await
        .map_err(|(e, _)| Error::msg(format!("login as {}: {e}", mb.user)))?;
    // Creating an existing folder fails harmlessly.
    let _ = s.create(&mb.processed).await;
    s.select(&mb.folder).await.map_err(imap_err("select"))?;
    let uids = small_unseen(&mut s, mb, skipped).await?;
    let mut done = 0;
    for uid in uids {
        let fetched: Vec<async_imap::types::Fetch> = s
            .uid_fetch(uid.to_string(), "BODY.PEEK[]")
            .await
            .map_err(imap_err("fetch"))?
            .try_collect()
            .await
            .map_err(imap_err("fetch"))?;
        let Some(body) = fetched.iter().find_map(|f| f.body()) else {
            continue;
        };
        let source = format!("imap:{}#{uid}", mb.folder);
        let policy = &settings.bounces.policy;
        crate::ops::bounces::process_returned(store, policy, body, &source, chrono::Utc::now())
            .await?;
        // Recorded: move it out of the way, or at least mark it seen.
        if s.uid_mv(uid.to_string(), &mb.processed).await.is_err() {
            let flagged: Vec<_> = s
                .uid_store(uid.to_string(), "+FLAGS (\\Seen)")
                .await
                .map_err(imap_err("store"))?
                .try_collect()
                .await
                .map_err(imap_err("store"))?;
            drop(flagged);
        }
        done += 1;
    }
    let _ = s.logout().await;
    Ok(done)
}

/// The unseen messages' UIDs, in order, without those larger than
/// `MAX_MESSAGE` (by RFC822.SIZE, asked before any body is fetched): each
/// of those is reported once per run and left unread in the folder, for a
/// person to look at.
async fn small_unseen<T>(
    s: &mut async_imap::Session<T>,
    mb: &Mailbox,
    skipped: &mut HashSet<u32>,
) -> Result<Vec<u32>>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let mut uids: Vec<u32> = s
        .uid_search("UNSEEN")
        .await
        .map_err(imap_err("search"))?
        .into_iter()
        .collect();
    if uids.is_empty() {
        return Ok(uids);
    }
    uids.sort_unstable();
    let mut large = HashSet::new();
    // In chunks: a command line of thousands of UIDs may be too long.
    for chunk in uids.chunks(500) {
        let sizes: Vec<async_imap::types::Fetch> = s
            .uid_fetch(uid_set(chunk), "RFC822.SIZE")
            .await
            .map_err(imap_err("fetch size"))?
            .try_collect()
            .await
            .map_err(imap_err("fetch size"))?;
        large.extend(
            sizes
                .iter()
                .filter(|f| f.size.is_some_and(|n| u64::from(n) > MAX_MESSAGE))
                .filter_map(|f| f.uid),
        );
    }
    for uid in &large {
        if skipped.insert(*uid) {
            tracing::warn!(
                "bounce mailbox {}: message {uid} is larger than {} MB: skipped, left unread in {}",
                mb.display,
                MAX_MESSAGE >> 20,
                mb.folder
            );
        }
    }
    uids.retain(|u| !large.contains(u));
    Ok(uids)
}

/// Sorted UIDs as an IMAP set, runs folded: `1:3,7`.
fn uid_set(uids: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < uids.len() {
        let mut j = i;
        while j + 1 < uids.len() && uids[j + 1] == uids[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            uids[i].to_string()
        } else {
            format!("{}:{}", uids[i], uids[j])
        });
        i = j + 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    #[test]
    fn uid_sets_fold_runs() {
        assert_eq!(super::uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(super::uid_set(&[5]), "5");
        assert_eq!(super::uid_set(&[]), "");
    }
}
