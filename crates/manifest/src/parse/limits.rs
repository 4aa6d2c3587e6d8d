//! `[component.NAME.build]` and `[component.NAME.limits]`.

use std::path::PathBuf;

use toml::de::DeValue;
use toml::Spanned;

use super::walker::{Tbl, Val};
use super::Parser;
use crate::manifest::{Build, Limits};

const BUILD_KEYS: &[&str] = &["command", "workdir", "watch"];
const LIMITS_KEYS: &[&str] = &["memory", "timeout", "max_concurrency", "max_body_size"];

impl<'s> Parser<'s> {
    pub(super) fn build(&mut self, t: &Tbl) -> Option<Build> {
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

    pub(super) fn limits(&mut self, t: &Tbl) -> Limits {
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

    pub(super) fn size(&mut self, v: &Val, what: &str, allow_zero: bool) -> Option<u64> {
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
}
