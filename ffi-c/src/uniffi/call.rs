//! [`Call`]: membership of one room, its events, tracks and data channels.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rtcgate_core::signalling::{JoinRequest, Signaller, signaller_for_url};
use rtcgate_core::{
    CallEvent as CoreEvent, CallEvents, CallOptions, IceServer, IceTransportPolicy,
};

use super::data_channel::{DataChannel, DataChannelConfig};
use super::local_track::LocalTrack;
use super::remote_track::{RemoteTrack, StallReport};
use super::{Result, RtcgateError, Subscription, invalid, notify, on_runtime, runtime, subscribe};

/// A STUN or TURN server.
#[derive(Debug, Clone, uniffi::Record)]
pub struct IceServerConfig {
    /// `stun:host:port` or `turn:host:port?transport=udp` URLs.
    pub urls: Vec<String>,
    /// TURN user name (empty for STUN).
    #[uniffi(default = "")]
    pub username: String,
    /// TURN password (empty for STUN).
    #[uniffi(default = "")]
    pub credential: String,
}

/// How a call connects. Every field has a default.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CallConfig {
    /// STUN/TURN servers.
    #[uniffi(default = [])]
    pub ice_servers: Vec<IceServerConfig>,
    /// Use only relay (TURN) candidates.
    #[uniffi(default = false)]
    pub relay_only: bool,
    /// Local address to bind for media (`10.0.0.5:0`); `None`: every interface.
    #[uniffi(default = None)]
    pub bind_address: Option<String>,
    /// Allow loopback candidates.
    #[uniffi(default = false)]
    pub include_loopback: bool,
    /// How long joining may take, in milliseconds.
    #[uniffi(default = 10000)]
    pub join_timeout_ms: u32,
    /// The room's token: a room the server has no token for takes the token
    /// of the join that creates it; a join with another token (or none) is
    /// refused with `SignallingRejected` (code `wrong-token`).
    #[uniffi(default = None)]
    pub token: Option<String>,
    /// Further call options in their text form, applied after the fields
    /// above: e.g. `"ice-timeouts=2s,5s,500ms socket-buffer-size=1M tls-ca=/path/ca.pem"`
    /// (docs/signalling.md, "Call options as text").
    #[uniffi(default = "")]
    pub options: String,
}

impl CallConfig {
    pub(crate) fn to_options(&self) -> Result<(CallOptions, Duration)> {
        let mut options = CallOptions::default()
            .with_ice_servers(
                self.ice_servers
                    .iter()
                    .map(|s| {
                        let mut urls = s.urls.iter();
                        let first = urls.next().cloned().unwrap_or_default();
                        urls.fold(
                            IceServer::turn(first, s.username.clone(), s.credential.clone()),
                            |server, url| server.with_url(url.clone()),
                        )
                    })
                    .collect(),
            )
            .with_include_loopback(self.include_loopback);
        if self.relay_only {
            options.ice_transport_policy = IceTransportPolicy::Relay;
        }
        if let Some(text) = &self.bind_address {
            let addr: SocketAddr = text
                .parse()
                .map_err(|e| invalid(format!("bind address {text:?}: {e}")))?;
            options.udp_addrs = vec![addr];
        }
        let options = options.apply(&self.options)?;
        let timeout = Duration::from_millis(u64::from(self.join_timeout_ms.max(1)));
        Ok((options, timeout))
    }

    /// The signaller for `url` (a room server, or a WHIP/WHEP endpoint) and
    /// what to ask it for (room, name, token).
    pub(crate) fn join_request(
        &self,
        url: &str,
        room: String,
        display_name: String,
        options: &CallOptions,
    ) -> Result<(Arc<dyn Signaller>, JoinRequest)> {
        let mut request = JoinRequest::new(room, display_name);
        if let Some(token) = &self.token {
            request = request.with_token(token.clone());
        }
        Ok((signaller_for_url(url, options)?, request))
    }
}

/// Another member of a room.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Member {
    /// Server-assigned id.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// State of the connection with one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ConnectionState {
    /// Negotiating or checking connectivity.
    Connecting,
    /// Media and data flow.
    Connected,
    /// Connectivity lost; it may come back.
    Disconnected,
    /// Connectivity failed; an ICE restart is attempted.
    Failed,
    /// Closed.
    Closed,
}

