//! `sysmsgctl`: see the library ([`sysmsgctl`]) and `sysmsgctl --help`.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = sysmsgctl::Cli::parse();
    match sysmsgctl::run(&cli, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("sysmsgctl: {msg}");
            ExitCode::FAILURE
        }
    }
}
