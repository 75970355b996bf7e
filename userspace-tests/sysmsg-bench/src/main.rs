//! `sysmsg-bench`: see the library ([`sysmsg_bench`]) and `sysmsg-bench --help`.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // First, so that every thread inherits the blocked signals and only the signal thread
    // takes them (and cleans up).
    sysmsg_bench::cleanup::install_signal_thread();
    let cli = sysmsg_bench::Cli::parse();
    if cli.list {
        print!("{}", sysmsg_bench::list_text());
        return ExitCode::SUCCESS;
    }
    match sysmsg_bench::run(&cli) {
        Ok(o) if o.incomplete => {
            eprintln!("sysmsg-bench: some series could not be measured: see the notes");
            ExitCode::from(1)
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("sysmsg-bench: {msg}");
            sysmsg_bench::cleanup::run_all();
            ExitCode::from(2)
        }
    }
}
