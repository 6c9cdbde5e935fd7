//! Fuzz target `envelope_parse`: see `offrecord_fuzz::mail_checks::envelope_parse` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    offrecord_fuzz::mail_checks::envelope_parse(data);
});
