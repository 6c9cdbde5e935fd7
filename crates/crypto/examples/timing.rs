//! Quick timings of the expensive operations, robust to a loaded machine: each figure is the
//! minimum (and the median) wall-clock time of single calls, like `benches/openssl_modexp.c`
//! measures OpenSSL. `cargo run --release -p offrecord-crypto --example timing`
//! (the criterion benches are in `benches/modexp.rs`). Everything is timed with the x86-64
//! assembly (when the processor has BMI2 and ADX) and again with the portable Rust.

use std::hint::black_box;
use std::time::Instant;

use offrecord_crypto::dh::DhKeyPair;
use offrecord_crypto::dsa::DsaPrivateKey;
use offrecord_crypto::group::{Exponent, GroupElement, PublicExponent};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

/// Times `samples` single calls; prints the minimum and the median in microseconds.
fn time<T>(label: &str, samples: usize, mut f: impl FnMut() -> T) {
    black_box(f());
    let mut times: Vec<f64> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let min = times.first().copied().unwrap_or(0.0);
    let median = times.get(samples / 2).copied().unwrap_or(0.0);
    println!("{label:<52} min {min:>9.1} µs   median {median:>9.1} µs");
}

fn main() {
    for asm in [true, false] {
        let on = offrecord_crypto::group::use_assembly(asm);
        if asm && !on {
            println!("== (no BMI2/ADX: no assembly on this processor)");
            continue;
        }
        println!(
            "== {}",
            if on {
                "assembly (MULX/ADCX/ADOX)"
            } else {
                "portable Rust"
            }
        );
        run();
    }
}

fn run() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let ours = DhKeyPair::generate(&mut rng);
    let theirs = DhKeyPair::generate(&mut rng);

    time("DH their^x (320-bit secret, general base)", 201, || {
        ours.secret().diffie_hellman(theirs.public())
    });
    time("DH g^x (320-bit secret, fixed-base table)", 201, || {
        ours.secret().public_key()
    });

    let base = GroupElement::generator().pow_secret(&Exponent::random(&mut rng));
    let e = Exponent::random(&mut rng);
    let g = GroupElement::generator();
    time("SMP base^e (1536-bit secret, general base)", 51, || {
        base.pow_secret(&e)
    });
    time("SMP g1^e (1536-bit secret, fixed-base table)", 101, || {
        g.pow_secret(&e)
    });
    let d = PublicExponent::from_bytes(&e.to_bytes()).unwrap_or_else(|_| unreachable!());
    let c = PublicExponent::from_digest(&[0xa5; 32]);
    time("SMP proof check g1^D base^c (public)", 101, || {
        GroupElement::multi_pow_public(&[(&g, &d), (&base, &c)])
    });

    let start = Instant::now();
    let key = DsaPrivateKey::generate(&mut rng);
    println!(
        "{:<52} {:>9.1} µs",
        "DSA-1024/160 key generation (once)",
        start.elapsed().as_secs_f64() * 1e6
    );
    let hash = [0x42u8; 32];
    time("DSA sign (1024/160)", 201, || key.sign(&hash, &mut rng));
    let sig = key.sign(&hash, &mut rng);
    time("DSA verify (1024/160)", 201, || {
        key.public_key().verify(&hash, &sig)
    });
}
