//! Reads a runtime config file (`runtime-config.toml`, the shape of Spin's
//! `--runtime-config-file`): operator settings that are not part of an app's
//! manifest, such as which backend serves a key-value store.
//!
//! The file is a TOML document whose top-level keys are *sections*, one per
//! capability (`key_value_store`, `sqlite_database`, `variables`, …). This crate
//! knows nothing about what a section contains: each capability crate owns its
//! config types and [takes](RuntimeConfig::take) its own section, and
//! [`RuntimeConfig::finish`] then refuses any section nobody took, so that a
//! typo never silently falls back to a default.
//!
//! ```
//! use nimbus_runtime_config::RuntimeConfig;
//!
//! #[derive(serde::Deserialize)]
//! #[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
//! enum Store {
//!     Redis { url: String },
//! }
//!
//! let text = "[key_value_store.cache]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\n";
//! let mut config = RuntimeConfig::from_str(text, "runtime-config.toml").unwrap();
//! let stores: Option<std::collections::BTreeMap<String, Store>> =
//!     config.take("key_value_store").unwrap();
//! assert!(stores.unwrap().contains_key("cache"));
//! config.finish().unwrap();
//! ```
//!
//! Every error names `path:line:col`, the section (and the key inside it where
//! it can be found from TOML spans), and serde's message.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::{DeserializeOwned, IntoDeserializer as _};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// An error reading a runtime config file.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeConfigError {
    /// The file could not be read.
    #[error("cannot read runtime config {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, a section does not have the shape its
    /// capability expects, or a section is unknown. Displayed as
    /// `path:line:col: message`.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Invalid {
        /// The file (as given for messages).
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// What is wrong, naming the key.
        message: String,
    },
}

/// A parsed runtime config file whose sections are taken one by one by the
/// capabilities that own them.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    path: PathBuf,
    text: String,
    /// Top-level keys already taken; they are skipped by later `take`s and by
    /// `finish`.
    taken: BTreeSet<String>,
    /// Every key some capability asked for, present or not: the known sections.
    asked: BTreeSet<String>,
}

impl RuntimeConfig {
    /// A runtime config with no sections (no file given): every capability
    /// uses its defaults.
    pub fn empty() -> RuntimeConfig {
        RuntimeConfig {
            path: PathBuf::from("runtime-config.toml"),
            text: String::new(),
            taken: BTreeSet::new(),
            asked: BTreeSet::new(),
        }
    }

