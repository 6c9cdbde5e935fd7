//! Fixed-size Montgomery arithmetic: the hot loop of every modular exponentiation in OTR.
//!
//! A [`Monty<N>`] holds an odd modulus of at most `64·N` bits (`N` = 24 for the 1536-bit MODP
//! group, 16 for DSA-1024) and multiplies numbers kept as `[u64; N]` little-endian limbs in
//! Montgomery form (`x·R mod p`, `R = 2^(64·N)`), always fully reduced (`< p`).
//!
//! - [`Monty::mul`], [`Monty::sqr`]: on x86-64 processors with BMI2 and ADX (detected once at
//!   run time), assembly with MULX/ADCX/ADOX for 24 and 16 limbs (module `adx`): CIOS
//!   (coarsely integrated operand scanning) for products, and for squares each cross product
//!   once, doubled, then a separate Montgomery reduction. Otherwise portable Rust:
//!   [`Monty::mul_portable`] scans products column by column with `u128` products and
//!   [`Monty::sqr_portable`] is its squaring counterpart. Both are tested against each other
//!   and against crypto-bigint, and both run in the constant-time test (`tests/constant_time.rs`).
//! - The final conditional subtraction is done with a mask (or a multiplication by a bit),
//!   never a branch.
//! - [`Monty::pow_ct`]: fixed-window exponentiation over a *declared* number of exponent bits,
//!   with a constant-time table lookup that reads every entry ([`select`]).
//! - [`FixedBase`]: precomputed `b^(d·16^i)` for a fixed base, so that `b^e` costs one
//!   multiplication per 4-bit window of `e` and no squaring; constant time in `e` as well.
//! - [`Monty::pow_vartime`], [`Monty::multi_pow_vartime`]: for public exponents only.
//!
//! Nothing here allocates except the tables of [`FixedBase`]. The only branches and memory
//! addresses that depend on anything are those on public values: the limb count, the declared
//! bit length, and (in the `_vartime` functions) the public exponents.

// All indexing in this module is into fixed-size arrays with loop counters bounded by the
// array's const length (or by the lengths checked at the top of the function), so it cannot
// panic; `get()` in these loops would cost speed for nothing.
#![allow(clippy::indexing_slicing)]

use crypto_bigint::{BoxedUint, NonZero};
use subtle::{ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroize;

/// Window width of the constant-time exponentiation and of [`FixedBase`].
const WINDOW: u32 = 4;
/// Entries of a window table (digits 0..=15).
const ENTRIES: usize = 1 << WINDOW;
/// Bits per limb.
const LIMB_BITS: u32 = 64;

/// `a - b - borrow` (borrow in {0, 1}) as (difference, borrow out in {0, 1}).
#[inline(always)]
fn sbb(a: u64, b: u64, borrow: u64) -> (u64, u64) {
    let t = u128::from(a)
        .wrapping_sub(u128::from(b))
        .wrapping_sub(u128::from(borrow));
    (t as u64, (t >> 127) as u64)
}

/// A three-word column accumulator (`lo` holds two words, `top` the third).
#[derive(Default)]
struct Acc {
    lo: u128,
    top: u64,
}

impl Acc {
    /// Adds `a·b`.
    #[inline(always)]
    fn add_prod(&mut self, a: u64, b: u64) {
        let (sum, overflow) = self.lo.overflowing_add(u128::from(a) * u128::from(b));
        self.lo = sum;
        self.top += u64::from(overflow);
    }

    /// Adds `2·x` (x's value is below 2^191, so the sum cannot overflow three words).
    #[inline(always)]
    fn add_doubled(&mut self, x: &Acc) {
        let (sum, overflow) = self.lo.overflowing_add(x.lo << 1);
        self.lo = sum;
        self.top += (x.top << 1) + ((x.lo >> 127) as u64) + u64::from(overflow);
    }

    /// Adds another accumulator (the sum stays below 2^192).
    #[inline(always)]
    fn merge(&mut self, x: &Acc) {
        let (sum, overflow) = self.lo.overflowing_add(x.lo);
        self.lo = sum;
        self.top += x.top + u64::from(overflow);
    }

    /// The lowest word.
    #[inline(always)]
    fn low(&self) -> u64 {
        self.lo as u64
    }

    /// Returns the lowest word and shifts the accumulator down by one word.
    #[inline(always)]
    fn shift(&mut self) -> u64 {
        let out = self.lo as u64;
        self.lo = (self.lo >> 64) | (u128::from(self.top) << 64);
        self.top = 0;
        out
    }
}

/// `-p^-1 mod 2^64` for odd `p0` (Newton's iteration; each step doubles the correct bits).
const fn neg_inv(p0: u64) -> u64 {
    let mut inv: u64 = 1;
    let mut i = 0;
    while i < 6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(p0.wrapping_mul(inv)));
        i += 1;
    }
    inv.wrapping_neg()
}

/// The `window`-th `width`-bit digit of the little-endian limbs `e` (digit 0 is the least
/// significant; bits beyond `e` are zero). The limbs read depend on `window` only.
#[inline(always)]
fn digit(e: &[u64], window: u32, width: u32) -> u64 {
    let bit = window * width;
    let index = (bit / LIMB_BITS) as usize;
    let shift = bit % LIMB_BITS;
    let mut d = e.get(index).copied().unwrap_or(0) >> shift;
    if shift + width > LIMB_BITS {
        d |= e.get(index + 1).copied().unwrap_or(0) << (LIMB_BITS - shift);
    }
    d & ((1 << width) - 1)
}

/// `table[index]`, reading every entry and combining them with masks, so that neither the
/// memory accesses nor the branches depend on `index`.
#[inline(always)]
pub(crate) fn select<const N: usize>(table: &[[u64; N]], index: u64) -> [u64; N] {
    let mut out = [0u64; N];
    for (k, entry) in table.iter().enumerate() {
        let hit = (k as u64).ct_eq(&index);
        let mask = u64::conditional_select(&0, &u64::MAX, hit);
        for (o, e) in out.iter_mut().zip(entry) {
            *o |= e & mask;
        }
    }
    out
}

