//! The Redis trigger end to end: `nimbus up` with `[[trigger.redis]]`
//! sections, a real `redis-server` started by the test on 127.0.0.1, and
//! components built from source with spin-sdk 5 (`#[redis_component]`,
//! `fermyon:spin/inbound-redis`) and spin-sdk 7 (`#[redis_subscriber]`,
//! `spin:redis/inbound-redis@3.0.0`).
//!
//! The guests (`tests/guests-spin/src/bin/redis-trigger-v2.rs`,
//! `tests/guests-p3/src/bin/redis-trigger-v3.rs`) append each message they
//! handle to the list `seen:<name>` in the same Redis (`name` and `address`
//! are component variables), and trap, loop, hog memory or return their
//! error on the messages `trap`, `loop`, `hog` and `error`. The test
//! publishes with plain RESP over a socket and reads the lists back.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{up_command, up_refused, write_manifest, Spawned};
use nimbus_test_guests::{package_guest, Target};
use nimbus_test_servers::RedisServer;

/// A guest: `guests-spin` (spin-sdk 5) or `guests-p3` (spin-sdk 7).
fn guest(package: &str, name: &str) -> String {
    package_guest(package, name, Target::P2)
        .to_str()
        .expect("UTF-8 path")
        .to_owned()
}

fn v2_guest() -> String {
    guest("guests-spin", "redis-trigger-v2")
}

fn v3_guest() -> String {
    guest("guests-p3", "redis-trigger-v3")
}

/// spin-sdk 6's `#[redis_subscriber]`: the same export as spin-sdk 7.
fn v6_guest() -> String {
    guest("guests-spin6", "redis-trigger-v6")
}

/// A `[component.NAME]` running `source`, with the variables the guests
/// read (`name`, and `address` from the app variable `redis_address`).
fn component(name: &str, source: &str) -> String {
    format!(
        r#"
[component.{name}]
source = "{source}"
allowed_outbound_hosts = ["redis://127.0.0.1:*"]
[component.{name}.variables]
name = "{name}"
address = "{{{{ redis_address }}}}"
[component.{name}.limits]
timeout = "1s"
memory = "64MiB"
"#
    )
}

/// An app with `triggers` (TOML) and `components`; the Redis address is the
/// app variable `redis_address` (also the app's default trigger address).
fn app(dir: &Path, triggers: &str, components: &[String]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    write_manifest(
        dir,
        &format!(
            r#"spin_manifest_version = 2

[application]
name = "redis-app"

[application.trigger.redis]
address = "{{{{ redis_address }}}}"

[variables]
redis_address = {{ required = true }}
channel = {{ default = "orders" }}
{triggers}
{}"#,
            components.concat()
        ),
    )
}

/// `nimbus up` (with `RUST_LOG=info`), once it printed its Redis triggers.
fn up(manifest: &Path, redis: &RedisServer) -> Spawned {
    let variable = format!("redis_address={}", redis.url());
    let mut command = up_command(manifest, &["--variable", &variable]);
    command.env("RUST_LOG", "info");
    let mut process = Spawned::spawn("nimbus up", command);
    process.wait_until("redis trigger: ");
    process
}

// ---------------------------------------------------------------------------
// Talking to Redis (RESP over a socket)
// ---------------------------------------------------------------------------

/// A RESP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<String>),
    Array(Vec<Reply>),
}

fn resp(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    out
}

fn read_reply(reader: &mut impl BufRead) -> Reply {
    let mut line = String::new();
    reader.read_line(&mut line).expect("a reply from redis");
    let line = line.trim_end();
    let (kind, rest) = line.split_at(1);
    match kind {
        "+" => Reply::Status(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Int(rest.parse().unwrap()),
        "$" => {
            let len: i64 = rest.parse().unwrap();
            if len < 0 {
                return Reply::Bulk(None);
            }
            let mut value = vec![0; len as usize + 2];
            reader.read_exact(&mut value).unwrap();
            value.truncate(len as usize);
            Reply::Bulk(Some(String::from_utf8_lossy(&value).into_owned()))
        }
        "*" => {
            let len: i64 = rest.parse().unwrap();
            Reply::Array((0..len.max(0)).map(|_| read_reply(reader)).collect())
        }
        other => panic!("unexpected RESP reply {other:?}{rest}"),
    }
}

/// Sends one command and returns the reply.
fn redis(port: u16, args: &[&str]) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("redis is up");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(&resp(args)).unwrap();
    read_reply(&mut BufReader::new(stream))
}

/// PUBLISH; returns how many subscribers got it.
fn publish(port: u16, channel: &str, message: &str) -> i64 {
    match redis(port, &["PUBLISH", channel, message]) {
        Reply::Int(n) => n,
        other => panic!("PUBLISH answered {other:?}"),
    }
}

