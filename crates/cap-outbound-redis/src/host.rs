//! The host side of `fermyon:spin/redis@2.0.0` and `spin:redis/redis@3.0.0`:
//! one implementation, the same pool and grants.

use redis::{RedisError, Value};
use wasmtime::component::{Accessor, HasData, Linker, Resource, ResourceTable};

use crate::bindings::concurrent::spin::redis::redis as v3;
use crate::bindings::sync::fermyon::spin::redis as v2;
use crate::pool::RedisLink;
use crate::{Error, RedisInstance, RedisParameter, RedisResult};

/// A guest's open `connection`: a handle on the app's connection to one
/// server.
pub struct Connection {
    redis: RedisLink,
}

/// What the host functions need from a store's state: this capability's
/// instance state and the store's resource table.
pub struct RedisView<'a> {
    /// This capability's per-instance state.
    pub instance: &'a mut RedisInstance,
    /// The store's resource table.
    pub table: &'a mut ResourceTable,
}

struct HasRedis;

impl HasData for HasRedis {
    type Data<'a> = RedisView<'a>;
}

/// Adds `fermyon:spin/redis@2.0.0` and, when `linker` takes concurrent host
/// functions ([`nimbus_capability::links_concurrent`]),
/// `spin:redis/redis@3.0.0` to `linker`; `get` picks this capability's parts
/// out of the store's state.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> RedisView<'_>,
) -> wasmtime::Result<()> {
    v2::add_to_linker::<T, HasRedis>(linker, get)?;
    // Spin's unversioned `fermyon:spin/redis-types`: only types (the error
    // of the Redis trigger's export), which spin-sdk 5's
    // `#[redis_component]` imports; an empty instance satisfies it.
    linker.instance(REDIS_TYPES_UNVERSIONED)?;
    if nimbus_capability::links_concurrent(linker) {
        v3::add_to_linker::<T, HasRedis>(linker, get)?;
    }
    Ok(())
}

/// The types-only interface spin-sdk 5 Redis trigger components import.
const REDIS_TYPES_UNVERSIONED: &str = "fermyon:spin/redis-types";

type Outcome<T> = wasmtime::Result<Result<T, Error>>;

impl RedisView<'_> {
    /// Reserves one of the instance's connections, or says there are too
    /// many.
    fn reserve(&mut self) -> Result<(), Error> {
        if self.instance.connections.try_take() {
            Ok(())
        } else {
            Err(Error::TooManyConnections)
        }
    }

    fn release(&mut self) {
        self.instance.connections.give_back();
    }

    fn redis(&self, connection: &Resource<Connection>) -> wasmtime::Result<RedisLink> {
        Ok(self.table.get(connection)?.redis.clone())
    }
}

/// Connects `component` to `address` (taken out of the store first, so
/// that the store is not borrowed while connecting).
async fn open(component: crate::RedisComponent, address: &str) -> Result<RedisLink, Error> {
    component
        .pool
        .connect(&component.allowed_hosts, address)
        .await
}

/// Maps a Redis error to the interface's: a value of the wrong type (or a
/// string that is no integer, for `incr`) is `type-error`.
fn error(err: RedisError) -> Error {
    let not_an_integer = err.kind() == redis::ErrorKind::ResponseError
        && err
            .detail()
            .is_some_and(|detail| detail.contains("not an integer"));
    if err.kind() == redis::ErrorKind::TypeError
        || err.code() == Some("WRONGTYPE")
        || not_an_integer
    {
        return Error::TypeError;
    }
    Error::Other(err.to_string())
}

/// Commands that would change the state of a connection other requests of
/// the app share.
const CONNECTION_STATE_COMMANDS: &[&str] = &[
    "MULTI",
    "EXEC",
    "DISCARD",
    "WATCH",
    "UNWATCH",
    "SELECT",
    "SUBSCRIBE",
    "PSUBSCRIBE",
    "SSUBSCRIBE",
    "UNSUBSCRIBE",
    "PUNSUBSCRIBE",
    "SUNSUBSCRIBE",
    "MONITOR",
    "RESET",
    "QUIT",
    "CLIENT",
    "HELLO",
    "AUTH",
];

