#![no_main]
//! Any text as `runtime-config.toml`: parsing, taking each section the way the
//! capabilities do, and `finish` must return Ok or Err, never panic, and every
//! error must name `fuzz.toml:line:col`.
//!
//! The section types below mirror the shapes of the real capability configs
//! (`nimbus-cap-key-value`, `nimbus-cap-sqlite`, `nimbus-cap-variables`):
//! tagged by `type`, `deny_unknown_fields`, string maps. They are copied
//! rather than imported so that this crate does not build Wasmtime.

use std::collections::BTreeMap;
use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use nimbus_runtime_config::{RuntimeConfig, RuntimeConfigError};
use serde::Deserialize;

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Store {
    #[serde(alias = "spin")]
    Sqlite(SqliteStore),
    Redis(RedisStore),
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqliteStore {
    path: Option<PathBuf>,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedisStore {
    url: String,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum Database {
    #[serde(alias = "spin")]
    Sqlite {
        #[serde(default)]
        path: Option<PathBuf>,
    },
}

fn check(result: Result<(), RuntimeConfigError>) {
    if let Err(err) = result {
        let message = err.to_string();
        assert!(message.starts_with("fuzz.toml:"), "{message}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut config = match RuntimeConfig::from_str(text, "fuzz.toml") {
        Ok(config) => config,
        Err(err) => return check(Err(err)),
    };
    let _ = config.remaining_sections();
    check(
        config
            .take::<BTreeMap<String, Store>>("key_value_store")
            .map(drop),
    );
    check(
        config
            .take::<BTreeMap<String, Database>>("sqlite_database")
            .map(drop),
    );
    let variables = config.take::<BTreeMap<String, String>>("variables");
    let took_variables = matches!(variables, Ok(Some(_)));
    check(variables.map(drop));
    // A section taken once is gone: a second take is `Ok(None)`.
    if took_variables {
        assert!(matches!(
            config.take::<BTreeMap<String, String>>("variables"),
            Ok(None)
        ));
    }
    check(config.finish());
});
