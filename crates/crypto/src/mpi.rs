//! The OTR `MPI` encoding of non-negative integers (Protocol-v3, "Data types").
//!
//! ```text
//! MPI = length (4 bytes, big-endian) || value (length bytes, big-endian, no leading zeros)
//! ```
//!
//! Zero is encoded as a zero length and no value bytes.

/// Strips leading zero bytes from a big-endian integer (zero becomes the empty slice).
#[must_use]
pub fn minimal(value_be: &[u8]) -> &[u8] {
    let leading = value_be.iter().take_while(|b| **b == 0).count();
    value_be.get(leading..).unwrap_or_default()
}

/// Appends the MPI encoding of `value_be` to `out`: 4-byte big-endian length, then the minimal
/// big-endian value. Leading zero bytes of the input are stripped here.
///
/// A value longer than `u32::MAX` bytes cannot be encoded; only its last `u32::MAX` bytes are
/// written (with a matching length), which keeps the output well-formed.
pub fn encode(value_be: &[u8], out: &mut Vec<u8>) {
    let value = minimal(value_be);
    let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
    let skip = value.len().saturating_sub(len as usize);
    let value = value.get(skip..).unwrap_or_default();
    out.reserve(4 + value.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_strips_leading_zeros() {
        assert_eq!(minimal(&[0, 0, 1, 0]), &[1, 0]);
        assert_eq!(minimal(&[5]), &[5]);
        assert_eq!(minimal(&[0, 0]), &[] as &[u8]);
        assert_eq!(minimal(&[]), &[] as &[u8]);
    }

    #[test]
    fn encode_examples() {
        let mut out = vec![0xAA];
        encode(&[0, 0x01, 0x02], &mut out);
        assert_eq!(out, [0xAA, 0, 0, 0, 2, 0x01, 0x02]);

        let mut zero = Vec::new();
        encode(&[0, 0, 0], &mut zero);
        assert_eq!(zero, [0, 0, 0, 0]);

        let mut empty = Vec::new();
        encode(&[], &mut empty);
        assert_eq!(empty, [0, 0, 0, 0]);
    }
}