/// Whether `command` (upper case) with `arguments` may wait on the server:
/// the blocking list, sorted-set and stream reads, and `WAIT`.
fn blocks(command: &str, arguments: &[RedisParameter]) -> bool {
    const BLOCKING: &[&str] = &[
        "BLPOP",
        "BRPOP",
        "BRPOPLPUSH",
        "BLMOVE",
        "BLMPOP",
        "BZPOPMIN",
        "BZPOPMAX",
        "BZMPOP",
        "WAIT",
        "WAITAOF",
    ];
    if BLOCKING.contains(&command) {
        return true;
    }
    (command == "XREAD" || command == "XREADGROUP")
        && arguments.iter().any(|argument| {
            matches!(argument, RedisParameter::Binary(b) if b.eq_ignore_ascii_case(b"BLOCK"))
        })
}

async fn execute(
    redis: RedisLink,
    command: String,
    arguments: Vec<RedisParameter>,
) -> Result<Vec<RedisResult>, Error> {
    let name = command.to_ascii_uppercase();
    if CONNECTION_STATE_COMMANDS.contains(&name.as_str()) {
        return Err(Error::Other(format!(
            "{name} is not available through execute: the connection is shared by the app's requests"
        )));
    }
    let blocking = blocks(&name, &arguments);
    let mut cmd = redis::cmd(&command);
    for argument in arguments {
        match argument {
            RedisParameter::Int64(i) => cmd.arg(i),
            RedisParameter::Binary(b) => cmd.arg(b),
        };
    }
    // A command that blocks until something happens runs on a connection of
    // its own: on the shared one it would hold up the app's other requests.
    let value: Value = if blocking {
        let mut own = redis.dedicated().await?;
        cmd.query_async(&mut own).await.map_err(error)?
    } else {
        redis.query(&cmd).await.map_err(error)?
    };
    let mut results = Vec::new();
    flatten(value, &mut results)?;
    Ok(results)
}

/// The reply of `execute` as the interface's list: arrays and sets are
/// flattened, as Spin does.
fn flatten(value: Value, out: &mut Vec<RedisResult>) -> Result<(), Error> {
    match value {
        Value::Nil => out.push(RedisResult::Nil),
        Value::Int(i) => out.push(RedisResult::Int64(i)),
        Value::BulkString(bytes) => out.push(RedisResult::Binary(bytes)),
        Value::SimpleString(s) => out.push(RedisResult::Status(s)),
        Value::Okay => out.push(RedisResult::Status("OK".to_owned())),
        Value::Array(values) | Value::Set(values) => {
            for value in values {
                flatten(value, out)?;
            }
        }
        Value::Double(d) => out.push(RedisResult::Binary(d.to_string().into_bytes())),
        Value::Boolean(b) => out.push(RedisResult::Int64(i64::from(b))),
        Value::VerbatimString { text, .. } => out.push(RedisResult::Binary(text.into_bytes())),
        Value::ServerError(err) => {
            return Err(error(RedisError::from(err)));
        }
        other => {
            return Err(Error::Other(format!(
                "cannot convert the Redis reply to the interface's results: {other:?}"
            )))
        }
    }
    Ok(())
}

/// The commands both versions share, on a connection taken out of the
/// store (through [`RedisLink::query`]: one path, one retry rule).
struct Commands(RedisLink);

impl Commands {
    async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, Error> {
        self.0.query(&cmd).await.map_err(error)
    }

    async fn publish(self, channel: String, payload: Vec<u8>) -> Result<(), Error> {
        self.run(redis::cmd("PUBLISH").arg(channel).arg(payload).to_owned())
            .await
    }

    async fn get(self, key: String) -> Result<Option<Vec<u8>>, Error> {
        self.run(redis::cmd("GET").arg(key).to_owned()).await
    }

    async fn set(self, key: String, value: Vec<u8>) -> Result<(), Error> {
        self.run(redis::cmd("SET").arg(key).arg(value).to_owned())
            .await
    }

    async fn incr(self, key: String) -> Result<i64, Error> {
        self.run(redis::cmd("INCRBY").arg(key).arg(1).to_owned())
            .await
    }

