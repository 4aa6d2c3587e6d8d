//! The `[[trigger.nats]]` schema (and `[application.trigger.nats]`).

use nimbus_manifest::{
    ComponentId, Diagnostic, Located, Location, Manifest, ManifestError, Template,
};
use nimbus_messaging_types::nats::{check_subject, NatsAddress};
use serde::Deserialize;

use crate::TRIGGER_TYPE;

/// One `[[trigger.nats]]` table, checked (templates not rendered yet).
#[derive(Debug, Clone)]
pub(crate) struct NatsTriggerConfig {
    /// The trigger's id.
    pub id: String,
    /// The component it runs.
    pub component: ComponentId,
    /// `address`, or the app's default.
    pub address: String,
    /// `subject` (NATS wildcards allowed).
    pub subject: String,
    /// `queue_group`, if set.
    pub queue_group: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    address: Option<Located<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    address: Option<Located<String>>,
    subject: Option<Located<String>>,
    queue_group: Option<Located<String>>,
}

/// Whether `text` holds a `{{ variable }}` template (checked for syntax
/// only: its value is known when the app is loaded).
fn check_template(text: &str, at: Location, what: &str, diags: &mut Vec<Diagnostic>) -> bool {
    if !text.contains("{{") && !text.contains("}}") {
        return false;
    }
    if let Err(err) = Template::parse(text) {
        diags.push(Diagnostic::new(at, format!("{what}: {err}")));
    }
    true
}

fn check_address(address: &Located<String>, diags: &mut Vec<Diagnostic>) {
    if check_template(&address.value, address.location, "address", diags) {
        return;
    }
    if let Err(why) = NatsAddress::parse(&address.value) {
        diags.push(Diagnostic::new(
            address.location,
            format!(
                "invalid NATS address {:?}: {why}; write it as address = \"nats://HOST:PORT\"",
                redact(&address.value)
            ),
        ));
    }
}

/// `address` without a password, for messages.
fn redact(address: &str) -> String {
    match (address.find("://"), address.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &address[..scheme], &address[at + 1..])
        }
        _ => address.to_owned(),
    }
}

