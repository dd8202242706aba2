//! A live Matroska/WebM muxer. Sans-I/O: frames in, bytes out.
//!
//! The file is laid out so that it is valid after every cluster: the segment
//! starts with the "unknown size" marker, every cluster is emitted whole with
//! its size, and nothing later rewrites a byte a demuxer needs. [`finish`]
//! adds cues and returns in-place patches (segment size, duration, seek head)
//! that make a cleanly closed file seekable; a file cut after any cluster
//! (a killed process, a full disk) still demuxes and plays up to that cluster.
//!
//! [`finish`]: MatroskaMuxer::finish

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use super::ebml::{
    UNKNOWN_SIZE, encode_id, encode_size_with_len, put_binary, put_float, put_int, put_master,
    put_string, put_uint, put_void,
};
use crate::codec::{Codec, MediaKind};

mod id {
    pub const EBML: u32 = 0x1A45_DFA3;
    pub const EBML_VERSION: u32 = 0x4286;
    pub const EBML_READ_VERSION: u32 = 0x42F7;
    pub const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
    pub const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
    pub const DOC_TYPE: u32 = 0x4282;
    pub const DOC_TYPE_VERSION: u32 = 0x4287;
    pub const DOC_TYPE_READ_VERSION: u32 = 0x4285;
    pub const SEGMENT: u32 = 0x1853_8067;
    pub const SEEK_HEAD: u32 = 0x114D_9B74;
    pub const SEEK: u32 = 0x4DBB;
    pub const SEEK_ID: u32 = 0x53AB;
    pub const SEEK_POSITION: u32 = 0x53AC;
    pub const INFO: u32 = 0x1549_A966;
    pub const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
    pub const MUXING_APP: u32 = 0x4D80;
    pub const WRITING_APP: u32 = 0x5741;
    pub const DURATION: u32 = 0x4489;
    pub const DATE_UTC: u32 = 0x4461;
    pub const TRACKS: u32 = 0x1654_AE6B;
    pub const TRACK_ENTRY: u32 = 0xAE;
    pub const TRACK_NUMBER: u32 = 0xD7;
    pub const TRACK_UID: u32 = 0x73C5;
    pub const TRACK_TYPE: u32 = 0x83;
    pub const FLAG_LACING: u32 = 0x9C;
    pub const NAME: u32 = 0x536E;
    pub const CODEC_ID: u32 = 0x86;
    pub const CODEC_PRIVATE: u32 = 0x63A2;
    pub const CODEC_DELAY: u32 = 0x56AA;
    pub const SEEK_PRE_ROLL: u32 = 0x56BB;
    pub const VIDEO: u32 = 0xE0;
    pub const PIXEL_WIDTH: u32 = 0xB0;
    pub const PIXEL_HEIGHT: u32 = 0xBA;
    pub const AUDIO: u32 = 0xE1;
    pub const SAMPLING_FREQUENCY: u32 = 0xB5;
    pub const CHANNELS: u32 = 0x9F;
    pub const CLUSTER: u32 = 0x1F43_B675;
    pub const TIMESTAMP: u32 = 0xE7;
    pub const SIMPLE_BLOCK: u32 = 0xA3;
    pub const CUES: u32 = 0x1C53_BB6B;
    pub const CUE_POINT: u32 = 0xBB;
    pub const CUE_TIME: u32 = 0xB3;
    pub const CUE_TRACK_POSITIONS: u32 = 0xB7;
    pub const CUE_TRACK: u32 = 0xF7;
    pub const CUE_CLUSTER_POSITION: u32 = 0xF1;
}

/// Bytes kept free after the segment start for the seek head written at the end.
const SEEK_HEAD_SPACE: usize = 96;
/// A Void this size is replaced by the Duration element (id 2 + size 1 + f64 8).
const DURATION_SPACE: usize = 11;
/// Seconds between 1970-01-01 and Matroska's epoch, 2001-01-01.
const MATROSKA_EPOCH_UNIX_SECS: u64 = 978_307_200;

/// Which flavour of Matroska a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Container {
    /// WebM: Opus, VP8, VP9, AV1 (`.webm`).
    WebM,
    /// Matroska: anything, used when H.264 is present (`.mkv`).
    Matroska,
}

impl Container {
    /// The container that holds all of `codecs`: WebM unless H.264 is among them.
    pub fn for_codecs(codecs: impl IntoIterator<Item = Codec>) -> Container {
        if codecs.into_iter().any(|c| c == Codec::H264) {
            Container::Matroska
        } else {
            Container::WebM
        }
    }

