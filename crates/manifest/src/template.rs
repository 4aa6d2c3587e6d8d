//! Component variable templates: literal text and `{{ name }}` references to
//! application variables.

use std::fmt;
use std::str::FromStr;

use crate::ids::VariableName;

/// One piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    /// Literal text, copied as is.
    Literal(String),
    /// A `{{ name }}` reference to an application variable.
    Variable(VariableName),
}

/// A component variable value, e.g. `"https://{{ api_host }}/users"`.
///
/// Syntax (Spin's): `{{` starts a reference that ends at the next `}}`; the
/// text between them, trimmed, must be an application variable name. There
/// is no escape for a literal `{{`. Everything else is literal text.
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<TemplatePart>,
}

/// A template could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// Byte offset in the template text where the problem is.
    pub offset: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Template {
    /// Parses a template.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        Template::parse_with_offsets(text).map(|(t, _)| t)
    }

    /// Parses a template, also returning each reference with the byte offset
    /// of its name in `text`.
    pub(crate) fn parse_with_offsets(
        text: &str,
    ) -> Result<(Template, Vec<(VariableName, usize)>), TemplateError> {
        let mut parts = Vec::new();
        let mut refs = Vec::new();
        let mut pos = 0;
        while pos < text.len() {
            let rest = &text[pos..];
            if let Some(expr_rest) = rest.strip_prefix("{{") {
                let Some(end) = expr_rest.find("}}") else {
                    return Err(TemplateError {
                        offset: pos,
                        message: "unmatched \"{{\": close the reference with \"}}\", e.g. \"{{ api_key }}\""
                            .to_string(),
                    });
                };
                let raw = &expr_rest[..end];
                let name = raw.trim();
                let name_offset = pos + 2 + (raw.len() - raw.trim_start().len());
                let var = VariableName::new(name).map_err(|e| TemplateError {
                    offset: name_offset,
                    message: if name.is_empty() {
                        "empty \"{{ }}\": put an application variable name inside, e.g. \"{{ api_key }}\"".to_string()
                    } else {
                        format!("in \"{{{{ {name} }}}}\": {e}")
                    },
                })?;
                refs.push((var.clone(), name_offset));
                parts.push(TemplatePart::Variable(var));
                pos += 2 + end + 2;
            } else {
                let end = rest.find("{{").unwrap_or(rest.len());
                parts.push(TemplatePart::Literal(rest[..end].to_string()));
                pos += end;
            }
        }
        Ok((Template { parts }, refs))
    }

    /// The literal and variable parts, in order.
    pub fn parts(&self) -> &[TemplatePart] {
        &self.parts
    }

    /// True if the template has no variable references.
    pub fn is_literal(&self) -> bool {
        self.parts
            .iter()
            .all(|p| matches!(p, TemplatePart::Literal(_)))
    }

    /// The referenced variables, in order (with repeats).
    pub fn variables(&self) -> impl Iterator<Item = &VariableName> {
        self.parts.iter().filter_map(|p| match p {
            TemplatePart::Variable(v) => Some(v),
            TemplatePart::Literal(_) => None,
        })
    }

    /// Renders the template, looking each variable up with `lookup`.
    ///
    /// Returns the first variable for which `lookup` gave `None` as the error.
    pub fn render<F, S>(&self, mut lookup: F) -> Result<String, &VariableName>
    where
        F: FnMut(&VariableName) -> Option<S>,
        S: AsRef<str>,
    {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                TemplatePart::Literal(s) => out.push_str(s),
                TemplatePart::Variable(v) => out.push_str(lookup(v).ok_or(v)?.as_ref()),
            }
        }
        Ok(out)
    }
}

impl FromStr for Template {
    type Err = TemplateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Template::parse(s)
    }
}

/// Prints the template in its source form, with references as `{{ name }}`.
impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                TemplatePart::Literal(s) => f.write_str(s)?,
                TemplatePart::Variable(v) => write!(f, "{{{{ {v} }}}}")?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Template({:?})", self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(s: &str) -> TemplatePart {
        TemplatePart::Variable(VariableName::new(s).unwrap())
    }

    fn lit(s: &str) -> TemplatePart {
        TemplatePart::Literal(s.to_string())
    }

    #[test]
    fn parses_parts() {
        assert_eq!(Template::parse("").unwrap().parts(), &[]);
        assert_eq!(Template::parse("abc").unwrap().parts(), &[lit("abc")]);
        assert_eq!(
            Template::parse("a-{{ x }}-b").unwrap().parts(),
            &[lit("a-"), var("x"), lit("-b")]
        );
        assert_eq!(
            Template::parse("{{x}}{{  y_2 }}").unwrap().parts(),
            &[var("x"), var("y_2")]
        );
        assert!(Template::parse("plain }} text").unwrap().is_literal());
    }

    #[test]
    fn reports_errors_with_offsets() {
        let e = Template::parse("ab {{ x").unwrap_err();
        assert_eq!(e.offset, 3);
        let e = Template::parse("ab {{  Bad }}").unwrap_err();
        assert_eq!(e.offset, 7);
        assert!(
            e.message.contains("invalid variable name \"Bad\""),
            "{}",
            e.message
        );
        let e = Template::parse("{{ }}").unwrap_err();
        assert!(e.message.starts_with("empty"));
    }

    #[test]
    fn reference_offsets_point_at_names() {
        let (_, refs) = Template::parse_with_offsets("x{{ a }}y{{b}}").unwrap();
        assert_eq!(refs[0].1, 4);
        assert_eq!(refs[1].1, 11);
    }

    #[test]
    fn renders_and_displays() {
        let t = Template::parse("https://{{host}}/{{ path }}").unwrap();
        assert_eq!(t.to_string(), "https://{{ host }}/{{ path }}");
        let out = t
            .render(|v| match v.as_str() {
                "host" => Some("example.com"),
                "path" => Some("x"),
                _ => None,
            })
            .unwrap();
        assert_eq!(out, "https://example.com/x");
        let missing = t.render(|_| None::<&str>).unwrap_err();
        assert_eq!(missing.as_str(), "host");
    }
}
