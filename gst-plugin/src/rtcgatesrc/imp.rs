//! Implementation of `rtcgatesrc`: a session task per READY→PAUSED that joins
//! the room and feeds one output per remote track.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use rtcgate_core::{CallEvent, MediaKind, RemoteTrack};
use tokio::sync::watch;

use super::gate::Gates;
use super::output::{self, Output, Timeline};
use crate::connection::{self, ConnectionSettings, Plan};
use crate::session::Session;
use crate::{caps, messages};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running session (between READY→PAUSED and PAUSED→READY).
/// What the streaming side shares with the element.
#[derive(Default)]
struct Outputs {
    /// Outputs by pad name.
    by_name: HashMap<String, Output>,
    /// After EOS no new output is made.
    eos: bool,
    /// New outputs carry RTP (the `rtp` property at READY→PAUSED).
    rtp: bool,
}

/// The `rtcgatesrc` element.
#[derive(Default)]
pub struct RtcGateSrc {
    signaller: std::sync::OnceLock<crate::RtcGateSignaller>,
    settings: Mutex<ConnectionSettings>,
    rtp: Mutex<bool>,
    spatial_layers: Mutex<u32>,
    session: Mutex<Option<Session>>,
    outputs: Arc<Mutex<Outputs>>,
    stats: Arc<Mutex<gst::Array>>,
}

#[glib::object_subclass]
impl ObjectSubclass for RtcGateSrc {
    const NAME: &'static str = "GstRtcGateSrc";
    type Type = super::RtcGateSrc;
    type ParentType = gst::Bin;
    type Interfaces = (gst::ChildProxy,);
}

impl ObjectImpl for RtcGateSrc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut properties = connection::properties();
            properties.push(
                glib::ParamSpecBoolean::builder("rtp")
                    .nick("RTP output")
                    .blurb("Output application/x-rtp (frames payloaded again by rtpvp8pay, rtpvp9pay, rtph264pay, rtpopuspay; AV1 stays encoded) instead of encoded frames")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
            );
            properties.push(
                glib::ParamSpecUInt::builder("spatial-layers")
                    .nick("Spatial layers")
                    .blurb("How many spatial layers of scalable VP9 or AV1 (SVC) to output, from the lowest (1: the lowest resolution only); 0: all the sender sends")
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
        match pspec.name() {
            "rtp" => *lock(&self.rtp) = value.get().expect("type checked upstream"),
            "spatial-layers" => {
                *lock(&self.spatial_layers) = value.get().expect("type checked upstream")
            }
            name => {
                lock(&self.settings).set_property(name, value);
            }
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "stats" => return lock(&self.stats).to_value(),
            "rtp" => return lock(&self.rtp).to_value(),
            "spatial-layers" => return lock(&self.spatial_layers).to_value(),
            _ => {}
        }
        lock(&self.settings)
            .property(pspec.name())
            .unwrap_or_else(|| pspec.default_value().clone())
    }

    fn constructed(&self) {
        self.parent_constructed();
        self.obj().set_element_flags(gst::ElementFlags::SOURCE);
    }
}

impl GstObjectImpl for RtcGateSrc {}

impl ChildProxyImpl for RtcGateSrc {
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

impl RtcGateSrc {
    /// The `signaller` child (made on first use).
    fn signaller(&self) -> crate::RtcGateSignaller {
        self.signaller
            .get_or_init(|| crate::RtcGateSignaller::new(self.obj().upcast_ref()))
            .clone()
    }
}

impl ElementImpl for RtcGateSrc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "rtcgate source",
                "Source/Network/WebRTC",
                "Joins an rtcgate room and outputs every remote track, encoded, on its own pad",
                "rtcgate developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            [
                ("video_%s_%u", MediaKind::Video),
                ("audio_%s_%u", MediaKind::Audio),
            ]
            .into_iter()
            .map(|(name, kind)| {
                gst::PadTemplate::new(
                    name,
                    gst::PadDirection::Src,
                    gst::PadPresence::Sometimes,
                    &super::rtp::template_caps(kind),
                )
                .expect("valid pad template")
            })
            .collect()
        });
        TEMPLATES.as_ref()
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
        let result = self.parent_change_state(transition);
        if transition == gst::StateChange::PausedToReady {
            self.remove_outputs();
        }
        let success = result?;
        Ok(match transition {
            // A live source: nothing to preroll.
            gst::StateChange::ReadyToPaused | gst::StateChange::PlayingToPaused => {
                gst::StateChangeSuccess::NoPreroll
            }
            _ => success,
        })
    }

    fn send_event(&self, event: gst::Event) -> bool {
        if event.type_() == gst::EventType::Eos {
            gst::debug!(gst::CAT_DEFAULT, imp = self, "EOS: ending every output");
            lock(&self.outputs).eos = true;
        }
        self.parent_send_event(event)
    }
}

