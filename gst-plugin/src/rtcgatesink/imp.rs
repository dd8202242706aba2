//! Implementation of `rtcgatesink`: request pads, the connection properties,
//! and a session task per READY→PAUSED that joins the room and adds the
//! pads' tracks.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use rtcgate_core::{CallEvent, LocalTrack, MediaKind};
use tokio::sync::watch;

use super::input::{self, Input, Publisher};
use crate::connection::{self, ConnectionSettings, Plan};
use crate::runtime::runtime;
use crate::session::Session;
use crate::{caps, messages};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Settings {
    connection: ConnectionSettings,
    video_caps: gst::Caps,
    audio_caps: gst::Caps,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            connection: ConnectionSettings::default(),
            video_caps: caps::sink_caps(MediaKind::Video),
            audio_caps: caps::sink_caps(MediaKind::Audio),
        }
    }
}

/// The `rtcgatesink` element.
#[derive(Default)]
pub struct RtcGateSink {
    signaller: std::sync::OnceLock<crate::RtcGateSignaller>,
    settings: Mutex<Settings>,
    session: Mutex<Option<Session>>,
    inputs: Mutex<HashMap<String, Input>>,
    publisher: Arc<Mutex<Publisher>>,
    stats: Arc<Mutex<gst::Array>>,
}

#[glib::object_subclass]
impl ObjectSubclass for RtcGateSink {
    const NAME: &'static str = "GstRtcGateSink";
    type Type = super::RtcGateSink;
    type ParentType = gst::Bin;
    type Interfaces = (gst::ChildProxy,);
}

impl ObjectImpl for RtcGateSink {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut properties = connection::properties();
            properties.push(
                glib::ParamSpecBoxed::builder::<gst::Caps>("video-caps")
                    .nick("Video caps")
                    .blurb("Encoded video formats the video_%u pads accept (a subset of VP8, VP9, H.264 byte-stream/au, AV1 obu-stream/tu)")
                    .mutable_ready()
                    .build(),
            );
            properties.push(
                glib::ParamSpecBoxed::builder::<gst::Caps>("audio-caps")
                    .nick("Audio caps")
                    .blurb("Encoded audio formats the audio_%u pads accept (Opus)")
                    .mutable_ready()
                    .build(),
            );
            properties
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = lock(&self.settings);
        match pspec.name() {
            "video-caps" => {
                settings.video_caps = value
                    .get::<Option<gst::Caps>>()
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| caps::sink_caps(MediaKind::Video))
            }
            "audio-caps" => {
                settings.audio_caps = value
                    .get::<Option<gst::Caps>>()
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| caps::sink_caps(MediaKind::Audio))
            }
            name => {
                settings.connection.set_property(name, value);
            }
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = lock(&self.settings);
        match pspec.name() {
            "stats" => lock(&self.stats).to_value(),
            "video-caps" => settings.video_caps.to_value(),
            "audio-caps" => settings.audio_caps.to_value(),
            name => settings
                .connection
                .property(name)
                .unwrap_or_else(|| pspec.default_value().clone()),
        }
    }
}

impl GstObjectImpl for RtcGateSink {}

impl ChildProxyImpl for RtcGateSink {
    fn child_by_name(&self, name: &str) -> Option<glib::Object> {
        if name == "signaller" {
            return Some(self.signaller().upcast());
        }
        self.parent_child_by_name(name)
    }

    fn child_by_index(&self, index: u32) -> Option<glib::Object> {
        self.parent_child_by_index(index)
    }

    fn children_count(&self) -> u32 {
        self.parent_children_count()
    }
}

impl RtcGateSink {
    /// The `signaller` child (made on first use).
    fn signaller(&self) -> crate::RtcGateSignaller {
        self.signaller
            .get_or_init(|| crate::RtcGateSignaller::new(self.obj().upcast_ref()))
            .clone()
    }
}

