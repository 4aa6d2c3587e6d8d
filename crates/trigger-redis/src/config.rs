//! The Redis trigger's manifest schema: `[[trigger.redis]]` tables and
//! `[application.trigger.redis]`, as Spin writes them.
//!
//! ```toml
//! [application.trigger.redis]
//! address = "redis://127.0.0.1:6379"     # the default of every trigger
//!
//! [[trigger.redis]]
//! channel = "orders"                     # required
//! component = "order-processor"          # required
//! address = "redis://{{ redis_host }}"   # optional: overrides the default
//! ```
//!
//! `address` and `channel` may hold `{{ variable }}` templates (rendered
//! when the trigger is built, see [`crate::trigger`]); `executor` is accepted
//! and ignored, as Spin does. Every problem is reported with `file:line:col`,
//! all of them at once.

use nimbus_manifest::{
    did_you_mean, ComponentId, Diagnostic, Located, Location, Manifest, ManifestError, Template,
    TriggerSection,
};
use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::TRIGGER_TYPE;

/// One `[[trigger.redis]]` table, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisTriggerConfig {
    /// `id`, or the id Spin generates (`<component>-redis-trigger`).
    pub id: String,
    /// The component to run.
    pub component: ComponentId,
    /// The channel, as written (may hold `{{ variable }}` templates).
    pub channel: Located<String>,
    /// The server address, as written: the trigger's own `address` or the
    /// app's default (may hold templates, and a password).
    pub address: Located<String>,
}

/// Reads and validates every `[[trigger.redis]]` table (and
/// `[application.trigger.redis]`), in file order.
pub fn redis_triggers(manifest: &Manifest) -> Result<Vec<RedisTriggerConfig>, ManifestError> {
    let mut diags = Vec::new();
    let default_address = read_settings(manifest, &mut diags);
    let mut triggers = Vec::new();
    for section in manifest.trigger_sections(TRIGGER_TYPE) {
        if let Some(trigger) = read_trigger(manifest, section, default_address.as_ref(), &mut diags)
        {
            triggers.push(trigger);
        }
    }
    ManifestError::or_ok(manifest.path(), diags, triggers)
}

/// `[application.trigger.redis]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    address: Option<Located<String>>,
}

/// The keys of a `[[trigger.redis]]` table besides `id` and `component`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    channel: Option<Located<String>>,
    address: Option<Located<String>>,
    // Spin accepts and ignores it ("currently unused").
    #[allow(dead_code)]
    executor: Option<IgnoredAny>,
}

/// The app's default address, checked; `None` when not written (or wrong,
/// which is reported).
fn read_settings(manifest: &Manifest, diags: &mut Vec<Diagnostic>) -> Option<Located<String>> {
    let section = manifest.trigger_settings(TRIGGER_TYPE)?;
    let raw: RawSettings = ManifestError::collect_into(section.deserialize(), diags)?;
    let address = raw.address?;
    check_address(manifest, &address, diags).then_some(address)
}

fn read_trigger(
    manifest: &Manifest,
    section: &TriggerSection,
    default_address: Option<&Located<String>>,
    diags: &mut Vec<Diagnostic>,
) -> Option<RedisTriggerConfig> {
    let config = &section.config;
    let raw: Option<RawTrigger> = ManifestError::collect_into(config.deserialize(), diags);
    let component = ManifestError::collect_into(
        section.required_component("component = \"my-component\""),
        diags,
    )
    .flatten()
    .cloned();
    let raw = raw?;
    let channel = match raw.channel {
        Some(channel) => check_template(manifest, &channel, diags).then_some(channel),
        None => {
            diags.push(Diagnostic::new(
                config.location(),
                format!(
                    "missing required field \"channel\" in {}; add e.g. channel = \"messages\"",
                    config.name()
                ),
            ));
            None
        }
    };
    let address = match raw.address {
        Some(address) => check_address(manifest, &address, diags).then_some(address),
        None => match default_address {
            Some(address) => Some(address.clone()),
            // An app default that was written but wrong is reported already.
            None if app_address_written(manifest) => None,
            None => {
                diags.push(Diagnostic::new(
                    config.location(),
                    format!(
                        "no Redis address for {} `{}`: add e.g. address = \"redis://127.0.0.1:6379\" to it, or to [application.trigger.redis] for every Redis trigger",
                        config.name(),
                        section.id
                    ),
                ));
                None
            }
        },
    };
    Some(RedisTriggerConfig {
        id: section.id.clone(),
        component: component?,
        channel: channel?,
        address: address?,
    })
}

fn app_address_written(manifest: &Manifest) -> bool {
    manifest
        .trigger_settings(TRIGGER_TYPE)
        .is_some_and(|s| s.keys().any(|k| k == "address"))
}

/// Checks a template's syntax and that each variable it uses is declared
/// in `[variables]`; reports problems at the value.
fn check_template(
    manifest: &Manifest,
    value: &Located<String>,
    diags: &mut Vec<Diagnostic>,
) -> bool {
    let template = match Template::parse(value) {
        Ok(template) => template,
        Err(err) => {
            diags.push(Diagnostic::new(value.location, err.message));
            return false;
        }
    };
    let mut ok = true;
    for name in template.variables() {
        if manifest.variables.keys().any(|v| v == name) {
            continue;
        }
        let hint = match did_you_mean(name.as_str(), manifest.variables.keys().map(|v| v.as_str()))
        {
            Some(s) => format!("did you mean {s:?}?"),
            None => format!(
                "declare it, e.g. [variables] {} = {{ default = \"...\" }}",
                name.as_str()
            ),
        };
        diags.push(Diagnostic::new(
            value.location,
            format!(
                "{value:?} uses variable `{}`, which [variables] does not declare; {hint}",
                name.as_str(),
                value = value.value
            ),
        ));
        ok = false;
    }
    ok
}

/// Checks an address: a template whose variables are declared and, when it
/// holds no variable, a Redis URL this build can connect to.
fn check_address(
    manifest: &Manifest,
    address: &Located<String>,
    diags: &mut Vec<Diagnostic>,
) -> bool {
    if !check_template(manifest, address, diags) {
        return false;
    }
    if Template::parse(address).is_ok_and(|t| t.is_literal()) {
        if let Err(err) = crate::server::Server::parse(address) {
            diags.push(Diagnostic::new(address.location, err));
            return false;
        }
    }
    true
}

/// Where `value` is written, for messages about it after rendering.
pub(crate) fn at(manifest: &Manifest, location: Location) -> String {
    format!(
        "{}:{}:{}",
        manifest.path().display(),
        location.line,
        location.column
    )
}