/// The x86-64 Montgomery multiplication with MULX/ADCX/ADOX (BMI2 and ADX), chosen at run
/// time when the processor has them; [`Monty`] falls back to its portable Rust otherwise.
///
/// The assembly is straight-line code plus a loop over the limbs of `a` whose trip count is
/// the (public) limb count: no branch and no memory address depends on the operands' values.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod adx {
    use core::sync::atomic::{AtomicU8, Ordering};

    /// Not yet detected.
    const UNKNOWN: u8 = 0;
    /// Portable Rust.
    const PORTABLE: u8 = 1;
    /// MULX/ADCX/ADOX assembly.
    const ASM: u8 = 2;

    /// The implementation in use (detected on first use, or set by [`set`]).
    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

    /// Whether the processor reports BMI2 and ADX through CPUID.
    fn cpuid_has_adx() -> bool {
        std::is_x86_feature_detected!("bmi2") && std::is_x86_feature_detected!("adx")
    }

    /// Whether Linux reports BMI2 and ADX in `/proc/cpuinfo`: the host's flags, also under
    /// valgrind (whose emulated CPUID hides ADX although it executes ADCX and ADOX).
    fn cpuinfo_has_adx() -> bool {
        std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|info| {
            info.lines()
                .find(|l| l.starts_with("flags"))
                .is_some_and(|flags| {
                    let list: Vec<&str> = flags.split_whitespace().collect();
                    list.contains(&"bmi2") && list.contains(&"adx")
                })
        })
    }

    /// An environment variable that, when set (to anything), keeps the assembly off by
    /// default (for comparisons and debugging; [`set`] still switches it on).
    pub(super) const DISABLE_VAR: &str = "OFFRECORD_CRYPTO_NO_ASM";

    /// Whether the assembly is in use.
    #[inline(always)]
    pub(super) fn enabled() -> bool {
        match STATE.load(Ordering::Relaxed) {
            ASM => true,
            PORTABLE => false,
            _ => {
                let on = cpuid_has_adx() && std::env::var_os(DISABLE_VAR).is_none();
                STATE.store(if on { ASM } else { PORTABLE }, Ordering::Relaxed);
                on
            }
        }
    }

    /// Selects the assembly (`true`, only if the processor has BMI2 and ADX) or the portable
    /// Rust; returns whether the assembly is in use afterwards.
    pub(super) fn set(asm: bool) -> bool {
        let on = asm && (cpuid_has_adx() || cpuinfo_has_adx());
        STATE.store(if on { ASM } else { PORTABLE }, Ordering::Relaxed);
        on
    }

    /// The final conditional subtraction, shared by the products: `t + top·2^(64·n)` (below
    /// `2p`) reduced below `p`, in place in `t` (`n` words at `{t}`), by subtracting `p` and
    /// adding it back times a bit: `borrow - top` is 1 exactly when the value was already
    /// below `p` (`top = 1` always borrows, since the value is below `2p`). The products by
    /// that bit are MULX's, which leave the carry flag alone (an AND would clear it).
    /// Clobbers `{lo}`, `{h0}` and `%rdx`; `{top}` becomes the bit.
    macro_rules! reduce_tail {
        () => {
            concat!(
                "movq ({t}), {lo}\n",
                "subq ({p}), {lo}\n",
                "movq {lo}, ({t})\n",
                ".set omx_j, 1\n",
                ".rept {n} - 1\n",
                "movq 8*omx_j({t}), {lo}\n",
                "sbbq 8*omx_j({p}), {lo}\n",
                "movq {lo}, 8*omx_j({t})\n",
                ".set omx_j, omx_j + 1\n",
                ".endr\n",
                "sbbq $0, {top}\n",
                "negq {top}\n",
                "movq {top}, %rdx\n",
                "mulxq ({p}), {lo}, {h0}\n",
                "addq {lo}, ({t})\n",
                ".set omx_j, 1\n",
                ".rept {n} - 1\n",
                "mulxq 8*omx_j({p}), {lo}, {h0}\n",
                "adcq {lo}, 8*omx_j({t})\n",
                ".set omx_j, omx_j + 1\n",
                ".endr\n",
            )
        };
    }

    /// Defines `$name(out, a, b, p, n0)`: `out = a·b·2^(-64·$n) mod p` for `a, b < p`, by
    /// CIOS (each row adds `a[i]·b`, then `m·p` with `m = t[0]·n0`, and shifts by a word),
    /// with `out` as the running value (below `2p` with the word `top`). `$n` is even and at
    /// least 4.
    macro_rules! mont_mul {
        ($name:ident, $n:literal) => {
            /// The Montgomery product (see the macro); requires BMI2 and ADX ([`enabled`]).
            #[inline(never)]
            fn $name(out: &mut [u64; $n], a: &[u64; $n], b: &[u64; $n], p: &[u64; $n], n0: u64) {
                *out = [0u64; $n];
                // SAFETY: `enabled()` (checked by the only caller) established that the
                // processor executes MULX, ADCX and ADOX. The assembly reads `a`, `b` and `p`
                // and reads and writes `out` (`$n` words each) only, at offsets below `$n`
                // words; it uses no stack and changes no register but its declared outputs and
                // clobbers (flags are clobbered by default).
                unsafe {
                    core::arch::asm!(
                        ".p2align 5",
                        "2:",
                        // First half: t += a[i]·b (CF chain: t[j]; OF chain: high words).
                        "movq ({ae},{i},8), %rdx",
                        "xorl {zero:e}, {zero:e}",
                        "mulxq ({b}), {lo}, {h0}",
                        "adcxq ({t}), {lo}",
                        "movq {lo}, ({t})",
                        ".set omx_j, 1",
                        ".rept ({n} - 2) / 2",
                        "mulxq 8*omx_j({b}), {lo}, {h1}",
                        "adcxq 8*omx_j({t}), {lo}",
                        "adoxq {h0}, {lo}",
                        "movq {lo}, 8*omx_j({t})",
                        "mulxq 8*omx_j+8({b}), {lo}, {h0}",
                        "adcxq 8*omx_j+8({t}), {lo}",
                        "adoxq {h1}, {lo}",
                        "movq {lo}, 8*omx_j+8({t})",
                        ".set omx_j, omx_j + 2",
                        ".endr",
                        "mulxq 8*omx_j({b}), {lo}, {h1}",
                        "adcxq 8*omx_j({t}), {lo}",
                        "adoxq {h0}, {lo}",
                        "movq {lo}, 8*omx_j({t})",
                        // t[n] = top + h + CF + OF; its carry, t[n+1], in `c2`.
                        "adoxq {zero}, {h1}",
                        "adcxq {top}, {h1}",
                        "movq {h1}, {top}",
                        "movq $0, {c2}",
                        "adcxq {zero}, {c2}",
                        // Second half: m = t[0]·n0, t = (t + m·p) / 2^64.
                        "movq ({t}), %rdx",
                        "imulq {n0}, %rdx",
                        "xorl {zero:e}, {zero:e}",
                        "mulxq ({p}), {lo}, {h0}",
                        "adcxq ({t}), {lo}",
                        ".set omx_j, 1",
                        ".rept ({n} - 2) / 2",
                        "mulxq 8*omx_j({p}), {lo}, {h1}",
                        "adcxq 8*omx_j({t}), {lo}",
                        "adoxq {h0}, {lo}",
                        "movq {lo}, 8*omx_j-8({t})",
                        "mulxq 8*omx_j+8({p}), {lo}, {h0}",
                        "adcxq 8*omx_j+8({t}), {lo}",
                        "adoxq {h1}, {lo}",
                        "movq {lo}, 8*omx_j({t})",
                        ".set omx_j, omx_j + 2",
                        ".endr",
                        "mulxq 8*omx_j({p}), {lo}, {h1}",
                        "adcxq 8*omx_j({t}), {lo}",
                        "adoxq {h0}, {lo}",
                        "movq {lo}, 8*omx_j-8({t})",
                        "adoxq {zero}, {h1}",
                        "adcxq {top}, {h1}",
                        "movq {h1}, 8*omx_j({t})",
                        "adcxq {zero}, {c2}",
                        "movq {c2}, {top}",
                        "incq {i}",
                        "jnz 2b",
                        reduce_tail!(),
                        n = const $n,
                        ae = in(reg) a.as_ptr_range().end,
                        i = inout(reg) -($n as i64) => _,
                        b = in(reg) b.as_ptr(),
                        p = in(reg) p.as_ptr(),
                        t = in(reg) out.as_mut_ptr(),
                        n0 = in(reg) n0,
                        top = inout(reg) 0u64 => _,
                        c2 = out(reg) _,
                        zero = out(reg) _,
                        lo = out(reg) _,
                        h0 = out(reg) _,
                        h1 = out(reg) _,
                        out("rdx") _,
                        options(att_syntax, nostack),
                    );
                }
            }
        };
    }

    /// Defines `$name(out, a, p, n0)`: `out = a²·2^(-64·$n) mod p` for `a < p`: the cross
    /// products `a[i]·a[j]` (`i < j`) once, doubled, plus the squares `a[i]²`, then a separate
    /// Montgomery reduction of the double-length value, whose buffer is wiped at the end.
    /// `$n` is even and at least 4.
    macro_rules! mont_sqr {
        ($name:ident, $n:literal) => {
            /// The Montgomery square (see the macro); requires BMI2 and ADX ([`enabled`]).
            #[inline(never)]
            fn $name(out: &mut [u64; $n], a: &[u64; $n], p: &[u64; $n], n0: u64) {
                let mut t = [0u64; 2 * $n];
                // SAFETY: `enabled()` (checked by the only caller) established that the
                // processor executes MULX, ADCX and ADOX. The assembly reads `a` and `p`
                // (`$n` words each), writes `out` (`$n` words) and reads and writes `t`
                // (`2·$n` words) only, at offsets below those lengths (row `i` of the
                // reduction touches t[i..=i+$n], i < $n); it uses no stack and changes no
                // register but its declared outputs and clobbers (flags are clobbered by
                // default).
                unsafe {
                    core::arch::asm!(
                        // 1. Cross products: row i adds a[i]·a[i+1..n] into t[2i+1..=i+n].
                        ".set omx_i, 0",
                        ".rept {n} - 1",
                        ".set omx_l, {n} - 1 - omx_i",
                        "movq 8*omx_i({a}), %rdx",
                        "xorl {zero:e}, {zero:e}",
                        "mulxq 8*omx_i+8({a}), {lo}, {h0}",
                        "adcxq 16*omx_i+8({t}), {lo}",
                        "movq {lo}, 16*omx_i+8({t})",
                        ".set omx_j, omx_i + 2",
                        ".rept (omx_l - 1) / 2",
                        "mulxq 8*omx_j({a}), {lo}, {h1}",
                        "adcxq 8*omx_i+8*omx_j({t}), {lo}",
                        "adoxq {h0}, {lo}",
                        "movq {lo}, 8*omx_i+8*omx_j({t})",
                        "mulxq 8*omx_j+8({a}), {lo}, {h0}",
                        "adcxq 8*omx_i+8*omx_j+8({t}), {lo}",
                        "adoxq {h1}, {lo}",
                        "movq {lo}, 8*omx_i+8*omx_j+8({t})",
                        ".set omx_j, omx_j + 2",
                        ".endr",
                        ".if (omx_l - 1) & 1",
                        "mulxq 8*omx_j({a}), {lo}, {h1}",
                        "adcxq 8*omx_i+8*omx_j({t}), {lo}",
                        "adoxq {h0}, {lo}",
                        "movq {lo}, 8*omx_i+8*omx_j({t})",
                        "adcxq {zero}, {h1}",
                        "adoxq {zero}, {h1}",
                        "movq {h1}, 8*omx_i+8*{n}({t})",
                        ".else",
                        "adcxq {zero}, {h0}",
                        "adoxq {zero}, {h0}",
                        "movq {h0}, 8*omx_i+8*{n}({t})",
                        ".endif",
                        ".set omx_i, omx_i + 1",
                        ".endr",
                        // 2. t = 2·t + Σ a[k]²·2^(128k) (CF chain: doubling; OF: squares).
                        "xorl {zero:e}, {zero:e}",
                        ".set omx_k, 0",
                        ".rept {n}",
                        "movq 8*omx_k({a}), %rdx",
                        "mulxq %rdx, {h0}, {h1}",
                        "movq 16*omx_k({t}), {lo}",
                        "movq 16*omx_k+8({t}), %rdx",
                        "adcxq {lo}, {lo}",
                        "adcxq %rdx, %rdx",
                        "adoxq {h0}, {lo}",
                        "adoxq {h1}, %rdx",
                        "movq {lo}, 16*omx_k({t})",
                        "movq %rdx, 16*omx_k+8({t})",
                        ".set omx_k, omx_k + 1",
                        ".endr",
                        // 3. Montgomery reduction: row i adds m·p to t[i..i+n] (m = t[i]·n0)
                        //    and its carries to t[i+n], with the carry word `top`.
                        "xorl {top:e}, {top:e}",
                        ".p2align 5",
                        "2:",
                        "movq ({t}), %rdx",
                        "imulq {n0}, %rdx",
                        "xorl {zero:e}, {zero:e}",
                        "mulxq ({p}), {lo}, {h0}",
                        "adcxq ({t}), {lo}",
                        ".set omx_j, 1",
                        ".rept ({n} - 2) / 2",
                        "mulxq 8*omx_j({p}), {lo}, {h1}",
                        "adcxq 8*omx_j({t}), {lo}",
                        "adoxq {h0}, {lo}",
                        "movq {lo}, 8*omx_j({t})",
                        "mulxq 8*omx_j+8({p}), {lo}, {h0}",
                        "adcxq 8*omx_j+8({t}), {lo}",
                        "adoxq {h1}, {lo}",
                        "movq {lo}, 8*omx_j+8({t})",
                        ".set omx_j, omx_j + 2",
                        ".endr",
                        "mulxq 8*omx_j({p}), {lo}, {h1}",
                        "adcxq 8*omx_j({t}), {lo}",
                        "adoxq {h0}, {lo}",
                        "movq {lo}, 8*omx_j({t})",
                        "adoxq {top}, {h1}",
                        "adcxq 8*{n}({t}), {h1}",
                        "movq {h1}, 8*{n}({t})",
                        "movq $0, {top}",
                        "adcxq {zero}, {top}",
                        "adoxq {zero}, {top}",
                        "addq $8, {t}",
                        "decq {cnt}",
                        "jnz 2b",
                        // 4. The high half (now at `t`) minus p into `out`, then p added back
                        //    times the bit `borrow - top` (see `reduce_tail`).
                        "movq ({t}), {lo}",
                        "subq ({p}), {lo}",
                        "movq {lo}, ({o})",
                        ".set omx_j, 1",
                        ".rept {n} - 1",
                        "movq 8*omx_j({t}), {lo}",
                        "sbbq 8*omx_j({p}), {lo}",
                        "movq {lo}, 8*omx_j({o})",
                        ".set omx_j, omx_j + 1",
                        ".endr",
                        "sbbq $0, {top}",
                        "negq {top}",
                        "movq {top}, %rdx",
                        "mulxq ({p}), {lo}, {h0}",
                        "addq {lo}, ({o})",
                        ".set omx_j, 1",
                        ".rept {n} - 1",
                        "mulxq 8*omx_j({p}), {lo}, {h0}",
                        "adcq {lo}, 8*omx_j({o})",
                        ".set omx_j, omx_j + 1",
                        ".endr",
                        // 5. Wipe the double-length buffer (it starts n words back).
                        ".set omx_j, 0",
                        ".rept 2 * {n}",
                        "movq {zero}, 8*omx_j-8*{n}({t})",
                        ".set omx_j, omx_j + 1",
                        ".endr",
                        n = const $n,
                        a = in(reg) a.as_ptr(),
                        p = in(reg) p.as_ptr(),
                        o = in(reg) out.as_mut_ptr(),
                        t = inout(reg) t.as_mut_ptr() => _,
                        n0 = in(reg) n0,
                        cnt = inout(reg) $n as u64 => _,
                        top = out(reg) _,
                        zero = out(reg) _,
                        lo = out(reg) _,
                        h0 = out(reg) _,
                        h1 = out(reg) _,
                        out("rdx") _,
                        options(att_syntax, nostack),
                    );
                }
            }
        };
    }

    mont_mul!(mul_24, 24);
    mont_mul!(mul_16, 16);
    mont_sqr!(sqr_24, 24);
    mont_sqr!(sqr_16, 16);

    /// `a·b·R^-1 mod p` with the assembly, for the limb counts it has (24 and 16) when it is
    /// [`enabled`]; `None` otherwise.
    #[inline(always)]
    pub(super) fn mul<const N: usize>(
        a: &[u64; N],
        b: &[u64; N],
        p: &[u64; N],
        n0: u64,
    ) -> Option<[u64; N]> {
        if (N != 24 && N != 16) || !enabled() {
            return None;
        }
        let mut out = [0u64; N];
        if N == 24 {
            mul_24(
                out.as_mut_slice().try_into().ok()?,
                a.as_slice().try_into().ok()?,
                b.as_slice().try_into().ok()?,
                p.as_slice().try_into().ok()?,
                n0,
            );
        } else {
            mul_16(
                out.as_mut_slice().try_into().ok()?,
                a.as_slice().try_into().ok()?,
                b.as_slice().try_into().ok()?,
                p.as_slice().try_into().ok()?,
                n0,
            );
        }
        Some(out)
    }

    /// `a²·R^-1 mod p` with the assembly, for the limb counts it has (24 and 16) when it is
    /// [`enabled`]; `None` otherwise.
    #[inline(always)]
    pub(super) fn sqr<const N: usize>(a: &[u64; N], p: &[u64; N], n0: u64) -> Option<[u64; N]> {
        if (N != 24 && N != 16) || !enabled() {
            return None;
        }
        let mut out = [0u64; N];
        if N == 24 {
            sqr_24(
                out.as_mut_slice().try_into().ok()?,
                a.as_slice().try_into().ok()?,
                p.as_slice().try_into().ok()?,
                n0,
            );
        } else {
            sqr_16(
                out.as_mut_slice().try_into().ok()?,
                a.as_slice().try_into().ok()?,
                p.as_slice().try_into().ok()?,
                n0,
            );
        }
        Some(out)
    }
}

