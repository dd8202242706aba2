//! [`Call`]: membership of one room (or one session with a media server),
//! with a peer connection to every remote peer its signaller reports (mesh),
//! negotiated as the signaller's [`NegotiationPolicy`](crate::signalling::NegotiationPolicy) says.

mod announced_media;
pub(crate) mod codec_preferences;
mod dtls_role;
mod event;
mod factory;
mod negotiation;
pub(crate) mod outgoing;
pub(crate) mod peer;
mod rtcp_forwarder;
mod rtx_unwrapper;
mod sctp_anchor;
mod socket_runtime;
pub(crate) mod stream_feedback;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use crate::options::{
    CALL_OPTION_KEYS, CallOptions, IceServer, IceTimeouts, IceTransportPolicy,
};
pub use event::{CallEvent, CallEvents, ConnectionState};

use crate::data_channel::{DataChannel, DataChannelOptions};
use crate::error::{Error, Result};
use crate::media::local_track::lock;
use crate::media::{LocalTrack, RemoteTrack};
use crate::signalling::{
    JoinRequest, MemberId, MemberInfo, OfferRole, SignalEvent, Signaller, signaller_for_url,
};
use crate::stats::{CallStats, collect_member_stats};
use outgoing::{Outgoing, OutgoingTrack};
use peer::{LinkContext, PeerLink};

/// Membership of one room. Cheap to clone; every clone is the same call.
///
/// Join with [`Call::join`] (any [`Signaller`]) or [`Call::join_url`] (the
/// embedded room protocol), read [`CallEvents`], add [`LocalTrack`]s, open
/// [`DataChannel`]s, and [`leave`](Call::leave) at the end.
#[derive(Clone)]
pub struct Call {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: Arc<LinkContext>,
    room: String,
    links: tokio::sync::Mutex<HashMap<MemberId, Arc<PeerLink>>>,
    tracks: Mutex<Vec<Outgoing>>,
    signalling_task: Mutex<Option<JoinHandle<()>>>,
    left: AtomicBool,
}

/// A handle on a call that does not keep it alive (for objects the call
/// itself holds, such as its forwarded tracks).
#[derive(Clone)]
pub(crate) struct WeakCall(std::sync::Weak<Inner>);

impl WeakCall {
    /// The call, while it exists.
    pub(crate) fn upgrade(&self) -> Option<Call> {
        self.0.upgrade().map(|inner| Call { inner })
    }
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("room", &self.inner.room)
            .field("self_id", &self.inner.ctx.self_id)
            .finish()
    }
}

impl Call {
    /// Joins through the signaller `url` names ([`signaller_for_url`]): `room`
    /// on a room server (`ws://host:port/ws`, `wss://…`), or a session with a
    /// WHIP or WHEP endpoint (`whip+https://…`, `whep+http://…`; `room` is
    /// then only a label). A WHIP session sends what [`join_with_tracks`](Self::join_with_tracks)
    /// gives it: use that to publish.
    pub async fn join_url(
        url: &str,
        room: &str,
        display_name: &str,
        options: CallOptions,
    ) -> Result<(Call, CallEvents)> {
        let signaller = signaller_for_url(url, &options)?;
        Call::join(signaller, JoinRequest::new(room, display_name), options).await
    }

    /// Joins a room through `signaller`. Members already there are reported
    /// as [`CallEvent::MemberJoined`] first. Where the signaller's session is
    /// created by our first offer (WHIP, WHEP), this returns once that offer
    /// was answered, or with the service's refusal
    /// ([`Error::protocol_details`](crate::Error::protocol_details)).
    pub async fn join(
        signaller: Arc<dyn Signaller>,
        request: JoinRequest,
        options: CallOptions,
    ) -> Result<(Call, CallEvents)> {
        Call::join_with_tracks(signaller, request, options, &[]).await
    }

