//! The error type of this crate.

/// Why a value was refused.
///
/// All variants describe bad input (usually from the network or from storage); none of them
/// carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// An integer is larger than its field allows (length checked after stripping leading zeros).
    #[error("{what} is too large: at most {max_bits} bits allowed, got {got_bits}")]
    TooLarge {
        /// Which value, e.g. `"DH public key"` or `"DSA p"`.
        what: &'static str,
        /// The largest bit length accepted.
        max_bits: usize,
        /// The bit length received.
        got_bits: usize,
    },
    /// A Diffie-Hellman public value is outside `[2, p-2]`.
    #[error("Diffie-Hellman public value is outside [2, p-2]")]
    DhPublicKeyOutOfRange,
    /// A Diffie-Hellman private exponent is zero or not below the group order `q = (p-1)/2`.
    #[error("Diffie-Hellman private exponent is outside [1, q-1]")]
    DhSecretOutOfRange,
    /// A DSA key component fails a sanity check; the message names the check.
    #[error("invalid DSA key: {0}")]
    InvalidDsaKey(&'static str),
    /// The DSA private exponent does not belong to the public key (`g^x mod p != y`).
    #[error("DSA private key does not match its public key (g^x mod p != y)")]
    DsaKeyMismatch,
}