impl ElementImpl for RtcGateSink {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "rtcgate sink",
                "Sink/Network/WebRTC",
                "Joins an rtcgate room and publishes encoded audio and video into it",
                "rtcgate developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            [
                ("video_%u", MediaKind::Video),
                ("audio_%u", MediaKind::Audio),
            ]
            .into_iter()
            .map(|(name, kind)| {
                let mut caps = caps::sink_caps(kind);
                caps.merge(super::encoder::raw_caps(kind));
                gst::PadTemplate::new(
                    name,
                    gst::PadDirection::Sink,
                    gst::PadPresence::Request,
                    &caps,
                )
                .expect("valid pad template")
            })
            .collect()
        });
        TEMPLATES.as_ref()
    }

    fn request_new_pad(
        &self,
        templ: &gst::PadTemplate,
        name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst::Pad> {
        let video = templ.name_template() == "video_%u";
        let prefix = if video { "video" } else { "audio" };
        let mut inputs = lock(&self.inputs);
        let name = match name {
            Some(name) if !inputs.contains_key(name) => name.to_owned(),
            Some(_) => return None,
            None => (0..)
                .map(|n| format!("{prefix}_{n}"))
                .find(|n| !inputs.contains_key(n))
                .expect("a free pad name"),
        };
        let accepted = {
            let settings = lock(&self.settings);
            let wanted = if video {
                &settings.video_caps
            } else {
                &settings.audio_caps
            };
            wanted.intersect(templ.caps())
        };
        let stream_id = self.obj().name().to_string();
        match input::create(
            self.obj().upcast_ref(),
            templ,
            &name,
            &accepted,
            stream_id,
            self.publisher.clone(),
        ) {
            Ok(input) => {
                let pad = input.pad.clone().upcast();
                inputs.insert(name, input);
                Some(pad)
            }
            Err(error) => {
                gst::error!(
                    gst::CAT_DEFAULT,
                    imp = self,
                    "could not add pad {name}: {error}"
                );
                None
            }
        }
    }

    fn release_pad(&self, pad: &gst::Pad) {
        let Some(input) = lock(&self.inputs).remove(pad.name().as_str()) else {
            return;
        };
        let _ = input.pad.set_active(false);
        let _ = self.obj().remove_pad(&input.pad);
        let _ = input.appsink.set_state(gst::State::Null);
        let _ = self.obj().remove(&input.appsink);
        let track = lock(&input.track).take();
        if let Some(track) = track {
            let call = {
                let mut publisher = lock(&self.publisher);
                publisher.tracks.retain(|t| t.id() != track.id());
                publisher.call.clone()
            };
            if let Some(call) = call {
                runtime().spawn(async move {
                    let _ = call.remove_track(&track).await;
                });
            }
        }
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused {
            self.start()?;
        }
        let result = self.parent_change_state(transition);
        if transition == gst::StateChange::PausedToReady {
            self.stop_session();
        }
        result
    }
}

impl BinImpl for RtcGateSink {}

impl RtcGateSink {
    fn start(&self) -> Result<(), gst::StateChangeError> {
        let plan = lock(&self.settings)
            .connection
            .validate(crate::connection::Role::Send)
            .map_err(|message| {
                gst::element_imp_error!(self, gst::LibraryError::Settings, ("{}", message));
                gst::StateChangeError
            })?;
        // Tracks are made again from the next samples' caps.
        for input in lock(&self.inputs).values() {
            *lock(&input.track) = None;
        }
        *lock(&self.publisher) = Publisher::default();
        let element = self.obj().downgrade();
        let (publisher, stats) = (self.publisher.clone(), self.stats.clone());
        let pads = lock(&self.inputs).len();
        *lock(&self.session) = Some(Session::spawn(move |stop| {
            run(element, (plan, pads), stop, publisher, stats)
        }));
        Ok(())
    }

    fn stop_session(&self) {
        let Some(session) = lock(&self.session).take() else {
            return;
        };
        if !session.stop(Duration::from_secs(10)) {
            gst::warning!(
                gst::CAT_DEFAULT,
                imp = self,
                "session did not stop within 10 s"
            );
        }
    }
}

