//! The PostgreSQL backend: every store of every app sharing a database in
//! one table, so a fleet of nodes shares key-value state in the database it
//! already runs.
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS nimbus_key_value (
//!     app   TEXT  NOT NULL,
//!     store TEXT  NOT NULL,
//!     key   TEXT  NOT NULL,
//!     value BYTEA NOT NULL,
//!     PRIMARY KEY (app, store, key)
//! )
//! ```
//!
//! The table is created (in the first schema of the connection's
//! `search_path`) on first use, unless it exists already: a database user
//! without `CREATE` rights works on a table an administrator made. The app
//! id is part of every key, as Redis's key prefix is: apps and stores
//! sharing a database never see each other's keys.
//!
//! Atomicity: every operation is one statement, so it is atomic by itself.
//! `increment` is one `INSERT … ON CONFLICT DO UPDATE … RETURNING` (the
//! value is decimal text, as on the other backends; a value that is not a
//! decimal integer, or a sum that overflows, fails the statement, changing
//! nothing). Compare-and-swap is one conditional statement
//! (`UPDATE … WHERE value = expected`, or, when the key must not exist,
//! `INSERT … ON CONFLICT DO NOTHING`): PostgreSQL rechecks the condition on
//! the newest row version, so concurrent swaps have one winner. When it does
//! not swap, the value it reports is read right after. `set_many` is one
//! `INSERT … SELECT FROM unnest(…)`: all pairs or none.
//!
//! Connections: one pool per URL per app (see [`POOL_SIZE`]), created at
//! configure time without connecting, so an app starts while PostgreSQL is
//! down. A connection attempt gives up after [`CONNECT_TIMEOUT`], a
//! statement after [`OP_TIMEOUT`]. While PostgreSQL is unreachable every
//! call fails quickly with `other("postgres unavailable: ...")`; broken
//! connections never go back to the pool (and one that breaks empties the
//! pool of its idle ones, which the same restart broke), so calls succeed
//! again as soon as PostgreSQL is back. Calls that are safe to repeat (get,
//! set, delete, exists, keys, batch) are retried once when a pooled
//! connection turns out to be broken; `increment` and compare-and-swap are
//! not (a lost reply might hide an applied change). No message holds the
//! password.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use crate::store::{add_counter, parse_counter, CasOutcome, KvError};

/// The table (see the module docs).
pub(crate) const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS nimbus_key_value (
    app   TEXT  NOT NULL,
    store TEXT  NOT NULL,
    key   TEXT  NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (app, store, key)
)";

/// The longest a new connection may take (a connection string's own
/// `connect_timeout` may only shorten it).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest one statement may take once connected.
pub(crate) const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// The most connections one pool keeps open (busy or idle); a call that
/// needs one more waits up to [`CONNECT_TIMEOUT`] for one.
pub(crate) const POOL_SIZE: usize = 16;

const GET: &str = "SELECT value FROM nimbus_key_value WHERE app = $1 AND store = $2 AND key = $3";
const SET: &str = "INSERT INTO nimbus_key_value (app, store, key, value) VALUES ($1, $2, $3, $4)
    ON CONFLICT (app, store, key) DO UPDATE SET value = EXCLUDED.value";
const EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM nimbus_key_value
    WHERE app = $1 AND store = $2 AND key = $3)";
const KEYS: &str = "SELECT key FROM nimbus_key_value WHERE app = $1 AND store = $2
    ORDER BY key COLLATE \"C\"";
/// A missing key starts at `$4`; an existing value must be a decimal
/// integer (exactly what `str::parse::<i64>` takes: PostgreSQL's own bigint
/// input also takes spaces, `_` and `0x`), else the CASE is NULL and the
/// NOT NULL constraint fails the statement; an overflow fails the cast.
const INCREMENT: &str = "INSERT INTO nimbus_key_value AS kv (app, store, key, value)
    VALUES ($1, $2, $3, decode($4::bigint::text, 'escape'))
    ON CONFLICT (app, store, key) DO UPDATE SET value = decode((
        CASE WHEN encode(kv.value, 'escape') ~ '^[+-]?[0-9]+$'
             THEN encode(kv.value, 'escape')::bigint END
        + $4::bigint)::text, 'escape')
    RETURNING kv.value";
