//! The data-channel transfer, written once against two small traits so that
//! rtcgate's [`DataChannel`](rtcgate_core::DataChannel) and a raw webrtc
//! channel run exactly the same sender and receiver.
//!
//! Every message starts with its sequence number (u32, little endian) and is
//! filled with a byte derived from it; the receiver checks length, content,
//! order (reliable) and duplicates (unreliable).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::BenchResult;
use crate::config::TransferPlan;
use crate::sys;

/// The sending end of a channel under test.
#[async_trait::async_trait]
pub trait ChannelSender: Send + Sync + 'static {
    /// Queues one binary message (owned: neither stack copies it again).
    async fn send(&self, data: Bytes) -> BenchResult<()>;
    /// Bytes queued but not yet acknowledged or abandoned.
    async fn buffered_amount(&self) -> BenchResult<usize>;
    /// Sets the level at which the channel reports "buffered amount low".
    async fn set_low_threshold(&self, bytes: u32) -> BenchResult<()>;
    /// Waits until at most `bytes` are buffered.
    async fn wait_buffered_below(&self, bytes: usize) -> BenchResult<()>;
}

/// The receiving end of a channel under test.
#[async_trait::async_trait]
pub trait ChannelReceiver: Send + 'static {
    /// The next binary message; `None` once the channel closed.
    async fn recv(&mut self) -> Option<Bytes>;
}

/// What one transfer achieved.
#[derive(Debug, Clone, Default)]
pub struct TransferResult {
    /// Bytes that arrived intact.
    pub delivered_bytes: u64,
    /// Messages the sender offered.
    pub offered_messages: u64,
    /// Messages that arrived intact.
    pub delivered_messages: u64,
    /// Messages with a wrong length or content.
    pub corrupt: u64,
    /// Messages not directly after their predecessor (only meaningful when ordered).
    pub out_of_order: u64,
    /// Messages that arrived twice.
    pub duplicates: u64,
    /// First send → last intact delivery.
    pub elapsed: Duration,
    /// Pauses of more than [`STALL`] between two deliveries (or before the first).
    pub stalls: u32,
    /// Their total length.
    pub stalled: Duration,
    /// Process CPU time (user + system) during the transfer.
    pub cpu: Duration,
    /// UDP datagrams the kernel dropped for a full receive buffer meanwhile.
    pub udp_drops: Option<u64>,
    /// The plan's timeout cut the transfer short.
    pub timed_out: bool,
    /// Why the sender stopped early, if it did.
    pub sender_error: Option<String>,
}

