//! The NATS trigger end to end, through the real `nimbus up` against a real
//! `nats-server`: queue groups shared by two processes, plain subscriptions
//! seen by both, request/reply (from the test to a guest, and from a guest
//! to another guest), the messaging capability's grants, failing guests,
//! a server that is down or restarts, and a malformed section.
//!
//! What the guests do is described at the top of their sources
//! (`tests/guests-messaging/src/bin/nats-worker.rs`, `nats-client.rs`). The
//! test's own NATS client is `nimbus_test_servers::NatsClient`.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{up_command, up_refused, write_manifest, Spawned};
use nimbus_test_guests::Target;
use nimbus_test_servers::{NatsClient, NatsServer, NatsSubscription};

const WAIT: Duration = Duration::from_secs(10);

fn guest(name: &str) -> String {
    nimbus_test_guests::package_guest("guests-messaging", name, Target::P2)
        .display()
        .to_string()
}

/// An app whose `worker` (nats-worker) takes `jobs.>` (in `queue_group`, if
/// any) and whose `client` (nats-client) takes `ask.>`; both may connect to
/// `server` only.
fn app(dir: &Path, server: &NatsServer, queue_group: Option<&str>) -> PathBuf {
    let url = server.url();
    let group = queue_group
        .map(|g| format!("queue_group = \"{g}\"\n"))
        .unwrap_or_default();
    write_manifest(
        dir,
        &format!(
            r#"spin_manifest_version = 2
[application]
name = "nats-app"

[application.trigger.nats]
address = "{url}"

[[trigger.nats]]
subject = "jobs.>"
{group}component = "worker"

[[trigger.nats]]
address = "{{{{ nats }}}}"
subject = "ask.>"
component = "client"

[variables]
nats = {{ default = "{url}" }}

[component.worker]
source = "{worker}"
allowed_outbound_hosts = ["{url}"]
environment = {{ NATS_ADDRESS = "{url}" }}
[component.worker.limits]
timeout = "1s"

[component.client]
source = "{client}"
allowed_outbound_hosts = ["{url}"]
environment = {{ NATS_ADDRESS = "{url}" }}
"#,
            worker = guest("nats-worker"),
            client = guest("nats-client"),
        ),
    )
}

/// `nimbus up` of `manifest` as worker `name` (`$WORKER`), once both of its
/// subscriptions are active (`expect_listening`: false when the server is
/// down).
fn up(manifest: &Path, name: &str, expect_listening: bool) -> Spawned {
    let mut command = up_command(manifest, &["--env", &format!("WORKER={name}")]);
    command.env("RUST_LOG", "info");
    let mut process = Spawned::spawn(&format!("nimbus up ({name})"), command);
    process.wait_until("nats trigger: ");
    if expect_listening {
        wait_for_count(&process, "listening on", 2);
    }
    process
}

