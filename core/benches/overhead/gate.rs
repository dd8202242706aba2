//! The stack under test: two rtcgate [`Call`]s, one of them opening a data
//! channel to the other. They meet in a room of the embedded signalling server
//! (the WebSocket client and server connections count too), or with
//! `RTCGATE_BENCH_SIGNALLING=direct` through `DirectSignaller::pair()` (in
//! process, as the raw-webrtc column's peers do).

use std::time::{Duration, Instant};

use bytes::Bytes;
use rtcgate_core::signalling::{DirectSignaller, JoinRequest};
use rtcgate_core::{
    Call, CallEvent, CallEvents, CallOptions, DataChannel, DataChannelOptions, DataMessage,
};

use crate::BenchResult;
use crate::transfer::{ChannelReceiver, ChannelSender};

/// Two calls in one room with one open data channel between them.
pub struct GatePair {
    first: Call,
    second: Call,
    _events: [CallEvents; 2],
    /// The channel as the second member created it.
    pub created: DataChannel,
    /// The same channel as the first member received it.
    pub accepted: DataChannel,
}

impl GatePair {
    /// A first call joins `room`; then (timed) a second call joins, opens a
    /// channel to the first as soon as it sees it, and both wait for
    /// [`CallEvent::DataChannelOpened`]. Returns the pair and the time from the
    /// second join starting to the channel being open on both sides.
    pub async fn connect(
        url: &str,
        room: &str,
        options: DataChannelOptions,
    ) -> BenchResult<(GatePair, Duration)> {
        let through_server = std::env::var("RTCGATE_BENCH_SIGNALLING").as_deref() != Ok("direct");
        let (first, mut first_events, second, mut second_events, start);
        if through_server {
            (first, first_events) =
                Call::join_url(url, room, "first", CallOptions::default()).await?;
            start = Instant::now();
            (second, second_events) =
                Call::join_url(url, room, "second", CallOptions::default()).await?;
        } else {
            let (a, b) = DirectSignaller::pair();
            (first, first_events) = Call::join(
                a.into(),
                JoinRequest::new(room, "first"),
                CallOptions::default(),
            )
            .await?;
            start = Instant::now();
            (second, second_events) = Call::join(
                b.into(),
                JoinRequest::new(room, "second"),
                CallOptions::default(),
            )
            .await?;
        }
        let first_id = next_event(&mut second_events, |event| match event {
            CallEvent::MemberJoined(member) => Some(member.id.clone()),
            _ => None,
        })
        .await?;
        let created = second
            .create_data_channel(&first_id, "bench", options)
            .await?;
        let (_, accepted) = tokio::try_join!(
            next_event(&mut second_events, opened),
            next_event(&mut first_events, opened)
        )?;
        let setup = start.elapsed();
        let pair = GatePair {
            first,
            second,
            _events: [first_events, second_events],
            created,
            accepted,
        };
        Ok((pair, setup))
    }

    /// Both calls leave the room (closing their peer connections).
    pub async fn close(self) {
        let _ = tokio::join!(self.first.leave(), self.second.leave());
    }
}

fn opened(event: &CallEvent) -> Option<DataChannel> {
    match event {
        CallEvent::DataChannelOpened(channel) if channel.label() == "bench" => {
            Some(channel.clone())
        }
        _ => None,
    }
}

/// Reads events until `pick` returns something; fails when the call ends first.
async fn next_event<T>(
    events: &mut CallEvents,
    mut pick: impl FnMut(&CallEvent) -> Option<T>,
) -> BenchResult<T> {
    while let Some(event) = events.recv().await {
        if let CallEvent::Error { member, message } = &event {
            eprintln!("rtcgate call error (member {member:?}): {message}");
        }
        if let Some(value) = pick(&event) {
            return Ok(value);
        }
    }
    Err("call events ended".into())
}

/// rtcgate's sending end: `buffered_amount` / `wait_buffered_below`.
pub struct GateSender(pub DataChannel);

#[async_trait::async_trait]
impl ChannelSender for GateSender {
    async fn send(&self, data: Bytes) -> BenchResult<()> {
        Ok(self.0.send(data).await?)
    }

    async fn buffered_amount(&self) -> BenchResult<usize> {
        Ok(self.0.buffered_amount())
    }

    async fn set_low_threshold(&self, bytes: u32) -> BenchResult<()> {
        Ok(self
            .0
            .set_buffered_amount_low_threshold(bytes as usize)
            .await?)
    }

    async fn wait_buffered_below(&self, bytes: usize) -> BenchResult<()> {
        Ok(self.0.wait_buffered_below(bytes).await?)
    }
}

/// rtcgate's receiving end: `DataChannel::recv`.
pub struct GateReceiver(pub DataChannel);

#[async_trait::async_trait]
impl ChannelReceiver for GateReceiver {
    async fn recv(&mut self) -> Option<Bytes> {
        loop {
            match self.0.recv().await? {
                DataMessage::Binary(data) => return Some(data),
                DataMessage::Text(_) => {}
            }
        }
    }
}
