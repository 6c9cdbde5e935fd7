//! Instance tags (OTR v3, "Instance Tags").
//!
//! Every OTR v3 message names the instance tag of its sender and of its intended recipient.
//! Tags below [`InstanceTag::MIN_VALID`] are reserved: `0` means "no particular instance" and is
//! only legal as a receiver tag; 1..=0xff are never valid.

use core::fmt;

use rand_core::CryptoRng;

/// A 32-bit OTR v3 instance tag, as carried on the wire.
///
/// Any `u32` can be represented (decoders must be able to hold what the peer sent); use
/// [`InstanceTag::is_valid`] and [`InstanceTag::is_valid_receiver`] to apply the spec's rules.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct InstanceTag(u32);

impl InstanceTag {
    /// The "unknown / any instance" receiver tag (`0`).
    pub const ZERO: InstanceTag = InstanceTag(0);
    /// The smallest valid instance tag, `0x00000100`.
    pub const MIN_VALID: u32 = 0x100;

    /// Wraps a raw tag value without checking it.
    pub const fn new(value: u32) -> Self {
        InstanceTag(value)
    }

    /// The raw 32-bit value.
    pub const fn value(self) -> u32 {
        self.0
    }

    /// Whether this tag may identify an instance (`>= 0x100`).
    pub const fn is_valid(self) -> bool {
        self.0 >= Self::MIN_VALID
    }

    /// Whether this tag may appear as a receiver tag: `0` (unspecified) or a valid tag.
    pub const fn is_valid_receiver(self) -> bool {
        self.0 == 0 || self.is_valid()
    }

    /// Draws a fresh valid instance tag from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        loop {
            let value = rng.next_u32();
            if value >= Self::MIN_VALID {
                return InstanceTag(value);
            }
        }
    }
}

impl fmt::Display for InstanceTag {
    /// Eight lowercase hex digits, as libotr prints instance tags.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl fmt::Debug for InstanceTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstanceTag({:08x})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_rules_follow_the_spec() {
        assert!(!InstanceTag::new(0).is_valid());
        assert!(InstanceTag::new(0).is_valid_receiver());
        assert!(!InstanceTag::new(0xff).is_valid_receiver());
        assert!(InstanceTag::new(0x100).is_valid());
        assert_eq!(InstanceTag::new(0x1a2b).to_string(), "00001a2b");
    }
}
