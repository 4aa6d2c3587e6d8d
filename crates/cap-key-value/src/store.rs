//! [`Store`]: one store label of one app, on its backend.

use std::sync::Arc;

use crate::postgres::PostgresDb;
use crate::redis::RedisDb;
use crate::sqlite::SqliteDb;

/// An error from a store operation, as guests see it (every guest interface
/// has these three cases).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// The host does not know the store label.
    #[error("no such store")]
    NoSuchStore,
    /// The component is not granted the store.
    #[error("access denied")]
    AccessDenied,
    /// Anything else (I/O, Redis or PostgreSQL down, a value that is not an
    /// integer, …).
    #[error("{0}")]
    Other(String),
}

/// The result of [`Store::compare_and_swap`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CasOutcome {
    /// The value was as expected and has been replaced.
    Swapped,
    /// The value had changed; nothing was written. `current` is the value
    /// now stored (`None`: the key does not exist).
    Changed {
        /// The value the store holds now.
        current: Option<Vec<u8>>,
    },
}

/// A handle to one store of one app: cheap to clone, shared by every
/// instance. Integers written by [`Store::increment`] are stored as their
/// decimal ASCII text (as Redis's `INCRBY` does), so `get` after `increment`
/// returns e.g. `b"42"`.
#[derive(Clone)]
pub struct Store {
    label: Arc<str>,
    backend: Backend,
}

#[derive(Clone)]
pub(crate) enum Backend {
    Sqlite(Arc<SqliteDb>),
    Redis {
        db: Arc<RedisDb>,
        /// `nimbus:{app}:{label}:`
        prefix: Arc<str>,
    },
    Postgres {
        db: Arc<PostgresDb>,
        /// The app id: the `app` column of every row.
        app: Arc<str>,
    },
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("label", &self.label)
            .field("backend", &self.describe())
            .finish()
    }
}

impl Store {
    pub(crate) fn new(label: &str, backend: Backend) -> Store {
        Store {
            label: label.into(),
            backend,
        }
    }

