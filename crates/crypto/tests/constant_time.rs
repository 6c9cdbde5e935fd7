//! The secret-exponent operations execute the same instructions whatever the secret.
//!
//! Builds `examples/ct_probe.rs` (release profile: the code that ships), runs it under
//! valgrind's callgrind for secrets of very different bit patterns (all zero, all one, sparse,
//! random), and requires identical counts of executed instructions (`Ir`), data reads (`Dr`)
//! and data writes (`Dw`) per function and in total. Any secret-dependent branch, loop bound or
//! table index would change them. Fails loudly when valgrind is missing.
//!
//! The probe runs with each implementation of the Montgomery multiplication: the x86-64
//! MULX/ADCX/ADOX assembly (required to be the one running when the host's `/proc/cpuinfo`
//! lists BMI2 and ADX) and the portable Rust; and natively, once per pattern and
//! implementation, to check that both give the same results.
//!
//! The C library's functions (`memcpy`, `memset`, the loader) are left out of the comparison:
//! their instruction counts follow the alignment of the buffers they are given, which varies
//! by a few instructions from one process to the next whatever the secret. Address-space
//! randomisation is turned off (`setarch -R`) to keep even that to a minimum.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The probe's secret patterns: (argument, name).
const PATTERNS: [(&str, &str); 4] = [
    ("0", "zero"),
    ("1", "ones"),
    ("2", "sparse"),
    ("3", "random"),
];

/// Builds the probe in release mode and returns its path.
fn build_probe() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let output = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--example",
            "ct_probe",
            "--message-format=json",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .output()
        .expect("run cargo build for the ct_probe example");
    assert!(
        output.status.success(),
        "building ct_probe failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The last compiler-artifact line for the example names its executable.
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.contains("\"compiler-artifact\"") && l.contains("\"ct_probe\""))
        .filter_map(|l| {
            let start = l.find("\"executable\":\"")? + "\"executable\":\"".len();
            let end = start + l[start..].find('"')?;
            Some(PathBuf::from(&l[start..end]))
        })
        .next_back()
        .expect("cargo reported the ct_probe executable")
}

/// Event counts of one callgrind run: totals and per function, keyed by event name.
struct Counts {
    totals: BTreeMap<String, u64>,
    per_function: BTreeMap<String, Vec<u64>>,
}

/// The implementations of the Montgomery multiplication, as named on the probe's command line.
const IMPLEMENTATIONS: [&str; 2] = ["asm", "portable"];

/// Whether the host processor has BMI2 and ADX (what the probe needs to run the assembly).
fn host_has_adx() -> bool {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    info.lines()
        .find(|l| l.starts_with("flags"))
        .is_some_and(|l| {
            let flags: Vec<&str> = l.split_whitespace().collect();
            flags.contains(&"bmi2") && flags.contains(&"adx")
        })
}

/// The value of the probe's `key: value` output line.
fn probe_line<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no {key:?} line in the probe's output:\n{stdout}"))
}

fn run_under_callgrind(
    probe: &Path,
    (pattern, name): (&str, &str),
    implementation: &str,
    dir: &Path,
) -> Counts {
    let out = dir.join(format!("callgrind.{pattern}.{implementation}.out"));
    let arch = std::env::consts::ARCH;
    let status = Command::new("setarch")
        .args([arch, "-R", "valgrind"])
        .args([
            "--tool=callgrind",
            "--cache-sim=yes",
            "--D1=32768,8,64",
            "--I1=32768,8,64",
            "--LL=1048576,16,64",
        ])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(probe)
        .arg(pattern)
        .arg(implementation)
        .output();
    let status = match status {
        Ok(o) => o,
        Err(e) => panic!(
            "valgrind and setarch are required for the constant-time test \
             (apt-get install valgrind util-linux): {e}"
        ),
    };
    assert!(
        status.status.success(),
        "valgrind/ct_probe {name} {implementation} failed:\n{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let expected = if implementation == "asm" && !host_has_adx() {
        "portable"
    } else {
        implementation
    };
    assert_eq!(
        probe_line(&String::from_utf8_lossy(&status.stdout), "implementation"),
        expected,
        "the probe ran another implementation than asked under valgrind"
    );
    let annotate = Command::new("callgrind_annotate")
        .args([
            "--inclusive=no",
            "--threshold=100",
            "--auto=no",
            "--show=Ir,Dr,Dw",
        ])
        .arg(&out)
        .output()
        .expect("callgrind_annotate (part of valgrind) is required");
    assert!(annotate.status.success(), "callgrind_annotate failed");
    let text = String::from_utf8_lossy(&annotate.stdout).into_owned();
    let mut counts = parse_annotate(&text);
    // Totals over the compared functions (everything but the C library and the loader).
    counts
        .per_function
        .retain(|name, _| !SYSTEM_OBJECTS.iter().any(|o| name.contains(o)));
    let mut totals = BTreeMap::new();
    for values in counts.per_function.values() {
        for (event, value) in ["Ir", "Dr", "Dw"].iter().zip(values) {
            *totals.entry(format!("{event} (compared)")).or_insert(0) += value;
        }
    }
    counts.totals.extend(totals);
    counts
}