    /// Reads and parses `path`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<RuntimeConfig, RuntimeConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| RuntimeConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        RuntimeConfig::from_str(&text, path)
    }

    /// Parses `text`; `path_for_messages` is the file name errors show.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(
        text: &str,
        path_for_messages: impl AsRef<Path>,
    ) -> Result<RuntimeConfig, RuntimeConfigError> {
        let config = RuntimeConfig {
            path: path_for_messages.as_ref().to_path_buf(),
            text: text.to_owned(),
            taken: BTreeSet::new(),
            asked: BTreeSet::new(),
        };
        // Parse once now so that a syntax error is reported before anything
        // else; `take` parses again (the file is small), which keeps this type
        // free of borrowed TOML.
        config.parse()?;
        Ok(config)
    }

    /// The file this config was read from (or the name given for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The top-level keys not taken yet, in file order.
    pub fn remaining_sections(&self) -> Vec<String> {
        match self.parse() {
            Ok(table) => table
                .get_ref()
                .keys()
                .map(|k| k.get_ref().to_string())
                .filter(|k| !self.taken.contains(k))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    fn parse(&self) -> Result<Spanned<DeTable<'_>>, RuntimeConfigError> {
        DeTable::parse(&self.text).map_err(|err| {
            let span = err.span().unwrap_or(0..0);
            self.invalid(
                span.start,
                format!("invalid TOML: {}", err.message().trim_end()),
            )
        })
    }

    /// Removes top-level section `key` and deserializes it into `T`.
    ///
    /// `Ok(None)` when the file has no such section (or it was taken
    /// already). `T` should use `#[serde(deny_unknown_fields)]` so that a
    /// misspelt setting is an error rather than ignored.
    pub fn take<T: DeserializeOwned>(
        &mut self,
        key: &str,
    ) -> Result<Option<T>, RuntimeConfigError> {
        self.asked.insert(key.to_owned());
        if self.taken.contains(key) {
            return Ok(None);
        }
        let table = self.parse()?;
        let Some((found_key, value)) = table.get_ref().get_key_value(key) else {
            return Ok(None);
        };
        let key_span = found_key.span();
        let value_span = value.span();
        let result = T::deserialize(value.clone().into_deserializer());
        match result {
            Ok(parsed) => {
                self.taken.insert(key.to_owned());
                Ok(Some(parsed))
            }
            Err(err) => {
                let span = err
                    .span()
                    .filter(|s| !(s.start == 0 && s.end == 0 && value_span.start != 0))
                    .unwrap_or_else(|| key_span.clone());
                let mut path = vec![key.to_owned()];
                key_path_at(value, &span, &mut path);
                let message = format!(
                    "invalid runtime config `{}`: {}",
                    path.join("."),
                    err.message().trim_end()
                );
                Err(self.invalid(span.start, message))
            }
        }
    }

    /// Declares sections this build knows (each capability's own), so that
    /// [`RuntimeConfig::finish`] can name them in its messages and tell a
    /// known-but-unread section from a typo. Sections passed to
    /// [`RuntimeConfig::take`] are known too.
    pub fn know_sections<'a>(&mut self, sections: impl IntoIterator<Item = &'a str>) {
        self.asked.extend(sections.into_iter().map(str::to_owned));
    }

    /// Checks that every section was taken by some capability: a section
    /// nobody reads is an error (most likely a typo), naming the known ones.
    pub fn finish(self) -> Result<(), RuntimeConfigError> {
        let table = self.parse()?;
        // The known sections are those some capability asked for: the list
        // grows with the capabilities, with no list of names here.
        let known: BTreeSet<&str> = self.asked.iter().map(String::as_str).collect();
        let known_list = known.iter().copied().collect::<Vec<_>>().join(", ");
        for (key, _) in table.get_ref().iter() {
            let name = key.get_ref().as_ref();
            if self.taken.contains(name) {
                continue;
            }
            let message = if known.contains(name) {
                format!(
                    "runtime config section `{name}` is not supported by this build of nimbus \
                     (nothing reads it); remove it. Known: {known_list}"
                )
            } else {
                let suggestion = known
                    .iter()
                    .filter(|k| strsim::levenshtein(k, name) <= 3)
                    .min_by_key(|k| strsim::levenshtein(k, name))
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default();
                format!("unknown runtime config section `{name}`{suggestion}; known: {known_list}")
            };
            return Err(self.invalid(key.span().start, message));
        }
        Ok(())
    }

    fn invalid(&self, offset: usize, message: String) -> RuntimeConfigError {
        let (line, column) = line_col(&self.text, offset);
        RuntimeConfigError::Invalid {
            path: self.path.clone(),
            line,
            column,
            message,
        }
    }
}

/// Extends `path` with the keys of the innermost table entry of `value`
/// whose text (key, value, and everything below it) contains `span`.
fn key_path_at(value: &Spanned<DeValue<'_>>, span: &Range<usize>, path: &mut Vec<String>) {
    let DeValue::Table(table) = value.get_ref() else {
        return;
    };
    for (key, child) in table.iter() {
        // A `[a.b]` header gives `a.b` a span covering only the header: the
        // entries below it lie elsewhere, hence the union over descendants.
        let mut extent = key.span();
        extend(&mut extent, child);
        if extent.start <= span.start && span.start < extent.end.max(extent.start + 1) {
            path.push(key.get_ref().to_string());
            key_path_at(child, span, path);
            return;
        }
    }
}

