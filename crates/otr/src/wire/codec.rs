//! The spec's data types (section "Encoded messages" / "Data types"): a [`Reader`] cursor, the
//! `put_*` writers and the [`Codec`] trait.
//!
//! | spec type | read | write |
//! | --- | --- | --- |
//! | BYTE  | [`Reader::read_u8`]  | [`put_u8`]  |
//! | SHORT | [`Reader::read_u16`] | [`put_u16`] |
//! | INT   | [`Reader::read_u32`] | [`put_u32`] |
//! | MPI   | [`Reader::read_mpi`] | [`put_mpi`] |
//! | DATA  | [`Reader::read_data`] | [`put_data`] |
//! | CTR, MAC (fixed size) | [`Reader::read_array`] | `Vec::extend_from_slice` |
//!
//! All integers are big-endian. The same building blocks serve TLVs and SMP payloads.
//!
//! MPIs: the spec requires minimum-length encoding (no leading `0x00`). We always *write*
//! minimal MPIs, but like libotr we *accept* non-minimal ones on input; [`Reader::read_mpi`]
//! returns the value with its leading zeros stripped, so a decoded MPI is always minimal. Code
//! that must authenticate the exact received bytes (Data message MACs) uses the raw input, not a
//! re-encoding.
//!
//! ```
//! use otr::wire::codec::{Reader, put_data, put_mpi, put_u16};
//!
//! let mut out = Vec::new();
//! put_u16(&mut out, 0x0003);
//! put_mpi(&mut out, &[0x00, 0x01, 0x00]); // written as the minimal 0x01 0x00
//! put_data(&mut out, b"hi");
//! assert_eq!(out, [0, 3, 0, 0, 0, 2, 1, 0, 0, 0, 0, 2, b'h', b'i']);
//!
//! let mut reader = Reader::new(&out);
//! assert_eq!(reader.read_u16()?, 3);
//! assert_eq!(reader.read_mpi()?, &[1, 0]);
//! assert_eq!(reader.read_data()?, b"hi");
//! reader.expect_end()?;
//! # Ok::<(), otr::wire::DecodeError>(())
//! ```

use super::DecodeError;
use crate::InstanceTag;

/// A cursor over a byte slice, reading the spec's data types front to back.
///
/// Every read checks the remaining length first and fails with [`DecodeError::Truncated`]
/// instead of panicking; variable-length reads return borrowed slices, so nothing is allocated
/// for a length field the input cannot back. On error the reader's position is unspecified.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader positioned at the start of `bytes`.
    pub const fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    /// Reads exactly `len` bytes.
    pub fn read_bytes(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        match self.rest.split_at_checked(len) {
            Some((head, tail)) => {
                self.rest = tail;
                Ok(head)
            }
            None => Err(DecodeError::Truncated {
                needed: len,
                remaining: self.rest.len(),
            }),
        }
    }

    /// Reads a fixed-size field (CTR, MAC, ...).
    pub fn read_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.read_bytes(N)?;
        <[u8; N]>::try_from(bytes).map_err(|_| DecodeError::Truncated {
            needed: N,
            remaining: bytes.len(),
        })
    }

    /// Reads a BYTE.
    pub fn read_u8(&mut self) -> Result<u8, DecodeError> {
        self.read_array::<1>().map(u8::from_be_bytes)
    }

    /// Reads a SHORT (2 bytes, big-endian).
    pub fn read_u16(&mut self) -> Result<u16, DecodeError> {
        self.read_array::<2>().map(u16::from_be_bytes)
    }

    /// Reads an INT (4 bytes, big-endian).
    pub fn read_u32(&mut self) -> Result<u32, DecodeError> {
        self.read_array::<4>().map(u32::from_be_bytes)
    }

    /// Reads a DATA field: a 4-byte length, then that many bytes.
    pub fn read_data(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.read_u32()?;
        // A length that does not fit in usize cannot fit in the input either.
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.read_bytes(len)
    }

    /// Reads an MPI: a 4-byte length, then a big-endian unsigned value.
    ///
    /// Non-minimal encodings (leading `0x00` bytes) are accepted, as libotr does; the returned
    /// value has its leading zeros stripped (zero is the empty slice).
    pub fn read_mpi(&mut self) -> Result<&'a [u8], DecodeError> {
        self.read_data().map(strip_leading_zeros)
    }

    /// Consumes and returns everything that is left.
    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }

    /// The number of bytes left.
    pub const fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Whether all input has been consumed.
    pub const fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Succeeds if all input has been consumed, else [`DecodeError::TrailingBytes`].
    pub const fn expect_end(&self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                count: self.rest.len(),
            })
        }
    }
}

/// `value` without its leading `0x00` bytes (the minimal MPI encoding).
pub fn strip_leading_zeros(value: &[u8]) -> &[u8] {
    let start = value.iter().position(|&b| b != 0).unwrap_or(value.len());
    value.get(start..).unwrap_or_default()
}

/// Appends a BYTE.
pub fn put_u8(out: &mut Vec<u8>, value: u8) {
    out.push(value);
}

