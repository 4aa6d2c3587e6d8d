//! App variables and secrets for guests, through Spin's
//! `fermyon:spin/variables@2.0.0` (what `spin_sdk::variables` in spin-sdk 5.x
//! imports) and `wasi:config/store@0.2.0-rc.1` (the wasi-config version
//! Wasmtime 48 implements).
//!
//! # Semantics (Spin's)
//!
//! A guest asks for a *component* variable: a key of its component's
//! `variables = { key = "template" }`. The template is rendered from the
//! app's `[variables]`, each of which gets its value from the first of:
//!
//! 1. a value given for this app by its operator (`nimbus up --variable`,
//!    `nimbus deploy --variable`: [`VariablesCapability::configure_with`]);
//! 2. the environment of the host process: `NIMBUS_VARIABLE_<NAME>`, then
//!    `SPIN_VARIABLE_<NAME>` (`<NAME>` is the variable name uppercased, e.g.
//!    `NIMBUS_VARIABLE_API_KEY` for `api_key`);
//! 3. the runtime config's `[variables]` table (see [`VariablesConfig`]);
//! 4. the variable's `default` in the manifest.
//!
//! A `required` variable without a value fails [`VariablesCapability::configure`],
//! naming it. Everything is resolved once, at configure (load) time; per
//! request an instance only holds an `Arc`. A guest sees only its own
//! component's keys: `wasi:config/store.get-all` returns exactly those.
//!
//! A variable declared `secret = true`, and every component variable whose
//! template uses one, is never written to logs, error messages or `Debug`
//! output (guests that are granted it do read its value, of course).
//!
//! # Wiring
//!
//! ```no_run
//! # use nimbus_cap_variables::*;
//! # use wasmtime::component::Linker;
//! struct State { variables: VariablesInstance /* , wasi, table, … */ }
//!
//! # fn demo(engine: &wasmtime::Engine, manifest: &nimbus_manifest::Manifest,
//! #         config: Option<VariablesConfig>) -> anyhow::Result<()> {
//! // Once per app (load/deploy): resolve every value, fail on missing ones.
//! let vars = VariablesCapability.configure(config, manifest, &|name| std::env::var(name).ok())?;
//! // Once per linker: both interfaces.
//! let mut linker = Linker::<State>::new(engine);
//! nimbus_cap_variables::add_to_linker(&mut linker, |s: &mut State| &mut s.variables)?;
//! // Once per request: one `Arc` clone.
//! let state = State { variables: vars.instance("my-component") };
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod capability;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;
use nimbus_manifest::{Manifest, VariableName};
use serde::Deserialize;
use wasmtime::component::{HasSelf, Linker};

/// Host bindings generated from `wit/` (`fermyon:spin/variables@2.0.0` and
/// `wasi:config/store@0.2.0-rc.1`).
#[allow(missing_docs)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "nimbus:variables/host",
    });
}

use bindings::fermyon::spin::variables as spin_variables;
use bindings::spin::variables::variables as spin_variables3;
use bindings::wasi::config::store as wasi_config;

/// The runtime config's `[variables]` table: values for app variables, a
/// static provider that comes after the environment and before the
/// manifest's defaults.
///
/// ```toml
/// [variables]
/// api_host = "api.example.com"
/// api_key = "s3cr3t"
/// ```
///
/// Every key must be an app variable declared in the manifest's
/// `[variables]` (a misspelt name is an error, not silently ignored); values
/// are strings. Read it with `RuntimeConfig::take::<VariablesConfig>("variables")`
/// (the key is [`VariablesCapability::CONFIG_KEY`]). Its `Debug` output shows
/// the names only, never the values.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct VariablesConfig {
    /// App variable name → value.
    pub values: BTreeMap<String, String>,
}

impl fmt::Debug for VariablesConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

/// The variables capability. Stateless; see [`VariablesCapability::configure`].
#[derive(Debug, Clone, Copy, Default)]
pub struct VariablesCapability;

/// Where an app variable's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Given,
    Env(String),
    RuntimeConfig,
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Given => f.write_str("the value given for this app"),
            Source::Env(name) => write!(f, "environment variable {name}"),
            Source::RuntimeConfig => f.write_str("runtime config [variables]"),
            Source::Default => f.write_str("manifest default"),
        }
    }
}

/// A resolved value, which knows whether it may be shown.
#[derive(Clone, PartialEq, Eq)]
struct Value {
    text: String,
    secret: bool,
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret {
            f.write_str("<secret>")
        } else {
            fmt::Debug::fmt(&self.text, f)
        }
    }
}

impl VariablesCapability {
    /// The runtime-config key this capability reads (`[variables]`).
    pub const CONFIG_KEY: &'static str = "variables";

