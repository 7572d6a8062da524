//! Operations and the code itself: the architecture rules, config docs, deploy files, output, the catcher suite, db copy, fuzzing.

mod architecture;
mod catcher;
mod config_docs;
mod db_copy;
mod deploy;
mod fuzz;
mod output;
