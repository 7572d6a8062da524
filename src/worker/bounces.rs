//! The bounce mailbox: with `[bounces] imap_url`, the worker logs in every
//! `poll` (password from GAZETTE_BOUNCES_PASSWORD), reads the unseen
//! messages of the folder, records them like `gazette bounces process`, and
//! moves each processed message to `processed_folder` (or, when the server
//! cannot move it, marks it seen).

use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::store::Store;

/// Where and how to log in.
#[derive(Clone)]
struct Mailbox {
    tls: bool,
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
    let tls = u.scheme() == "imaps";
    let folder = u.path().trim_start_matches('/');
    let mut display = u.clone();
    let _ = display.set_password(None);
    Ok(Some(Mailbox {
        tls,
        host: u.host_str().unwrap_or_default().to_string(),
        port: u.port().unwrap_or(if tls { 993 } else { 143 }),
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
    Ok(Some(tokio::spawn(async move {
        loop {
            let poll = tokio::time::timeout(SESSION_TIMEOUT, poll_once(&mb, &settings, &store));
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
async fn poll_once(mb: &Mailbox, settings: &Settings, store: &Store) -> Result<usize> {
    let tcp = tokio::net::TcpStream::connect((mb.host.as_str(), mb.port))
        .await
        .map_err(|e| Error::msg(format!("connect: {}", crate::error::io_reason(&e))))?;
    if !mb.tls {
        return session(async_imap::Client::new(tcp), mb, settings, store).await;
    }
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
    let name = rustls::pki_types::ServerName::try_from(mb.host.clone())
        .map_err(|e| Error::msg(format!("TLS name: {e}")))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| Error::msg(format!("TLS: {e}")))?;
    session(async_imap::Client::new(tls), mb, settings, store).await
}

fn imap_err(what: &str) -> impl Fn(async_imap::error::Error) -> Error + '_ {
    move |e| Error::msg(format!("{what}: {e}"))
}

async fn session<T>(
    mut client: async_imap::Client<T>,
    mb: &Mailbox,
    settings: &Settings,
    store: &Store,
) -> Result<usize>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    client
        .read_response()
        .await
        .map_err(|e| Error::msg(format!("greeting: {e}")))?
        .ok_or_else(|| Error::msg("no greeting"))?;
    let mut s = client
        .login(&mb.user, &mb.password)
        .await
        .map_err(|(e, _)| Error::msg(format!("login as {}: {e}", mb.user)))?;
    // Creating an existing folder fails harmlessly.
    let _ = s.create(&mb.processed).await;
    s.select(&mb.folder).await.map_err(imap_err("select"))?;
    let mut uids: Vec<u32> = s
        .uid_search("UNSEEN")
        .await
        .map_err(imap_err("search"))?
        .into_iter()
        .collect();
    uids.sort_unstable();
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
        store
            .process_returned(policy, body, &source, chrono::Utc::now())
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