    /// Resolves every app variable of `manifest` (environment through `env`,
    /// then `config`, then defaults) and renders every component variable.
    ///
    /// Fails, naming the variables (never their values), if a required
    /// variable has no value or `config` sets a variable the manifest does
    /// not declare. `env` looks a process environment variable up (pass
    /// `&|k| std::env::var(k).ok()`; tests pass a map).
    pub fn configure(
        &self,
        config: Option<VariablesConfig>,
        manifest: &Manifest,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<VariablesAppState> {
        self.configure_with(config, manifest, &[], env)
    }

    /// [`VariablesCapability::configure`] with values the operator gave for
    /// this app (`nimbus up --variable`, a node's per-app settings), which
    /// come before the environment.
    pub fn configure_with(
        &self,
        config: Option<VariablesConfig>,
        manifest: &Manifest,
        given: &[(String, String)],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<VariablesAppState> {
        let config = config.unwrap_or_default();
        let mut problems = Vec::new();

        let undeclared: Vec<&str> = config
            .values
            .keys()
            .filter(|k| !manifest.variables.contains_key(k.as_str()))
            .map(String::as_str)
            .collect();
        for name in undeclared {
            let declared = manifest
                .variables
                .keys()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>();
            let hint = if declared.is_empty() {
                "the manifest declares no [variables]".to_owned()
            } else {
                format!("declared variables: {}", declared.join(", "))
            };
            problems.push(format!(
                "runtime config [variables] sets `{name}`, which the manifest does not declare in \
                 [variables]; fix the name or declare it ({hint})"
            ));
        }

        let mut app_values: HashMap<&str, Value> = HashMap::new();
        for (name, variable) in &manifest.variables {
            let upper = name.as_str().to_ascii_uppercase();
            let from_operator = given
                .iter()
                .find(|(given, _)| given.eq_ignore_ascii_case(name.as_str()))
                .map(|(_, value)| (value.clone(), Source::Given));
            let from_env = || {
                ["NIMBUS_VARIABLE_", "SPIN_VARIABLE_"]
                    .into_iter()
                    .map(|prefix| format!("{prefix}{upper}"))
                    .find_map(|key| env(&key).map(|value| (value, Source::Env(key))))
            };
            let found = from_operator
                .or_else(from_env)
                .or_else(|| {
                    config
                        .values
                        .get(name.as_str())
                        .map(|v| (v.clone(), Source::RuntimeConfig))
                })
                .or_else(|| variable.default.clone().map(|v| (v, Source::Default)));
            match found {
                Some((text, source)) => {
                    tracing::debug!(
                        app = manifest.name(),
                        "variable `{name}`{}: from {source}",
                        if variable.secret { " (secret)" } else { "" }
                    );
                    app_values.insert(
                        name.as_str(),
                        Value {
                            text,
                            secret: variable.secret,
                        },
                    );
                }
                None if variable.required => problems.push(format!(
                    "app variable `{name}` is required but has no value{}; set the environment \
                     variable NIMBUS_VARIABLE_{upper} (or SPIN_VARIABLE_{upper}), or \
                     `{name} = \"...\"` in the [variables] table of the runtime config",
                    used_by(manifest, name)
                )),
                // Neither required nor defaulted (the manifest parser does
                // not produce this): an error only if a component uses it.
                None => {}
            }
        }

        let mut components = HashMap::new();
        for (id, component) in &manifest.components {
            let mut values = IndexMap::new();
            for (key, template) in &component.variables {
                let rendered = template.render(|v: &VariableName| {
                    app_values.get(v.as_str()).map(|value| value.text.as_str())
                });
                match rendered {
                    Ok(text) => {
                        let secret = template
                            .variables()
                            .any(|v| app_values.get(v.as_str()).is_some_and(|x| x.secret));
                        values.insert(key.to_string(), Value { text, secret });
                    }
                    // Required variables without a value were reported above.
                    Err(var) if manifest.variables.get(var).is_some_and(|v| v.required) => {}
                    Err(var) => problems.push(format!(
                        "component `{id}` variable `{key}` uses app variable `{var}`, which has \
                         no value; give `{var}` a `default` in [variables] or set it at runtime"
                    )),
                }
            }
            let vars = ComponentVars {
                component: id.to_string(),
                values,
            };
            components.insert(id.to_string(), Arc::new(vars));
        }

        if !problems.is_empty() {
            anyhow::bail!("{}", problems.join("\n"));
        }
        let app = app_values
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        Ok(VariablesAppState(Arc::new(AppVars { app, components })))
    }
}

/// Where app variable `name` is used, for the message about its missing
/// value: ` (used by component `web`'s variable `url` and
/// allowed_outbound_hosts)`, or nothing when no component uses it.
fn used_by(manifest: &Manifest, name: &VariableName) -> String {
    let mut uses = Vec::new();
    for (id, component) in &manifest.components {
        for (key, template) in &component.variables {
            if template.variables().any(|v| v == name) {
                uses.push(format!("component `{id}`'s variable `{key}`"));
            }
        }
        let in_hosts = component.allowed_outbound_hosts.iter().any(|entry| {
            matches!(entry, nimbus_manifest::AllowedHostEntry::Template(t) if t.variables().any(|v| v == name))
        });
        if in_hosts {
            uses.push(format!("component `{id}`'s allowed_outbound_hosts"));
        }
    }
    if uses.is_empty() {
        String::new()
    } else {
        format!(" (used by {})", uses.join(", "))
    }
}

/// One component's rendered variables.
struct ComponentVars {
    component: String,
    values: IndexMap<String, Value>,
}

impl fmt::Debug for ComponentVars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.values.iter()).finish()
    }
}

