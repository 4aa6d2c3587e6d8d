//! Validated identifiers: component ids, variable names and store labels.
//!
//! The rules are Spin's (`spin-serde`'s `KebabId`, `LowerSnakeId` and the
//! key-value/SQLite label check), so every id Spin accepts is accepted here.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

/// An identifier failed validation. The message says what is allowed and
/// suggests a valid spelling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidIdError {
    message: String,
}

impl InvalidIdError {
    /// The full message, e.g. `invalid component id "Hello_World": ...`.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Spin's id rule: `delim`-separated non-empty words; the first word starts
/// with an ASCII letter, later words with a letter or a digit; words are
/// ASCII alphanumeric (plus `:` after the first character) and each word is
/// all-lowercase or all-UPPERCASE (all-lowercase when `lower_only`).
fn is_valid_id(id: &str, delim: char, lower_only: bool) -> bool {
    if id.is_empty() {
        return false;
    }
    for (i, word) in id.split(delim).enumerate() {
        let mut chars = word.chars();
        let Some(first) = chars.next() else {
            return false;
        };
        if !(first.is_ascii_alphabetic() || (i > 0 && first.is_ascii_digit())) {
            return false;
        }
        let upper = first.is_ascii_uppercase();
        if lower_only && upper {
            return false;
        }
        for ch in chars {
            if ch.is_ascii_digit() || ch == ':' {
                continue;
            }
            if !ch.is_ascii_alphanumeric() || ch.is_ascii_uppercase() != upper {
                return false;
            }
        }
    }
    true
}

/// Turns `s` into something close that follows the rule, for "e.g." hints:
/// camelCase is split, other separators become `delim`, and a letter prefix is
/// added when needed.
fn suggest(s: &str, delim: char, fallback: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for ch in s.chars() {
        if ch.is_ascii_uppercase() && prev_lower {
            out.push(delim);
        }
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(delim);
        }
        prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
    }
    let mut collapsed = String::new();
    for ch in out.chars() {
        if ch == delim && (collapsed.is_empty() || collapsed.ends_with(delim)) {
            continue;
        }
        collapsed.push(ch);
    }
    let mut result = collapsed.trim_end_matches(delim).to_string();
    if result.starts_with(|c: char| c.is_ascii_digit()) {
        result = format!("{fallback}{delim}{result}");
    }
    if is_valid_id(&result, delim, true) {
        result
    } else {
        fallback.to_string()
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidIdError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                $name::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = InvalidIdError;

            fn try_from(s: &str) -> Result<Self, Self::Error> {
                $name::new(s)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

id_type! {
    /// A component id, the `NAME` in `[component.NAME]`.
    ///
    /// Spin's rule ("kebab-case"): words of ASCII letters and digits joined by
    /// single `-`; the id starts with a letter; no leading, trailing or doubled
    /// `-`. Like Spin, each word may also be all-UPPERCASE (`HELLO-world`) and may
    /// contain `:` after its first character; lowercase is recommended.
    ComponentId
}

impl ComponentId {
    /// Validates `id`.
    pub fn new(id: impl Into<String>) -> Result<ComponentId, InvalidIdError> {
        let id = id.into();
        if is_valid_id(&id, '-', false) {
            Ok(ComponentId(id))
        } else {
            Err(InvalidIdError {
                message: format!(
                    "invalid component id {id:?}: use lowercase letters, digits and single '-' \
                     separators, starting with a letter, e.g. {:?}",
                    suggest(&id, '-', "component")
                ),
            })
        }
    }
}

id_type! {
    /// An application variable name (`[variables]` keys and the keys of a
    /// component's `variables`).
    ///
    /// Spin's rule ("lower snake_case"): lowercase ASCII letters and digits
    /// joined by single `_`, starting with a letter; no leading, trailing or
    /// doubled `_`.
    VariableName
}

impl VariableName {
    /// Validates `name`.
    pub fn new(name: impl Into<String>) -> Result<VariableName, InvalidIdError> {
        let name = name.into();
        if is_valid_id(&name, '_', true) {
            Ok(VariableName(name))
        } else {
            Err(InvalidIdError {
                message: format!(
                    "invalid variable name {name:?}: use lowercase letters, digits and single '_' \
                     separators, starting with a letter, e.g. {:?}",
                    suggest(&name, '_', "var")
                ),
            })
        }
    }
}

id_type! {
    /// A key-value store or SQLite database label (`key_value_stores`,
    /// `sqlite_databases`), e.g. `default`.
    ///
    /// Spin's rule: a kebab-case id (`my-store`) or a snake_case id
    /// (`my_store`), see [`ComponentId`] and [`VariableName`]; `-` and `_`
    /// cannot be mixed.
    StoreLabel
}

impl StoreLabel {
    /// Validates `label`.
    pub fn new(label: impl Into<String>) -> Result<StoreLabel, InvalidIdError> {
        let label = label.into();
        if is_valid_id(&label, '-', false) || is_valid_id(&label, '_', false) {
            Ok(StoreLabel(label))
        } else {
            Err(InvalidIdError {
                message: format!(
                    "invalid store label {label:?}: use lowercase letters, digits and single '-' \
                     (or single '_') separators, starting with a letter, e.g. {:?}",
                    suggest(&label, '-', "default")
                ),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_ids_follow_spin() {
        for ok in [
            "hello",
            "hello-world",
            "a1",
            "a-1",
            "a-1b",
            "HELLO",
            "HELLO-world",
            "a:b",
        ] {
            assert!(ComponentId::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Hello",
            "hello_world",
            "-a",
            "a-",
            "a--b",
            "1a",
            "a.b",
            "a b",
            "héllo",
            ":a",
        ] {
            assert!(ComponentId::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn component_id_message_suggests_a_fix() {
        let err = ComponentId::new("Hello_World").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid component id \"Hello_World\": use lowercase letters, digits and single '-' \
             separators, starting with a letter, e.g. \"hello-world\""
        );
        assert!(ComponentId::new("helloWorld")
            .unwrap_err()
            .to_string()
            .ends_with("e.g. \"hello-world\""));
        assert!(ComponentId::new("1st")
            .unwrap_err()
            .to_string()
            .ends_with("e.g. \"component-1st\""));
    }

    #[test]
    fn variable_names_follow_spin() {
        for ok in ["api_key", "a", "a1", "a_1", "key2_b"] {
            assert!(VariableName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "API_KEY", "api-key", "_a", "a_", "a__b", "1a", "apiKey"] {
            assert!(VariableName::new(bad).is_err(), "{bad}");
        }
        assert!(VariableName::new("apiKey")
            .unwrap_err()
            .to_string()
            .ends_with("e.g. \"api_key\""));
    }

    #[test]
    fn store_labels_are_kebab_or_snake() {
        for ok in ["default", "my-store", "my_store", "Store"] {
            // "Store" is neither all-lower nor all-upper: rejected below.
            if ok == "Store" {
                assert!(StoreLabel::new(ok).is_err());
            } else {
                assert!(StoreLabel::new(ok).is_ok(), "{ok}");
            }
        }
        for bad in ["b@d", "a-b_c", "", "-a"] {
            assert!(StoreLabel::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_work_as_map_keys_by_str() {
        let mut map = indexmap::IndexMap::new();
        map.insert(ComponentId::new("hello").unwrap(), 1);
        assert_eq!(map.get("hello"), Some(&1));
        assert_eq!(
            format!("{:?}", ComponentId::new("hello").unwrap()),
            "\"hello\""
        );
    }
}
