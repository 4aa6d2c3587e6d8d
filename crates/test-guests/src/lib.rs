//! Dev-only: builds the guest programs in `tests/guests` from source, once per
//! test process, for `wasm32-wasip1` and `wasm32-wasip2`, and hands tests the
//! paths of the `.wasm` files.
//!
//! Guests are built with the `cargo` that runs the tests, into
//! `target/guests` of this workspace. A build failure panics with cargo's
//! output: a test must never silently run without its guest.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// A WASI target a guest is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `wasm32-wasip1`: a core module with a `_start` export.
    P1,
    /// `wasm32-wasip2`: a component exporting `wasi:cli/run`.
    P2,
}

impl Target {
    /// Both targets, for tests that run the same guest on each.
    pub const ALL: [Target; 2] = [Target::P1, Target::P2];

    /// The Rust target triple.
    pub fn triple(self) -> &'static str {
        match self {
            Target::P1 => "wasm32-wasip1",
            Target::P2 => "wasm32-wasip2",
        }
    }
}

/// The root of the Nimbus workspace: the one holding the package under test
/// (`cargo test` sets `CARGO_MANIFEST_DIR` when it runs a test), else the
/// one this crate was compiled in. Two checkouts sharing one target
/// directory share this crate's compiled code (Cargo hashes a workspace
/// member's path relative to its workspace), so the path compiled in may be
/// another checkout's.
pub fn workspace_root() -> PathBuf {
    let compiled = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/test-guests lives two levels below the workspace root")
        .to_path_buf();
    let under_test = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    under_test
        .and_then(|dir| {
            dir.ancestors()
                .find(|root| {
                    root.join("crates").join("test-guests").is_dir()
                        && root.join("tests").join(DEFAULT_PACKAGE).is_dir()
                })
                .map(Path::to_path_buf)
        })
        .unwrap_or(compiled)
}

/// The directory holding the guest sources.
pub fn guests_dir() -> PathBuf {
    package_dir(DEFAULT_PACKAGE)
}

/// The guest package most guests live in (`tests/guests`).
pub const DEFAULT_PACKAGE: &str = "guests";

/// The directory of guest package `package` (`tests/<package>`).
pub fn package_dir(package: &str) -> PathBuf {
    workspace_root().join("tests").join(package)
}

/// The names of every guest in `tests/guests` (one per file in `src/bin`).
pub fn guest_names() -> Vec<String> {
    package_guest_names(DEFAULT_PACKAGE)
}

/// The names of every guest of a guest package (one per file in `src/bin`).
pub fn package_guest_names(package: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(package_dir(package).join("src").join("bin"))
        .expect("the guest package has src/bin")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            if path.extension()? != "rs" {
                return None;
            }
            Some(path.file_stem()?.to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    names
}

/// Builds every guest of `package` (once per process) for the targets it
/// supports and returns its target directory.
fn build_package(package: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(dir) = built.get(package) {
        return dir.clone();
    }
    let dir = build_package_uncached(package);
    built.insert(package.to_owned(), dir.clone());
    dir
}

fn build_package_uncached(package: &str) -> PathBuf {
    {
        // One target dir for every guest package: they share compiled
        // dependencies (spin-sdk, wit-bindgen). Guest names must be unique.
        let target_dir = workspace_root().join("target").join("guests");
        let targets: &[Target] = if package_dir(package).join("wasip2-only").exists() {
            &[Target::P2]
        } else {
            &Target::ALL
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .arg("build")
            .arg("--release")
            .arg("--quiet")
            .args(targets.iter().flat_map(|t| ["--target", t.triple()]))
            .arg("--manifest-path")
            .arg(package_dir(package).join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target_dir)
            // Flags meant for the host build must not leak into the guests.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET");
        let output = command
            .output()
            .unwrap_or_else(|err| panic!("cannot run cargo to build the test guests: {err}"));
        if !output.status.success() {
            panic!(
                "building the test guests in tests/{package} failed (is `rustup target add wasm32-wasip1 wasm32-wasip2` done?):\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        target_dir
    }
}

/// The path of guest `name` built for `target`. Builds every guest on first
/// use; panics if the build fails or there is no such guest.
pub fn guest(name: &str, target: Target) -> PathBuf {
    package_guest(DEFAULT_PACKAGE, name, target)
}

/// The path of guest `name` of the guest package `tests/<package>`, built for
/// `target`. A package holding a file named `wasip2-only` is built for
/// wasm32-wasip2 only.
pub fn package_guest(package: &str, name: &str, target: Target) -> PathBuf {
    let path = build_package(package)
        .join(target.triple())
        .join("release")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "no guest named {name:?} (expected {}); guests: {:?}",
        path.display(),
        package_guest_names(package)
    );
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every guest must be used by at least one test; an unused guest is dead
    /// weight that looks like coverage.
    #[test]
    fn every_guest_has_a_test() {
        let mut test_sources = String::new();
        let crates = workspace_root().join("crates");
        for krate in std::fs::read_dir(&crates).unwrap() {
            let mut dirs = vec![krate.unwrap().path().join("tests")];
            while let Some(dir) = dirs.pop() {
                let Ok(files) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for file in files {
                    let path = file.unwrap().path();
                    if path.is_dir() {
                        dirs.push(path);
                    } else if path.extension().is_some_and(|e| e == "rs") {
                        test_sources.push_str(&std::fs::read_to_string(&path).unwrap());
                    }
                }
            }
        }
        let packages = std::fs::read_dir(workspace_root().join("tests"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("Cargo.toml").exists())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect::<Vec<_>>();
        let unused: Vec<String> = packages
            .iter()
            .flat_map(|package| package_guest_names(package))
            .filter(|name| !test_sources.contains(&format!("\"{name}\"")))
            .collect();
        assert!(unused.is_empty(), "guests without a test: {unused:?}");
    }
}
