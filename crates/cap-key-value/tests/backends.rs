//! The backends through the host-side `Store` API: the same behaviour on
//! SQLite and on real Redis and PostgreSQL servers, atomicity under
//! concurrency, per-app isolation, durability across `kill -9`, Redis and
//! PostgreSQL going away and coming back, and nodes of a fleet sharing an
//! app's keys in PostgreSQL.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{app_kv, configure, postgres_config, redis_config, RedisServer};
use nimbus_cap_key_value::{CasOutcome, KeyValueCapability, KvError, Store, DEFAULT_DB_FILE};
use nimbus_test_servers::Postgres;

/// The behaviour every backend must have.
async fn store_semantics(store: &Store) {
    // get / set / exists / delete
    assert_eq!(store.get("a").await.unwrap(), None);
    assert!(!store.exists("a").await.unwrap());
    store.set("a", b"1".to_vec()).await.unwrap();
    assert_eq!(store.get("a").await.unwrap(), Some(b"1".to_vec()));
    assert!(store.exists("a").await.unwrap());
    store.set("a", b"2".to_vec()).await.unwrap();
    assert_eq!(store.get("a").await.unwrap(), Some(b"2".to_vec()));
    store.delete("a").await.unwrap();
    store.delete("a").await.unwrap(); // no error when missing
    assert_eq!(store.get("a").await.unwrap(), None);

    // Binary values and odd keys round-trip.
    let binary: Vec<u8> = (0..=255u8).collect();
    store.set("bin", binary.clone()).await.unwrap();
    assert_eq!(store.get("bin").await.unwrap(), Some(binary));
    store.set("", b"empty key".to_vec()).await.unwrap();
    store.set("glob*[x]?", b"g".to_vec()).await.unwrap();
    store.set("ключ:é", Vec::new()).await.unwrap();
    assert_eq!(store.get("ключ:é").await.unwrap(), Some(Vec::new()));
    assert_eq!(
        store.keys().await.unwrap(),
        vec!["", "bin", "glob*[x]?", "ключ:é"]
    );

    // increment: decimal text, missing counts as 0, negative deltas.
    assert_eq!(store.increment("n", 5).await.unwrap(), 5);
    assert_eq!(store.increment("n", -7).await.unwrap(), -2);
    assert_eq!(store.get("n").await.unwrap(), Some(b"-2".to_vec()));
    store.set("n", b"40".to_vec()).await.unwrap();
    assert_eq!(store.increment("n", 2).await.unwrap(), 42);
    let err = store.increment("bin", 1).await.unwrap_err();
    assert!(matches!(err, KvError::Other(_)), "{err:?}");
    assert!(err.to_string().contains("\"bin\""), "names the key: {err}");
    // Only plain decimal integers count (no spaces, `_` or `0x`).
    for odd in [&b" 42"[..], b"1_000", b"0x10", b"4.2", b""] {
        store.set("odd", odd.to_vec()).await.unwrap();
        assert!(
            store.increment("odd", 1).await.is_err(),
            "{:?}",
            String::from_utf8_lossy(odd)
        );
        assert_eq!(store.get("odd").await.unwrap(), Some(odd.to_vec()));
    }
    store.delete("odd").await.unwrap();
    store
        .set("max", i64::MAX.to_string().into_bytes())
        .await
        .unwrap();
    assert!(store.increment("max", 1).await.is_err());
    assert_eq!(
        store.get("max").await.unwrap(),
        Some(i64::MAX.to_string().into_bytes()),
        "a failed increment changes nothing"
    );

    // compare-and-swap
    assert_eq!(
        store
            .compare_and_swap("c", None, b"first".to_vec())
            .await
            .unwrap(),
        CasOutcome::Swapped
    );
    assert_eq!(
        store
            .compare_and_swap("c", None, b"again".to_vec())
            .await
            .unwrap(),
        CasOutcome::Changed {
            current: Some(b"first".to_vec())
        }
    );
    assert_eq!(
        store
            .compare_and_swap("c", Some(b"wrong".to_vec()), b"x".to_vec())
            .await
            .unwrap(),
        CasOutcome::Changed {
            current: Some(b"first".to_vec())
        }
    );
    assert_eq!(
        store
            .compare_and_swap("c", Some(b"first".to_vec()), b"second".to_vec())
            .await
            .unwrap(),
        CasOutcome::Swapped
    );
    assert_eq!(store.get("c").await.unwrap(), Some(b"second".to_vec()));
    store.delete("c").await.unwrap();
    assert_eq!(
        store
            .compare_and_swap("c", Some(b"second".to_vec()), b"x".to_vec())
            .await
            .unwrap(),
        CasOutcome::Changed { current: None }
    );

    // batch
    store
        .set_many(vec![
            ("b1".into(), b"v1".to_vec()),
            ("b2".into(), b"v2".to_vec()),
        ])
        .await
        .unwrap();
    assert_eq!(
        store
            .get_many(vec!["b1".into(), "nope".into(), "b2".into()])
            .await
            .unwrap(),
        vec![
            ("b1".to_string(), Some(b"v1".to_vec())),
            ("nope".to_string(), None),
            ("b2".to_string(), Some(b"v2".to_vec())),
        ]
    );
    store
        .delete_many(vec!["b1".into(), "nope".into()])
        .await
        .unwrap();
    assert_eq!(store.get("b1").await.unwrap(), None);
    assert_eq!(store.get("b2").await.unwrap(), Some(b"v2".to_vec()));
    assert!(store.get_many(Vec::new()).await.unwrap().is_empty());
    store.set_many(Vec::new()).await.unwrap();
    store.delete_many(Vec::new()).await.unwrap();
}