const SWAP_IF_EQUAL: &str = "UPDATE nimbus_key_value SET value = $5
    WHERE app = $1 AND store = $2 AND key = $3 AND value = $4";
const INSERT_IF_ABSENT: &str = "INSERT INTO nimbus_key_value (app, store, key, value)
    VALUES ($1, $2, $3, $4) ON CONFLICT (app, store, key) DO NOTHING";
const GET_MANY: &str = "SELECT key, value FROM nimbus_key_value
    WHERE app = $1 AND store = $2 AND key = ANY($3::text[])";
const SET_MANY: &str = "INSERT INTO nimbus_key_value (app, store, key, value)
    SELECT $1, $2, k, v FROM unnest($3::text[], $4::bytea[]) AS pairs (k, v)
    ON CONFLICT (app, store, key) DO UPDATE SET value = EXCLUDED.value";
const DELETE_MANY: &str = "DELETE FROM nimbus_key_value
    WHERE app = $1 AND store = $2 AND key = ANY($3::text[])";

pub(crate) struct PostgresDb {
    pool: Pool,
    /// `postgres://user@host:port/db`: never the password.
    url_for_messages: String,
    schema_ready: AtomicBool,
    schema_lock: tokio::sync::Mutex<()>,
    /// Whether the last call found PostgreSQL unreachable (for logging the
    /// outage once, and its end).
    down: AtomicBool,
}

enum Failure {
    /// PostgreSQL cannot be reached (refused, dropped, timed out, shutting
    /// down). `retry`: it broke a pooled connection, so a repeatable call
    /// may try again on a fresh one.
    Unavailable { why: String, retry: bool },
    /// The table is gone (dropped since it was created): create it again
    /// and retry (the failed statement changed nothing).
    NoTable,
    /// PostgreSQL answered with an error.
    Query(tokio_postgres::Error),
}

impl From<Failure> for KvError {
    fn from(failure: Failure) -> KvError {
        match failure {
            Failure::Unavailable { why, .. } => {
                KvError::Other(format!("postgres unavailable: {why}"))
            }
            Failure::NoTable => {
                KvError::Other("postgres error: the table nimbus_key_value is missing".into())
            }
            Failure::Query(err) => KvError::Other(format!("postgres error: {}", describe(&err))),
        }
    }
}

/// An error of `tokio-postgres` as text: the server's message, or the
/// client's (which never holds the connection string).
fn describe(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            use std::error::Error as _;
            match err.source() {
                Some(source) => format!("{err}: {source}"),
                None => err.to_string(),
            }
        }
    }
}

/// Whether `err` means the connection (or the server) is gone, rather than
/// a statement that failed.
fn is_connection_error(err: &tokio_postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    if let Some(db) = err.as_db_error() {
        // Class 08: connection exception; 57P0x: admin/crash shutdown,
        // starting up, database dropped, idle session timeout.
        let code = db.code().code();
        return code.starts_with("08") || code.starts_with("57P");
    }
    use std::error::Error as _;
    let mut source = err.source();
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The description of `config` for messages: `postgres://user@host:port/db`.
fn describe_config(config: &tokio_postgres::Config) -> String {
    let user = config.get_user().unwrap_or("");
    let mut hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            Host::Tcp(name) if name.contains(':') && !name.starts_with('[') => format!("[{name}]"),
            Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    if hosts.is_empty() {
        hosts = config
            .get_hostaddrs()
            .iter()
            .map(|addr| match addr {
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                std::net::IpAddr::V4(v4) => v4.to_string(),
            })
            .collect();
    }
    let ports = config.get_ports();
    let hosts = hosts
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports
                .get(i)
                .or_else(|| ports.first())
                .copied()
                .unwrap_or(5432);
            format!("{host}:{port}")
        })
        .collect::<Vec<_>>()
        .join(",");
    let db = config.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{hosts}/{db}")
}

