//! One SQLite database: where it lives, its idle connections, and running a
//! statement on it. Everything here blocks; callers on an async executor run
//! it on a blocking thread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::OpenFlags;

use crate::bindings::fermyon::spin::sqlite::{Error, QueryResult, RowResult, Value};

/// How long a statement waits for another connection's write lock before it
/// fails with "database is locked".
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The most idle connections kept open per database file.
const MAX_IDLE: usize = 8;

/// A database of one app.
pub(crate) struct Database {
    /// The app that owns it (for the one-file-one-app check).
    app_id: String,
    backend: Backend,
}

enum Backend {
    /// A file. Each guest connection gets its own SQLite connection, taken
    /// from (and given back to) `idle`, so concurrent requests read in
    /// parallel (WAL) and a guest's `BEGIN … COMMIT` spans its `execute`
    /// calls.
    File {
        path: PathBuf,
        idle: Mutex<Vec<rusqlite::Connection>>,
    },
    /// In memory: one connection that every guest connection shares.
    Memory(Mutex<rusqlite::Connection>),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.backend {
            Backend::File { path, .. } => write!(f, "Database({})", path.display()),
            Backend::Memory(_) => f.write_str("Database(:memory:)"),
        }
    }
}

/// Database files open in this process, so that two apps never share one.
fn open_files() -> &'static Mutex<HashMap<PathBuf, Weak<Database>>> {
    static OPEN: OnceLock<Mutex<HashMap<PathBuf, Weak<Database>>>> = OnceLock::new();
    OPEN.get_or_init(Default::default)
}

impl Database {
    /// Opens (creating it and its parent directories if needed) the database
    /// file at `path` for app `app_id`, checking that it can be used.
    ///
    /// If `app_id` already has this file open, that database (and its idle
    /// connections) is shared; if another app has it open, this fails.
    pub(crate) fn open_file(app_id: &str, path: &Path) -> anyhow::Result<Arc<Database>> {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create directory {}", parent.display()))?;
        let file_name = path
            .file_name()
            .with_context(|| format!("{} is not a file path", path.display()))?;
        let canonical = parent
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", parent.display()))?
            .join(file_name);

        let mut open = open_files().lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|_, db| db.strong_count() > 0);
        if let Some(db) = open.get(&canonical).and_then(Weak::upgrade) {
            if db.app_id == app_id {
                return Ok(db);
            }
            let other = db.app_id.clone();
            drop(open);
            drop(db);
            anyhow::bail!(
                "SQLite database {} is already used by app `{other}`; two apps never share a \
                 database file: give each app its own data dir, or another `path` in \
                 runtime config",
                canonical.display()
            );
        }
        let conn = open_connection(&canonical)
            .with_context(|| format!("cannot open SQLite database {}", canonical.display()))?;
        let db = Arc::new(Database {
            app_id: app_id.to_owned(),
            backend: Backend::File {
                path: canonical.clone(),
                idle: Mutex::new(vec![conn]),
            },
        });
        open.insert(canonical, Arc::downgrade(&db));
        Ok(db)
    }

    /// A fresh in-memory database.
    pub(crate) fn open_memory(app_id: &str) -> anyhow::Result<Arc<Database>> {
        let conn = rusqlite::Connection::open_in_memory()
            .context("cannot open an in-memory SQLite database")?;
        confine(&conn).context("cannot confine an in-memory SQLite database")?;
        Ok(Arc::new(Database {
            app_id: app_id.to_owned(),
            backend: Backend::Memory(Mutex::new(conn)),
        }))
    }

    /// The database file, or `None` in memory.
    pub(crate) fn path(&self) -> Option<&Path> {
        match &self.backend {
            Backend::File { path, .. } => Some(path),
            Backend::Memory(_) => None,
        }
    }

    /// Runs `sql` (one statement) with `params`, on `conn` if the guest
    /// connection already holds a SQLite connection, else on one taken from
    /// the pool. Returns the SQLite connection for the guest connection to
    /// keep (always `None` in memory).
    pub(crate) fn execute(
        &self,
        conn: Option<rusqlite::Connection>,
        sql: &str,
        params: Vec<Value>,
    ) -> (Option<rusqlite::Connection>, Result<Executed, Error>) {
        match &self.backend {
            Backend::File { .. } => {
                let conn = match conn {
                    Some(conn) => conn,
                    None => match self.checkout() {
                        Ok(conn) => conn,
                        Err(err) => return (None, Err(to_error(err))),
                    },
                };
                let result = execute(&conn, sql, params);
                (Some(conn), result)
            }
            Backend::Memory(conn) => {
                let conn = conn.lock().unwrap_or_else(|e| e.into_inner());
                (None, execute(&conn, sql, params))
            }
        }
    }

    /// Runs `sql`, which may hold several statements, and discards any rows.
    pub(crate) fn execute_batch(&self, sql: &str) -> rusqlite::Result<()> {
        match &self.backend {
            Backend::File { .. } => {
                let conn = self.checkout()?;
                let result = conn.execute_batch(sql);
                self.checkin(conn);
                result
            }
            Backend::Memory(conn) => conn
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .execute_batch(sql),
        }
    }

    /// An idle connection, or a new one.
    fn checkout(&self) -> rusqlite::Result<rusqlite::Connection> {
        match &self.backend {
            Backend::File { path, idle } => {
                let conn = idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
                match conn {
                    Some(conn) => Ok(conn),
                    None => open_connection(path),
                }
            }
            Backend::Memory(_) => unreachable!("in-memory databases have no pool"),
        }
    }

    /// Gives a connection back to the pool. One left inside a transaction
    /// (a guest that never committed) is closed instead, which rolls the
    /// transaction back.
    pub(crate) fn checkin(&self, conn: rusqlite::Connection) {
        if let Backend::File { idle, .. } = &self.backend {
            if conn.is_autocommit() {
                let mut idle = idle.lock().unwrap_or_else(|e| e.into_inner());
                if idle.len() < MAX_IDLE {
                    idle.push(conn);
                }
            }
        }
    }
}

