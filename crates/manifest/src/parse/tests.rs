//! Unit tests of the parser.

use std::path::PathBuf;

use crate::manifest::ManifestVersion;
use crate::{Manifest, ManifestError};

fn parse_ok(text: &str) -> Manifest {
    Manifest::from_str(text, "spin.toml", ".").unwrap_or_else(|e| panic!("{e}"))
}

fn parse_err(text: &str) -> String {
    Manifest::from_str(text, "spin.toml", ".")
        .map(|m| format!("parsed: {m:?}"))
        .unwrap_err_or_message()
}

trait ErrText {
    fn unwrap_err_or_message(self) -> String;
}

impl ErrText for Result<String, ManifestError> {
    fn unwrap_err_or_message(self) -> String {
        match self {
            Ok(s) => panic!("expected an error, got {s}"),
            Err(e) => e.to_string(),
        }
    }
}

const HEAD: &str = "spin_manifest_version = 2\n[application]\nname = \"app\"\n";

#[test]
fn minimal_manifest() {
    let m = parse_ok(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"/...\"\ncomponent = \"hello\"\n[component.hello]\nsource = \"hello.wasm\"\n"
    ));
    assert_eq!(m.name(), "app");
    assert_eq!(m.triggers.len(), 1);
    assert_eq!(m.triggers[0].id, "hello-http-trigger");
    assert_eq!(m.triggers[0].trigger_type, "http");
    assert_eq!(m.triggers[0].component.as_ref().unwrap(), "hello");
    assert_eq!(
        m.component("hello").unwrap().source,
        PathBuf::from("hello.wasm")
    );
    // The route is the HTTP trigger's: nimbus-trigger-http's config tests.
}

#[test]
fn inline_component_ids_follow_spin() {
    let m = parse_ok(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"/a\"\ncomponent = {{ source = \"a.wasm\" }}\n\
         [[trigger.http]]\nid = \"named\"\nroute = \"/b\"\ncomponent = {{ source = \"b.wasm\" }}\n\
         [[trigger.http]]\nid = \"Not_Kebab\"\nroute = \"/c\"\ncomponent = {{ source = \"c.wasm\" }}\n\
         [[trigger.http]]\nroute = \"/d\"\ncomponent = {{ source = \"d.wasm\" }}\n"
    ));
    let ids: Vec<_> = m
        .triggers
        .iter()
        .map(|t| (t.id.as_str(), t.component.as_ref().unwrap().as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            ("http-trigger1", "http-trigger1-component"),
            ("named", "named-component"),
            ("Not_Kebab", "inline-component1"),
            ("http-trigger2", "http-trigger2-component"),
        ]
    );
}

#[test]
fn inline_id_clash_falls_back_to_counter() {
    let m = parse_ok(&format!(
        "{HEAD}[[trigger.http]]\nid = \"x\"\nroute = \"/a\"\ncomponent = {{ source = \"a.wasm\" }}\n\
         [component.x-component]\nsource = \"y.wasm\"\n"
    ));
    assert_eq!(
        m.triggers[0].component.as_ref().unwrap(),
        "inline-component1"
    );
    assert_eq!(m.components.len(), 2);
}

#[test]
fn generated_trigger_ids_avoid_explicit_ones() {
    let m = parse_ok(&format!(
        "{HEAD}[[trigger.http]]\nid = \"hello-http-trigger\"\nroute = \"/a\"\ncomponent = \"hello\"\n\
         [[trigger.http]]\nroute = \"/b\"\ncomponent = \"hello\"\n\
         [component.hello]\nsource = \"h.wasm\"\n"
    ));
    assert_eq!(m.triggers[1].id, "http-trigger1");
}

#[test]
fn application_trigger_settings_are_kept() {
    // Applying `base` to routes is the HTTP trigger's: see
    // nimbus-trigger-http's config tests.
    let m = parse_ok(&format!(
        "{HEAD}[application.trigger.http]\nbase = \"/api/\"\n[[trigger.http]]\nroute = \"/a\"\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\n"
    ));
    let settings = m.trigger_settings("http").expect("kept");
    assert_eq!(settings.name(), "[application.trigger.http]");
    assert_eq!(settings.key_location("base").unwrap().line, 5);
    assert_eq!(m.trigger_types(), ["http"]);
}

#[test]
fn nimbus_version_is_accepted_and_both_rejected() {
    let body = "[application]\nname = \"a\"\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\n";
    let m = parse_ok(&format!("nimbus_manifest_version = 1\n{body}"));
    assert_eq!(m.manifest_version, ManifestVersion::Nimbus1);
    let e = parse_err(&format!(
        "spin_manifest_version = 2\nnimbus_manifest_version = 1\n{body}"
    ));
    assert!(e.starts_with("spin.toml:2:1: both"), "{e}");
}

