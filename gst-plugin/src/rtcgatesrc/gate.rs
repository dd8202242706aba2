//! Holds a member's outputs back until all the tracks the member announced
//! have their pads, so that a muxer sees every pad before the first buffer
//! (matroskamux cannot take a pad once it has written its header).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rtcgate_core::Call;

/// How long a member's first ready track waits for the member's other
/// announced tracks (one that never sends must not hold the others forever).
const WAIT: Duration = Duration::from_secs(3);

#[derive(Debug)]
struct Counts {
    ready: usize,
    created: usize,
    since: Instant,
}

/// Per-member counts of tracks that are ready (first frame in hand) and of
/// outputs created.
#[derive(Debug, Default)]
pub(crate) struct Gates {
    members: Mutex<HashMap<String, Counts>>,
}

impl Gates {
    fn update<T>(&self, member: &str, f: impl FnOnce(&mut Counts) -> T) -> T {
        let mut members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        let counts = members.entry(member.to_owned()).or_insert_with(|| Counts {
            ready: 0,
            created: 0,
            since: Instant::now(),
        });
        f(counts)
    }

    /// A track of `member` has its first frame; returns once every announced
    /// track of the member has one (or the wait is over).
    pub(crate) async fn ready(&self, call: &Call, member: &str) {
        self.update(member, |c| c.ready += 1);
        loop {
            let announced = call.announced_tracks(&member.to_owned()).await;
            let done = self.update(member, |c| c.ready >= announced || c.since.elapsed() > WAIT);
            if done {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The output of a track of `member` exists; returns once the outputs of
    /// all the member's ready tracks do (or the wait is over).
    pub(crate) async fn created(&self, member: &str) {
        self.update(member, |c| c.created += 1);
        let deadline = Instant::now() + WAIT;
        loop {
            if self.update(member, |c| c.created >= c.ready) || Instant::now() > deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
