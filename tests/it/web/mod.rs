//! The web: opt-in pages, readers' pages and feed, security, bot-proof sign-ups, slow clients, error answers, timing, the admin token and API, a real browser, languages.

mod admin_token;
mod api;
mod api_ops;
mod browser;
pub mod clicks;
pub mod dashboard;
pub mod dashboard_browser;
mod errors;
mod language;
mod optin;
pub mod readers;
pub mod security;
mod signups;
mod signups_browser;
mod slow_clients;
mod timing;

// The old path of the in-process application (`crate::web::spawn_app`).
#[allow(unused_imports)]
pub use crate::helpers::app::{
    spawn_app, spawn_app_full, spawn_app_with, spawn_app_with_token, App,
};
