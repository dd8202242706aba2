//! Counts the media a member announced it sends, from its session description.
//!
//! webrtc-rs reports a remote track only when its first RTP packet arrives,
//! so a member's video may be reported well after its audio although both
//! were negotiated together. The recorder uses this count to wait for every
//! announced track before it writes a file's header.

/// Audio/video sections of `sdp` whose direction says the describing side
/// sends (`sendrecv`, the default, or `sendonly`), with a media stream id or
/// an SSRC (a transceiver with a track), and a non-zero port.
pub(crate) fn sending_media_sections(sdp: &str) -> usize {
    let mut count = 0;
    let mut section: Option<Section> = None;
    for line in sdp.lines().map(str::trim) {
        if let Some(media) = line.strip_prefix("m=") {
            count += section.take().map_or(0, |s| usize::from(s.sends()));
            let mut fields = media.split_whitespace();
            let kind = fields.next().unwrap_or_default();
            let port = fields.next().unwrap_or("0");
            if (kind == "audio" || kind == "video") && port != "0" {
                section = Some(Section::default());
            }
        } else if let Some(s) = section.as_mut() {
            match line {
                "a=sendonly" | "a=sendrecv" => s.sending = Some(true),
                "a=recvonly" | "a=inactive" => s.sending = Some(false),
                _ if line.starts_with("a=msid:") || line.starts_with("a=ssrc:") => s.track = true,
                _ => {}
            }
        }
    }
    count + section.map_or(0, |s| usize::from(s.sends()))
}

#[derive(Default)]
struct Section {
    sending: Option<bool>,
    track: bool,
}

impl Section {
    fn sends(&self) -> bool {
        self.sending.unwrap_or(true) && self.track
    }
}

#[cfg(test)]
mod tests {
    use super::sending_media_sections;

    #[test]
    fn counts_sections_that_send_a_track() {
        let sdp = "v=0\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendrecv\r\na=msid:s a\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\na=ssrc:1 cname:x\r\n\
            m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\na=msid:s v\r\n\
            m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendrecv\r\n";
        assert_eq!(sending_media_sections(sdp), 2);
    }
}
