//! The host side of `fermyon:spin/sqlite@2.0.0`.

use std::sync::Arc;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use crate::bindings::fermyon::spin::sqlite::{self, Error, QueryResult, Value};
use crate::database::Database;
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
}

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

/// Adds `fermyon:spin/sqlite@2.0.0` to `linker`; `get` picks this
/// capability's parts out of the store's state.
///
/// The host functions are async and run SQLite on Tokio's blocking thread
/// pool (`spawn_blocking`), so stores must be driven by a Tokio runtime (as
/// `wasmtime-wasi`'s async functions also require).
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> SqliteView<'_>,
) -> wasmtime::Result<()> {
    sqlite::add_to_linker::<T, HasSqlite>(linker, get)
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
        let resource = self.table.push(Connection { db, conn: None })?;
        Ok(Ok(resource))
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let guest = self.table.get_mut(&connection)?;
        let db = guest.db.clone();
        let conn = guest.conn.take();
        let (conn, result) =
            tokio::task::spawn_blocking(move || db.execute(conn, &statement, parameters)).await?;
        self.table.get_mut(&connection)?.conn = conn;
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
