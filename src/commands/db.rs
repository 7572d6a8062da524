use super::Ctx;
use crate::cli::DbCommand;
use crate::error::Result;
use crate::store::Store;
use crate::util::net::without_password;

pub async fn run(ctx: &Ctx, cmd: DbCommand) -> Result<()> {
    match cmd {
        DbCommand::Migrate => {
            let settings = ctx.settings()?;
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
        // No configuration needed: both databases are named.
        DbCommand::Copy { from, to, json } => {
            let copied = crate::store::copy::copy(&from, &to).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&copied).expect("JSON"));
                return Ok(());
            }
            println!(
                "copied {} ({}) to {} ({}):",
                without_password(&from),
                copied.from,
                without_password(&to),
                copied.to
            );
            println!("{:<16} {:>10} {:>10}", "table", "source", "target");
            for t in &copied.tables {
                println!("{:<16} {:>10} {:>10}", t.table, t.source, t.target);
            }
            Ok(())
        }
    }
}
