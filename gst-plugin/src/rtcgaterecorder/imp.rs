//! Implementation of `rtcgaterecorder`: a session task per READY→PAUSED that
//! joins the room and runs a core `Recorder` attached to the call.

use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use rtcgate_core::CallEvent;
use rtcgate_core::recorder::{Recorder, RecorderEvent, RecorderOptions};
use tokio::sync::watch;

use crate::connection::{self, ConnectionSettings, Plan};
use crate::messages;
use crate::session::Session;

const DEFAULT_LOCATION: &str = "recordings";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Settings {
    connection: ConnectionSettings,
    location: String,
    spatial_layers: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            connection: ConnectionSettings {
                display_name: "recorder".to_owned(),
                ..Default::default()
            },
            location: DEFAULT_LOCATION.to_owned(),
            spatial_layers: 0,
        }
    }
}

/// The `rtcgaterecorder` element.
#[derive(Default)]
pub struct RtcGateRecorder {
    signaller: std::sync::OnceLock<crate::RtcGateSignaller>,
    settings: Mutex<Settings>,
    session: Mutex<Option<Session>>,
    stats: Arc<Mutex<gst::Array>>,
}

#[glib::object_subclass]
impl ObjectSubclass for RtcGateRecorder {
    const NAME: &'static str = "GstRtcGateRecorder";
    type Type = super::RtcGateRecorder;
    type ParentType = gst::Element;
    type Interfaces = (gst::ChildProxy,);
}

impl ObjectImpl for RtcGateRecorder {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut properties = connection::properties();
            properties.push(
                glib::ParamSpecString::builder("location")
                    .nick("Location")
                    .blurb("Folder for the recordings (created if missing): one <display name>-<member id>.webm (.mkv with H.264) per participant")
                    .default_value(Some(DEFAULT_LOCATION))
                    .mutable_ready()
                    .build(),
            );
            properties.push(
                glib::ParamSpecUInt::builder("spatial-layers")
                    .nick("Spatial layers")
                    .blurb("How many spatial layers of scalable VP9 or AV1 (SVC) to record, from the lowest (1: the lowest resolution only); 0: all the sender sends")
                    .maximum(8)
                    .default_value(0)
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
            "location" => {
                settings.location = value
                    .get::<Option<String>>()
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| DEFAULT_LOCATION.to_owned())
            }
            "spatial-layers" => {
                settings.spatial_layers = value.get().expect("type checked upstream");
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
            "location" => settings.location.to_value(),
            "spatial-layers" => settings.spatial_layers.to_value(),
            name => settings
                .connection
                .property(name)
                .unwrap_or_else(|| pspec.default_value().clone()),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        // A source (it receives the pipeline's EOS) and a sink (its EOS
        // message ends the pipeline).
        self.obj()
            .set_element_flags(gst::ElementFlags::SOURCE | gst::ElementFlags::SINK);
    }
}

impl GstObjectImpl for RtcGateRecorder {}

impl ChildProxyImpl for RtcGateRecorder {
    fn child_by_name(&self, name: &str) -> Option<glib::Object> {
        (name == "signaller").then(|| self.signaller().upcast())
    }

    fn child_by_index(&self, index: u32) -> Option<glib::Object> {
        (index == 0).then(|| self.signaller().upcast())
    }

    fn children_count(&self) -> u32 {
        1
    }
}

impl RtcGateRecorder {
    /// The `signaller` child (made on first use).
    fn signaller(&self) -> crate::RtcGateSignaller {
        self.signaller
            .get_or_init(|| crate::RtcGateSignaller::new(self.obj().upcast_ref()))
            .clone()
    }
}

impl ElementImpl for RtcGateRecorder {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "rtcgate recorder",
                "Sink/Network/WebRTC",
                "Joins an rtcgate room and records every participant to a file in a folder, without transcoding",
                "rtcgate developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        &[]
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused {
            self.start()?;
        }
        if transition == gst::StateChange::PausedToReady {
            self.stop_session();
        }
        let success = self.parent_change_state(transition)?;
        Ok(match transition {
            gst::StateChange::ReadyToPaused | gst::StateChange::PlayingToPaused => {
                gst::StateChangeSuccess::NoPreroll
            }
            _ => success,
        })
    }

    fn send_event(&self, event: gst::Event) -> bool {
        if event.type_() != gst::EventType::Eos {
            return false;
        }
        // Close the files in the background, then post EOS.
        let Some(session) = lock(&self.session).as_ref().map(Session::stopper) else {
            return false;
        };
        let _ = session.send(true);
        true
    }
}

