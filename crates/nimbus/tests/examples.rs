//! The examples and templates, as a user runs them: `nimbus build` (their own
//! cargo builds, from source), then `nimbus up`, then real HTTP requests.

mod common;

use common::{build, example, nimbus_command, request, upstream, Server};

fn serve(name: &str) -> Server {
    let dir = example(name);
    build(&dir);
    Server::start(&dir)
}

#[test]
fn hello() {
    let server = serve("hello");
    let response = server.get("/hello");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "Hello from WASM!\n");
    assert_eq!(response.header("content-type"), Some("text/plain"));
    assert_eq!(server.get("/nothing-here").status, 404);
}

#[test]
fn hash() {
    let server = serve("hash");
    let response = server.get("/hash/abc");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.text(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"
    );
    assert_eq!(server.get("/hash/").status, 400);
}

#[test]
fn wagi_hello() {
    let server = serve("wagi-hello");
    let response = server.get("/wagi/some/path?x=1");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.text(),
        "Hello from WAGI! method=GET path=/some/path query=x=1\n"
    );
    let posted = request(server.addr, "POST", "/wagi/p", &[], b"payload");
    assert_eq!(
        posted.text(),
        "Hello from WAGI! method=POST path=/p query=\nbody=payload\n"
    );
    assert_eq!(server.get("/wagi/?status=418").status, 418);
}

#[test]
fn outbound() {
    let port = upstream();
    let server = serve("outbound");
    let allowed = server.get(&format!("/fetch?url=http://127.0.0.1:{port}/"));
    assert_eq!(allowed.status, 200);
    assert_eq!(allowed.text(), "upstream status: 200\nupstream says hi\n");
    // `localhost` is not in allowed_outbound_hosts (only 127.0.0.1 is).
    let denied = server.get(&format!("/fetch?url=http://localhost:{port}/"));
    assert_eq!(denied.status, 502);
    assert!(
        denied.text().contains("HttpRequestDenied"),
        "{}",
        denied.text()
    );
}

#[test]
fn image_resize() {
    let server = serve("image-resize");
    let mut png = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png, 64, 32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        let pixels: Vec<u8> = (0..64 * 32 * 3).map(|i| (i % 251) as u8).collect();
        writer.write_image_data(&pixels).unwrap();
    }
    let response = request(server.addr, "POST", "/resize?w=16", &[], &png);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("image/png"));
    let decoder = png::Decoder::new(std::io::Cursor::new(response.body));
    let reader = decoder.read_info().unwrap();
    assert_eq!((reader.info().width, reader.info().height), (16, 8));

    let bad = request(server.addr, "POST", "/resize?w=16", &[], b"not an image");
    assert!(bad.status == 415 || bad.status == 400, "{}", bad.status);
}

#[test]
fn spin_sdk_component_runs_unchanged_from_spin_toml() {
    let dir = example("spin-sdk-hello");
    assert!(dir.join("spin.toml").exists() && !dir.join("nimbus.toml").exists());
    let server = serve("spin-sdk-hello");
    let response = server.get("/some/path");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.text(),
        "Hello from a Spin SDK component! path=/some/path"
    );
}

#[test]
fn new_then_build_then_up_serves_the_template() {
    for (template, name) in [("http-rust", "fresh-fn"), ("http-wagi-rust", "fresh-wagi")] {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join(name);
        let output = nimbus_command()
            .args(["new", template, name, "--output"])
            .arg(&project)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        build(&project);
        let server = Server::start(&project);
        let response = server.get("/");
        assert_eq!(response.status, 200, "{template}");
        assert!(
            response.text().starts_with(&format!("Hello from {name}!")),
            "{template}: {}",
            response.text()
        );
    }
}

/// Every command of the README's `nimbus run` section, run as written (from
/// a directory that sees the repository's examples), succeeds and prints
/// what its comment says it prints.
#[test]
fn readme_nimbus_run_commands_work_as_written() {
    let root = nimbus_test_guests::workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = readme
        .split("## `nimbus run`")
        .nth(1)
        .expect("the README has a `nimbus run` section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the section starts with a sh block");
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(root.join("examples"), dir.path().join("examples")).unwrap();
    let nimbus = std::path::Path::new(env!("CARGO_BIN_EXE_nimbus"));
    let path = format!(
        "{}:{}",
        nimbus.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut runs = 0;
    for line in block.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (command, comment) = match line.split_once(" # ") {
            Some((command, comment)) => (command.trim(), Some(comment)),
            None => (line, None),
        };
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("NIMBUS_CACHE_DIR", common::shared_cache())
            .env_remove("RUST_LOG")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .expect("run sh");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "README: `{command}` failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        if let Some(expected) = comment.and_then(|c| c.split('"').nth(1)) {
            assert!(
                stdout.contains(expected),
                "README: `{command}` should print {expected:?}, printed:\n{stdout}"
            );
        }
        if command.starts_with("nimbus run") {
            runs += 1;
        }
    }
    assert!(runs >= 4, "the README shows {runs} `nimbus run` commands");
}

