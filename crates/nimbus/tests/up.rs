//! End-to-end tests of `nimbus up`: the real binary serving guests built from
//! source, over real HTTP on 127.0.0.1.

mod common;

use std::time::{Duration, Instant};

use common::{nimbus_command, probe, request, upstream, write_manifest, Server, Spawned};

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn routes_pick_the_most_specific_and_pass_spin_headers() {
    let dir = tempfile::tempdir().unwrap();
    let probe = probe();
    let manifest = write_manifest(
        dir.path(),
        &format!(
            r#"spin_manifest_version = 2
[application]
name = "routes"
[[trigger.http]]
route = "/..."
component = "root"
[[trigger.http]]
route = "/probe"
component = "exact"
[[trigger.http]]
route = "/probe/..."
component = "wild"
[[trigger.http]]
route = "/probe/deep/..."
component = "deep"
[component.root]
source = "{probe}"
environment = {{ NAME = "root" }}
[component.exact]
source = "{probe}"
environment = {{ NAME = "exact" }}
[component.wild]
source = "{probe}"
environment = {{ NAME = "wild" }}
[component.deep]
source = "{probe}"
environment = {{ NAME = "deep" }}
"#
        ),
    );
    let server = Server::start(&manifest);
    for (path, component) in [
        ("/", "root"),
        ("/elsewhere", "root"),
        ("/probe", "exact"),
        ("/probe/", "exact"),
        ("/probe/x", "wild"),
        ("/probex", "root"),
        ("/probe/deep", "deep"),
        ("/probe/deep/x/y", "deep"),
    ] {
        let response = server.get(path);
        assert_eq!(response.status, 200, "{path}");
        assert!(
            response
                .text()
                .starts_with(&format!("component={component}\n")),
            "{path} should go to {component}:\n{}",
            response.text()
        );
    }

    let response = server.get("/probe/deep/x/y?q=1");
    let text = response.text();
    let addr = server.addr;
    for expected in [
        format!("spin-full-url=http://{addr}/probe/deep/x/y?q=1"),
        "spin-path-info=/x/y".to_owned(),
        "spin-matched-route=/probe/deep/...".to_owned(),
        "spin-base-path=/".to_owned(),
        "spin-component-route=/probe/deep".to_owned(),
        "spin-raw-component-route=/probe/deep/...".to_owned(),
        "spin-client-addr=127.0.0.1:".to_owned(),
        "path=/probe/deep/x/y".to_owned(),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in\n{text}");
    }
    // A client cannot forge the routing headers.
    let forged = request(
        server.addr,
        "GET",
        "/probe/x",
        &[
            ("spin-path-info", "/forged"),
            ("spin-client-addr", "6.6.6.6:1"),
        ],
        b"",
    );
    let text = forged.text();
    assert!(text.contains("spin-path-info=/x\n"), "{text}");
    assert!(
        !text.contains("forged") && !text.contains("6.6.6.6"),
        "{text}"
    );
    // The routes are listed at start.
    assert!(server
        .output()
        .contains(&format!("deep: http://{addr}/probe/deep/...")));
}

#[test]
fn every_request_gets_a_fresh_instance() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(
        dir.path(),
        &format!(
            "spin_manifest_version = 2\n[application]\nname = \"fresh\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"probe\"\n[component.probe]\nsource = \"{}\"\n",
            probe()
        ),
    );
    let server = Server::start(&manifest);
    for _ in 0..5 {
        let text = server.get("/").text();
        assert!(
            lines(&text).contains(&"count=1"),
            "state leaked between requests:\n{text}"
        );
    }
    let log = server.wait_for_log("status=200");
    assert!(
        log.contains("component=\"probe\"") || log.contains("component=probe"),
        "{log}"
    );
}

#[test]
fn a_component_sees_only_its_files_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("assets/a.txt"), "asset a\n").unwrap();
    std::fs::create_dir(dir.path().join("static")).unwrap();
    std::fs::write(dir.path().join("static/s.txt"), "static s\n").unwrap();
    std::fs::write(dir.path().join("static/skip.bak"), "skip\n").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "secret\n").unwrap();
    let manifest = write_manifest(
        dir.path(),
        &format!(
            r#"spin_manifest_version = 2
[application]
name = "grants"
[[trigger.http]]
route = "/..."
component = "probe"
[component.probe]
source = "{}"
files = [{{ source = "assets", destination = "/assets" }}, "static/*"]
exclude_files = ["**/*.bak"]
environment = {{ NAME = "granted", GREETING = "hi" }}
"#,
            probe()
        ),
    );
    let server = Server::start(&manifest);
    let read = |path: &str| server.get(&format!("/?do=file&path={path}")).text();
    assert_eq!(read("/assets/a.txt"), "asset a\n");
    assert_eq!(read("/static/s.txt"), "static s\n");
    assert!(
        read("/static/skip.bak").starts_with("error:"),
        "excluded file visible"
    );
    assert!(read("/secret.txt").starts_with("error:"));
    assert!(read("/assets/../secret.txt").starts_with("error:"));
    assert!(read("/etc/passwd").starts_with("error:"));
    assert!(read("/proc/self/environ").starts_with("error:"));
    let mut env = lines(&server.get("/?do=env").text())
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    env.sort();
    assert_eq!(env, vec!["GREETING=hi", "NAME=granted"]);
}