impl BinImpl for RtcGateSrc {}

impl RtcGateSrc {
    /// Checks the properties and starts the session task.
    fn start(&self) -> Result<(), gst::StateChangeError> {
        let plan = lock(&self.settings)
            .validate(crate::connection::Role::Receive)
            .map_err(|message| {
                gst::element_imp_error!(self, gst::LibraryError::Settings, ("{}", message));
                gst::StateChangeError
            })?;
        {
            let mut outputs = lock(&self.outputs);
            outputs.eos = false;
            outputs.rtp = *lock(&self.rtp);
        }
        *lock(&self.stats) = gst::Array::new(Vec::<glib::SendValue>::new());
        let element = self.obj().downgrade();
        let (outputs, stats) = (self.outputs.clone(), self.stats.clone());
        let spatial_layers = match *lock(&self.spatial_layers) {
            0 => None,
            n => Some(n as u8),
        };
        *lock(&self.session) = Some(Session::spawn(|stop| {
            run(element, plan, spatial_layers, stop, outputs, stats)
        }));
        Ok(())
    }

    /// Stops the session: feeders stop, the call is left.
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

    /// Removes every output (their appsrc and ghost pad).
    fn remove_outputs(&self) {
        let outputs: Vec<Output> = lock(&self.outputs)
            .by_name
            .drain()
            .map(|(_, o)| o)
            .collect();
        for output in outputs {
            remove_output(&self.obj(), output);
        }
    }
}

fn remove_output(element: &super::RtcGateSrc, output: Output) {
    let _ = output.pad.set_active(false);
    let _ = element.remove_pad(&output.pad);
    for child in output.elements() {
        let _ = child.set_state(gst::State::Null);
        let _ = element.remove(&child);
    }
    // The bin drops its SOURCE flag with its last source child; the element
    // stays a source (it receives the pipeline's EOS).
    element.set_element_flags(gst::ElementFlags::SOURCE);
}

/// The session: join, then react to the call's events until stopped.
async fn run(
    element: glib::WeakRef<super::RtcGateSrc>,
    plan: Plan,
    spatial_layers: Option<u8>,
    mut stop: watch::Receiver<bool>,
    outputs: Arc<Mutex<Outputs>>,
    stats: Arc<Mutex<gst::Array>>,
) {
    let room = plan.room().to_owned();
    let Some(joined) = plan.join_unless_stopped(&mut stop).await else {
        return;
    };
    let (connection, mut events) = match joined {
        Ok(joined) => joined,
        Err(message) => {
            tracing::warn!(%message, "rtcgatesrc could not join");
            if let Some(element) = element.upgrade() {
                gst::element_error!(element, gst::ResourceError::OpenRead, ("{}", message));
            }
            return;
        }
    };
    if let Some(element) = element.upgrade() {
        messages::joined(&element, &room, connection.call.self_id());
    }
    messages::forward_member_meta(element.clone(), connection.take_member_meta(), stop.clone());
    let mut counters: HashMap<(String, MediaKind), u32> = HashMap::new();
    let gates = Arc::new(Gates::default());
    let mut feeders = tokio::task::JoinSet::new();
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
                    None => {
                        end_all(&outputs);
                        break;
                    }
                    Some(CallEvent::MemberJoined(member)) => {
                        messages::member(&element, "member-joined", &member);
                    }
                    Some(CallEvent::MemberLeft(member)) => {
                        messages::member(&element, "member-left", &member);
                    }
                    Some(CallEvent::TrackAdded(track)) => {
                        track.set_spatial_layers(spatial_layers);
                        let counter = counters
                            .entry((track.member().clone(), track.kind()))
                            .or_default();
                        let name = format!(
                            "{}_{}_{}",
                            track.kind().as_str(),
                            sanitize(track.member()),
                            *counter
                        );
                        *counter += 1;
                        feeders.spawn(feed(
                            element.downgrade(),
                            (connection.call.clone(), gates.clone()),
                            track,
                            name,
                            stop.clone(),
                            outputs.clone(),
                        ));
                    }
                    Some(CallEvent::TrackStalled(report)) => {
                        messages::track_stalled(&element, &report);
                    }
                    Some(CallEvent::Error { member, message }) => {
                        gst::element_warning!(
                            element,
                            gst::ResourceError::Read,
                            ("{}", message),
                            ["member {:?}", member]
                        );
                    }
                    Some(CallEvent::SignallingClosed(reason)) => {
                        gst::element_warning!(
                            element,
                            gst::ResourceError::Read,
                            ("The signalling session ended: {}", reason.unwrap_or_default())
                        );
                        end_all(&outputs);
                        break;
                    }
                    Some(_) => {}
                }
            }
        }
    }
    // Feeders see `stop` (or, when the call ended, their tracks end).
    if *stop.borrow() {
        feeders.abort_all();
    }
    while feeders.join_next().await.is_some() {}
    connection.close().await;
}

