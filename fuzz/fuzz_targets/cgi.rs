#![no_main]
//! Any bytes as a WAGI guest's stdout: parsing must never panic, and a parsed
//! body must be a suffix of the input.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = bytes::Bytes::copy_from_slice(data);
    if let Ok(response) = nimbus_cgi::parse(input) {
        assert!(data.ends_with(&response.body));
    }
});