fn limits_app(dir: &std::path::Path) -> std::path::PathBuf {
    let probe = probe();
    write_manifest(
        dir,
        &format!(
            r#"spin_manifest_version = 2
[application]
name = "limits"
[[trigger.http]]
route = "/ok/..."
component = "healthy"
[[trigger.http]]
route = "/limited/..."
component = "limited"
[[trigger.http]]
route = "/one/..."
component = "one"
[[trigger.http]]
route = "/small/..."
component = "small"
[component.healthy]
source = "{probe}"
[component.limited]
source = "{probe}"
[component.limited.limits]
timeout = "500ms"
memory = "16MiB"
[component.one]
source = "{probe}"
[component.one.limits]
max_concurrency = 1
[component.small]
source = "{probe}"
[component.small.limits]
max_body_size = "1KiB"
"#
        ),
    )
}

/// Runs `check` while another thread keeps requesting the healthy route;
/// returns how many healthy requests were made (all must succeed).
fn with_healthy_load(server: &Server, check: impl FnOnce()) -> usize {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let addr = server.addr;
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut count = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let response = request(addr, "GET", "/ok/", &[], b"");
                assert_eq!(
                    response.status,
                    200,
                    "healthy route failed: {}",
                    response.text()
                );
                count += 1;
            }
            count
        })
    };
    check();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.join().expect("the healthy route kept working")
}

#[test]
fn timeouts_traps_and_memory_end_in_a_status_while_others_carry_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&limits_app(dir.path()));
    let healthy = with_healthy_load(&server, || {
        let started = Instant::now();
        assert_eq!(server.get("/limited/?do=spin").status, 504);
        assert!(started.elapsed() < Duration::from_secs(15));
        assert_eq!(server.get("/limited/?do=sleep&ms=5000").status, 504);
        assert_eq!(server.get("/limited/?do=hog").status, 500);
        assert_eq!(server.get("/limited/?do=trap").status, 500);
        // The same component still works after each failure.
        assert_eq!(server.get("/limited/?do=sleep&ms=10").status, 200);
    });
    assert!(healthy > 0);
    let logs = server.wait_for_log("memory limit");
    assert!(logs.contains("504"), "{logs}");
    assert!(logs.contains("unreachable"), "{logs}");
}

#[test]
fn over_max_concurrency_gets_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&limits_app(dir.path()));
    let addr = server.addr;
    // A slow request takes the only slot; while it runs, others get 503. On a
    // loaded machine the slow request may finish before a probe lands, so
    // try a few times.
    let mut busy = None;
    let mut slow = None;
    for _attempt in 0..5 {
        let handle =
            std::thread::spawn(move || request(addr, "GET", "/one/?do=sleep&ms=3000", &[], b""));
        // Let the slow request take the slot first: a probe that arrives
        // first takes it itself, and the slow request is the one refused.
        std::thread::sleep(Duration::from_millis(300));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !handle.is_finished() && Instant::now() < deadline {
            let response = server.get("/one/");
            if response.status == 503 {
                busy = Some(response);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if busy.is_some() {
            slow = Some(handle);
            break;
        }
        let _ = handle.join();
    }
    let busy = busy.expect("never saw a 503 while the only slot was taken");
    let slow = slow.expect("the slow request is running");
    assert_eq!(busy.header("retry-after"), Some("1"));
    assert_eq!(server.get("/ok/").status, 200);
    assert_eq!(slow.join().unwrap().status, 200);
    assert_eq!(server.get("/one/").status, 200);
}

#[test]
fn bodies_over_max_body_size_get_413() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&limits_app(dir.path()));
    let small = vec![b'a'; 100];
    let big = vec![b'a'; 4096];
    let ok = request(server.addr, "POST", "/small/", &[], &small);
    assert_eq!(ok.status, 200);
    assert!(ok.text().contains("body=100\n"), "{}", ok.text());
    assert_eq!(
        request(server.addr, "POST", "/small/", &[], &big).status,
        413
    );
    let chunked = request(
        server.addr,
        "POST",
        "/small/",
        &[("Transfer-Encoding", "chunked")],
        &big,
    );
    assert_eq!(chunked.status, 413);
    // No limit on the healthy route.
    let ok = request(server.addr, "POST", "/ok/", &[], &big);
    assert!(ok.text().contains("body=4096\n"), "{}", ok.text());
}