/// Pad names keep to characters GStreamer accepts everywhere.
fn sanitize(id: &str) -> String {
    id.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Ends every output with EOS.
fn end_all(outputs: &Mutex<Outputs>) {
    let mut outputs = lock(outputs);
    outputs.eos = true;
    for output in outputs.by_name.values() {
        let _ = output.appsrc.end_of_stream();
    }
}

/// Feeds one remote track into its output; ends it with EOS and removes it
/// once the track ends.
async fn feed(
    element: glib::WeakRef<super::RtcGateSrc>,
    (call, gates): (rtcgate_core::Call, Arc<Gates>),
    track: RemoteTrack,
    name: String,
    mut stop: watch::Receiver<bool>,
    outputs: Arc<Mutex<Outputs>>,
) {
    let mut frames = track.subscribe();
    let Some(first) = output::first_frame(&track, &mut frames, &mut stop).await else {
        return;
    };
    let member = track.member().clone();
    tokio::select! {
        _ = gates.ready(&call, &member) => {}
        _ = stop.changed() => return,
    }
    let codec = track.codec();
    let made = {
        let (element, name, first, outputs) = (
            element.clone(),
            name.clone(),
            first.clone(),
            outputs.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let element = element.upgrade()?;
            if lock(&outputs).eos {
                return None;
            }
            let rtp = lock(&outputs).rtp;
            match output::create(element.upcast_ref(), &name, codec, &first, rtp) {
                Ok(output) => {
                    let timeline = Timeline::new(element.upcast_ref(), &first);
                    let appsrc = output.appsrc.clone();
                    lock(&outputs).by_name.insert(name.clone(), output);
                    Some((appsrc, timeline))
                }
                Err(error) => {
                    gst::element_warning!(
                        element,
                        gst::CoreError::Pad,
                        ("Could not add pad {}: {}", name, error)
                    );
                    None
                }
            }
        })
        .await
    };
    let Ok(Some((appsrc, timeline))) = made else {
        return;
    };
    tracing::info!(pad = %name, codec = codec.name(), "rtcgatesrc output added");
    tokio::select! {
        _ = gates.created(&member) => {}
        _ = stop.changed() => return,
    }
    let mut current_caps = caps::frame_caps(codec, &first.data);
    let mut frame = Some(first);
    let mut discont = true;
    while let Some(current) = frame {
        if current.keyframe
            && let Some(new) = caps::changed_caps(codec, &current_caps, &current.data)
        {
            // Queued in order: downstream gets the caps event before this frame.
            tracing::info!(pad = %name, %new, "rtcgatesrc picture size changed");
            appsrc.set_caps(Some(&new));
            current_caps = new;
        }
        if appsrc
            .push_buffer(timeline.buffer(&current, discont))
            .is_err()
        {
            // Flushing (stopping) or EOS already sent.
            break;
        }
        discont = false;
        frame = output::next(&mut frames, &mut stop).await;
    }
    if *stop.borrow() {
        return;
    }
    // The track ended: EOS, then the pad goes once the EOS went through.
    let target = appsrc.static_pad("src").expect("appsrc src pad");
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let done_tx = Mutex::new(Some(done_tx));
    target.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        if let Some(gst::PadProbeData::Event(event)) = &info.data
            && event.type_() == gst::EventType::Eos
        {
            if let Some(tx) = lock(&done_tx).take() {
                let _ = tx.send(());
            }
            return gst::PadProbeReturn::Remove;
        }
        gst::PadProbeReturn::Ok
    });
    let _ = appsrc.end_of_stream();
    tokio::select! {
        _ = done_rx => {}
        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        _ = stop.changed() => return,
    }
    // The probe sees EOS before it is pushed on: unlinking now would make that
    // push fail (not-linked, an error on the bus). Wait until the pad is idle.
    let (idle_tx, idle_rx) = tokio::sync::oneshot::channel::<()>();
    let idle_tx = Mutex::new(Some(idle_tx));
    target.add_probe(gst::PadProbeType::IDLE, move |_, _| {
        if let Some(tx) = lock(&idle_tx).take() {
            let _ = tx.send(());
        }
        gst::PadProbeReturn::Remove
    });
    tokio::select! {
        _ = idle_rx => {}
        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        _ = stop.changed() => return,
    }
    let _ = tokio::task::spawn_blocking(move || {
        let Some(element) = element.upgrade() else {
            return;
        };
        let Some(output) = lock(&outputs).by_name.remove(&name) else {
            return;
        };
        tracing::info!(pad = %name, "rtcgatesrc output removed");
        remove_output(&element, output);
    })
    .await;
}
