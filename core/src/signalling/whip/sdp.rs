//! The SDP handling a WHIP/WHEP client needs besides the WebRTC stack:
//! candidates added to an offer held back for them, trickle-ice-sdpfrag
//! bodies (RFC 8840) for PATCH, and an ICE restart's answer fragment merged
//! into the session's last answer, so the stack sees a complete description.

use crate::signalling::IceCandidate;

/// The ICE credentials of a description or fragment (the first ones found).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IceCredentials {
    pub ufrag: String,
    pub pwd: String,
}

/// Reads `a=ice-ufrag` and `a=ice-pwd`.
pub(crate) fn ice_credentials(sdp: &str) -> Option<IceCredentials> {
    let ufrag = attribute(sdp, "ice-ufrag")?;
    let pwd = attribute(sdp, "ice-pwd")?;
    Some(IceCredentials {
        ufrag: ufrag.to_owned(),
        pwd: pwd.to_owned(),
    })
}

fn attribute<'a>(sdp: &'a str, name: &str) -> Option<&'a str> {
    sdp.lines()
        .filter_map(|l| l.trim_end().strip_prefix("a="))
        .find_map(|a| a.strip_prefix(name)?.strip_prefix(':'))
}

/// The `a=candidate:` attribute of `candidate` (its text may or may not have
/// the `candidate:` prefix, as `RTCIceCandidateInit` allows).
fn candidate_line(candidate: &IceCandidate) -> String {
    let text = candidate.candidate.trim();
    let text = text.strip_prefix("a=").unwrap_or(text);
    if text.starts_with("candidate:") {
        format!("a={text}")
    } else {
        format!("a=candidate:{text}")
    }
}

/// `sdp` split into its session part and its media sections (each starting
/// with its `m=` line), as lines without line ends.
fn sections(sdp: &str) -> (Vec<&str>, Vec<Vec<&str>>) {
    let mut session = Vec::new();
    let mut media: Vec<Vec<&str>> = Vec::new();
    for line in sdp.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        if line.starts_with("m=") {
            media.push(vec![line]);
        } else if let Some(section) = media.last_mut() {
            section.push(line);
        } else {
            session.push(line);
        }
    }
    (session, media)
}

