//! Reads and validates a Nimbus app manifest.
//!
//! The format is Spin's manifest version 2 (`spin.toml`, see
//! <https://spinframework.dev/v2/manifest-reference>), so a Spin app's
//! `spin.toml` that uses standard fields parses unchanged, plus Nimbus's
//! `[component.NAME.limits]` table. A manifest may declare
//! `nimbus_manifest_version = 1` instead of `spin_manifest_version = 2`; the
//! schema is the same.
//!
//! ```
//! use nimbus_manifest::{Located, Manifest};
//!
//! let text = r#"
//! spin_manifest_version = 2
//! [application]
//! name = "hello"
//! [[trigger.http]]
//! route = "/..."
//! component = "hello"
//! [component.hello]
//! source = "hello.wasm"
//! allowed_outbound_hosts = ["https://example.com"]
//! [component.hello.limits]
//! memory = "64MiB"
//! timeout = "5s"
//! "#;
//! let manifest = Manifest::from_str(text, "spin.toml", ".")?;
//! manifest.check_trigger_types(&["http"])?;
//!
//! // A trigger crate reads its own sections with its own schema.
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Http {
//!     route: Located<String>,
//! }
//! let trigger = manifest.trigger_sections("http").next().unwrap();
//! assert_eq!(trigger.id, "hello-http-trigger");
//! assert_eq!(trigger.component.as_ref().unwrap(), "hello");
//! let http: Http = trigger.config.deserialize()?;
//! assert_eq!((http.route.value.as_str(), http.route.location.line), ("/...", 6));
//!
//! let hello = manifest.component("hello").unwrap();
//! assert_eq!(hello.limits.memory, Some(64 * 1024 * 1024));
//! assert!(hello.allowed_outbound_hosts[0]
//!     .pattern()
//!     .is_some_and(|p| p.allows("https", "example.com", 443)));
//! # Ok::<(), nimbus_manifest::ManifestError>(())
//! ```
//!
//! Triggers are data of their type: every `[[trigger.TYPE]]` table becomes a
//! [`TriggerSection`] (its `id` and `component` resolved the way Spin does,
//! the rest a [`Section`]), and every `[application.trigger.TYPE]` table a
//! [`Section`] in [`Application::trigger_settings`]. Each trigger crate owns
//! its section's schema and reads it with [`Section::deserialize`];
//! [`Manifest::check_trigger_types`] refuses the types a build does not run,
//! and [`Manifest::from_file_with`] runs such checks together with parsing so
//! that one error lists every problem.
//!
//! Every error message is one or more lines of the form
//! `path:line:col: what is wrong; how to fix it`.
//!
//! Spin fields that Nimbus does not support yet are recognised and reported
//! as errors with a hint, rather than as unknown fields: remote and registry component sources, component `dependencies`,
//! `profile`, `static_response` and the deprecated `allowed_http_hosts`.
//! Spin's `tool` tables and `[application] targets`
//! are accepted and ignored, as Spin does.

#![warn(missing_docs)]

mod error;
mod executor;
mod host;
mod ids;
mod manifest;
mod parse;
mod route;
mod section;
mod suggest;
mod template;
mod trigger;

pub use error::{Diagnostic, Location, ManifestError, Note};
pub use executor::Executor;
pub use host::{
    default_port, AllowedHostEntry, HostMatch, HostPattern, HostPatternError, PortPattern,
    SchemePattern,
};
pub use ids::{ComponentId, InvalidIdError, StoreLabel, VariableName};
pub use manifest::{
    find_default, Application, Build, Component, FileMount, Limits, Manifest, ManifestVersion,
    Variable,
};
pub use route::{PathMatch, Route, RouteError, RouteSegment, Specificity};
pub use section::{Located, Section};
pub use suggest::did_you_mean;
pub use template::{Template, TemplateError, TemplatePart};
pub use trigger::TriggerSection;
