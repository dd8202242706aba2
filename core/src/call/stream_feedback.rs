//! [`FeedbackInterceptor`]: the RTCP of the forwarded streams a connection
//! sends, handled where webrtc-rs's own interceptors cannot do it right.
//!
//! A forwarded stream (a leg of `crate::forward`) registers an
//! [`OutgoingFeedback`] under its SSRC in its connection's
//! [`FeedbackRegistry`]. For those SSRCs only, the interceptor:
//!
//! - **rewrites the sender reports** that rtc's `SenderReportInterceptor`
//!   generates. That interceptor maps the RTP time of the latest packet to
//!   *this* machine's wallclock at sending, which for forwarded media mixes
//!   the publisher's capture times with each stream's own network and
//!   forwarding delays: a recorder downstream could no longer align audio
//!   with video. The report keeps rtc's RTP time and counts; its NTP time
//!   becomes the publisher's wallclock for that RTP time, through the
//!   mapping the leg keeps from the publisher's own sender reports and its
//!   timestamp offset ([`OutgoingFeedback::set_clock`]). Without a mapping
//!   yet, the report is left out rather than sent wrong.
//! - **reads the receiver's reports** (receiver reports, and report blocks
//!   of sender reports): fraction and cumulative loss, jitter, and the round
//!   trip from LSR/DLSR against the reports it sent (rtc's statistics leave
//!   the round trip at 0).
//! - **counts** NACKs received and the retransmissions rtc's
//!   `NackResponderInterceptor` sends from its send buffer for them (the leg's
//!   own cache: a subscriber's losses never reach the publisher).
//!
//! It sits between the pacer and the NACK responder (slot 3 500): it sees
//! retransmissions and generated reports on their way out, and inbound
//! RTCP before the responder.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::sansio;
use rtc::shared::error::Error;

use crate::media::SenderClock;
use crate::media::local_track::lock;

/// Sender reports remembered per stream for round-trip times.
const SENT_REPORTS: usize = 8;

/// What the receiver of a forwarded stream last reported.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct ReceiverFeedback {
    /// Fraction of packets lost since the previous report (0.0–1.0).
    pub fraction_lost: f64,
    /// Packets lost in all (as the receiver counts them).
    pub total_lost: u32,
    /// Interarrival jitter, RTP timestamp units.
    pub jitter: u32,
    /// Round trip from the report's LSR/DLSR, when it echoes one of ours.
    pub rtt: Option<Duration>,
    /// Reports received so far.
    pub reports: u64,
    /// When the latest arrived.
    pub at: Option<Instant>,
}

/// The feedback state of one forwarded outgoing stream, shared between its
/// leg and its connection's interceptor.
#[derive(Debug)]
pub(crate) struct OutgoingFeedback {
    clock_rate: u32,
    /// Output RTP time ↔ publisher wallclock.
    clock: Mutex<Option<SenderClock>>,
    sent_reports: Mutex<VecDeque<(u32, Instant)>>,
    receiver: Mutex<ReceiverFeedback>,
    nacks: AtomicU64,
    nacked_packets: AtomicU64,
    retransmissions: AtomicU64,
    retransmitted_bytes: AtomicU64,
    reports_left_out: AtomicU64,
    /// Report blocks received so far (readable without the lock).
    report_count: AtomicU64,
}

/// Counters of an [`OutgoingFeedback`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FeedbackCounters {
    /// NACK packets received.
    pub nacks: u64,
    /// Sequence numbers those NACKs asked for.
    pub nacked_packets: u64,
    /// Packets resent from the send buffer.
    pub retransmissions: u64,
    /// Payload bytes resent.
    pub retransmitted_bytes: u64,
    /// Sender reports left out for want of the publisher's clock.
    pub reports_left_out: u64,
}