    /// The store label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// `sqlite`, `redis` or `postgres`.
    pub fn backend_kind(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Redis { .. } => "redis",
            Backend::Postgres { .. } => "postgres",
        }
    }

    /// The backend, for logs: `sqlite <file>`, `redis <url without
    /// password>` or `postgres postgres://user@host:port/db`.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Sqlite(db) => format!("sqlite {}", db.path().display()),
            Backend::Redis { db, .. } => format!("redis {}", db.url_for_messages()),
            Backend::Postgres { db, .. } => format!("postgres {}", db.url_for_messages()),
        }
    }

    /// The value of `key`, `None` if it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        match &self.backend {
            Backend::Sqlite(db) => db.get(&self.label, key).await,
            Backend::Redis { db, prefix } => db.get(prefix, key).await,
            Backend::Postgres { db, app } => db.get(app, &self.label, key).await,
        }
    }

    /// Sets `key` to `value`, replacing any value.
    pub async fn set(&self, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        match &self.backend {
            Backend::Sqlite(db) => db.set(&self.label, key, value).await,
            Backend::Redis { db, prefix } => db.set(prefix, key, value).await,
            Backend::Postgres { db, app } => db.set(app, &self.label, key, value).await,
        }
    }

    /// Deletes `key`; no error if it does not exist.
    pub async fn delete(&self, key: &str) -> Result<(), KvError> {
        match &self.backend {
            Backend::Sqlite(db) => db.delete_many(&self.label, vec![key.to_owned()]).await,
            Backend::Redis { db, prefix } => db.delete_many(prefix, vec![key.to_owned()]).await,
            Backend::Postgres { db, app } => {
                db.delete_many(app, &self.label, vec![key.to_owned()]).await
            }
        }
    }

    /// Whether `key` exists.
    pub async fn exists(&self, key: &str) -> Result<bool, KvError> {
        match &self.backend {
            Backend::Sqlite(db) => db.exists(&self.label, key).await,
            Backend::Redis { db, prefix } => db.exists(prefix, key).await,
            Backend::Postgres { db, app } => db.exists(app, &self.label, key).await,
        }
    }

    /// Every key of the store, sorted.
    pub async fn keys(&self) -> Result<Vec<String>, KvError> {
        let mut keys = match &self.backend {
            Backend::Sqlite(db) => db.keys(&self.label).await?,
            Backend::Redis { db, prefix } => db.keys(prefix).await?,
            Backend::Postgres { db, app } => db.keys(app, &self.label).await?,
        };
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// Atomically adds `delta` to the integer stored at `key` (a missing key
    /// counts as 0) and returns the new value. Fails, changing nothing, if
    /// the value is not a decimal integer or the sum overflows an `i64`.
    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        match &self.backend {
            Backend::Sqlite(db) => db.increment(&self.label, key, delta).await,
            Backend::Redis { db, prefix } => db.increment(prefix, key, delta).await,
            Backend::Postgres { db, app } => db.increment(app, &self.label, key, delta).await,
        }
    }

    /// Atomically sets `key` to `new` if its value is `expected` (`None`: the
    /// key must not exist).
    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<CasOutcome, KvError> {
        match &self.backend {
            Backend::Sqlite(db) => db.compare_and_swap(&self.label, key, expected, new).await,
            Backend::Redis { db, prefix } => db.compare_and_swap(prefix, key, expected, new).await,
            Backend::Postgres { db, app } => {
                db.compare_and_swap(app, &self.label, key, expected, new)
                    .await
            }
        }
    }

    /// The values of `keys`, in the same order (`None`: no such key).
    pub async fn get_many(
        &self,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, KvError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        match &self.backend {
            Backend::Sqlite(db) => db.get_many(&self.label, keys).await,
            Backend::Redis { db, prefix } => db.get_many(prefix, keys).await,
            Backend::Postgres { db, app } => db.get_many(app, &self.label, keys).await,
        }
    }

    /// Sets every pair (in one transaction on SQLite, one `MSET` on Redis,
    /// one statement on PostgreSQL).
    pub async fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> Result<(), KvError> {
        if pairs.is_empty() {
            return Ok(());
        }
        match &self.backend {
            Backend::Sqlite(db) => db.set_many(&self.label, pairs).await,
            Backend::Redis { db, prefix } => db.set_many(prefix, pairs).await,
            Backend::Postgres { db, app } => db.set_many(app, &self.label, pairs).await,
        }
    }

    /// Deletes every key (missing ones are skipped).
    pub async fn delete_many(&self, keys: Vec<String>) -> Result<(), KvError> {
        if keys.is_empty() {
            return Ok(());
        }
        match &self.backend {
            Backend::Sqlite(db) => db.delete_many(&self.label, keys).await,
            Backend::Redis { db, prefix } => db.delete_many(prefix, keys).await,
            Backend::Postgres { db, app } => db.delete_many(app, &self.label, keys).await,
        }
    }
}

/// Parses a stored value as the decimal integer `increment` works on.
pub(crate) fn parse_counter(key: &str, value: &[u8]) -> Result<i64, KvError> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse::<i64>().ok())
        .ok_or_else(|| {
            KvError::Other(format!(
                "cannot increment key {key:?}: its value is not a decimal integer"
            ))
        })
}

/// `current + delta`, or an error naming the key.
pub(crate) fn add_counter(key: &str, current: i64, delta: i64) -> Result<i64, KvError> {
    current.checked_add(delta).ok_or_else(|| {
        KvError::Other(format!(
            "cannot increment key {key:?}: {current} + {delta} overflows a 64-bit integer"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters() {
        assert_eq!(parse_counter("k", b"42"), Ok(42));
        assert_eq!(parse_counter("k", b"-7"), Ok(-7));
        assert!(parse_counter("k", b"4 2").is_err());
        assert!(parse_counter("k", b"\xff").is_err());
        let err = parse_counter("k", b"x").unwrap_err();
        assert!(err.to_string().contains("\"k\""), "{err}");
        assert_eq!(add_counter("k", 1, 2), Ok(3));
        assert!(add_counter("k", i64::MAX, 1).is_err());
    }
}
