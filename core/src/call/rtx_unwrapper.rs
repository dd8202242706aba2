//! [`RtxUnwrapper`]: an interceptor that turns inbound RTX retransmissions
//! back into the packets they repair before the NACK generator sees them.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use rtc::interceptor::{Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::sansio;
use rtc::shared::error::Error;

/// Turns inbound RTX retransmissions (RFC 4588) back into the packets they
/// repair, before the NACK generator looks for gaps.
///
/// rtc 0.21 de-encapsulates RTX only at the end of the chain, so its NACK
/// generator never sees a retransmission arrive: it asks for every lost packet
/// again every 100 ms until the packet leaves its 512-packet window, and the
/// sender resends it each time (measured: ~40 copies per lost video packet, a
/// retransmission storm that saturates a constrained link). Unwrapped here, a
/// repaired packet is logged as received and asked for no more. What this does
/// is what rtc's endpoint does later (same SSRC, payload type and sequence
/// number rewrite); RTX packets without an original sequence number (padding
/// probes) pass unchanged and are dropped there. To be reported upstream.
#[derive(Default)]
pub(crate) struct RtxUnwrapper {
    /// RTX SSRC -> (primary SSRC, RTX payload type, primary payload type).
    streams: HashMap<u32, (u32, u8, u8)>,
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

impl sansio::Protocol<TaggedPacket, TaggedPacket, ()> for RtxUnwrapper {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> std::result::Result<(), Self::Error> {
        if let Packet::Rtp(packet) = &mut msg.message.packet
            && let Some(&(primary_ssrc, rtx_payload_type, primary_payload_type)) =
                self.streams.get(&packet.header.ssrc)
            && packet.header.payload_type == rtx_payload_type
            && packet.payload.len() >= 2
        {
            packet.header.ssrc = primary_ssrc;
            packet.header.payload_type = primary_payload_type;
            packet.header.sequence_number =
                u16::from_be_bytes([packet.payload[0], packet.payload[1]]);
            packet.header.padding = false;
            packet.payload = packet.payload.slice(2..);
        }
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> std::result::Result<(), Self::Error> {
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }

    fn handle_timeout(&mut self, _now: Instant) -> std::result::Result<(), Self::Error> {
        Ok(())
    }

    fn poll_timeout(&mut self) -> Option<Self::Time> {
        None
    }
}

impl Interceptor for RtxUnwrapper {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}

    fn bind_remote_stream(&mut self, info: &StreamInfo) {
        if let (Some(rtx_ssrc), Some(rtx_payload_type)) = (info.ssrc_rtx, info.payload_type_rtx) {
            self.streams
                .insert(rtx_ssrc, (info.ssrc, rtx_payload_type, info.payload_type));
        }
    }

    fn unbind_remote_stream(&mut self, info: &StreamInfo) {
        self.streams
            .retain(|_, (primary, _, _)| *primary != info.ssrc);
    }
}
