//! `docs/SECURITY.md` names, for every claim, the test that backs it (`path/file.rs::name`).
//! This test reads the document and checks that each named test exists in that file, is a
//! test (`#[test]`, or a property inside `proptest!`), and is not ignored, so that the
//! document cannot drift from the code. (That the tests pass is what `cargo test` checks.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `` `path.rs::name` `` cited in the document.
fn citations(doc: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (i, chunk) in doc.split('`').enumerate() {
        // Odd chunks are inside backquotes.
        if i % 2 == 0 {
            continue;
        }
        let Some((path, name)) = chunk.split_once(".rs::") else {
            continue;
        };
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "malformed citation `{chunk}`"
        );
        out.insert((format!("{path}.rs"), name.to_owned()));
    }
    out
}

/// Checks that `name` is a test function of `source` that is not ignored.
fn check_test(source: &str, name: &str) -> Result<(), String> {
    let lines: Vec<&str> = source.lines().collect();
    let needle = format!("fn {name}(");
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with(&needle))
        .ok_or_else(|| format!("no `fn {name}(`"))?;
    let indented = lines[at].starts_with(char::is_whitespace);
    // The attributes and doc comments right above the function.
    let mut attrs = Vec::new();
    for l in lines[..at].iter().rev() {
        let t = l.trim();
        if t.starts_with("#[") || t.starts_with("///") || t.starts_with("#![") {
            attrs.push(t);
        } else {
            break;
        }
    }
    if attrs.iter().any(|a| a.starts_with("#[ignore")) {
        return Err("is #[ignore]d".into());
    }
    let is_test = attrs.contains(&"#[test]");
    let in_proptest = indented && source[..source.find(&needle).unwrap()].contains("proptest!");
    if is_test || in_proptest {
        Ok(())
    } else {
        Err("is not a #[test]".into())
    }
}

#[test]
fn every_test_cited_in_security_md_exists() {
    let root = repo_root();
    let doc = std::fs::read_to_string(root.join("docs/SECURITY.md"))
        .expect("docs/SECURITY.md must exist");
    let cited = citations(&doc);
    // The document backs its claims with many tests; an empty list means the parser broke.
    assert!(cited.len() >= 50, "only {} citations found", cited.len());
    let mut problems = Vec::new();
    for (path, name) in &cited {
        match std::fs::read_to_string(root.join(path)) {
            Err(e) => problems.push(format!("{path}::{name}: cannot read {path}: {e}")),
            Ok(source) => {
                if let Err(why) = check_test(&source, name) {
                    problems.push(format!("{path}::{name}: {why}"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "SECURITY.md cites:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_rejects_what_it_should() {
    let source = "#[test]\nfn real() {}\n\n#[test]\n#[ignore]\nfn skipped() {}\n\nfn helper() {}\n\nproptest! {\n    #[test]\n    fn prop(x in 0..1u8) {}\n}\n";
    assert!(check_test(source, "real").is_ok());
    assert!(check_test(source, "prop").is_ok());
    assert!(check_test(source, "skipped").is_err());
    assert!(check_test(source, "helper").is_err());
    assert!(check_test(source, "missing").is_err());
    let cited = citations("see `a/b.rs::t1` and `c.rs::t2`, not `x::y` or `z.rs`");
    assert_eq!(cited.len(), 2);
}
