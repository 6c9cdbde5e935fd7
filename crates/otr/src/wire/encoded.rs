//! The binary messages (spec "Encoded messages": D-H Commit, D-H Key, Reveal Signature,
//! Signature and Data Message), for versions 2 and 3.
//!
//! Every message starts with a header:
//!
//! ```text
//! v3: Protocol version (SHORT) = 0x0003 | Message type (BYTE) | Sender instance (INT) | Receiver instance (INT)
//! v2: Protocol version (SHORT) = 0x0002 | Message type (BYTE)
//! ```
//!
//! followed by the body of the type named in the header ([`Body`]). The field layouts of the
//! bodies are the same in v2 and v3.

use super::codec::{Codec, Reader, put_data, put_mpi, put_u8, put_u16, put_u32};
use super::{DecodeError, ProtocolVersion, armor};
use crate::InstanceTag;

/// Data Message flag `IGNORE_UNREADABLE`: a receiver that cannot decrypt or verify the message
/// should drop it silently instead of answering with an error.
pub const FLAG_IGNORE_UNREADABLE: u8 = 0x01;

/// Length of the MACs carried in Reveal Signature, Signature and Data messages.
const MAC_LEN: usize = 20;

/// A decoded binary OTR message: header plus body.
///
/// For [`ProtocolVersion::V2`] the instance tags are [`InstanceTag::ZERO`]: v2 has no such
/// fields, [`Encoded::decode`] sets them to zero and [`Encoded::encode`] omits them whatever
/// their value. Decoding does not judge the tags' validity (see
/// [`InstanceTag::is_valid`]); that is the session's job.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Encoded {
    /// The protocol version in the header.
    pub version: ProtocolVersion,
    /// The sender's instance tag (v3), else zero.
    pub sender_instance: InstanceTag,
    /// The intended receiver's instance tag (v3), else zero.
    pub receiver_instance: InstanceTag,
    /// The message itself.
    pub body: Body,
}

/// The body of an encoded message, by message type.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Body {
    /// D-H Commit Message (type `0x02`), first message of the AKE.
    DhCommit(DhCommit),
    /// D-H Key Message (type `0x0a`), second message of the AKE.
    DhKey(DhKey),
    /// Reveal Signature Message (type `0x11`), third message of the AKE.
    RevealSignature(RevealSignature),
    /// Signature Message (type `0x12`), last message of the AKE.
    Signature(SignatureMessage),
    /// Data Message (type `0x03`).
    Data(DataMessage),
}

/// D-H Commit Message body: Bob commits to g^x without revealing it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DhCommit {
    /// Encrypted g^x (DATA): AES128-CTR of the MPI g^x under the key r.
    pub encrypted_gx: Vec<u8>,
    /// Hashed g^x (DATA): SHA-256 of the MPI g^x.
    pub hashed_gx: Vec<u8>,
}

/// D-H Key Message body: Alice's D-H public key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DhKey {
    /// g^y (MPI), as a minimal big-endian value.
    pub gy: Vec<u8>,
}

/// Reveal Signature Message body: Bob reveals r and authenticates.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RevealSignature {
    /// Revealed key r (DATA).
    pub revealed_key: Vec<u8>,
    /// Encrypted signature X_B (DATA).
    pub encrypted_signature: Vec<u8>,
    /// MAC'd signature (MAC): SHA256-HMAC-160 of the encrypted signature field, length
    /// included.
    pub mac: [u8; 20],
}

/// Signature Message body: Alice authenticates.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SignatureMessage {
    /// Encrypted signature X_A (DATA).
    pub encrypted_signature: Vec<u8>,
    /// MAC'd signature (MAC): SHA256-HMAC-160 of the encrypted signature field, length
    /// included.
    pub mac: [u8; 20],
}

/// Data Message body.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DataMessage {
    /// Flags (BYTE), e.g. [`FLAG_IGNORE_UNREADABLE`].
    pub flags: u8,
    /// Sender keyid (INT).
    pub sender_keyid: u32,
    /// Recipient keyid (INT).
    pub recipient_keyid: u32,
    /// DH y (MPI): the sender's *next* public key, minimal big-endian.
    pub next_dh: Vec<u8>,
    /// Top half of the counter init (CTR).
    pub ctr: [u8; 8],
    /// Encrypted message (DATA).
    pub encrypted_message: Vec<u8>,
    /// Authenticator (MAC): SHA1-HMAC of everything from the protocol version to the end of the
    /// encrypted message.
    pub mac: [u8; 20],
    /// Old MAC keys to be revealed (DATA).
    pub old_mac_keys: Vec<u8>,
}

impl DhCommit {
    /// Wire message type.
    pub const MESSAGE_TYPE: u8 = 0x02;
}

impl DhKey {
    /// Wire message type.
    pub const MESSAGE_TYPE: u8 = 0x0a;
}

impl RevealSignature {
    /// Wire message type.
    pub const MESSAGE_TYPE: u8 = 0x11;
}

impl SignatureMessage {
    /// Wire message type.
    pub const MESSAGE_TYPE: u8 = 0x12;
}

