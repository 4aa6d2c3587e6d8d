//! The Spin SDK guest `sqlite-exec` against this capability, through a real
//! `wasi:http` request per call.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use common::{app, app_from, builder, guest_path};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn every_value_kind_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let host = app(dir.path(), "round-trip");
    let values = json!([
        {"integer": i64::MIN},
        {"integer": i64::MAX},
        {"integer": 0},
        {"real": 0.1},
        {"real": -1.7976931348623157e308},
        {"real": 5e-324},
        {"text": ""},
        {"text": "héllo, wörld ✓ 🦀"},
        {"blob": []},
        {"blob": [0, 1, 127, 128, 255]},
        "null"
    ]);
    let rows = host
        .query(
            "db",
            &[
                ("CREATE TABLE v (i INTEGER PRIMARY KEY, x)", json!([])),
                (
                    "INSERT INTO v (x) VALUES (?), (?), (?), (?), (?), (?), (?), (?), (?), (?), (?)",
                    values.clone(),
                ),
                ("SELECT x, typeof(x) AS t FROM v ORDER BY i", json!([])),
            ],
        )
        .await;
    let rows = rows.as_array().unwrap();
    let got: Vec<_> = rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(json!(got), values);
    let types: Vec<_> = rows
        .iter()
        .map(|r| r[1]["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "integer", "integer", "integer", "real", "real", "real", "text", "text", "blob",
            "blob", "null"
        ]
    );
    // Reals come back bit for bit (the JSON goes through serde_json's exact
    // float round trip on both sides).
    assert_eq!(got[3]["real"].as_f64().unwrap().to_bits(), 0.1f64.to_bits());
    assert_eq!(
        got[5]["real"].as_f64().unwrap().to_bits(),
        5e-324f64.to_bits()
    );

    // Column names, and values computed by SQLite itself.
    let (status, answer) = host
        .exec(
            "db",
            "default",
            &[(
                "SELECT 1 AS one, 2.5 AS two, 'three' AS three, x'04' AS four, NULL AS five",
                json!([]),
            )],
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["results"][0],
        json!({
            "columns": ["one", "two", "three", "four", "five"],
            "rows": [[{"integer": 1}, {"real": 2.5}, {"text": "three"}, {"blob": [4]}, "null"]]
        })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn parameters_are_bound_never_spliced() {
    let dir = tempfile::tempdir().unwrap();
    let host = app(dir.path(), "params");
    let evil = "x'); DROP TABLE todos; --";
    let rows = host
        .query(
            "db",
            &[
                (
                    "CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT, done INTEGER)",
                    json!([]),
                ),
                (
                    "INSERT INTO todos (title, done) VALUES (?, ?)",
                    json!([{"text": evil}, {"integer": 0}]),
                ),
                (
                    "INSERT INTO todos (title, done) VALUES (:title, :done)",
                    json!([{"text": "named"}, {"integer": 1}]),
                ),
                (
                    "INSERT INTO todos (title, done) VALUES (?2, ?1)",
                    json!([{"integer": 1}, {"text": "numbered"}]),
                ),
                (
                    "SELECT title FROM todos WHERE done = ? ORDER BY id",
                    json!([{"integer": 1}]),
                ),
            ],
        )
        .await;
    assert_eq!(rows, json!([[{"text": "named"}], [{"text": "numbered"}]]));
    let rows = host
        .query(
            "db",
            &[(
                "SELECT title FROM todos WHERE title = ?",
                json!([{"text": evil}]),
            )],
        )
        .await;
    assert_eq!(rows, json!([[{"text": evil}]]));

    // Errors reach the guest as `io` with SQLite's message.
    let (status, answer) = host
        .exec("db", "default", &[("SELECT ?, ?", json!([{"integer": 1}]))])
        .await;
    assert_eq!(status, 500);
    assert_eq!(
        answer["error"],
        "Error::Io(\"the statement has 2 parameter(s) but 1 value(s) were given\")"
    );
    let (_, answer) = host
        .exec("db", "default", &[("SELECT * FROM nope", json!([]))])
        .await;
    assert_eq!(answer["error"], "Error::Io(\"no such table: nope\")");
}

/// Collects what the capability logs, for the current thread.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// One thread, so that the thread-local log subscriber sees the host calls.
#[tokio::test(flavor = "current_thread")]
async fn unlisted_databases_are_denied_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let host = common::Host(
        builder(
            &guest_path(),
            dir.path(),
            "denied",
            &[
                ("db", &["default"]),
                ("both", &["default", "other"]),
                ("plain", &[]),
            ],
        )
        .runtime_config("[sqlite_database.other]\ntype = \"sqlite\"\npath = \"other.db\"\n")
        .build()
        .unwrap(),
    );
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (status, answer) = host.exec("db", "other", &[("SELECT 1", json!([]))]).await;
    assert_eq!(status, 500);
    assert_eq!(answer["error"], "Error::AccessDenied");
    let (_, answer) = host.exec("db", "nowhere", &[("SELECT 1", json!([]))]).await;
    assert_eq!(answer["error"], "Error::AccessDenied");
    // A component without `sqlite_databases` may not open `default`.
    let (_, answer) = host
        .exec("plain", "default", &[("SELECT 1", json!([]))])
        .await;
    assert_eq!(answer["error"], "Error::AccessDenied");
    // Granted: fine.
    let (status, answer) = host.exec("both", "other", &[("SELECT 1", json!([]))]).await;
    assert_eq!(status, 200, "{answer}");

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains(
            "component `db` tried to open SQLite database `other`, which it is not granted; \
             to allow it, set `sqlite_databases = [\"default\", \"other\"]` in [component.db]"
        ),
        "{logs}"
    );
    assert!(
        logs.contains("set `sqlite_databases = [\"default\"]` in [component.plain]"),
        "{logs}"
    );
    assert!(logs.contains("define [sqlite_database.nowhere]"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn apps_do_not_share_databases() {
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let a = app(a_dir.path(), "app-a");
    let b = app(b_dir.path(), "app-b");
    a.query(
        "db",
        &[
            ("CREATE TABLE t (x TEXT)", json!([])),
            ("INSERT INTO t VALUES ('from a')", json!([])),
        ],
    )
    .await;
    let (status, answer) = b
        .exec("db", "default", &[("SELECT x FROM t", json!([]))])
        .await;
    assert_eq!(status, 500);
    assert_eq!(answer["error"], "Error::Io(\"no such table: t\")");
    assert_ne!(
        a.sqlite().database_path("default"),
        b.sqlite().database_path("default")
    );

    // Another app cannot open a file that an app has open.
    let err = builder(
        &guest_path(),
        a_dir.path(),
        "app-c",
        &[("db", &["default"])],
    )
    .build()
    .err()
    .expect("app-c is refused");
    assert!(
        format!("{err:#}").contains("is already used by app `app-a`"),
        "{err:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn transactions_span_statements_and_unfinished_ones_roll_back() {
    let dir = tempfile::tempdir().unwrap();
    let host = app(dir.path(), "tx");
    host.query("db", &[("CREATE TABLE t (x INTEGER)", json!([]))])
        .await;
    let rows = host
        .query(
            "db",
            &[
                ("BEGIN", json!([])),
                ("INSERT INTO t VALUES (1)", json!([])),
                ("SELECT count(*) FROM t", json!([])),
            ],
        )
        .await;
    // The guest saw its own uncommitted row…
    assert_eq!(rows, json!([[{"integer": 1}]]));
    // …which is gone once its connection was dropped without COMMIT.
    let rows = host
        .query("db", &[("SELECT count(*) FROM t", json!([]))])
        .await;
    assert_eq!(rows, json!([[{"integer": 0}]]));
    host.query(
        "db",
        &[
            ("BEGIN", json!([])),
            ("INSERT INTO t VALUES (2)", json!([])),
            ("COMMIT", json!([])),
        ],
    )
    .await;
    let rows = host.query("db", &[("SELECT x FROM t", json!([]))]).await;
    assert_eq!(rows, json!([[{"integer": 2}]]));
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_all_commit() {
    let dir = tempfile::tempdir().unwrap();
    let host = Arc::new(app(dir.path(), "concurrent"));
    host.sqlite()
        .run_migrations("default", "CREATE TABLE t (x INTEGER)")
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let host = host.clone();
        tasks.push(tokio::spawn(async move {
            host.query(
                "db",
                &[("INSERT INTO t VALUES (?)", json!([{"integer": i}]))],
            )
            .await
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let rows = host
        .query("db", &[("SELECT count(*), sum(x) FROM t", json!([]))])
        .await;
    assert_eq!(rows, json!([[{"integer": 16}, {"integer": 120}]]));
}

#[tokio::test(flavor = "multi_thread")]
async fn migrations_then_guest_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let host = app(dir.path(), "migrations");
    host.sqlite()
        .run_migrations(
            "default",
            "CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT NOT NULL);\n\
             INSERT INTO todos (title) VALUES ('one');\n\
             INSERT INTO todos (title) VALUES ('two');",
        )
        .unwrap();
    let rows = host
        .query(
            "db",
            &[("SELECT id, title FROM todos ORDER BY id", json!([]))],
        )
        .await;
    assert_eq!(
        rows,
        json!([
            [{"integer": 1}, {"text": "one"}],
            [{"integer": 2}, {"text": "two"}]
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let host = app(dir.path(), "durable");
        host.query(
            "db",
            &[
                ("CREATE TABLE t (x TEXT)", json!([])),
                ("INSERT INTO t VALUES ('kept')", json!([])),
            ],
        )
        .await;
    }
    let host = app(dir.path(), "durable");
    let rows = host.query("db", &[("SELECT x FROM t", json!([]))]).await;
    assert_eq!(rows, json!([[{"text": "kept"}]]));
}

const KILL_DIR: &str = "NIMBUS_SQLITE_KILL_TEST_DIR";
const KILL_GUEST: &str = "NIMBUS_SQLITE_KILL_TEST_GUEST";
const ROWS: i64 = 20;

/// The child half of [`committed_rows_survive_kill_9`]: writes through the
/// guest, says so, and waits to be killed. Does nothing unless started by
/// that test.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "run by committed_rows_survive_kill_9 in a child process"]
async fn kill_9_child() {
    let (Some(dir), Some(guest)) = (std::env::var_os(KILL_DIR), std::env::var_os(KILL_GUEST))
    else {
        return;
    };
    let host = app_from(Path::new(&guest), Path::new(&dir), "kill-9");
    host.sqlite()
        .run_migrations("default", "CREATE TABLE t (x INTEGER)")
        .unwrap();
    for i in 0..ROWS {
        host.query(
            "db",
            &[("INSERT INTO t VALUES (?)", json!([{"integer": i}]))],
        )
        .await;
    }
    println!("NIMBUS-COMMITTED");
    tokio::time::sleep(std::time::Duration::from_secs(120)).await;
    panic!("not killed");
}

#[tokio::test(flavor = "multi_thread")]
async fn committed_rows_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let guest = common::guest_path();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "kill_9_child", "--ignored", "--nocapture"])
        .env(KILL_DIR, dir.path())
        .env(KILL_GUEST, &guest)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let committed = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains("NIMBUS-COMMITTED"))
    })
    .await
    .unwrap();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(committed, "the child did not write its rows");

    let rows = app_from(&guest, dir.path(), "kill-9")
        .query("db", &[("SELECT count(*), sum(x) FROM t", json!([]))])
        .await;
    assert_eq!(
        rows,
        json!([[{"integer": ROWS}, {"integer": ROWS * (ROWS - 1) / 2}]])
    );
}
