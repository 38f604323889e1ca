//! The `paperboy` binary: parse the command line, set up logging, dispatch.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser as _;

/// mimalloc rather than the system allocator: matching and rendering make
/// many small short-lived allocations, and glibc's malloc was a third of a
/// million-subscriber planning profile (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = paperboy::cli::Cli::parse();
    paperboy::logging::init();
    match paperboy::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}error: {e:#}", paperboy::logging::error_prefix());
            if let Some(exit) = e.downcast_ref::<paperboy::cli::Exit>() {
                return ExitCode::from(exit.code);
            }
            match e.downcast_ref::<paperboy::cli::Degraded>() {
                Some(_) => ExitCode::from(paperboy::cli::Degraded::EXIT_CODE),
                None => ExitCode::FAILURE,
            }
        }
    }
}
