//! The shim under a real containerd (Debian's 1.6 and runc): images built
//! here as OCI layouts, copied into a local registry with skopeo, pulled
//! with `ctr images pull`, run with `ctr run --runtime
//! io.containerd.nimbus.v1`.
//!
//! The image format tested is the tar-rootfs one (a normal image whose
//! layer holds spin.toml and the .wasm files, or a program's .wasm): every
//! containerd pulls it. Images whose layers are raw Wasm (Spin's OCI
//! artifact format) need containerd 1.7.7 or later to pull: their test
//! skips on older ones, saying so. (How the shim turns such layers into an
//! app, `nimbus_oci::unpack_layers`, is tested in `crates/oci`.)
//!
//! Needs root (namespaces, mounts, cgroups); skips with the reason
//! otherwise.

mod support;

use std::path::Path;
use std::time::Duration;

use nimbus_test_guests::{guest, package_guest, Target};
use nimbus_test_servers::{free_port, OciRegistry};
use support::{
    http_get, http_get_when_up, image_config, skip_reason, wasm_layers_unsupported,
    write_wasm_layout, Containerd, Image,
};

fn shim() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_containerd-shim-nimbus-v1"))
}

fn skip() -> bool {
    match skip_reason() {
        Some(reason) => {
            eprintln!("SKIPPED: {reason}");
            true
        }
        None => false,
    }
}

/// Builds `image` into the registry as `repository:tag` and pulls it;
/// returns the reference to run.
fn publish(registry: &OciRegistry, containerd: &Containerd, image: &Image, name: &str) -> String {
    let layout = tempfile::tempdir().expect("a temporary directory");
    image.write_layout(layout.path());
    registry.skopeo_copy(&format!("oci:{}:latest", layout.path().display()), name);
    let reference = format!("{}/{name}", registry.host());
    containerd.pull(&reference);
    reference
}

fn cwasm_files(dir: &Path) -> usize {
    walk(dir)
        .iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "cwasm"))
        .count()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(walk(&path));
            } else {
                found.push(path);
            }
        }
    }
    found
}

/// The body of a raw HTTP response.
fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

