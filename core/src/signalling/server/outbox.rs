//! The bounded outgoing queue of one connection.
//!
//! Everybody who talks to a connection (the connection itself, and the rooms
//! relaying for other members) pushes into its [`Outbox`] without waiting. A
//! full queue means the peer is not reading: the connection is told to go
//! away (kicked) instead of making the sender wait.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Utf8Bytes};
use tokio::sync::{Notify, mpsc};

use crate::signalling::protocol::{ErrorCode, ServerMessage};

/// One item for a connection's writer.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A protocol message, already serialised.
    Text(Utf8Bytes),
    /// Send this close frame (or just finish the close handshake), then stop.
    Close(Option<CloseFrame>),
}

/// Sending side of a connection's queue. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    tx: mpsc::Sender<Outgoing>,
    kick: Arc<Notify>,
}

impl Outbox {
    /// A queue of `capacity` items; returns the receiving end and the signal
    /// the connection waits on to learn it overflowed.
    pub(crate) fn new(capacity: usize) -> (Self, mpsc::Receiver<Outgoing>, Arc<Notify>) {
        let (tx, rx) = mpsc::channel(capacity);
        let kick = Arc::new(Notify::new());
        (
            Self {
                tx,
                kick: kick.clone(),
            },
            rx,
            kick,
        )
    }

    /// Queues a message without waiting. Returns false when it was not queued;
    /// if the queue was full the connection is kicked.
    pub(crate) fn push(&self, text: Utf8Bytes) -> bool {
        self.push_item(Outgoing::Text(text))
    }

    /// Queues a message.
    pub(crate) fn send(&self, message: &ServerMessage) -> bool {
        self.push(encode(message))
    }

    /// Queues an error reply.
    pub(crate) fn send_error(
        &self,
        code: ErrorCode,
        message: impl Into<String>,
        fatal: bool,
    ) -> bool {
        self.send(&ServerMessage::Error {
            code,
            message: message.into(),
            fatal,
        })
    }

    /// Queues the end of the connection. Does not kick when the queue is full:
    /// the connection is ending anyway.
    pub(crate) fn close(&self, frame: Option<CloseFrame>) -> bool {
        self.tx.try_send(Outgoing::Close(frame)).is_ok()
    }

    fn push_item(&self, item: Outgoing) -> bool {
        match self.tx.try_send(item) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.kick.notify_one();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// Serialises a server message.
pub(crate) fn encode(message: &ServerMessage) -> Utf8Bytes {
    match serde_json::to_string(message) {
        Ok(json) => Utf8Bytes::from(json),
        // Not reachable with the protocol's types (no maps with non-string keys).
        Err(e) => {
            tracing::error!("could not serialise a server message: {e}");
            Utf8Bytes::from_static(
                r#"{"type":"error","code":"invalid-message","message":"internal error","fatal":false}"#,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn full_queue_kicks_instead_of_waiting() {
        let (outbox, mut rx, kick) = Outbox::new(2);
        assert!(outbox.push(Utf8Bytes::from_static("a")));
        assert!(outbox.push(Utf8Bytes::from_static("b")));
        assert!(!outbox.push(Utf8Bytes::from_static("c")));
        // The kick was stored as a permit, so a later wait returns at once.
        kick.notified().await;
        assert!(matches!(rx.recv().await, Some(Outgoing::Text(t)) if t.as_str() == "a"));
    }

    #[test]
    fn closed_queue_reports_failure_without_kicking() {
        let (outbox, rx, _kick) = Outbox::new(1);
        drop(rx);
        assert!(!outbox.push(Utf8Bytes::from_static("a")));
        assert!(!outbox.close(None));
    }
}
