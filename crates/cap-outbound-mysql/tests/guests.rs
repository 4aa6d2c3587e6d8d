//! Real guests against a real MariaDB, served through the capability seam
//! (`nimbus-test-host`) the way the HTTP trigger runs them: the address
//! from a component variable, grants from the manifest's
//! `allowed_outbound_hosts`, a fresh instance per request.
//!
//! Guests (protocol at the top of each): `mysql-v2` (tests/guests-spin,
//! spin-sdk 5, `fermyon:spin/mysql@2.0.0`) and `mysql-v3`
//! (tests/guests-p3, spin-sdk 7, `spin:mysql/mysql@3.0.0`, rows streamed).
//!
//! Every test starts its own server (`nimbus_test_servers::MariaDb`).

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable as _;
use nimbus_cap_outbound_http::OutboundHttpCapability;
use nimbus_cap_outbound_mysql::{MysqlCapability, PoolStats, CONNECT_TIMEOUT};
use nimbus_cap_variables::VariablesCapability;
use nimbus_cap_wasi::WasiCapability;
use nimbus_capability::{Capabilities, OutboundPolicy};
use nimbus_test_guests::Target;
use nimbus_test_host::{toml_path, TestApp};
use nimbus_test_servers::MariaDb;

/// Everything the capabilities logged in this test process.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures the logs (down to `debug` for the MySQL capability and the
/// allow-lists) into [`LOGS`].
fn capture_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                "warn,nimbus_cap_outbound_mysql=debug,nimbus_outbound_networking=debug",
            )
            .with_writer(|| LogWriter)
            .with_ansi(false)
            .try_init();
    });
}

fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guest {
    /// spin-sdk 5, `fermyon:spin/mysql@2.0.0`.
    V2,
    /// spin-sdk 7, `spin:mysql/mysql@3.0.0`.
    V3,
}

impl Guest {
    const ALL: [Guest; 2] = [Guest::V2, Guest::V3];

    fn path(self) -> PathBuf {
        match self {
            Guest::V2 => nimbus_test_guests::package_guest("guests-spin", "mysql-v2", Target::P2),
            Guest::V3 => nimbus_test_guests::package_guest("guests-p3", "mysql-v3", Target::P2),
        }
    }
}

/// An app whose component `db` runs `guest` with variable `address` set to
/// `address` and `allowed_outbound_hosts` set to `allowed`.
fn app(guest: Guest, address: &str, allowed: &[String]) -> TestApp {
    app_with_policy(guest, address, allowed, OutboundPolicy::default())
}

/// [`app`] on a host with outbound policy `policy`.
fn app_with_policy(
    guest: Guest,
    address: &str,
    allowed: &[String],
    policy: OutboundPolicy,
) -> TestApp {
    let allowed: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
    let manifest = format!(
        "spin_manifest_version = 2\n\
         [application]\nname = \"mysql-test\"\n\
         [variables]\naddress = {{ required = true, secret = true }}\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"db\"\n\
         [component.db]\nsource = {}\n\
         allowed_outbound_hosts = [{}]\n\
         variables = {{ address = \"{{{{ address }}}}\" }}\n",
        toml_path(&guest.path()),
        allowed.join(", "),
    );
    let capabilities = Capabilities::new()
        .with(WasiCapability)
        .with(OutboundHttpCapability)
        .with(VariablesCapability)
        .with(MysqlCapability);
    TestApp::builder(capabilities, manifest)
        .variable("address", address)
        .outbound(policy)
        .build()
        .expect("the app loads")
}

/// The grant of `server`'s address.
fn grant(server: &MariaDb) -> Vec<String> {
    vec![format!("mysql://127.0.0.1:{}", server.port())]
}

/// One request: `GET /?case=CASE&table=TABLE`.
async fn run(app: &TestApp, case: &str, table: &str) -> (u16, String) {
    app.get("db", &format!("/?case={case}&table={table}")).await
}

/// Asserts an answer `error: VARIANT` (the message follows on the next
/// line) and returns the message.
fn expect_error(answer: (u16, String), variant: &str) -> String {
    let (status, body) = answer;
    let (first, message) = body.split_once('\n').unwrap_or((&body, ""));
    assert_eq!(
        (status, first),
        (200, format!("error: {variant}").as_str()),
        "{body}"
    );
    message.to_owned()
}

async fn connect(server: &MariaDb) -> mysql_async::Conn {
    let opts = mysql_async::Opts::from_url(&server.url()).expect("a valid URL");
    mysql_async::Conn::new(opts)
        .await
        .expect("the test connects to MariaDB")
}

async fn scalar(conn: &mut mysql_async::Conn, sql: &str) -> Option<String> {
    conn.query_first::<Option<String>, _>(sql)
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
        .flatten()
}

