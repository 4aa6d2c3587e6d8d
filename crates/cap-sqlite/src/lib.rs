//! SQLite for guests: Spin's `fermyon:spin/sqlite@2.0.0` interface (what
//! `spin_sdk::sqlite` in spin-sdk 5.x imports), backed by embedded SQLite.
//!
//! # Grants and databases
//!
//! A component may open only the labels in its manifest's
//! `sqlite_databases`; any other label gets `access-denied` and a warning in
//! the log naming the manifest line to add.
//!
//! - `default` is the file `sqlite_db.db` in the app's data dir (the caller
//!   chooses it, e.g. `<manifest dir>/.nimbus`), created on first use.
//! - Any other label must be defined in runtime config, see
//!   [`SqliteConfig`]; [`SqliteCapability::configure`] fails otherwise, with
//!   the table to add. Runtime config may also move `default`.
//!
//! Databases belong to one app: each app has its own data dir, and one
//! process never lets two apps (by `app_id`) open the same file.
//!
//! Files use WAL mode with `synchronous = FULL`, so a statement the guest saw
//! succeed is on disk (it survives `kill -9` and power loss); see
//! `open_connection` in `database.rs` for every pragma and why.
//!
//! # The three moments
//!
//! ```no_run
//! # use nimbus_cap_sqlite::*;
//! # use wasmtime::component::{Linker, ResourceTable};
//! struct State { sqlite: SqliteInstance, table: ResourceTable /* , wasi, http, … */ }
//!
//! # fn demo(engine: &wasmtime::Engine, manifest: &nimbus_manifest::Manifest,
//! #         config: Option<SqliteConfig>) -> anyhow::Result<()> {
//! // Once per app (at load/deploy): validate grants, open the databases.
//! let app = AppSqlite::from_manifest(manifest, "my-app", manifest.dir().join(".nimbus"));
//! let sqlite = SqliteCapability.configure(config, &app)?;
//! sqlite.run_migrations("default", "CREATE TABLE IF NOT EXISTS t (x)")?; // `--sqlite`
//!
//! // Once per linker.
//! let mut linker = Linker::<State>::new(engine);
//! nimbus_cap_sqlite::add_to_linker(&mut linker, |s: &mut State| SqliteView {
//!     instance: &mut s.sqlite,
//!     table: &mut s.table,
//! })?;
//!
//! // Once per request: cheap (two `Arc` clones).
//! let state = State { sqlite: sqlite.instance("my-component"), table: ResourceTable::new() };
//! # Ok(()) }
//! ```
//!
//! SQLite runs on Tokio's blocking thread pool, never on the async executor.

#![warn(missing_docs)]

mod capability;
mod config;
mod database;
mod host;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

pub use config::{DatabaseConfig, SqliteConfig};
pub use host::{add_to_linker, Connection, SqliteView};

use database::Database;

/// Host bindings generated from `wit/` (`fermyon:spin/sqlite@2.0.0` and
/// `spin:sqlite@3.1.0`).
#[allow(missing_docs)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "nimbus:sqlite/host",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/sqlite.connection": crate::Connection,
            "spin:sqlite/sqlite.connection": crate::host::Connection3,
        },
    });
}

pub use bindings::fermyon::spin::sqlite::{Error, QueryResult, RowResult, Value};

/// The label every app has without runtime config.
pub const DEFAULT_LABEL: &str = "default";

/// The file name of the `default` database in the app's data dir.
pub const DEFAULT_FILE: &str = "sqlite_db.db";

/// The SQLite capability. Stateless; see [`SqliteCapability::configure`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteCapability;

/// What an app asks of this capability: who it is, where its data lives and
/// which component may open which database.
#[derive(Debug, Clone, Default)]
pub struct AppSqlite {
    /// Identifies the app within this process (e.g. its name); two apps with
    /// different ids can never open the same database file.
    pub app_id: String,
    /// The app's own data directory (created if needed), e.g.
    /// `<manifest dir>/.nimbus`: `default` lives here, and relative `path`s
    /// in runtime config are relative to it.
    pub data_dir: PathBuf,
    /// Component id → the labels of its `sqlite_databases`.
    pub grants: BTreeMap<String, Vec<String>>,
}