    /// File extension without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Container::WebM => "webm",
            Container::Matroska => "mkv",
        }
    }

    fn doc_type(self) -> &'static str {
        match self {
            Container::WebM => "webm",
            Container::Matroska => "matroska",
        }
    }
}

/// One track of a file, as the header describes it.
#[derive(Debug, Clone)]
pub(crate) struct TrackSpec {
    pub codec: Codec,
    pub name: String,
    pub codec_private: Option<Vec<u8>>,
    pub picture_size: Option<(u32, u32)>,
}

/// Matroska codec id of `codec`.
fn codec_id(codec: Codec) -> &'static str {
    match codec {
        Codec::Opus => "A_OPUS",
        Codec::Vp8 => "V_VP8",
        Codec::Vp9 => "V_VP9",
        Codec::Av1 => "V_AV1",
        Codec::H264 => "V_MPEG4/ISO/AVC",
    }
}

struct OpenCluster {
    offset: u64,
    timecode: u64,
    body: Vec<u8>,
    has_video_keyframe: bool,
}

/// In-place rewrites that finish a cleanly closed file.
#[derive(Debug, Default)]
pub(crate) struct Finish {
    /// Bytes to append (last cluster, cues).
    pub tail: Vec<u8>,
    /// `(file offset, bytes)` to overwrite once the tail is written.
    pub patches: Vec<(u64, Vec<u8>)>,
    /// Duration of the file.
    pub duration: Duration,
}

/// Turns timestamped frames into a live Matroska/WebM byte stream.
pub(crate) struct MatroskaMuxer {
    tracks: Vec<TrackSpec>,
    has_video: bool,
    max_cluster: u64,
    emitted: u64,
    segment_size_at: u64,
    segment_data_start: u64,
    seek_head_at: u64,
    info_at: u64,
    duration_at: u64,
    tracks_at: u64,
    cluster: Option<OpenCluster>,
    last_timecode: u64,
    /// Last block time of each track (blocks of a track strictly increase).
    last_pts: Vec<Option<u64>>,
    end_time: u64,
    cues: Vec<(u64, u64, u64)>,
    output: VecDeque<Vec<u8>>,
}

impl MatroskaMuxer {
    /// A muxer for `tracks` (track numbers are their index + 1). The header
    /// is the first output. Clusters last at most `max_cluster`.
    pub fn new(
        container: Container,
        tracks: Vec<TrackSpec>,
        max_cluster: Duration,
        started: SystemTime,
    ) -> Self {
        let mut head = Vec::new();
        put_master(&mut head, id::EBML, |b| {
            put_uint(b, id::EBML_VERSION, 1);
            put_uint(b, id::EBML_READ_VERSION, 1);
            put_uint(b, id::EBML_MAX_ID_LENGTH, 4);
            put_uint(b, id::EBML_MAX_SIZE_LENGTH, 8);
            put_string(b, id::DOC_TYPE, container.doc_type());
            put_uint(b, id::DOC_TYPE_VERSION, 4);
            put_uint(b, id::DOC_TYPE_READ_VERSION, 2);
        });
        head.extend(encode_id(id::SEGMENT));
        let segment_size_at = head.len() as u64;
        head.extend(UNKNOWN_SIZE);
        let segment_data_start = head.len() as u64;
        let seek_head_at = head.len() as u64;
        put_void(&mut head, SEEK_HEAD_SPACE);
        let info_at = head.len() as u64;
        let mut info = Vec::new();
        put_uint(&mut info, id::TIMESTAMP_SCALE, 1_000_000);
        put_string(&mut info, id::MUXING_APP, "rtcgate");
        put_string(
            &mut info,
            id::WRITING_APP,
            concat!("rtcgate ", env!("CARGO_PKG_VERSION")),
        );
        put_int(&mut info, id::DATE_UTC, matroska_date(started));
        let duration_in_info = info.len();
        put_void(&mut info, DURATION_SPACE);
        head.extend(encode_id(id::INFO));
        head.extend(super::ebml::encode_size(info.len() as u64));
        let duration_at = head.len() as u64 + duration_in_info as u64;
        head.extend(info);
        let tracks_at = head.len() as u64;
        put_master(&mut head, id::TRACKS, |b| {
            for (index, track) in tracks.iter().enumerate() {
                put_track_entry(b, index as u64 + 1, track);
            }
        });
        let has_video = tracks.iter().any(|t| t.codec.kind() == MediaKind::Video);
        let emitted = head.len() as u64;
        let last_pts = vec![None; tracks.len()];
        Self {
            tracks,
            has_video,
            max_cluster: max_cluster.as_millis().clamp(1, 30_000) as u64,
            emitted,
            segment_size_at,
            segment_data_start,
            seek_head_at,
            info_at,
            duration_at,
            tracks_at,
            cluster: None,
            last_timecode: 0,
            last_pts,
            end_time: 0,
            cues: Vec::new(),
            output: VecDeque::from([head]),
        }
    }

