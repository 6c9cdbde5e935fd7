//! Fuzz target `encoded_decode`: see `offrecord_fuzz::checks::encoded_decode` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    offrecord_fuzz::checks::encoded_decode(data);
});
