//! [`DataChannel`]: a message channel with one other member of a call.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};
use tokio::sync::{Notify, mpsc};
use webrtc::data_channel::{DataChannel as RtcDataChannel, DataChannelEvent, RTCDataChannelInit};

use crate::error::{Error, Result};
use crate::signalling::MemberId;

/// Messages buffered for a reader before the channel stops reading from the network.
const MESSAGE_QUEUE: usize = 1024;

/// How a data channel delivers messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataChannelOptions {
    /// Deliver messages in order (default true).
    pub ordered: bool,
    /// Give up on a message after this many retransmissions (unreliable).
    pub max_retransmits: Option<u16>,
    /// Give up on a message after this many milliseconds (unreliable).
    pub max_packet_life_time: Option<u16>,
    /// Sub-protocol name.
    pub protocol: String,
}

impl Default for DataChannelOptions {
    fn default() -> Self {
        Self {
            ordered: true,
            max_retransmits: None,
            max_packet_life_time: None,
            protocol: String::new(),
        }
    }
}

impl DataChannelOptions {
    /// Reliable and ordered (the default).
    pub fn reliable() -> Self {
        Self::default()
    }

    /// Unordered with no retransmissions: lowest latency, messages may be lost.
    pub fn unreliable() -> Self {
        Self {
            ordered: false,
            max_retransmits: Some(0),
            ..Self::default()
        }
    }

    pub(crate) fn to_init(&self) -> RTCDataChannelInit {
        RTCDataChannelInit {
            ordered: self.ordered,
            max_retransmits: self.max_retransmits,
            max_packet_life_time: self.max_packet_life_time,
            protocol: self.protocol.clone(),
            negotiated: None,
        }
    }
}

/// One received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataMessage {
    /// A text (UTF-8) message.
    Text(String),
    /// A binary message.
    Binary(Bytes),
}

/// A data channel with one member. Cheap to clone.
///
/// Read every channel you open or accept (or close it): up to 1024 received
/// messages wait for [`recv`](Self::recv); beyond that the channel stops
/// taking messages from the network, which holds up the whole connection
/// with that member (the SCTP association is shared), as TCP flow control would.
#[derive(Clone)]
pub struct DataChannel {
    inner: Arc<Inner>,
}

struct Inner {
    label: String,
    member: MemberId,
    channel: Arc<dyn RtcDataChannel>,
    messages: tokio::sync::Mutex<mpsc::Receiver<DataMessage>>,
    buffered_low: Notify,
    open: AtomicBool,
}

impl std::fmt::Debug for DataChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataChannel")
            .field("label", &self.inner.label)
            .field("member", &self.inner.member)
            .finish()
    }
}

/// What the channel's event pump reports to the call.
pub(crate) enum ChannelNotice {
    Opened(DataChannel),
    Closed(DataChannel),
}

impl DataChannel {
    /// Wraps a webrtc channel and starts its event pump. `notify` hears about
    /// open and close.
    pub(crate) async fn start(
        member: MemberId,
        channel: Arc<dyn RtcDataChannel>,
        notify: impl Fn(ChannelNotice) + Send + Sync + 'static,
    ) -> DataChannel {
        let label = channel.label().await.unwrap_or_default();
        let (tx, rx) = mpsc::channel(MESSAGE_QUEUE);
        let dc = DataChannel {
            inner: Arc::new(Inner {
                label,
                member,
                channel,
                messages: tokio::sync::Mutex::new(rx),
                buffered_low: Notify::new(),
                open: AtomicBool::new(false),
            }),
        };
        let pump = dc.clone();
        tokio::spawn(async move { pump.pump(tx, notify).await });
        dc
    }

