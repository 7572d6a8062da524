use super::Ctx;
use crate::cli::DbCommand;
use crate::error::Result;
use crate::store::Store;

pub async fn run(ctx: &Ctx, cmd: DbCommand) -> Result<()> {
    let settings = ctx.settings()?;
    match cmd {
        DbCommand::Migrate => {
            let store = Store::connect(&settings.database_url).await?;
            let applied = store.migrate().await?;
            store.close().await;
            if !ctx.quiet {
                eprintln!(
                    "{}: {applied} migration{} applied, schema up to date",
                    settings.database_url,
                    if applied == 1 { "" } else { "s" }
                );
            }
            Ok(())
        }
    }
}
