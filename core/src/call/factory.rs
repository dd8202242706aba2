//! Builds the webrtc peer connections a call uses.

use std::sync::Arc;

use rtc::ice::mdns::MulticastDnsMode;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpHeaderExtensionCapability, RtpCodecKind};
use rtc::sdp::extmap::SDES_MID_URI;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceServer, Registry, SettingEngineBuilder,
    register_default_interceptors,
};

use rtc::peer_connection::configuration::RTCIceTransportPolicy;

use super::rtcp_forwarder::RtcpForwarder;
use super::rtx_unwrapper::RtxUnwrapper;
use super::socket_runtime::SocketBufferRuntime;
use super::stream_feedback::{FeedbackInterceptor, FeedbackRegistry};
use crate::error::{Result, WebRtcResultExt};
use crate::options::{CallOptions, IceTransportPolicy};
use rtc::interceptor::Slot;

/// Pacing of ICE connectivity checks while connecting (RFC 8445's Ta is 50 ms).
/// webrtc-rs checks every 200 ms by default, and a check the agent decides on
/// between two ticks (the triggered check for a peer-reflexive candidate learnt
/// from the other side's check) waits for the next one: ~5 % of joins took
/// 200 ms longer (docs/transport.md).
const ICE_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(25);
/// Checks per candidate pair before it fails: 56 × 25 ms keeps webrtc-rs's
/// default span of 1.4 s (7 × 200 ms) for slow and lossy paths.
const ICE_MAX_BINDING_REQUESTS: u16 = 56;

/// A peer connection with every codec rtcgate carries, NACK/RTCP-report
/// interceptors (the RTCP of forwarded streams handled through `feedback`),
/// mDNS off (it needs a multicast route and leaks nothing useful for a
/// native peer), and the call's ICE servers, transport policy and timeouts.
pub(crate) async fn build_peer_connection(
    options: &CallOptions,
    handler: Arc<dyn PeerConnectionEventHandler>,
    feedback: Arc<FeedbackRegistry>,
) -> Result<Arc<dyn PeerConnection>> {
    let mut media_engine = MediaEngine::default();
    super::codec_preferences::register_codecs(&mut media_engine).webrtc()?;
    let registry = register_default_interceptors(Registry::new(), &mut media_engine)
        .webrtc()?
        // Before the NACK generator: retransmissions count as arrived (see RtxUnwrapper).
        .with(Slot::from(6_500), RtxUnwrapper::default())
        // Between the pacer and the NACK responder: forwarded streams' sender
        // reports, receiver reports, NACKs and retransmissions (see stream_feedback).
        .with(Slot::from(3_500), FeedbackInterceptor::new(feedback))
        // Last in the chain: hands PLI/FIR and sender reports to rtcgate.
        .with(Slot::from(14_000), RtcpForwarder::default());
    // The defaults announce the MID header extension for video only; peers that
    // send no SSRCs in their SDP (GStreamer webrtcbin) need it to route audio too.
    media_engine
        .register_header_extension(
            RTCRtpHeaderExtensionCapability {
                uri: SDES_MID_URI.to_owned(),
            },
            RtpCodecKind::Audio,
            None,
        )
        .webrtc()?;
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
        .with_ice_timeouts(
            Some(timeouts.disconnected),
            Some(timeouts.failed),
            Some(timeouts.keepalive_interval),
        )
        // A peer-reflexive candidate is learnt from the other side's check arriving
        // before its trickled host candidate; it is that same address. Nominating it
        // at once, as a host pair, saves the 1 s the stack waits by default
        // (docs/transport.md).
        .with_prflx_acceptance_min_wait(Some(std::time::Duration::ZERO))
        .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(ICE_MAX_BINDING_REQUESTS))
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
        .with_runtime(SocketBufferRuntime::new(options.socket_buffer_size))
        .with_handler(handler)
        // The stack's own loopback setting is read by nothing in the async layer
        // (its wildcard expansion skips loopback); an address named here is bound.
        .with_udp_addrs(options.bind_addrs())
        .build()
        .await
        .webrtc()?;
    Ok(Arc::new(pc))
}

/// True when `server` has a URL the stack can relay through (`turn:` over UDP).
fn has_udp_turn_url(server: &crate::options::IceServer) -> bool {
    server.urls.iter().any(|url| {
        let url = url.to_ascii_lowercase();
        url.starts_with("turn:") && (!url.contains("transport=") || url.contains("transport=udp"))
    })
}
