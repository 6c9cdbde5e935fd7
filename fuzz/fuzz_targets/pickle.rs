//! Fuzz target `pickle`: see `offrecord_fuzz::checks::pickle` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    offrecord_fuzz::checks::pickle(data);
});