/// Grows `extent` to cover `value` and everything inside it.
fn extend(extent: &mut Range<usize>, value: &Spanned<DeValue<'_>>) {
    let span = value.span();
    extent.start = extent.start.min(span.start);
    extent.end = extent.end.max(span.end);
    match value.get_ref() {
        DeValue::Table(table) => {
            for (key, child) in table.iter() {
                let k = key.span();
                extent.start = extent.start.min(k.start);
                extent.end = extent.end.max(k.end);
                extend(extent, child);
            }
        }
        DeValue::Array(items) => {
            for item in items.iter() {
                extend(extent, item);
            }
        }
        _ => {}
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let mut offset = offset;
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(tag = "type", rename_all = "lowercase")]
    enum Store {
        #[serde(alias = "spin")]
        Sqlite(Sqlite),
        Redis(Redis),
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Sqlite {
        path: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Redis {
        url: String,
    }

    type Stores = BTreeMap<String, Store>;

    const GOOD: &str = r#"
[key_value_store.default]
type = "sqlite"
path = "kv.db"

[key_value_store.cache]
type = "redis"
url = "redis://127.0.0.1:6379"

[key_value_store.legacy]
type = "spin"
"#;

    fn invalid(err: RuntimeConfigError) -> (usize, usize, String, String) {
        let text = err.to_string();
        match err {
            RuntimeConfigError::Invalid {
                line,
                column,
                message,
                ..
            } => (line, column, message, text),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn takes_a_section() {
        let mut config = RuntimeConfig::from_str(GOOD, "rc.toml").unwrap();
        assert_eq!(config.remaining_sections(), vec!["key_value_store"]);
        let stores: Stores = config.take("key_value_store").unwrap().unwrap();
        assert_eq!(
            stores["default"],
            Store::Sqlite(Sqlite {
                path: Some("kv.db".into())
            })
        );
        assert_eq!(
            stores["cache"],
            Store::Redis(Redis {
                url: "redis://127.0.0.1:6379".into()
            })
        );
        assert_eq!(stores["legacy"], Store::Sqlite(Sqlite { path: None }));
        // Taken once: a second take sees nothing.
        assert!(config.take::<Stores>("key_value_store").unwrap().is_none());
        assert!(config.remaining_sections().is_empty());
        config.finish().unwrap();
    }

    #[test]
    fn missing_section_is_none() {
        let mut config = RuntimeConfig::from_str(GOOD, "rc.toml").unwrap();
        assert!(config.take::<Stores>("sqlite_database").unwrap().is_none());
        let mut empty = RuntimeConfig::empty();
        assert!(empty.take::<Stores>("key_value_store").unwrap().is_none());
        empty.finish().unwrap();
    }

    /// The sections the capabilities of a build declare.
    fn ask_the_others(config: &mut RuntimeConfig) {
        config.know_sections(["key_value_store", "sqlite_database", "variables"]);
    }

    #[test]
    fn unknown_section_is_refused_with_known_ones() {
        let text = "[key_value_stores.default]\ntype = \"sqlite\"\n\n[foo]\nx = 1\n";
        let mut config = RuntimeConfig::from_str(text, "rc.toml").unwrap();
        assert!(config.take::<Stores>("key_value_store").unwrap().is_none());
        ask_the_others(&mut config);
        let (line, column, message, text) = invalid(config.finish().unwrap_err());
        assert_eq!((line, column), (1, 2));
        assert!(
            message.contains("unknown runtime config section `key_value_stores`"),
            "{message}"
        );
        assert!(
            message.contains("did you mean `key_value_store`?"),
            "{message}"
        );
        assert!(
            message.contains("known: key_value_store, sqlite_database, variables"),
            "{message}"
        );
        assert!(text.starts_with("rc.toml:1:2: "), "{text}");

        let mut config = RuntimeConfig::from_str("[foo]\nx = 1\n", "rc.toml").unwrap();
        assert!(config.take::<Stores>("key_value_store").unwrap().is_none());
        ask_the_others(&mut config);
        let (line, _, message, _) = invalid(config.finish().unwrap_err());
        assert_eq!(line, 1);
        assert_eq!(
            message,
            "unknown runtime config section `foo`; known: key_value_store, sqlite_database, variables"
        );
    }

    #[test]
    fn asked_sections_are_known() {
        let mut config = RuntimeConfig::from_str("[llm]\nx = 1\n", "rc.toml").unwrap();
        config.know_sections(["key_value_store"]);
        assert!(config.take::<Stores>("ai_models").unwrap().is_none());
        let (_, _, message, _) = invalid(config.finish().unwrap_err());
        assert!(
            message.contains("known: ai_models, key_value_store"),
            "{message}"
        );
    }

    #[test]
    fn known_but_untaken_section_is_refused() {
        let mut config =
            RuntimeConfig::from_str("[sqlite_database.default]\ntype = \"spin\"\n", "rc.toml")
                .unwrap();
        // Known to the build (a capability declares it) but read by none.
        config.know_sections(["sqlite_database"]);
        let (_, _, message, _) = invalid(config.finish().unwrap_err());
        assert!(
            message.contains("`sqlite_database` is not supported"),
            "{message}"
        );
    }

    #[test]
    fn unknown_type_names_the_store_and_position() {
        let text = "# stores\n[key_value_store.cache]\ntype = \"memcached\"\n";
        let mut config = RuntimeConfig::from_str(text, "dir/rc.toml").unwrap();
        let (line, _, message, text) =
            invalid(config.take::<Stores>("key_value_store").unwrap_err());
        assert!(
            message.contains("`key_value_store.cache.type`"),
            "{message}"
        );
        assert!(message.contains("unknown variant `memcached`"), "{message}");
        assert!(
            message.contains("`sqlite`") && message.contains("`redis`"),
            "{message}"
        );
        assert_eq!(line, 3);
        assert!(text.starts_with("dir/rc.toml:"), "{text}");
    }

    #[test]
    fn unknown_field_is_refused() {
        let text =
            "[key_value_store.cache]\ntype = \"redis\"\nurl = \"redis://x\"\npasword = \"x\"\n";
        let mut config = RuntimeConfig::from_str(text, "rc.toml").unwrap();
        let (_, _, message, _) = invalid(config.take::<Stores>("key_value_store").unwrap_err());
        assert!(message.contains("`key_value_store.cache`"), "{message}");
        assert!(message.contains("unknown field `pasword`"), "{message}");
    }

    #[test]
    fn missing_field_and_wrong_type() {
        let text = "[key_value_store.cache]\ntype = \"redis\"\n";
        let mut config = RuntimeConfig::from_str(text, "rc.toml").unwrap();
        let (_, _, message, _) = invalid(config.take::<Stores>("key_value_store").unwrap_err());
        assert!(message.contains("missing field `url`"), "{message}");

        let text = "key_value_store = 5\n";
        let mut config = RuntimeConfig::from_str(text, "rc.toml").unwrap();
        let (line, column, message, _) =
            invalid(config.take::<Stores>("key_value_store").unwrap_err());
        assert_eq!((line, column), (1, 19));
        assert!(message.contains("invalid type: integer `5`"), "{message}");

        // Inline tables carry spans for their values.
        let text = "[key_value_store]\ndefault = { type = \"sqlite\", path = 7 }\n";
        let mut config = RuntimeConfig::from_str(text, "rc.toml").unwrap();
        let (line, _, message, _) = invalid(config.take::<Stores>("key_value_store").unwrap_err());
        assert_eq!(line, 2);
        assert!(message.contains("`key_value_store.default"), "{message}");
    }

    #[test]
    fn syntax_error_has_position() {
        let err = RuntimeConfig::from_str("[a]\nb = \n", "rc.toml").unwrap_err();
        let (line, _, message, _) = invalid(err);
        assert_eq!(line, 2);
        assert!(message.starts_with("invalid TOML"), "{message}");
    }

    #[test]
    fn from_file_reads_and_reports_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runtime-config.toml");
        std::fs::write(&path, GOOD).unwrap();
        let mut config = RuntimeConfig::from_file(&path).unwrap();
        assert_eq!(config.path(), path);
        assert!(config.take::<Stores>("key_value_store").unwrap().is_some());
        config.finish().unwrap();

        let err = RuntimeConfig::from_file(dir.path().join("nope.toml")).unwrap_err();
        assert!(matches!(err, RuntimeConfigError::Read { .. }));
        assert!(err.to_string().contains("nope.toml"), "{err}");
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("é\nx", 3), (2, 1));
        assert_eq!(line_col("éx", 2), (1, 2));
    }
}
