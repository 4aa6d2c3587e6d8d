//! The key-value capability: stores a component may use only when its
//! manifest lists them in `key_value_stores`.
//!
//! # Guest interfaces
//!
//! [`add_to_linker`] adds, for components:
//!
//! - `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft`: the version Wasmtime
//!   (`wasmtime serve -S keyvalue`) implements;
//! - `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2`: the version Spin 3
//!   implements and `spin-sdk` 5 declares, with compare-and-swap;
//! - `fermyon:spin/key-value@2.0.0`: what `spin_sdk::key_value::Store` uses.
//!
//! The WIT files are vendored in `wit/` (see `wit/README.md`). A store is
//! opened by its label (`open("default")`).
//!
//! # Access control
//!
//! A component may open only the labels its manifest lists; anything else
//! fails with `access-denied` and a warning that says which line to add. A
//! granted label needs a backend: `default` always has one (SQLite, unless
//! the runtime config says otherwise); any other label must be configured in
//! the runtime config, or [`KeyValueCapability::configure`] refuses the app.
//!
//! # Backends
//!
//! Per label, from the runtime config's `[key_value_store.LABEL]`
//! ([`KeyValueConfig`]):
//!
//! - `type = "sqlite"` (alias `"spin"`), optional `path`: the default. One
//!   SQLite file per app, [`DEFAULT_DB_FILE`] in the app's data dir, table
//!   `spin_key_value (store, key, value)`; WAL mode with
//!   `synchronous = FULL`: a write the guest saw succeed survives `kill -9`
//!   and power loss.
//! - `type = "redis"`, `url = "redis://host:port"`: keys
//!   `nimbus:{app}:{label}:{key}`; reconnects by itself.
//! - `type = "postgres"`, `url = "postgres://user:password@host:port/db"`
//!   (or a key=value connection string): one table
//!   `nimbus_key_value (app, store, key, value BYTEA)`, primary key
//!   `(app, store, key)`, created on first use; a fleet of nodes configured
//!   with the same URL and app id shares the app's keys. Pooled; broken
//!   connections are dropped, so it works again as soon as the database is
//!   back.
//!
//! `increment` and compare-and-swap are atomic on all three (SQLite
//! `BEGIN IMMEDIATE`; Redis `INCRBY` and a Lua script; PostgreSQL one
//! `INSERT … ON CONFLICT DO UPDATE … RETURNING` and one conditional
//! `UPDATE`/`INSERT … ON CONFLICT DO NOTHING`).
//!
//! # Use
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use nimbus_cap_key_value::{add_to_linker, AppKv, KeyValueCapability, KeyValueConfig,
//!     KeyValueInstance, KeyValueView};
//! use wasmtime::component::{Linker, ResourceTable};
//!
//! struct State { table: ResourceTable, kv: KeyValueInstance }
//!
//! # fn main() -> anyhow::Result<()> {
//! // Once per app:
//! let mut runtime_config = nimbus_runtime_config::RuntimeConfig::empty();
//! let config = KeyValueConfig::take_from(&mut runtime_config)?;
//! runtime_config.finish()?;
//! let app = AppKv {
//!     app_id: "my-app".into(),
//!     data_dir: "/srv/my-app/.nimbus".into(),
//!     grants: BTreeMap::from([("api".to_owned(), vec!["default".to_owned()])]),
//! };
//! let kv = KeyValueCapability::new().configure(config, &app)?;
//!
//! // Once per linker:
//! let engine = wasmtime::Engine::default();
//! let mut linker = Linker::<State>::new(&engine);
//! add_to_linker(&mut linker, |s: &mut State| KeyValueView {
//!     instance: &mut s.kv,
//!     table: &mut s.table,
//! })?;
//!
//! // Per request:
//! let state = State { table: ResourceTable::new(), kv: kv.instance("api") };
//! let store = wasmtime::Store::new(&engine, state);
//! # let _ = store; Ok(()) }
//! ```

mod capability;
mod config;
mod host;
mod postgres;
mod redis;
mod sqlite;
mod store;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use wasmtime::component::ResourceTable;

pub use config::{
    KeyValueConfig, PostgresStoreConfig, RedisStoreConfig, SqliteStoreConfig, StoreConfig,
};
pub use host::{
    add_spin_key_value_to_linker, add_to_linker, add_wasi_keyvalue_to_linker, Draft2Bucket,
    Draft2Cas, DraftBucket, SpinStore,
};
pub use store::{CasOutcome, KvError, Store};

/// The SQLite file, in the app's data dir, of every `sqlite` store without
/// a `path` (the `default` store included).
pub const DEFAULT_DB_FILE: &str = "key_value.db";

/// The store label every app has, whether configured or not.
pub const DEFAULT_LABEL: &str = "default";

/// What [`KeyValueCapability::configure`] needs to know about an app.
#[derive(Debug, Clone, Default)]
pub struct AppKv {
    /// Identifies the app; isolates its Redis keys (`nimbus:{app_id}:...`)
    /// and its PostgreSQL rows (the `app` column). Nodes of a fleet that
    /// serve the same app give it the same id, so they share its keys.
    /// ASCII letters, digits, `-`, `_` and `.` only.
    pub app_id: String,
    /// Where the app's SQLite stores live (e.g. `<manifest dir>/.nimbus`);
    /// created by `configure` if a granted store is on SQLite, untouched
    /// otherwise. One database per data dir: two apps must not share one.
    pub data_dir: PathBuf,
    /// Component id → the store labels its manifest lists in
    /// `key_value_stores`.
    pub grants: BTreeMap<String, Vec<String>>,
}

/// The key-value capability. Configure it once per app.
#[derive(Debug, Clone, Default)]
pub struct KeyValueCapability {}

impl KeyValueCapability {
    /// The capability.
    pub fn new() -> KeyValueCapability {
        KeyValueCapability {}
    }

    /// Validates the grants of `app` against `config` (its runtime config's
    /// `key_value_store` section, `None` if it has none) and opens every
    /// backend a component is granted: SQLite files are created and opened
    /// now; Redis and PostgreSQL URLs are checked now and connected on first
    /// use, so an app starts while its database is down. The result is
    /// cheap to clone.
    ///
    /// Fails if a component is granted a label (other than `default`) that
    /// the runtime config does not define, if a Redis or PostgreSQL URL is
    /// invalid (the message names the section, never the password), if
    /// `app_id` has characters other than `[A-Za-z0-9._-]`, or if a
    /// database cannot be opened.
    pub fn configure(
        &self,
        config: Option<KeyValueConfig>,
        app: &AppKv,
    ) -> anyhow::Result<KeyValueAppState> {
        let config = config.unwrap_or_default();
        if app.app_id.is_empty()
            || !app
                .app_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            bail!(
                "key-value: app id {:?} must be non-empty and use only ASCII letters, digits, `-`, `_` and `.`",
                app.app_id
            );
        }

        // Every label some component is granted, and who asks for it.
        let mut wanted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (component, labels) in &app.grants {
            for label in labels {
                wanted.entry(label).or_default().push(component);
            }
        }
        let missing: Vec<String> = wanted
            .iter()
            .filter(|(label, _)| **label != DEFAULT_LABEL && !config.stores.contains_key(**label))
            .map(|(label, components)| {
                let components = components
                    .iter()
                    .map(|c| format!("[component.{c}]"))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "key-value store {label:?} (in key_value_stores of {components}) is not defined \
                     in the runtime config; only \"default\" exists without one. Add to the runtime \
                     config file:\n\n[key_value_store.{label}]\ntype = \"sqlite\"   # or: type = \"redis\", url = \"redis://127.0.0.1:6379\"\n                   # or: type = \"postgres\", url = \"postgres://user:password@127.0.0.1:5432/db\"\n"
                )
            })
            .collect();
        if !missing.is_empty() {
            bail!("{}", missing.join("\n"));
        }
        for label in config.stores.keys() {
            if !wanted.contains_key(label.as_str()) {
                tracing::debug!(
                    app = %app.app_id,
                    "key_value_store.{label} is configured but no component lists it in key_value_stores"
                );
            }
        }

        let mut sqlite_dbs: HashMap<PathBuf, Arc<sqlite::SqliteDb>> = HashMap::new();
        let mut redis_dbs: HashMap<String, Arc<redis::RedisDb>> = HashMap::new();
        let mut postgres_dbs: HashMap<String, Arc<postgres::PostgresDb>> = HashMap::new();
        let mut stores = HashMap::new();
        for label in wanted.keys() {
            let store_config = config
                .stores
                .get(*label)
                .cloned()
                .unwrap_or(StoreConfig::Sqlite(SqliteStoreConfig::default()));
            let backend = match store_config {
                StoreConfig::Sqlite(sqlite) => {
                    let path = app.data_dir.join(
                        sqlite
                            .path
                            .as_deref()
                            .unwrap_or_else(|| Path::new(DEFAULT_DB_FILE)),
                    );
                    let db = match sqlite_dbs.get(&path) {
                        Some(db) => db.clone(),
                        None => {
                            let db = sqlite::SqliteDb::open(&path)
                                .with_context(|| format!("key-value store {label:?}"))?;
                            sqlite_dbs.insert(path, db.clone());
                            db
                        }
                    };
                    store::Backend::Sqlite(db)
                }
                StoreConfig::Redis(redis) => {
                    let db = match redis_dbs.get(&redis.url) {
                        Some(db) => db.clone(),
                        None => {
                            let db = redis::RedisDb::new(&redis.url).map_err(|err| {
                                anyhow::anyhow!(
                                    "key_value_store.{label}: invalid Redis url {:?}: {err}",
                                    redis::redact_url(&redis.url)
                                )
                            })?;
                            redis_dbs.insert(redis.url.clone(), db.clone());
                            db
                        }
                    };
                    store::Backend::Redis {
                        db,
                        prefix: format!("nimbus:{}:{label}:", app.app_id).into(),
                    }
                }
                StoreConfig::Postgres(pg) => {
                    let db = match postgres_dbs.get(&pg.url) {
                        Some(db) => db.clone(),
                        None => {
                            let db = postgres::PostgresDb::new(&pg.url).map_err(|why| {
                                anyhow::anyhow!(
                                    "key_value_store.{label}: invalid PostgreSQL url: {why}"
                                )
                            })?;
                            postgres_dbs.insert(pg.url.clone(), db.clone());
                            db
                        }
                    };
                    store::Backend::Postgres {
                        db,
                        app: app.app_id.as_str().into(),
                    }
                }
            };
            let store = Store::new(label, backend);
            tracing::debug!(app = %app.app_id, "key-value store {label:?}: {}", store.describe());
            stores.insert((*label).to_owned(), store);
        }

        let grants = app
            .grants
            .iter()
            .map(|(component, labels)| {
                let labels: BTreeSet<String> = labels.iter().cloned().collect();
                (component.clone(), Arc::new(labels))
            })
            .collect();
        Ok(KeyValueAppState(Arc::new(AppInner {
            app_id: app.app_id.clone(),
            stores,
            grants,
            no_grants: Arc::new(BTreeSet::new()),
        })))
    }
}

