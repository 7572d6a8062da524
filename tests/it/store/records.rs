//! Store tests (both backends): records.

#[allow(unused_imports)]
use super::both;
