//! One integration-test binary: the real `gazette` binary, real files,
//! real SQLite, real HTTP on 127.0.0.1.

mod catcher;
mod content_cli;
mod crashes;
mod delivery;
mod faults;
mod helpers;
mod http;
mod smtp;
mod subscribers_cli;
mod web;
mod worker;