#[test]
fn large_responses_stream_intact() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&limits_app(dir.path()));
    let response = server.get("/ok/?do=big&kib=1024");
    assert_eq!(response.status, 200);
    assert_eq!(response.body.len(), 1024 * 1024);
    assert!(response.body.iter().all(|&b| b == b'x'));
}

#[test]
fn outbound_http_is_allowed_only_to_listed_hosts() {
    let port = upstream();
    let dir = tempfile::tempdir().unwrap();
    let probe = probe();
    let manifest = write_manifest(
        dir.path(),
        &format!(
            r#"spin_manifest_version = 2
[application]
name = "outbound"
[[trigger.http]]
route = "/allowed/..."
component = "allowed"
[[trigger.http]]
route = "/denied/..."
component = "denied"
[[trigger.http]]
route = "/other-port/..."
component = "other-port"
[component.allowed]
source = "{probe}"
allowed_outbound_hosts = ["http://127.0.0.1:{port}"]
[component.denied]
source = "{probe}"
allowed_outbound_hosts = []
[component.other-port]
source = "{probe}"
allowed_outbound_hosts = ["http://127.0.0.1:1"]
"#
        ),
    );
    let server = Server::start(&manifest);
    let url = format!("http://127.0.0.1:{port}/");
    let allowed = server.get(&format!("/allowed/?do=fetch&url={url}"));
    assert_eq!(allowed.text(), "upstream status: 200\n");
    for route in ["denied", "other-port"] {
        let denied = server.get(&format!("/{route}/?do=fetch&url={url}"));
        assert_eq!(
            denied.text(),
            "denied: ErrorCode::HttpRequestDenied\n",
            "{route}"
        );
    }
    let logs = server.wait_for_log("denied");
    assert!(
        logs.contains(&format!(
            "add \"http://127.0.0.1:{port}\" to allowed_outbound_hosts in [component.denied]"
        )),
        "{logs}"
    );
}

#[test]
fn sigterm_lets_requests_in_flight_finish_then_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&limits_app(dir.path()));
    let addr = server.addr;
    let slow = std::thread::spawn(move || request(addr, "GET", "/ok/?do=sleep&ms=2500", &[], b""));
    // Let the request arrive before asking the server to stop.
    std::thread::sleep(Duration::from_millis(1000));
    let status = server.terminate();
    let response = slow.join().unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "slept\n");
    assert_eq!(status.code(), Some(0), "{}", server.logs());
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still accepting after exit"
    );
}

#[test]
fn bad_apps_are_refused_at_start_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let run = |manifest: &std::path::Path| {
        common::nimbus_command()
            .args(["up", "--listen", "127.0.0.1:0", "-f"])
            .arg(manifest)
            .output()
            .unwrap()
    };

    let manifest = write_manifest(
        dir.path(),
        "spin_manifest_version = 2\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"x\"\n[component.x]\nsorce = \"x.wasm\"\n",
    );
    let output = run(&manifest);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nimbus.toml:8:1:"), "{stderr}");
    assert!(stderr.contains("did you mean \"source\""), "{stderr}");

    let manifest = write_manifest(
        dir.path(),
        "spin_manifest_version = 2\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"x\"\n[component.x]\nsource = \"missing.wasm\"\n",
    );
    let output = run(&manifest);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("nimbus.toml:8:10:") && stderr.contains("does not exist"),
        "{stderr}"
    );

    // A wasip1 module on a wasi:http route.
    let module = nimbus_test_guests::guest("hello-env", nimbus_test_guests::Target::P1);
    let manifest = write_manifest(
        dir.path(),
        &format!(
            "spin_manifest_version = 2\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"x\"\n[component.x]\nsource = \"{}\"\n",
            module.display()
        ),
    );
    let output = run(&manifest);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("wagi"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[test]
fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&limits_app(dir.path()));
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream
        .write_all(b"GET /ok/ HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    // The server gives up on the headers (10 s) and closes the connection.
    let _ = stream.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(25),
        "closed after {waited:?}"
    );
    // Meanwhile and afterwards, normal requests are served.
    assert_eq!(server.get("/ok/").status, 200);
}