/// The portable stand-in on other architectures: never used.
#[cfg(not(target_arch = "x86_64"))]
mod adx {
    /// Never.
    #[inline(always)]
    pub(super) fn enabled() -> bool {
        false
    }

    /// Not available.
    pub(super) fn set(_asm: bool) -> bool {
        false
    }

    /// Not available.
    #[inline(always)]
    pub(super) fn sqr<const N: usize>(_a: &[u64; N], _p: &[u64; N], _n0: u64) -> Option<[u64; N]> {
        None
    }

    /// Not available.
    #[inline(always)]
    pub(super) fn mul<const N: usize>(
        _a: &[u64; N],
        _b: &[u64; N],
        _p: &[u64; N],
        _n0: u64,
    ) -> Option<[u64; N]> {
        None
    }
}

/// Selects the MULX/ADCX/ADOX assembly (`true`; only if the processor has BMI2 and ADX) or the
/// portable Rust (`false`) for all Montgomery products; returns whether the assembly is in use.
pub(crate) fn use_asm(asm: bool) -> bool {
    adx::set(asm)
}

/// Whether the MULX/ADCX/ADOX assembly is in use.
pub(crate) fn asm_in_use() -> bool {
    adx::enabled()
}

/// Montgomery arithmetic modulo an odd `p < 2^(64·N)`.
#[derive(Clone)]
pub(crate) struct Monty<const N: usize> {
    /// The modulus, little-endian limbs.
    p: [u64; N],
    /// `-p^-1 mod 2^64`.
    n0: u64,

