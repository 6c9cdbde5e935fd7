//! Fuzz target `autocrypt`: see `offrecord_fuzz::mail_checks::autocrypt` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    offrecord_fuzz::mail_checks::autocrypt(data);
});
