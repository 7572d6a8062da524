use super::Ctx;
use crate::cli::SubscribersCommand;
use crate::error::Result;
pub async fn run(_ctx: &Ctx, _cmd: SubscribersCommand) -> Result<()> { Ok(()) }
