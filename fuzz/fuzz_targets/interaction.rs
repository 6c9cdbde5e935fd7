//! Fuzz target `interaction`: see `offrecord_fuzz::checks::interaction` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    offrecord_fuzz::checks::interaction(data);
});
