//! `aws-emulator --port N [--host H]`: serves the emulator until SIGTERM/SIGINT.

use aws_emulator::{Config, Emulator};
use clap::Parser;

#[derive(Parser)]
#[command(version, about = "In-memory SageMaker Studio / KMS / STS / S3 emulator")]
struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 4566)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Seed for generated ids and probabilistic faults.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let emu = Emulator::start(Config {
        host: args.host,
        port: args.port,
        seed: args.seed,
        ..Config::default()
    })
    .await?;
    eprintln!("listening on {}", emu.endpoint());
    shutdown_signal().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
