//! Rough timings of the expensive operations (not a benchmark harness; use
//! `cargo run --release -p offrecord-crypto --example timing`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use offrecord_crypto::dh::DhKeyPair;
use offrecord_crypto::dsa::DsaPrivateKey;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fn time<T>(label: &str, iterations: u32, mut f: impl FnMut() -> T) -> Duration {
    // Warm-up (also initialises the cached group parameters).
    black_box(f());
    let start = Instant::now();
    for _ in 0..iterations {
        black_box(f());
    }
    let per_call = start.elapsed() / iterations;
    println!("{label:<40} {:>10.1} µs", per_call.as_secs_f64() * 1e6);
    per_call
}

fn main() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let ours = DhKeyPair::generate(&mut rng);
    let theirs = DhKeyPair::generate(&mut rng);

    time("DH g^x (320-bit exponent)", 200, || {
        ours.secret().public_key()
    });
    time("DH their^x (320-bit exponent)", 200, || {
        ours.secret().diffie_hellman(theirs.public())
    });

    let start = Instant::now();
    let key = DsaPrivateKey::generate(&mut rng);
    println!(
        "{:<40} {:>10.1} µs",
        "DSA-1024/160 key generation (once)",
        start.elapsed().as_secs_f64() * 1e6
    );
    let hash = [0x42u8; 32];
    time("DSA sign (1024/160)", 200, || key.sign(&hash, &mut rng));
    let sig = key.sign(&hash, &mut rng);
    time("DSA verify (1024/160)", 200, || {
        key.public_key().verify(&hash, &sig)
    });
}
