//! `Link: <turn:…>; rel="ice-server"; username="…"; credential="…"` headers
//! (RFC 9725 §4.6, RFC 8288) read into ICE servers.

use crate::options::IceServer;

/// The ICE servers among `values` (each the value of one `Link` header,
/// possibly several comma-separated links).
pub(crate) fn ice_servers(values: &[&str]) -> Vec<IceServer> {
    let mut servers = Vec::new();
    for value in values {
        for link in split_outside_quotes(value, ',') {
            if let Some(server) = parse_link(link.trim()) {
                servers.push(server);
            }
        }
    }
    servers
}

fn parse_link(link: &str) -> Option<IceServer> {
    let rest = link.strip_prefix('<')?;
    let (target, params) = rest.split_once('>')?;
    let mut rel = None;
    let mut username = String::new();
    let mut credential = String::new();
    for param in split_outside_quotes(params, ';') {
        let Some((name, value)) = param.trim().split_once('=') else {
            continue;
        };
        let value = unquote(value.trim());
        match name.trim().to_ascii_lowercase().as_str() {
            "rel" => rel = Some(value),
            "username" => username = value,
            "credential" => credential = value,
            _ => {}
        }
    }
    let is_ice = rel?
        .split_ascii_whitespace()
        .any(|r| r.eq_ignore_ascii_case("ice-server"));
    let scheme_ok = ["stun:", "stuns:", "turn:", "turns:"]
        .iter()
        .any(|s| target.to_ascii_lowercase().starts_with(s));
    (is_ice && scheme_ok).then(|| IceServer::turn(target, username, credential))
}

fn unquote(value: &str) -> String {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => value.to_owned(),
    }
}

/// Splits on `separator` outside double quotes and angle brackets.
fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut quoted, mut bracketed, mut escaped, mut start) = (false, false, false, 0);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' if !bracketed => quoted = !quoted,
            '<' if !quoted => bracketed = true,
            '>' if !quoted => bracketed = false,
            c if c == separator && !quoted && !bracketed => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_9725_examples() {
        let servers = ice_servers(&[
            "<stun:stun.example.net>; rel=\"ice-server\"",
            "<turn:turn.example.net?transport=udp>; rel=\"ice-server\"; username=\"user\"; credential=\"myPassword\"; credential-type=\"password\", <turns:turn.example.net?transport=tcp>; rel=\"ice-server\"; username=\"user\"; credential=\"my;Pass,word\"",
            "<https://example.org/ext>; rel=\"urn:ietf:params:whip:ext:example:server-sent-events\"",
        ]);
        assert_eq!(servers.len(), 3, "{servers:?}");
        assert_eq!(servers[0], IceServer::turn("stun:stun.example.net", "", ""));
        assert_eq!(
            servers[1],
            IceServer::turn("turn:turn.example.net?transport=udp", "user", "myPassword")
        );
        assert_eq!(servers[2].credential, "my;Pass,word");
    }
}
