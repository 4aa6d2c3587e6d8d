//! The `[key_value_store.NAME]` sections of the runtime config.

use std::collections::BTreeMap;
use std::path::PathBuf;

use nimbus_runtime_config::{RuntimeConfig, RuntimeConfigError};
use serde::Deserialize;

/// The runtime config's `key_value_store` section: one backend per store
/// label.
///
/// ```toml
/// [key_value_store.default]        # optional: `default` is always SQLite otherwise
/// type = "sqlite"
/// path = "kv.db"                   # optional, relative to the app's data dir
///
/// [key_value_store.cache]
/// type = "redis"
/// url = "redis://127.0.0.1:6379"
///
/// [key_value_store.shared]         # shared by every node of a fleet
/// type = "postgres"
/// url = "postgres://nimbus:password@db.internal:5432/nimbus"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct KeyValueConfig {
    /// Backend per store label.
    pub stores: BTreeMap<String, StoreConfig>,
}

impl KeyValueConfig {
    /// The runtime config section this capability owns.
    pub const SECTION: &'static str = "key_value_store";

    /// Takes (removes and parses) the `key_value_store` section of `config`;
    /// `None` when there is none.
    pub fn take_from(config: &mut RuntimeConfig) -> Result<Option<Self>, RuntimeConfigError> {
        config.take(Self::SECTION)
    }
}

/// The backend of one store, chosen by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum StoreConfig {
    /// `type = "sqlite"` (or Spin's `type = "spin"`): the embedded backend, a
    /// SQLite file in the app's data dir.
    #[serde(alias = "spin")]
    Sqlite(SqliteStoreConfig),
    /// `type = "redis"`: a Redis server.
    Redis(RedisStoreConfig),
    /// `type = "postgres"`: a PostgreSQL database (table `nimbus_key_value`,
    /// created on first use).
    Postgres(PostgresStoreConfig),
}

/// `type = "sqlite"` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteStoreConfig {
    /// The database file, relative to the app's data dir (absolute paths are
    /// used as they are). Default: [`crate::DEFAULT_DB_FILE`]. Stores naming
    /// the same file share it (one table, a `store` column per label).
    pub path: Option<PathBuf>,
}

/// `type = "redis"` settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisStoreConfig {
    /// `redis://[user:password@]host[:port][/db]`.
    pub url: String,
}

/// `type = "postgres"` settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresStoreConfig {
    /// `postgres://user:password@host[:port]/database` (`postgresql://`
    /// too), or a key=value connection string
    /// (`host=… port=… user=… password=… dbname=…`). Checked at configure
    /// time; connected on first use. TLS (`sslmode=require`) is not
    /// supported yet.
    pub url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Option<KeyValueConfig>, RuntimeConfigError> {
        let mut config = RuntimeConfig::from_str(text, "runtime-config.toml").unwrap();
        let parsed = KeyValueConfig::take_from(&mut config)?;
        config.finish()?;
        Ok(parsed)
    }

    #[test]
    fn parses_every_type() {
        let config = parse(
            r#"
[key_value_store.default]
type = "sqlite"

[key_value_store.spin]
type = "spin"
path = "/var/kv.db"

[key_value_store.cache]
type = "redis"
url = "redis://127.0.0.1:6379"

[key_value_store.shared]
type = "postgres"
url = "postgres://nimbus:pw@127.0.0.1:5432/nimbus"
"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            config.stores["default"],
            StoreConfig::Sqlite(SqliteStoreConfig { path: None })
        );
        assert_eq!(
            config.stores["spin"],
            StoreConfig::Sqlite(SqliteStoreConfig {
                path: Some("/var/kv.db".into())
            })
        );
        assert_eq!(
            config.stores["cache"],
            StoreConfig::Redis(RedisStoreConfig {
                url: "redis://127.0.0.1:6379".into()
            })
        );
        assert_eq!(
            config.stores["shared"],
            StoreConfig::Postgres(PostgresStoreConfig {
                url: "postgres://nimbus:pw@127.0.0.1:5432/nimbus".into()
            })
        );
        assert_eq!(parse("").unwrap(), None);
    }

    #[test]
    fn refuses_unknown_types_and_keys() {
        let err = parse("[key_value_store.x]\ntype = \"azure_cosmos\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("runtime-config.toml:"), "{err}");
        assert!(err.contains("key_value_store.x"), "{err}");
        assert!(err.contains("unknown variant `azure_cosmos`"), "{err}");

        let err = parse("[key_value_store.x]\ntype = \"redis\"\nurl = \"redis://h\"\nport = 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `port`"), "{err}");

        let err = parse("[key_value_store.x]\npath = \"a.db\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `type`"), "{err}");
    }
}
