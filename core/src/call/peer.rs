//! [`PeerLink`]: the peer connection with one other member, its negotiation
//! task (perfect negotiation, trickle ICE, ICE restart) and its event handler.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use webrtc::data_channel::{DataChannel as RtcDataChannel, RTCDataChannelInit};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceCandidateInit, RTCIceGatheringState,
    RTCIceServer, RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSessionDescription,
};

use super::codec_preferences::offer_every_codec;
use super::dtls_role::{SetupRole, declared_role, force_role, role_from_remote_answer};
use super::event::{CallEvent, ConnectionState};
use super::factory::build_peer_connection;
use super::negotiation::{Negotiator, OfferDecision};
use super::outgoing::Outgoing;
use super::sctp_anchor::{AnchorState, SctpAnchor};
use super::stream_feedback::FeedbackRegistry;
use crate::data_channel::{ChannelNotice, DataChannel, DataChannelOptions};
use crate::error::{Error, Result, WebRtcResultExt};
use crate::media::RemoteTrack;
use crate::media::local_track::lock;
use crate::media::remote_track::TrackNotice;
use crate::options::{CallOptions, IceServer};
use crate::signalling::{
    IceCandidate, MemberId, MemberInfo, NegotiationPolicy, OfferRole, PeerMessage, Signaller,
};
use crate::stats::BitrateMeter;

/// What every link of a call shares.
pub(crate) struct LinkContext {
    pub(crate) self_id: MemberId,
    pub(crate) signaller: Arc<dyn Signaller>,
    /// Every open event stream of the call (the one from joining, then subscriptions).
    pub(crate) events: std::sync::Mutex<Vec<mpsc::UnboundedSender<CallEvent>>>,
    pub(crate) options: CallOptions,
}

impl LinkContext {
    pub(crate) fn emit(&self, event: CallEvent) {
        lock(&self.events).retain(|tx| tx.send(event.clone()).is_ok());
    }

    /// A new event stream that sees every event from now on.
    pub(crate) fn subscribe(&self) -> super::CallEvents {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.events).push(tx);
        super::CallEvents { rx }
    }
}

enum Command {
    Remote(PeerMessage),
    /// Local changes may need an offer; `force` offers even without changes.
    Negotiate {
        force: bool,
    },
    /// The polite side's fallback first offer.
    OfferIfNoneReceived,
    RestartIce,
}

/// How long `create_data_channel` waits for the SCTP association.
const SCTP_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Stream id of the negotiated channel that anchors the SCTP section.
const SCTP_ANCHOR_ID: u16 = 1023;

/// How long closing a member's connection may take before it is left to
/// finish in the background (the webrtc driver's own exit is bounded too).
const PC_CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long the polite side waits for the impolite side's first offer.
const POLITE_FIRST_OFFER_DELAY: std::time::Duration = std::time::Duration::from_millis(1000);

/// State shared by the link, its task and its event handler.
struct Shared {
    member: MemberInfo,
    ctx: Arc<LinkContext>,
    commands: mpsc::UnboundedSender<Command>,
    /// Who offers and what the session can carry, as the signaller decided.
    policy: NegotiationPolicy,
    state: Mutex<ConnectionState>,
    remote_tracks: Mutex<Vec<RemoteTrack>>,
    data_channels: Mutex<Vec<DataChannel>>,
    attached: Mutex<Vec<Outgoing>>,
    /// Local changes (tracks, first data channel) made so far; an offer covers
    /// every change counted before it was created.
    changes: AtomicU64,
    /// The connection, once built (the handler exists before it).
    pc: std::sync::OnceLock<std::sync::Weak<dyn PeerConnection>>,
}

impl Shared {
    /// Records a local change and asks the negotiation task for an offer.
    fn local_change(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        let _ = self.commands.send(Command::Negotiate { force: false });
    }
}

