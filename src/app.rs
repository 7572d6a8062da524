//! The app layer: wires settings, store, mailer, opt-in, the web router,
//! its listeners and the shutdown signal. `serve`, `worker` and the
//! integration tests' `spawn_app` all start the web through here, so the
//! tests exercise the production wiring.

use std::sync::Arc;

use crate::audience::signup::SignupKey;
use crate::config::Settings;
use crate::delivery::mailer::Mailer;
use crate::delivery::queue::{Options, RunSpec};
use crate::error::{Error, Result};
use crate::ops::runs::Campaigns;
use crate::optin::Optin;
use crate::render::{self, Templates};
use crate::store::Store;
use crate::web::{self, admin, ratelimit::RateLimiter, AppState};

/// Everything the opt-in flow needs, built from settings.
pub fn optin(settings: &Settings, store: Store, templates: &Templates) -> Result<Optin> {
    let ttl_days = settings.web.confirm_ttl.as_secs().div_ceil(86400);
    Ok(Optin {
        store,
        mailer: Mailer::from_settings(settings)?,
        confirm: Arc::new(render::prepare_confirm(
            templates,
            &settings.newsletter,
            ttl_days,
        )?),
        welcome: if settings.readers.welcome {
            Some(Arc::new(render::prepare_welcome(
                templates,
                &settings.newsletter,
            )?))
        } else {
            None
        },
        settings: Arc::new(settings.clone()),
    })
}

/// The web endpoints' state, and a listener bound to `listen` (default
/// `[web] listen`): what `serve` and `worker` share.
pub async fn bind_web(
    settings: &Settings,
    store: Store,
    listen: Option<String>,
) -> Result<(tokio::net::TcpListener, std::net::SocketAddr, Arc<AppState>)> {
    let templates = Templates::load(Some(&settings.templates_dir))?;
    // An unknown `[newsletter] language` stops here, before serving.
    templates.messages(&settings.newsletter.reading.language)?;
    let key = store.signup_key(SignupKey::generate_hex).await?;
    let signup = SignupKey::from_hex(&key).ok_or_else(|| {
        Error::msg(format!(
            "the stored sign-up key ({} in the table worker_state) is not 64 hex digits: delete it and a new one is made",
            crate::store::signups::SIGNUP_KEY
        ))
    })?;
    let optin = optin(settings, store, &templates)?;
    let addr = listen.unwrap_or_else(|| settings.web.listen.clone());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| Error::msg(format!("--listen {addr}: {}", crate::error::io_reason(&e))))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::msg(e.to_string()))?;
    let state = Arc::new(AppState::new(
        optin,
        Arc::new(templates),
        RateLimiter::new(settings.web.subscribe_limit),
        signup,
    ));
    Ok((listener, local, state))
}

/// The admin listener (`[web] admin_listen`), or `None` when it is off.
/// Refuses a listener reachable beyond loopback without
/// `GAZETTE_ADMIN_TOKEN`.
pub async fn bind_admin(settings: &Settings, store: Store) -> Result<Option<web::AdminBinding>> {
    bind_admin_with(settings, store, None).await
}

/// [`bind_admin`], the API's campaigns run by `runs` (the worker's), or by
/// a runner of its own when `None` (`serve`: see [`stop_api_runs`]).
pub async fn bind_admin_with(
    settings: &Settings,
    store: Store,
    runs: Option<Arc<Campaigns>>,
) -> Result<Option<web::AdminBinding>> {
    let Some(addr) = &settings.web.admin_listen else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Error::msg(format!(
            "[web] admin_listen {addr}: {}",
            crate::error::io_reason(&e)
        ))
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::msg(e.to_string()))?;
    admin::check_exposure(local, settings.web.admin_token.as_ref()).map_err(Error::msg)?;
    tracing::info!(
        "admin endpoints (/metrics, /api/v1, /admin/) on http://{local}{}",
        if settings.web.admin_token.is_some() {
            ", bearer token required"
        } else {
            ""
        }
    );
    let api = admin_api(settings, store.clone(), runs)?;
    let state = Arc::new(admin::AdminState {
        store: store.clone(),
        token: settings.web.admin_token.clone(),
        api: Some(Arc::new(api)),
        dashboard: Some(Arc::new(web::dashboard::Dashboard::new(
            settings,
            store.clone(),
        )?)),
    });
    Ok(Some((listener, state)))
}

/// The admin API's state: the opt-in flow sends the confirmation email for
/// addresses an operator added, as `subscribers add` does.
pub fn admin_api(
    settings: &Settings,
    store: Store,
    runs: Option<Arc<Campaigns>>,
) -> Result<web::api::Api> {
    let optin = operator_optin(settings, store.clone())?;
    let runs = runs.unwrap_or_else(|| {
        Arc::new(Campaigns::own(|stop| RunSpec {
            store: store.clone(),
            connector: Arc::new(optin.mailer.clone()),
            newsletter: Arc::new(settings.newsletter.clone()),
            opts: Options::from_settings(settings),
            stop,
            foreground: false,
        }))
    });
    Ok(web::api::Api {
        optin,
        store,
        settings: Arc::new(settings.clone()),
        token: settings.web.admin_token.clone(),
        runs,
    })
}

/// After the admin listener stopped: the campaigns its API started stop
/// after the messages in flight (`[worker] grace` at most); a worker or
/// the next `serve` continues them.
pub async fn stop_api_runs(admin: Option<&Arc<admin::AdminState>>, settings: &Settings) {
    let Some(api) = admin.and_then(|a| a.api.as_ref()) else {
        return;
    };
    if !api.runs.shutdown(settings.worker.grace).await {
        tracing::warn!("grace period over: stopped the messages still in flight");
    }
}

/// The opt-in flow for addresses an operator adds (`subscribers add`, the
/// admin API): its confirmation email says the address was added, not
/// entered on the subscribe page.
pub fn operator_optin(settings: &Settings, store: Store) -> Result<Optin> {
    let templates = Templates::load(Some(&settings.templates_dir))?;
    let mut optin = optin(settings, store, &templates)?;
    let ttl_days = settings.web.confirm_ttl.as_secs().div_ceil(86400);
    optin.confirm = Arc::new(render::prepare_confirm_for(
        &templates,
        &settings.newsletter,
        ttl_days,
        render::ConfirmOrigin::Added,
    )?);
    Ok(optin)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
