//! [`DataChannel`]: messages with one other member.

use std::sync::{Arc, Mutex, PoisonError};

use rtcgate_core::{DataChannelOptions, DataMessage as CoreMessage};

use super::{Result, Subscription, notify, on_runtime, subscribe};

/// How a data channel delivers messages.
#[derive(Debug, Clone, uniffi::Record)]
pub struct DataChannelConfig {
    /// Deliver in order.
    #[uniffi(default = true)]
    pub ordered: bool,
    /// Give up on a message after this many retransmissions (unreliable);
    /// `None`: retransmit until delivered.
    #[uniffi(default = None)]
    pub max_retransmits: Option<u16>,
    /// Give up on a message after this many milliseconds (unreliable).
    #[uniffi(default = None)]
    pub max_packet_life_time_ms: Option<u16>,
    /// Sub-protocol name.
    #[uniffi(default = "")]
    pub protocol: String,
}

impl DataChannelConfig {
    pub(crate) fn to_options(&self) -> DataChannelOptions {
        let mut options = DataChannelOptions::reliable()
            .with_ordered(self.ordered)
            .with_protocol(self.protocol.clone());
        if let Some(retransmits) = self.max_retransmits {
            options = options.with_max_retransmits(retransmits);
        }
        if let Some(ms) = self.max_packet_life_time_ms {
            options = options.with_max_packet_life_time(ms);
        }
        options
    }
}

/// One received message.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum DataMessage {
    /// A text message.
    Text {
        /// Its text.
        text: String,
    },
    /// A binary message.
    Binary {
        /// Its bytes.
        data: Vec<u8>,
    },
}

impl From<CoreMessage> for DataMessage {
    fn from(message: CoreMessage) -> Self {
        match message {
            CoreMessage::Text(text) => DataMessage::Text { text },
            CoreMessage::Binary(data) => DataMessage::Binary {
                data: data.to_vec(),
            },
        }
    }
}

/// Receives a data channel's messages, in order, on a library thread
/// (`rtcgate-data`).
#[uniffi::export(with_foreign)]
pub trait DataChannelListener: Send + Sync {
    /// One message.
    fn on_message(&self, message: DataMessage);
    /// The channel closed: no message follows.
    fn on_closed(&self);
}

/// Hears a data channel's buffered-amount-low events (W3C
/// `bufferedamountlow`) on a library thread (`rtcgate-data-low`).
#[uniffi::export(with_foreign)]
pub trait BufferedAmountLowListener: Send + Sync {
    /// The buffered amount fell from above the channel's low threshold to at
    /// or below it; `buffered_amount` is its value just after. Once per crossing.
    fn on_buffered_amount_low(&self, buffered_amount: u64);
}

/// A data channel with one member (from `Call.createDataChannel` or
/// `CallEvent.DataChannelOpened`).
///
/// Read every channel (with a listener or [`next_message`](Self::next_message),
/// not both: they share one queue) or close it: once 1024 messages wait
/// unread, the member's whole connection stops taking data.
#[derive(uniffi::Object)]
pub struct DataChannel {
    channel: rtcgate_core::DataChannel,
    listener: Mutex<Option<Subscription>>,
    low_listener: Mutex<Option<Subscription>>,
}

impl DataChannel {
    pub(crate) fn new(channel: rtcgate_core::DataChannel) -> Arc<Self> {
        Arc::new(DataChannel {
            channel,
            listener: Mutex::new(None),
            low_listener: Mutex::new(None),
        })
    }
}

#[uniffi::export]
impl DataChannel {
    /// The channel's label.
    pub fn label(&self) -> String {
        self.channel.label().to_owned()
    }

    /// The member at the other end.
    pub fn member_id(&self) -> String {
        self.channel.member().clone()
    }

    /// True between open and close.
    pub fn is_open(&self) -> bool {
        self.channel.is_open()
    }

