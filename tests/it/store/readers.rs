//! Store tests (both backends): readers.

#[allow(unused_imports)]
use super::both;
