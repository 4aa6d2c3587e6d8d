//! Reads the TOML document (with spans) into the validated model, collecting
//! every problem found as a [`Diagnostic`].

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use toml::de::{DeString, DeTable, DeValue};
use toml::Spanned;

use crate::error::{Diagnostic, Location, ManifestError};
use crate::host::HostPattern;
use crate::ids::{ComponentId, StoreLabel, VariableName};
use crate::manifest::{
    Application, Build, Component, ComponentLocations, Executor, FileMount, HttpTrigger, Limits,
    Manifest, ManifestVersion, Variable,
};
use crate::route::Route;
use crate::suggest::{did_you_mean, one_of};
use crate::template::Template;

type Key<'i> = Spanned<DeString<'i>>;
type Val<'i> = Spanned<DeValue<'i>>;

const TOP_KEYS: &[&str] = &[
    "spin_manifest_version",
    "nimbus_manifest_version",
    "application",
    "variables",
    "trigger",
    "component",
];
const APPLICATION_KEYS: &[&str] = &[
    "name",
    "version",
    "description",
    "authors",
    "trigger",
    "tool",
    "targets",
];
const VARIABLE_KEYS: &[&str] = &["default", "required", "secret", "description"];
const TRIGGER_KEYS: &[&str] = &[
    "id",
    "route",
    "component",
    "executor",
    "static_response",
    "components",
];
const COMPONENT_KEYS: &[&str] = &[
    "source",
    "description",
    "files",
    "exclude_files",
    "environment",
    "allowed_outbound_hosts",
    "allowed_http_hosts",
    "key_value_stores",
    "sqlite_databases",
    "variables",
    "ai_models",
    "build",
    "limits",
    "tool",
    "dependencies",
    "dependencies_inherit_configuration",
    "profile",
];
const BUILD_KEYS: &[&str] = &["command", "workdir", "watch"];
const LIMITS_KEYS: &[&str] = &["memory", "timeout", "max_concurrency", "max_body_size"];

/// A table being read, with its name for messages (`""` is the top level) and
/// the span to point at when a required field is missing.
struct Tbl<'a, 'i> {
    table: &'a DeTable<'i>,
    name: String,
    span: Range<usize>,
}

impl<'a, 'i> Tbl<'a, 'i> {
    fn get(&self, key: &str) -> Option<(&'a Key<'i>, &'a Val<'i>)> {
        self.table.get_key_value(key)
    }

    /// `in [component.x]`, or `at the top level`.
    fn whereabouts(&self) -> String {
        if self.name.is_empty() {
            "at the top level".to_string()
        } else {
            format!("in {}", self.name)
        }
    }

    /// `"key" in [component.x]`, or `"key"` at the top level.
    fn field(&self, key: &str) -> String {
        if self.name.is_empty() {
            format!("{key:?}")
        } else {
            format!("{key:?} in {}", self.name)
        }
    }
}

/// A TOML key as written in a table header: bare when possible, else quoted.
fn toml_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

/// Spin treats an empty `version` or `description` as absent; so do we.
fn non_empty(s: Option<Spanned<String>>) -> Option<String> {
    s.map(Spanned::into_inner).filter(|s| !s.is_empty())
}

fn article(type_name: &str) -> String {
    match type_name.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {type_name}"),
        _ => format!("a {type_name}"),
    }
}

/// Names used in messages about one component.
struct ComponentNames {
    main: String,
    build: String,
    limits: String,
    /// How to refer to the component in prose: "component `x`".
    prose: String,
}

impl ComponentNames {
    fn named(id: &str) -> ComponentNames {
        let key = toml_key(id);
        ComponentNames {
            main: format!("[component.{key}]"),
            build: format!("[component.{key}.build]"),
            limits: format!("[component.{key}.limits]"),
            prose: format!("component `{id}`"),
        }
    }

    fn inline() -> ComponentNames {
        ComponentNames {
            main: "the inline component".to_string(),
            build: "the inline component's build table".to_string(),
            limits: "the inline component's limits table".to_string(),
            prose: "the inline component".to_string(),
        }
    }
}

enum ComponentRef {
    Id(ComponentId, Range<usize>),
    Inline(Box<(Component, ComponentLocations)>),
}

struct RawTrigger {
    id: Option<(String, Range<usize>)>,
    route: Option<(Route, Range<usize>)>,
    component: Option<ComponentRef>,
    executor: Executor,
}

struct Parser<'s> {
    src: &'s str,
    diags: Vec<Diagnostic>,
    /// Start offsets of keys already reported as unknown fields.
    unknown_keys: HashSet<usize>,
}

pub(crate) fn parse(text: &str, path: &Path, dir: &Path) -> Result<Manifest, ManifestError> {
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let location = e
                .span()
                .map_or(Location::START, |s| Location::from_offset(text, s.start));
            let message = format!(
                "TOML syntax error: {}; see https://toml.io for the syntax",
                e.message().trim_end()
            );
            return Err(ManifestError::invalid(
                path,
                vec![Diagnostic::new(location, message)],
            ));
        }
    };
    let mut p = Parser {
        src: text,
        diags: Vec::new(),
        unknown_keys: HashSet::new(),
    };
    let manifest = p.manifest(root.get_ref(), path, dir);
    match manifest {
        Some(m) if p.diags.is_empty() => Ok(m),
        _ => {
            if p.diags.is_empty() {
                // Defensive: never fail without saying why.
                p.diags.push(Diagnostic::new(
                    Location::START,
                    "invalid manifest".to_string(),
                ));
            }
            Err(ManifestError::invalid(path, p.diags))
        }
    }
}

impl<'s> Parser<'s> {
    fn loc(&self, offset: usize) -> Location {
        Location::from_offset(self.src, offset)
    }

    fn error(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let location = self.loc(span.start);
        self.diags.push(Diagnostic::new(location, message));
    }

    /// The byte offset of character `offset` of a string value's contents,
    /// when the source text between the quotes is exactly the value (no
    /// escapes); else the start of the value.
    fn offset_in_string(&self, span: &Range<usize>, value: &str, offset: usize) -> usize {
        let raw = &self.src[span.clone()];
        for quote in ["\"\"\"", "'''", "\"", "'"] {
            if raw.len() >= 2 * quote.len() && raw.starts_with(quote) && raw.ends_with(quote) {
                if &raw[quote.len()..raw.len() - quote.len()] == value {
                    return span.start + quote.len() + offset;
                }
                break;
            }
        }
        span.start
    }

