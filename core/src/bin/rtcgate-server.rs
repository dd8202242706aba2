//! `rtcgate-server`: the embedded signalling server as a program.
//!
//! ```text
//! rtcgate-server --listen 0.0.0.0:8080 --web-root examples/web --room-token demo=secret
//! rtcgate-server --listen 0.0.0.0:8443 --web-root examples/web \
//!     --tls-cert cert.pem --tls-key key.pem --token-key-id k1   # secret in RTCGATE_TOKEN_SECRET
//! ```
//!
//! Logs go to stderr; `RUST_LOG` sets the filter (default `info`). Stops
//! cleanly on Ctrl-C or SIGTERM.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rtcgate_core::signalling::token::TokenKey;
use rtcgate_core::signalling::{ServerConfig, SignallingServer, TlsConfig};
use tracing_subscriber::EnvFilter;

/// Embedded rtcgate signalling server (rooms over WebSocket + JSON).
#[derive(Debug, Parser)]
#[command(name = "rtcgate-server", version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory served as static files at `/` (e.g. examples/web).
    #[arg(long, value_name = "DIR")]
    web_root: Option<PathBuf>,
    /// Fixed token for a room, as ROOM=TOKEN; repeat for more rooms.
    #[arg(long = "room-token", value_name = "ROOM=TOKEN", value_parser = parse_room_token)]
    room_tokens: Vec<(String, String)>,
    /// Certificate chain (PEM) for `https://` and `wss://`; needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require signed access tokens (HS256) from the key with this id (the
    /// tokens' `iss`); the secret comes from the environment variable
    /// RTCGATE_TOKEN_SECRET, or from --token-secret-file.
    #[arg(long, value_name = "ID")]
    token_key_id: Option<String>,
    /// File holding the HS256 secret of --token-key-id (trailing newline ignored).
    #[arg(long, value_name = "FILE", requires = "token_key_id")]
    token_secret_file: Option<PathBuf>,
    /// Require signed access tokens (EdDSA) verified with this Ed25519 public
    /// key, as ID=PEM-FILE; repeat for more keys.
    #[arg(long = "token-public-key", value_name = "ID=FILE", value_parser = parse_room_token)]
    token_public_keys: Vec<(String, String)>,
}

/// The token keys the flags name.
fn token_keys(args: &Args) -> Result<Vec<TokenKey>, String> {
    let mut keys = Vec::new();
    if let Some(id) = &args.token_key_id {
        let secret = match &args.token_secret_file {
            Some(file) => std::fs::read_to_string(file)
                .map_err(|e| format!("--token-secret-file {}: {e}", file.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            None => std::env::var("RTCGATE_TOKEN_SECRET").map_err(|_| {
                "--token-key-id needs the secret in RTCGATE_TOKEN_SECRET or --token-secret-file"
                    .to_owned()
            })?,
        };
        keys.push(TokenKey::hs256(id.clone(), secret).map_err(|e| e.to_string())?);
    }
    for (id, file) in &args.token_public_keys {
        let pem = std::fs::read(file).map_err(|e| format!("--token-public-key {file}: {e}"))?;
        keys.push(TokenKey::ed25519_public_pem(id.clone(), &pem).map_err(|e| e.to_string())?);
    }
    Ok(keys)
}

fn parse_room_token(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((room, token)) if !room.is_empty() && !token.is_empty() => {
            Ok((room.to_owned(), token.to_owned()))
        }
        _ => Err(format!("expected ROOM=TOKEN, got `{value}`")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rtcgate-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let mut config = ServerConfig::default();
    match token_keys(&args) {
        Ok(keys) => config.token_keys = keys,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        match TlsConfig::from_pem_files(cert, key) {
            Ok(tls) => config.tls = Some(tls),
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::FAILURE;
            }
        }
    }
    config.web_root = args.web_root;
    config.room_tokens = args.room_tokens.into_iter().collect::<HashMap<_, _>>();
    let server = match SignallingServer::bind(args.listen, config).await {
        Ok(server) => server,
        Err(e) => {
            tracing::error!("cannot start the signalling server: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        "signalling at {}, static files at {}",
        server.url(),
        server.http_url()
    );
    wait_for_stop_signal().await;
    tracing::info!("stopping");
    server.shutdown().await;
    ExitCode::SUCCESS
}

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_token_flag_parses() {
        assert_eq!(
            parse_room_token("demo=s=cret").unwrap(),
            ("demo".into(), "s=cret".into())
        );
        assert!(parse_room_token("demo").is_err());
        assert!(parse_room_token("=x").is_err());
        assert!(parse_room_token("x=").is_err());
    }

    #[test]
    fn flags_parse() {
        let args = Args::try_parse_from([
            "rtcgate-server",
            "--listen",
            "127.0.0.1:0",
            "--room-token",
            "a=1",
            "--room-token",
            "b=2",
        ])
        .unwrap();
        assert_eq!(args.room_tokens.len(), 2);
        assert!(args.web_root.is_none());
    }
}
