//! Fuzz target `smp`: see `offrecord_fuzz::checks::smp` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    offrecord_fuzz::checks::smp(data);
});