/// Opens a connection to a database file with Nimbus's settings:
///
/// - `journal_mode = WAL`: readers do not block the writer nor the writer
///   readers; a commit appends to the `-wal` file. (Persistent: stored in the
///   database file.)
/// - `synchronous = FULL`: every commit syncs the WAL to disk before it
///   returns. A statement the guest saw succeed survives the process being
///   killed (`kill -9`; `NORMAL` would be enough for that in WAL mode) and
///   also a power loss or OS crash (which `NORMAL` does not promise). The cost
///   is one `fsync` per write transaction.
/// - busy timeout [`BUSY_TIMEOUT`]: a writer waits for another connection's
///   write lock instead of failing at once with "database is locked".
///
/// Everything else (foreign keys off, and so on) is SQLite's default, as in
/// Spin.
fn open_connection(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags)?;
    confine(&conn)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(
            "SQLite database {} cannot use WAL mode (journal_mode is {mode}); is it on a network file system?",
            path.display()
        );
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// Keeps a guest's SQL inside its own database file: no `ATTACH` (which
/// opens any file the node can read, e.g. another app's database, by path)
/// and no `VACUUM INTO` (which writes a copy anywhere the node can write);
/// both need an attach slot, and there are none.
fn confine(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.set_limit(rusqlite::limits::Limit::SQLITE_LIMIT_ATTACHED, 0)?;
    Ok(())
}

/// What one statement returned, and what SQLite says it did
/// (`spin:sqlite@3.1.0`'s `last-insert-rowid` and `changes`).
pub(crate) struct Executed {
    pub result: QueryResult,
    pub last_insert_rowid: i64,
    pub changes: u64,
}

/// Runs one statement. Parameters are bound (`?`, `?NNN`, `:name`, … by
/// position), never spliced into the SQL.
fn execute(conn: &rusqlite::Connection, sql: &str, params: Vec<Value>) -> Result<Executed, Error> {
    let result = query(conn, sql, params)?;
    Ok(Executed {
        result,
        last_insert_rowid: conn.last_insert_rowid(),
        changes: conn.changes(),
    })
}

fn query(conn: &rusqlite::Connection, sql: &str, params: Vec<Value>) -> Result<QueryResult, Error> {
    let mut stmt = conn.prepare_cached(sql).map_err(|err| match err {
        rusqlite::Error::MultipleStatement => Error::Io(
            "the SQL holds more than one statement; execute one statement per call".to_owned(),
        ),
        err => to_error(err),
    })?;
    let expected = stmt.parameter_count();
    if params.len() != expected {
        return Err(Error::Io(format!(
            "the statement has {expected} parameter(s) but {} value(s) were given",
            params.len()
        )));
    }
    for (i, param) in params.into_iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, to_sql(param))
            .map_err(to_error)?;
    }
    let columns: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    let count = columns.len();
    let mut rows = Vec::new();
    let mut cursor = stmt.raw_query();
    while let Some(row) = cursor.next().map_err(to_error)? {
        let mut values = Vec::with_capacity(count);
        for i in 0..count {
            values.push(from_sql(row.get_ref(i).map_err(to_error)?));
        }
        rows.push(RowResult { values });
    }
    Ok(QueryResult { columns, rows })
}

/// A guest value as an SQLite value: the same storage class, bit for bit.
fn to_sql(value: Value) -> SqlValue {
    match value {
        Value::Integer(i) => SqlValue::Integer(i),
        Value::Real(r) => SqlValue::Real(r),
        Value::Text(s) => SqlValue::Text(s),
        Value::Blob(b) => SqlValue::Blob(b),
        Value::Null => SqlValue::Null,
    }
}

