//! Non-HTTP triggers on a real `nimbus node`: an app with a cron trigger runs
//! it from its deploy (no request needed), keeps it running while deployed,
//! switches to the new release's trigger on a redeploy, comes back after a
//! crash of the node, and stops when it is removed. Counted through the
//! node's `/metrics` (`nimbus_events_total`).

mod common;
mod node_common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use node_common::{bundle, NodeServer};

/// An app `ticker` whose component (the spin-trigger-cron shaped
/// `cron-tick` guest) runs every second in mode `mode`: `ok` succeeds,
/// anything else returns the guest's error.
fn cron_app(root: &Path, dir: &str, mode: &str) -> PathBuf {
    let app = root.join(dir);
    std::fs::create_dir_all(&app).unwrap();
    let wasm = nimbus_test_guests::package_guest(
        "guests-spin",
        "cron-tick",
        nimbus_test_guests::Target::P2,
    );
    std::fs::copy(wasm, app.join("tick.wasm")).unwrap();
    let manifest = format!(
        r#"spin_manifest_version = 2
[application]
name = "ticker"

[[trigger.cron]]
cron_expression = "* * * * * *"
component = "tick"

[component.tick]
source = "tick.wasm"

[component.tick.variables]
mode = "{mode}"
"#
    );
    let path = app.join("spin.toml");
    std::fs::write(&path, manifest).unwrap();
    path
}

/// The value of the `nimbus_events_total` counter of app `ticker`, trigger
/// `cron`, with `outcome` (0 when the node has not counted any yet).
fn ticks(node: &NodeServer, outcome: &str) -> u64 {
    let needle = format!(
        r#"nimbus_events_total{{app="ticker",component="tick",trigger="cron",outcome="{outcome}"}} "#
    );
    node.metrics()
        .lines()
        .find_map(|line| line.strip_prefix(&needle))
        .map(|value| value.trim().parse().expect("a counter"))
        .unwrap_or(0)
}