impl DataMessage {
    /// Wire message type.
    pub const MESSAGE_TYPE: u8 = 0x03;

    /// Whether [`FLAG_IGNORE_UNREADABLE`] is set.
    pub const fn ignore_unreadable(&self) -> bool {
        self.flags & FLAG_IGNORE_UNREADABLE != 0
    }

    /// Writes the fields the MAC covers (flags through encrypted message).
    fn encode_authenticated(&self, out: &mut Vec<u8>) {
        put_u8(out, self.flags);
        put_u32(out, self.sender_keyid);
        put_u32(out, self.recipient_keyid);
        put_mpi(out, &self.next_dh);
        out.extend_from_slice(&self.ctr);
        put_data(out, &self.encrypted_message);
    }

    /// Bytes that follow the authenticated part on the wire (MAC and old MAC keys DATA).
    fn unauthenticated_len(&self) -> usize {
        MAC_LEN
            .saturating_add(4)
            .saturating_add(self.old_mac_keys.len())
    }
}

/// The fields of a Data Message that precede its encrypted part, for encoding a message in
/// place: [`DataMessageHead::encode`] writes the header and these fields, the caller appends the
/// plaintext, encrypts it where it lies and computes the MAC over everything written so far, and
/// [`finish_data_message`] appends the MAC and the old MAC keys. The result is byte for byte
/// what [`Encoded::encode`] writes for the same message.
pub(crate) struct DataMessageHead<'a> {
    /// The protocol version in the header.
    pub(crate) version: ProtocolVersion,
    /// The sender's instance tag (v3).
    pub(crate) sender_instance: InstanceTag,
    /// The receiver's instance tag (v3).
    pub(crate) receiver_instance: InstanceTag,
    /// Flags (BYTE).
    pub(crate) flags: u8,
    /// Sender keyid (INT).
    pub(crate) sender_keyid: u32,
    /// Recipient keyid (INT).
    pub(crate) recipient_keyid: u32,
    /// The sender's next public key, minimal big-endian.
    pub(crate) next_dh: &'a [u8],
    /// Top half of the counter.
    pub(crate) ctr: [u8; 8],
}

impl DataMessageHead<'_> {
    /// The length of the whole encoded message with `encrypted_len` bytes of encrypted message
    /// and `old_mac_keys_len` bytes of old MAC keys.
    pub(crate) fn encoded_len(&self, encrypted_len: usize, old_mac_keys_len: usize) -> usize {
        let header = if self.version.has_instance_tags() {
            11
        } else {
            3
        };
        let next_dh = super::codec::strip_leading_zeros(self.next_dh).len();
        // flags, two key ids, MPI length, CTR, DATA length; then MAC, DATA length.
        header + 1 + 4 + 4 + 4 + next_dh + 8 + 4 + encrypted_len + MAC_LEN + 4 + old_mac_keys_len
    }

    /// Appends the header and the fields up to the length of an encrypted message of
    /// `encrypted_len` bytes, which the caller appends next.
    pub(crate) fn encode(&self, encrypted_len: usize, out: &mut Vec<u8>) {
        put_u16(out, self.version.number());
        put_u8(out, DataMessage::MESSAGE_TYPE);
        if self.version.has_instance_tags() {
            self.sender_instance.encode(out);
            self.receiver_instance.encode(out);
        }
        put_u8(out, self.flags);
        put_u32(out, self.sender_keyid);
        put_u32(out, self.recipient_keyid);
        put_mpi(out, self.next_dh);
        out.extend_from_slice(&self.ctr);
        put_u32(out, u32::try_from(encrypted_len).unwrap_or(u32::MAX));
    }
}

/// Appends what follows the encrypted message of a Data Message begun with
/// [`DataMessageHead::encode`]: the MAC and the old MAC keys.
pub(crate) fn finish_data_message(out: &mut Vec<u8>, mac: &[u8; 20], old_mac_keys: &[u8]) {
    out.extend_from_slice(mac);
    put_data(out, old_mac_keys);
}

impl Codec for DhCommit {
    fn encode(&self, out: &mut Vec<u8>) {
        put_data(out, &self.encrypted_gx);
        put_data(out, &self.hashed_gx);
    }

    fn read(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let encrypted_gx = reader.read_data()?.to_vec();
        let hashed_gx = reader.read_data()?.to_vec();
        Ok(DhCommit {
            encrypted_gx,
            hashed_gx,
        })
    }
}

impl Codec for DhKey {
    fn encode(&self, out: &mut Vec<u8>) {
        put_mpi(out, &self.gy);
    }

    fn read(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(DhKey {
            gy: reader.read_mpi()?.to_vec(),
        })
    }
}

impl Codec for RevealSignature {
    fn encode(&self, out: &mut Vec<u8>) {
        put_data(out, &self.revealed_key);
        put_data(out, &self.encrypted_signature);
        out.extend_from_slice(&self.mac);
    }

    fn read(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let revealed_key = reader.read_data()?.to_vec();
        let encrypted_signature = reader.read_data()?.to_vec();
        let mac = reader.read_array()?;
        Ok(RevealSignature {
            revealed_key,
            encrypted_signature,
            mac,
        })
    }
}

