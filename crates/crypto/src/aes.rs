//! AES-128 in counter mode, as OTR data messages use it (Protocol-v3, "Data Message").
//!
//! The 16-byte initial counter block is the 8-byte `ctr` value from the message (`top_half`)
//! followed by eight zero bytes; the whole 128-bit block is incremented big-endian per block.
//! Encryption and decryption are the same operation.

use ::aes::Aes128Enc;
use ::aes::cipher::array::Array;
use ::aes::cipher::{BlockCipherEncrypt, KeyInit};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Keystream blocks computed per call of the cipher: what the AES-NI backend pipelines.
const BATCH: usize = 8;

/// XORs `data` in place with the AES-128-CTR keystream for `key` and the initial counter block
/// `top_half || 0^8`.
///
/// The counter cannot wrap: it starts with its low 64 bits zero, so it would take `2^64` blocks
/// (more than any `usize` length) to carry out of the block.
pub fn ctr128_apply(key: &[u8; 16], top_half: &[u8; 8], data: &mut [u8]) {
    Ctr128Key::new(key).apply(top_half, data);
}

/// An AES-128 key expanded once for [`ctr128_apply`]'s counter mode, for a caller that uses the
/// same key for many messages (the expansion costs about as much as encrypting a short
/// message). The encryption-only key schedule is wiped on drop (`zeroize` feature of `aes`).
#[derive(Clone)]
pub struct Ctr128Key {
    cipher: Aes128Enc,
}

impl Ctr128Key {
    /// Expands `key`.
    #[must_use]
    pub fn new(key: &[u8; 16]) -> Ctr128Key {
        Ctr128Key {
            cipher: Aes128Enc::new(key.into()),
        }
    }

    /// What [`ctr128_apply`] does with this key.
    pub fn apply(&self, top_half: &[u8; 8], data: &mut [u8]) {
        let mut keystream = [[0u8; 16]; BATCH];
        let mut counter = 0u64;
        for chunk in data.chunks_mut(16 * BATCH) {
            let blocks = keystream
                .get_mut(..chunk.len().div_ceil(16))
                .unwrap_or_default();
            for block in blocks.iter_mut() {
                let (high, low) = block.split_at_mut(8);
                high.copy_from_slice(top_half);
                low.copy_from_slice(&counter.to_be_bytes());
                counter = counter.wrapping_add(1);
            }
            self.cipher
                .encrypt_blocks(Array::cast_slice_from_core_mut(blocks));
            for (d, k) in chunk.iter_mut().zip(blocks.as_flattened()) {
                *d ^= *k;
            }
        }
        // As one byte slice: zeroize wipes slices in bulk, arrays element by element.
        keystream.as_flattened_mut().zeroize();
    }
}

impl ZeroizeOnDrop for Ctr128Key {}

#[cfg(test)]
mod tests {
    use super::*;
    use ::aes::Aes128;
    use ::aes::cipher::Array;

    /// Keystream computed block by block with raw AES (ECB) as an independent reference.
    fn reference(key: &[u8; 16], top_half: &[u8; 8], data: &[u8]) -> Vec<u8> {
        let cipher = Aes128::new(key.into());
        let mut out = Vec::new();
        for (i, chunk) in data.chunks(16).enumerate() {
            let mut block = Array::from([0u8; 16]);
            block[..8].copy_from_slice(top_half);
            block[8..].copy_from_slice(&(i as u64).to_be_bytes());
            cipher.encrypt_block(&mut block);
            out.extend(chunk.iter().zip(block.iter()).map(|(d, k)| d ^ k));
        }
        out
    }

    #[test]
    fn matches_block_reference_and_round_trips() {
        let key: [u8; 16] = *b"0123456789abcdef";
        let top = [0, 0, 0, 0, 0, 0, 0, 7];
        let plain: Vec<u8> = (0..100u8).collect();
        let mut buf = plain.clone();
        ctr128_apply(&key, &top, &mut buf);
        assert_eq!(buf, reference(&key, &top, &plain));
        ctr128_apply(&key, &top, &mut buf);
        assert_eq!(buf, plain);
    }

    #[test]
    fn matches_the_ctr_crate_across_batches() {
        use ctr::Ctr128BE;
        use ctr::cipher::{KeyIvInit, StreamCipher};
        let key: [u8; 16] = core::array::from_fn(|i| (i * 29 + 1) as u8);
        let top = [0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10];
        let mut iv = [0u8; 16];
        iv[..8].copy_from_slice(&top);
        let plain: Vec<u8> = (0..1100u32).map(|i| (i * 7) as u8).collect();
        for len in (0..300).chain([511, 512, 513, 1024, 1100]) {
            let mut ours = plain[..len].to_vec();
            ctr128_apply(&key, &top, &mut ours);
            let mut theirs = plain[..len].to_vec();
            Ctr128BE::<Aes128>::new((&key).into(), (&iv).into()).apply_keystream(&mut theirs);
            assert_eq!(ours, theirs, "{len}");
        }
    }

    #[test]
    fn expanded_key_matches_the_function() {
        let key = [0x42; 16];
        let expanded = Ctr128Key::new(&key);
        for len in [0, 1, 100, 128, 129, 1000] {
            let mut a: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut b = a.clone();
            ctr128_apply(&key, &[9; 8], &mut a);
            expanded.apply(&[9; 8], &mut b);
            assert_eq!(a, b, "{len}");
        }
    }

    #[test]
    fn fips197_block() {
        // FIPS-197 Appendix C.1: AES-128 of 00112233..ff under key 00010203..0f is
        // 69c4e0d86a7b0430d8cdb78070b4c55a. With a zero counter block, CTR keystream block 0 is
        // AES_k(0), so check that via the reference first, then our CTR against it.
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        let cipher = Aes128::new((&key).into());
        let mut block = Array::from([
            0x00u8, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ]);
        cipher.encrypt_block(&mut block);
        assert_eq!(
            block.to_vec(),
            hex::decode("69c4e0d86a7b0430d8cdb78070b4c55a").unwrap()
        );

        let mut zeros = [0u8; 16];
        ctr128_apply(&key, &[0; 8], &mut zeros);
        assert_eq!(zeros.to_vec(), reference(&key, &[0; 8], &[0u8; 16]));
    }

    #[test]
    fn empty_data_is_fine() {
        let mut empty: [u8; 0] = [];
        ctr128_apply(&[0; 16], &[0; 8], &mut empty);
    }
}
