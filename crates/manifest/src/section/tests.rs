//! `Section::deserialize`, `Located` and `Manifest::check_trigger_types`.

use serde::Deserialize;

use crate::{Located, Manifest, ManifestError};

const HEAD: &str = "spin_manifest_version = 2\n[application]\nname = \"app\"\n";

fn manifest(triggers: &str) -> Manifest {
    let text = format!("{HEAD}{triggers}[component.c]\nsource = \"c.wasm\"\n");
    Manifest::from_str(&text, "spin.toml", ".").unwrap_or_else(|e| panic!("{e}"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Redis {
    channel: Located<String>,
    retries: Option<u8>,
    tags: Option<Vec<String>>,
    options: Option<Options>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Options {
    tls: bool,
}

fn redis_error(body: &str) -> String {
    let m = manifest(&format!("[[trigger.redis]]\ncomponent = \"c\"\n{body}"));
    let section = &m.trigger_sections("redis").next().unwrap().config;
    match section.deserialize::<Redis>() {
        Ok(r) => panic!("expected an error, got {r:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn reads_values_with_their_locations() {
    let m = manifest("[[trigger.redis]]\ncomponent = \"c\"\nchannel = \"jobs\"\nretries = 3\n");
    let t = m.trigger_sections("redis").next().unwrap();
    assert_eq!(t.id, "c-redis-trigger");
    let r: Redis = t.config.deserialize().unwrap();
    assert_eq!(r.channel.value, "jobs");
    assert_eq!(
        (r.channel.location.line, r.channel.location.column),
        (6, 11)
    );
    assert_eq!(r.retries, Some(3));
}

#[test]
fn errors_name_the_place_in_the_manifest_words() {
    assert_eq!(
        redis_error("channel = 5\n"),
        "spin.toml:6:11: \"channel\" in [[trigger.redis]] must be a string, not an integer"
    );
    assert_eq!(
        redis_error("chanel = \"x\"\n"),
        "spin.toml:6:1: unknown field \"chanel\" in [[trigger.redis]]; did you mean \"channel\"?"
    );
    // The keys the manifest reads itself are candidates too.
    assert_eq!(
        redis_error("channel = \"x\"\ncomponnet = \"c\"\n"),
        "spin.toml:7:1: unknown field \"componnet\" in [[trigger.redis]]; did you mean \"component\"?"
    );
    assert_eq!(
        redis_error("colour = 1\n"),
        "spin.toml:6:1: unknown field \"colour\" in [[trigger.redis]]; expected \"id\", \"component\", \"channel\", \"retries\", \"tags\" or \"options\""
    );
    assert_eq!(
        redis_error("retries = 1\n"),
        "spin.toml:4:1: missing required field \"channel\" in [[trigger.redis]]"
    );
    assert_eq!(
        redis_error("channel = \"x\"\nretries = 300\n"),
        "spin.toml:7:11: \"retries\" in [[trigger.redis]] must be u8, not 300"
    );
    assert_eq!(
        redis_error("channel = \"x\"\ntags = [\"a\", 2]\n"),
        "spin.toml:7:14: each entry of \"tags\" in [[trigger.redis]] must be a string, not an integer"
    );
    assert_eq!(
        redis_error("channel = \"x\"\noptions = { tsl = true }\n"),
        "spin.toml:7:13: unknown field \"tsl\" in the options of [[trigger.redis]]; did you mean \"tls\"?"
    );
}

#[test]
fn unknown_trigger_types_list_the_known_ones() {
    let m = manifest(
        "[application.trigger.crn]\nx = 1\n[[trigger.redis]]\ncomponent = \"c\"\n[[trigger.mqtt]]\ncomponent = \"c\"\n",
    );
    assert_eq!(m.trigger_types(), ["crn", "redis", "mqtt"]);
    assert!(m.check_trigger_types(&["crn", "redis", "mqtt"]).is_ok());
    let e = m
        .check_trigger_types(&["http", "redis", "cron"])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "spin.toml:4:22: trigger type \"crn\" is not supported; this build of Nimbus supports [[trigger.http]], [[trigger.redis]] and [[trigger.cron]]; did you mean \"cron\"?\n\
         spin.toml:8:11: trigger type \"mqtt\" is not supported; this build of Nimbus supports [[trigger.http]], [[trigger.redis]] and [[trigger.cron]]"
    );
}

#[test]
fn checks_run_with_parsing_and_report_together() {
    let text =
        format!("{HEAD}[[trigger.redis]]\ncomponent = \"c\"\n[component.c]\nsorce = \"c.wasm\"\n");
    let e = Manifest::from_str_with(&text, "spin.toml", ".", |m| {
        ManifestError::combine([m.check_trigger_types(&["http"]), Ok(())])
    })
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "spin.toml:4:11: trigger type \"redis\" is not supported; Nimbus supports only [[trigger.http]]\n\
         spin.toml:7:1: unknown field \"sorce\" in [component.c]; did you mean \"source\"?"
    );
}
