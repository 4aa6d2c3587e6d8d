//! The host side of every PostgreSQL interface version: one implementation
//! in 4.0.0's types ([`crate::versions`] converts the others).

use std::sync::Arc;

use futures_util::StreamExt as _;
use tokio_postgres::types::ToSql;
use wasmtime::component::{
    Accessor, FutureReader, HasData, Linker, Resource, ResourceTable, StreamReader,
};

use crate::pool::{statement_error, PooledClient};
use crate::v4::{self, Error, ParameterValue, RowSet};
use crate::versions::*;
use crate::{types, v2, v2_types, v3, v4_2, PostgresComponent, PostgresInstance};
use crate::{MAX_CONNECTIONS_PER_INSTANCE, MAX_RESULT_BYTES};

/// A guest's open `connection`: one connection of the app's pool, until the
/// guest drops it or its request ends.
pub struct Connection {
    client: Arc<PooledClient>,
}

/// A `spin:postgres@4.2.0` `connection-builder`: the address to open.
pub struct ConnectionBuilder {
    address: String,
}

/// What the host functions need from a store's state: this capability's
/// instance state and the store's resource table.
pub struct PostgresView<'a> {
    /// This capability's per-instance state.
    pub instance: &'a mut PostgresInstance,
    /// The store's resource table.
    pub table: &'a mut ResourceTable,
}

struct HasPostgres;

impl HasData for HasPostgres {
    type Data<'a> = PostgresView<'a>;
}

/// Adds `fermyon:spin/postgres@2.0.0`, `spin:postgres/postgres@3.0.0` and
/// `@4.0.0` to `linker`, and, when it takes concurrent host functions
/// ([`nimbus_capability::links_concurrent`]), `@4.2.0` instead of `@4.0.0`
/// (a guest importing 4.0.0 is then served by the 4.2.0 functions, the
/// linker's semver match); `get` picks this capability's parts out of the
/// store's state.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> PostgresView<'_>,
) -> wasmtime::Result<()> {
    v2::add_to_linker::<T, HasPostgres>(linker, get)?;
    v3::add_to_linker::<T, HasPostgres>(linker, get)?;
    if nimbus_capability::links_concurrent(linker) {
        v4_2::add_to_linker::<T, HasPostgres>(linker, get)?;
    } else {
        v4::add_to_linker::<T, HasPostgres>(linker, get)?;
    }
    Ok(())
}

/// A host call's outcome in 4.0.0's error type.
type Outcome<T> = Result<T, Error>;

impl PostgresView<'_> {
    /// Reserves one of the instance's connections and returns what opening
    /// one needs.
    fn reserve(&mut self) -> Outcome<PostgresComponent> {
        if !self.instance.connections.try_take() {
            return Err(Error::ConnectionFailed(format!(
                "too many connections: one request may hold at most {MAX_CONNECTIONS_PER_INSTANCE}"
            )));
        }
        Ok(self.instance.component.clone())
    }

    /// Puts an opened connection in the table, or gives the reservation
    /// back.
    fn opened(
        &mut self,
        client: Outcome<Arc<PooledClient>>,
    ) -> wasmtime::Result<Outcome<Resource<Connection>>> {
        match client {
            Ok(client) => Ok(Ok(self.table.push(Connection { client })?)),
            Err(err) => {
                self.release();
                Ok(Err(err))
            }
        }
    }

    fn release(&mut self) {
        self.instance.connections.give_back();
    }

    fn client(&self, connection: &Resource<Connection>) -> wasmtime::Result<Arc<PooledClient>> {
        Ok(self.table.get(connection)?.client.clone())
    }

    async fn open(&mut self, address: &str) -> wasmtime::Result<Outcome<Resource<Connection>>> {
        let client = match self.reserve() {
            Ok(component) => component.connect(address).await,
            Err(err) => return Ok(Err(err)),
        };
        self.opened(client)
    }

    fn close(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        self.release();
        Ok(())
    }
}

fn client(pooled: &PooledClient) -> Outcome<&tokio_postgres::Client> {
    pooled
        .client()
        .ok_or_else(|| Error::ConnectionFailed("the connection is closed".into()))
}

