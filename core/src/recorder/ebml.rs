//! EBML primitives: element ids, sizes and values, written into byte buffers.
//!
//! Only what a Matroska writer needs: unsigned integers, floats, strings,
//! binary payloads and master elements whose body is built first and then
//! wrapped with its size.

/// Largest value a size field of `len` bytes can hold (all-ones means "unknown").
fn max_size_for(len: usize) -> u64 {
    (1u64 << (7 * len)) - 2
}

/// The size field of an element whose body is `size` bytes: the shortest vint.
pub(crate) fn encode_size(size: u64) -> Vec<u8> {
    let len = (1..=8).find(|&len| size <= max_size_for(len)).unwrap_or(8);
    encode_size_with_len(size, len)
}

/// A size field of exactly `len` bytes (1..=8), used for placeholders that are
/// patched later in place.
pub(crate) fn encode_size_with_len(size: u64, len: usize) -> Vec<u8> {
    let marker = 1u64 << (7 * len);
    let value = marker | size;
    value.to_be_bytes()[8 - len..].to_vec()
}

/// The 8-byte "unknown size" marker (a live segment still being written).
pub(crate) const UNKNOWN_SIZE: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// Element id bytes (ids carry their own length marker, so they are written as is).
pub(crate) fn encode_id(id: u32) -> Vec<u8> {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(3);
    bytes[skip..].to_vec()
}

/// Appends an element with a binary body.
pub(crate) fn put_binary(out: &mut Vec<u8>, id: u32, body: &[u8]) {
    out.extend(encode_id(id));
    out.extend(encode_size(body.len() as u64));
    out.extend_from_slice(body);
}

/// Appends an unsigned-integer element (shortest big-endian form).
pub(crate) fn put_uint(out: &mut Vec<u8>, id: u32, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(7);
    put_binary(out, id, &bytes[skip..]);
}

/// Appends a signed-integer element (8 bytes, big-endian).
pub(crate) fn put_int(out: &mut Vec<u8>, id: u32, value: i64) {
    put_binary(out, id, &value.to_be_bytes());
}

/// Appends a float element (8 bytes, big-endian IEEE 754).
pub(crate) fn put_float(out: &mut Vec<u8>, id: u32, value: f64) {
    put_binary(out, id, &value.to_be_bytes());
}

/// Appends a UTF-8 string element.
pub(crate) fn put_string(out: &mut Vec<u8>, id: u32, value: &str) {
    put_binary(out, id, value.as_bytes());
}

/// Appends a master element whose children `build` writes.
pub(crate) fn put_master(out: &mut Vec<u8>, id: u32, build: impl FnOnce(&mut Vec<u8>)) {
    let mut body = Vec::new();
    build(&mut body);
    put_binary(out, id, &body);
}

/// Appends a Void element that occupies exactly `total` bytes (at least 2).
pub(crate) fn put_void(out: &mut Vec<u8>, total: usize) {
    debug_assert!(total >= 2);
    // One id byte, then a size field; use 8 size bytes when the space allows
    // so that the body length stays simple to compute.
    let size_len = if total >= 9 { 8 } else { 1 };
    let body = total - 1 - size_len;
    out.push(0xEC);
    out.extend(encode_size_with_len(body as u64, size_len));
    out.extend(std::iter::repeat_n(0u8, body));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_the_shortest_vint() {
        assert_eq!(encode_size(0), vec![0x80]);
        assert_eq!(encode_size(126), vec![0xFE]);
        // 127 in one byte would be the all-ones "unknown" value.
        assert_eq!(encode_size(127), vec![0x40, 0x7F]);
        assert_eq!(encode_size(16_382), vec![0x7F, 0xFE]);
        assert_eq!(encode_size(16_383), vec![0x20, 0x3F, 0xFF]);
        assert_eq!(encode_size_with_len(5, 8), vec![1, 0, 0, 0, 0, 0, 0, 5]);
    }

    #[test]
    fn ids_keep_their_length_marker() {
        assert_eq!(encode_id(0x1A45DFA3), vec![0x1A, 0x45, 0xDF, 0xA3]);
        assert_eq!(encode_id(0x4286), vec![0x42, 0x86]);
        assert_eq!(encode_id(0xA3), vec![0xA3]);
    }

    #[test]
    fn values_and_voids_have_the_requested_layout() {
        let mut out = Vec::new();
        put_uint(&mut out, 0xD7, 1);
        assert_eq!(out, vec![0xD7, 0x81, 0x01]);
        out.clear();
        put_uint(&mut out, 0xD7, 0);
        assert_eq!(out, vec![0xD7, 0x81, 0x00]);
        for total in [2, 5, 9, 11, 100] {
            out.clear();
            put_void(&mut out, total);
            assert_eq!(out.len(), total, "void of {total}");
        }
    }
}