struct AppInner {
    app_id: String,
    /// Every granted label, opened.
    stores: HashMap<String, Store>,
    grants: HashMap<String, Arc<BTreeSet<String>>>,
    no_grants: Arc<BTreeSet<String>>,
}

/// One app's configured stores and grants; shared by all its instances.
/// Cheap to clone.
#[derive(Clone)]
pub struct KeyValueAppState(Arc<AppInner>);

impl std::fmt::Debug for KeyValueAppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyValueAppState")
            .field("app_id", &self.0.app_id)
            .field("stores", &self.0.stores)
            .finish()
    }
}

impl KeyValueAppState {
    /// The per-instance state for one request of `component_id` (cheap: two
    /// `Arc` clones). A component the app did not declare gets no store.
    pub fn instance(&self, component_id: &str) -> KeyValueInstance {
        let allowed = self
            .0
            .grants
            .get(component_id)
            .cloned()
            .unwrap_or_else(|| self.0.no_grants.clone());
        KeyValueInstance {
            app: self.clone(),
            component_id: component_id.into(),
            allowed,
        }
    }

    /// The app id.
    pub fn app_id(&self) -> &str {
        &self.0.app_id
    }

    /// Host-side access to a store (no grant check), e.g. for tools and
    /// tests. Only labels some component is granted are open.
    pub fn store(&self, label: &str) -> Option<Store> {
        self.0.stores.get(label).cloned()
    }