async fn query(
    pooled: Arc<PooledClient>,
    statement: String,
    parameters: Vec<ParameterValue>,
) -> Outcome<RowSet> {
    let parameters = types::parameters(parameters)?;
    let parameters: Vec<&(dyn ToSql + Sync)> = parameters
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect();
    let client = client(&pooled)?;
    let statement = client.prepare(&statement).await.map_err(statement_error)?;
    let stream = client
        .query_raw(&statement, parameters)
        .await
        .map_err(statement_error)?;
    let mut stream = std::pin::pin!(stream);
    // Rows are converted as they arrive, and the result is bounded: a
    // guest's query cannot make the host hold more than MAX_RESULT_BYTES.
    let mut rows = Vec::new();
    let mut bytes = 0usize;
    while let Some(row) = stream.next().await {
        let row = types::row(&row.map_err(statement_error)?)?;
        bytes += row.iter().map(types::size_of).sum::<usize>();
        if bytes > MAX_RESULT_BYTES {
            return Err(Error::Other(format!(
                "the result is larger than {} MiB: select fewer rows (LIMIT) or columns",
                MAX_RESULT_BYTES >> 20
            )));
        }
        rows.push(row);
    }
    Ok(RowSet {
        columns: types::columns(statement.columns()),
        rows,
    })
}

async fn execute(
    pooled: Arc<PooledClient>,
    statement: String,
    parameters: Vec<ParameterValue>,
) -> Outcome<u64> {
    let parameters = types::parameters(parameters)?;
    let parameters: Vec<&(dyn ToSql + Sync)> = parameters
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect();
    client(&pooled)?
        .execute(statement.as_str(), &parameters)
        .await
        .map_err(statement_error)
}

// fermyon:spin/postgres@2.0.0

impl v2_types::Host for PostgresView<'_> {}
impl v2::Host for PostgresView<'_> {}

impl v2::HostConnection for PostgresView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<Connection>, v2_types::Error>> {
        Ok(PostgresView::open(self, &address)
            .await?
            .map_err(error_to_v2))
    }

    async fn query(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<v2_types::ParameterValue>,
    ) -> wasmtime::Result<Result<v2_types::RowSet, v2_types::Error>> {
        let client = self.client(&connection)?;
        let result = async {
            let params = params
                .into_iter()
                .map(param_from_v2)
                .collect::<Result<_, _>>()?;
            query(client, statement, params).await
        };
        Ok(result.await.map(rows_to_v2).map_err(error_to_v2))
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<v2_types::ParameterValue>,
    ) -> wasmtime::Result<Result<u64, v2_types::Error>> {
        let client = self.client(&connection)?;
        let result = async {
            let params = params
                .into_iter()
                .map(param_from_v2)
                .collect::<Result<_, _>>()?;
            execute(client, statement, params).await
        };
        Ok(result.await.map_err(error_to_v2))
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.close(connection)
    }
}

// spin:postgres@3.0.0

impl v3::Host for PostgresView<'_> {}

impl v3::HostConnection for PostgresView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<Connection>, v3::Error>> {
        Ok(PostgresView::open(self, &address)
            .await?
            .map_err(error_to_v3))
    }

    async fn query(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<v3::ParameterValue>,
    ) -> wasmtime::Result<Result<v3::RowSet, v3::Error>> {
        let client = self.client(&connection)?;
        let params = params.into_iter().map(param_from_v3).collect();
        Ok(query(client, statement, params)
            .await
            .map(rows_to_v3)
            .map_err(error_to_v3))
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<v3::ParameterValue>,
    ) -> wasmtime::Result<Result<u64, v3::Error>> {
        let client = self.client(&connection)?;
        let params = params.into_iter().map(param_from_v3).collect();
        Ok(execute(client, statement, params)
            .await
            .map_err(error_to_v3))
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.close(connection)
    }
}

// spin:postgres@4.0.0

impl v4::Host for PostgresView<'_> {}

impl v4::HostConnection for PostgresView<'_> {
    async fn open(&mut self, address: String) -> wasmtime::Result<Outcome<Resource<Connection>>> {
        PostgresView::open(self, &address).await
    }

    async fn query(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Outcome<RowSet>> {
        let client = self.client(&connection)?;
        Ok(query(client, statement, params).await)
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Outcome<u64>> {
        let client = self.client(&connection)?;
        Ok(execute(client, statement, params).await)
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.close(connection)
    }
}

// spin:postgres@4.2.0: the 4.0.0 functions (synchronous in WIT, async on
// the host), the connection builder, and async variants (component-model
// async ABI) that reach the store through an accessor, never across an
// await.

type V42<T> = wasmtime::Result<Result<T, v4_2::Error>>;
type V42Accessor<T> = Accessor<T, HasPostgres>;

fn v4_2_rows(rows: RowSet) -> v4_2::RowSet {
    v4_2::RowSet {
        columns: columns_to_v4_2(rows.columns),
        rows: rows.rows.into_iter().map(row_to_v4_2).collect(),
    }
}

impl v4_2::Host for PostgresView<'_> {}

impl v4_2::HostConnection for PostgresView<'_> {
    async fn open(&mut self, address: String) -> V42<Resource<Connection>> {
        Ok(PostgresView::open(self, &address)
            .await?
            .map_err(error_to_v4_2))
    }

    async fn query(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<v4_2::ParameterValue>,
    ) -> V42<v4_2::RowSet> {
        let client = self.client(&connection)?;
        let params = params.into_iter().map(param_from_v4_2).collect();
        Ok(query(client, statement, params)
            .await
            .map(v4_2_rows)
            .map_err(error_to_v4_2))
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<v4_2::ParameterValue>,
    ) -> V42<u64> {
        let client = self.client(&connection)?;
        let params = params.into_iter().map(param_from_v4_2).collect();
        Ok(execute(client, statement, params)
            .await
            .map_err(error_to_v4_2))
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.close(connection)
    }
}