    /// `R^2 mod p`, to enter Montgomery form.
    r2: [u64; N],
    /// `R mod p`: one in Montgomery form.
    one: [u64; N],
}

impl<const N: usize> Monty<N> {
    /// Parameters for `p` (little-endian limbs). `None` unless `p` is odd and at least 3.
    pub(crate) fn new(p: [u64; N]) -> Option<Self> {
        if N == 0 || p[0] & 1 == 0 || (p[1..].iter().all(|l| *l == 0) && p[0] < 3) {
            return None;
        }
        let n0 = neg_inv(p[0]);
        // R mod p: one division (setup only; variable time in the public p).
        let mut r_words = vec![0u64; N + 1];
        if let Some(top) = r_words.last_mut() {
            *top = 1;
        }
        let p_boxed = NonZero::new(BoxedUint::from_words(p)).into_option()?;
        let one = limbs_of(&BoxedUint::from_words(r_words).rem_vartime(&p_boxed));
        let mut monty = Self {
            p,
            n0,
            r2: [0u64; N],
            one,
        };
        // R^2 mod p = (2 in Montgomery form)^(64·N), computed with Montgomery products only
        // (they do not need r2): 2·R mod p is one doubled.
        let two = Self::double_mod(&one, &p);
        monty.r2 = monty.multi_pow_vartime(&[(&two, &[N as u64 * u64::from(LIMB_BITS)])]);
        Some(monty)
    }

