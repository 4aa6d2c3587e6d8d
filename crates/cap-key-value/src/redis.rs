//! The Redis backend.
//!
//! Keys are `nimbus:{app}:{store}:{key}`: apps and stores sharing a Redis
//! server never see each other's keys. Values are stored as they are (binary
//! safe); `increment` uses `INCRBY`, so counters are decimal text, and
//! compare-and-swap is a Lua script (`GET`, compare, `SET`), which Redis runs
//! atomically.
//!
//! Connections: one [`ConnectionManager`] (a multiplexed connection that
//! reconnects) per Redis URL per app, created on first use, so an app starts
//! even when Redis is down. While Redis is unreachable every call fails
//! quickly with `other("redis unavailable: ...")` (guests see the error,
//! other routes keep serving); a background task then pings Redis every
//! [`HEAL_INTERVAL`] until it answers, so calls succeed again, without a
//! restart, as soon as Redis is back. Calls that are safe to repeat (get,
//! set, delete, exists, keys, batch) are retried once on a fresh connection;
//! `increment` and compare-and-swap are not (a lost reply might hide an
//! applied change).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Value};

use crate::store::{CasOutcome, KvError};

/// The longest one operation may take, reconnecting included.
const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an unreachable Redis is pinged until it answers.
const HEAL_INTERVAL: Duration = Duration::from_millis(200);

/// `KEYS[1]`: the key; `ARGV[1]`: `1` if a value is expected, `0` if the key
/// must not exist; `ARGV[2]`: the expected value; `ARGV[3]`: the new value.
/// Returns `{1}` when swapped, `{0}` or `{0, current}` when not.
const CAS_SCRIPT: &str = r#"
local current = redis.call('GET', KEYS[1])
local matches
if ARGV[1] == '1' then
  matches = (current ~= false) and (current == ARGV[2])
else
  matches = (current == false)
end
if matches then
  redis.call('SET', KEYS[1], ARGV[3])
  return {1}
end
if current == false then
  return {0}
end
return {0, current}
"#;

pub(crate) struct RedisDb {
    client: redis::Client,
    url_for_messages: String,
    manager: tokio::sync::OnceCell<ConnectionManager>,
    healing: AtomicBool,
    cas: redis::Script,
}

enum Failure {
    /// Redis cannot be reached (refused, dropped, timed out).
    Unavailable(String),
    /// Redis answered with an error.
    Other(String),
}

impl From<Failure> for KvError {
    fn from(failure: Failure) -> KvError {
        match failure {
            Failure::Unavailable(why) => KvError::Other(format!("redis unavailable: {why}")),
            Failure::Other(why) => KvError::Other(format!("redis error: {why}")),
        }
    }
}

fn classify(err: RedisError) -> Failure {
    if err.is_io_error()
        || err.is_connection_refusal()
        || err.is_connection_dropped()
        || err.is_timeout()
        || err.is_unrecoverable_error()
    {
        Failure::Unavailable(err.to_string())
    } else {
        Failure::Other(err.to_string())
    }
}

/// `url` without its password, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{}", &rest[at + 1..])
        }
        None => url.to_owned(),
    }
}

