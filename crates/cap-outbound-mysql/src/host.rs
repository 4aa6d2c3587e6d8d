//! The host side of `fermyon:spin/mysql@2.0.0` and `spin:mysql/mysql@3.0.0`:
//! one implementation (opening, statements, conversions), two faces.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::TryStreamExt as _;
use mysql_async::prelude::Queryable as _;
use mysql_async::{Conn, Params};
use tokio::sync::{mpsc, oneshot, Mutex, OwnedSemaphorePermit};
use wasmtime::component::{
    Accessor, Destination, FutureReader, HasData, Linker, Resource, ResourceTable, StreamProducer,
    StreamReader, StreamResult, VecBuffer,
};
use wasmtime::StoreContextMut;

use crate::address::Address;
use crate::bindings::v2::fermyon::spin::mysql as m2;
use crate::bindings::v2::fermyon::spin::rdbms_types as t2;
use crate::bindings::v3::spin::mysql::mysql as m3;
use crate::convert::{self, Kind};
use crate::{MysqlError, MysqlInstance, MAX_CONNECTIONS_PER_INSTANCE, MAX_RESULT_BYTES};

/// How many rows of a `spin:mysql@3.0.0` query wait in host memory for the
/// guest to read them; the server's next rows are read as it does.
const ROW_BUFFER: usize = 16;

/// An open connection, shared by the guest's resource and a query that is
/// streaming its rows.
struct Shared {
    /// The pooled connection: back to its pool when this is dropped.
    conn: Mutex<Conn>,
    /// The guest's address, parsed (to scrub the password from messages).
    address: Address,
    /// This connection's place in the instance's
    /// [`MAX_CONNECTIONS_PER_INSTANCE`].
    _permit: OwnedSemaphorePermit,
}

/// A guest's `fermyon:spin/mysql@2.0.0` `connection`: a pooled connection,
/// back to its pool when the guest drops it or the instance ends.
pub struct Connection(Arc<Shared>);

/// A guest's `spin:mysql/mysql@3.0.0` `connection` (as [`Connection`]).
pub struct Connection3(Arc<Shared>);

/// What the MySQL host functions need from a store's state: this
/// capability's slot and the store's resource table.
pub struct MysqlView<'a> {
    /// This capability's per-instance state.
    pub instance: &'a mut MysqlInstance,
    /// The store's resource table.
    pub table: &'a mut ResourceTable,
}

struct HasMysql;

impl HasData for HasMysql {
    type Data<'a> = MysqlView<'a>;
}

/// Adds `fermyon:spin/mysql@2.0.0` (and `spin:mysql/mysql@3.0.0` when
/// `linker` takes concurrent host functions, see
/// [`nimbus_capability::links_concurrent`]) to `linker`; `get` picks this
/// capability's parts out of the store's state. Stores must be driven by a
/// Tokio runtime.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> MysqlView<'_>,
) -> wasmtime::Result<()> {
    m2::add_to_linker::<T, HasMysql>(linker, get)?;
    if nimbus_capability::links_concurrent(linker) {
        m3::add_to_linker::<T, HasMysql>(linker, get)?;
    }
    Ok(())
}

/// What opening a connection needs from the instance, taken out of the
/// store so that it is not borrowed while connecting.
struct Opener {
    instance_permits: Arc<tokio::sync::Semaphore>,
    component: crate::MysqlComponent,
}

impl MysqlInstance {
    fn opener(&self) -> Opener {
        Opener {
            instance_permits: self
                .permits
                .get_or_init(|| Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS_PER_INSTANCE)))
                .clone(),
            component: self.component.clone(),
        }
    }
}

/// Opens a connection to `address` for the instance.
async fn open(opener: Opener, address: String) -> Result<Arc<Shared>, MysqlError> {
    let component = opener.component.allowed.component();
    let permit = opener.instance_permits.try_acquire_owned().map_err(|_| {
        tracing::debug!(%component, "MySQL open refused: too many connections");
        MysqlError::ConnectionFailed(format!(
            "too many connections: an instance may hold {MAX_CONNECTIONS_PER_INSTANCE} \
                 MySQL connections at once; drop one first"
        ))
    })?;
    let (conn, address) = opener
        .component
        .app
        .0
        .connect(&opener.component.allowed, &address)
        .await
        .inspect_err(|err| tracing::debug!(%component, "MySQL open failed: {err}"))?;
    Ok(Arc::new(Shared {
        conn: Mutex::new(conn),
        address,
        _permit: permit,
    }))
}