/// How long a WHIP session waits for the tracks of the pads that exist at
/// start (each needs its first sample's caps) before it starts without the
/// missing ones.
const ENDPOINT_TRACK_WAIT: Duration = Duration::from_secs(10);

/// The tracks of `pads` inputs, once all have one (or after
/// [`ENDPOINT_TRACK_WAIT`]); `None` when stopped first.
async fn initial_tracks(
    publisher: &Mutex<Publisher>,
    pads: usize,
    stop: &mut watch::Receiver<bool>,
) -> Option<Vec<LocalTrack>> {
    let deadline = tokio::time::Instant::now() + ENDPOINT_TRACK_WAIT;
    loop {
        let tracks = lock(publisher).tracks.clone();
        if tracks.len() >= pads || tokio::time::Instant::now() >= deadline {
            if tracks.len() < pads {
                tracing::warn!(
                    pads,
                    tracks = tracks.len(),
                    "rtcgatesink: not every pad had caps in time; the WHIP session starts without them"
                );
            }
            return Some(tracks);
        }
        tokio::select! {
            _ = stop.changed() => return None,
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
}

/// The session: join (with a WHIP URL: once the pads' tracks are known, sent
/// from the start), publish the tracks, report members until stopped.
async fn run(
    element: glib::WeakRef<super::RtcGateSink>,
    (plan, pads): (Plan, usize),
    mut stop: watch::Receiver<bool>,
    publisher: Arc<Mutex<Publisher>>,
    stats: Arc<Mutex<gst::Array>>,
) {
    let (plan, initial) = if plan.is_endpoint() {
        let Some(tracks) = initial_tracks(&publisher, pads, &mut stop).await else {
            return;
        };
        (plan.with_tracks(tracks.clone()), tracks)
    } else {
        (plan, Vec::new())
    };
    let room = plan.room().to_owned();
    let Some(joined) = plan.join_unless_stopped(&mut stop).await else {
        return;
    };
    let (connection, mut events) = match joined {
        Ok(joined) => joined,
        Err(message) => {
            tracing::warn!(%message, "rtcgatesink could not join");
            if let Some(element) = element.upgrade() {
                gst::element_error!(element, gst::ResourceError::OpenWrite, ("{}", message));
            }
            return;
        }
    };
    let tracks = {
        let mut p = lock(&publisher);
        p.call = Some(connection.call.clone());
        p.tracks.clone()
    };
    for track in tracks
        .into_iter()
        .filter(|t| !initial.iter().any(|i| i.id() == t.id()))
    {
        if let Err(error) = connection.call.add_track(&track).await {
            tracing::warn!(%error, track = track.id(), "could not add a track");
        }
    }
    if let Some(element) = element.upgrade() {
        messages::joined(&element, &room, connection.call.self_id());
    }
    messages::forward_member_meta(element.clone(), connection.take_member_meta(), stop.clone());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {
                *lock(&stats) = connection::stats_array(&connection.call.stats().await);
            }
            event = events.recv() => {
                let Some(element) = element.upgrade() else { break };
                match event {
                    None => break,
                    Some(CallEvent::MemberJoined(member)) => {
                        messages::member(&element, "member-joined", &member);
                    }
                    Some(CallEvent::MemberLeft(member)) => {
                        messages::member(&element, "member-left", &member);
                    }
                    Some(CallEvent::Error { member, message }) => {
                        gst::element_warning!(
                            element,
                            gst::ResourceError::Write,
                            ("{}", message),
                            ["member {:?}", member]
                        );
                    }
                    Some(CallEvent::SignallingClosed(reason)) => {
                        gst::element_error!(
                            element,
                            gst::ResourceError::Write,
                            ("The signalling session ended: {}", reason.unwrap_or_default())
                        );
                        break;
                    }
                    Some(_) => {}
                }
            }
        }
    }
    lock(&publisher).call = None;
    connection.close().await;
}
