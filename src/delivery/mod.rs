//! Delivery: campaigns are created (`campaign`), claimed and run
//! (`queue`) in passes (`pass`) that hand messages to transports
//! (`transport`: SMTP via the `mailer`, the `outbox` folder; `memory`, an
//! in-memory stub); the retry `policy` is a pure function of the reply. One `cancel`
//! stops a run for any reason; `supervise` is shared by `gazette send` and
//! the worker.

pub mod breaker;
pub mod campaign;
pub mod canary;
pub mod cancel;
pub mod mailer;
pub mod memory;
pub mod outbox;
pub mod pass;
pub mod policy;
pub mod progress;
pub mod queue;
pub mod ready;
pub mod selections;
pub mod shared;
pub mod socket;
pub mod supervise;
pub mod throttle;
pub mod transport;