impl RtcGateRecorder {
    fn start(&self) -> Result<(), gst::StateChangeError> {
        let (plan, options) = {
            let settings = lock(&self.settings);
            let plan = settings
                .connection
                .validate(crate::connection::Role::Receive)
                .map_err(|message| {
                    gst::element_imp_error!(self, gst::LibraryError::Settings, ("{}", message));
                    gst::StateChangeError
                })?;
            let mut options = RecorderOptions::new(&settings.location);
            options.spatial_layers = match settings.spatial_layers {
                0 => None,
                n => Some(n as u8),
            };
            (plan, options)
        };
        let location = options.folder.clone();
        if let Err(error) = std::fs::create_dir_all(&location) {
            gst::element_imp_error!(
                self,
                gst::ResourceError::OpenWrite,
                ("Could not create folder {}: {}", location.display(), error)
            );
            return Err(gst::StateChangeError);
        }
        let element = self.obj().downgrade();
        let stats = self.stats.clone();
        *lock(&self.session) = Some(Session::spawn(|stop| {
            run(element, plan, options, stop, stats)
        }));
        Ok(())
    }

    fn stop_session(&self) {
        let Some(session) = lock(&self.session).take() else {
            return;
        };
        if !session.stop(Duration::from_secs(20)) {
            gst::warning!(
                gst::CAT_DEFAULT,
                imp = self,
                "recorder did not stop within 20 s"
            );
        }
    }
}

/// The session: join, record until stopped (or EOS, or the call ends), then
/// close the files; posts EOS unless stopped by a state change.
async fn run(
    element: glib::WeakRef<super::RtcGateRecorder>,
    plan: Plan,
    options: RecorderOptions,
    mut stop: watch::Receiver<bool>,
    stats: Arc<Mutex<gst::Array>>,
) {
    let room = plan.room().to_owned();
    let Some(joined) = plan.join_unless_stopped(&mut stop).await else {
        return;
    };
    let (connection, mut events) = match joined {
        Ok(joined) => joined,
        Err(message) => {
            if let Some(element) = element.upgrade() {
                gst::element_error!(element, gst::ResourceError::OpenRead, ("{}", message));
            }
            return;
        }
    };
    let (recorder, mut recorder_events) =
        match Recorder::attach(&connection.call, options.clone()).await {
            Ok(recorder) => recorder,
            Err(error) => {
                if let Some(element) = element.upgrade() {
                    gst::element_error!(
                        element,
                        gst::ResourceError::OpenWrite,
                        (
                            "Could not record into {}: {}",
                            options.folder.display(),
                            error
                        )
                    );
                }
                connection.close().await;
                return;
            }
        };
    if let Some(element) = element.upgrade() {
        messages::joined(&element, &room, connection.call.self_id());
    }
    messages::forward_member_meta(element.clone(), connection.take_member_meta(), stop.clone());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut call_ended = false;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {
                *lock(&stats) = connection::stats_array(&connection.call.stats().await);
            }
            event = events.recv() => {
                let Some(element) = element.upgrade() else { break };
                match event {
                    Some(CallEvent::MemberJoined(member)) => {
                        messages::member(&element, "member-joined", &member);
                    }
                    Some(CallEvent::MemberLeft(member)) => {
                        messages::member(&element, "member-left", &member);
                    }
                    None | Some(CallEvent::SignallingClosed(_)) => {
                        call_ended = true;
                        break;
                    }
                    Some(_) => {}
                }
            }
            Some(event) = recorder_events.recv() => {
                let Some(element) = element.upgrade() else { break };
                recorder_message(&element, event);
            }
        }
    }
    recorder.stop().await;
    while let Some(event) = recorder_events.try_recv() {
        if let Some(element) = element.upgrade() {
            recorder_message(&element, event);
        }
    }
    connection.close().await;
    // Stopped by EOS or by the end of the call (not by a state change, which
    // takes the session out before stopping it): the recording is complete.
    if let Some(element) = element.upgrade() {
        let state_change = element.imp().session_taken();
        if call_ended || !state_change {
            let _ = element.post_message(gst::message::Eos::builder().src(&element).build());
        }
    }
}

impl RtcGateRecorder {
    fn session_taken(&self) -> bool {
        lock(&self.session).is_none()
    }
}

/// Reports a recorder event on the bus.
fn recorder_message(element: &super::RtcGateRecorder, event: RecorderEvent) {
    match event {
        RecorderEvent::FileStarted { member, path, .. } => {
            let location = path.display().to_string();
            messages::post(
                element,
                "recording-started",
                &[
                    ("member-id", member.as_str()),
                    ("location", location.as_str()),
                ],
            )
        }
        RecorderEvent::Finished(summary) => {
            let progress = summary.progress;
            let location = progress
                .path
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            messages::post(
                element,
                "recording-finished",
                &[
                    ("member-id", progress.member.as_str()),
                    ("display-name", progress.name.as_str()),
                    ("location", location.as_str()),
                ],
            )
        }
        RecorderEvent::TrackStalled(report) => messages::track_stalled(element, &report),
        RecorderEvent::WriteFailed { path, message, .. } => {
            gst::element_warning!(
                element,
                gst::ResourceError::Write,
                ("Could not write {}: {}", path.display(), message)
            );
        }
        _ => {}
    }
}