fn params(values: Vec<t2::ParameterValue>) -> Params {
    if values.is_empty() {
        Params::Empty
    } else {
        Params::Positional(values.into_iter().map(convert::parameter).collect())
    }
}

/// The interface's error for a failed statement.
fn statement_error(err: mysql_async::Error, address: &Address) -> MysqlError {
    use mysql_async::DriverError;
    let message = address.scrub(&err.to_string());
    match err {
        mysql_async::Error::Server(_) => MysqlError::QueryFailed(message),
        mysql_async::Error::Driver(
            DriverError::StmtParamsMismatch { .. }
            | DriverError::StmtParamsNumberExceedsLimit { .. }
            | DriverError::MixedParams
            | DriverError::Params(_),
        ) => MysqlError::BadParameter(message),
        mysql_async::Error::Io(_) => MysqlError::ConnectionFailed(message),
        mysql_async::Error::Driver(_) => MysqlError::QueryFailed(message),
        mysql_async::Error::Other(_) | mysql_async::Error::Url(_) => MysqlError::Other(message),
    }
}

async fn execute(
    shared: &Shared,
    statement: String,
    values: Vec<t2::ParameterValue>,
) -> Result<(), MysqlError> {
    let mut conn = shared.conn.lock().await;
    conn.exec_drop(statement.as_str(), params(values))
        .await
        .map_err(|err| statement_error(err, &shared.address))
}

/// Runs a query and holds its whole result (2.0's `row-set`), up to
/// [`MAX_RESULT_BYTES`].
async fn query(
    shared: &Shared,
    statement: String,
    values: Vec<t2::ParameterValue>,
) -> Result<t2::RowSet, MysqlError> {
    let failed = |err| statement_error(err, &shared.address);
    let mut conn = shared.conn.lock().await;
    let mut result = conn
        .exec_iter(statement.as_str(), params(values))
        .await
        .map_err(failed)?;
    let columns: Vec<(t2::Column, Kind)> =
        result.columns_ref().iter().map(convert::column).collect();
    let mut rows = Vec::new();
    let mut bytes = 0usize;
    if let Some(mut stream) = result.stream::<mysql_async::Row>().await.map_err(failed)? {
        while let Some(row) = stream.try_next().await.map_err(failed)? {
            let row = convert::row(row, &columns)?;
            bytes = bytes.saturating_add(row.iter().map(convert::size_of).sum());
            if bytes > MAX_RESULT_BYTES {
                return Err(MysqlError::Other(format!(
                    "the query's result exceeds {MAX_RESULT_BYTES} bytes; select fewer rows \
                     (LIMIT) or use spin:mysql@3.0.0, which streams them"
                )));
            }
            rows.push(row);
        }
    }
    Ok(t2::RowSet {
        columns: columns.into_iter().map(|(column, _)| column).collect(),
        rows,
    })
}

impl From<MysqlError> for t2::Error {
    fn from(err: MysqlError) -> Self {
        match err {
            MysqlError::ConnectionFailed(m) => t2::Error::ConnectionFailed(m),
            MysqlError::BadParameter(m) => t2::Error::BadParameter(m),
            MysqlError::QueryFailed(m) => t2::Error::QueryFailed(m),
            MysqlError::ValueConversionFailed(m) => t2::Error::ValueConversionFailed(m),
            MysqlError::Other(m) => t2::Error::Other(m),
        }
    }
}

impl MysqlView<'_> {
    fn debug_failure(&self, what: &str, err: &MysqlError) {
        tracing::debug!(component = %self.instance.component_id(), "MySQL {what} failed: {err}");
    }
}