/// Parses a `postgres://user:password@host:port/db` URL or a key=value
/// connection string (`host=… user=… password=… dbname=…`). The error says
/// what is wrong without quoting the string (it may hold the password).
pub(crate) fn parse_url(url: &str) -> Result<tokio_postgres::Config, String> {
    let url = url.trim();
    if url.is_empty() {
        return Err("the url is empty".into());
    }
    if let Some((scheme, _)) = url.split_once("://") {
        if !scheme.contains(char::is_whitespace)
            && !scheme.contains('=')
            && scheme != "postgres"
            && scheme != "postgresql"
        {
            return Err(format!(
                "a {scheme}:// URL is not a PostgreSQL address: use \
                 postgres://user:password@host:port/database (or a key=value connection string)"
            ));
        }
    }
    let config: tokio_postgres::Config = url.parse().map_err(|err: tokio_postgres::Error| {
        use std::error::Error as _;
        let detail = err.source().map(|s| s.to_string()).unwrap_or_default();
        // These two quote a piece of the string, which may be part of an
        // unquoted password: never repeated.
        if detail.starts_with("unknown option") {
            "it has an unknown option name (or a value with spaces not in single quotes)".to_owned()
        } else if detail.starts_with("unexpected character") || detail.is_empty() {
            "it is not a postgres://user:password@host:port/database URL or a key=value \
             connection string"
                .to_owned()
        } else {
            format!("it is not a valid connection string ({detail})")
        }
    })?;
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        return Err("it names no host (postgres://user:password@HOST:port/database)".into());
    }
    if config.get_user().is_none_or(str::is_empty) {
        return Err("it names no user (postgres://USER:password@host:port/database)".into());
    }
    if config.get_ssl_mode() == SslMode::Require {
        return Err(
            "sslmode=require: TLS connections are not supported by the postgres key-value \
             backend yet"
                .into(),
        );
    }
    Ok(config)
}

/// `key` as PostgreSQL `TEXT` can hold it.
fn check_key(key: &str) -> Result<(), KvError> {
    if key.contains('\0') {
        return Err(KvError::Other(format!(
            "postgres: key {key:?} cannot be stored: PostgreSQL text cannot hold NUL characters"
        )));
    }
    Ok(())
}