/// Appends a SHORT (big-endian).
pub fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Appends an INT (big-endian).
pub fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Appends a DATA field: 4-byte length, then `value`.
///
/// The wire format cannot express more than `u32::MAX` bytes; a longer `value` is cut to that
/// length (no OTR message comes near it, see [`super::MAX_ENCODED_LEN`]) so that the output
/// still parses.
pub fn put_data(out: &mut Vec<u8>, value: &[u8]) {
    let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
    put_u32(out, len);
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    out.extend_from_slice(value.get(..len).unwrap_or(value));
}

/// Appends an MPI holding the big-endian unsigned `value`, in minimal encoding (leading zeros
/// of `value` are dropped; zero is written as length 0).
pub fn put_mpi(out: &mut Vec<u8>, value: &[u8]) {
    put_data(out, strip_leading_zeros(value));
}

/// A wire type with a spec-defined byte encoding.
///
/// For the message types this is the *body*: everything after the header (protocol version,
/// message type and, for v3, instance tags), which [`super::Encoded`] handles.
pub trait Codec: Sized {
    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// Reads one value from the front of `reader`, leaving the rest.
    fn read(reader: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// The encoding of `self` as a fresh vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decodes a value that must span all of `bytes` (trailing bytes are an error).
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let value = Self::read(&mut reader)?;
        reader.expect_end()?;
        Ok(value)
    }
}

impl Codec for InstanceTag {
    /// An INT.
    fn encode(&self, out: &mut Vec<u8>) {
        put_u32(out, self.value());
    }

    fn read(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        reader.read_u32().map(InstanceTag::new)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn integers_are_big_endian() {
        let mut out = Vec::new();
        put_u8(&mut out, 0xab);
        put_u16(&mut out, 0x0102);
        put_u32(&mut out, 0x0304_0506);
        assert_eq!(out, [0xab, 1, 2, 3, 4, 5, 6]);
        let mut r = Reader::new(&out);
        assert_eq!(r.read_u8().unwrap(), 0xab);
        assert_eq!(r.read_u16().unwrap(), 0x0102);
        assert_eq!(r.read_u32().unwrap(), 0x0304_0506);
        assert!(r.is_empty());
        r.expect_end().unwrap();
    }

    #[test]
    fn truncation_reports_numbers() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(
            r.read_u32(),
            Err(DecodeError::Truncated {
                needed: 4,
                remaining: 3
            })
        );
        let mut r = Reader::new(&[0, 0, 0, 9, 1, 2]);
        assert_eq!(
            r.read_data(),
            Err(DecodeError::Truncated {
                needed: 9,
                remaining: 2
            })
        );
    }

    #[test]
    fn huge_length_does_not_allocate_or_panic() {
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0]);
        assert_eq!(
            r.read_mpi(),
            Err(DecodeError::Truncated {
                needed: 0xffff_ffff,
                remaining: 1
            })
        );
    }

    #[test]
    fn mpis_are_written_minimal_and_read_leniently() {
        let mut out = Vec::new();
        put_mpi(&mut out, &[0, 0, 0x80, 1]);
        put_mpi(&mut out, &[0, 0]);
        assert_eq!(out, [0, 0, 0, 2, 0x80, 1, 0, 0, 0, 0]);
        let non_minimal = [0, 0, 0, 3, 0, 0, 7];
        let mut r = Reader::new(&non_minimal);
        assert_eq!(r.read_mpi().unwrap(), &[7]);
        r.expect_end().unwrap();
    }

    #[test]
    fn rest_and_trailing_bytes() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.read_u8().unwrap(), 1);
        assert_eq!(r.remaining(), 2);
        assert_eq!(r.expect_end(), Err(DecodeError::TrailingBytes { count: 2 }));
        assert_eq!(r.rest(), &[2, 3]);
        assert!(r.is_empty());
    }

    #[test]
    fn instance_tag_codec() {
        let tag = InstanceTag::new(0x1234_5678);
        assert_eq!(tag.to_bytes(), [0x12, 0x34, 0x56, 0x78]);
        assert_eq!(
            InstanceTag::from_bytes(&[0x12, 0x34, 0x56, 0x78]).unwrap(),
            tag
        );
        assert_eq!(
            InstanceTag::from_bytes(&[0, 0, 1, 0, 9]),
            Err(DecodeError::TrailingBytes { count: 1 })
        );
    }

    proptest! {
        #[test]
        fn data_round_trips(value in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut out = Vec::new();
            put_data(&mut out, &value);
            let mut r = Reader::new(&out);
            prop_assert_eq!(r.read_data().unwrap(), &value[..]);
            prop_assert!(r.is_empty());
        }

        #[test]
        fn mpi_round_trips_to_minimal(value in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut out = Vec::new();
            put_mpi(&mut out, &value);
            let mut r = Reader::new(&out);
            let read = r.read_mpi().unwrap();
            prop_assert_eq!(read, strip_leading_zeros(&value));
            prop_assert!(read.first() != Some(&0));
            prop_assert!(r.is_empty());
        }

        #[test]
        fn reads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&bytes);
            while r.read_mpi().is_ok() && !r.is_empty() {}
            let mut r = Reader::new(&bytes);
            let _ = r.read_array::<20>();
            let _ = r.read_data();
        }
    }
}
