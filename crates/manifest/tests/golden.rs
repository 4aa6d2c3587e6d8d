//! Golden tests of what the manifest crate reads by itself: every
//! `tests/golden/*.toml` is parsed and the result (the full error text, or a
//! debug rendering of the manifest) is compared with the sibling `*.out`
//! file. `BLESS=1 cargo test -p nimbus-manifest` rewrites the `.out` files.
//!
//! Cases whose outcome depends on a trigger type's schema live with that
//! trigger's crate (e.g. `crates/trigger-http/tests/golden`), which runs them
//! with this runner through the manifest and its schema together.

mod golden_runner;

use std::path::Path;

use nimbus_manifest::Manifest;

fn render(path: &Path) -> String {
    match Manifest::from_file(path) {
        Ok(manifest) => format!("{manifest:#?}\n"),
        Err(error) => format!("{error}\n"),
    }
}

#[test]
fn golden() {
    golden_runner::run(render);
}

#[test]
fn valid_cases_parse_and_error_cases_fail() {
    golden_runner::valid_cases_parse_and_error_cases_fail(|path| {
        Manifest::from_file(path).map(drop)
    });
}