impl PostgresDb {
    /// Validates `url` (see [`parse_url`]) and makes the pool; connects on
    /// first use.
    pub fn new(url: &str) -> Result<Arc<PostgresDb>, String> {
        let mut config = parse_url(url)?;
        let url_for_messages = describe_config(&config);
        let connect_timeout = config
            .get_connect_timeout()
            .map_or(CONNECT_TIMEOUT, |t| (*t).min(CONNECT_TIMEOUT));
        config.connect_timeout(connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("nimbus-key-value");
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // Only `is_closed` is checked when a connection is reused: a
                // connection whose server went away is closed by then (its
                // task saw the socket end); one that breaks anyway is
                // dropped by `settle` and the call retried if repeatable.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|err| format!("cannot make a connection pool: {err}"))?;
        Ok(Arc::new(PostgresDb {
            pool,
            url_for_messages,
            schema_ready: AtomicBool::new(false),
            schema_lock: tokio::sync::Mutex::new(()),
            down: AtomicBool::new(false),
        }))
    }

    pub fn url_for_messages(&self) -> &str {
        &self.url_for_messages
    }

    /// Logs the start of an outage (once) or its end.
    fn note_reachable(&self, reachable: bool) {
        if reachable {
            if self.down.load(Ordering::Relaxed) && self.down.swap(false, Ordering::Relaxed) {
                tracing::info!("postgres {} is reachable again", self.url_for_messages);
            }
        } else if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "postgres {} unavailable; key-value calls on it fail until it is back",
                self.url_for_messages
            );
        }
    }

    /// A pooled connection, the table made sure of.
    async fn connection(&self) -> Result<Object, Failure> {
        let object = self.pool.get().await.map_err(|err| {
            let why = match err {
                PoolError::Timeout(deadpool_postgres::TimeoutType::Wait) => format!(
                    "all {POOL_SIZE} connections to {} are busy",
                    self.url_for_messages
                ),
                PoolError::Timeout(_) => format!(
                    "cannot connect to {}: no connection within {CONNECT_TIMEOUT:?}",
                    self.url_for_messages
                ),
                PoolError::Backend(err) => {
                    format!(
                        "cannot connect to {}: {}",
                        self.url_for_messages,
                        describe(&err)
                    )
                }
                other => format!("cannot connect to {}: {other}", self.url_for_messages),
            };
            Failure::Unavailable { why, retry: false }
        })?;
        if !self.schema_ready.load(Ordering::Acquire) {
            match tokio::time::timeout(OP_TIMEOUT, self.ensure_schema(&object)).await {
                Ok(Ok(())) => Ok(object),
                Ok(Err(err)) => Err(self.failure(object, Some(err))),
                Err(_) => Err(self.failure(object, None)),
            }
        } else {
            Ok(object)
        }
    }

    /// Creates the table unless it exists (once per pool, again if it was
    /// dropped).
    async fn ensure_schema(&self, client: &Object) -> Result<(), tokio_postgres::Error> {
        let _guard = self.schema_lock.lock().await;
        if self.schema_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        const EXISTS: &str = "SELECT to_regclass('nimbus_key_value') IS NOT NULL";
        let exists: bool = client.query_one(EXISTS, &[]).await?.get(0);
        if !exists {
            if let Err(err) = client.batch_execute(SCHEMA).await {
                // Another node may have created it at the same moment:
                // PostgreSQL reports that race as a duplicate type, a
                // unique violation on its catalog, or a duplicate table.
                let created_meanwhile = !is_connection_error(&err)
                    && client.query_one(EXISTS, &[]).await?.get::<_, bool>(0);
                if !created_meanwhile {
                    return Err(err);
                }
            }
            tracing::info!(
                "key-value: table nimbus_key_value ready in {}",
                self.url_for_messages
            );
        }
        self.schema_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Turns the outcome of a statement on `object` into a result.
    fn settle<T>(
        &self,
        object: Object,
        result: Result<Result<T, tokio_postgres::Error>, tokio::time::error::Elapsed>,
    ) -> Result<T, Failure> {
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(self.failure(object, Some(err))),
            Err(_) => Err(self.failure(object, None)),
        }
    }

    /// What a failed statement on `object` means (`None`: it timed out).
    /// A connection that broke or timed out never goes back to the pool.
    fn failure(&self, object: Object, err: Option<tokio_postgres::Error>) -> Failure {
        match err {
            Some(err) if is_connection_error(&err) => {
                drop(Object::take(object));
                // The server restarted or dropped its connections: the idle
                // ones are most likely broken too (their tasks may not have
                // seen it yet). A retry then gets a fresh connection.
                drop(self.pool.retain(|_, _| false));
                Failure::Unavailable {
                    why: format!("{}: {}", self.url_for_messages, describe(&err)),
                    retry: true,
                }
            }
            Some(err) if err.code() == Some(&SqlState::UNDEFINED_TABLE) => {
                self.schema_ready.store(false, Ordering::Release);
                Failure::NoTable
            }
            Some(err) => Failure::Query(err),
            None => {
                // An answer may still come: never hand this connection out.
                drop(Object::take(object));
                Failure::Unavailable {
                    why: format!(
                        "no answer from {} within {OP_TIMEOUT:?}",
                        self.url_for_messages
                    ),
                    retry: false,
                }
            }
        }
    }
}

/// Runs `$body` (an expression of type `Result<T, tokio_postgres::Error>`
/// that uses `$client: &Object`) on a pooled connection, under
/// [`OP_TIMEOUT`]; once more if the table had to be recreated, or if
/// `$repeatable` and the connection broke. Evaluates to
/// `Result<T, Failure>`.
macro_rules! on_connection {
    ($db:expr, repeatable = $repeatable:expr, |$client:ident| $body:expr) => {{
        let db: &PostgresDb = $db;
        let mut retried = false;
        loop {
            let outcome = match db.connection().await {
                Ok(object) => {
                    let result = {
                        let $client: &Object = &object;
                        tokio::time::timeout(OP_TIMEOUT, async { $body }).await
                    };
                    db.settle(object, result)
                }
                Err(failure) => Err(failure),
            };
            match outcome {
                Err(Failure::NoTable) if !retried => retried = true,
                Err(Failure::Unavailable { retry: true, .. }) if $repeatable && !retried => {
                    retried = true
                }
                other => {
                    match &other {
                        Err(Failure::Unavailable { .. }) => db.note_reachable(false),
                        Err(Failure::Query(_)) | Ok(_) => db.note_reachable(true),
                        Err(Failure::NoTable) => {}
                    }
                    break other;
                }
            }
        }
    }};
}