#[test]
fn wagi_guests_that_loop_trap_or_print_garbage_get_a_status() {
    use nimbus_test_guests::{guest, Target};
    let dir = tempfile::tempdir().unwrap();
    let looping = guest("spin-loop", Target::P1);
    let trapping = guest("trap", Target::P1);
    let not_cgi = guest("hello-env", Target::P1);
    let manifest = write_manifest(
        dir.path(),
        &format!(
            r#"spin_manifest_version = 2
[application]
name = "wagi-limits"
[[trigger.http]]
route = "/loop"
component = "looping"
executor = {{ type = "wagi" }}
[[trigger.http]]
route = "/trap"
component = "trapping"
executor = {{ type = "wagi" }}
[[trigger.http]]
route = "/not-cgi"
component = "not-cgi"
executor = {{ type = "wagi" }}
[component.looping]
source = "{}"
[component.looping.limits]
timeout = "300ms"
[component.trapping]
source = "{}"
[component.not-cgi]
source = "{}"
"#,
            looping.display(),
            trapping.display(),
            not_cgi.display()
        ),
    );
    let server = Server::start(&manifest);
    assert_eq!(server.get("/loop").status, 504);
    assert_eq!(server.get("/trap").status, 500);
    let garbage = server.get("/not-cgi");
    assert_eq!(garbage.status, 500);
    // The cause is logged, never shown to the client.
    assert!(!garbage.text().contains("Hello"), "{}", garbage.text());
    let logs = server.wait_for_log("invalid WAGI response");
    assert!(logs.contains("unreachable"), "{logs}");
}

#[test]
fn inline_components_under_a_trigger_work_as_in_spin() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(
        dir.path(),
        &format!(
            r#"spin_manifest_version = 2
[application]
name = "inline"
[[trigger.http]]
route = "/inline/..."
component = {{ source = "{}", environment = {{ NAME = "inline" }} }}
"#,
            probe()
        ),
    );
    let server = Server::start(&manifest);
    let response = server.get("/inline/x");
    assert_eq!(response.status, 200);
    assert!(
        response.text().starts_with("component=inline\n"),
        "{}",
        response.text()
    );
}

/// Two probe components, `a` (with `NAME = "a"` in its environment) and
/// `b` (none), under /a/... and /b/...; `source` is the probe's path unless
/// given.
fn two_components(dir: &std::path::Path, source: &str, extra: &str) -> std::path::PathBuf {
    write_manifest(
        dir,
        &format!(
            r#"spin_manifest_version = 2
[application]
name = "two"
[[trigger.http]]
route = "/a/..."
component = "a"
[[trigger.http]]
route = "/b/..."
component = "b"
[component.a]
source = "{source}"
environment = {{ NAME = "a" }}
{extra}
[component.b]
source = "{source}"
"#
        ),
    )
}

/// The sorted `KEY=VALUE` lines a component sees at `prefix`.
fn env_of(addr: std::net::SocketAddr, prefix: &str) -> Vec<String> {
    let response = request(addr, "GET", &format!("{prefix}?do=env"), &[], b"");
    assert_eq!(response.status, 200, "{}", response.text());
    let mut env: Vec<String> = lines(&response.text())
        .into_iter()
        .map(str::to_owned)
        .collect();
    env.sort();
    env
}

#[test]
fn listen_takes_a_host_name_or_a_bare_port() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = two_components(dir.path(), &probe(), "");
    for (listen, loopback) in [("localhost:0", None), ("0", Some("127.0.0.1"))] {
        let mut command = nimbus_command();
        command
            .args(["up", "--listen", listen, "-f"])
            .arg(&manifest);
        let mut process = Spawned::spawn(&format!("nimbus up --listen {listen}"), command);
        let addr = process.wait_for_addr("Serving ");
        assert!(addr.ip().is_loopback(), "--listen {listen}: {addr}");
        if let Some(ip) = loopback {
            assert_eq!(addr.ip().to_string(), ip, "--listen {listen}");
        }
        assert_ne!(addr.port(), 0);
        assert_eq!(request(addr, "GET", "/b/", &[], b"").status, 200);
    }
    // What is still wrong says what is expected.
    let output = nimbus_command()
        .args(["up", "--listen", "localhost", "-f"])
        .arg(&manifest)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("HOST:PORT"), "{stderr}");
}

