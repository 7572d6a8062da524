//! Store tests (both backends): subscribers.

#[allow(unused_imports)]
use super::both;
