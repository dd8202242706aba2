//! Keeps our DTLS role stable across renegotiations.
//!
//! rtc 0.21's `create_answer` always answers with its configured answering role
//! (`a=setup:active`), even in a renegotiation where this side became the DTLS
//! server during the first exchange (it offered `actpass` and the remote
//! answered `active`). Browsers then reject the answer ("Failed to set SSL role
//! for the transport"). RFC 8842 §5.5 requires the answerer to keep the role
//! of the established association, so we remember the role and rewrite the
//! `a=setup` lines of later answers. To be reported upstream.

/// Our side of the DTLS association, as an `a=setup` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetupRole {
    /// We are the DTLS client.
    Active,
    /// We are the DTLS server.
    Passive,
}

impl SetupRole {
    fn attribute(self) -> &'static str {
        match self {
            SetupRole::Active => "a=setup:active",
            SetupRole::Passive => "a=setup:passive",
        }
    }
}

/// The `a=setup` role an SDP declares (first occurrence), if concrete.
pub(crate) fn declared_role(sdp: &str) -> Option<SetupRole> {
    sdp.lines().find_map(|line| match line.trim_end() {
        "a=setup:active" => Some(SetupRole::Active),
        "a=setup:passive" => Some(SetupRole::Passive),
        _ => None,
    })
}

/// Our role once the remote answered our offer with `remote`.
pub(crate) fn role_from_remote_answer(remote: &str) -> Option<SetupRole> {
    declared_role(remote).map(|role| match role {
        SetupRole::Active => SetupRole::Passive,
        SetupRole::Passive => SetupRole::Active,
    })
}

/// Rewrites every concrete `a=setup` line of our answer to `role`.
pub(crate) fn force_role(answer: &str, role: SetupRole) -> String {
    let mut out = String::with_capacity(answer.len());
    for line in answer.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        if body == "a=setup:active" || body == "a=setup:passive" {
            out.push_str(role.attribute());
            out.push_str(&line[body.len()..]);
        } else {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=setup:active\r\na=mid:0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=setup:active\r\n";

    #[test]
    fn reads_roles() {
        assert_eq!(declared_role(ANSWER), Some(SetupRole::Active));
        assert_eq!(role_from_remote_answer(ANSWER), Some(SetupRole::Passive));
        assert_eq!(declared_role("a=setup:actpass\r\n"), None);
    }

    #[test]
    fn rewrites_every_setup_line_and_keeps_line_endings() {
        let fixed = force_role(ANSWER, SetupRole::Passive);
        assert_eq!(fixed.matches("a=setup:passive\r\n").count(), 2);
        assert!(!fixed.contains("a=setup:active"));
        assert_eq!(fixed.len(), ANSWER.len() + 2);
    }
}
