//! Hash functions and MACs used by OTR v3.
//!
//! Every function takes its input as a list of parts that are hashed in order, so callers can
//! hash `byte || MPI(s)` or a whole message without first concatenating it.
//!
//! - SHA-1: data-phase key derivation, fingerprints (Protocol-v3, "Data Exchange").
//! - SHA-256: the AKE's `h2(b)` and the hash of `g^x` in the D-H Commit message.
//! - HMAC-SHA1: the data-message MAC.
//! - HMAC-SHA256: `M_A`/`M_B` in the AKE.
//! - HMAC-SHA256-160: the MAC on the encrypted signature in the AKE (first 160 bits).
//!
//! The data phase MACs every message with the same key for as long as a key pair is in use,
//! and every message of a pair starts with the same couple of hundred bytes (header, key ids,
//! next D-H key). [`HmacSha1Key`] absorbs the key's pads once, and [`HmacSha1State`] can be
//! kept after absorbing such a prefix, so that a message costs only the compressions of what
//! differs. Both are wiped on drop.

use hmac::{Hmac, KeyInit, Mac};
use sha1::block_api::compress as sha1_compress;
use sha1::{Digest, Sha1};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// SHA-1 of the concatenation of `parts`.
#[must_use]
pub fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut hasher = Sha1::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// SHA-256 of the concatenation of `parts`.
#[must_use]
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// A keyed HMAC instance over `D`.
fn hmac_new<D>(key: &[u8]) -> Hmac<D>
where
    D: hmac::EagerHash,
{
    // Invariant: HMAC accepts keys of any length (longer keys are hashed, shorter ones padded),
    // so `new_from_slice` never returns `InvalidLength` for `Hmac<D>`.
    #[allow(clippy::expect_used)]
    <Hmac<D> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// HMAC-SHA1 of the concatenation of `parts` under `key`.
#[must_use]
pub fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    let mut mac = hmac_new::<Sha1>(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The SHA-1 block size, which is also HMAC-SHA1's key block size.
const SHA1_BLOCK: usize = 64;

/// SHA-1's initial chaining value (FIPS 180-4, 5.3.1).
const SHA1_IV: [u32; 5] = [
    0x6745_2301,
    0xEFCD_AB89,
    0x98BA_DCFE,
    0x1032_5476,
    0xC3D2_E1F0,
];

/// An HMAC-SHA1 key with its inner and outer pads already absorbed (RFC 2104): computing a MAC
/// under it costs two compressions less than [`hmac_sha1`], and it can start
/// [`HmacSha1State`]s that are kept part-way through a common prefix.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct HmacSha1Key {
    /// SHA-1 state after `K ^ ipad`.
    inner: [u32; 5],
    /// SHA-1 state after `K ^ opad`.
    outer: [u32; 5],
}

impl HmacSha1Key {
    /// Absorbs `key` (of any length: longer than a block, it is hashed first).
    #[must_use]
    pub fn new(key: &[u8]) -> HmacSha1Key {
        let mut block = Zeroizing::new([0u8; SHA1_BLOCK]);
        if key.len() > SHA1_BLOCK {
            let digest = Zeroizing::new(sha1(&[key]));
            for (b, k) in block.iter_mut().zip(digest.iter()) {
                *b = *k;
            }
        } else {
            for (b, k) in block.iter_mut().zip(key) {
                *b = *k;
            }
        }
        for b in block.iter_mut() {
            *b ^= 0x36;
        }
        let mut inner = SHA1_IV;
        sha1_compress(&mut inner, core::slice::from_ref(&*block));
        for b in block.iter_mut() {
            *b ^= 0x36 ^ 0x5c;
        }
        let mut outer = SHA1_IV;
        sha1_compress(&mut outer, core::slice::from_ref(&*block));
        HmacSha1Key { inner, outer }
    }

    /// A computation under this key with nothing absorbed yet.
    #[must_use]
    pub fn start(&self) -> HmacSha1State {
        HmacSha1State {
            state: self.inner,
            blocks: 1,
            outer: self.outer,
        }
    }

    /// HMAC-SHA1 of `data` under this key.
    #[must_use]
    pub fn mac(&self, data: &[u8]) -> [u8; 20] {
        self.start().finish(data)
    }
}

/// An HMAC-SHA1 computation that has absorbed a whole number of 64-byte blocks of its input;
/// cloning it is how a MAC over a common prefix is reused.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct HmacSha1State {
    /// The inner hash's chaining value.
    state: [u32; 5],
    /// Blocks absorbed by the inner hash, the key block included.
    blocks: u64,
    /// SHA-1 state after `K ^ opad`.
    outer: [u32; 5],
}

