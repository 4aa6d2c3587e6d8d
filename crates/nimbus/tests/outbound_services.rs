//! Outbound Redis and PostgreSQL end to end: apps built from source with
//! the published Spin SDKs (spin-sdk 5 for `fermyon:spin/*@2.0.0` and
//! `spin:postgres@3.0.0`/`@4.0.0`, spin-sdk 7 for `spin:redis@3.0.0` and
//! `spin:postgres@4.2.0`), served by the real `nimbus up`, talking to a real
//! `redis-server` and a real PostgreSQL started by the test on 127.0.0.1.
//!
//! The guests (`tests/guests-spin/src/bin/{redis,pg}-v*.rs`,
//! `tests/guests-p3/src/bin/{redis-v3,pg-v4-2}.rs`) take the server's
//! address from the Spin variable `address` and a case from the query
//! string, check what they can inside, and answer `ok`, `opened`,
//! `error: <variant>` (the interface's own error) or `FAIL: …`; the tests
//! check the rest from outside (the data in the server, the logs).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{write_manifest, HttpResponse, Server};
use nimbus_test_guests::{package_guest, Target};
use nimbus_test_servers::{Postgres, RedisServer};

/// A guest: `guests-spin` (spin-sdk 5) or `guests-p3` (spin-sdk 7).
fn guest(package: &str, name: &str) -> String {
    package_guest(package, name, Target::P2)
        .to_str()
        .expect("UTF-8 path")
        .to_owned()
}

/// Writes an app serving `source` on `/...` with `allowed_outbound_hosts`
/// = `allowed` (TOML array items) and the component variable `address`
/// from the app variable of the same name (a secret), plus `extra` TOML.
fn app(dir: &Path, source: &str, allowed: &str, extra: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    write_manifest(
        dir,
        &format!(
            r#"spin_manifest_version = 2

[application]
name = "outbound"

[variables]
address = {{ required = true, secret = true }}
{extra}

[[trigger.http]]
route = "/..."
component = "client"

[component.client]
source = "{source}"
allowed_outbound_hosts = [{allowed}]

[component.client.variables]
address = "{{{{ address }}}}"
"#
        ),
    )
}

fn start(manifest: &Path, address: &str, more: &[&str]) -> Server {
    let variable = format!("address={address}");
    let mut args = vec!["--variable", variable.as_str()];
    args.extend_from_slice(more);
    Server::start_with(manifest, &args)
}

fn expect(response: &HttpResponse, body: &str) {
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, body),
        "unexpected answer"
    );
}