    /// [`join`](Self::join) with `tracks` sent from the first offer on. A
    /// session that cannot be renegotiated (WHIP: a new track needs a new
    /// session) carries only the tracks given here.
    pub async fn join_with_tracks(
        signaller: Arc<dyn Signaller>,
        request: JoinRequest,
        options: CallOptions,
        tracks: &[LocalTrack],
    ) -> Result<(Call, CallEvents)> {
        let room = request.room.clone();
        let joined = signaller.join(request).await?;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let ctx = Arc::new(LinkContext {
            self_id: joined.self_id.clone(),
            signaller,
            events: Mutex::new(vec![events_tx]),
            options,
        });
        tracing::info!(%room, id = %joined.self_id, members = joined.members.len(), "joined room");
        let call = Call {
            inner: Arc::new(Inner {
                ctx,
                room,
                links: tokio::sync::Mutex::new(HashMap::new()),
                tracks: Mutex::new(
                    tracks
                        .iter()
                        .map(|t| Arc::new(t.clone()) as Outgoing)
                        .collect(),
                ),
                signalling_task: Mutex::new(None),
                left: AtomicBool::new(false),
            }),
        };
        let mut links = Vec::new();
        for member in joined.members {
            let offer_only = call
                .inner
                .ctx
                .signaller
                .negotiation(&call.inner.ctx.self_id, &member)
                .role
                == OfferRole::Offerer;
            links.push((offer_only, call.add_member(member).await));
        }
        let weak = Arc::downgrade(&call.inner);
        let task = tokio::spawn(signalling_loop(weak, joined.events));
        *lock(&call.inner.signalling_task) = Some(task);
        // A session that our first offer creates (WHIP/WHEP) exists only once
        // the service has taken that offer: its refusal is the join's.
        for (offer_only, link) in links {
            let outcome = match link {
                Some(link) => link.first_offer().await,
                None if offer_only => Some(Err(Error::negotiation(
                    "could not create the peer connection for the session",
                ))),
                None => None,
            };
            if let Some(Err(err)) = outcome {
                let _ = call.leave().await;
                return Err(err);
            }
        }
        Ok((call, CallEvents { rx: events_rx }))
    }

    /// Another stream of this call's events, from now on (for example for a
    /// recorder attached to a call whose first stream the application reads).
    pub fn subscribe(&self) -> CallEvents {
        self.inner.ctx.subscribe()
    }

    /// A handle that does not keep the call alive.
    pub(crate) fn downgrade(&self) -> WeakCall {
        WeakCall(Arc::downgrade(&self.inner))
    }

    /// Whether the call sends a track with id `id`.
    pub(crate) fn sends_track_id(&self, id: &str) -> bool {
        lock(&self.inner.tracks).iter().any(|t| t.id() == id)
    }

    /// Our member id in the room.
    pub fn self_id(&self) -> &MemberId {
        &self.inner.ctx.self_id
    }

    /// The room name.
    pub fn room(&self) -> &str {
        &self.inner.room
    }

    /// The other members currently in the room.
    pub async fn members(&self) -> Vec<MemberInfo> {
        self.inner
            .links
            .lock()
            .await
            .values()
            .map(|l| l.member().clone())
            .collect()
    }

    /// Connection state with `member`.
    pub async fn connection_state(&self, member: &MemberId) -> Option<ConnectionState> {
        self.inner.links.lock().await.get(member).map(|l| l.state())
    }

    /// How many audio/video tracks `member` announced in its latest session
    /// description. Tracks are reported ([`CallEvent::TrackAdded`]) when
    /// their first packet arrives, so this can be ahead of what has been seen.
    pub async fn announced_tracks(&self, member: &MemberId) -> usize {
        let Some(link) = self.inner.links.lock().await.get(member).cloned() else {
            return 0;
        };
        match link.peer_connection().remote_description().await {
            Some(description) => announced_media::sending_media_sections(&description.sdp),
            None => 0,
        }
    }

    /// Tracks other members currently send us.
    pub async fn remote_tracks(&self) -> Vec<RemoteTrack> {
        let links = self.links().await;
        links.iter().flat_map(|l| l.remote_tracks()).collect()
    }

    /// Data channels with other members.
    pub async fn data_channels(&self) -> Vec<DataChannel> {
        let links = self.links().await;
        links.iter().flat_map(|l| l.data_channels()).collect()
    }

    /// Starts sending `track` to every member, present and future. A member
    /// whose connection cannot take it (no common codec) gets a
    /// [`CallEvent::Error`]; the others still get the track.
    pub async fn add_track(&self, track: &LocalTrack) -> Result<()> {
        self.add_outgoing(Arc::new(track.clone())).await
    }

