//! The cron trigger end to end: `[[trigger.cron]]` apps run by the real
//! `nimbus up`, with a component of spin-trigger-cron's shape
//! (`tests/guests-spin/src/bin/cron-tick.rs`: the `fermyon:spin-cron@2.0.0`
//! export, spin-sdk 5 for its `mode` variable). The guest prints
//! `cron-tick start <timestamp>` and `cron-tick end <timestamp>` to stdout
//! (component stdout reaches `nimbus up`'s); the tests read that and the
//! access-log lines (`RUST_LOG=info`, target `nimbus::access`).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{up_command, up_refused, write_manifest, Spawned};
use nimbus_test_guests::{package_guest, Target};

fn guest(package: &str, name: &str) -> String {
    package_guest(package, name, Target::P2)
        .to_str()
        .expect("UTF-8 path")
        .to_owned()
}

/// An app running cron-tick on `expression`, its `mode` from the app
/// variable of the same name.
fn app(dir: &Path, expression: &str) -> PathBuf {
    app_with(dir, expression, &guest("guests-spin", "cron-tick"))
}

/// An app running component `source` on `expression`.
fn app_with(dir: &Path, expression: &str, source: &str) -> PathBuf {
    write_manifest(
        dir,
        &format!(
            r#"spin_manifest_version = 2

[application]
name = "cron"

[variables]
mode = {{ default = "ok" }}

[[trigger.cron]]
component = "tick"
cron_expression = "{expression}"

[component.tick]
source = "{source}"

[component.tick.variables]
mode = "{{{{ mode }}}}"
"#
        ),
    )
}

/// `nimbus up` on a cron app in `mode`, started: its summary line printed.
fn start(manifest: &Path, mode: &str) -> (Spawned, String) {
    let mut command = up_command(manifest, &["--variable", &format!("mode={mode}")]);
    command.env("RUST_LOG", "info");
    let mut process = Spawned::spawn("nimbus up", command);
    let summary = process.wait_until("cron trigger: ");
    (process, summary)
}

/// Waits (at most `limit`) until `done(stdout, stderr)`; panics otherwise.
fn wait_for(process: &Spawned, limit: Duration, what: &str, done: impl Fn(&str, &str) -> bool) {
    let deadline = Instant::now() + limit;
    while !done(&process.output(), &process.logs()) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The guest's `cron-tick <what> <timestamp>` lines, in order.
fn guest_lines(stdout: &str) -> Vec<(String, u64)> {
    prefixed_lines(stdout, "cron-tick ")
}

/// The `<prefix><what> <timestamp>[ …]` lines of stdout, in order.
fn prefixed_lines(stdout: &str, prefix: &str) -> Vec<(String, u64)> {
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix(prefix))
        .filter_map(|rest| {
            let mut words = rest.split(' ');
            let what = words.next()?;
            Some((what.to_owned(), words.next()?.trim().parse().ok()?))
        })
        .collect()
}

fn ends(stdout: &str) -> Vec<u64> {
    guest_lines(stdout)
        .into_iter()
        .filter(|(what, _)| what == "end")
        .map(|(_, ts)| ts)
        .collect()
}

/// The access-log lines of the cron trigger, as (event, outcome).
fn access_log(logs: &str) -> Vec<(String, String)> {
    logs.lines()
        .filter(|line| line.contains(" event trigger=\"cron\"") && line.contains(" outcome="))
        .map(|line| (field(line, "event"), field(line, "outcome")))
        .collect()
}

/// The value of `name=` in a log line, without quotes.
fn field(line: &str, name: &str) -> String {
    let Some((_, rest)) = line.split_once(&format!(" {name}=")) else {
        return String::new();
    };
    let value = match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next().unwrap_or_default(),
        None => rest.split(' ').next().unwrap_or_default(),
    };
    value.to_owned()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Seconds since the Unix epoch of an RFC 3339 UTC time
/// (`2026-12-03T10:00:02Z`), by the civil-from-days algorithm.
fn unix_seconds(rfc3339: &str) -> u64 {
    let (date, time) = rfc3339
        .trim_end_matches('Z')
        .split_once('T')
        .unwrap_or_else(|| panic!("not an RFC 3339 time: {rfc3339:?}"));
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let t: Vec<i64> = time.split(':').map(|p| p.parse().unwrap()).collect();
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]) as u64
}