// --- fermyon:spin/mysql@2.0.0 -----------------------------------------------

type Result2<T> = wasmtime::Result<Result<T, t2::Error>>;

impl t2::Host for MysqlView<'_> {}
impl m2::Host for MysqlView<'_> {}

impl m2::HostConnection for MysqlView<'_> {
    async fn open(&mut self, address: String) -> Result2<Resource<Connection>> {
        match open(self.instance.opener(), address).await {
            Ok(shared) => Ok(Ok(self.table.push(Connection(shared))?)),
            Err(err) => Ok(Err(err.into())),
        }
    }

    async fn query(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<t2::ParameterValue>,
    ) -> Result2<t2::RowSet> {
        let shared = self.table.get(&connection)?.0.clone();
        let result = query(&shared, statement, params).await;
        if let Err(err) = &result {
            self.debug_failure("query", err);
        }
        Ok(result.map_err(Into::into))
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<t2::ParameterValue>,
    ) -> Result2<()> {
        let shared = self.table.get(&connection)?.0.clone();
        let result = execute(&shared, statement, params).await;
        if let Err(err) = &result {
            self.debug_failure("statement", err);
        }
        Ok(result.map_err(Into::into))
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

// --- spin:mysql/mysql@3.0.0 -------------------------------------------------
//
// The same types under another package: converted variant by variant.

impl From<MysqlError> for m3::Error {
    fn from(err: MysqlError) -> Self {
        match err {
            MysqlError::ConnectionFailed(m) => m3::Error::ConnectionFailed(m),
            MysqlError::BadParameter(m) => m3::Error::BadParameter(m),
            MysqlError::QueryFailed(m) => m3::Error::QueryFailed(m),
            MysqlError::ValueConversionFailed(m) => m3::Error::ValueConversionFailed(m),
            MysqlError::Other(m) => m3::Error::Other(m),
        }
    }
}

fn parameter_from3(value: m3::ParameterValue) -> t2::ParameterValue {
    use m3::ParameterValue as P3;
    use t2::ParameterValue as P2;
    match value {
        P3::Boolean(v) => P2::Boolean(v),
        P3::Int8(v) => P2::Int8(v),
        P3::Int16(v) => P2::Int16(v),
        P3::Int32(v) => P2::Int32(v),
        P3::Int64(v) => P2::Int64(v),
        P3::Uint8(v) => P2::Uint8(v),
        P3::Uint16(v) => P2::Uint16(v),
        P3::Uint32(v) => P2::Uint32(v),
        P3::Uint64(v) => P2::Uint64(v),
        P3::Floating32(v) => P2::Floating32(v),
        P3::Floating64(v) => P2::Floating64(v),
        P3::Str(v) => P2::Str(v),
        P3::Binary(v) => P2::Binary(v),
        P3::DbNull => P2::DbNull,
    }
}

fn value_into3(value: t2::DbValue) -> m3::DbValue {
    use m3::DbValue as V3;
    use t2::DbValue as V2;
    match value {
        V2::Boolean(v) => V3::Boolean(v),
        V2::Int8(v) => V3::Int8(v),
        V2::Int16(v) => V3::Int16(v),
        V2::Int32(v) => V3::Int32(v),
        V2::Int64(v) => V3::Int64(v),
        V2::Uint8(v) => V3::Uint8(v),
        V2::Uint16(v) => V3::Uint16(v),
        V2::Uint32(v) => V3::Uint32(v),
        V2::Uint64(v) => V3::Uint64(v),
        V2::Floating32(v) => V3::Floating32(v),
        V2::Floating64(v) => V3::Floating64(v),
        V2::Str(v) => V3::Str(v),
        V2::Binary(v) => V3::Binary(v),
        V2::DbNull => V3::DbNull,
        V2::Unsupported => V3::Unsupported,
    }
}

fn column_into3(column: &t2::Column) -> m3::Column {
    use m3::DbDataType as T3;
    use t2::DbDataType as T2;
    let data_type = match column.data_type {
        T2::Boolean => T3::Boolean,
        T2::Int8 => T3::Int8,
        T2::Int16 => T3::Int16,
        T2::Int32 => T3::Int32,
        T2::Int64 => T3::Int64,
        T2::Uint8 => T3::Uint8,
        T2::Uint16 => T3::Uint16,
        T2::Uint32 => T3::Uint32,
        T2::Uint64 => T3::Uint64,
        T2::Floating32 => T3::Floating32,
        T2::Floating64 => T3::Floating64,
        T2::Str => T3::Str,
        T2::Binary => T3::Binary,
        T2::Other => T3::Other,
    };
    m3::Column {
        name: column.name.clone(),
        data_type,
    }
}

/// A 3.0 query whose rows are being read: its columns, its rows as they
/// come, and how it ended.
struct Streaming {
    columns: Vec<m3::Column>,
    rows: mpsc::Receiver<m3::Row>,
    done: oneshot::Receiver<Result<(), MysqlError>>,
}

/// Starts a query on a task of its own that holds the connection until
/// every row has been handed over (or the guest dropped the stream), and
/// returns once the server has described the result (or refused the
/// statement).
async fn stream_query(
    shared: Arc<Shared>,
    statement: String,
    values: Vec<t2::ParameterValue>,
) -> Result<Streaming, MysqlError> {
    let (columns_tx, columns_rx) = oneshot::channel();
    let (rows_tx, rows_rx) = mpsc::channel(ROW_BUFFER);
    let (done_tx, done_rx) = oneshot::channel();
    tokio::spawn(async move {
        let result = {
            let mut conn = shared.conn.lock().await;
            produce(
                &mut conn,
                &shared.address,
                statement,
                values,
                columns_tx,
                rows_tx,
            )
            .await
        };
        let _ = done_tx.send(result);
    });
    match columns_rx.await {
        Ok(Ok(columns)) => Ok(Streaming {
            columns,
            rows: rows_rx,
            done: done_rx,
        }),
        Ok(Err(err)) => Err(err),
        Err(_) => Err(MysqlError::Other("the query ended unexpectedly".into())),
    }
}

/// Runs the query on `conn`: its columns to `columns`, then each row to
/// `rows`. The result is how reading the rows ended.
async fn produce(
    conn: &mut Conn,
    address: &Address,
    statement: String,
    values: Vec<t2::ParameterValue>,
    columns: oneshot::Sender<Result<Vec<m3::Column>, MysqlError>>,
    rows: mpsc::Sender<m3::Row>,
) -> Result<(), MysqlError> {
    let failed = |err| statement_error(err, address);
    let mut result = match conn.exec_iter(statement.as_str(), params(values)).await {
        Ok(result) => result,
        Err(err) => {
            let _ = columns.send(Err(failed(err)));
            return Ok(());
        }
    };
    let kinds: Vec<(t2::Column, Kind)> = result.columns_ref().iter().map(convert::column).collect();
    let described = kinds
        .iter()
        .map(|(column, _)| column_into3(column))
        .collect();
    if columns.send(Ok(described)).is_err() {
        return Ok(());
    }
    let Some(mut stream) = result.stream::<mysql_async::Row>().await.map_err(failed)? else {
        return Ok(());
    };
    loop {
        let next = tokio::select! {
            next = stream.try_next() => next.map_err(failed)?,
            // The guest dropped the stream: the rest of the result is
            // discarded when the connection is next used or recycled.
            () = rows.closed() => return Ok(()),
        };
        let Some(row) = next else {
            return Ok(());
        };
        let row = convert::row(row, &kinds)?;
        if rows
            .send(row.into_iter().map(value_into3).collect())
            .await
            .is_err()
        {
            return Ok(());
        }
    }
}

/// The rows of a 3.0 query, handed to the guest as it reads them.
struct RowProducer(mpsc::Receiver<m3::Row>);

impl<D> StreamProducer<D> for RowProducer {
    type Item = m3::Row;
    type Buffer = VecBuffer<m3::Row>;

    fn poll_produce<'a>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut store: StoreContextMut<'a, D>,
        mut destination: Destination<'a, Self::Item, Self::Buffer>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let wanted = destination.remaining(&mut store);
        if wanted == Some(0) {
            // A zero-length read asks whether rows are ready: say yes
            // without reading one, so none is held back.
            return Poll::Ready(Ok(StreamResult::Completed));
        }
        let receiver = &mut self.get_mut().0;
        match receiver.poll_recv(cx) {
            Poll::Ready(Some(row)) => {
                let mut rows = vec![row];
                let wanted = wanted.unwrap_or(ROW_BUFFER);
                while rows.len() < wanted {
                    match receiver.try_recv() {
                        Ok(row) => rows.push(row),
                        Err(_) => break,
                    }
                }
                destination.set_buffer(rows.into());
                Poll::Ready(Ok(StreamResult::Completed))
            }
            Poll::Ready(None) => Poll::Ready(Ok(StreamResult::Dropped)),
            Poll::Pending if finish => Poll::Ready(Ok(StreamResult::Cancelled)),
            Poll::Pending => Poll::Pending,
        }
    }
}

