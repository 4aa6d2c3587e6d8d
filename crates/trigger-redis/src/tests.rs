//! The schema of `[[trigger.redis]]` and `[application.trigger.redis]`.

use super::*;
use crate::config::redis_triggers;

const HEAD: &str = "spin_manifest_version = 2\n[application]\nname = \"app\"\n";
const COMPONENT: &str = "[component.c]\nsource = \"c.wasm\"\n";

fn parse(text: &str) -> Manifest {
    Manifest::from_str(text, "spin.toml", ".").unwrap_or_else(|e| panic!("{e}"))
}

fn error(body: &str) -> String {
    let manifest = parse(&format!("{HEAD}{body}{COMPONENT}"));
    match check(&manifest) {
        Ok(()) => panic!("expected an error for:\n{body}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_app_default_address_and_a_trigger_override() {
    let m = parse(&format!(
        "{HEAD}[application.trigger.redis]\naddress = \"redis://127.0.0.1:6379\"\n\
         [[trigger.redis]]\nchannel = \"orders\"\ncomponent = \"c\"\n\
         [[trigger.redis]]\nid = \"other\"\nchannel = \"audit\"\ncomponent = \"c\"\naddress = \"redis://10.0.0.1:6380\"\nexecutor = {{ type = \"spin\" }}\n\
         {COMPONENT}"
    ));
    let triggers = redis_triggers(&m).unwrap();
    let read: Vec<(&str, &str, &str, &str)> = triggers
        .iter()
        .map(|t| {
            (
                t.id.as_str(),
                t.component.as_str(),
                t.channel.as_str(),
                t.address.as_str(),
            )
        })
        .collect();
    assert_eq!(
        read,
        [
            ("c-redis-trigger", "c", "orders", "redis://127.0.0.1:6379"),
            ("other", "c", "audit", "redis://10.0.0.1:6380"),
        ]
    );
    // Where each value is written, for later messages.
    assert_eq!(triggers[0].address.location.line, 5);
    assert_eq!(triggers[1].address.location.line, 13);
}

#[test]
fn no_redis_section_is_fine() {
    let m = parse(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"/...\"\ncomponent = \"c\"\n{COMPONENT}"
    ));
    check(&m).unwrap();
    assert!(redis_triggers(&m).unwrap().is_empty());
}

#[test]
fn a_missing_channel_is_reported_at_the_table() {
    let e = error("[[trigger.redis]]\ncomponent = \"c\"\naddress = \"redis://h:1\"\n");
    assert_eq!(
        e,
        "spin.toml:4:1: missing required field \"channel\" in [[trigger.redis]]; add e.g. channel = \"messages\""
    );
}

#[test]
fn a_missing_component_is_reported() {
    let e = error("[[trigger.redis]]\nchannel = \"x\"\naddress = \"redis://h:1\"\n");
    assert!(
        e.starts_with("spin.toml:4:1: missing required field \"component\""),
        "{e}"
    );
}

#[test]
fn a_missing_address_names_both_places_to_put_it() {
    let e = error("[[trigger.redis]]\nchannel = \"x\"\ncomponent = \"c\"\n");
    assert!(
        e.starts_with("spin.toml:4:1: no Redis address for [[trigger.redis]] `c-redis-trigger`"),
        "{e}"
    );
    assert!(e.contains("[application.trigger.redis]"), "{e}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let e = error(
        "[[trigger.redis]]\ncomponent = \"c\"\naddress = \"redis://h:1\"\n\
         [[trigger.redis]]\nchannel = \"x\"\ncomponent = \"c\"\n",
    );
    assert_eq!(e.lines().count(), 2, "{e}");
    assert!(
        e.contains("spin.toml:4:1:") && e.contains("spin.toml:7:1:"),
        "{e}"
    );
}

#[test]
fn an_unknown_key_gets_a_did_you_mean() {
    let e =
        error("[[trigger.redis]]\nchanel = \"x\"\ncomponent = \"c\"\naddress = \"redis://h:1\"\n");
    assert!(e.starts_with("spin.toml:5:1:"), "{e}");
    assert!(e.contains("did you mean \"channel\""), "{e}");
    let e = error("[application.trigger.redis]\nadress = \"redis://h:1\"\n[[trigger.redis]]\nchannel = \"x\"\ncomponent = \"c\"\n");
    assert!(
        e.contains("spin.toml:5:1:") && e.contains("did you mean \"address\""),
        "{e}"
    );
}

#[test]
fn wrong_types_are_reported_where_written() {
    let e = error("[[trigger.redis]]\nchannel = 7\ncomponent = \"c\"\naddress = \"redis://h:1\"\n");
    assert!(e.starts_with("spin.toml:5:11:"), "{e}");
    assert!(e.contains("string") && e.contains("integer"), "{e}");
    let e = error("[application.trigger.redis]\naddress = [\"redis://h:1\"]\n[[trigger.redis]]\nchannel = \"x\"\ncomponent = \"c\"\n");
    assert!(e.starts_with("spin.toml:5:11:"), "{e}");
}

#[test]
fn a_literal_address_must_be_a_redis_url() {
    let e =
        error("[[trigger.redis]]\nchannel = \"x\"\ncomponent = \"c\"\naddress = \"http://h:1\"\n");
    assert!(
        e.starts_with("spin.toml:7:11: invalid Redis address"),
        "{e}"
    );
    let e = error(
        "[[trigger.redis]]\nchannel = \"x\"\ncomponent = \"c\"\naddress = \"rediss://:pw@h:1\"\n",
    );
    assert!(e.starts_with("spin.toml:7:11:") && e.contains("TLS"), "{e}");
    assert!(!e.contains("pw"), "the password is never shown: {e}");
}

#[test]
fn variables_must_be_declared() {
    let vars =
        "[variables]\nredis_host = { default = \"127.0.0.1\" }\nsuffix = { default = \"a\" }\n";
    let ok = parse(&format!(
        "{HEAD}{vars}[[trigger.redis]]\nchannel = \"orders-{{{{ suffix }}}}\"\ncomponent = \"c\"\naddress = \"redis://{{{{ redis_host }}}}:6379\"\n{COMPONENT}"
    ));
    let triggers = redis_triggers(&ok).unwrap();
    assert_eq!(triggers[0].channel.as_str(), "orders-{{ suffix }}");

    let e = error(&format!(
        "{vars}[[trigger.redis]]\nchannel = \"x\"\ncomponent = \"c\"\naddress = \"redis://{{{{ redis_hots }}}}:6379\"\n"
    ));
    assert!(e.starts_with("spin.toml:10:11:"), "{e}");
    assert!(
        e.contains("`redis_hots`") && e.contains("did you mean \"redis_host\""),
        "{e}"
    );
    let e = error(
        "[[trigger.redis]]\nchannel = \"{{ nope\"\ncomponent = \"c\"\naddress = \"redis://h:1\"\n",
    );
    assert!(
        e.starts_with("spin.toml:5:11:") && e.contains("unmatched"),
        "{e}"
    );
}