impl AppSqlite {
    /// The grants of every component in `manifest` that lists
    /// `sqlite_databases`.
    pub fn from_manifest(
        manifest: &nimbus_manifest::Manifest,
        app_id: impl Into<String>,
        data_dir: impl Into<PathBuf>,
    ) -> AppSqlite {
        AppSqlite {
            app_id: app_id.into(),
            data_dir: data_dir.into(),
            grants: manifest
                .components
                .iter()
                .filter(|(_, c)| !c.sqlite_databases.is_empty())
                .map(|(id, c)| {
                    let labels = c.sqlite_databases.iter().map(|l| l.to_string()).collect();
                    (id.to_string(), labels)
                })
                .collect(),
        }
    }
}

impl SqliteCapability {
    /// The runtime-config key this capability reads (`[sqlite_database.NAME]`).
    pub const CONFIG_KEY: &'static str = "sqlite_database";

    /// Validates `app`'s grants against `config` and opens every database
    /// some component is granted or runtime config defines. Fails if a
    /// granted label other than `default` has no runtime config, or a
    /// database cannot be opened (or belongs to another app). Blocking (it
    /// opens files); call it at load time.
    pub fn configure(
        &self,
        config: Option<SqliteConfig>,
        app: &AppSqlite,
    ) -> anyhow::Result<SqliteAppState> {
        let config = config.unwrap_or_default();
        let mut locations: BTreeMap<String, Option<PathBuf>> = config
            .databases
            .iter()
            .map(|(label, db)| match db {
                DatabaseConfig::Sqlite { path } => {
                    (label.clone(), path.as_ref().map(|p| app.data_dir.join(p)))
                }
            })
            .collect();

        let mut missing = Vec::new();
        for (component, labels) in &app.grants {
            for label in labels {
                if locations.contains_key(label) {
                    continue;
                }
                if label == DEFAULT_LABEL {
                    locations.insert(label.clone(), Some(app.data_dir.join(DEFAULT_FILE)));
                } else {
                    missing.push(format!(
                        "component `{component}` is granted SQLite database `{label}`, which is not \
                         defined; add it to the runtime config:\n  [sqlite_database.{label}]\n  \
                         type = \"sqlite\"\n  path = \"{label}.db\"  # relative to {}",
                        app.data_dir.display()
                    ));
                }
            }
        }
        if !missing.is_empty() {
            anyhow::bail!("{}", missing.join("\n"));
        }

        let mut databases = HashMap::new();
        for (label, path) in locations {
            let db = open(&app.app_id, path.as_deref())
                .with_context(|| format!("SQLite database `{label}`"))?;
            databases.insert(label, db);
        }
        let grants = app
            .grants
            .iter()
            .map(|(id, labels)| {
                let grant = Grant {
                    component: id.clone(),
                    labels: labels.clone(),
                };
                (id.clone(), Arc::new(grant))
            })
            .collect();
        Ok(SqliteAppState(Arc::new(AppState {
            app_id: app.app_id.clone(),
            data_dir: app.data_dir.clone(),
            databases,
            grants,
        })))
    }
}

fn open(app_id: &str, path: Option<&Path>) -> anyhow::Result<Arc<Database>> {
    match path {
        Some(path) => Database::open_file(app_id, path),
        None => Database::open_memory(app_id),
    }
}

/// One component's `sqlite_databases`.
#[derive(Debug)]
struct Grant {
    component: String,
    labels: Vec<String>,
}

#[derive(Debug)]
struct AppState {
    app_id: String,
    data_dir: PathBuf,
    databases: HashMap<String, Arc<Database>>,
    grants: HashMap<String, Arc<Grant>>,
}

/// An app's validated grants and open databases. Cheap to clone; dropping
/// the last clone (and every instance) closes the databases.
#[derive(Debug, Clone)]
pub struct SqliteAppState(Arc<AppState>);

