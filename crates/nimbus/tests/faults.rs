//! Faults around the server rather than inside a guest: a compile cache on a
//! full disk, and a soak under mixed healthy and hostile load that checks the
//! server's memory and file descriptors stay flat.
//!
//! The soak runs for `NIMBUS_SOAK_SECS` seconds (default 60, what CI runs);
//! the full ten-minute run is
//! `NIMBUS_SOAK_SECS=600 cargo test -p nimbus --test faults soak -- --nocapture`
//! (see docs/testing.md).

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use common::{probe, request, signal, write_manifest, Spawned};
use nimbus_test_guests::{guest, Target};

/// A wrapper script that starts nimbus in a mount namespace of its own (see
/// [`nimbus_on_small_disk`]): on drop, the nimbus it started is killed too,
/// then the script.
struct Wrapped(Spawned);

impl Wrapped {
    /// The pid the wrapper script printed for the nimbus it started last.
    fn nimbus_pid(&self) -> Option<u32> {
        self.0
            .logs()
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix("nimbus-pid: "))
            .map(|pid| pid.trim().parse().unwrap())
    }
}

impl Drop for Wrapped {
    fn drop(&mut self) {
        if let Some(pid) = self.nimbus_pid() {
            signal(pid, "KILL");
        }
        // Then the Spawned inside kills the script (printing its output if
        // the test is failing).
    }
}

// ---------------------------------------------------------------------------
// A compile cache on a full disk

/// The command prefix that gives a child its own mount namespace, so that it
/// can mount a tmpfs without touching the host: a user namespace where the
/// kernel allows unprivileged ones, else a plain mount namespace when we are
/// root. Neither available is a test failure, never a silent pass.
fn tmpfs_launcher() -> &'static [&'static str] {
    static LAUNCHER: OnceLock<&'static [&'static str]> = OnceLock::new();
    LAUNCHER.get_or_init(|| {
        const CANDIDATES: [&[&str]; 2] = [
            &["unshare", "--user", "--map-root-user", "--mount"],
            &["unshare", "--mount"],
        ];
        let mut tried = Vec::new();
        for candidate in CANDIDATES {
            let dir = tempfile::tempdir().unwrap();
            let output = Command::new(candidate[0])
                .args(&candidate[1..])
                .args(["sh", "-c", "mount -t tmpfs -o size=16k tmpfs \"$1\"", "sh"])
                .arg(dir.path())
                .output();
            match output {
                Ok(output) if output.status.success() => return candidate,
                Ok(output) => tried.push(format!(
                    "`{} sh -c 'mount -t tmpfs …'`: {}",
                    candidate.join(" "),
                    String::from_utf8_lossy(&output.stderr).trim()
                )),
                Err(err) => tried.push(format!("`{}`: {err}", candidate.join(" "))),
            }
        }
        panic!(
            "the disk-full tests need to mount a small tmpfs and cannot:\n  {}\n\
             Allow unprivileged user namespaces (e.g. `sysctl kernel.unprivileged_userns_clone=1`, \
             or on Ubuntu 24.04 `sysctl kernel.apparmor_restrict_unprivileged_userns=0`) \
             or run the tests as root.",
            tried.join("\n  ")
        )
    })
}

/// Inside its own mount namespace: mounts a tmpfs of `size` on `$1`, fills it
/// to the last byte when asked, runs the command `runs` times one after the
/// other (printing each one's pid and exit status on stderr), then lists the
/// files left in the cache.
const TMPFS_SCRIPT: &str = r#"
set -e
cache=$1 size=$2 fill=$3 runs=$4
shift 4
mount -t tmpfs -o "size=$size" tmpfs "$cache"
if [ "$fill" = full ]; then
  dd if=/dev/zero of="$cache/filler" bs=4096 2>/dev/null || true
fi
set +e
i=1
while [ "$i" -le "$runs" ]; do
  "$@" &
  pid=$!
  echo "nimbus-pid: $pid" >&2
  wait "$pid"
  echo "run $i exit: $?" >&2
  i=$((i + 1))
