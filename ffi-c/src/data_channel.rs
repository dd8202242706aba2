//! Data channels: text and binary messages with one member.

use std::ffi::{c_char, c_int, c_void};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use rtcgate_core::{DataChannel, DataChannelOptions, DataMessage};
use tokio::task::JoinHandle;

use crate::callback::{Gate, UserData};
use crate::error::{Failure, FfiResult, rtcgate_error};
use crate::handles::{self, Kind, Object};
use crate::{guard, runtime, strings};

/// Handle of a data channel (owned by its call).
#[allow(non_camel_case_types)]
pub type rtcgate_data_channel = i32;

/// How a channel delivers messages. Zero-initialised: reliable and ordered.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct rtcgate_data_channel_options {
    /// Deliver messages as they arrive rather than in order.
    pub unordered: bool,
    /// Give up on a message after this many retransmissions; < 0 or with
    /// `unreliable` false: retransmit for ever.
    pub max_retransmits: c_int,
    /// Limit retransmissions (`max_retransmits`) — makes the channel unreliable.
    pub unreliable: bool,
    /// Sub-protocol name (UTF-8) or NULL.
    pub protocol: *const c_char,
}

/// Receives one message: `size` bytes at `data` (owned by the library,
/// valid only during the call). For a text message `is_text` is true and
/// `data` is UTF-8 followed by a NUL (not counted in `size`). Called on a
/// library thread, in order.
#[allow(non_camel_case_types)]
pub type rtcgate_message_cb = Option<
    unsafe extern "C" fn(
        channel: rtcgate_data_channel,
        data: *const u8,
        size: usize,
        is_text: bool,
        user_data: *mut c_void,
    ),
>;

type MessageFn = unsafe extern "C" fn(rtcgate_data_channel, *const u8, usize, bool, *mut c_void);

/// Called once each time the channel's buffered amount falls from above its
/// low threshold to at or below it (W3C `bufferedamountlow`), with the
/// buffered amount just after; on a library thread.
#[allow(non_camel_case_types)]
pub type rtcgate_buffered_amount_low_cb = Option<
    unsafe extern "C" fn(
        channel: rtcgate_data_channel,
        buffered_amount: u64,
        user_data: *mut c_void,
    ),
>;

type LowFn = unsafe extern "C" fn(rtcgate_data_channel, u64, *mut c_void);

pub struct DataChannelObj {
    channel: DataChannel,
    gate: Arc<Gate<MessageFn>>,
    pump: Mutex<Option<JoinHandle<()>>>,
    low_gate: Arc<Gate<LowFn>>,
    low_pump: Mutex<Option<JoinHandle<()>>>,
}

impl Object for DataChannelObj {
    const KIND: Kind = Kind::DataChannel;
}

impl DataChannelObj {
    pub fn new(channel: DataChannel) -> Self {
        DataChannelObj {
            channel,
            gate: Arc::new(Gate::new(None)),
            pump: Mutex::new(None),
            low_gate: Arc::new(Gate::new(None)),
            low_pump: Mutex::new(None),
        }
    }

    /// Whether this handle wraps `channel`.
    pub fn is(&self, channel: &DataChannel) -> bool {
        self.channel.same_channel(channel)
    }

    pub fn destroy(&self) {
        self.gate.close();
        self.low_gate.close();
        for pump in [&self.pump, &self.low_pump] {
            if let Some(pump) = pump.lock().unwrap_or_else(PoisonError::into_inner).take() {
                pump.abort();
            }
        }
        let channel = self.channel.clone();
        // Closing needs the runtime; do it in the background.
        let _ = runtime::spawn(async move {
            let _ = channel.close().await;
        });
    }
}

/// Reads C options.
///
/// # Safety
/// `options` is valid; its `protocol` is NULL or NUL-terminated.
pub unsafe fn read_options(
    options: &rtcgate_data_channel_options,
) -> FfiResult<DataChannelOptions> {
    // SAFETY: per the function's contract.
    let protocol = unsafe { strings::optional(options.protocol, "protocol") }?;
    let max_retransmits = if options.unreliable {
        Some(u16::try_from(options.max_retransmits.max(0)).map_err(|_| {
            Failure::new(
                rtcgate_error::RTCGATE_ERR_INVALID,
                "max_retransmits above 65535",
            )
        })?)
    } else {
        None
    };
    let mut core = DataChannelOptions::reliable()
        .with_ordered(!options.unordered)
        .with_protocol(protocol.unwrap_or_default());
    if let Some(retransmits) = max_retransmits {
        core = core.with_max_retransmits(retransmits);
    }
    Ok(core)
}

/// Most messages handed to the application in one callback-thread visit.
const DELIVERY_BATCH: usize = 256;