/// Objects whose functions are not compared (see the module documentation).
const SYSTEM_OBJECTS: [&str; 4] = ["libc.so", "ld-linux", "vgpreload", "/lib/x86_64-linux-gnu/"];

/// Removes the `( 12.34%)` percentage fields of a `callgrind_annotate` line.
fn strip_percentages(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('(') {
        let is_percentage = rest[start..]
            .find("%)")
            .filter(|end| rest[start + 1..start + end].trim().parse::<f64>().is_ok());
        match is_percentage {
            Some(end) => {
                out.push_str(&rest[..start]);
                rest = &rest[start + end + 2..];
            }
            None => {
                out.push_str(&rest[..=start]);
                rest = &rest[start + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parses `callgrind_annotate --show=Ir,Dr,Dw` output: the "PROGRAM TOTALS" line and the
/// per-function lines (`Ir Dr Dw  file:function`).
fn parse_annotate(text: &str) -> Counts {
    let mut totals = BTreeMap::new();
    let mut per_function = BTreeMap::new();
    for line in text.lines() {
        let line = strip_percentages(line);
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 4 {
            continue;
        }
        let values: Result<Vec<u64>, _> = fields[..3]
            .iter()
            .map(|f| f.replace(',', "").parse::<u64>())
            .collect();
        let Ok(values) = values else { continue };
        let name = fields[3..].join(" ");
        if name == "PROGRAM TOTALS" {
            for (event, value) in ["Ir", "Dr", "Dw"].iter().zip(values) {
                totals.insert(event.to_string(), value);
            }
        } else {
            per_function.insert(name, values);
        }
    }
    assert!(!totals.is_empty(), "no totals in callgrind output:\n{text}");
    Counts {
        totals,
        per_function,
    }
}

#[test]
fn secret_exponent_operations_are_constant_time_under_valgrind() {
    let probe = build_probe();
    if !host_has_adx() {
        println!("the host has no BMI2/ADX: the assembly cannot run here, only the portable Rust");
    }
    let dir = std::env::temp_dir().join(format!("offrecord-ct-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for implementation in IMPLEMENTATIONS {
        println!("== {implementation}");
        let runs: Vec<(&str, Counts)> = PATTERNS
            .iter()
            .map(|p| (p.1, run_under_callgrind(&probe, *p, implementation, &dir)))
            .collect();
        compare_runs(&runs);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn both_implementations_give_the_same_results() {
    let probe = build_probe();
    for (pattern, name) in PATTERNS {
        let sums: Vec<String> = IMPLEMENTATIONS
            .iter()
            .map(|implementation| {
                let out = Command::new(&probe)
                    .args([pattern, implementation, "check"])
                    .output()
                    .expect("run ct_probe");
                assert!(
                    out.status.success(),
                    "ct_probe {name} {implementation} failed"
                );
                let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                probe_line(&stdout, "checksum").to_owned()
            })
            .collect();
        println!("{name}: {sums:?}");
        assert_eq!(
            sums[0], sums[1],
            "asm and portable results differ for {name}"
        );
    }
}

/// Requires identical counts in every run (per function and the compared totals).
fn compare_runs(runs: &[(&str, Counts)]) {
    let (first_name, first) = &runs[0];
    println!("{first_name}: {:?}", first.totals);
    assert!(
        first.totals["Ir (compared)"] > 10_000_000,
        "the probe ran too little to be meaningful: {:?}",
        first.totals
    );
    assert!(
        first.per_function.len() > 20,
        "too few functions parsed from callgrind_annotate: {:?}",
        first.per_function.keys().collect::<Vec<_>>()
    );
    for (name, counts) in &runs[1..] {
        println!("{name}: {:?}", counts.totals);
        let mut differences = Vec::new();
        for (function, values) in &first.per_function {
            if counts.per_function.get(function) != Some(values) {
                differences.push(format!(
                    "{function}: {first_name} {values:?} vs {name} {:?}",
                    counts.per_function.get(function)
                ));
            }
        }
        for function in counts.per_function.keys() {
            if !first.per_function.contains_key(function) {
                differences.push(format!("{function}: only with {name}"));
            }
        }
        let compared = |c: &Counts| {
            c.totals
                .iter()
                .filter(|(k, _)| k.ends_with("(compared)"))
                .map(|(k, v)| (k.clone(), *v))
                .collect::<Vec<_>>()
        };
        assert!(
            compared(counts) == compared(first) && differences.is_empty(),
            "secret-dependent execution: {first_name} {:?} vs {name} {:?}\n{}",
            first.totals,
            counts.totals,
            differences.join("\n")
        );
    }
}
