//! Gazette: a newsletter publisher for blogs written in Markdown.
//!
//! Data flows one way: posts (`content`) → `render` → campaign → queue →
//! transport (`delivery`: SMTP or the outbox folder). Subscribers
//! (`audience`), the web pages (`web`) and the operator commands sit beside
//! that line and meet it at the `store`, the only code that speaks SQL; the
//! `app` layer wires settings, store, mailer, opt-in and web for `serve`,
//! `worker` and `send`.
//!
//! ## Layers, bottom to top
//!
//! A module uses modules of lower layers only: never one above it, never
//! one beside it in its own layer. `tests/it/ops/architecture.rs` reads this
//! list and holds every `crate::` path in `src/` to it.
//!
//! 1. `error`, `util`, `schedule`: the error type; small shared helpers
//!    (slugs, line numbers, header text, ids, atomic writes, durations and
//!    dates, the outgoing HTTP client); the cron schedule. They use nothing
//!    else of ours.
//! 2. `config`: settings from the file, the environment and flags.
//! 3. `content`: posts and their front matter, Markdown; a blog's feed
//!    (RSS, Atom, JSON Feed) fetched, cached and read into posts.
//! 4. `render`: templates, prepared emails, per-recipient slots, MIME.
//! 5. `audience`, `bounce`: subscriber domain types: addresses, statuses, tokens,
//!    CSV; returned mail (DSNs, ARF, plain-text bounces) read and classified.
//! 6. `store`: SQLite or PostgreSQL (one `Dialect` seam): subscribers,
//!    campaigns, deliveries, bounces, worker state.
//! 7. `delivery`: campaigns, the queue (one cancellation per run, the pass of
//!    producer, senders and outcome writer, the pure retry policy, the
//!    supervision `send` and the worker share), transports (SMTP, outbox,
//!    an in-memory stub).
//! 8. `optin`: double opt-in: subscribe, confirmation emails, confirm.
//! 9. `ops`: operations the CLI and the admin API share (sends, campaign
//!    controls, test and scheduled sends, imports and exports, operator
//!    adds, bounces and their metrics, status), so both do the same.
//! 10. `web`: the public pages (sign-up with its bot rules, the click
//!     redirect) and the admin listener's endpoints (the API, the dashboard).
//! 11. `app`: wiring of settings, store, mailer, opt-in, web and signals.
//! 12. `worker`: the long-running process: schedule, posts watcher, queue.
//! 13. `cli`: the command line as clap types.
//! 14. `commands`: one module per command.
//!
//! Exceptions (`from -> to`: why):
//! - none

pub mod app;
pub mod audience;
pub mod bounce;
pub mod cli;
pub mod commands;
pub mod config;
pub mod content;
pub mod delivery;
pub mod error;
pub mod ops;
pub mod optin;
pub mod render;
pub mod schedule;
pub mod store;
pub mod util;
pub mod web;
pub mod worker;

pub use error::{Error, Result};

use cli::{Cli, Command};

/// Run one CLI invocation.
pub fn run(cli: Cli) -> Result<()> {
    init_logging(&cli);
    let env = config::process_env();
    let ctx = commands::Ctx::new(&cli, env);
    match cli.command {
        Command::Init { dir } => commands::init::run(dir.as_deref()),
        Command::Posts(cmd) => commands::posts::run(&ctx, cmd),
        Command::Preview(cmd) => runtime(None)?.block_on(commands::preview::run(&ctx, cmd)),
        Command::Db(cmd) => runtime(None)?.block_on(commands::db::run(&ctx, cmd)),
        Command::Subscribers(cmd) => runtime(None)?.block_on(commands::subscribers::run(&ctx, cmd)),
        Command::Send(cmd) => runtime(Some(1))?.block_on(commands::send::run(&ctx, cmd)),
        Command::Campaigns(cmd) => runtime(Some(1))?.block_on(commands::campaigns::run(&ctx, cmd)),
        Command::Serve { listen } => runtime(None)?.block_on(commands::serve::run(&ctx, listen)),
        Command::Worker { listen } => runtime(None)?.block_on(commands::worker::run(&ctx, listen)),
        Command::Completions { shell } => commands::shell::completions(shell),
        Command::Man { dir } => commands::shell::man(&dir),
        Command::Bounces(cmd) => runtime(None)?.block_on(commands::bounces::run(&ctx, cmd)),
        Command::Form { style } => commands::form::run(&ctx, style),
        Command::Status { json } => runtime(None)?.block_on(commands::status::run(&ctx, json)),
    }
}

/// The async runtime. Sending uses one worker thread (SQLite has its own):
/// on loopback that was 35% faster than two, because messages no longer
/// hop between threads. `TOKIO_WORKER_THREADS` overrides it.
fn runtime(threads: Option<usize>) -> Result<tokio::runtime::Runtime> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
            b.worker_threads(n);
        }
    }
    b.enable_all()
        .build()
        .map_err(|e| Error::msg(format!("starting the async runtime: {e}")))
}

fn init_logging(cli: &Cli) {
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    // sqlx's "slow statement" warnings (a large import, a locked database)
    // are for debugging: shown with -v, not before a one-line error.
    let sqlx = if cli.verbose > 0 { "warn" } else { "error" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GAZETTE_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("gazette={level},sqlx::query={sqlx},warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match cli.log_format {
        cli::LogFormat::Json => builder.json().try_init(),
        cli::LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .without_time()
            .try_init(),
    };
}
