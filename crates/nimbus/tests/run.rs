//! End-to-end tests of `nimbus run` and `nimbus compile`: the real binary
//! against guests built from source, checking stdout, stderr and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nimbus_test_guests::{guest, Target};

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
        // A panic in nimbus exits with 101 (a guest's panic is a trap: 134).
        assert_ne!(run.code, 101, "nimbus panicked:\n{}", run.stderr);
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
}

/// A compile cache shared by the tests that do not test the cache itself.
fn shared_cache() -> PathBuf {
    nimbus_test_guests::workspace_root()
        .join("target")
        .join("test-compile-cache")
}

fn nimbus_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nimbus"));
    command
        .env_remove("RUST_LOG")
        .env("NIMBUS_CACHE_DIR", shared_cache());
    command
}

fn nimbus(args: &[&str]) -> Run {
    Run::from(nimbus_command().args(args).output().expect("run nimbus"))
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn both(name: &str) -> [(Target, PathBuf); 2] {
    Target::ALL.map(|t| (t, guest(name, t)))
}

#[test]
fn hello_prints_hello_world_on_both_targets() {
    for (target, wasm) in both("hello-env") {
        let run = nimbus(&["run", path(&wasm)]);
        run.assert_code(0);
        assert_eq!(run.stdout, "Hello, World!\n", "{target:?}");
    }
}

#[test]
fn env_is_granted_by_flag_only() {
    for (target, wasm) in both("hello-env") {
        let run = nimbus(&["run", "--env", "NAME=Ada", path(&wasm)]);
        assert_eq!(run.assert_code(0).stdout, "Hello, Ada!\n", "{target:?}");

        // `--env KEY` passes the host's value through.
        let run = Run::from(
            nimbus_command()
                .env("NAME", "Grace")
                .args(["run", "--env", "NAME", path(&wasm)])
                .output()
                .unwrap(),
        );
        assert_eq!(run.assert_code(0).stdout, "Hello, Grace!\n", "{target:?}");

        // A host variable that was not granted stays invisible.
        let run = Run::from(
            nimbus_command()
                .env("NAME", "Grace")
                .args(["run", path(&wasm)])
                .output()
                .unwrap(),
        );
        assert_eq!(run.assert_code(0).stdout, "Hello, World!\n", "{target:?}");
    }
}

#[test]
fn arguments_after_the_file_reach_the_guest_and_nothing_else_does() {
    for (target, wasm) in both("echo") {
        let run = Run::from(
            nimbus_command()
                .env("SECRET_TOKEN", "hunter2")
                .args(["run", "--env", "A=1", path(&wasm), "--", "--flag", "arg"])
                .output()
                .unwrap(),
        );
        run.assert_code(0);
        assert_eq!(
            run.stdout, "arg: echo.wasm\narg: --flag\narg: arg\nenv: A=1\n",
            "{target:?}"
        );
        // Without `--`, everything after the file is the guest's too.
        let run = nimbus(&["run", path(&wasm), "--env", "X=1"]);
        assert_eq!(
            run.assert_code(0).stdout,
            "arg: echo.wasm\narg: --env\narg: X=1\n",
            "{target:?}"
        );
    }
}

fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), "{\"greeting\": \"hi\"}\n").unwrap();
    dir
}