/// GETs `path` until it answers 200 `body` (at most `limit`), and returns
/// the last answer.
fn until(server: &Server, path: &str, body: &str, limit: Duration) -> HttpResponse {
    let deadline = Instant::now() + limit;
    loop {
        let response = server.get(path);
        if (response.status == 200 && response.text() == body) || Instant::now() > deadline {
            return response;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------

/// Sends one command to Redis (RESP) and returns the raw reply line(s).
fn redis(port: u16, args: &[&str]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("redis is up");
    stream.write_all(&resp(args)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    if let Some(len) = line.strip_prefix('$') {
        let len: i64 = len.trim().parse().unwrap();
        if len < 0 {
            return "(nil)".into();
        }
        let mut value = vec![0; len as usize + 2];
        reader.read_exact(&mut value).unwrap();
        value.truncate(len as usize);
        return String::from_utf8_lossy(&value).into_owned();
    }
    line.trim_end().to_owned()
}

fn resp(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    out
}

/// A Redis subscriber to `channel`; `next` returns the next message.
struct Subscriber(BufReader<TcpStream>);

impl Subscriber {
    fn new(port: u16, channel: &str) -> Subscriber {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.write_all(&resp(&["SUBSCRIBE", channel])).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut subscriber = Subscriber(BufReader::new(stream));
        // *3 $9 subscribe $len channel :1
        for _ in 0..6 {
            subscriber.line();
        }
        subscriber
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.0.read_line(&mut line).expect("a reply from Redis");
        line.trim_end().to_owned()
    }

    /// The payload of the next message.
    fn next(&mut self) -> String {
        // *3 $7 message $len channel $len payload
        let lines: Vec<String> = (0..7).map(|_| self.line()).collect();
        assert_eq!(lines[2], "message", "{lines:?}");
        lines[6].clone()
    }
}

const REDIS_GUESTS: [(&str, &str); 2] = [("guests-spin", "redis-v2"), ("guests-p3", "redis-v3")];

#[test]
fn redis_guests_of_both_sdks_use_every_command() {
    let server_redis = RedisServer::start();
    let port = server_redis.port();
    let dir = tempfile::tempdir().unwrap();
    for (package, name) in REDIS_GUESTS {
        // The grant as a template, the way Spin apps write it.
        let manifest = app(
            &dir.path().join(name),
            &guest(package, name),
            r#""redis://{{ redis_host }}:{{ redis_port }}""#,
            &format!("redis_host = {{ default = \"127.0.0.1\" }}\nredis_port = {{ default = \"{port}\" }}"),
        );
        let server = start(&manifest, &server_redis.url(), &[]);
        let key = format!("nimbus-{name}");
        let mut subscriber = Subscriber::new(port, &key);
        expect(&server.get(&format!("/?case=roundtrip&key={key}")), "ok");
        assert_eq!(subscriber.next(), format!("published {key}"), "{name}");
        assert_eq!(
            redis(port, &["GET", &format!("{key}:kept")]),
            "kept",
            "{name}"
        );
        assert_eq!(redis(port, &["GET", &format!("{key}:i")]), "5", "{name}");
        expect(
            &server.get(&format!("/?case=type-error&key={key}:t")),
            "error: type-error",
        );
        // A request holds at most 16 connections; they are freed with it.
        expect(
            &server.get("/?case=many"),
            "opened 16 then error: too-many-connections",
        );
        expect(&server.get("/?case=open"), "opened");
        let logs = server.stop().1;
        assert!(!logs.contains("panicked"), "{logs}");
    }
}

#[test]
fn a_blocking_redis_command_holds_up_no_other_request() {
    let server_redis = RedisServer::start();
    let port = server_redis.port();
    let dir = tempfile::tempdir().unwrap();
    let manifest = app(
        dir.path(),
        &guest("guests-spin", "redis-v2"),
        &format!("\"redis://127.0.0.1:{port}\""),
        "",
    );
    let server = start(&manifest, &server_redis.url(), &[]);
    expect(&server.get("/?case=open"), "opened");
    let addr = server.addr;
    let started = Instant::now();
    let waiting = std::thread::spawn(move || {
        common::request(addr, "GET", "/?case=blpop&key=empty-list", &[], b"")
    });
    std::thread::sleep(Duration::from_millis(300));
    // Another request of the same app, to the same server, meanwhile.
    let quick = Instant::now();
    expect(
        &server.get("/?case=type-error&key=quick"),
        "error: type-error",
    );
    assert!(
        quick.elapsed() < Duration::from_secs(1),
        "held up behind BLPOP: {:?}",
        quick.elapsed()
    );
    expect(&waiting.join().unwrap(), "ok");
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[test]
fn redis_access_is_only_what_allowed_outbound_hosts_grants() {
    let server_redis = RedisServer::start();
    let port = server_redis.port();
    let dir = tempfile::tempdir().unwrap();
    for (package, name) in REDIS_GUESTS {
        // Granted another port only.
        let manifest = app(
            &dir.path().join(name),
            &guest(package, name),
            &format!("\"redis://127.0.0.1:{}\"", port.wrapping_add(1)),
            "",
        );
        let server = start(&manifest, &server_redis.url(), &[]);
        expect(&server.get("/?case=open"), "error: invalid-address");
        let log = server.wait_for_log("not in allowed_outbound_hosts");
        assert!(
            log.contains(&format!(
                "add \"redis://127.0.0.1:{port}\" to allowed_outbound_hosts"
            )),
            "{log}"
        );
        // Not an address at all.
        drop(server);
        let server = start(&manifest, "not a url", &[]);
        expect(&server.get("/?case=open"), "error: invalid-address");
    }
}

#[test]
fn redis_down_fails_fast_without_leaking_the_password_and_recovers() {
    let mut server_redis = RedisServer::start();
    let port = server_redis.port();
    let dir = tempfile::tempdir().unwrap();
    // A password, to look for in logs and errors.
    let address = format!("redis://:hunter2-secret@127.0.0.1:{port}");
    let require_password = || redis(port, &["CONFIG", "SET", "requirepass", "hunter2-secret"]);
    require_password();
    for (package, name) in REDIS_GUESTS {
        let manifest = app(
            &dir.path().join(name),
            &guest(package, name),
            &format!("\"redis://127.0.0.1:{port}\""),
            "",
        );
        let mut command =
            common::up_command(&manifest, &["--variable", &format!("address={address}")]);
        command.env("RUST_LOG", "debug");
        let server = Server::spawn(command);
        let key = format!("restart-{name}");
        expect(&server.get(&format!("/?case=roundtrip&key={key}")), "ok");

        server_redis.stop();
        let started = Instant::now();
        let down = server.get(&format!("/?case=roundtrip&key={key}"));
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{:?}",
            started.elapsed()
        );
        assert_ne!(down.status, 200, "{}", down.text());
        let opened = server.get("/?case=open");
        assert!(!opened.text().contains("hunter2"), "{}", opened.text());

        server_redis.restart();
        require_password();
        let back = until(
            &server,
            &format!("/?case=roundtrip&key={key}"),
            "ok",
            Duration::from_secs(10),
        );
        expect(&back, "ok");
        let logs = server.stop().1;
        assert!(
            !logs.contains("hunter2"),
            "the password is in the log:\n{logs}"
        );
    }
}

// ---------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------

/// Every PostgreSQL guest: spin-sdk 5's `pg` (fermyon:spin/postgres@2.0.0),
/// `pg3` (3.0.0) and `pg4` (4.0.0), and spin-sdk 7's `pg` (4.2.0).
const PG_GUESTS: [(&str, &str, &str); 4] = [
    ("guests-spin", "pg-v2", "v2"),
    ("guests-spin", "pg-v3", "v3"),
    ("guests-spin", "pg-v4", "v4"),
    ("guests-p3", "pg-v4-2", "v4_2"),
];

fn pg_app(dir: &Path, package: &str, name: &str, allowed: &str) -> PathBuf {
    app(&dir.join(name), &guest(package, name), allowed, "")
}

#[test]
fn postgres_guests_of_every_version_round_trip_every_type() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let allowed = format!("\"postgres://127.0.0.1:{}\"", pg.port());
    for (package, name, version) in PG_GUESTS {
        let server = start(&pg_app(dir.path(), package, name, &allowed), &pg.url(), &[]);
        let table = format!("types_{version}");
        expect(&server.get(&format!("/?case=types&table={table}")), "ok");
        // Written for real: seen by psql.
        assert_eq!(
            pg.psql(&format!("SELECT count(*) FROM {table}")).trim(),
            "2",
            "{name}"
        );
        // `int8` is PostgreSQL's one-byte `"char"`; `timestamp` (seconds)
        // goes into a `TIMESTAMPTZ`.
        expect(
            &server.get(&format!("/?case=int8&table=int8_{version}")),
            "type=int8 value=-5",
        );
        if version != "v2" {
            expect(
                &server.get(&format!("/?case=timestamp&table=ts_{version}")),
                "epoch=-86399",
            );
        }
        expect(
            &server.get(&format!("/?case=execute&table=exec_{version}")),
            "ok",
        );
        assert_eq!(
            pg.psql(&format!(
                "SELECT count(*) || ' ' || count(*) FILTER (WHERE name = 'x') FROM exec_{version}"
            ))
            .trim(),
            "3 2",
            "{name}"
        );
        let query_error = if version == "v2" || version == "v3" {
            "error: query-failed"
        } else {
            "error: query-failed 42P01"
        };
        expect(&server.get("/?case=query-error"), query_error);
        expect(&server.get("/?case=bad-parameter"), "error: bad-parameter");
        if version == "v4" {
            // A result over the host's bound: the interface's error, and the
            // app keeps serving.
            expect(&server.get("/?case=too-big"), "error: other");
            expect(&server.get("/?case=open"), "opened");
        }
        expect(
            &server.get("/?case=many"),
            "opened 16 then error: connection-failed",
        );
        let logs = server.stop().1;
        assert!(!logs.contains("panicked"), "{logs}");
    }
}

#[test]
fn postgres_access_is_only_what_allowed_outbound_hosts_grants() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let port = pg.port();
    for (package, name, _) in PG_GUESTS {
        let manifest = pg_app(
            dir.path(),
            package,
            name,
            "\"postgres://db.example.com:5432\"",
        );
        let server = start(&manifest, &pg.url(), &[]);
        expect(&server.get("/?case=open"), "error: connection-failed");
        let log = server.wait_for_log("not in allowed_outbound_hosts");
        assert!(
            log.contains(&format!(
                "add \"postgres://127.0.0.1:{port}\" to allowed_outbound_hosts"
            )),
            "{log}"
        );
        let logs = server.stop().1;
        assert!(
            !logs.contains(pg.password()),
            "the password is in the log:\n{logs}"
        );
    }
}

#[test]
fn postgres_down_fails_fast_without_leaking_the_password_and_recovers() {
    let mut pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let allowed = format!("\"postgres://127.0.0.1:{}\"", pg.port());
    let servers: Vec<Server> = PG_GUESTS
        .iter()
        .map(|(package, name, _)| {
            let manifest = pg_app(dir.path(), package, name, &allowed);
            let mut command =
                common::up_command(&manifest, &["--variable", &format!("address={}", pg.url())]);
            command.env("RUST_LOG", "debug");
            Server::spawn(command)
        })
        .collect();
    for server in &servers {
        expect(&server.get("/?case=open"), "opened");
    }
    pg.stop();
    for server in &servers {
        let started = Instant::now();
        expect(&server.get("/?case=open"), "error: connection-failed");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{:?}",
            started.elapsed()
        );
    }
    pg.restart();
    for (server, (_, name, version)) in servers.iter().zip(PG_GUESTS) {
        let back = until(
            server,
            &format!("/?case=execute&table=back_{version}"),
            "ok",
            Duration::from_secs(15),
        );
        assert_eq!((back.status, back.text()), (200, "ok".to_owned()), "{name}");
    }
    for server in servers {
        let logs = server.stop().1;
        assert!(
            !logs.contains(pg.password()),
            "the password is in the log:\n{logs}"
        );
    }
}

// ---------------------------------------------------------------------------
// MySQL (MariaDB)
// ---------------------------------------------------------------------------

/// spin-sdk 5's `mysql` (fermyon:spin/mysql@2.0.0) and spin-sdk 7's v3
/// module (spin:mysql@3.0.0).
const MYSQL_GUESTS: [(&str, &str); 2] = [("guests-spin", "mysql-v2"), ("guests-p3", "mysql-v3")];

/// The first line of an answer (the MySQL guests put an error's message on
/// the second).
fn first_line(response: &HttpResponse) -> (u16, String) {
    let text = response.text();
    (
        response.status,
        text.lines().next().unwrap_or_default().to_owned(),
    )
}

#[test]
fn mysql_guests_of_both_sdks_round_trip_every_type() {
    let db = nimbus_test_servers::MariaDb::start();
    let dir = tempfile::tempdir().unwrap();
    let allowed = format!("\"mysql://127.0.0.1:{}\"", db.port());
    for (package, name) in MYSQL_GUESTS {
        let version = name.replace('-', "_");
        let manifest = app(&dir.path().join(name), &guest(package, name), &allowed, "");
        let server = start(&manifest, &db.url(), &[]);
        expect(
            &server.get(&format!("/?case=types&table=types_{version}")),
            "ok",
        );
        assert_eq!(
            db.sql(&format!("SELECT count(*) FROM types_{version}")),
            "2",
            "{name}"
        );
        expect(
            &server.get(&format!("/?case=execute&table=exec_{version}")),
            "ok",
        );
        assert_eq!(
            db.sql(&format!("SELECT id, note FROM exec_{version}")),
            "2\tdeux",
            "{name}"
        );
        assert_eq!(
            first_line(&server.get("/?case=query-error")),
            (200, "error: query-failed".to_owned())
        );
        assert_eq!(
            first_line(&server.get("/?case=bad-parameter")),
            (200, "error: bad-parameter".to_owned())
        );
        expect(&server.get("/?case=stream"), "ok");
        expect(&server.get("/?case=many"), "ok");
        // A transaction left open by one request is gone for the next.
        let left = server.get(&format!("/?case=leave-open&table=leak_{version}"));
        assert!(left.text().starts_with("ok "), "{}", left.text());
        let clean = server.get(&format!("/?case=check-clean&table=leak_{version}"));
        assert!(clean.text().starts_with("rows=0 "), "{}", clean.text());
        let logs = server.stop().1;
        assert!(!logs.contains("panicked"), "{logs}");
        assert!(
            !logs.contains(nimbus_test_servers::MariaDb::PASSWORD),
            "{logs}"
        );
    }
}

#[test]
fn mysql_access_is_granted_by_allowed_outbound_hosts_and_survives_a_restart() {
    let mut db = nimbus_test_servers::MariaDb::start();
    let dir = tempfile::tempdir().unwrap();
    let port = db.port();
    let mut servers = Vec::new();
    for (package, name) in MYSQL_GUESTS {
        let denied = app(
            &dir.path().join(format!("{name}-denied")),
            &guest(package, name),
            "\"mysql://db.example.com:3306\"",
            "",
        );
        let server = start(&denied, &db.url(), &[]);
        assert_eq!(
            first_line(&server.get("/?case=open")),
            (200, "error: connection-failed".to_owned())
        );
        let log = server.wait_for_log("not in allowed_outbound_hosts");
        assert!(
            log.contains(&format!(
                "add \"mysql://127.0.0.1:{port}\" to allowed_outbound_hosts"
            )),
            "{log}"
        );
        drop(server);
        let allowed = app(
            &dir.path().join(name),
            &guest(package, name),
            &format!("\"mysql://127.0.0.1:{port}\""),
            "",
        );
        let server = start(&allowed, &db.url(), &[]);
        expect(&server.get("/?case=open"), "opened");
        servers.push(server);
    }
    db.stop();
    for server in &servers {
        let started = Instant::now();
        assert_eq!(
            first_line(&server.get("/?case=open")),
            (200, "error: connection-failed".to_owned())
        );
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{:?}",
            started.elapsed()
        );
    }
    db.restart();
    for server in &servers {
        expect(
            &until(server, "/?case=open", "opened", Duration::from_secs(15)),
            "opened",
        );
    }
}

