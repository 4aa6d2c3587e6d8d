//! The triggers this build has: the one list, shared by `nimbus up` and the
//! node. Adding a trigger type is a new `trigger-*` crate plus its entry here
//! (its type name, and the check of its sections).

use nimbus_manifest::{Manifest, ManifestError};

/// The `[[trigger.TYPE]]` types this build knows.
pub const TRIGGER_TYPES: &[&str] = &[nimbus_trigger_http::TRIGGER_TYPE];

/// Refuses trigger types this build does not know and checks every known
/// section against its trigger's schema, reporting every problem at once
/// (each with `file:line:col`). Pass it to [`Manifest::from_file_with`].
pub fn check(manifest: &Manifest) -> Result<(), ManifestError> {
    ManifestError::combine([
        manifest.check_trigger_types(TRIGGER_TYPES),
        nimbus_trigger_http::http_triggers(manifest).map(drop),
    ])
}

/// Reads a manifest and checks its triggers (see [`check`]).
pub fn read_manifest(path: &std::path::Path) -> Result<Manifest, ManifestError> {
    Manifest::from_file_with(path, check)
}