impl PostgresDb {
    pub async fn get(&self, app: &str, store: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        check_key(key)?;
        let row = on_connection!(self, repeatable = true, |client| {
            let stmt = client.prepare_cached(GET).await?;
            client.query_opt(&stmt, &[&app, &store, &key]).await
        })?;
        Ok(row.map(|row| row.get::<_, Vec<u8>>(0)))
    }

    pub async fn set(
        &self,
        app: &str,
        store: &str,
        key: &str,
        value: Vec<u8>,
    ) -> Result<(), KvError> {
        check_key(key)?;
        on_connection!(self, repeatable = true, |client| {
            let stmt = client.prepare_cached(SET).await?;
            client.execute(&stmt, &[&app, &store, &key, &value]).await
        })?;
        Ok(())
    }

    pub async fn exists(&self, app: &str, store: &str, key: &str) -> Result<bool, KvError> {
        check_key(key)?;
        let row = on_connection!(self, repeatable = true, |client| {
            let stmt = client.prepare_cached(EXISTS).await?;
            client.query_one(&stmt, &[&app, &store, &key]).await
        })?;
        Ok(row.get(0))
    }

    pub async fn keys(&self, app: &str, store: &str) -> Result<Vec<String>, KvError> {
        let rows = on_connection!(self, repeatable = true, |client| {
            let stmt = client.prepare_cached(KEYS).await?;
            client.query(&stmt, &[&app, &store]).await
        })?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    pub async fn increment(
        &self,
        app: &str,
        store: &str,
        key: &str,
        delta: i64,
    ) -> Result<i64, KvError> {
        check_key(key)?;
        let result = on_connection!(self, repeatable = false, |client| {
            let stmt = client.prepare_cached(INCREMENT).await?;
            client.query_one(&stmt, &[&app, &store, &key, &delta]).await
        });
        match result {
            Ok(row) => parse_counter(key, &row.get::<_, Vec<u8>>(0)),
            Err(Failure::Query(err))
                if matches!(
                    err.code(),
                    Some(&SqlState::NOT_NULL_VIOLATION)
                        | Some(&SqlState::NUMERIC_VALUE_OUT_OF_RANGE)
                        | Some(&SqlState::INVALID_TEXT_REPRESENTATION)
                ) =>
            {
                // Nothing changed; say why as the other backends do.
                let current = self.get(app, store, key).await?;
                let reason = current
                    .as_deref()
                    .map(|value| parse_counter(key, value))
                    .transpose()
                    .and_then(|n| add_counter(key, n.unwrap_or(0), delta));
                Err(match reason {
                    Err(err) => err,
                    // Changed meanwhile: the statement's own reason.
                    Ok(_) => {
                        KvError::Other(format!("cannot increment key {key:?}: {}", describe(&err)))
                    }
                })
            }
            Err(failure) => Err(failure.into()),
        }
    }

    pub async fn compare_and_swap(
        &self,
        app: &str,
        store: &str,
        key: &str,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<CasOutcome, KvError> {
        check_key(key)?;
        let changed = on_connection!(self, repeatable = false, |client| {
            match &expected {
                Some(expected) => {
                    let stmt = client.prepare_cached(SWAP_IF_EQUAL).await?;
                    client
                        .execute(&stmt, &[&app, &store, &key, expected, &new])
                        .await
                }
                None => {
                    let stmt = client.prepare_cached(INSERT_IF_ABSENT).await?;
                    client.execute(&stmt, &[&app, &store, &key, &new]).await
                }
            }
        })?;
        if changed == 1 {
            return Ok(CasOutcome::Swapped);
        }
        let current = self.get(app, store, key).await?;
        Ok(CasOutcome::Changed { current })
    }

    pub async fn get_many(
        &self,
        app: &str,
        store: &str,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, KvError> {
        for key in &keys {
            check_key(key)?;
        }
        let rows = on_connection!(self, repeatable = true, |client| {
            let stmt = client.prepare_cached(GET_MANY).await?;
            client.query(&stmt, &[&app, &store, &keys]).await
        })?;
        let found: HashMap<String, Vec<u8>> = rows
            .iter()
            .map(|row| (row.get::<_, String>(0), row.get::<_, Vec<u8>>(1)))
            .collect();
        Ok(keys
            .into_iter()
            .map(|key| {
                // A key asked for twice gets its value twice.
                let value = found.get(&key).cloned();
                (key, value)
            })
            .collect())
    }

    pub async fn set_many(
        &self,
        app: &str,
        store: &str,
        pairs: Vec<(String, Vec<u8>)>,
    ) -> Result<(), KvError> {
        // One statement cannot write a row twice: the last value of a key
        // given more than once wins (as when they are set one by one).
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(pairs.len());
        for (i, (key, _)) in pairs.iter().enumerate() {
            check_key(key)?;
            last.insert(key, i);
        }
        let (keys, values): (Vec<&str>, Vec<&[u8]>) = pairs
            .iter()
            .enumerate()
            .filter(|(i, (key, _))| last.get(key.as_str()) == Some(i))
            .map(|(_, (key, value))| (key.as_str(), value.as_slice()))
            .unzip();
        on_connection!(self, repeatable = true, |client| {
            let stmt = client.prepare_cached(SET_MANY).await?;
            client.execute(&stmt, &[&app, &store, &keys, &values]).await
        })?;
        Ok(())
    }

    pub async fn delete_many(
        &self,
        app: &str,
        store: &str,
        keys: Vec<String>,
    ) -> Result<(), KvError> {
        for key in &keys {
            check_key(key)?;
        }
        on_connection!(self, repeatable = true, |client| {
            let stmt = client.prepare_cached(DELETE_MANY).await?;
            client.execute(&stmt, &[&app, &store, &keys]).await
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_connection_strings() {
        let config = parse_url("postgres://nimbus:s3cret@127.0.0.1:5433/kv").unwrap();
        assert_eq!(config.get_user(), Some("nimbus"));
        assert_eq!(config.get_ports(), &[5433]);
        assert_eq!(
            describe_config(&config),
            "postgres://nimbus@127.0.0.1:5433/kv"
        );

        let config = parse_url("host=db.internal user=app password='a b' dbname=shared").unwrap();
        assert_eq!(
            describe_config(&config),
            "postgres://app@db.internal:5432/shared"
        );

        let config = parse_url("postgresql://app@[::1]").unwrap();
        assert_eq!(describe_config(&config), "postgres://app@[::1]:5432/app");
    }

    #[test]
    fn refuses_bad_urls_without_quoting_them() {
        for (url, says) in [
            ("", "empty"),
            ("redis://user:s3cret@host", "redis://"),
            ("http://user:s3cret@example.com", "http://"),
            ("postgres://user:s3cret@host:notaport/db", "port"),
            ("postgres://user:s3cret@/db", "no host"),
            ("postgres://host:5432/db", "no user"),
            (
                "host=h user=u password=s3cret x",
                "not a valid connection string",
            ),
            ("host=h user=u password=s3cret x y", "not a postgres://"),
            ("host=h user=u password=se cret=1", "unknown option"),
            ("host=h user=u password='s3cret", "unterminated"),
            ("postgres://u:s3cret@h/db?sslmode=require", "TLS"),
        ] {
            let err = parse_url(url).unwrap_err();
            assert!(err.contains(says), "{url}: {err}");
            assert!(
                !err.contains("s3cret") && !err.contains("cret"),
                "{url}: {err}"
            );
        }
    }

    #[test]
    fn pools_are_made_without_connecting() {
        // Nothing listens there; creating the pool must not care.
        let db = PostgresDb::new("postgres://u:pw@127.0.0.1:1/db").unwrap();
        assert_eq!(db.url_for_messages(), "postgres://u@127.0.0.1:1/db");
    }

    #[test]
    fn nul_keys_are_refused_clearly() {
        assert!(check_key("a\0b").is_err());
        assert!(check_key("ключ").is_ok());
    }
}