    /// Parameters for a public modulus given as a `BoxedUint` of at most `64·N` bits.
    pub(crate) fn from_boxed(p: &BoxedUint) -> Option<Self> {
        let words = p.as_words();
        if words.iter().skip(N).any(|w| *w != 0) {
            return None;
        }
        let mut limbs = [0u64; N];
        for (l, w) in limbs.iter_mut().zip(words) {
            *l = *w;
        }
        Self::new(limbs)
    }

    /// `2x mod p` for `x < p` (setup helper).
    fn double_mod(x: &[u64; N], p: &[u64; N]) -> [u64; N] {
        let mut d = [0u64; N];
        let mut top = 0;
        for (o, l) in d.iter_mut().zip(x) {
            *o = (l << 1) | top;
            top = l >> 63;
        }
        Self::reduce_once(d, top, p)
    }

    /// `(hi·2^(64N) + t) mod p` for a value below `2p`, by a masked subtraction.
    #[inline(always)]
    fn reduce_once(t: [u64; N], hi: u64, p: &[u64; N]) -> [u64; N] {
        let mut d = [0u64; N];
        let mut borrow = 0;
        for j in 0..N {
            (d[j], borrow) = sbb(t[j], p[j], borrow);
        }
        // Subtract when hi = 1 or when t - p did not borrow.
        let keep_t = (borrow & !hi & 1).wrapping_neg();
        let mut out = [0u64; N];
        for j in 0..N {
            out[j] = (t[j] & keep_t) | (d[j] & !keep_t);
        }
        out
    }

    /// `a·b·R^-1 mod p` for `a, b < p`: product scanning with the Montgomery reduction
    /// interleaved column by column (the "FIPS" method). Each column's products go into
    /// three-word accumulators, so no carry is propagated along a row; the products of `a·b`
    /// and those of the reduction `m·p` use two accumulators, two independent dependency
    /// chains for the processor to overlap.
    #[inline(always)]
    pub(crate) fn mul(&self, a: &[u64; N], b: &[u64; N]) -> [u64; N] {
        adx::mul(a, b, &self.p, self.n0).unwrap_or_else(|| self.mul_portable(a, b))
    }

    /// [`Monty::mul`] in portable Rust.
    #[inline(never)]
    pub(crate) fn mul_portable(&self, a: &[u64; N], b: &[u64; N]) -> [u64; N] {
        let p = &self.p;
        let mut m = [0u64; N];
        let mut acc = Acc::default();
        for i in 0..N {
            let mut red = Acc::default();
            for j in 0..i {
                acc.add_prod(a[j], b[i - j]);
                red.add_prod(m[j], p[i - j]);
            }
            acc.add_prod(a[i], b[0]);
            acc.merge(&red);
            let mi = acc.low().wrapping_mul(self.n0);
            m[i] = mi;
            acc.add_prod(mi, p[0]);
            acc.shift();
        }
        let mut t = [0u64; N];
        for i in N..2 * N - 1 {
            let mut red = Acc::default();
            for j in i + 1 - N..N {
                acc.add_prod(a[j], b[i - j]);
                red.add_prod(m[j], p[i - j]);
            }
            acc.merge(&red);
            t[i - N] = acc.shift();
        }
        t[N - 1] = acc.shift();
        let hi = acc.low();
        m.zeroize();
        Self::reduce_once(t, hi, p)
    }

    /// `a^2·R^-1 mod p` for `a < p`: like [`Monty::mul`], but each column's cross products
    /// `a[j]·a[i-j]` (`j < i-j`) are computed once and doubled. (A single accumulator for
    /// the reduction measured faster here than two.)
    #[inline(always)]
    pub(crate) fn sqr(&self, a: &[u64; N]) -> [u64; N] {
        adx::sqr(a, &self.p, self.n0).unwrap_or_else(|| self.sqr_portable(a))
    }

    /// [`Monty::sqr`] in portable Rust.
    #[inline(never)]
    pub(crate) fn sqr_portable(&self, a: &[u64; N]) -> [u64; N] {
        let p = &self.p;
        let mut m = [0u64; N];
        let mut acc = Acc::default();
        for i in 0..N {
            let mut cross = Acc::default();
            let mut j = 0;
            while 2 * j < i {
                cross.add_prod(a[j], a[i - j]);
                j += 1;
            }
            acc.add_doubled(&cross);
            if i % 2 == 0 {
                acc.add_prod(a[i / 2], a[i / 2]);
            }
            for j in 0..i {
                acc.add_prod(m[j], p[i - j]);
            }
            let mi = acc.low().wrapping_mul(self.n0);
            m[i] = mi;
            acc.add_prod(mi, p[0]);
            acc.shift();
        }
        let mut t = [0u64; N];
        for i in N..2 * N - 1 {
            let mut cross = Acc::default();
            let mut j = i + 1 - N;
            while 2 * j < i {
                cross.add_prod(a[j], a[i - j]);
                j += 1;
            }
            acc.add_doubled(&cross);
            if i % 2 == 0 {
                acc.add_prod(a[i / 2], a[i / 2]);
            }
            for j in i + 1 - N..N {
                acc.add_prod(m[j], p[i - j]);
            }
            t[i - N] = acc.shift();
        }
        t[N - 1] = acc.shift();
        let hi = acc.low();
        m.zeroize();
        Self::reduce_once(t, hi, p)
    }

