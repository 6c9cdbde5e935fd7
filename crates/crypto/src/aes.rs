//! AES-128 in counter mode, as OTR data messages use it (Protocol-v3, "Data Message").
//!
//! The 16-byte initial counter block is the 8-byte `ctr` value from the message (`top_half`)
//! followed by eight zero bytes; the whole 128-bit block is incremented big-endian per block.
//! Encryption and decryption are the same operation.

use ::aes::Aes128Enc;
use ctr::Ctr128BE;
use ctr::cipher::{KeyIvInit, StreamCipher};

/// XORs `data` in place with the AES-128-CTR keystream for `key` and the initial counter block
/// `top_half || 0^8`.
///
/// The counter cannot wrap: it starts with its low 64 bits zero, so it would take `2^64` blocks
/// (more than any `usize` length) to carry out of the block.
pub fn ctr128_apply(key: &[u8; 16], top_half: &[u8; 8], data: &mut [u8]) {
    let mut iv = [0u8; 16];
    for (dst, src) in iv.iter_mut().zip(top_half.iter()) {
        *dst = *src;
    }
    // Encryption-only key schedule (CTR never decrypts a block); it and the keystream state
    // are wiped on drop (`zeroize` features of `aes` and `ctr`).
    let mut cipher = Ctr128BE::<Aes128Enc>::new(key.into(), (&iv).into());
    cipher.apply_keystream(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::aes::Aes128;
    use ::aes::cipher::{Array, BlockCipherEncrypt, KeyInit};

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