    /// Starts sending an outgoing track of any kind (see [`add_track`](Self::add_track)).
    pub(crate) async fn add_outgoing(&self, track: Outgoing) -> Result<()> {
        self.ensure_joined()?;
        self.ensure_renegotiable(track.as_ref())?;
        {
            let mut tracks = lock(&self.inner.tracks);
            if tracks.iter().any(|t| t.same_as(track.as_ref())) {
                return Err(Error::invalid_argument(format!(
                    "track {} already added",
                    track.id()
                )));
            }
            tracks.push(track.clone());
        }
        for link in self.links().await {
            // One member that cannot take the track (e.g. its connection
            // negotiated no codec for it) must not keep it from the others.
            if let Err(err) = link.attach_track(&track).await {
                let member = link.member().id.clone();
                tracing::warn!(%member, track = track.id(), %err, "track not sent to a member");
                self.inner.ctx.emit(CallEvent::Error {
                    member: Some(member),
                    message: format!("track {} cannot be sent: {err}", track.id()),
                });
            }
        }
        Ok(())
    }

    /// Stops sending `track`; members see the track end.
    pub async fn remove_track(&self, track: &LocalTrack) -> Result<()> {
        self.remove_outgoing(track).await
    }

    /// Stops sending an outgoing track of any kind.
    pub(crate) async fn remove_outgoing(&self, track: &dyn OutgoingTrack) -> Result<()> {
        self.ensure_joined()?;
        self.ensure_renegotiable(track)?;
        let removed = {
            let mut tracks = lock(&self.inner.tracks);
            let index = tracks.iter().position(|t| t.same_as(track));
            index.map(|i| tracks.remove(i))
        };
        let Some(removed) = removed else {
            return Err(Error::invalid_argument(format!(
                "track {} is not in the call",
                track.id()
            )));
        };
        for link in self.links().await {
            link.detach_track(&removed).await?;
        }
        Ok(())
    }

    /// Opens a data channel with `member`. Returns once the connection's
    /// data transport (SCTP) is up — at most 30 s after the member joined,
    /// else an [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) error; [`CallEvent::DataChannelOpened`] reports the
    /// channel once it is open on both ends.
    pub async fn create_data_channel(
        &self,
        member: &MemberId,
        label: &str,
        options: DataChannelOptions,
    ) -> Result<DataChannel> {
        self.ensure_joined()?;
        let link = self
            .inner
            .links
            .lock()
            .await
            .get(member)
            .cloned()
            .ok_or_else(|| Error::invalid_argument(format!("no member {member} in the call")))?;
        link.create_data_channel(label, &options).await
    }

    /// Restarts ICE with `member` now (new credentials, new candidates), as
    /// after a network change; the call does so by itself when a connection
    /// fails. Only the side that offers restarts (the signaller's policy):
    /// elsewhere this does nothing.
    pub async fn restart_ice(&self, member: &MemberId) -> Result<()> {
        self.ensure_joined()?;
        let link = self
            .inner
            .links
            .lock()
            .await
            .get(member)
            .cloned()
            .ok_or_else(|| Error::invalid_argument(format!("no member {member} in the call")))?;
        link.restart_ice();
        Ok(())
    }

    /// A snapshot of the call's statistics, per member and per track.
    pub async fn stats(&self) -> CallStats {
        let mut members = Vec::new();
        for link in self.links().await {
            members.push(collect_member_stats(&link).await);
        }
        CallStats {
            room: self.inner.room.clone(),
            self_id: self.self_id().clone(),
            members,
        }
    }

    /// Leaves the room: closes every peer connection (releasing its sockets and
    /// tasks) and the signalling session. Idempotent.
    pub async fn leave(&self) -> Result<()> {
        if self.inner.left.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        if let Some(task) = lock(&self.inner.signalling_task).take() {
            task.abort();
        }
        let links: Vec<_> = self
            .inner
            .links
            .lock()
            .await
            .drain()
            .map(|(_, l)| l)
            .collect();
        // A session protocol (WHIP/WHEP) ends the session with the leave
        // (DELETE) first; a room member closes its connections, then leaves.
        let leave_first = links.iter().any(|l| l.leaves_first());
        let early = if leave_first {
            Some(self.inner.ctx.signaller.leave().await)
        } else {
            None
        };
        for link in links {
            link.close().await;
        }
        let result = match early {
            Some(result) => result,
            None => self.inner.ctx.signaller.leave().await,
        };
        tracing::info!(room = %self.inner.room, "left room");
        result
    }

    /// Tracks can change only where every session can be renegotiated.
    fn ensure_renegotiable(&self, track: &dyn OutgoingTrack) -> Result<()> {
        let fixed = self
            .inner
            .links
            .try_lock()
            .map(|links| links.values().any(|l| !l.can_renegotiate()))
            .unwrap_or(false);
        if fixed {
            return Err(Error::invalid_argument(format!(
                "track {}: this call's session cannot be renegotiated (WHIP/WHEP): give its tracks to Call::join_with_tracks, or start a new session",
                track.id()
            )));
        }
        Ok(())
    }

