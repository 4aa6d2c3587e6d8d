//! The embedded backend: one SQLite file per app (in its data dir), every
//! store of the app in one table with a `store` column.
//!
//! Durability: the database is in WAL mode with `synchronous = FULL`, so
//! every commit fsyncs the WAL before the call returns to the guest. A write
//! a guest saw succeed survives `kill -9` of nimbus (WAL alone would give
//! that) and also a power loss or OS crash (what `FULL` adds over `NORMAL`).
//!
//! SQLite calls block, so they run on Tokio's blocking pool
//! (`spawn_blocking`), each on a connection taken from a small pool. Writes
//! that read first (`increment`, compare-and-swap) run in a `BEGIN IMMEDIATE`
//! transaction, which takes the database's write lock before reading: two
//! of them (from this or another process) never interleave. Waiting for the
//! lock is bounded by `busy_timeout`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::store::{add_counter, parse_counter, CasOutcome, KvError};

/// The table, compatible with Spin's `spin_key_value` (so a Spin
/// `sqlite_key_value.db` can be used as it is).
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS spin_key_value (
    store TEXT NOT NULL,
    key   TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (store, key)
)";

/// How long a statement waits for another writer's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle connections kept open for reuse.
const MAX_IDLE: usize = 8;

pub(crate) struct SqliteDb {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

fn sql_err(err: rusqlite::Error) -> KvError {
    KvError::Other(format!("sqlite: {err}"))
}

impl SqliteDb {
    /// Opens (creating it and its directory if needed) the database at
    /// `path`, switches it to WAL mode and creates the table.
    pub fn open(path: &Path) -> anyhow::Result<Arc<SqliteDb>> {
        use anyhow::Context as _;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| {
                format!(
                    "cannot create the directory {} for the key-value database",
                    dir.display()
                )
            })?;
        }
        let conn = Self::connect(path)
            .and_then(|conn| {
                // The journal mode is stored in the file; it sticks.
                let mode: String =
                    conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
                if !mode.eq_ignore_ascii_case("wal") {
                    return Err(rusqlite::Error::InvalidParameterName(format!(
                        "journal_mode is {mode}, WAL is needed"
                    )));
                }
                conn.execute_batch(SCHEMA)?;
                Ok(conn)
            })
            .with_context(|| format!("cannot open the key-value database {}", path.display()))?;
        Ok(Arc::new(SqliteDb {
            path: path.to_path_buf(),
            idle: Mutex::new(vec![conn]),
        }))
    }

    fn connect(path: &Path) -> rusqlite::Result<Connection> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Per connection: fsync the WAL at every commit.
        conn.pragma_update(None, "synchronous", "FULL")?;
        Ok(conn)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a pooled connection on the blocking pool.
    async fn run<R, F>(self: &Arc<Self>, f: F) -> Result<R, KvError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, KvError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = db.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let mut conn = match conn {
                Some(conn) => conn,
                None => Self::connect(&db.path).map_err(sql_err)?,
            };
            let result = f(&mut conn);
            // A connection left inside a transaction (cannot happen with
            // rusqlite's Transaction, which rolls back on drop) is not reused.
            if conn.is_autocommit() {
                let mut idle = db.idle.lock().unwrap_or_else(|e| e.into_inner());
                if idle.len() < MAX_IDLE {
                    idle.push(conn);
                }
            }
            result
        })
        .await
        .map_err(|err| KvError::Other(format!("sqlite task failed: {err}")))?
    }

    pub async fn get(self: &Arc<Self>, store: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let (store, key) = (store.to_owned(), key.to_owned());
        self.run(move |conn| read_value(conn, &store, &key).map_err(sql_err))
            .await
    }

    pub async fn set(
        self: &Arc<Self>,
        store: &str,
        key: &str,
        value: Vec<u8>,
    ) -> Result<(), KvError> {
        let (store, key) = (store.to_owned(), key.to_owned());
        self.run(move |conn| write_value(conn, &store, &key, &value).map_err(sql_err))
            .await
    }

    pub async fn exists(self: &Arc<Self>, store: &str, key: &str) -> Result<bool, KvError> {
        let (store, key) = (store.to_owned(), key.to_owned());
        self.run(move |conn| {
            conn.prepare_cached("SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2")
                .and_then(|mut stmt| stmt.exists(params![store, key]))
                .map_err(sql_err)
        })
        .await
    }

    pub async fn keys(self: &Arc<Self>, store: &str) -> Result<Vec<String>, KvError> {
        let store = store.to_owned();
        self.run(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")
                .map_err(sql_err)?;
            let rows = stmt
                .query_map(params![store], |row| row.get::<_, String>(0))
                .map_err(sql_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql_err)
        })
        .await
    }

    pub async fn increment(
        self: &Arc<Self>,
        store: &str,
        key: &str,
        delta: i64,
    ) -> Result<i64, KvError> {
        let (store, key) = (store.to_owned(), key.to_owned());
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_err)?;
            let current = match read_value(&tx, &store, &key).map_err(sql_err)? {
                Some(value) => parse_counter(&key, &value)?,
                None => 0,
            };
            let new = add_counter(&key, current, delta)?;
            write_value(&tx, &store, &key, new.to_string().as_bytes()).map_err(sql_err)?;
            tx.commit().map_err(sql_err)?;
            Ok(new)
        })
        .await
    }

    pub async fn compare_and_swap(
        self: &Arc<Self>,
        store: &str,
        key: &str,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<CasOutcome, KvError> {
        let (store, key) = (store.to_owned(), key.to_owned());
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_err)?;
            let current = read_value(&tx, &store, &key).map_err(sql_err)?;
            if current != expected {
                // Dropping `tx` rolls back (nothing was written).
                return Ok(CasOutcome::Changed { current });
            }
            write_value(&tx, &store, &key, &new).map_err(sql_err)?;
            tx.commit().map_err(sql_err)?;
            Ok(CasOutcome::Swapped)
        })
        .await
    }

    pub async fn get_many(
        self: &Arc<Self>,
        store: &str,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, KvError> {
        let store = store.to_owned();
        self.run(move |conn| {
            // One read transaction: a consistent snapshot of every key.
            let tx = conn.transaction().map_err(sql_err)?;
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                let value = read_value(&tx, &store, &key).map_err(sql_err)?;
                out.push((key, value));
            }
            tx.commit().map_err(sql_err)?;
            Ok(out)
        })
        .await
    }

    pub async fn set_many(
        self: &Arc<Self>,
        store: &str,
        pairs: Vec<(String, Vec<u8>)>,
    ) -> Result<(), KvError> {
        let store = store.to_owned();
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_err)?;
            for (key, value) in &pairs {
                write_value(&tx, &store, key, value).map_err(sql_err)?;
            }
            tx.commit().map_err(sql_err)
        })
        .await
    }

    pub async fn delete_many(
        self: &Arc<Self>,
        store: &str,
        keys: Vec<String>,
    ) -> Result<(), KvError> {
        let store = store.to_owned();
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_err)?;
            {
                let mut stmt = tx
                    .prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")
                    .map_err(sql_err)?;
                for key in &keys {
                    stmt.execute(params![store, key]).map_err(sql_err)?;
                }
            }
            tx.commit().map_err(sql_err)
        })
        .await
    }
}

