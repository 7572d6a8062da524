//! Sending: campaigns, the queue and its faults, crashes, several workers, the safety rules, transports, the worker and scheduled sends, the publish gate.

mod chunking;
mod crashes;
mod delivery;
pub mod faults;
mod fleet;
mod gate;
mod readers_worker;
mod safety;
mod scheduled;
mod transport;
mod worker;