/// Reads and checks every `[[trigger.nats]]` table, reporting every problem
/// at once.
pub(crate) fn read(manifest: &Manifest) -> Result<Vec<NatsTriggerConfig>, ManifestError> {
    let mut diags = Vec::new();
    let default_address = manifest.trigger_settings(TRIGGER_TYPE).and_then(|section| {
        let settings: RawSettings = ManifestError::collect_into(section.deserialize(), &mut diags)?;
        let address = settings.address?;
        check_address(&address, &mut diags);
        Some(address.value)
    });
    let mut triggers = Vec::new();
    for section in manifest.trigger_sections(TRIGGER_TYPE) {
        let component = ManifestError::collect_into(
            section.required_component("component = \"my-component\""),
            &mut diags,
        )
        .flatten()
        .cloned();
        let Some(raw) =
            ManifestError::collect_into(section.config.deserialize::<RawTrigger>(), &mut diags)
        else {
            continue;
        };
        let address = match raw.address {
            Some(address) => {
                check_address(&address, &mut diags);
                Some(address.value)
            }
            None if default_address.is_some() => default_address.clone(),
            None => {
                diags.push(Diagnostic::new(
                    section.config.location(),
                    format!(
                        "missing required field \"address\" in {}; add e.g. address = \"nats://127.0.0.1:4222\" (or set it for every NATS trigger in [application.trigger.nats])",
                        section.config.name()
                    ),
                ));
                None
            }
        };
        let subject = match raw.subject {
            Some(subject) => {
                if !check_template(&subject.value, subject.location, "subject", &mut diags) {
                    if let Err(why) = check_subject(&subject.value, true) {
                        diags.push(Diagnostic::new(
                            subject.location,
                            format!("invalid subject: {why}; e.g. subject = \"jobs.>\""),
                        ));
                    }
                }
                Some(subject.value)
            }
            None => {
                diags.push(Diagnostic::new(
                    section.config.location(),
                    format!(
                        "missing required field \"subject\" in {}; add e.g. subject = \"jobs.>\"",
                        section.config.name()
                    ),
                ));
                None
            }
        };
        let queue_group = raw.queue_group.map(|group| {
            let bad = group.value.is_empty()
                || group.value.chars().any(|c| c.is_whitespace() || c.is_control());
            if bad {
                diags.push(Diagnostic::new(
                    group.location,
                    format!(
                        "invalid queue_group {:?}: a queue group is a non-empty name without spaces, e.g. queue_group = \"workers\"",
                        group.value
                    ),
                ));
            }
            group.value
        });
        if let (Some(component), Some(address), Some(subject)) = (component, address, subject) {
            triggers.push(NatsTriggerConfig {
                id: section.id.clone(),
                component,
                address,
                subject,
                queue_group,
            });
        }
    }
    ManifestError::or_ok(manifest.path(), diags, triggers)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "spin_manifest_version = 2\n[application]\nname = \"app\"\n";
    const COMPONENT: &str = "[component.worker]\nsource = \"w.wasm\"\n";

    fn parse(text: &str) -> Manifest {
        Manifest::from_str(text, "spin.toml", ".").unwrap_or_else(|e| panic!("{e}"))
    }

    fn error(text: &str) -> String {
        match read(&parse(text)) {
            Ok(t) => panic!("expected an error, got {t:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_trigger_with_a_queue_group_is_read() {
        let manifest = parse(&format!(
            "{HEAD}[[trigger.nats]]\naddress = \"nats://127.0.0.1:4222\"\nsubject = \"jobs.>\"\n\
             queue_group = \"workers\"\ncomponent = \"worker\"\n{COMPONENT}"
        ));
        let triggers = read(&manifest).unwrap();
        assert_eq!(triggers.len(), 1);
        let t = &triggers[0];
        assert_eq!(t.address, "nats://127.0.0.1:4222");
        assert_eq!(t.subject, "jobs.>");
        assert_eq!(t.queue_group.as_deref(), Some("workers"));
        assert_eq!(t.component.as_str(), "worker");
        assert_eq!(t.id, "worker-nats-trigger");
    }

    #[test]
    fn the_address_may_come_from_the_application_and_use_variables() {
        let manifest = parse(&format!(
            "{HEAD}[application.trigger.nats]\naddress = \"nats://{{{{ host }}}}:4222\"\n\
             [variables]\nhost = {{ default = \"127.0.0.1\" }}\n\
             [[trigger.nats]]\nsubject = \"{{{{ subject }}}}\"\ncomponent = \"worker\"\n{COMPONENT}"
        ));
        let triggers = read(&manifest).unwrap();
        assert_eq!(triggers[0].address, "nats://{{ host }}:4222");
        assert_eq!(triggers[0].queue_group, None);
    }

    #[test]
    fn schema_errors_name_the_place() {
        assert_eq!(
            error(&format!(
                "{HEAD}[[trigger.nats]]\nadress = \"nats://h:1\"\nsubject = \"a\"\ncomponent = \"worker\"\n{COMPONENT}"
            )),
            "spin.toml:5:1: unknown field \"adress\" in [[trigger.nats]]; did you mean \"address\"?"
        );
        assert_eq!(
            error(&format!(
                "{HEAD}[[trigger.nats]]\ncomponent = \"worker\"\n{COMPONENT}"
            )),
            "spin.toml:4:1: missing required field \"address\" in [[trigger.nats]]; add e.g. address = \"nats://127.0.0.1:4222\" (or set it for every NATS trigger in [application.trigger.nats])\n\
             spin.toml:4:1: missing required field \"subject\" in [[trigger.nats]]; add e.g. subject = \"jobs.>\""
        );
        let err = error(&format!(
            "{HEAD}[[trigger.nats]]\naddress = \"redis://u:secret@h:1\"\nsubject = \"a..b\"\n\
             queue_group = \"two words\"\ncomponent = \"worker\"\n{COMPONENT}"
        ));
        assert!(
            err.contains("spin.toml:5:11: invalid NATS address \"redis://***@h:1\""),
            "{err}"
        );
        assert!(!err.contains("secret"), "{err}");
        assert!(err.contains("spin.toml:6:11: invalid subject"), "{err}");
        assert!(
            err.contains("spin.toml:7:15: invalid queue_group \"two words\""),
            "{err}"
        );
        let err = error(&format!(
            "{HEAD}[[trigger.nats]]\naddress = \"nats://h:1\"\nsubject = 5\n{COMPONENT}"
        ));
        assert!(
            err.contains("missing required field \"component\""),
            "{err}"
        );
        assert!(err.contains("spin.toml:6:11:"), "{err}");
    }
}
