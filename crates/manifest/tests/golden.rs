//! Golden tests: every `tests/golden/*.toml` is parsed and the result (the
//! full error text, or a debug rendering of the manifest) is compared with the
//! sibling `*.out` file. `BLESS=1 cargo test -p nimbus-manifest` rewrites
//! the `.out` files.

use std::fs;
use std::path::{Path, PathBuf};

use nimbus_manifest::Manifest;

fn render(path: &Path) -> String {
    match Manifest::from_file(path) {
        Ok(manifest) => format!("{manifest:#?}\n"),
        Err(error) => format!("{error}\n"),
    }
}

#[test]
fn golden() {
    // Relative paths keep messages stable: tests run in the crate directory.
    let dir = Path::new("tests/golden");
    let mut cases: Vec<PathBuf> = fs::read_dir(dir)
        .expect("tests/golden exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no golden cases found");

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
#[test]
fn valid_cases_parse_and_error_cases_fail() {
    for entry in fs::read_dir("tests/golden").expect("tests/golden exists") {
        let path = entry.expect("readable dir entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let result = Manifest::from_file(&path);
        if name.starts_with("valid_") {
            if let Err(e) = result {
                panic!("{name} should parse:\n{e}");
            }
        } else {
            assert!(result.is_err(), "{name} should fail to parse");
        }
    }
}
