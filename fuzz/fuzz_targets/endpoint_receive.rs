//! Fuzz target `endpoint_receive`: see `offrecord_fuzz::checks::endpoint_receive` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    offrecord_fuzz::checks::endpoint_receive(data);
});
