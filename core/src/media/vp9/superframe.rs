//! VP9 superframes (VP9 bitstream specification, annex B): several frames
//! stored as one chunk, followed by an index of their sizes. This is how
//! libvpx writes the spatial layers of one picture, and how FFmpeg and libvpx
//! read them back from a container.
//!
//! The index is `marker, sizes…, marker`, where `marker` is
//! `0b110 SS FFF` (`SS + 1` bytes per size, `FFF + 1` frames) and each size
//! is little-endian.

/// A superframe holds at most this many frames.
pub const MAX_FRAMES: usize = 8;

/// The frames of `chunk`: those its superframe index lists, or `chunk`
/// itself when it has no (valid) index.
pub fn split(chunk: &[u8]) -> Vec<&[u8]> {
    match index(chunk) {
        Some(sizes) => {
            let mut frames = Vec::with_capacity(sizes.len());
            let mut pos = 0;
            for size in sizes {
                frames.push(&chunk[pos..pos + size]);
                pos += size;
            }
            frames
        }
        None => vec![chunk],
    }
}

/// The frame sizes of `chunk`'s superframe index, when it ends with a valid
/// one whose sizes add up to exactly what precedes it (a single frame may
/// end with bytes that look like a marker: encoders write indexes that
/// account for every byte, so anything else is frame data).
fn index(chunk: &[u8]) -> Option<Vec<usize>> {
    let &marker = chunk.last()?;
    if marker & 0xe0 != 0xc0 {
        return None;
    }
    let size_bytes = usize::from((marker >> 3) & 0x03) + 1;
    let frames = usize::from(marker & 0x07) + 1;
    let index_len = 2 + size_bytes * frames;
    if chunk.len() < index_len || chunk[chunk.len() - index_len] != marker {
        return None;
    }
    let body = &chunk[chunk.len() - index_len + 1..chunk.len() - 1];
    let sizes: Vec<usize> = body
        .chunks(size_bytes)
        .map(|b| {
            b.iter()
                .rev()
                .fold(0usize, |acc, &byte| acc << 8 | usize::from(byte))
        })
        .collect();
    let total: usize = sizes.iter().sum();
    (total == chunk.len() - index_len && sizes.iter().all(|&s| s > 0)).then_some(sizes)
}

/// One chunk holding `frames` in order: the frame itself when there is one,
/// else a superframe with its index. `None` when there are more than
/// [`MAX_FRAMES`] frames or one is empty or larger than 4 GiB.
pub fn join(frames: &[&[u8]]) -> Option<Vec<u8>> {
    match frames {
        [] => None,
        [one] => Some(one.to_vec()),
        _ => {
            if frames.len() > MAX_FRAMES || frames.iter().any(|f| f.is_empty()) {
                return None;
            }
            let largest = frames.iter().map(|f| f.len()).max()?;
            let size_bytes = match largest {
                0..=0xff => 1,
                0x100..=0xffff => 2,
                0x1_0000..=0xff_ffff => 3,
                _ if u32::try_from(largest).is_ok() => 4,
                _ => return None,
            };
            let marker = 0xc0 | ((size_bytes - 1) << 3) as u8 | (frames.len() - 1) as u8;
            let body: usize = frames.iter().map(|f| f.len()).sum();
            let mut out = Vec::with_capacity(body + 2 + size_bytes * frames.len());
            for frame in frames {
                out.extend_from_slice(frame);
            }
            out.push(marker);
            for frame in frames {
                out.extend_from_slice(&(frame.len() as u32).to_le_bytes()[..size_bytes]);
            }
            out.push(marker);
            Some(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_with_an_index_libvpx_reads_and_splits_back() {
        let a = vec![0x82u8; 300];
        let b = vec![0x86u8; 20];
        let joined = join(&[&a, &b]).unwrap();
        // 2 bytes per size, 2 frames: marker 0b110_01_001.
        assert_eq!(joined[320], 0xc9);
        assert_eq!(&joined[321..325], &[44, 1, 20, 0]);
        assert_eq!(*joined.last().unwrap(), 0xc9);
        assert_eq!(joined.len(), 320 + 6);
        assert_eq!(split(&joined), vec![&a[..], &b[..]]);
    }

    #[test]
    fn a_single_frame_is_left_as_it_is() {
        let frame = [0x82u8, 0x49, 0x83, 0x42, 0x00];
        assert_eq!(join(&[&frame]).unwrap(), frame.to_vec());
        assert_eq!(split(&frame), vec![&frame[..]]);
    }

    #[test]
    fn a_frame_ending_like_a_marker_is_not_an_index() {
        // Ends with 0xc1 but the byte where the index would start differs.
        let frame = [0x82u8, 0x49, 0x83, 0x42, 0x00, 0x01, 0x02, 0xc1];
        assert_eq!(split(&frame).len(), 1);
        // Index sizes larger than the chunk are refused too.
        let bogus = [0x82u8, 0xc0, 0xff, 0xc0];
        assert_eq!(split(&bogus).len(), 1);
        // So are sizes that leave bytes over: a frame whose last three
        // bytes happen to read as a one-frame index (marker, size 1, marker).
        let frame = [0x82u8, 0x49, 0x83, 0x42, 0x00, 0xc0, 0x01, 0xc0];
        assert_eq!(split(&frame), vec![&frame[..]]);
    }

    #[test]
    fn refuses_what_an_index_cannot_hold() {
        let f: &[u8] = &[1];
        assert!(join(&[f; 9]).is_none());
        assert!(join(&[f, &[]]).is_none());
        assert!(join(&[]).is_none());
    }
}
