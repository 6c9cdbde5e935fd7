//! Type/length/value records carried after the human-readable part of a Data Message
//! (OTR v3, "Data Message": TLV records).
//!
//! A decrypted data message is `message [ 0x00 tlv* ]`: the human-readable bytes, and if a NUL
//! follows, zero or more TLV records with no padding between them.

/// TLV type 0: padding, ignored by the receiver.
pub const PADDING: u16 = 0;
/// TLV type 1: the sender closed its end of the private conversation.
pub const DISCONNECTED: u16 = 1;
/// TLV type 2: SMP message 1.
pub const SMP1: u16 = 2;
/// TLV type 3: SMP message 2.
pub const SMP2: u16 = 3;
/// TLV type 4: SMP message 3.
pub const SMP3: u16 = 4;
/// TLV type 5: SMP message 4.
pub const SMP4: u16 = 5;
/// TLV type 6: SMP abort.
pub const SMP_ABORT: u16 = 6;
/// TLV type 7: SMP message 1 with a question.
pub const SMP1Q: u16 = 7;
/// TLV type 8: the sender uses the extra symmetric key; value = 4-byte use, then use data.
pub const EXTRA_SYMMETRIC_KEY: u16 = 8;

/// One TLV record.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Tlv {
    /// The record type (see the constants in this module).
    pub kind: u16,
    /// The value; at most 65535 bytes on the wire.
    pub value: Vec<u8>,
}

impl Tlv {
    /// A TLV of `kind` with `value`.
    pub fn new(kind: u16, value: impl Into<Vec<u8>>) -> Self {
        Tlv {
            kind,
            value: value.into(),
        }
    }
}

/// The plaintext of a data message, split into its human-readable part and its TLVs.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Plaintext {
    /// The human-readable part (UTF-8 by convention, but not guaranteed by the peer).
    pub message: Vec<u8>,
    /// The TLV records that followed it, in order.
    pub tlvs: Vec<Tlv>,
    /// Bytes after the last complete TLV that did not form a whole record (ignored, as libotr
    /// does, but counted so a caller can report it).
    pub trailing_garbage: usize,
}

/// The index of the first zero byte: eight bytes at a time (the classic test for a zero byte
/// in a word), which on a long message is several times faster than a byte loop.
fn first_nul(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0usize;
    for chunk in chunks.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 {
            break;
        }
        offset += 8;
    }
    bytes
        .get(offset..)?
        .iter()
        .position(|&b| b == 0)
        .map(|i| offset + i)
}

impl Plaintext {
    /// Splits decrypted bytes: everything before the first NUL is the message; TLVs follow.
    ///
    /// A truncated final record is not an error: it is dropped and counted in
    /// [`Plaintext::trailing_garbage`], so that a message's readable part is never lost.
    pub fn parse(bytes: &[u8]) -> Plaintext {
        let Some(nul) = first_nul(bytes) else {
            return Plaintext {
                message: bytes.to_vec(),
                tlvs: Vec::new(),
                trailing_garbage: 0,
            };
        };
        let (message, rest) = bytes.split_at(nul);
        let mut rest = rest.get(1..).unwrap_or_default();
        let mut tlvs = Vec::new();
        while let [t0, t1, l0, l1, tail @ ..] = rest {
            let kind = u16::from_be_bytes([*t0, *t1]);
            let len = usize::from(u16::from_be_bytes([*l0, *l1]));
            let Some(value) = tail.get(..len) else {
                break;
            };
            tlvs.push(Tlv::new(kind, value));
            rest = tail.get(len..).unwrap_or_default();
        }
        Plaintext {
            message: message.to_vec(),
            tlvs,
            trailing_garbage: rest.len(),
        }
    }

    /// Serializes `message`, then (if there are TLVs) a NUL and the records.
    ///
    /// TLV values longer than 65535 bytes cannot be represented and are truncated to that
    /// length; callers build TLVs from bounded data.
    pub fn encode(message: &[u8], tlvs: &[Tlv]) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            message.len() + 1 + tlvs.iter().map(|t| 4 + t.value.len()).sum::<usize>(),
        );
        out.extend_from_slice(message);
        if !tlvs.is_empty() {
            out.push(0);
            for tlv in tlvs {
                let len = tlv.value.len().min(usize::from(u16::MAX));
                out.extend_from_slice(&tlv.kind.to_be_bytes());
                // `len` is at most u16::MAX by construction.
                out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
                out.extend_from_slice(tlv.value.get(..len).unwrap_or_default());
            }
        }
        out
    }

    /// Whether the human-readable part is empty (a heartbeat, not shown to the user).
    pub fn is_heartbeat(&self) -> bool {
        self.message.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_nul_everywhere() {
        for len in 0..40 {
            let mut bytes = vec![0xffu8; len];
            assert_eq!(first_nul(&bytes), None, "{len}");
            for at in 0..len {
                bytes.fill(0x80);
                bytes[at] = 0;
                if let Some(later) = bytes.get_mut(at + 3) {
                    *later = 0;
                }
                assert_eq!(first_nul(&bytes), Some(at), "{len} {at}");
            }
        }
        assert_eq!(first_nul(&[1, 0x01, 0x80, 0, 0x81]), Some(3));
    }

    #[test]
    fn spec_examples_parse() {
        // OTR v3 spec, "Data Message": "\x00\x01\x00\x00" is a TLV of type 1 with no data;
        // "\x00\x00\x00\x05hello" a TLV of type 0 containing "hello".
        let bytes = b"hi\x00\x00\x01\x00\x00\x00\x00\x00\x05hello";
        let p = Plaintext::parse(bytes);
        assert_eq!(p.message, b"hi");
        assert_eq!(
            p.tlvs,
            vec![
                Tlv::new(DISCONNECTED, vec![]),
                Tlv::new(PADDING, b"hello".to_vec())
            ]
        );
        assert_eq!(p.trailing_garbage, 0);
        assert_eq!(Plaintext::encode(&p.message, &p.tlvs), bytes);
    }

    #[test]
    fn truncated_records_are_dropped_not_fatal() {
        let p = Plaintext::parse(b"x\x00\x00\x08\x00\x09abc");
        assert_eq!(p.message, b"x");
        assert!(p.tlvs.is_empty());
        assert_eq!(p.trailing_garbage, 7);
        assert!(Plaintext::parse(b"").is_heartbeat());
        assert!(Plaintext::parse(b"\x00\x00\x01\x00\x00").is_heartbeat());
    }

    proptest::proptest! {
        #[test]
        fn round_trip(message in proptest::collection::vec(1u8..=255, 0..64),
                      tlvs in proptest::collection::vec((0u16..16, proptest::collection::vec(proptest::num::u8::ANY, 0..40)), 0..5)) {
            let tlvs: Vec<Tlv> = tlvs.into_iter().map(|(k, v)| Tlv::new(k, v)).collect();
            let p = Plaintext::parse(&Plaintext::encode(&message, &tlvs));
            proptest::prop_assert_eq!(p.message, message);
            proptest::prop_assert_eq!(p.tlvs, tlvs);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = Plaintext::parse(&bytes);
        }
    }
}
