use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    gazette::error::install_panic_hook();
    let cli = gazette::cli::Cli::parse();
    match gazette::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_closed_output() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
