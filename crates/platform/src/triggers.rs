//! The triggers this build has: the one list, shared by `nimbus up` and the
//! node. Adding a trigger type is a new `trigger-*` crate plus its entries
//! here (its type name, the check of its sections, its construction).

use std::sync::Arc;

use nimbus_capability::App;
use nimbus_manifest::{Manifest, ManifestError};
use nimbus_trigger::{EventObserver, Trigger};

/// The `[[trigger.TYPE]]` types this build knows.
pub const TRIGGER_TYPES: &[&str] = &[
    nimbus_trigger_http::TRIGGER_TYPE,
    nimbus_trigger_redis::TRIGGER_TYPE,
    nimbus_trigger_cron::TRIGGER_TYPE,
    nimbus_trigger_nats::TRIGGER_TYPE,
];

/// Refuses trigger types this build does not know and checks every known
/// section against its trigger's schema, reporting every problem at once
/// (each with `file:line:col`). Pass it to [`Manifest::from_file_with`].
pub fn check(manifest: &Manifest) -> Result<(), ManifestError> {
    ManifestError::combine([
        manifest.check_trigger_types(TRIGGER_TYPES),
        nimbus_trigger_http::http_triggers(manifest).map(drop),
        nimbus_trigger_redis::check(manifest),
        nimbus_trigger_cron::check(manifest),
        nimbus_trigger_nats::check(manifest),
    ])
}

/// Reads a manifest and checks its triggers (see [`check`]).
pub fn read_manifest(path: &std::path::Path) -> Result<Manifest, ManifestError> {
    Manifest::from_file_with(path, check)
}

/// Every trigger of `app` except HTTP (which `nimbus up` binds to its
/// listener and the node serves on its own): messages and ticks, each
/// reported to `observer`, if any. Empty when the app has only HTTP
/// triggers.
pub fn event_triggers(
    app: &Arc<App>,
    observer: Option<Arc<dyn EventObserver>>,
) -> anyhow::Result<Vec<Box<dyn Trigger>>> {
    let built = [
        nimbus_trigger_redis::trigger(app, observer.clone())?,
        nimbus_trigger_cron::trigger(app, observer.clone())?,
        nimbus_trigger_nats::trigger(app, observer)?,
    ];
    Ok(built.into_iter().flatten().collect())
}