    /// `x` (below `p`, little-endian limbs) into Montgomery form.
    pub(crate) fn enter(&self, x: &[u64; N]) -> [u64; N] {
        self.mul(x, &self.r2)
    }

    /// `x` out of Montgomery form.
    pub(crate) fn retrieve(&self, x: &[u64; N]) -> [u64; N] {
        let mut one = [0u64; N];
        one[0] = 1;
        self.mul(x, &one)
    }

    /// The window table `base^0 .. base^15` (Montgomery form).
    #[inline]
    fn window_table(&self, base: &[u64; N]) -> [[u64; N]; ENTRIES] {
        let mut table = [[0u64; N]; ENTRIES];
        table[0] = self.one;
        table[1] = *base;
        for k in 2..ENTRIES {
            table[k] = if k % 2 == 0 {
                self.sqr(&table[k / 2])
            } else {
                self.mul(&table[k - 1], base)
            };
        }
        table
    }

    /// `base^e` (Montgomery form in and out) for a secret exponent `e` (little-endian limbs),
    /// in constant time: exactly `bits` squarings and `ceil(bits/4)` multiplications by a
    /// table entry read with [`select`], whatever the value of `e`. Bits of `e` at or above
    /// `bits` are ignored; `bits` is public (the exponent's declared length).
    pub(crate) fn pow_ct(&self, base: &[u64; N], e: &[u64], bits: u32) -> [u64; N] {
        let mut table = self.window_table(base);
        let out = self.pow_ct_with_table(&table, e, bits);
        table.zeroize();
        out
    }

    /// [`Monty::pow_ct`] with a precomputed [`Monty::window_table`].
    fn pow_ct_with_table(&self, table: &[[u64; N]; ENTRIES], e: &[u64], bits: u32) -> [u64; N] {
        let windows = bits.div_ceil(WINDOW);
        if windows == 0 {
            return self.one;
        }
        // The top window may be partial: mask off the bits at or above `bits`.
        let top = windows - 1;
        let top_bits = bits - top * WINDOW;
        let top_digit = digit(e, top, WINDOW) & ((1 << top_bits) - 1);
        let mut acc = select(table, top_digit);
        for window in (0..top).rev() {
            for _ in 0..WINDOW {
                acc = self.sqr(&acc);
            }
            let mut entry = select(table, digit(e, window, WINDOW));
            acc = self.mul(&acc, &entry);
            entry.zeroize();
        }
        acc
    }

    /// `a^e1 · b^e2` for two secret exponents of declared lengths `bits` (shared squarings),
    /// constant time in `e1`, `e2`, `a` and `b`.
    pub(crate) fn pow2_ct(
        &self,
        a: &[u64; N],
        e1: &[u64],
        b: &[u64; N],
        e2: &[u64],
        bits: u32,
    ) -> [u64; N] {
        let mut ta = self.window_table(a);
        let mut tb = self.window_table(b);
        let windows = bits.div_ceil(WINDOW);
        let mut acc = self.one;
        for window in (0..windows).rev() {
            if window + 1 != windows {
                for _ in 0..WINDOW {
                    acc = self.sqr(&acc);
                }
            }
            let mask = if window + 1 == windows {
                (1 << (bits - window * WINDOW)) - 1
            } else {
                u64::MAX
            };
            let mut x = select(&ta, digit(e1, window, WINDOW) & mask);
            acc = self.mul(&acc, &x);
            x = select(&tb, digit(e2, window, WINDOW) & mask);
            acc = self.mul(&acc, &x);
            x.zeroize();
        }
        ta.zeroize();
        tb.zeroize();
        acc
    }

    /// `base^e` (Montgomery form) for a public exponent: 4-bit windows, skipping zero digits
    /// and leading zeros. Variable time in `e`; constant time in `base`.
    #[cfg(test)]
    pub(crate) fn pow_vartime(&self, base: &[u64; N], e: &[u64]) -> [u64; N] {
        self.multi_pow_vartime(&[(base, e)])
    }

    /// `Π base_i^e_i` (Montgomery form) for public exponents: Straus's simultaneous
    /// exponentiation with 4-bit windows (one chain of squarings). Variable time in the
    /// exponents only. An empty product is one.
    pub(crate) fn multi_pow_vartime(&self, terms: &[(&[u64; N], &[u64])]) -> [u64; N] {
        let bits = terms
            .iter()
            .map(|(_, e)| bit_len_vartime(e))
            .max()
            .unwrap_or(0);
        let mut tables: Vec<[[u64; N]; ENTRIES]> =
            terms.iter().map(|(b, _)| self.window_table(b)).collect();
        let mut acc: Option<[u64; N]> = None;
        for window in (0..bits.div_ceil(WINDOW)).rev() {
            if let Some(a) = acc.as_mut() {
                for _ in 0..WINDOW {
                    *a = self.sqr(a);
                }
            }
            for ((_, e), table) in terms.iter().zip(&tables) {
                let d = digit(e, window, WINDOW) as usize;
                if d == 0 {
                    continue;
                }
                let entry = &table[d];
                acc = Some(match acc {
                    Some(a) => self.mul(&a, entry),
                    None => *entry,
                });
            }
        }
        for t in &mut tables {
            t.zeroize();
        }
        acc.unwrap_or(self.one)
    }
}

/// Bit length of little-endian limbs (variable time: public values only).
pub(crate) fn bit_len_vartime(e: &[u64]) -> u32 {
    e.iter().rposition(|l| *l != 0).map_or(0, |i| {
        i as u32 * LIMB_BITS + (LIMB_BITS - e[i].leading_zeros())
    })
}

/// Precomputed powers `b^(d·16^i)` (`d` in 0..16, `i` below `windows`) of a fixed base `b`,
/// in Montgomery form: `b^e` then costs one multiplication per 4-bit window of `e`.
pub(crate) struct FixedBase<const N: usize> {
    /// `tables[i][d] = b^(d·16^i)`.
    tables: Vec<[[u64; N]; ENTRIES]>,
}

impl<const N: usize> FixedBase<N> {
    /// Tables for exponents of up to `bits` bits.
    pub(crate) fn new(monty: &Monty<N>, base: &[u64; N], bits: u32) -> Self {
        let windows = bits.div_ceil(WINDOW) as usize;
        let mut tables = Vec::with_capacity(windows);
        let mut b = *base;
        for _ in 0..windows {
            let table = monty.window_table(&b);
            // Next window's base: b^16 = (b^8)^2.
            b = monty.sqr(&table[ENTRIES / 2]);
            tables.push(table);
        }
        Self { tables }
    }