/// Waits until `needle` appears `count` times in the log.
fn wait_for_count(process: &Spawned, needle: &str, count: usize) {
    let deadline = Instant::now() + WAIT;
    while process.logs().matches(needle).count() < count {
        assert!(
            Instant::now() < deadline,
            "the log never had {needle:?} {count} times:\n{}",
            process.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Collects the `done.*` messages: job → the workers that did it.
fn collect_done(done: &NatsSubscription, expected: usize) -> HashMap<String, Vec<String>> {
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    let mut total = 0;
    let deadline = Instant::now() + WAIT;
    while total < expected && Instant::now() < deadline {
        if let Some(message) = done.next(Duration::from_millis(100)) {
            let job = message.subject.trim_start_matches("done.").to_owned();
            let worker = String::from_utf8(message.payload).unwrap();
            seen.entry(job).or_default().push(worker);
            total += 1;
        }
    }
    // Anything more (a job done twice) would arrive now.
    while let Some(message) = done.next(Duration::from_millis(300)) {
        let job = message.subject.trim_start_matches("done.").to_owned();
        seen.entry(job)
            .or_default()
            .push(String::from_utf8(message.payload).unwrap());
    }
    seen
}

/// Whether `line` is an access-log line of the NATS trigger with `outcome`.
fn access_line(line: &str, outcome: &str) -> bool {
    line.contains("trigger=\"nats\"") && line.contains(&format!("outcome=\"{outcome}\""))
}

#[test]
fn a_queue_group_shares_the_messages_between_two_processes() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let manifest = app(dir.path(), &server, Some("workers"));
    let a = up(&manifest, "a", true);
    let b = up(&manifest, "b", true);
    assert!(
        a.output().contains(&format!(
            "nats trigger: worker: {} subject \"jobs.>\" queue group \"workers\"",
            server.url()
        )),
        "{}",
        a.output()
    );

    let client = server.client();
    let done = client.subscribe("done.>", None);
    const N: usize = 200;
    for i in 0..N {
        client.publish(&format!("jobs.{i}"), None, i.to_string().as_bytes());
    }
    client.flush();
    let seen = collect_done(&done, N);
    for i in 0..N {
        let workers = seen.get(&i.to_string()).map(Vec::as_slice).unwrap_or(&[]);
        assert_eq!(workers.len(), 1, "job {i} was done by {workers:?}");
    }
    assert_eq!(seen.len(), N, "unexpected jobs: {seen:?}");
    let by_a = seen.values().filter(|w| w[0] == "a").count();
    let by_b = seen.values().filter(|w| w[0] == "b").count();
    assert!(by_a > 0 && by_b > 0, "a did {by_a}, b did {by_b}");
    assert_eq!(by_a + by_b, N);
    // Each process logged one access line per job it took.
    for (process, count) in [(&a, by_a), (&b, by_b)] {
        let logs = process.logs();
        let handled = logs
            .lines()
            .filter(|l| access_line(l, "ok"))
            .filter(|l| l.contains("event=\"jobs."))
            .count();
        assert_eq!(handled, count, "{logs}");
    }
}

#[test]
fn without_a_queue_group_every_process_gets_every_message() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let manifest = app(dir.path(), &server, None);
    let a = up(&manifest, "a", true);
    let _b = up(&manifest, "b", true);
    assert!(a.output().contains(&format!(
        "nats trigger: worker: {} subject \"jobs.>\"\n",
        server.url()
    )));
    let client = server.client();
    let done = client.subscribe("done.>", None);
    for i in 0..20 {
        client.publish(&format!("jobs.{i}"), None, i.to_string().as_bytes());
    }
    let seen = collect_done(&done, 40);
    assert_eq!(seen.len(), 20, "{seen:?}");
    for (job, mut workers) in seen {
        workers.sort();
        assert_eq!(workers, ["a", "b"], "job {job}");
    }
}

#[test]
fn requests_are_answered_and_guests_request_each_other() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let process = up(&app(dir.path(), &server, Some("workers")), "a", true);
    let client = server.client();

    // The test asks the worker; it replies on the message's reply subject.
    let answer = client
        .request("jobs.r1", b"req-1", WAIT)
        .expect("the worker replies");
    assert_eq!(answer.payload, b"echo: req-1");

    // The test asks `client`, which asks the worker with request-reply.request
    // and replies with what it got.
    let answer = client
        .request("ask.1", b"request jobs.r2 req-2", WAIT)
        .expect("the client guest replies");
    assert_eq!(String::from_utf8_lossy(&answer.payload), "echo: req-2");

    // Nobody listens on `nobody`: no responders.
    let answer = client
        .request("ask.2", b"request nobody x", WAIT)
        .expect("the client guest replies");
    let text = String::from_utf8_lossy(&answer.payload).into_owned();
    assert!(
        text.starts_with("error: Error::Other(") && text.contains("no responders"),
        "{text}"
    );
    drop(process);
}

