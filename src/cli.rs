//! Command-line definitions (clap derive only; no logic here).

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::audience::Status;

#[derive(Debug, Parser)]
#[command(
    name = "gazette",
    version,
    about = "Turn Markdown blog posts into newsletter emails and send them to subscribers",
    propagate_version = true
)]
pub struct Cli {
    /// Configuration file [default: ./gazette.toml, or $GAZETTE_CONFIG]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Database URL (overrides $GAZETTE_DATABASE_URL and [database] url)
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// SMTP URL (overrides $GAZETTE_SMTP_URL and [smtp] url)
    #[arg(long, global = true, value_name = "URL")]
    pub smtp_url: Option<String>,
    /// More log output (-v, -vv)
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// Only errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log format: text, or json for log shippers
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// How `gazette form`'s snippet looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormStyle {
    Minimal,
    Card,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented gazette.toml, an example post and the built-in templates
    Init {
        /// Directory to initialise [default: .]
        dir: Option<PathBuf>,
    },
    /// List and check posts
    #[command(subcommand)]
    Posts(PostsCommand),
    /// Render an email exactly as it would be sent
    #[command(subcommand)]
    Preview(PreviewCommand),
    /// Database maintenance
    #[command(subcommand)]
    Db(DbCommand),
    /// Manage subscribers
    #[command(subcommand)]
    Subscribers(SubscribersCommand),
    /// Send a post or a digest to every active subscriber
    #[command(subcommand)]
    Send(SendCommand),
    /// List, inspect, pause, resume and cancel campaigns
    #[command(subcommand)]
    Campaigns(CampaignsCommand),
    /// Run everything in one process: web pages, new posts, the digest schedule, the queue
    Worker {
        /// Address to listen on [default: [web] listen, or 127.0.0.1:8080]
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Print an HTML subscribe form to paste into a blog's templates (docs/web.md)
    Form {
        /// minimal: the fields and the button, styled by the blog; card: a styled box
        #[arg(long, value_enum, default_value = "minimal")]
        style: FormStyle,
    },
    /// What the worker will do next: next digest, posts waiting, campaigns in progress
    Status {
        /// Print one JSON object instead of text
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script (e.g. `gazette completions bash > /etc/bash_completion.d/gazette`)
    Completions {
        /// The shell to complete for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (gazette.1, gazette-send.1, …) into DIR
    Man {
        /// Directory to write the pages into (created if missing)
        dir: PathBuf,
    },
    /// Bounces and complaints: read returned mail, show the log
    #[command(subcommand)]
    Bounces(BouncesCommand),
    /// Serve the subscribe, confirm and unsubscribe pages
    Serve {
        /// Address to listen on [default: [web] listen, or 127.0.0.1:8080]
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PostsCommand {
    /// List every post with its slug, date and status
    List {
        /// Print a JSON array
        #[arg(long)]
        json: bool,
    },
    /// Validate every post and template
    Check {
        /// Also request every link and image of the posts (HEAD, then GET
        /// where HEAD is refused) and report the broken ones
        #[arg(long)]
        links: bool,
        /// With --links: only this post's links (see `gazette posts list`)
        #[arg(requires = "links")]
        slug: Option<String>,
        /// With --links: how long one request may take (e.g. 10s)
        #[arg(long, default_value = "10s", value_parser = crate::util::time::parse_duration, requires = "links")]
        timeout: std::time::Duration,
    },
    /// Stop the worker from sending a new post (the publish gate holds it until `posts release`)
    Hold {
        /// The post's slug (see `gazette posts list`)
        slug: String,
    },
    /// Let the worker send a held post again (its settle and live checks start over)
    Release {
        /// The post's slug (see `gazette posts list`)
        slug: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Html,
    Text,
    Eml,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// What to print
    #[arg(long, value_enum, default_value = "html")]
    pub format: Format,
    /// Write to FILE instead of standard output
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct WindowArgs {
    /// First day of the digest window (YYYY-MM-DD or RFC 3339)
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Last day of the digest window, inclusive (YYYY-MM-DD or RFC 3339)
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PreviewCommand {
    /// The email for one post
    Post {
        /// The post's slug (see `gazette posts list`)
        slug: String,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// The digest of a date window
    Digest {
        #[command(flatten)]
        window: WindowArgs,
        #[command(flatten)]
        out: OutputArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum BouncesCommand {
    /// Read returned messages (.eml files, Maildir folders, mbox files) and print one record per recipient; change nothing
    Scan {
        /// .eml files, Maildir folders (cur/, new/), mbox files or folders of messages
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Print a JSON array
        #[arg(long)]
        json: bool,
    },
    /// Read returned messages and record them: hard bounces and complaints stop mail at once, soft ones count
    Process {
        /// .eml files, Maildir folders (cur/, new/), mbox files or folders of messages
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Show the bounce log
    List {
        /// Print a JSON array
        #[arg(long)]
        json: bool,
        /// Only bounces at or after this date (YYYY-MM-DD or RFC 3339)
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create the database if needed and apply pending migrations
    Migrate,
    /// Copy an installation (subscribers, campaigns, deliveries, history) to another database and check the row counts
    Copy {
        /// Database to copy from (sqlite://PATH or postgres://...); it is only read
        #[arg(long, value_name = "URL")]
        from: String,
        /// Database to copy to (created and migrated if needed); refused unless it holds no rows
        #[arg(long, value_name = "URL")]
        to: String,
        /// Print one JSON object instead of text
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    Pending,
    Active,
    Unsubscribed,
    Bounced,
    Complained,
}

#[derive(Debug, Subcommand)]
pub enum SubscribersCommand {
    /// Add a subscriber (pending and sent a confirmation email unless --confirmed)
    Add {
        /// The address to add
        email: String,
        /// The subscriber's name (used in greetings and the To: header)
        #[arg(long)]
        name: Option<String>,
        /// Active at once, no confirmation email
        #[arg(long)]
        confirmed: bool,
    },
    /// Confirm a pending address on the person's behalf (as their confirmation link would); sends the welcome email
    Confirm {
        /// The pending address
        email: String,
    },
    /// Set a reader's preferences: how often (each, digest, both) and which topics
    Set {
        /// The subscriber's address
        email: String,
        /// each (every post as its own email), digest, or both
        #[arg(long)]
        frequency: Option<String>,
        /// Comma-separated tags (e.g. rust,go); an empty value means every post
        #[arg(long)]
        topics: Option<String>,
    },
    /// Unsubscribe an address
    Unsubscribe {
        /// The address to unsubscribe
        email: String,
    },
    /// Make a bounced or complained address active again (the operator's explicit decision)
    Reactivate {
        /// The bounced or complained address
        email: String,
    },
    /// Erase a subscriber's personal data (the address stays blocked from re-import)
    Remove {
        /// The address whose data is erased
        email: String,
    },
    /// Show everything kept about one address: the row, attributes, deliveries, bounces
    Show {
        /// The address to show
        email: String,
        /// Print a JSON object
        #[arg(long)]
        json: bool,
    },
    /// List subscribers
    List {
        /// Only subscribers in this state
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// Print a JSON array
        #[arg(long)]
        json: bool,
    },
    /// Count subscribers per status
    Count {
        /// Print a JSON object
        #[arg(long)]
        json: bool,
    },
    /// Import subscribers from a CSV export (Mailchimp, Substack, Ghost, Buttondown, listmonk, Kit, beehiiv, plain)
    Import {
        /// The CSV file (its format is recognised by its columns)
        file: PathBuf,
        /// Rows the other tool held as subscribed (or, in a plain file, rows without a status) become active
        #[arg(long)]
        confirmed: bool,
        /// Send the welcome email to every address the import makes active
        #[arg(long)]
        welcome: bool,
        /// Report what would change, change nothing
        #[arg(long)]
        dry_run: bool,
        /// Print the report as a JSON object
        #[arg(long)]
        json: bool,
    },
    /// Export subscribers as CSV
    Export {
        /// Write to FILE instead of standard output
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Only subscribers in this state
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// Cells exactly as stored: no `'` before values a spreadsheet would run as formulas
        #[arg(long)]
        raw: bool,
    },
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// Send a test of exactly this message to one address (not recorded as a campaign)
    #[arg(long, value_name = "EMAIL")]
    pub to: Option<String>,
    /// Render everything and report recipients and sizes; send nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Send even if this post (or, for a digest, any of its posts) was already sent
    #[arg(long)]
    pub force: bool,
    /// Schedule instead of sending now: "YYYY-MM-DD HH:MM" in [digest] timezone, or with an offset ("2026-12-01 09:00 +01:00"); the worker starts it then
    #[arg(long, value_name = "TIME", conflicts_with = "to")]
    pub at: Option<String>,
    /// First send to N random recipients, wait [send] canary_wait, and go on only if the limits hold (overrides [send] canary; 0: no canary)
    #[arg(long, value_name = "N", conflicts_with_all = ["to", "at"])]
    pub canary: Option<u64>,
    /// With --dry-run: print the report as a JSON object
    #[arg(long, requires = "dry_run")]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SendCommand {
    /// Send one post as its own email
    Post {
        /// The post's slug (see `gazette posts list`)
        slug: String,
        #[command(flatten)]
        args: SendArgs,
    },
    /// Send a digest of the posts not yet in a digest (or of --since/--until)
    Digest {
        #[command(flatten)]
        window: WindowArgs,
        #[command(flatten)]
        args: SendArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum CampaignsCommand {
    /// List campaigns
    List {
        /// Print a JSON array
        #[arg(long)]
        json: bool,
    },
    /// Show one campaign
    Show {
        /// The campaign's number (see `gazette campaigns list`)
        id: i64,
        /// Print one JSON object
        #[arg(long)]
        json: bool,
    },
    /// Pause a campaign (a running sender stops after the messages in flight)
    Pause {
        /// The campaign's number
        id: i64,
    },
    /// Continue a paused or interrupted campaign in the foreground
    Resume {
        /// The campaign's number
        id: i64,
        /// Continue a campaign the circuit breaker paused (after a person
        /// looked at why)
        #[arg(long)]
        force: bool,
    },
    /// Cancel a campaign: nothing more is sent
    Cancel {
        /// The campaign's number
        id: i64,
    },
}

impl From<StatusArg> for Status {
    fn from(s: StatusArg) -> Self {
        use StatusArg as A;
        match s {
            A::Pending => Status::Pending,
            A::Active => Status::Active,
            A::Unsubscribed => Status::Unsubscribed,
            A::Bounced => Status::Bounced,
            A::Complained => Status::Complained,
        }
    }
}