/// `prefix` with the glob characters of `SCAN MATCH` escaped.
fn glob_escape(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl RedisDb {
    /// Validates `url`; connects on first use.
    pub fn new(url: &str) -> Result<Arc<RedisDb>, RedisError> {
        let client = redis::Client::open(url)?;
        Ok(Arc::new(RedisDb {
            client,
            url_for_messages: redact_url(url),
            manager: tokio::sync::OnceCell::new(),
            healing: AtomicBool::new(false),
            cas: redis::Script::new(CAS_SCRIPT),
        }))
    }

    pub fn url_for_messages(&self) -> &str {
        &self.url_for_messages
    }

    async fn connection(&self) -> Result<ConnectionManager, Failure> {
        let manager = self
            .manager
            .get_or_try_init(|| {
                let config = ConnectionManagerConfig::new()
                    // One connection attempt per reconnect, no backoff sleeps
                    // (their minimum is a second): a call fails fast while
                    // Redis is down; `run`'s retry and `heal` reconnect.
                    .set_number_of_retries(0)
                    .set_connection_timeout(Duration::from_secs(2))
                    .set_response_timeout(Duration::from_secs(5));
                ConnectionManager::new_with_config(self.client.clone(), config)
            })
            .await
            .map_err(|err| {
                Failure::Unavailable(format!(
                    "cannot connect to {}: {err}",
                    self.url_for_messages
                ))
            })?;
        Ok(manager.clone())
    }

    async fn attempt<T, F, Fut>(&self, op: &F) -> Result<T, Failure>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        let run = async {
            let conn = self.connection().await?;
            op(conn).await.map_err(classify)
        };
        match tokio::time::timeout(OP_TIMEOUT, run).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Unavailable(format!(
                "no answer from {} within {OP_TIMEOUT:?}",
                self.url_for_messages
            ))),
        }
    }

    /// Runs `op` on a connection; see the module docs for retries.
    async fn run<T, F, Fut>(self: &Arc<Self>, idempotent: bool, op: F) -> Result<T, KvError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        match self.attempt(&op).await {
            Err(Failure::Unavailable(why)) => {
                self.heal();
                if idempotent {
                    // The failed call made the manager start a new
                    // connection; this waits for it.
                    match self.attempt(&op).await {
                        Ok(value) => return Ok(value),
                        Err(failure) => return Err(failure.into()),
                    }
                }
                Err(Failure::Unavailable(why).into())
            }
            result => result.map_err(KvError::from),
        }
    }

    /// Starts (once) a task that pings Redis until it answers, so that the
    /// connection manager holds a live connection again as soon as Redis is
    /// back.
    fn heal(self: &Arc<Self>) {
        if self.healing.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.healing.store(false, Ordering::SeqCst);
            return;
        };
        let weak: Weak<RedisDb> = Arc::downgrade(self);
        tracing::warn!(
            "redis {} unavailable; key-value calls on it fail until it is back",
            self.url_for_messages
        );
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(HEAL_INTERVAL).await;
                let Some(db) = weak.upgrade() else { return };
                let ping = db
                    .attempt(&|mut conn: ConnectionManager| async move {
                        redis::cmd("PING").query_async::<String>(&mut conn).await
                    })
                    .await;
                if ping.is_ok() {
                    tracing::info!("redis {} is reachable again", db.url_for_messages);
                    db.healing.store(false, Ordering::SeqCst);
                    return;
                }
            }
        });
    }

    pub async fn get(
        self: &Arc<Self>,
        prefix: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, KvError> {
        let key = format!("{prefix}{key}");
        self.run(true, |mut conn| {
            let key = key.clone();
            async move {
                redis::cmd("GET")
                    .arg(key)
                    .query_async::<Option<Vec<u8>>>(&mut conn)
                    .await
            }
        })
        .await
    }

    pub async fn set(
        self: &Arc<Self>,
        prefix: &str,
        key: &str,
        value: Vec<u8>,
    ) -> Result<(), KvError> {
        let key = format!("{prefix}{key}");
        self.run(true, |mut conn| {
            let (key, value) = (key.clone(), value.clone());
            async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .query_async::<()>(&mut conn)
                    .await
            }
        })
        .await
    }

    pub async fn exists(self: &Arc<Self>, prefix: &str, key: &str) -> Result<bool, KvError> {
        let key = format!("{prefix}{key}");
        self.run(true, |mut conn| {
            let key = key.clone();
            async move {
                redis::cmd("EXISTS")
                    .arg(key)
                    .query_async::<bool>(&mut conn)
                    .await
            }
        })
        .await
    }

    pub async fn keys(self: &Arc<Self>, prefix: &str) -> Result<Vec<String>, KvError> {
        let pattern = format!("{}*", glob_escape(prefix));
        let prefix = prefix.to_owned();
        self.run(true, |mut conn| {
            let (pattern, prefix) = (pattern.clone(), prefix.clone());
            async move {
                let mut keys = Vec::new();
                let mut cursor = 0u64;
                loop {
                    let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                        .cursor_arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut conn)
                        .await?;
                    keys.extend(batch.into_iter().filter_map(|raw| {
                        let key = String::from_utf8(raw).ok()?;
                        key.strip_prefix(&prefix).map(str::to_owned)
                    }));
                    if next == 0 {
                        return Ok(keys);
                    }
                    cursor = next;
                }
            }
        })
        .await
    }

    pub async fn increment(
        self: &Arc<Self>,
        prefix: &str,
        key: &str,
        delta: i64,
    ) -> Result<i64, KvError> {
        let full = format!("{prefix}{key}");
        self.run(false, |mut conn| {
            let full = full.clone();
            async move {
                redis::cmd("INCRBY")
                    .arg(full)
                    .arg(delta)
                    .query_async::<i64>(&mut conn)
                    .await
            }
        })
        .await
        .map_err(|err| match err {
            KvError::Other(why) if why.starts_with("redis error:") => KvError::Other(format!(
                "cannot increment key {key:?}: {}",
                why.trim_start_matches("redis error: ")
            )),
            other => other,
        })
    }

    pub async fn compare_and_swap(
        self: &Arc<Self>,
        prefix: &str,
        key: &str,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<CasOutcome, KvError> {
        let full = format!("{prefix}{key}");
        let db = self.clone();
        let reply: Vec<Value> = self
            .run(false, |mut conn| {
                let (full, expected, new, db) =
                    (full.clone(), expected.clone(), new.clone(), db.clone());
                async move {
                    db.cas
                        .key(full)
                        .arg(if expected.is_some() { "1" } else { "0" })
                        .arg(expected.unwrap_or_default())
                        .arg(new)
                        .invoke_async(&mut conn)
                        .await
                }
            })
            .await?;
        match reply.as_slice() {
            [Value::Int(1)] => Ok(CasOutcome::Swapped),
            [Value::Int(0)] => Ok(CasOutcome::Changed { current: None }),
            [Value::Int(0), Value::BulkString(current)] => Ok(CasOutcome::Changed {
                current: Some(current.clone()),
            }),
            other => Err(KvError::Other(format!(
                "redis error: unexpected reply to compare-and-swap: {other:?}"
            ))),
        }
    }

    pub async fn get_many(
        self: &Arc<Self>,
        prefix: &str,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, KvError> {
        let full: Vec<String> = keys.iter().map(|k| format!("{prefix}{k}")).collect();
        let values: Vec<Option<Vec<u8>>> = self
            .run(true, |mut conn| {
                let full = full.clone();
                async move { redis::cmd("MGET").arg(full).query_async(&mut conn).await }
            })
            .await?;
        Ok(keys.into_iter().zip(values).collect())
    }

    pub async fn set_many(
        self: &Arc<Self>,
        prefix: &str,
        pairs: Vec<(String, Vec<u8>)>,
    ) -> Result<(), KvError> {
        let full: Vec<(String, Vec<u8>)> = pairs
            .into_iter()
            .map(|(k, v)| (format!("{prefix}{k}"), v))
            .collect();
        self.run(true, |mut conn| {
            let full = full.clone();
            async move {
                let mut cmd = redis::cmd("MSET");
                for (key, value) in full {
                    cmd.arg(key).arg(value);
                }
                cmd.query_async::<()>(&mut conn).await
            }
        })
        .await
    }

    pub async fn delete_many(
        self: &Arc<Self>,
        prefix: &str,
        keys: Vec<String>,
    ) -> Result<(), KvError> {
        let full: Vec<String> = keys.iter().map(|k| format!("{prefix}{k}")).collect();
        self.run(true, |mut conn| {
            let full = full.clone();
            async move {
                redis::cmd("DEL")
                    .arg(full)
                    .query_async::<()>(&mut conn)
                    .await
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(
            redact_url("redis://user:secret@host:6379/0"),
            "redis://user:***@host:6379/0"
        );
        assert_eq!(redact_url("redis://:secret@host"), "redis://:***@host");
    }

    #[test]
    fn escapes_globs() {
        assert_eq!(glob_escape("nimbus:a*b:[x]:"), "nimbus:a\\*b:\\[x\\]:");
    }

    #[test]
    fn refuses_bad_urls() {
        assert!(RedisDb::new("http://localhost").is_err());
        assert!(RedisDb::new("redis://127.0.0.1:6379").is_ok());
    }
}
