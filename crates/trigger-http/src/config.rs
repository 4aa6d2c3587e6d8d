//! The HTTP trigger's manifest schema: `[[trigger.http]]` tables and
//! `[application.trigger.http]`, read from the sections the manifest keeps
//! for this trigger type (see [`nimbus_manifest::Section`]).
//!
//! Every problem is reported in the manifest's style: `file:line:col: what
//! is wrong; how to fix it`, all of them at once.

use std::fmt;

use nimbus_manifest::{
    did_you_mean, ComponentId, Diagnostic, Executor, Located, Location, Manifest, ManifestError,
    Route, Section, TriggerSection,
};
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// The trigger type this crate runs: `[[trigger.http]]`.
pub const TRIGGER_TYPE: &str = "http";

/// One `[[trigger.http]]` table, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTriggerConfig {
    /// `id`, or the id Spin generates (see [`TriggerSection::id`]).
    pub id: String,
    /// The route, normalised, with the app's [`HttpSettings::base`] prefixed.
    pub route: Route,
    /// The component to run (for an inline component, its generated id).
    pub component: ComponentId,
    /// How to call the component (`executor = { type = ... }`).
    pub executor: Executor,
}

/// `[application.trigger.http]`: app-wide HTTP settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// `base`, normalised: no trailing `/`, `"/"` when absent. Every route
    /// of [`http_triggers`] already has it prefixed.
    pub base: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            base: "/".to_string(),
        }
    }
}

/// Reads `[application.trigger.http]`.
pub fn http_settings(manifest: &Manifest) -> Result<HttpSettings, ManifestError> {
    let mut diags = Vec::new();
    let settings = read_settings(manifest, &mut diags);
    ManifestError::or_ok(manifest.path(), diags, settings)
}

/// Reads and validates every `[[trigger.http]]` table (and
/// `[application.trigger.http]`), in file order: routes parse and are
/// unique, executors are known, every trigger names a component.
pub fn http_triggers(manifest: &Manifest) -> Result<Vec<HttpTriggerConfig>, ManifestError> {
    let mut diags = Vec::new();
    let settings = read_settings(manifest, &mut diags);
    let mut triggers = Vec::new();
    // Public routes so far, with where they are written.
    let mut routes: Vec<(Route, Location)> = Vec::new();
    for section in manifest.trigger_sections(TRIGGER_TYPE) {
        let Some((route, route_at, executor, component)) = read_trigger(section, &mut diags) else {
            continue;
        };
        let route = route.map(|r| r.with_base(&settings.base));
        if let Some(route) = &route {
            if !route.is_private() {
                if let Some((other, first)) = routes.iter().find(|(r, _)| r.same_paths(route)) {
                    let message = if other == route {
                        format!("duplicate route \"{route}\": another trigger already uses it; give each trigger a different route")
                    } else {
                        format!("duplicate route \"{route}\": another trigger's route \"{other}\" matches the same paths (parameter names do not matter); give each trigger a different route")
                    };
                    diags.push(
                        Diagnostic::new(route_at, message)
                            .with_note(*first, format!("route \"{other}\" first used here")),
                    );
                } else {
                    routes.push((route.clone(), route_at));
                }
            }
        }
        if let (Some(route), Some(component)) = (route, component) {
            triggers.push(HttpTriggerConfig {
                id: section.id.clone(),
                route,
                component,
                executor,
            });
        }
    }
    ManifestError::or_ok(manifest.path(), diags, triggers)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    base: Option<Located<String>>,
}

fn read_settings(manifest: &Manifest, diags: &mut Vec<Diagnostic>) -> HttpSettings {
    let mut settings = HttpSettings::default();
    let Some(section) = manifest.trigger_settings(TRIGGER_TYPE) else {
        return settings;
    };
    let Some(RawSettings { base: Some(base) }) =
        ManifestError::collect_into(section.deserialize(), diags)
    else {
        return settings;
    };
    let b = base.value.as_str();
    // A base is a literal prefix: no wildcard, no route parameter.
    let pattern = b.contains('*') || b.contains("...") || b.split('/').any(|s| s.starts_with(':'));
    if pattern {
        diags.push(Diagnostic::new(
            base.location,
            format!(
                "invalid base {b:?}: a base is a literal path prefix; put wildcards and route parameters in the routes, e.g. base = \"/api\" and route = \"/users/:id\""
            ),
        ));
    } else if !b.starts_with('/') || b.contains(['?', '#', ' ']) {
        diags.push(Diagnostic::new(
            base.location,
            format!(
                "invalid base {b:?}: use a URL path prefix starting with '/', e.g. base = \"/api\""
            ),
        ));
    } else {
        let trimmed = b.trim_end_matches('/');
        if !trimmed.is_empty() {
            settings.base = trimmed.to_string();
        }
    }
    settings
}

/// The keys of a `[[trigger.http]]` table besides `id` and `component`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    route: Option<Located<RawRoute>>,
    executor: Option<Located<RawExecutor>>,
    static_response: Option<IgnoredAny>,
}