impl Codec for SignatureMessage {
    fn encode(&self, out: &mut Vec<u8>) {
        put_data(out, &self.encrypted_signature);
        out.extend_from_slice(&self.mac);
    }

    fn read(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let encrypted_signature = reader.read_data()?.to_vec();
        let mac = reader.read_array()?;
        Ok(SignatureMessage {
            encrypted_signature,
            mac,
        })
    }
}

impl Codec for DataMessage {
    fn encode(&self, out: &mut Vec<u8>) {
        self.encode_authenticated(out);
        out.extend_from_slice(&self.mac);
        put_data(out, &self.old_mac_keys);
    }

    fn read(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let (data, _) = DataMessageRef::read(reader)?;
        Ok(data.to_owned())
    }
}

/// A Data Message body borrowed from the bytes it was decoded from (the receive path decrypts
/// from there instead of copying the fields out first).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct DataMessageRef<'a> {
    pub(crate) flags: u8,
    pub(crate) sender_keyid: u32,
    pub(crate) recipient_keyid: u32,
    /// Minimal big-endian (leading zeros stripped, as [`Reader::read_mpi`] does).
    pub(crate) next_dh: &'a [u8],
    pub(crate) ctr: [u8; 8],
    pub(crate) encrypted_message: &'a [u8],
    pub(crate) mac: [u8; 20],
    pub(crate) old_mac_keys: &'a [u8],
}

impl<'a> DataMessageRef<'a> {
    /// Reads a body field by field (also [`DataMessage`]'s `Codec::read`), and returns how
    /// many bytes remained after the encrypted message, where the MAC starts.
    fn read(reader: &mut Reader<'a>) -> Result<(Self, usize), DecodeError> {
        let flags = reader.read_u8()?;
        let sender_keyid = reader.read_u32()?;
        let recipient_keyid = reader.read_u32()?;
        let next_dh = reader.read_mpi()?;
        let ctr = reader.read_array()?;
        let encrypted_message = reader.read_data()?;
        let after_encrypted = reader.remaining();
        let mac = reader.read_array()?;
        let old_mac_keys = reader.read_data()?;
        Ok((
            DataMessageRef {
                flags,
                sender_keyid,
                recipient_keyid,
                next_dh,
                ctr,
                encrypted_message,
                mac,
                old_mac_keys,
            },
            after_encrypted,
        ))
    }

    /// The owned form.
    pub(crate) fn to_owned(self) -> DataMessage {
        DataMessage {
            flags: self.flags,
            sender_keyid: self.sender_keyid,
            recipient_keyid: self.recipient_keyid,
            next_dh: self.next_dh.to_vec(),
            ctr: self.ctr,
            encrypted_message: self.encrypted_message.to_vec(),
            mac: self.mac,
            old_mac_keys: self.old_mac_keys.to_vec(),
        }
    }
}

impl Decoded<'_> {
    /// The owned form.
    pub(crate) fn into_encoded(self) -> Encoded {
        match self {
            Decoded::Data {
                version,
                sender_instance,
                receiver_instance,
                data,
                ..
            } => Encoded {
                version,
                sender_instance,
                receiver_instance,
                body: Body::Data(data.to_owned()),
            },
            Decoded::Other(encoded) => encoded,
        }
    }
}

/// A decoded binary message whose Data Message body, if it is one, is still borrowed.
#[derive(Debug)]
pub(crate) enum Decoded<'a> {
    /// A Data Message: header, body, and the exact bytes its MAC covers.
    Data {
        version: ProtocolVersion,
        sender_instance: InstanceTag,
        receiver_instance: InstanceTag,
        data: DataMessageRef<'a>,
        mac_input: &'a [u8],
    },
    /// Any other message (the AKE's).
    Other(Encoded),
}

impl Body {
    /// The wire message type of this body.
    pub const fn message_type(&self) -> u8 {
        match self {
            Body::DhCommit(_) => DhCommit::MESSAGE_TYPE,
            Body::DhKey(_) => DhKey::MESSAGE_TYPE,
            Body::RevealSignature(_) => RevealSignature::MESSAGE_TYPE,
            Body::Signature(_) => SignatureMessage::MESSAGE_TYPE,
            Body::Data(_) => DataMessage::MESSAGE_TYPE,
        }
    }

    /// Whether `message_type` is one of the five types we know.
    const fn is_known_type(message_type: u8) -> bool {
        matches!(
            message_type,
            DhCommit::MESSAGE_TYPE
                | DhKey::MESSAGE_TYPE
                | RevealSignature::MESSAGE_TYPE
                | SignatureMessage::MESSAGE_TYPE
                | DataMessage::MESSAGE_TYPE
        )
    }

