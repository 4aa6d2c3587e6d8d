//! Golden tests of manifests read through the HTTP trigger's schema, as
//! `nimbus up` reads them: the manifest, the trigger types this crate runs
//! (`http` only) and `[[trigger.http]]` / `[application.trigger.http]`
//! together, every problem in one error. Each `tests/golden/*.toml` is
//! compared with its `*.out` file; `BLESS=1` rewrites them. The runner is the
//! manifest crate's.

#[path = "../../manifest/tests/golden_runner/mod.rs"]
mod golden_runner;

use std::fmt::Debug;
use std::path::Path;

use nimbus_manifest::{ComponentId, Executor, Manifest, ManifestError, ManifestVersion, Route};
use nimbus_trigger_http::{http_settings, http_triggers, HttpTriggerConfig, TRIGGER_TYPE};

/// Loads `path` with every HTTP check; on success, the triggers too.
fn load(path: &Path) -> Result<(Manifest, Vec<HttpTriggerConfig>), ManifestError> {
    let mut triggers = Vec::new();
    let manifest = Manifest::from_file_with(path, |m| {
        ManifestError::combine([
            m.check_trigger_types(&[TRIGGER_TYPE]),
            http_triggers(m).map(|t| triggers = t),
        ])
    })?;
    Ok((manifest, triggers))
}

/// The manifest as the HTTP trigger sees it: the manifest's fields with the
/// `[[trigger.http]]` tables and the `base` read by its schema. The type and
/// field names are the rendering (fields are only read by `Debug`).
#[allow(dead_code)]
mod view {
    use super::*;

    #[derive(Debug)]
    pub struct Manifest<'a> {
        pub path: &'a Path,
        pub dir: &'a Path,
        pub manifest_version: ManifestVersion,
        pub application: Application<'a>,
        pub variables: &'a dyn Debug,
        pub triggers: Vec<HttpTrigger>,
        pub components: &'a dyn Debug,
    }

    #[derive(Debug)]
    pub struct Application<'a> {
        pub name: &'a str,
        pub version: &'a Option<String>,
        pub description: &'a Option<String>,
        pub authors: &'a [String],
        pub http_base: String,
    }

    #[derive(Debug)]
    pub struct HttpTrigger {
        pub id: String,
        pub route: Route,
        pub component: ComponentId,
        pub executor: Executor,
    }
}

fn render(path: &Path) -> String {
    let (m, triggers) = match load(path) {
        Ok(loaded) => loaded,
        Err(error) => return format!("{error}\n"),
    };
    let base = match http_settings(&m) {
        Ok(settings) => settings.base,
        Err(error) => return format!("{error}\n"),
    };
    let app = &m.application;
    let view = view::Manifest {
        path: m.path(),
        dir: m.dir(),
        manifest_version: m.manifest_version,
        application: view::Application {
            name: &app.name,
            version: &app.version,
            description: &app.description,
            authors: &app.authors,
            http_base: base,
        },
        variables: &m.variables,
        triggers: triggers
            .into_iter()
            .map(|t| view::HttpTrigger {
                id: t.id,
                route: t.route,
                component: t.component,
                executor: t.executor,
            })
            .collect(),
        components: &m.components,
    };
    format!("{view:#?}\n")
}

#[test]
fn golden() {
    golden_runner::run(render);
}

#[test]
fn valid_cases_parse_and_error_cases_fail() {
    golden_runner::valid_cases_parse_and_error_cases_fail(|path| load(path).map(drop));
}
