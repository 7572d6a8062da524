//! One integration-test binary: the real `gazette` binary, real files,
//! real SQLite, real HTTP on 127.0.0.1.

mod api;
mod architecture;
mod bounces;
mod bounces_imap;
mod bounces_sisimai;
mod bounces_smtp;
mod catcher;
mod config_docs;
mod content_cli;
mod crashes;
mod delivery;
mod deploy;
mod faults;
mod fixio;
mod fuzz;
mod helpers;
mod http;
mod imports;
mod output;
mod people;
mod scheduled;
mod security;
mod smtp;
mod smtp_script;
mod subscribers_cli;
mod timing;
mod transport;
mod web;
mod webhooks;
mod worker;