/// `route = "/path"` or `route = { private = true }`.
enum RawRoute {
    Path(String),
    Private(Option<bool>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivateRoute {
    private: Option<bool>,
}

impl<'de> Deserialize<'de> for RawRoute {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RouteVisitor;
        impl<'de> Visitor<'de> for RouteVisitor {
            type Value = RawRoute;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a path string such as \"/hello\" or { private = true }")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<RawRoute, E> {
                Ok(RawRoute::Path(s.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawRoute, A::Error> {
                let table =
                    PrivateRoute::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(RawRoute::Private(table.private))
            }
        }
        deserializer.deserialize_any(RouteVisitor)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawExecutor {
    #[serde(rename = "type")]
    kind: Option<Located<String>>,
    argv: Option<Located<String>>,
    entrypoint: Option<Located<String>>,
}

type ReadTrigger = (Option<Route>, Location, Executor, Option<ComponentId>);

/// One table: its route (base not yet applied) and where it is written, its
/// executor and component; `None` when its keys do not fit the schema.
fn read_trigger(section: &TriggerSection, diags: &mut Vec<Diagnostic>) -> Option<ReadTrigger> {
    let config = &section.config;
    let raw: Option<RawTrigger> = ManifestError::collect_into(config.deserialize(), diags);
    let component = ManifestError::collect_into(
        section.required_component("component = \"my-component\""),
        diags,
    )
    .flatten()
    .cloned();
    let raw = raw?;

    if raw.static_response.is_some() {
        diags.push(Diagnostic::new(
            config
                .key_location("static_response")
                .unwrap_or(config.location()),
            "static_response is not supported yet; serve the response from a component",
        ));
    }
    let executor = match raw.executor {
        Some(e) => read_executor(e, config, diags),
        None => Executor::Http,
    };
    let (route, route_at) = match raw.route {
        None => {
            diags.push(Diagnostic::new(
                config.location(),
                format!(
                    "missing required field \"route\" in {}; add e.g. route = \"/...\"",
                    config.name()
                ),
            ));
            (None, config.location())
        }
        Some(Located { location, value }) => (read_route(value, location, config, diags), location),
    };
    Some((route, route_at, executor, component))
}

fn read_route(
    raw: RawRoute,
    at: Location,
    config: &Section,
    diags: &mut Vec<Diagnostic>,
) -> Option<Route> {
    match raw {
        RawRoute::Path(s) => match Route::parse(&s) {
            Ok(r) => Some(r),
            Err(e) => {
                diags.push(Diagnostic::new(at, e.to_string()));
                None
            }
        },
        RawRoute::Private(Some(true)) => Some(Route::Private),
        RawRoute::Private(Some(false)) => {
            diags.push(Diagnostic::new(
                at,
                "route must be a path or { private = true }, not { private = false }",
            ));
            None
        }
        RawRoute::Private(None) => {
            diags.push(Diagnostic::new(
                at,
                format!(
                    "missing required field \"private\" in the route of {}; add e.g. route = {{ private = true }}",
                    config.name()
                ),
            ));
            None
        }
    }
}

fn read_executor(
    raw: Located<RawExecutor>,
    config: &Section,
    diags: &mut Vec<Diagnostic>,
) -> Executor {
    let table = format!("the executor of {}", config.name());
    let Located { location, value } = raw;
    let Some(kind) = value.kind else {
        diags.push(Diagnostic::new(
            location,
            format!("missing required field \"type\" in {table}; add e.g. type = \"wagi\""),
        ));
        return Executor::Http;
    };
    match kind.value.as_str() {
        "http" | "spin" => {
            for (key, v) in [("argv", &value.argv), ("entrypoint", &value.entrypoint)] {
                if let Some(v) = v {
                    diags.push(Diagnostic::new(
                        v.location,
                        format!("{key:?} in {table} only applies to type = \"wagi\"; remove it, or set type = \"wagi\""),
                    ));
                }
            }
            Executor::Http
        }
        "wagi" => Executor::Wagi {
            argv: value.argv.map(Located::into_inner),
            entrypoint: value.entrypoint.map(Located::into_inner),
        },
        other => {
            let hint = match did_you_mean(other, ["http", "wagi"]) {
                Some(s) => format!("did you mean {s:?}?"),
                None => "use \"http\" (the default) or \"wagi\"".to_string(),
            };
            diags.push(Diagnostic::new(
                kind.location,
                format!("unknown executor type {other:?}; {hint}"),
            ));
            Executor::Http
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Router;

    const HEAD: &str = "spin_manifest_version = 2\n[application]\nname = \"app\"\n";

    fn parse(text: &str) -> Manifest {
        Manifest::from_str(text, "spin.toml", ".").unwrap_or_else(|e| panic!("{e}"))
    }

    fn error(text: &str) -> String {
        match http_triggers(&parse(text)) {
            Ok(t) => panic!("expected an error, got {t:?}"),
            Err(e) => e.to_string(),
        }
    }

    // Moved from the manifest crate with the HTTP schema.
    #[test]
    fn minimal_manifest() {
        let m = parse(&format!(
            "{HEAD}[[trigger.http]]\nroute = \"/...\"\ncomponent = \"hello\"\n[component.hello]\nsource = \"hello.wasm\"\n"
        ));
        let triggers = http_triggers(&m).unwrap();
        assert_eq!(triggers.len(), 1);
        assert_eq!(triggers[0].id, "hello-http-trigger");
        assert_eq!(triggers[0].route, Route::Wildcard("/".into()));
        let router = Router::new(
            triggers
                .iter()
                .map(|t| (t.route.clone(), t.component.clone())),
        );
        assert_eq!(router.route("/x").unwrap().target, "hello");
    }

    // Moved from the manifest crate with the HTTP schema.
    #[test]
    fn base_is_applied_to_routes() {
        let m = parse(&format!(
            "{HEAD}[application.trigger.http]\nbase = \"/api/\"\n[[trigger.http]]\nroute = \"/a\"\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\n"
        ));
        assert_eq!(http_settings(&m).unwrap().base, "/api");
        assert_eq!(
            http_triggers(&m).unwrap()[0].route,
            Route::Exact("/api/a".into())
        );
    }

    #[test]
    fn route_parameters_are_read_and_based() {
        let m = parse(&format!(
            "{HEAD}[application.trigger.http]\nbase = \"/api\"\n\
             [[trigger.http]]\nroute = \"/users/:id/...\"\ncomponent = \"c\"\n\
             [[trigger.http]]\nroute = \"/users/:id\"\ncomponent = \"c\"\n\
             [component.c]\nsource = \"c.wasm\"\n"
        ));
        let routes: Vec<Route> = http_triggers(&m)
            .unwrap()
            .into_iter()
            .map(|t| t.route)
            .collect();
        assert_eq!(
            routes,
            [
                Route::Wildcard("/api/users/:id".into()),
                Route::Exact("/api/users/:id".into())
            ]
        );
    }

    #[test]
    fn routes_matching_the_same_paths_are_duplicates() {
        let e = error(&format!(
            "{HEAD}[[trigger.http]]\nroute = \"/a/:x\"\ncomponent = \"c\"\n\
             [[trigger.http]]\nroute = \"/a/:y/\"\ncomponent = \"c\"\n\
             [component.c]\nsource = \"c.wasm\"\n"
        ));
        assert_eq!(
            e,
            "spin.toml:8:9: duplicate route \"/a/:y\": another trigger's route \"/a/:x\" matches the same paths (parameter names do not matter); give each trigger a different route\n\
             spin.toml:5:9: note: route \"/a/:x\" first used here"
        );
    }

    #[test]
    fn other_trigger_types_are_left_alone() {
        let m = parse(&format!(
            "{HEAD}[[trigger.redis]]\nchannel = \"x\"\ncomponent = \"c\"\n\
             [[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\n"
        ));
        let triggers = http_triggers(&m).unwrap();
        assert_eq!(triggers.len(), 1);
        assert_eq!(triggers[0].id, "c-http-trigger");
    }

    #[test]
    fn schema_errors_name_the_place() {
        let e = error(&format!(
            "{HEAD}[[trigger.http]]\nroute = 5\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\n"
        ));
        assert_eq!(
            e,
            "spin.toml:5:9: \"route\" in [[trigger.http]] must be a path string such as \"/hello\" or { private = true }, not an integer"
        );
        let e = error(&format!(
            "{HEAD}[[trigger.http]]\nroute = {{ privat = true }}\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\n"
        ));
        assert_eq!(
            e,
            "spin.toml:5:11: unknown field \"privat\" in the route of [[trigger.http]]; did you mean \"private\"?"
        );
        let e = error(&format!(
            "{HEAD}[[trigger.http]]\nroute = {{}}\n[component.c]\nsource = \"c.wasm\"\n"
        ));
        assert_eq!(
            e,
            "spin.toml:4:1: missing required field \"component\" in [[trigger.http]]; add e.g. component = \"my-component\"\n\
             spin.toml:5:9: missing required field \"private\" in the route of [[trigger.http]]; add e.g. route = { private = true }"
        );
        // A typo of `component` is explained once, by its "did you mean".
        let e = error(&format!(
            "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponnet = \"c\"\n[component.c]\nsource = \"c.wasm\"\n"
        ));
        assert_eq!(
            e,
            "spin.toml:6:1: unknown field \"componnet\" in [[trigger.http]]; did you mean \"component\"?"
        );
        let e = error(&format!(
            "{HEAD}[application.trigger.http]\nbase = \"api\"\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\nexecutor = {{ type = \"http\", argv = \"x\" }}\n[component.c]\nsource = \"c.wasm\"\n"
        ));
        assert_eq!(
            e,
            "spin.toml:5:8: invalid base \"api\": use a URL path prefix starting with '/', e.g. base = \"/api\"\n\
             spin.toml:9:36: \"argv\" in the executor of [[trigger.http]] only applies to type = \"wagi\"; remove it, or set type = \"wagi\""
        );
    }
}