    async fn del(self, keys: Vec<String>) -> Result<u32, Error> {
        self.run(redis::cmd("DEL").arg(keys).to_owned()).await
    }

    async fn sadd(self, key: String, values: Vec<String>) -> Result<u32, Error> {
        self.run(redis::cmd("SADD").arg(key).arg(values).to_owned())
            .await
    }

    async fn smembers(self, key: String) -> Result<Vec<String>, Error> {
        self.run(redis::cmd("SMEMBERS").arg(key).to_owned()).await
    }

    async fn srem(self, key: String, values: Vec<String>) -> Result<u32, Error> {
        self.run(redis::cmd("SREM").arg(key).arg(values).to_owned())
            .await
    }
}

impl v2::Host for RedisView<'_> {}

impl v2::HostConnection for RedisView<'_> {
    async fn open(&mut self, address: String) -> Outcome<Resource<Connection>> {
        if let Err(err) = self.reserve() {
            return Ok(Err(err));
        }
        match open(self.instance.component.clone(), &address).await {
            Ok(redis) => Ok(Ok(self.table.push(Connection { redis })?)),
            Err(err) => {
                self.release();
                Ok(Err(err))
            }
        }
    }

    async fn publish(
        &mut self,
        connection: Resource<Connection>,
        channel: String,
        payload: Vec<u8>,
    ) -> Outcome<()> {
        Ok(Commands(self.redis(&connection)?)
            .publish(channel, payload)
            .await)
    }

    async fn get(
        &mut self,
        connection: Resource<Connection>,
        key: String,
    ) -> Outcome<Option<Vec<u8>>> {
        Ok(Commands(self.redis(&connection)?).get(key).await)
    }

    async fn set(
        &mut self,
        connection: Resource<Connection>,
        key: String,
        value: Vec<u8>,
    ) -> Outcome<()> {
        Ok(Commands(self.redis(&connection)?).set(key, value).await)
    }

    async fn incr(&mut self, connection: Resource<Connection>, key: String) -> Outcome<i64> {
        Ok(Commands(self.redis(&connection)?).incr(key).await)
    }

    async fn del(&mut self, connection: Resource<Connection>, keys: Vec<String>) -> Outcome<u32> {
        Ok(Commands(self.redis(&connection)?).del(keys).await)
    }

    async fn sadd(
        &mut self,
        connection: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> Outcome<u32> {
        Ok(Commands(self.redis(&connection)?).sadd(key, values).await)
    }

    async fn smembers(
        &mut self,
        connection: Resource<Connection>,
        key: String,
    ) -> Outcome<Vec<String>> {
        Ok(Commands(self.redis(&connection)?).smembers(key).await)
    }

    async fn srem(
        &mut self,
        connection: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> Outcome<u32> {
        Ok(Commands(self.redis(&connection)?).srem(key, values).await)
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> Outcome<Vec<RedisResult>> {
        Ok(execute(self.redis(&connection)?, command, arguments).await)
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        self.release();
        Ok(())
    }
}

// spin:redis@3.0.0: every function is async (component-model async ABI) and
// reaches the store through an accessor, never across an await.

type V3Accessor<T> = Accessor<T, HasRedis>;
type V3Outcome<T> = wasmtime::Result<Result<T, v3::Error>>;

impl From<Error> for v3::Error {
    fn from(err: Error) -> v3::Error {
        match err {
            Error::InvalidAddress => v3::Error::InvalidAddress,
            Error::TooManyConnections => v3::Error::TooManyConnections,
            Error::TypeError => v3::Error::TypeError,
            Error::Other(why) => v3::Error::Other(why),
        }
    }
}

fn parameter_from3(parameter: v3::RedisParameter) -> RedisParameter {
    match parameter {
        v3::RedisParameter::Int64(i) => RedisParameter::Int64(i),
        v3::RedisParameter::Binary(b) => RedisParameter::Binary(b),
    }
}

fn result_into3(result: RedisResult) -> v3::RedisResult {
    match result {
        RedisResult::Nil => v3::RedisResult::Nil,
        RedisResult::Status(s) => v3::RedisResult::Status(s),
        RedisResult::Int64(i) => v3::RedisResult::Int64(i),
        RedisResult::Binary(b) => v3::RedisResult::Binary(b),
    }
}

/// An outcome of the 2.0 types in the 3.0 types.
fn v3<T, U>(result: Result<T, Error>, convert: impl FnOnce(T) -> U) -> V3Outcome<U> {
    Ok(result.map(convert).map_err(Into::into))
}

fn commands<T>(
    accessor: &V3Accessor<T>,
    connection: &Resource<Connection>,
) -> wasmtime::Result<Commands> {
    accessor.with(|mut access| Ok(Commands(access.get().redis(connection)?)))
}

impl v3::Host for RedisView<'_> {}

impl v3::HostConnection for RedisView<'_> {
    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        self.release();
        Ok(())
    }
}

