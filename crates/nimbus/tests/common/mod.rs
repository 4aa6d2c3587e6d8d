//! Shared helpers for the end-to-end tests of `nimbus up`: start the real
//! server on 127.0.0.1 port 0, read the bound address from its output, talk
//! plain HTTP/1.1 to it over real sockets, and stop it (printing its logs if
//! the test failed).

#![allow(dead_code)]

pub mod in_process;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The shared compile cache of the test suites.
pub fn shared_cache() -> PathBuf {
    nimbus_test_guests::workspace_root()
        .join("target")
        .join("test-compile-cache")
}

/// `nimbus` with a clean environment for tests.
pub fn nimbus_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nimbus"));
    command
        .env_remove("RUST_LOG")
        .env("NIMBUS_CACHE_DIR", shared_cache());
    command
}

/// How long a server may take to print its address (it compiles its guests
/// first, and the machine may be busy).
pub const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A child process whose stdout and stderr are collected as they arrive.
/// Killed on drop; if the test is failing, its output is printed then.
pub struct Spawned {
    child: Child,
    /// What this is, for messages ("nimbus up", "nimbus node", …).
    what: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

/// Collects `stream`'s lines into `sink` on a thread of its own (bytes that
/// are not UTF-8 are replaced, never a reason to stop reading).
pub fn pump(stream: impl Read + Send + 'static, sink: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        while reader
            .read_until(b'\n', &mut line)
            .map(|n| n > 0)
            .unwrap_or(false)
        {
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&line));
            line.clear();
        }
    });
}

