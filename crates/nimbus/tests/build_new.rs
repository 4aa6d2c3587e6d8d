//! End-to-end tests of `nimbus new` and `nimbus build`: the real binary,
//! checking the files it writes, what it runs, its output and exit codes.

use std::path::Path;
use std::process::{Command, Output};

use nimbus_manifest::Manifest;
use nimbus_trigger_http::http_triggers;

/// One finished `nimbus` process.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        let run = Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        assert!(
            !run.stderr.contains("panicked"),
            "nimbus panicked:\n{}",
            run.stderr
        );
        run
    }

    #[track_caller]
    fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit status\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    fn assert_stderr_contains(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    fn assert_stdout_contains(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// `nimbus ARGS` in `dir`. Build commands run by it (Cargo above all) must not
/// see the settings of the Cargo that runs these tests.
fn nimbus_in(dir: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_nimbus"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .output()
        .expect("run nimbus");
    Run::from(output)
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Writes `nimbus.toml` (and nothing else) into a new temporary directory.
fn app(manifest: &str) -> tempfile::TempDir {
    let dir = tempdir();
    std::fs::write(dir.path().join("nimbus.toml"), manifest).unwrap();
    dir
}

/// Scaffolds `template` as `name`, checks the files and the manifest, builds
/// it with `nimbus build`, and returns the built Wasm's bytes.
fn new_and_build(template: &str, name: &str, files: &[&str]) -> Vec<u8> {
    let tmp = tempdir();
    new_and_build_in(&tmp, template, name, files)
}

/// As [`new_and_build`], in `tmp` (the app is `tmp/name`).
fn new_and_build_in(
    tmp: &tempfile::TempDir,
    template: &str,
    name: &str,
    files: &[&str],
) -> Vec<u8> {
    let project = tmp.path().join(name);
    let run = nimbus_in(
        tmp.path(),
        &["new", template, name, "--output", path(&project)],
    );
    run.assert_code(0).assert_stdout_contains(&format!(
        "cd {} && nimbus build && nimbus up",
        path(&project)
    ));
    for file in files {
        assert!(project.join(file).is_file(), "{template}: no {file}");
    }
    let cargo_toml = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    assert!(
        cargo_toml.contains(&format!("name = \"{name}\"")),
        "{cargo_toml}"
    );
    assert!(!cargo_toml.contains("{{"), "{cargo_toml}");

    let manifest = Manifest::from_file(project.join("nimbus.toml")).expect("a valid manifest");
    assert_eq!(manifest.name(), name);
    assert_eq!(manifest.components.len(), 1);
    let component = manifest.component(name).expect("the component is NAME");
    assert_eq!(manifest.triggers.len(), 1);
    assert_eq!(
        manifest.triggers[0].component.as_ref().map(|c| c.as_str()),
        Some(name)
    );
    if manifest.triggers[0].trigger_type == "http" {
        let triggers = http_triggers(&manifest).expect("valid HTTP triggers");
        assert_eq!(triggers[0].component, name);
    }
    let build = component.build.as_ref().expect("a build section");
    assert_eq!(build.command.len(), 1);
    assert!(build.command[0].starts_with("cargo build --target wasm32-wasip"));

    let run = nimbus_in(&project, &["build"]);
    run.assert_code(0)
        .assert_stdout_contains(&format!(
            "Building component {name} with `{}`",
            build.command[0]
        ))
        .assert_stdout_contains("Finished building all Nimbus components");
    let wasm = manifest.resolve(&component.source);
    std::fs::read(&wasm).unwrap_or_else(|err| {
        panic!(
            "{template}: no {} after nimbus build: {err}\n{}",
            wasm.display(),
            run.stderr
        )
    })
}

#[test]
fn new_http_rust_builds_a_component() {
    let wasm = new_and_build(
        "http-rust",
        "hello-test",
        &[
            "Cargo.toml",
            "Cargo.lock",
            "src/lib.rs",
            "nimbus.toml",
            "README.md",
            ".gitignore",
        ],
    );
    assert_eq!(&wasm[..4], b"\0asm");
    assert_eq!(&wasm[4..8], &[0x0d, 0, 1, 0], "a component");
}

#[test]
fn new_http_wagi_rust_builds_a_core_module() {
    let wasm = new_and_build(
        "http-wagi-rust",
        "wagi-test",
        &[
            "Cargo.toml",
            "Cargo.lock",
            "src/main.rs",
            "nimbus.toml",
            "README.md",
            ".gitignore",
        ],
    );
    assert_eq!(&wasm[..4], b"\0asm");
    assert_eq!(&wasm[4..8], &[1, 0, 0, 0], "a core module");
}

/// `nimbus up` in `dir` until a line of its stdout contains `needle`
/// (within 20 s); returns its stdout so far. The process is killed either way.
fn up_until_output(dir: &Path, needle: &str) -> String {
    use std::io::BufRead as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_nimbus"))
        .arg("up")
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run nimbus up");
    let stdout = child.stdout.take().expect("piped");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut out = String::new();
    let found = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines_rx.recv_timeout(left) {
            Ok(line) => {
                out.push_str(&line);
                out.push('\n');
                if line.contains(needle) {
                    break true;
                }
            }
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let output = child.wait_with_output().expect("wait for nimbus up");
    assert!(
        found,
        "nimbus up never printed {needle:?}\n--- stdout\n{out}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

#[test]
fn new_cron_rust_builds_and_ticks() {
    let tmp = tempdir();
    let wasm = new_and_build_in(
        &tmp,
        "cron-rust",
        "nightly-job",
        &[
            "Cargo.toml",
            "Cargo.lock",
            "src/lib.rs",
            "wit/cron.wit",
            "nimbus.toml",
            "README.md",
            ".gitignore",
        ],
    );
    assert_eq!(&wasm[4..8], &[0x0d, 0, 1, 0], "a component");
    // Runs with no edits: the schedule is every 2 seconds.
    let out = up_until_output(&tmp.path().join("nightly-job"), "nightly-job: tick at ");
    assert!(
        out.contains(r#"cron trigger: nightly-job: cron "*/2 * * * * *""#),
        "{out}"
    );
}

#[test]
fn new_redis_rust_builds_and_handles_a_message() {
    let tmp = tempdir();
    let wasm = new_and_build_in(
        &tmp,
        "redis-rust",
        "inbox",
        &[
            "Cargo.toml",
            "Cargo.lock",
            "src/lib.rs",
            "nimbus.toml",
            "README.md",
            ".gitignore",
        ],
    );
    assert_eq!(&wasm[4..8], &[0x0d, 0, 1, 0], "a component");
    // The one edit a user makes when their Redis is elsewhere: its address.
    let redis = nimbus_test_servers::RedisServer::start();
    let project = tmp.path().join("inbox");
    let manifest = std::fs::read_to_string(project.join("nimbus.toml")).unwrap();
    assert!(
        manifest.contains(r#"address = "redis://127.0.0.1:6379""#),
        "{manifest}"
    );
    let manifest = manifest.replace("redis://127.0.0.1:6379", &redis.url());
    std::fs::write(project.join("nimbus.toml"), manifest).unwrap();
    let port = redis.port().to_string();
    let publisher = std::thread::spawn(move || {
        // Publish until the subscription is there (pub/sub keeps nothing
        // for late subscribers).
        for _ in 0..100 {
            let receivers = Command::new("redis-cli")
                .args(["-p", &port, "publish", "messages", "hello"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default();
            if receivers == "1" {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        false
    });
    up_until_output(&project, "inbox got: hello");
    assert!(publisher.join().unwrap(), "nimbus up never subscribed");
}

#[test]
fn new_nats_rust_builds_and_handles_a_message() {
    use std::time::Duration;
    let tmp = tempdir();
    let wasm = new_and_build_in(
        &tmp,
        "nats-rust",
        "worker",
        &[
            "Cargo.toml",
            "Cargo.lock",
            "src/lib.rs",
            "wit/types.wit",
            "wit/producer.wit",
            "wit/request-reply.wit",
            "wit/incoming-handler.wit",
            "wit/messaging.wit",
            "nimbus.toml",
            "README.md",
            ".gitignore",
        ],
    );
    assert_eq!(&wasm[4..8], &[0x0d, 0, 1, 0], "a component");
    // The one edit a user makes when their NATS server is elsewhere.
    let nats = nimbus_test_servers::NatsServer::start();
    let project = tmp.path().join("worker");
    let manifest = std::fs::read_to_string(project.join("nimbus.toml")).unwrap();
    assert!(
        manifest.contains(r#"address = "nats://127.0.0.1:4222""#),
        "{manifest}"
    );
    let manifest = manifest.replace("nats://127.0.0.1:4222", &nats.url());
    std::fs::write(project.join("nimbus.toml"), manifest).unwrap();
    let client = nats.client();
    let asker = std::thread::spawn(move || {
        // Ask until the subscription is there (core NATS keeps nothing for
        // late subscribers: until then a request gets "no responders").
        for _ in 0..200 {
            match client.request("jobs.shout", b"hello", Duration::from_millis(500)) {
                Some(reply) if !reply.payload.is_empty() => {
                    // Then a plain message, which has nobody to answer.
                    client.publish("jobs.greeting", None, b"hi there");
                    client.flush();
                    return Some(String::from_utf8(reply.payload).unwrap());
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        None
    });
    let out = up_until_output(&project, "worker got: hi there on jobs.greeting");
    assert_eq!(asker.join().unwrap().as_deref(), Some("HELLO"), "{out}");
    assert!(out.contains("worker got: hello on jobs.shout"), "{out}");
}

#[test]
fn new_wagi_manifest_uses_the_wagi_executor() {
    let tmp = tempdir();
    nimbus_in(tmp.path(), &["new", "http-wagi-rust", "cgi"]).assert_code(0);
    let manifest = Manifest::from_file(tmp.path().join("cgi/nimbus.toml")).unwrap();
    assert!(matches!(
        http_triggers(&manifest).unwrap()[0].executor,
        nimbus_manifest::Executor::Wagi { .. }
    ));
    assert_eq!(
        manifest.component("cgi").unwrap().source,
        Path::new("target/wasm32-wasip1/release/cgi.wasm")
    );
}

#[test]
fn new_defaults_to_a_directory_named_after_the_app() {
    let tmp = tempdir();
    let run = nimbus_in(tmp.path(), &["new", "http-rust", "my-app"]);
    run.assert_code(0)
        .assert_stdout_contains("cd my-app && nimbus build && nimbus up");
    let manifest = Manifest::from_file(tmp.path().join("my-app/nimbus.toml")).unwrap();
    // A library artifact is named after the crate: '-' becomes '_'.
    assert_eq!(
        manifest.component("my-app").unwrap().source,
        Path::new("target/wasm32-wasip2/release/my_app.wasm")
    );
    let lib = std::fs::read_to_string(tmp.path().join("my-app/src/lib.rs")).unwrap();
    assert!(lib.contains("Hello from my-app!\\n"), "{lib}");
}

#[test]
fn new_accepts_an_existing_empty_directory() {
    let tmp = tempdir();
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    nimbus_in(
        tmp.path(),
        &["new", "http-rust", "hello", "--output", "empty"],
    )
    .assert_code(0);
    assert!(tmp.path().join("empty/nimbus.toml").is_file());
}

#[test]
fn new_refuses_a_non_empty_directory() {
    let tmp = tempdir();
    let dir = tmp.path().join("hello");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("keep.txt"), "mine").unwrap();
    let run = nimbus_in(tmp.path(), &["new", "http-rust", "hello"]);
    run.assert_code(1)
        .assert_stderr_contains("error: hello already exists and is not empty");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "nothing was written"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("keep.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn new_rejects_an_invalid_name() {
    let tmp = tempdir();
    let run = nimbus_in(tmp.path(), &["new", "http-rust", "Hello_World"]);
    run.assert_code(1).assert_stderr_contains(
        "error: invalid component id \"Hello_World\": use lowercase letters, digits and single '-' separators",
    );
    assert!(
        run.stderr.contains("e.g. \"hello-world\""),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn new_rejects_an_unknown_template_and_lists_the_templates() {
    let tmp = tempdir();
    let run = nimbus_in(tmp.path(), &["new", "http-go", "hello"]);
    run.assert_code(1)
        .assert_stderr_contains("unknown template `http-go`")
        .assert_stderr_contains("http-rust, http-wagi-rust");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn new_lists_the_templates() {
    let tmp = tempdir();
    for args in [&["new", "--list"][..], &["new"][..]] {
        let run = nimbus_in(tmp.path(), args);
        run.assert_code(0)
            .assert_stdout_contains("http-rust ")
            .assert_stdout_contains("http-wagi-rust ")
            .assert_stdout_contains("wasi:http/incoming-handler");
    }
}

#[test]
fn build_stops_at_a_failing_command_and_names_it() {
    let dir = app(r#"
spin_manifest_version = 2
[application]
name = "fails"
[[trigger.http]]
route = "/..."
component = "hello"
[component.hello]
source = "hello.wasm"
[component.hello.build]
command = ["exit 3", "touch second-step-ran"]
"#);
    let run = nimbus_in(dir.path(), &["build"]);
    run.assert_code(1)
        .assert_stdout_contains("Building component hello with `exit 3`")
        .assert_stderr_contains(
            "error: build command for component hello failed with exit status 3",
        );
    assert!(!run.stdout.contains("Finished"), "{}", run.stdout);
    assert!(!dir.path().join("second-step-ran").exists());
}

const TWO_COMPONENTS: &str = r#"
spin_manifest_version = 2
[application]
name = "two"
[[trigger.http]]
route = "/a/..."
component = "first"
[[trigger.http]]
route = "/b/..."
component = "second"
[[trigger.http]]
route = "/static/..."
component = "static"
[component.first]
source = "first.wasm"
[component.first.build]
command = ["touch first-built", "touch first.wasm"]
[component.second]
source = "second.wasm"
[component.second.build]
command = "touch built-here"
workdir = "sub"
[component.static]
source = "static.wasm"
"#;

#[test]
fn build_runs_every_command_in_its_workdir_and_skips_components_without_build() {
    let dir = app(TWO_COMPONENTS);
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let run = nimbus_in(dir.path(), &["build"]);
    run.assert_code(0)
        .assert_stdout_contains("Building component first with `touch first-built`")
        .assert_stdout_contains("Building component second with `touch built-here`")
        .assert_stdout_contains("component static has no build command; skipping")
        .assert_stdout_contains("Finished building all Nimbus components");
    assert!(dir.path().join("first-built").exists());
    assert!(dir.path().join("first.wasm").exists());
    assert!(dir.path().join("sub/built-here").exists());
    assert!(!dir.path().join("built-here").exists());
}

#[test]
fn build_only_the_components_named() {
    let dir = app(TWO_COMPONENTS);
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let run = nimbus_in(dir.path(), &["build", "second"]);
    run.assert_code(0)
        .assert_stdout_contains("Building component second");
    assert!(!run.stdout.contains("component first"), "{}", run.stdout);
    assert!(dir.path().join("sub/built-here").exists());
    assert!(!dir.path().join("first-built").exists());
}

#[test]
fn build_rejects_an_unknown_component_and_lists_the_known_ones() {
    let dir = app(TWO_COMPONENTS);
    let run = nimbus_in(dir.path(), &["build", "third"]);
    run.assert_code(1)
        .assert_stderr_contains("no component `third`")
        .assert_stderr_contains("first, second, static");
    assert!(!dir.path().join("first-built").exists());
}

#[test]
fn build_takes_a_manifest_file_or_directory() {
    let dir = app(TWO_COMPONENTS);
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let elsewhere = tempdir();
    // A manifest file: commands run in its directory, not the current one.
    let manifest = dir.path().join("nimbus.toml");
    nimbus_in(elsewhere.path(), &["build", "-f", path(&manifest), "first"]).assert_code(0);
    assert!(dir.path().join("first-built").exists());
    assert!(!elsewhere.path().join("first-built").exists());
    // A directory holding spin.toml.
    let spin = tempdir();
    std::fs::write(spin.path().join("spin.toml"), TWO_COMPONENTS).unwrap();
    std::fs::create_dir(spin.path().join("sub")).unwrap();
    nimbus_in(
        elsewhere.path(),
        &["build", "--file", path(spin.path()), "second"],
    )
    .assert_code(0);
    assert!(spin.path().join("sub/built-here").exists());
}

#[test]
fn build_without_a_manifest_says_so() {
    let dir = tempdir();
    nimbus_in(dir.path(), &["build"])
        .assert_code(1)
        .assert_stderr_contains("error: no nimbus.toml or spin.toml in the current directory");
}

#[test]
fn build_reports_a_malformed_manifest_with_its_location() {
    let dir = app("spin_manifest_version = 2\n[application]\nname = \"x\"\nversion = \n");
    let run = nimbus_in(dir.path(), &["build"]);
    run.assert_code(1)
        .assert_stderr_contains("error: nimbus.toml:4:");
}

#[test]
fn build_does_not_require_sources_to_exist() {
    // hello.wasm does not exist and is not built: still no error.
    let dir = app(r#"
spin_manifest_version = 2
[application]
name = "nosource"
[[trigger.http]]
route = "/..."
component = "hello"
[component.hello]
source = "hello.wasm"
[component.hello.build]
command = "true"
"#);
    nimbus_in(dir.path(), &["build"]).assert_code(0);
}