/// How many connections subscribe to `channel`.
fn subscribers(port: u16, channel: &str) -> i64 {
    match redis(port, &["PUBSUB", "NUMSUB", channel]) {
        Reply::Array(items) => match items.get(1) {
            Some(Reply::Int(n)) => *n,
            other => panic!("PUBSUB NUMSUB answered {other:?}"),
        },
        other => panic!("PUBSUB NUMSUB answered {other:?}"),
    }
}

/// Waits (30 s at most) until `channel` has `n` subscribing connections.
fn wait_for_subscribers(port: u16, channel: &str, n: i64, process: &Spawned) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = subscribers(port, channel);
        if now == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{channel:?} has {now} subscribers, not {n}; log:\n{}",
            process.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The list `seen:<name>`, sorted (messages run concurrently, so the order
/// they were handled in is not the order they were published in).
fn seen(port: u16, name: &str) -> Vec<String> {
    let key = format!("seen:{name}");
    let mut items: Vec<String> = match redis(port, &["LRANGE", &key, "0", "-1"]) {
        Reply::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Reply::Bulk(Some(text)) => text,
                other => panic!("LRANGE item {other:?}"),
            })
            .collect(),
        other => panic!("LRANGE answered {other:?}"),
    };
    items.sort();
    items
}

/// Waits (30 s at most) until `seen:<name>` is `expected` (sorted).
fn wait_seen(port: u16, name: &str, expected: &[&str], process: &Spawned) {
    let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    expected.sort();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = seen(port, name);
        if now == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "seen:{name} is {now:?}, not {expected:?}; log:\n{}",
            process.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The access-log lines (target `nimbus::access`: ` INFO event trigger=…
/// outcome=…`) of `component`.
fn access_lines(logs: &str, component: &str) -> Vec<String> {
    let needle = format!("component={component} ");
    logs.lines()
        .filter(|line| {
            line.contains(" event trigger=") && line.contains(" outcome=") && line.contains(&needle)
        })
        .map(str::to_owned)
        .collect()
}

/// Waits (30 s at most) until the log has an access line of `component`
/// with `outcome` for event `event`.
fn wait_for_outcome(process: &Spawned, component: &str, event: &str, outcome: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logs = process.logs();
        let found = access_lines(&logs, component).into_iter().find(|line| {
            line.contains(&format!("event=\"{event}\""))
                && line.contains(&format!("outcome=\"{outcome}\""))
        });
        if let Some(line) = found {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "no access line for {component} {event} with outcome {outcome}; log:\n{logs}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

/// A spin-sdk 5, a spin-sdk 7 and a spin-sdk 6 component on one channel
/// all get every message, over one subscribing connection.
#[test]
fn both_sdks_get_every_message_on_one_channel() {
    let redis = RedisServer::start();
    let port = redis.port();
    let dir = tempfile::tempdir().unwrap();
    // The v2 trigger's channel is a variable (default "orders").
    let manifest = app(
        dir.path(),
        r#"
[[trigger.redis]]
channel = "{{ channel }}"
component = "v2"

[[trigger.redis]]
channel = "orders"
component = "v3"
executor = { type = "spin" }

[[trigger.redis]]
channel = "orders"
component = "v6"
"#,
        &[
            component("v2", &v2_guest()),
            component("v3", &v3_guest()),
            component("v6", &v6_guest()),
        ],
    );
    let process = up(&manifest, &redis);
    let out = process.output();
    for name in ["v2", "v3", "v6"] {
        let line = format!("redis trigger: {name}: redis://127.0.0.1:{port} channel \"orders\"");
        assert!(out.contains(&line), "no {line:?} in:\n{out}");
    }
    // One connection serves both triggers.
    wait_for_subscribers(port, "orders", 1, &process);
    let messages = ["m1", "m2", "m3", "m4", "m5"];
    for message in messages {
        assert_eq!(publish(port, "orders", message), 1);
    }
    // Another channel reaches nobody.
    assert_eq!(publish(port, "other", "m6"), 0);
    wait_seen(port, "v2", &messages, &process);
    wait_seen(port, "v3", &messages, &process);
    wait_seen(port, "v6", &messages, &process);
    for (component, trigger_id) in [
        ("v2", "v2-redis-trigger"),
        ("v3", "v3-redis-trigger"),
        ("v6", "v6-redis-trigger"),
    ] {
        for n in 1..=5 {
            let line = wait_for_outcome(&process, component, &format!("orders#{n}"), "ok");
            assert!(line.contains(&format!("trigger_id={trigger_id}")), "{line}");
            assert!(line.contains("trigger=\"redis\""), "{line}");
        }
        let lines = access_lines(&process.logs(), component);
        assert_eq!(lines.len(), 5, "{lines:#?}");
    }
    // SIGTERM: it unsubscribes and exits cleanly.
    let mut process = process;
    assert!(process.terminate().success(), "{}", process.logs());
    assert_eq!(subscribers(port, "orders"), 0);
}

/// Redis down at start, restarted, and restarted again in the middle of a
/// stream: the trigger never ends, logs each loss and return once, and
/// handles what is published once Redis is back.
#[test]
fn a_restarted_redis_is_resubscribed() {
    let mut redis = RedisServer::start();
    let port = redis.port();
    redis.stop();
    let dir = tempfile::tempdir().unwrap();
    let manifest = app(
        dir.path(),
        "[[trigger.redis]]\nchannel = \"orders\"\ncomponent = \"v2\"\n",
        &[component("v2", &v2_guest())],
    );
    let process = up(&manifest, &redis);
    let address = format!("redis://127.0.0.1:{port}");
    process.wait_for_log(&format!("cannot subscribe on {address}"));

    redis.restart();
    wait_for_subscribers(port, "orders", 1, &process);
    for message in ["a1", "a2"] {
        assert_eq!(publish(port, "orders", message), 1);
    }
    wait_seen(port, "v2", &["a1", "a2"], &process);

    // In the middle of the stream: its data (the list) is gone with it.
    redis.restart();
    wait_for_subscribers(port, "orders", 1, &process);
    for message in ["b1", "b2", "b3"] {
        assert_eq!(publish(port, "orders", message), 1);
    }
    wait_seen(port, "v2", &["b1", "b2", "b3"], &process);

    let logs = process.logs();
    let count = |needle: &str| logs.matches(needle).count();
    assert_eq!(
        count(&format!("cannot subscribe on {address}")),
        1,
        "{logs}"
    );
    assert_eq!(
        count(&format!("lost the connection to {address}")),
        1,
        "{logs}"
    );
    assert_eq!(
        count(&format!("connection to {address} restored")),
        2,
        "{logs}"
    );
    // Sequence numbers go on across reconnections.
    wait_for_outcome(&process, "v2", "orders#5", "ok");
}

/// A message that traps, loops past `timeout`, allocates past `memory` or
/// makes the guest return its error ends only itself.
#[test]
fn failing_messages_end_only_themselves() {
    let redis = RedisServer::start();
    let port = redis.port();
    let dir = tempfile::tempdir().unwrap();
    let manifest = app(
        dir.path(),
        "[[trigger.redis]]\nchannel = \"orders\"\ncomponent = \"v2\"\n\
         [[trigger.redis]]\nid = \"spin7\"\nchannel = \"orders\"\ncomponent = \"v3\"\n",
        &[component("v2", &v2_guest()), component("v3", &v3_guest())],
    );
    let process = up(&manifest, &redis);
    wait_for_subscribers(port, "orders", 1, &process);
    for message in ["before", "trap", "loop", "hog", "error", "after"] {
        assert_eq!(publish(port, "orders", message), 1);
    }
    wait_seen(port, "v2", &["before", "after"], &process);
    wait_seen(port, "v3", &["before", "after"], &process);
    for (component, trigger_id) in [("v2", "v2-redis-trigger"), ("v3", "spin7")] {
        for (event, outcome) in [
            ("orders#1", "ok"),
            ("orders#2", "trap"),
            ("orders#3", "timeout"),
            ("orders#4", "memory"),
            ("orders#5", "error"),
            ("orders#6", "ok"),
        ] {
            let line = wait_for_outcome(&process, component, event, outcome);
            assert!(line.contains(&format!("trigger_id={trigger_id}")), "{line}");
        }
    }
    // And the subscription goes on.
    assert_eq!(publish(port, "orders", "later"), 1);
    wait_seen(port, "v2", &["before", "after", "later"], &process);
    wait_seen(port, "v3", &["before", "after", "later"], &process);

    // SIGTERM while a guest runs: it stops reading, lets the guest end (here
    // at its timeout), then exits.
    let mut process = process;
    assert_eq!(publish(port, "orders", "loop"), 1);
    wait_for_subscribers(port, "orders", 1, &process);
    std::thread::sleep(Duration::from_millis(200));
    assert!(process.terminate().success(), "{}", process.logs());
    wait_for_outcome(&process, "v2", "orders#8", "timeout");
    wait_for_outcome(&process, "v3", "orders#8", "timeout");
}

/// A malformed `[[trigger.redis]]` makes `nimbus up` exit non-zero with
/// `file:line:col`; so does a component exporting no inbound Redis
/// interface (named, with both interfaces).
#[test]
fn malformed_redis_triggers_are_refused() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let variable = format!("redis_address={}", redis.url());

    // A misspelt key.
    let manifest = app(
        &dir.path().join("typo"),
        "\n[[trigger.redis]]\nchanel = \"orders\"\ncomponent = \"v2\"\n",
        &[component("v2", &v2_guest())],
    );
    let text = std::fs::read_to_string(&manifest).unwrap();
    let line = text.lines().position(|l| l.starts_with("chanel")).unwrap() + 1;
    let (status, stderr) = up_refused(up_command(&manifest, &["--variable", &variable]));
    assert!(!status.success());
    let place = format!("{}:{line}:1:", manifest.display());
    assert!(stderr.contains(&place), "no {place:?} in:\n{stderr}");
    assert!(stderr.contains("did you mean \"channel\""), "{stderr}");

    // No address anywhere.
    std::fs::create_dir_all(dir.path().join("no-address")).unwrap();
    let manifest = write_manifest(
        &dir.path().join("no-address"),
        &format!(
            "spin_manifest_version = 2\n[application]\nname = \"a\"\n\
             [[trigger.redis]]\nchannel = \"orders\"\ncomponent = \"v2\"\n\
             [component.v2]\nsource = \"{}\"\n",
            v2_guest()
        ),
    );
    let (status, stderr) = up_refused(up_command(&manifest, &[]));
    assert!(!status.success());
    let place = format!("{}:4:1: no Redis address", manifest.display());
    assert!(stderr.contains(&place), "no {place:?} in:\n{stderr}");

    // A component with no inbound Redis export (an HTTP component).
    let manifest = app(
        &dir.path().join("http"),
        "[[trigger.redis]]\nchannel = \"orders\"\ncomponent = \"web\"\n",
        &[component("web", &guest("guests-spin", "redis-v2"))],
    );
    let (status, stderr) = up_refused(up_command(&manifest, &["--variable", &variable]));
    assert!(!status.success());
    for needle in [
        "component `web` exports no inbound Redis interface",
        "fermyon:spin/inbound-redis",
        "spin:redis/inbound-redis@3.0.0",
    ] {
        assert!(stderr.contains(needle), "no {needle:?} in:\n{stderr}");
    }
}

/// `max_concurrency` for messages: past it they wait, up to 1,024; more are
/// dropped at once with a log line (outcome `dropped`), and the waiting ones
/// all run once a slot is free.
#[test]
fn excess_messages_wait_then_are_dropped() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let manifest = app(
        dir.path(),
        r#"
[[trigger.redis]]
channel = "busy"
component = "one-at-a-time"
"#,
        &[format!(
            r#"
[component.one-at-a-time]
source = "{}"
allowed_outbound_hosts = ["redis://127.0.0.1:*"]
[component.one-at-a-time.variables]
name = "one-at-a-time"
address = "{{{{ redis_address }}}}"
[component.one-at-a-time.limits]
timeout = "2s"
max_concurrency = 1
"#,
            v2_guest()
        )],
    );
    let process = up(&manifest, &redis);
    wait_for_subscribers(redis.port(), "busy", 1, &process);

    // One message holds the only slot for 2 s ("loop" runs to its timeout);
    // 1,100 more arrive meanwhile, in one burst.
    const BURST: usize = 1100;
    const WAITING: usize = 1024;
    let mut stream = TcpStream::connect(("127.0.0.1", redis.port())).unwrap();
    let mut commands = resp(&["PUBLISH", "busy", "loop"]);
    for i in 0..BURST {
        commands.extend(resp(&["PUBLISH", "busy", &format!("m{i}")]));
    }
    stream.write_all(&commands).unwrap();
    let mut reader = BufReader::new(stream);
    for _ in 0..=BURST {
        assert_eq!(read_reply(&mut reader), Reply::Int(1));
    }

    // The first 1,024 waited and then ran, in order of arrival; the rest
    // were dropped, each with its line.
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen(redis.port(), "one-at-a-time").len() < WAITING {
        assert!(
            Instant::now() < deadline,
            "only {} handled; log:\n{}",
            seen(redis.port(), "one-at-a-time").len(),
            process.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let handled = seen(redis.port(), "one-at-a-time");
    let mut expected: Vec<String> = (0..WAITING).map(|i| format!("m{i}")).collect();
    expected.sort();
    assert_eq!(handled, expected);
    let logs = process.logs();
    let dropped = logs
        .lines()
        .filter(|l| l.contains(r#"outcome="dropped""#))
        .count();
    assert_eq!(dropped, BURST - WAITING, "{logs}");
    assert!(
        logs.contains(
            "dropped: 1 events of one-at-a-time are running (max_concurrency) and 1024 are waiting"
        ),
        "{logs}"
    );
    assert_eq!(
        logs.lines()
            .filter(|l| l.contains(r#"outcome="timeout""#))
            .count(),
        1,
        "{logs}"
    );
}