    /// Reads the body of a message of type `message_type`.
    fn read(message_type: u8, reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match message_type {
            DhCommit::MESSAGE_TYPE => Body::DhCommit(DhCommit::read(reader)?),
            DhKey::MESSAGE_TYPE => Body::DhKey(DhKey::read(reader)?),
            RevealSignature::MESSAGE_TYPE => Body::RevealSignature(RevealSignature::read(reader)?),
            SignatureMessage::MESSAGE_TYPE => Body::Signature(SignatureMessage::read(reader)?),
            DataMessage::MESSAGE_TYPE => Body::Data(DataMessage::read(reader)?),
            other => return Err(DecodeError::UnknownMessageType(other)),
        })
    }

    /// Appends the body's encoding.
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Body::DhCommit(body) => body.encode(out),
            Body::DhKey(body) => body.encode(out),
            Body::RevealSignature(body) => body.encode(out),
            Body::Signature(body) => body.encode(out),
            Body::Data(body) => body.encode(out),
        }
    }
}

impl Encoded {
    /// Appends the header (version, type, and for v3 the instance tags).
    fn encode_header(&self, out: &mut Vec<u8>) {
        put_u16(out, self.version.number());
        put_u8(out, self.body.message_type());
        if self.version.has_instance_tags() {
            self.sender_instance.encode(out);
            self.receiver_instance.encode(out);
        }
    }

    /// The binary form of the message.
    pub fn encode(&self) -> Vec<u8> {
        // Header, and for data messages the body's length, so that the buffer never grows.
        let body_len = match &self.body {
            Body::Data(data) => data
                .encrypted_message
                .len()
                .saturating_add(data.old_mac_keys.len())
                .saturating_add(data.next_dh.len())
                .saturating_add(64),
            _ => 512,
        };
        let mut out = Vec::with_capacity(body_len.saturating_add(11));
        self.encode_header(&mut out);
        self.body.encode(&mut out);
        out
    }

    /// Parses a binary message.
    ///
    /// Rejects protocol versions other than 2 and 3 ([`DecodeError::UnsupportedVersion`], e.g.
    /// `1` for OTR v1), unknown message types, truncated input and trailing bytes. Non-minimal
    /// MPIs are accepted and stored minimal (see [`super::codec`]).
    pub fn decode(bytes: &[u8]) -> Result<Encoded, DecodeError> {
        Encoded::decode_borrowed(bytes).map(Decoded::into_encoded)
    }

    /// Like [`Encoded::decode`], but a Data Message stays borrowed from `bytes`.
    pub(crate) fn decode_borrowed(bytes: &[u8]) -> Result<Decoded<'_>, DecodeError> {
        let mut reader = Reader::new(bytes);
        let number = reader.read_u16()?;
        let version =
            ProtocolVersion::from_number(number).ok_or(DecodeError::UnsupportedVersion(number))?;
        let message_type = reader.read_u8()?;
        if !Body::is_known_type(message_type) {
            return Err(DecodeError::UnknownMessageType(message_type));
        }
        let (sender_instance, receiver_instance) = if version.has_instance_tags() {
            (
                InstanceTag::read(&mut reader)?,
                InstanceTag::read(&mut reader)?,
            )
        } else {
            (InstanceTag::ZERO, InstanceTag::ZERO)
        };
        if message_type == DataMessage::MESSAGE_TYPE {
            let (data, after_encrypted) = DataMessageRef::read(&mut reader)?;
            reader.expect_end()?;
            let mac_input = bytes
                .get(..bytes.len().saturating_sub(after_encrypted))
                .unwrap_or_default();
            return Ok(Decoded::Data {
                version,
                sender_instance,
                receiver_instance,
                data,
                mac_input,
            });
        }
        let body = Body::read(message_type, &mut reader)?;
        reader.expect_end()?;
        Ok(Decoded::Other(Encoded {
            version,
            sender_instance,
            receiver_instance,
            body,
        }))
    }

    /// The armored text form: `"?OTR:" + base64(encode()) + "."`.
    pub fn to_armored(&self) -> String {
        armor(&self.encode())
    }

    /// For Data messages: the bytes the MAC covers (protocol version through the encrypted
    /// message), as encoded by us. `None` for the AKE messages.
    ///
    /// Use this when *sending*. When verifying a received message, prefer
    /// [`Encoded::raw_data_mac_input`]: a peer may have sent a non-minimal MPI, which our
    /// re-encoding would not reproduce.
    pub fn data_mac_input(&self) -> Option<Vec<u8>> {
        let Body::Data(data) = &self.body else {
            return None;
        };
        let mut out = Vec::new();
        self.encode_header(&mut out);
        data.encode_authenticated(&mut out);
        Some(out)
    }

    /// For Data messages: the bytes the MAC covers, taken from `raw`, the exact bytes this
    /// message was decoded from (as in [`super::Message::Encoded`]). `None` for the AKE messages
    /// or if `raw` is too short to be this message.
    pub fn raw_data_mac_input<'a>(&self, raw: &'a [u8]) -> Option<&'a [u8]> {
        let Body::Data(data) = &self.body else {
            return None;
        };
        let end = raw.len().checked_sub(data.unauthenticated_len())?;
        raw.get(..end)
    }
}

