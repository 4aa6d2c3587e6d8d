#![no_main]
//! Any text as a manifest: parsing must return Ok or Err, never panic, and
//! every error must name a location.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(err) = nimbus_manifest::Manifest::from_str(text, "fuzz.toml", "/nonexistent") {
        let message = err.to_string();
        assert!(message.starts_with("fuzz.toml:"), "{message}");
    }
});
