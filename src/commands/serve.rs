use super::Ctx;
use crate::error::Result;
pub async fn run(_ctx: &Ctx, _l: Option<String>) -> Result<()> { Ok(()) }
