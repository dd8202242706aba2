//! The two stacks behind one interface: connect a pair with one open data
//! channel (reliable or not), hand out its ends, close it.

use std::sync::Arc;
use std::time::Duration;

use rtcgate_core::DataChannelOptions;
use tokio::task::JoinHandle;
use webrtc::data_channel::RTCDataChannelInit;

use crate::BenchResult;
use crate::anchors::Anchor;
use crate::gate::{GatePair, GateReceiver, GateSender};
use crate::raw::{RawPair, RawReceiver, RawSender};
use crate::transfer::{ChannelReceiver, ChannelSender};

/// Which stack a measurement uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    /// rtcgate `Call`s through the embedded signalling server.
    Rtcgate,
    /// Bare webrtc peer connections with in-process signalling.
    Raw,
}

impl Stack {
    /// Both stacks, rtcgate first.
    pub const BOTH: [Stack; 2] = [Stack::Rtcgate, Stack::Raw];

    /// Name used in output.
    pub fn name(self) -> &'static str {
        match self {
            Stack::Rtcgate => "rtcgate",
            Stack::Raw => "raw",
        }
    }

    /// Connects a pair in `room` (rtcgate) with one open channel; also returns
    /// the join → open time (see [`GatePair::connect`] and [`RawPair::connect`]).
    pub async fn connect(
        self,
        url: &str,
        room: &str,
        reliable: bool,
        timeout: Duration,
    ) -> BenchResult<(Pair, Duration)> {
        let connecting = async {
            match self {
                Stack::Rtcgate => {
                    let options = if reliable {
                        DataChannelOptions::reliable()
                    } else {
                        DataChannelOptions::unreliable()
                    };
                    let (pair, setup) = GatePair::connect(url, room, options).await?;
                    BenchResult::Ok((Pair::Rtcgate(pair), setup))
                }
                Stack::Raw => {
                    let (pair, setup) = RawPair::connect(raw_init(reliable)).await?;
                    let drains = Vec::new();
                    Ok((Pair::Raw(pair, drains), setup))
                }
            }
        };
        tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| format!("{} pair did not connect within {timeout:?}", self.name()))?
    }
}

/// Any stack of the comparison: in this process, or a Python program run as a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contender {
    /// rtcgate or raw webrtc, in this process.
    Local(Stack),
    /// webrtcbin or aiortc, in a child process.
    Anchor(Anchor),
}

impl Contender {
    /// The table's columns, rtcgate first (the ratios divide it by the others).
    pub const COLUMNS: [Contender; 4] = [
        Contender::Local(Stack::Rtcgate),
        Contender::Local(Stack::Raw),
        Contender::Anchor(Anchor::Webrtcbin),
        Contender::Anchor(Anchor::Aiortc),
    ];

    /// Name used in output.
    pub fn name(self) -> &'static str {
        match self {
            Contender::Local(Stack::Raw) => "raw webrtc",
            Contender::Local(stack) => stack.name(),
            Contender::Anchor(anchor) => anchor.name(),
        }
    }

    /// rtcgate, raw webrtc, and the anchors available here.
    pub fn available() -> Vec<Contender> {
        let mut all: Vec<Contender> = Stack::BOTH.into_iter().map(Contender::Local).collect();
        all.extend(Anchor::available().into_iter().map(Contender::Anchor));
        all
    }
}

/// The same channel settings rtcgate's `DataChannelOptions::{reliable, unreliable}` produce.
fn raw_init(reliable: bool) -> RTCDataChannelInit {
    RTCDataChannelInit {
        ordered: reliable,
        max_retransmits: if reliable { None } else { Some(0) },
        max_packet_life_time: None,
        protocol: String::new(),
        negotiated: None,
    }
}

/// A connected pair of either stack.
pub enum Pair {
    /// Two rtcgate calls.
    Rtcgate(GatePair),
    /// Two raw peer connections and, when idle, the tasks that read their channels' events.
    Raw(RawPair, Vec<JoinHandle<()>>),
}

impl Pair {
    /// The creating side's channel as a sender, the accepting side's as a receiver.
    pub fn ends(&self) -> (Arc<dyn ChannelSender>, Box<dyn ChannelReceiver>) {
        match self {
            Pair::Rtcgate(pair) => (
                Arc::new(GateSender(pair.created.clone())),
                Box::new(GateReceiver(pair.accepted.clone())),
            ),
            Pair::Raw(pair, _) => (
                Arc::new(RawSender(pair.created.clone())),
                Box::new(RawReceiver(pair.accepted.clone())),
            ),
        }
    }

    /// Keeps an idle raw pair's event streams read (rtcgate's channels have their own pump).
    pub fn idle(&mut self) {
        if let Pair::Raw(pair, drains) = self {
            drains.extend(pair.drain_events());
        }
    }

    /// Closes both sides.
    pub async fn close(self) {
        match self {
            Pair::Rtcgate(pair) => pair.close().await,
            Pair::Raw(pair, drains) => {
                pair.close().await;
                for drain in drains {
                    drain.abort();
                }
            }
        }
    }
}
