//! The SCTP anchor channel's state, followed by events rather than polled.
//!
//! Every link creates a negotiated data channel (see `PeerLink::start`) so that
//! every first offer carries the SCTP section; it opens when the SCTP
//! association comes up. `create_data_channel` must wait for that (webrtc 0.21
//! never opens a channel created while the association is being established),
//! and it used to look every 5 ms: 2.5 ms of every join → channel open on
//! average, 5 ms at worst. [`SctpAnchor`] reads the channel's own events
//! instead and hands the state to any number of waiters.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use webrtc::data_channel::{DataChannel as RtcDataChannel, RTCDataChannelState};

/// Where the anchor channel, and so the SCTP association, stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnchorState {
    /// Not open yet.
    Connecting,
    /// Open: data channels can be created.
    Open,
    /// Closing or closed: no data channel will open.
    Closed,
}

/// The anchor channel and a task that follows its events.
pub(crate) struct SctpAnchor {
    /// Held so that the channel lives as long as the link.
    _channel: Arc<dyn RtcDataChannel>,
    state: watch::Receiver<AnchorState>,
    watcher: JoinHandle<()>,
}

impl SctpAnchor {
    /// Starts following `channel`'s events (its only reader).
    pub(crate) fn watch(channel: Arc<dyn RtcDataChannel>) -> SctpAnchor {
        let (tx, state) = watch::channel(AnchorState::Connecting);
        let watcher = tokio::spawn(follow(channel.clone(), tx));
        SctpAnchor {
            _channel: channel,
            state,
            watcher,
        }
    }

    /// Waits until the anchor is open or closed; `None` if neither happened within `limit`.
    pub(crate) async fn settled(&self, limit: Duration) -> Option<AnchorState> {
        let mut state = self.state.clone();
        let settled = state.wait_for(|s| *s != AnchorState::Connecting);
        match tokio::time::timeout(limit, settled).await {
            Ok(Ok(state)) => Some(*state),
            // The watcher ended without saying (aborted): the link is going away.
            Ok(Err(_)) => Some(AnchorState::Closed),
            Err(_) => None,
        }
    }
}

impl Drop for SctpAnchor {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

/// Publishes the channel's state after every event, until it closes.
async fn follow(channel: Arc<dyn RtcDataChannel>, state: watch::Sender<AnchorState>) {
    loop {
        let current = match channel.ready_state().await {
            Ok(RTCDataChannelState::Open) => AnchorState::Open,
            Ok(RTCDataChannelState::Closing | RTCDataChannelState::Closed) | Err(_) => {
                AnchorState::Closed
            }
            Ok(_) => AnchorState::Connecting,
        };
        state.send_replace(current);
        if current == AnchorState::Closed {
            return;
        }
        if channel.poll().await.is_none() {
            state.send_replace(AnchorState::Closed);
            return;
        }
    }
}