#[test]
fn a_every_second_schedule_runs_once_a_second_with_the_tick_time() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = app(dir.path(), "*/1 * * * * *");
    let (process, summary) = start(&manifest, "ok");
    let started = now_secs();

    // `tick: cron "*/1 * * * * *" (next 2026-12-03T10:00:02Z)`, in UTC.
    let next = summary
        .strip_prefix("tick: cron \"*/1 * * * * *\" (next ")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected summary: {summary:?}"));
    assert!(next.ends_with('Z'), "{next}");
    let next = unix_seconds(next);
    assert!(
        next.abs_diff(started) <= 2,
        "next tick {next} is not about now ({started})"
    );

    wait_for(&process, Duration::from_secs(10), "4 ticks", |out, _| {
        ends(out).len() >= 4
    });
    let (stdout, logs) = process.stop();
    let ticks = ends(&stdout);
    // Increasing whole seconds near now, one a second (a loaded machine
    // may make a run late, never two in one second).
    for pair in ticks.windows(2) {
        assert!(pair[1] > pair[0], "ticks not increasing: {ticks:?}");
    }
    assert!(
        ticks[ticks.len() - 1] - ticks[0] <= 2 * (ticks.len() as u64 - 1),
        "ticks too far apart for a */1 schedule: {ticks:?}"
    );
    assert!(
        ticks[0] >= started - 1 && ticks[0] <= started + 3,
        "first tick {} is not about the start ({started})",
        ticks[0]
    );
    // Each run has its access-log line, event id = the tick's time.
    let log = access_log(&logs);
    for ts in &ticks {
        assert!(
            log.iter()
                .any(|(event, outcome)| unix_seconds(event) == *ts && outcome == "ok"),
            "no ok access-log line for tick {ts}: {log:?}\n{logs}"
        );
    }
}

#[test]
fn b_a_tick_that_finds_the_previous_run_going_is_skipped_not_queued() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = app(dir.path(), "* * * * * *");
    let (process, _) = start(&manifest, "slow");
    // Runs take 2.5 s on a 1 s schedule: two runs finished means at least
    // one tick came while a run was going.
    wait_for(
        &process,
        Duration::from_secs(12),
        "2 slow runs",
        |out, _| ends(out).len() >= 2,
    );
    let (stdout, logs) = process.stop();

    // Never two runs at once: starts and ends alternate, for the same tick.
    let lines = guest_lines(&stdout);
    for pair in lines.chunks(2) {
        match pair {
            [(a, t1), (b, t2)] => assert!(
                a == "start" && b == "end" && t1 == t2,
                "runs overlap: {lines:?}"
            ),
            [(a, _)] => assert_eq!(a, "start", "{lines:?}"),
            _ => unreachable!(),
        }
    }
    let log = access_log(&logs);
    let skipped: Vec<u64> = log
        .iter()
        .filter(|(_, outcome)| outcome == "skipped")
        .map(|(event, _)| unix_seconds(event))
        .collect();
    assert!(!skipped.is_empty(), "no skipped tick logged:\n{logs}");
    assert!(
        logs.contains("skipped: the previous run of tick is still going"),
        "{logs}"
    );
    // Skipped ticks are not run later (not queued): no run has their time.
    let ran: Vec<u64> = lines.iter().map(|(_, ts)| *ts).collect();
    for ts in &skipped {
        assert!(!ran.contains(ts), "skipped tick {ts} ran: {lines:?}");
    }
    // A skipped tick falls while a run is going: between its start tick
    // and 2.5 s later.
    let runs = ends(&stdout);
    for ts in &skipped {
        assert!(
            runs.iter().any(|run| *ts > *run && *ts <= run + 4),
            "skipped tick {ts} is not during a run ({runs:?})"
        );
    }
}