    /// Adds a frame of track `index` at `pts_ms` (milliseconds from the start
    /// of the file). Timestamps earlier than the open cluster are moved up to
    /// it (Matroska clusters only go forward), and each track's timestamps
    /// strictly increase (a late frame is placed 1 ms after its predecessor).
    pub fn push(&mut self, index: usize, pts_ms: u64, keyframe: bool, data: &[u8]) {
        let Some(track) = self.tracks.get(index) else {
            return;
        };
        let video = track.codec.kind() == MediaKind::Video;
        let mut pts = pts_ms.max(self.last_timecode);
        if let Some(last) = self.last_pts[index] {
            pts = pts.max(last + 1);
        }
        self.last_pts[index] = Some(pts);
        let split = match &self.cluster {
            None => true,
            Some(c) => {
                let starts_gop = video && keyframe && !c.body.is_empty() && self.has_video;
                let too_long = pts.saturating_sub(c.timecode) >= self.max_cluster;
                starts_gop || too_long
            }
        };
        if split {
            self.close_cluster();
            self.open_cluster(pts);
        }
        let Some(cluster) = self.cluster.as_mut() else {
            return;
        };
        let relative = (pts - cluster.timecode) as i16;
        let mut block = Vec::with_capacity(data.len() + 4);
        block.push(0x80 | (index as u8 + 1));
        block.extend(relative.to_be_bytes());
        block.push(if keyframe || !video { 0x80 } else { 0x00 });
        block.extend_from_slice(data);
        put_binary(&mut cluster.body, id::SIMPLE_BLOCK, &block);
        if video && keyframe && !cluster.has_video_keyframe {
            cluster.has_video_keyframe = true;
            let position = cluster.offset - self.segment_data_start;
            self.cues.push((pts, index as u64 + 1, position));
        }
        self.end_time = self.end_time.max(pts);
    }

    fn open_cluster(&mut self, timecode: u64) {
        let mut body = Vec::new();
        put_uint(&mut body, id::TIMESTAMP, timecode);
        self.last_timecode = timecode;
        self.cluster = Some(OpenCluster {
            offset: self.emitted,
            timecode,
            body,
            has_video_keyframe: false,
        });
        if !self.has_video {
            let position = self.emitted - self.segment_data_start;
            self.cues.push((timecode, 1, position));
        }
    }

    /// Ends the open cluster (if any) so that its bytes become output.
    pub fn close_cluster(&mut self) {
        let Some(cluster) = self.cluster.take() else {
            return;
        };
        let mut bytes = Vec::with_capacity(cluster.body.len() + 12);
        put_binary(&mut bytes, id::CLUSTER, &cluster.body);
        self.emitted += bytes.len() as u64;
        self.output.push_back(bytes);
    }

    /// The next whole unit of bytes to append to the file.
    pub fn poll_output(&mut self) -> Option<Vec<u8>> {
        self.output.pop_front()
    }

    /// Closes the last cluster and returns what finishes the file. Any output
    /// still queued must be written before the tail.
    pub fn finish(&mut self, last_frame: Duration) -> Finish {
        self.close_cluster();
        let mut tail: Vec<u8> = self.output.drain(..).flatten().collect();
        let cues_at = self.emitted;
        let mut cues = Vec::new();
        if !self.cues.is_empty() {
            put_master(&mut cues, id::CUES, |b| {
                for &(time, track, position) in &self.cues {
                    put_master(b, id::CUE_POINT, |p| {
                        put_uint(p, id::CUE_TIME, time);
                        put_master(p, id::CUE_TRACK_POSITIONS, |t| {
                            put_uint(t, id::CUE_TRACK, track);
                            put_uint(t, id::CUE_CLUSTER_POSITION, position);
                        });
                    });
                }
            });
        }
        self.emitted += cues.len() as u64;
        tail.extend(&cues);
        let duration_ms = self.end_time + last_frame.as_millis() as u64;
        let mut patches = Vec::new();
        let mut duration = Vec::new();
        put_float(&mut duration, id::DURATION, duration_ms as f64);
        patches.push((self.duration_at, duration));
        let mut seek_head = Vec::new();
        put_master(&mut seek_head, id::SEEK_HEAD, |b| {
            let mut entries = vec![(id::INFO, self.info_at), (id::TRACKS, self.tracks_at)];
            if !cues.is_empty() {
                entries.push((id::CUES, cues_at));
            }
            for (target, at) in entries {
                put_master(b, id::SEEK, |s| {
                    put_binary(s, id::SEEK_ID, &encode_id(target));
                    put_uint(s, id::SEEK_POSITION, at - self.segment_data_start);
                });
            }
        });
        let spare = SEEK_HEAD_SPACE.saturating_sub(seek_head.len());
        if spare >= 2 {
            put_void(&mut seek_head, spare);
            patches.push((self.seek_head_at, seek_head));
        }
        let size = self.emitted - self.segment_data_start;
        patches.push((self.segment_size_at, encode_size_with_len(size, 8)));
        Finish {
            tail,
            patches,
            duration: Duration::from_millis(duration_ms),
        }
    }
}