/// The connection with one remote member.
pub(crate) struct PeerLink {
    shared: Arc<Shared>,
    pc: Arc<dyn PeerConnection>,
    task: JoinHandle<()>,
    /// The data transport's anchor channel; none when the policy has no data channels.
    sctp_anchor: Option<SctpAnchor>,
    meter: Mutex<BitrateMeter>,
    /// The RTCP handling of the forwarded streams this connection sends.
    feedback: Arc<FeedbackRegistry>,
    /// The outcome of our first offer, for an offer-only link (see `first_offer`).
    first_offer: Mutex<Option<oneshot::Receiver<Result<()>>>>,
}

impl PeerLink {
    /// Builds the peer connection with `member`, adds `tracks`, and starts
    /// negotiating as `policy` says.
    pub(crate) async fn start(
        ctx: Arc<LinkContext>,
        member: MemberInfo,
        tracks: &[Outgoing],
        policy: NegotiationPolicy,
    ) -> Result<Arc<PeerLink>> {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            member,
            ctx: ctx.clone(),
            commands,
            policy,
            state: Mutex::new(ConnectionState::Connecting),
            remote_tracks: Mutex::new(Vec::new()),
            data_channels: Mutex::new(Vec::new()),
            attached: Mutex::new(Vec::new()),
            changes: AtomicU64::new(0),
            pc: std::sync::OnceLock::new(),
        });
        let handler = Arc::new(LinkHandler {
            shared: shared.clone(),
        });
        let feedback = Arc::new(FeedbackRegistry::default());
        let pc = build_peer_connection(&ctx.options, handler, feedback.clone()).await?;
        let _ = shared.pc.set(Arc::downgrade(&pc));
        // Every first offer carries the SCTP (m=application) section, through a
        // negotiated channel both rtcgate ends create with the same id. webrtc 0.21
        // starts SCTP only when DTLS comes up, so a data channel first added by a
        // renegotiation after that would never open; and Chromium loses a pending
        // data channel's section when its offer is rolled back in glare.
        let sctp_anchor = if shared.policy.data_channels {
            let anchor = pc
                .create_data_channel(
                    "rtcgate-transport",
                    Some(RTCDataChannelInit {
                        negotiated: Some(SCTP_ANCHOR_ID),
                        ..Default::default()
                    }),
                )
                .await
                .webrtc()?;
            Some(SctpAnchor::watch(anchor))
        } else {
            None
        };
        // An offer that asks to receive what we do not send (a WHEP client).
        if shared.policy.role == OfferRole::Offerer {
            for kind in &shared.policy.receive_only {
                pc.add_transceiver_from_kind(
                    kind.to_rtc(),
                    Some(RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Recvonly,
                        streams: Vec::new(),
                        send_encodings: Vec::new(),
                    }),
                )
                .await
                .webrtc()?;
            }
        }
        let (first_offer_tx, first_offer_rx) = match shared.policy.role {
            OfferRole::Offerer => {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            }
            _ => (None, None),
        };
        let task = tokio::spawn(run(shared.clone(), pc.clone(), command_rx, first_offer_tx));
        let link = Arc::new(PeerLink {
            shared,
            pc,
            task,
            sctp_anchor,
            meter: Mutex::new(BitrateMeter::default()),
            feedback,
            first_offer: Mutex::new(first_offer_rx),
        });
        for track in tracks {
            link.add_track_to_connection(track).await?;
        }
        link.start_negotiation();
        Ok(link)
    }

    /// The remote member.
    pub(crate) fn member(&self) -> &MemberInfo {
        &self.shared.member
    }

    /// The webrtc peer connection.
    pub(crate) fn peer_connection(&self) -> &Arc<dyn PeerConnection> {
        &self.pc
    }

    /// Current connection state.
    pub(crate) fn state(&self) -> ConnectionState {
        *lock(&self.shared.state)
    }

    /// Byte counters of the previous stats snapshot.
    pub(crate) fn bitrate_meter(&self) -> std::sync::MutexGuard<'_, BitrateMeter> {
        lock(&self.meter)
    }

    /// Tracks the member currently sends us.
    pub(crate) fn remote_tracks(&self) -> Vec<RemoteTrack> {
        lock(&self.shared.remote_tracks).clone()
    }

    /// Data channels with the member.
    pub(crate) fn data_channels(&self) -> Vec<DataChannel> {
        lock(&self.shared.data_channels).clone()
    }

    /// Hands a signalling message from the member to the negotiation task.
    pub(crate) fn deliver(&self, message: PeerMessage) {
        let _ = self.shared.commands.send(Command::Remote(message));
    }

    /// The offerer (or the impolite side) offers at once; the polite side
    /// waits a moment for that offer (and then offers for its own tracks), and
    /// offers by itself only if none came (a remote that never offers); an
    /// answer-only side waits.
    fn start_negotiation(&self) {
        if self.shared.policy.role == OfferRole::Answerer {
            return;
        }
        if self.shared.policy.offers_first() {
            let _ = self
                .shared
                .commands
                .send(Command::Negotiate { force: true });
            return;
        }
        let commands = self.shared.commands.clone();
        tokio::spawn(async move {
            tokio::time::sleep(POLITE_FIRST_OFFER_DELAY).await;
            let _ = commands.send(Command::OfferIfNoneReceived);
        });
    }

    /// The result of our first offer on an offer-only link (the request that
    /// creates the session, e.g. a WHIP POST): `None` for other links, or when
    /// already taken.
    pub(crate) async fn first_offer(&self) -> Option<Result<()>> {
        let rx = lock(&self.first_offer).take()?;
        Some(
            rx.await
                .unwrap_or_else(|_| Err(Error::closed("the link closed before its first offer"))),
        )
    }

    /// Asks for an ICE restart, if this side is the one that restarts.
    pub(crate) fn restart_ice(&self) {
        if self.shared.policy.restarts_ice() {
            let _ = self.shared.commands.send(Command::RestartIce);
        }
    }

    /// Whether the session can carry tracks added or removed later.
    pub(crate) fn can_renegotiate(&self) -> bool {
        self.shared.policy.renegotiation
    }

    /// The signaller's leave must come before the connection closes.
    pub(crate) fn leaves_first(&self) -> bool {
        self.shared.policy.leave_first
    }

    /// Adds ICE servers the signalling service offered, for candidates
    /// gathered from now on.
    pub(crate) async fn add_ice_servers(&self, servers: &[IceServer]) -> Result<()> {
        let current = self.pc.get_configuration().await;
        let mut all = current.ice_servers().to_vec();
        all.extend(servers.iter().map(|server| RTCIceServer {
            urls: server.urls.clone(),
            username: server.username.clone(),
            credential: server.credential.clone(),
        }));
        let configuration = RTCConfigurationBuilder::new()
            .with_ice_servers(all)
            .with_ice_transport_policy(current.ice_transport_policy())
            .with_bundle_policy(current.bundle_policy())
            .with_rtcp_mux_policy(current.rtcp_mux_policy())
            .build();
        self.pc.set_configuration(configuration).await.webrtc()
    }

    /// Adds an outgoing track to this connection and renegotiates.
    pub(crate) async fn attach_track(&self, track: &Outgoing) -> Result<()> {
        self.add_track_to_connection(track).await?;
        let _ = self
            .shared
            .commands
            .send(Command::Negotiate { force: false });
        Ok(())
    }

    /// Adds an outgoing track to the peer connection, counting the change.
    /// Adding a track that is already attached does nothing (a call's
    /// `add_track` and a link starting at the same time may both try).
    async fn add_track_to_connection(&self, track: &Outgoing) -> Result<()> {
        {
            let mut attached = lock(&self.shared.attached);
            if attached.iter().any(|t| t.same_as(track.as_ref())) {
                return Ok(());
            }
            attached.push(track.clone());
        }
        let (rtp, ssrc) = track.make_binding_track();
        let sender = match self.pc.add_track(rtp.clone() as Arc<dyn TrackLocal>).await {
            Ok(sender) => sender,
            Err(error) => {
                lock(&self.shared.attached).retain(|t| !t.same_as(track.as_ref()));
                return Err(Error::webrtc(error));
            }
        };
        // Every codec of the kind on the m-line, the track's first (rtc 0.21 would
        // otherwise negotiate one video codec per connection; see codec_preferences).
        offer_every_codec(&self.pc, &sender, track.codec(), track.h264_profile()).await;
        track.bind(&self.shared.member.id, rtp, sender, ssrc, &self.feedback);
        track.set_connected(
            &self.shared.member.id,
            self.state() == ConnectionState::Connected,
        );
        self.shared.changes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Removes an outgoing track from this connection and renegotiates.
    pub(crate) async fn detach_track(&self, track: &Outgoing) -> Result<()> {
        lock(&self.shared.attached).retain(|t| !t.same_as(track.as_ref()));
        if let Some(sender) = track.unbind(&self.shared.member.id) {
            self.pc.remove_track(&sender).await.webrtc()?;
            self.shared.local_change();
        }
        Ok(())
    }

    /// Opens a data channel with the member.
    pub(crate) async fn create_data_channel(
        &self,
        label: &str,
        options: &DataChannelOptions,
    ) -> Result<DataChannel> {
        self.wait_for_sctp().await?;
        let channel = self
            .pc
            .create_data_channel(label, Some(options.to_init()))
            .await
            .webrtc()?;
        // No renegotiation: the SCTP association exists from the first offer.
        let dc = start_channel(&self.shared, channel).await;
        Ok(dc)
    }

    /// Waits until the SCTP association is up (the anchor channel is open).
    /// webrtc-rs 0.21 never opens a channel created while the association
    /// is being established (test `data_channels_opened_while_connecting_open`).
    async fn wait_for_sctp(&self) -> Result<()> {
        let Some(anchor) = &self.sctp_anchor else {
            return Err(Error::invalid_argument(format!(
                "the session with {} carries no data channels (its signalling protocol has none)",
                self.shared.member.id
            )));
        };
        match anchor.settled(SCTP_WAIT).await {
            Some(AnchorState::Open) => Ok(()),
            Some(_) => Err(Error::closed("the connection with the member closed")),
            None => Err(Error::timeout(format!(
                "no data transport with {} after {SCTP_WAIT:?}",
                self.shared.member.id
            ))),
        }
    }

    /// Closes the connection and stops the negotiation task; the member's
    /// remote tracks end (their readers get what was queued, then `None`)
    /// whatever the connection's own shutdown does.
    pub(crate) async fn close(&self) {
        self.task.abort();
        for track in lock(&self.shared.attached).drain(..) {
            track.unbind(&self.shared.member.id);
        }
        self.stop_remote_tracks();
        match tokio::time::timeout(PC_CLOSE_WAIT, self.pc.close()).await {
            Ok(Err(err)) => tracing::debug!(%err, "closing peer connection"),
            Err(_) => tracing::warn!(
                member = %self.shared.member.id,
                "the peer connection did not close within {PC_CLOSE_WAIT:?}; left behind"
            ),
            Ok(Ok(())) => {}
        }
        *lock(&self.shared.state) = ConnectionState::Closed;
        // A track whose set-up was under way while closing.
        self.stop_remote_tracks();
    }

    fn stop_remote_tracks(&self) {
        for track in lock(&self.shared.remote_tracks).iter() {
            track.stop();
        }
    }
}

