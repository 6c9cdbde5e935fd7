//! Adapter from the workspace's RNG traits (`rand_core` 0.10) to the ones rPGP 0.21 takes
//! (`rand` 0.8, that is `rand_core` 0.6).
//!
//! Callers pass any `rand_core::CryptoRng` (0.10), as everywhere else in Offrecord; rPGP
//! draws from it through [`Rng06`]. Nothing else in rPGP draws randomness: every random
//! value in a mail or key this crate makes comes from the caller's RNG, so a seeded RNG makes
//! the output reproducible.

/// Borrows a `rand_core` 0.10 cryptographic RNG and presents it as a `rand_core` 0.6 one.
pub(crate) struct Rng06<'a, R: ?Sized>(pub(crate) &'a mut R);

impl<R: rand_core::CryptoRng + ?Sized> rand_core_06::RngCore for Rng06<'_, R> {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core_06::Error> {
        // A `rand_core` 0.10 `CryptoRng` is infallible.
        self.0.fill_bytes(dest);
        Ok(())
    }
}

impl<R: rand_core::CryptoRng + ?Sized> rand_core_06::CryptoRng for Rng06<'_, R> {}

/// A uniformly distributed value in `0..bound` (`bound > 0`), without modulo bias.
pub(crate) fn below<R: rand_core::CryptoRng + ?Sized>(rng: &mut R, bound: u64) -> u64 {
    if bound == 0 {
        return 0;
    }
    // Reject the top partial block so every residue is equally likely.
    let zone = u64::MAX - (u64::MAX % bound);
    loop {
        let x = rng.next_u64();
        if x < zone {
            return x % bound;
        }
    }
}

/// A MIME boundary of 32 random alphanumeric characters (190 bits).
pub(crate) fn boundary<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..32)
        .map(|_| {
            let i = usize::try_from(below(rng, 62)).unwrap_or(0);
            ALPHABET.get(i).map_or('0', |&c| char::from(c))
        })
        .collect()
}
