//! Calls: join a room, receive its events, add tracks, open data channels, stats.

use std::ffi::{CString, c_char, c_int, c_void};
use std::net::SocketAddr;
use std::ptr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use rtcgate_core::signalling::{JoinRequest, Signaller, signaller_for_url};
use rtcgate_core::{
    Call, CallEvent, CallEvents, CallOptions, DataChannel, DataChannelOptions, IceServer,
    IceTransportPolicy, LocalTrack,
};
use tokio::task::JoinHandle;

use crate::callback::{Gate, UserData};
use crate::data_channel::{DataChannelObj, rtcgate_data_channel, rtcgate_data_channel_options};
use crate::error::{Failure, FfiResult, rtcgate_error};
use crate::handles::{self, Kind, Object};
use crate::local_track::{LocalTrackObj, rtcgate_local_track};
use crate::remote_track::{RemoteTrackObj, rtcgate_remote_track};
use crate::types::rtcgate_connection_state;
use crate::{guard, runtime, strings};

/// Handle of a call (membership of one room).
#[allow(non_camel_case_types)]
pub type rtcgate_call = i32;

/// A STUN or TURN server.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct rtcgate_ice_server {
    /// `stun:host:port` or `turn:host:port` (UTF-8, required).
    pub url: *const c_char,
    /// TURN user name; NULL for STUN.
    pub username: *const c_char,
    /// TURN password; NULL for STUN.
    pub credential: *const c_char,
}

/// How to join a room. Zero-initialise it and set what you need; the
/// library only reads it (and the strings and array it points to) during
/// the call.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct rtcgate_call_config {
    /// Signalling URL (required): a room server `ws://HOST:PORT/ws` or
    /// `wss://…`, a WHIP endpoint `whip+http(s)://…` or a WHEP endpoint
    /// `whep+http(s)://…` (docs/signalling.md, "Signalling URLs").
    pub url: *const c_char,
    /// Room name (required, non-empty; a label for WHIP/WHEP).
    pub room: *const c_char,
    /// Display name shown to the other members (required, non-empty).
    pub display_name: *const c_char,
    /// STUN/TURN servers (`ice_servers_count` entries), or NULL.
    pub ice_servers: *const rtcgate_ice_server,
    /// Number of entries in `ice_servers`.
    pub ice_servers_count: usize,
    /// Use only relay (TURN) candidates.
    pub relay_only: bool,
    /// Local address to bind for media (`10.0.0.5:0`); NULL: every interface.
    pub bind_address: *const c_char,
    /// Allow loopback candidates (both peers on one machine with no other
    /// interface; set `bind_address` to `127.0.0.1:0` too).
    pub include_loopback: bool,
    /// How long joining may take, in milliseconds; 0: 10 000.
    pub join_timeout_ms: c_int,
    /// The room's token (UTF-8), or NULL for a room without one. The first
    /// member to join a room the server has no token for sets it. For
    /// WHIP/WHEP: the Bearer token.
    pub token: *const c_char,
    /// Further call options in their text form (UTF-8), or NULL: e.g.
    /// `"ice-timeouts=2s,5s,500ms socket-buffer-size=1M tls-ca=/etc/ca.pem"`
    /// (docs/signalling.md, "Call options as text"). Applied after the
    /// fields above.
    pub options: *const c_char,
    /// Local tracks sent from the first offer on (`tracks_count` handles), or
    /// NULL. A WHIP session cannot add tracks later: give them here.
    pub tracks: *const crate::local_track::rtcgate_local_track,
    /// Number of entries in `tracks`.
    pub tracks_count: usize,
}

