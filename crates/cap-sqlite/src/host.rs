//! The host side of `fermyon:spin/sqlite@2.0.0` (spin-sdk 5) and
//! `spin:sqlite@3.1.0` (spin-sdk 6 and 7): one implementation, the same
//! databases and grants.

use std::sync::Arc;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use crate::bindings::fermyon::spin::sqlite::{self, Error, QueryResult, Value};
use crate::bindings::spin::sqlite::sqlite as sqlite3;
use crate::database::{Database, Executed};
use crate::SqliteInstance;

/// A guest's open `connection` resource.
///
/// It holds a SQLite connection from the database's pool from its first
/// `execute` until it is dropped (so a guest's `BEGIN … COMMIT` spans
/// several `execute` calls); dropping it gives that connection back, or
/// closes it (rolling back) if the guest left a transaction open.
pub struct Connection {
    db: Arc<Database>,
    conn: Option<rusqlite::Connection>,
    /// What the last statement did (`last-insert-rowid`, `changes`).
    last_insert_rowid: i64,
    changes: u64,
}

impl Connection {
    fn new(db: Arc<Database>) -> Connection {
        Connection {
            db,
            conn: None,
            last_insert_rowid: 0,
            changes: 0,
        }
    }

    /// Runs one statement on this connection's SQLite connection (or one
    /// from the pool) on Tokio's blocking pool. The caller takes the
    /// connection's parts out of the table first and puts them back with
    /// [`Connection::finish`], so the store is not borrowed meanwhile.
    async fn run(
        db: Arc<Database>,
        conn: Option<rusqlite::Connection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<(Option<rusqlite::Connection>, Result<Executed, Error>)> {
        Ok(tokio::task::spawn_blocking(move || db.execute(conn, &statement, parameters)).await?)
    }

    fn finish(
        &mut self,
        conn: Option<rusqlite::Connection>,
        result: Result<Executed, Error>,
    ) -> Result<QueryResult, Error> {
        self.conn = conn;
        let executed = result?;
        self.last_insert_rowid = executed.last_insert_rowid;
        self.changes = executed.changes;
        Ok(executed.result)
    }
}

/// A `spin:sqlite@3.1.0` connection: the same as a 2.0 one.
pub struct Connection3(Connection);

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.db.checkin(conn);
        }
    }
}

/// What the SQLite host functions need from a store's state: the instance
/// state of this capability and the store's resource table.
pub struct SqliteView<'a> {
    /// This capability's per-instance state.
    pub instance: &'a mut SqliteInstance,
    /// The store's resource table (shared with WASI).
    pub table: &'a mut ResourceTable,
}

struct HasSqlite;

impl HasData for HasSqlite {
    type Data<'a> = SqliteView<'a>;
}

/// Adds `fermyon:spin/sqlite@2.0.0` (and `spin:sqlite@3.1.0` when `linker`
/// takes concurrent host functions, see
/// [`nimbus_capability::links_concurrent`]) to `linker`; `get` picks this
/// capability's parts out of the store's state.
///
/// The host functions are async and run SQLite on Tokio's blocking thread
/// pool (`spawn_blocking`), so stores must be driven by a Tokio runtime (as
/// `wasmtime-wasi`'s async functions also require).
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> SqliteView<'_>,
) -> wasmtime::Result<()> {
    sqlite::add_to_linker::<T, HasSqlite>(linker, get)?;
    if nimbus_capability::links_concurrent(linker) {
        sqlite3::add_to_linker::<T, HasSqlite>(linker, get)?;
    }
    Ok(())
}

impl sqlite::Host for SqliteView<'_> {}

impl sqlite::HostConnection for SqliteView<'_> {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        let db = match self.instance.database(&database) {
            Ok(db) => db,
            Err(err) => return Ok(Err(err)),
        };
        let resource = self.table.push(Connection::new(db))?;
        Ok(Ok(resource))
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let guest = self.table.get_mut(&connection)?;
        let (db, conn) = (guest.db.clone(), guest.conn.take());
        let (conn, result) = Connection::run(db, conn, statement, parameters).await?;
        let result = self.table.get_mut(&connection)?.finish(conn, result);
        if let Err(err) = &result {
            tracing::debug!(component = %self.instance.component_id(), "SQLite statement failed: {err:?}");
        }
        Ok(result)
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

// spin:sqlite@3.1.0: the 2.0 functions again (synchronous in WIT, async on
// the host as for 2.0), plus async variants (component-model async ABI)
// that reach the store through an accessor, and the statement's stats.

impl From<Error> for sqlite3::Error {
    fn from(err: Error) -> Self {
        match err {
            Error::NoSuchDatabase => sqlite3::Error::NoSuchDatabase,
            Error::AccessDenied => sqlite3::Error::AccessDenied,
            Error::InvalidConnection => sqlite3::Error::InvalidConnection,
            Error::DatabaseFull => sqlite3::Error::DatabaseFull,
            Error::Io(why) => sqlite3::Error::Io(why),
        }
    }
}

fn value_from3(value: sqlite3::Value) -> Value {
    match value {
        sqlite3::Value::Integer(i) => Value::Integer(i),
        sqlite3::Value::Real(r) => Value::Real(r),
        sqlite3::Value::Text(t) => Value::Text(t),
        sqlite3::Value::Blob(b) => Value::Blob(b),
        sqlite3::Value::Null => Value::Null,
    }
}