impl OutgoingFeedback {
    /// State for a stream clocked at `clock_rate` Hz.
    pub(crate) fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate,
            clock: Mutex::new(None),
            sent_reports: Mutex::new(VecDeque::with_capacity(SENT_REPORTS)),
            receiver: Mutex::new(ReceiverFeedback::default()),
            nacks: AtomicU64::new(0),
            nacked_packets: AtomicU64::new(0),
            retransmissions: AtomicU64::new(0),
            retransmitted_bytes: AtomicU64::new(0),
            reports_left_out: AtomicU64::new(0),
            report_count: AtomicU64::new(0),
        }
    }

    /// How many report blocks arrived so far: a cheap way to see whether
    /// [`receiver`](Self::receiver) has news.
    pub(crate) fn report_count(&self) -> u64 {
        self.report_count.load(Ordering::Acquire)
    }

    /// Sets the publisher-clock mapping of the stream's output RTP time
    /// (`None`: unknown, sender reports are left out).
    pub(crate) fn set_clock(&self, clock: Option<SenderClock>) {
        *lock(&self.clock) = clock;
    }

    /// The mapping set last.
    pub(crate) fn clock(&self) -> Option<SenderClock> {
        *lock(&self.clock)
    }

    /// What the receiver reported last.
    pub(crate) fn receiver(&self) -> ReceiverFeedback {
        *lock(&self.receiver)
    }

    /// The counters so far.
    pub(crate) fn counters(&self) -> FeedbackCounters {
        FeedbackCounters {
            nacks: self.nacks.load(Ordering::Relaxed),
            nacked_packets: self.nacked_packets.load(Ordering::Relaxed),
            retransmissions: self.retransmissions.load(Ordering::Relaxed),
            retransmitted_bytes: self.retransmitted_bytes.load(Ordering::Relaxed),
            reports_left_out: self.reports_left_out.load(Ordering::Relaxed),
        }
    }

    /// The sender report to send instead of `report` (rtc's), or `None` to
    /// leave it out; remembers it for round-trip times.
    fn rewrite_report(&self, report: &SenderReport, now: Instant) -> Option<SenderReport> {
        let Some(clock) = self.clock() else {
            self.reports_left_out.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let nanos = clock.wallclock_nanos(report.rtp_time, self.clock_rate);
        let ntp_time = SenderClock::from_wallclock_nanos(nanos, report.rtp_time).ntp_time;
        let mut sent = lock(&self.sent_reports);
        if sent.len() == SENT_REPORTS {
            sent.pop_front();
        }
        sent.push_back((middle_bits(ntp_time), now));
        Some(SenderReport {
            ntp_time,
            ..report.clone()
        })
    }

    /// A report block about this stream arrived `now`.
    fn on_report(&self, block: &ReceptionReport, now: Instant) {
        let rtt = (block.last_sender_report != 0)
            .then(|| {
                let sent = lock(&self.sent_reports);
                sent.iter()
                    .find(|(lsr, _)| *lsr == block.last_sender_report)
                    .map(|&(_, at)| at)
            })
            .flatten()
            .map(|sent_at| {
                let delay = Duration::from_secs_f64(f64::from(block.delay) / 65_536.0);
                now.saturating_duration_since(sent_at).saturating_sub(delay)
            });
        let mut receiver = lock(&self.receiver);
        receiver.fraction_lost = f64::from(block.fraction_lost) / 256.0;
        receiver.total_lost = block.total_lost;
        receiver.jitter = block.jitter;
        if rtt.is_some() {
            receiver.rtt = rtt;
        }
        receiver.reports += 1;
        receiver.at = Some(now);
        self.report_count.store(receiver.reports, Ordering::Release);
    }
}

/// The middle 32 bits of an NTP time: what LSR echoes.
fn middle_bits(ntp_time: u64) -> u32 {
    (ntp_time >> 16) as u32
}

/// The forwarded streams of one connection, by SSRC.
#[derive(Debug, Default)]
pub(crate) struct FeedbackRegistry {
    streams: RwLock<HashMap<u32, Arc<OutgoingFeedback>>>,
}

impl FeedbackRegistry {
    /// Handles the RTCP of `ssrc` with `feedback` from now on.
    pub(crate) fn register(&self, ssrc: u32, feedback: Arc<OutgoingFeedback>) {
        self.streams
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(ssrc, feedback);
    }

    /// Forgets `ssrc`.
    pub(crate) fn unregister(&self, ssrc: u32) {
        self.streams
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&ssrc);
    }

    fn get(&self, ssrc: u32) -> Option<Arc<OutgoingFeedback>> {
        self.streams
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&ssrc)
            .cloned()
    }

    fn is_empty(&self) -> bool {
        self.streams
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }
}

/// The interceptor (see the module documentation).
pub(crate) struct FeedbackInterceptor {
    registry: Arc<FeedbackRegistry>,
    /// RTX SSRC → media SSRC of the local streams (retransmissions go out
    /// on the RTX SSRC when RTX was negotiated).
    rtx: HashMap<u32, u32>,
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

impl FeedbackInterceptor {
    /// An interceptor for the streams in `registry`.
    pub(crate) fn new(registry: Arc<FeedbackRegistry>) -> Self {
        Self {
            registry,
            rtx: HashMap::new(),
            read_queue: VecDeque::new(),
            write_queue: VecDeque::new(),
        }
    }