impl<T> v3::HostConnectionWithStore<T> for HasRedis {
    async fn open(accessor: &V3Accessor<T>, address: String) -> V3Outcome<Resource<Connection>> {
        let component = accessor.with(|mut access| {
            let mut view = access.get();
            view.reserve().map(|()| view.instance.component.clone())
        });
        let component = match component {
            Ok(component) => component,
            Err(err) => return Ok(Err(err.into())),
        };
        let result = open(component, &address).await;
        accessor.with(|mut access| {
            let mut view = access.get();
            match result {
                Ok(redis) => Ok(Ok(view.table.push(Connection { redis })?)),
                Err(err) => {
                    view.release();
                    Ok(Err(err.into()))
                }
            }
        })
    }

    async fn publish(
        accessor: &V3Accessor<T>,
        connection: Resource<Connection>,
        channel: String,
        payload: Vec<u8>,
    ) -> V3Outcome<()> {
        v3(
            commands(accessor, &connection)?
                .publish(channel, payload)
                .await,
            |x| x,
        )
    }

    async fn get(
        accessor: &V3Accessor<T>,
        connection: Resource<Connection>,
        key: String,
    ) -> V3Outcome<Option<Vec<u8>>> {
        v3(commands(accessor, &connection)?.get(key).await, |x| x)
    }

    async fn set(
        accessor: &V3Accessor<T>,
        connection: Resource<Connection>,
        key: String,
        value: Vec<u8>,
    ) -> V3Outcome<()> {
        v3(
            commands(accessor, &connection)?.set(key, value).await,
            |x| x,
        )
    }

    async fn incr(
        accessor: &V3Accessor<T>,
        connection: Resource<Connection>,
        key: String,
    ) -> V3Outcome<i64> {
        v3(commands(accessor, &connection)?.incr(key).await, |x| x)
    }

    async fn del(
        accessor: &V3Accessor<T>,
        connection: Resource<Connection>,
        keys: Vec<String>,
    ) -> V3Outcome<u32> {
        v3(commands(accessor, &connection)?.del(keys).await, |x| x)
    }

    async fn sadd(
        accessor: &V3Accessor<T>,
        connection: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> V3Outcome<u32> {
        v3(
            commands(accessor, &connection)?.sadd(key, values).await,
            |x| x,
        )
    }

    async fn smembers(
        accessor: &V3Accessor<T>,
        connection: Resource<Connection>,
        key: String,
    ) -> V3Outcome<Vec<String>> {
        v3(commands(accessor, &connection)?.smembers(key).await, |x| x)
    }

    async fn srem(
        accessor: &V3Accessor<T>,
        connection: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> V3Outcome<u32> {
        v3(
            commands(accessor, &connection)?.srem(key, values).await,
            |x| x,
        )
    }

    async fn execute(
        accessor: &V3Accessor<T>,
        connection: Resource<Connection>,
        command: String,
        arguments: Vec<v3::RedisParameter>,
    ) -> V3Outcome<Vec<v3::RedisResult>> {
        let redis = accessor.with(|mut access| access.get().redis(&connection))?;
        let arguments = arguments.into_iter().map(parameter_from3).collect();
        v3(execute(redis, command, arguments).await, |results| {
            results.into_iter().map(result_into3).collect()
        })
    }
}
