//! Fuzz target `fragment`: see `offrecord_fuzz::checks::fragment` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    offrecord_fuzz::checks::fragment(data);
});
