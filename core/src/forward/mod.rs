//! The forwarding unit: media from one call into others at the RTP level,
//! without depacketizing, decoding or re-encoding — one upload, any number
//! of downloads.
//!
//! ```no_run
//! # async fn example(track: rtcgate_core::RemoteTrack, room_b: rtcgate_core::Call) -> rtcgate_core::Result<()> {
//! use rtcgate_core::forward::{ForwardOptions, Forwarder, LayerPreference};
//!
//! let forwarder = Forwarder::new(ForwardOptions::default());
//! // `track` arrived in one call; every member of `room_b` now receives it
//! // from `room_b`'s own member, each through a leg of its own.
//! let forwarded = forwarder.forward(&track, &room_b).await?;
//! forwarded.set_layer_preference(None, LayerPreference::lowest());
//! println!("{:?}", forwarded.stats());
//! # Ok(()) }
//! ```
//!
//! Per leg (one forwarded track on one member's connection) the unit
//! rewrites SSRC, payload type (by codec name and format parameters from
//! that leg's negotiation), header-extension ids (by URI; others dropped),
//! sequence numbers, timestamps and VP8 picture ids (continuous across
//! dropped packets, pauses and layer switches), starts and switches only on
//! a keyframe, and terminates RTCP: NACKs are answered from the leg's own
//! send buffer, PLI/FIR are coalesced and rate-limited toward the
//! publisher, sender reports carry the publisher's clock, receiver reports
//! give per-leg loss and RTT and drive the layer choice. `docs/bridge.md`
//! describes the per-packet path and each decision.

mod extensions;
mod keyframe_requests;
mod layer_policy;
mod leg;
mod member;
mod source;
mod stats;
mod track;

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

pub use layer_policy::LayerPreference;
pub use member::MemberForwarding;
pub use stats::{ForwardedLayer, ForwardedTrackStats, LegStats};
pub use track::ForwardedTrack;

use crate::call::Call;
use crate::error::{Error, Result};
use crate::media::RemoteTrack;
use crate::media::local_track::lock;
use crate::signalling::MemberId;
use layer_policy::PolicyTuning;
use source::Source;

/// How the forwarding unit behaves. Start from `Default` and change what
/// you need with the `with_*` methods.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ForwardOptions {
    /// At most one keyframe request per encoding goes to a publisher this
    /// often, however many legs ask (default 500 ms).
    pub keyframe_request_interval: Duration,
    /// A leg waiting for a keyframe (starting, switching) asks again this
    /// often (default 1 s).
    pub keyframe_retry_interval: Duration,
    /// A source that sent nothing this long (muted, stopped) resumes on a
    /// keyframe (default 1 s).
    pub resume_after: Duration,
    /// Receiver-report loss (0.0–1.0) from which a leg's layer goes down
    /// (default 0.10: twice in a row).
    pub downgrade_loss: f64,
    /// Good reports this long before a leg tries the layer above again
    /// (default 10 s; doubles when the try fails at once).
    pub layer_hold_off: Duration,
    /// The layers a member gets unless it says otherwise (default: the highest).
    pub preference: LayerPreference,
}

impl Default for ForwardOptions {
    fn default() -> Self {
        Self {
            keyframe_request_interval: Duration::from_millis(500),
            keyframe_retry_interval: Duration::from_secs(1),
            resume_after: Duration::from_secs(1),
            downgrade_loss: 0.10,
            layer_hold_off: Duration::from_secs(10),
            preference: LayerPreference::default(),
        }
    }
}

impl ForwardOptions {
    /// Sets [`keyframe_request_interval`](Self::keyframe_request_interval).
    pub fn with_keyframe_request_interval(mut self, interval: Duration) -> Self {
        self.keyframe_request_interval = interval;
        self
    }

    /// Sets [`keyframe_retry_interval`](Self::keyframe_retry_interval).
    pub fn with_keyframe_retry_interval(mut self, interval: Duration) -> Self {
        self.keyframe_retry_interval = interval;
        self
    }

    /// Sets [`resume_after`](Self::resume_after).
    pub fn with_resume_after(mut self, after: Duration) -> Self {
        self.resume_after = after;
        self
    }

    /// Sets [`downgrade_loss`](Self::downgrade_loss).
    pub fn with_downgrade_loss(mut self, loss: f64) -> Self {
        self.downgrade_loss = loss;
        self
    }

