//! Fuzz target `tlv`: see `offrecord_fuzz::checks::tlv` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    offrecord_fuzz::checks::tlv(data);
});
