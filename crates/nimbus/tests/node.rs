//! End-to-end tests of `nimbus node`: the real binary, driven over HTTP and
//! through the CLI (`deploy`, `apps`, `keygen`, `sign`).

mod common;
mod node_common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nimbus_platform::bundle::{Bundle, RawEntry, RawKind};
use node_common::{bundle, first_line, http, probe_app, wait_for_metrics, NodeServer};

fn text(output: &std::process::Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn json(response: &common::HttpResponse) -> nimbus_platform::serde_json::Value {
    nimbus_platform::serde_json::from_slice(&response.body)
        .unwrap_or_else(|err| panic!("not JSON ({err}): {}", response.text()))
}

#[test]
fn deploy_list_info_and_remove_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = probe_app(tmp.path(), "hello", "hello", "v1", "");
    let node = NodeServer::start(&tmp.path().join("data"), &[]);

    let out = node.cli(&["deploy", "-f", manifest.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Deployed hello"), "{stdout}");
    assert!(
        stdout.contains(&format!("http://hello.localhost:{}", node.public.port())),
        "{stdout}"
    );

    let response = node.get("hello.localhost", "/some/path");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(first_line(&response), "component=v1");
    assert!(response.text().contains("path=/some/path"));
    // The port in the Host header and its case do not matter.
    let response = node.get(&format!("HELLO.localhost:{}", node.public.port()), "/");
    assert_eq!(first_line(&response), "component=v1");
    // Other hosts reach no app.
    assert_eq!(node.get("other.localhost", "/").status, 404);
    assert_eq!(node.get("localhost", "/").status, 404);
    assert_eq!(node.get("hello.example.com", "/").status, 404);

    let out = node.cli(&["apps", "list"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("hello") && stdout.contains("v1"),
        "{stdout}"
    );

    let out = node.cli(&["apps", "info", "hello"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("current") && stdout.contains("route"),
        "{stdout}"
    );

    let listed = json(&node.admin("GET", "/v1/apps", b""));
    assert_eq!(listed["apps"][0]["name"], "hello");
    assert_eq!(listed["apps"][0]["current"]["app_version"], "v1");
    assert_eq!(listed["apps"][0]["current"]["files"], 2);

    let out = node.cli(&["apps", "rm", "hello"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(node.get("hello.localhost", "/").status, 404);
    assert_eq!(node.admin("GET", "/v1/apps/hello", b"").status, 404);
    let out = node.cli(&["apps", "rm", "hello"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no app named hello"),
        "{}",
        text(&out)
    );
    // Its releases are gone from the data directory.
    assert!(!node.data_dir.join("apps").join("hello").exists());
}

#[test]
fn replace_under_load_then_rollback() {
    let tmp = tempfile::tempdir().unwrap();
    let v1 = bundle(&probe_app(tmp.path(), "v1", "shop", "v1", ""));
    let v2 = bundle(&probe_app(tmp.path(), "v2", "shop", "v2", ""));
    let node = NodeServer::start(&tmp.path().join("data"), &[]);
    assert_eq!(
        node.admin("POST", "/v1/apps/shop/rollback", b"").status,
        404
    );
    let response = node.deploy("shop", &v1);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        node.admin("POST", "/v1/apps/shop/rollback", b"").status,
        409,
        "no previous release yet"
    );

    // A slow request in flight on v1 while v2 goes live finishes on v1.
    let public = node.public;
    let slow = std::thread::spawn(move || {
        http(
            public,
            "GET",
            "shop.localhost",
            "/?do=sleep&ms=1500",
            &[],
            b"",
        )
    });

    // A client hammering the app during the replace.
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let hammer = {
        let stop = stop.clone();
        let seen = seen.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut count = 0;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline && count < 5_000 {
                let response = http(public, "GET", "shop.localhost", "/", &[], b"");
                let line = if response.status == 200 {
                    first_line(&response)
                } else {
                    format!("status {}: {}", response.status, response.text())
                };
                seen.lock().unwrap().push(line);
                count += 1;
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let response = node.deploy("shop", &v2);
    assert_eq!(response.status, 200, "{}", response.text());
    // Once the deploy is acknowledged, new requests get v2.
    assert_eq!(first_line(&node.get("shop.localhost", "/")), "component=v2");
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    hammer.join().unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.len() >= 10,
        "the client sent only {} requests",
        seen.len()
    );
    let bad: Vec<&String> = seen
        .iter()
        .filter(|line| *line != "component=v1" && *line != "component=v2")
        .collect();
    assert!(bad.is_empty(), "unexpected answers under load: {bad:?}");
    assert!(seen.iter().any(|l| l == "component=v1"), "never saw v1");
    assert!(seen.iter().any(|l| l == "component=v2"), "never saw v2");
    // The v2 answers came after the v1 answers: no flapping back.
    let first_v2 = seen.iter().position(|l| l == "component=v2").unwrap();
    assert!(seen[first_v2..].iter().all(|l| l == "component=v2"));

    let slow = slow.join().unwrap();
    assert_eq!(slow.status, 200, "{}", slow.text());
    assert_eq!(slow.text(), "slept\n");

    // Rollback goes back to v1; a second rollback forward to v2.
    let out = node.cli(&["apps", "rollback", "shop"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(first_line(&node.get("shop.localhost", "/")), "component=v1");
    let info = json(&node.admin("GET", "/v1/apps/shop", b""));
    assert_eq!(info["current"]["app_version"], "v1");
    assert_eq!(info["previous"]["app_version"], "v2");
    let response = node.admin("POST", "/v1/apps/shop/rollback", b"");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(first_line(&node.get("shop.localhost", "/")), "component=v2");
}

#[test]
fn bad_bundles_are_refused_and_the_old_version_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let good = probe_app(tmp.path(), "good", "app", "v1", "");
    let node = NodeServer::start_with_config(
        &tmp.path().join("data"),
        "max_bundle_size = \"1MiB\"\n",
        &[],
    );
    let response = node.deploy("app", &bundle(&good));
    assert_eq!(response.status, 200, "{}", response.text());
    let serving = || {
        let response = node.get("app.localhost", "/");
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(first_line(&response), "component=v1");
    };

    let refused = |name: &str, bytes: &[u8], status: u16, reason: &str| {
        let response = node.deploy(name, bytes);
        assert_eq!(response.status, status, "{}", response.text());
        let error = json(&response)["error"].as_str().unwrap().to_owned();
        assert!(
            error.contains(reason),
            "{error:?} should contain {reason:?}"
        );
        serving();
        error
    };

    // A manifest that does not parse: the error names file:line:col.
    let broken = probe_app(tmp.path(), "broken", "app", "v2", "bogus_field = 1");
    let mut files = Bundle::from_bytes(&bundle(&good), u64::MAX).unwrap().files;
    files.insert("nimbus.toml".into(), std::fs::read(&broken).unwrap());
    let bytes = Bundle::from_files("nimbus.toml", files).unwrap().to_bytes();
    refused("app", &bytes, 422, "nimbus.toml:");

    // A component that does not compile.
    let mut files = Bundle::from_bytes(&bundle(&good), u64::MAX).unwrap().files;
    files.insert("probe.wasm".into(), b"\0asm\x0d\0\x01\0garbage".to_vec());
    let bytes = Bundle::from_files("nimbus.toml", files).unwrap().to_bytes();
    refused("app", &bytes, 422, "component `probe`");

    // A manifest reaching outside the bundle.
    let mut files = Bundle::from_bytes(&bundle(&good), u64::MAX).unwrap().files;
    let text = String::from_utf8(files["nimbus.toml"].clone()).unwrap();
    files.insert(
        "nimbus.toml".into(),
        text.replace("source = \"probe.wasm\"", "source = \"/etc/hostname\"")
            .into_bytes(),
    );
    let bytes = Bundle::from_files("nimbus.toml", files).unwrap().to_bytes();
    refused("app", &bytes, 422, "outside the bundle");

    // Hostile archives: `..`, absolute paths, symlinks.
    let good_bundle = Bundle::from_bytes(&bundle(&good), u64::MAX).unwrap();
    let mut entries = vec![RawEntry::file(
        "nimbus-bundle.json",
        good_bundle.index_bytes.clone(),
    )];
    for (path, bytes) in &good_bundle.files {
        entries.push(RawEntry::file(&format!("files/{path}"), bytes.clone()));
    }
    let with = |extra: RawEntry| {
        let mut all = entries.clone();
        all.push(extra);
        nimbus_platform::bundle::write_raw(&all)
    };
    refused(
        "app",
        &with(RawEntry::file("files/../../escape.txt", b"x".to_vec())),
        400,
        "`..`",
    );
    refused(
        "app",
        &with(RawEntry::file("/tmp/escape.txt", b"x".to_vec())),
        400,
        "absolute",
    );
    refused(
        "app",
        &with(RawEntry {
            path: "files/link".into(),
            kind: RawKind::Symlink,
            contents: b"/etc/passwd".to_vec(),
        }),
        400,
        "link",
    );
    assert!(!tmp.path().join("escape.txt").exists());
    // Not a bundle at all; too large; a bad app name.
    refused("app", b"hello", 400, "not a bundle");
    refused("app", &vec![0u8; 2 << 20], 413, "larger than 1.0 MiB");
    refused("Bad_Name", &bundle(&good), 400, "not a valid app name");
    node.wait_for_log("deploy refused");
    wait_for_metrics(
        &node,
        &[
            r#"nimbus_deploy_refusals_total{app="app",reason="bundle"} 4"#,
            r#"nimbus_deploy_refusals_total{app="app",reason="load"} 1"#,
            r#"nimbus_deploy_refusals_total{app="app",reason="manifest"} 2"#,
            r#"nimbus_deploy_refusals_total{app="app",reason="size"} 1"#,
        ],
    );
    // Nothing was left behind but the serving release.
    let releases = std::fs::read_dir(node.data_dir.join("apps/app/releases"))
        .unwrap()
        .count();
    assert_eq!(releases, 1);
}

#[test]
fn the_admin_api_requires_the_token() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let node = NodeServer::start(&data, &[]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(data.join("admin-token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(node.output().contains("generated into"));
    let wrong = format!("Bearer {}x", node.token);
    let basic = format!("Basic {}", node.token);
    for headers in [
        vec![],
        vec![("Authorization", wrong.as_str())],
        vec![("Authorization", basic.as_str())],
        vec![("Authorization", "Bearer ")],
    ] {
        for (method, path) in [
            ("GET", "/v1/apps"),
            ("GET", "/metrics"),
            ("PUT", "/v1/apps/x"),
            ("DELETE", "/v1/apps/x"),
            ("GET", "/nothing"),
        ] {
            let response = http(node.admin, method, "admin", path, &headers, b"");
            assert_eq!(response.status, 401, "{method} {path} with {headers:?}");
            assert!(response.body.is_empty(), "401 carries no detail");
        }
    }
    assert_eq!(node.admin("GET", "/v1/apps", b"").status, 200);
    let out = nimbus_platform_cli_with_token(&node, "wrong");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        text(&out)
    );
    drop(node);

    // A token given by the environment replaces the file's.
    let node = NodeServer::start_with_env(&data, &[], &[("NIMBUS_ADMIN_TOKEN", "s3cret")]);
    assert_eq!(node.admin("GET", "/v1/apps", b"").status, 200);
    let old = std::fs::read_to_string(data.join("admin-token")).unwrap();
    let response = http(
        node.admin,
        "GET",
        "admin",
        "/v1/apps",
        &[("Authorization", &format!("Bearer {}", old.trim()))],
        b"",
    );
    assert_eq!(response.status, 401);
}

fn nimbus_platform_cli_with_token(node: &NodeServer, token: &str) -> std::process::Output {
    common::nimbus_command()
        .args(["apps", "list", "--to", &format!("http://{}", node.admin)])
        .env("NIMBUS_ADMIN_TOKEN", token)
        .output()
        .unwrap()
}

#[test]
fn signature_policy_unsigned_tampered_and_good() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = probe_app(tmp.path(), "app", "signed", "v1", "");
    let key = tmp.path().join("ci.key");
    let other = tmp.path().join("other.key");
    for path in [&key, &other] {
        let out = common::nimbus_command()
            .args(["keygen", "-o", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    let public = format!("{}.pub", key.display());
    let node = NodeServer::start(
        &tmp.path().join("data"),
        &["--trusted-key", &public, "--require-signatures"],
    );

    // Unsigned.
    let response = node.deploy("signed", &bundle(&manifest));
    assert_eq!(response.status, 403, "{}", response.text());
    assert!(response.text().contains("not signed"));
    node.wait_for_log("not signed");

    // Signed by a key the node does not trust.
    let other_bundle = tmp.path().join("other.bundle");
    let out = common::nimbus_command()
        .args(["sign", "--key", other.to_str().unwrap(), "-f"])
        .arg(&manifest)
        .arg("-o")
        .arg(&other_bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let response = node.deploy("signed", &std::fs::read(&other_bundle).unwrap());
    assert_eq!(response.status, 403, "{}", response.text());
    assert!(response
        .text()
        .contains("not among this node's trusted keys"));

    // Signed by the trusted key.
    let signed = tmp.path().join("signed.bundle");
    let out = common::nimbus_command()
        .args(["sign", "--key", key.to_str().unwrap(), "-f"])
        .arg(&manifest)
        .arg("-o")
        .arg(&signed)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let signed_bytes = std::fs::read(&signed).unwrap();
    let good = Bundle::from_bytes(&signed_bytes, u64::MAX).unwrap();

    // Tampered: a file changed, the index left alone (its digest no longer
    // matches) ...
    let mut entries = vec![
        RawEntry::file("nimbus-bundle.json", good.index_bytes.clone()),
        RawEntry::file(
            "nimbus-bundle.sig",
            nimbus_platform::serde_json::to_vec(good.signature.as_ref().unwrap()).unwrap(),
        ),
    ];
    for (path, bytes) in &good.files {
        let mut bytes = bytes.clone();
        if path == "nimbus.toml" {
            bytes = String::from_utf8(bytes)
                .unwrap()
                .replace("\"v1\" }", "\"evil\" }")
                .into_bytes();
        }
        entries.push(RawEntry::file(&format!("files/{path}"), bytes));
    }
    let response = node.deploy("signed", &nimbus_platform::bundle::write_raw(&entries));
    assert_eq!(response.status, 400, "{}", response.text());
    assert!(response.text().contains("tampered"), "{}", response.text());
    // ... or the index rewritten to match, under the old signature.
    let mut files = good.files.clone();
    let evil = String::from_utf8(files["nimbus.toml"].clone())
        .unwrap()
        .replace("\"v1\" }", "\"evil\" }");
    files.insert("nimbus.toml".into(), evil.into_bytes());
    let mut rewritten = Bundle::from_files("nimbus.toml", files).unwrap();
    rewritten.signature = good.signature.clone();
    let response = node.deploy("signed", &rewritten.to_bytes());
    assert_eq!(response.status, 403, "{}", response.text());
    assert!(response.text().contains("tampered after signing"));
    node.wait_for_log("tampered after signing");
    assert_eq!(node.get("signed.localhost", "/").status, 404);

    // The good one.
    let out = node.cli(&["deploy", "--bundle", signed.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("signed by"));
    assert_eq!(
        first_line(&node.get("signed.localhost", "/")),
        "component=v1"
    );
    // `deploy --key` signs on the way.
    let out = node.cli(&[
        "deploy",
        "-f",
        manifest.to_str().unwrap(),
        "--name",
        "signed2",
        "--key",
        key.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let info = json(&node.admin("GET", "/v1/apps/signed2", b""));
    assert_eq!(info["current"]["signed_by"], good_key_id(&public));
    wait_for_metrics(
        &node,
        &[r#"nimbus_deploy_refusals_total{app="signed",reason="signature"} 3"#],
    );
}

fn good_key_id(public: &str) -> String {
    let key = nimbus_platform::signing::read_verifying_key(std::path::Path::new(public)).unwrap();
    nimbus_platform::signing::key_id(&key)
}

#[test]
fn restart_after_kill_9_brings_every_app_back() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut node = NodeServer::start(&data, &[]);
    let a = bundle(&probe_app(tmp.path(), "a", "a", "a1", ""));
    let b1 = bundle(&probe_app(tmp.path(), "b1", "b", "b1", ""));
    let b2 = bundle(&probe_app(tmp.path(), "b2", "b", "b2", ""));
    let c = bundle(&probe_app(tmp.path(), "c", "c", "c1", ""));
    for (name, bytes) in [("a", &a), ("b", &b1), ("b", &b2), ("c", &c)] {
        let response = node.deploy(name, bytes);
        assert_eq!(response.status, 200, "{}", response.text());
    }
    let response = http(
        node.admin,
        "PUT",
        "admin",
        "/v1/apps/d?hostname=d.example.test",
        &[("Authorization", &format!("Bearer {}", node.token))],
        &a,
    );
    assert_eq!(response.status, 200, "{}", response.text());
    node.kill9();

    let node = NodeServer::start(&data, &[]);
    assert!(
        node.output().contains("4 apps deployed"),
        "{}",
        node.output()
    );
    // Apps load lazily: nothing is loaded until its first request.
    let info = json(&node.admin("GET", "/v1/apps/a", b""));
    assert_eq!(info["loaded"], false);
    assert_eq!(first_line(&node.get("a.localhost", "/")), "component=a1");
    assert_eq!(first_line(&node.get("b.localhost", "/")), "component=b2");
    assert_eq!(first_line(&node.get("c.localhost", "/")), "component=c1");
    assert_eq!(first_line(&node.get("d.example.test", "/")), "component=a1");
    let info = json(&node.admin("GET", "/v1/apps/a", b""));
    assert_eq!(info["loaded"], true);
    // The previous release survived too.
    let response = node.admin("POST", "/v1/apps/b/rollback", b"");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(first_line(&node.get("b.localhost", "/")), "component=b1");
}

#[test]
fn two_apps_are_isolated() {
    let tmp = tempfile::tempdir().unwrap();
    let files = "files = [{ source = \"data\", destination = \"/data\" }]";
    let alpha = probe_app(tmp.path(), "alpha", "alpha", "alpha", files);
    let beta = probe_app(tmp.path(), "beta", "beta", "beta", files);
    for (dir, secret) in [(&alpha, "alpha's secret"), (&beta, "beta's secret")] {
        let data = dir.parent().unwrap().join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("secret.txt"), secret).unwrap();
    }
    let node = NodeServer::start(&tmp.path().join("data"), &[]);
    assert_eq!(node.deploy("alpha", &bundle(&alpha)).status, 200);
    let out = node.cli(&[
        "deploy",
        "-f",
        beta.to_str().unwrap(),
        "--hostname",
        "beta.example.test",
    ]);
    assert!(out.status.success(), "{}", text(&out));

    let read = |host: &str| node.get(host, "/?do=file&path=/data/secret.txt").text();
    assert_eq!(read("alpha.localhost"), "alpha's secret");
    assert_eq!(read("beta.localhost"), "beta's secret");
    assert_eq!(read("beta.example.test"), "beta's secret");
    let env = node.get("alpha.localhost", "/?do=env").text();
    assert!(env.contains("NAME=alpha") && !env.contains("beta"), "{env}");
    // Nothing outside the app's own files.
    let escape = node
        .get(
            "alpha.localhost",
            "/?do=file&path=/data/../../beta/data/secret.txt",
        )
        .text();
    assert!(escape.starts_with("error:"), "{escape}");

    // One app's failures do not touch the other.
    for _ in 0..3 {
        assert_eq!(node.get("alpha.localhost", "/?do=trap").status, 500);
    }
    assert_eq!(
        first_line(&node.get("beta.localhost", "/")),
        "component=beta"
    );

    // A hostname belongs to one app.
    let response = http(
        node.admin,
        "PUT",
        "admin",
        "/v1/apps/alpha?hostname=beta.example.test",
        &[("Authorization", &format!("Bearer {}", node.token))],
        &bundle(&alpha),
    );
    assert_eq!(response.status, 409, "{}", response.text());
    assert!(response.text().contains("already used by app beta"));
}

#[test]
fn quotas_cap_what_a_manifest_may_ask_for() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeServer::start_with_config(
        &tmp.path().join("data"),
        "[quotas]\nmemory = \"32MiB\"\ntimeout = \"1s\"\nmax_concurrency = 8\n",
        &[],
    );
    let greedy = probe_app(
        tmp.path(),
        "greedy",
        "greedy",
        "v1",
        "[component.probe.limits]\nmemory = \"64MiB\"\n",
    );
    let response = node.deploy("greedy", &bundle(&greedy));
    assert_eq!(response.status, 422, "{}", response.text());
    let error = json(&response)["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains("asks for memory = 64.0 MiB") && error.contains("at most 32.0 MiB"),
        "{error}"
    );
    let slow = probe_app(
        tmp.path(),
        "slow",
        "slow",
        "v1",
        "[component.probe.limits]\ntimeout = \"1m\"\n",
    );
    let response = node.deploy("slow", &bundle(&slow));
    assert_eq!(response.status, 422, "{}", response.text());
    assert!(response.text().contains("timeout"));

    // An app that sets no limits gets the quotas as its limits.
    let plain = probe_app(tmp.path(), "plain", "plain", "v1", "");
    assert_eq!(node.deploy("plain", &bundle(&plain)).status, 200);
    assert_eq!(node.get("plain.localhost", "/?do=hog").status, 500);
    let started = Instant::now();
    assert_eq!(node.get("plain.localhost", "/?do=spin").status, 504);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        first_line(&node.get("plain.localhost", "/")),
        "component=v1"
    );
    wait_for_metrics(
        &node,
        &[r#"nimbus_deploy_refusals_total{app="greedy",reason="quota"} 1"#],
    );
}

#[test]
fn metrics_count_what_was_sent_and_logs_can_be_json() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeServer::start(&tmp.path().join("data"), &["--log-format", "json"]);
    let app = probe_app(tmp.path(), "m", "m", "v1", "");
    assert_eq!(node.deploy("m", &bundle(&app)).status, 200);
    for _ in 0..5 {
        assert_eq!(node.get("m.localhost", "/").status, 200);
    }
    for _ in 0..2 {
        assert_eq!(node.get("m.localhost", "/?do=trap").status, 500);
    }
    assert_eq!(node.get("nobody.localhost", "/").status, 404);
    let text = wait_for_metrics(
        &node,
        &[
            r#"nimbus_requests_total{app="m",component="probe",status="2xx"} 5"#,
            r#"nimbus_requests_total{app="m",component="probe",status="5xx"} 2"#,
            r#"nimbus_request_duration_seconds_count{app="m",component="probe"} 7"#,
            r#"nimbus_instances_in_flight{app="m",component="probe"} 0"#,
            r#"nimbus_deploys_total{app="m"} 1"#,
            "nimbus_unrouted_requests_total 1",
            "nimbus_apps 1",
        ],
    );
    assert!(
        text.contains(r#"nimbus_instantiation_duration_seconds_count{app="m",component="probe"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"nimbus_instance_memory_bytes_count{app="m",component="probe"}"#),
        "{text}"
    );
    // Logs are one JSON object per line.
    let logs = node.wait_for_log("\"deployed\"");
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        let value: nimbus_platform::serde_json::Value = nimbus_platform::serde_json::from_str(line)
            .unwrap_or_else(|err| panic!("log line is not JSON ({err}): {line}"));
        assert!(value.get("level").is_some(), "{line}");
    }
}

/// An app serving the kv-spin guest (Spin SDK key-value) with the `default`
/// store granted.
fn kv_app(root: &Path, name: &str) -> std::path::PathBuf {
    let app = root.join(name);
    std::fs::create_dir_all(&app).unwrap();
    let wasm =
        nimbus_test_guests::package_guest("guests-kv", "kv-spin", nimbus_test_guests::Target::P2);
    std::fs::copy(wasm, app.join("kv.wasm")).unwrap();
    let manifest = format!(
        "spin_manifest_version = 2\n[application]\nname = \"{name}\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"kv\"\n[component.kv]\nsource = \"kv.wasm\"\nkey_value_stores = [\"default\"]\n"
    );
    let path = app.join("nimbus.toml");
    std::fs::write(&path, manifest).unwrap();
    path
}

#[test]
fn two_apps_with_same_named_stores_are_isolated_and_keep_state_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("node-data");
    let mut node = NodeServer::start(&data, &[]);
    for name in ["alpha", "beta"] {
        assert_eq!(
            node.deploy(name, &bundle(&kv_app(tmp.path(), name))).status,
            200
        );
    }
    let set = |node: &NodeServer, host: &str, value: &[u8]| {
        http(node.public, "POST", host, "/set/owner", &[], value)
    };
    assert_eq!(set(&node, "alpha.localhost", b"alpha").text(), "ok");
    assert_eq!(node.get("alpha.localhost", "/get/owner").text(), "alpha");
    // beta's `default` store is its own: the key does not exist there.
    assert_eq!(node.get("beta.localhost", "/get/owner").status, 404);
    assert_eq!(set(&node, "beta.localhost", b"beta").text(), "ok");
    assert_eq!(node.get("alpha.localhost", "/get/owner").text(), "alpha");
    assert_eq!(node.get("beta.localhost", "/get/owner").text(), "beta");

    // Acknowledged writes survive a crash of the node.
    node.kill9();
    let node = NodeServer::start(&data, &[]);
    assert_eq!(node.get("alpha.localhost", "/get/owner").text(), "alpha");
    assert_eq!(node.get("beta.localhost", "/get/owner").text(), "beta");
}

#[test]
fn token_and_to_are_accepted_after_the_apps_subcommand() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeServer::start(&tmp.path().join("data"), &[]);
    let manifest = probe_app(tmp.path(), "hello", "hello", "v1", "");
    assert_eq!(node.deploy("hello", &bundle(&manifest)).status, 200);
    let to = format!("http://{}", node.admin);
    let cli = |args: &[&str]| {
        common::nimbus_command()
            .env_remove("NIMBUS_ADMIN_TOKEN")
            .env_remove("NIMBUS_NODE")
            .args(args)
            .output()
            .unwrap()
    };
    for args in [
        vec!["apps", "list", "--token", &node.token, "--to", &to],
        vec!["apps", "info", "hello", "--to", &to, "--token", &node.token],
        vec!["apps", "--to", &to, "ls", "--token", &node.token, "--json"],
    ] {
        let out = cli(&args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("hello"),
            "{args:?}: {}",
            text(&out)
        );
    }
    // A wrong token after the subcommand is used too (and refused).
    let out = cli(&["apps", "rm", "hello", "--to", &to, "--token", "wrong"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        text(&out)
    );
    assert_eq!(node.get("hello.localhost", "/").status, 200);
}

#[test]
fn a_bad_hostname_is_refused_saying_what_a_host_name_is() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = probe_app(tmp.path(), "hello", "hello", "v1", "");
    let out = common::nimbus_command()
        .args([
            "deploy",
            "--to",
            "http://127.0.0.1:9",
            "--hostname",
            "bad host",
            "-f",
        ])
        .arg(&manifest)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("'bad host'")
            && stderr.contains("not a valid host name")
            && stderr.contains("letters, digits and hyphens"),
        "{stderr}"
    );
    assert!(!stderr.contains("invalid uri character"), "{stderr}");
}

#[test]
fn node_listen_and_admin_take_host_names_and_bare_ports() {
    let tmp = tempfile::tempdir().unwrap();
    let mut command = common::nimbus_command();
    command
        .env_remove("NIMBUS_ADMIN_TOKEN")
        .args([
            "node",
            "--listen",
            "localhost:0",
            "--admin",
            "0",
            "--data-dir",
        ])
        .arg(tmp.path().join("data"));
    let mut node = common::Spawned::spawn("nimbus node", command);
    let public = node.wait_for_addr("Serving ");
    let admin = node.wait_for_addr("Admin API on ");
    assert!(public.ip().is_loopback(), "{public}");
    assert_eq!(admin.ip().to_string(), "127.0.0.1");
    assert_eq!(
        http(public, "GET", "nobody.localhost", "/", &[], b"").status,
        404
    );
    assert_eq!(
        http(admin, "GET", "admin", "/v1/apps", &[], b"").status,
        401
    );
}

/// Runs `command` until it exits, killing it after `limit` (a server that
/// should have refused to start): its output, and whether it exited itself.
fn run_until_exit(mut command: std::process::Command, limit: Duration) -> (String, bool) {
    use std::io::Read as _;
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start nimbus");
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    let _ = child.stdout.take().unwrap().read_to_string(&mut out);
    let _ = child.stderr.take().unwrap().read_to_string(&mut out);
    let exited_with_error = status.is_some_and(|s| !s.success());
    (format!("status {status:?}\n{out}"), exited_with_error)
}

#[test]
fn a_port_held_by_another_process_fails_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeServer::start(&tmp.path().join("data"), &[]);
    let taken = node.public.to_string();

    // A second node on the same --listen (its own data dir).
    let mut second = common::nimbus_command();
    second
        .args(["node", "--listen", &taken, "--admin", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(tmp.path().join("data2"));
    let (out, refused) = run_until_exit(second, Duration::from_secs(60));
    assert!(refused, "a second node started on {taken}:\n{out}");
    assert!(
        out.contains("address in use") && out.contains(&taken),
        "{out}"
    );

    // `nimbus up` on the node's port.
    let manifest = probe_app(tmp.path(), "up", "up", "v1", "");
    let mut up = common::nimbus_command();
    up.args(["up", "--listen", &taken, "-f"]).arg(&manifest);
    let (out, refused) = run_until_exit(up, Duration::from_secs(60));
    assert!(refused, "nimbus up started on {taken}:\n{out}");
    assert!(
        out.contains("address in use") && out.contains(&taken),
        "{out}"
    );
    // The node still has its port to itself.
    assert_eq!(node.get("none.localhost", "/").status, 404);
}

#[test]
fn a_second_node_on_one_data_dir_is_refused_and_leaves_it_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let node = NodeServer::start(&data, &[]);
    let pid = std::fs::read_to_string(data.join("lock")).unwrap();
    let in_progress = data.join("tmp").join("bundle-in-progress");
    std::fs::create_dir_all(&in_progress).unwrap();

    let mut second = common::nimbus_command();
    second
        .args(["node", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(&data);
    let (out, refused) = run_until_exit(second, Duration::from_secs(60));
    assert!(refused, "a second node ran on {}:\n{out}", data.display());
    assert!(out.contains(&data.display().to_string()), "{out}");
    assert!(out.contains(&format!("pid {}", pid.trim())), "{out}");
    assert!(in_progress.exists(), "the second node emptied DATA/tmp");
    assert_eq!(node.get("none.localhost", "/").status, 404);
}

#[test]
fn sign_writes_a_bare_file_name_in_the_current_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = probe_app(tmp.path(), "app", "hello", "v1", "");
    let app_dir = manifest.parent().unwrap();
    let key = tmp.path().join("deploy.key");
    let out = common::nimbus_command()
        .args(["keygen", "-o", key.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = common::nimbus_command()
        .args(["sign", "--key", key.to_str().unwrap(), "-o", "rel.bundle"])
        .current_dir(app_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let bytes = std::fs::read(app_dir.join("rel.bundle")).unwrap();
    let signed = Bundle::from_bytes(&bytes, u64::MAX).unwrap();
    assert!(signed.signature.is_some());
    // Nothing else was left next to it (no temporary file).
    let mut names: Vec<String> = std::fs::read_dir(app_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["nimbus.toml", "probe.wasm", "rel.bundle"]);
}

#[test]
fn an_oversized_bundle_gets_the_nodes_413_before_the_upload() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeServer::start_with_config(
        &tmp.path().join("data"),
        "max_bundle_size = \"4KiB\"\n",
        &[],
    );
    // Refused on its Content-Length alone: no body is sent at all.
    let auth = format!("Bearer {}", node.token);
    let response = common::send_raw(
        node.admin,
        format!(
            "PUT /v1/apps/big HTTP/1.1\r\nHost: admin\r\nAuthorization: {auth}\r\n\
             Content-Length: 100000000\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(response.status, 413, "{}", response.text());
    let body = json(&response);
    assert_eq!(body["reason"], "size", "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("max_bundle_size"),
        "{body}"
    );

    // The CLI shows the node's answer (the probe app is far over 4 KiB).
    let manifest = probe_app(tmp.path(), "big", "big", "v1", "");
    for _ in 0..3 {
        let out = node.cli(&["deploy", "-f", manifest.to_str().unwrap()]);
        assert!(!out.status.success(), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("413") && stderr.contains("larger than 4.0 KiB"),
            "{}",
            text(&out)
        );
        assert!(!stderr.contains("Broken pipe"), "{}", text(&out));
    }
}

#[test]
fn require_signatures_covers_rollbacks_and_apps_deployed_before_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let key = tmp.path().join("ci.key");
    let out = common::nimbus_command()
        .args(["keygen", "-o", key.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let public = format!("{}.pub", key.display());
    let v1 = probe_app(tmp.path(), "v1", "shop", "v1", "");
    let v2 = probe_app(tmp.path(), "v2", "shop", "v2", "");
    let legacy = probe_app(tmp.path(), "legacy", "legacy", "old", "");

    // Before the policy: unsigned v1 and legacy, then signed v2.
    let mut node = NodeServer::start(&data, &["--trusted-key", &public]);
    assert_eq!(node.deploy("shop", &bundle(&v1)).status, 200);
    assert_eq!(node.deploy("legacy", &bundle(&legacy)).status, 200);
    let out = node.cli(&[
        "deploy",
        "-f",
        v2.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    node.terminate();

    let node = NodeServer::start(&data, &["--trusted-key", &public, "--require-signatures"]);
    // Said loudly at start, per app.
    let logs = node.wait_for_log("app not served");
    assert!(logs.contains("legacy"), "{logs}");
    // The signed release serves; rolling back to the unsigned one is refused.
    assert_eq!(first_line(&node.get("shop.localhost", "/")), "component=v2");
    let out = node.cli(&["apps", "rollback", "shop"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not signed"),
        "{}",
        text(&out)
    );
    assert_eq!(first_line(&node.get("shop.localhost", "/")), "component=v2");
    // The unsigned app deployed before the flag does not serve.
    assert_eq!(node.get("legacy.localhost", "/").status, 503);
    let out = node.cli(&["apps", "info", "legacy"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("cannot load") && stdout.contains("not signed"),
        "{stdout}"
    );
}

#[test]
fn memory_limits_below_the_modules_minimum_are_refused_at_load() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeServer::start_with_config(
        &tmp.path().join("data"),
        "[quotas]\nmemory = \"512KiB\"\n",
        &[],
    );
    let tiny = probe_app(
        tmp.path(),
        "tiny",
        "tiny",
        "v1",
        "[component.probe.limits]\nmemory = 64\n",
    );
    let response = node.deploy("tiny", &bundle(&tiny));
    assert_eq!(response.status, 422, "{}", response.text());
    let error = json(&response)["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains("component `probe`")
            && error.contains("memory limit (64 bytes)")
            && error.contains("below the minimum memory its Wasm declares"),
        "{error}"
    );
    // The node's quota, given to an app that sets no limit, likewise.
    let plain = probe_app(tmp.path(), "plain", "plain", "v1", "");
    let response = node.deploy("plain", &bundle(&plain));
    assert_eq!(response.status, 422, "{}", response.text());
    assert!(
        response.text().contains("memory limit (512 KiB)"),
        "{}",
        response.text()
    );
    // A quota below one page is refused when the node starts.
    let config = tmp.path().join("node.toml");
    std::fs::write(&config, "[quotas]\nmemory = \"1KiB\"\n").unwrap();
    let mut start = common::nimbus_command();
    start
        .args(["node", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(tmp.path().join("data2"));
    let (out, refused) = run_until_exit(start, Duration::from_secs(60));
    assert!(refused && out.contains("quotas.memory"), "{out}");
}

#[test]
fn messages_name_the_domain_hide_node_paths_and_explain_unloadable_apps() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut node = NodeServer::start(&data, &["--domain", "apps.test"]);
    let response = node.get("nobody.apps.test", "/");
    assert_eq!(response.status, 404);
    assert!(
        response.text().contains("nobody.apps.test") && response.text().contains("NAME.apps.test"),
        "{}",
        response.text()
    );

    // A manifest error names the file in the bundle, not the node's path.
    let good = probe_app(tmp.path(), "good", "app", "v1", "");
    let broken = probe_app(tmp.path(), "broken", "app", "v2", "bogus_field = 1");
    let mut files = Bundle::from_bytes(&bundle(&good), u64::MAX).unwrap().files;
    files.insert("nimbus.toml".into(), std::fs::read(&broken).unwrap());
    let bytes = Bundle::from_files("nimbus.toml", files).unwrap().to_bytes();
    let response = node.deploy("app", &bytes);
    assert_eq!(response.status, 422, "{}", response.text());
    let error = json(&response)["error"].as_str().unwrap().to_owned();
    assert!(error.contains("nimbus.toml:"), "{error}");
    assert!(!error.contains(&data.display().to_string()), "{error}");
    assert!(!error.contains("releases"), "{error}");

    // An app that cannot load (over a quota lowered since) says why.
    let greedy = probe_app(
        tmp.path(),
        "greedy",
        "greedy",
        "v1",
        "[component.probe.limits]\nmemory = \"64MiB\"\n",
    );
    assert_eq!(node.deploy("greedy", &bundle(&greedy)).status, 200);
    node.terminate();
    let node = NodeServer::start_with_config(
        &data,
        "[quotas]\nmemory = \"32MiB\"\n",
        &["--domain", "apps.test"],
    );
    assert_eq!(node.get("greedy.apps.test", "/").status, 503);
    let out = node.cli(&["apps", "info", "greedy"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("cannot load") && stdout.contains("asks for memory = 64.0 MiB"),
        "{stdout}"
    );
}

/// An app with a required secret variable (read by `variables-get` at
/// `/vars/api_key`) and a SQLite database (`sqlite-exec` at `/sql`).
fn settings_app(root: &Path) -> std::path::PathBuf {
    let app = root.join("settings-app");
    std::fs::create_dir_all(&app).unwrap();
    for guest in ["variables-get", "sqlite-exec"] {
        let wasm =
            nimbus_test_guests::package_guest("guests-spin", guest, nimbus_test_guests::Target::P2);
        std::fs::copy(wasm, app.join(format!("{guest}.wasm"))).unwrap();
    }
    let manifest = r#"spin_manifest_version = 2
[application]
name = "vault"

[variables]
api_key = { required = true, secret = true }

[[trigger.http]]
route = "/vars/..."
component = "vars"

[[trigger.http]]
route = "/sql"
component = "sql"

[component.vars]
source = "variables-get.wasm"
variables = { api_key = "{{ api_key }}" }

[component.sql]
source = "sqlite-exec.wasm"
sqlite_databases = ["default"]
"#;
    let path = app.join("nimbus.toml");
    std::fs::write(&path, manifest).unwrap();
    path
}

#[test]
fn per_app_variables_runtime_config_and_migrations() {
    const SECRET: &str = "s3cr3t-4pi-k3y";
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let manifest = settings_app(tmp.path());
    let manifest = manifest.to_str().unwrap();
    let mut node = NodeServer::start(&data, &[]);

    // A required variable without a value: the advice fits a node.
    let out = node.cli(&["deploy", "-f", manifest]);
    assert!(!out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--variable api_key="), "{}", text(&out));
    assert!(!stderr.contains("NIMBUS_VARIABLE"), "{}", text(&out));

    let migrations = tmp.path().join("migrations.sql");
    std::fs::write(
        &migrations,
        "CREATE TABLE IF NOT EXISTS todos (title TEXT);",
    )
    .unwrap();
    let sqlite = format!("@{}", migrations.display());
    let variable = format!("api_key={SECRET}");
    let out = node.cli(&[
        "deploy",
        "-f",
        manifest,
        "--variable",
        &variable,
        "--sqlite",
        &sqlite,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let check = |node: &NodeServer, expected: &str| {
        let response = node.get("vault.localhost", "/vars/api_key");
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.text(), expected);
        let body = r#"{"database": "default", "statements": [{"sql": "SELECT count(*) FROM todos", "params": []}]}"#;
        let response = http(
            node.public,
            "POST",
            "vault.localhost",
            "/sql",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(response.status, 200, "{}", response.text());
    };
    check(&node, SECRET);

    // Never shown back: not by the API, `apps info`, or the log.
    let info = node.admin("GET", "/v1/apps/vault", b"").text();
    assert!(info.contains("api_key") && !info.contains(SECRET), "{info}");
    let out = node.cli(&["apps", "info", "vault"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("api_key") && !stdout.contains(SECRET),
        "{stdout}"
    );

    // A deploy without settings keeps them; they survive a restart.
    let out = node.cli(&["deploy", "-f", manifest]);
    assert!(out.status.success(), "{}", text(&out));
    node.terminate();
    assert!(!node.logs().contains(SECRET));
    let node = NodeServer::start(&data, &[]);
    check(&node, SECRET);

    // A runtime config gives the value instead (settings are replaced whole).
    let runtime_config = tmp.path().join("rc.toml");
    std::fs::write(&runtime_config, "[variables]\napi_key = \"from-rc\"\n").unwrap();
    let out = node.cli(&[
        "deploy",
        "-f",
        manifest,
        "--runtime-config-file",
        runtime_config.to_str().unwrap(),
        "--sqlite",
        &sqlite,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    check(&node, "from-rc");
    assert!(!node.logs().contains(SECRET));
}

/// Kubernetes' probes: `/healthz` and `/readyz` on the admin port, with no
/// token; every other admin path still wants one.
#[test]
fn health_and_readiness_need_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeServer::start(&dir.path().join("data"), &[]);
    let health = http(node.admin, "GET", "admin", "/healthz", &[], b"");
    assert_eq!(health.status, 200, "{}", health.text());
    assert!(health.text().contains("\"ok\""), "{}", health.text());

    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        let ready = http(node.admin, "GET", "admin", "/readyz", &[], b"");
        if ready.status == 200 || Instant::now() > deadline {
            break ready;
        }
        assert_eq!(ready.status, 503, "{}", ready.text());
        assert!(ready.text().contains("starting"), "{}", ready.text());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(ready.status, 200, "{}", ready.text());
    assert!(ready.text().contains("\"ready\""), "{}", ready.text());

    // The probes give nothing away, and the rest still needs the token.
    let apps = http(node.admin, "GET", "admin", "/v1/apps", &[], b"");
    assert_eq!(apps.status, 401);
    let posted = http(node.admin, "POST", "admin", "/readyz", &[], b"");
    assert_eq!(posted.status, 401);
}