    /// The open store labels, sorted.
    pub fn labels(&self) -> Vec<&str> {
        let mut labels: Vec<&str> = self.0.stores.keys().map(String::as_str).collect();
        labels.sort();
        labels
    }
}

/// The key-value state of one instance (one request): which component it
/// is, and so which stores it may open.
#[derive(Debug, Clone)]
pub struct KeyValueInstance {
    app: KeyValueAppState,
    component_id: Arc<str>,
    allowed: Arc<BTreeSet<String>>,
}

impl KeyValueInstance {
    /// The component this instance runs.
    pub fn component_id(&self) -> &str {
        &self.component_id
    }

    /// Opens `label` for this component: `AccessDenied` (and a warning
    /// naming the manifest line to add) unless its manifest lists it.
    pub fn open(&self, label: &str) -> Result<Store, KvError> {
        if !self.allowed.contains(label) {
            tracing::warn!(
                app = %self.app.app_id(),
                component = %self.component_id,
                "component `{}` tried to open key-value store {label:?}, which its manifest does not grant; \
                 add {label:?} to key_value_stores in [component.{}]",
                self.component_id,
                self.component_id,
            );
            return Err(KvError::AccessDenied);
        }
        self.app.store(label).ok_or(KvError::NoSuchStore)
    }
}

