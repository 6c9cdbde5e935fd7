//! Fuzz target `mail_text`: see `offrecord_fuzz::mail_checks::mail_text` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    offrecord_fuzz::mail_checks::mail_text(data);
});
