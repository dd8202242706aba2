//! A native member that sends the shipped VP8 + Opus clips in a loop.

use std::path::Path;

use rtcgate_core::media::Clip;
use rtcgate_core::{Call, CallEvents, CallOptions, Codec, LocalTrack};
use tokio::task::JoinHandle;

/// A member of a room playing the test clips until stopped.
pub struct TestPattern {
    /// The member's call.
    pub call: Call,
    players: Vec<JoinHandle<()>>,
}

impl TestPattern {
    /// Joins `room` at `url` as `name` and starts playing the clips found in `media`.
    pub async fn start(
        url: &str,
        room: &str,
        name: &str,
        media: &Path,
        options: CallOptions,
    ) -> Result<(TestPattern, CallEvents), String> {
        let clip = |file: &str| {
            Clip::open(media.join(file)).map_err(|e| format!("{}: {e}", media.join(file).display()))
        };
        let clips = [
            (Codec::Vp8, "video", clip("testsrc-vp8.ivf")?),
            (Codec::Opus, "audio", clip("testsrc-opus.ogg")?),
        ];
        let (call, events) = Call::join_url(url, room, name, options)
            .await
            .map_err(|e| format!("{name} could not join: {e}"))?;
        let mut players = Vec::new();
        for (codec, kind, clip) in clips {
            let track = LocalTrack::new(codec, format!("{name}-{kind}"), name)
                .map_err(|e| e.to_string())?;
            call.add_track(&track).await.map_err(|e| e.to_string())?;
            players.push(tokio::spawn(async move {
                if let Err(e) = clip.play(&track, None).await {
                    tracing::error!("test pattern {kind} stopped: {e}");
                }
            }));
        }
        Ok((TestPattern { call, players }, events))
    }

    /// Stops the clips and leaves the room.
    pub async fn stop(self) {
        for player in self.players {
            player.abort();
        }
        let _ = self.call.leave().await;
    }
}
