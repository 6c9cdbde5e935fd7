//! Shared checking logic of the fuzz targets. `checks` (the otr crate) is also compiled into the
//! otr crate's corpus replay test (`crates/otr/tests/fuzz_corpus.rs`), and `mail_checks` (the
//! envelope, chat and mail crates) into `crates/offrecord/tests/fuzz_corpus_mail.rs`, both with
//! `#[path]`, so that every corpus and regression file is checked by a plain `cargo test`.

pub mod checks;
pub mod mail_checks;