/// Waits until `ticks(outcome)` reaches `at_least`.
fn wait_for_ticks(node: &NodeServer, outcome: &str, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = ticks(node, outcome);
        if now >= at_least {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {now} ticks with outcome {outcome} (wanted {at_least}):\n{}",
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_node_runs_an_apps_cron_trigger_from_deploy_to_removal() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut node = NodeServer::start(&data, &[]);

    // Deployed: it ticks without any request, and says what it runs.
    let response = node.deploy("ticker", &bundle(&cron_app(tmp.path(), "v1", "ok")));
    assert_eq!(response.status, 200, "{}", response.text());
    wait_for_ticks(&node, "ok", 2);
    let response = node.admin("GET", "/v1/apps/ticker", b"");
    let info: nimbus_platform::serde_json::Value =
        nimbus_platform::serde_json::from_slice(&response.body).expect("JSON");
    assert_eq!(info["loaded"], true, "{info}");
    let triggers = info["triggers"].as_array().expect("a list of triggers");
    assert_eq!(triggers.len(), 1, "{info}");
    assert!(
        triggers[0]
            .as_str()
            .is_some_and(|t| t.starts_with(r#"cron: tick: cron "* * * * * *""#)),
        "{info}"
    );

    // Redeployed: the new release's trigger runs, the old one's stopped.
    let response = node.deploy("ticker", &bundle(&cron_app(tmp.path(), "v2", "broken")));
    assert_eq!(response.status, 200, "{}", response.text());
    wait_for_ticks(&node, "error", 1);
    let ok_after_switch = ticks(&node, "ok");
    let errors = ticks(&node, "error");
    wait_for_ticks(&node, "error", errors + 2);
    assert_eq!(
        ticks(&node, "ok"),
        ok_after_switch,
        "the replaced release still ticks:\n{}",
        node.logs()
    );

    // A crash: back after the restart, with no request.
    node.kill9();
    let node = NodeServer::start(&data, &[]);
    wait_for_ticks(&node, "error", 2);
    assert_eq!(ticks(&node, "ok"), 0, "{}", node.logs());

    // Removed: no more ticks.
    let response = node.admin("DELETE", "/v1/apps/ticker", b"");
    assert!(response.status < 300, "{}", response.text());
    let stopped = ticks(&node, "error");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(ticks(&node, "error"), stopped, "{}", node.logs());
    assert!(
        node.logs().contains("stopped its triggers"),
        "{}",
        node.logs()
    );
}

/// An app `workers` whose component (the `nats-worker` guest) takes
/// `jobs.>` in queue group `workers` and publishes `done.<job>` with payload
/// `release`.
fn nats_app(
    root: &Path,
    dir: &str,
    server: &nimbus_test_servers::NatsServer,
    release: &str,
) -> PathBuf {
    let app = root.join(dir);
    std::fs::create_dir_all(&app).unwrap();
    let wasm = nimbus_test_guests::package_guest(
        "guests-messaging",
        "nats-worker",
        nimbus_test_guests::Target::P2,
    );
    std::fs::copy(wasm, app.join("worker.wasm")).unwrap();
    let url = server.url();
    let manifest = format!(
        r#"spin_manifest_version = 2
[application]
name = "workers"

[[trigger.nats]]
address = "{url}"
subject = "jobs.>"
queue_group = "workers"
component = "worker"

[component.worker]
source = "worker.wasm"
allowed_outbound_hosts = ["{url}"]
environment = {{ NATS_ADDRESS = "{url}", WORKER = "{release}" }}
"#
    );
    let path = app.join("spin.toml");
    std::fs::write(&path, manifest).unwrap();
    path
}

#[test]
fn a_redeploy_under_load_neither_loses_nor_doubles_a_queue_group_message() {
    let server = nimbus_test_servers::NatsServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeServer::start(&tmp.path().join("data"), &[]);
    let response = node.deploy(
        "workers",
        &bundle(&nats_app(tmp.path(), "v1", &server, "v1")),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let v2 = bundle(&nats_app(tmp.path(), "v2", &server, "v2"));

    let client = server.client();
    let done = client.subscribe("done.>", None);
    // Wait until v1 takes jobs (its subscription starts with the deploy).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        client.publish("jobs.warmup", None, b"warmup");
        client.flush();
        if done.next(Duration::from_millis(200)).is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "v1 never took a job:\n{}",
            node.logs()
        );
    }
    while done.next(Duration::from_millis(300)).is_some() {}

    // A steady stream of jobs, with the redeploy in the middle of it.
    const JOBS: usize = 600;
    let publisher = {
        let client = server.client();
        std::thread::spawn(move || {
            for i in 0..JOBS {
                client.publish(&format!("jobs.{i}"), None, i.to_string().as_bytes());
                if i % 20 == 0 {
                    client.flush();
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            client.flush();
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let response = node.deploy("workers", &v2);
    assert_eq!(response.status, 200, "{}", response.text());
    publisher.join().unwrap();

    let mut by_job: std::collections::HashMap<String, Vec<String>> = Default::default();
    let deadline = Instant::now() + Duration::from_secs(15);
    while by_job.values().map(Vec::len).sum::<usize>() < JOBS && Instant::now() < deadline {
        if let Some(message) = done.next(Duration::from_millis(100)) {
            let job = message.subject.trim_start_matches("done.").to_owned();
            by_job
                .entry(job)
                .or_default()
                .push(String::from_utf8(message.payload).unwrap());
        }
    }
    // A job done twice would arrive now.
    while let Some(message) = done.next(Duration::from_millis(500)) {
        let job = message.subject.trim_start_matches("done.").to_owned();
        by_job
            .entry(job)
            .or_default()
            .push(String::from_utf8(message.payload).unwrap());
    }
    for i in 0..JOBS {
        let releases = by_job.get(&i.to_string()).map(Vec::as_slice).unwrap_or(&[]);
        assert_eq!(
            releases.len(),
            1,
            "job {i} was done by {releases:?}\n{}",
            node.logs()
        );
    }
    let by_v1 = by_job.values().filter(|r| r[0] == "v1").count();
    let by_v2 = by_job.values().filter(|r| r[0] == "v2").count();
    assert!(by_v1 > 0 && by_v2 > 0, "v1 did {by_v1}, v2 did {by_v2}");
    assert!(
        node.logs().contains("stopped its triggers"),
        "{}",
        node.logs()
    );
}