async fn start_channel(shared: &Arc<Shared>, channel: Arc<dyn RtcDataChannel>) -> DataChannel {
    let ctx = shared.ctx.clone();
    let weak = Arc::downgrade(shared);
    let dc = DataChannel::start(
        shared.member.id.clone(),
        channel,
        move |notice| match notice {
            ChannelNotice::Opened(dc) => ctx.emit(CallEvent::DataChannelOpened(dc)),
            ChannelNotice::Closed(dc) => {
                if let Some(shared) = weak.upgrade() {
                    lock(&shared.data_channels).retain(|c| !c.same_channel(&dc));
                }
                ctx.emit(CallEvent::DataChannelClosed {
                    member: dc.member().clone(),
                    label: dc.label().to_owned(),
                    channel: dc,
                });
            }
        },
    )
    .await;
    lock(&shared.data_channels).push(dc.clone());
    dc
}

/// The negotiation task: applies remote descriptions and candidates and
/// makes offers, one command at a time.
async fn run(
    shared: Arc<Shared>,
    pc: Arc<dyn PeerConnection>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    first_offer: Option<oneshot::Sender<Result<()>>>,
) {
    let mut negotiation = Negotiation {
        negotiator: Negotiator::new(shared.policy.role),
        first_offer,
        pending_candidates: Vec::new(),
        remote_description_set: false,
        offered_once: false,
        dtls_role: None,
        offered_changes: 0,
        shared,
        pc,
    };
    while let Some(command) = commands.recv().await {
        if let Err(err) = negotiation.handle(command).await {
            let member = negotiation.shared.member.id.clone();
            tracing::warn!(%member, %err, "negotiation step failed");
            negotiation.shared.ctx.emit(CallEvent::Error {
                member: Some(member),
                message: err.to_string(),
            });
        }
    }
}