impl SqliteAppState {
    /// The state for one instance of `component_id`. Cheap (no I/O, two
    /// `Arc` clones); an unknown component may open nothing.
    pub fn instance(&self, component_id: &str) -> SqliteInstance {
        let grant = self.0.grants.get(component_id).cloned().unwrap_or_else(|| {
            Arc::new(Grant {
                component: component_id.to_owned(),
                labels: Vec::new(),
            })
        });
        SqliteInstance {
            app: self.clone(),
            grant,
        }
    }

    /// Runs `sql` on database `label`: one or more statements separated by
    /// `;` (SQLite's `execute_batch`), as for `nimbus up --sqlite
    /// "statement"` or `--sqlite @file.sql` (the caller reads the file).
    /// Rows a statement returns are discarded.
    ///
    /// `label` must be a database this app has (granted to some component or
    /// defined in runtime config), or `default`, which is created if no
    /// component uses it. Blocking; call it at load time (or from
    /// `spawn_blocking`).
    pub fn run_migrations(&self, label: &str, sql: &str) -> anyhow::Result<()> {
        let db = match self.0.databases.get(label) {
            Some(db) => db.clone(),
            None if label == DEFAULT_LABEL => {
                open(&self.0.app_id, Some(&self.0.data_dir.join(DEFAULT_FILE)))?
            }
            None => anyhow::bail!(
                "no SQLite database `{label}` in app `{}`: grant it to a component \
                 (`sqlite_databases = [\"{label}\"]`) and define it in runtime config",
                self.0.app_id
            ),
        };
        db.execute_batch(sql)
            .with_context(|| format!("SQL for SQLite database `{label}` failed"))
    }

    /// The file behind database `label`: `None` if the app has no such
    /// database or it is in memory.
    pub fn database_path(&self, label: &str) -> Option<&Path> {
        self.0.databases.get(label)?.path()
    }

    /// The labels of the databases this app has opened, sorted.
    pub fn labels(&self) -> Vec<&str> {
        let mut labels: Vec<&str> = self.0.databases.keys().map(String::as_str).collect();
        labels.sort_unstable();
        labels
    }
}

/// This capability's part of one store: which databases the component may
/// open, and the app's databases.
#[derive(Clone)]
pub struct SqliteInstance {
    app: SqliteAppState,
    grant: Arc<Grant>,
}

impl fmt::Debug for SqliteInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteInstance")
            .field("app", &self.app.0.app_id)
            .field("component", &self.grant.component)
            .field("sqlite_databases", &self.grant.labels)
            .finish()
    }
}

impl SqliteInstance {
    /// The component this instance runs.
    pub fn component_id(&self) -> &str {
        &self.grant.component
    }