    fn on_inbound_rtcp(&self, packets: &[Box<dyn rtcp::Packet>], now: Instant) {
        for packet in packets {
            let any = packet.as_any();
            let blocks: &[ReceptionReport] = if let Some(rr) = any.downcast_ref::<ReceiverReport>()
            {
                &rr.reports
            } else if let Some(sr) = any.downcast_ref::<SenderReport>() {
                &sr.reports
            } else {
                if let Some(nack) = any.downcast_ref::<TransportLayerNack>()
                    && let Some(stream) = self.registry.get(nack.media_ssrc)
                {
                    stream.nacks.fetch_add(1, Ordering::Relaxed);
                    let asked: u64 = nack
                        .nacks
                        .iter()
                        .map(|pair| 1 + u64::from(pair.lost_packets.count_ones()))
                        .sum();
                    stream.nacked_packets.fetch_add(asked, Ordering::Relaxed);
                }
                continue;
            };
            for block in blocks {
                if let Some(stream) = self.registry.get(block.ssrc) {
                    stream.on_report(block, now);
                }
            }
        }
    }

    /// Rewrites or leaves out the sender reports of registered streams.
    fn on_outbound_rtcp(&self, packets: &mut Vec<Box<dyn rtcp::Packet>>, now: Instant) {
        let mut i = 0;
        while i < packets.len() {
            let replacement = packets[i]
                .as_any()
                .downcast_ref::<SenderReport>()
                .and_then(|sr| Some((self.registry.get(sr.ssrc)?, sr)))
                .map(|(stream, sr)| stream.rewrite_report(sr, now));
            match replacement {
                Some(Some(report)) => {
                    packets[i] = Box::new(report);
                    i += 1;
                }
                Some(None) => {
                    packets.remove(i);
                }
                None => i += 1,
            }
        }
    }
}

impl sansio::Protocol<TaggedPacket, TaggedPacket, ()> for FeedbackInterceptor {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet
            && !self.registry.is_empty()
        {
            self.on_inbound_rtcp(packets, msg.now);
        }
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        let now = msg.now;
        let retransmission = msg.message.has(&Attribute::Retransmission);
        match &mut msg.message.packet {
            Packet::Rtp(packet) if retransmission => {
                let ssrc = packet.header.ssrc;
                let media_ssrc = self.rtx.get(&ssrc).copied().unwrap_or(ssrc);
                if let Some(stream) = self.registry.get(media_ssrc) {
                    // An RTX payload starts with the original sequence number.
                    let header = if media_ssrc == ssrc { 0 } else { 2 };
                    stream.retransmissions.fetch_add(1, Ordering::Relaxed);
                    stream.retransmitted_bytes.fetch_add(
                        packet.payload.len().saturating_sub(header) as u64,
                        Ordering::Relaxed,
                    );
                }
            }
            Packet::Rtcp(packets) if !self.registry.is_empty() => {
                self.on_outbound_rtcp(packets, now);
                if packets.is_empty() {
                    return Ok(());
                }
            }
            _ => {}
        }
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }

    fn handle_timeout(&mut self, _now: Instant) -> Result<(), Self::Error> {
        Ok(())
    }

    fn poll_timeout(&mut self) -> Option<Self::Time> {
        None
    }
}