    /// Sets [`layer_hold_off`](Self::layer_hold_off).
    pub fn with_layer_hold_off(mut self, hold_off: Duration) -> Self {
        self.layer_hold_off = hold_off;
        self
    }

    /// Sets [`preference`](Self::preference).
    pub fn with_preference(mut self, preference: LayerPreference) -> Self {
        self.preference = preference;
        self
    }

    fn tuning(&self) -> PolicyTuning {
        PolicyTuning {
            downgrade_loss: self.downgrade_loss,
            downgrade_rtt: Duration::from_secs(1),
            hold_off: self.layer_hold_off,
        }
    }
}

/// The forwarding unit: forwards remote tracks of calls into other calls
/// as their outgoing tracks (see the module documentation). Cheap to clone.
///
/// A remote track forwarded into several calls (or several times) is
/// tapped once: its legs share one source, so the publisher sees one
/// stream of keyframe requests for all of them.
#[derive(Clone)]
pub struct Forwarder {
    inner: Arc<Inner>,
}

struct Inner {
    options: ForwardOptions,
    sources: Mutex<Vec<Weak<Source>>>,
    tracks: Mutex<Vec<ForwardedTrack>>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("options", &self.inner.options)
            .finish()
    }
}

impl Default for Forwarder {
    fn default() -> Self {
        Self::new(ForwardOptions::default())
    }
}

impl Forwarder {
    /// A forwarding unit with `options`.
    pub fn new(options: ForwardOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                options,
                sources: Mutex::new(Vec::new()),
                tracks: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Forwards `track` (a remote track of any call) into `into`, whose
    /// members all receive it from then on, members that join later too.
    /// The forwarded track keeps the source's track and stream ids (the
    /// source's member id is added to the track id when `into` already
    /// sends one with that id). Fails for a call that was left.
    pub async fn forward(&self, track: &RemoteTrack, into: &Call) -> Result<ForwardedTrack> {
        track::check_forwardable(track)?;
        let source = self.source_for(track);
        if source.ended() {
            source.release();
            return Err(Error::closed(format!("track {} has ended", track.id())));
        }
        let mut id = track.id().to_owned();
        if into.sends_track_id(&id) {
            id = format!("{}-{}", track.id(), track.member());
        }
        let forwarded =
            ForwardedTrack::new(source.clone(), into.downgrade(), id, self.inner.options);
        if let Err(error) = into.add_outgoing(Arc::new(forwarded.clone())).await {
            source.release();
            return Err(error);
        }
        lock(&self.inner.tracks).push(forwarded.clone());
        // The track ends with its source.
        let ended = forwarded.clone();
        source.on_end(Box::new(move || {
            tokio::spawn(async move {
                if let Err(error) = ended.stop().await {
                    tracing::debug!(track = ended.id(), %error, "removing a forwarded track");
                }
            });
        }));
        tracing::info!(track = forwarded.id(), from = %track.member(), into = into.room(), "forwarding");
        Ok(forwarded)
    }

    /// Forwards every track `member` of `from` sends, now and later, into
    /// `into`, until the member leaves `from` or the returned handle stops.
    pub async fn forward_member(
        &self,
        from: &Call,
        member: &MemberId,
        into: &Call,
    ) -> Result<MemberForwarding> {
        MemberForwarding::start(self.clone(), from, member, into).await
    }

    /// The tracks forwarded now (stopped ones are left out).
    pub fn tracks(&self) -> Vec<ForwardedTrack> {
        let mut tracks = lock(&self.inner.tracks);
        tracks.retain(|t| !t.is_stopped());
        tracks.clone()
    }

    /// A snapshot of every forwarded track.
    pub fn stats(&self) -> Vec<ForwardedTrackStats> {
        self.tracks().iter().map(|t| t.stats()).collect()
    }

    /// The source of `track`, acquired: the one already tapping it, or a new one.
    fn source_for(&self, track: &RemoteTrack) -> Arc<Source> {
        let mut sources = lock(&self.inner.sources);
        sources.retain(|s| s.strong_count() > 0);
        if let Some(source) = sources
            .iter()
            .filter_map(|s| s.upgrade())
            .find(|s| s.track().same_as(track) && s.acquire())
        {
            return source;
        }
        let source = Source::start(track, self.inner.options.keyframe_request_interval);
        source.acquire();
        sources.push(Arc::downgrade(&source));
        source
    }
}
