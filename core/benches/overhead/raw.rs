//! The baseline: two bare webrtc 0.21 peer connections built like rtcgate's
//! `call/factory.rs` builds its own with default `CallOptions`: default codecs,
//! default interceptors, MID extension for audio, the same setting engine (mDNS
//! off, loopback candidates off, the same ICE timeouts), no ICE servers, the
//! same UDP bind addresses (`0.0.0.0:0`). Not copied: rtcgate's own
//! interceptors (RTX unwrapper, RTCP forwarder), which are part of what is
//! measured, and act on RTP/RTCP only. Connected by direct in-process signalling.
//!
//! The descriptions carry the candidates (each side waits for gathering to
//! complete, which takes about a millisecond for host candidates). Trickling
//! them in-process instead was measured slower (~800 ms instead of ~600 ms to
//! open): they reach the ICE agent just after its first connectivity-check
//! tick found no pairs, so the checks wait for the next tick 200 ms later.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpHeaderExtensionCapability, RtpCodecKind};
use rtc::sdp::extmap::SDES_MID_URI;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use webrtc::data_channel::{
    DataChannel, DataChannelEvent, RTCDataChannelInit, RTCDataChannelState,
};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceGatheringState, RTCSessionDescription, Registry,
    SettingEngineBuilder, register_default_interceptors,
};

use rtcgate_core::CallOptions;

use crate::BenchResult;
use crate::transfer::{ChannelReceiver, ChannelSender};

/// Forwards what the connection reports to the code that set it up.
struct Handler {
    channels: mpsc::UnboundedSender<Arc<dyn DataChannel>>,
    gathered: Arc<Notify>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            // `notify_one` keeps the wake-up if nobody waits yet.
            self.gathered.notify_one();
        }
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let _ = self.channels.send(channel);
    }
}

/// One peer connection and what its handler saw.
struct Peer {
    pc: Arc<dyn PeerConnection>,
    channels: mpsc::UnboundedReceiver<Arc<dyn DataChannel>>,
    gathered: Arc<Notify>,
}

impl Peer {
    /// Applies `description` locally, waits for gathering, and returns the
    /// description with the candidates in it.
    async fn set_local_complete(
        &self,
        description: RTCSessionDescription,
    ) -> BenchResult<RTCSessionDescription> {
        self.pc.set_local_description(description).await?;
        self.gathered.notified().await;
        Ok(self
            .pc
            .local_description()
            .await
            .ok_or("no local description")?)
    }
}

/// Builds a peer connection the way rtcgate's factory does with default `CallOptions`.
async fn build_peer() -> BenchResult<Peer> {
    let (channels_tx, channels) = mpsc::unbounded_channel();
    let gathered = Arc::new(Notify::new());
    let mut media_engine = MediaEngine::default();
    media_engine.register_default_codecs()?;
    let registry = register_default_interceptors(Registry::new(), &mut media_engine)?;
    media_engine.register_header_extension(
        RTCRtpHeaderExtensionCapability {
            uri: SDES_MID_URI.to_owned(),
        },
        RtpCodecKind::Audio,
        None,
    )?;
    let options = CallOptions::default();
    let timeouts = options.ice_timeouts;
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .with_include_loopback_candidate(options.include_loopback)
        .with_ice_timeouts(
            Some(timeouts.disconnected),
            Some(timeouts.failed),
            Some(timeouts.keepalive_interval),
        )
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(media_engine)
        .with_setting_engine(settings)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(Handler {
            channels: channels_tx,
            gathered: gathered.clone(),
        }))
        .with_udp_addrs(options.udp_addrs)
        .build()
        .await?;
    Ok(Peer {
        pc: Arc::new(pc),
        channels,
        gathered,
    })
}

/// Two connected raw peer connections with one open data channel.
pub struct RawPair {
    offerer: Arc<dyn PeerConnection>,
    answerer: Arc<dyn PeerConnection>,
    /// The channel as the offerer created it.
    pub created: Arc<dyn DataChannel>,
    /// The same channel as the answerer received it.
    pub accepted: Arc<dyn DataChannel>,
}

