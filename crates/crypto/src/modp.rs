//! The 1536-bit MODP group's arithmetic context, shared by [`crate::dh`] and [`crate::group`]:
//! the Montgomery parameters for `p` (24 limbs) and the fixed-base tables of the generator
//! `g = 2`, each built once per process on first use.

use std::sync::OnceLock;

use crypto_bigint::BoxedUint;

use crate::mont::{self, FixedBase, Monty, limbs_of};
use crate::{dh, num};

/// Limbs of a group element.
pub(crate) const LIMBS: usize = 24;

/// A number below `p` as little-endian limbs (in or out of Montgomery form).
pub(crate) type Limbs = [u64; LIMBS];

/// Exponent length covered by the small generator table (OTR's DH secrets).
const SMALL_TABLE_BITS: u32 = 320;
/// Exponent length covered by the full generator table (SMP's 1536-bit exponents).
const FULL_TABLE_BITS: u32 = 1536;

/// Montgomery parameters for `p`, and `g = 2` in Montgomery form.
pub(crate) struct Modp {
    /// Arithmetic mod `p`.
    pub(crate) monty: Monty<LIMBS>,
    /// The generator in Montgomery form.
    pub(crate) g: Limbs,
}

/// The shared context.
pub(crate) fn modp() -> &'static Modp {
    static MODP: OnceLock<Modp> = OnceLock::new();
    MODP.get_or_init(|| {
        let p = num::from_be(dh::modulus(), LIMBS as u32 * 64);
        // Invariant: the RFC 3526 prime is a constant, odd, of exactly 24 limbs.
        #[allow(clippy::expect_used)]
        let monty = Monty::from_boxed(&p).expect("the RFC 3526 prime is odd");
        let mut two = [0u64; LIMBS];
        if let Some(first) = two.first_mut() {
            *first = 2;
        }
        let g = monty.enter(&two);
        Modp { monty, g }
    })
}

/// `g^(d·16^i)` for exponents of up to 320 bits (about 240 KB; DH key generation).
fn small_table() -> &'static FixedBase<LIMBS> {
    static TABLE: OnceLock<FixedBase<LIMBS>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let m = modp();
        FixedBase::new(&m.monty, &m.g, SMALL_TABLE_BITS)
    })
}

/// `g^(d·16^i)` for exponents of up to 1536 bits (about 1.2 MB; SMP), built on first use.
fn full_table() -> &'static FixedBase<LIMBS> {
    static TABLE: OnceLock<FixedBase<LIMBS>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let m = modp();
        FixedBase::new(&m.monty, &m.g, FULL_TABLE_BITS)
    })
}

/// `g^e` (Montgomery form) for a secret exponent `e` of declared length `bits`, constant time
/// in `e`: one table scan and multiplication per 4-bit window.
pub(crate) fn g_pow_ct(e: &[u64], bits: u32) -> Limbs {
    let m = modp();
    let table = if bits <= SMALL_TABLE_BITS {
        small_table()
    } else {
        full_table()
    };
    if bits <= table.max_bits() {
        table.pow_ct(&m.monty, e, bits)
    } else {
        m.monty.pow_ct(&m.g, e, bits)
    }
}

/// `g^e` (Montgomery form) for a public exponent `e`: variable time, no squarings (one
/// multiplication per nonzero 4-bit window).
pub(crate) fn g_pow_vartime(e: &[u64]) -> Limbs {
    let m = modp();
    let bits = mont::bit_len_vartime(e);
    let table = if bits <= SMALL_TABLE_BITS {
        small_table()
    } else {
        full_table()
    };
    if bits <= table.max_bits() {
        table.pow_vartime(&m.monty, e)
    } else {
        m.monty.multi_pow_vartime(&[(&m.g, e)])
    }
}

/// `x mod p`'s limbs for a `BoxedUint` already known to be below `p`.
pub(crate) fn limbs(x: &BoxedUint) -> Limbs {
    limbs_of(x)
}

/// Limbs back into a `BoxedUint` of 1536 bits.
pub(crate) fn boxed(x: &Limbs) -> BoxedUint {
    BoxedUint::from_words(*x)
}