/// The columns of the `types` table of the guests, as the test reads them
/// back (text, with BLOBs in hex).
const READ_BACK: &str =
    "CONCAT_WS('|', b, i8, i16, i32, i64, u8, u16, u32, u64, f32, f64, s, t, c, \
     HEX(bin), HEX(blb), HEX(fixed), m, `dec`, d, tm, dt, ts, yr, HEX(bits))";

/// What the guests store in the `types` table's row 1.
fn stored_row() -> String {
    [
        "1",
        "-128",
        "-32768",
        "-2147483648",
        "-9223372036854775808",
        "255",
        "65535",
        "4294967295",
        "18446744073709551615",
        "1.5",
        "-2.25",
        "héllo ✓",
        "a longer text",
        "abcd",
        "000102FF",
        &"09".repeat(300),
        "01020304",
        "-8388608",
        "12.50",
        "2024-02-29",
        "-838:59:59.500",
        "2024-02-29 13:14:15.123456",
        "2024-02-29 13:14:15",
        "2024",
        "A5",
    ]
    .join("|")
}

/// The app's pools once every connection is back and reset (within 5 s).
async fn settled(app: &TestApp) -> PoolStats {
    let state = app
        .services()
        .get::<MysqlCapability>()
        .expect("the app has the MySQL capability");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = state.stats();
        if stats.idle == stats.connections || Instant::now() > deadline {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every case of `guest` against `server`.
async fn every_case(guest: Guest) {
    capture_logs();
    let server = MariaDb::start();
    let app = app(guest, &server.url(), &grant(&server));
    let mut check = connect(&server).await;

    assert_eq!(run(&app, "open", "").await, (200, "opened".into()));

    // Every type, checked by the guest, then read back here.
    assert_eq!(run(&app, "types", "types").await, (200, "ok".into()));
    let row = scalar(
        &mut check,
        &format!("SELECT {READ_BACK} FROM types WHERE id = 1"),
    )
    .await;
    assert_eq!(row.as_deref(), Some(stored_row().as_str()), "{guest:?}");
    let nulls = scalar(
        &mut check,
        "SELECT COUNT(*) FROM types WHERE id = 2 AND COALESCE(b, i8, i16, i32, i64, u8, u16, \
         u32, u64, f32, f64, s, t, c, bin, blb, fixed, m, `dec`, d, tm, dt, ts, yr, bits) IS NULL",
    )
    .await;
    assert_eq!(nulls.as_deref(), Some("1"), "{guest:?}: row 2 is all NULL");

    assert_eq!(run(&app, "execute", "notes").await, (200, "ok".into()));
    let notes = scalar(
        &mut check,
        "SELECT GROUP_CONCAT(id, ':', note ORDER BY id) FROM notes",
    )
    .await;
    assert_eq!(notes.as_deref(), Some("2:deux"), "{guest:?}");

    // The interface's error variants.
    let message = expect_error(run(&app, "query-error", "").await, "query-failed");
    assert!(message.contains("nimbus_no_such_table"), "{message}");
    expect_error(run(&app, "bad-parameter", "").await, "bad-parameter");
    let message = expect_error(
        run(&app, "conversion", "latin").await,
        "value-conversion-failed",
    );
    assert!(message.contains("column `s`"), "{message}");

    assert_eq!(run(&app, "stream", "").await, (200, "ok".into()));

    // At most 16 connections per instance; all back when the request ends.
    assert_eq!(run(&app, "many", "").await, (200, "ok".into()));
    assert_eq!(run(&app, "many", "").await, (200, "ok".into()));

    // Every connection is back in the pool once a request ends, the 16 of
    // `many` too.
    let stats = settled(&app).await;
    assert_eq!((stats.pools, stats.in_use), (1, 0), "{stats:?}");
    assert!(stats.idle >= 16, "{stats:?}");

    // Nothing of a request's session outlives it: its open transaction is
    // rolled back, its variables are gone, its `USE` undone. The pool hands out the
    // connection it got back last, once reset: the same connection.
    let (status, body) = run(&app, "leave-open", "pending").await;
    assert_eq!(status, 200, "{body}");
    let id = body
        .strip_prefix("ok ")
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    settled(&app).await;
    let (status, body) = run(&app, "check-clean", "pending").await;
    assert_eq!(
        (status, body.as_str()),
        (
            200,
            format!("rows=0 leak=NULL id={id} charset=utf8mb4 db=nimbus").as_str()
        ),
        "{guest:?}"
    );

    let logs = logs();
    assert!(!logs.contains(MariaDb::PASSWORD), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_sdk_5_guest_every_case() {
    every_case(Guest::V2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_sdk_7_guest_every_case() {
    every_case(Guest::V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_granted_servers_and_no_credentials_in_errors() {
    capture_logs();
    let server = MariaDb::start();
    let port = server.port();
    let wrong = "Wr0ng-pa55word-xyz";
    for guest in Guest::ALL {
        // Not granted: refused before any connection, with the log line
        // that says what to add.
        let denied = app(guest, &server.url(), &["mysql://127.0.0.1:1".to_owned()]);
        let message = expect_error(run(&denied, "open", "").await, "connection-failed");
        assert!(message.contains("not allowed"), "{message}");
        assert!(
            message.contains(&format!("mysql://127.0.0.1:{port}")),
            "{message}"
        );
        assert!(!message.contains(MariaDb::PASSWORD), "{message}");
        let logs = logs();
        assert!(
            logs.contains(&format!(
                "add \"mysql://127.0.0.1:{port}\" to allowed_outbound_hosts"
            )),
            "{logs}"
        );

        // Granted, but the password is wrong: the server's refusal, without
        // the password.
        let address = format!(
            "mysql://{}:{wrong}@127.0.0.1:{port}/{}",
            MariaDb::USER,
            MariaDb::DATABASE
        );
        let refused = app(guest, &address, &grant(&server));
        let message = expect_error(run(&refused, "open", "").await, "connection-failed");
        assert!(message.contains("Access denied"), "{message}");
        assert!(!message.contains(wrong), "{message}");

        // An address that is not valid: said so, without repeating it.
        let invalid = app(
            guest,
            &format!("mysql://u:{wrong}@127.0.0.1:{port}/db?socket=/tmp/x"),
            &grant(&server),
        );
        let message = expect_error(run(&invalid, "open", "").await, "connection-failed");
        assert!(message.contains("invalid MySQL address"), "{message}");
        assert!(!message.contains(wrong), "{message}");

        // TLS asked for (`ssl-mode`) is TLS or nothing: this server has
        // none.
        let tls = app(
            guest,
            &format!("{}?ssl-mode=REQUIRED", server.url()),
            &grant(&server),
        );
        let message = expect_error(run(&tls, "open", "").await, "connection-failed");
        assert!(!message.contains(MariaDb::PASSWORD), "{message}");

        // On a node, a name that resolves to a private address is refused
        // unless the address itself is granted.
        let by_name = format!(
            "mysql://{}:{}@localhost:{port}/{}",
            MariaDb::USER,
            MariaDb::PASSWORD,
            MariaDb::DATABASE
        );
        let node = app_with_policy(
            guest,
            &by_name,
            &[format!("mysql://localhost:{port}")],
            OutboundPolicy::NODE,
        );
        let message = expect_error(run(&node, "open", "").await, "connection-failed");
        assert!(message.contains("loopback/private"), "{message}");
        assert!(!message.contains(MariaDb::PASSWORD), "{message}");
        let node = app_with_policy(guest, &server.url(), &grant(&server), OutboundPolicy::NODE);
        assert_eq!(run(&node, "open", "").await, (200, "opened".into()));
    }
    let logs = logs();
    assert!(!logs.contains(wrong), "{logs}");
    assert!(!logs.contains(MariaDb::PASSWORD), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_fails_fast_and_is_used_again_when_back() {
    capture_logs();
    let mut server = MariaDb::start();
    let apps: Vec<(Guest, TestApp)> = Guest::ALL
        .into_iter()
        .map(|guest| (guest, app(guest, &server.url(), &grant(&server))))
        .collect();
    for (guest, app) in &apps {
        assert_eq!(
            run(app, "open", "").await,
            (200, "opened".into()),
            "{guest:?}"
        );
    }
    server.stop();
    for (guest, app) in &apps {
        let started = Instant::now();
        let message = expect_error(run(app, "open", "").await, "connection-failed");
        assert!(
            started.elapsed() < CONNECT_TIMEOUT,
            "{guest:?}: {:?}",
            started.elapsed()
        );
        assert!(!message.contains(MariaDb::PASSWORD), "{message}");
    }
    server.restart();
    for (guest, app) in &apps {
        assert_eq!(
            run(app, "open", "").await,
            (200, "opened".into()),
            "{guest:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_fails_within_the_connect_timeout() {
    capture_logs();
    // Accepts connections (the kernel does, for the backlog) but never
    // sends MySQL's greeting.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
    let port = silent.local_addr().expect("its address").port();
    let address = format!("mysql://u:pw-silent@127.0.0.1:{port}/db");
    let grant = vec![format!("mysql://127.0.0.1:{port}")];
    let apps: Vec<(Guest, TestApp)> = Guest::ALL
        .into_iter()
        .map(|guest| (guest, app(guest, &address, &grant)))
        .collect();
    let started = Instant::now();
    let answers =
        futures_util::future::join_all(apps.iter().map(|(_, app)| run(app, "open", ""))).await;
    let elapsed = started.elapsed();
    for ((guest, _), answer) in apps.iter().zip(answers) {
        let message = expect_error(answer, "connection-failed");
        assert!(message.contains("no answer within"), "{guest:?}: {message}");
        assert!(!message.contains("pw-silent"), "{message}");
    }
    assert!(
        elapsed >= CONNECT_TIMEOUT && elapsed < CONNECT_TIMEOUT + Duration::from_secs(3),
        "{elapsed:?}"
    );
}
