//! The golden-file runner, shared by the manifest's own golden tests and the
//! trigger crates' (which include this file with `#[path]`): every
//! `tests/golden/*.toml` of the crate is rendered (the full error text, or a
//! debug rendering of what was read) and compared with the sibling `*.out`
//! file. `BLESS=1` rewrites the `.out` files.

use std::fs;
use std::path::{Path, PathBuf};

/// Where the cases are, relative to the crate directory (tests run there,
/// and relative paths keep messages stable).
pub const DIR: &str = "tests/golden";

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = fs::read_dir(DIR)
        .expect("tests/golden exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no golden cases found");
    cases
}

/// Compares `render(case)` with each case's `.out` file.
pub fn run(render: impl Fn(&Path) -> String) {
    let cases = cases();
    let bless = std::env::var_os("BLESS").is_some_and(|v| v != "0" && !v.is_empty());
    let mut failures = Vec::new();
    for case in &cases {
        let actual = render(case);
        let out = case.with_extension("out");
        if bless {
            fs::write(&out, &actual).expect("write .out file");
            continue;
        }
        match fs::read_to_string(&out) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "{}: output differs\n--- expected ({})\n{expected}--- actual\n{actual}",
                case.display(),
                out.display()
            )),
            Err(_) => failures.push(format!(
                "{}: missing {}; run with BLESS=1 to create it\n--- actual\n{actual}",
                case.display(),
                out.display()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden cases failed (BLESS=1 rewrites the .out files):\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Valid golden cases are exactly the ones named `valid_*`: a typo in a valid
/// case must not silently turn it into an error case.
pub fn valid_cases_parse_and_error_cases_fail<E: std::fmt::Display>(
    load: impl Fn(&Path) -> Result<(), E>,
) {
    for path in cases() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let result = load(&path);
        if name.starts_with("valid_") {
            if let Err(e) = result {
                panic!("{name} should parse:\n{e}");
            }
        } else {
            assert!(result.is_err(), "{name} should fail to parse");
        }
    }
}