    fn check_keys(&mut self, t: &Tbl, known: &[&str]) {
        for (key, _) in t.table.iter() {
            let name: &str = key.get_ref();
            if known.contains(&name) {
                continue;
            }
            let message = match did_you_mean(name, known.iter().copied()) {
                Some(s) => format!(
                    "unknown field {name:?} {}; did you mean {s:?}?",
                    t.whereabouts()
                ),
                None => format!(
                    "unknown field {name:?} {}; expected {}",
                    t.whereabouts(),
                    one_of(known)
                ),
            };
            self.unknown_keys.insert(key.span().start);
            self.error(&key.span(), message);
        }
    }

    /// True if `t` has a key already reported as an unknown field that looks
    /// like a typo of `key`: its "did you mean" already explains the problem.
    fn has_typo_of(&self, t: &Tbl, key: &str) -> bool {
        t.table.iter().any(|(k, _)| {
            self.unknown_keys.contains(&k.span().start)
                && did_you_mean(k.get_ref(), [key]).is_some()
        })
    }

    fn missing(&mut self, t: &Tbl, key: &str, example: &str) {
        if self.has_typo_of(t, key) {
            return;
        }
        let message = format!(
            "missing required field {key:?} {}; add e.g. {example}",
            t.whereabouts()
        );
        self.error(&t.span, message);
    }

    fn type_error(&mut self, v: &Val, what: &str, expected: &str) {
        let message = format!(
            "{what} must be {expected}, not {}",
            article(v.get_ref().type_str())
        );
        self.error(&v.span(), message);
    }