done
echo "cache files:" >&2
(cd "$cache" && find . -type f | sort) >&2
echo "end of cache files" >&2
"#;

/// Smaller than any compiled guest these tests load (the smallest,
/// hello-env for wasip1, is about 220 KiB of `.cwasm`), so every cache write
/// runs out of space part-way.
const TMPFS_SIZE: &str = "128k";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Disk {
    /// An empty tmpfs smaller than a compiled module: the digest fits, the
    /// `.cwasm` does not.
    TooSmall,
    /// A tmpfs with not one byte free.
    Full,
}

/// `nimbus args…` run `runs` times with its compile cache on a small tmpfs.
fn nimbus_on_small_disk(cache: &Path, disk: Disk, runs: u32, args: &[OsString]) -> Command {
    let launcher = tmpfs_launcher();
    let mut command = Command::new(launcher[0]);
    command
        .args(&launcher[1..])
        .args(["sh", "-c", TMPFS_SCRIPT, "sh"])
        .arg(cache)
        .arg(TMPFS_SIZE)
        .arg(match disk {
            Disk::TooSmall => "empty",
            Disk::Full => "full",
        })
        .arg(runs.to_string())
        .arg(env!("CARGO_BIN_EXE_nimbus"))
        .args(args)
        .env_remove("RUST_LOG")
        .env("NIMBUS_CACHE_DIR", cache);
    command
}

/// The files the script listed in the cache after the last run.
fn files_left(stderr: &str) -> Vec<String> {
    let listing = stderr
        .split("cache files:\n")
        .nth(1)
        .and_then(|rest| rest.split("end of cache files").next())
        .unwrap_or_else(|| panic!("no cache listing in\n{stderr}"));
    listing.lines().map(str::to_owned).collect()
}

/// Checks one process's log: exactly one line says the cache could not be
/// written and why, and nothing else about the cache.
#[track_caller]
fn assert_one_cache_warning(log: &str, context: &str) {
    let cache_lines: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("compile cache"))
        .collect();
    assert_eq!(
        cache_lines.len(),
        1,
        "{context}: want exactly one compile-cache line in the log, got:\n{log}"
    );
    let line = cache_lines[0];
    assert!(
        line.contains("WARN")
            && line.contains("cannot write")
            && line.contains("No space left on device")
            && line.contains("continuing without caching"),
        "{context}: the warning should say what failed and why: {line}"
    );
    assert!(!log.contains("panicked"), "{context}: {log}");
}

/// No temporary file, no `.cwasm` and no stray digest is left behind for a
/// later run to find; only the filler of a pre-filled disk remains.
#[track_caller]
fn assert_nothing_left(files: &[String], disk: Disk, context: &str) {
    let expected: Vec<String> = match disk {
        Disk::TooSmall => vec![],
        Disk::Full => vec!["./filler".to_owned()],
    };
    assert_eq!(
        files, expected,
        "{context}: files left in the compile cache"
    );
}