    /// The database `label`, if this component may open it.
    fn database(&self, label: &str) -> Result<Arc<Database>, Error> {
        let grant = &self.grant;
        if !grant.labels.iter().any(|l| l == label) {
            let mut wanted = grant.labels.clone();
            wanted.push(label.to_owned());
            let list = wanted
                .iter()
                .map(|l| format!("{l:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            tracing::warn!(
                component = %grant.component,
                "component `{}` tried to open SQLite database `{label}`, which it is not granted; \
                 to allow it, set `sqlite_databases = [{list}]` in [component.{}]{}",
                grant.component,
                grant.component,
                if label == DEFAULT_LABEL {
                    String::new()
                } else {
                    format!(" and define [sqlite_database.{label}] in the runtime config")
                }
            );
            return Err(Error::AccessDenied);
        }
        // Granted labels are checked to exist at configure time.
        self.app
            .0
            .databases
            .get(label)
            .cloned()
            .ok_or(Error::NoSuchDatabase)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(dir: &Path, grants: &[(&str, &[&str])]) -> AppSqlite {
        AppSqlite {
            app_id: dir.display().to_string(),
            data_dir: dir.to_path_buf(),
            grants: grants
                .iter()
                .map(|(c, ls)| (c.to_string(), ls.iter().map(|l| l.to_string()).collect()))
                .collect(),
        }
    }

    #[test]
    fn grants_come_from_the_manifest() {
        let text = r#"
            spin_manifest_version = 2
            [application]
            name = "grants"
            [[trigger.http]]
            route = "/..."
            component = "db"
            [[trigger.http]]
            route = "/plain"
            component = "plain"
            [component.db]
            source = "db.wasm"
            sqlite_databases = ["default", "orders"]
            [component.plain]
            source = "plain.wasm"
        "#;
        let manifest = nimbus_manifest::Manifest::from_str(text, "spin.toml", ".").unwrap();
        let app = AppSqlite::from_manifest(&manifest, "grants", "/data");
        assert_eq!(app.app_id, "grants");
        assert_eq!(app.data_dir, Path::new("/data"));
        assert_eq!(
            app.grants.into_iter().collect::<Vec<_>>(),
            [(
                "db".to_string(),
                vec!["default".to_string(), "orders".to_string()]
            )]
        );
    }

    #[test]
    fn default_lives_in_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join(".nimbus");
        let state = SqliteCapability
            .configure(None, &app(&data, &[("c", &["default"])]))
            .unwrap();
        assert_eq!(
            state.database_path("default").unwrap(),
            data.canonicalize().unwrap().join(DEFAULT_FILE)
        );
        assert_eq!(state.labels(), ["default"]);
    }

    #[test]
    fn other_labels_need_runtime_config() {
        let dir = tempfile::tempdir().unwrap();
        let err = SqliteCapability
            .configure(None, &app(dir.path(), &[("c", &["default", "orders"])]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("component `c` is granted SQLite database `orders`"),
            "{err}"
        );
        assert!(err.contains("[sqlite_database.orders]"), "{err}");

        let mut config = SqliteConfig::default();
        config.databases.insert(
            "orders".into(),
            DatabaseConfig::Sqlite {
                path: Some("db/orders.db".into()),
            },
        );
        config
            .databases
            .insert("mem".into(), DatabaseConfig::Sqlite { path: None });
        let state = SqliteCapability
            .configure(
                Some(config),
                &app(dir.path(), &[("c", &["default", "orders"])]),
            )
            .unwrap();
        assert_eq!(state.labels(), ["default", "mem", "orders"]);
        assert!(state
            .database_path("orders")
            .unwrap()
            .ends_with("db/orders.db"));
        assert!(state.database_path("mem").is_none());
    }

    #[test]
    fn only_granted_labels_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = SqliteConfig::default();
        config
            .databases
            .insert("other".into(), DatabaseConfig::Sqlite { path: None });
        let state = SqliteCapability
            .configure(Some(config), &app(dir.path(), &[("c", &["default"])]))
            .unwrap();
        let c = state.instance("c");
        assert!(c.database("default").is_ok());
        assert!(matches!(c.database("other"), Err(Error::AccessDenied)));
        let stranger = state.instance("nobody");
        assert!(matches!(
            stranger.database("default"),
            Err(Error::AccessDenied)
        ));
    }

    #[test]
    fn migrations_run_several_statements() {
        let dir = tempfile::tempdir().unwrap();
        let state = SqliteCapability
            .configure(None, &app(dir.path(), &[]))
            .unwrap();
        state
            .run_migrations(
                "default",
                "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1); INSERT INTO t VALUES (2);",
            )
            .unwrap();
        let conn = rusqlite::Connection::open(dir.path().join(DEFAULT_FILE)).unwrap();
        let n: i64 = conn
            .query_row("SELECT sum(x) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 3);
        let err = state.run_migrations("default", "NOT SQL").unwrap_err();
        assert!(format!("{err:#}").contains("syntax error"), "{err:#}");
        let err = state.run_migrations("nope", "SELECT 1").unwrap_err();
        assert!(
            err.to_string().contains("no SQLite database `nope`"),
            "{err}"
        );
    }
}
