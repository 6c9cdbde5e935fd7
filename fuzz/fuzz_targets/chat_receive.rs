//! Fuzz target `chat_receive`: see `offrecord_fuzz::mail_checks::chat_receive` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    offrecord_fuzz::mail_checks::chat_receive(data);
});