#[test]
fn connecting_needs_the_server_in_allowed_outbound_hosts() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let process = up(&app(dir.path(), &server, None), "a", true);
    let client = server.client();

    let granted = client
        .request(
            "ask.1",
            format!("connect {}", server.url()).as_bytes(),
            WAIT,
        )
        .expect("a reply");
    assert_eq!(String::from_utf8_lossy(&granted.payload), "ok");

    let denied = client
        .request("ask.2", b"connect nats://127.0.0.1:1", WAIT)
        .expect("a reply");
    let text = String::from_utf8_lossy(&denied.payload).into_owned();
    assert!(
        text.starts_with("error: Error::PermissionDenied(")
            && text.contains("nats://127.0.0.1:1 is not allowed"),
        "{text}"
    );
    process
        .wait_for_log("add \"nats://127.0.0.1:1\" to allowed_outbound_hosts in [component.client]");

    let invalid = client
        .request("ask.3", b"connect redis://127.0.0.1:6379", WAIT)
        .expect("a reply");
    let text = String::from_utf8_lossy(&invalid.payload).into_owned();
    assert!(text.contains("invalid NATS address"), "{text}");
}

#[test]
fn failing_guests_do_not_end_the_subscription() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let process = up(&app(dir.path(), &server, Some("workers")), "a", true);
    let client = server.client();
    let done = client.subscribe("done.>", None);
    for payload in ["trap", "fail", "loop"] {
        client.publish(&format!("jobs.{payload}"), None, payload.as_bytes());
    }
    client.publish("jobs.after", None, b"after");
    let message = done
        .next(WAIT)
        .expect("the message after the failures is handled");
    assert_eq!(message.subject, "done.after");
    for (event, outcome) in [
        ("jobs.trap#1", "trap"),
        ("jobs.fail#2", "error"),
        ("jobs.loop#3", "timeout"),
    ] {
        let logs = process.wait_for_log(&format!("event=\"{event}\""));
        let line = logs
            .lines()
            .find(|l| l.contains(&format!("event=\"{event}\"")) && l.contains("outcome="))
            .unwrap_or_else(|| panic!("no access line for {event}:\n{logs}"));
        assert!(access_line(line, outcome), "{line}");
    }
}

/// Publishes `payload` to `subject` until a `done.*` for it arrives (the
/// subscription may take a moment to be back after a reconnect).
fn publish_until_done(client: &NatsClient, done: &NatsSubscription, payload: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        client.publish(&format!("jobs.{payload}"), None, payload.as_bytes());
        if let Some(message) = done.next(Duration::from_millis(300)) {
            assert_eq!(message.subject, format!("done.{payload}"));
            return;
        }
        assert!(Instant::now() < deadline, "{payload} was never handled");
    }
}

#[test]
fn a_server_that_is_down_or_restarts_does_not_end_the_trigger() {
    let mut server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let manifest = app(dir.path(), &server, None);
    server.stop();
    let mut process = up(&manifest, "a", false);
    process.wait_for_log("cannot reach ");
    assert!(
        process.try_wait().is_none(),
        "nimbus up ended while the server was down"
    );

    server.restart();
    wait_for_count(&process, "listening on", 2);
    let client = server.client();
    let done = client.subscribe("done.>", None);
    publish_until_done(&client, &done, "first");

    server.restart();
    process.wait_for_log("reconnecting (messages published meanwhile are not delivered)");
    let client = server.client();
    let done = client.subscribe("done.>", None);
    publish_until_done(&client, &done, "second");
    // Logged once per loss (and once by the messaging capability's own
    // pooled connection, which the worker used).
    let lost = process
        .logs()
        .matches("reconnecting (messages published meanwhile are not delivered)")
        .count();
    assert_eq!(lost, 1, "{}", process.logs());
    assert!(process.try_wait().is_none());
}

#[test]
fn a_malformed_section_is_refused_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(
        dir.path(),
        &format!(
            r#"spin_manifest_version = 2
[application]
name = "bad"

[[trigger.nats]]
address = "nats://127.0.0.1:4222"
subjet = "jobs.>"
component = "worker"

[component.worker]
source = "{}"
"#,
            guest("nats-worker")
        ),
    );
    let (status, stderr) = up_refused(up_command(&manifest, &[]));
    assert!(!status.success());
    assert!(
        stderr.contains("nimbus.toml:7:1: unknown field \"subjet\" in [[trigger.nats]]; did you mean \"subject\"?"),
        "{stderr}"
    );
}