#[test]
fn serves_a_spin_app_image_and_stops_gracefully_on_sigterm() {
    if skip() {
        return;
    }
    let probe = std::fs::read(guest("http-probe", Target::P2)).expect("the http-probe guest");
    let manifest = r#"spin_manifest_version = 2
[application]
name = "probe-app"
[[trigger.http]]
route = "/..."
component = "probe"
[component.probe]
source = "probe.wasm"
files = ["static/hello.txt"]
environment = { NAME = "probe" }
"#;
    let image = Image {
        files: vec![
            ("spin.toml".to_owned(), manifest.as_bytes().to_vec()),
            ("probe.wasm".to_owned(), probe),
            (
                "static/hello.txt".to_owned(),
                b"hello from the image\n".to_vec(),
            ),
        ],
        // What Spin app images use: the entrypoint is the rootfs itself.
        cmd: vec!["/".to_owned()],
        env: Vec::new(),
    };
    let registry = OciRegistry::start();
    let cache = tempfile::tempdir().expect("a temporary directory");
    let cache_dir = cache.path().to_string_lossy().into_owned();
    let containerd = Containerd::start(shim(), &[("NIMBUS_SHIM_CACHE_DIR", &cache_dir)]);
    let reference = publish(&registry, &containerd, &image, "nimbus-test/app:v1");

    let port = free_port();
    let listen = format!("SPIN_HTTP_LISTEN_ADDR=127.0.0.1:{port}");
    let mut task = containerd.run(&reference, "app1", &["--env", &listen], &[]);
    let response = http_get_when_up(port, "/", Duration::from_secs(120)).unwrap_or_else(|| {
        panic!(
            "the app did not answer on port {port} within 120s\n--- stdout:\n{}\n--- stderr:\n{}\n--- containerd:\n{}",
            task.stdout(),
            task.stderr(),
            containerd.log_tail()
        )
    });
    assert!(response.starts_with("HTTP/1.0 200"), "{response}");
    assert!(
        body(&response).starts_with("component=probe\n"),
        "{response}"
    );

    // Files of the image, granted by the manifest's `files`.
    let file = http_get(
        port,
        "/?do=file&path=/static/hello.txt",
        Duration::from_secs(30),
    )
    .expect("GET a static file");
    assert_eq!(body(&file), "hello from the image\n", "{file}");

    // A request in flight when SIGTERM arrives is answered, then the task
    // exits 0.
    let slow =
        std::thread::spawn(move || http_get(port, "/?do=sleep&ms=2000", Duration::from_secs(30)));
    std::thread::sleep(Duration::from_millis(700));
    containerd.kill("app1", "SIGTERM");
    let slow = slow
        .join()
        .expect("the request thread")
        .expect("the request in flight is answered");
    assert!(slow.starts_with("HTTP/1.0 200"), "{slow}");
    assert_eq!(body(&slow), "slept\n", "{slow}");
    let status = task.wait(Duration::from_secs(30)).unwrap_or_else(|| {
        panic!(
            "the task did not end within 30s of SIGTERM\n--- stderr:\n{}",
            task.stderr()
        )
    });
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM\n--- stdout:\n{}\n--- stderr:\n{}\n--- containerd:\n{}",
        task.stdout(),
        task.stderr(),
        containerd.log_tail()
    );
    let stdout = task.stdout();
    for line in [
        format!("Serving http://127.0.0.1:{port}"),
        "Available Routes:".to_owned(),
        format!("  probe: http://127.0.0.1:{port}/..."),
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line:?} in:\n{stdout}");
    }
    assert!(
        !task.stderr().contains("error"),
        "stderr:\n{}",
        task.stderr()
    );

    // The compiled code is in the node's cache, and a second container of
    // the same app uses it (SIGINT stops it too).
    let cached = cwasm_files(cache.path());
    assert_eq!(cached, 1, "cache entries: {:?}", walk(cache.path()));
    let port = free_port();
    let listen = format!("SPIN_HTTP_LISTEN_ADDR=127.0.0.1:{port}");
    let mut task = containerd.run(&reference, "app2", &["--env", &listen], &[]);
    let response = http_get_when_up(port, "/", Duration::from_secs(60))
        .unwrap_or_else(|| panic!("second container did not answer\n{}", task.stderr()));
    assert!(response.starts_with("HTTP/1.0 200"), "{response}");
    containerd.kill("app2", "SIGINT");
    let status = task.wait(Duration::from_secs(30));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", task.stderr());
    assert_eq!(cwasm_files(cache.path()), cached, "no recompilation");
}