    fn ensure_joined(&self) -> Result<()> {
        if self.inner.left.load(Ordering::SeqCst) {
            return Err(Error::closed("the call was left"));
        }
        Ok(())
    }

    async fn links(&self) -> Vec<Arc<PeerLink>> {
        self.inner.links.lock().await.values().cloned().collect()
    }

    async fn add_member(&self, member: MemberInfo) -> Option<Arc<PeerLink>> {
        let tracks = lock(&self.inner.tracks).clone();
        let policy = self
            .inner
            .ctx
            .signaller
            .negotiation(&self.inner.ctx.self_id, &member);
        match PeerLink::start(self.inner.ctx.clone(), member.clone(), &tracks, policy).await {
            Ok(link) => {
                let old = self
                    .inner
                    .links
                    .lock()
                    .await
                    .insert(member.id.clone(), link.clone());
                if let Some(old) = old {
                    old.close().await;
                }
                // Tracks added while the link was starting were not in the
                // snapshot and did not see the link yet.
                let added_meanwhile: Vec<Outgoing> = lock(&self.inner.tracks)
                    .iter()
                    .filter(|t| !tracks.iter().any(|s| s.same_as(t.as_ref())))
                    .cloned()
                    .collect();
                for track in &added_meanwhile {
                    if let Err(err) = link.attach_track(track).await {
                        tracing::warn!(member = %member.id, track = track.id(), %err, "could not add a track to a new member");
                    }
                }
                let current = lock(&self.inner.tracks).clone();
                for track in tracks
                    .iter()
                    .filter(|t| !current.iter().any(|c| c.same_as(t.as_ref())))
                {
                    if let Err(err) = link.detach_track(track).await {
                        tracing::warn!(member = %member.id, track = track.id(), %err, "could not remove a track from a new member");
                    }
                }
                self.inner.ctx.emit(CallEvent::MemberJoined(member));
                Some(link)
            }
            Err(err) => {
                self.inner.ctx.emit(CallEvent::Error {
                    member: Some(member.id),
                    message: format!("could not create peer connection: {err}"),
                });
                None
            }
        }
    }

    async fn remove_member(&self, id: &MemberId) {
        let link = self.inner.links.lock().await.remove(id);
        if let Some(link) = link {
            link.close().await;
            self.inner
                .ctx
                .emit(CallEvent::MemberLeft(link.member().clone()));
        }
    }
}

async fn signalling_loop(call: std::sync::Weak<Inner>, mut events: mpsc::Receiver<SignalEvent>) {
    while let Some(event) = events.recv().await {
        let Some(inner) = call.upgrade() else { return };
        let call = Call { inner };
        match event {
            SignalEvent::MemberJoined(member) => {
                // Boxed: building a peer connection is a large future, and inline it
                // would make this task, which lives as long as the call, ~20 KB.
                Box::pin(call.add_member(member)).await;
            }
            SignalEvent::MemberLeft(id) => call.remove_member(&id).await,
            SignalEvent::Peer { from, message } => {
                let link = call.inner.links.lock().await.get(&from).cloned();
                match link {
                    Some(link) => link.deliver(message),
                    None => tracing::warn!(%from, "signalling message from unknown member"),
                }
            }
            SignalEvent::IceServers(servers) => {
                for link in call.links().await {
                    if let Err(err) = link.add_ice_servers(&servers).await {
                        tracing::warn!(%err, "could not add the signaller's ICE servers");
                    }
                }
            }
            SignalEvent::Error(message) => {
                call.inner.ctx.emit(CallEvent::Error {
                    member: None,
                    message,
                });
            }
            SignalEvent::Closed(reason) => {
                call.inner.ctx.emit(CallEvent::SignallingClosed(reason));
                return;
            }
        }
    }
}

#[cfg(test)]
mod task_size_tests {
    /// The signalling task lives as long as the call, and its future is allocated whole
    /// when it is spawned: adding a member (a peer connection to build) stays boxed, or
    /// every call held ~21 KB for it (memory per idle pair, docs/benchmarks.md).
    #[test]
    fn the_signalling_task_stays_small() {
        let (_tx, rx) = tokio::sync::mpsc::channel(1);
        let task = super::signalling_loop(std::sync::Weak::new(), rx);
        assert!(
            std::mem::size_of_val(&task) <= 1024,
            "{} bytes",
            std::mem::size_of_val(&task)
        );
    }
}
