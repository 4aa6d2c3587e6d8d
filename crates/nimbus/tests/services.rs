//! The host services (key-value, SQLite, variables and the runtime config
//! that picks their backends) end to end: guests built from source, served
//! by the real `nimbus up` binary, spoken to over real sockets, with a real
//! `redis-server` started by the test where Redis is the backend.
//!
//! Everything listens on 127.0.0.1 on ports chosen free, and state lives in
//! temporary directories (`--state-dir`), never in the repository.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    build, example, probe, request, up_command, up_refused, write_manifest, HttpResponse, Server,
};
use nimbus_platform::serde_json::{self, json, Value as Json};
use nimbus_test_guests::{package_guest, Target};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A guest of `tests/guests-kv`, as a path usable in a manifest.
fn kv_guest(name: &str) -> String {
    path_text(&package_guest("guests-kv", name, Target::P2))
}

/// A guest of `tests/guests-spin`, as a path usable in a manifest.
fn spin_guest(name: &str) -> String {
    path_text(&package_guest("guests-spin", name, Target::P2))
}

fn path_text(path: &Path) -> String {
    path.to_str().expect("UTF-8 path").to_owned()
}

/// Writes `nimbus.toml` for app `name` into `dir` (created), with `body`
/// after the `[application]` table.
fn app(dir: &Path, name: &str, body: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    write_manifest(
        dir,
        &format!("spin_manifest_version = 2\n\n[application]\nname = \"{name}\"\n\n{body}"),
    )
}

/// A runtime config file in `dir` putting the `default` store on `redis`.
fn redis_runtime_config(dir: &Path, redis: &Redis) -> PathBuf {
    let path = dir.join("runtime-config.toml");
    std::fs::write(
        &path,
        format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
            redis.url()
        ),
    )
    .unwrap();
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    request(addr, "GET", path, &[], b"")
}

fn post(addr: SocketAddr, path: &str, body: &[u8]) -> HttpResponse {
    request(addr, "POST", path, &[], body)
}

fn json_body(response: &HttpResponse) -> Json {
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|err| panic!("not JSON ({err}): {:?}", response.text()))
}

