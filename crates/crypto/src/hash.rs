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

use hmac::{Hmac, KeyInit, Mac};
use sha1::{Digest, Sha1};
use sha2::Sha256;

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