/// `tasks` tasks increment one counter `per_task` times each (and the same
/// through compare-and-swap loops): no update may be lost.
async fn hammer(store: &Store, tasks: usize, per_task: usize) {
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..per_task {
                seen.push(store.increment("hits", 1).await.unwrap());
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for handle in handles {
        all.extend(handle.await.unwrap());
    }
    all.sort();
    let expected: Vec<i64> = (1..=(tasks * per_task) as i64).collect();
    assert_eq!(all, expected, "every increment returned a distinct value");
    assert_eq!(
        store.get("hits").await.unwrap(),
        Some((tasks * per_task).to_string().into_bytes())
    );

    let mut handles = Vec::new();
    for _ in 0..tasks {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..per_task {
                let mut current = store.get("cas-counter").await.unwrap();
                loop {
                    let n: i64 = current
                        .as_deref()
                        .map(|v| std::str::from_utf8(v).unwrap().parse().unwrap())
                        .unwrap_or(0);
                    match store
                        .compare_and_swap("cas-counter", current, (n + 1).to_string().into_bytes())
                        .await
                        .unwrap()
                    {
                        CasOutcome::Swapped => break,
                        CasOutcome::Changed { current: now } => current = now,
                    }
                }
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    assert_eq!(
        store.get("cas-counter").await.unwrap(),
        Some((tasks * per_task).to_string().into_bytes())
    );
}

#[tokio::test]
async fn sqlite_backend_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_kv("app", dir.path(), &[("web", &["default"])]);
    let state = configure(None, &app);
    let store = state.store("default").unwrap();
    assert_eq!(store.backend_kind(), "sqlite");
    store_semantics(&store).await;
}

#[tokio::test]
async fn redis_backend_semantics() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let app = app_kv("app", dir.path(), &[("web", &["default"])]);
    let state = configure(Some(redis_config(&redis.url(), &["default"])), &app);
    let store = state.store("default").unwrap();
    assert_eq!(store.backend_kind(), "redis");
    store_semantics(&store).await;
    // Nothing was written to disk for a Redis-only app.
    assert!(!app.data_dir.exists());
}

#[tokio::test]
async fn postgres_backend_semantics() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let app = app_kv("app", dir.path(), &[("web", &["default"])]);
    let state = configure(Some(postgres_config(&pg.url(), &["default"])), &app);
    let store = state.store("default").unwrap();
    assert_eq!(store.backend_kind(), "postgres");
    assert_eq!(
        store.describe(),
        format!("postgres postgres://nimbus@127.0.0.1:{}/nimbus", pg.port())
    );
    store_semantics(&store).await;
    // Nothing was written to disk for a PostgreSQL-only app.
    assert!(!app.data_dir.exists());

    // The documented table, created on first use.
    assert_eq!(
        pg.psql(
            "SELECT column_name || ' ' || data_type || ' ' || is_nullable \
             FROM information_schema.columns WHERE table_name = 'nimbus_key_value' \
             ORDER BY ordinal_position"
        ),
        "app text NO\nstore text NO\nkey text NO\nvalue bytea NO"
    );
    assert_eq!(
        pg.psql(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE conrelid = 'nimbus_key_value'::regclass AND contype = 'p'"
        ),
        "PRIMARY KEY (app, store, key)"
    );
    // Counters are decimal text, as on the other backends.
    assert_eq!(
        pg.psql(
            "SELECT convert_from(value, 'UTF8') FROM nimbus_key_value \
             WHERE app = 'app' AND store = 'default' AND key = 'n'"
        ),
        "42"
    );

    // A table dropped behind its back is created again.
    pg.psql("DROP TABLE nimbus_key_value");
    assert_eq!(store.get("n").await.unwrap(), None);
    store.set("n", b"1".to_vec()).await.unwrap();
    assert_eq!(store.increment("n", 1).await.unwrap(), 2);
}

