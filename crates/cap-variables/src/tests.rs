use std::collections::HashMap;

use super::*;

const MANIFEST: &str = r#"
spin_manifest_version = 2
[application]
name = "vars"

[variables]
host = { default = "example.com" }
port = { default = "80" }
region = { default = "eu" }
api_key = { required = true, secret = true }
token = { default = "t0k3n-default", secret = true }

[[trigger.http]]
route = "/a/..."
component = "a"
[[trigger.http]]
route = "/b/..."
component = "b"

[component.a]
source = "a.wasm"
variables = { url = "https://{{ host }}:{{ port }}/{{ region }}/{{ host }}", key = "Bearer {{ api_key }}", plain = "literal" }

[component.b]
source = "b.wasm"
variables = { region = "{{ region }}", tok = "{{token}}" }
"#;

fn manifest() -> Manifest {
    Manifest::from_str(MANIFEST, "spin.toml", ".").unwrap()
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

fn config(pairs: &[(&str, &str)]) -> Option<VariablesConfig> {
    Some(VariablesConfig {
        values: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    })
}

fn configure(
    config: Option<VariablesConfig>,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<VariablesAppState> {
    VariablesCapability.configure(config, &manifest(), env)
}

const SECRET: &str = "sup3r-s3cr3t-value";

#[test]
fn renders_templates_with_several_references() {
    let state = configure(None, &env(&[("NIMBUS_VARIABLE_API_KEY", SECRET)])).unwrap();
    let a = state.instance("a");
    assert_eq!(a.get("url"), Some("https://example.com:80/eu/example.com"));
    assert_eq!(a.get("key"), Some(format!("Bearer {SECRET}").as_str()));
    assert_eq!(a.get("plain"), Some("literal"));
    assert_eq!(a.keys().collect::<Vec<_>>(), ["url", "key", "plain"]);
}

#[test]
fn resolution_order_is_env_then_runtime_config_then_default() {
    let key = ("NIMBUS_VARIABLE_API_KEY", SECRET);
    // Default only.
    let state = configure(None, &env(&[key])).unwrap();
    assert_eq!(state.instance("b").get("region"), Some("eu"));
    // Runtime config beats the default.
    let state = configure(config(&[("region", "cfg")]), &env(&[key])).unwrap();
    assert_eq!(state.instance("b").get("region"), Some("cfg"));
    // SPIN_VARIABLE_ beats runtime config.
    let state = configure(
        config(&[("region", "cfg")]),
        &env(&[key, ("SPIN_VARIABLE_REGION", "spin-env")]),
    )
    .unwrap();
    assert_eq!(state.instance("b").get("region"), Some("spin-env"));
    // NIMBUS_VARIABLE_ beats SPIN_VARIABLE_.
    let state = configure(
        config(&[("region", "cfg")]),
        &env(&[
            key,
            ("SPIN_VARIABLE_REGION", "spin-env"),
            ("NIMBUS_VARIABLE_REGION", "nimbus-env"),
        ]),
    )
    .unwrap();
    assert_eq!(state.instance("b").get("region"), Some("nimbus-env"));
    // The required variable may come from runtime config too; an empty
    // environment value is a value.
    let state = configure(
        config(&[("api_key", SECRET)]),
        &env(&[("NIMBUS_VARIABLE_HOST", "")]),
    )
    .unwrap();
    assert_eq!(
        state.instance("a").get("key"),
        Some(format!("Bearer {SECRET}").as_str())
    );
    assert_eq!(state.instance("a").get("url"), Some("https://:80/eu/"));
}

#[test]
fn missing_required_variable_fails_naming_it() {
    let err = configure(None, &env(&[])).unwrap_err().to_string();
    assert!(
        err.contains("app variable `api_key` is required but has no value"),
        "{err}"
    );
    assert!(err.contains("NIMBUS_VARIABLE_API_KEY"), "{err}");
    assert!(
        err.contains("[variables] table of the runtime config"),
        "{err}"
    );
}

#[test]
fn unknown_runtime_config_keys_are_errors() {
    let err = configure(config(&[("api_key", SECRET), ("regoin", "x")]), &env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sets `regoin`, which the manifest does not declare"),
        "{err}"
    );
    assert!(err.contains("`region`"), "{err}");
    assert!(!err.contains(SECRET), "{err}");
}

#[test]
fn secrets_never_show_in_debug_or_errors() {
    let state = configure(
        config(&[("api_key", SECRET)]),
        &env(&[("NIMBUS_VARIABLE_TOKEN", SECRET)]),
    )
    .unwrap();
    let debug = format!("{state:?} {state:#?}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(!debug.contains("t0k3n"), "{debug}");
    // Non-secret values are shown, secret ones marked.
    assert!(debug.contains("example.com"), "{debug}");
    assert!(debug.contains("<secret>"), "{debug}");
    for id in ["a", "b"] {
        let instance = state.instance(id);
        let debug = format!("{instance:?}");
        assert!(!debug.contains(SECRET), "{debug}");
    }
    let config = config(&[("api_key", SECRET)]).unwrap();
    let debug = format!("{config:?}");
    assert!(
        debug.contains("api_key") && !debug.contains(SECRET),
        "{debug}"
    );

    // An error about other variables does not carry secret values.
    let err = configure(
        Some(VariablesConfig {
            values: [("nope".to_string(), SECRET.to_string())].into(),
        }),
        &env(&[("NIMBUS_VARIABLE_TOKEN", SECRET)]),
    )
    .unwrap_err();
    let text = format!("{err:?} {err:#}");
    assert!(!text.contains(SECRET), "{text}");
}

#[test]
fn components_see_only_their_own_keys() {
    let state = configure(None, &env(&[("NIMBUS_VARIABLE_API_KEY", SECRET)])).unwrap();
    let mut a = state.instance("a");
    let mut b = state.instance("b");
    assert_eq!(b.get("url"), None);
    assert_eq!(a.get("tok"), None);
    let all = wasi_config::Host::get_all(&mut b).unwrap();
    assert_eq!(
        all,
        [
            ("region".to_string(), "eu".to_string()),
            ("tok".to_string(), "t0k3n-default".to_string())
        ]
    );
    assert_eq!(
        wasi_config::Host::get(&mut a, "region".into()).unwrap(),
        None
    );
    assert_eq!(
        wasi_config::Host::get(&mut b, "region".into()).unwrap(),
        Some("eu".into())
    );
    let mut nobody = state.instance("nobody");
    assert!(wasi_config::Host::get_all(&mut nobody).unwrap().is_empty());
}

#[test]
fn spin_interface_errors() {
    let state = configure(None, &env(&[("NIMBUS_VARIABLE_API_KEY", SECRET)])).unwrap();
    let mut a = state.instance("a");
    assert_eq!(
        spin_variables::Host::get(&mut a, "plain".into()).unwrap(),
        "literal"
    );
    match spin_variables::Host::get(&mut a, "Not-Valid".into()) {
        Err(spin_variables::Error::InvalidName(m)) => {
            assert!(m.contains("invalid variable name"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    match spin_variables::Host::get(&mut a, "tok".into()) {
        Err(spin_variables::Error::Undefined(m)) => {
            assert!(m.contains("component `a` has no variable `tok`"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn runtime_config_table_parses() {
    #[derive(Deserialize)]
    struct Top {
        variables: VariablesConfig,
    }
    let top: Top = toml::from_str("[variables]\napi_key = \"k\"\nregion = \"us\"\n").unwrap();
    assert_eq!(top.variables.values["region"], "us");
    let err = toml::from_str::<Top>("[variables]\nport = 8080\n")
        .err()
        .unwrap();
    assert!(err.to_string().contains("expected a string"), "{err}");
}
