//! `Manifest::check_sources`: a separate step that requires the files named
//! by the manifest to exist.

use std::fs;

use nimbus_manifest::Manifest;

const MANIFEST: &str = r#"spin_manifest_version = 2

[application]
name = "hello"

[[trigger.http]]
route = "/..."
component = "hello"

[[trigger.http]]
route = "/other"
component = { source = "other.wasm" }

[component.hello]
source = "target/wasm32-wasip2/release/hello.wasm"
files = [{ source = "static", destination = "/static" }, "assets/*", "README.md"]
[component.hello.build]
command = "cargo build --target wasm32-wasip2 --release"
"#;

#[test]
fn missing_sources_are_reported_with_locations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spin.toml");
    fs::write(&path, MANIFEST).unwrap();

    // Parsing does not need the sources (`nimbus build` runs before they exist).
    let manifest = Manifest::from_file(&path).unwrap();
    assert_eq!(manifest.dir(), dir.path());

    let err = manifest.check_sources().unwrap_err();
    let p = path.display();
    assert_eq!(
        err.to_string(),
        format!(
            "{p}:12:24: component `http-trigger1-component`: source other.wasm does not exist; check the path (it is relative to the manifest's directory), or build the component\n\
             {p}:15:10: component `hello`: source target/wasm32-wasip2/release/hello.wasm does not exist; run `nimbus build` first?\n\
             {p}:16:21: component `hello`: files source static does not exist; create it or fix the path (it is relative to the manifest's directory)\n\
             {p}:16:70: component `hello`: files source README.md does not exist; create it or fix the path (it is relative to the manifest's directory)"
        )
    );
    assert_eq!(err.diagnostics().len(), 4);

    // Once everything exists, the check passes (the glob may match nothing).
    fs::create_dir_all(dir.path().join("target/wasm32-wasip2/release")).unwrap();
    fs::write(
        dir.path().join("target/wasm32-wasip2/release/hello.wasm"),
        b"\0asm",
    )
    .unwrap();
    fs::write(dir.path().join("other.wasm"), b"\0asm").unwrap();
    fs::write(dir.path().join("README.md"), b"hi").unwrap();
    fs::create_dir(dir.path().join("static")).unwrap();
    manifest.check_sources().unwrap();
}

#[test]
fn a_directory_is_not_a_source() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spin.toml");
    fs::write(&path, MANIFEST).unwrap();
    fs::create_dir_all(dir.path().join("target/wasm32-wasip2/release/hello.wasm")).unwrap();
    let err = Manifest::from_file(&path)
        .unwrap()
        .check_sources()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("source target/wasm32-wasip2/release/hello.wasm is a directory"),
        "{err}"
    );
}

#[test]
fn unreadable_manifest_has_a_location_prefix() {
    let err = Manifest::from_file("does/not/exist/spin.toml").unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("does/not/exist/spin.toml:1:1: cannot read the manifest: "),
        "{text}"
    );
}

#[test]
fn find_default_prefers_nimbus_toml() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(nimbus_manifest::find_default(dir.path()), None);
    fs::write(dir.path().join("spin.toml"), "").unwrap();
    assert_eq!(
        nimbus_manifest::find_default(dir.path()),
        Some(dir.path().join("spin.toml"))
    );
    fs::write(dir.path().join("nimbus.toml"), "").unwrap();
    assert_eq!(
        nimbus_manifest::find_default(dir.path()),
        Some(dir.path().join("nimbus.toml"))
    );
}