    fn as_string(&mut self, v: &Val, what: &str) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.type_error(v, what, "a string");
                None
            }
        }
    }

    fn opt_string(&mut self, t: &Tbl, key: &str) -> Option<Spanned<String>> {
        let (_, v) = t.get(key)?;
        let s = self.as_string(v, &t.field(key))?;
        Some(Spanned::new(v.span(), s))
    }

    fn req_string(&mut self, t: &Tbl, key: &str, example: &str) -> Option<Spanned<String>> {
        if t.get(key).is_none() {
            self.missing(t, key, example);
            return None;
        }
        self.opt_string(t, key)
    }

    fn opt_bool(&mut self, t: &Tbl, key: &str) -> Option<bool> {
        let (_, v) = t.get(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.type_error(v, &t.field(key), "true or false");
                None
            }
        }
    }

    fn opt_array<'a, 'i>(&mut self, t: &Tbl<'a, 'i>, key: &str) -> &'a [Val<'i>] {
        let Some((_, v)) = t.get(key) else {
            return &[];
        };
        match v.get_ref() {
            DeValue::Array(items) => items,
            _ => {
                self.type_error(v, &t.field(key), "an array");
                &[]
            }
        }
    }

    fn opt_string_list(&mut self, t: &Tbl, key: &str) -> Vec<Spanned<String>> {
        let what = format!("each entry of {}", t.field(key));
        let mut out = Vec::new();
        for item in self.opt_array(t, key) {
            if let Some(s) = self.as_string(item, &what) {
                out.push(Spanned::new(item.span(), s));
            }
        }
        out
    }

    fn opt_table<'a, 'i>(
        &mut self,
        t: &Tbl<'a, 'i>,
        key: &str,
        name: String,
    ) -> Option<Tbl<'a, 'i>> {
        let (_, v) = t.get(key)?;
        match v.get_ref() {
            DeValue::Table(table) => Some(Tbl {
                table,
                name,
                span: v.span(),
            }),
            _ => {
                self.type_error(v, &t.field(key), "a table");
                None
            }
        }
    }

    fn integer(&mut self, v: &Val, what: &str, expected: &str) -> Option<i128> {
        match v.get_ref() {
            DeValue::Integer(i) => match i128::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.type_error(v, what, expected);
                    None
                }
            },
            _ => {
                self.type_error(v, what, expected);
                None
            }
        }
    }

    // ---- the document -------------------------------------------------

    fn manifest(&mut self, root: &DeTable, path: &Path, dir: &Path) -> Option<Manifest> {
        let top = Tbl {
            table: root,
            name: String::new(),
            span: 0..0,
        };
        let version = self.version(&top);
        if version.is_none()
            && (top.get("spin_manifest_version").is_some()
                || top.get("spin_version").is_some()
                || top.get("nimbus_manifest_version").is_some())
        {
            // An unsupported version: the rest would only add noise.
            return None;
        }
        self.check_keys(&top, TOP_KEYS);
        let application = self.application(&top);
        let variables = self.variables(&top);

        // Named components.
        let mut components = IndexMap::new();
        let mut locations = IndexMap::new();
        let mut declared: HashSet<String> = HashSet::new();
        if let Some(table) = self.opt_table(&top, "component", "[component]".to_string()) {
            for (key, value) in table.table.iter() {
                let raw_id: &str = key.get_ref();
                let id = match ComponentId::new(raw_id) {
                    Ok(id) => {
                        declared.insert(raw_id.to_string());
                        Some(id)
                    }
                    Err(e) => {
                        self.error(&key.span(), e.to_string());
                        None
                    }
                };
                let names = ComponentNames::named(raw_id);
                let DeValue::Table(ct) = value.get_ref() else {
                    let what = names.main.clone();
                    self.type_error(value, &what, "a table");
                    continue;
                };
                let ct = Tbl {
                    table: ct,
                    name: names.main.clone(),
                    span: value.span(),
                };
                let parsed = self.component(&ct, &names, &variables);
                if let (Some(id), Some((component, locs))) = (id, parsed) {
                    locations.insert(id.clone(), locs);
                    components.insert(id, component);
                }
            }
        }

        let raw_triggers = self.triggers(&top, &variables);
        let triggers = self.resolve_triggers(
            raw_triggers,
            &mut components,
            &mut locations,
            &declared,
            application.as_ref().map_or("/", |a| a.http_base.as_str()),
        );

        Some(Manifest {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            manifest_version: version?,
            application: application?,
            variables,
            triggers,
            components,
            locations,
        })
    }

    fn version(&mut self, top: &Tbl) -> Option<ManifestVersion> {
        let spin = top.get("spin_manifest_version");
        let nimbus = top.get("nimbus_manifest_version");
        let value_text = |v: &Val| -> Option<String> {
            match v.get_ref() {
                DeValue::Integer(i) => Some(i.as_str().to_string()),
                DeValue::String(s) => Some(s.to_string()),
                _ => None,
            }
        };
        match (spin, nimbus) {
            (None, None) if top.get("spin_version").is_some() => {
                let (key, _) = top.get("spin_version").expect("checked above");
                self.error(
                    &key.span(),
                    "this is a Spin 1 manifest (`spin_version`), which is not supported; convert it to version 2 (see https://spinframework.dev/v2/manifest-reference)",
                );
                None
            }
            (None, None) => {
                self.error(
                    &(0..0),
                    "missing manifest version; add `spin_manifest_version = 2` (or `nimbus_manifest_version = 1`) as the first line",
                );
                None
            }
            (Some(_), Some((key, _))) => {
                self.error(
                    &key.span(),
                    "both spin_manifest_version and nimbus_manifest_version are set; keep only one",
                );
                None
            }
            (Some((_, v)), None) => match value_text(v).as_deref() {
                Some("2") => Some(ManifestVersion::Spin2),
                Some("1") => {
                    self.error(
                        &v.span(),
                        "spin_manifest_version 1 (the Spin 1 format) is not supported; convert the manifest to version 2 (see https://spinframework.dev/v2/manifest-reference)",
                    );
                    None
                }
                Some(other) => {
                    self.error(
                        &v.span(),
                        format!("unsupported spin_manifest_version {other}; Nimbus reads version 2, write `spin_manifest_version = 2`"),
                    );
                    None
                }
                None => {
                    self.type_error(v, "spin_manifest_version", "the integer 2");
                    None
                }
            },
            (None, Some((_, v))) => match value_text(v).as_deref() {
                Some("1") => Some(ManifestVersion::Nimbus1),
                Some(other) => {
                    self.error(
                        &v.span(),
                        format!("unsupported nimbus_manifest_version {other}; the only version is 1, write `nimbus_manifest_version = 1`"),
                    );
                    None
                }
                None => {
                    self.type_error(v, "nimbus_manifest_version", "the integer 1");
                    None
                }
            },
        }
    }

    fn application(&mut self, top: &Tbl) -> Option<Application> {
        if top.get("application").is_none() {
            if self.has_typo_of(top, "application") {
                return None;
            }
            self.error(
                &(0..0),
                "missing [application] table; add one with at least `name = \"my-app\"`",
            );
            return None;
        }
        let t = self.opt_table(top, "application", "[application]".to_string())?;
        self.check_keys(&t, APPLICATION_KEYS);
        let name = self.req_string(&t, "name", "name = \"my-app\"");
        if let Some(n) = &name {
            if n.get_ref().trim().is_empty() {
                self.error(&n.span(), "the application name must not be empty");
            }
        }
        let version = non_empty(self.opt_string(&t, "version"));
        let description = non_empty(self.opt_string(&t, "description"));
        let authors = self
            .opt_string_list(&t, "authors")
            .into_iter()
            .map(Spanned::into_inner)
            .collect();
        // Spin ignores `tool` (settings for other tools) and `targets`
        // (deployment environments); so do we, after checking their shape.
        self.opt_table(&t, "tool", "[application.tool]".to_string());
        self.opt_array(&t, "targets");

        let mut http_base = "/".to_string();
        if let Some(triggers) = self.opt_table(&t, "trigger", "[application.trigger]".to_string()) {
            for (key, value) in triggers.table.iter() {
                let kind: &str = key.get_ref();
                if kind != "http" {
                    self.error(
                        &key.span(),
                        format!("trigger type {kind:?} is not supported; Nimbus supports only http triggers"),
                    );
                    continue;
                }
                let DeValue::Table(ht) = value.get_ref() else {
                    self.type_error(value, "[application.trigger.http]", "a table");
                    continue;
                };
                let ht = Tbl {
                    table: ht,
                    name: "[application.trigger.http]".to_string(),
                    span: value.span(),
                };
                self.check_keys(&ht, &["base"]);
                if let Some(base) = self.opt_string(&ht, "base") {
                    let b = base.get_ref();
                    if !b.starts_with('/') || b.contains(['?', '#', ' ']) || b.contains("...") {
                        self.error(
                            &base.span(),
                            format!("invalid base {b:?}: use a URL path prefix starting with '/', e.g. base = \"/api\""),
                        );
                    } else {
                        let trimmed = b.trim_end_matches('/');
                        http_base = if trimmed.is_empty() {
                            "/".to_string()
                        } else {
                            trimmed.to_string()
                        };
                    }
                }
            }
        }

        Some(Application {
            name: name?.into_inner(),
            version,
            description,
            authors,
            http_base,
        })
    }

    fn variables(&mut self, top: &Tbl) -> IndexMap<VariableName, Variable> {
        let mut out = IndexMap::new();
        let Some(t) = self.opt_table(top, "variables", "[variables]".to_string()) else {
            return out;
        };
        for (key, value) in t.table.iter() {
            let raw: &str = key.get_ref();
            let name = match VariableName::new(raw) {
                Ok(n) => Some(n),
                Err(e) => {
                    self.error(&key.span(), e.to_string());
                    None
                }
            };
            let section = format!("[variables.{}]", toml_key(raw));
            let DeValue::Table(vt) = value.get_ref() else {
                self.type_error(
                    value,
                    &format!("variable {raw:?}"),
                    "a table such as { default = \"value\" } or { required = true }",
                );
                continue;
            };
            let vt = Tbl {
                table: vt,
                name: section,
                span: value.span(),
            };
            self.check_keys(&vt, VARIABLE_KEYS);
            let default = self.opt_string(&vt, "default");
            let required = self.opt_bool(&vt, "required").unwrap_or(false);
            let secret = self.opt_bool(&vt, "secret").unwrap_or(false);
            let description = self.opt_string(&vt, "description").map(Spanned::into_inner);
            match (&default, required) {
                (Some(d), true) => self.error(
                    &d.span(),
                    format!("variable {raw:?} has both a default and `required = true`; remove one (a required variable must be given a value at runtime)"),
                ),
                (None, false) => self.error(
                    &value.span(),
                    format!("variable {raw:?} needs either `default = \"...\"` or `required = true`"),
                ),
                _ => {}
            }
            if let Some(name) = name {
                out.insert(
                    name,
                    Variable {
                        default: default.map(Spanned::into_inner),
                        required,
                        secret,
                        description,
                    },
                );
            }
        }
        out
    }

    // ---- components ---------------------------------------------------

    fn component(
        &mut self,
        t: &Tbl,
        names: &ComponentNames,
        app_vars: &IndexMap<VariableName, Variable>,
    ) -> Option<(Component, ComponentLocations)> {
        self.check_keys(t, COMPONENT_KEYS);
        let mut locs = ComponentLocations::default();

        let source = match t.get("source") {
            None => {
                self.missing(
                    t,
                    "source",
                    "source = \"target/wasm32-wasip2/release/app.wasm\"",
                );
                None
            }
            Some((_, v)) => {
                locs.source = self.loc(v.span().start);
                self.source(v, names)
            }
        };
        let description = non_empty(self.opt_string(t, "description"));
        let files = self.files(t, &mut locs);
        let exclude_files = self
            .opt_string_list(t, "exclude_files")
            .into_iter()
            .map(Spanned::into_inner)
            .collect();

        let mut environment = IndexMap::new();
        if let Some(env) = self.opt_table(t, "environment", format!("{} environment", names.main)) {
            for (key, value) in env.table.iter() {
                let name: &str = key.get_ref();
                let what = format!("environment variable {name:?}");
                if let Some(v) = self.as_string(value, &what) {
                    environment.insert(name.to_string(), v);
                }
            }
        }

        let mut allowed_outbound_hosts = Vec::new();
        for entry in self.opt_string_list(t, "allowed_outbound_hosts") {
            match HostPattern::parse(entry.get_ref()) {
                Ok(h) => allowed_outbound_hosts.push(h),
                Err(e) => self.error(&entry.span(), e.to_string()),
            }
        }
        if let Some((key, _)) = t.get("allowed_http_hosts") {
            let converted: Vec<String> = self
                .opt_string_list(t, "allowed_http_hosts")
                .iter()
                .flat_map(|h| {
                    let h = h.get_ref();
                    if h == "insecure:allow-all" {
                        vec!["*://*:*".to_string()]
                    } else if h.contains("://") {
                        vec![h.clone()]
                    } else {
                        vec![format!("https://{h}"), format!("http://{h}")]
                    }
                })
                .collect();
            self.error(
                &key.span(),
                format!("allowed_http_hosts is deprecated and not supported; replace it with allowed_outbound_hosts = {converted:?}"),
            );
        }

        let key_value_stores = self.labels(t, "key_value_stores");
        let sqlite_databases = self.labels(t, "sqlite_databases");
        let variables = self.component_variables(t, names, app_vars);
        let ai_models = self
            .opt_string_list(t, "ai_models")
            .into_iter()
            .map(Spanned::into_inner)
            .collect();
        let build = match self.opt_table(t, "build", names.build.clone()) {
            Some(bt) => self.build(&bt),
            None => None,
        };
        let limits = match self.opt_table(t, "limits", names.limits.clone()) {
            Some(lt) => self.limits(&lt),
            None => Limits::default(),
        };

        // Spin fields Nimbus accepts but ignores, or does not support yet.
        self.opt_table(t, "tool", format!("{} tool", names.main));
        self.opt_bool(t, "dependencies_inherit_configuration");
        if let Some(deps) =
            self.opt_table(t, "dependencies", format!("{} dependencies", names.main))
        {
            if !deps.table.is_empty() {
                self.error(
                    &deps.span,
                    format!("{}: component dependencies are not supported yet; compose the component ahead of time (e.g. with `wac plug`) and point `source` at the result", names.prose),
                );
            }
        }
        if let Some((key, _)) = t.get("profile") {
            self.error(
                &key.span(),
                format!(
                    "{}: build profiles are not supported yet; remove `profile`",
                    names.prose
                ),
            );
        }

        Some((
            Component {
                source: source?,
                description,
                files,
                exclude_files,
                environment,
                allowed_outbound_hosts,
                key_value_stores,
                sqlite_databases,
                variables,
                ai_models,
                build,
                limits,
            },
            locs,
        ))
    }

    fn source(&mut self, v: &Val, names: &ComponentNames) -> Option<PathBuf> {
        match v.get_ref() {
            DeValue::String(s) if s.trim().is_empty() => {
                self.error(
                    &v.span(),
                    format!("{}: empty source; give the path of the component's .wasm file, e.g. source = \"target/wasm32-wasip2/release/app.wasm\"", names.prose),
                );
                None
            }
            DeValue::String(s) => Some(PathBuf::from(s.as_ref())),
            DeValue::Table(st) => {
                let st = Tbl {
                    table: st,
                    name: format!("the source of {}", names.prose),
                    span: v.span(),
                };
                self.check_keys(&st, &["url", "digest", "registry", "package", "version"]);
                let message = if st.get("url").is_some() {
                    "remote sources are not supported yet; download the .wasm file and use source = \"path/to/component.wasm\""
                } else if st.get("package").is_some() || st.get("registry").is_some() {
                    "registry sources are not supported yet; fetch the component and use source = \"path/to/component.wasm\""
                } else {
                    "a source table needs `url` and `digest`; for a local file use source = \"path/to/component.wasm\""
                };
                self.error(&v.span(), format!("{}: {message}", names.prose));
                None
            }
            _ => {
                self.type_error(
                    v,
                    &format!("the source of {}", names.prose),
                    "a path string such as \"app.wasm\"",
                );
                None
            }
        }
    }

    fn files(&mut self, t: &Tbl, locs: &mut ComponentLocations) -> Vec<FileMount> {
        let mut out = Vec::new();
        let what = format!("each entry of {}", t.field("files"));
        for item in self.opt_array(t, "files") {
            match item.get_ref() {
                DeValue::String(s) => {
                    locs.files.push(self.loc(item.span().start));
                    out.push(FileMount::Pattern(s.to_string()));
                }
                DeValue::Table(ft) => {
                    let ft = Tbl {
                        table: ft,
                        name: format!("a files entry of {}", t.name),
                        span: item.span(),
                    };
                    self.check_keys(&ft, &["source", "destination"]);
                    let source = self.req_string(&ft, "source", "source = \"static\"");
                    let destination =
                        self.req_string(&ft, "destination", "destination = \"/static\"");
                    if let Some(d) = &destination {
                        if !d.get_ref().starts_with('/') {
                            self.error(
                                &d.span(),
                                format!("files destination {:?} must be an absolute path in the guest, e.g. \"/{}\"", d.get_ref(), d.get_ref()),
                            );
                        }
                    }
                    if let (Some(source), Some(destination)) = (source, destination) {
                        locs.files.push(self.loc(source.span().start));
                        out.push(FileMount::Placement {
                            source: PathBuf::from(source.into_inner()),
                            destination: destination.into_inner(),
                        });
                    }
                }
                _ => self.type_error(
                    item,
                    &what,
                    "a glob pattern string or a { source = \"...\", destination = \"/...\" } table",
                ),
            }
        }
        out
    }

    fn labels(&mut self, t: &Tbl, key: &str) -> Vec<StoreLabel> {
        let mut out = Vec::new();
        for entry in self.opt_string_list(t, key) {
            match StoreLabel::new(entry.get_ref().as_str()) {
                Ok(l) => out.push(l),
                Err(e) => self.error(&entry.span(), format!("in {key}: {e}")),
            }
        }
        out
    }

    fn component_variables(
        &mut self,
        t: &Tbl,
        names: &ComponentNames,
        app_vars: &IndexMap<VariableName, Variable>,
    ) -> IndexMap<VariableName, Template> {
        let mut out = IndexMap::new();
        let Some(vt) = self.opt_table(t, "variables", format!("{} variables", names.main)) else {
            return out;
        };
        for (key, value) in vt.table.iter() {
            let raw: &str = key.get_ref();
            let name = match VariableName::new(raw) {
                Ok(n) => Some(n),
                Err(e) => {
                    self.error(&key.span(), format!("{}: {e}", names.prose));
                    None
                }
            };
            let Some(text) = self.as_string(value, &format!("component variable {raw:?}")) else {
                continue;
            };
            let span = value.span();
            match Template::parse_with_offsets(&text) {
                Err(e) => {
                    let at = self.offset_in_string(&span, &text, e.offset);
                    self.error(
                        &(at..at),
                        format!("in component variable {raw:?}: {}", e.message),
                    );
                }
                Ok((template, refs)) => {
                    for (var, offset) in refs {
                        if app_vars.contains_key(&var) {
                            continue;
                        }
                        let hint =
                            match did_you_mean(var.as_str(), app_vars.keys().map(|k| k.as_str())) {
                                Some(s) => format!("did you mean {s:?}?"),
                                None => format!(
                                    "declare it, e.g. `[variables] {var} = {{ required = true }}`"
                                ),
                            };
                        let at = self.offset_in_string(&span, &text, offset);
                        self.error(
                            &(at..at),
                            format!("component variable {raw:?} refers to {var:?}, which is not declared in [variables]; {hint}"),
                        );
                    }
                    if let Some(name) = name {
                        out.insert(name, template);
                    }
                }
            }
        }
        out
    }

    fn build(&mut self, t: &Tbl) -> Option<Build> {
        self.check_keys(t, BUILD_KEYS);
        let example = "command = \"cargo build --target wasm32-wasip2 --release\"";
        let command = match t.get("command") {
            None => {
                self.missing(t, "command", example);
                None
            }
            Some((_, v)) => match v.get_ref() {
                DeValue::String(s) => Some(vec![s.to_string()]),
                DeValue::Array(_) => {
                    let list = self.opt_string_list(t, "command");
                    if list.is_empty() {
                        self.error(
                            &v.span(),
                            format!("empty build command list; add e.g. {example}"),
                        );
                        None
                    } else {
                        Some(list.into_iter().map(Spanned::into_inner).collect())
                    }
                }
                _ => {
                    self.type_error(v, &t.field("command"), "a string or an array of strings");
                    None
                }
            },
        };
        let mut command = command?;
        if let Some((_, v)) = t.get("command") {
            if command.iter().any(|c| c.trim().is_empty()) {
                self.error(
                    &v.span(),
                    format!("empty build command; add e.g. {example}"),
                );
                command.retain(|c| !c.trim().is_empty());
            }
        }
        let workdir = self
            .opt_string(t, "workdir")
            .map(|w| PathBuf::from(w.into_inner()));
        let watch = self
            .opt_string_list(t, "watch")
            .into_iter()
            .map(Spanned::into_inner)
            .collect();
        Some(Build {
            command,
            workdir,
            watch,
        })
    }

    fn limits(&mut self, t: &Tbl) -> Limits {
        self.check_keys(t, LIMITS_KEYS);
        let mut limits = Limits::default();
        if let Some((_, v)) = t.get("memory") {
            limits.memory = self.size(v, &t.field("memory"), false);
        }
        if let Some((_, v)) = t.get("max_body_size") {
            limits.max_body_size = self.size(v, &t.field("max_body_size"), true);
        }
        if let Some((_, v)) = t.get("timeout") {
            let what = t.field("timeout");
            let hint = "use a number with a unit, e.g. \"5s\", \"500ms\" or \"1m 30s\"";
            match v.get_ref() {
                DeValue::String(s) => match humantime::parse_duration(s.trim()) {
                    Ok(d) if d.is_zero() => {
                        self.error(
                            &v.span(),
                            format!("{what} must be greater than zero; {hint}"),
                        );
                    }
                    Ok(d) => limits.timeout = Some(d),
                    Err(_) => {
                        self.error(
                            &v.span(),
                            format!("invalid duration {s:?} for {what}; {hint}"),
                        );
                    }
                },
                _ => self.type_error(v, &what, &format!("a string with a unit ({hint})")),
            }
        }
        if let Some((_, v)) = t.get("max_concurrency") {
            let what = t.field("max_concurrency");
            let expected = "a positive integer (e.g. max_concurrency = 100)";
            if let Some(n) = self.integer(v, &what, expected) {
                if n < 1 {
                    self.error(&v.span(), format!("{what} must be at least 1, not {n}"));
                } else if n > i128::from(u32::MAX) {
                    self.error(
                        &v.span(),
                        format!("{what} is too large (at most {})", u32::MAX),
                    );
                } else {
                    limits.max_concurrency = u32::try_from(n).ok();
                }
            }
        }
        limits
    }

    fn size(&mut self, v: &Val, what: &str, allow_zero: bool) -> Option<u64> {
        let hint = "use a number with a unit, e.g. \"64MiB\", \"512KB\" or \"1GiB\"";
        let bytes = match v.get_ref() {
            DeValue::String(s) => match s.trim().parse::<bytesize::ByteSize>() {
                Ok(b) => b.as_u64(),
                Err(_) => {
                    self.error(&v.span(), format!("invalid size {s:?} for {what}; {hint}"));
                    return None;
                }
            },
            DeValue::Integer(_) => {
                let n = self.integer(v, what, "a size")?;
                match u64::try_from(n) {
                    Ok(n) => n,
                    Err(_) => {
                        self.error(&v.span(), format!("invalid size {n} for {what}; {hint}"));
                        return None;
                    }
                }
            }
            _ => {
                self.type_error(v, what, &format!("a size string ({hint})"));
                return None;
            }
        };
        if bytes == 0 && !allow_zero {
            self.error(
                &v.span(),
                format!("{what} must be greater than zero; {hint}"),
            );
            return None;
        }
        Some(bytes)
    }

    // ---- triggers -----------------------------------------------------

    fn triggers(
        &mut self,
        top: &Tbl,
        app_vars: &IndexMap<VariableName, Variable>,
    ) -> Vec<RawTrigger> {
        let mut out = Vec::new();
        let example = "[[trigger.http]] with route = \"/...\" and component = \"my-component\"";
        if top.get("trigger").is_none() {
            if self.has_typo_of(top, "trigger") {
                return out;
            }
            self.error(&(0..0), format!("no triggers; add a {example}"));
            return out;
        }
        let Some(t) = self.opt_table(top, "trigger", "[trigger]".to_string()) else {
            return out;
        };
        if t.table.is_empty() {
            self.error(&t.span, format!("no triggers; add a {example}"));
        }
        for (key, value) in t.table.iter() {
            let kind: &str = key.get_ref();
            if kind != "http" {
                let hint = match did_you_mean(kind, ["http"]) {
                    Some(_) => "; did you mean \"http\"?",
                    None => "",
                };
                self.error(
                    &key.span(),
                    format!("trigger type {kind:?} is not supported; Nimbus supports only [[trigger.http]]{hint}"),
                );
                continue;
            }
            let DeValue::Array(items) = value.get_ref() else {
                self.error(
                    &value.span(),
                    "triggers must be an array of tables: write [[trigger.http]] (double brackets), not [trigger.http]",
                );
                continue;
            };
            if items.is_empty() {
                self.error(&value.span(), format!("no triggers; add a {example}"));
            }
            for item in items.iter() {
                let DeValue::Table(tt) = item.get_ref() else {
                    self.type_error(item, "each [[trigger.http]] entry", "a table");
                    continue;
                };
                let tt = Tbl {
                    table: tt,
                    name: "[[trigger.http]]".to_string(),
                    span: item.span(),
                };
                out.push(self.trigger(&tt, app_vars));
            }
        }
        out
    }

    fn trigger(&mut self, t: &Tbl, app_vars: &IndexMap<VariableName, Variable>) -> RawTrigger {
        self.check_keys(t, TRIGGER_KEYS);
        let id = self.opt_string(t, "id").and_then(|id| {
            if id.get_ref().is_empty() {
                self.error(
                    &id.span(),
                    "empty trigger id; remove `id` or give it a value",
                );
                None
            } else {
                let span = id.span();
                Some((id.into_inner(), span))
            }
        });

        let route = match t.get("route") {
            None => {
                self.missing(t, "route", "route = \"/...\"");
                None
            }
            Some((_, v)) => match v.get_ref() {
                DeValue::String(s) => match Route::parse(s) {
                    Ok(r) => Some((r, v.span())),
                    Err(e) => {
                        self.error(&v.span(), e.to_string());
                        None
                    }
                },
                DeValue::Table(rt) => {
                    let rt = Tbl {
                        table: rt,
                        name: "the route of [[trigger.http]]".to_string(),
                        span: v.span(),
                    };
                    self.check_keys(&rt, &["private"]);
                    match self.opt_bool(&rt, "private") {
                        Some(true) => Some((Route::Private, v.span())),
                        Some(false) => {
                            self.error(&v.span(), "route must be a path or { private = true }, not { private = false }");
                            None
                        }
                        None => {
                            if rt.get("private").is_none() {
                                self.missing(&rt, "private", "route = { private = true }");
                            }
                            None
                        }
                    }
                }
                _ => {
                    self.type_error(
                        v,
                        &t.field("route"),
                        "a path string such as \"/hello\" or { private = true }",
                    );
                    None
                }
            },
        };

        let component = match t.get("component") {
            None => {
                self.missing(t, "component", "component = \"my-component\"");
                None
            }
            Some((_, v)) => match v.get_ref() {
                DeValue::String(s) => match ComponentId::new(s.as_ref()) {
                    Ok(id) => Some(ComponentRef::Id(id, v.span())),
                    Err(e) => {
                        self.error(&v.span(), e.to_string());
                        None
                    }
                },
                DeValue::Table(ct) => {
                    let names = ComponentNames::inline();
                    let ct = Tbl {
                        table: ct,
                        name: names.main.clone(),
                        span: v.span(),
                    };
                    self.component(&ct, &names, app_vars)
                        .map(|c| ComponentRef::Inline(Box::new(c)))
                }
                _ => {
                    self.type_error(
                        v,
                        &t.field("component"),
                        "a component id or an inline component table",
                    );
                    None
                }
            },
        };

        let executor = match self.opt_table(
            t,
            "executor",
            "the executor of [[trigger.http]]".to_string(),
        ) {
            Some(et) => self.executor(&et),
            None => Executor::Http,
        };

        if let Some((key, _)) = t.get("static_response") {
            self.error(
                &key.span(),
                "static_response is not supported yet; serve the response from a component",
            );
        }
        if let Some((key, _)) = t.get("components") {
            self.error(
                &key.span(),
                "`components` in a trigger is reserved by Spin and not supported; use `component`",
            );
        }

        RawTrigger {
            id,
            route,
            component,
            executor,
        }
    }

    fn executor(&mut self, t: &Tbl) -> Executor {
        let kind_present = t.get("type").is_some();
        if !kind_present {
            self.check_keys(t, &["type", "argv", "entrypoint"]);
        }
        let Some(kind) = self.req_string(t, "type", "type = \"wagi\"") else {
            return Executor::Http;
        };
        match kind.get_ref().as_str() {
            "http" | "spin" => {
                self.check_keys(t, &["type"]);
                Executor::Http
            }
            "wagi" => {
                self.check_keys(t, &["type", "argv", "entrypoint"]);
                Executor::Wagi {
                    argv: self.opt_string(t, "argv").map(Spanned::into_inner),
                    entrypoint: self.opt_string(t, "entrypoint").map(Spanned::into_inner),
                }
            }
            other => {
                let hint = match did_you_mean(other, ["http", "wagi"]) {
                    Some(s) => format!("did you mean {s:?}?"),
                    None => "use \"http\" (the default) or \"wagi\"".to_string(),
                };
                self.error(
                    &kind.span(),
                    format!("unknown executor type {other:?}; {hint}"),
                );
                Executor::Http
            }
        }
    }

    /// Assigns trigger ids and inline component ids the way Spin does, checks
    /// component references and duplicate routes and ids.
    fn resolve_triggers(
        &mut self,
        raw: Vec<RawTrigger>,
        components: &mut IndexMap<ComponentId, Component>,
        locations: &mut IndexMap<ComponentId, ComponentLocations>,
        declared: &HashSet<String>,
        base: &str,
    ) -> Vec<HttpTrigger> {
        // Explicit ids must be unique.
        let mut seen_ids: IndexMap<String, Range<usize>> = IndexMap::new();
        for t in &raw {
            if let Some((id, span)) = &t.id {
                if let Some(first) = seen_ids.get(id) {
                    let first = self.loc(first.start);
                    let d = Diagnostic::new(
                        self.loc(span.start),
                        format!("duplicate trigger id {id:?}; give each trigger a different id"),
                    )
                    .with_note(first, format!("trigger id {id:?} first used here"));
                    self.diags.push(d);
                } else {
                    seen_ids.insert(id.clone(), span.clone());
                }
            }
        }

        // Spin's `normalize_trigger_ids`: "<component>-http-trigger" for a
        // trigger that names a component, else "http-trigger<N>".
        let mut taken: HashSet<String> = seen_ids.keys().cloned().collect();
        let mut ids = Vec::with_capacity(raw.len());
        let mut counter = 1;
        for t in &raw {
            if let Some((id, _)) = &t.id {
                ids.push(id.clone());
                continue;
            }
            if let Some(ComponentRef::Id(c, _)) = &t.component {
                let candidate = format!("{c}-http-trigger");
                if taken.insert(candidate.clone()) {
                    ids.push(candidate);
                    continue;
                }
            }
            let id = loop {
                let id = format!("http-trigger{counter}");
                if taken.insert(id.clone()) {
                    break id;
                }
                counter += 1;
            };
            ids.push(id);
        }

        let mut triggers = Vec::new();
        let mut routes: Vec<(Route, Range<usize>)> = Vec::new();
        for (t, trigger_id) in raw.into_iter().zip(ids) {
            let component = match t.component {
                Some(ComponentRef::Id(id, span)) => {
                    if !declared.contains(id.as_str()) {
                        let hint = match did_you_mean(id.as_str(), declared.iter().map(String::as_str)) {
                            Some(s) => format!("did you mean {s:?}?"),
                            None => format!(
                                "define it with [component.{}] or write the component inline, e.g. component = {{ source = \"app.wasm\" }}",
                                toml_key(id.as_str())
                            ),
                        };
                        self.error(
                            &span,
                            format!(
                                "trigger refers to component {:?}, which is not defined; {hint}",
                                id.as_str()
                            ),
                        );
                    }
                    Some(id)
                }
                // Spin's `normalize_inline_components`: "<trigger id>-component"
                // if that is a valid, unused id, else "inline-component<N>".
                Some(ComponentRef::Inline(inline)) => {
                    let (component, locs) = *inline;
                    let natural = ComponentId::new(format!("{trigger_id}-component"))
                        .ok()
                        .filter(|id| !components.contains_key(id));
                    let id = natural.unwrap_or_else(|| {
                        let mut n = 1;
                        loop {
                            let id = ComponentId::new(format!("inline-component{n}"))
                                .expect("valid generated id");
                            if !components.contains_key(&id) {
                                break id;
                            }
                            n += 1;
                        }
                    });
                    components.insert(id.clone(), component);
                    locations.insert(id.clone(), locs);
                    Some(id)
                }
                None => None,
            };

            let route = t.route.map(|(r, span)| (r.with_base(base), span));
            if let Some((route, span)) = &route {
                if !route.is_private() {
                    if let Some((_, first)) = routes.iter().find(|(r, _)| r == route) {
                        let first = self.loc(first.start);
                        let d = Diagnostic::new(
                            self.loc(span.start),
                            format!("duplicate route \"{route}\": another trigger already uses it; give each trigger a different route"),
                        )
                        .with_note(first, format!("route \"{route}\" first used here"));
                        self.diags.push(d);
                    } else {
                        routes.push((route.clone(), span.clone()));
                    }
                }
            }

            if let (Some((route, _)), Some(component)) = (route, component) {
                triggers.push(HttpTrigger {
                    id: trigger_id,
                    route,
                    component,
                    executor: t.executor,
                });
            }
        }
        triggers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Manifest {
        Manifest::from_str(text, "spin.toml", ".").unwrap_or_else(|e| panic!("{e}"))
    }

    fn parse_err(text: &str) -> String {
        Manifest::from_str(text, "spin.toml", ".")
            .map(|m| format!("parsed: {m:?}"))
            .unwrap_err_or_message()
    }

    trait ErrText {
        fn unwrap_err_or_message(self) -> String;
    }

    impl ErrText for Result<String, ManifestError> {
        fn unwrap_err_or_message(self) -> String {
            match self {
                Ok(s) => panic!("expected an error, got {s}"),
                Err(e) => e.to_string(),
            }
        }
    }

    const HEAD: &str = "spin_manifest_version = 2\n[application]\nname = \"app\"\n";

    #[test]
    fn minimal_manifest() {
        let m = parse_ok(&format!(
            "{HEAD}[[trigger.http]]\nroute = \"/...\"\ncomponent = \"hello\"\n[component.hello]\nsource = \"hello.wasm\"\n"
        ));
        assert_eq!(m.name(), "app");
        assert_eq!(m.triggers.len(), 1);
        assert_eq!(m.triggers[0].id, "hello-http-trigger");
        assert_eq!(m.triggers[0].route, Route::Wildcard("/".into()));
        assert_eq!(
            m.component("hello").unwrap().source,
            PathBuf::from("hello.wasm")
        );
        assert_eq!(m.route("/x").unwrap().component, "hello");
    }

    #[test]
    fn inline_component_ids_follow_spin() {
        let m = parse_ok(&format!(
            "{HEAD}[[trigger.http]]\nroute = \"/a\"\ncomponent = {{ source = \"a.wasm\" }}\n\
             [[trigger.http]]\nid = \"named\"\nroute = \"/b\"\ncomponent = {{ source = \"b.wasm\" }}\n\
             [[trigger.http]]\nid = \"Not_Kebab\"\nroute = \"/c\"\ncomponent = {{ source = \"c.wasm\" }}\n\
             [[trigger.http]]\nroute = \"/d\"\ncomponent = {{ source = \"d.wasm\" }}\n"
        ));
        let ids: Vec<_> = m
            .triggers
            .iter()
            .map(|t| (t.id.as_str(), t.component.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("http-trigger1", "http-trigger1-component"),
                ("named", "named-component"),
                ("Not_Kebab", "inline-component1"),
                ("http-trigger2", "http-trigger2-component"),
            ]
        );
    }

    #[test]
    fn inline_id_clash_falls_back_to_counter() {
        let m = parse_ok(&format!(
            "{HEAD}[[trigger.http]]\nid = \"x\"\nroute = \"/a\"\ncomponent = {{ source = \"a.wasm\" }}\n\
             [component.x-component]\nsource = \"y.wasm\"\n"
        ));
        assert_eq!(m.triggers[0].component, "inline-component1");
        assert_eq!(m.components.len(), 2);
    }

    #[test]
    fn generated_trigger_ids_avoid_explicit_ones() {
        let m = parse_ok(&format!(
            "{HEAD}[[trigger.http]]\nid = \"hello-http-trigger\"\nroute = \"/a\"\ncomponent = \"hello\"\n\
             [[trigger.http]]\nroute = \"/b\"\ncomponent = \"hello\"\n\
             [component.hello]\nsource = \"h.wasm\"\n"
        ));
        assert_eq!(m.triggers[1].id, "http-trigger1");
    }

    #[test]
    fn base_is_applied_to_routes() {
        let m = parse_ok(&format!(
            "{HEAD}[application.trigger.http]\nbase = \"/api/\"\n[[trigger.http]]\nroute = \"/a\"\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\n"
        ));
        assert_eq!(m.application.http_base, "/api");
        assert_eq!(m.triggers[0].route, Route::Exact("/api/a".into()));
    }

    #[test]
    fn nimbus_version_is_accepted_and_both_rejected() {
        let body = "[application]\nname = \"a\"\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\n";
        let m = parse_ok(&format!("nimbus_manifest_version = 1\n{body}"));
        assert_eq!(m.manifest_version, ManifestVersion::Nimbus1);
        let e = parse_err(&format!(
            "spin_manifest_version = 2\nnimbus_manifest_version = 1\n{body}"
        ));
        assert!(e.starts_with("spin.toml:2:1: both"), "{e}");
    }

    #[test]
    fn template_error_columns_point_into_the_string() {
        let text = format!(
            "{HEAD}[variables]\napi_key = {{ required = true }}\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\nvariables = {{ k = \"x{{{{ api_kye }}}}\" }}\n"
        );
        let e = parse_err(&text);
        // `variables = { k = "x{{ api_kye }}" }`: the name starts at column 24.
        assert!(e.starts_with("spin.toml:11:24: "), "{e}");
        assert!(e.contains("did you mean \"api_key\"?"), "{e}");
    }

    #[test]
    fn collects_several_errors_in_order() {
        let e = parse_err(&format!(
            "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.c]\nsorce = \"c.wasm\"\n[component.c.limits]\nmemory = \"lots\"\n"
        ));
        let lines: Vec<_> = e.lines().collect();
        // No separate "missing source": the did-you-mean already says it.
        assert_eq!(lines.len(), 2, "{e}");
        assert_eq!(
            lines[0],
            "spin.toml:8:1: unknown field \"sorce\" in [component.c]; did you mean \"source\"?"
        );
        assert!(
            lines[1].starts_with("spin.toml:10:10: invalid size \"lots\""),
            "{e}"
        );
    }

    #[test]
    fn spin_only_fields_are_reported() {
        let e = parse_err(&format!(
            "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\nallowed_http_hosts = [\"example.com\"]\n"
        ));
        assert!(
            e.contains(
                "allowed_outbound_hosts = [\"https://example.com\", \"http://example.com\"]"
            ),
            "{e}"
        );
        let e = parse_err(&format!(
            "{HEAD}[[trigger.redis]]\nchannel = \"x\"\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\n"
        ));
        assert!(e.contains("trigger type \"redis\" is not supported"), "{e}");
    }

    #[test]
    fn tool_and_targets_are_ignored() {
        parse_ok(
            "spin_manifest_version = 2\n[application]\nname = \"a\"\ntargets = [\"spin-up:3.2\"]\n[application.tool.lint]\nlevel = \"x\"\n\
             [[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\n[component.c.tool.clean]\ncommand = \"x\"\n"
        );
    }
}