/// Reads the channel and calls the application with every message, in
/// order. Messages already waiting are delivered together from one
/// blocking-pool visit, so small messages do not each pay a thread hand-off.
async fn message_pump(object: Weak<DataChannelObj>, handle: rtcgate_data_channel) {
    let Some((channel, gate)) = object
        .upgrade()
        .map(|o| (o.channel.clone(), Arc::clone(&o.gate)))
    else {
        return;
    };
    drop(object);
    loop {
        let mut batch = Vec::with_capacity(DELIVERY_BATCH);
        if channel.recv_many(&mut batch, DELIVERY_BATCH).await == 0 {
            return;
        }
        let gate = Arc::clone(&gate);
        runtime::deliver(move || {
            for message in &batch {
                gate.invoke(|f, user_data| match message {
                    DataMessage::Text(text) => {
                        let c = strings::c_string(text);
                        // SAFETY: the application's callback; data valid during the call.
                        unsafe { f(handle, c.as_ptr().cast(), text.len(), true, user_data) }
                    }
                    DataMessage::Binary(bytes) => {
                        // SAFETY: as above.
                        unsafe { f(handle, bytes.as_ptr(), bytes.len(), false, user_data) }
                    }
                });
            }
        })
        .await;
    }
}

/// Sets the message callback (NULL stops reading). Set one on every channel
/// you keep open: up to 1024 unread messages wait, then the channel stops
/// reading from the network, which holds up the whole connection with that
/// member. Messages that arrived before the callback was set are delivered first.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_data_channel_set_message_callback(
    channel: rtcgate_data_channel,
    callback: rtcgate_message_cb,
    user_data: *mut c_void,
) -> c_int {
    guard::int(|| {
        let object = handles::get::<DataChannelObj>(channel)?;
        object.gate.set(callback.map(|f| (f, UserData(user_data))));
        let mut pump = object.pump.lock().unwrap_or_else(PoisonError::into_inner);
        match (callback.is_some(), pump.is_some()) {
            (true, false) => {
                *pump = Some(runtime::spawn(message_pump(
                    Arc::downgrade(&object),
                    channel,
                ))?);
            }
            (false, true) => {
                if let Some(task) = pump.take() {
                    task.abort();
                }
            }
            _ => {}
        }
        Ok(0)
    })
}

/// Sends a binary message (`size` bytes at `data`, copied once; `size` may
/// be 0 only with a non-NULL `data`). Returns once queued; see
/// `rtcgate_data_channel_buffered_amount` for back-pressure.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_data_channel_send(
    channel: rtcgate_data_channel,
    data: *const u8,
    size: usize,
) -> c_int {
    guard::int(|| {
        if data.is_null() {
            return Err(Failure::new(
                rtcgate_error::RTCGATE_ERR_NULL,
                "data is NULL",
            ));
        }
        let object = handles::get::<DataChannelObj>(channel)?;
        // SAFETY: `data` has `size` readable bytes per the API contract.
        let bytes = unsafe { std::slice::from_raw_parts(data, size) };
        runtime::block_on(object.channel.send(bytes.to_vec()))??;
        Ok(0)
    })
}

/// Sends a text message (NUL-terminated UTF-8, copied).
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_data_channel_send_text(
    channel: rtcgate_data_channel,
    text: *const c_char,
) -> c_int {
    guard::int(|| {
        // SAFETY: NUL-terminated or NULL per the API contract.
        let text = unsafe { strings::required(text, "text") }?;
        let object = handles::get::<DataChannelObj>(channel)?;
        runtime::block_on(object.channel.send_text(text))??;
        Ok(0)
    })
}

/// Bytes sent but not yet taken by the network (≥ 0, the back-pressure
/// signal: wait while it is high, as W3C `bufferedAmount`), or a negative
/// error code. Cheap: an atomic read, no lock, never blocks.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_data_channel_buffered_amount(channel: rtcgate_data_channel) -> i64 {
    guard::int64(|| {
        let object = handles::get::<DataChannelObj>(channel)?;
        Ok(i64::try_from(object.channel.buffered_amount()).unwrap_or(i64::MAX))
    })
}

/// Sets the level at or below which the buffered-amount-low callback fires
/// (W3C `bufferedAmountLowThreshold`; 0 until set; capped at 2^32 − 1).
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_data_channel_set_buffered_amount_low_threshold(
    channel: rtcgate_data_channel,
    bytes: u64,
) -> c_int {
    guard::int(|| {
        let object = handles::get::<DataChannelObj>(channel)?;
        let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        runtime::block_on(object.channel.set_buffered_amount_low_threshold(bytes))??;
        Ok(0)
    })
}