#[derive(Debug)]
struct AppVars {
    /// Every app variable with a value, by name.
    app: HashMap<String, Value>,
    components: HashMap<String, Arc<ComponentVars>>,
}

/// Every component variable of an app, resolved. Cheap to clone. Its
/// `Debug` output shows secret values as `<secret>`.
#[derive(Debug, Clone)]
pub struct VariablesAppState(Arc<AppVars>);

impl VariablesAppState {
    /// The value of app variable `name` (`[variables]`), for grants written
    /// as templates (`allowed_outbound_hosts`); `None` if it has none.
    pub fn app_value(&self, name: &str) -> Option<nimbus_capability::VariableValue> {
        self.0
            .app
            .get(name)
            .map(|value| nimbus_capability::VariableValue {
                value: value.text.clone(),
                secret: value.secret,
            })
    }

    /// The state for one instance of `component_id`: one `Arc` clone. An
    /// unknown component has no variables.
    pub fn instance(&self, component_id: &str) -> VariablesInstance {
        let vars = self.0.components.get(component_id).cloned();
        VariablesInstance {
            vars: vars.unwrap_or_else(|| {
                Arc::new(ComponentVars {
                    component: component_id.to_owned(),
                    values: IndexMap::new(),
                })
            }),
        }
    }
}

/// This capability's part of one store: the component's variables.
#[derive(Clone)]
pub struct VariablesInstance {
    vars: Arc<ComponentVars>,
}

impl fmt::Debug for VariablesInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VariablesInstance")
            .field("component", &self.vars.component)
            .field("variables", &self.vars)
            .finish()
    }
}

impl VariablesInstance {
    /// The value of component variable `key`, as the guest would get it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.values.get(key).map(|v| v.text.as_str())
    }

    /// The component's variable keys, in manifest order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.vars.values.keys().map(String::as_str)
    }
}

/// Adds `fermyon:spin/variables@2.0.0` and `wasi:config/store@0.2.0-rc.1`
/// (and `spin:variables@3.0.0` when `linker` takes concurrent host
/// functions, see [`nimbus_capability::links_concurrent`]) to `linker`;
/// `get` picks this capability's state out of the store's.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut VariablesInstance,
) -> wasmtime::Result<()> {
    spin_variables::add_to_linker::<T, HasSelf<VariablesInstance>>(linker, get)?;
    if nimbus_capability::links_concurrent(linker) {
        spin_variables3::add_to_linker::<T, HasSelf<VariablesInstance>>(linker, get)?;
    }
    wasi_config::add_to_linker::<T, HasSelf<VariablesInstance>>(linker, get)?;
    Ok(())
}

impl spin_variables::Host for VariablesInstance {
    fn get(&mut self, name: String) -> Result<String, spin_variables::Error> {
        self.lookup(&name).map_err(|err| match err {
            LookupError::InvalidName(message) => spin_variables::Error::InvalidName(message),
            LookupError::Undefined(message) => spin_variables::Error::Undefined(message),
        })
    }
}

/// Why a guest's `get` found no value (the same for both Spin versions).
enum LookupError {
    InvalidName(String),
    Undefined(String),
}

impl VariablesInstance {
    fn lookup(&self, name: &str) -> Result<String, LookupError> {
        if let Err(err) = VariableName::new(name) {
            return Err(LookupError::InvalidName(err.message().to_owned()));
        }
        match VariablesInstance::get(self, name) {
            Some(value) => Ok(value.to_owned()),
            None => {
                tracing::debug!(
                    component = %self.vars.component,
                    "guest asked for undefined variable `{name}`"
                );
                Err(LookupError::Undefined(format!(
                    "component `{}` has no variable `{name}`; add it to the component's \
                     `variables` in the manifest",
                    self.vars.component
                )))
            }
        }
    }
}

impl spin_variables3::Host for VariablesInstance {}

// `spin:variables@3.0.0`'s `get` is an async function: the host side gets
// the store through an accessor; the value is already resolved, so it
// answers at once.
impl<T> spin_variables3::HostWithStore<T> for HasSelf<VariablesInstance> {
    async fn get(
        accessor: &wasmtime::component::Accessor<T, Self>,
        name: String,
    ) -> Result<String, spin_variables3::Error> {
        accessor.with(|mut access| {
            access.get().lookup(&name).map_err(|err| match err {
                LookupError::InvalidName(message) => spin_variables3::Error::InvalidName(message),
                LookupError::Undefined(message) => spin_variables3::Error::Undefined(message),
            })
        })
    }
}

impl wasi_config::Host for VariablesInstance {
    fn get(&mut self, key: String) -> Result<Option<String>, wasi_config::Error> {
        Ok(VariablesInstance::get(self, &key).map(str::to_owned))
    }

    fn get_all(&mut self) -> Result<Vec<(String, String)>, wasi_config::Error> {
        Ok(self
            .vars
            .values
            .iter()
            .map(|(k, v)| (k.clone(), v.text.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests;
