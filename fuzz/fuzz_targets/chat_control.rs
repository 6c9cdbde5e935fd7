//! Fuzz target `chat_control`: see `offrecord_fuzz::mail_checks::chat_control` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    offrecord_fuzz::mail_checks::chat_control(data);
});
