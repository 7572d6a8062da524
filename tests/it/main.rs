//! One integration-test binary: the real `gazette` binary, real files,
//! real SQLite, real HTTP on 127.0.0.1.

mod bounces;
mod bounces_sisimai;
mod bounces_smtp;
mod catcher;
mod content_cli;
mod delivery;
mod helpers;
mod http;
mod smtp;
mod smtp_script;
mod subscribers_cli;
mod web;
mod worker;
