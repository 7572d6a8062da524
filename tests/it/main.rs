//! One integration-test binary: the real `gazette` binary, real files,
//! real SQLite, real HTTP on 127.0.0.1.

mod admin_token;
mod api;
mod architecture;
mod bounces;
mod bounces_imap;
mod bounces_sisimai;
mod bounces_smtp;
mod browser;
mod catcher;
mod config_docs;
mod content_cli;
mod crashes;
mod db_copy;
mod delivery;
mod deploy;
mod faults;
mod feeds;
mod feeds_http;
mod feeds_sites;
mod feeds_worker;
mod fixio;
mod fleet;
mod fuzz;
mod gate;
mod helpers;
mod imports;
mod language;
mod links;
mod output;
mod people;
mod readers;
mod readers_worker;
mod rich_posts;
mod rich_worker;
mod safety;
mod scheduled;
mod security;
mod slow_clients;
mod store;
mod subscribers_cli;
mod timing;
mod transport;
mod web;
mod web_errors;
mod webhooks;
mod worker;

// The shared servers and clients live in the support module; their old
// paths (`crate::http`, `crate::smtp`, `crate::smtp_script`) still work.
#[allow(unused_imports)]
use helpers::{http, smtp, smtp_script};
