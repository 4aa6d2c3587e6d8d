//! The hostile-guest suite (issue 7): every attack runs on one `nimbus node`
//! while a healthy app on the same node is under steady load. For each
//! attack the test checks that the attack fails the way it should, that the
//! healthy app saw no error, and that its p99 latency stayed bounded; it
//! prints one line of figures per attack:
//!
//! `attack=NAME requests=N errors=E p50=… p99=… rss_growth=…`
//!
//! Guests: `hostile` (wasi:http, one action per attack), `http-probe` (loop,
//! memory bomb), `wagi-spam` (millions of tiny WAGI writes) and the Spin SDK
//! `sqlite-exec` (cross-tenant SQLite).

mod common;
mod node_common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{nimbus_command, HttpResponse};
use nimbus_test_guests::{guest, package_guest, Target};
use node_common::{bundle, http, probe_app, NodeServer};

/// The node's domain: apps answer on NAME.localhost.
fn host(app: &str) -> String {
    format!("{app}.localhost")
}

// ---------------------------------------------------------------------------
// Upstreams started by the test.

/// What an upstream answers for a path: a status and extra headers.
type Answer = (u16, Vec<(String, String)>);

/// A tiny HTTP server on 127.0.0.1 that records every request line and
/// answers with `respond(path)`: (status, extra headers).
struct Upstream {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Upstream {
    fn start(respond: fn(&str) -> Answer) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    let mut head = Vec::new();
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&head)
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    log.lock().unwrap().push(line);
                    let (status, headers) = respond(&path);
                    let body = "upstream says hi\n";
                    let mut text = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                        body.len()
                    );
                    for (name, value) in headers {
                        text.push_str(&format!("{name}: {value}\r\n"));
                    }
                    text.push_str("\r\n");
                    text.push_str(body);
                    let _ = stream.write_all(text.as_bytes());
                });
            }
        });
        Upstream { port, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn always_ok(_: &str) -> Answer {
    (200, Vec::new())
}

/// Port of the upstream that redirects point to, set once.
static TARGET_PORT: std::sync::OnceLock<u16> = std::sync::OnceLock::new();

fn redirects(path: &str) -> Answer {
    let port = TARGET_PORT.get().copied().unwrap_or(1);
    let location = match path {
        // 127.0.0.1:PORT is not in the hostile app's list (localhost:PORT is).
        "/to-denied" => format!("http://127.0.0.1:{port}/via-redirect-denied"),
        "/to-private" => format!("http://localhost:{port}/via-redirect-private"),
        _ => return (200, Vec::new()),
    };
    (302, vec![("location".into(), location)])
}

// ---------------------------------------------------------------------------
// The node process: RSS and open files.

/// The pid of the `nimbus node` whose data directory is `data_dir`.
fn node_pid(data_dir: &Path) -> u32 {
    let needle = data_dir.to_string_lossy().into_owned();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.iter().any(|a| a == "node") && args.contains(&needle) {
            return pid;
        }
    }
    panic!("no nimbus node process for {needle}");
}

/// VmRSS of `pid`, in bytes (0 once it is gone).
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

const MIB: u64 = 1 << 20;

// ---------------------------------------------------------------------------
// Steady load on the healthy app.

/// One sample of the healthy app's load: when it ended, how long it took,
/// and the status (0: an I/O error).
#[derive(Clone, Copy)]
struct Sample {
    latency: Duration,
    status: u16,
}

/// Four keep-alive connections, each sending `GET /` to the healthy app
/// every 2 ms, recording every answer.
struct Load {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Reads one HTTP/1.1 response (Content-Length or chunked) off a
/// keep-alive connection; returns the status.
fn read_response(reader: &mut BufReader<TcpStream>) -> std::io::Result<u16> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut length = None;
    let mut chunked = false;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let lower = trimmed.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse::<usize>().ok();
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(std::io::Error::other)?;
            let mut chunk = vec![0u8; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
        }
    } else if let Some(length) = length {
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
    }
    Ok(status)
}

