//! Click counts (`[tracking] clicks`): one counter per campaign and link.
//! Nothing here knows who clicked: no address, no IP, no time.

use super::db::{db, db_tx, Tx};
use super::Store;
use crate::error::Result;

/// One counted link of a campaign.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct LinkClicks {
    pub link: i64,
    pub url: String,
    pub clicks: i64,
}

/// Store the numbered links of new campaign `id` (in the transaction that
/// creates it).
pub(super) async fn attach(tx: &mut Tx, id: i64, links: Vec<(i64, String)>) -> Result<()> {
    for (link, url) in links {
        db_tx!(tx, t, pg => {
            sqlx::query("INSERT INTO campaign_links (campaign_id, link, url) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(link)
                .bind(url)
                .execute(&mut **t)
                .await?;
        });
    }
    Ok(())
}

impl Store {
    /// Count one click on `link` of `campaign` (when `count`) and return
    /// where it goes; `None` for a link no campaign has.
    pub async fn click(&self, campaign: i64, link: i64, count: bool) -> Result<Option<String>> {
        let sql = if count {
            "UPDATE campaign_links SET clicks = clicks + 1
             WHERE campaign_id = $1 AND link = $2 RETURNING url"
        } else {
            "SELECT url FROM campaign_links WHERE campaign_id = $1 AND link = $2"
        };
        Ok(db!(&self.pool, p, pg => {
            sqlx::query_scalar(sql)
                .bind(campaign)
                .bind(link)
                .fetch_optional(p)
                .await?
        }))
    }

    /// The links of `campaign` by clicks, most clicked first.
    pub async fn link_clicks(&self, campaign: i64) -> Result<Vec<LinkClicks>> {
        Ok(db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT link, url, clicks FROM campaign_links WHERE campaign_id = $1
                 ORDER BY clicks DESC, link",
            )
            .bind(campaign)
            .fetch_all(p)
            .await?
        }))
    }

    /// Clicks per campaign (campaigns with counted links only).
    pub async fn clicks_per_campaign(&self) -> Result<Vec<(i64, i64)>> {
        Ok(db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT campaign_id, CAST(SUM(clicks) AS BIGINT) FROM campaign_links
                 GROUP BY campaign_id ORDER BY campaign_id",
            )
            .fetch_all(p)
            .await?
        }))
    }

    /// Clicks by kind of campaign (post, digest), for `/metrics`.
    pub async fn clicks_by_kind(&self) -> Result<Vec<(String, i64)>> {
        Ok(db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT c.kind, CAST(COALESCE(SUM(l.clicks), 0) AS BIGINT)
                 FROM campaign_links l JOIN campaigns c ON c.id = l.campaign_id GROUP BY c.kind",
            )
            .fetch_all(p)
            .await?
        }))
    }
}