type Result3<T> = wasmtime::Result<Result<T, m3::Error>>;
type Accessor3<T> = Accessor<T, HasMysql>;

/// The connection behind a 3.0 handle.
fn shared3<T>(
    accessor: &Accessor3<T>,
    connection: &Resource<Connection3>,
) -> wasmtime::Result<Arc<Shared>> {
    accessor.with(|mut access| Ok(access.get().table.get(connection)?.0.clone()))
}

fn debug_failure3<T>(accessor: &Accessor3<T>, what: &str, err: &MysqlError) {
    accessor.with(|mut access| access.get().debug_failure(what, err));
}

impl m3::Host for MysqlView<'_> {}

impl m3::HostConnection for MysqlView<'_> {
    fn drop(&mut self, connection: Resource<Connection3>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

impl<T> m3::HostConnectionWithStore<T> for HasMysql {
    async fn open(accessor: &Accessor3<T>, address: String) -> Result3<Resource<Connection3>> {
        let opener = accessor.with(|mut access| access.get().instance.opener());
        match open(opener, address).await {
            Ok(shared) => {
                accessor.with(|mut access| Ok(Ok(access.get().table.push(Connection3(shared))?)))
            }
            Err(err) => Ok(Err(err.into())),
        }
    }

    async fn query(
        accessor: &Accessor3<T>,
        connection: Resource<Connection3>,
        statement: String,
        params: Vec<m3::ParameterValue>,
    ) -> Result3<(
        Vec<m3::Column>,
        StreamReader<m3::Row>,
        FutureReader<Result<(), m3::Error>>,
    )> {
        let shared = shared3(accessor, &connection)?;
        let params = params.into_iter().map(parameter_from3).collect();
        let streaming = match stream_query(shared, statement, params).await {
            Ok(streaming) => streaming,
            Err(err) => {
                debug_failure3(accessor, "query", &err);
                return Ok(Err(err.into()));
            }
        };
        let Streaming {
            columns,
            rows,
            done,
        } = streaming;
        accessor.with(|mut access| {
            let rows = StreamReader::new(&mut access, RowProducer(rows))?;
            let done = FutureReader::new(&mut access, async move {
                let result = match done.await {
                    Ok(result) => result,
                    Err(_) => Err(MysqlError::Other("the query ended unexpectedly".into())),
                };
                if let Err(err) = &result {
                    tracing::debug!("MySQL query failed while streaming: {err}");
                }
                wasmtime::Result::<_>::Ok(result.map_err(m3::Error::from))
            })?;
            Ok(Ok((columns, rows, done)))
        })
    }

    async fn execute(
        accessor: &Accessor3<T>,
        connection: Resource<Connection3>,
        statement: String,
        params: Vec<m3::ParameterValue>,
    ) -> Result3<()> {
        let shared = shared3(accessor, &connection)?;
        let params = params.into_iter().map(parameter_from3).collect();
        let result = execute(&shared, statement, params).await;
        if let Err(err) = &result {
            debug_failure3(accessor, "statement", err);
        }
        Ok(result.map_err(Into::into))
    }
}