#[test]
fn env_sets_a_variable_for_every_component() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = two_components(dir.path(), &probe(), "");
    let server = Server::start_with(&manifest, &["-e", "GREETING=hi", "--env", "NAME=flag"]);
    assert_eq!(env_of(server.addr, "/a/"), ["GREETING=hi", "NAME=flag"]);
    assert_eq!(env_of(server.addr, "/b/"), ["GREETING=hi", "NAME=flag"]);
}

#[test]
fn up_build_and_build_up_build_then_serve() {
    let dir = tempfile::tempdir().unwrap();
    // The "build" copies the probe into place: nothing to serve before it.
    let build = format!(
        "[component.a.build]\ncommand = \"cp '{}' built.wasm\"",
        probe()
    );
    let manifest = two_components(dir.path(), "built.wasm", &build);
    let manifest_text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        manifest_text.replace(
            "[component.b]\nsource = \"built.wasm\"",
            &format!("[component.b]\nsource = \"{}\"", probe()),
        ),
    )
    .unwrap();

    let server = Server::start_with(&manifest, &["--build"]);
    assert!(
        server.output().contains("Building component a"),
        "{}",
        server.output()
    );
    assert_eq!(env_of(server.addr, "/a/"), ["NAME=a"]);
    drop(server);

    std::fs::remove_file(dir.path().join("built.wasm")).unwrap();
    let mut command = nimbus_command();
    command
        .env("RUST_LOG", "info")
        .args(["build", "--up", "-f"])
        .arg(&manifest)
        .args(["--", "--listen", "127.0.0.1:0"]);
    let mut process = Spawned::spawn("nimbus build --up", command);
    let addr = process.wait_for_addr("Serving ");
    assert!(process.output().contains("Building component a"));
    assert_eq!(env_of(addr, "/a/"), ["NAME=a"]);
}

#[test]
fn json_access_logs_give_the_duration_as_a_number() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = two_components(dir.path(), &probe(), "");
    let server = Server::start_with(&manifest, &["--log-format", "json"]);
    assert_eq!(server.get("/a/").status, 200);
    let logs = server.wait_for_log("duration_ms");
    let line = logs
        .lines()
        .find(|line| line.contains("duration_ms"))
        .unwrap();
    let value: nimbus_platform::serde_json::Value =
        nimbus_platform::serde_json::from_str(line).expect("a JSON log line");
    let duration = &value["fields"]["duration_ms"];
    assert!(duration.is_number(), "duration_ms is not a number: {line}");
    assert!(duration.as_f64().unwrap() >= 0.0, "{line}");
    assert_eq!(value["fields"]["status"], 200, "{line}");
}

#[test]
fn templated_outbound_hosts_are_resolved_from_variables_at_load() {
    let port = upstream();
    let dir = tempfile::tempdir().unwrap();
    let probe = probe();
    let manifest = write_manifest(
        dir.path(),
        &format!(
            r#"spin_manifest_version = 2
[application]
name = "templated"
[variables]
upstream_host = {{ default = "127.0.0.1" }}
upstream_port = {{ required = true }}
[[trigger.http]]
route = "/..."
component = "fetcher"
[component.fetcher]
source = "{probe}"
allowed_outbound_hosts = ["http://{{{{ upstream_host }}}}:{{{{ upstream_port }}}}"]
"#
        ),
    );
    let port_value = format!("upstream_port={port}");
    let server = Server::start_with(&manifest, &["--variable", &port_value]);
    let allowed = server.get(&format!("/?do=fetch&url=http://127.0.0.1:{port}/"));
    assert_eq!(allowed.text(), "upstream status: 200\n");
    let other = server.get("/?do=fetch&url=http://127.0.0.1:1/");
    assert_eq!(other.text(), "denied: ErrorCode::HttpRequestDenied\n");
    drop(server);

    // No value: the load fails, naming the variable and the component.
    let (status, logs) = common::up_refused(common::up_command(&manifest, &[]));
    assert!(!status.success());
    assert!(
        logs.contains("app variable `upstream_port` is required but has no value")
            && logs.contains("component `fetcher`'s allowed_outbound_hosts"),
        "{logs}"
    );
    // A value that makes no valid entry: the load fails, naming the entry
    // and what it resolved to.
    let (status, logs) = common::up_refused(common::up_command(
        &manifest,
        &["--variable", "upstream_port=http"],
    ));
    assert!(!status.success());
    assert!(
        logs.contains(
            "component `fetcher`: allowed_outbound_hosts entry \"http://{{ upstream_host }}:{{ upstream_port }}\" \
             resolves to \"http://127.0.0.1:http\", which is not a valid entry: invalid port \"http\""
        ),
        "{logs}"
    );
}