    /// Sends a binary message (its bytes are not copied again).
    pub async fn send(&self, data: Vec<u8>) -> Result<()> {
        let channel = self.channel.clone();
        Ok(on_runtime(async move { channel.send(data).await }).await??)
    }

    /// Sends a text message.
    pub async fn send_text(&self, text: String) -> Result<()> {
        let channel = self.channel.clone();
        Ok(on_runtime(async move { channel.send_text(&text).await }).await??)
    }

    /// Bytes sent that the network has not taken yet (back-pressure, W3C
    /// `bufferedAmount`). Cheap: an atomic read.
    pub fn buffered_amount(&self) -> u64 {
        u64::try_from(self.channel.buffered_amount()).unwrap_or(u64::MAX)
    }

    /// The level at or below which the buffered-amount-low event fires
    /// (W3C `bufferedAmountLowThreshold`, 0 until set).
    pub fn buffered_amount_low_threshold(&self) -> u64 {
        u64::try_from(self.channel.buffered_amount_low_threshold()).unwrap_or(u64::MAX)
    }

    /// Sets the level at or below which the buffered-amount-low event fires.
    pub async fn set_buffered_amount_low_threshold(&self, bytes: u64) -> Result<()> {
        let channel = self.channel.clone();
        let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        Ok(
            on_runtime(async move { channel.set_buffered_amount_low_threshold(bytes).await })
                .await??,
        )
    }

    /// Delivers every buffered-amount-low event from now on to `listener`,
    /// replacing a previous one; `None` stops delivery.
    pub fn set_buffered_amount_low_listener(
        &self,
        listener: Option<Arc<dyn BufferedAmountLowListener>>,
    ) -> Result<()> {
        let subscription = match listener {
            Some(listener) => {
                let mut events = self.channel.buffered_amount_low_events();
                Some(subscribe("rtcgate-data-low", async move {
                    while let Some(amount) = events.next().await {
                        let amount = amount as u64;
                        notify("BufferedAmountLowListener", || {
                            listener.on_buffered_amount_low(amount)
                        });
                    }
                })?)
            }
            None => None,
        };
        *self
            .low_listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = subscription;
        Ok(())
    }

    /// Waits until at most `threshold` bytes are buffered: sets the low
    /// threshold to `threshold` and waits for the event (no polling).
    pub async fn wait_buffered_below(&self, threshold: u64) -> Result<()> {
        let channel = self.channel.clone();
        let threshold = usize::try_from(threshold).unwrap_or(usize::MAX);
        Ok(on_runtime(async move {
            channel.set_buffered_amount_low_threshold(threshold).await?;
            channel.wait_buffered_amount_low().await
        })
        .await??)
    }

    /// Delivers every message from now on to `listener`, replacing a
    /// previous one; `None` stops delivery.
    pub fn set_listener(&self, listener: Option<Arc<dyn DataChannelListener>>) -> Result<()> {
        let subscription = match listener {
            Some(listener) => {
                let channel = self.channel.clone();
                Some(subscribe("rtcgate-data", async move {
                    while let Some(message) = channel.recv().await {
                        let message = DataMessage::from(message);
                        notify("DataChannelListener", || listener.on_message(message));
                    }
                    notify("DataChannelListener", || listener.on_closed());
                })?)
            }
            None => None,
        };
        *self.listener.lock().unwrap_or_else(PoisonError::into_inner) = subscription;
        Ok(())
    }

    /// The next message, or `None` once the channel closed and every
    /// message was read.
    pub async fn next_message(&self) -> Result<Option<DataMessage>> {
        let channel = self.channel.clone();
        let message = on_runtime(async move { channel.recv().await }).await?;
        Ok(message.map(DataMessage::from))
    }

    /// Closes the channel (both ends see it close). Closing again does
    /// nothing. (`close()` in Kotlin / Swift releases the object instead.)
    pub async fn close_channel(&self) -> Result<()> {
        self.listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.low_listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let channel = self.channel.clone();
        match on_runtime(async move { channel.close().await }).await? {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == rtcgate_core::ErrorKind::Closed => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}
