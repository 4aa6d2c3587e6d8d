//! The backends through the host-side `Store` API: the same behaviour on
//! SQLite and on a real Redis server, atomicity under concurrency, per-app
//! isolation, durability across `kill -9`, and Redis going away and coming
//! back.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{app_kv, configure, redis_config, RedisServer};
use nimbus_cap_key_value::{CasOutcome, KvError, Store, DEFAULT_DB_FILE};

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
