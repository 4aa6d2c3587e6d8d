//! Variable templates in `allowed_outbound_hosts`, resolved at load.

use std::fmt;

use nimbus_manifest::{AllowedHostEntry, HostPattern, VariableName};

/// The value of one app variable, as a template in `allowed_outbound_hosts`
/// sees it.
#[derive(Clone, PartialEq, Eq)]
pub struct VariableValue {
    /// The value.
    pub value: String,
    /// The variable is `secret = true`: its value is never shown in a message.
    pub secret: bool,
}

impl fmt::Debug for VariableValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret {
            f.write_str("<secret>")
        } else {
            fmt::Debug::fmt(&self.value, f)
        }
    }
}

/// A templated `allowed_outbound_hosts` entry could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A variable the entry uses has no value (neither given nor a default).
    #[error(
        "component `{component}`: allowed_outbound_hosts entry \"{entry}\" uses app variable \
         `{variable}`, which has no value; give it one (`--variable {variable}=...`, the \
         environment variable NIMBUS_VARIABLE_{upper}, or the runtime config's [variables]) \
         or a `default` in [variables]",
        upper = variable.to_ascii_uppercase()
    )]
    MissingVariable {
        /// The component.
        component: String,
        /// The entry as written.
        entry: String,
        /// The variable without a value.
        variable: String,
    },
    /// The rendered entry is not a valid pattern.
    #[error(
        "component `{component}`: allowed_outbound_hosts entry \"{entry}\" resolves to \
         {value}, which is not a valid entry: {reason}"
    )]
    InvalidPattern {
        /// The component.
        component: String,
        /// The entry as written.
        entry: String,
        /// The rendered entry, quoted (`<secret>` when it uses a secret
        /// variable).
        value: String,
        /// Why the rendered entry is not a pattern (not shown when it uses a
        /// secret variable).
        reason: String,
    },
}

/// Resolves one component's `allowed_outbound_hosts`: literal entries as
/// they are, templates rendered with `lookup` (the app's variables: given by
/// the operator, the environment, the runtime config, the manifest's
/// defaults) and parsed as an ordinary [`HostPattern`].
///
/// Every problem is returned, in entry order: a variable without a value
/// ([`TemplateError::MissingVariable`]) or a rendered entry that is not a
/// pattern ([`TemplateError::InvalidPattern`]; a secret value is shown as
/// `<secret>`).
pub fn resolve_allowed_hosts(
    component: &str,
    entries: &[AllowedHostEntry],
    lookup: &dyn Fn(&VariableName) -> Option<VariableValue>,
) -> Result<Vec<HostPattern>, Vec<TemplateError>> {
    let mut patterns = Vec::with_capacity(entries.len());
    let mut problems = Vec::new();
    for entry in entries {
        let template = match entry {
            AllowedHostEntry::Pattern(p) => {
                patterns.push(p.clone());
                continue;
            }
            AllowedHostEntry::Template(t) => t,
        };
        let mut secret = false;
        let rendered = template.render(|name| {
            lookup(name).map(|v| {
                secret |= v.secret;
                v.value
            })
        });
        let text = match rendered {
            Ok(text) => text,
            Err(variable) => {
                problems.push(TemplateError::MissingVariable {
                    component: component.to_owned(),
                    entry: template.to_string(),
                    variable: variable.to_string(),
                });
                continue;
            }
        };
        match HostPattern::parse(&text) {
            Ok(p) => patterns.push(p),
            Err(error) => problems.push(TemplateError::InvalidPattern {
                component: component.to_owned(),
                entry: template.to_string(),
                value: if secret {
                    "<secret>".to_owned()
                } else {
                    format!("{text:?}")
                },
                reason: if secret {
                    "the reason is not shown, as the entry uses a secret variable".to_owned()
                } else {
                    error.reason().to_owned()
                },
            }),
        }
    }
    if problems.is_empty() {
        Ok(patterns)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_manifest::Template;

    fn entries(list: &[&str]) -> Vec<AllowedHostEntry> {
        list.iter()
            .map(|s| {
                if s.contains("{{") {
                    AllowedHostEntry::Template(Template::parse(s).unwrap())
                } else {
                    AllowedHostEntry::Pattern(s.parse().unwrap())
                }
            })
            .collect()
    }

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&VariableName) -> Option<VariableValue> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name.as_str())
                .map(|(k, v)| VariableValue {
                    value: v.clone(),
                    secret: k.starts_with("secret"),
                })
        }
    }

    #[test]
    fn templates_render_to_ordinary_patterns() {
        let list = entries(&[
            "redis://{{ host }}:6379",
            "*://{{ addr_prefix }}/24:5000",
            "https://{{ api_host }}",
            "http://literal.example.com",
        ]);
        let lookup = vars(&[
            ("host", "redis.internal"),
            ("addr_prefix", "10.1.2.0"),
            ("api_host", "api.example.com"),
        ]);
        let resolved = resolve_allowed_hosts("web", &list, &lookup).unwrap();
        let shown: Vec<String> = resolved.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            shown,
            [
                "redis://redis.internal",
                "*://10.1.2.0/24:5000",
                "https://api.example.com",
                "http://literal.example.com"
            ]
        );
        assert!(resolved[1].allows("tcp", "10.1.2.77", 5000));
        assert!(resolved[2].allows("https", "api.example.com", 443));
    }

    #[test]
    fn a_missing_variable_names_it_and_the_component() {
        let list = entries(&["redis://{{ host }}:6379", "https://{{ api_host }}"]);
        let errors = resolve_allowed_hosts("web", &list, &vars(&[])).unwrap_err();
        assert_eq!(errors.len(), 2);
        let message = errors[0].to_string();
        assert!(message.starts_with("component `web`: "), "{message}");
        assert!(
            message.contains("\"redis://{{ host }}:6379\" uses app variable `host`"),
            "{message}"
        );
        assert!(message.contains("NIMBUS_VARIABLE_HOST"), "{message}");
    }

    #[test]
    fn an_invalid_result_names_the_entry_and_the_value() {
        let list = entries(&["https://{{ api_host }}", "https://{{ secret_host }}"]);
        let lookup = vars(&[("api_host", "exa mple.com"), ("secret_host", "hid den")]);
        let errors = resolve_allowed_hosts("web", &list, &lookup).unwrap_err();
        let message = errors[0].to_string();
        assert!(
            message.contains(
                "entry \"https://{{ api_host }}\" resolves to \"https://exa mple.com\", which is not a valid entry"
            ),
            "{message}"
        );
        assert!(message.contains("invalid character ' '"), "{message}");
        // A secret value stays out of the message.
        let message = errors[1].to_string();
        assert!(message.contains("resolves to <secret>"), "{message}");
        assert!(!message.contains("hid den"), "{message}");
    }
}
