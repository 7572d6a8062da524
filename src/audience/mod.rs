//! Subscribers: domain types, tokens, CSV import and export.

pub mod tokens;