struct Negotiation {
    negotiator: Negotiator,
    /// Told the outcome of our first offer (offer-only links).
    first_offer: Option<oneshot::Sender<Result<()>>>,
    pending_candidates: Vec<RTCIceCandidateInit>,
    remote_description_set: bool,
    /// We have made an offer in this session.
    offered_once: bool,
    /// Our DTLS role once the first exchange settled it (see `dtls_role`).
    dtls_role: Option<SetupRole>,
    /// `Shared::changes` when our last offer was created.
    offered_changes: u64,
    shared: Arc<Shared>,
    pc: Arc<dyn PeerConnection>,
}

impl Negotiation {
    async fn handle(&mut self, command: Command) -> Result<()> {
        match command {
            // Several changes in a row need one offer, not one each.
            Command::Negotiate { force } => {
                if force || self.unoffered_changes() {
                    self.request_offer()
                }
            }
            Command::OfferIfNoneReceived => {
                if !self.remote_description_set {
                    self.request_offer()
                }
            }
            Command::RestartIce => {
                tracing::info!(member = %self.shared.member.id, "restarting ICE");
                self.pc.restart_ice().await.webrtc()?;
                // Carried even where renegotiation is not (a WHIP PATCH).
                self.negotiator.request_offer();
            }
            Command::Remote(PeerMessage::Offer(sdp)) => {
                tracing::debug!(member = %self.shared.member.id, "remote offer");
                self.on_offer(sdp).await?
            }
            Command::Remote(PeerMessage::Answer(sdp)) => {
                tracing::debug!(member = %self.shared.member.id, "remote answer");
                self.on_answer(sdp).await?
            }
            Command::Remote(PeerMessage::Candidate(candidate)) => {
                self.on_candidate(candidate).await
            }
        }
        if self.negotiator.should_offer() {
            self.make_offer().await?;
        }
        Ok(())
    }