impl RawPair {
    /// Creates both connections, negotiates one channel and waits until it is
    /// open on both sides. Also returns how long that took.
    pub async fn connect(init: RTCDataChannelInit) -> BenchResult<(RawPair, Duration)> {
        let start = Instant::now();
        let (offerer, mut answerer) = tokio::try_join!(build_peer(), build_peer())?;
        let created = offerer.pc.create_data_channel("bench", Some(init)).await?;
        let offer = offerer.pc.create_offer(None).await?;
        let offer = offerer.set_local_complete(offer).await?;
        answerer.pc.set_remote_description(offer).await?;
        let answer = answerer.pc.create_answer(None).await?;
        let answer = answerer.set_local_complete(answer).await?;
        offerer.pc.set_remote_description(answer).await?;
        let accepted = answerer
            .channels
            .recv()
            .await
            .ok_or("answerer closed before the channel arrived")?;
        tokio::try_join!(wait_open(created.as_ref()), wait_open(accepted.as_ref()))?;
        let pair = RawPair {
            offerer: offerer.pc,
            answerer: answerer.pc,
            created,
            accepted,
        };
        Ok((pair, start.elapsed()))
    }

    /// Keeps reading both channels' events so that the driver never holds
    /// undelivered events for them (what an idle application would do).
    pub fn drain_events(&self) -> Vec<JoinHandle<()>> {
        [self.created.clone(), self.accepted.clone()]
            .into_iter()
            .map(|channel| tokio::spawn(async move { while channel.poll().await.is_some() {} }))
            .collect()
    }

    /// Closes both connections.
    pub async fn close(self) {
        let _ = tokio::join!(self.offerer.close(), self.answerer.close());
    }
}

/// Waits for the channel's open event (or finds it already open).
async fn wait_open(channel: &dyn DataChannel) -> BenchResult<()> {
    if channel.ready_state().await? == RTCDataChannelState::Open {
        return Ok(());
    }
    loop {
        match channel.poll().await {
            Some(DataChannelEvent::OnOpen) => return Ok(()),
            Some(_) => {}
            None => return Err("data channel closed before it opened".into()),
        }
    }
}

/// A raw channel's sending end: back-pressure by `outstanding_bytes` and the
/// `OnBufferedAmountLow` event, read directly from the channel's event stream.
pub struct RawSender(pub Arc<dyn DataChannel>);

#[async_trait::async_trait]
impl ChannelSender for RawSender {
    async fn send(&self, data: Bytes) -> BenchResult<()> {
        Ok(self.0.send(BytesMut::from(data)).await?)
    }

    async fn buffered_amount(&self) -> BenchResult<usize> {
        Ok(self.0.outstanding_bytes().await?)
    }

    async fn set_low_threshold(&self, bytes: u32) -> BenchResult<()> {
        Ok(self.0.set_buffered_amount_low_threshold(bytes).await?)
    }

    async fn wait_buffered_below(&self, bytes: usize) -> BenchResult<()> {
        // The event follows SCTP's own buffered amount, which can reach the
        // threshold slightly before `outstanding_bytes` does: re-check, and
        // poll at least every 50 ms (as rtcgate does).
        while self.0.outstanding_bytes().await? > bytes {
            if let Ok(None) = tokio::time::timeout(Duration::from_millis(50), self.0.poll()).await {
                return Err("data channel closed".into());
            }
        }
        Ok(())
    }
}

/// A raw channel's receiving end: message events straight from the driver.
pub struct RawReceiver(pub Arc<dyn DataChannel>);

#[async_trait::async_trait]
impl ChannelReceiver for RawReceiver {
    async fn recv(&mut self) -> Option<Bytes> {
        loop {
            match self.0.poll().await? {
                DataChannelEvent::OnMessage(message) => return Some(message.data.freeze()),
                DataChannelEvent::OnClose => return None,
                _ => {}
            }
        }
    }
}