/// An SQLite value as a guest value. TEXT that is not valid UTF-8 (SQLite
/// does not enforce it, e.g. `CAST(x'ff' AS TEXT)`) cannot be a WIT string:
/// invalid sequences become U+FFFD; read such data as a BLOB to get the bytes.
fn from_sql(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        ValueRef::Null => Value::Null,
    }
}

/// An SQLite error as the guest sees it: `database-full` for SQLITE_FULL,
/// else `io` with SQLite's message.
pub(crate) fn to_error(err: rusqlite::Error) -> Error {
    match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => Error::DatabaseFull,
        _ => Error::Io(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> Arc<Database> {
        Database::open_memory("test").unwrap()
    }

    #[test]
    fn maps_every_value_kind_both_ways() {
        let db = memory();
        let values = vec![
            Value::Integer(i64::MIN),
            Value::Integer(i64::MAX),
            Value::Real(0.1),
            Value::Real(-1.5e300),
            Value::Text("héllo ✓".into()),
            Value::Blob(vec![0, 255, 1]),
            Value::Null,
        ];
        let (_, result) = db.execute(None, "SELECT ?, ?, ?, ?, ?, ?, ?", values.clone());
        let result = result.unwrap().result;
        assert_eq!(result.columns.len(), 7);
        assert_eq!(result.rows.len(), 1);
        for (got, want) in result.rows[0].values.iter().zip(&values) {
            match (got, want) {
                (Value::Integer(a), Value::Integer(b)) => assert_eq!(a, b),
                (Value::Real(a), Value::Real(b)) => assert_eq!(a.to_bits(), b.to_bits()),
                (Value::Text(a), Value::Text(b)) => assert_eq!(a, b),
                (Value::Blob(a), Value::Blob(b)) => assert_eq!(a, b),
                (Value::Null, Value::Null) => {}
                (got, want) => panic!("{got:?} != {want:?}"),
            }
        }
    }

    #[test]
    fn parameters_are_bound_not_spliced() {
        let db = memory();
        let (_, r) = db.execute(None, "CREATE TABLE t (name TEXT)", vec![]);
        r.unwrap();
        let evil = "x'); DROP TABLE t; --".to_string();
        let (_, r) = db.execute(
            None,
            "INSERT INTO t (name) VALUES (?)",
            vec![Value::Text(evil.clone())],
        );
        r.unwrap();
        let (_, r) = db.execute(None, "SELECT name FROM t", vec![]);
        let r = r.unwrap().result;
        assert_eq!(r.columns, ["name"]);
        assert!(matches!(&r.rows[0].values[0], Value::Text(s) if *s == evil));
    }

    #[test]
    fn reports_errors_to_the_guest() {
        let db = memory();
        let (_, r) = db.execute(None, "SELECT * FROM nope", vec![]);
        assert!(matches!(r, Err(Error::Io(m)) if m.contains("no such table: nope")));
        let (_, r) = db.execute(None, "SELECT ?", vec![]);
        assert!(matches!(r, Err(Error::Io(m)) if m.contains("1 parameter(s) but 0")));
        let (_, r) = db.execute(None, "SELECT 1; SELECT 2", vec![]);
        assert!(matches!(r, Err(Error::Io(m)) if m.contains("more than one statement")));
        let (_, r) = db.execute(None, "SELECT CAST(x'ff41' AS TEXT)", vec![]);
        assert!(matches!(&r.unwrap().result.rows[0].values[0], Value::Text(s) if s == "\u{fffd}A"));
    }

    #[test]
    fn reports_last_insert_rowid_and_changes() {
        let db = memory();
        let (_, r) = db.execute(None, "CREATE TABLE t (n INTEGER)", vec![]);
        r.unwrap();
        let (_, r) = db.execute(None, "INSERT INTO t (n) VALUES (1), (2), (3)", vec![]);
        let r = r.unwrap();
        assert_eq!((r.last_insert_rowid, r.changes), (3, 3));
        let (_, r) = db.execute(None, "UPDATE t SET n = n + 1 WHERE n > 1", vec![]);
        assert_eq!(r.unwrap().changes, 2);
    }

    #[test]
    fn files_use_wal_and_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open_file("wal-test", &dir.path().join("a/b.db")).unwrap();
        let conn = db.checkout().unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "FULL");
        db.checkin(conn);
    }

    #[test]
    fn a_file_belongs_to_one_app() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let a = Database::open_file("app-a", &path).unwrap();
        let again = Database::open_file("app-a", &dir.path().join("./x.db")).unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        let err = Database::open_file("app-b", &path).unwrap_err();
        assert!(
            format!("{err:#}").contains("already used by app `app-a`"),
            "{err:#}"
        );
        drop((a, again));
        Database::open_file("app-b", &path).unwrap();
    }
}
