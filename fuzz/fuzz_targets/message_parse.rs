//! Fuzz target `message_parse`: see `offrecord_fuzz::checks::message_parse` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    offrecord_fuzz::checks::message_parse(data);
});
