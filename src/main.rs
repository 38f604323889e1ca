//! The `paperboy` binary: parse the command line, set up logging, dispatch.

use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = paperboy::cli::Cli::parse();
    paperboy::logging::init();
    match paperboy::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}error: {e:#}", paperboy::logging::error_prefix());
            ExitCode::FAILURE
        }
    }
}