#[test]
fn read_config_reads_only_its_preopen() {
    for (target, wasm) in both("read-config") {
        let data = data_dir();
        let grant = format!("{}::/data", path(data.path()));
        let run = nimbus(&["run", "--dir", &grant, path(&wasm), "write"]);
        run.assert_code(0);
        assert_eq!(
            run.stdout, "{\"greeting\": \"hi\"}\nwrite: ok\n",
            "{target:?}"
        );
        assert_eq!(
            std::fs::read_to_string(data.path().join("out.txt")).unwrap(),
            "written by the guest\n"
        );

        // Without the grant there is no /data at all.
        let run = nimbus(&["run", path(&wasm)]);
        run.assert_code(1);
        assert!(
            run.stderr.contains("cannot read /data/config.json"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn read_only_dir_refuses_writes() {
    for (target, wasm) in both("read-config") {
        let data = data_dir();
        let grant = format!("{}::/data:ro", path(data.path()));
        let run = nimbus(&["run", "--dir", &grant, path(&wasm), "write"]);
        run.assert_code(0);
        assert!(
            run.stdout
                .starts_with("{\"greeting\": \"hi\"}\nwrite: denied"),
            "{target:?}: {}",
            run.stdout
        );
        assert!(!data.path().join("out.txt").exists());
    }
}

#[test]
fn escape_attempts_see_nothing_outside_the_preopen() {
    for (target, wasm) in both("escape") {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("secret.txt"), "top secret\n").unwrap();
        let sandbox = root.path().join("sandbox");
        std::fs::create_dir(&sandbox).unwrap();
        std::fs::write(sandbox.join("inside.txt"), "inside\n").unwrap();
        // Symlinks planted in the preopen that point outside it.
        std::os::unix::fs::symlink("../secret.txt", sandbox.join("up-link")).unwrap();
        std::os::unix::fs::symlink(root.path().join("secret.txt"), sandbox.join("abs-link"))
            .unwrap();
        std::os::unix::fs::symlink("/etc", sandbox.join("etc-link")).unwrap();

        let grant = format!("{}::/sandbox", path(&sandbox));
        let run = Run::from(
            nimbus_command()
                .env("SECRET_TOKEN", "hunter2")
                .args([
                    "run",
                    "--dir",
                    &grant,
                    path(&wasm),
                    "/sandbox/up-link",
                    "/sandbox/abs-link",
                    "/sandbox/etc-link/passwd",
                    "/sandbox/inside.txt",
                ])
                .output()
                .unwrap(),
        );
        run.assert_code(0);
        let out = &run.stdout;
        // The control: a file inside the preopen is readable.
        assert!(
            out.contains("ESCAPED arg /sandbox/inside.txt: inside"),
            "{target:?}: {out}"
        );
        let escapes: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("ESCAPED") && !l.contains("/sandbox/inside.txt"))
            .collect();
        assert!(escapes.is_empty(), "{target:?} escaped: {escapes:?}\n{out}");
        for attempt in [
            "BLOCKED dotdot",
            "BLOCKED dotdot-deep",
            "BLOCKED absolute",
            "BLOCKED proc",
            "BLOCKED relative",
            "BLOCKED root",
            "BLOCKED arg /sandbox/up-link",
            "BLOCKED arg /sandbox/abs-link",
            "BLOCKED arg /sandbox/etc-link/passwd",
            "BLOCKED write-dotdot",
            "BLOCKED socket",
        ] {
            assert!(
                out.contains(attempt),
                "{target:?}: missing {attempt:?} in\n{out}"
            );
        }
        assert!(out.contains("ENV \n"), "{target:?}: env leaked: {out}");
        assert!(!root.path().join("planted.txt").exists());
        let listing = out
            .lines()
            .find(|l| l.starts_with("LISTED sandbox"))
            .unwrap();
        assert!(listing.contains("inside.txt"), "{listing}");
    }
}

#[test]
fn guest_exit_code_becomes_nimbus_exit_code() {
    for (target, wasm) in both("exit-code") {
        let run = nimbus(&["run", path(&wasm)]);
        assert_eq!(run.code, 3, "{target:?}: {}", run.stderr);
        assert_eq!(run.stdout, "exiting with 3\n");
        let run = nimbus(&["run", path(&wasm), "0"]);
        run.assert_code(0);
        let run = nimbus(&["run", path(&wasm), "42"]);
        assert_eq!(run.code, 42, "{target:?}");

        // Rust's std::process::exit: the exact code on wasip1; on wasip2
        // wasi-libc reports only failure (wasi:cli/exit.exit(err)), i.e. 1.
        let run = nimbus(&["run", path(&wasm), "3", "std"]);
        let expected = if target == Target::P1 { 3 } else { 1 };
        assert_eq!(run.code, expected, "{target:?}: {}", run.stderr);
    }
}

#[test]
fn trap_prints_reason_and_named_backtrace() {
    for (target, wasm) in both("trap") {
        let run = nimbus(&["run", path(&wasm)]);
        run.assert_code(134);
        assert!(
            run.stderr
                .contains("trapped: wasm `unreachable` instruction executed"),
            "{target:?}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("deliberately_unreachable"),
            "{target:?}: backtrace lacks the function name:\n{}",
            run.stderr
        );
    }
}

#[test]
fn stack_overflow_and_panic_are_traps() {
    for (target, wasm) in both("trap") {
        let run = nimbus(&["run", path(&wasm), "overflow"]);
        run.assert_code(134);
        assert!(
            run.stderr.contains("call stack exhausted"),
            "{target:?}: {}",
            run.stderr
        );

        let run = nimbus(&["run", path(&wasm), "panic"]);
        run.assert_code(134);
        assert!(
            run.stderr.contains("the guest panicked on purpose"),
            "{target:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn timeout_stops_a_spinning_guest() {
    for (target, wasm) in both("spin-loop") {
        let run = nimbus(&["run", "--timeout", "300ms", path(&wasm)]);
        run.assert_code(124);
        assert!(
            run.stderr.contains("--timeout 300ms"),
            "{target:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn timeout_stops_a_guest_blocked_in_a_host_call() {
    for (target, wasm) in both("spin-loop") {
        let run = nimbus(&["run", "--timeout", "300ms", path(&wasm), "sleep"]);
        run.assert_code(124);
        assert!(
            run.stderr.contains("--timeout 300ms"),
            "{target:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn max_memory_stops_a_memory_hog() {
    for (target, wasm) in both("memory-hog") {
        let run = nimbus(&["run", "--max-memory", "32MiB", path(&wasm)]);
        run.assert_code(125);
        assert!(
            run.stderr.contains("--max-memory 32MiB"),
            "{target:?}: {}",
            run.stderr
        );
        assert!(
            run.stdout.contains("holding 16 MiB"),
            "{target:?}: {}",
            run.stdout
        );
        assert!(
            !run.stdout.contains("holding 32 MiB"),
            "{target:?}: {}",
            run.stdout
        );
    }
}

#[test]
fn refused_memory_grow_can_be_handled_by_the_guest() {
    for (target, wasm) in both("memory-hog") {
        let run = nimbus(&["run", "--max-memory", "16MiB", path(&wasm), "--try"]);
        run.assert_code(0);
        assert!(
            run.stdout.contains("refused after"),
            "{target:?}: {}",
            run.stdout
        );
    }
}

#[test]
fn fuel_stops_a_spinning_guest() {
    for (target, wasm) in both("spin-loop") {
        let run = nimbus(&["run", "--fuel", "1000000", path(&wasm)]);
        run.assert_code(126);
        assert!(
            run.stderr.contains("--fuel 1000000"),
            "{target:?}: {}",
            run.stderr
        );
    }
}

fn run_with_cache(cache: &Path, wasm: &Path) -> Run {
    Run::from(
        nimbus_command()
            .env("RUST_LOG", "nimbus_runtime=debug")
            .args(["run", "--cache-dir", path(cache), path(wasm)])
            .output()
            .unwrap(),
    )
}

fn cache_entries(cache: &Path, extension: &str) -> Vec<PathBuf> {
    let mut entries = Vec::new();
    for dir in std::fs::read_dir(cache).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if file.path().extension().is_some_and(|e| e == extension) {
                entries.push(file.path());
            }
        }
    }
    entries
}

#[test]
fn second_run_uses_the_compile_cache_and_corruption_is_rebuilt() {
    for (target, wasm) in both("hello-env") {
        let cache = tempfile::tempdir().unwrap();
        let first = run_with_cache(cache.path(), &wasm);
        assert_eq!(first.assert_code(0).stdout, "Hello, World!\n");
        assert!(
            first.stderr.contains("compile cache miss"),
            "{target:?}: {}",
            first.stderr
        );

        let second = run_with_cache(cache.path(), &wasm);
        assert_eq!(second.assert_code(0).stdout, "Hello, World!\n");
        assert!(
            second.stderr.contains("compile cache hit"),
            "{target:?}: {}",
            second.stderr
        );
        assert!(!second.stderr.contains("compile cache miss"));

        // Truncate the entry: detected, discarded, rebuilt.
        let entries = cache_entries(cache.path(), "cwasm");
        assert_eq!(entries.len(), 1, "{entries:?}");
        let bytes = std::fs::read(&entries[0]).unwrap();
        std::fs::write(&entries[0], &bytes[..bytes.len() / 2]).unwrap();
        let third = run_with_cache(cache.path(), &wasm);
        assert_eq!(third.assert_code(0).stdout, "Hello, World!\n");
        assert!(
            third.stderr.contains("corrupt"),
            "{target:?}: {}",
            third.stderr
        );
        assert!(third.stderr.contains("compile cache miss"));

        // Flip one byte in the middle, keeping the size: also detected.
        let mut bytes = std::fs::read(&entries[0]).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&entries[0], &bytes).unwrap();
        let fourth = run_with_cache(cache.path(), &wasm);
        assert_eq!(fourth.assert_code(0).stdout, "Hello, World!\n");
        assert!(
            fourth.stderr.contains("corrupt"),
            "{target:?}: {}",
            fourth.stderr
        );

        let fifth = run_with_cache(cache.path(), &wasm);
        assert!(
            fifth.stderr.contains("compile cache hit"),
            "{target:?}: {}",
            fifth.stderr
        );
    }
}

#[test]
fn no_cache_writes_nothing() {
    let cache = tempfile::tempdir().unwrap();
    let wasm = guest("hello-env", Target::P2);
    let run = Run::from(
        nimbus_command()
            .env("NIMBUS_CACHE_DIR", cache.path())
            .args(["run", "--no-cache", path(&wasm)])
            .output()
            .unwrap(),
    );
    assert_eq!(run.assert_code(0).stdout, "Hello, World!\n");
    assert!(cache_entries(cache.path(), "cwasm").is_empty());

    // NIMBUS_CACHE_DIR is honoured when --no-cache is absent.
    let run = Run::from(
        nimbus_command()
            .env("NIMBUS_CACHE_DIR", cache.path())
            .args(["run", path(&wasm)])
            .output()
            .unwrap(),
    );
    run.assert_code(0);
    assert_eq!(cache_entries(cache.path(), "cwasm").len(), 1);
}

#[test]
fn compile_ahead_of_time_then_run_the_cwasm() {
    for (target, wasm) in both("hello-env") {
        let out = tempfile::tempdir().unwrap();
        let cwasm = out.path().join("hello.cwasm");
        nimbus(&["compile", path(&wasm), "-o", path(&cwasm)]).assert_code(0);
        let run = nimbus(&["run", "--env", "NAME=AOT", path(&cwasm)]);
        assert_eq!(run.assert_code(0).stdout, "Hello, AOT!\n", "{target:?}");

        // Built for a different engine configuration (fuel metering): refused.
        let fuel = out.path().join("fuel.cwasm");
        nimbus(&["compile", "--fuel", path(&wasm), "-o", path(&fuel)]).assert_code(0);
        let run = nimbus(&["run", path(&fuel)]);
        run.assert_code(1);
        assert!(
            run.stderr.contains("precompiled by an incompatible engine"),
            "{target:?}: {}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        // … and accepted by an engine with the same configuration.
        let run = nimbus(&["run", "--fuel", "100000000", path(&fuel)]);
        assert_eq!(run.assert_code(0).stdout, "Hello, World!\n", "{target:?}");
    }
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let file = dir.join(name);
    std::fs::write(&file, contents).unwrap();
    file
}

#[track_caller]
fn assert_one_line_error(run: &Run, code: i32, needle: &str) {
    run.assert_code(code);
    assert!(
        run.stderr.contains(needle),
        "expected {needle:?} in:\n{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.trim_end().lines().count(),
        1,
        "not one line:\n{}",
        run.stderr
    );
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
}

#[test]
fn bad_input_gets_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();

    let missing = dir.path().join("missing.wasm");
    assert_one_line_error(&nimbus(&["run", path(&missing)]), 1, "cannot read");

    let text = write(dir.path(), "notes.wasm", "just some text\n");
    assert_one_line_error(
        &nimbus(&["run", path(&text)]),
        1,
        "is not a WebAssembly file",
    );

    let elf = write(
        dir.path(),
        "binary.wasm",
        [0x7f, b'E', b'L', b'F', 0, 1, 2, 3],
    );
    assert_one_line_error(
        &nimbus(&["run", path(&elf)]),
        1,
        "is not a WebAssembly file",
    );

    for target in Target::ALL {
        let bytes = std::fs::read(guest("hello-env", target)).unwrap();
        let truncated = write(dir.path(), "truncated.wasm", &bytes[..bytes.len() / 3]);
        assert_one_line_error(
            &nimbus(&["run", "--no-cache", path(&truncated)]),
            1,
            "is not a valid WebAssembly",
        );
    }

    let reactor = write(
        dir.path(),
        "reactor.wat",
        "(module (func (export \"add\")))",
    );
    assert_one_line_error(&nimbus(&["run", path(&reactor)]), 1, "no `_start` export");

    let import = write(
        dir.path(),
        "import.wat",
        "(module (import \"env\" \"missing_function\" (func)) (func (export \"_start\")))",
    );
    assert_one_line_error(&nimbus(&["run", path(&import)]), 1, "env::missing_function");

    let component = write(dir.path(), "empty.wat", "(component)");
    assert_one_line_error(&nimbus(&["run", path(&component)]), 1, "wasi:cli/run");

    let bad_wat = write(dir.path(), "bad.wat", "(module (func (oops)))");
    assert_one_line_error(
        &nimbus(&["run", path(&bad_wat)]),
        1,
        "invalid WebAssembly text",
    );

    let hello = guest("hello-env", Target::P1);
    let nowhere = dir.path().join("nowhere");
    let grant = format!("{}::/data", path(&nowhere));
    assert_one_line_error(
        &nimbus(&["run", "--dir", &grant, path(&hello)]),
        1,
        "does not exist",
    );

    // Malformed flags are usage errors (clap's exit status 2).
    let run = nimbus(&["run", "--max-memory", "lots", path(&hello)]);
    run.assert_code(2);
    assert!(run.stderr.contains("--max-memory"), "{}", run.stderr);
    let run = nimbus(&["run", "--timeout", "soon", path(&hello)]);
    run.assert_code(2);
    let run = nimbus(&["run", "--dir", "::/data", path(&hello)]);
    run.assert_code(2);
}

#[test]
fn wat_text_runs() {
    let dir = tempfile::tempdir().unwrap();
    let ok = write(dir.path(), "ok.wat", "(module (func (export \"_start\")))");
    nimbus(&["run", path(&ok)]).assert_code(0);

    let exit7 = write(
        dir.path(),
        "exit7.wat",
        r#"(module
             (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
             (memory (export "memory") 1)
             (func (export "_start") (call $exit (i32.const 7))))"#,
    );
    nimbus(&["run", path(&exit7)]).assert_code(7);
}

#[test]
fn help_documents_the_exit_statuses() {
    let run = nimbus(&["run", "--help"]);
    run.assert_code(0);
    for needle in [
        "124",
        "125",
        "126",
        "134",
        "--max-memory",
        "--timeout",
        "--fuel",
        "--dir",
        "--env",
    ] {
        assert!(
            run.stdout.contains(needle),
            "--help lacks {needle}:\n{}",
            run.stdout
        );
    }
}

#[test]
fn an_http_component_is_pointed_at_nimbus_up() {
    let probe = guest("http-probe", Target::P2);
    let run = nimbus(&["run", path(&probe)]);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("this is a wasi:http component: serve it with `nimbus up`"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn fuel_on_a_cwasm_compiled_without_it_says_how_to_recompile() {
    let wasm = guest("hello-env", Target::P2);
    let out = tempfile::tempdir().unwrap();
    let cwasm = out.path().join("hello.cwasm");
    nimbus(&["compile", path(&wasm), "-o", path(&cwasm)]).assert_code(0);
    let run = nimbus(&["run", "--fuel", "100000000", path(&cwasm)]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("compiled without fuel metering")
            && run
                .stderr
                .contains("recompile it with `nimbus compile --fuel"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn dir_takes_rw_explicitly_and_hints_at_two_colons() {
    let wasm = guest("read-config", Target::P2);
    let data = data_dir();
    let grant = format!("{}::/data:rw", path(data.path()));
    let run = nimbus(&["run", "--dir", &grant, path(&wasm), "write"]);
    run.assert_code(0);
    assert_eq!(run.stdout, "{\"greeting\": \"hi\"}\nwrite: ok\n");
    assert_eq!(
        std::fs::read_to_string(data.path().join("out.txt")).unwrap(),
        "written by the guest\n"
    );

    let one_colon = format!("{}:/data", path(data.path()));
    let run = nimbus(&["run", "--dir", &one_colon, path(&wasm)]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("HOST::GUEST takes two colons")
            && run
                .stderr
                .contains(&format!("did you mean \"{}::/data\"", path(data.path()))),
        "{}",
        run.stderr
    );
}

/// The WASI 0.3 command of `tests/guests-p3` (a `wasi:cli/run@0.3.0` async
/// export; its `run@0.2` does nothing, so any output proves 0.3 ran).
fn p3_cli() -> PathBuf {
    nimbus_test_guests::package_guest("guests-p3", "p3-cli", Target::P2)
}

#[test]
fn p3_command_gets_its_arguments_and_only_granted_env() {
    let wasm = p3_cli();
    let run = nimbus(&[
        "run",
        "--env",
        "GREETING=hej",
        path(&wasm),
        "args",
        "x y",
        "z",
    ]);
    run.assert_code(0);
    assert_eq!(
        run.stdout,
        "p3 args=[\"args\", \"x y\", \"z\"] GREETING=Some(\"hej\")\n"
    );
    let run = nimbus_command()
        .env("GREETING", "from the host")
        .args(["run", path(&wasm), "args"])
        .output()
        .map(Run::from)
        .expect("run nimbus");
    run.assert_code(0);
    assert_eq!(run.stdout, "p3 args=[\"args\"] GREETING=None\n");
}

#[test]
fn p3_command_reads_and_writes_only_granted_files() {
    let wasm = p3_cli();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("input.txt"), "from the host\n").unwrap();
    let grant = format!("{}::/data", path(data.path()));
    let run = nimbus(&["run", "--dir", &grant, path(&wasm), "files"]);
    run.assert_code(0);
    assert_eq!(run.stdout, "p3 read \"from the host\\n\"\np3 write: ok\n");
    assert_eq!(
        std::fs::read_to_string(data.path().join("output.txt")).unwrap(),
        "written by a p3 guest\n"
    );

    std::fs::remove_file(data.path().join("output.txt")).unwrap();
    let grant = format!("{}::/data:ro", path(data.path()));
    let run = nimbus(&["run", "--dir", &grant, path(&wasm), "files"]);
    run.assert_code(0);
    assert!(run.stdout.contains("p3 write: denied"), "{}", run.stdout);
    assert!(!data.path().join("output.txt").exists());

    // No grant, no /data.
    let run = nimbus(&["run", path(&wasm), "files"]);
    run.assert_code(1);
    assert_eq!(run.stdout, "no /data\n");
}

#[test]
fn p3_command_has_clocks_and_random() {
    let wasm = p3_cli();
    let run = nimbus(&["run", path(&wasm), "clocks"]);
    run.assert_code(0);
    assert_eq!(
        run.stdout,
        "p3 wall-clock-after-2020=true waited-at-least-20ms=true\n"
    );
    let run = nimbus(&["run", path(&wasm), "random"]);
    run.assert_code(0);
    assert_eq!(run.stdout, "p3 random 32 bytes, differ=true\n");
}

#[test]
fn p3_command_exit_status_becomes_nimbus_exit_code() {
    let wasm = p3_cli();
    // wasi:cli/exit.exit(err) and `run` returning `err` both fail with 1.
    nimbus(&["run", path(&wasm), "exit"]).assert_code(1);
    nimbus(&["run", path(&wasm), "fail"]).assert_code(1);
    let run = nimbus(&["run", path(&wasm), "nonsense"]);
    run.assert_code(1);
    assert_eq!(run.stdout, "unknown command \"nonsense\"\n");
}

#[test]
fn p3_command_is_stopped_by_its_timeout() {
    // `clocks` waits 20 ms in wasi:clocks@0.3 `wait-for`, a host call.
    let run = nimbus(&["run", "--timeout", "10ms", path(&p3_cli()), "clocks"]);
    run.assert_code(124);
    assert!(run.stderr.contains("--timeout 10ms"), "{}", run.stderr);
}
