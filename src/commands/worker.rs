//! `gazette worker`: the long-running process (the web pages, the posts
//! watcher, schedules, bounces and the queue) until a signal.

use super::Ctx;
use crate::error::Result;
use crate::worker;

pub async fn run(ctx: &Ctx, listen: Option<String>) -> Result<()> {
    let settings = ctx.settings()?;
    worker::run(settings, listen).await
}
