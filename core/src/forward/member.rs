//! [`MemberForwarding`]: every track of one member of a call, forwarded
//! into another call as they come and go.

use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

use super::{ForwardedTrack, Forwarder};
use crate::call::{Call, CallEvent};
use crate::error::Result;
use crate::media::RemoteTrack;
use crate::media::local_track::lock;
use crate::signalling::MemberId;

/// The forwarding of one member's tracks (see
/// [`Forwarder::forward_member`]). Tracks the member adds later are
/// forwarded too; a track that ends stops being forwarded; when the member
/// leaves, or [`stop`](Self::stop) is called, every forwarded track stops.
pub struct MemberForwarding {
    member: MemberId,
    tracks: Arc<Mutex<Vec<ForwardedTrack>>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for MemberForwarding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberForwarding")
            .field("member", &self.member)
            .finish()
    }
}

impl MemberForwarding {
    pub(crate) async fn start(
        forwarder: Forwarder,
        from: &Call,
        member: &MemberId,
        into: &Call,
    ) -> Result<MemberForwarding> {
        // Subscribe first, then list: a track that arrives in between is in
        // both, and is forwarded once (by identity).
        let mut events = from.subscribe();
        let existing: Vec<RemoteTrack> = from
            .remote_tracks()
            .await
            .into_iter()
            .filter(|t| t.member() == member)
            .collect();
        let tracks = Arc::new(Mutex::new(Vec::new()));
        for track in &existing {
            forward_once(&forwarder, track, into, &tracks).await?;
        }
        let into = into.clone();
        let list = tracks.clone();
        let who = member.clone();
        let task = tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                match event {
                    CallEvent::TrackAdded(track) if track.member() == &who => {
                        if let Err(error) = forward_once(&forwarder, &track, &into, &list).await {
                            tracing::warn!(member = %who, track = track.id(), %error, "cannot forward a track");
                        }
                    }
                    CallEvent::MemberLeft(info) if info.id == who => break,
                    _ => {}
                }
                lock(&list).retain(|t: &ForwardedTrack| !t.is_stopped());
            }
            stop_all(&list).await;
        });
        Ok(MemberForwarding {
            member: member.clone(),
            tracks,
            task,
        })
    }

    /// The member whose tracks are forwarded.
    pub fn member(&self) -> &MemberId {
        &self.member
    }

    /// The member's tracks forwarded now.
    pub fn tracks(&self) -> Vec<ForwardedTrack> {
        lock(&self.tracks)
            .iter()
            .filter(|t| !t.is_stopped())
            .cloned()
            .collect()
    }

    /// Stops forwarding the member's tracks.
    pub async fn stop(self) {
        self.task.abort();
        stop_all(&self.tracks).await;
    }
}

async fn forward_once(
    forwarder: &Forwarder,
    track: &RemoteTrack,
    into: &Call,
    tracks: &Mutex<Vec<ForwardedTrack>>,
) -> Result<()> {
    if lock(tracks)
        .iter()
        .any(|t| t.forwards(track) && !t.is_stopped())
    {
        return Ok(());
    }
    let forwarded = forwarder.forward(track, into).await?;
    lock(tracks).push(forwarded);
    Ok(())
}

async fn stop_all(tracks: &Mutex<Vec<ForwardedTrack>>) {
    let all = std::mem::take(&mut *lock(tracks));
    for track in all {
        if let Err(error) = track.stop().await {
            tracing::debug!(track = track.id(), %error, "stopping a forwarded track");
        }
    }
}