#[test]
fn template_error_columns_point_into_the_string() {
    let text = format!(
        "{HEAD}[variables]\napi_key = {{ required = true }}\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\nvariables = {{ k = \"x{{{{ api_kye }}}}\" }}\n"
    );
    let e = parse_err(&text);
    // `variables = { k = "x{{ api_kye }}" }`: the name starts at column 24.
    assert!(e.starts_with("spin.toml:11:24: "), "{e}");
    assert!(e.contains("did you mean \"api_key\"?"), "{e}");
}

#[test]
fn collects_several_errors_in_order() {
    let e = parse_err(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.c]\nsorce = \"c.wasm\"\n[component.c.limits]\nmemory = \"lots\"\n"
    ));
    let lines: Vec<_> = e.lines().collect();
    // No separate "missing source": the did-you-mean already says it.
    assert_eq!(lines.len(), 2, "{e}");
    assert_eq!(
        lines[0],
        "spin.toml:8:1: unknown field \"sorce\" in [component.c]; did you mean \"source\"?"
    );
    assert!(
        lines[1].starts_with("spin.toml:10:10: invalid size \"lots\""),
        "{e}"
    );
}

#[test]
fn spin_only_fields_are_reported() {
    let e = parse_err(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\nallowed_http_hosts = [\"example.com\"]\n"
    ));
    assert!(
        e.contains("allowed_outbound_hosts = [\"https://example.com\", \"http://example.com\"]"),
        "{e}"
    );
    // Other trigger types parse; a build refuses those it does not run.
    let m = parse_ok(&format!(
        "{HEAD}[[trigger.redis]]\nchannel = \"x\"\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\n"
    ));
    let e = m.check_trigger_types(&["http"]).unwrap_err().to_string();
    assert!(e.contains("trigger type \"redis\" is not supported"), "{e}");
}

#[test]
fn tool_and_targets_are_ignored() {
    parse_ok(
        "spin_manifest_version = 2\n[application]\nname = \"a\"\ntargets = [\"spin-up:3.2\"]\n[application.tool.lint]\nlevel = \"x\"\n\
         [[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\n[component.c.tool.clean]\ncommand = \"x\"\n"
    );
}

#[test]
fn allowed_host_templates_are_kept_and_checked() {
    let m = parse_ok(&format!(
        "{HEAD}[variables]\nhost = {{ default = \"redis.example.com\" }}\naddr_prefix = {{ required = true }}\n\
         [[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\n\
         allowed_outbound_hosts = [\"redis://{{{{ host }}}}:6379\", \"*://{{{{addr_prefix}}}}/24:5000\", \"https://example.com\"]\n"
    ));
    let hosts = &m.component("c").unwrap().allowed_outbound_hosts;
    assert_eq!(hosts.len(), 3);
    match &hosts[0] {
        crate::AllowedHostEntry::Template(t) => {
            assert_eq!(t.to_string(), "redis://{{ host }}:6379");
            assert_eq!(
                t.variables().map(|v| v.as_str()).collect::<Vec<_>>(),
                ["host"]
            );
        }
        other => panic!("expected a template, got {other:?}"),
    }
    assert_eq!(hosts[1].to_string(), "*://{{ addr_prefix }}/24:5000");
    assert!(hosts[1].pattern().is_none());
    assert!(hosts[2]
        .pattern()
        .is_some_and(|p| p.allows("https", "example.com", 443)));
}

#[test]
fn allowed_host_templates_need_declared_variables() {
    // `allowed_outbound_hosts = ["https://{{ api_hots }}"]`: the name starts
    // at column 39.
    let e = parse_err(&format!(
        "{HEAD}[variables]\napi_host = {{ required = true }}\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n\
         [component.c]\nsource = \"c.wasm\"\nallowed_outbound_hosts = [\"https://{{{{ api_hots }}}}\"]\n"
    ));
    assert!(e.starts_with("spin.toml:11:39: "), "{e}");
    assert!(
        e.contains("allowed_outbound_hosts entry \"https://{{ api_hots }}\" refers to \"api_hots\", which is not declared in [variables]; did you mean \"api_host\"?"),
        "{e}"
    );
    let e = parse_err(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n\
         [component.c]\nsource = \"c.wasm\"\nallowed_outbound_hosts = [\"https://{{{{ host }}\"]\n"
    ));
    assert!(e.contains("in allowed_outbound_hosts entry"), "{e}");
    assert!(e.contains("unmatched \"{{\""), "{e}");
    let e = parse_err(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n\
         [component.c]\nsource = \"c.wasm\"\nallowed_outbound_hosts = [\"https://{{{{ Host }}}}\"]\n"
    ));
    assert!(e.contains("invalid variable name \"Host\""), "{e}");
}