// ---------------------------------------------------------------------------
// PostgreSQL behind the key-value store: state shared by a fleet
// ---------------------------------------------------------------------------

#[test]
fn two_nodes_share_the_default_key_value_store_in_postgres() {
    let dir = common::example("counter");
    common::build(&dir);
    let pg = Postgres::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("runtime-config.toml");
    std::fs::write(
        &config,
        format!(
            "[key_value_store.default]\ntype = \"postgres\"\nurl = \"{}\"\n",
            pg.url()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();
    let servers: Vec<Server> = ["a", "b"]
        .iter()
        .map(|node| {
            let state = tmp.path().join(node);
            Server::start_with(
                &dir,
                &[
                    "--runtime-config-file",
                    &config,
                    "--state-dir",
                    state.to_str().unwrap(),
                ],
            )
        })
        .collect();
    for n in 1..=6 {
        let response = servers[n % 2].get("/hello");
        assert_eq!(
            (response.status, response.text()),
            (200, format!("/hello has been visited {n} times\n"))
        );
    }
    // In the database, not in either node's state directory.
    assert_eq!(
        pg.psql("SELECT app, store, key, convert_from(value, 'UTF8') FROM nimbus_key_value"),
        "counter|default|hits:/hello|6"
    );
    for server in servers {
        let logs = server.stop().1;
        assert!(!logs.contains(pg.password()), "{logs}");
    }
}

// ---------------------------------------------------------------------------
// MQTT (Mosquitto)
// ---------------------------------------------------------------------------

/// spin-sdk 5's `mqtt` (fermyon:spin/mqtt@2.0.0) and spin-sdk 7's
/// (spin:mqtt@3.0.0).
const MQTT_GUESTS: [(&str, &str, &str); 2] = [
    ("guests-spin", "mqtt-v2", "v2"),
    ("guests-p3", "mqtt-v3", "v3"),
];

/// An app whose guest takes `address`, `username` and `password` from
/// secret variables.
fn mqtt_app(dir: &Path, package: &str, name: &str, allowed: &str) -> PathBuf {
    let manifest = app(
        &dir.join(name),
        &guest(package, name),
        allowed,
        "username = { required = true }\npassword = { required = true, secret = true }",
    );
    let text = std::fs::read_to_string(&manifest).unwrap();
    let text = text.replace(
        "address = \"{{ address }}\"\n",
        "address = \"{{ address }}\"\nusername = \"{{ username }}\"\npassword = \"{{ password }}\"\n",
    );
    std::fs::write(&manifest, text).unwrap();
    manifest
}

fn start_mqtt(manifest: &Path, address: &str, password: &str) -> Server {
    let password = format!("password={password}");
    start(
        manifest,
        address,
        &["--variable", "username=nimbus", "--variable", &password],
    )
}

#[test]
fn mqtt_guests_of_both_sdks_publish_with_every_qos() {
    let broker = nimbus_test_servers::Mosquitto::start_with_password("nimbus", "mqtt-Secret-9");
    let dir = tempfile::tempdir().unwrap();
    let allowed = format!("\"mqtt://127.0.0.1:{}\"", broker.port());
    for (package, name, version) in MQTT_GUESTS {
        let server = start_mqtt(
            &mqtt_app(dir.path(), package, name, &allowed),
            &broker.url(),
            "mqtt-Secret-9",
        );
        for qos in 0..=2u8 {
            let topic = format!("nimbus/{version}/qos{qos}");
            let subscriber = broker.subscribe(&topic, 2);
            expect(
                &server.get(&format!("/?case=publish&topic={topic}&qos={qos}")),
                "ok",
            );
            let (got_topic, payload) = subscriber
                .next(Duration::from_secs(10))
                .unwrap_or_else(|| panic!("{name}: nothing arrived on {topic}"));
            assert_eq!(got_topic, topic);
            assert_eq!(
                String::from_utf8_lossy(&payload),
                format!("hello qos{qos} from {version}")
            );
        }
        // Wrong credentials: the interface's error, without the password.
        let wrong = start_mqtt(
            &mqtt_app(&dir.path().join("wrong"), package, name, &allowed),
            &broker.url(),
            "not-the-Password-1",
        );
        let answer = wrong.get("/?case=open");
        assert_eq!(
            first_line(&answer),
            (200, "error: connection-failed".to_owned())
        );
        assert!(
            !answer.text().contains("not-the-Password-1"),
            "{}",
            answer.text()
        );
        let logs = wrong.stop().1 + &server.stop().1;
        assert!(
            !logs.contains("mqtt-Secret-9") && !logs.contains("not-the-Password-1"),
            "{logs}"
        );
    }
}

#[test]
fn mqtt_access_is_granted_by_allowed_outbound_hosts_and_survives_a_broker_restart() {
    let mut broker = nimbus_test_servers::Mosquitto::start();
    let port = broker.port();
    let dir = tempfile::tempdir().unwrap();
    for (package, name, version) in MQTT_GUESTS {
        let denied = start_mqtt(
            &mqtt_app(
                &dir.path().join("denied"),
                package,
                name,
                "\"mqtt://broker.example.com:1883\"",
            ),
            &broker.url(),
            "",
        );
        assert_eq!(
            first_line(&denied.get("/?case=open")),
            (200, "error: connection-failed".to_owned())
        );
        let log = denied.wait_for_log("not in allowed_outbound_hosts");
        assert!(
            log.contains(&format!(
                "add \"mqtt://127.0.0.1:{port}\" to allowed_outbound_hosts"
            )),
            "{log}"
        );
        drop(denied);

        let server = start_mqtt(
            &mqtt_app(
                dir.path(),
                package,
                name,
                &format!("\"mqtt://127.0.0.1:{port}\""),
            ),
            &broker.url(),
            "",
        );
        expect(&server.get("/?case=open"), "opened");
        broker.stop();
        let started = Instant::now();
        let down = server.get("/?case=publish&topic=t&qos=1");
        assert_ne!(down.text(), "ok");
        assert!(
            started.elapsed() < Duration::from_secs(12),
            "{:?}",
            started.elapsed()
        );
        broker.restart();
        let topic = format!("nimbus/back/{version}");
        let subscriber = broker.subscribe(&topic, 1);
        let back = until(
            &server,
            &format!("/?case=publish&topic={topic}&qos=1"),
            "ok",
            Duration::from_secs(15),
        );
        expect(&back, "ok");
        assert!(subscriber.next(Duration::from_secs(10)).is_some(), "{name}");
    }
}