/// Reads one value. Values are BLOBs; TEXT and numbers (which Spin's own
/// `increment` writes) are read as their text.
fn read_value(conn: &Connection, store: &str, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    let value: Option<Value> = conn
        .prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
        .query_row(params![store, key], |row| row.get(0))
        .optional()?;
    Ok(value.and_then(|value| match value {
        Value::Blob(bytes) => Some(bytes),
        Value::Text(text) => Some(text.into_bytes()),
        Value::Integer(n) => Some(n.to_string().into_bytes()),
        Value::Real(x) => Some(x.to_string().into_bytes()),
        Value::Null => None,
    }))
}

fn write_value(conn: &Connection, store: &str, key: &str, value: &[u8]) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![store, key, value])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn settings_are_durable() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("sub/kv.db")).unwrap();
        let (mode, sync) = db
            .run(|conn| {
                let mode: String = conn
                    .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                    .map_err(sql_err)?;
                let sync: i64 = conn
                    .query_row("PRAGMA synchronous", [], |r| r.get(0))
                    .map_err(sql_err)?;
                Ok((mode, sync))
            })
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(sync, 2, "synchronous = FULL");
    }

    #[tokio::test]
    async fn reads_values_spin_wrote_as_integers() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("kv.db")).unwrap();
        db.run(|conn| {
            conn.execute(
                "INSERT INTO spin_key_value (store, key, value) VALUES ('default', 'n', 41)",
                [],
            )
            .map_err(sql_err)
        })
        .await
        .unwrap();
        assert_eq!(db.get("default", "n").await.unwrap(), Some(b"41".to_vec()));
        assert_eq!(db.increment("default", "n", 1).await.unwrap(), 42);
        assert_eq!(db.get("default", "n").await.unwrap(), Some(b"42".to_vec()));
    }
}