#[tokio::test]
async fn postgres_works_on_a_table_an_administrator_made() {
    // A role that may not create tables (PostgreSQL 15's default for
    // `public`), on a table made for it.
    let pg = Postgres::start();
    pg.psql(
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC; \
         CREATE ROLE kv LOGIN PASSWORD 'kv-password'; \
         GRANT USAGE ON SCHEMA public TO kv;",
    );
    pg.psql(nimbus_cap_key_value_schema());
    pg.psql("GRANT SELECT, INSERT, UPDATE, DELETE ON nimbus_key_value TO kv");
    let url = format!("postgres://kv:kv-password@127.0.0.1:{}/nimbus", pg.port());
    let dir = tempfile::tempdir().unwrap();
    let app = app_kv("app", dir.path(), &[("web", &["shared"])]);
    let store = configure(Some(postgres_config(&url, &["shared"])), &app)
        .store("shared")
        .unwrap();
    store_semantics(&store).await;
}

/// The table as the module docs give it, for administrators to create.
fn nimbus_cap_key_value_schema() -> &'static str {
    "CREATE TABLE IF NOT EXISTS nimbus_key_value (
        app   TEXT  NOT NULL,
        store TEXT  NOT NULL,
        key   TEXT  NOT NULL,
        value BYTEA NOT NULL,
        PRIMARY KEY (app, store, key)
    )"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_increment_and_cas_are_atomic_under_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_kv("app", dir.path(), &[("web", &["default"])]);
    let state = configure(None, &app);
    hammer(&state.store("default").unwrap(), 16, 25).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_increment_is_atomic_across_apps_sharing_a_file() {
    // Two app states (as two nimbus processes would have) on one file:
    // BEGIN IMMEDIATE serializes them through SQLite's own lock.
    let dir = tempfile::tempdir().unwrap();
    let app = app_kv("app", dir.path(), &[("web", &["default"])]);
    let one = configure(None, &app).store("default").unwrap();
    let two = configure(None, &app).store("default").unwrap();
    let mut handles = Vec::new();
    for i in 0..8 {
        let store = if i % 2 == 0 { one.clone() } else { two.clone() };
        handles.push(tokio::spawn(async move {
            for _ in 0..25 {
                store.increment("shared", 1).await.unwrap();
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    assert_eq!(one.get("shared").await.unwrap(), Some(b"200".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_increment_and_cas_are_atomic_under_concurrency() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let app = app_kv("app", dir.path(), &[("web", &["default"])]);
    let state = configure(Some(redis_config(&redis.url(), &["default"])), &app);
    hammer(&state.store("default").unwrap(), 16, 25).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_increment_and_cas_are_atomic_under_concurrency() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let app = app_kv("app", dir.path(), &[("web", &["default"])]);
    let state = configure(Some(postgres_config(&pg.url(), &["default"])), &app);
    hammer(&state.store("default").unwrap(), 16, 25).await;
}

/// Two nodes of a fleet: the same app (id) on two hosts, each with its own
/// data dir, configured with the same database.
fn two_nodes(pg: &Postgres, dir: &std::path::Path, app_id: &str) -> (Store, Store) {
    let grants: &[(&str, &[&str])] = &[("web", &["shared"])];
    let one = configure(
        Some(postgres_config(&pg.url(), &["shared"])),
        &app_kv(app_id, &dir.join("node-1"), grants),
    );
    // The other node says it with a key=value connection string.
    let conninfo = format!(
        "host=127.0.0.1 port={} user={} password={} dbname={}",
        pg.port(),
        pg.user(),
        pg.password(),
        pg.database()
    );
    let two = configure(
        Some(postgres_config(&conninfo, &["shared"])),
        &app_kv(app_id, &dir.join("node-2"), grants),
    );
    (one.store("shared").unwrap(), two.store("shared").unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_nodes_of_a_fleet_share_an_app_and_apps_are_isolated() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = two_nodes(&pg, dir.path(), "app");
    let (other_app, _) = two_nodes(&pg, dir.path(), "app-b");

    one.set("greeting", b"from node 1".to_vec()).await.unwrap();
    assert_eq!(
        two.get("greeting").await.unwrap(),
        Some(b"from node 1".to_vec())
    );
    assert_eq!(two.increment("visits", 1).await.unwrap(), 1);
    assert_eq!(one.increment("visits", 1).await.unwrap(), 2);
    two.set_many(vec![
        ("a".into(), b"1".to_vec()),
        ("b".into(), b"2".to_vec()),
    ])
    .await
    .unwrap();
    assert_eq!(
        one.keys().await.unwrap(),
        vec!["a", "b", "greeting", "visits"]
    );
    one.delete("greeting").await.unwrap();
    assert!(!two.exists("greeting").await.unwrap());

    // Another app on the same database sees none of it, and the reverse.
    assert_eq!(other_app.get("visits").await.unwrap(), None);
    assert!(other_app.keys().await.unwrap().is_empty());
    other_app.set("visits", b"mine".to_vec()).await.unwrap();
    assert_eq!(one.get("visits").await.unwrap(), Some(b"2".to_vec()));
    assert_eq!(other_app.keys().await.unwrap(), vec!["visits".to_string()]);

    // The app id is part of every row's key.
    assert_eq!(
        pg.psql("SELECT app || ' ' || store || ' ' || key FROM nimbus_key_value ORDER BY app, store, key"),
        "app shared a\napp shared b\napp shared visits\napp-b shared visits"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_nodes_starting_together_all_get_the_table() {
    // Every node's first call finds no table and creates it: the losers
    // of that race must not fail.
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    const NODES: usize = 12;
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(NODES));
    let mut handles = Vec::new();
    for node in 0..NODES {
        let state = configure(
            Some(postgres_config(&pg.url(), &["shared"])),
            &app_kv(
                "app",
                &dir.path().join(format!("node-{node}")),
                &[("web", &["shared"])],
            ),
        );
        let start = start.clone();
        handles.push(tokio::spawn(async move {
            let store = state.store("shared").unwrap();
            start.wait().await;
            store.increment("nodes", 1).await
        }));
    }
    for handle in handles {
        handle.await.unwrap().unwrap();
    }
    assert_eq!(
        pg.psql("SELECT convert_from(value, 'UTF8') FROM nimbus_key_value"),
        NODES.to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_increments_from_two_nodes_sum_exactly() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = two_nodes(&pg, dir.path(), "app");
    const TASKS: usize = 16;
    const PER_TASK: usize = 25;
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(TASKS));
    let mut handles = Vec::new();
    for i in 0..TASKS {
        let store = if i % 2 == 0 { one.clone() } else { two.clone() };
        let start = start.clone();
        handles.push(tokio::spawn(async move {
            start.wait().await;
            let mut seen = Vec::new();
            for _ in 0..PER_TASK {
                seen.push(store.increment("hits", 1).await.unwrap());
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for handle in handles {
        all.extend(handle.await.unwrap());
    }
    all.sort();
    let expected: Vec<i64> = (1..=(TASKS * PER_TASK) as i64).collect();
    assert_eq!(all, expected, "every increment returned a distinct value");
    assert_eq!(
        two.get("hits").await.unwrap(),
        Some((TASKS * PER_TASK).to_string().into_bytes())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_compare_and_swap_under_contention_has_one_winner() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = two_nodes(&pg, dir.path(), "app");
    const TASKS: usize = 16;

    /// Every task tries `expected` → `{phase}-{i}` at once; returns the
    /// winners and the values the losers were told are current.
    async fn race(
        one: &Store,
        two: &Store,
        key: &str,
        expected: Option<Vec<u8>>,
        phase: &str,
    ) -> (Vec<String>, Vec<Option<Vec<u8>>>) {
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(TASKS));
        let mut handles = Vec::new();
        for i in 0..TASKS {
            let store = if i % 2 == 0 { one.clone() } else { two.clone() };
            let (start, key, expected) = (start.clone(), key.to_owned(), expected.clone());
            let mine = format!("{phase}-{i}");
            handles.push(tokio::spawn(async move {
                start.wait().await;
                let outcome = store
                    .compare_and_swap(&key, expected, mine.clone().into_bytes())
                    .await
                    .unwrap();
                (mine, outcome)
            }));
        }
        let (mut winners, mut seen) = (Vec::new(), Vec::new());
        for handle in handles {
            match handle.await.unwrap() {
                (mine, CasOutcome::Swapped) => winners.push(mine),
                (_, CasOutcome::Changed { current }) => seen.push(current),
            }
        }
        (winners, seen)
    }

    for round in 0..5 {
        let key = format!("lock-{round}");
        // Who creates the key.
        let (winners, seen) = race(&one, &two, &key, None, "create").await;
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let winner = winners[0].clone().into_bytes();
        assert_eq!(one.get(&key).await.unwrap(), Some(winner.clone()));
        assert!(seen.iter().all(|current| current.as_ref() == Some(&winner)));
        // Who replaces it.
        let (winners, seen) = race(&one, &two, &key, Some(winner), "replace").await;
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let winner = winners[0].clone().into_bytes();
        assert_eq!(two.get(&key).await.unwrap(), Some(winner.clone()));
        assert!(seen.iter().all(|current| current.as_ref() == Some(&winner)));
    }
}

#[tokio::test]
async fn stores_and_apps_are_isolated() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let grants: &[(&str, &[&str])] = &[("web", &["default", "other", "cache", "cache2"])];
    let mut config = redis_config(&redis.url(), &["cache", "cache2"]);
    config.stores.insert(
        "other".into(),
        nimbus_cap_key_value::StoreConfig::Sqlite(Default::default()),
    );
    let a = configure(Some(config.clone()), &app_kv("app-a", dir.path(), grants));
    let b = configure(Some(config), &app_kv("app-b", dir.path(), grants));

    for label in ["default", "other", "cache", "cache2"] {
        let store = a.store(label).unwrap();
        store
            .set("k", format!("a-{label}").into_bytes())
            .await
            .unwrap();
    }
    for label in ["default", "other", "cache", "cache2"] {
        let store_a = a.store(label).unwrap();
        let store_b = b.store(label).unwrap();
        assert_eq!(
            store_a.get("k").await.unwrap(),
            Some(format!("a-{label}").into_bytes()),
            "{label}"
        );
        assert_eq!(store_b.get("k").await.unwrap(), None, "{label}");
        assert!(store_b.keys().await.unwrap().is_empty(), "{label}");
        assert_eq!(store_a.keys().await.unwrap(), vec!["k"], "{label}");
    }

    // SQLite: one database per app data dir.
    assert!(dir
        .path()
        .join("app-a/.nimbus")
        .join(DEFAULT_DB_FILE)
        .exists());
    assert!(dir
        .path()
        .join("app-b/.nimbus")
        .join(DEFAULT_DB_FILE)
        .exists());

    // Redis: the documented key layout.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.sort();
    assert_eq!(keys, vec!["nimbus:app-a:cache2:k", "nimbus:app-a:cache:k"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fails_clearly_and_recovers_without_restart() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let app = app_kv("app", dir.path(), &[("web", &["default", "cache"])]);
    let state = configure(Some(redis_config(&redis.url(), &["cache"])), &app);
    let cache = state.store("cache").unwrap();
    let local = state.store("default").unwrap();
    cache.set("k", b"v".to_vec()).await.unwrap();
    assert_eq!(cache.increment("n", 1).await.unwrap(), 1);

    redis.stop();
    for op in 0..3 {
        let started = Instant::now();
        let err = match op {
            0 => cache.get("k").await.unwrap_err(),
            1 => cache.set("k", b"w".to_vec()).await.unwrap_err(),
            _ => cache.increment("n", 1).await.unwrap_err(),
        };
        let KvError::Other(message) = &err else {
            panic!("expected other(...), got {err:?}");
        };
        assert!(
            message.starts_with("redis unavailable: "),
            "op {op}: {message}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "op {op} took {:?} to fail",
            started.elapsed()
        );
    }
    // Other stores keep serving.
    local.set("still", b"here".to_vec()).await.unwrap();
    assert_eq!(local.get("still").await.unwrap(), Some(b"here".to_vec()));

    redis.restart();
    // A call that can be repeated succeeds at once: it retries on the
    // connection the failure started.
    cache.set("k", b"back".to_vec()).await.unwrap();
    assert_eq!(cache.get("k").await.unwrap(), Some(b"back".to_vec()));
    // And so does increment (the server lost its data: it starts over).
    assert_eq!(cache.increment("n", 1).await.unwrap(), 1);

    // Down again; this time the first call after the comeback is one that
    // is never retried: the background ping has reconnected by then.
    redis.stop();
    assert!(cache.increment("n", 1).await.is_err());
    assert!(cache.get("k").await.is_err());
    redis.restart();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(cache.increment("n", 1).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_at_start_and_back_later() {
    let mut redis = RedisServer::start();
    redis.stop();
    let dir = tempfile::tempdir().unwrap();
    let app = app_kv("app", dir.path(), &[("web", &["cache"])]);
    // The app configures (and so starts) while Redis is down.
    let state = configure(Some(redis_config(&redis.url(), &["cache"])), &app);
    let cache = state.store("cache").unwrap();
    let err = cache.increment("n", 1).await.unwrap_err();
    assert!(err.to_string().starts_with("redis unavailable: "), "{err}");
    redis.restart();
    // Without a retry of its own, increment may need the background ping to
    // reconnect first; it must succeed within a second or so.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match cache.increment("n", 1).await {
            Ok(n) => {
                assert_eq!(n, 1);
                break;
            }
            Err(err) if Instant::now() < deadline => {
                eprintln!("not yet: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("redis is back but increment still fails: {err}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_fails_quickly_and_recovers_without_restart() {
    let mut pg = Postgres::start();
    let password = pg.password().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let app = app_kv("app", dir.path(), &[("web", &["default", "shared"])]);
    let state = configure(Some(postgres_config(&pg.url(), &["shared"])), &app);
    let shared = state.store("shared").unwrap();
    let local = state.store("default").unwrap();
    shared.set("k", b"v".to_vec()).await.unwrap();
    assert_eq!(shared.increment("n", 1).await.unwrap(), 1);

    pg.stop();
    for op in 0..5 {
        let started = Instant::now();
        let err = match op {
            0 => shared.get("k").await.unwrap_err(),
            1 => shared.set("k", b"w".to_vec()).await.unwrap_err(),
            2 => shared.increment("n", 1).await.unwrap_err(),
            3 => shared
                .compare_and_swap("k", Some(b"v".to_vec()), b"w".to_vec())
                .await
                .unwrap_err(),
            _ => shared.keys().await.unwrap_err(),
        };
        let KvError::Other(message) = &err else {
            panic!("expected other(...), got {err:?}");
        };
        assert!(
            message.starts_with("postgres unavailable: "),
            "op {op}: {message}"
        );
        assert!(!message.contains(&password), "password leaked: {message}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "op {op} took {:?} to fail",
            started.elapsed()
        );
    }
    // Other stores keep serving.
    local.set("still", b"here".to_vec()).await.unwrap();
    assert_eq!(local.get("still").await.unwrap(), Some(b"here".to_vec()));

    pg.restart();
    // Nothing was lost, nothing failed was applied, and the first call
    // works.
    assert_eq!(shared.get("k").await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(shared.increment("n", 1).await.unwrap(), 2);

    // The server ends every connection (an administrator, a failover): the
    // next repeatable call works at once, on a fresh connection.
    for _ in 0..3 {
        let ended = pg.psql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = 'nimbus-key-value'",
        );
        assert_ne!(ended, "0");
        assert_eq!(shared.get("k").await.unwrap(), Some(b"v".to_vec()));
        shared.set("k", b"v".to_vec()).await.unwrap();
    }

    // Down again, with connections in the pool; the first call after the
    // comeback is one that is never retried.
    pg.stop();
    assert!(shared.increment("n", 1).await.is_err());
    pg.restart();
    assert_eq!(shared.increment("n", 1).await.unwrap(), 3);
    assert_eq!(
        shared
            .compare_and_swap("k", Some(b"v".to_vec()), b"w".to_vec())
            .await
            .unwrap(),
        CasOutcome::Swapped
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_at_start_and_back_later() {
    let mut pg = Postgres::start();
    pg.stop();
    let dir = tempfile::tempdir().unwrap();
    let app = app_kv("app", dir.path(), &[("web", &["shared"])]);
    // The app configures (and so starts) while PostgreSQL is down.
    let state = configure(Some(postgres_config(&pg.url(), &["shared"])), &app);
    let shared = state.store("shared").unwrap();
    let started = Instant::now();
    let err = shared.increment("n", 1).await.unwrap_err();
    assert!(
        err.to_string().starts_with("postgres unavailable: "),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    pg.restart();
    // The table is created by the first call that reaches the database.
    assert_eq!(shared.increment("n", 1).await.unwrap(), 1);
}

#[tokio::test]
async fn postgres_bad_urls_and_passwords_never_show_the_password() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let app = app_kv("app", dir.path(), &[("web", &["shared"])]);

    // Malformed: the app is refused, naming the section.
    for url in [
        pg.url().replace(&format!(":{}/", pg.port()), ":port/"),
        pg.url().replace("postgres://", "postgress://"),
        format!("host=127.0.0.1 password={} user", pg.password()),
    ] {
        let config = postgres_config(&url, &["shared"]);
        let err = KeyValueCapability::new()
            .configure(Some(config), &app)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("key_value_store.shared: invalid PostgreSQL url: "),
            "{err}"
        );
        assert!(!err.contains(pg.password()), "password leaked: {err}");
    }

    // Well-formed with the wrong password: the app starts; calls say why
    // they fail.
    let url = pg.url().replace(pg.password(), "wrong-hunter2");
    let config = postgres_config(&url, &["shared"]);
    let store = configure(Some(config), &app).store("shared").unwrap();
    let err = store.get("k").await.unwrap_err().to_string();
    assert!(err.starts_with("postgres unavailable: "), "{err}");
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(
        !err.contains("hunter2") && !err.contains(pg.password()),
        "{err}"
    );
}

/// The child side of `sqlite_writes_survive_kill_9`: writes until killed,
/// printing `ACK i` after each write returned.
fn durability_child(data_dir: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let app = nimbus_cap_key_value::AppKv {
            app_id: "app".into(),
            data_dir: data_dir.into(),
            grants: [("web".to_string(), vec!["default".to_string()])].into(),
        };
        let state = configure(None, &app);
        let store = state.store("default").unwrap();
        for i in 0..1_000_000u64 {
            store
                .set(&format!("key-{i}"), i.to_string().into_bytes())
                .await
                .unwrap();
            store.increment("count", 1).await.unwrap();
            println!("ACK {i}");
        }
    });
}

#[test]
fn sqlite_writes_survive_kill_9() {
    if let Ok(dir) = std::env::var("NIMBUS_KV_DURABILITY_CHILD") {
        durability_child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join(".nimbus");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sqlite_writes_survive_kill_9",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("NIMBUS_KV_DURABILITY_CHILD", &data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked: Option<u64> = None;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while let Some(Ok(line)) = lines.next() {
        if let Some(n) = line.strip_prefix("ACK ") {
            let n: u64 = n.parse().unwrap();
            acked = Some(n);
            if n >= 200 {
                break;
            }
        }
    }
    // SIGKILL while it is still writing.
    child.kill().unwrap();
    child.wait().unwrap();
    // Drain whatever it acknowledged before it died.
    for line in lines.map_while(Result::ok) {
        if let Some(n) = line.strip_prefix("ACK ") {
            acked = Some(n.parse().unwrap());
        }
    }
    let acked = acked.expect("the child acknowledged writes");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let app = nimbus_cap_key_value::AppKv {
            app_id: "app".into(),
            data_dir: data_dir.clone(),
            grants: [("web".to_string(), vec!["default".to_string()])].into(),
        };
        let state = configure(None, &app);
        let store = state.store("default").unwrap();
        for i in 0..=acked {
            assert_eq!(
                store.get(&format!("key-{i}")).await.unwrap(),
                Some(i.to_string().into_bytes()),
                "acknowledged write {i} of {acked} was lost"
            );
        }
        let count: u64 = String::from_utf8(store.get("count").await.unwrap().unwrap())
            .unwrap()
            .parse()
            .unwrap();
        assert!(count > acked, "count {count}, acked up to {acked}");
    });
}
