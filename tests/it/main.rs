//! One integration-test binary: the real `gazette` binary, real files,
//! real SQLite, real HTTP on 127.0.0.1.

mod catcher;
mod content_cli;
mod delivery;
mod fuzz;
mod helpers;
mod http;
mod security;
mod smtp;
mod subscribers_cli;
mod timing;
mod web;
mod worker;