/// What a call event reports (`rtcgate_call_event.type`).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum rtcgate_call_event_type {
    /// A member joined (also reported for members present at join):
    /// `member_id`, `member_name`.
    RTCGATE_CALL_EVENT_MEMBER_JOINED = 1,
    /// A member left: `member_id`, `member_name`.
    RTCGATE_CALL_EVENT_MEMBER_LEFT = 2,
    /// A member started sending a track: `member_id`, `track_id`,
    /// `remote_track` (a new handle, see `rtcgate_remote_track`).
    RTCGATE_CALL_EVENT_TRACK_ADDED = 3,
    /// A member's track ended: `member_id`, `track_id`, `remote_track` (its
    /// handle if still valid, else 0).
    RTCGATE_CALL_EVENT_TRACK_REMOVED = 4,
    /// A data channel is open (created by either side): `member_id`,
    /// `label`, `data_channel` (for a channel this side created, the handle
    /// `rtcgate_call_create_data_channel` returned; otherwise a new handle).
    RTCGATE_CALL_EVENT_DATA_CHANNEL_OPEN = 5,
    /// A data channel closed: `member_id`, `label`, `data_channel` (or 0).
    RTCGATE_CALL_EVENT_DATA_CHANNEL_CLOSED = 6,
    /// The connection with a member changed state: `member_id`, `state`.
    RTCGATE_CALL_EVENT_CONNECTION_STATE = 7,
    /// Something went wrong that did not end the call: `member_id` (or
    /// NULL), `message`.
    RTCGATE_CALL_EVENT_ERROR = 8,
    /// The signalling session ended (no new members will be seen):
    /// `message` (or NULL).
    RTCGATE_CALL_EVENT_SIGNALLING_CLOSED = 9,
    /// A member's track keeps receiving packets but gave no usable frame for
    /// about a second (lost or undecodable frames; video asks for a keyframe):
    /// `member_id`, `track_id`, `remote_track`, `message` (what was dropped
    /// and why). Once per stall.
    RTCGATE_CALL_EVENT_TRACK_STALLED = 10,
}

/// One call event. Every pointer in it is owned by the library and valid
/// only until the callback returns (copy what you keep); fields that do not
/// apply to the event type are NULL or 0.
///
/// cbindgen:field-names=[type, member_id, member_name, track_id, remote_track, label, data_channel, state, message]
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct rtcgate_call_event {
    pub type_: rtcgate_call_event_type,
    pub member_id: *const c_char,
    pub member_name: *const c_char,
    pub track_id: *const c_char,
    pub remote_track: rtcgate_remote_track,
    pub label: *const c_char,
    pub data_channel: rtcgate_data_channel,
    pub state: rtcgate_connection_state,
    pub message: *const c_char,
}

/// Receives a call's events, one at a time and in order, on a library
/// thread (never a thread of the application). `event` is valid only
/// during the call.
#[allow(non_camel_case_types)]
pub type rtcgate_call_event_cb = Option<
    unsafe extern "C" fn(
        call: rtcgate_call,
        event: *const rtcgate_call_event,
        user_data: *mut c_void,
    ),
>;

type EventFn = unsafe extern "C" fn(rtcgate_call, *const rtcgate_call_event, *mut c_void);

/// A handle the call created (remote track or data channel): destroyed with the call.
struct Child {
    handle: i32,
    kind: Kind,
    member: String,
    key: String,
}

pub struct CallObj {
    call: Call,
    gate: Gate<EventFn>,
    pump: Mutex<Option<JoinHandle<()>>>,
    children: Mutex<Vec<Child>>,
    /// Serialises registering a created channel with its open event.
    channels: tokio::sync::Mutex<()>,
}

