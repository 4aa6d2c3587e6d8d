//! The runtime-config part of this capability: `[sqlite_database.NAME]` tables.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// The `sqlite_database` table of `runtime-config.toml`: one entry per label.
///
/// ```toml
/// [sqlite_database.default]      # optional: moves the default database
/// type = "sqlite"
/// path = "data/main.db"          # relative to the app's data dir
///
/// [sqlite_database.orders]       # required for any label other than `default`
/// type = "spin"                  # Spin's name for the same backend
/// path = "orders.db"
///
/// [sqlite_database.scratch]
/// type = "sqlite"                # no `path`: in memory, gone when the app stops
/// ```
///
/// Read it with `RuntimeConfig::take::<SqliteConfig>("sqlite_database")` (the
/// key is [`SqliteCapability::CONFIG_KEY`](crate::SqliteCapability::CONFIG_KEY)).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SqliteConfig {
    /// Database label → where it lives.
    pub databases: BTreeMap<String, DatabaseConfig>,
}

/// One `[sqlite_database.NAME]` table, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum DatabaseConfig {
    /// `type = "sqlite"` (or Spin's `type = "spin"`): an embedded SQLite
    /// database run by Nimbus itself.
    #[serde(alias = "spin")]
    Sqlite {
        /// The database file. A relative path is relative to the app's data
        /// dir; parent directories are created. Absent: an in-memory database,
        /// shared by every instance of the app and lost when it stops (Spin's
        /// behaviour for a `type = "spin"` table without `path`). It has one
        /// SQLite connection that every instance shares, so a guest's
        /// transaction is not isolated from concurrent requests.
        #[serde(default)]
        path: Option<PathBuf>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SqliteConfig, toml::de::Error> {
        #[derive(Deserialize)]
        struct Top {
            sqlite_database: SqliteConfig,
        }
        toml::from_str::<Top>(text).map(|t| t.sqlite_database)
    }

    #[test]
    fn parses_both_type_names_and_optional_path() {
        let config = parse(
            r#"
            [sqlite_database.default]
            type = "sqlite"
            path = "main.db"
            [sqlite_database.orders]
            type = "spin"
            path = "/abs/orders.db"
            [sqlite_database.mem]
            type = "sqlite"
            "#,
        )
        .unwrap();
        assert_eq!(
            config.databases["default"],
            DatabaseConfig::Sqlite {
                path: Some("main.db".into())
            }
        );
        assert_eq!(
            config.databases["orders"],
            DatabaseConfig::Sqlite {
                path: Some("/abs/orders.db".into())
            }
        );
        assert_eq!(
            config.databases["mem"],
            DatabaseConfig::Sqlite { path: None }
        );
    }

    #[test]
    fn rejects_unknown_types_and_fields() {
        let err = parse("[sqlite_database.x]\ntype = \"libsql\"\nurl = \"x\"\n").unwrap_err();
        assert!(
            err.to_string().contains("unknown variant `libsql`"),
            "{err}"
        );
        let err = parse("[sqlite_database.x]\ntype = \"sqlite\"\npaht = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `paht`"), "{err}");
        let err = parse("[sqlite_database.x]\npath = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("missing field `type`"), "{err}");
    }
}
