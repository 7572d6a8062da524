use chrono::Utc;

use super::Ctx;
use crate::cli::CampaignsCommand;
use crate::delivery::mailer::Mailer;
use crate::error::{Error, Result};
use crate::store::campaigns::{CampaignInfo, CampaignStatus as S};

fn line(c: &CampaignInfo) -> String {
    format!(
        "{:>4}  {:<6} {:<9} total {:>7}  sent {:>7}  failed {:>5}  pending {:>7}  {}  {}",
        c.id,
        c.kind,
        c.status.as_str(),
        c.total,
        c.sent,
        c.failed,
        c.pending,
        match (c.status, &c.scheduled_at) {
            (S::Scheduled, Some(at)) => format!("at {at}"),
            _ => c.created_at.clone(),
        },
        c.subject
    )
}

pub async fn run(ctx: &Ctx, cmd: CampaignsCommand) -> Result<()> {
    let settings = ctx.settings()?;
    let store = ctx.store(&settings).await?;
    let now = Utc::now();
    let get = |id: i64| {
        let store = store.clone();
        async move {
            store.campaign(id).await?.ok_or_else(|| {
                Error::msg(format!("no campaign {id} (see `gazette campaigns list`)"))
            })
        }
    };
    let result = match cmd {
        CampaignsCommand::List { json } => {
            let all = store.campaigns().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all).expect("JSON"));
            } else {
                for c in &all {
                    println!("{}", line(c));
                }
            }
            Ok(())
        }
        CampaignsCommand::Show { id, json } => {
            let c = get(id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&c).expect("JSON"));
            } else {
                println!("{}", line(&c));
                println!("posts: {}", c.posts.join(", "));
                if let Some(e) = &c.last_error {
                    println!("last error: {e}");
                }
            }
            Ok(())
        }
        CampaignsCommand::Pause { id } => {
            // A process sending it notices within a second and stops after
            // the messages in flight.
            crate::ops::campaigns::pause(&store, id, now).await?;
            println!("campaign {id} paused");
            Ok(())
        }
        CampaignsCommand::Cancel { id } => {
            let (before, _) = crate::ops::campaigns::cancel(&store, id, now).await?;
            if before.status == S::Scheduled {
                println!("campaign {id} cancelled before its time; nothing will be sent");
            } else {
                println!(
                    "campaign {id} cancelled; {} deliveries will not be sent",
                    before.pending
                );
            }
            Ok(())
        }
        CampaignsCommand::Resume { id } => {
            let c = get(id).await?;
            if !matches!(c.status, S::Paused | S::Sending | S::Queued) {
                return Err(Error::msg(format!(
                    "campaign {id} is {} and cannot be resumed",
                    c.status.as_str()
                )));
            }
            let mailer = Mailer::from_settings(&settings)?;
            super::send::run_foreground(&settings, &store, &mailer, id, c.pending).await
        }
    };
    store.close().await;
    result
}