impl Object for CallObj {
    const KIND: Kind = Kind::Call;
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl CallObj {
    fn find_child(&self, kind: Kind, member: &str, key: &str) -> Option<i32> {
        lock(&self.children)
            .iter()
            .rev()
            .find(|c| c.kind == kind && c.member == member && c.key == key)
            .map(|c| c.handle)
    }

    /// The handle this call gave to `channel`, if any and still valid.
    fn find_channel(&self, channel: &DataChannel) -> Option<i32> {
        lock(&self.children)
            .iter()
            .filter(|c| c.kind == Kind::DataChannel)
            .find(|c| handles::get::<DataChannelObj>(c.handle).is_ok_and(|dc| dc.is(channel)))
            .map(|c| c.handle)
    }

    fn add_child(&self, handle: i32, kind: Kind, member: &str, key: &str) {
        let mut children = lock(&self.children);
        // Forget children the application destroyed already.
        children.retain(|c| match c.kind {
            Kind::RemoteTrack => handles::get::<RemoteTrackObj>(c.handle).is_ok(),
            Kind::DataChannel => handles::get::<DataChannelObj>(c.handle).is_ok(),
            _ => false,
        });
        children.push(Child {
            handle,
            kind,
            member: member.to_owned(),
            key: key.to_owned(),
        });
    }

    /// Leaves the call, stops callbacks (waiting for running ones on other
    /// threads) and destroys its remote tracks and data channels.
    pub fn destroy(&self) {
        self.gate.close();
        if let Some(pump) = lock(&self.pump).take() {
            pump.abort();
        }
        let _ = runtime::block_on(self.call.leave());
        let children = std::mem::take(&mut *lock(&self.children));
        for child in children {
            match child.kind {
                Kind::RemoteTrack => {
                    if let Ok(track) = handles::remove::<RemoteTrackObj>(child.handle) {
                        track.destroy();
                    }
                }
                Kind::DataChannel => {
                    if let Ok(channel) = handles::remove::<DataChannelObj>(child.handle) {
                        channel.destroy();
                    }
                }
                _ => {}
            }
        }
    }
}

/// Strings of one event, kept alive while the callback runs.
#[derive(Default)]
struct EventStrings {
    member_id: Option<CString>,
    member_name: Option<CString>,
    track_id: Option<CString>,
    label: Option<CString>,
    message: Option<CString>,
}

fn opt_ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(ptr::null(), |s| s.as_ptr())
}

struct Prepared {
    kind: rtcgate_call_event_type,
    strings: EventStrings,
    remote_track: i32,
    data_channel: i32,
    state: rtcgate_connection_state,
}

async fn prepare(object: &CallObj, event: CallEvent) -> Option<Prepared> {
    use rtcgate_call_event_type::*;
    let c = |s: &str| Some(strings::c_string(s));
    let mut p = Prepared {
        kind: RTCGATE_CALL_EVENT_ERROR,
        strings: EventStrings::default(),
        remote_track: 0,
        data_channel: 0,
        state: rtcgate_connection_state::RTCGATE_STATE_NONE,
    };
    match event {
        CallEvent::MemberJoined(info) => {
            p.kind = RTCGATE_CALL_EVENT_MEMBER_JOINED;
            p.strings.member_id = c(&info.id);
            p.strings.member_name = c(&info.name);
        }
        CallEvent::MemberLeft(info) => {
            p.kind = RTCGATE_CALL_EVENT_MEMBER_LEFT;
            p.strings.member_id = c(&info.id);
            p.strings.member_name = c(&info.name);
        }
        CallEvent::TrackAdded(track) => {
            p.kind = RTCGATE_CALL_EVENT_TRACK_ADDED;
            p.strings.member_id = c(track.member());
            p.strings.track_id = c(track.id());
            let member = track.member().clone();
            let id = track.id().to_owned();
            let handle = handles::insert(Arc::new(RemoteTrackObj::new(track))).ok()?;
            object.add_child(handle, Kind::RemoteTrack, &member, &id);
            p.remote_track = handle;
        }
        CallEvent::TrackRemoved { member, track_id } => {
            p.kind = RTCGATE_CALL_EVENT_TRACK_REMOVED;
            p.remote_track = object
                .find_child(Kind::RemoteTrack, &member, &track_id)
                .filter(|h| handles::get::<RemoteTrackObj>(*h).is_ok())
                .unwrap_or(0);
            p.strings.member_id = c(&member);
            p.strings.track_id = c(&track_id);
        }
        CallEvent::DataChannelOpened(channel) => {
            p.kind = RTCGATE_CALL_EVENT_DATA_CHANNEL_OPEN;
            let member = channel.member().clone();
            let label = channel.label().to_owned();
            p.strings.member_id = c(&member);
            p.strings.label = c(&label);
            let _registering = object.channels.lock().await;
            p.data_channel = match object.find_channel(&channel) {
                Some(handle) => handle,
                None => {
                    let handle = handles::insert(Arc::new(DataChannelObj::new(channel))).ok()?;
                    object.add_child(handle, Kind::DataChannel, &member, &label);
                    handle
                }
            };
        }
        CallEvent::DataChannelClosed {
            member,
            label,
            channel,
        } => {
            p.kind = RTCGATE_CALL_EVENT_DATA_CHANNEL_CLOSED;
            p.data_channel = object.find_channel(&channel).unwrap_or(0);
            p.strings.member_id = c(&member);
            p.strings.label = c(&label);
        }
        CallEvent::ConnectionStateChanged { member, state } => {
            p.kind = RTCGATE_CALL_EVENT_CONNECTION_STATE;
            p.strings.member_id = c(&member);
            p.state = state.into();
        }
        CallEvent::Error { member, message } => {
            p.kind = RTCGATE_CALL_EVENT_ERROR;
            p.strings.member_id = member.as_deref().and_then(c);
            p.strings.message = c(&message);
        }
        CallEvent::SignallingClosed(reason) => {
            p.kind = RTCGATE_CALL_EVENT_SIGNALLING_CLOSED;
            p.strings.message = reason.as_deref().and_then(c);
        }
        CallEvent::TrackStalled(report) => {
            p.kind = RTCGATE_CALL_EVENT_TRACK_STALLED;
            p.remote_track = object
                .find_child(Kind::RemoteTrack, &report.member, &report.track_id)
                .unwrap_or(0);
            p.strings.member_id = c(&report.member);
            p.strings.track_id = c(&report.track_id);
            p.strings.message = c(&report.to_string());
        }
        _ => return None,
    }
    Some(p)
}