impl From<rtcgate_core::ConnectionState> for ConnectionState {
    fn from(state: rtcgate_core::ConnectionState) -> Self {
        use rtcgate_core::ConnectionState as S;
        match state {
            S::Connecting => ConnectionState::Connecting,
            S::Connected => ConnectionState::Connected,
            S::Disconnected => ConnectionState::Disconnected,
            S::Failed => ConnectionState::Failed,
            S::Closed => ConnectionState::Closed,
        }
    }
}

/// Something that happened in a call.
#[derive(uniffi::Enum)]
pub enum CallEvent {
    /// A member joined (also reported for members present at join).
    MemberJoined {
        /// The member.
        member: Member,
    },
    /// A member left.
    MemberLeft {
        /// The member.
        member: Member,
    },
    /// A member started sending a track.
    TrackAdded {
        /// The track (read its frames with a listener or `nextFrame`).
        track: Arc<RemoteTrack>,
    },
    /// A member's track ended.
    TrackRemoved {
        /// The member.
        member_id: String,
        /// The track's id.
        track_id: String,
    },
    /// A data channel opened (created by either side).
    DataChannelOpened {
        /// The channel.
        channel: Arc<DataChannel>,
    },
    /// A data channel closed.
    DataChannelClosed {
        /// The member.
        member_id: String,
        /// The channel's label.
        label: String,
    },
    /// The connection with a member changed state.
    ConnectionStateChanged {
        /// The member.
        member_id: String,
        /// The new state.
        state: ConnectionState,
    },
    /// Something went wrong that did not end the call.
    Error {
        /// The member concerned, if any.
        member_id: Option<String>,
        /// What happened.
        message: String,
    },
    /// The signalling session ended: no new members will be seen.
    SignallingClosed {
        /// Why, if known.
        reason: Option<String>,
    },
    /// A member's track keeps receiving packets but gave no usable frame for
    /// about a second (video asks for a keyframe as well). Once per stall.
    TrackStalled {
        /// What was dropped and why.
        report: StallReport,
    },
}

impl CallEvent {
    fn from_core(event: CoreEvent) -> Option<CallEvent> {
        Some(match event {
            CoreEvent::MemberJoined(m) => CallEvent::MemberJoined {
                member: Member {
                    id: m.id,
                    name: m.name,
                },
            },
            CoreEvent::MemberLeft(m) => CallEvent::MemberLeft {
                member: Member {
                    id: m.id,
                    name: m.name,
                },
            },
            CoreEvent::TrackAdded(track) => CallEvent::TrackAdded {
                track: RemoteTrack::new(track),
            },
            CoreEvent::TrackRemoved { member, track_id } => CallEvent::TrackRemoved {
                member_id: member,
                track_id,
            },
            CoreEvent::DataChannelOpened(channel) => CallEvent::DataChannelOpened {
                channel: DataChannel::new(channel),
            },
            CoreEvent::DataChannelClosed { member, label, .. } => CallEvent::DataChannelClosed {
                member_id: member,
                label,
            },
            CoreEvent::ConnectionStateChanged { member, state } => {
                CallEvent::ConnectionStateChanged {
                    member_id: member,
                    state: state.into(),
                }
            }
            CoreEvent::Error { member, message } => CallEvent::Error {
                member_id: member,
                message,
            },
            CoreEvent::SignallingClosed(reason) => CallEvent::SignallingClosed { reason },
            CoreEvent::TrackStalled(report) => CallEvent::TrackStalled {
                report: report.into(),
            },
            _ => return None,
        })
    }
}

/// Receives a call's events, one at a time and in order, on a library
/// thread (`rtcgate-call`). It may block briefly and may call the library
/// (also `close()` on the call); a slow listener delays only this call's
/// later events.
#[uniffi::export(with_foreign)]
pub trait CallListener: Send + Sync {
    /// One event.
    fn on_event(&self, event: CallEvent);
}

/// Membership of one room: a peer connection with every other member.
///
/// Join with [`Call::join`]; `leave()` (or `close()`) ends it. A call that
/// is closed without `leave()` leaves in the background.
#[derive(uniffi::Object)]
pub struct Call {
    call: rtcgate_core::Call,
    events: Mutex<Option<Subscription>>,
}

