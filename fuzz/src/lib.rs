//! Shared checking logic of the fuzz targets. `checks` is also compiled into the otr crate's
//! corpus replay test (`crates/otr/tests/fuzz_corpus.rs`) with `#[path]`, so that every corpus
//! and regression file is checked by a plain `cargo test`.

pub mod checks;