async fn pump(weak: Weak<CallObj>, handle: rtcgate_call, mut events: CallEvents) {
    while let Some(event) = events.recv().await {
        let Some(object) = weak.upgrade() else { break };
        let Some(prepared) = prepare(&object, event).await else {
            continue;
        };
        runtime::deliver(move || {
            object.gate.invoke(|f, user_data| {
                let s = &prepared.strings;
                let event = rtcgate_call_event {
                    type_: prepared.kind,
                    member_id: opt_ptr(&s.member_id),
                    member_name: opt_ptr(&s.member_name),
                    track_id: opt_ptr(&s.track_id),
                    remote_track: prepared.remote_track,
                    label: opt_ptr(&s.label),
                    data_channel: prepared.data_channel,
                    state: prepared.state,
                    message: opt_ptr(&s.message),
                };
                // SAFETY: the application's callback, with an event valid during the call.
                unsafe { f(handle, &event, user_data) }
            });
        })
        .await;
    }
}

/// A C call config, read and checked.
pub struct JoinConfig {
    /// Signaller for the config's URL.
    pub signaller: Arc<dyn Signaller>,
    /// Room, display name and token.
    pub request: JoinRequest,
    /// Peer-connection options.
    pub options: CallOptions,
    /// How long joining may take.
    pub timeout: Duration,
    /// Tracks sent from the first offer on.
    pub tracks: Vec<LocalTrack>,
}

