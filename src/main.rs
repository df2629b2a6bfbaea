//! The `abm` command line. It parses arguments and hands off to the library (`abm::cli`).

use std::process::ExitCode;

use clap::Parser;

// Imports allocate and free many small strings across threads; mimalloc handles that far
// better than the system allocator (measured: see bench/import.sh).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    abm::cli::main(abm::cli::Cli::parse())
}
