//! Reads the RTP test vectors in `core/tests/data/rtp/` (format in its README).

use rtc::rtp::packet::Packet;
use rtc::shared::marshal::Unmarshal;

/// The packets of `core/tests/data/rtp/<name>`, in order.
pub(crate) fn read(name: &str) -> Vec<Packet> {
    let path = format!("{}/tests/data/rtp/{name}", env!("CARGO_MANIFEST_DIR"));
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut packets = Vec::new();
    let mut rest = &data[..];
    while rest.len() >= 4 {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let mut packet = &rest[4..4 + len];
        packets.push(Packet::unmarshal(&mut packet).expect("an RTP packet"));
        rest = &rest[4 + len..];
    }
    packets
}
