//! The table walker: typed reads of TOML values that report problems as
//! diagnostics (with a "did you mean" for unknown keys) and carry on.

use std::ops::Range;

use toml::de::{DeString, DeTable, DeValue};
use toml::Spanned;

use super::Parser;
use crate::error::{Diagnostic, Location};
use crate::suggest::{did_you_mean, one_of};

pub(super) type Key<'i> = Spanned<DeString<'i>>;
pub(super) type Val<'i> = Spanned<DeValue<'i>>;

/// A table being read, with its name for messages (`""` is the top level) and
/// the span to point at when a required field is missing.
pub(super) struct Tbl<'a, 'i> {
    pub(super) table: &'a DeTable<'i>,
    pub(super) name: String,
    pub(super) span: Range<usize>,
}

impl<'a, 'i> Tbl<'a, 'i> {
    pub(super) fn get(&self, key: &str) -> Option<(&'a Key<'i>, &'a Val<'i>)> {
        self.table.get_key_value(key)
    }

    /// `in [component.x]`, or `at the top level`.
    pub(super) fn whereabouts(&self) -> String {
        if self.name.is_empty() {
            "at the top level".to_string()
        } else {
            format!("in {}", self.name)
        }
    }

    /// `"key" in [component.x]`, or `"key"` at the top level.
    pub(super) fn field(&self, key: &str) -> String {
        if self.name.is_empty() {
            format!("{key:?}")
        } else {
            format!("{key:?} in {}", self.name)
        }
    }
}

/// A TOML key as written in a table header: bare when possible, else quoted.
pub(super) fn toml_key(key: &str) -> String {
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
pub(super) fn non_empty(s: Option<Spanned<String>>) -> Option<String> {
    s.map(Spanned::into_inner).filter(|s| !s.is_empty())
}

pub(super) fn article(type_name: &str) -> String {
    match type_name.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {type_name}"),
        _ => format!("a {type_name}"),
    }
}

impl<'s> Parser<'s> {
    pub(super) fn loc(&self, offset: usize) -> Location {
        Location::from_offset(self.src, offset)
    }

    pub(super) fn error(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let location = self.loc(span.start);
        self.diags.push(Diagnostic::new(location, message));
    }

    /// The byte offset of character `offset` of a string value's contents,
    /// when the source text between the quotes is exactly the value (no
    /// escapes); else the start of the value.
    pub(super) fn offset_in_string(
        &self,
        span: &Range<usize>,
        value: &str,
        offset: usize,
    ) -> usize {
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

    pub(super) fn check_keys(&mut self, t: &Tbl, known: &[&str]) {
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
    pub(super) fn has_typo_of(&self, t: &Tbl, key: &str) -> bool {
        t.table.iter().any(|(k, _)| {
            self.unknown_keys.contains(&k.span().start)
                && did_you_mean(k.get_ref(), [key]).is_some()
        })
    }

    pub(super) fn missing(&mut self, t: &Tbl, key: &str, example: &str) {
        if self.has_typo_of(t, key) {
            return;
        }
        let message = format!(
            "missing required field {key:?} {}; add e.g. {example}",
            t.whereabouts()
        );
        self.error(&t.span, message);
    }

    pub(super) fn type_error(&mut self, v: &Val, what: &str, expected: &str) {
        let message = format!(
            "{what} must be {expected}, not {}",
            article(v.get_ref().type_str())
        );
        self.error(&v.span(), message);
    }

    pub(super) fn as_string(&mut self, v: &Val, what: &str) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.type_error(v, what, "a string");
                None
            }
        }
    }

    pub(super) fn opt_string(&mut self, t: &Tbl, key: &str) -> Option<Spanned<String>> {
        let (_, v) = t.get(key)?;
        let s = self.as_string(v, &t.field(key))?;
        Some(Spanned::new(v.span(), s))
    }

    pub(super) fn req_string(
        &mut self,
        t: &Tbl,
        key: &str,
        example: &str,
    ) -> Option<Spanned<String>> {
        if t.get(key).is_none() {
            self.missing(t, key, example);
            return None;
        }
        self.opt_string(t, key)
    }

    pub(super) fn opt_bool(&mut self, t: &Tbl, key: &str) -> Option<bool> {
        let (_, v) = t.get(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.type_error(v, &t.field(key), "true or false");
                None
            }
        }
    }

    pub(super) fn opt_array<'a, 'i>(&mut self, t: &Tbl<'a, 'i>, key: &str) -> &'a [Val<'i>] {
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

    pub(super) fn opt_string_list(&mut self, t: &Tbl, key: &str) -> Vec<Spanned<String>> {
        let what = format!("each entry of {}", t.field(key));
        let mut out = Vec::new();
        for item in self.opt_array(t, key) {
            if let Some(s) = self.as_string(item, &what) {
                out.push(Spanned::new(item.span(), s));
            }
        }
        out
    }

    pub(super) fn opt_table<'a, 'i>(
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

    pub(super) fn integer(&mut self, v: &Val, what: &str, expected: &str) -> Option<i128> {
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
}