/// Reads the C config into core options.
///
/// # Safety
/// `config` points to a valid `rtcgate_call_config`.
pub unsafe fn read_config(config: &rtcgate_call_config) -> FfiResult<JoinConfig> {
    // SAFETY (whole block): the strings and array of a valid config are valid.
    unsafe {
        let url = strings::non_empty(config.url, "url")?;
        let mut request = JoinRequest::new(
            strings::non_empty(config.room, "room")?,
            strings::non_empty(config.display_name, "display_name")?,
        );
        if let Some(token) = strings::optional(config.token, "token")? {
            request = request.with_token(token);
        }
        let mut options = CallOptions::default();
        if config.ice_servers_count > 0 {
            if config.ice_servers.is_null() {
                return Err(Failure::new(
                    rtcgate_error::RTCGATE_ERR_NULL,
                    "ice_servers is NULL but ice_servers_count is not 0",
                ));
            }
            let servers = std::slice::from_raw_parts(config.ice_servers, config.ice_servers_count);
            for server in servers {
                options.ice_servers.push(IceServer::turn(
                    strings::non_empty(server.url, "ice server url")?,
                    strings::optional(server.username, "ice server username")?.unwrap_or_default(),
                    strings::optional(server.credential, "ice server credential")?
                        .unwrap_or_default(),
                ));
            }
        }
        if config.relay_only {
            options.ice_transport_policy = IceTransportPolicy::Relay;
        }
        if let Some(bind) = strings::optional(config.bind_address, "bind_address")? {
            let addr: SocketAddr = bind.parse().map_err(|e| {
                Failure::new(
                    rtcgate_error::RTCGATE_ERR_INVALID,
                    format!("bind_address {bind:?}: {e}"),
                )
            })?;
            options.udp_addrs = vec![addr];
        }
        options.include_loopback = config.include_loopback;
        if let Some(text) = strings::optional(config.options, "options")? {
            options = options.apply(text)?;
        }
        let mut tracks = Vec::new();
        if config.tracks_count > 0 {
            if config.tracks.is_null() {
                return Err(Failure::new(
                    rtcgate_error::RTCGATE_ERR_NULL,
                    "tracks is NULL but tracks_count is not 0",
                ));
            }
            for handle in std::slice::from_raw_parts(config.tracks, config.tracks_count) {
                tracks.push(handles::get::<LocalTrackObj>(*handle)?.track.clone());
            }
        }
        let timeout = match config.join_timeout_ms {
            0 => Duration::from_secs(10),
            ms if ms > 0 => Duration::from_millis(ms as u64),
            _ => {
                return Err(Failure::new(
                    rtcgate_error::RTCGATE_ERR_INVALID,
                    "join_timeout_ms must not be negative",
                ));
            }
        };
        Ok(JoinConfig {
            signaller: signaller_for_url(url, &options)?,
            request,
            options,
            timeout,
            tracks,
        })
    }
}

fn join(
    config: *const rtcgate_call_config,
    callback: rtcgate_call_event_cb,
    user_data: *mut c_void,
) -> FfiResult<rtcgate_call> {
    strings::out_ptr(config.cast_mut(), "config")?;
    runtime::ensure_running()?;
    // SAFETY: non-NULL, and valid per the API contract.
    let join = unsafe { read_config(&*config) }?;
    let (call, events) = runtime::block_on_timeout(
        join.timeout,
        Call::join_with_tracks(join.signaller, join.request, join.options, &join.tracks),
    )??;
    let object = Arc::new(CallObj {
        call: call.clone(),
        gate: Gate::new(callback.map(|f| (f, UserData(user_data)))),
        pump: Mutex::new(None),
        children: Mutex::new(Vec::new()),
        channels: tokio::sync::Mutex::new(()),
    });
    let handle = match handles::insert(Arc::clone(&object)) {
        Ok(handle) => handle,
        Err(failure) => {
            let _ = runtime::block_on(call.leave());
            return Err(failure);
        }
    };
    let task = runtime::spawn(pump(Arc::downgrade(&object), handle, events))?;
    *lock(&object.pump) = Some(task);
    Ok(handle)
}

/// Joins a room and returns the call's handle (> 0), or a negative error
/// code. Blocks until the signalling server has welcomed us (at most
/// `join_timeout_ms`).
///
/// `callback` (may be NULL) receives the call's events with `user_data`; it
/// may start running before this function returns. Remote tracks and data
/// channels reported by events are handles owned by the call: valid until
/// you destroy them or the call is destroyed.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_call_join(
    config: *const rtcgate_call_config,
    callback: rtcgate_call_event_cb,
    user_data: *mut c_void,
) -> rtcgate_call {
    guard::int(|| join(config, callback, user_data))
}

/// Leaves the room and destroys the call: closes every peer connection,
/// destroys the remote-track and data-channel handles it reported, and
/// makes `call` invalid. When it returns, no callback of the call (or of
/// those tracks and channels) is running on another thread, and none will
/// start. Safe to call from inside the call's own event callback.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_call_destroy(call: rtcgate_call) -> c_int {
    guard::int(|| {
        handles::remove::<CallObj>(call)?.destroy();
        Ok(0)
    })
}