    /// Asks for an offer, unless the policy forbids renegotiating a session
    /// that has had its first offer.
    fn request_offer(&mut self) {
        if self.offered_once && !self.shared.policy.renegotiation {
            tracing::debug!(member = %self.shared.member.id, "no renegotiation in this session");
            return;
        }
        self.negotiator.request_offer()
    }

    /// Local changes made since our last offer was created.
    fn unoffered_changes(&self) -> bool {
        self.shared.changes.load(Ordering::SeqCst) > self.offered_changes
    }

    async fn make_offer(&mut self) -> Result<()> {
        self.offered_changes = self.shared.changes.load(Ordering::SeqCst);
        self.offered_once = true;
        let result = async {
            let offer = self.pc.create_offer(None).await.webrtc()?;
            self.pc.set_local_description(offer).await.webrtc()?;
            let sdp = self.local_sdp().await?;
            self.send(PeerMessage::Offer(sdp)).await
        }
        .await;
        match result {
            Ok(()) => {
                tracing::debug!(member = %self.shared.member.id, "offer sent");
                self.negotiator.offer_sent()
            }
            Err(_) => self.negotiator.offer_failed(),
        }
        // The first offer of an offer-only link is the request that creates the
        // session: whoever joined gets its outcome (a refusal with its details).
        match self.first_offer.take() {
            Some(first) => {
                let _ = first.send(result);
                Ok(())
            }
            None => result,
        }
    }