    /// Largest exponent length (bits) the tables cover.
    pub(crate) fn max_bits(&self) -> u32 {
        self.tables.len() as u32 * WINDOW
    }

    /// `b^e` (Montgomery form) for a secret exponent of declared length `bits` (at most
    /// [`FixedBase::max_bits`]; extra bits of `e` are ignored): `ceil(bits/4)` table scans and
    /// multiplications, whatever the value of `e`.
    pub(crate) fn pow_ct(&self, monty: &Monty<N>, e: &[u64], bits: u32) -> [u64; N] {
        let windows = bits.div_ceil(WINDOW);
        let mut acc = monty.one;
        for (window, table) in (0..windows).zip(&self.tables) {
            let mask = if window + 1 == windows {
                (1 << (bits - window * WINDOW)) - 1
            } else {
                u64::MAX
            };
            let mut entry = select(table, digit(e, window, WINDOW) & mask);
            acc = monty.mul(&acc, &entry);
            entry.zeroize();
        }
        acc
    }
}

impl<const N: usize> FixedBase<N> {
    /// `b^e` (Montgomery form) for a public exponent: skips zero windows, so variable time in
    /// `e`. Windows beyond [`FixedBase::max_bits`] are ignored (callers check the length).
    pub(crate) fn pow_vartime(&self, monty: &Monty<N>, e: &[u64]) -> [u64; N] {
        let windows = bit_len_vartime(e).div_ceil(WINDOW);
        let mut acc: Option<[u64; N]> = None;
        for (window, table) in (0..windows).zip(&self.tables) {
            let d = digit(e, window, WINDOW) as usize;
            if d != 0 {
                acc = Some(match acc {
                    Some(a) => monty.mul(&a, &table[d]),
                    None => table[d],
                });
            }
        }
        acc.unwrap_or(monty.one)
    }
}