#[test]
fn c_a_trapping_tick_does_not_stop_the_following_ticks() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = app(dir.path(), "* * * * * *");
    let (process, _) = start(&manifest, "flaky");
    // flaky: timestamp % 3 == 0 traps, 1 returns its error, 2 is ok.
    let trap_then_more = |_: &str, logs: &str| {
        let log = access_log(logs);
        log.iter()
            .position(|(_, outcome)| outcome == "trap")
            .is_some_and(|trap| {
                let after = &log[trap + 1..];
                after.iter().any(|(_, o)| o == "ok") && after.iter().any(|(_, o)| o == "error")
            })
    };
    wait_for(
        &process,
        Duration::from_secs(12),
        "a trap followed by ok and error ticks",
        trap_then_more,
    );
    let (_, logs) = process.stop();
    for (event, outcome) in access_log(&logs) {
        let expected = match unix_seconds(&event) % 3 {
            0 => "trap",
            1 => "error",
            _ => "ok",
        };
        assert_eq!(outcome, expected, "tick {event}:\n{logs}");
    }
    assert!(
        logs.contains("the guest returned an error: flaky tick"),
        "{logs}"
    );
}

#[test]
fn d_a_malformed_cron_expression_is_refused_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = app(dir.path(), "*/5 * * * *");
    let (status, logs) = up_refused(up_command(&manifest, &[]));
    assert!(!status.success(), "{logs}");
    let expected = format!(
        "{}:11:19: invalid cron_expression \"*/5 * * * *\": it has 5 fields, but the first field is seconds here",
        manifest.display()
    );
    assert!(
        logs.contains(&expected),
        "expected {expected:?} in:\n{logs}"
    );
    assert!(logs.contains("\"0 */5 * * * *\""), "no example in:\n{logs}");
}

#[test]
fn e_an_async_export_of_the_newer_sdk_runs_on_the_concurrent_engine() {
    // spin-cron-sdk with spin-sdk 6+ exports `handle-cron-event` as an
    // `async func` (tests/guests-p3/src/bin/cron-tick-async.rs).
    let dir = tempfile::tempdir().unwrap();
    let manifest = app_with(
        dir.path(),
        "*/1 * * * * *",
        &guest("guests-p3", "cron-tick-async"),
    );
    let (process, summary) = start(&manifest, "ok");
    assert!(
        summary.starts_with("tick: cron \"*/1 * * * * *\" (next "),
        "{summary}"
    );
    let async_ends = |out: &str| -> Vec<u64> {
        prefixed_lines(out, "cron-tick-async ")
            .into_iter()
            .filter(|(what, _)| what == "end")
            .map(|(_, ts)| ts)
            .collect()
    };
    wait_for(
        &process,
        Duration::from_secs(10),
        "2 async ticks",
        |out, _| async_ends(out).len() >= 2,
    );
    let (stdout, logs) = process.stop();
    let ticks = async_ends(&stdout);
    assert!(ticks[1] > ticks[0], "{ticks:?}");
    // The guest awaited the async variables API: it saw mode "ok".
    assert!(
        stdout.contains(&format!("cron-tick-async start {} ok", ticks[0])),
        "{stdout}"
    );
    let log = access_log(&logs);
    for ts in &ticks {
        assert!(
            log.iter()
                .any(|(event, outcome)| unix_seconds(event) == *ts && outcome == "ok"),
            "no ok access-log line for tick {ts}: {log:?}\n{logs}"
        );
    }
}

#[test]
fn f_shutdown_stops_the_schedule_and_lets_the_run_in_flight_finish() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = app(dir.path(), "* * * * * *");
    let (mut process, _) = start(&manifest, "slow");
    wait_for(&process, Duration::from_secs(10), "a slow run", |out, _| {
        guest_lines(out).iter().any(|(what, _)| what == "start")
    });
    // SIGTERM while the 2.5 s run is going: it finishes, no tick starts.
    let status = process.terminate();
    std::thread::sleep(Duration::from_millis(200));
    assert!(status.success(), "nimbus up exited with {status}");
    let lines = guest_lines(&process.output());
    assert_eq!(lines.len(), 2, "one run, started and finished: {lines:?}");
    assert_eq!(
        (lines[0].0.as_str(), lines[1].0.as_str()),
        ("start", "end"),
        "{lines:?}"
    );
}
