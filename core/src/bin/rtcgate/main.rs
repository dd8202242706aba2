//! `rtcgate`: the command-line front end of rtcgate-core.
//!
//! ```text
//! rtcgate record               # the main job: record a room (embedded server, test pattern if empty)
//! rtcgate demo                 # server + web page + test-pattern member, prints what it receives
//! rtcgate publish --to URL     # the test pattern (or clips) to a WHIP endpoint or a room
//! rtcgate token --key-id K …   # a signed access token for a server that requires them
//! ```
//!
//! Logs go to stderr (`RUST_LOG`, default `warn` without webrtc-rs's set-up
//! noise: `rtcgate_core::logging::QUIET_WEBRTC_LOGS`); progress lines to stdout.

mod demo;
mod interfaces;
mod monitor;
mod publish;
mod record;
mod test_pattern;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// rtcgate: join WebRTC calls from native code.
#[derive(Debug, Parser)]
#[command(name = "rtcgate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Record every participant of a room into a folder (one file each),
    /// on the embedded signalling server unless `--server` is given.
    Record(record::RecordArgs),
    /// Start the embedded signalling server with the web page, and a native
    /// member that sends a test pattern and prints what it receives.
    Demo(demo::DemoArgs),
    /// Send the test pattern (or clips) to a WHIP endpoint
    /// (`whip+http(s)://…`) or into a room (`ws://…/ws`).
    Publish(publish::PublishArgs),
    /// Mint a signed access token (JWT, LiveKit-shaped claims) for a server
    /// started with --token-key-id or --token-public-key.
    Token(token::TokenArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A file-size limit (`ulimit -f`) must surface as a write error (EFBIG)
    // for the one recording that hit it, not kill the process.
    // SAFETY: setting a signal's disposition to "ignore" before any thread starts.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    // Warnings by default, without those webrtc-rs logs in every healthy
    // connection (`QUIET_WEBRTC_LOGS` says which and why); RUST_LOG replaces it.
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            EnvFilter::new(format!("warn,{}", rtcgate_core::logging::QUIET_WEBRTC_LOGS))
        }))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rtcgate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Record(args) => record::run(args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Publish(args) => publish::run(args).await,
            Command::Token(args) => token::run(args),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rtcgate: {e}");
            ExitCode::FAILURE
        }
    }
}