impl v4_2::HostConnectionBuilder for PostgresView<'_> {
    async fn new(&mut self, address: String) -> wasmtime::Result<Resource<ConnectionBuilder>> {
        Ok(self.table.push(ConnectionBuilder { address })?)
    }

    async fn set_ca_root(
        &mut self,
        _builder: Resource<ConnectionBuilder>,
        _certificate: String,
    ) -> V42<()> {
        Ok(Err(v4_2::Error::Other(
            "TLS connections (and so CA roots) are not supported by this host yet".into(),
        )))
    }

    async fn build(&mut self, builder: Resource<ConnectionBuilder>) -> V42<Resource<Connection>> {
        let address = self.table.get(&builder)?.address.clone();
        Ok(PostgresView::open(self, &address)
            .await?
            .map_err(error_to_v4_2))
    }

    async fn drop(&mut self, builder: Resource<ConnectionBuilder>) -> wasmtime::Result<()> {
        self.table.delete(builder)?;
        Ok(())
    }
}

/// Opens a connection for the instance behind `accessor`.
async fn open_async<T>(accessor: &V42Accessor<T>, address: &str) -> V42<Resource<Connection>> {
    let component = accessor.with(|mut access| access.get().reserve());
    let client = match component {
        Ok(component) => component.connect(address).await,
        Err(err) => return Ok(Err(error_to_v4_2(err))),
    };
    accessor.with(|mut access| Ok(access.get().opened(client)?.map_err(error_to_v4_2)))
}

impl<T> v4_2::HostConnectionWithStore<T> for HasPostgres {
    async fn open_async(accessor: &V42Accessor<T>, address: String) -> V42<Resource<Connection>> {
        open_async(accessor, &address).await
    }

    async fn query_async(
        accessor: &V42Accessor<T>,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<v4_2::ParameterValue>,
    ) -> V42<(
        Vec<v4_2::Column>,
        StreamReader<Vec<v4_2::DbValue>>,
        FutureReader<Result<(), v4_2::Error>>,
    )> {
        let client = accessor.with(|mut access| access.get().client(&connection))?;
        let params = params.into_iter().map(param_from_v4_2).collect();
        let rows = match query(client, statement, params).await {
            Ok(rows) => rows,
            Err(err) => return Ok(Err(error_to_v4_2(err))),
        };
        // The statement has run: its rows are streamed from memory and the
        // future reports success.
        accessor.with(|mut access| {
            let rows = v4_2_rows(rows);
            let stream = StreamReader::new(&mut access, rows.rows)?;
            let done = FutureReader::new(&mut access, async {
                wasmtime::Result::<Result<(), v4_2::Error>>::Ok(Ok(()))
            })?;
            Ok(Ok((rows.columns, stream, done)))
        })
    }

    async fn execute_async(
        accessor: &V42Accessor<T>,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<v4_2::ParameterValue>,
    ) -> V42<u64> {
        let client = accessor.with(|mut access| access.get().client(&connection))?;
        let params = params.into_iter().map(param_from_v4_2).collect();
        Ok(execute(client, statement, params)
            .await
            .map_err(error_to_v4_2))
    }
}

impl<T> v4_2::HostConnectionBuilderWithStore<T> for HasPostgres {
    async fn build_async(
        accessor: &V42Accessor<T>,
        builder: Resource<ConnectionBuilder>,
    ) -> V42<Resource<Connection>> {
        let address = accessor.with(|mut access| {
            wasmtime::Result::<_>::Ok(access.get().table.get(&builder)?.address.clone())
        })?;
        open_async(accessor, &address).await
    }
}
