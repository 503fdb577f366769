//! `wxcoupon`: the reference host's command line.

mod cli;
// The demo links the simulator: production builds leave it out (`--no-default-features`).
#[cfg(feature = "demo")]
mod demo;
mod describe;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(cli::EXIT_HOST);
        }
    };
    runtime.block_on(cli::run(args))
}