fn join(session: &[&str], media: &[Vec<&str>], extra_first: &[String]) -> String {
    let mut out = String::new();
    for line in session {
        out.push_str(line);
        out.push_str("\r\n");
    }
    for (i, section) in media.iter().enumerate() {
        for line in section {
            out.push_str(line);
            out.push_str("\r\n");
        }
        if i == 0 {
            for line in extra_first {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
    }
    out
}

/// `sdp` with `candidates` added to its first media section (the bundle's
/// transport), skipping any it has already, and `a=end-of-candidates` when
/// `complete`.
pub(crate) fn with_candidates(sdp: &str, candidates: &[IceCandidate], complete: bool) -> String {
    let (session, media) = sections(sdp);
    if media.is_empty() {
        return sdp.to_owned();
    }
    let mut extra: Vec<String> = Vec::new();
    for candidate in candidates.iter().filter(|c| !c.candidate.is_empty()) {
        let line = candidate_line(candidate);
        if !media[0].contains(&line.as_str()) && !extra.contains(&line) {
            extra.push(line);
        }
    }
    if complete && !media[0].contains(&"a=end-of-candidates") {
        extra.push("a=end-of-candidates".into());
    }
    join(&session, &media, &extra)
}

/// A trickle-ice-sdpfrag (RFC 8840) with `candidates` for the first media
/// section of `offer` (bundle: one transport), under the offer's current ICE
/// credentials.
pub(crate) fn trickle_fragment(
    offer: &str,
    credentials: &IceCredentials,
    candidates: &[IceCandidate],
    complete: bool,
) -> String {
    let (_, media) = sections(offer);
    let mut out = format!(
        "a=ice-ufrag:{}\r\na=ice-pwd:{}\r\n",
        credentials.ufrag, credentials.pwd
    );
    if let Some(first) = media.first() {
        out.push_str(first[0]);
        out.push_str("\r\n");
        if let Some(mid) = first.iter().find(|l| l.starts_with("a=mid:")) {
            out.push_str(mid);
            out.push_str("\r\n");
        }
    }
    for candidate in candidates.iter().filter(|c| !c.candidate.is_empty()) {
        out.push_str(&candidate_line(candidate));
        out.push_str("\r\n");
    }
    if complete {
        out.push_str("a=end-of-candidates\r\n");
    }
    out
}

/// The fragment of an ICE restart request: the new credentials only.
pub(crate) fn restart_fragment(credentials: &IceCredentials) -> String {
    format!(
        "a=ice-ufrag:{}\r\na=ice-pwd:{}\r\n",
        credentials.ufrag, credentials.pwd
    )
}

/// `answer` as the server's restart `fragment` changes it: its credentials
/// replace the old ones everywhere, and its candidates (if any) replace the
/// old candidates. `None` when the fragment has no credentials.
pub(crate) fn apply_restart(answer: &str, fragment: &str) -> Option<String> {
    let credentials = ice_credentials(fragment)?;
    let new_candidates: Vec<String> = fragment
        .lines()
        .map(str::trim_end)
        .filter(|l| l.starts_with("a=candidate:"))
        .map(str::to_owned)
        .collect();
    let complete = fragment
        .lines()
        .any(|l| l.trim_end() == "a=end-of-candidates");
    let (session, media) = sections(answer);
    let rewrite = |line: &str| -> Option<String> {
        if line.starts_with("a=ice-ufrag:") {
            Some(format!("a=ice-ufrag:{}", credentials.ufrag))
        } else if line.starts_with("a=ice-pwd:") {
            Some(format!("a=ice-pwd:{}", credentials.pwd))
        } else if line.starts_with("a=candidate:") || line == "a=end-of-candidates" {
            None
        } else {
            Some(line.to_owned())
        }
    };
    let session: Vec<String> = session.iter().filter_map(|l| rewrite(l)).collect();
    let media: Vec<Vec<String>> = media
        .iter()
        .map(|section| section.iter().filter_map(|l| rewrite(l)).collect())
        .collect();
    let session: Vec<&str> = session.iter().map(String::as_str).collect();
    let media: Vec<Vec<&str>> = media
        .iter()
        .map(|s| s.iter().map(String::as_str).collect())
        .collect();
    let mut extra = new_candidates;
    if complete {
        extra.push("a=end-of-candidates".into());
    }
    Some(join(&session, &media, &extra))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=ice-ufrag:AAAA\r\na=ice-pwd:aaaaaaaaaaaaaaaaaaaaaaaa\r\n\
        a=candidate:1 1 udp 2130706431 10.99.0.1 5000 typ host\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=ice-ufrag:AAAA\r\na=ice-pwd:aaaaaaaaaaaaaaaaaaaaaaaa\r\n";

    fn candidate(text: &str) -> IceCandidate {
        IceCandidate {
            candidate: text.into(),
            sdp_mid: Some("0".into()),
            ..Default::default()
        }
    }

    #[test]
    fn candidates_join_the_first_section_once() {
        let sdp = with_candidates(
            OFFER,
            &[
                candidate("candidate:1 1 udp 2130706431 10.99.0.1 5000 typ host"),
                candidate("candidate:2 1 udp 2130706431 10.99.0.2 5001 typ host"),
                candidate("candidate:2 1 udp 2130706431 10.99.0.2 5001 typ host"),
                candidate(""),
            ],
            true,
        );
        assert_eq!(sdp.matches("a=candidate:1 ").count(), 1, "{sdp}");
        assert_eq!(sdp.matches("a=candidate:2 ").count(), 1, "{sdp}");
        let video = sdp.find("m=video").unwrap();
        assert!(sdp.find("a=candidate:2").unwrap() < video);
        assert!(sdp.find("a=end-of-candidates").unwrap() < video);
        assert!(sdp.ends_with("\r\n"));
    }

    #[test]
    fn trickle_fragments_follow_rfc_8840() {
        let credentials = ice_credentials(OFFER).unwrap();
        assert_eq!(credentials.ufrag, "AAAA");
        let frag = trickle_fragment(
            OFFER,
            &credentials,
            &[candidate("candidate:3 1 udp 1 192.0.2.1 9 typ host")],
            true,
        );
        assert_eq!(
            frag,
            "a=ice-ufrag:AAAA\r\na=ice-pwd:aaaaaaaaaaaaaaaaaaaaaaaa\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n\
             a=candidate:3 1 udp 1 192.0.2.1 9 typ host\r\na=end-of-candidates\r\n"
        );
        assert_eq!(
            restart_fragment(&credentials),
            "a=ice-ufrag:AAAA\r\na=ice-pwd:aaaaaaaaaaaaaaaaaaaaaaaa\r\n"
        );
    }

    #[test]
    fn a_restart_fragment_rewrites_the_answer() {
        let answer = with_candidates(OFFER, &[], true);
        let merged = apply_restart(
            &answer,
            "a=ice-lite\r\na=ice-ufrag:BBBB\r\na=ice-pwd:bbbbbbbbbbbbbbbbbbbbbbbb\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:9 1 udp 5 192.0.2.9 7 typ host\r\n",
        )
        .unwrap();
        assert!(!merged.contains("AAAA") && merged.matches("a=ice-ufrag:BBBB").count() == 2);
        assert!(!merged.contains("10.99.0.1") && merged.contains("a=candidate:9 "));
        assert!(!merged.contains("end-of-candidates"));
        assert!(apply_restart(&answer, "a=candidate:9 1 udp 5 192.0.2.9 7 typ host\r\n").is_none());
    }
}
