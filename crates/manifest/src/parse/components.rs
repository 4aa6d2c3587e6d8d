//! Components: `[component.NAME]` and inline `component = { ... }` tables,
//! their sources, files, stores and variables.

use std::path::PathBuf;

use indexmap::IndexMap;
use toml::de::DeValue;
use toml::Spanned;

use super::walker::{non_empty, toml_key, Tbl, Val};
use super::Parser;
use crate::host::{AllowedHostEntry, HostPattern};
use crate::ids::{StoreLabel, VariableName};
use crate::manifest::{Component, ComponentLocations, FileMount, Limits, Variable};
use crate::suggest::did_you_mean;
use crate::template::Template;

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

/// Names used in messages about one component.
pub(super) struct ComponentNames {
    pub(super) main: String,
    build: String,
    limits: String,
    /// How to refer to the component in prose: "component `x`".
    pub(super) prose: String,
}

impl ComponentNames {
    pub(super) fn named(id: &str) -> ComponentNames {
        let key = toml_key(id);
        ComponentNames {
            main: format!("[component.{key}]"),
            build: format!("[component.{key}.build]"),
            limits: format!("[component.{key}.limits]"),
            prose: format!("component `{id}`"),
        }
    }

    pub(super) fn inline() -> ComponentNames {
        ComponentNames {
            main: "the inline component".to_string(),
            build: "the inline component's build table".to_string(),
            limits: "the inline component's limits table".to_string(),
            prose: "the inline component".to_string(),
        }
    }
}

impl<'s> Parser<'s> {
    pub(super) fn component(
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

        let allowed_outbound_hosts = self.allowed_outbound_hosts(t, app_vars);
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

    pub(super) fn source(&mut self, v: &Val, names: &ComponentNames) -> Option<PathBuf> {
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

    pub(super) fn files(&mut self, t: &Tbl, locs: &mut ComponentLocations) -> Vec<FileMount> {
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

    pub(super) fn labels(&mut self, t: &Tbl, key: &str) -> Vec<StoreLabel> {
        let mut out = Vec::new();
        for entry in self.opt_string_list(t, key) {
            match StoreLabel::new(entry.get_ref().as_str()) {
                Ok(l) => out.push(l),
                Err(e) => self.error(&entry.span(), format!("in {key}: {e}")),
            }
        }
        out
    }

    pub(super) fn component_variables(
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
                    let what = format!("component variable {raw:?}");
                    self.check_references(&span, &text, &refs, app_vars, &what);
                    if let Some(name) = name {
                        out.insert(name, template);
                    }
                }
            }
        }
        out
    }

    /// `allowed_outbound_hosts`: literal entries parsed as patterns, entries
    /// with `{{ name }}` kept as templates (their names checked against
    /// `[variables]`), resolved when the app is loaded.
    fn allowed_outbound_hosts(
        &mut self,
        t: &Tbl,
        app_vars: &IndexMap<VariableName, Variable>,
    ) -> Vec<AllowedHostEntry> {
        let mut out = Vec::new();
        for entry in self.opt_string_list(t, "allowed_outbound_hosts") {
            let text = entry.get_ref();
            let span = entry.span();
            if !text.contains("{{") {
                match HostPattern::parse(text) {
                    Ok(h) => out.push(AllowedHostEntry::Pattern(h)),
                    Err(e) => self.error(&span, e.to_string()),
                }
                continue;
            }
            match Template::parse_with_offsets(text) {
                Err(e) => {
                    let at = self.offset_in_string(&span, text, e.offset);
                    self.error(
                        &(at..at),
                        format!("in allowed_outbound_hosts entry {text:?}: {}", e.message),
                    );
                }
                Ok((template, refs)) => {
                    let what = format!("allowed_outbound_hosts entry {text:?}");
                    if self.check_references(&span, text, &refs, app_vars, &what) {
                        out.push(AllowedHostEntry::Template(template));
                    }
                }
            }
        }
        out
    }

    /// Reports every reference of a template (`text`, the string at `span`)
    /// to a variable not declared in `[variables]`, pointing at its name;
    /// true if there was none.
    fn check_references(
        &mut self,
        span: &std::ops::Range<usize>,
        text: &str,
        refs: &[(VariableName, usize)],
        app_vars: &IndexMap<VariableName, Variable>,
        what: &str,
    ) -> bool {
        let mut ok = true;
        for (var, offset) in refs {
            if app_vars.contains_key(var) {
                continue;
            }
            ok = false;
            let hint = match did_you_mean(var.as_str(), app_vars.keys().map(|k| k.as_str())) {
                Some(s) => format!("did you mean {s:?}?"),
                None => format!("declare it, e.g. `[variables] {var} = {{ required = true }}`"),
            };
            let at = self.offset_in_string(span, text, *offset);
            self.error(
                &(at..at),
                format!("{what} refers to {var:?}, which is not declared in [variables]; {hint}"),
            );
        }
        ok
    }
}