impl Spawned {
    /// Starts `command` with its stdout and stderr piped and collected.
    pub fn spawn(what: &str, mut command: Command) -> Spawned {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {what}: {err}"));
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        pump(child.stdout.take().unwrap(), stdout.clone());
        pump(child.stderr.take().unwrap(), stderr.clone());
        Spawned {
            child,
            what: what.to_owned(),
            stdout,
            stderr,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process wrote to stdout so far.
    pub fn output(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Everything the process wrote to stderr so far (its log).
    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Its exit status, if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits until a whole line of stdout contains `pattern`, and returns
    /// what follows `pattern` on that line (trimmed). Panics, with the
    /// output, if the process exits first or [`START_TIMEOUT`] passes.
    pub fn wait_until(&mut self, pattern: &str) -> String {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let out = self.output();
            let found = out
                .split_inclusive('\n')
                .filter(|line| line.ends_with('\n'))
                .find_map(|line| line.split_once(pattern).map(|(_, rest)| rest.trim()));
            if let Some(rest) = found {
                return rest.to_owned();
            }
            if let Some(status) = self.try_wait() {
                // Let the pumps read the last lines.
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "{} exited with {status} before printing {pattern:?}\n--- stdout\n{}\n--- stderr\n{}",
                    self.what,
                    self.output(),
                    self.logs()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not print {pattern:?} in time:\n{out}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the server prints `PREFIX http://ADDR` and returns ADDR
    /// (`nimbus up` and `nimbus node` print "Serving http://ADDR").
    pub fn wait_for_addr(&mut self, prefix: &str) -> SocketAddr {
        let pattern = format!("{prefix}http://");
        let rest = self.wait_until(&pattern);
        rest.parse().unwrap_or_else(|err| {
            panic!(
                "{}: {pattern:?} is followed by {rest:?}, not an address: {err}",
                self.what
            )
        })
    }

    /// Waits until the log contains `needle` (logs are written
    /// asynchronously) and returns the log.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let logs = self.logs();
            if logs.contains(needle) {
                return logs;
            }
            assert!(
                Instant::now() < deadline,
                "{}'s log never contained {needle:?}:\n{logs}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the process exits (and its output is drained).
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_wait() {
                // Let the pumps read the last lines.
                std::thread::sleep(Duration::from_millis(200));
                return status;
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.what);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits (40 s at most) for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        signal(self.pid(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = self.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit after SIGTERM",
                self.what
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process with SIGKILL, as a crash would, and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the process and returns everything it wrote: stdout, stderr.
    pub fn stop(mut self) -> (String, String) {
        self.kill();
        // Let the pump threads drain the pipes.
        std::thread::sleep(Duration::from_millis(200));
        (self.output(), self.logs())
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- {} stdout\n{}\n--- {} stderr\n{}",
                self.what,
                self.output(),
                self.what,
                self.logs()
            );
        }
    }
}

/// Sends signal `name` (e.g. "TERM") to process `pid`.
pub fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// `nimbus up -f manifest --listen 127.0.0.1:0 args…`, not yet started,
/// with no log level chosen (callers set `RUST_LOG` if they want one).
pub fn up_command(manifest: &Path, args: &[&str]) -> Command {
    let mut command = nimbus_command();
    command
        .arg("up")
        .arg("-f")
        .arg(manifest)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null());
    command
}

/// A running `nimbus up`.
pub struct Server {
    /// The process.
    pub process: Spawned,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `nimbus up -f manifest` on a free port and waits until it serves.
    pub fn start(manifest: &Path) -> Server {
        Server::start_with(manifest, &[])
    }

    /// As [`Server::start`], with extra arguments (and `RUST_LOG=info`).
    pub fn start_with(manifest: &Path, args: &[&str]) -> Server {
        let mut command = up_command(manifest, args);
        command.env("RUST_LOG", "info");
        Server::spawn(command)
    }

    /// Starts a prepared `nimbus up` command (see [`up_command`]) and waits
    /// until it serves.
    pub fn spawn(command: Command) -> Server {
        let mut process = Spawned::spawn("nimbus up", command);
        let addr = process.wait_for_addr("Serving ");
        Server { process, addr }
    }

    /// Everything the server wrote to stderr so far (its log).
    pub fn logs(&self) -> String {
        self.process.logs()
    }

    /// Everything the server wrote to stdout so far.
    pub fn output(&self) -> String {
        self.process.output()
    }

    /// Waits until the log contains `needle` (logs are written asynchronously).
    pub fn wait_for_log(&self, needle: &str) -> String {
        self.process.wait_for_log(needle)
    }

    /// GET `path`.
    pub fn get(&self, path: &str) -> HttpResponse {
        request(self.addr, "GET", path, &[], b"")
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.process.terminate()
    }

    /// Kills the server and returns everything it wrote: stdout, stderr.
    pub fn stop(self) -> (String, String) {
        self.process.stop()
    }
}

/// Waits (a minute at most) for a prepared `nimbus up` that must refuse to
/// start, and returns its exit status and stderr; panics if it serves (or
/// keeps running) instead.
pub fn up_refused(command: Command) -> (ExitStatus, String) {
    let mut process = Spawned::spawn("nimbus up", command);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = process.try_wait() {
            // Let the pumps read the last lines.
            std::thread::sleep(Duration::from_millis(200));
            return (status, process.logs());
        }
        assert!(
            Instant::now() < deadline && !process.output().contains("Serving http://"),
            "nimbus up should have refused to start, but it kept running"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A response read off the wire.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names (lowercase) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one HTTP/1.1 request (`Connection: close`) and reads the response.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !chunked && (!body.is_empty() || method == "POST" || method == "PUT") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    if chunked {
        if !body.is_empty() {
            raw.extend(format!("{:x}\r\n", body.len()).as_bytes());
            raw.extend(body);
            raw.extend(b"\r\n");
        }
        raw.extend(b"0\r\n\r\n");
    } else {
        raw.extend(body);
    }
    send_raw(addr, &raw)
}

/// Writes `raw` bytes to the server and parses what comes back.
pub fn send_raw(addr: SocketAddr, raw: &[u8]) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    // The server may answer (413) and close before reading everything.
    let _ = stream.write_all(raw);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    parse_response(&response)
}

fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = raw.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&raw[..end]);
        let size =
            usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap_or(0);
        raw = &raw[end + 2..];
        if size == 0 || raw.len() < size {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[(size + 2).min(raw.len())..];
    }
}

/// Writes a manifest into `dir` and returns its path.
pub fn write_manifest(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("nimbus.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The http-probe guest, as a path usable in a manifest.
pub fn probe() -> String {
    nimbus_test_guests::guest("http-probe", nimbus_test_guests::Target::P2)
        .to_str()
        .unwrap()
        .to_owned()
}

/// A tiny upstream HTTP server on 127.0.0.1 that answers every request with
/// `200 upstream says hi`; returns its port. Lives until the process ends.
pub fn upstream() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "upstream says hi\n";
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

/// `examples/NAME` in the workspace.
pub fn example(name: &str) -> PathBuf {
    nimbus_test_guests::workspace_root()
        .join("examples")
        .join(name)
}

/// `nimbus build -f DIR` (the app's own cargo builds, from source); panics
/// with the output on failure.
pub fn build(dir: &Path) {
    let output = nimbus_command()
        .arg("build")
        .arg("-f")
        .arg(dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("run nimbus build");
    assert!(
        output.status.success(),
        "nimbus build -f {} failed:\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
