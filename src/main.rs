//! studio-operator's binary: parses the command line and dispatches (everything else is in the
//! library, `studio_operator::cli`).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use studio_operator::cli::{Cli, dispatch};

#[tokio::main]
async fn main() -> ExitCode {
    dispatch(Cli::parse()).await
}
