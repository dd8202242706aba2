//! [`Source`]: the upload side of the forwarding unit — one remote track,
//! tapped once ([`RtpSink`]) however many legs, in however many calls,
//! forward it.
//!
//! It fans each packet out to the legs (a copy-on-write list: taking it
//! costs a reference count, not an allocation), keeps the publisher's
//! sender-report clock of every encoding (to align switches and to map the
//! legs' sender reports), passes encoding changes on (a layer starting or
//! stopping retargets every leg), and sends the legs' keyframe requests to
//! the publisher through one [`KeyframeThrottle`] from a small task of its
//! own (the receive task never awaits).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::keyframe_requests::KeyframeThrottle;
use super::leg::Leg;
use crate::media::RemoteTrack;
use crate::media::SenderClock;
use crate::media::local_track::lock;
use crate::media::rtp_tap::{RtpSink, TappedPacket};
use crate::media::track_layers::align_timestamp;
use crate::rtp::encodings::Encoding;

/// Called once when the source track ends.
type OnEnd = Box<dyn FnOnce() + Send>;

/// One forwarded remote track (see the module documentation).
pub(crate) struct Source {
    track: RemoteTrack,
    clock_rate: u32,
    legs: Mutex<Arc<Vec<Arc<Leg>>>>,
    encodings: Mutex<Vec<Encoding>>,
    clocks: Mutex<Vec<(u32, SenderClock)>>,
    throttle: Mutex<KeyframeThrottle>,
    wake: Arc<Notify>,
    ended: AtomicBool,
    /// Forwarded tracks using the source; at 0 it stops tapping the track.
    users: Mutex<usize>,
    detached: AtomicBool,
    on_end: Mutex<Vec<OnEnd>>,
    packets: AtomicU64,
    bytes: AtomicU64,
}

impl Source {
    /// Taps `track`; keyframe requests to its publisher are at most one per
    /// encoding per `keyframe_interval`.
    pub(crate) fn start(track: &RemoteTrack, keyframe_interval: Duration) -> Arc<Source> {
        let source = Arc::new(Source {
            track: track.clone(),
            clock_rate: track.codec().clock_rate(),
            legs: Mutex::new(Arc::new(Vec::new())),
            encodings: Mutex::new(Vec::new()),
            clocks: Mutex::new(Vec::new()),
            throttle: Mutex::new(KeyframeThrottle::new(keyframe_interval)),
            wake: Arc::new(Notify::new()),
            ended: AtomicBool::new(false),
            users: Mutex::new(0),
            detached: AtomicBool::new(false),
            on_end: Mutex::new(Vec::new()),
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        });
        tokio::spawn(request_keyframes(
            Arc::downgrade(&source),
            source.wake.clone(),
        ));
        track.add_rtp_sink(source.clone());
        source
    }

    /// The remote track.
    pub(crate) fn track(&self) -> &RemoteTrack {
        &self.track
    }

    /// Whether the remote track ended.
    pub(crate) fn ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Runs `f` when the track ends (at once if it has).
    pub(crate) fn on_end(&self, f: OnEnd) {
        let mut callbacks = lock(&self.on_end);
        if self.ended() {
            drop(callbacks);
            f();
        } else {
            callbacks.push(f);
        }
    }

    /// A forwarded track starts using the source; false when it no longer
    /// taps its track (a new source is needed).
    pub(crate) fn acquire(&self) -> bool {
        let mut users = lock(&self.users);
        if self.detached.load(Ordering::Acquire) {
            return false;
        }
        *users += 1;
        true
    }

    /// A forwarded track stopped using the source: the last one stops the tap.
    pub(crate) fn release(self: &Arc<Self>) {
        let mut users = lock(&self.users);
        *users = users.saturating_sub(1);
        if *users == 0 && !self.detached.swap(true, Ordering::AcqRel) {
            drop(users);
            let sink: Arc<dyn RtpSink> = self.clone();
            self.track.remove_rtp_sink(&sink);
            self.wake.notify_one();
        }
    }

