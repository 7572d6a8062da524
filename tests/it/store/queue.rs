//! Store tests (both backends): queue.

#[allow(unused_imports)]
use super::both;
