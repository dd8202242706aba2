//! Events a [`Call`](super::Call) reports.

use tokio::sync::mpsc;

use crate::data_channel::DataChannel;
use crate::media::{RemoteTrack, StallReport};
use crate::signalling::{MemberId, MemberInfo};

/// Connection state of the peer connection with one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Negotiating or checking connectivity.
    Connecting,
    /// Media and data can flow.
    Connected,
    /// Connectivity lost; it may come back by itself.
    Disconnected,
    /// Connectivity failed; an ICE restart is attempted.
    Failed,
    /// Closed.
    Closed,
}

/// Something that happened in a call.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CallEvent {
    /// A member joined the room (also reported for members present at join).
    MemberJoined(MemberInfo),
    /// A member left the room.
    MemberLeft(MemberInfo),
    /// A member started sending a track.
    TrackAdded(RemoteTrack),
    /// A member's track ended.
    TrackRemoved {
        /// The member.
        member: MemberId,
        /// The track id.
        track_id: String,
    },
    /// A data channel with a member opened (whichever side created it).
    DataChannelOpened(DataChannel),
    /// A data channel closed.
    DataChannelClosed {
        /// The member.
        member: MemberId,
        /// The channel's label.
        label: String,
        /// The channel (compare with [`DataChannel::same_channel`]).
        channel: DataChannel,
    },
    /// The connection with a member changed state.
    ConnectionStateChanged {
        /// The member.
        member: MemberId,
        /// The new state.
        state: ConnectionState,
    },
    /// A member's track keeps receiving packets but has given no usable
    /// frame for about a second (lost or undecodable frames); a video track
    /// asks for a keyframe as well. Reported once per stall; the counters
    /// are also in [`RemoteTrack::frame_drops`] and the call's stats.
    TrackStalled(StallReport),
    /// Something went wrong that did not end the call.
    Error {
        /// The member concerned, if any.
        member: Option<MemberId>,
        /// What happened.
        message: String,
    },
    /// The signalling session ended; the call cannot learn about new members.
    SignallingClosed(Option<String>),
}

/// The stream of a call's events. Dropping it discards further events.
#[derive(Debug)]
pub struct CallEvents {
    pub(crate) rx: mpsc::UnboundedReceiver<CallEvent>,
}

impl CallEvents {
    /// The next event; `None` after the call was left.
    pub async fn recv(&mut self) -> Option<CallEvent> {
        self.rx.recv().await
    }

    /// The next event if one is ready.
    pub fn try_recv(&mut self) -> Option<CallEvent> {
        self.rx.try_recv().ok()
    }
}
