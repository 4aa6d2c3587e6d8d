//! [`Section`]: a table of the manifest kept as data, with the place of every
//! key and value, for a trigger crate to read with its own schema.

mod de;

use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use serde::de::{DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::error::{Diagnostic, Location, ManifestError};

/// A TOML value with where it starts.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) location: Location,
    pub(crate) value: Value,
}

/// A TOML value, owned. Numbers keep their source text (parsed on use), so
/// the tree compares exactly.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Value {
    String(String),
    Integer(i128),
    Float(String),
    Boolean(bool),
    Datetime(String),
    Array(Vec<Node>),
    Table(Table),
}

/// A table: each key with where the key is written, and its value.
#[derive(Clone, PartialEq, Eq, Default)]
pub(crate) struct Table {
    pub(crate) entries: IndexMap<String, (Location, Node)>,
}

impl Value {
    /// The TOML type name, for messages ("not an integer").
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::Integer(_) => "integer",
            Value::Float(_) => "float",
            Value::Boolean(_) => "boolean",
            Value::Datetime(_) => "datetime",
            Value::Array(_) => "array",
            Value::Table(_) => "table",
        }
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Value::String(s) => write!(f, "{s:?}"),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Float(s) | Value::Datetime(s) => f.write_str(s),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::Array(items) => f.debug_list().entries(items).finish(),
            Value::Table(t) => t.fmt(f),
        }
    }
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, (_, v))| (k, v)))
            .finish()
    }
}

/// Converts parsed TOML (byte spans into `text`) into an owned [`Node`].
pub(crate) fn node(text: &str, v: &Spanned<DeValue<'_>>) -> Node {
    let location = Location::from_offset(text, v.span().start);
    let value = match v.get_ref() {
        DeValue::String(s) => Value::String(s.to_string()),
        // TOML integers fit in an i64, so in an i128; the fallback is never
        // reached for text the TOML parser accepted.
        DeValue::Integer(i) => {
            Value::Integer(i128::from_str_radix(i.as_str(), i.radix()).unwrap_or(i128::MAX))
        }
        DeValue::Float(x) => Value::Float(x.as_str().replace('_', "")),
        DeValue::Boolean(b) => Value::Boolean(*b),
        DeValue::Datetime(d) => Value::Datetime(d.to_string()),
        DeValue::Array(items) => Value::Array(items.iter().map(|i| node(text, i)).collect()),
        DeValue::Table(t) => Value::Table(table(text, t, &[])),
    };
    Node { location, value }
}

/// Converts a parsed table, leaving out the keys in `skip`.
pub(crate) fn table(text: &str, t: &DeTable<'_>, skip: &[&str]) -> Table {
    let entries = t
        .iter()
        .filter(|(k, _)| !skip.contains(&k.get_ref().as_ref()))
        .map(|(k, v)| {
            let key_location = Location::from_offset(text, k.span().start);
            (k.get_ref().to_string(), (key_location, node(text, v)))
        })
        .collect();
    Table { entries }
}

/// One table of the manifest kept as data for its owner to read, e.g. the
/// settings of a `[[trigger.TYPE]]` table (without the `id` and `component`
/// the manifest reads itself) or an `[application.trigger.TYPE]` table.
///
/// Read it with [`Section::deserialize`] into a `serde` type; wrap a field in
/// [`Located`] to get where its value was written, for later checks.
#[derive(Clone, PartialEq, Eq)]
pub struct Section {
    path: Arc<Path>,
    name: String,
    location: Location,
    table: Table,
    /// Keys of the same table that the manifest reads itself: offered as
    /// "did you mean" candidates for unknown keys.
    reserved: &'static [&'static str],
}

impl fmt::Debug for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.table.fmt(f)
    }
}

impl Section {
    pub(crate) fn new(
        path: Arc<Path>,
        name: String,
        location: Location,
        table: Table,
        reserved: &'static [&'static str],
    ) -> Section {
        Section {
            path,
            name,
            location,
            table,
            reserved,
        }
    }

    /// The table as messages name it, e.g. `[[trigger.http]]`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the table starts (its header, or its `{` when written inline).
    pub fn location(&self) -> Location {
        self.location
    }

    /// The manifest path, as given (every message starts with it).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the table has no keys (besides those the manifest reads).
    pub fn is_empty(&self) -> bool {
        self.table.entries.is_empty()
    }

    /// The keys, in file order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.table.entries.keys().map(String::as_str)
    }

    /// Where `key` is written, if present.
    pub fn key_location(&self, key: &str) -> Option<Location> {
        self.table.entries.get(key).map(|(at, _)| *at)
    }

    /// A diagnostic at `location` of this section's file, as an error.
    pub fn error(&self, location: Location, message: impl Into<String>) -> ManifestError {
        ManifestError::from_diagnostics(&self.path, vec![Diagnostic::new(location, message)])
    }

    /// Reads the table into `T`.
    ///
    /// Errors name the file, line and column of the offending key or value
    /// and say what is wrong in the manifest's words (`"route" in
    /// [[trigger.http]] must be a string, not an integer`). With
    /// `#[serde(deny_unknown_fields)]`, an unknown key gets a "did you mean"
    /// from the keys `T` expects (and those the manifest reads itself), or
    /// the list of them. `serde`'s `Option` fields may be absent; a missing
    /// required field names the table.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, ManifestError> {
        let top = Node {
            location: self.location,
            value: Value::Table(self.table.clone()),
        };
        de::deserialize(&top, &self.name, self.reserved)
            .map_err(|e| ManifestError::from_diagnostics(&self.path, vec![e.into_diagnostic()]))
    }
}

/// A value read by [`Section::deserialize`], with where it was written.
///
/// Only [`Section::deserialize`] knows locations; other deserializers refuse
/// `Located` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Located<T> {
    /// Where the value starts in the manifest.
    pub location: Location,
    /// The value.
    pub value: T,
}

impl<T> Located<T> {
    /// The value, without its location.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> std::ops::Deref for Located<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// The struct name and fields by which `Located` asks for its location.
pub(crate) const LOCATED: &str = "$nimbus_manifest::Located";
pub(crate) const LOCATED_FIELDS: &[&str] = &["line", "column", "value"];

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LocatedVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for LocatedVisitor<T> {
            type Value = Located<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value of a nimbus manifest section")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Located<T>, A::Error> {
                use serde::de::Error;
                let missing = || A::Error::custom("Located is only read by Section::deserialize");
                let _: Option<String> = map.next_key()?;
                let line: usize = map.next_value()?;
                let _: Option<String> = map.next_key()?;
                let column: usize = map.next_value()?;
                map.next_key::<String>()?.ok_or_else(missing)?;
                let value: T = map.next_value()?;
                Ok(Located {
                    location: Location { line, column },
                    value,
                })
            }
        }
        deserializer.deserialize_struct(LOCATED, LOCATED_FIELDS, LocatedVisitor(PhantomData))
    }
}

/// Where a [`Section`]'s path comes from: one shared copy per manifest.
pub(crate) fn shared_path(path: &Path) -> Arc<Path> {
    Arc::from(PathBuf::from(path))
}

#[cfg(test)]
mod tests;