fn value_into3(value: Value) -> sqlite3::Value {
    match value {
        Value::Integer(i) => sqlite3::Value::Integer(i),
        Value::Real(r) => sqlite3::Value::Real(r),
        Value::Text(t) => sqlite3::Value::Text(t),
        Value::Blob(b) => sqlite3::Value::Blob(b),
        Value::Null => sqlite3::Value::Null,
    }
}

fn rows_into3(rows: Vec<crate::RowResult>) -> Vec<sqlite3::RowResult> {
    rows.into_iter()
        .map(|row| sqlite3::RowResult {
            values: row.values.into_iter().map(value_into3).collect(),
        })
        .collect()
}

type Sqlite3Result<T> = wasmtime::Result<Result<T, sqlite3::Error>>;
type Sqlite3Accessor<T> = wasmtime::component::Accessor<T, HasSqlite>;

impl SqliteView<'_> {
    fn open3(&mut self, database: &str) -> Sqlite3Result<Resource<Connection3>> {
        match self.instance.database(database) {
            Ok(db) => Ok(Ok(self.table.push(Connection3(Connection::new(db)))?)),
            Err(err) => Ok(Err(err.into())),
        }
    }
}

impl sqlite3::Host for SqliteView<'_> {}

impl sqlite3::HostConnection for SqliteView<'_> {
    async fn open(&mut self, database: String) -> Sqlite3Result<Resource<Connection3>> {
        self.open3(&database)
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection3>,
        statement: String,
        parameters: Vec<sqlite3::Value>,
    ) -> Sqlite3Result<sqlite3::QueryResult> {
        let guest = &mut self.table.get_mut(&connection)?.0;
        let (db, conn) = (guest.db.clone(), guest.conn.take());
        let parameters = parameters.into_iter().map(value_from3).collect();
        let (conn, result) = Connection::run(db, conn, statement, parameters).await?;
        let result = self.table.get_mut(&connection)?.0.finish(conn, result);
        if let Err(err) = &result {
            tracing::debug!(component = %self.instance.component_id(), "SQLite statement failed: {err:?}");
        }
        Ok(result
            .map(|result| sqlite3::QueryResult {
                columns: result.columns,
                rows: rows_into3(result.rows),
            })
            .map_err(Into::into))
    }

    async fn last_insert_rowid(
        &mut self,
        connection: Resource<Connection3>,
    ) -> wasmtime::Result<i64> {
        Ok(self.table.get(&connection)?.0.last_insert_rowid)
    }

    async fn changes(&mut self, connection: Resource<Connection3>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&connection)?.0.changes)
    }

    async fn drop(&mut self, connection: Resource<Connection3>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

impl<T> sqlite3::HostConnectionWithStore<T> for HasSqlite {
    async fn open_async(
        accessor: &Sqlite3Accessor<T>,
        database: String,
    ) -> Sqlite3Result<Resource<Connection3>> {
        accessor.with(|mut access| access.get().open3(&database))
    }

    async fn execute_async(
        accessor: &Sqlite3Accessor<T>,
        connection: Resource<Connection3>,
        statement: String,
        parameters: Vec<sqlite3::Value>,
    ) -> Sqlite3Result<(
        Vec<String>,
        wasmtime::component::StreamReader<sqlite3::RowResult>,
        wasmtime::component::FutureReader<Result<(), sqlite3::Error>>,
    )> {
        let (db, conn) = accessor.with(|mut access| {
            let guest = &mut access.get().table.get_mut(&connection)?.0;
            wasmtime::Result::<_>::Ok((guest.db.clone(), guest.conn.take()))
        })?;
        let parameters = parameters.into_iter().map(value_from3).collect();
        let (conn, result) = Connection::run(db, conn, statement, parameters).await?;
        accessor.with(|mut access| {
            let view = access.get();
            let result = view.table.get_mut(&connection)?.0.finish(conn, result);
            let result = match result {
                Ok(result) => result,
                Err(err) => {
                    tracing::debug!(component = %view.instance.component_id(), "SQLite statement failed: {err:?}");
                    return Ok(Err(err.into()));
                }
            };
            // The statement has run: its rows are streamed from memory and
            // the future reports success.
            let rows = wasmtime::component::StreamReader::new(&mut access, rows_into3(result.rows))?;
            let done = wasmtime::component::FutureReader::new(&mut access, async {
                wasmtime::Result::<Result<(), sqlite3::Error>>::Ok(Ok(()))
            })?;
            Ok(Ok((result.columns, rows, done)))
        })
    }

    async fn last_insert_rowid_async(
        accessor: &Sqlite3Accessor<T>,
        connection: Resource<Connection3>,
    ) -> wasmtime::Result<i64> {
        accessor.with(|mut access| Ok(access.get().table.get(&connection)?.0.last_insert_rowid))
    }

    async fn changes_async(
        accessor: &Sqlite3Accessor<T>,
        connection: Resource<Connection3>,
    ) -> wasmtime::Result<u64> {
        accessor.with(|mut access| Ok(access.get().table.get(&connection)?.0.changes))
    }
}
