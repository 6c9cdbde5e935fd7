//! Constant-time comparison, for MACs and other secret-dependent byte strings.

use subtle::ConstantTimeEq;

/// Whether `a == b`, in time that depends only on the lengths.
///
/// Slices of different lengths compare unequal (the lengths themselves are not secret).
#[must_use]
pub fn eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares() {
        assert!(eq(b"", b""));
        assert!(eq(b"mac", b"mac"));
        assert!(!eq(b"mac", b"mad"));
        assert!(!eq(b"mac", b"ma"));
        assert!(!eq(b"", b"x"));
    }
}