    async fn on_offer(&mut self, sdp: String) -> Result<()> {
        let OfferDecision::Accept { rollback } = self.negotiator.remote_offer() else {
            tracing::debug!(member = %self.shared.member.id, "ignoring colliding offer (impolite)");
            return Ok(());
        };
        if rollback {
            tracing::debug!(member = %self.shared.member.id, "glare: rolling back our offer");
            self.pc
                .set_local_description(RTCSessionDescription::rollback(None).webrtc()?)
                .await
                .webrtc()?;
        }
        tracing::trace!(member = %self.shared.member.id, m_lines = ?sdp_m_lines(&sdp), "offer m-lines");
        let offer = RTCSessionDescription::offer(sdp)
            .map_err(|e| Error::negotiation(format!("invalid remote offer: {e}")))?;
        self.pc.set_remote_description(offer).await.webrtc()?;
        tracing::debug!(member = %self.shared.member.id, "remote offer applied");
        self.remote_description_set = true;
        self.flush_candidates().await;
        let answer = self.pc.create_answer(None).await.webrtc()?;
        if self.dtls_role.is_none() {
            self.dtls_role = declared_role(&answer.sdp);
        }
        // rtc refuses a local answer that differs from the one it created, so the
        // established DTLS role is put into the copy the remote gets only.
        self.pc.set_local_description(answer).await.webrtc()?;
        let mut sdp = self.local_sdp().await?;
        if let Some(role) = self.dtls_role {
            sdp = force_role(&sdp, role);
        }
        tracing::trace!(member = %self.shared.member.id, m_lines = ?sdp_m_lines(&sdp), "answer m-lines");
        self.send(PeerMessage::Answer(sdp)).await?;
        tracing::debug!(member = %self.shared.member.id, "answer sent");
        self.after_description().await;
        if self.unoffered_changes() {
            // Our tracks may not fit the remote's m-lines: offer them ourselves.
            self.request_offer();
        }
        Ok(())
    }

    async fn on_answer(&mut self, sdp: String) -> Result<()> {
        if !self.negotiator.remote_answer() {
            tracing::debug!(member = %self.shared.member.id, "ignoring answer to no pending offer");
            return Ok(());
        }
        if self.dtls_role.is_none() {
            self.dtls_role = role_from_remote_answer(&sdp);
        }
        let answer = RTCSessionDescription::answer(sdp)
            .map_err(|e| Error::negotiation(format!("invalid remote answer: {e}")))?;
        self.pc.set_remote_description(answer).await.webrtc()?;
        self.remote_description_set = true;
        self.flush_candidates().await;
        self.after_description().await;
        Ok(())
    }