    async fn pump(self, tx: mpsc::Sender<DataMessage>, notify: impl Fn(ChannelNotice)) {
        let state = self.inner.channel.ready_state().await;
        tracing::debug!(label = %self.inner.label, ?state, "data channel pump started");
        // A channel that was already open when handed to us never reports OnOpen.
        if matches!(
            self.inner.channel.ready_state().await,
            Ok(webrtc::data_channel::RTCDataChannelState::Open)
        ) && !self.inner.open.swap(true, Ordering::SeqCst)
        {
            notify(ChannelNotice::Opened(self.clone()));
        }
        while let Some(event) = self.inner.channel.poll().await {
            tracing::trace!(label = %self.inner.label, ?event, "data channel event");
            match event {
                DataChannelEvent::OnOpen if !self.inner.open.swap(true, Ordering::SeqCst) => {
                    notify(ChannelNotice::Opened(self.clone()));
                }
                DataChannelEvent::OnMessage(message) => {
                    let message = if message.is_string {
                        DataMessage::Text(String::from_utf8_lossy(&message.data).into_owned())
                    } else {
                        DataMessage::Binary(message.data.freeze())
                    };
                    if tx.send(message).await.is_err() {
                        // Nobody can read any more; keep draining events.
                    }
                }
                DataChannelEvent::OnBufferedAmountLow => self.inner.buffered_low.notify_waiters(),
                DataChannelEvent::OnClose => break,
                _ => {}
            }
        }
        self.inner.open.store(false, Ordering::SeqCst);
        self.inner.buffered_low.notify_waiters();
        notify(ChannelNotice::Closed(self.clone()));
    }

    /// The channel's label.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// The member at the other end.
    pub fn member(&self) -> &MemberId {
        &self.inner.member
    }

    /// True between open and close.
    pub fn is_open(&self) -> bool {
        self.inner.open.load(Ordering::SeqCst)
    }

    /// Sends a binary message.
    pub async fn send(&self, data: &[u8]) -> Result<()> {
        self.inner
            .channel
            .send(BytesMut::from(data))
            .await
            .map_err(map_send_error)
    }

    /// Sends a text message.
    pub async fn send_text(&self, text: &str) -> Result<()> {
        self.inner
            .channel
            .send_text(text)
            .await
            .map_err(map_send_error)
    }

    /// Bytes handed to `send` that the network has not yet taken (acknowledged
    /// or abandoned): the back-pressure signal.
    pub async fn buffered_amount(&self) -> Result<usize> {
        self.inner
            .channel
            .outstanding_bytes()
            .await
            .map_err(map_send_error)
    }

    /// Sets the level below which [`wait_buffered_below`](Self::wait_buffered_below) wakes.
    pub async fn set_buffered_amount_low_threshold(&self, bytes: u32) -> Result<()> {
        self.inner
            .channel
            .set_buffered_amount_low_threshold(bytes)
            .await
            .map_err(map_send_error)
    }

    /// Waits until the buffered amount is at or below `threshold` bytes
    /// (set the low threshold to the same value for prompt wake-ups).
    pub async fn wait_buffered_below(&self, threshold: usize) -> Result<()> {
        loop {
            let notified = self.inner.buffered_low.notified();
            if self.buffered_amount().await? <= threshold {
                return Ok(());
            }
            if !self.is_open() {
                return Err(Error::Closed(format!("data channel {}", self.inner.label)));
            }
            // The event can be missed between the check and the wait; poll as a backstop.
            let _ = tokio::time::timeout(std::time::Duration::from_millis(50), notified).await;
        }
    }

    /// The next message; `None` once the channel is closed and drained.
    pub async fn recv(&self) -> Option<DataMessage> {
        self.inner.messages.lock().await.recv().await
    }

    /// Waits for at least one message, then takes up to `limit` of those
    /// already waiting into `buffer` (appended). Returns how many were taken;
    /// 0 once the channel is closed and drained. Cheaper than [`recv`](Self::recv)
    /// per message when many small messages arrive.
    pub async fn recv_many(&self, buffer: &mut Vec<DataMessage>, limit: usize) -> usize {
        self.inner
            .messages
            .lock()
            .await
            .recv_many(buffer, limit)
            .await
    }

    /// True when `other` is a handle to this same channel (two channels may
    /// share a label and a member).
    pub fn same_channel(&self, other: &DataChannel) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Closes the channel.
    pub async fn close(&self) -> Result<()> {
        self.inner.channel.close().await.map_err(map_send_error)
    }
}

fn map_send_error(err: webrtc::error::Error) -> Error {
    match err {
        webrtc::error::Error::ErrDataChannelClosed => Error::Closed("data channel".into()),
        other => Error::WebRtc(other),
    }
}
