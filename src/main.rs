use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = gazette::cli::Cli::parse();
    match gazette::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
