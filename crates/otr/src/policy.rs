//! Policies (OTR v3, "Policies"), with libotr's bit values and presets.

use core::ops::{BitAnd, BitOr};

/// A combination of the spec's policy flags.
///
/// The bit values are libotr's (`OTRL_POLICY_*`), so a number given by a libotr user means the
/// same here. Version 1 is not implemented: [`Policy::ALLOW_V1`] is accepted and ignored.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Policy(u32);

impl Policy {
    /// Allow version 1 (not implemented; ignored).
    pub const ALLOW_V1: Policy = Policy(0x01);
    /// Allow version 2.
    pub const ALLOW_V2: Policy = Policy(0x02);
    /// Allow version 3.
    pub const ALLOW_V3: Policy = Policy(0x04);
    /// Refuse to send unencrypted messages.
    pub const REQUIRE_ENCRYPTION: Policy = Policy(0x08);
    /// Advertise OTR support with the whitespace tag.
    pub const SEND_WHITESPACE_TAG: Policy = Policy(0x10);
    /// Start the AKE on receiving a whitespace tag.
    pub const WHITESPACE_START_AKE: Policy = Policy(0x20);
    /// Start the AKE (by sending a query) on receiving an OTR error message.
    pub const ERROR_START_AKE: Policy = Policy(0x40);

    /// libotr's `OTRL_POLICY_NEVER`: OTR disabled.
    pub const NEVER: Policy = Policy(0);
    /// libotr's `OTRL_POLICY_MANUAL`: v2 and v3, nothing automatic.
    pub const MANUAL: Policy = Policy(0x02 | 0x04);
    /// libotr's `OTRL_POLICY_OPPORTUNISTIC`.
    pub const OPPORTUNISTIC: Policy = Policy(0x02 | 0x04 | 0x10 | 0x20 | 0x40);
    /// libotr's `OTRL_POLICY_ALWAYS`.
    pub const ALWAYS: Policy = Policy(0x02 | 0x04 | 0x08 | 0x20 | 0x40);

    /// Builds a policy from libotr's numeric representation; unknown bits are dropped.
    pub const fn from_bits(bits: u32) -> Policy {
        Policy(bits & 0x7f)
    }

    /// libotr's numeric representation.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Policy) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether OTR is enabled at all (v2 or v3 allowed).
    pub const fn allows_otr(self) -> bool {
        self.0 & (0x02 | 0x04) != 0
    }

    /// Parses `never`, `manual`, `opportunistic`, `always`, a number, or a comma list of
    /// `v2,v3,require,whitespace,wsstart,errstart` (the peer protocol's forms).
    pub fn parse(text: &str) -> Option<Policy> {
        match text {
            "never" => return Some(Policy::NEVER),
            "manual" => return Some(Policy::MANUAL),
            "opportunistic" => return Some(Policy::OPPORTUNISTIC),
            "always" => return Some(Policy::ALWAYS),
            _ => {}
        }
        if let Ok(n) = text.parse::<u32>() {
            return Some(Policy::from_bits(n));
        }
        let mut policy = Policy::NEVER;
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            policy = policy
                | match word {
                    "v1" => Policy::ALLOW_V1,
                    "v2" => Policy::ALLOW_V2,
                    "v3" => Policy::ALLOW_V3,
                    "require" => Policy::REQUIRE_ENCRYPTION,
                    "whitespace" => Policy::SEND_WHITESPACE_TAG,
                    "wsstart" => Policy::WHITESPACE_START_AKE,
                    "errstart" => Policy::ERROR_START_AKE,
                    _ => return None,
                };
        }
        Some(policy)
    }
}

impl Default for Policy {
    /// libotr's default policy, `OTRL_POLICY_DEFAULT` (= opportunistic).
    fn default() -> Self {
        Policy::OPPORTUNISTIC
    }
}

impl BitOr for Policy {
    type Output = Policy;
    fn bitor(self, rhs: Policy) -> Policy {
        Policy(self.0 | rhs.0)
    }
}

impl BitAnd for Policy {
    type Output = Policy;
    fn bitand(self, rhs: Policy) -> Policy {
        Policy(self.0 & rhs.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_match_libotr_values() {
        // libotr 4.1.1 proto.h: MANUAL = 0x06, OPPORTUNISTIC = 0x76, ALWAYS = 0x6e.
        assert_eq!(Policy::MANUAL.bits(), 0x06);
        assert_eq!(Policy::OPPORTUNISTIC.bits(), 0x76);
        assert_eq!(Policy::ALWAYS.bits(), 0x6e);
        assert_eq!(
            Policy::parse("v2,v3,require"),
            Some(Policy::from_bits(0x0e))
        );
        assert_eq!(Policy::parse("always"), Some(Policy::ALWAYS));
        assert_eq!(Policy::parse("110"), Some(Policy::from_bits(110)));
        assert_eq!(Policy::parse("v9"), None);
    }
}
