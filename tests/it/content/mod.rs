//! Content: posts through the CLI, rich posts, feeds as a post source, link checks.

mod cli;
mod feeds;
pub mod feeds_http;
mod feeds_sites;
mod feeds_worker;
pub mod links;
mod rich_posts;
mod rich_worker;