impl HmacSha1State {
    /// Absorbs the longest prefix of `data` that is a whole number of blocks and returns the
    /// rest (shorter than a block).
    pub fn absorb_blocks<'a>(&mut self, data: &'a [u8]) -> &'a [u8] {
        let (blocks, rest) = data.as_chunks::<SHA1_BLOCK>();
        sha1_compress(&mut self.state, blocks);
        self.blocks = self.blocks.wrapping_add(blocks.len() as u64);
        rest
    }

    /// The MAC of everything absorbed so far followed by `rest` (any length).
    #[must_use]
    pub fn finish(&self, rest: &[u8]) -> [u8; 20] {
        let mut state = self.state;
        let (blocks, tail) = rest.as_chunks::<SHA1_BLOCK>();
        sha1_compress(&mut state, blocks);
        let total = self
            .blocks
            .wrapping_add(blocks.len() as u64)
            .wrapping_mul(SHA1_BLOCK as u64)
            .wrapping_add(tail.len() as u64);
        // The tail, 0x80, zeros and the bit length fill one block, or two if the tail leaves
        // fewer than 9 bytes.
        let mut last = [[0u8; SHA1_BLOCK]; 2];
        let used = if tail.len() < SHA1_BLOCK - 8 { 1 } else { 2 };
        let flat = last.as_flattened_mut();
        for (b, t) in flat.iter_mut().zip(tail) {
            *b = *t;
        }
        if let Some(b) = flat.get_mut(tail.len()) {
            *b = 0x80;
        }
        let end = used * SHA1_BLOCK;
        if let Some(len) = flat.get_mut(end - 8..end) {
            len.copy_from_slice(&total.wrapping_mul(8).to_be_bytes());
        }
        sha1_compress(&mut state, last.get(..used).unwrap_or_default());
        let mut outer_block = [0u8; SHA1_BLOCK];
        for (chunk, word) in outer_block.chunks_exact_mut(4).zip(state.iter()) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        state.zeroize();
        if let Some(b) = outer_block.get_mut(20) {
            *b = 0x80;
        }
        // The outer hash covers the opad block and the 20-byte inner digest: 84 bytes.
        if let Some(len) = outer_block.get_mut(SHA1_BLOCK - 8..) {
            len.copy_from_slice(&((SHA1_BLOCK as u64 + 20) * 8).to_be_bytes());
        }
        let mut outer = self.outer;
        sha1_compress(&mut outer, core::slice::from_ref(&outer_block));
        // As a slice: zeroize wipes slices in bulk, arrays element by element.
        outer_block.as_mut_slice().zeroize();
        let mut out = [0u8; 20];
        for (chunk, word) in out.chunks_exact_mut(4).zip(outer.iter()) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        outer.zeroize();
        out
    }
}

/// HMAC-SHA256 of the concatenation of `parts` under `key`.
#[must_use]
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = hmac_new::<Sha256>(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA256-160: the first 160 bits (20 bytes) of HMAC-SHA256.
#[must_use]
pub fn hmac_sha256_160(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    let full = hmac_sha256(key, parts);
    let mut out = [0u8; 20];
    for (o, f) in out.iter_mut().zip(full.iter()) {
        *o = *f;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn sha_abc() {
        // FIPS 180 example "abc", split across parts to exercise the part handling.
        assert_eq!(
            sha1(&[b"a", b"", b"bc"]).to_vec(),
            h("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
        assert_eq!(
            sha256(&[b"ab", b"c"]).to_vec(),
            h("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
    }

    #[test]
    fn mac_key_derivation_known_answer() {
        // shared/vectors/otr3-known-answers.md, "MAC-key derivation" (`otr_mackey`):
        // MAC key = SHA-1(AES key).
        let aes = h("00112233445566778899aabbccddeeff");
        assert_eq!(
            sha1(&[&aes]).to_vec(),
            h("739e0e8490eacbcb2ea11d4a5dbefbae888b092e")
        );
    }

    #[test]
    fn hmac_rfc_vectors() {
        // RFC 2202 test case 1 (HMAC-SHA1) and RFC 4231 test case 1 (HMAC-SHA256).
        let key = [0x0b; 20];
        assert_eq!(
            hmac_sha1(&key, &[b"Hi ", b"There"]).to_vec(),
            h("b617318655057264e28bc0b6fb378c8ef146be00")
        );
        let full = h("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
        assert_eq!(hmac_sha256(&key, &[b"Hi There"]).to_vec(), full);
        assert_eq!(hmac_sha256_160(&key, &[b"Hi There"]).to_vec(), full[..20]);
    }

    #[test]
    fn keyed_hmac_sha1_rfc2202() {
        // RFC 2202 test cases 1, 2, 3 and 6 through the pre-keyed form.
        let cases: [(&[u8], &[u8], &str); 4] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b617318655057264e28bc0b6fb378c8ef146be00",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
            ),
            (
                &[0xaa; 20],
                &[0xdd; 50],
                "125d7342b9ac11cd91a39af48aa17b4f63f175d3",
            ),
            (
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "aa4ae5e15272d00e95705637ce8a3b55ed402112",
            ),
        ];
        for (key, msg, want) in cases {
            assert_eq!(HmacSha1Key::new(key).mac(msg).to_vec(), h(want));
        }
    }

    #[test]
    fn keyed_hmac_sha1_matches_hmac_at_every_length_and_split() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for key_len in [0, 1, 20, 64, 65, 100] {
            let key: Vec<u8> = (0..key_len).map(|i| i as u8 ^ 0xa5).collect();
            let keyed = HmacSha1Key::new(&key);
            for len in 0..data.len() {
                let msg = &data[..len];
                let want = hmac_sha1(&key, &[msg]);
                assert_eq!(keyed.mac(msg), want, "key {key_len} len {len}");
                for split in [0, 63, 64, 65, 128, 192, 250] {
                    let split = split.min(len);
                    let mut state = keyed.start();
                    let rest = state.absorb_blocks(&msg[..split]);
                    let mut tail = rest.to_vec();
                    tail.extend_from_slice(&msg[split..]);
                    assert_eq!(state.finish(&tail), want, "key {key_len} len {len} {split}");
                }
            }
        }
    }

    #[test]
    fn hmac_long_keys() {
        // RFC 2202 test case 6 and RFC 4231 test case 6: keys longer than the block size.
        let msg: &[u8] = b"Test Using Larger Than Block-Size Key - Hash Key First";
        assert_eq!(
            hmac_sha1(&[0xaa; 80], &[msg]).to_vec(),
            h("aa4ae5e15272d00e95705637ce8a3b55ed402112")
        );
        assert_eq!(
            hmac_sha256(&[0xaa; 131], &[msg]).to_vec(),
            h("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        );
    }
}