#[cfg(test)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::super::{Message, codec::strip_leading_zeros, dearmor};
    use super::*;

    /// The Data Message example in the v3 spec, section "Fragmentation".
    const SPEC_V3_DATA: &str = "?OTR:AAMDJ+MVmSfjFZcAAAAAAQAAAAIAAADA1g5IjD1ZGLDVQEyCgCyn9hb
rL3KAbGDdzE2ZkMyTKl7XfkSxh8YJnudstiB74i4BzT0W2haClg6dMary/jo
9sMudwmUdlnKpIGEKXWdvJKT+hQ26h9nzMgEditLB8vjPEWAJ6gBXvZrY6ZQ
rx3gb4v0UaSMOMiR5sB7Eaulb2Yc6RmRnnlxgUUC2alosg4WIeFN951PLjSc
ajVba6dqlDi+q1H5tPvI5SWMN7PCBWIJ41+WvF+5IAZzQZYgNaVLbAAAAAAA
AAAEAAAAHwNiIi5Ms+4PsY/L2ipkTtquknfx6HodLvk3RAAAAAA==.";

    /// The Data Message example in the v2 spec, section "Fragmentation".
    const SPEC_V2_DATA: &str = "?OTR:AAEDAAAAAQAAAAEAAADAVf3Ei72ZgFeKqWvLMnuVPVCwxktsOZ1Qdje
