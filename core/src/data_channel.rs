//! [`DataChannel`]: a message channel with one other member of a call.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use tokio::sync::{mpsc, watch};
use webrtc::data_channel::{DataChannel as RtcDataChannel, DataChannelEvent, RTCDataChannelInit};

use crate::error::{Error, Result};
use crate::signalling::MemberId;

/// Messages buffered for a reader before the channel stops reading from the network.
const MESSAGE_QUEUE: usize = 1024;

/// How a data channel delivers messages.
///
/// ```
/// use rtcgate_core::DataChannelOptions;
///
/// let telemetry = DataChannelOptions::unreliable().with_protocol("telemetry-v1");
/// assert!(!telemetry.ordered && telemetry.max_retransmits == Some(0));
/// let lifetime = DataChannelOptions::reliable().with_max_packet_life_time(500);
/// assert_eq!(lifetime.max_packet_life_time, Some(500));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

    /// Sets in-order delivery.
    pub fn with_ordered(mut self, ordered: bool) -> Self {
        self.ordered = ordered;
        self
    }

    /// Gives up on a message after `retransmits` retransmissions.
    pub fn with_max_retransmits(mut self, retransmits: u16) -> Self {
        self.max_retransmits = Some(retransmits);
        self
    }

    /// Gives up on a message after `milliseconds`.
    pub fn with_max_packet_life_time(mut self, milliseconds: u16) -> Self {
        self.max_packet_life_time = Some(milliseconds);
        self
    }

    /// Sets the sub-protocol name.
    pub fn with_protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocol = protocol.into();
        self
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

/// The `bufferedamountlow` events of one [`DataChannel`], from
/// [`DataChannel::buffered_amount_low_events`].
#[derive(Debug)]
pub struct BufferedAmountLowEvents {
    channel: DataChannel,
    events: watch::Receiver<u64>,
    seen: u64,
}

impl BufferedAmountLowEvents {
    /// Waits for the next event and returns the buffered amount just after
    /// it; `None` once the channel has closed. Events that fired while the
    /// reader was away are each returned, in order.
    pub async fn next(&mut self) -> Option<usize> {
        loop {
            let count = *self.events.borrow_and_update();
            if count > self.seen {
                self.seen += 1;
                return Some(self.channel.buffered_amount());
            }
            if self.channel.inner.ended.load(Ordering::SeqCst) {
                return None;
            }
            self.events.changed().await.ok()?;
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
    /// Counts `bufferedamountlow` events; waiters watch it.
    low_events: watch::Sender<u64>,
    low_threshold: AtomicUsize,
    open: AtomicBool,
    /// The event pump has ended (the channel closed).
    ended: AtomicBool,
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
                low_events: watch::Sender::new(0),
                low_threshold: AtomicUsize::new(0),
                open: AtomicBool::new(false),
                ended: AtomicBool::new(false),
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
                DataChannelEvent::OnBufferedAmountLow => {
                    self.inner.low_events.send_modify(|count| *count += 1);
                }
                DataChannelEvent::OnClose => break,
                _ => {}
            }
        }
        self.inner.open.store(false, Ordering::SeqCst);
        self.inner.ended.store(true, Ordering::SeqCst);
        // Wakes every waiter for a low event: they see `ended` and fail.
        self.inner.low_events.send_modify(|_| {});
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