impl Interceptor for FeedbackInterceptor {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        if let Some(rtx) = info.ssrc_rtx {
            self.rtx.insert(rtx, info.ssrc);
        }
    }
    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        if let Some(rtx) = info.ssrc_rtx {
            self.rtx.remove(&rtx);
        }
    }
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::AttributedPacket;
    use rtc::rtcp::transport_feedbacks::transport_layer_nack::NackPair;
    use rtc::rtp;
    use rtc::shared::TransportContext;
    use sansio::Protocol;

    fn tagged(packet: Packet, now: Instant) -> TaggedPacket {
        TaggedPacket {
            now,
            transport: TransportContext::default(),
            message: AttributedPacket::new(packet),
        }
    }

    fn sr(ssrc: u32, rtp_time: u32) -> Box<dyn rtcp::Packet> {
        Box::new(SenderReport {
            ssrc,
            ntp_time: 1 << 32,
            rtp_time,
            packet_count: 10,
            octet_count: 1000,
            ..Default::default()
        })
    }

    #[test]
    fn sender_reports_of_forwarded_streams_carry_the_publishers_clock() {
        let registry = Arc::new(FeedbackRegistry::default());
        let stream = Arc::new(OutgoingFeedback::new(90_000));
        registry.register(5, stream.clone());
        let mut chain = FeedbackInterceptor::new(registry);
        let now = Instant::now();
        // Without the publisher's clock, the report is left out; other
        // streams' reports pass unchanged.
        chain
            .handle_write(tagged(Packet::Rtcp(vec![sr(5, 9000), sr(6, 9000)]), now))
            .unwrap();
        let Packet::Rtcp(out) = chain.poll_write().unwrap().message.packet else {
            panic!()
        };
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].as_any().downcast_ref::<SenderReport>().unwrap().ssrc,
            6
        );
        assert_eq!(stream.counters().reports_left_out, 1);
        chain
            .handle_write(tagged(Packet::Rtcp(vec![sr(5, 9000)]), now))
            .unwrap();
        assert!(
            chain.poll_write().is_none(),
            "a packet of only left-out reports is dropped"
        );

        // Publisher clock: RTP 0 at 3,900,000,000 s; 9000 ticks = 100 ms later.
        let base = 3_900_000_000_000_000_000i64;
        stream.set_clock(Some(SenderClock::from_wallclock_nanos(base, 0)));
        chain
            .handle_write(tagged(Packet::Rtcp(vec![sr(5, 9000)]), now))
            .unwrap();
        let Packet::Rtcp(out) = chain.poll_write().unwrap().message.packet else {
            panic!()
        };
        let report = out[0].as_any().downcast_ref::<SenderReport>().unwrap();
        let mapped = SenderClock {
            ntp_time: report.ntp_time,
            rtp_timestamp: report.rtp_time,
        };
        assert!((mapped.ntp_nanos() - (base + 100_000_000)).abs() < 1_000);
        assert_eq!(
            (report.rtp_time, report.packet_count, report.octet_count),
            (9000, 10, 1000)
        );

        // The receiver echoes it 250 ms later, having held it 50 ms: RTT 200 ms.
        let later = now + Duration::from_millis(250);
        let rr = ReceiverReport {
            ssrc: 77,
            reports: vec![ReceptionReport {
                ssrc: 5,
                fraction_lost: 64,
                total_lost: 12,
                last_sender_report: middle_bits(report.ntp_time),
                delay: 65_536 / 20,
                ..Default::default()
            }],
            ..Default::default()
        };
        chain
            .handle_read(tagged(Packet::Rtcp(vec![Box::new(rr)]), later))
            .unwrap();
        assert!(
            chain.poll_read().is_some(),
            "inbound RTCP goes on up the chain"
        );
        let feedback = stream.receiver();
        assert_eq!(
            (
                feedback.fraction_lost,
                feedback.total_lost,
                feedback.reports
            ),
            (0.25, 12, 1)
        );
        let rtt = feedback.rtt.unwrap();
        assert!(
            rtt.abs_diff(Duration::from_millis(200)) < Duration::from_millis(1),
            "{rtt:?}"
        );
    }

    #[test]
    fn nacks_and_retransmissions_are_counted_per_stream() {
        let registry = Arc::new(FeedbackRegistry::default());
        let stream = Arc::new(OutgoingFeedback::new(90_000));
        registry.register(5, stream.clone());
        let mut chain = FeedbackInterceptor::new(registry.clone());
        let now = Instant::now();
        let nack = TransportLayerNack {
            sender_ssrc: 1,
            media_ssrc: 5,
            nacks: vec![NackPair {
                packet_id: 100,
                lost_packets: 0b101,
            }],
        };
        chain
            .handle_read(tagged(Packet::Rtcp(vec![Box::new(nack)]), now))
            .unwrap();
        let packet = rtp::Packet {
            header: rtp::header::Header {
                ssrc: 5,
                ..Default::default()
            },
            payload: vec![0u8; 300].into(),
        };
        let mut resent = tagged(Packet::Rtp(packet.clone()), now);
        resent.message.add(Attribute::Retransmission);
        chain.handle_write(resent).unwrap();
        chain
            .handle_write(tagged(Packet::Rtp(packet), now))
            .unwrap();
        // With RTX negotiated, the retransmission goes out on the RTX SSRC.
        chain.bind_local_stream(&StreamInfo {
            ssrc: 5,
            ssrc_rtx: Some(6),
            ..Default::default()
        });
        let rtx = rtp::Packet {
            header: rtp::header::Header {
                ssrc: 6,
                ..Default::default()
            },
            payload: vec![0u8; 302].into(),
        };
        let mut resent = tagged(Packet::Rtp(rtx), now);
        resent.message.add(Attribute::Retransmission);
        chain.handle_write(resent).unwrap();
        let counters = stream.counters();
        assert_eq!(
            (
                counters.nacks,
                counters.nacked_packets,
                counters.retransmissions,
                counters.retransmitted_bytes
            ),
            (1, 3, 2, 600)
        );
        registry.unregister(5);
        assert!(registry.is_empty());
    }
}