/// Starts sending `track` to every member, present and future. A track can
/// be in several calls.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_call_add_track(call: rtcgate_call, track: rtcgate_local_track) -> c_int {
    guard::int(|| {
        let object = handles::get::<CallObj>(call)?;
        let track = handles::get::<LocalTrackObj>(track)?;
        runtime::block_on(object.call.add_track(&track.track))??;
        Ok(0)
    })
}

/// Stops sending `track` in this call; members see it end.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_call_remove_track(
    call: rtcgate_call,
    track: rtcgate_local_track,
) -> c_int {
    guard::int(|| {
        let object = handles::get::<CallObj>(call)?;
        let track = handles::get::<LocalTrackObj>(track)?;
        runtime::block_on(object.call.remove_track(&track.track))??;
        Ok(0)
    })
}

/// Opens a data channel with the member `member_id` (as reported by
/// `RTCGATE_CALL_EVENT_MEMBER_JOINED`) and returns its handle (> 0), owned
/// by the call like the channels events report. It can send once
/// `RTCGATE_CALL_EVENT_DATA_CHANNEL_OPEN` reports the same handle.
/// `options` may be NULL (reliable and ordered).
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_call_create_data_channel(
    call: rtcgate_call,
    member_id: *const c_char,
    label: *const c_char,
    options: *const rtcgate_data_channel_options,
) -> rtcgate_data_channel {
    guard::int(|| {
        let object = handles::get::<CallObj>(call)?;
        // SAFETY: NUL-terminated strings or NULL per the API contract.
        let member = unsafe { strings::non_empty(member_id, "member_id") }?.to_owned();
        // SAFETY: as above.
        let label = unsafe { strings::required(label, "label") }?.to_owned();
        let options = if options.is_null() {
            DataChannelOptions::default()
        } else {
            // SAFETY: a valid options struct per the API contract.
            unsafe { crate::data_channel::read_options(&*options) }?
        };
        let handle = runtime::block_on(async {
            let _registering = object.channels.lock().await;
            let channel = object
                .call
                .create_data_channel(&member, &label, options)
                .await?;
            let handle = handles::insert(Arc::new(DataChannelObj::new(channel)))?;
            object.add_child(handle, Kind::DataChannel, &member, &label);
            Ok::<_, Failure>(handle)
        })??;
        Ok(handle)
    })
}

/// Copies our member id in the room into `buffer` (see `rtcgate_server_url`
/// for the buffer convention).
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_call_self_id(
    call: rtcgate_call,
    buffer: *mut c_char,
    size: c_int,
) -> c_int {
    guard::int(|| {
        let object = handles::get::<CallObj>(call)?;
        // SAFETY: the caller's buffer has `size` bytes, or is NULL.
        unsafe { strings::to_buffer(object.call.self_id(), buffer, size) }
    })
}

/// A snapshot of the call's statistics as a JSON object (room, self_id, and
/// per member: connection state, selected candidate pair with each end's
/// `candidate_type`, `address`, `port`, `protocol` and `relay_protocol`,
/// inbound and outbound RTP streams with bytes, packets, loss, jitter, RTT,
/// bitrate).
///
/// On success stores in `*json` a NUL-terminated string the application
/// owns and must free with `rtcgate_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_call_stats_json(call: rtcgate_call, json: *mut *mut c_char) -> c_int {
    guard::int(|| {
        strings::out_ptr(json, "json")?;
        let object = handles::get::<CallObj>(call)?;
        let stats = runtime::block_on(object.call.stats())?;
        let text = serde_json::to_string(&stats).map_err(|e| {
            Failure::new(
                rtcgate_error::RTCGATE_ERR_INTERNAL,
                format!("stats JSON: {e}"),
            )
        })?;
        // SAFETY: checked non-NULL above.
        unsafe { *json = strings::give(&text) };
        Ok(0)
    })
}