/// What [`add_to_linker`]'s getter returns: borrows of the instance's
/// key-value state and of the store's resource table (where bucket and store
/// handles live).
pub struct KeyValueView<'a> {
    /// This instance's key-value state.
    pub instance: &'a mut KeyValueInstance,
    /// The store's resource table.
    pub table: &'a mut ResourceTable,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(dir: &Path, grants: &[(&str, &[&str])]) -> AppKv {
        AppKv {
            app_id: "app".into(),
            data_dir: dir.join(".nimbus"),
            grants: grants
                .iter()
                .map(|(c, labels)| {
                    (
                        c.to_string(),
                        labels.iter().map(|l| l.to_string()).collect(),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn default_exists_without_config_and_nothing_is_created_unused() {
        let dir = tempfile::tempdir().unwrap();
        let state = KeyValueCapability::new()
            .configure(None, &app(dir.path(), &[("web", &[])]))
            .unwrap();
        assert!(state.labels().is_empty());
        assert!(!dir.path().join(".nimbus").exists());

        let state = KeyValueCapability::new()
            .configure(None, &app(dir.path(), &[("web", &["default"])]))
            .unwrap();
        assert_eq!(state.labels(), ["default"]);
        assert!(dir.path().join(".nimbus").join(DEFAULT_DB_FILE).exists());
        assert_eq!(state.store("default").unwrap().backend_kind(), "sqlite");
    }

    #[test]
    fn unconfigured_label_is_refused_with_a_fix() {
        let dir = tempfile::tempdir().unwrap();
        let err = KeyValueCapability::new()
            .configure(None, &app(dir.path(), &[("web", &["default", "cache"])]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"cache\""), "{err}");
        assert!(err.contains("[component.web]"), "{err}");
        assert!(err.contains("[key_value_store.cache]"), "{err}");
    }

    #[test]
    fn bad_redis_url_and_app_id_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = KeyValueConfig {
            stores: BTreeMap::from([(
                "cache".to_owned(),
                StoreConfig::Redis(RedisStoreConfig {
                    url: "http://user:pw@example.com".into(),
                }),
            )]),
        };
        let err = KeyValueCapability::new()
            .configure(
                Some(config.clone()),
                &app(dir.path(), &[("web", &["cache"])]),
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("key_value_store.cache"), "{err}");
        assert!(!err.contains("pw"), "password leaked: {err}");

        let mut bad = app(dir.path(), &[]);
        bad.app_id = "a:b".into();
        assert!(KeyValueCapability::new().configure(None, &bad).is_err());
    }

    #[test]
    fn bad_postgres_urls_are_refused_without_the_password() {
        let dir = tempfile::tempdir().unwrap();
        for url in [
            "postgres://nimbus:hunter2@127.0.0.1:notaport/kv",
            "postgres://:hunter2@127.0.0.1/kv",
            "mysql://nimbus:hunter2@127.0.0.1/kv",
            "host=127.0.0.1 user=nimbus password=hunter2 x",
        ] {
            let config = KeyValueConfig {
                stores: BTreeMap::from([(
                    "shared".to_owned(),
                    StoreConfig::Postgres(PostgresStoreConfig { url: url.into() }),
                )]),
            };
            let err = KeyValueCapability::new()
                .configure(Some(config), &app(dir.path(), &[("web", &["shared"])]))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("key_value_store.shared: invalid PostgreSQL url: "),
                "{err}"
            );
            assert!(!err.contains("hunter2"), "password leaked: {err}");
        }
    }

    #[test]
    fn postgres_stores_configure_while_the_database_is_down() {
        let dir = tempfile::tempdir().unwrap();
        let config = KeyValueConfig {
            stores: BTreeMap::from([(
                "shared".to_owned(),
                StoreConfig::Postgres(PostgresStoreConfig {
                    url: "postgres://nimbus:hunter2@127.0.0.1:1/kv".into(),
                }),
            )]),
        };
        let state = KeyValueCapability::new()
            .configure(Some(config), &app(dir.path(), &[("web", &["shared"])]))
            .unwrap();
        let store = state.store("shared").unwrap();
        assert_eq!(store.backend_kind(), "postgres");
        assert_eq!(
            store.describe(),
            "postgres postgres://nimbus@127.0.0.1:1/kv"
        );
        assert!(!app(dir.path(), &[]).data_dir.exists());
    }

    #[test]
    fn grants_are_per_component() {
        let dir = tempfile::tempdir().unwrap();
        let config = KeyValueConfig {
            stores: BTreeMap::from([(
                "other".to_owned(),
                StoreConfig::Sqlite(SqliteStoreConfig {
                    path: Some("other.db".into()),
                }),
            )]),
        };
        let state = KeyValueCapability::new()
            .configure(
                Some(config),
                &app(dir.path(), &[("a", &["default"]), ("b", &["other"])]),
            )
            .unwrap();
        let a = state.instance("a");
        assert_eq!(a.component_id(), "a");
        assert_eq!(a.open("default").unwrap().label(), "default");
        assert_eq!(a.open("other").unwrap_err(), KvError::AccessDenied);
        let b = state.instance("b");
        assert_eq!(b.open("default").unwrap_err(), KvError::AccessDenied);
        assert!(b.open("other").unwrap().describe().ends_with("other.db"));
        let nobody = state.instance("nobody");
        assert_eq!(nobody.open("default").unwrap_err(), KvError::AccessDenied);
    }

    #[test]
    fn denied_open_logs_the_manifest_line_to_add() {
        #[derive(Clone, Default)]
        struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Logs {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
            type Writer = Logs;
            fn make_writer(&'a self) -> Logs {
                self.clone()
            }
        }

        let dir = tempfile::tempdir().unwrap();
        let state = KeyValueCapability::new()
            .configure(None, &app(dir.path(), &[("web", &["default"])]))
            .unwrap();
        let logs = Logs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .finish();
        let result =
            tracing::subscriber::with_default(subscriber, || state.instance("web").open("cache"));
        assert_eq!(result.unwrap_err(), KvError::AccessDenied);
        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("WARN"), "{text}");
        assert!(
            text.contains(r#"add "cache" to key_value_stores in [component.web]"#),
            "{text}"
        );
    }
}