/// Polls GET `path` until `done` accepts its body (within 10 s); returns the
/// last body.
fn poll_until(server: &Server, path: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let response = server.get(path);
        let text = response.text();
        if response.status == 200 && done(&text) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "GET {path}: {} {text}\n{}",
            response.status,
            server.logs()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// examples/cron-prune: the cron job deletes the events older than a minute
/// within one 2 s tick; newer ones stay.
#[test]
fn cron_prune() {
    let dir = example("cron-prune");
    build(&dir);
    let state = tempfile::tempdir().unwrap();
    let migrations = format!("@{}", dir.join("migrations.sql").display());
    let server = Server::start_with(
        &dir,
        &[
            "--sqlite",
            &migrations,
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
    );
    for (query, text) in [("?age=600", "old"), ("", "new")] {
        let response = request(
            server.addr,
            "POST",
            &format!("/events{query}"),
            &[],
            text.as_bytes(),
        );
        assert_eq!(response.status, 201, "{}", response.text());
    }
    let left = poll_until(&server, "/events", |body| !body.contains("\"old\""));
    assert!(left.contains("\"text\":\"new\""), "{left}");
    let output = server.output();
    assert!(output.contains("pruned events older than 60 s"), "{output}");
}

/// examples/order-processor: an order published on the Redis channel is
/// stored by the Redis-triggered component and served by the HTTP one; an
/// invalid message is refused (logged) without stopping the next ones.
#[test]
fn order_processor() {
    let dir = example("order-processor");
    build(&dir);
    let redis = nimbus_test_servers::RedisServer::start();
    let state = tempfile::tempdir().unwrap();
    let variable = format!("redis_address={}", redis.url());
    let server = Server::start_with(
        &dir,
        &[
            "--variable",
            &variable,
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
    );
    let publish = |payload: &str| {
        let output = std::process::Command::new("redis-cli")
            .args([
                "-p",
                &redis.port().to_string(),
                "publish",
                "orders",
                payload,
            ])
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    // The subscription starts with the server: wait until it is there.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while publish("not an order") != "1" {
        assert!(std::time::Instant::now() < deadline, "{}", server.logs());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        publish(r#"{"id": "42", "item": "book", "quantity": 2}"#),
        "1"
    );
    let order = poll_until(&server, "/orders/42", |_| true);
    assert!(
        order.contains(r#""item":"book""#) && order.contains(r#""quantity":2"#),
        "{order}"
    );
    assert_eq!(server.get("/orders").text(), r#"["42"]"#);
    assert_eq!(server.get("/orders/7").status, 404);
    let logs = server.logs();
    assert!(logs.contains(r#"outcome="error""#), "{logs}");
}

/// examples/nats-workers: two `nimbus up` of the same app share the jobs
/// (queue group `workers`): every job's SHA-256 is published on
/// `results.<job>` exactly once, both processes did some, and a request on
/// `hash` is answered with the digest.
#[test]
fn nats_workers() {
    use std::collections::HashMap;
    use std::time::{Duration, Instant};

    use sha2::{Digest, Sha256};

    let hex = |data: &[u8]| -> String {
        Sha256::digest(data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let dir = example("nats-workers");
    build(&dir);
    let nats = nimbus_test_servers::NatsServer::start();
    let variable = format!("nats_address={}", nats.url());
    let start = |name: &str| {
        let mut command = common::up_command(&dir.join("spin.toml"), &["--variable", &variable]);
        command.env("RUST_LOG", "info");
        let mut process = common::Spawned::spawn(&format!("nimbus up ({name})"), command);
        process.wait_until("nats trigger: ");
        // Both subscriptions (`jobs.>` and `hash`) are active.
        let deadline = Instant::now() + Duration::from_secs(10);
        while process.logs().matches("listening on").count() < 2 {
            assert!(Instant::now() < deadline, "{}", process.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
        process
    };
    let a = start("a");
    let b = start("b");

    let client = nats.client();
    let results = client.subscribe("results.>", None);
    const N: usize = 100;
    let payload = |i: usize| format!("job number {i}").into_bytes();
    for i in 0..N {
        client.publish(&format!("jobs.{i}"), None, &payload(i));
    }
    client.flush();
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.values().map(Vec::len).sum::<usize>() < N && Instant::now() < deadline {
        if let Some(message) = results.next(Duration::from_millis(100)) {
            let job = message.subject.trim_start_matches("results.").to_owned();
            seen.entry(job)
                .or_default()
                .push(String::from_utf8(message.payload).unwrap());
        }
    }
    // A job done twice would show now.
    while let Some(message) = results.next(Duration::from_millis(300)) {
        let job = message.subject.trim_start_matches("results.").to_owned();
        seen.entry(job)
            .or_default()
            .push(String::from_utf8(message.payload).unwrap());
    }
    for i in 0..N {
        let digests = seen.get(&i.to_string()).map(Vec::as_slice).unwrap_or(&[]);
        assert_eq!(
            digests,
            [hex(&payload(i))],
            "job {i}\n--- a\n{}\n--- b\n{}",
            a.logs(),
            b.logs()
        );
    }
    assert_eq!(seen.len(), N, "unexpected results: {seen:?}");
    // Each process printed one line per job it did, and both did some.
    let done = |process: &common::Spawned| {
        process
            .output()
            .lines()
            .filter_map(|line| line.split_once(": "))
            .filter(|(job, digest)| {
                job.parse::<usize>().is_ok()
                    && digest.len() == 64
                    && digest.bytes().all(|b| b.is_ascii_hexdigit())
            })
            .count()
    };
    let (by_a, by_b) = (done(&a), done(&b));
    assert!(by_a > 0 && by_b > 0, "a did {by_a}, b did {by_b}");
    assert_eq!(by_a + by_b, N, "{}\n{}", a.output(), b.output());

    let reply = client
        .request("hash", b"hello", Duration::from_secs(10))
        .expect("a reply on hash");
    assert_eq!(String::from_utf8(reply.payload).unwrap(), hex(b"hello"));
}