/// Delivers the channel's buffered-amount-low events to `callback` (NULL
/// stops), once per crossing of the low threshold downward: the place to
/// resume a paused sender. Callbacks run on a library thread, one at a time.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_data_channel_set_buffered_amount_low_callback(
    channel: rtcgate_data_channel,
    callback: rtcgate_buffered_amount_low_cb,
    user_data: *mut c_void,
) -> c_int {
    guard::int(|| {
        let object = handles::get::<DataChannelObj>(channel)?;
        object
            .low_gate
            .set(callback.map(|f| (f, UserData(user_data))));
        let mut pump = object
            .low_pump
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match (callback.is_some(), pump.is_some()) {
            (true, false) => {
                let events = object.channel.buffered_amount_low_events();
                let gate = Arc::clone(&object.low_gate);
                *pump = Some(runtime::spawn(low_pump(events, gate, channel))?);
            }
            (false, true) => {
                if let Some(task) = pump.take() {
                    task.abort();
                }
            }
            _ => {}
        }
        Ok(0)
    })
}

/// Hands each buffered-amount-low event to the application's callback.
async fn low_pump(
    mut events: rtcgate_core::BufferedAmountLowEvents,
    gate: Arc<Gate<LowFn>>,
    handle: rtcgate_data_channel,
) {
    while let Some(amount) = events.next().await {
        let gate = Arc::clone(&gate);
        runtime::deliver(move || {
            gate.invoke(|f, user_data| {
                // SAFETY: the application's callback, called as documented.
                unsafe { f(handle, amount as u64, user_data) }
            });
        })
        .await;
    }
}

/// Blocks until the channel's buffered amount is at or below `threshold`
/// bytes (0 when it is), for senders that keep the buffer bounded without
/// a callback. Sets the channel's low threshold to `threshold` and waits for
/// the buffered-amount-low event (no polling). Fails with
/// `RTCGATE_ERR_TIMEOUT` after `timeout_ms` (< 0: no limit) and
/// `RTCGATE_ERR_CLOSED` if the channel closes. Not from inside this
/// channel's message callback: unread messages would hold up the
/// connection, and with it the acknowledgements this waits for.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_data_channel_wait_buffered_below(
    channel: rtcgate_data_channel,
    threshold: u32,
    timeout_ms: c_int,
) -> c_int {
    guard::int(|| {
        let object = handles::get::<DataChannelObj>(channel)?;
        let dc = object.channel.clone();
        drop(object);
        let wait = async move {
            dc.set_buffered_amount_low_threshold(threshold as usize)
                .await?;
            dc.wait_buffered_amount_low().await
        };
        match u64::try_from(timeout_ms) {
            Ok(ms) => runtime::block_on_timeout(Duration::from_millis(ms), wait)??,
            Err(_) => runtime::block_on(wait)??,
        }
        Ok(0)
    })
}

/// 1 while the channel is open, 0 before it opens and after it closed, or a
/// negative error code.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_data_channel_is_open(channel: rtcgate_data_channel) -> c_int {
    guard::int(|| {
        Ok(c_int::from(
            handles::get::<DataChannelObj>(channel)?.channel.is_open(),
        ))
    })
}

/// Copies the channel's label into `buffer` (convention of `rtcgate_server_url`).
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_data_channel_label(
    channel: rtcgate_data_channel,
    buffer: *mut c_char,
    size: c_int,
) -> c_int {
    guard::int(|| {
        let object = handles::get::<DataChannelObj>(channel)?;
        // SAFETY: the caller's buffer has `size` bytes, or is NULL.
        unsafe { strings::to_buffer(object.channel.label(), buffer, size) }
    })
}

/// Copies the other member's id into `buffer` (convention of `rtcgate_server_url`).
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_data_channel_member(
    channel: rtcgate_data_channel,
    buffer: *mut c_char,
    size: c_int,
) -> c_int {
    guard::int(|| {
        let object = handles::get::<DataChannelObj>(channel)?;
        // SAFETY: the caller's buffer has `size` bytes, or is NULL.
        unsafe { strings::to_buffer(object.channel.member(), buffer, size) }
    })
}

/// Closes the channel (both ends see `RTCGATE_CALL_EVENT_DATA_CHANNEL_CLOSED`).
/// The handle stays valid until destroyed; sending then fails with
/// `RTCGATE_ERR_CLOSED`.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_data_channel_close(channel: rtcgate_data_channel) -> c_int {
    guard::int(|| {
        let object = handles::get::<DataChannelObj>(channel)?;
        runtime::block_on(object.channel.close())??;
        Ok(0)
    })
}

/// Closes the channel and releases the handle before its call does. When
/// this returns, no message callback of the channel runs on another thread.
/// Safe inside its own callback.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_data_channel_destroy(channel: rtcgate_data_channel) -> c_int {
    guard::int(|| {
        handles::remove::<DataChannelObj>(channel)?.destroy();
        Ok(0)
    })
}
