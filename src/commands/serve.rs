//! `gazette serve`: the public pages and the admin listener, until a signal.

use super::Ctx;
use crate::app;
use crate::error::{Error, Result};
use crate::web;

pub async fn run(ctx: &Ctx, listen: Option<String>) -> Result<()> {
    let settings = ctx.settings()?;
    let store = ctx.store(&settings).await?;
    let (listener, local, state) = app::bind_web(&settings, store.clone(), listen).await?;
    let admin = app::bind_admin(&settings, store.clone()).await?;
    let admin_state = admin.as_ref().map(|(_, s)| s.clone());
    tracing::info!(
        "serving on http://{local} (public URL {}), confirmation emails through {}",
        settings.newsletter.public_url,
        state.optin.mailer.describe()
    );
    web::serve_all(listener, state, admin, app::shutdown_signal())
        .await
        .map_err(|e| Error::msg(format!("server: {e}")))?;
    app::stop_api_runs(admin_state.as_ref(), &settings).await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