#[test]
fn runs_an_event_app_image_with_variables_from_the_container() {
    if skip() {
        return;
    }
    // spin-trigger-cron's shape; prints `cron-tick start|end <timestamp>`.
    let tick = std::fs::read(package_guest("guests-spin", "cron-tick", Target::P2))
        .expect("the cron-tick guest");
    let manifest = r#"spin_manifest_version = 2
[application]
name = "ticker"
[variables]
mode = { required = true }
[[trigger.cron]]
component = "tick"
cron_expression = "* * * * * *"
[component.tick]
source = "tick.wasm"
[component.tick.variables]
mode = "{{ mode }}"
"#;
    let image = Image {
        files: vec![
            ("spin.toml".to_owned(), manifest.as_bytes().to_vec()),
            ("tick.wasm".to_owned(), tick),
        ],
        cmd: vec!["/".to_owned()],
        env: Vec::new(),
    };
    let registry = OciRegistry::start();
    let containerd = Containerd::start(shim(), &[("NIMBUS_SHIM_CACHE_DIR", "")]);
    let reference = publish(&registry, &containerd, &image, "nimbus-test/ticker:v1");

    // The required variable comes from the container's environment.
    let mut task = containerd.run(
        &reference,
        "ticker",
        &["--env", "SPIN_VARIABLE_MODE=ok"],
        &[],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !task.stdout().contains("cron-tick end ") {
        assert!(
            std::time::Instant::now() < deadline && task.is_running(),
            "no tick within 60s\n--- stdout:\n{}\n--- stderr:\n{}",
            task.stdout(),
            task.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    containerd.kill("ticker", "SIGTERM");
    let status = task.wait(Duration::from_secs(30));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", task.stderr());
    let stdout = task.stdout();
    assert!(
        stdout
            .lines()
            .any(|line| line.starts_with("cron trigger: ")),
        "{stdout}"
    );

    // Without it, the app does not start, and says why on stderr.
    let mut task = containerd.run(&reference, "ticker-novar", &[], &[]);
    let status = task.wait(Duration::from_secs(60)).expect("the task ends");
    assert_eq!(status.code(), Some(1), "{}", task.stderr());
    assert!(
        task.stderr().contains("SPIN_VARIABLE_MODE"),
        "{}",
        task.stderr()
    );
}

#[test]
fn runs_a_wasm_program_image_with_its_exit_status() {
    if skip() {
        return;
    }
    let read = |name: &str, target: Target| {
        std::fs::read(guest(name, target)).unwrap_or_else(|err| panic!("guest {name}: {err}"))
    };
    let image = Image {
        files: vec![
            ("hello-env.wasm".to_owned(), read("hello-env", Target::P2)),
            (
                "bin/exit-code.wasm".to_owned(),
                read("exit-code", Target::P1),
            ),
            ("trap.wasm".to_owned(), read("trap", Target::P1)),
            ("escape.wasm".to_owned(), read("escape", Target::P1)),
            ("notes.txt".to_owned(), b"not wasm\n".to_vec()),
        ],
        cmd: vec!["/hello-env.wasm".to_owned()],
        env: vec!["PATH=/bin".to_owned(), "NAME=image".to_owned()],
    };
    let registry = OciRegistry::start();
    let cache = tempfile::tempdir().expect("a temporary directory");
    let planted = "the node's compile cache, not for guests";
    std::fs::write(cache.path().join("planted.txt"), planted).expect("plant a file");
    let cache_dir = cache.path().to_string_lossy().into_owned();
    let containerd = Containerd::start(
        shim(),
        &[
            ("NIMBUS_SHIM_CACHE_DIR", &cache_dir),
            ("NODE_SECRET_FOR_THE_TEST", "s3cret-of-the-node"),
        ],
    );
    let reference = publish(&registry, &containerd, &image, "nimbus-test/programs:v1");
    let timeout = Duration::from_secs(120);

    // The image's entrypoint and environment; a component (wasip2).
    let mut task = containerd.run(&reference, "hello1", &[], &[]);
    let status = task.wait(timeout).expect("hello-env ends");
    assert_eq!(status.code(), Some(0), "{}", task.stderr());
    assert_eq!(task.stdout(), "Hello, image!\n");

    // --env overrides the image's.
    let mut task = containerd.run(&reference, "hello2", &["--env", "NAME=Ada"], &[]);
    let status = task.wait(timeout).expect("hello-env ends");
    assert_eq!(status.code(), Some(0), "{}", task.stderr());
    assert_eq!(task.stdout(), "Hello, Ada!\n");

    // Args from the command line; the program found on the image's PATH; a
    // module (wasip1); its exit status is the container's.
    let mut task = containerd.run(&reference, "exit7", &[], &["exit-code.wasm", "7"]);
    let status = task.wait(timeout).expect("exit-code ends");
    assert_eq!(status.code(), Some(7), "{}", task.stderr());
    assert_eq!(task.stdout(), "exiting with 7\n");

    // A trap: 134, as `nimbus run`, with the reason on stderr.
    let mut task = containerd.run(&reference, "trap", &[], &["/trap.wasm"]);
    let status = task.wait(timeout).expect("trap ends");
    assert_eq!(status.code(), Some(134), "{}", task.stderr());
    assert!(task.stderr().contains("trapped"), "{}", task.stderr());

    // The guest sees the container's rootfs (its /proc too), not the node's
    // cache that the shim's code reaches through an inherited descriptor
    // (/proc/self/fd/N): every try is blocked.
    let tries: Vec<String> = (3..40)
        .map(|fd| format!("/proc/self/fd/{fd}/planted.txt"))
        .collect();
    let mut args = vec!["/escape.wasm"];
    args.extend(tries.iter().map(String::as_str));
    let mut task = containerd.run(&reference, "escape", &[], &args);
    let status = task.wait(timeout).expect("escape ends");
    assert_eq!(status.code(), Some(0), "{}", task.stderr());
    let stdout = task.stdout();
    assert!(!stdout.contains(planted), "{stdout}");
    // The process's /proc/self/environ is the shim's start-up environment:
    // containerd's own variables were dropped from it.
    assert!(!stdout.contains("s3cret-of-the-node"), "{stdout}");
    for tried in &tries {
        assert!(
            stdout.contains(&format!("BLOCKED arg {tried}")),
            "{tried}:\n{stdout}"
        );
    }
    // The programs' compiled code is in the cache all the same.
    assert!(cwasm_files(cache.path()) >= 4, "{:?}", walk(cache.path()));

    // Not WebAssembly: the container is not started.
    let mut task = containerd.run(&reference, "notwasm", &[], &["/notes.txt"]);
    let status = task.wait(timeout).expect("ctr run ends");
    assert!(!status.success(), "{}", task.stderr());
}

/// Images whose layers are Wasm: containerd 1.7.7+ pulls them (1.6 cannot;
/// skipped there with the reason). One raw Wasm layer runs as a program;
/// an app in Spin's OCI artifact format is served from its layers.
#[test]
fn runs_wasm_layer_images_where_containerd_pulls_them() {
    if skip() {
        return;
    }
    if let Some(reason) = wasm_layers_unsupported() {
        eprintln!("SKIPPED: {reason}");
        return;
    }
    let exit_code = std::fs::read(guest("exit-code", Target::P1)).expect("the exit-code guest");
    let registry = OciRegistry::start();
    let containerd = Containerd::start(shim(), &[("NIMBUS_SHIM_CACHE_DIR", "")]);
    let push = |name: &str, config_type: &str, config: Vec<u8>, layers: &[(&str, Vec<u8>)]| {
        let layout = tempfile::tempdir().expect("a temporary directory");
        write_wasm_layout(layout.path(), config_type, &config, layers);
        registry.skopeo_copy(&format!("oci:{}:latest", layout.path().display()), name);
        let reference = format!("{}/{name}", registry.host());
        containerd.pull(&reference);
        reference
    };
    let timeout = Duration::from_secs(120);

    let raw = push(
        "nimbus-test/raw-wasm:v1",
        "application/vnd.oci.image.config.v1+json",
        image_config(&["exit-code.wasm", "7"]),
        &[("application/wasm", exit_code)],
    );
    let mut task = containerd.run(&raw, "raw", &[], &[]);
    let status = task.wait(timeout).expect("the raw Wasm image ends");
    assert_eq!(status.code(), Some(7), "{}", task.stderr());
    assert_eq!(task.stdout(), "exiting with 7\n");

    // Spin's OCI artifact format, pushed as `nimbus registry push` does
    // (nimbus_oci), served from its layers.
    let app = tempfile::tempdir().expect("a temporary directory");
    std::fs::copy(
        guest("http-probe", Target::P2),
        app.path().join("probe.wasm"),
    )
    .expect("copy the probe");
    std::fs::write(app.path().join("hello.txt"), "hello from a layer\n").expect("write a file");
    std::fs::write(
        app.path().join("spin.toml"),
        r#"spin_manifest_version = 2
[application]
name = "layers"
[[trigger.http]]
route = "/..."
component = "probe"
[component.probe]
source = "probe.wasm"
files = ["hello.txt"]
environment = { NAME = "from-layers" }
"#,
    )
    .expect("write the manifest");
    let manifest =
        nimbus_manifest::Manifest::from_file(app.path().join("spin.toml")).expect("a manifest");
    let packed = nimbus_oci::pack(&manifest).expect("pack the app");
    let spin = format!("{}/nimbus-test/spin-oci:v1", registry.host());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(
            nimbus_oci::Registry::new(nimbus_oci::RegistryOptions::default()).push(
                &spin,
                &packed,
                Default::default(),
            ),
        )
        .expect("push the app");
    containerd.pull(&spin);
    let port = free_port();
    let listen = format!("SPIN_HTTP_LISTEN_ADDR=127.0.0.1:{port}");
    let mut task = containerd.run(&spin, "spin-oci", &["--env", &listen], &["/"]);
    let response = http_get_when_up(port, "/?do=file&path=/hello.txt", timeout)
        .unwrap_or_else(|| panic!("the Spin OCI app did not answer\n{}", task.stderr()));
    assert_eq!(body(&response), "hello from a layer\n");
    containerd.kill("spin-oci", "SIGTERM");
    let status = task.wait(timeout).expect("the Spin OCI app stops");
    assert!(status.success(), "{}", task.stderr());
}