    /// Adds a leg; it learns the current encodings at once.
    pub(crate) fn add_leg(&self, leg: Arc<Leg>) {
        let encodings = lock(&self.encodings).clone();
        leg.on_encodings(&encodings, self, Instant::now());
        leg.refresh_clock(self);
        let mut legs = lock(&self.legs);
        let mut list = legs.as_ref().clone();
        list.push(leg);
        *legs = Arc::new(list);
    }

    /// Removes a leg.
    pub(crate) fn remove_leg(&self, leg: &Arc<Leg>) {
        let mut legs = lock(&self.legs);
        let list: Vec<Arc<Leg>> = legs
            .iter()
            .filter(|l| !Arc::ptr_eq(l, leg))
            .cloned()
            .collect();
        *legs = Arc::new(list);
    }

    /// A leg wants a keyframe of encoding `ssrc`.
    pub(crate) fn request_keyframe(&self, ssrc: u32) {
        lock(&self.throttle).request(ssrc);
        self.wake.notify_one();
    }

    /// The publisher's latest sender-report clock of encoding `ssrc`.
    pub(crate) fn clock(&self, ssrc: u32) -> Option<SenderClock> {
        lock(&self.clocks)
            .iter()
            .find(|(s, _)| *s == ssrc)
            .map(|(_, c)| *c)
    }

    /// `timestamp` of encoding `ssrc` on the RTP clock of encoding `previous`.
    pub(crate) fn align(&self, ssrc: u32, previous: u32, timestamp: u32) -> Option<u32> {
        let clock = self.clock(ssrc)?;
        let other = self.clock(previous)?;
        Some(align_timestamp(timestamp, &clock, &other, self.clock_rate))
    }

    /// Packets and bytes received, keyframe requests received from legs and sent.
    pub(crate) fn counters(&self) -> (u64, u64, u64, u64) {
        let throttle = lock(&self.throttle);
        (
            self.packets.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            throttle.requested,
            throttle.sent,
        )
    }
}

impl RtpSink for Source {
    fn on_packet(&self, tapped: &TappedPacket<'_>) {
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes
            .fetch_add(tapped.packet.payload.len() as u64, Ordering::Relaxed);
        if tapped.info.keyframe {
            lock(&self.throttle).on_keyframe(tapped.packet.header.ssrc);
        }
        let legs = lock(&self.legs).clone();
        for leg in legs.iter() {
            leg.on_packet(tapped, self);
        }
    }

    fn on_encodings(&self, encodings: &[Encoding], now: Instant) {
        *lock(&self.encodings) = encodings.to_vec();
        let legs = lock(&self.legs).clone();
        for leg in legs.iter() {
            leg.on_encodings(encodings, self, now);
        }
    }

    fn on_sender_report(&self, ssrc: u32, clock: SenderClock) {
        {
            let mut clocks = lock(&self.clocks);
            match clocks.iter_mut().find(|(s, _)| *s == ssrc) {
                Some(entry) => entry.1 = clock,
                None => clocks.push((ssrc, clock)),
            }
        }
        let legs = lock(&self.legs).clone();
        for leg in legs.iter() {
            leg.refresh_clock(self);
        }
    }

    fn on_end(&self) {
        self.ended.store(true, Ordering::Release);
        self.wake.notify_one();
        let callbacks = std::mem::take(&mut *lock(&self.on_end));
        for f in callbacks {
            f();
        }
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        // Lets the keyframe task see the source is gone.
        self.wake.notify_one();
    }
}

/// Sends the throttled keyframe requests to the publisher, until the source
/// is gone or its track ended.
async fn request_keyframes(source: Weak<Source>, wake: Arc<Notify>) {
    loop {
        let (next, track, deadline) = {
            let Some(source) = source.upgrade() else {
                return;
            };
            if source.ended() {
                return;
            }
            let mut throttle = lock(&source.throttle);
            let next = throttle.poll_request(Instant::now());
            (next, source.track.clone(), throttle.poll_timeout())
        };
        if let Some(ssrc) = next {
            if let Err(error) = track.request_keyframe_of(ssrc).await {
                tracing::debug!(track = track.id(), %error, "keyframe request to the publisher failed");
            }
            continue;
        }
        drop(track);
        match deadline {
            Some(deadline) => {
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep_until(deadline.into()) => {}
                }
            }
            None => wake.notified().await,
        }
    }
}
