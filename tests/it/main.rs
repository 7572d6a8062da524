//! One integration-test binary: the real `gazette` binary, real files,
//! real SQLite, real HTTP on 127.0.0.1.

mod bounces;
mod content;
mod helpers;
mod ops;
mod sending;
mod store;
mod subscribers;
mod web;

// The shared servers and clients live in the support module; their old
// paths (`crate::http`, `crate::smtp`, `crate::smtp_script`) still work.
#[allow(unused_imports)]
use helpers::{http, smtp, smtp_script};
// The old paths of the test modules others import from, now in groups.
#[allow(unused_imports)]
use {
    content::{feeds_http, links},
    sending::faults,
    web::{readers, security},
};