    async fn on_candidate(&mut self, candidate: IceCandidate) {
        if candidate.candidate.is_empty() {
            return; // end of candidates
        }
        let init = RTCIceCandidateInit {
            candidate: candidate.candidate,
            sdp_mid: candidate.sdp_mid,
            sdp_mline_index: candidate.sdp_mline_index,
            username_fragment: candidate.username_fragment,
            ..Default::default()
        };
        if !self.remote_description_set {
            self.pending_candidates.push(init);
            return;
        }
        self.add_candidate(init).await;
    }

    async fn flush_candidates(&mut self) {
        for init in std::mem::take(&mut self.pending_candidates) {
            self.add_candidate(init).await;
        }
    }

    async fn add_candidate(&self, init: RTCIceCandidateInit) {
        if let Err(err) = self.pc.add_ice_candidate(init).await
            && !self.negotiator.ignoring_offer()
        {
            tracing::debug!(member = %self.shared.member.id, %err, "remote candidate rejected");
        }
    }

    /// After an offer/answer: learn the payload types our senders got, and end
    /// remote tracks whose transceivers no longer receive.
    async fn after_description(&self) {
        let tracks = lock(&self.shared.attached).clone();
        for track in tracks {
            if let Some(refusal) = track.refresh_payload_type(&self.shared.member.id).await {
                self.shared.ctx.emit(CallEvent::Error {
                    member: Some(self.shared.member.id.clone()),
                    message: refusal,
                });
            }
        }
        let mut receiving = Vec::new();
        for transceiver in self.pc.get_transceivers().await {
            let Ok(direction) = transceiver.current_direction().await else {
                continue;
            };
            let receives = matches!(
                direction,
                RTCRtpTransceiverDirection::Sendrecv | RTCRtpTransceiverDirection::Recvonly
            );
            if let (true, Ok(Some(receiver))) = (receives, transceiver.receiver().await) {
                receiving.push(receiver.track().track_id().await);
            }
        }
        let ended: Vec<RemoteTrack> = lock(&self.shared.remote_tracks)
            .iter()
            .filter(|t| !receiving.iter().any(|id| id == t.id()))
            .cloned()
            .collect();
        for track in ended {
            tracing::debug!(member = %self.shared.member.id, track = track.id(), "remote track no longer received");
            track.stop();
        }
    }

    async fn local_sdp(&self) -> Result<String> {
        self.pc
            .local_description()
            .await
            .map(|d| d.sdp)
            .ok_or_else(|| Error::closed("no local description"))
    }

    async fn send(&self, message: PeerMessage) -> Result<()> {
        self.shared
            .ctx
            .signaller
            .send(&self.shared.member.id, message)
            .await
    }
}