/// Limbs of a `BoxedUint` into a fixed array (truncating above `64·N` bits; zero-extending).
pub(crate) fn limbs_of<const N: usize>(x: &BoxedUint) -> [u64; N] {
    let mut out = [0u64; N];
    for (o, w) in out.iter_mut().zip(x.as_words()) {
        *o = *w;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{dh, num};
    use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
    use crypto_bigint::{NonZero, Odd};
    use proptest::prelude::*;

    const N: usize = 24;

    fn p_boxed() -> BoxedUint {
        num::from_be(dh::modulus(), 1536)
    }

    fn monty() -> Monty<N> {
        Monty::from_boxed(&p_boxed()).unwrap()
    }

    fn boxed(x: &[u64; N]) -> BoxedUint {
        BoxedUint::from_words(*x)
    }

    /// Reference: crypto-bigint's `BoxedMontyForm::pow` (a different implementation).
    fn reference_pow(base: &BoxedUint, e: &BoxedUint) -> BoxedUint {
        let params = BoxedMontyParams::new_vartime(Odd::new(p_boxed()).unwrap());
        BoxedMontyForm::new(base.clone(), &params).pow(e).retrieve()
    }

    fn reduce(x: [u64; N]) -> [u64; N] {
        let p = NonZero::new(p_boxed()).unwrap();
        limbs_of(&boxed(&x).rem_vartime(&p))
    }

    fn edge_values() -> Vec<[u64; N]> {
        let p = limbs_of::<N>(&p_boxed());
        let mut p1 = p;
        p1[0] -= 1;
        let mut p2 = p;
        p2[0] -= 2;
        let mut one = [0u64; N];
        one[0] = 1;
        let mut two = [0u64; N];
        two[0] = 2;
        vec![[0u64; N], one, two, p1, p2, [u64::MAX >> 1; N]]
            .into_iter()
            .map(reduce)
            .collect()
    }

    fn check_pow(m: &Monty<N>, base: [u64; N], e: &[u64], bits: u32) {
        let e_boxed = BoxedUint::from_words(e.to_vec());
        let expected = reference_pow(&boxed(&base), &e_boxed);
        let b = m.enter(&base);
        let ct = m.retrieve(&m.pow_ct(&b, e, bits));
        assert_eq!(boxed(&ct), expected, "pow_ct");
        let vt = m.retrieve(&m.pow_vartime(&b, e));
        assert_eq!(boxed(&vt), expected, "pow_vartime");
    }

    #[test]
    fn mul_and_sqr_match_reference() {
        let m = monty();
        let p = NonZero::new(p_boxed()).unwrap();
        for a in edge_values() {
            for b in edge_values() {
                let prod = m.retrieve(&m.mul(&m.enter(&a), &m.enter(&b)));
                assert_eq!(boxed(&prod), boxed(&a).mul_mod(&boxed(&b), &p));
            }
            let sq = m.retrieve(&m.sqr(&m.enter(&a)));
            assert_eq!(boxed(&sq), boxed(&a).mul_mod(&boxed(&a), &p));
            let sq = m.retrieve(&m.sqr_portable(&m.enter(&a)));
            assert_eq!(boxed(&sq), boxed(&a).mul_mod(&boxed(&a), &p));
        }
    }

    #[test]
    fn edge_exponents() {
        let m = monty();
        let p = limbs_of::<N>(&p_boxed());
        let mut p1 = p;
        p1[0] -= 1;
        for base in edge_values() {
            check_pow(&m, base, &[0], 0);
            check_pow(&m, base, &[0; 5], 320);
            check_pow(&m, base, &[1], 64);
            check_pow(&m, base, &[u64::MAX; 5], 320);
            check_pow(&m, base, &p1, 1536);
            check_pow(&m, base, &[u64::MAX; N], 1536);
        }
    }

    #[test]
    fn small_modulus() {
        // A 1024-bit-limb-count modulus with a small value still works (DSA keys of odd sizes).
        let mut p = [0u64; 16];
        p[0] = 1_000_003;
        let m = Monty::new(p).unwrap();
        let mut base = [0u64; 16];
        base[0] = 12345;
        let r = m.retrieve(&m.pow_ct(&m.enter(&base), &[1_000_001], 64));
        // Fermat: base^(p-2) = base^-1, so base · r = 1.
        let check = m.retrieve(&m.mul(&m.enter(&base), &m.enter(&r)));
        assert_eq!(check[0], 1);
        assert!(Monty::<16>::new([0; 16]).is_none());
        let mut even = [0u64; 16];
        even[0] = 10;
        assert!(Monty::new(even).is_none());
    }

    /// A DSA-sized (16-limb) odd modulus with its top bit set, from arbitrary limbs.
    fn modulus_16(mut p: [u64; 16]) -> [u64; 16] {
        p[0] |= 1;
        p[15] |= 1 << 63;
        p
    }

    fn below<const M: usize>(x: [u64; M], p: &[u64; M]) -> [u64; M] {
        let p = NonZero::new(BoxedUint::from_words(*p)).unwrap();
        limbs_of(&BoxedUint::from_words(x).rem_vartime(&p))
    }

    #[test]
    fn assembly_is_used_when_the_cpu_has_it() {
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            asm_in_use(),
            std::is_x86_feature_detected!("bmi2")
                && std::is_x86_feature_detected!("adx")
                && std::env::var_os(adx::DISABLE_VAR).is_none()
        );
        #[cfg(not(target_arch = "x86_64"))]
        assert!(!asm_in_use());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn dispatched_products_match_portable(a in prop::array::uniform24(any::<u64>()),
                                              b in prop::array::uniform24(any::<u64>()),
                                              c in prop::array::uniform16(any::<u64>()),
                                              d in prop::array::uniform16(any::<u64>()),
                                              q in prop::array::uniform16(any::<u64>())) {
            let m = monty();
            let (a, b) = (reduce(a), reduce(b));
            prop_assert_eq!(m.mul(&a, &b), m.mul_portable(&a, &b));
            prop_assert_eq!(m.sqr(&a), m.sqr_portable(&a));
            for x in edge_values() {
                prop_assert_eq!(m.mul(&x, &a), m.mul_portable(&x, &a));
                prop_assert_eq!(m.sqr(&x), m.sqr_portable(&x));
            }
            let q = modulus_16(q);
            let m16 = Monty::new(q).unwrap();
            let (c, d) = (below(c, &q), below(d, &q));
            let mut q1 = q;
            q1[0] -= 1;
            for x in [c, q1] {
                prop_assert_eq!(m16.mul(&x, &d), m16.mul_portable(&x, &d));
                prop_assert_eq!(m16.sqr(&x), m16.sqr_portable(&x));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn pow_matches_crypto_bigint(base in prop::array::uniform24(any::<u64>()),
                                     e in prop::collection::vec(any::<u64>(), 1..25),
                                     short in any::<bool>()) {
            let m = monty();
            let base = reduce(base);
            let bits = if short { 320.min(e.len() as u32 * 64) } else { e.len() as u32 * 64 };
            let mut e = e;
            e.truncate(bits.div_ceil(64) as usize);
            if let Some(last) = e.last_mut().filter(|_| bits % 64 != 0) {
                *last &= (1u64 << (bits % 64)) - 1;
            }
            check_pow(&m, base, &e, bits);
        }

        #[test]
        fn fixed_base_and_pow2_match(e1 in prop::array::uniform5(any::<u64>()),
                                     e2 in prop::array::uniform5(any::<u64>()),
                                     base in prop::array::uniform24(any::<u64>())) {
            let m = monty();
            let base = m.enter(&reduce(base));
            let mut two = [0u64; N];
            two[0] = 2;
            let g = m.enter(&two);
            let fixed = FixedBase::new(&m, &g, 320);
            prop_assert_eq!(fixed.max_bits(), 320);
            prop_assert_eq!(fixed.pow_ct(&m, &e1, 320), m.pow_ct(&g, &e1, 320));
            prop_assert_eq!(fixed.pow_vartime(&m, &e1), m.pow_ct(&g, &e1, 320));
            prop_assert_eq!(fixed.pow_vartime(&m, &[0, 0, 0, 0, 1 << 63]), m.pow_ct(&g, &[0, 0, 0, 0, 1 << 63], 320));
            let both = m.pow2_ct(&g, &e1, &base, &e2, 320);
            let separate = m.mul(&m.pow_ct(&g, &e1, 320), &m.pow_ct(&base, &e2, 320));
            prop_assert_eq!(both, separate);
            let multi = m.multi_pow_vartime(&[(&g, &e1), (&base, &e2)]);
            prop_assert_eq!(multi, separate);
        }
    }
}

#[cfg(test)]
mod timing {
    use super::*;
    use crate::{dh, num};
    use std::hint::black_box;

    /// Minimum wall time of single calls in ns, over enough calls to take ~50 ms; short calls
    /// are repeated `n` times per sample. The minimum is the figure least disturbed by others.
    fn min_ns(n: u64, mut f: impl FnMut()) -> f64 {
        let start = std::time::Instant::now();
        let mut best = f64::MAX;
        while start.elapsed().as_millis() < 300 {
            let t = std::time::Instant::now();
            for _ in 0..n {
                f();
            }
            best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
        }
        best
    }

    #[test]
    #[ignore = "timing: cargo test --release -p offrecord-crypto mont::timing -- --ignored --nocapture"]
    fn timing_mul_sqr() {
        let m: Monty<24> = Monty::from_boxed(&num::from_be(dh::modulus(), 1536)).unwrap();
        let mut a = m.enter(&[0x1234_5678_9abc_def1; 24].map(|x| x >> 1));
        let b = m.sqr(&a);
        println!("assembly in use: {}", asm_in_use());
        for _ in 0..3 {
            println!("mul: {:.1} ns", min_ns(20, || a = m.mul(black_box(&a), &b)));
            println!("sqr: {:.1} ns", min_ns(20, || a = m.sqr(black_box(&a))));
            println!(
                "mul_portable: {:.1} ns",
                min_ns(20, || a = m.mul_portable(black_box(&a), &b))
            );
            println!(
                "sqr_portable: {:.1} ns",
                min_ns(20, || a = m.sqr_portable(black_box(&a)))
            );
        }
        let table = [a; 16];
        let mut i = 0u64;
        println!(
            "select: {:.1} ns",
            min_ns(20, || {
                i += 1;
                a = select(black_box(&table), i & 15);
            })
        );
        println!(
            "320 sqr + 80 mul: {:.1} us",
            min_ns(1, || {
                for _ in 0..80 {
                    for _ in 0..4 {
                        a = m.sqr(black_box(&a));
                    }
                    a = m.mul(black_box(&a), &b);
                }
            }) / 1e3
        );
        let e = [0xa5a5_5a5a_1234_9876u64; 5];
        println!(
            "pow_ct 320: {:.1} us",
            min_ns(1, || a = m.pow_ct(black_box(&a), &e, 320)) / 1e3
        );
        black_box(a);
    }
}