fn put_track_entry(out: &mut Vec<u8>, number: u64, track: &TrackSpec) {
    put_master(out, id::TRACK_ENTRY, |b| {
        put_uint(b, id::TRACK_NUMBER, number);
        put_uint(b, id::TRACK_UID, rand::random::<u64>() >> 8 | 1);
        let video = track.codec.kind() == MediaKind::Video;
        put_uint(b, id::TRACK_TYPE, if video { 1 } else { 2 });
        put_uint(b, id::FLAG_LACING, 0);
        if !track.name.is_empty() {
            put_string(b, id::NAME, &track.name);
        }
        put_string(b, id::CODEC_ID, codec_id(track.codec));
        if let Some(private) = &track.codec_private {
            put_binary(b, id::CODEC_PRIVATE, private);
        }
        if video {
            put_master(b, id::VIDEO, |v| {
                if let Some((width, height)) = track.picture_size {
                    put_uint(v, id::PIXEL_WIDTH, u64::from(width));
                    put_uint(v, id::PIXEL_HEIGHT, u64::from(height));
                }
            });
        } else {
            put_uint(b, id::CODEC_DELAY, 0);
            put_uint(b, id::SEEK_PRE_ROLL, 80_000_000);
            put_master(b, id::AUDIO, |a| {
                put_float(a, id::SAMPLING_FREQUENCY, 48_000.0);
                put_uint(a, id::CHANNELS, 2);
            });
        }
    });
}

/// Nanoseconds since 2001-01-01 (Matroska `DateUTC`).
fn matroska_date(time: SystemTime) -> i64 {
    let unix = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as i64;
    unix - (MATROSKA_EPOCH_UNIX_SECS as i64) * 1_000_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(codec: Codec) -> TrackSpec {
        TrackSpec {
            codec,
            name: String::new(),
            codec_private: None,
            picture_size: Some((320, 240)),
        }
    }

    #[test]
    fn clusters_split_on_keyframes_and_length() {
        let mut mux = MatroskaMuxer::new(
            Container::WebM,
            vec![spec(Codec::Vp8), spec(Codec::Opus)],
            Duration::from_millis(500),
            SystemTime::now(),
        );
        let header = mux.poll_output().expect("header");
        assert_eq!(&header[..4], &[0x1A, 0x45, 0xDF, 0xA3]);
        mux.push(0, 0, true, b"key");
        mux.push(1, 10, true, b"audio");
        assert!(mux.poll_output().is_none(), "cluster still open");
        mux.push(0, 33, false, b"delta");
        mux.push(0, 66, true, b"key2");
        let first = mux
            .poll_output()
            .expect("first cluster closed by the keyframe");
        assert_eq!(&first[..4], &[0x1F, 0x43, 0xB6, 0x75]);
        mux.push(1, 700, true, b"late audio");
        assert!(mux.poll_output().is_some(), "closed by length");
        let finish = mux.finish(Duration::from_millis(20));
        assert_eq!(finish.duration, Duration::from_millis(720));
        assert_eq!(finish.patches.len(), 3);
    }

    #[test]
    fn late_frames_of_a_track_never_share_a_timestamp() {
        let mut mux = MatroskaMuxer::new(
            Container::WebM,
            vec![spec(Codec::Vp8), spec(Codec::Opus)],
            Duration::from_millis(500),
            SystemTime::now(),
        );
        mux.push(1, 100, true, b"a");
        mux.push(0, 200, true, b"key"); // new cluster at 200
        mux.push(1, 150, true, b"late a"); // moved up to the cluster: 200
        mux.push(1, 170, true, b"late b"); // and after its predecessor: 201
        assert_eq!(mux.last_pts[1], Some(201));
    }
}
