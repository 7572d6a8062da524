use super::Ctx;
use crate::cli::DbCommand;
use crate::error::Result;
pub async fn run(_ctx: &Ctx, _cmd: DbCommand) -> Result<()> { Ok(()) }
