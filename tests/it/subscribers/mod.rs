//! Subscribers: the CLI, imports of other tools' exports, each person's data, defects found by QA.

mod cli;
mod fixio;
mod imports;
mod people;