Lp6jn62mCVtlY9nS6sRkecpjuLYHRxyTdRu2iEVtSsjZqK55ovZ35SfkOPHe
FYa9BIuxWi9djHMVKQ8KOVGAVLibjZ6P8LreDSKtWDv9YQjIEnkwFVGCPfpB
q2SX4VTQfJAQXHggR8izKxPvluXUdG9rIPh4cac98++VLdIuFMiEXjUIoTX2
rEzunaCLMy0VIfowlRsgsKGrwhCCv7hBWyglbzwz+AAAAAAAAAAQAAAF2SOr
JvPUerB9mtf4bqQDFthfoz/XepysnYuReHHEXKe+BFkaEoMNGiBl4TCLZx72
DvmZwKCewWRH1+W66ggrXKw2VdVl+vLsmzxNyWChGLfBTL5/3SUF09BfmCEl
03Ckk7htAgyAQcBf90RJznZndv7HwVAi3syupi0sQDdOKNPyObR5FRtqyqud
ttWmSdmGCGFcZ/fZqxQNsHB8QuYaBiGL7CDusES+wwfn8Q7BGtoJzOPDDx6K
yIyox/flPx2DZDJIZrMz9b0V70a9kqKLo/wcGhvHO6coCyMxenBAacLJ1DiI
NLKoYOoJTM7zcxsGnvCxaDZCvsmjx3j8Yc5r3i3ylllCQH2/lpr/xCvXFarG
tG7+wts+UqstS9SThLBQ9Ojq4oPsX7HBHKvq19XU3/ChIgWMy+bczc5gpkC/
eLAIGfJ0D5DJsl68vMXSmCoFK0HTwzzNa7lnZK4IutYPBNBCv0pWORQqDpsk
Ez96YOGyB8+gtpFgCrkuV1bSB9SRVmEBfDtKPQFhKowAAAAA=.";

    #[test]
    fn spec_v3_data_message_known_answer() {
        let raw = dearmor(SPEC_V3_DATA).unwrap();
        assert_eq!(raw.len(), 259);
        let msg = Encoded::decode(&raw).unwrap();
        assert_eq!(msg.version, ProtocolVersion::V3);
        // The fragments shown after it in the spec say "5a73a599|27e31597"; the binary itself
        // carries 0x27e31599 as the sender tag.
        assert_eq!(msg.sender_instance, InstanceTag::new(0x27e3_1599));
        assert_eq!(msg.receiver_instance, InstanceTag::new(0x27e3_1597));
        let Body::Data(data) = &msg.body else {
            panic!("not a data message: {msg:?}")
        };
        assert_eq!(data.flags, 0);
        assert!(!data.ignore_unreadable());
        assert_eq!(data.sender_keyid, 1);
        assert_eq!(data.recipient_keyid, 2);
        assert_eq!(data.next_dh.len(), 192);
        assert_eq!(data.next_dh[..4], [0xd6, 0x0e, 0x48, 0x8c]);
        assert_eq!(data.ctr, [0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(
            data.encrypted_message,
            hex::decode("c0d8888b932cfb").unwrap()
        );
        assert_eq!(
            data.mac.to_vec(),
            hex::decode("83ec63f2f68a9913b6aba49dfc7a1e874bbe4dd1").unwrap()
        );
        assert!(data.old_mac_keys.is_empty());

        assert_eq!(msg.encode(), raw);
        let mac_input = msg.data_mac_input().unwrap();
        assert_eq!(mac_input.len(), 259 - 20 - 4);
        assert_eq!(msg.raw_data_mac_input(&raw), Some(&mac_input[..]));

        match Message::parse(SPEC_V3_DATA).unwrap() {
            Message::Encoded {
                encoded,
                raw: parsed_raw,
            } => {
                assert_eq!(encoded, msg);
                assert_eq!(parsed_raw, raw);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn spec_v2_example_is_an_old_version_1_encoding() {
        // The v2 spec's example Data Message predates the final v2 format: its header says
        // protocol version 0x0001 (and it has no flags byte), so it is rejected as v1.
        let raw = dearmor(SPEC_V2_DATA).unwrap();
        assert_eq!(raw.len(), 617);
        assert_eq!(raw[..3], [0x00, 0x01, 0x03]);
        assert_eq!(
            Encoded::decode(&raw),
            Err(DecodeError::UnsupportedVersion(1))
        );
        assert_eq!(
            Message::parse(SPEC_V2_DATA),
            Err(DecodeError::UnsupportedVersion(1))
        );
    }

    #[test]
    fn unknown_version_and_type() {
        assert_eq!(
            Encoded::decode(&[0, 4, 3]),
            Err(DecodeError::UnsupportedVersion(4))
        );
        assert_eq!(
            Encoded::decode(&[0, 3, 0x7f]),
            Err(DecodeError::UnknownMessageType(0x7f))
        );
        assert_eq!(
            Encoded::decode(&[0, 2, 0x01]),
            Err(DecodeError::UnknownMessageType(1))
        );
        assert_eq!(
            Encoded::decode(&[]),
            Err(DecodeError::Truncated {
                needed: 2,
                remaining: 0
            })
        );
    }

    #[test]
    fn v2_has_no_instance_tags() {
        let msg = Encoded {
            version: ProtocolVersion::V2,
            sender_instance: InstanceTag::ZERO,
            receiver_instance: InstanceTag::ZERO,
            body: Body::DhKey(DhKey { gy: vec![5] }),
        };
        assert_eq!(msg.encode(), [0, 2, 0x0a, 0, 0, 0, 1, 5]);
        assert_eq!(Encoded::decode(&msg.encode()).unwrap(), msg);
        let v3 = Encoded {
            version: ProtocolVersion::V3,
            sender_instance: InstanceTag::new(0x101),
            receiver_instance: InstanceTag::new(0x202),
            ..msg
        };
        assert_eq!(
            v3.encode(),
            [0, 3, 0x0a, 0, 0, 1, 1, 0, 0, 2, 2, 0, 0, 0, 1, 5]
        );
        assert!(v3.to_armored().starts_with("?OTR:AAMK"));
    }

    #[test]
    fn non_minimal_mpi_is_accepted_and_stored_minimal() {
        let wire = [0, 3, 0x0a, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 9];
        let msg = Encoded::decode(&wire).unwrap();
        assert_eq!(msg.body, Body::DhKey(DhKey { gy: vec![9] }));
        assert_eq!(
            msg.encode(),
            [0, 3, 0x0a, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9]
        );
    }

    #[test]
    fn raw_mac_input_keeps_the_peers_bytes() {
        let data = sample_data();
        let msg = Encoded {
            version: ProtocolVersion::V3,
            sender_instance: InstanceTag::new(0x100),
            receiver_instance: InstanceTag::new(0x200),
            body: Body::Data(data),
        };
        let mut raw = msg.encode();
        // Re-encode the next_dh MPI with one leading zero: length 3 -> 4.
        let mpi_at = 3 + 8 + 1 + 8;
        assert_eq!(raw[mpi_at..mpi_at + 4], [0, 0, 0, 3]);
        raw[mpi_at + 3] = 4;
        raw.insert(mpi_at + 4, 0);
        let decoded = Encoded::decode(&raw).unwrap();
        assert_eq!(decoded, msg);
        let from_raw = decoded.raw_data_mac_input(&raw).unwrap();
        assert_eq!(from_raw.len(), msg.data_mac_input().unwrap().len() + 1);
        assert_eq!(from_raw, &raw[..raw.len() - 20 - 4 - 2]);
        assert_eq!(decoded.raw_data_mac_input(&[]), None);
    }

    #[test]
    fn mac_input_is_none_for_ake_messages() {
        let msg = Encoded {
            version: ProtocolVersion::V3,
            sender_instance: InstanceTag::new(0x100),
            receiver_instance: InstanceTag::ZERO,
            body: Body::DhCommit(DhCommit {
                encrypted_gx: vec![1],
                hashed_gx: vec![2; 32],
            }),
        };
        assert_eq!(msg.data_mac_input(), None);
        assert_eq!(msg.raw_data_mac_input(&msg.encode()), None);
    }

    fn sample_data() -> DataMessage {
        DataMessage {
            flags: FLAG_IGNORE_UNREADABLE,
            sender_keyid: 7,
            recipient_keyid: 9,
            next_dh: vec![1, 2, 3],
            ctr: [0, 0, 0, 0, 0, 0, 0, 5],
            encrypted_message: b"ciphertext".to_vec(),
            mac: [0xaa; 20],
            old_mac_keys: vec![0xbb; 2],
        }
    }

    fn sample_messages() -> Vec<Encoded> {
        let bodies = [
            Body::DhCommit(DhCommit {
                encrypted_gx: vec![1; 196],
                hashed_gx: vec![2; 32],
            }),
            Body::DhKey(DhKey { gy: vec![3; 192] }),
            Body::RevealSignature(RevealSignature {
                revealed_key: vec![4; 16],
                encrypted_signature: vec![5; 100],
                mac: [6; 20],
            }),
            Body::Signature(SignatureMessage {
                encrypted_signature: vec![7; 100],
                mac: [8; 20],
            }),
            Body::Data(sample_data()),
        ];
        let mut out = Vec::new();
        for body in bodies {
            out.push(Encoded {
                version: ProtocolVersion::V2,
                sender_instance: InstanceTag::ZERO,
                receiver_instance: InstanceTag::ZERO,
                body: body.clone(),
            });
            out.push(Encoded {
                version: ProtocolVersion::V3,
                sender_instance: InstanceTag::new(0x1234_5678),
                receiver_instance: InstanceTag::new(0x9abc_def0),
                body,
            });
        }
        out
    }

    #[test]
    fn every_truncation_is_an_error() {
        for msg in sample_messages() {
            let bytes = msg.encode();
            assert_eq!(Encoded::decode(&bytes).unwrap(), msg);
            for len in 0..bytes.len() {
                match Encoded::decode(&bytes[..len]) {
                    Err(DecodeError::Truncated { needed, remaining }) => {
                        assert!(needed > remaining)
                    }
                    other => panic!("{len}/{}: {other:?}", bytes.len()),
                }
            }
        }
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        for msg in sample_messages() {
            let mut bytes = msg.encode();
            bytes.extend_from_slice(&[0, 0, 0]);
            assert_eq!(
                Encoded::decode(&bytes),
                Err(DecodeError::TrailingBytes { count: 3 })
            );
        }
    }

    #[test]
    fn armor_round_trip() {
        for msg in sample_messages() {
            let text = msg.to_armored();
            assert!(text.starts_with("?OTR:AA"));
            assert!(text.ends_with('.'));
            assert_eq!(Encoded::decode(&dearmor(&text).unwrap()).unwrap(), msg);
        }
    }

    // ---- property tests: decode(encode(x)) == x for every body type, v2 and v3 ----

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        vec(any::<u8>(), 0..256)
    }

    /// A minimal MPI value (no leading zeros), as decoding produces.
    fn mpi() -> impl Strategy<Value = Vec<u8>> {
        bytes().prop_map(|v| strip_leading_zeros(&v).to_vec())
    }

    fn header() -> impl Strategy<Value = (ProtocolVersion, InstanceTag, InstanceTag)> {
        prop_oneof![
            Just((ProtocolVersion::V2, InstanceTag::ZERO, InstanceTag::ZERO)),
            (any::<u32>(), any::<u32>()).prop_map(|(s, r)| (
                ProtocolVersion::V3,
                InstanceTag::new(s),
                InstanceTag::new(r)
            )),
        ]
    }

    fn data_message() -> impl Strategy<Value = DataMessage> {
        (
            any::<u8>(),
            any::<u32>(),
            any::<u32>(),
            mpi(),
            any::<[u8; 8]>(),
            bytes(),
            any::<[u8; 20]>(),
            bytes(),
        )
            .prop_map(
                |(
                    flags,
                    sender_keyid,
                    recipient_keyid,
                    next_dh,
                    ctr,
                    encrypted_message,
                    mac,
                    old_mac_keys,
                )| DataMessage {
                    flags,
                    sender_keyid,
                    recipient_keyid,
                    next_dh,
                    ctr,
                    encrypted_message,
                    mac,
                    old_mac_keys,
                },
            )
    }

    fn body() -> impl Strategy<Value = Body> {
        prop_oneof![
            (bytes(), bytes()).prop_map(|(encrypted_gx, hashed_gx)| Body::DhCommit(DhCommit {
                encrypted_gx,
                hashed_gx
            })),
            mpi().prop_map(|gy| Body::DhKey(DhKey { gy })),
            (bytes(), bytes(), any::<[u8; 20]>()).prop_map(
                |(revealed_key, encrypted_signature, mac)| Body::RevealSignature(RevealSignature {
                    revealed_key,
                    encrypted_signature,
                    mac
                })
            ),
            (bytes(), any::<[u8; 20]>()).prop_map(|(encrypted_signature, mac)| Body::Signature(
                SignatureMessage {
                    encrypted_signature,
                    mac
                }
            )),
            data_message().prop_map(Body::Data),
        ]
    }

    fn encoded() -> impl Strategy<Value = Encoded> {
        (header(), body()).prop_map(|((version, sender_instance, receiver_instance), body)| {
            Encoded {
                version,
                sender_instance,
                receiver_instance,
                body,
            }
        })
    }

    proptest! {
        #[test]
        fn in_place_encoding_matches_encode(
            (version, sender_instance, receiver_instance) in header(),
            body in data_message(),
        ) {
            let head = DataMessageHead {
                version,
                sender_instance,
                receiver_instance,
                flags: body.flags,
                sender_keyid: body.sender_keyid,
                recipient_keyid: body.recipient_keyid,
                next_dh: &body.next_dh,
                ctr: body.ctr,
            };
            let len = head.encoded_len(body.encrypted_message.len(), body.old_mac_keys.len());
            let mut out = Vec::with_capacity(len);
            head.encode(body.encrypted_message.len(), &mut out);
            out.extend_from_slice(&body.encrypted_message);
            let authenticated = out.len();
            finish_data_message(&mut out, &body.mac, &body.old_mac_keys);
            let msg = Encoded {
                version,
                sender_instance,
                receiver_instance,
                body: Body::Data(body),
            };
            prop_assert_eq!(out.len(), len);
            prop_assert_eq!(out.capacity(), len);
            prop_assert_eq!(&out, &msg.encode());
            prop_assert_eq!(msg.raw_data_mac_input(&out).map(<[u8]>::len), Some(authenticated));
        }

        #[test]
        fn borrowed_decode_agrees(msg in encoded()) {
            let bytes = msg.encode();
            match Encoded::decode_borrowed(&bytes).unwrap() {
                Decoded::Data { version, sender_instance, receiver_instance, data, mac_input } => {
                    prop_assert_eq!(version, msg.version);
                    prop_assert_eq!(sender_instance, msg.sender_instance);
                    prop_assert_eq!(receiver_instance, msg.receiver_instance);
                    prop_assert_eq!(Body::Data(data.to_owned()), msg.body.clone());
                    prop_assert_eq!(Some(mac_input), msg.raw_data_mac_input(&bytes));
                }
                Decoded::Other(other) => prop_assert_eq!(other, msg),
            }
            for cut in [1usize, 5, 21, 40] {
                if let Some(short) = bytes.get(..bytes.len().saturating_sub(cut)) {
                    prop_assert_eq!(
                        Encoded::decode_borrowed(short).err(),
                        Encoded::decode(short).err()
                    );
                }
            }
        }

        #[test]
        fn encoded_round_trips(msg in encoded()) {
            let bytes = msg.encode();
            prop_assert_eq!(Encoded::decode(&bytes)?, msg.clone());
            prop_assert_eq!(Encoded::decode(&dearmor(&msg.to_armored())?)?, msg);
        }

        #[test]
        fn dh_commit_round_trips(body in (bytes(), bytes())
            .prop_map(|(encrypted_gx, hashed_gx)| DhCommit { encrypted_gx, hashed_gx }))
        {
            prop_assert_eq!(DhCommit::from_bytes(&body.to_bytes())?, body);
        }

        #[test]
        fn dh_key_round_trips(gy in mpi()) {
            let body = DhKey { gy };
            prop_assert_eq!(DhKey::from_bytes(&body.to_bytes())?, body);
        }

        #[test]
        fn dh_key_stores_mpis_minimal(gy in bytes()) {
            let body = DhKey { gy: gy.clone() };
            let decoded = DhKey::from_bytes(&body.to_bytes())?;
            prop_assert_eq!(decoded.gy, strip_leading_zeros(&gy).to_vec());
        }

        #[test]
        fn reveal_signature_round_trips(
            (revealed_key, encrypted_signature, mac) in (bytes(), bytes(), any::<[u8; 20]>())
        ) {
            let body = RevealSignature { revealed_key, encrypted_signature, mac };
            prop_assert_eq!(RevealSignature::from_bytes(&body.to_bytes())?, body);
        }

        #[test]
        fn signature_round_trips((encrypted_signature, mac) in (bytes(), any::<[u8; 20]>())) {
            let body = SignatureMessage { encrypted_signature, mac };
            prop_assert_eq!(SignatureMessage::from_bytes(&body.to_bytes())?, body);
        }

        #[test]
        fn data_round_trips(body in data_message()) {
            prop_assert_eq!(DataMessage::from_bytes(&body.to_bytes())?, body);
        }

        #[test]
        fn data_mac_input_is_a_prefix(msg in (header(), data_message()).prop_map(
            |((version, sender_instance, receiver_instance), data)| Encoded {
                version, sender_instance, receiver_instance, body: Body::Data(data)
            }))
        {
            let bytes = msg.encode();
            let mac_input = msg.data_mac_input().unwrap();
            prop_assert!(bytes.starts_with(&mac_input));
            prop_assert_eq!(msg.raw_data_mac_input(&bytes), Some(&mac_input[..]));
        }

        #[test]
        fn decode_never_panics(bytes in vec(any::<u8>(), 0..512)) {
            let _ = Encoded::decode(&bytes);
        }

        #[test]
        fn decode_never_panics_on_plausible_headers(
            version in 0u16..5,
            message_type in prop_oneof![Just(2u8), Just(3), Just(0x0a), Just(0x11), Just(0x12), any::<u8>()],
            rest in vec(any::<u8>(), 0..128),
        ) {
            let mut bytes = version.to_be_bytes().to_vec();
            bytes.push(message_type);
            bytes.extend_from_slice(&rest);
            if let Ok(msg) = Encoded::decode(&bytes) {
                // Whatever decodes re-decodes to itself.
                prop_assert_eq!(Encoded::decode(&msg.encode())?, msg);
            }
        }
    }
}
