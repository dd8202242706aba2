//! `rtcgate token`: mints a signed access token for a server that requires
//! them (`rtcgate-server --token-key-id`), LiveKit-shaped claims.
//!
//! ```text
//! RTCGATE_TOKEN_SECRET=… rtcgate token --key-id k1 --identity alice --room board --ttl 2h
//! rtcgate token --key-id ed1 --ed25519-key private.pem --identity bob --room board --grants join,subscribe
//! ```

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use rtcgate_core::signalling::token::{AccessToken, VideoGrant};

/// Options of `rtcgate token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Key id (the token's `iss`): names the key the server verifies with.
    #[arg(long)]
    key_id: String,
    /// Identity of the member (`sub`).
    #[arg(long)]
    identity: String,
    /// Room the token admits to.
    #[arg(long)]
    room: String,
    /// Display name (default: the identity).
    #[arg(long)]
    name: Option<String>,
    /// Validity: seconds, or a number with s, m, h or d.
    #[arg(long, default_value = "6h", value_parser = parse_ttl)]
    ttl: Duration,
    /// Grants, comma-separated: join, publish, subscribe, record.
    #[arg(long, default_value = "join,publish,subscribe", value_delimiter = ',')]
    grants: Vec<String>,
    /// File holding the HS256 secret (default: the environment variable
    /// RTCGATE_TOKEN_SECRET).
    #[arg(long, conflicts_with = "ed25519_key")]
    secret_file: Option<PathBuf>,
    /// Sign with EdDSA and this Ed25519 private key (PKCS#8 PEM) instead of HS256.
    #[arg(long)]
    ed25519_key: Option<PathBuf>,
}

/// Prints the token on stdout.
pub fn run(args: TokenArgs) -> Result<(), String> {
    let grant = grant(&args.room, &args.grants)?;
    let mut token = AccessToken::new(&args.key_id, &args.identity)
        .with_grant(grant)
        .with_ttl(args.ttl);
    if let Some(name) = &args.name {
        token = token.with_name(name);
    }
    let jwt = match (&args.ed25519_key, &args.secret_file) {
        (Some(file), _) => {
            let pem = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
            token.sign_ed25519_pem(&pem)
        }
        (None, Some(file)) => {
            let secret =
                std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
            token.sign_hs256(secret.trim_end_matches(['\r', '\n']))
        }
        (None, None) => {
            let secret = std::env::var("RTCGATE_TOKEN_SECRET").map_err(|_| {
                "no secret: set RTCGATE_TOKEN_SECRET, or give --secret-file or --ed25519-key"
                    .to_owned()
            })?;
            token.sign_hs256(secret)
        }
    }
    .map_err(|e| e.to_string())?;
    println!("{jwt}");
    Ok(())
}

/// The grant for `room` with the named permissions.
fn grant(room: &str, names: &[String]) -> Result<VideoGrant, String> {
    let has = |name: &str| names.iter().any(|n| n.trim() == name);
    if let Some(unknown) = names
        .iter()
        .map(|n| n.trim())
        .find(|n| !["join", "publish", "subscribe", "record"].contains(n))
    {
        return Err(format!(
            "unknown grant `{unknown}` (join, publish, subscribe, record)"
        ));
    }
    let mut grant = VideoGrant::join(room)
        .with_publish(has("publish"))
        .with_subscribe(has("subscribe"))
        .with_record(has("record"));
    grant.room_join = has("join");
    Ok(grant)
}

/// `90`, `90s`, `15m`, `2h`, `7d`.
fn parse_ttl(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("expected seconds or a number with s/m/h/d, got `{text}`"))?;
    let seconds = match unit {
        's' => n,
        'm' => n * 60,
        'h' => n * 3600,
        'd' => n * 86_400,
        _ => return Err(format!("unknown unit in `{text}` (s, m, h, d)")),
    };
    if seconds == 0 {
        return Err("the validity must be positive".into());
    }
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_ttl("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_ttl("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_ttl("1d").unwrap(), Duration::from_secs(86_400));
        assert!(parse_ttl("0").is_err());
        assert!(parse_ttl("2w").is_err());
        assert!(parse_ttl("h").is_err());
    }

    #[test]
    fn grants_by_name() {
        let g = grant("r", &["join".into(), "subscribe".into()]).unwrap();
        assert!(g.room_join && g.may_subscribe() && !g.may_publish() && !g.room_record);
        assert!(grant("r", &["fly".into()]).is_err());
    }
}