#[test]
fn nimbus_up_serves_with_the_compile_cache_on_a_full_disk_and_says_so_once() {
    let probe = probe();
    let wagi = guest("trap", Target::P1);
    for disk in [Disk::TooSmall, Disk::Full] {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        std::fs::create_dir(&cache).unwrap();
        // Three components from two distinct programs (so two failed writes
        // at least), plus a WAGI module: one warning in all.
        let manifest = write_manifest(
            dir.path(),
            &format!(
                r#"spin_manifest_version = 2
[application]
name = "disk-full"
[[trigger.http]]
route = "/a/..."
component = "a"
[[trigger.http]]
route = "/b/..."
component = "b"
[[trigger.http]]
route = "/wagi"
component = "wagi"
executor = {{ type = "wagi" }}
[component.a]
source = "{probe}"
environment = {{ NAME = "a" }}
[component.b]
source = "{probe}"
environment = {{ NAME = "b" }}
[component.wagi]
source = "{}"
"#,
                wagi.display()
            ),
        );
        let args: Vec<OsString> = vec![
            "up".into(),
            "-f".into(),
            manifest.into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ];
        let mut command = nimbus_on_small_disk(&cache, disk, 1, &args);
        command.env("RUST_LOG", "info");
        let mut server = Wrapped(Spawned::spawn(
            &format!("nimbus up ({disk:?} disk)"),
            command,
        ));
        let addr = server.0.wait_for_addr("Serving ");
        for i in 0..20 {
            for name in ["a", "b"] {
                let response = request(addr, "GET", &format!("/{name}/{i}"), &[], b"");
                assert_eq!(response.status, 200, "{disk:?}: {}", response.text());
                assert!(
                    response.text().starts_with(&format!("component={name}\n")),
                    "{disk:?}: {}",
                    response.text()
                );
            }
            // The WAGI module was loaded too (it traps by design).
            assert_eq!(request(addr, "GET", "/wagi", &[], b"").status, 500);
        }
        let pid = server.nimbus_pid().expect("the script printed the pid");
        signal(pid, "TERM");
        let status = server.0.wait(Duration::from_secs(60));
        let logs = server.0.logs();
        assert!(status.success(), "{disk:?}: the wrapper failed:\n{logs}");
        assert!(
            logs.contains("run 1 exit: 0"),
            "{disk:?}: nimbus up did not exit 0 after SIGTERM:\n{logs}"
        );
        let nimbus_log = logs.split("run 1 exit:").next().unwrap();
        assert_one_cache_warning(nimbus_log, &format!("nimbus up, {disk:?} disk"));
        assert_nothing_left(&files_left(&logs), disk, &format!("{disk:?} disk"));
    }
}

#[test]
fn nimbus_run_runs_with_the_compile_cache_on_a_full_disk_and_says_so_once() {
    let hello = guest("hello-env", Target::P2);
    for disk in [Disk::TooSmall, Disk::Full] {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        std::fs::create_dir(&cache).unwrap();
        // Two runs on the same disk: the second must not trust anything the
        // first left, and must say so once again (one warning per process).
        let command = nimbus_on_small_disk(&cache, disk, 2, &["run".into(), hello.clone().into()]);
        let mut run = Wrapped(Spawned::spawn(
            &format!("nimbus run ({disk:?} disk)"),
            command,
        ));
        let status = run.0.wait(Duration::from_secs(120));
        let (stdout, logs) = (run.0.output(), run.0.logs());
        assert!(status.success(), "{disk:?}: the wrapper failed:\n{logs}");
        assert_eq!(stdout, "Hello, World!\nHello, World!\n", "{disk:?}\n{logs}");
        let mut rest = logs.as_str();
        for i in 1..=2 {
            let marker = format!("run {i} exit: ");
            let (log, after) = rest
                .split_once(&marker)
                .unwrap_or_else(|| panic!("{disk:?}: no {marker:?} in\n{logs}"));
            assert!(
                after.starts_with("0\n"),
                "{disk:?}: run {i} failed:\n{logs}"
            );
            assert_one_cache_warning(log, &format!("nimbus run #{i}, {disk:?} disk"));
            rest = after;
        }
        assert_nothing_left(&files_left(&logs), disk, &format!("{disk:?} disk"));
    }
}

// ---------------------------------------------------------------------------
// Soak

/// One response, or why there was none.
struct Reply {
    status: u16,
    body: Vec<u8>,
}

/// Sends one HTTP/1.1 request (`Connection: close`) and reads the whole
/// response; every failure is an `Err`, never a panic, so the soak counts it.
fn try_request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Result<Reply, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    stream.write_all(&raw).map_err(|e| format!("write: {e}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| format!("read: {e}"))?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no header end in {} bytes", response.len()))?;
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {head}"))?;
    let mut body = response[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body)?;
    }
    Ok(Reply { status, body })
}

fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size")?;
        let size_text = String::from_utf8_lossy(&raw[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .map_err(|e| format!("bad chunk size {size_text:?}: {e}"))?;
        raw = &raw[end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if raw.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

/// Starts a request and hangs up part-way: with a body announced as
/// `announced` bytes, after sending an eighth of it; without, after reading
/// the first 16 KiB of the response.
fn hang_up(addr: SocketAddr, path: &str, announced: usize) {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return;
    };
    let method = if announced > 0 { "POST" } else { "GET" };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {announced}\r\n\r\n"
    );
    let _ = stream.write_all(head.as_bytes());
    if announced > 0 {
        let _ = stream.write_all(&vec![b'a'; announced / 8]);
    } else {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let mut buf = vec![0u8; 16 * 1024];
        let _ = stream.read_exact(&mut buf);
    }
    // Dropping the stream closes it with the request or response unfinished.
}

/// What one kind of request expects.
#[derive(Clone, Copy)]
enum Expect {
    /// This status and a body for which the check holds.
    Status(u16, fn(&[u8]) -> bool),
    /// The client hangs up; nothing to check but that the server carries on.
    HangUp,
}

#[derive(Clone)]
struct Action {
    kind: &'static str,
    method: &'static str,
    path: String,
    body: Vec<u8>,
    expect: Expect,
}

fn any(_: &[u8]) -> bool {
    true
}

#[derive(Default)]
struct Tally {
    /// Requests by kind: (as expected, not as expected).
    by_kind: BTreeMap<&'static str, (u64, u64)>,
    /// The first few failures, for the report.
    failures: Vec<String>,
}

fn run_action(addr: SocketAddr, action: &Action, tally: &Mutex<Tally>) {
    let outcome = match action.expect {
        Expect::HangUp => {
            hang_up(addr, &action.path, action.body.len());
            Ok(())
        }
        Expect::Status(want, check) => {
            match try_request(addr, action.method, &action.path, &action.body) {
                Ok(reply) if reply.status == want && check(&reply.body) => Ok(()),
                Ok(reply) => Err(format!(
                    "{} {}: status {} (want {want}), body {} bytes: {:?}",
                    action.method,
                    action.path,
                    reply.status,
                    reply.body.len(),
                    String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)])
                )),
                Err(err) => Err(format!("{} {}: {err}", action.method, action.path)),
            }
        }
    };
    let mut tally = tally.lock().unwrap();
    let entry = tally.by_kind.entry(action.kind).or_default();
    match outcome {
        Ok(()) => entry.0 += 1,
        Err(err) => {
            entry.1 += 1;
            if tally.failures.len() < 20 {
                tally.failures.push(err);
            }
        }
    }
}

fn get(kind: &'static str, path: &str, expect: Expect) -> Action {
    Action {
        kind,
        method: "GET",
        path: path.to_owned(),
        body: Vec::new(),
        expect,
    }
}

fn post(kind: &'static str, path: &str, len: usize, expect: Expect) -> Action {
    Action {
        kind,
        method: "POST",
        path: path.to_owned(),
        body: vec![b'a'; len],
        expect,
    }
}

/// The server's resident memory in KiB and its open file descriptors.
fn rss_and_fds(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status");
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    (rss, fds)
}

/// Mixed load before the soak's clock starts (not part of `NIMBUS_SOAK_SECS`).
const WARM_UP: Duration = Duration::from_secs(15);

fn soak_secs() -> u64 {
    match std::env::var("NIMBUS_SOAK_SECS") {
        Ok(secs) => secs
            .parse()
            .unwrap_or_else(|_| panic!("NIMBUS_SOAK_SECS={secs:?} is not a number of seconds")),
        Err(_) => 60,
    }
}