    /// Sends a binary message. Takes the bytes without copying them when they are
    /// uniquely owned (a `Vec<u8>`, a `BytesMut` frozen into `Bytes`, a `Bytes`
    /// nobody else holds); a `Bytes` that is shared elsewhere is copied once.
    ///
    /// Returns once the message is queued: it never waits for the network.
    /// Watch [`buffered_amount`](Self::buffered_amount) and wait for
    /// [`wait_buffered_amount_low`](Self::wait_buffered_amount_low) to keep the
    /// queue bounded.
    pub async fn send(&self, data: impl Into<Bytes>) -> Result<()> {
        self.inner
            .channel
            .send(BytesMut::from(data.into()))
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

    /// Bytes handed to [`send`](Self::send) that the network has not yet taken
    /// (acknowledged or abandoned): the back-pressure signal, as W3C
    /// `RTCDataChannel.bufferedAmount`. An atomic read: no lock, no waiting.
    pub fn buffered_amount(&self) -> usize {
        self.inner.channel.outstanding_bytes_now()
    }

    /// The level at or below which [`buffered_amount_low`](Self::buffered_amount_low)
    /// fires (W3C `bufferedAmountLowThreshold`; 0 until set).
    pub fn buffered_amount_low_threshold(&self) -> usize {
        self.inner.low_threshold.load(Ordering::SeqCst)
    }

    /// Sets the level at or below which [`buffered_amount_low`](Self::buffered_amount_low)
    /// fires. Values above `u32::MAX` are capped (SCTP counts in 32 bits).
    pub async fn set_buffered_amount_low_threshold(&self, bytes: usize) -> Result<()> {
        let bytes = bytes.min(u32::MAX as usize);
        self.inner
            .channel
            .set_buffered_amount_low_threshold(bytes as u32)
            .await
            .map_err(map_send_error)?;
        self.inner.low_threshold.store(bytes, Ordering::SeqCst);
        Ok(())
    }

    /// How many times the buffered amount has fallen to or below the low
    /// threshold (W3C `bufferedamountlow` events) since the channel opened.
    pub fn buffered_amount_low_count(&self) -> u64 {
        *self.inner.low_events.borrow()
    }

    /// A stream of this channel's `bufferedamountlow` events from now on,
    /// none missed however late its reader is (for callbacks and listeners).
    pub fn buffered_amount_low_events(&self) -> BufferedAmountLowEvents {
        let mut events = self.inner.low_events.subscribe();
        let seen = *events.borrow_and_update();
        BufferedAmountLowEvents {
            channel: self.clone(),
            events,
            seen,
        }
    }

    /// Waits for the next `bufferedamountlow` event: the buffered amount
    /// falling from above the low threshold to at or below it. Events that
    /// fired before the call are not seen; to wait for a level, use
    /// [`wait_buffered_amount_low`](Self::wait_buffered_amount_low).
    /// Fails with [`ErrorKind::Closed`](crate::ErrorKind::Closed) when the
    /// channel closes first.
    pub async fn buffered_amount_low(&self) -> Result<()> {
        let mut events = self.inner.low_events.subscribe();
        events.borrow_and_update();
        self.next_low_event(&mut events).await
    }

    /// Returns at once when the buffered amount is at or below the low
    /// threshold, else waits for the `bufferedamountlow` event that says it
    /// is. No polling: the channel wakes the waiter.
    pub async fn wait_buffered_amount_low(&self) -> Result<()> {
        let mut events = self.inner.low_events.subscribe();
        loop {
            events.borrow_and_update();
            if self.buffered_amount() <= self.buffered_amount_low_threshold() {
                return Ok(());
            }
            self.next_low_event(&mut events).await?;
        }
    }

    /// Sets the low threshold to `threshold` (when it is not already) and
    /// waits until the buffered amount is at or below it: a sender's
    /// "pause here until the queue drains to this level", without polling.
    pub async fn wait_buffered_below(&self, threshold: usize) -> Result<()> {
        if self.buffered_amount_low_threshold() != threshold {
            self.set_buffered_amount_low_threshold(threshold).await?;
        }
        self.wait_buffered_amount_low().await
    }

    async fn next_low_event(&self, events: &mut watch::Receiver<u64>) -> Result<()> {
        if !self.is_open() && self.inner.ended.load(Ordering::SeqCst) {
            return Err(self.closed_error());
        }
        match events.changed().await {
            Ok(()) if !self.inner.ended.load(Ordering::SeqCst) => Ok(()),
            _ => Err(self.closed_error()),
        }
    }

    fn closed_error(&self) -> Error {
        Error::closed(format!("data channel {}", self.inner.label))
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
        webrtc::error::Error::ErrDataChannelClosed => Error::closed("data channel"),
        other => Error::webrtc(other),
    }
}
