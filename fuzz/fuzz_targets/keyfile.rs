//! Fuzz target `keyfile`: see `offrecord_fuzz::checks::keyfile` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    offrecord_fuzz::checks::keyfile(data);
});