impl Load {
    fn start(addr: SocketAddr, host: String) -> Load {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..4)
            .map(|_| {
                let samples = samples.clone();
                let stop = stop.clone();
                let host = host.clone();
                std::thread::spawn(move || {
                    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
                    let mut conn: Option<BufReader<TcpStream>> = None;
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        let result = (|| -> std::io::Result<u16> {
                            if conn.is_none() {
                                let stream = TcpStream::connect(addr)?;
                                stream.set_read_timeout(Some(Duration::from_secs(30)))?;
                                stream.set_nodelay(true)?;
                                conn = Some(BufReader::new(stream));
                            }
                            let reader = conn.as_mut().unwrap();
                            reader.get_mut().write_all(request.as_bytes())?;
                            read_response(reader)
                        })();
                        let status = match result {
                            Ok(status) => status,
                            Err(_) => {
                                conn = None;
                                0
                            }
                        };
                        samples.lock().unwrap().push(Sample {
                            latency: started.elapsed(),
                            status,
                        });
                        std::thread::sleep(Duration::from_millis(2));
                    }
                })
            })
            .collect();
        Load {
            samples,
            stop,
            threads,
        }
    }

    fn mark(&self) -> usize {
        self.samples.lock().unwrap().len()
    }

    fn since(&self, mark: usize) -> Vec<Sample> {
        self.samples.lock().unwrap()[mark..].to_vec()
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

/// Figures of the healthy app's load during one window.
struct Figures {
    requests: usize,
    errors: usize,
    p50: Duration,
    p99: Duration,
}

fn figures(samples: &[Sample]) -> Figures {
    let mut latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    latencies.sort();
    Figures {
        requests: samples.len(),
        errors: samples.iter().filter(|s| s.status != 200).count(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}ms", d.as_secs_f64() * 1000.0)
}

/// Samples the node's RSS every 20 ms while it runs; `stop` returns the
/// peak.
struct RssSampler {
    peak: Arc<Mutex<u64>>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let peak = Arc::new(Mutex::new(rss(pid)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let peak = peak.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let now = rss(pid);
                    let mut peak = peak.lock().unwrap();
                    *peak = (*peak).max(now);
                    drop(peak);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        RssSampler { peak, stop, thread }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        let peak = *self.peak.lock().unwrap();
        peak
    }
}

/// The suite's bookkeeping: the load, the baseline, the node's pid.
struct Bench {
    load: Load,
    pid: u32,
    baseline_p99: Duration,
    lines: Vec<String>,
}

/// Every attack window lasts at least this long, so that its figures hold
/// enough requests.
const MIN_WINDOW: Duration = Duration::from_millis(500);

impl Bench {
    /// Runs `attack` under load; checks the healthy app saw no error and a
    /// bounded p99; prints and keeps the figures. `attack` returns extra
    /// figures for the line.
    fn attack(&mut self, name: &str, attack: impl FnOnce() -> String) -> u64 {
        let bound = (self.baseline_p99 * 10).max(Duration::from_millis(200));
        self.attack_within(name, bound, attack)
    }

    /// As [`Bench::attack`], with an explicit bound on the healthy p99.
    /// Returns how much the node's RSS grew (peak) during the attack.
    fn attack_within(
        &mut self,
        name: &str,
        bound: Duration,
        attack: impl FnOnce() -> String,
    ) -> u64 {
        let mark = self.load.mark();
        let before = rss(self.pid);
        let sampler = RssSampler::start(self.pid);
        let started = Instant::now();
        let extra = attack();
        if let Some(rest) = MIN_WINDOW.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
        let took = started.elapsed();
        let peak = sampler.stop();
        let f = figures(&self.load.since(mark));
        let growth = peak.saturating_sub(before);
        let line = format!(
            "attack={name} took={} requests={} errors={} p50={} p99={} baseline_p99={} rss_growth={}MiB {extra}",
            ms(took),
            f.requests,
            f.errors,
            ms(f.p50),
            ms(f.p99),
            ms(self.baseline_p99),
            growth / MIB,
        );
        println!("{line}");
        assert_eq!(
            f.errors, 0,
            "the healthy app saw errors during {name}: {line}"
        );
        assert!(f.requests > 0, "no healthy requests during {name}: {line}");
        assert!(
            f.p99 <= bound,
            "the healthy app's p99 during {name} is over {}: {line}",
            ms(bound)
        );
        self.lines.push(line);
        growth
    }
}

// ---------------------------------------------------------------------------
// Apps.

fn copy_guest(dir: &Path, path: PathBuf, name: &str) {
    std::fs::copy(path, dir.join(name)).unwrap();
}

/// The hostile app: `hostile` at `/...` (files at /assets, variable GRANTED,
/// outbound to `http://localhost:UP` and the redirector by IP), `probe` at
/// `/probe/...` (2 s, 32 MiB), `streamer` at `/stream/...`
/// (max_concurrency 1), and the WAGI `wagi-spam` at `/wagi`.
fn hostile_app(root: &Path, up: u16, redirector: u16) -> PathBuf {
    let dir = root.join("hostile");
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("assets/hello.txt"), "hello from the assets\n").unwrap();
    copy_guest(&dir, guest("hostile", Target::P2), "hostile.wasm");
    copy_guest(&dir, guest("http-probe", Target::P2), "probe.wasm");
    copy_guest(&dir, guest("wagi-spam", Target::P1), "wagi-spam.wasm");
    let manifest = format!(
        r#"spin_manifest_version = 2
[application]
name = "hostile"

[[trigger.http]]
route = "/probe/..."
component = "probe"

[[trigger.http]]
route = "/stream/..."
component = "streamer"

[[trigger.http]]
route = "/wagi"
component = "wagi"
executor = {{ type = "wagi" }}

[[trigger.http]]
route = "/..."
component = "hostile"

[component.hostile]
source = "hostile.wasm"
files = [{{ source = "assets", destination = "/assets" }}]
environment = {{ GRANTED = "yes" }}
allowed_outbound_hosts = ["http://localhost:{up}", "http://127.0.0.1:{redirector}"]
[component.hostile.limits]
timeout = "10s"
memory = "32MiB"

[component.probe]
source = "probe.wasm"
[component.probe.limits]
timeout = "2s"
memory = "32MiB"

[component.streamer]
source = "hostile.wasm"
[component.streamer.limits]
timeout = "20s"
max_concurrency = 1

[component.wagi]
source = "wagi-spam.wasm"
files = [{{ source = "assets", destination = "/assets" }}]
[component.wagi.limits]
timeout = "20s"
"#
    );
    std::fs::write(dir.join("nimbus.toml"), manifest).unwrap();
    dir.join("nimbus.toml")
}

/// An app running the Spin SDK `sqlite-exec` guest on its `default`
/// database, with a file of its own.
fn sqlite_app(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("private")).unwrap();
    std::fs::write(
        dir.join("private/secret.txt"),
        format!("{name}-file-secret\n"),
    )
    .unwrap();
    copy_guest(
        &dir,
        package_guest("guests-spin", "sqlite-exec", Target::P2),
        "sql.wasm",
    );
    let manifest = format!(
        r#"spin_manifest_version = 2
[application]
name = "{name}"
[[trigger.http]]
route = "/..."
component = "sql"
[component.sql]
source = "sql.wasm"
sqlite_databases = ["default"]
files = [{{ source = "private", destination = "/private" }}]
environment = {{ SECRET = "{name}-variable-secret" }}
"#
    );
    std::fs::write(dir.join("nimbus.toml"), manifest).unwrap();
    dir.join("nimbus.toml")
}

fn sql(node: &NodeServer, app: &str, database: &str, statements: &str) -> HttpResponse {
    let body = format!(r#"{{"database": "{database}", "statements": {statements}}}"#);
    http(
        node.public,
        "POST",
        &host(app),
        "/",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

fn deploy(node: &NodeServer, name: &str, manifest: &Path) {
    let response = node.deploy(name, &bundle(manifest));
    assert!(
        response.status == 200 || response.status == 201,
        "deploy {name}: {} {}",
        response.status,
        response.text()
    );
}

fn get_hostile(node: &NodeServer, path: &str) -> HttpResponse {
    node.get(&host("hostile"), path)
}

/// The one release directory of app `name` on the node.
fn release_dir(data_dir: &Path, name: &str) -> PathBuf {
    let releases = data_dir.join("apps").join(name).join("releases");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&releases)
        .unwrap_or_else(|err| panic!("{}: {err}", releases.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap()
}

/// Every file below `dir`.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

fn assert_all_blocked(text: &str, what: &str) {
    assert!(!text.contains("ESCAPED"), "{what}: {text}");
    assert!(text.contains("BLOCKED"), "{what}: {text}");
}

// ---------------------------------------------------------------------------
// The suite.

#[test]
fn hostile_guests_fail_alone_while_a_healthy_app_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let target = Upstream::start(always_ok);
    TARGET_PORT.set(target.port).unwrap();
    let redirector = Upstream::start(redirects);
    // A TCP and a UDP listener the sockets attack aims at.
    let tcp_trap = TcpListener::bind("127.0.0.1:0").unwrap();
    tcp_trap.set_nonblocking(true).unwrap();
    let udp_trap = UdpSocket::bind(("127.0.0.1", tcp_trap.local_addr().unwrap().port()))
        .or_else(|_| UdpSocket::bind("127.0.0.1:0"))
        .unwrap();
    udp_trap.set_nonblocking(true).unwrap();

    let node = NodeServer::start(&data_dir, &[]);
    let pid = node_pid(&data_dir);
    let healthy = probe_app(tmp.path(), "healthy", "healthy", "ok", "");
    deploy(&node, "healthy", &healthy);
    deploy(
        &node,
        "hostile",
        &hostile_app(tmp.path(), target.port, redirector.port),
    );
    deploy(&node, "alpha", &sqlite_app(tmp.path(), "alpha"));
    deploy(&node, "beta", &sqlite_app(tmp.path(), "beta"));
    // Load every app's code before measuring.
    assert_eq!(node.get(&host("healthy"), "/").status, 200);
    assert_eq!(get_hostile(&node, "/?do=noread").status, 200);
    assert_eq!(get_hostile(&node, "/probe/").status, 200);
    assert_eq!(get_hostile(&node, "/stream/?do=noread").status, 200);
    assert_eq!(get_hostile(&node, "/wagi?stdout&1").status, 200);

    let load = Load::start(node.public, host("healthy"));
    std::thread::sleep(Duration::from_millis(500));
    let mark = load.mark();
    std::thread::sleep(Duration::from_secs(2));
    let base = figures(&load.since(mark));
    assert_eq!(base.errors, 0, "errors before any attack");
    println!(
        "attack=none(baseline) requests={} errors={} p50={} p99={} rss={}MiB",
        base.requests,
        base.errors,
        ms(base.p50),
        ms(base.p99),
        rss(pid) / MIB
    );
    let mut bench = Bench {
        load,
        pid,
        baseline_p99: base.p99,
        lines: Vec::new(),
    };
    let release = release_dir(&data_dir, "hostile");

    // --- Escapes --------------------------------------------------------

    bench.attack("path-escapes", || {
        // A symlink planted in the preopened directory, pointing outside
        // it (absolute, relative, and at another app's data).
        let assets = release.join("assets");
        std::os::unix::fs::symlink("/etc/hostname", assets.join("abs-link")).unwrap();
        std::os::unix::fs::symlink("../nimbus.toml", assets.join("rel-link")).unwrap();
        std::os::unix::fs::symlink(data_dir.join("apps/alpha"), assets.join("alpha-link")).unwrap();
        let granted = get_hostile(&node, "/?do=file&path=/assets/hello.txt");
        assert_eq!(granted.text(), "hello from the assets\n");
        let mut tried = 0;
        for path in [
            "/assets/../nimbus.toml",
            "/assets/../../../../../etc/passwd",
            "/etc/passwd",
            "/proc/self/environ",
            "/proc/self/status",
            "../nimbus.toml",
            "/assets/abs-link",
            "/assets/rel-link",
            "/assets/alpha-link/data",
            "/nimbus.toml",
            "/hostile.wasm",
        ] {
            let response = get_hostile(&node, &format!("/?do=file&path={path}"));
            assert_eq!(response.status, 200);
            assert!(
                response.text().starts_with("error:"),
                "{path} was readable: {}",
                response.text()
            );
            tried += 1;
        }
        format!("paths_tried={tried} readable=0")
    });

    bench.attack("hard-links", || {
        let before: Vec<PathBuf> = files_below(&release);
        let response = get_hostile(&node, "/?do=links&dir=/assets");
        assert_eq!(response.status, 200);
        let text = response.text();
        assert_all_blocked(&text, "hard links");
        assert_eq!(text.matches("BLOCKED").count(), 8, "{text}");
        assert_eq!(files_below(&release), before, "a link was created");
        assert!(!Path::new("/tmp/planted-link").exists());
        "attempts=8 escaped=0".to_owned()
    });

    bench.attack("env-and-preopens", || {
        let env = get_hostile(&node, "/?do=env").text();
        let names: Vec<&str> = env.lines().filter_map(|l| l.split('=').next()).collect();
        assert_eq!(
            names,
            ["GRANTED"],
            "variables not granted are visible: {env}"
        );
        let preopens = get_hostile(&node, "/?do=preopens").text();
        assert_eq!(
            preopens, "/assets\n",
            "preopens beyond the grant: {preopens}"
        );
        "variables=1 preopens=1".to_owned()
    });

    bench.attack("wasi-sockets", || {
        let port = tcp_trap.local_addr().unwrap().port();
        let response = get_hostile(&node, &format!("/?do=sockets&port={port}"));
        let text = response.text();
        assert_all_blocked(&text, "sockets");
        assert_eq!(text.matches("BLOCKED").count(), 3, "{text}");
        std::thread::sleep(Duration::from_millis(100));
        assert!(tcp_trap.accept().is_err(), "a guest connected over TCP");
        let mut buf = [0u8; 64];
        assert!(udp_trap.recv_from(&mut buf).is_err(), "a guest sent UDP");
        // Its entries are http:// ones, which grant no socket; each refusal
        // is logged with the entry to add.
        let logs = node.wait_for_log("name lookup of localhost denied");
        for line in [
            "TCP socket denied: no allowed_outbound_hosts entry grants TCP",
            "UDP socket denied: no allowed_outbound_hosts entry grants UDP",
        ] {
            assert!(logs.contains(line), "missing {line:?} in {logs}");
        }
        format!(
            "tcp=denied udp=denied dns=denied ({})",
            text.lines()
                .map(|l| l.trim())
                .collect::<Vec<_>>()
                .join("; ")
        )
    });

    bench.attack("outbound-denied-host", || {
        let url = format!("http://127.0.0.1:{}/denied", target.port);
        let text = get_hostile(&node, &format!("/?do=fetch&url={url}")).text();
        assert_eq!(text, "error: ErrorCode::HttpRequestDenied\n");
        node.wait_for_log(&format!(
            "to allow it, add \"http://127.0.0.1:{}\"",
            target.port
        ));
        "guest_saw=HttpRequestDenied".to_owned()
    });

    bench.attack("outbound-name-to-loopback", || {
        let url = format!("http://localhost:{}/private", target.port);
        let text = get_hostile(&node, &format!("/?do=fetch&url={url}")).text();
        assert_eq!(text, "error: ErrorCode::DestinationIpProhibited\n");
        let logs = node.wait_for_log("a loopback/private address");
        assert!(logs.contains("--allow-private-outbound"), "{logs}");
        "guest_saw=DestinationIpProhibited".to_owned()
    });

    bench.attack("outbound-redirects", || {
        for (path, error) in [
            ("to-denied", "HttpRequestDenied"),
            ("to-private", "DestinationIpProhibited"),
        ] {
            let url = format!("http://127.0.0.1:{}/{path}", redirector.port);
            let text = get_hostile(&node, &format!("/?do=fetch&follow=1&url={url}")).text();
            assert_eq!(
                text,
                format!("status 302\nerror: ErrorCode::{error}\n"),
                "{path}"
            );
        }
        "redirects_followed_by_hand=2 reached=0".to_owned()
    });
    // Nothing reached the target: not directly, not through a name, not
    // through a redirect.
    assert_eq!(target.seen(), Vec::<String>::new());

    // --- Exhaustion -----------------------------------------------------

    bench.attack("infinite-loop", || {
        let started = Instant::now();
        let response = get_hostile(&node, "/probe/?do=spin");
        assert_eq!(response.status, 504);
        format!("status=504 after={}", ms(started.elapsed()))
    });

    // As many spinning guests as the machine has cores: each yields to the
    // executor every epoch tick instead of holding a worker thread for its
    // 2 s timeout, so the healthy app is slowed (the cores are shared) but
    // never stalled for the timeout.
    bench.attack_within("infinite-loop-one-per-core", Duration::from_secs(1), || {
        let started = Instant::now();
        let spinners: Vec<_> = (0..2)
            .map(|_| {
                let public = node.public;
                std::thread::spawn(move || {
                    http(public, "GET", &host("hostile"), "/probe/?do=spin", &[], b"").status
                })
            })
            .collect();
        for spinner in spinners {
            assert_eq!(spinner.join().unwrap(), 504);
        }
        format!(
            "spinning_guests=2 status=504 after={}",
            ms(started.elapsed())
        )
    });

    bench.attack("memory-grow-bomb", || {
        let response = get_hostile(&node, "/probe/?do=hog");
        assert_eq!(response.status, 500);
        "status=500 limit=32MiB".to_owned()
    });

    bench.attack("deep-recursion", || {
        // The shadow stack in linear memory runs out first (an
        // out-of-bounds access), or, without locals in memory, Wasmtime's
        // native wasm stack (a stack-overflow trap).
        let response = get_hostile(&node, "/?do=recurse");
        assert_eq!(response.status, 500);
        node.wait_for_log("out of bounds memory access component=hostile");
        let response = get_hostile(&node, "/?do=recurse&native=1");
        assert_eq!(response.status, 500);
        node.wait_for_log("call stack exhausted");
        "status=500 twice (shadow stack: out-of-bounds trap; wasm stack: stack-overflow trap)"
            .to_owned()
    });

    let growth = bench.attack("resource-handles-fields", || {
        let fds = open_fds(pid);
        let response = get_hostile(&node, "/?do=fields&bytes=30000");
        assert_eq!(response.status, 500, "{}", response.text());
        assert!(open_fds(pid) <= fds + 8);
        "status=500 (4096 handles of 30 kB)".to_owned()
    });
    assert!(
        growth < 256 * MIB,
        "resource-handles-fields: the node grew by {} MiB",
        growth / MIB
    );

    let growth = bench.attack("resource-handles-bodies", || {
        let response = get_hostile(&node, "/?do=bodies");
        assert_eq!(response.status, 500, "{}", response.text());
        "status=500".to_owned()
    });
    assert!(
        growth < 256 * MIB,
        "resource-handles-bodies: the node grew by {} MiB",
        growth / MIB
    );

    bench.attack("resource-handles-files", || {
        let fds = open_fds(pid);
        let response = get_hostile(&node, "/?do=files&path=/assets/hello.txt");
        assert!(
            response.status == 500 || response.text().starts_with("open refused after"),
            "{} {}",
            response.status,
            response.text()
        );
        // Every file the guest opened is closed again.
        let deadline = Instant::now() + Duration::from_secs(5);
        while open_fds(pid) > fds + 8 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let after = open_fds(pid);
        assert!(after <= fds + 8, "fds {fds} -> {after}");
        format!(
            "status={} node_fds_before={fds} after={after}",
            response.status
        )
    });

    let growth = bench.attack("huge-response-slow-reader", || {
        // 1 GiB offered; the client reads 16 MiB slowly, then goes away.
        let mut stream = TcpStream::connect(node.public).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "GET /stream/?do=stream&mib=1024 HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            host("hostile")
        )
        .unwrap();
        let mut buf = vec![0u8; 256 << 10];
        let mut read = 0u64;
        while read < 16 * MIB {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "the stream ended early");
            read += n as u64;
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(stream);
        let gone = Instant::now();
        // max_concurrency = 1: the next request is served (not 503) only
        // once the streaming guest has stopped.
        let stopped_after = loop {
            let response = get_hostile(&node, "/stream/?do=noread");
            if response.status == 200 {
                break gone.elapsed();
            }
            assert_eq!(response.status, 503);
            assert!(
                gone.elapsed() < Duration::from_secs(25),
                "the streaming guest never stopped"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        format!(
            "read={}MiB guest_stopped_after_disconnect={}",
            read / MIB,
            ms(stopped_after)
        )
    });
    assert!(
        growth < 200 * MIB,
        "huge-response-slow-reader: the node grew by {} MiB",
        growth / MIB
    );

    let growth = bench.attack("huge-response-stalled-reader", || {
        // A client that reads nothing for 3 s: the guest blocks on
        // back-pressure instead of the node buffering.
        let stream = TcpStream::connect(node.public).unwrap();
        let mut writer = stream.try_clone().unwrap();
        write!(
            writer,
            "GET /stream/?do=stream&mib=1024 HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            host("hostile")
        )
        .unwrap();
        std::thread::sleep(Duration::from_secs(3));
        drop(stream);
        drop(writer);
        let gone = Instant::now();
        let stopped_after = loop {
            if get_hostile(&node, "/stream/?do=noread").status == 200 {
                break gone.elapsed();
            }
            assert!(gone.elapsed() < Duration::from_secs(25));
            std::thread::sleep(Duration::from_millis(20));
        };
        format!("guest_stopped_after_disconnect={}", ms(stopped_after))
    });
    assert!(
        growth < 200 * MIB,
        "huge-response-stalled-reader: the node grew by {} MiB",
        growth / MIB
    );

    let growth = bench.attack("never-reads-request-body", || {
        let mut stream = TcpStream::connect(node.public).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let size = 50 * MIB;
        write!(
            stream,
            "POST /?do=noread HTTP/1.1\r\nHost: {}\r\nContent-Length: {size}\r\n\r\n",
            host("hostile")
        )
        .unwrap();
        let mut writer = stream.try_clone().unwrap();
        let sender = std::thread::spawn(move || {
            let chunk = vec![b'u'; 1 << 20];
            let mut sent = 0u64;
            while sent < size {
                if writer.write_all(&chunk).is_err() {
                    break;
                }
                sent += chunk.len() as u64;
            }
            sent
        });
        let started = Instant::now();
        let mut reader = BufReader::new(stream);
        let status = read_response(&mut reader).expect("a response");
        assert_eq!(status, 200);
        let answered = started.elapsed();
        // The connection is then drained or closed: the client sees its end
        // (EOF or a reset, not its 30 s read timeout) and the sender
        // finishes or fails instead of hanging.
        let mut rest = Vec::new();
        match reader.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(err) => assert!(
                !matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "the connection was left open: {err}"
            ),
        }
        let closed = started.elapsed();
        assert!(closed < Duration::from_secs(20), "closed after {closed:?}");
        let sent = sender.join().unwrap();
        format!(
            "status=200 answered_after={} connection_closed_after={} client_sent={}MiB of 50",
            ms(answered),
            ms(closed),
            sent / MIB
        )
    });
    assert!(
        growth < 200 * MIB,
        "never-reads-request-body: the node grew by {} MiB",
        growth / MIB
    );

    bench.attack("wagi-file-handles", || {
        // A WAGI (wasip1) guest opening one file forever: each open is a host
        // file descriptor, so the instance's handle table is capped.
        let fds = open_fds(pid);
        let response = get_hostile(&node, "/wagi?files&/assets/hello.txt");
        let text = response.text();
        // At the cap the open traps (500); a guest that stopped on an error
        // first says how far it got.
        let outcome = match response.status {
            500 => "trapped at the cap".to_owned(),
            200 => {
                let opened: usize = text
                    .strip_prefix("opened ")
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("unexpected answer: {text}"));
                assert!((1..=1024).contains(&opened), "{text}");
                format!("opened {opened}")
            }
            status => panic!("status {status}: {text}"),
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while open_fds(pid) > fds + 8 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let after = open_fds(pid);
        assert!(after <= fds + 8, "fds {fds} -> {after}");
        format!(
            "status={} {outcome} node_fds_before={fds} after={after}",
            response.status
        )
    });

    for (stream, count) in [("stdout", 1_000_000u32), ("stderr", 1_000_000)] {
        bench.attack(&format!("wagi-tiny-writes-{stream}"), || {
            let started = Instant::now();
            let response = get_hostile(&node, &format!("/wagi?{stream}&{count}"));
            let took = started.elapsed();
            assert!(
                [200, 500, 504].contains(&response.status),
                "{}",
                response.status
            );
            assert!(took < Duration::from_secs(25), "took {took:?}");
            if response.status == 200 {
                assert!(response.text().ends_with("done\n"));
                if stream == "stdout" {
                    assert_eq!(response.body.len(), count as usize + 6);
                }
            }
            format!(
                "writes={count} status={} after={}",
                response.status,
                ms(took)
            )
        });
    }

    // --- Cross-tenant ---------------------------------------------------

    bench.attack("cross-tenant-sqlite-files-variables", || {
        let created = sql(
            &node,
            "alpha",
            "default",
            r#"[{"sql": "CREATE TABLE secrets (v TEXT)", "params": []},
                {"sql": "INSERT INTO secrets VALUES ('alpha-db-secret')", "params": []}]"#,
        );
        assert_eq!(created.status, 200, "{}", created.text());
        let read = sql(
            &node,
            "alpha",
            "default",
            r#"[{"sql": "SELECT v FROM secrets", "params": []}]"#,
        );
        assert!(read.text().contains("alpha-db-secret"), "{}", read.text());
        // beta's `default` is its own database.
        let other = sql(
            &node,
            "beta",
            "default",
            r#"[{"sql": "SELECT v FROM secrets", "params": []}]"#,
        );
        assert_eq!(other.status, 500, "{}", other.text());
        assert!(other.text().contains("no such table"), "{}", other.text());
        assert!(!other.text().contains("alpha-db-secret"));
        // A database label beta was not granted.
        let label = sql(
            &node,
            "beta",
            "alpha",
            r#"[{"sql": "SELECT 1", "params": []}]"#,
        );
        assert!(label.text().contains("AccessDenied"), "{}", label.text());
        // beta's SQL cannot ATTACH alpha's file by path.
        let alpha_files = files_below(&data_dir.join("apps/alpha/data"));
        assert!(!alpha_files.is_empty(), "alpha has no data files");
        let mut attach_tries = 0;
        for file in &alpha_files {
            let statements = format!(
                r#"[{{"sql": "ATTACH DATABASE '{}' AS a", "params": []}},
                    {{"sql": "SELECT v FROM a.secrets", "params": []}}]"#,
                file.display()
            );
            let response = sql(&node, "beta", "default", &statements);
            assert_eq!(response.status, 500, "{}", response.text());
            assert!(
                !response.text().contains("alpha-db-secret"),
                "beta read alpha's database through ATTACH: {}",
                response.text()
            );
            attach_tries += 1;
        }
        // Nor write a copy of its database anywhere on the host.
        let copy = data_dir.join("vacuum-copy.db");
        let vacuum = sql(
            &node,
            "beta",
            "default",
            &format!(
                r#"[{{"sql": "VACUUM INTO '{}'", "params": []}}]"#,
                copy.display()
            ),
        );
        assert_eq!(vacuum.status, 500, "{}", vacuum.text());
        assert!(!copy.exists(), "VACUUM INTO wrote {}", copy.display());
        // The hostile guest guesses paths at alpha's data and files.
        let mut guesses: Vec<String> = vec![
            "/assets/../../../../alpha/data".into(),
            "/assets/../../../data".into(),
            "/private/secret.txt".into(),
        ];
        for file in alpha_files
            .iter()
            .chain(files_below(&release_dir(&data_dir, "alpha")).iter())
        {
            guesses.push(file.display().to_string());
            if let Ok(relative) = file.strip_prefix(&data_dir) {
                guesses.push(format!("/assets/../../../../../{}", relative.display()));
            }
        }
        for path in &guesses {
            let text = get_hostile(&node, &format!("/?do=file&path={path}")).text();
            assert!(text.starts_with("error:"), "{path}: {text}");
        }
        let env = get_hostile(&node, "/?do=env").text();
        assert!(!env.contains("variable-secret"), "{env}");
        format!(
            "sqlite=isolated attach_tries={attach_tries} attached=0 vacuum_into=refused path_guesses={} readable=0",
            guesses.len()
        )
    });

    // The healthy app is still fine and the node did not restart.
    assert_eq!(node.get(&host("healthy"), "/").status, 200);
    assert_eq!(node_pid(&data_dir), pid);
    let Bench { load, lines, .. } = bench;
    load.stop();
    println!("--- {} attacks, figures above", lines.len());
}

/// The node refuses, by default, an allowed host *name* that resolves to a
/// loopback address; `--allow-private-outbound` lets it through to a real
/// upstream. `nimbus node --help` documents the flag.
#[test]
fn allow_private_outbound_lets_allowed_names_reach_private_addresses() {
    let help = nimbus_command()
        .args(["node", "--help"])
        .output()
        .expect("nimbus node --help");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--allow-private-outbound"), "{help}");

    let tmp = tempfile::tempdir().unwrap();
    let target = Upstream::start(always_ok);
    let manifest = probe_app(
        tmp.path(),
        "fetcher",
        "fetcher",
        "v1",
        &format!(
            "allowed_outbound_hosts = [\"http://localhost:{}\"]",
            target.port
        ),
    );
    let url = format!("http://localhost:{}/through-the-flag", target.port);
    let path = format!("/?do=fetch&url={url}");

    let node = NodeServer::start(&tmp.path().join("strict"), &[]);
    deploy(&node, "fetcher", &manifest);
    let text = node.get(&host("fetcher"), &path).text();
    assert_eq!(text, "denied: ErrorCode::DestinationIpProhibited\n");
    node.wait_for_log("resolves to");
    drop(node);
    assert!(target.seen().is_empty());

    let node = NodeServer::start(&tmp.path().join("open"), &["--allow-private-outbound"]);
    deploy(&node, "fetcher", &manifest);
    let text = node.get(&host("fetcher"), &path).text();
    assert_eq!(text, "upstream status: 200\n");
    assert_eq!(
        target.seen(),
        vec!["GET /through-the-flag HTTP/1.1".to_owned()]
    );
}