/// Receives the peer connection's callbacks. They run on the connection's
/// driver, so anything that talks to the connection is spawned, not awaited.
struct LinkHandler {
    shared: Arc<Shared>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for LinkHandler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let init = match event.candidate.to_json() {
            Ok(init) => init,
            Err(err) => {
                tracing::debug!(%err, "unserialisable local candidate");
                return;
            }
        };
        let candidate = IceCandidate {
            candidate: init.candidate,
            // Browsers reject candidates with neither field; bundle puts all on m-line 0.
            sdp_mline_index: init.sdp_mline_index.or(Some(0)),
            sdp_mid: init.sdp_mid.or_else(|| Some("0".into())),
            username_fragment: init.username_fragment,
        };
        let member = &self.shared.member.id;
        if let Err(err) = self
            .shared
            .ctx
            .signaller
            .send(member, PeerMessage::Candidate(candidate))
            .await
        {
            tracing::debug!(%member, %err, "could not send candidate");
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state != RTCIceGatheringState::Complete || !self.shared.policy.end_of_candidates {
            return;
        }
        let member = &self.shared.member.id;
        // An empty candidate ends them (RTCIceCandidateInit's convention).
        let end = IceCandidate {
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
            ..IceCandidate::default()
        };
        if let Err(err) = self
            .shared
            .ctx
            .signaller
            .send(member, PeerMessage::Candidate(end))
            .await
        {
            tracing::debug!(%member, %err, "could not send end of candidates");
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let state = match state {
            RTCPeerConnectionState::Connected => ConnectionState::Connected,
            RTCPeerConnectionState::Disconnected => ConnectionState::Disconnected,
            RTCPeerConnectionState::Failed => ConnectionState::Failed,
            RTCPeerConnectionState::Closed => ConnectionState::Closed,
            _ => ConnectionState::Connecting,
        };
        {
            let mut current = lock(&self.shared.state);
            if *current == state {
                return;
            }
            *current = state;
        }
        let member = self.shared.member.id.clone();
        tracing::info!(%member, ?state, "connection state");
        for track in lock(&self.shared.attached).iter() {
            track.set_connected(&member, state == ConnectionState::Connected);
        }
        self.shared
            .ctx
            .emit(CallEvent::ConnectionStateChanged { member, state });
        if state == ConnectionState::Failed && self.shared.policy.restarts_ice() {
            // The offerer (impolite side) restarts; the other side answers the restart offer.
            let commands = self.shared.commands.clone();
            let delay = self.shared.ctx.options.ice_restart_delay;
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = commands.send(Command::RestartIce);
            });
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let member = shared.member.id.clone();
            let ended = Arc::downgrade(&shared);
            let noticed = Arc::downgrade(&shared);
            let started = RemoteTrack::start(
                member.clone(),
                track,
                move |remote| {
                    if let Some(shared) = ended.upgrade() {
                        lock(&shared.remote_tracks).retain(|t| t.id() != remote.id());
                        shared.ctx.emit(CallEvent::TrackRemoved {
                            member: remote.member().clone(),
                            track_id: remote.id().to_owned(),
                        });
                    }
                },
                move |notice| {
                    if let Some(shared) = noticed.upgrade() {
                        match notice {
                            TrackNotice::Stalled(report) => {
                                shared.ctx.emit(CallEvent::TrackStalled(report))
                            }
                        }
                    }
                },
            )
            .await;
            match started {
                Ok(remote) => {
                    if let Some(pc) = shared.pc.get().and_then(|pc| pc.upgrade()) {
                        remote.set_header_extensions(receive_extensions(&pc, remote.id()).await);
                    }
                    tracing::info!(%member, track = remote.id(), codec = %remote.codec(), "remote track");
                    lock(&shared.remote_tracks).push(remote.clone());
                    shared.ctx.emit(CallEvent::TrackAdded(remote));
                }
                Err(message) => shared.ctx.emit(CallEvent::Error {
                    member: Some(member),
                    message,
                }),
            }
        });
    }

    async fn on_data_channel(&self, channel: Arc<dyn RtcDataChannel>) {
        tracing::debug!(member = %self.shared.member.id, id = ?channel.id(), "remote data channel");
        let shared = self.shared.clone();
        tokio::spawn(async move {
            start_channel(&shared, channel).await;
        });
    }
}

/// The header extensions (URI, id) negotiated for receiving track `track_id`.
async fn receive_extensions(pc: &Arc<dyn PeerConnection>, track_id: &str) -> Vec<(String, u16)> {
    for transceiver in pc.get_transceivers().await {
        let Ok(Some(receiver)) = transceiver.receiver().await else {
            continue;
        };
        if receiver.track().track_id().await != track_id {
            continue;
        }
        if let Ok(parameters) = receiver.get_parameters().await {
            return parameters
                .rtp_parameters
                .header_extensions
                .into_iter()
                .map(|e| (e.uri, e.id))
                .collect();
        }
    }
    Vec::new()
}

fn sdp_m_lines(sdp: &str) -> Vec<&str> {
    sdp.lines()
        .filter(|l| {
            l.starts_with("m=")
                || l.starts_with("a=mid")
                || l.starts_with("a=send")
                || l.starts_with("a=recv")
                || l.starts_with("a=inactive")
        })
        .collect()
}
