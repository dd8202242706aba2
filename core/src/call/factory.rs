//! Builds the webrtc peer connections a call uses.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use rtc::ice::mdns::MulticastDnsMode;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpHeaderExtensionCapability, RtpCodecKind};
use rtc::sdp::extmap::SDES_MID_URI;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceServer, Registry, SettingEngineBuilder,
    register_default_interceptors,
};

use rtc::peer_connection::configuration::RTCIceTransportPolicy;

use super::options::{CallOptions, IceTransportPolicy};
use super::rtcp_forwarder::RtcpForwarder;
use crate::error::Result;
use rtc::interceptor::{Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use rtc::sansio;
use rtc::shared::error::Error;

/// A peer connection with every codec rtcgate carries, NACK/RTCP-report
/// interceptors, mDNS off (it needs a multicast route and leaks nothing useful
/// for a native peer), and the call's ICE servers, transport policy and timeouts.
pub(crate) async fn build_peer_connection(
    options: &CallOptions,
    handler: Arc<dyn PeerConnectionEventHandler>,
) -> Result<Arc<dyn PeerConnection>> {
    let mut media_engine = MediaEngine::default();
    media_engine.register_default_codecs()?;
    let registry = register_default_interceptors(Registry::new(), &mut media_engine)?
        // Before the NACK generator: retransmissions count as arrived (see RtxUnwrapper).
        .with(Slot::from(6_500), RtxUnwrapper::default())
        // Last in the chain: hands PLI/FIR and sender reports to rtcgate.
        .with(Slot::from(14_000), RtcpForwarder::default());
    // The defaults announce the MID header extension for video only; peers that
    // send no SSRCs in their SDP (GStreamer webrtcbin) need it to route audio too.
    media_engine.register_header_extension(
        RTCRtpHeaderExtensionCapability {
            uri: SDES_MID_URI.to_owned(),
        },
        RtpCodecKind::Audio,
        None,
    )?;
    let timeouts = options.ice_timeouts;
    if !timeouts.disconnected.is_zero()
        && (timeouts.keepalive_interval.is_zero()
            || timeouts.keepalive_interval >= timeouts.disconnected)
    {
        tracing::warn!(
            ?timeouts,
            "ICE keepalive interval not below the disconnected timeout: idle connections will look disconnected"
        );
    }
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .with_include_loopback_candidate(options.include_loopback)
        .with_ice_timeouts(
            Some(timeouts.disconnected),
            Some(timeouts.failed),
            Some(timeouts.keepalive_interval),
        )
        .build();
    let ice_servers = options
        .ice_servers
        .iter()
        .map(|server| RTCIceServer {
            urls: server.urls.clone(),
            username: server.username.clone(),
            credential: server.credential.clone(),
        })
        .collect();
    let policy = match options.ice_transport_policy {
        IceTransportPolicy::All => RTCIceTransportPolicy::All,
        IceTransportPolicy::Relay => {
            if !options.ice_servers.iter().any(has_udp_turn_url) {
                tracing::warn!(
                    "relay-only ICE policy without a TURN (UDP) server: no connection can form"
                );
            }
            RTCIceTransportPolicy::Relay
        }
    };
    let configuration = RTCConfigurationBuilder::new()
        .with_ice_servers(ice_servers)
        .with_ice_transport_policy(policy)
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(configuration)
        .with_media_engine(media_engine)
        .with_setting_engine(settings)
        .with_interceptor_registry(registry)
        .with_handler(handler)
        .with_udp_addrs(options.udp_addrs.clone())
        .build()
        .await?;
    Ok(Arc::new(pc))
}

/// True when `server` has a URL the stack can relay through (`turn:` over UDP).
fn has_udp_turn_url(server: &super::options::IceServer) -> bool {
    server.urls.iter().any(|url| {
        let url = url.to_ascii_lowercase();
        url.starts_with("turn:") && (!url.contains("transport=") || url.contains("transport=udp"))
    })
}

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
struct RtxUnwrapper {
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