#[test]
fn soak_under_mixed_healthy_and_hostile_load_keeps_rss_and_fds_flat() {
    let secs = soak_secs();
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(
        dir.path(),
        &format!(
            r#"spin_manifest_version = 2
[application]
name = "soak"
[[trigger.http]]
route = "/ok/..."
component = "healthy"
[[trigger.http]]
route = "/limited/..."
component = "limited"
[[trigger.http]]
route = "/wagi-trap"
component = "wagi-trap"
executor = {{ type = "wagi" }}
[component.healthy]
source = "{probe}"
[component.limited]
source = "{probe}"
[component.limited.limits]
timeout = "500ms"
memory = "16MiB"
[component.wagi-trap]
source = "{wagi}"
"#,
            probe = probe(),
            wagi = guest("trap", Target::P1).display()
        ),
    );
    let mut command = common::nimbus_command();
    command
        .env("RUST_LOG", "warn")
        .arg("up")
        .arg("-f")
        .arg(&manifest)
        .args(["--listen", "127.0.0.1:0"]);
    let mut server = Spawned::spawn("nimbus up (soak)", command);
    let addr = server.wait_for_addr("Serving ");
    let pid = server.pid();

    let body_is = |n: usize| -> fn(&[u8]) -> bool {
        match n {
            0 => |b| String::from_utf8_lossy(b).contains("\nbody=0\n"),
            _ => |b| String::from_utf8_lossy(b).contains("\nbody=1048576\n"),
        }
    };
    let big: fn(&[u8]) -> bool = |b| b.len() == 2048 * 1024 && b.iter().all(|&c| c == b'x');
    let slept: fn(&[u8]) -> bool = |b| b == b"slept\n";
    // Each client thread loops over its list until the time is up.
    let healthy = vec![
        get("healthy", "/ok/", Expect::Status(200, body_is(0))),
        get("healthy", "/ok/?do=sleep&ms=5", Expect::Status(200, slept)),
    ];
    let hostile = vec![
        get("spin (504)", "/limited/?do=spin", Expect::Status(504, any)),
        get("hog (500)", "/limited/?do=hog", Expect::Status(500, any)),
        get("trap (500)", "/limited/?do=trap", Expect::Status(500, any)),
        get(
            "blocked (504)",
            "/limited/?do=sleep&ms=5000",
            Expect::Status(504, any),
        ),
        get("wagi trap (500)", "/wagi-trap", Expect::Status(500, any)),
        get(
            "limited, healthy",
            "/limited/",
            Expect::Status(200, body_is(0)),
        ),
    ];
    let heavy = vec![
        get(
            "big response",
            "/ok/?do=big&kib=2048",
            Expect::Status(200, big),
        ),
        post(
            "big request",
            "/ok/",
            1 << 20,
            Expect::Status(200, body_is(1 << 20)),
        ),
        get(
            "hang up mid-response",
            "/ok/?do=big&kib=8192",
            Expect::HangUp,
        ),
        post("hang up mid-request", "/ok/", 1 << 20, Expect::HangUp),
    ];
    let tally = Arc::new(Mutex::new(Tally::default()));

    // Warm up: six clients at once run every hostile and heavy action, so
    // that the instance slots the load will use have all been touched
    // (each keeps up to its `linear_memory_keep_resident` resident for reuse).
    let primers: Vec<_> = (0..6)
        .map(|_| {
            let actions: Vec<Action> = hostile.iter().chain(&heavy).cloned().collect();
            let tally = tally.clone();
            std::thread::spawn(move || {
                for action in &actions {
                    run_action(addr, action, &tally);
                }
            })
        })
        .collect();
    for primer in primers {
        primer.join().expect("a warm-up client panicked");
    }

    // Each client holds the gate (shared) for one request; taking it
    // exclusively lets what is in flight finish, so that memory is measured
    // at rest after the first tenth of the run and at the end alike.
    let gate = Arc::new(RwLock::new(()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = [healthy.clone(), healthy, hostile, heavy]
        .into_iter()
        .map(|actions| {
            let (tally, stop, gate) = (tally.clone(), stop.clone(), gate.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for action in &actions {
                        let _turn = gate.read().unwrap();
                        run_action(addr, action, &tally);
                    }
                }
            })
        })
        .collect();
    let at_rest = || {
        std::thread::sleep(Duration::from_secs(1));
        rss_and_fds(pid)
    };

    // Let the load itself warm the server up before the clock starts: until
    // every pool slot the load lands on (per thread's home shard) has been
    // touched, RSS climbs by up to `linear_memory_keep_resident` per slot.
    std::thread::sleep(WARM_UP);

    // Sample memory and descriptors once a second.
    let started = Instant::now();
    let total = Duration::from_secs(secs);
    let warm_up = total / 10;
    let mut samples: Vec<(Duration, u64, usize)> = Vec::new();
    let mut baseline = None;
    while started.elapsed() < total {
        std::thread::sleep(Duration::from_secs(1));
        let sample = if baseline.is_none() && started.elapsed() >= warm_up {
            let _pause = gate.write().unwrap();
            let sample = at_rest();
            baseline = Some(sample);
            sample
        } else {
            rss_and_fds(pid)
        };
        samples.push((started.elapsed(), sample.0, sample.1));
        if let Some(status) = server.try_wait() {
            panic!("nimbus up died during the soak: {status}");
        }
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("a client thread panicked");
    }
    let (end_rss, end_fds) = at_rest();
    let (base_rss, base_fds) = baseline.expect("a sample after the warm-up");
    let peak_rss = samples.iter().map(|s| s.1).max().unwrap();
    let peak_fds = samples.iter().map(|s| s.2).max().unwrap();

    let tally = tally.lock().unwrap();
    println!(
        "soak: {secs} s of mixed load against nimbus up (pid {pid}), after {} s of warm-up",
        WARM_UP.as_secs()
    );
    for (kind, (ok, bad)) in &tally.by_kind {
        println!("  {kind:<24} {ok:>7} as expected, {bad} not");
    }
    let step = (samples.len() / 10).max(1);
    for (at, rss, fds) in samples.iter().step_by(step) {
        println!("  t={:>4}s  rss={:>7} KiB  fds={fds}", at.as_secs(), rss);
    }
    println!(
        "  RSS at rest after {} s: {base_rss} KiB; at the end: {end_rss} KiB ({:+.1}%); peak {peak_rss} KiB",
        warm_up.as_secs(),
        (end_rss as f64 / base_rss as f64 - 1.0) * 100.0
    );
    println!(
        "  fds at rest after {} s: {base_fds}; at the end: {end_fds}; peak {peak_fds}",
        warm_up.as_secs()
    );
    for failure in &tally.failures {
        println!("  failure: {failure}");
    }

    let failed: u64 = tally.by_kind.values().map(|(_, bad)| bad).sum();
    assert_eq!(failed, 0, "requests not as expected: {:#?}", tally.failures);
    for kind in [
        "healthy",
        "spin (504)",
        "hog (500)",
        "big response",
        "hang up mid-response",
    ] {
        assert!(
            tally.by_kind.get(kind).is_some_and(|(ok, _)| *ok > 0),
            "no {kind} request completed"
        );
    }
    assert!(
        end_rss * 10 <= base_rss * 11,
        "RSS grew more than 10%: {base_rss} KiB after {} s, {end_rss} KiB at the end",
        warm_up.as_secs()
    );
    // Both counted at rest; a leak grows with the number of requests
    // (thousands here), so a slack of two is plenty.
    assert!(
        end_fds <= base_fds + 2,
        "file descriptors grew: {base_fds} after {} s, {end_fds} at the end",
        warm_up.as_secs()
    );
    // It still answers, and shuts down cleanly.
    assert_eq!(request(addr, "GET", "/ok/", &[], b"").status, 200);
    signal(pid, "TERM");
    let status = server.wait(Duration::from_secs(60));
    assert!(status.success(), "nimbus up exited with {status}");
}