#[uniffi::export]
impl Call {
    /// Joins `room` through the signaller `url` names (`ws://HOST:PORT/ws`,
    /// `wss://…`, `whip+https://…`, `whep+https://…`) as `display_name`. Events (starting with the members already there)
    /// go to `listener`.
    #[uniffi::constructor]
    pub async fn join(
        url: String,
        room: String,
        display_name: String,
        config: CallConfig,
        listener: Option<Arc<dyn CallListener>>,
    ) -> Result<Arc<Self>> {
        if room.is_empty() || display_name.is_empty() {
            return Err(invalid("room and display name must not be empty"));
        }
        let (options, timeout) = config.to_options()?;
        let (signaller, request) = config.join_request(&url, room, display_name, &options)?;
        let joined = on_runtime(async move {
            tokio::time::timeout(
                timeout,
                rtcgate_core::Call::join(signaller, request, options),
            )
            .await
        })
        .await?
        .map_err(|_| RtcgateError::Timeout {
            detail: format!("joining took more than {} ms", timeout.as_millis()),
        })??;
        let (call, events) = joined;
        let subscription = match listener {
            Some(listener) => Some(subscribe("rtcgate-call", pump(events, listener))?),
            None => None,
        };
        Ok(Arc::new(Call {
            call,
            events: Mutex::new(subscription),
        }))
    }

    /// Our member id in the room.
    pub fn self_id(&self) -> String {
        self.call.self_id().clone()
    }

    /// The room's name.
    pub fn room(&self) -> String {
        self.call.room().to_owned()
    }

    /// The other members in the room now.
    pub async fn members(&self) -> Result<Vec<Member>> {
        let call = self.call.clone();
        let members = on_runtime(async move { call.members().await }).await?;
        Ok(members
            .into_iter()
            .map(|m| Member {
                id: m.id,
                name: m.name,
            })
            .collect())
    }

    /// Starts sending `track` to every member, present and future.
    pub async fn add_track(&self, track: Arc<LocalTrack>) -> Result<()> {
        let call = self.call.clone();
        let track = track.core().clone();
        Ok(on_runtime(async move { call.add_track(&track).await }).await??)
    }

    /// Stops sending `track`; members see it end.
    pub async fn remove_track(&self, track: Arc<LocalTrack>) -> Result<()> {
        let call = self.call.clone();
        let track = track.core().clone();
        Ok(on_runtime(async move { call.remove_track(&track).await }).await??)
    }

    /// Opens a data channel labelled `label` with member `member_id`.
    /// Returns once the connection's data transport is up (at most 30 s
    /// after the member joined); the channel is open once
    /// `CallEvent.DataChannelOpened` reports it (or `isOpen()`).
    pub async fn create_data_channel(
        &self,
        member_id: String,
        label: String,
        config: DataChannelConfig,
    ) -> Result<Arc<DataChannel>> {
        let call = self.call.clone();
        let options = config.to_options();
        let channel =
            on_runtime(async move { call.create_data_channel(&member_id, &label, options).await })
                .await??;
        Ok(DataChannel::new(channel))
    }

    /// A statistics snapshot (per member: the selected candidate pair with
    /// each end's type, address, port, protocol and relay protocol; per RTP
    /// stream) as JSON, the same document as the C API's
    /// `rtcgate_call_stats_json`.
    pub async fn stats_json(&self) -> Result<String> {
        let call = self.call.clone();
        let stats = on_runtime(async move { call.stats().await }).await?;
        serde_json::to_string(&stats).map_err(|e| RtcgateError::Internal {
            detail: format!("stats: {e}"),
        })
    }

    /// Leaves the room: closes every connection and the signalling session.
    /// The listener gets no further events. Leaving again does nothing.
    pub async fn leave(&self) -> Result<()> {
        self.lock_events().take();
        let call = self.call.clone();
        Ok(on_runtime(async move { call.leave().await }).await??)
    }
}

impl Call {
    fn lock_events(&self) -> std::sync::MutexGuard<'_, Option<Subscription>> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The core call (for a recorder attached to it).
    pub(crate) fn core(&self) -> &rtcgate_core::Call {
        &self.call
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.lock_events().take();
        // Leaving is idempotent: a call that was left returns at once.
        if let Ok(handle) = runtime() {
            let call = self.call.clone();
            handle.spawn(async move {
                if let Err(error) = call.leave().await {
                    tracing::debug!(%error, "leaving a dropped call");
                }
            });
        }
    }
}

async fn pump(mut events: CallEvents, listener: Arc<dyn CallListener>) {
    while let Some(event) = events.recv().await {
        if let Some(event) = CallEvent::from_core(event) {
            notify("CallListener", || listener.on_event(event));
        }
    }
}