impl TransferResult {
    /// Delivered megabytes (10^6 bytes) per second.
    pub fn mb_per_s(&self) -> f64 {
        self.delivered_bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Delivered MB/s over the time outside stalls: the rate while data flowed.
    pub fn active_mb_per_s(&self) -> f64 {
        let active = self.elapsed.saturating_sub(self.stalled);
        self.delivered_bytes as f64 / 1e6 / active.as_secs_f64().max(1e-9)
    }

    /// Share of offered messages that arrived intact.
    pub fn delivered_fraction(&self) -> f64 {
        self.delivered_messages as f64 / (self.offered_messages as f64).max(1.0)
    }

    /// True when a reliable transfer delivered everything, intact and in order.
    pub fn is_clean(&self) -> bool {
        self.delivered_messages == self.offered_messages
            && self.corrupt == 0
            && self.out_of_order == 0
            && self.duplicates == 0
            && self.sender_error.is_none()
    }
}

/// A pause between deliveries longer than this counts as a stall (SCTP
/// retransmission timeouts are 1 s and more; the ICE/driver ticks 200 ms).
pub const STALL: Duration = Duration::from_millis(100);

/// How long the receiver of an unreliable transfer waits for stragglers after
/// the sender's buffer drained.
const TAIL_IDLE: Duration = Duration::from_millis(500);

/// Runs `plan` from `sender` to `receiver` and measures it.
pub async fn run(
    plan: TransferPlan,
    sender: Arc<dyn ChannelSender>,
    receiver: Box<dyn ChannelReceiver>,
) -> BenchResult<TransferResult> {
    sender.set_low_threshold(plan.low_water as u32).await?;
    let sender_done = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + plan.timeout;
    let cpu_start = sys::cpu_time();
    let drops_start = sys::udp_receive_buffer_errors();
    let start = Instant::now();

    let receiving = tokio::spawn(receive(
        plan,
        receiver,
        sender_done.clone(),
        start,
        deadline,
    ));
    let sending = tokio::spawn(async move {
        let result = send_all(plan, sender.as_ref(), deadline).await;
        sender_done.store(true, Ordering::SeqCst);
        result
    });
    let sender_result = sending.await?;
    let Received {
        mut result,
        last_delivery,
    } = receiving.await?;
    result.cpu = sys::cpu_time().saturating_sub(cpu_start);
    result.udp_drops = sys::udp_receive_buffer_errors()
        .zip(drops_start)
        .map(|(end, start)| end.saturating_sub(start));
    result.elapsed = last_delivery.map_or(Duration::ZERO, |last| last.duration_since(start));
    result.sender_error = sender_result.err().map(|e| e.to_string());
    result.timed_out |= Instant::now() >= deadline;
    Ok(result)
}

/// Sends every message with buffered-amount back-pressure, then waits for the
/// buffer to drain.
async fn send_all(
    plan: TransferPlan,
    sender: &dyn ChannelSender,
    deadline: Instant,
) -> BenchResult<()> {
    for seq in 0..plan.messages() as u32 {
        let mut message = vec![0u8; plan.message_size];
        fill(&mut message, seq);
        sender.send(Bytes::from(message)).await?;
        if sender.buffered_amount().await? > plan.high_water {
            until(deadline, sender.wait_buffered_below(plan.low_water)).await??;
        }
    }
    until(deadline, sender.wait_buffered_below(0)).await?
}

/// Fails with "timed out" at `deadline`.
async fn until<T>(deadline: Instant, fut: impl Future<Output = T>) -> BenchResult<T> {
    tokio::time::timeout_at(deadline.into(), fut)
        .await
        .map_err(|_| "transfer timed out".into())
}

/// The receiver's tally plus the instant of the last intact message.
struct Received {
    result: TransferResult,
    last_delivery: Option<Instant>,
}

async fn receive(
    plan: TransferPlan,
    mut receiver: Box<dyn ChannelReceiver>,
    sender_done: Arc<AtomicBool>,
    start: Instant,
    deadline: Instant,
) -> Received {
    let count = plan.messages();
    let mut seen = vec![false; count];
    let mut result = TransferResult {
        offered_messages: count as u64,
        ..TransferResult::default()
    };
    let mut last_delivery = None;
    let mut next_seq: u32 = 0;
    while (result.delivered_messages as usize) < count {
        if Instant::now() >= deadline {
            result.timed_out = true;
            break;
        }
        // Wake up regularly: an unreliable transfer ends by silence, not by count.
        let message = match tokio::time::timeout(TAIL_IDLE, receiver.recv()).await {
            Ok(Some(message)) => message,
            Ok(None) => break,
            Err(_) if sender_done.load(Ordering::SeqCst) => break,
            Err(_) => continue,
        };
        let Some(seq) = check(&message, plan.message_size).filter(|&s| (s as usize) < count) else {
            result.corrupt += 1;
            continue;
        };
        if std::mem::replace(&mut seen[seq as usize], true) {
            result.duplicates += 1;
            continue;
        }
        if seq != next_seq {
            result.out_of_order += 1;
        }
        next_seq = seq.wrapping_add(1);
        result.delivered_messages += 1;
        result.delivered_bytes += message.len() as u64;
        let now = Instant::now();
        let gap = now.duration_since(last_delivery.unwrap_or(start));
        if gap > STALL {
            result.stalls += 1;
            result.stalled += gap;
        }
        last_delivery = Some(now);
    }
    Received {
        result,
        last_delivery,
    }
}

/// Writes message `seq`: its number, then a byte derived from it.
fn fill(message: &mut [u8], seq: u32) {
    message[..4].copy_from_slice(&seq.to_le_bytes());
    message[4..].fill(pattern(seq));
}

/// The sequence number of an intact message of `size` bytes.
fn check(message: &[u8], size: usize) -> Option<u32> {
    if message.len() != size {
        return None;
    }
    let seq = u32::from_le_bytes(message[..4].try_into().ok()?);
    message[4..]
        .iter()
        .all(|&b| b == pattern(seq))
        .then_some(seq)
}

fn pattern(seq: u32) -> u8 {
    (seq as u8) ^ 0xA5
}