/// Sends `method path` (with `body`) 25 times from each of 8 threads at once
/// and returns every response.
fn hammer(
    addr: SocketAddr,
    method: &'static str,
    path: &str,
    body: &'static [u8],
) -> Vec<HttpResponse> {
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let path = path.to_owned();
            std::thread::spawn(move || {
                (0..25)
                    .map(|_| request(addr, method, &path, &[], body))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().expect("request thread panicked"))
        .collect()
}

// ---------------------------------------------------------------------------
// A real redis-server
// ---------------------------------------------------------------------------

/// A `redis-server` on 127.0.0.1, without persistence; killed on drop.
struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    /// Starts one on a free port.
    fn start() -> Redis {
        let mut last_error = String::new();
        // A port found free may be taken before redis-server binds it: try
        // another.
        for _ in 0..5 {
            let mut redis = Redis {
                port: free_port(),
                child: None,
            };
            match redis.try_start() {
                Ok(()) => return redis,
                Err(err) => last_error = err,
            }
        }
        panic!("{last_error}");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server again on the same port (after [`Redis::stop`]).
    fn restart(&mut self) {
        if let Err(err) = self.try_start() {
            panic!("{err}");
        }
    }

    /// Starts the server on `self.port` and waits until it answers PING.
    fn try_start(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "redis-server is already running");
        let spawned = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not installed, and these tests need a real Redis server: \
                 install it (e.g. `apt-get install redis-server` or `brew install redis`)"
            ),
            Err(err) => panic!("cannot start redis-server: {err}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "redis-server on port {} exited with {status}",
                    self.port
                ));
            }
            if self.command("PING").contains("+PONG") {
                // Ours answered, not some other server on that port.
                std::thread::sleep(Duration::from_millis(50));
                if let Ok(None) = child.try_wait() {
                    self.child = Some(child);
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "redis-server on port {} did not answer PING",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL) and waits until it is gone.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends one inline command and returns the raw reply ("" if Redis
    /// cannot be reached).
    fn command(&self, command: &str) -> String {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return String::new();
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        if stream
            .write_all(format!("{command}\r\nQUIT\r\n").as_bytes())
            .is_err()
        {
            return String::new();
        }
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply);
        String::from_utf8_lossy(&reply).into_owned()
    }

    /// Every key matching `pattern`, sorted.
    fn keys(&self, pattern: &str) -> Vec<String> {
        let reply = self.command(&format!("KEYS {pattern}"));
        let mut keys: Vec<String> = reply
            .split("\r\n")
            .skip(1) // the array header
            .filter(|line| !line.is_empty() && !line.starts_with(['$', '+', '*']))
            .map(str::to_owned)
            .collect();
        keys.sort();
        keys
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------
// `nimbus up` with a chosen environment, and `nimbus up` that must fail
// ---------------------------------------------------------------------------

/// `nimbus up -f manifest --listen 127.0.0.1:0 args…` with the environment
/// the test chooses (variables, `RUST_LOG`): none of the API_KEY variables
/// the tests use, plus `env`.
fn up_with_env(manifest: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = up_command(manifest, args);
    command
        .env_remove("NIMBUS_VARIABLE_API_KEY")
        .env_remove("SPIN_VARIABLE_API_KEY");
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// A running `nimbus up` whose environment the test chooses (variables,
/// `RUST_LOG`); [`Server::start`] sets `RUST_LOG=info`. Killed on drop.
fn start_with_env(manifest: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
    Server::spawn(up_with_env(manifest, args, env))
}

/// Runs `nimbus up` that must refuse to start: returns its exit code and
/// stderr. Panics if it serves or runs for more than a minute.
fn up_fails(manifest: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let (status, stderr) = up_refused(up_with_env(manifest, args, env));
    (status.code().unwrap_or(-1), stderr)
}

// ---------------------------------------------------------------------------
// examples/counter
// ---------------------------------------------------------------------------

#[test]
fn counter_example_counts_per_path_and_keeps_counts_across_restarts() {
    let dir = example("counter");
    build(&dir);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let state_arg = path_text(&state);
    let args = ["--state-dir", state_arg.as_str()];
    let visits = |server: &Server, path: &str| {
        let response = server.get(path);
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.header("content-type"), Some("text/plain"));
        response.text()
    };

    let mut server = Server::start_with(&dir, &args);
    for n in 1..=3 {
        assert_eq!(
            visits(&server, "/hello"),
            format!("/hello has been visited {n} times\n")
        );
    }
    assert_eq!(
        visits(&server, "/other/page"),
        "/other/page has been visited 1 times\n"
    );
    assert!(
        state.join("key_value.db").is_file(),
        "the embedded store lives in --state-dir"
    );

    // A clean restart (SIGTERM) keeps the counts…
    assert!(server.terminate().success());
    drop(server);
    let server = Server::start_with(&dir, &args);
    assert_eq!(
        visits(&server, "/hello"),
        "/hello has been visited 4 times\n"
    );
    // …and so does kill -9 (SIGKILL; what Drop sends): the write the guest
    // saw succeed is on disk.
    drop(server);
    let server = Server::start_with(&dir, &args);
    assert_eq!(
        visits(&server, "/hello"),
        "/hello has been visited 5 times\n"
    );
    assert_eq!(
        visits(&server, "/other/page"),
        "/other/page has been visited 2 times\n"
    );
}

#[test]
fn counter_example_runs_on_redis_with_its_runtime_config() {
    let dir = example("counter");
    build(&dir);
    let mut redis = Redis::start();
    // The README's runtime-config.redis.toml, pointed at this test's Redis.
    let shipped = std::fs::read_to_string(dir.join("runtime-config.redis.toml")).unwrap();
    assert!(shipped.contains("redis://127.0.0.1:6379"), "{shipped}");
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("runtime-config.redis.toml");
    std::fs::write(
        &config,
        shipped.replace("redis://127.0.0.1:6379", &redis.url()),
    )
    .unwrap();
    let state = tmp.path().join("state");

    let server = Server::start_with(
        &dir,
        &[
            "--runtime-config-file",
            &path_text(&config),
            "--state-dir",
            &path_text(&state),
        ],
    );
    for n in 1..=3 {
        let response = server.get("/hello");
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(
            response.text(),
            format!("/hello has been visited {n} times\n")
        );
    }
    // The count is in Redis, under the app's prefix, not in a local file.
    assert_eq!(redis.keys("*"), ["nimbus:counter:default:hits:/hello"]);
    assert!(redis
        .command("GET nimbus:counter:default:hits:/hello")
        .contains("\r\n3\r\n"));
    assert!(!state.join("key_value.db").exists());

    // Redis down: the example answers 503 with the store's error, as its
    // README says.
    redis.stop();
    let down = server.get("/hello");
    assert_eq!(down.status, 503, "{}", down.text());
    assert!(
        down.text().starts_with("key-value store error: ") && down.text().contains("redis"),
        "{}",
        down.text()
    );
}

// ---------------------------------------------------------------------------
// examples/todo
// ---------------------------------------------------------------------------

#[test]
fn todo_example_is_a_crud_json_api() {
    let dir = example("todo");
    build(&dir);
    let tmp = tempfile::tempdir().unwrap();
    let migrations = format!("@{}", path_text(&dir.join("migrations.sql")));
    let state = path_text(&tmp.path().join("state"));
    let args = [
        "--sqlite",
        migrations.as_str(),
        "--state-dir",
        state.as_str(),
    ];
    let mut server = Server::start_with(&dir, &args);
    let addr = server.addr;
    let send = |method: &str, path: &str, body: &str| {
        request(
            addr,
            method,
            path,
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
    };

    let empty = server.get("/todos");
    assert_eq!(empty.status, 200, "{}", empty.text());
    assert_eq!(empty.header("content-type"), Some("application/json"));
    assert_eq!(json_body(&empty), json!([]));

    let created = send("POST", "/todos", r#"{"title": "buy milk"}"#);
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(
        json_body(&created),
        json!({"id": 1, "title": "buy milk", "done": false})
    );
    assert_eq!(created.header("location"), Some("/todos/1"));
    let second = send("POST", "/todos", r#"{"title": "write tests"}"#);
    assert_eq!(second.status, 201, "{}", second.text());
    assert_eq!(json_body(&second)["id"], 2);

    assert_eq!(
        json_body(&server.get("/todos")),
        json!([
            {"id": 1, "title": "buy milk", "done": false},
            {"id": 2, "title": "write tests", "done": false},
        ])
    );

    let done = send("PATCH", "/todos/1", r#"{"done": true}"#);
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(
        json_body(&done),
        json!({"id": 1, "title": "buy milk", "done": true})
    );
    assert_eq!(
        json_body(&server.get("/todos/1")),
        json!({"id": 1, "title": "buy milk", "done": true})
    );

    // Unknown ids.
    for (method, body) in [("GET", ""), ("PATCH", r#"{"done": true}"#), ("DELETE", "")] {
        let response = send(method, "/todos/99", body);
        assert_eq!(response.status, 404, "{method}: {}", response.text());
        assert!(json_body(&response)["error"].is_string());
    }
    // Bad bodies.
    for (method, path, body) in [
        ("POST", "/todos", "{not json"),
        ("POST", "/todos", r#"{"title": ""}"#),
        ("POST", "/todos", r#"{"name": "x"}"#),
        ("PATCH", "/todos/2", "true"),
        ("PATCH", "/todos/2", r#"{"done": "yes"}"#),
    ] {
        let response = send(method, path, body);
        assert_eq!(response.status, 400, "{method} {body}: {}", response.text());
        assert!(
            json_body(&response)["error"].is_string(),
            "{}",
            response.text()
        );
    }
    assert_eq!(send("PUT", "/todos", "{}").status, 405);

    let deleted = send("DELETE", "/todos/1", "");
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    assert!(deleted.body.is_empty());
    assert_eq!(send("DELETE", "/todos/1", "").status, 404);
    assert_eq!(
        json_body(&server.get("/todos")),
        json!([{"id": 2, "title": "write tests", "done": false}])
    );

    // A restart runs the migrations again (they are idempotent) and finds
    // the data; ids are never reused.
    assert!(server.terminate().success());
    drop(server);
    let server = Server::start_with(&dir, &args);
    assert_eq!(
        json_body(&server.get("/todos")),
        json!([{"id": 2, "title": "write tests", "done": false}])
    );
    let third = request(
        server.addr,
        "POST",
        "/todos",
        &[],
        br#"{"title": "ship it"}"#,
    );
    assert_eq!(json_body(&third)["id"], 3, "{}", third.text());
}

// ---------------------------------------------------------------------------
// Atomic increments and compare-and-swap under concurrency
// ---------------------------------------------------------------------------

/// An app serving the `wasi:keyvalue` draft2 guest at `/...` with the
/// `default` store, and the probe (no grants) at `/health`.
fn increment_app(dir: &Path, name: &str) -> PathBuf {
    app(
        dir,
        name,
        &format!(
            r#"[[trigger.http]]
route = "/..."
component = "kv"

[[trigger.http]]
route = "/health"
component = "health"

[component.kv]
source = "{}"
key_value_stores = ["default"]

[component.health]
source = "{}"
"#,
            kv_guest("kv-wasi-draft2"),
            probe()
        ),
    )
}

/// 8 threads × 25 `atomics.increment`s on one key, then as many
/// compare-and-swap appends on another: nothing is lost or doubled.
fn assert_atomic_under_concurrency(addr: SocketAddr) {
    let responses = hammer(addr, "POST", "/incr/hits", b"");
    let mut seen = BTreeSet::new();
    for response in &responses {
        assert_eq!(response.status, 200, "{}", response.text());
        let value: i64 = response.text().trim().parse().unwrap();
        assert!(seen.insert(value), "two increments both returned {value}");
    }
    assert_eq!(seen, (1..=200).collect::<BTreeSet<i64>>());
    assert_eq!(get(addr, "/get/hits").text(), "200");

    for response in hammer(addr, "POST", "/append/log", b"x") {
        assert_eq!(response.status, 200, "{}", response.text());
    }
    assert_eq!(get(addr, "/get/log").text(), "x".repeat(200));
}

#[test]
fn increments_and_compare_and_swap_are_atomic_on_the_embedded_store() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = increment_app(tmp.path(), "atomic-embedded");
    let state = path_text(&tmp.path().join("state"));
    let server = Server::start_with(&manifest, &["--state-dir", &state]);
    assert_atomic_under_concurrency(server.addr);
}

#[test]
fn increments_and_compare_and_swap_are_atomic_on_redis() {
    let redis = Redis::start();
    let tmp = tempfile::tempdir().unwrap();
    let manifest = increment_app(tmp.path(), "atomic-redis");
    let config = redis_runtime_config(tmp.path(), &redis);
    let server = Server::start_with(&manifest, &["--runtime-config-file", &path_text(&config)]);
    assert_atomic_under_concurrency(server.addr);
    assert_eq!(
        redis.keys("*"),
        [
            "nimbus:atomic-redis:default:hits",
            "nimbus:atomic-redis:default:log"
        ]
    );
    assert!(
        !tmp.path().join(".nimbus").exists(),
        "no embedded store is created when `default` is on Redis"
    );
}

// ---------------------------------------------------------------------------
// Redis stopped and restarted under a running nimbus
// ---------------------------------------------------------------------------

#[test]
fn redis_down_fails_only_key_value_calls_and_recovers_without_a_restart() {
    let mut redis = Redis::start();
    let tmp = tempfile::tempdir().unwrap();
    let manifest = increment_app(tmp.path(), "redis-outage");
    let config = redis_runtime_config(tmp.path(), &redis);
    let server = Server::start_with(&manifest, &["--runtime-config-file", &path_text(&config)]);
    assert_eq!(post(server.addr, "/incr/n", b"").text(), "1");
    assert_eq!(post(server.addr, "/set/k", b"before").text(), "ok");

    redis.stop();
    for path in ["/incr/n", "/get/k"] {
        let started = Instant::now();
        let failed = post(server.addr, path, b"");
        assert!(
            (500..600).contains(&failed.status),
            "{path} with Redis down: {} {}",
            failed.status,
            failed.text()
        );
        // The guest saw the error, and it says what is wrong.
        assert!(
            failed.text().contains("redis unavailable"),
            "{path}: {}",
            failed.text()
        );
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{path} took {:?} to fail",
            started.elapsed()
        );
    }
    // Routes that do not use the store keep serving.
    let health = server.get("/health");
    assert_eq!(health.status, 200, "{}", health.text());
    server.wait_for_log("unavailable");

    // Redis comes back (empty: it has no persistence here); nimbus uses it
    // again without being restarted.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response = post(server.addr, "/set/k", b"after");
        if response.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "key-value calls still fail 20s after Redis came back: {} {}",
            response.status,
            response.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(server.get("/get/k").text(), "after");
    assert_eq!(post(server.addr, "/incr/n", b"").text(), "1");
    assert_eq!(server.get("/health").status, 200);
    server.wait_for_log("reachable again");
}

// ---------------------------------------------------------------------------
// Access control
// ---------------------------------------------------------------------------

/// The Spin key-value guest at `/...` and the SQLite guest at `/sql`, with
/// the given grant lines.
fn grants_app(dir: &Path, kv_grant: &str, sql_grant: &str) -> PathBuf {
    app(
        dir,
        "grants",
        &format!(
            r#"[[trigger.http]]
route = "/..."
component = "kv"

[[trigger.http]]
route = "/sql"
component = "sql"

[component.kv]
source = "{}"
{kv_grant}

[component.sql]
source = "{}"
{sql_grant}
"#,
            kv_guest("kv-spin"),
            spin_guest("sqlite-exec")
        ),
    )
}

fn sql(addr: SocketAddr, database: &str, statements: Json) -> HttpResponse {
    let body = json!({"database": database, "statements": statements}).to_string();
    post(addr, "/sql", body.as_bytes())
}

#[test]
fn stores_and_databases_not_granted_are_access_denied_with_a_hint_in_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let state = path_text(&tmp.path().join("state"));

    // Nothing granted: even `default` is denied.
    let manifest = grants_app(&tmp.path().join("none"), "", "");
    let server = Server::start_with(&manifest, &["--state-dir", &state]);
    let denied = server.get("/get/key");
    assert_eq!(denied.status, 500, "{}", denied.text());
    assert_eq!(denied.text(), "error: Error::AccessDenied");
    let logs = server.wait_for_log("key_value_stores");
    assert!(
        logs.contains(r#"add "default" to key_value_stores in [component.kv]"#),
        "{logs}"
    );
    let denied = sql(server.addr, "default", json!([{"sql": "SELECT 1"}]));
    assert_eq!(denied.status, 500, "{}", denied.text());
    assert_eq!(json_body(&denied)["error"], "Error::AccessDenied");
    let logs = server.wait_for_log("sqlite_databases");
    assert!(
        logs.contains(r#"sqlite_databases = ["default"]` in [component.sql]"#),
        "{logs}"
    );
    drop(server);

    // `default` granted: it works, and any other label is still denied.
    let manifest = grants_app(
        &tmp.path().join("default"),
        r#"key_value_stores = ["default"]"#,
        r#"sqlite_databases = ["default"]"#,
    );
    let server = Server::start_with(&manifest, &["--state-dir", &state]);
    assert_eq!(post(server.addr, "/set/key", b"v").text(), "ok");
    assert_eq!(server.get("/get/key").text(), "v");
    let denied = server.get("/get/key?store=other");
    assert_eq!(denied.text(), "error: Error::AccessDenied");
    server.wait_for_log(r#"add "other" to key_value_stores in [component.kv]"#);
    let ok = sql(server.addr, "default", json!([{"sql": "SELECT 1"}]));
    assert_eq!(ok.status, 200, "{}", ok.text());
    let denied = sql(server.addr, "other", json!([]));
    assert_eq!(json_body(&denied)["error"], "Error::AccessDenied");
    server.wait_for_log("SQLite database `other`");
}

// ---------------------------------------------------------------------------
// Per-app isolation
// ---------------------------------------------------------------------------

/// The Spin key-value guest at `/...` with the `default` store.
fn kv_app(dir: &Path, name: &str) -> PathBuf {
    app(
        dir,
        name,
        &format!(
            "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"kv\"\n\n[component.kv]\nsource = \"{}\"\nkey_value_stores = [\"default\"]\n",
            kv_guest("kv-spin")
        ),
    )
}

/// Two running apps, each with a `default` store: neither sees the other's
/// keys.
fn assert_isolated(alpha: &Server, beta: &Server) {
    assert_eq!(post(alpha.addr, "/set/owner", b"alpha").text(), "ok");
    assert_eq!(post(alpha.addr, "/set/only-alpha", b"1").text(), "ok");
    let missing = beta.get("/get/owner");
    assert_eq!(missing.status, 404, "{}", missing.text());
    assert_eq!(beta.get("/keys").text(), "");
    assert_eq!(post(beta.addr, "/set/owner", b"beta").text(), "ok");
    assert_eq!(alpha.get("/get/owner").text(), "alpha");
    assert_eq!(beta.get("/get/owner").text(), "beta");
    assert_eq!(alpha.get("/keys").text(), "only-alpha\nowner");
    assert_eq!(beta.get("/keys").text(), "owner");
    assert_eq!(post(beta.addr, "/delete/owner", b"").text(), "ok");
    assert_eq!(alpha.get("/get/owner").text(), "alpha");
}

#[test]
fn two_apps_sharing_one_redis_never_see_each_others_keys() {
    let redis = Redis::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = redis_runtime_config(tmp.path(), &redis);
    let config = path_text(&config);
    let alpha = kv_app(&tmp.path().join("alpha"), "alpha");
    let beta = kv_app(&tmp.path().join("beta"), "beta");
    let alpha = Server::start_with(&alpha, &["--runtime-config-file", &config]);
    let beta = Server::start_with(&beta, &["--runtime-config-file", &config]);
    assert_isolated(&alpha, &beta);
    // One Redis, one key space per app.
    assert_eq!(
        redis.keys("*"),
        [
            "nimbus:alpha:default:only-alpha",
            "nimbus:alpha:default:owner"
        ]
    );
}

#[test]
fn two_apps_on_the_embedded_store_keep_their_state_next_to_their_manifests() {
    let tmp = tempfile::tempdir().unwrap();
    let alpha_dir = tmp.path().join("alpha");
    let beta_dir = tmp.path().join("beta");
    // No --state-dir: each app's state is in `.nimbus/` next to its manifest.
    let alpha = Server::start(&kv_app(&alpha_dir, "alpha"));
    let beta = Server::start(&kv_app(&beta_dir, "beta"));
    assert_isolated(&alpha, &beta);
    assert!(alpha_dir.join(".nimbus").join("key_value.db").is_file());
    assert!(beta_dir.join(".nimbus").join("key_value.db").is_file());
}

// ---------------------------------------------------------------------------
// SQLite durability
// ---------------------------------------------------------------------------

#[test]
fn sqlite_writes_acknowledged_before_kill_9_survive() {
    const N: i64 = 60;
    let tmp = tempfile::tempdir().unwrap();
    let manifest = app(
        tmp.path(),
        "durable",
        &format!(
            "[[trigger.http]]\nroute = \"/sql\"\ncomponent = \"sql\"\n\n[component.sql]\nsource = \"{}\"\nsqlite_databases = [\"default\"]\n",
            spin_guest("sqlite-exec")
        ),
    );
    let state = path_text(&tmp.path().join("state"));
    let args = [
        "--state-dir",
        state.as_str(),
        "--sqlite",
        "CREATE TABLE IF NOT EXISTS events (n INTEGER NOT NULL)",
    ];
    let server = Server::start_with(&manifest, &args);
    for n in 0..N {
        let response = sql(
            server.addr,
            "default",
            json!([{"sql": "INSERT INTO events (n) VALUES (?)", "params": [{"integer": n}]}]),
        );
        assert_eq!(response.status, 200, "insert {n}: {}", response.text());
    }
    // SIGKILL: no shutdown, no checkpoint, no flush.
    drop(server);

    let server = Server::start_with(&manifest, &args);
    let count = sql(
        server.addr,
        "default",
        json!([{"sql": "SELECT count(*), sum(n) FROM events"}]),
    );
    assert_eq!(count.status, 200, "{}", count.text());
    assert_eq!(
        json_body(&count)["results"][0]["rows"],
        json!([[{"integer": N}, {"integer": N * (N - 1) / 2}]])
    );
}

// ---------------------------------------------------------------------------
// Variables and secrets
// ---------------------------------------------------------------------------

const SECRET: &str = "s3cr3t-Qx7-never-logged";

/// `greeting` (default) and `api_key` (required, secret), read by a Spin
/// SDK guest (`fermyon:spin/variables`) at `/spin/...` and a
/// `wasi:config/store` guest at `/get/...` and `/all`.
fn variables_app(dir: &Path) -> PathBuf {
    let components =
        r#"variables = { message = "{{ greeting }}, world", token = "Bearer {{ api_key }}" }"#;
    app(
        dir,
        "variables",
        &format!(
            r#"[variables]
greeting = {{ default = "Hello" }}
api_key = {{ required = true, secret = true }}

[[trigger.http]]
route = "/spin/..."
component = "spin-vars"

[[trigger.http]]
route = "/get/..."
component = "config-vars"

[[trigger.http]]
route = "/all"
component = "config-vars"

[component.spin-vars]
source = "{}"
{components}

[component.config-vars]
source = "{}"
{components}
"#,
            spin_guest("variables-get"),
            spin_guest("config-get")
        ),
    )
}

#[test]
fn guests_read_variables_and_secrets_never_reach_the_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = variables_app(tmp.path());
    let server = start_with_env(
        &manifest,
        &[],
        &[("NIMBUS_VARIABLE_API_KEY", SECRET), ("RUST_LOG", "debug")],
    );
    let bearer = format!("Bearer {SECRET}");
    for (path, expected) in [
        ("/spin/message", "Hello, world"),
        ("/spin/token", bearer.as_str()),
        ("/get/message", "Hello, world"),
        ("/get/token", bearer.as_str()),
    ] {
        let response = server.get(path);
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        assert_eq!(response.text(), expected, "{path}");
    }
    assert_eq!(
        server.get("/all").text(),
        format!("message=Hello, world\ntoken={bearer}\n")
    );
    // Only the component's own keys exist.
    let undefined = server.get("/spin/greeting");
    assert_eq!(undefined.status, 500);
    assert!(
        undefined.text().contains("Undefined"),
        "{}",
        undefined.text()
    );
    assert_eq!(server.get("/get/api_key").status, 404);

    let (stdout, stderr) = server.stop();
    // Debug logging was on (it says where the value came from)…
    assert!(
        stderr.contains("NIMBUS_VARIABLE_API_KEY"),
        "no debug log about the variable:\n{stderr}"
    );
    // …and never shows the value.
    assert!(
        !stderr.contains(SECRET),
        "the secret is in the log:\n{stderr}"
    );
    assert!(
        !stdout.contains(SECRET),
        "the secret is on stdout:\n{stdout}"
    );
}

#[test]
fn required_variables_come_from_the_environment_or_the_runtime_config_or_up_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = variables_app(tmp.path());

    // Missing: exit 1, naming the variable and how to set it.
    let (code, stderr) = up_fails(&manifest, &[], &[("RUST_LOG", "debug")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("`api_key` is required"), "{stderr}");
    assert!(stderr.contains("NIMBUS_VARIABLE_API_KEY"), "{stderr}");

    // Spin's environment prefix.
    let server = start_with_env(
        &manifest,
        &[],
        &[("SPIN_VARIABLE_API_KEY", "from-spin-env")],
    );
    assert_eq!(server.get("/spin/token").text(), "Bearer from-spin-env");
    drop(server);

    // The runtime config's [variables]; the environment wins over it.
    let config = tmp.path().join("runtime-config.toml");
    std::fs::write(
        &config,
        "[variables]\napi_key = \"from-config\"\ngreeting = \"Hi\"\n",
    )
    .unwrap();
    let config = path_text(&config);
    let args = ["--runtime-config-file", config.as_str()];
    let server = start_with_env(&manifest, &args, &[]);
    assert_eq!(server.get("/spin/token").text(), "Bearer from-config");
    assert_eq!(server.get("/get/message").text(), "Hi, world");
    drop(server);
    let server = start_with_env(&manifest, &args, &[("NIMBUS_VARIABLE_API_KEY", "from-env")]);
    assert_eq!(server.get("/get/token").text(), "Bearer from-env");
}

#[test]
fn variable_flags_come_before_the_environment_and_the_runtime_config() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = variables_app(tmp.path());
    let config = tmp.path().join("runtime-config.toml");
    std::fs::write(&config, "[variables]\napi_key = \"from-config\"\n").unwrap();
    let config = path_text(&config);

    // Alone, a flag satisfies a required variable.
    let server = start_with_env(&manifest, &["--variable", "api_key=from-flag"], &[]);
    assert_eq!(server.get("/spin/token").text(), "Bearer from-flag");
    drop(server);

    // Over the environment and the runtime config, and a default.
    let args = [
        "--runtime-config-file",
        config.as_str(),
        "--variable",
        "api_key=from-flag",
        "--variable",
        "greeting=Howdy",
    ];
    let server = start_with_env(&manifest, &args, &[("NIMBUS_VARIABLE_API_KEY", "from-env")]);
    assert_eq!(server.get("/spin/token").text(), "Bearer from-flag");
    assert_eq!(server.get("/get/token").text(), "Bearer from-flag");
    assert_eq!(server.get("/get/message").text(), "Howdy, world");
    drop(server);

    // A name the manifest does not declare is an error, not ignored.
    let (code, stderr) = up_fails(&manifest, &["--variable", "api_kye=x"], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("--variable api_kye") && stderr.contains("`api_key`"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------
// Runtime config errors
// ---------------------------------------------------------------------------

#[test]
fn runtime_config_errors_name_the_file_and_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = kv_app(&tmp.path().join("app"), "config-errors");
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "unknown-section.toml",
            "[key_value_stor.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\n",
            &[
                ":1:",
                "unknown runtime config section `key_value_stor`",
                "did you mean `key_value_store`?",
            ],
        ),
        (
            "bad-kv-type.toml",
            "[key_value_store.default]\ntype = \"memcached\"\n",
            &[":2:", "key_value_store.default", "unknown variant `memcached`"],
        ),
        (
            "leftover-key.toml",
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\nport = 6379\n",
            &["key_value_store.default", "unknown field `port`"],
        ),
        (
            "bad-redis-url.toml",
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"http://127.0.0.1:6379\"\n",
            &["key_value_store.default", "invalid Redis url"],
        ),
        (
            "bad-sqlite-type.toml",
            "[sqlite_database.default]\ntype = \"postgres\"\n",
            &["sqlite_database.default", "unknown variant `postgres`"],
        ),
        (
            "undeclared-variable.toml",
            "[variables]\napi_kye = \"x\"\n",
            &["api_kye", "does not declare"],
        ),
        (
            "not-toml.toml",
            "[key_value_store.default\n",
            &[":1:"],
        ),
    ];
    for (file, text, expected) in cases {
        let path = tmp.path().join(file);
        std::fs::write(&path, text).unwrap();
        let path = path_text(&path);
        let (code, stderr) = up_fails(&manifest, &["--runtime-config-file", &path], &[]);
        assert_eq!(code, 1, "{file}: {stderr}");
        // The redis-url error is reported while configuring the store, after
        // the file was read; every other one is located in the file.
        if *file != "bad-redis-url.toml" && *file != "undeclared-variable.toml" {
            assert!(
                stderr.contains(&path),
                "{file}: the file is not named: {stderr}"
            );
        }
        for needle in *expected {
            assert!(
                stderr.contains(needle),
                "{file}: no {needle:?} in: {stderr}"
            );
        }
    }

    let missing = path_text(&tmp.path().join("no-such-file.toml"));
    let (code, stderr) = up_fails(&manifest, &["--runtime-config-file", &missing], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("cannot read runtime config"), "{stderr}");
    assert!(stderr.contains(&missing), "{stderr}");
}
